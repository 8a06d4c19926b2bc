//! `/v1/escrow/{id}`, `/v1/escrows` and `/v1/approvers`: escrowed actions reviewed by people.
//!
//! Every transition is computed by the engine's escrow state machine with the principal of the
//! verified token, stored with compare-and-set on the escrow's version, and recorded in
//! `compliance_events`. An escrow past its expiry is moved to `EXPIRED` when a request reads
//! it, and by the node's periodic sweep.

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::roles::Permission;
use crate::http::unix_now_ms;
use crate::http::workflow::{concurrent_change, engine_principal, error_response, escrow_error, internal};
use crate::node::upstream::{ExecutionReport, Upstream};
use crate::node::workflow::{APPROVER_POOL_ROLES_MAX, ESCROW_SCAN_ROWS_MAX};
use crate::node::Node;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use axiom_engine::escrow::{self, Escrow, EscrowError, EscrowStatus, PendingCause, Reverification};
use axiom_engine::decision::{compose, findings_from_evaluation, CompositionInput, DeferBudget, PolicyStep, StateCheck};
use axiom_engine::model::{ReasonCode, DecisionResponse, Verdict};
use axiom_engine::policy::{AxiomOutcome, Facts, SourceReading};
use axiom_engine::shard::{BudgetReservation, ReserveOutcome};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Longest role name accepted in the approver pool, in bytes.
pub const ROLE_BYTES_MAX: usize = 64;
/// Longest cancel or rollback reason kept, in bytes (the escrow keeps at most this much).
pub const REASON_BYTES_MAX: usize = escrow::REASON_BYTES_MAX;

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
    status: Option<String>,
    /// Only escrows created at least this many seconds ago.
    #[serde(default)]
    older_than: Option<u64>,
}

/// One escrow in a listing, with its age.
#[derive(Debug, Serialize)]
struct Listed<'e> {
    #[serde(flatten)]
    escrow: &'e Escrow,
    age_s: i64,
}

/// Body of cancel and rollback.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

fn reason_of(body: &web::Bytes, default: &str) -> Result<String, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(default.to_owned());
    }
    let parsed: ReasonBody = serde_json::from_slice(body)
        .map_err(|error| ApiError::BadRequest(format!("body: {error}")))?;
    let reason = parsed.reason.unwrap_or_else(|| default.to_owned());
    if reason.len() > REASON_BYTES_MAX {
        return Err(ApiError::BadRequest(format!("reason is longer than {REASON_BYTES_MAX} bytes")));
    }
    Ok(reason)
}

/// Reads an escrow of `tenant`, expiring it first when it is due.
fn load(node: &Node, tenant: &str, id: &str, now_ms: i64) -> Result<Escrow, ApiError> {
    let escrow: Escrow = node
        .store
        .escrows()
        .get(tenant, id)?
        .ok_or_else(|| ApiError::NotFound { what: "escrow", id: id.to_owned() })?;
    node.expire_if_due(escrow, now_ms).map_err(internal)
}

/// Stores a transition and answers with the stored escrow (200) or a 409 on a lost race.
fn store(node: &Node, current: &Escrow, next: &Escrow) -> Result<HttpResponse, ApiError> {
    match node.store_escrow_transition(current, next).map_err(internal)? {
        Ok(stored) => Ok(HttpResponse::Ok().json(stored)),
        Err(_) => Ok(concurrent_change("escrow", &current.escrow_id)),
    }
}

/// `GET /v1/escrow/{id}`.
pub async fn get(
    node: web::Data<Node>,
    principal: Principal,
    id: web::Path<String>,
    query: web::Query<TenantQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ReadEscrows, "read escrows", query.tenant.as_deref())?;
    let escrow = load(&node, &tenant, &id, unix_now_ms())?;
    Ok(HttpResponse::Ok().json(escrow))
}

/// `GET /v1/escrows?status=&older_than=`: oldest first, so stale items come first.
pub async fn list(
    node: web::Data<Node>,
    principal: Principal,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ReadEscrows, "list escrows", query.tenant.as_deref())?;
    let status = query
        .status
        .as_deref()
        .map(|text| {
            EscrowStatus::parse(text).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "unknown status `{text}`: use PENDING, APPROVED, EXECUTING, EXECUTED, CLOSED, EXPIRED, CANCELLED, FAILED or ROLLED_BACK"
                ))
            })
        })
        .transpose()?;
    let min_age_ms = query
        .older_than
        .map(|seconds| i64::try_from(seconds.saturating_mul(1_000)).unwrap_or(i64::MAX));

    let now_ms = unix_now_ms();
    let stored: Vec<(String, Escrow)> = node.store.escrows().list(&tenant, ESCROW_SCAN_ROWS_MAX)?;
    let mut escrows = Vec::with_capacity(stored.len());
    for (_, escrow) in stored {
        escrows.push(node.expire_if_due(escrow, now_ms).map_err(internal)?);
    }
    escrows.retain(|escrow| {
        status.is_none_or(|status| escrow.status == status)
            && min_age_ms.is_none_or(|min| now_ms.saturating_sub(escrow.created_at_ms) >= min)
    });
    escrows.sort_by(|left, right| {
        (left.created_at_ms, &left.escrow_id).cmp(&(right.created_at_ms, &right.escrow_id))
    });
    let listed: Vec<Listed<'_>> = escrows
        .iter()
        .map(|escrow| Listed {
            escrow,
            age_s: now_ms.saturating_sub(escrow.created_at_ms) / 1_000,
        })
        .collect();
    Ok(HttpResponse::Ok().json(listed))
}

/// `POST /v1/escrow/{id}/approve`: the approver is the token's subject, with the token's
/// roles and the approver pool's roles for that subject.
pub async fn approve(
    node: web::Data<Node>,
    principal: Principal,
    id: web::Path<String>,
    query: web::Query<TenantQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ApproveEscrows, "approve escrows", query.tenant.as_deref())?;
    let now_ms = unix_now_ms();
    let current = load(&node, &tenant, &id, now_ms)?;
    let approver = engine_principal(&principal, &tenant, node.workflow.approver_roles(&tenant, &principal.subject));
    match escrow::approve(&current, &approver, now_ms) {
        Ok(next) => {
            tracing::info!(escrow_id = %current.escrow_id, %tenant, approver = %approver.id, status = %next.status, "escrow approved");
            store(&node, &current, &next)
        }
        Err(error) => Ok(escrow_error(&error)),
    }
}

/// `POST /v1/escrow/{id}/cancel` with an optional `{"reason"}`.
pub async fn cancel(
    node: web::Data<Node>,
    principal: Principal,
    id: web::Path<String>,
    query: web::Query<TenantQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ApproveEscrows, "cancel escrows", query.tenant.as_deref())?;
    let reason = reason_of(&body, "cancelled by an approver")?;
    let now_ms = unix_now_ms();
    let current = load(&node, &tenant, &id, now_ms)?;
    let by = engine_principal(&principal, &tenant, node.workflow.approver_roles(&tenant, &principal.subject));
    match escrow::cancel(&current, &by, now_ms, &reason) {
        Ok(next) => store(&node, &current, &next),
        Err(error) => Ok(escrow_error(&error)),
    }
}

/// `POST /v1/escrow/{id}/execute`: checks the escrow's state first, re-verifies it against the
/// live state, reserves the escrowed amount from the live budgets, claims the execution, calls
/// the tool with the engine-signed receipt of the escrowed decision, and stores the outcome.
///
/// A condition that can clear by itself leaves the escrow `APPROVED`, with 409 for a stale or
/// unknown source and 503 for an unavailable verifier or shard or for degraded mode. A
/// permanent one (key unusable, policy now violated, budget short) stores `FAILED` and returns
/// 200 with the escrow.
pub async fn execute(
    node: web::Data<Node>,
    principal: Principal,
    id: web::Path<String>,
    query: web::Query<TenantQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ExecuteEscrows, "execute escrows", query.tenant.as_deref())?;
    let now_ms = unix_now_ms();
    let current = load(&node, &tenant, &id, now_ms)?;
    let by = engine_principal(&principal, &tenant, node.workflow.approver_roles(&tenant, &principal.subject));
    if let Err(error) = escrow::check_execute(&current, &by, now_ms) {
        return Ok(escrow_error(&error));
    }

    let Some(tool_url) = node.config.tool_url.clone() else {
        return Err(ApiError::Unavailable(
            "no tool upstream is configured: set TOOL_URL to execute escrows".to_owned(),
        ));
    };
    let upstream = Upstream::new(&tool_url, node.config.upstream_timeout_ms)
        .map_err(|error| ApiError::Unavailable(error.to_string()))?;

    // One execution attempt per escrow at a time on this node, so a repeated request cannot
    // reserve the budget a second time while the first one is still deciding.
    let Some(_attempt) = node.workflow.begin_execution_attempt(&tenant, &current.escrow_id) else {
        return Ok(error_response(
            StatusCode::CONFLICT,
            "conflict",
            format!("escrow `{}` is being executed by another request; read it again", current.escrow_id),
        ));
    };

    let (reverification, reserved) = reverify_and_reserve(&node, &current, now_ms).await;
    let claimed = match escrow::begin_execute(&current, &by, reverification, now_ms) {
        Ok(next) => next,
        Err(error) => {
            release_reserved(&node, &current, reserved, now_ms).await;
            if let EscrowError::ReverificationPending { reason, .. } = &error {
                tracing::warn!(escrow_id = %current.escrow_id, %tenant, %reason, "escrow stays APPROVED until re-verification can pass");
            }
            return Ok(escrow_error(&error));
        }
    };
    let claimed = match node.store_escrow_transition(&current, &claimed) {
        Ok(Ok(stored)) => stored,
        Ok(Err(_)) => {
            release_reserved(&node, &current, reserved, now_ms).await;
            return Ok(concurrent_change("escrow", &current.escrow_id));
        }
        Err(error) => {
            release_reserved(&node, &current, reserved, now_ms).await;
            return Err(internal(error));
        }
    };
    if claimed.status != EscrowStatus::Executing {
        tracing::warn!(escrow_id = %claimed.escrow_id, failure = ?claimed.failure, "escrow re-verification failed");
        return Ok(HttpResponse::Ok().json(claimed));
    }

    // The claim's fsynced write also made the reservation durable, because fjall keeps one
    // journal for every keyspace; only now does the action go upstream.
    let receipt = recorded_receipt(&node, &claimed);
    let report = upstream
        .execute(&claimed, receipt.as_ref())
        .await
        .map_err(internal)?;
    if matches!(report, ExecutionReport::RolledBack { .. }) {
        // Every compensating step succeeded, so the action left nothing to pay for. A FAILED
        // execution keeps its reservation, because the action may have taken effect.
        release_reserved(&node, &claimed, reserved, now_ms).await;
    }
    let finished = report
        .apply(&claimed, &by, unix_now_ms())
        .map_err(internal)?;
    store(&node, &claimed, &finished)
}

/// `POST /v1/escrow/{id}/rollback`: runs the rollback plan's compensating steps against the
/// tool, then records `ROLLED_BACK`. A failing step leaves the escrow unchanged (502).
pub async fn rollback(
    node: web::Data<Node>,
    principal: Principal,
    id: web::Path<String>,
    query: web::Query<TenantQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ExecuteEscrows, "roll back escrows", query.tenant.as_deref())?;
    let reason = reason_of(&body, "rolled back on request")?;
    let now_ms = unix_now_ms();
    let current = load(&node, &tenant, &id, now_ms)?;
    let by = engine_principal(&principal, &tenant, node.workflow.approver_roles(&tenant, &principal.subject));
    let next = match escrow::rollback(&current, &by, now_ms, &reason) {
        Ok(next) => next,
        Err(error) => return Ok(escrow_error(&error)),
    };

    let Some(tool_url) = node.config.tool_url.clone() else {
        return Err(ApiError::Unavailable("no tool upstream is configured: set TOOL_URL".to_owned()));
    };
    let upstream = Upstream::new(&tool_url, node.config.upstream_timeout_ms)
        .map_err(|error| ApiError::Unavailable(error.to_string()))?;
    if let Err(failure) = upstream.compensate(&current).await {
        tracing::error!(escrow_id = %current.escrow_id, %failure, "rollback did not complete");
        return Ok(error_response(
            StatusCode::BAD_GATEWAY,
            "rollback_failed",
            format!("the rollback did not complete, escrow unchanged: {failure}"),
        ));
    }
    store(&node, &current, &next)
}

/// Returns the engine's receipt of the decision that opened the escrow, from its audit record.
fn recorded_receipt(node: &Node, escrow: &Escrow) -> Option<axiom_engine::model::Receipt> {
    let record = node.store.audit_record(&escrow.decision_id).ok().flatten()?;
    let response: DecisionResponse = serde_json::from_value(record.decision.response).ok()?;
    response.receipt
}

/// Times re-verification runs again when the budget changed between its read and the
/// reservation. After that the execution returns 503, because concurrent spends of one budget
/// rarely collide more than a few times in a row.
const BUDGET_RACE_RETRIES_MAX: usize = 3;

/// Re-verifies an escrow and, when every check passed, reserves the escrowed amount in the
/// tenant's shard. Returns the finding and the reservations made (empty unless it passed).
///
/// Each reservation holds only if the budget still has the remaining amount the policy was
/// evaluated with, so a margin such as `eps(1.00)` cannot be overrun by a concurrent spend.
/// When the budget changed in between, re-verification runs again with the new amount.
async fn reverify_and_reserve(node: &Node, escrow: &Escrow, now_ms: i64) -> (Reverification, Vec<BudgetReservation>) {
    for _ in 0..=BUDGET_RACE_RETRIES_MAX {
        let (reservations, budgets) = match reverify(node, escrow, now_ms).await {
            Ok(checked) => checked,
            Err(stopped) => return (stopped, Vec::new()),
        };
        let reservations: Vec<BudgetReservation> = reservations
            .into_iter()
            .map(|mut reservation| {
                reservation.expected_remaining = budgets.get(&reservation.code).copied();
                reservation
            })
            .collect();

        let outcome = node
            .shards
            .reserve(&escrow.tenant, &escrow.intent.actor.id, reservations.clone(), now_ms)
            .await;
        match outcome {
            ReserveOutcome::Reserved => return (Reverification::Passed, reservations),
            ReserveOutcome::BudgetExhausted { code, remaining } => {
                let amount = escrowed_amount(&reservations, &code);
                if remaining >= amount {
                    tracing::debug!(escrow_id = %escrow.escrow_id, %code, %remaining, "budget changed during re-verification; verifying again");
                    continue;
                }
                let reason = format!("budget `{code}` has {remaining} remaining, less than the escrowed amount {amount}");
                return (Reverification::Failed { reason }, Vec::new());
            }
            ReserveOutcome::InvalidReservation { code, detail } => {
                let reason = format!("budget `{code}` cannot be reserved: {detail}");
                return (Reverification::Failed { reason }, Vec::new());
            }
            ReserveOutcome::Unavailable { detail } => {
                let reason = format!("the budget could not be reserved: {detail}");
                return (pending(PendingCause::Unavailable, reason), Vec::new());
            }
        }
    }
    let reason = "the budget changed during every re-verification attempt; retry".to_owned();
    (pending(PendingCause::Unavailable, reason), Vec::new())
}

fn escrowed_amount(reservations: &[BudgetReservation], code: &str) -> Decimal {
    reservations
        .iter()
        .filter(|reservation| reservation.code == code)
        .map(|reservation| reservation.amount)
        .sum()
}

fn pending(cause: PendingCause, reason: String) -> Reverification {
    Reverification::Pending { cause, reason }
}

fn failed(reason: String) -> Reverification {
    Reverification::Failed { reason }
}

/// Gives back a reservation of an execution that did not happen or was compensated. A release
/// that fails leaves the amount spent, which can only make the budget stricter.
async fn release_reserved(node: &Node, escrow: &Escrow, reserved: Vec<BudgetReservation>, reserved_at_ms: i64) {
    if reserved.is_empty() {
        return;
    }
    let released = node
        .shards
        .release(&escrow.tenant, &escrow.intent.actor.id, reserved, reserved_at_ms, unix_now_ms())
        .await;
    match released {
        Ok(amount) => tracing::info!(escrow_id = %escrow.escrow_id, tenant = %escrow.tenant, %amount, "escrow budget reservation released"),
        Err(error) => tracing::warn!(escrow_id = %escrow.escrow_id, tenant = %escrow.tenant, %error, "escrow budget reservation not released; the amount stays spent"),
    }
}

/// Checks at execution time, in this order: the key is still usable, the sources are known
/// and fresh, and degraded mode is off. Then the current policy must still allow the action
/// with the live remaining budgets, apart from its escrow condition. Returns the amounts the
/// action must reserve with the remaining budgets it was checked against, or the first
/// problem found.
async fn reverify(
    node: &Node,
    escrow: &Escrow,
    now_ms: i64,
) -> Result<(Vec<BudgetReservation>, BTreeMap<String, Decimal>), Reverification> {
    let intent = &escrow.intent;
    let tenant = escrow.tenant.as_str();
    let domain = intent.target.domain.as_str();
    if let Err(rejection) = node.keys.authorize(&escrow.key_id, tenant, &intent.actor.id, now_ms) {
        return Err(failed(format!("signing key `{}` is no longer usable: {rejection}", escrow.key_id)));
    }

    let max_age = Decimal::from(intent.data_requirements.max_staleness_sec);
    for name in &intent.data_requirements.required_sources {
        match node.sources.view(tenant, domain, name, now_ms) {
            None => {
                return Err(pending(PendingCause::StateNotFresh, format!("required source `{name}` has never reported")));
            }
            Some(view) if view.age_sec > max_age => {
                let reason = format!(
                    "required source `{name}` is {} s old, above max_staleness_sec {max_age}",
                    view.age_sec.round_dp(1)
                );
                return Err(pending(PendingCause::StateNotFresh, reason));
            }
            Some(_) => {}
        }
    }

    let Some(policy) = node.policies.current(tenant, domain) else {
        return Err(failed(format!("tenant `{tenant}` has no published policy for domain `{domain}` any more")));
    };
    let mut sources = BTreeMap::new();
    for name in &policy.compiled.source_names {
        let Some(view) = node.sources.view(tenant, domain, name, now_ms) else {
            return Err(pending(PendingCause::StateNotFresh, format!("source `{name}` read by the policy has never reported")));
        };
        sources.insert(name.clone(), SourceReading { age_sec: view.age_sec, lag_sec: view.lag_sec, health_score: view.health_score });
    }
    if node.settings.snapshot().degraded_no_allow {
        return Err(pending(PendingCause::Unavailable, "degraded mode is on (DEGRADED_NO_ALLOW), so no action is executed".to_owned()));
    }

    let codes: Vec<String> = policy.compiled.budget_codes.iter().cloned().collect();
    let budgets: BTreeMap<String, Decimal> = if codes.is_empty() {
        BTreeMap::new()
    } else {
        match node.shards.budgets(tenant, &intent.actor.id, codes, now_ms).await {
            Ok(read) => read
                .into_iter()
                .filter_map(|budget| budget.remaining.map(|remaining| (budget.code, remaining)))
                .collect(),
            Err(error) => {
                return Err(pending(PendingCause::Unavailable, format!("the live budgets could not be read: {error}")));
            }
        }
    };

    let facts = Facts {
        intent: Arc::new(intent.clone()),
        key: axiom_engine::policy::Principal { kid: escrow.key_id.clone(), tenant: tenant.to_owned() },
        sources,
        budgets: budgets.clone(),
    };
    let evaluation = match node.solver.evaluate(Arc::clone(&policy.compiled), facts).await {
        Ok(evaluation) => evaluation,
        Err(error) => {
            tracing::warn!(escrow_id = %escrow.escrow_id, %error, "policy re-verification could not run");
            return Err(pending(PendingCause::Unavailable, format!("the verifier is unavailable: {error}")));
        }
    };
    if evaluation.axioms.iter().any(|axiom| axiom.outcome == AxiomOutcome::Timeout) {
        return Err(pending(PendingCause::Unavailable, "the proof timed out (SMT_TIMEOUT_MS)".to_owned()));
    }

    let mut findings = findings_from_evaluation(&evaluation);
    findings.escrow_matched = false;
    let composed = compose(&CompositionInput {
        state: StateCheck::Fresh,
        policy: PolicyStep::Evaluated(findings),
        // Only the policy is judged here; the rollback rule applied when the escrow was opened,
        // and degraded mode was checked above.
        side_effects: false,
        rollback_usable: escrow.has_usable_rollback_plan(),
        degraded: false,
        defer_budget: DeferBudget { remaining_ms: 0 },
    });
    // An ESCROW whose reason is exactly what the approvers were asked to judge (an uncertain
    // proof, a missing formal proof, an axiom that asks for approval, a missing rollback plan)
    // passes: the quorum's approval is the answer to it. Anything else must be an ALLOW.
    let approved_by_people = composed.verdict == Verdict::Escrow
        && matches!(
            composed.reason_code,
            ReasonCode::Uncertain
                | ReasonCode::SmtNonFormal
                | ReasonCode::AxiomFail
                | ReasonCode::RollbackRequired
        );
    if composed.verdict != Verdict::Allow && !approved_by_people {
        let detail = composed.detail.unwrap_or_default();
        return Err(failed(format!(
            "the current policy `{}` gives {} {} with the live state: {detail}",
            policy.policy_set_id, composed.verdict, composed.reason_code
        )));
    }

    let applicable: Vec<String> = evaluation
        .axioms
        .iter()
        .filter(|axiom| axiom.outcome != AxiomOutcome::NotApplicable)
        .map(|axiom| axiom.name.clone())
        .collect();
    let reservations = node.budget_reservations(intent, &policy, &applicable).map_err(failed)?;
    Ok((reservations, budgets))
}

/// Body of `PUT /v1/approvers/{principal}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproverBody {
    /// Approver roles granted on top of the token's, for example `financemanager`; an empty
    /// list removes the principal from the pool.
    roles: Vec<String>,
    #[serde(default)]
    tenant: Option<String>,
}

/// `PUT /v1/approvers/{principal}`: grants escrow approver roles to a principal of the tenant.
pub async fn put_approver(
    node: web::Data<Node>,
    principal: Principal,
    subject: web::Path<String>,
    body: web::Json<ApproverBody>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ManageApprovers, "manage the approver pool", body.tenant.as_deref())?;
    if subject.is_empty() || subject.len() > ROLE_BYTES_MAX * 4 {
        return Err(ApiError::BadRequest("principal must be 1 to 256 bytes".to_owned()));
    }
    if body.roles.len() > APPROVER_POOL_ROLES_MAX {
        return Err(ApiError::BadRequest(format!("at most {APPROVER_POOL_ROLES_MAX} roles")));
    }
    if let Some(role) = body.roles.iter().find(|role| {
        role.is_empty() || role.len() > ROLE_BYTES_MAX || !role.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }) {
        return Err(ApiError::BadRequest(format!(
            "role `{}` must be 1 to {ROLE_BYTES_MAX} letters, digits, `_` or `-`",
            role.chars().take(80).collect::<String>()
        )));
    }
    let mut roles = body.roles.clone();
    roles.sort();
    roles.dedup();
    node.set_approver(&tenant, &subject, roles.clone(), &principal.subject)
        .map_err(internal)?;
    tracing::warn!(%tenant, principal = %subject, ?roles, by = %principal.subject, "approver pool changed");
    Ok(HttpResponse::Ok().json(serde_json::json!({"principal": subject.as_str(), "tenant": tenant, "roles": roles})))
}

/// `GET /v1/approvers`: the approver pool of the tenant, and who approved escrows recently.
pub async fn list_approvers(
    node: web::Data<Node>,
    principal: Principal,
    query: web::Query<TenantQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ReadEscrows, "read the approver pool", query.tenant.as_deref())?;
    let pool: Vec<serde_json::Value> = node
        .workflow
        .approver_pool(&tenant)
        .into_iter()
        .map(|(principal, roles)| serde_json::json!({"principal": principal, "roles": roles}))
        .collect();

    let mut recent: BTreeMap<String, i64> = BTreeMap::new();
    let stored: Vec<(String, Escrow)> = node.store.escrows().list(&tenant, ESCROW_SCAN_ROWS_MAX)?;
    for (_, escrow) in &stored {
        for approval in &escrow.approvals {
            let last = recent.entry(approval.approver.clone()).or_insert(approval.at_ms);
            *last = (*last).max(approval.at_ms);
        }
    }
    let recent: Vec<serde_json::Value> = recent
        .into_iter()
        .map(|(approver, at_ms)| serde_json::json!({"approver": approver, "last_approval_ms": at_ms}))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({"tenant": tenant, "pool": pool, "recent_approvers": recent})))
}
