//! `/v1/incidents`: security incidents, opened by the decision path and followed by people.
//!
//! The engine's tracker decides when an incident opens (one per tenant, actor and reason per
//! window); [`record_incident`] persists each opening. Repeats inside the window are counted
//! by the tracker in memory and merged into the listing at read time.

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::roles::Permission;
use crate::node::Node;
use actix_web::{web, HttpResponse};
use axiom_engine::incidents::IncidentOpening;
use axiom_engine::model::ReasonCode;
use axiom_storage::CasOutcome;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Most incidents one listing reads from the store.
pub const INCIDENTS_PAGE_MAX: usize = 10_000;

/// The handling state of an incident. The only transitions are
/// `OPEN → ACKNOWLEDGED → RESOLVED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncidentStatus {
    /// Opened by the engine and not yet acknowledged.
    Open,
    /// Someone is looking at it.
    Acknowledged,
    /// Closed.
    Resolved,
}

impl IncidentStatus {
    /// Returns the status after moving to `target`, or None when the move is not allowed.
    pub fn transition(self, target: IncidentStatus) -> Option<IncidentStatus> {
        match (self, target) {
            (IncidentStatus::Open, IncidentStatus::Acknowledged)
            | (IncidentStatus::Acknowledged, IncidentStatus::Resolved) => Some(target),
            _ => None,
        }
    }
}

/// A stored incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable id, derived from tenant, actor, reason and window start.
    pub id: String,
    /// Tenant the requests claimed.
    pub tenant: String,
    /// Actor id the requests claimed.
    pub actor_id: String,
    /// Key id of the request that opened the incident: the certificate's kid once its
    /// signature verified, or the registered key an unauthenticated request named. None when
    /// no registered key was involved, and in incidents stored before the field existed.
    #[serde(default)]
    pub kid: Option<String>,
    /// Why.
    pub reason_code: ReasonCode,
    /// Handling status.
    pub status: IncidentStatus,
    /// First occurrence, Unix milliseconds.
    pub first_seen_ms: i64,
    /// Latest occurrence known, Unix milliseconds.
    pub last_seen_ms: i64,
    /// Occurrences in the incident's window.
    pub count: u64,
    /// Principal that acknowledged or resolved it last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

/// Builds the id of an incident from its deduplication key and window.
fn incident_id(opening: &IncidentOpening) -> String {
    let mut hasher = Sha256::new();
    for part in [
        opening.tenant.as_bytes(),
        opening.actor_id.as_bytes(),
        opening.reason_code.as_str().as_bytes(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.update(opening.window_start_ms.to_be_bytes());
    let digest = hasher.finalize();
    format!("inc-{}", hex::encode(&digest[..12]))
}

/// Persists an incident opening from the tracker, counts it in the metrics and returns the
/// stored incident. Called by the decision path for every opening the tracker returns.
pub fn record_incident(node: &Node, opening: &IncidentOpening) -> Result<Incident, ApiError> {
    let incident = Incident {
        id: incident_id(opening),
        tenant: opening.tenant.clone(),
        actor_id: opening.actor_id.clone(),
        kid: opening.kid.clone(),
        reason_code: opening.reason_code,
        status: IncidentStatus::Open,
        first_seen_ms: opening.window_start_ms,
        last_seen_ms: opening.window_start_ms,
        count: 1,
        updated_by: None,
    };
    node.store.incidents().put(&incident.tenant, &incident.id, &incident)?;
    node.metrics.observe_incident_opened(opening.reason_code);
    tracing::warn!(
        incident_id = %incident.id, tenant = %incident.tenant, actor_id = %incident.actor_id,
        kid = incident.kid.as_deref().unwrap_or(""), reason_code = %incident.reason_code,
        "security incident opened"
    );
    Ok(incident)
}

#[derive(Debug, Deserialize)]
pub struct IncidentQuery {
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    reason_code: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// `GET /v1/incidents?reason_code=&status=&tenant=`, newest first.
pub async fn list(
    node: web::Data<Node>,
    principal: Principal,
    query: web::Query<IncidentQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ReadIncidents, "read incidents", query.tenant.as_deref())?;
    let reason = query
        .reason_code
        .as_deref()
        .map(str::parse::<ReasonCode>)
        .transpose()
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    let status = query
        .status
        .as_deref()
        .map(|text| {
            serde_json::from_value::<IncidentStatus>(serde_json::Value::String(text.to_owned()))
                .map_err(|_| {
                    ApiError::BadRequest(format!(
                        "unknown status `{text}`: use OPEN, ACKNOWLEDGED or RESOLVED"
                    ))
                })
        })
        .transpose()?;

    let mut incidents: Vec<Incident> = node
        .store
        .incidents()
        .list::<Incident>(&tenant, INCIDENTS_PAGE_MAX)?
        .into_iter()
        .map(|(_, incident)| incident)
        .collect();
    merge_live_counts(&node, &mut incidents);
    incidents.retain(|incident| {
        reason.is_none_or(|reason| incident.reason_code == reason)
            && status.is_none_or(|status| incident.status == status)
    });
    incidents.sort_by(|left, right| right.first_seen_ms.cmp(&left.first_seen_ms));
    Ok(HttpResponse::Ok().json(incidents))
}

/// Adds the repeats the tracker counted in memory to the newest incident of each key: the
/// tracker's current window is the one that opened that incident.
fn merge_live_counts(node: &Node, incidents: &mut [Incident]) {
    let mut newest: std::collections::HashMap<(String, String, ReasonCode), usize> =
        std::collections::HashMap::new();
    for (index, incident) in incidents.iter().enumerate() {
        let key = (
            incident.tenant.clone(),
            incident.actor_id.clone(),
            incident.reason_code,
        );
        let replace = newest
            .get(&key)
            .is_none_or(|current| incidents[*current].first_seen_ms < incident.first_seen_ms);
        if replace {
            newest.insert(key, index);
        }
    }
    for ((tenant, actor_id, reason), index) in newest {
        let live = node.incidents.count(&tenant, &actor_id, reason);
        if let Some(incident) = incidents.get_mut(index) {
            incident.count = incident.count.max(live);
        }
    }
}

/// Body of `PATCH /v1/incidents/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentPatch {
    /// `ACKNOWLEDGED` or `RESOLVED`.
    pub status: IncidentStatus,
}

#[derive(Debug, Deserialize)]
pub struct TenantQuery {
    #[serde(default)]
    tenant: Option<String>,
}

/// `PATCH /v1/incidents/{id}`: `OPEN → ACKNOWLEDGED → RESOLVED`; anything else is 409.
pub async fn patch(
    node: web::Data<Node>,
    principal: Principal,
    id: web::Path<String>,
    query: web::Query<TenantQuery>,
    body: web::Json<IncidentPatch>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::UpdateIncidents, "update incidents", query.tenant.as_deref())?;
    let not_found = || ApiError::NotFound {
        what: "incident",
        id: id.to_string(),
    };
    let current: Incident = node.store.incidents().get(&tenant, &id)?.ok_or_else(not_found)?;
    let Some(status) = current.status.transition(body.status) else {
        return Err(ApiError::Conflict(format!(
            "incident `{}` is {:?}; it cannot move to {:?} (OPEN → ACKNOWLEDGED → RESOLVED)",
            current.id, current.status, body.status
        )));
    };

    let mut updated = current.clone();
    updated.status = status;
    updated.updated_by = Some(principal.subject.clone());
    match node
        .store
        .incidents()
        .compare_and_set(&tenant, &id, &current, &updated)?
    {
        CasOutcome::Applied => {
            tracing::info!(incident_id = %id, status = ?status, by = %principal.subject, "incident updated");
            Ok(HttpResponse::Ok().json(updated))
        }
        CasOutcome::Conflict { .. } => Err(ApiError::Conflict(format!(
            "incident `{id}` changed concurrently; read it again"
        ))),
    }
}
