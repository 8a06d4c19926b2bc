//! `GET /v1/compliance/export`: a tenant's audit records, escrows and incidents as NDJSON,
//! streamed page by page so the export of a large tenant never sits in memory at once.
//!
//! Each line is one JSON object whose `kind` is `audit`, `escrow` or `incident`, followed by the
//! stored fields. Audit records carry their personal data decrypted (`personal.status` is
//! `readable`) or, for an erased subject, `{"status": "erased"}`. The last line is
//! `{"kind": "end", …}` with the count of each kind; an export without it was cut short. A
//! store failure after the status line was sent ends the stream with `{"kind": "error"}`.
//!
//! Only the `ComplianceExport` permission (complianceofficer) grants it, because it is a bulk
//! export of decrypted personal data. Every export is recorded in `compliance_events` before
//! the first line is sent, with the actor filter as a pseudonym.

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::incidents::Incident;
use crate::http::roles::Permission;
use crate::http::workflow::internal;
use crate::node::workflow::ComplianceEvent;
use crate::node::Node;
use actix_web::{web, HttpResponse};
use axiom_engine::escrow::Escrow;
use axiom_storage::config::ID_BYTES_MAX;
use axiom_storage::{AuditCursor, AuditRecord, PersonalView};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Rows read from the store per page: an audit page of this size is a few MiB at most, and
/// each page becomes one chunk of the response.
pub const EXPORT_PAGE_ROWS: usize = 500;
/// Content type of the export, newline-delimited JSON.
pub const NDJSON_CONTENT_TYPE: &str = "application/x-ndjson";

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    actor_id: Option<String>,
    /// Start of the time range, Unix milliseconds, inclusive.
    #[serde(default)]
    from: Option<u64>,
    /// End of the time range, Unix milliseconds, exclusive.
    #[serde(default)]
    to: Option<u64>,
}

/// One exported line: the kind, then the item's own fields.
#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    kind: &'static str,
    #[serde(flatten)]
    item: &'a T,
}

/// Lines written per kind.
#[derive(Debug, Default, Clone, Copy, Serialize)]
struct Counts {
    audit: u64,
    escrow: u64,
    incident: u64,
}

/// Export step that comes next, with its paging cursor.
#[derive(Debug, Clone)]
enum Phase {
    Audit(Option<AuditCursor>),
    Escrows(Option<String>),
    Incidents(Option<String>),
    End,
    Done,
}

/// The export's state between two chunks. Moved into a blocking thread for each page read.
struct Export {
    node: Arc<Node>,
    tenant: String,
    actor_id: Option<String>,
    from_ms: u64,
    to_ms: u64,
    phase: Phase,
    counts: Counts,
}

impl Export {
    fn in_range(&self, time_ms: i64) -> bool {
        u64::try_from(time_ms).is_ok_and(|time_ms| time_ms >= self.from_ms && time_ms < self.to_ms)
    }

    fn names_actor(&self, actor_id: &str) -> bool {
        self.actor_id.as_deref().is_none_or(|wanted| wanted == actor_id)
    }

    /// Reads pages until one yields lines or the export ends; returns the chunk, or None
    /// after the `end` line was sent.
    fn next_chunk(&mut self) -> Result<Option<Bytes>, String> {
        let mut chunk = Vec::new();
        while chunk.is_empty() {
            match self.phase.clone() {
                Phase::Audit(after) => self.audit_page(after, &mut chunk)?,
                Phase::Escrows(after) => self.escrow_page(after, &mut chunk)?,
                Phase::Incidents(after) => self.incident_page(after, &mut chunk)?,
                Phase::End => {
                    push_line(&mut chunk, "end", &self.counts)?;
                    self.phase = Phase::Done;
                }
                Phase::Done => return Ok(None),
            }
        }
        Ok(Some(Bytes::from(chunk)))
    }

    fn audit_page(&mut self, after: Option<AuditCursor>, chunk: &mut Vec<u8>) -> Result<(), String> {
        let records: Vec<AuditRecord> = self
            .node
            .store
            .audit_by_tenant_after(&self.tenant, after, self.from_ms, self.to_ms, EXPORT_PAGE_ROWS)
            .map_err(|error| format!("reading audit records: {error}"))?;
        let Some(last) = records.last() else {
            self.phase = Phase::Escrows(None);
            return Ok(());
        };
        self.phase = Phase::Audit(Some(AuditCursor::of(last)));

        for record in &records {
            // With an actor filter only readable records can match: an erased subject's
            // records no longer show whose they were.
            let wanted = match (&self.actor_id, &record.personal) {
                (None, _) => true,
                (Some(wanted), PersonalView::Readable { actor_id, .. }) => wanted == actor_id,
                (Some(_), PersonalView::Erased) => false,
            };
            if wanted {
                push_line(chunk, "audit", record)?;
                self.counts.audit += 1;
            }
        }
        Ok(())
    }

    fn escrow_page(&mut self, after: Option<String>, chunk: &mut Vec<u8>) -> Result<(), String> {
        let escrows: Vec<(String, Escrow)> = self
            .node
            .store
            .escrows()
            .list_after(&self.tenant, after.as_deref(), EXPORT_PAGE_ROWS)
            .map_err(|error| format!("reading escrows: {error}"))?;
        let Some((last_id, _)) = escrows.last() else {
            self.phase = Phase::Incidents(None);
            return Ok(());
        };
        self.phase = Phase::Escrows(Some(last_id.clone()));

        for (_, escrow) in &escrows {
            if self.names_actor(&escrow.requesting_actor) && self.in_range(escrow.created_at_ms) {
                push_line(chunk, "escrow", escrow)?;
                self.counts.escrow += 1;
            }
        }
        Ok(())
    }

    fn incident_page(&mut self, after: Option<String>, chunk: &mut Vec<u8>) -> Result<(), String> {
        let incidents: Vec<(String, Incident)> = self
            .node
            .store
            .incidents()
            .list_after(&self.tenant, after.as_deref(), EXPORT_PAGE_ROWS)
            .map_err(|error| format!("reading incidents: {error}"))?;
        let Some((last_id, _)) = incidents.last() else {
            self.phase = Phase::End;
            return Ok(());
        };
        self.phase = Phase::Incidents(Some(last_id.clone()));

        for (_, incident) in &incidents {
            if self.names_actor(&incident.actor_id) && self.in_range(incident.first_seen_ms) {
                push_line(chunk, "incident", incident)?;
                self.counts.incident += 1;
            }
        }
        Ok(())
    }
}

fn push_line<T: Serialize>(chunk: &mut Vec<u8>, kind: &'static str, item: &T) -> Result<(), String> {
    serde_json::to_writer(&mut *chunk, &Line { kind, item })
        .map_err(|error| format!("encoding a `{kind}` line: {error}"))?;
    chunk.push(b'\n');
    Ok(())
}

fn error_line(message: &str) -> Bytes {
    let mut line = serde_json::json!({"kind": "error", "message": message}).to_string();
    line.push('\n');
    Bytes::from(line)
}

/// `GET /v1/compliance/export?tenant=&actor_id=&from=&to=`.
pub async fn export(
    node: web::Data<Node>,
    principal: Principal,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(
        Permission::ComplianceExport,
        "export compliance data",
        query.tenant.as_deref(),
    )?;
    let from_ms = query.from.unwrap_or(0);
    let to_ms = query.to.unwrap_or(u64::MAX);
    if from_ms >= to_ms {
        return Err(ApiError::BadRequest(format!(
            "`from` ({from_ms}) must be below `to` ({to_ms}); both are Unix milliseconds"
        )));
    }
    let actor_id = query.actor_id.clone().filter(|actor| !actor.is_empty());
    if actor_id.as_ref().is_some_and(|actor| actor.len() > ID_BYTES_MAX) {
        return Err(ApiError::BadRequest(format!(
            "actor_id is longer than {ID_BYTES_MAX} bytes"
        )));
    }

    let subject_ref = actor_id.as_deref().map(|actor| node.pseudonym(&tenant, actor));
    let event_id = node
        .record_compliance(&ComplianceEvent::ComplianceExport {
            tenant: tenant.clone(),
            subject_ref: subject_ref.clone(),
            requested_by: principal.subject.clone(),
            from_ms,
            to_ms,
        })
        .map_err(internal)?;
    tracing::info!(
        tenant = %tenant, subject_ref = ?subject_ref, by = %principal.subject, from_ms, to_ms,
        compliance_event_id = event_id, "compliance export started"
    );

    let state = Export {
        node: node.into_inner(),
        tenant,
        actor_id,
        from_ms,
        to_ms,
        phase: Phase::Audit(None),
        counts: Counts::default(),
    };
    let stream = futures::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        let outcome = web::block(move || {
            let chunk = state.next_chunk();
            (state, chunk)
        })
        .await;
        match outcome {
            Ok((state, Ok(Some(chunk)))) => Some((Ok::<_, actix_web::Error>(chunk), Some(state))),
            Ok((state, Ok(None))) => {
                tracing::info!(tenant = %state.tenant, counts = ?state.counts, "compliance export finished");
                None
            }
            Ok((state, Err(message))) => {
                tracing::error!(tenant = %state.tenant, error = %message, "compliance export failed");
                Some((Ok(error_line(&message)), None))
            }
            Err(error) => {
                tracing::error!(%error, "compliance export page task failed");
                Some((Ok(error_line("the export task failed; run the export again")), None))
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type(NDJSON_CONTENT_TYPE)
        .streaming(stream))
}
