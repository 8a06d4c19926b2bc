//! `/v1/policies`: policy versions from draft to retirement, diffs and dry runs.
//!
//! A version's id is its compiled policy set id (`name@vN`), the id decisions record, so
//! replay finds the exact text a decision used. Each transition runs the engine's lifecycle
//! state machine with the token's principal and is stored with compare-and-set.

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::roles::Permission;
use crate::http::unix_now_ms;
use crate::http::workflow::{concurrent_change, engine_principal, internal, lifecycle_error};
use crate::node::policies::PublishedPolicy;
use crate::node::workflow::ComplianceEvent;
use crate::node::Node;
use actix_web::{web, HttpResponse};
use axiom_engine::decision::{compose, findings_from_evaluation, has_side_effects, CompositionInput, DeferBudget, PolicyStep, StateCheck};
use axiom_engine::lifecycle::{self, NewPolicyVersion, PolicyState, PolicyVersion, POLICY_APPROVER_ROLES_DEFAULT};
use axiom_engine::model::Intent;
use axiom_engine::policy::{Facts, SourceReading};
use axiom_storage::CasOutcome;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Most versions one listing reads.
pub const POLICIES_PAGE_MAX: usize = 10_000;
/// Approvals a new version needs unless the request sets `quorum`.
pub const POLICY_QUORUM_DEFAULT: u32 = 2;

/// Serializes publications, so the two compare-and-set writes of one publication (the new
/// version and the one it retires) never interleave with another publication.
static PUBLISH: Mutex<()> = Mutex::new(());

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
    domain: Option<String>,
}

/// Body of `POST /v1/policies`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    source: String,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    quorum: Option<u32>,
    #[serde(default)]
    approver_roles: Option<Vec<String>>,
}

fn diagnostics_json(diagnostics: &[axiom_engine::policy::Diagnostic]) -> serde_json::Value {
    diagnostics
        .iter()
        .map(|diagnostic| json!({"line": diagnostic.line, "column": diagnostic.column, "message": diagnostic.message}))
        .collect()
}

fn load(node: &Node, tenant: &str, id: &str) -> Result<PolicyVersion, ApiError> {
    node.store
        .policy_versions()
        .get(tenant, id)?
        .ok_or_else(|| ApiError::NotFound { what: "policy version", id: id.to_owned() })
}

fn store(node: &Node, id: &str, current: &PolicyVersion, next: &PolicyVersion, by: &str) -> Result<Option<HttpResponse>, ApiError> {
    match node.store.policy_versions().compare_and_set(&current.tenant, id, current, next)? {
        CasOutcome::Applied => {
            node.record_compliance(&ComplianceEvent::PolicyTransition {
                tenant: next.tenant.clone(),
                policy_id: id.to_owned(),
                to: next.state.as_str().to_owned(),
                by: by.to_owned(),
            })
            .map_err(internal)?;
            Ok(None)
        }
        CasOutcome::Conflict { .. } => Ok(Some(concurrent_change("policy version", id))),
    }
}

/// `POST /v1/policies`: compiles the text and stores a `DRAFT` (400 with line and column for
/// each diagnostic when it does not compile).
pub async fn create(node: web::Data<Node>, principal: Principal, body: web::Json<CreateBody>) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::AuthorPolicies, "create policy versions", body.tenant.as_deref())?;
    if body.source.len() > lifecycle::POLICY_SOURCE_BYTES_MAX {
        return Err(ApiError::BadRequest(format!("source is larger than {} bytes", lifecycle::POLICY_SOURCE_BYTES_MAX)));
    }
    let compiled = match axiom_engine::policy::compile(&body.source) {
        Ok(compiled) => compiled,
        Err(diagnostics) => {
            return Ok(HttpResponse::BadRequest().json(json!({
                "error": "invalid_policy",
                "message": format!("the policy has {} errors", diagnostics.len()),
                "diagnostics": diagnostics_json(&diagnostics),
            })))
        }
    };
    let id = compiled.policy_set_id();
    let draft = PolicyVersion::draft(NewPolicyVersion {
        tenant: tenant.clone(),
        domain: compiled.domain.clone(),
        policy_set_id: compiled.name.clone(),
        version_number: compiled.version,
        source: body.source.clone(),
        author: principal.subject.clone(),
        quorum: body.quorum.unwrap_or(POLICY_QUORUM_DEFAULT),
        approver_roles: body.approver_roles.clone().unwrap_or_else(|| POLICY_APPROVER_ROLES_DEFAULT.iter().map(|role| (*role).to_owned()).collect()),
        created_at_ms: unix_now_ms(),
    });
    let draft = match draft {
        Ok(draft) => draft,
        Err(error) => return Ok(lifecycle_error(&error)),
    };
    node.store.policy_versions().insert_new(&tenant, &id, &draft)?;
    node.record_compliance(&ComplianceEvent::PolicyTransition {
        tenant: tenant.clone(),
        policy_id: id.clone(),
        to: PolicyState::Draft.as_str().to_owned(),
        by: principal.subject.clone(),
    })
    .map_err(internal)?;
    Ok(HttpResponse::Created().json(json!({"id": id, "version": draft})))
}

/// `GET /v1/policies?domain=`.
pub async fn list(node: web::Data<Node>, principal: Principal, query: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::AuthorPolicies, "list policy versions", query.tenant.as_deref())?;
    let versions: Vec<(String, PolicyVersion)> = node.store.policy_versions().list(&tenant, POLICIES_PAGE_MAX)?;
    let listed: Vec<serde_json::Value> = versions
        .into_iter()
        .filter(|(_, version)| query.domain.as_deref().is_none_or(|domain| version.domain == domain))
        .map(|(id, version)| json!({"id": id, "version": version}))
        .collect();
    Ok(HttpResponse::Ok().json(listed))
}

/// `GET /v1/policies/{id}`.
pub async fn get(node: web::Data<Node>, principal: Principal, id: web::Path<String>, query: web::Query<TenantQuery>) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::AuthorPolicies, "read policy versions", query.tenant.as_deref())?;
    let version = load(&node, &tenant, &id)?;
    Ok(HttpResponse::Ok().json(json!({"id": id.as_str(), "version": version})))
}

/// `POST /v1/policies/{id}/submit`: the author freezes the draft for approval.
pub async fn submit(node: web::Data<Node>, principal: Principal, id: web::Path<String>, query: web::Query<TenantQuery>) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::AuthorPolicies, "submit policy versions", query.tenant.as_deref())?;
    let current = load(&node, &tenant, &id)?;
    let by = engine_principal(&principal, &tenant, Vec::new());
    let next = match lifecycle::submit(&current, &by, unix_now_ms()) {
        Ok(next) => next,
        Err(error) => return Ok(lifecycle_error(&error)),
    };
    if let Some(conflict) = store(&node, &id, &current, &next, &by.id)? {
        return Ok(conflict);
    }
    Ok(HttpResponse::Ok().json(json!({"id": id.as_str(), "version": next})))
}

/// `POST /v1/policies/{id}/approve`: one approval by a distinct approver who is not the author.
pub async fn approve(node: web::Data<Node>, principal: Principal, id: web::Path<String>, query: web::Query<TenantQuery>) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ApprovePolicies, "approve policy versions", query.tenant.as_deref())?;
    let current = load(&node, &tenant, &id)?;
    let by = engine_principal(&principal, &tenant, Vec::new());
    let next = match lifecycle::approve(&current, &by, unix_now_ms()) {
        Ok(next) => next,
        Err(error) => return Ok(lifecycle_error(&error)),
    };
    if let Some(conflict) = store(&node, &id, &current, &next, &by.id)? {
        return Ok(conflict);
    }
    Ok(HttpResponse::Ok().json(json!({"id": id.as_str(), "version": next})))
}

/// `POST /v1/policies/{id}/publish`: runs the static and Z3 publish checks, publishes the
/// version, retires the one it replaces, and makes it the one the next request selects.
pub async fn publish(node: web::Data<Node>, principal: Principal, id: web::Path<String>, query: web::Query<TenantQuery>) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ApprovePolicies, "publish policy versions", query.tenant.as_deref())?;
    let candidate = load(&node, &tenant, &id)?;
    let source = candidate.source.clone();
    let checked = web::block(move || {
        axiom_engine::policy::compile(&source).map(|compiled| {
            let diagnostics = axiom_engine::policy::check_publishable(&compiled);
            (compiled, diagnostics)
        })
    })
    .await
    .map_err(internal)?;
    let (compiled, diagnostics) = match checked {
        Ok(checked) => checked,
        Err(diagnostics) => {
            return Ok(HttpResponse::UnprocessableEntity().json(json!({
                "error": "publish_blocked",
                "message": "the stored text no longer compiles",
                "diagnostics": diagnostics_json(&diagnostics),
            })))
        }
    };

    let _guard = PUBLISH.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let current_id = node.policies.current(&tenant, &candidate.domain).map(|policy| policy.policy_set_id.clone());
    let current: Option<PolicyVersion> = match &current_id {
        Some(current_id) => node.store.policy_versions().get(&tenant, current_id)?,
        None => None,
    };
    let by = engine_principal(&principal, &tenant, Vec::new());
    let publication = match lifecycle::publish(&candidate, current.as_ref(), &by, &diagnostics, unix_now_ms()) {
        Ok(publication) => publication,
        Err(error) => return Ok(lifecycle_error(&error)),
    };

    if let Some(conflict) = store(&node, &id, &candidate, &publication.published, &by.id)? {
        return Ok(conflict);
    }
    if let (Some(retired), Some(current), Some(current_id)) = (&publication.retired, &current, &current_id) {
        if let Some(conflict) = store(&node, current_id, current, retired, &by.id)? {
            tracing::error!(policy = %current_id, "published a new version but could not retire the old one");
            return Ok(conflict);
        }
    }
    node.policies.publish(&tenant, PublishedPolicy {
        policy_set_id: id.to_string(),
        source: candidate.source.clone(),
        compiled: Arc::new(compiled),
    });
    tracing::warn!(%tenant, policy = %id, by = %by.id, "policy version published");
    Ok(HttpResponse::Ok().json(json!({"id": id.as_str(), "version": publication.published, "retired": current_id})))
}

/// `POST /v1/policies/{id}/retire`: the domain then has no published policy and gets no ALLOW.
pub async fn retire(node: web::Data<Node>, principal: Principal, id: web::Path<String>, query: web::Query<TenantQuery>) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ApprovePolicies, "retire policy versions", query.tenant.as_deref())?;
    let _guard = PUBLISH.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let current = load(&node, &tenant, &id)?;
    let by = engine_principal(&principal, &tenant, Vec::new());
    let next = match lifecycle::retire(&current, &by, unix_now_ms()) {
        Ok(next) => next,
        Err(error) => return Ok(lifecycle_error(&error)),
    };
    if let Some(conflict) = store(&node, &id, &current, &next, &by.id)? {
        return Ok(conflict);
    }
    if node.policies.current(&tenant, &current.domain).is_some_and(|policy| policy.policy_set_id == *id) {
        node.policies.retire(&tenant, &current.domain);
    }
    Ok(HttpResponse::Ok().json(json!({"id": id.as_str(), "version": next})))
}

#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    against: String,
    #[serde(default)]
    tenant: Option<String>,
}

/// `GET /v1/policies/{id}/diff?against=ID`: unified diff from `against` to `id`, as text.
pub async fn diff(node: web::Data<Node>, principal: Principal, id: web::Path<String>, query: web::Query<DiffQuery>) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::AuthorPolicies, "diff policy versions", query.tenant.as_deref())?;
    let new = load(&node, &tenant, &id)?;
    let old = load(&node, &tenant, &query.against)?;
    let text = lifecycle::diff_lines(&query.against, &old.source, &id, &new.source)
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    Ok(HttpResponse::Ok().content_type("text/x-diff; charset=utf-8").body(text))
}

/// Body of `POST /v1/policies/{id}/evaluate`: an intent and a state snapshot.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateBody {
    intent: Intent,
    #[serde(default)]
    sources: BTreeMap<String, SourceReading>,
    #[serde(default)]
    budgets: BTreeMap<String, Decimal>,
    #[serde(default)]
    rollback_usable: bool,
    #[serde(default)]
    tenant: Option<String>,
}

/// `POST /v1/policies/{id}/evaluate`: dry-runs a version (any state) against an intent and a
/// state snapshot. Returns each axiom's outcome and the composed verdict; touches no shard,
/// writes no audit record.
pub async fn evaluate(node: web::Data<Node>, principal: Principal, id: web::Path<String>, body: web::Json<EvaluateBody>) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::AuthorPolicies, "evaluate policy versions", body.tenant.as_deref())?;
    let version = load(&node, &tenant, &id)?;
    let compiled = axiom_engine::policy::compile(&version.source)
        .map_err(|diagnostics| ApiError::Conflict(format!("the stored text no longer compiles ({} diagnostics)", diagnostics.len())))?;
    let body = body.into_inner();
    let side_effects = has_side_effects(&body.intent.operation.name);
    let facts = Facts {
        intent: Arc::new(body.intent),
        key: axiom_engine::policy::Principal { kid: "dry-run".to_owned(), tenant: tenant.clone() },
        sources: body.sources,
        budgets: body.budgets,
    };
    let evaluation = crate::node::thresholds::evaluate_scaled(
        &node.solver,
        Arc::new(compiled),
        facts,
        node.settings.snapshot().threshold_scale_milli,
    )
    .await
    .map_err(|error| ApiError::Unavailable(format!("the solver is unavailable: {error}")))?;
    let composed = compose(&CompositionInput {
        state: StateCheck::Fresh,
        policy: PolicyStep::Evaluated(findings_from_evaluation(&evaluation)),
        side_effects,
        rollback_usable: body.rollback_usable,
        degraded: false,
        defer_budget: DeferBudget { remaining_ms: 0 },
    });
    Ok(HttpResponse::Ok().json(json!({
        "id": id.as_str(),
        "evaluation": evaluation,
        "verdict": composed.verdict,
        "reason_code": composed.reason_code,
        "shield": composed.shield,
        "counterexample": composed.counterexample,
        "detail": composed.detail,
    })))
}
