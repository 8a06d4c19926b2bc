//! `/v1/gdpr`: data subject access export and erasure.
//!
//! A data subject is an id within a tenant: an agent's actor id, or a control-plane principal
//! (token `sub`) of that tenant. Both endpoints need the `ComplianceExport` permission
//! (complianceofficer) in the subject's tenant, and both are recorded in `compliance_events`
//! under the subject's pseudonym.
//!
//! Erasure destroys the subject's audit encryption key. The audit records stay, so every
//! chain still verifies, but their personal data no longer decrypts. It then replaces the
//! subject's id with its pseudonym in the mutable stores, keeps or sets a processing
//! restriction under the pseudonym, and records the legal basis for keeping the audit records. Agent key
//! records are reported, not rewritten: see [`ErasureReport::retained_keys`].

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::roles::Permission;
use crate::http::workflow::{error_response, internal};
use crate::node::workflow::{ComplianceEvent, PSEUDONYM_PREFIX};
use crate::node::Node;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use axiom_storage::config::ID_BYTES_MAX;
use axiom_storage::{AuditCursor, AuditRecord, CasOutcome, LogEntry, SubjectId, Table};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

mod pseudonymize;

pub use pseudonymize::{mentions, mentions_text, pseudonymize_text, pseudonymize_value};

/// Legal basis for keeping the audit records of an erased subject, recorded with every erasure.
pub const AUDIT_RETENTION_LEGAL_BASIS: &str = "Audit records are kept under GDPR Art. 17(3)(b) \
and (e): the decision log is kept to meet the operator's legal obligations and to establish or \
defend legal claims, and deleting a record would break the hash chain that proves the log \
complete. The subject's personal data in these records (actor id and operation parameters) was \
encrypted under a per-subject key; that key is destroyed, so the data can no longer be read. \
compliance_events is kept as the non-erasable record of this operation and names the subject \
only by pseudonym.";
/// Most items of one kind a subject access export returns. A subject with more audit
/// records gets `truncated` in the export; the streamed compliance export with `actor_id`
/// returns all of them.
pub const GDPR_EXPORT_ITEMS_MAX: usize = 10_000;
/// Rows read from a table per page while searching or rewriting it.
const SCAN_PAGE_ROWS: usize = 500;
/// Times an escrow or policy version is read again when a concurrent transition changed it
/// during its pseudonymization.
const CAS_ATTEMPTS_MAX: usize = 5;

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    requested_by: String,
    subject_id: String,
    #[serde(default)]
    tenant: Option<String>,
}

/// Body of `POST /v1/gdpr/erasure`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    /// The subject's id in the tenant.
    pub subject_id: String,
    /// Also restrict further processing of the subject, so new decisions return
    /// `SUBJECT_RESTRICTED`.
    #[serde(default)]
    pub restrict_processing: bool,
    /// Tenant of the subject; defaults to the token's (required for platform-wide tokens).
    #[serde(default)]
    pub tenant: Option<String>,
}

/// Subject access export: every stored item that names one subject.
#[derive(Debug, Default, Serialize)]
pub struct SubjectExport {
    /// Tenant of the subject.
    pub tenant: String,
    /// The subject's id.
    pub subject_id: String,
    /// The pseudonym that replaces the id after an erasure.
    pub pseudonym: String,
    /// True while a processing restriction covers the subject.
    pub processing_restricted: bool,
    /// Audit records indexed under the subject, with personal data decrypted or marked erased.
    pub audit_records: Vec<AuditRecord>,
    /// Escrows naming the subject (requester, key owner, approver).
    pub escrows: Vec<Value>,
    /// Incidents naming the subject.
    pub incidents: Vec<Value>,
    /// Idempotency entries of the subject, as `{"id", "entry"}`.
    pub idempotency_entries: Vec<Value>,
    /// Budget rows naming the subject (actor-scoped spends).
    pub budget_entries: Vec<Value>,
    /// Policy versions the subject authored or approved.
    pub policy_versions: Vec<Value>,
    /// Agent key records whose `allowed_actors` name the subject.
    pub keys: Vec<Value>,
    /// Escrow approver roles the tenant's approver pool grants the subject.
    pub approver_roles: Vec<String>,
    /// Runtime settings changes the subject made.
    pub settings_changes: Vec<LogEntry<Value>>,
    /// `compliance_events` of the tenant naming the subject or its pseudonym.
    pub compliance_events: Vec<LogEntry<Value>>,
    /// Sections that reached [`GDPR_EXPORT_ITEMS_MAX`] and are incomplete.
    pub truncated: Vec<&'static str>,
}

/// Result of an erasure.
#[derive(Debug, Serialize)]
pub struct ErasureReport {
    /// Tenant of the subject.
    pub tenant: String,
    /// The pseudonym that replaced the subject's id.
    pub subject_ref: String,
    /// Audit encryption keys destroyed.
    pub audit_keys_destroyed: usize,
    /// Rows rewritten with the pseudonym, per store.
    pub pseudonymized: BTreeMap<String, usize>,
    /// True when a processing restriction now covers the pseudonym.
    pub processing_restricted: bool,
    /// Agent keys whose `allowed_actors` still name the subject. They are not rewritten,
    /// because a key's actor list is access control that a securityadmin changes with
    /// `PATCH /v1/keys/{kid}`. Rewriting it would silently lock the actor out, and the
    /// in-memory key registry cannot change a key in place.
    pub retained_keys: Vec<String>,
    /// Legal basis for keeping the audit records themselves.
    pub legal_basis: &'static str,
    /// Id of the `compliance_events` entry recording the erasure.
    pub compliance_event_id: u64,
}

fn check_subject_id(subject_id: &str) -> Result<(), ApiError> {
    if subject_id.is_empty() {
        return Err(ApiError::BadRequest("subject_id must not be empty".to_owned()));
    }
    if subject_id.len() > ID_BYTES_MAX {
        return Err(ApiError::BadRequest(format!(
            "subject_id is longer than {ID_BYTES_MAX} bytes"
        )));
    }
    if subject_id == "*" || subject_id.starts_with(PSEUDONYM_PREFIX) {
        return Err(ApiError::BadRequest(format!(
            "subject_id `{subject_id}` is a wildcard or a pseudonym, not a subject's id"
        )));
    }
    Ok(())
}

/// `GET /v1/gdpr/export?requested_by=&subject_id=`.
pub async fn export(
    node: web::Data<Node>,
    principal: Principal,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(
        Permission::ComplianceExport,
        "export a data subject's data",
        query.tenant.as_deref(),
    )?;
    if query.requested_by != principal.subject {
        return Ok(error_response(
            StatusCode::FORBIDDEN,
            "requester_mismatch",
            format!(
                "requested_by `{}` is not the token's subject `{}`; the requester must call with their own token",
                query.requested_by.chars().take(128).collect::<String>(),
                principal.subject
            ),
        ));
    }
    check_subject_id(&query.subject_id)?;

    let node = node.into_inner();
    let subject_id = query.subject_id.clone();
    let collected = {
        let node = Arc::clone(&node);
        let tenant = tenant.clone();
        web::block(move || collect_subject(&node, &tenant, &subject_id))
            .await
            .map_err(internal)??
    };

    let items = [
        collected.audit_records.len(),
        collected.escrows.len(),
        collected.incidents.len(),
        collected.idempotency_entries.len(),
        collected.budget_entries.len(),
        collected.policy_versions.len(),
        collected.keys.len(),
        collected.settings_changes.len(),
        collected.compliance_events.len(),
    ]
    .iter()
    .sum::<usize>()
        + usize::from(!collected.approver_roles.is_empty());
    let event_id = node
        .record_compliance(&ComplianceEvent::GdprExport {
            tenant: tenant.clone(),
            subject_ref: collected.pseudonym.clone(),
            requested_by: principal.subject.clone(),
            items: items as u64,
        })
        .map_err(internal)?;
    tracing::info!(
        tenant = %tenant, subject_ref = %collected.pseudonym, by = %principal.subject, items,
        compliance_event_id = event_id, "GDPR subject access export served"
    );
    Ok(HttpResponse::Ok().json(collected))
}

/// Collects everything held about `(tenant, subject_id)`.
fn collect_subject(node: &Node, tenant: &str, subject_id: &str) -> Result<SubjectExport, ApiError> {
    let pseudonym = node.pseudonym(tenant, subject_id);
    let mut export = SubjectExport {
        tenant: tenant.to_owned(),
        subject_id: subject_id.to_owned(),
        processing_restricted: node.is_restricted(tenant, subject_id),
        approver_roles: node.workflow.approver_roles(tenant, subject_id),
        pseudonym,
        ..SubjectExport::default()
    };

    let subject = SubjectId::new(tenant, subject_id);
    let mut after = None;
    loop {
        let page = node.store.audit_by_subject_after(&subject, after, SCAN_PAGE_ROWS)?;
        let Some(last) = page.last() else { break };
        after = Some(AuditCursor::of(last));
        export.audit_records.extend(page);
        if export.audit_records.len() >= GDPR_EXPORT_ITEMS_MAX {
            export.audit_records.truncate(GDPR_EXPORT_ITEMS_MAX);
            export.truncated.push("audit_records");
            break;
        }
    }

    let store = &node.store;
    let tables: [(&'static str, &Table, &mut Vec<Value>); 6] = [
        ("escrows", store.escrows(), &mut export.escrows),
        ("incidents", store.incidents(), &mut export.incidents),
        ("idempotency_entries", store.idempotency(), &mut export.idempotency_entries),
        ("budget_entries", store.budgets(), &mut export.budget_entries),
        ("policy_versions", store.policy_versions(), &mut export.policy_versions),
        ("keys", store.keys(), &mut export.keys),
    ];
    for (section, table, items) in tables {
        let complete = scan_table(table, tenant, |id, value| {
            if mentions(value, subject_id) {
                items.push(value.clone());
            } else if mentions_text(id, subject_id) {
                items.push(serde_json::json!({"id": id, "entry": value}));
            }
            items.len() < GDPR_EXPORT_ITEMS_MAX
        })?;
        if !complete {
            export.truncated.push(section);
        }
    }

    let mut after_id = 0;
    loop {
        let page: Vec<LogEntry<Value>> = store.settings().history(after_id, SCAN_PAGE_ROWS)?;
        let Some(last) = page.last() else { break };
        after_id = last.id;
        export
            .settings_changes
            .extend(page.into_iter().filter(|entry| mentions(&entry.value, subject_id)));
        if export.settings_changes.len() >= GDPR_EXPORT_ITEMS_MAX {
            export.truncated.push("settings_changes");
            break;
        }
    }

    let mut after_id = 0;
    loop {
        let page: Vec<LogEntry<Value>> = store.compliance_events().list(after_id, SCAN_PAGE_ROWS)?;
        let Some(last) = page.last() else { break };
        after_id = last.id;
        export.compliance_events.extend(page.into_iter().filter(|entry| {
            entry.value["tenant"] == tenant
                && (mentions(&entry.value, subject_id) || mentions(&entry.value, &export.pseudonym))
        }));
        if export.compliance_events.len() >= GDPR_EXPORT_ITEMS_MAX {
            export.truncated.push("compliance_events");
            break;
        }
    }
    Ok(export)
}

/// Calls `visit` with every `(id, value)` of `tenant` in `table`, page by page, until it
/// returns false; returns whether the whole table was visited.
fn scan_table(
    table: &Table,
    tenant: &str,
    mut visit: impl FnMut(&str, &Value) -> bool,
) -> Result<bool, ApiError> {
    let mut after: Option<String> = None;
    loop {
        let page: Vec<(String, Value)> = table.list_after(tenant, after.as_deref(), SCAN_PAGE_ROWS)?;
        let Some((last_id, _)) = page.last() else {
            return Ok(true);
        };
        after = Some(last_id.clone());
        for (id, value) in &page {
            if !visit(id, value) {
                return Ok(false);
            }
        }
    }
}

/// `POST /v1/gdpr/erasure`.
pub async fn erasure(
    node: web::Data<Node>,
    principal: Principal,
    body: web::Json<ErasureRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(
        Permission::ComplianceExport,
        "erase a data subject",
        body.tenant.as_deref(),
    )?;
    check_subject_id(&body.subject_id)?;
    let node = node.into_inner();
    let subject_id = body.subject_id.clone();
    let pseudonym = node.pseudonym(&tenant, &subject_id);
    let by = principal.subject.clone();

    // The restriction comes first, so no new processing of the subject starts while the
    // stores are rewritten. A restriction already in force by id is carried over to the
    // pseudonym, which is how the restriction survives the id's removal.
    let restrict = body.restrict_processing || node.is_restricted(&tenant, &subject_id);
    if restrict && !node.restrictions.contains(&(tenant.clone(), pseudonym.clone())) {
        node.set_restriction(&tenant, &pseudonym, true, &by).map_err(internal)?;
    }

    let audit_keys_destroyed = node
        .audit_log
        .erase_subject(SubjectId::new(tenant.as_str(), subject_id.as_str()))
        .await?;

    let (mut pseudonymized, retained_keys) = {
        let node = Arc::clone(&node);
        let (tenant, subject_id, pseudonym) = (tenant.clone(), subject_id.clone(), pseudonym.clone());
        web::block(move || pseudonymize_stores(&node, &tenant, &subject_id, &pseudonym))
            .await
            .map_err(internal)??
    };

    let pool_roles = node.workflow.approver_roles(&tenant, &subject_id);
    if !pool_roles.is_empty() {
        node.set_approver(&tenant, &pseudonym, pool_roles, &by).map_err(internal)?;
        node.set_approver(&tenant, &subject_id, Vec::new(), &by).map_err(internal)?;
        pseudonymized.insert("approver_pool".to_owned(), 1);
    }

    let event_id = node
        .record_compliance(&ComplianceEvent::GdprErasure {
            tenant: tenant.clone(),
            subject_ref: pseudonym.clone(),
            requested_by: by.clone(),
            audit_keys_destroyed,
            pseudonymized: pseudonymized.iter().map(|(store, rows)| (store.clone(), *rows)).collect(),
            restrict_processing: restrict,
            legal_basis: AUDIT_RETENTION_LEGAL_BASIS.to_owned(),
        })
        .map_err(internal)?;
    tracing::warn!(
        tenant = %tenant, subject_ref = %pseudonym, by = %by, audit_keys_destroyed,
        pseudonymized = ?pseudonymized, restricted = restrict, retained_keys = retained_keys.len(),
        compliance_event_id = event_id, "GDPR erasure carried out"
    );

    Ok(HttpResponse::Ok().json(ErasureReport {
        tenant,
        subject_ref: pseudonym,
        audit_keys_destroyed,
        pseudonymized,
        processing_restricted: restrict,
        retained_keys,
        legal_basis: AUDIT_RETENTION_LEGAL_BASIS,
        compliance_event_id: event_id,
    }))
}

/// Replaces the subject's id with `pseudonym` in every mutable store of `tenant` and in the
/// node-wide settings history. Returns the rows rewritten per store, and the kids of the
/// agent keys that still name the subject.
fn pseudonymize_stores(
    node: &Node,
    tenant: &str,
    subject_id: &str,
    pseudonym: &str,
) -> Result<(BTreeMap<String, usize>, Vec<String>), ApiError> {
    let store = &node.store;
    let mut rewritten = BTreeMap::new();

    // Escrows and policy versions are state machines: rewrite them with compare-and-set so
    // a concurrent transition is never lost.
    for table in [store.escrows(), store.policy_versions()] {
        let rows = rewrite_table(table, tenant, subject_id, pseudonym, true)?;
        rewritten.insert(table.name().to_owned(), rows);
    }
    for table in [store.incidents(), store.idempotency(), store.budgets()] {
        let rows = rewrite_table(table, tenant, subject_id, pseudonym, false)?;
        rewritten.insert(table.name().to_owned(), rows);
    }

    let history_rows = store
        .settings()
        .rewrite_history(|value| pseudonymize_value(value, subject_id, pseudonym))?;
    rewritten.insert("settings_history".to_owned(), history_rows);

    let mut retained_keys = Vec::new();
    scan_table(store.keys(), tenant, |kid, value| {
        if mentions(value, subject_id) {
            retained_keys.push(kid.to_owned());
        }
        true
    })?;
    Ok((rewritten, retained_keys))
}

/// Rewrites every row of `tenant` in `table` that names the subject, in its id or its value.
/// A row whose id changes is written under the new id before the old one is removed, so a
/// crash in between leaves a duplicate rather than a lost row.
fn rewrite_table(
    table: &Table,
    tenant: &str,
    subject_id: &str,
    pseudonym: &str,
    compare_and_set: bool,
) -> Result<usize, ApiError> {
    let mut rows = 0;
    let mut after: Option<String> = None;
    loop {
        let page: Vec<(String, Value)> = table.list_after(tenant, after.as_deref(), SCAN_PAGE_ROWS)?;
        let Some((last_id, _)) = page.last() else {
            return Ok(rows);
        };
        after = Some(last_id.clone());

        for (id, value) in page {
            let new_id = pseudonymize_text(&id, subject_id, pseudonym);
            let new_value = pseudonymize_value(&value, subject_id, pseudonym);
            match (new_id, new_value) {
                (None, None) => continue,
                (Some(new_id), new_value) => {
                    table.put(tenant, &new_id, new_value.as_ref().unwrap_or(&value))?;
                    table.remove(tenant, &id)?;
                }
                (None, Some(new_value)) if compare_and_set => {
                    rewrite_with_cas(table, tenant, &id, value, new_value, subject_id, pseudonym)?;
                }
                (None, Some(new_value)) => table.put(tenant, &id, &new_value)?,
            }
            rows += 1;
        }
    }
}

fn rewrite_with_cas(
    table: &Table,
    tenant: &str,
    id: &str,
    mut current: Value,
    mut next: Value,
    subject_id: &str,
    pseudonym: &str,
) -> Result<(), ApiError> {
    for _ in 0..CAS_ATTEMPTS_MAX {
        match table.compare_and_set(tenant, id, &current, &next)? {
            CasOutcome::Applied => return Ok(()),
            CasOutcome::Conflict { current: None } => return Ok(()),
            CasOutcome::Conflict { current: Some(found) } => {
                let Some(rewritten) = pseudonymize_value(&found, subject_id, pseudonym) else {
                    return Ok(());
                };
                current = found;
                next = rewritten;
            }
        }
    }
    Err(ApiError::Conflict(format!(
        "{} entry `{id}` kept changing during the erasure; run the erasure again",
        table.name()
    )))
}
