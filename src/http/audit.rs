//! `/v1/audit`: audit records by decision id, a listing of recent decisions, and replay.

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::roles::Permission;
use crate::node::replay::{ReplayFailure, ReplayPolicy};
use crate::node::Node;
use actix_web::{web, HttpResponse};
use axiom_storage::AuditRecord;
use serde::Deserialize;

/// Most records `GET /v1/audit` returns.
pub const AUDIT_LIST_MAX: usize = 1_000;
/// Most records of all tenants scanned to fill one listing, newest first.
pub const AUDIT_TAIL_SCAN_MAX: usize = 20_000;

#[derive(Debug, Deserialize)]
pub struct TenantQuery {
    #[serde(default)]
    tenant: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
pub struct ReplayQuery {
    #[serde(default)]
    tenant: Option<String>,
    /// `recorded` (default) or `current`.
    #[serde(default)]
    policy: Option<String>,
}

/// `GET /v1/audit/{decision_id}`.
pub async fn get(node: web::Data<Node>, principal: Principal, id: web::Path<String>, query: web::Query<TenantQuery>) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ReadAudit, "read audit records", query.tenant.as_deref())?;
    let record = node
        .store
        .audit_record(&id)?
        .filter(|record| record.decision.tenant == tenant)
        .ok_or_else(|| ApiError::NotFound { what: "decision", id: id.to_string() })?;
    Ok(HttpResponse::Ok().json(record))
}

/// `GET /v1/audit?limit=`: the tenant's most recent decisions, newest first.
pub async fn list(node: web::Data<Node>, principal: Principal, query: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ReadAudit, "list audit records", query.tenant.as_deref())?;
    let limit = query.limit.unwrap_or(100).min(AUDIT_LIST_MAX);
    let records: Vec<AuditRecord> = node
        .store
        .audit_tail(AUDIT_TAIL_SCAN_MAX)?
        .into_iter()
        .filter(|record| record.decision.tenant == tenant)
        .take(limit)
        .collect();
    Ok(HttpResponse::Ok().json(records))
}

/// `POST /v1/audit/{decision_id}/replay?policy=recorded|current`.
pub async fn replay(node: web::Data<Node>, principal: Principal, id: web::Path<String>, query: web::Query<ReplayQuery>) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ReadAudit, "replay decisions", query.tenant.as_deref())?;
    let choice = match query.policy.as_deref() {
        None | Some("recorded") => ReplayPolicy::Recorded,
        Some("current") => ReplayPolicy::Current,
        Some(other) => {
            return Err(ApiError::BadRequest(format!("unknown policy `{other}`: use `recorded` or `current`")))
        }
    };
    match node.replay_decision(&tenant, &id, choice).await {
        Ok(report) => Ok(HttpResponse::Ok().json(report)),
        Err(ReplayFailure::NotFound(id)) => Err(ApiError::NotFound { what: "decision", id }),
        Err(ReplayFailure::Storage(error)) => Err(ApiError::Storage(error)),
        Err(failure @ (ReplayFailure::NoInputs(_) | ReplayFailure::Erased(_) | ReplayFailure::Policy { .. })) => {
            Err(ApiError::Conflict(failure.to_string()))
        }
        Err(failure) => Err(ApiError::Internal(failure.to_string())),
    }
}
