//! `/v1/sources`: feeds push freshness events; readers get ages computed at read time.
//!
//! Each accepted event that moves a source forward is written to the store's sources keyspace
//! before the response, so source state survives a restart.

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::roles::Permission;
use crate::http::unix_now_ms;
use crate::node::Node;
use actix_web::{web, HttpResponse};
use axiom_engine::state::{SourceEvent, SourceStatus};
use serde::{Deserialize, Serialize};

/// Most sources restored from the store at start (the in-memory store's own limit).
pub const SOURCES_RESTORE_MAX: usize = axiom_engine::state::sources::SOURCES_MAX;

/// The sources keyspace entry of one source.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSource {
    domain: String,
    source: String,
    status: SourceStatus,
}

/// Builds the table id of a source. The domain's length comes first, so no pair of names can
/// produce the id of another pair.
fn source_id(domain: &str, source: &str) -> String {
    format!("{}:{domain}/{source}", domain.len())
}

#[derive(Debug, Deserialize)]
pub struct TenantQuery {
    #[serde(default)]
    pub tenant: Option<String>,
}

/// One source in `GET /v1/sources`.
#[derive(Debug, Serialize)]
struct SourceRow {
    domain: String,
    #[serde(flatten)]
    view: axiom_engine::state::SourceView,
}

/// `POST /v1/sources/events`.
pub async fn ingest(
    node: web::Data<Node>,
    principal: Principal,
    event: web::Json<SourceEvent>,
) -> Result<HttpResponse, ApiError> {
    principal.authorize(Permission::IngestSources, "ingest source events", Some(&event.tenant))?;
    let now_ms = unix_now_ms();
    let skew_ms = i64::try_from(node.settings.snapshot().clock_skew_ms).unwrap_or(i64::MAX);

    let status = node
        .sources
        .ingest(&event, now_ms, skew_ms)
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    let moved_forward = status.event_time_ms == event.event_time_ms && status.received_at_ms == now_ms;
    if moved_forward {
        let stored = StoredSource {
            domain: event.domain.clone(),
            source: event.source.clone(),
            status,
        };
        node.store
            .sources()
            .put(&event.tenant, &source_id(&event.domain, &event.source), &stored)?;
    }

    let view = node
        .sources
        .view(&event.tenant, &event.domain, &event.source, now_ms)
        .ok_or_else(|| ApiError::Internal("ingested source is missing".to_owned()))?;
    Ok(HttpResponse::Accepted().json(SourceRow {
        domain: event.domain.clone(),
        view,
    }))
}

/// `GET /v1/sources?tenant=`.
pub async fn list(
    node: web::Data<Node>,
    principal: Principal,
    query: web::Query<TenantQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ReadSources, "read sources", query.tenant.as_deref())?;
    let rows: Vec<SourceRow> = node
        .sources
        .list(&tenant, unix_now_ms())
        .into_iter()
        .map(|(domain, view)| SourceRow { domain, view })
        .collect();
    Ok(HttpResponse::Ok().json(rows))
}

/// Loads every stored source into the node's source store; returns how many were loaded.
pub fn restore(node: &Node) -> Result<usize, ApiError> {
    let stored: Vec<(String, String, StoredSource)> =
        node.store.sources().list_all(SOURCES_RESTORE_MAX)?;
    let count = stored.len();
    for (tenant, _, entry) in stored {
        node.sources.restore(&tenant, &entry.domain, &entry.source, entry.status);
    }
    Ok(count)
}
