//! The decision path, in the order of the protocol: stateless checks, shard admission, policy
//! selection, state freshness, the proof, verdict composition, the durable audit record, and
//! the engine-signed response.

use super::{Endpoint, Node};
use axiom_engine::checks::{authenticate, AuthenticatedRequest, CheckLimits, Rejection};
use axiom_engine::decision::{
    compose, findings_from_evaluation, has_side_effects, CompositionInput, DeferBudget, PolicyStep,
    StateCheck,
};
use axiom_engine::model::{
    Counterexample, DecisionResponse, EscrowSummary, Fact, ReasonCode, Verdict,
};
use axiom_engine::policy::{Facts, Principal, SourceReading};
use axiom_engine::shard::{
    AdmitOutcome, AdmitRequest, Admission, BudgetReservation, CompleteOutcome, Completion,
    SequenceClaim,
};
use axiom_storage::{AuditEntry, DecisionFields, PersonalData};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::policies::PublishedPolicy;

/// Domain prefix of a sequence stream id, so stream ids never collide with other hashes.
const SEQUENCE_STREAM_PREFIX: &[u8] = b"axiom/sequence-stream/v1\n";

/// Times an ALLOW whose reservation no longer fits is proved again with the fresh remaining
/// amount before the request is deferred. Concurrent spends of one budget rarely collide more
/// than a few times in a row.
const BUDGET_RETRIES_MAX: usize = 3;

/// The inputs a decision used, recorded in its audit record so it can be replayed later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedInputs {
    /// The facts the policy was evaluated on (intent, key, sources, budgets).
    pub facts: Option<Facts>,
    /// The freshness finding.
    pub state: StateCheck,
    /// True when the operation may change something.
    pub side_effects: bool,
    /// True when the certificate carried a usable rollback plan.
    pub rollback_usable: bool,
    /// Degraded mode at decision time.
    pub degraded: bool,
    /// Remainder of the defer allowance, in milliseconds.
    pub defer_remaining_ms: i64,
    /// Reason the solver could not be used, when it could not.
    pub solver_unavailable: Option<String>,
    /// Budget amounts an ALLOW reserved.
    pub reservations: Vec<RecordedReservation>,
    /// Axioms whose `when` applied to the action; an ALLOW charges only their budgets.
    #[serde(default)]
    pub applicable_axioms: Vec<String>,
    /// `THRESHOLD_SCALE_MILLI` applied to the escrow conditions (1000 in records written
    /// before the field existed).
    #[serde(default = "neutral_threshold_scale")]
    pub threshold_scale_milli: u64,
}

fn neutral_threshold_scale() -> u64 {
    super::thresholds::THRESHOLD_SCALE_NEUTRAL_MILLI
}

/// A budget amount reserved by an ALLOW.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedReservation {
    /// Budget code.
    pub code: String,
    /// Amount, exact decimal.
    pub amount: Decimal,
}

/// Returns the current Unix time in milliseconds.
pub fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Returns the stream id of a certificate's sequence: hex SHA-256 over a domain prefix and the
/// NUL-separated kid, tenant, actor and policy set, so no actor id appears in clear.
pub fn sequence_stream_id(kid: &str, tenant: &str, actor_id: &str, policy_set_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(SEQUENCE_STREAM_PREFIX);
    for part in [kid, tenant, actor_id, policy_set_id] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(hasher.finalize())
}

fn new_decision_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The response being built for an authenticated request.
struct Draft {
    verdict: Verdict,
    reason_code: ReasonCode,
    retry_after_ms: Option<u64>,
    shield: Option<axiom_engine::model::Shield>,
    counterexample: Option<Counterexample>,
    detail: Option<String>,
    escrow: Option<EscrowSummary>,
}

impl Draft {
    fn new(verdict: Verdict, reason_code: ReasonCode, detail: impl Into<String>) -> Draft {
        Draft {
            verdict,
            reason_code,
            retry_after_ms: None,
            shield: None,
            counterexample: None,
            detail: Some(detail.into()),
            escrow: None,
        }
    }
}

impl Node {
    /// Decides one request and returns the response to send. Every failure of the input
    /// becomes a verdict-shaped response with a reason code rather than an error.
    pub async fn decide(&self, request: &[u8], endpoint: Endpoint) -> DecisionResponse {
        let started = Instant::now();
        let response = self.decide_request(request).await;
        self.metrics.observe_request(endpoint.label(), started.elapsed());
        self.metrics
            .observe_decision(response.verdict, response.reason_code);
        response
    }

    async fn decide_request(&self, request: &[u8]) -> DecisionResponse {
        let now_ms = unix_now_ms();
        if self.audit_failed() {
            return DecisionResponse::rejected(
                ReasonCode::InternalError,
                "the audit log failed; the node answers no decision until it is restarted",
            );
        }

        let settings = self.settings.snapshot();
        let limits = CheckLimits {
            request_bytes_max: self.config.request_bytes_max,
            clock_skew_ms: settings.clock_skew_ms,
            acceptance_ttl_ms: settings.acceptance_ttl_ms,
        };
        match authenticate(request, &self.keys, &limits, now_ms) {
            Ok(authenticated) => self.decide_authenticated(authenticated, now_ms).await,
            Err(rejection) => self.reject(request, rejection, now_ms).await,
        }
    }

    /// Builds the response to a request that failed a stateless check. Unauthenticated failures are counted
    /// and sampled into incidents but not audited one by one, so a flood cannot fill the disk;
    /// failures after the signature verified are audited like any decision.
    async fn reject(&self, raw: &[u8], rejection: Rejection, now_ms: i64) -> DecisionResponse {
        if let Some(request) = rejection.authenticated_request() {
            self.observe_security(
                &request.envelope.intent.actor.tenant,
                &request.envelope.intent.actor.id,
                Some(&request.envelope.certificate.kid),
                rejection.reason,
                now_ms,
            );
            let draft = Draft::new(Verdict::Deny, rejection.reason, rejection.detail.clone());
            return self
                .finish_unadmitted(request, draft, None, now_ms)
                .await;
        }

        if rejection.reason.is_security_incident() {
            let (tenant, actor) = self.unauthenticated_identity(raw, &rejection);
            // The identity names a kid only when the request named a registered key.
            let kid = actor.strip_prefix(KID_ACTOR_PREFIX);
            self.observe_security(&tenant, &actor, kid, rejection.reason, now_ms);
        }
        DecisionResponse::rejected(rejection.reason, rejection.detail)
    }

    async fn decide_authenticated(
        &self,
        request: AuthenticatedRequest,
        now_ms: i64,
    ) -> DecisionResponse {
        let intent = &request.envelope.intent;
        let certificate = &request.envelope.certificate;
        let tenant = intent.actor.tenant.as_str();
        let actor_id = intent.actor.id.as_str();

        let cutoff_ms = self
            .settings
            .certificates_issued_after_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if certificate.issued_at < cutoff_ms {
            let draft = Draft::new(
                Verdict::Deny,
                ReasonCode::CertExpired,
                format!(
                    "certificate issued at {} ms, before the invalidation of every certificate at {cutoff_ms} ms (acceptance TTL set to 0)",
                    certificate.issued_at
                ),
            );
            return self.finish_unadmitted(&request, draft, None, now_ms).await;
        }

        let policy = self.policies.current(tenant, &intent.target.domain);
        let policy_set_id = policy
            .as_ref()
            .map(|policy| policy.policy_set_id.clone())
            .unwrap_or_default();

        let sequence = certificate.sequence.map(|value| SequenceClaim {
            stream_id: sequence_stream_id(&certificate.kid, tenant, actor_id, &policy_set_id),
            value,
        });
        let budget_codes = policy
            .as_ref()
            .map(|policy| policy.compiled.budget_codes.iter().cloned().collect())
            .unwrap_or_default();
        let admit = AdmitRequest {
            tenant: tenant.to_owned(),
            actor_id: actor_id.to_owned(),
            kid: certificate.kid.clone(),
            nonce: certificate.nonce.clone(),
            cert_expires_at_ms: certificate.expires_at,
            sequence,
            idempotency_key: intent.idempotency_key.clone(),
            intent_hash: request.intent_hash,
            budget_codes,
            now_ms,
        };

        let admission = match self.shards.admit(admit).await {
            AdmitOutcome::Admitted(admission) => admission,
            AdmitOutcome::Cached(response) => return *response,
            AdmitOutcome::Rejected(rejected) => {
                if let Some(anomaly) = &rejected.anomaly {
                    self.observe_security(
                        &anomaly.tenant,
                        &anomaly.actor_id,
                        Some(&certificate.kid),
                        anomaly.reason,
                        now_ms,
                    );
                }
                return self.answer_shard_rejection(&request, rejected, now_ms).await;
            }
        };

        let response = self
            .decide_admitted(&request, &admission, policy, now_ms)
            .await;
        response
    }

    /// Builds the response to a request the shard did not admit. Replays and rate-limited or overloaded
    /// requests are not audited one by one (a captured certificate replayed in a loop must
    /// not fill the disk); an idempotency conflict is a new signed request and is audited.
    async fn answer_shard_rejection(
        &self,
        request: &AuthenticatedRequest,
        rejected: axiom_engine::shard::Rejection,
        now_ms: i64,
    ) -> DecisionResponse {
        let intent = &request.envelope.intent;
        match rejected.reason {
            ReasonCode::ReplayDetected | ReasonCode::SequenceReplay => {
                let kid = Some(request.envelope.certificate.kid.as_str());
                self.observe_security(&intent.actor.tenant, &intent.actor.id, kid, rejected.reason, now_ms);
                DecisionResponse::rejected(rejected.reason, rejected.detail)
            }
            ReasonCode::RateLimited | ReasonCode::Overloaded | ReasonCode::InternalError => {
                let mut response = DecisionResponse::rejected(rejected.reason, rejected.detail);
                response.verdict = Verdict::Defer;
                response.retry_after_ms = Some(rejected.retry_after_ms.unwrap_or(1_000));
                response
            }
            reason => {
                let draft = Draft::new(Verdict::Deny, reason, rejected.detail);
                self.finish_unadmitted(request, draft, None, now_ms).await
            }
        }
    }

    async fn decide_admitted(
        &self,
        request: &AuthenticatedRequest,
        admission: &Admission,
        policy: Option<Arc<PublishedPolicy>>,
        now_ms: i64,
    ) -> DecisionResponse {
        let intent = &request.envelope.intent;
        let certificate = &request.envelope.certificate;

        if self.is_restricted(&intent.actor.tenant, &intent.actor.id) {
            let draft = Draft::new(
                Verdict::Deny,
                ReasonCode::SubjectRestricted,
                "a GDPR processing restriction is in force for this actor",
            );
            return self.finish(request, admission, draft, None, now_ms).await;
        }

        let Some(policy) = policy else {
            let draft = Draft::new(
                Verdict::Deny,
                ReasonCode::PolicyNotFound,
                format!(
                    "tenant `{}` has no published policy for domain `{}`",
                    intent.actor.tenant, intent.target.domain
                ),
            );
            return self.finish(request, admission, draft, None, now_ms).await;
        };
        if let Some(expected) = &certificate.policy_set_id {
            if *expected != policy.policy_set_id {
                let draft = Draft::new(
                    Verdict::Deny,
                    ReasonCode::PolicySetMismatch,
                    format!(
                        "certificate expects policy `{expected}`, the server selected `{}`",
                        policy.policy_set_id
                    ),
                );
                return self.finish(request, admission, draft, None, now_ms).await;
            }
        }

        let mut budgets: BTreeMap<String, Decimal> = admission
            .budgets
            .iter()
            .filter_map(|budget| budget.remaining.map(|remaining| (budget.code.clone(), remaining)))
            .collect();
        let mut attempt = 0;
        loop {
            let (draft, inputs) = self
                .evaluate(request, &policy, budgets.clone(), now_ms)
                .await;
            if draft.verdict != Verdict::Allow {
                return self.finish(request, admission, draft, Some(inputs), now_ms).await;
            }

            let reservations = match self.budget_reservations(intent, &policy, &inputs.applicable_axioms) {
                // NOTE: the shard checks only that the amount still fits the live budget, so the
                // budget is never overspent; a policy margin such as `eps(1.00)` proved against
                // an amount another request spent from in between is not re-proved. Requiring
                // an unchanged remaining amount (`expected_remaining`) re-proves it, but under
                // many concurrent payments of one tenant it defers most of them.
                Ok(reservations) => reservations,
                Err(detail) => {
                    let draft = Draft::new(Verdict::Deny, ReasonCode::MalformedRequest, detail);
                    return self.finish(request, admission, draft, Some(inputs), now_ms).await;
                }
            };
            match self
                .complete_allow(request, admission, &draft, &inputs, &reservations, now_ms)
                .await
            {
                Ok(response) => return response,
                Err(CompleteOutcome::BudgetExhausted { code, remaining }) => {
                    attempt += 1;
                    budgets.insert(code.clone(), remaining);
                    if attempt > BUDGET_RETRIES_MAX {
                        let mut draft = Draft::new(
                            Verdict::Defer,
                            ReasonCode::Overloaded,
                            format!("budget `{code}` changed during the decision; retry"),
                        );
                        draft.retry_after_ms = Some(100);
                        return self.finish(request, admission, draft, Some(inputs), now_ms).await;
                    }
                }
                Err(other) => {
                    tracing::error!(?other, "shard rejected the completion of an ALLOW");
                    let draft = Draft::new(
                        Verdict::Deny,
                        ReasonCode::InternalError,
                        "the shard could not record the decision's budget reservation",
                    );
                    return self.finish(request, admission, draft, Some(inputs), now_ms).await;
                }
            }
        }
    }

    /// Runs the state check and the proof, and composes the verdict.
    async fn evaluate(
        &self,
        request: &AuthenticatedRequest,
        policy: &PublishedPolicy,
        budgets: BTreeMap<String, Decimal>,
        now_ms: i64,
    ) -> (Draft, RecordedInputs) {
        let intent = &request.envelope.intent;
        let certificate = &request.envelope.certificate;
        let settings = self.settings.snapshot();
        let tenant = intent.actor.tenant.as_str();
        let domain = intent.target.domain.as_str();

        let mut sources = BTreeMap::new();
        for name in &policy.compiled.source_names {
            if let Some(view) = self.sources.view(tenant, domain, name, now_ms) {
                sources.insert(
                    name.clone(),
                    SourceReading {
                        age_sec: view.age_sec,
                        lag_sec: view.lag_sec,
                        health_score: view.health_score,
                    },
                );
            }
        }
        let state = self.check_state(request, &policy.compiled.source_names, now_ms);

        let facts = Facts {
            intent: Arc::new(intent.clone()),
            key: Principal {
                kid: certificate.kid.clone(),
                tenant: request.key.tenant.clone(),
            },
            sources,
            budgets,
        };

        let max_defer_total_ms = i64::try_from(settings.max_defer_total_ms).unwrap_or(i64::MAX);
        let defer_remaining_ms = certificate
            .issued_at
            .saturating_add(max_defer_total_ms)
            .saturating_sub(now_ms);
        let rollback_usable = certificate
            .rollback_plan
            .as_ref()
            .is_some_and(|plan| plan.is_usable());
        let side_effects = has_side_effects(&intent.operation.name);

        let mut solver_unavailable = None;
        let mut applicable_axioms = Vec::new();
        let policy_step = if state == StateCheck::Fresh {
            match super::thresholds::evaluate_scaled(
                &self.solver,
                Arc::clone(&policy.compiled),
                facts.clone(),
                settings.threshold_scale_milli,
            )
            .await
            {
                Ok(evaluation) => {
                    applicable_axioms = evaluation
                        .axioms
                        .iter()
                        .filter(|axiom| axiom.outcome != axiom_engine::policy::AxiomOutcome::NotApplicable)
                        .map(|axiom| axiom.name.clone())
                        .collect();
                    PolicyStep::Evaluated(findings_from_evaluation(&evaluation))
                }
                Err(error) => {
                    let detail = error.to_string();
                    solver_unavailable = Some(detail.clone());
                    PolicyStep::SolverUnavailable(detail)
                }
            }
        } else {
            PolicyStep::SolverUnavailable("not evaluated: state not fresh".into())
        };

        let input = CompositionInput {
            state: state.clone(),
            policy: policy_step,
            side_effects,
            rollback_usable,
            degraded: settings.degraded_no_allow,
            defer_budget: DeferBudget {
                remaining_ms: defer_remaining_ms,
            },
        };
        let composed = compose(&input);

        let draft = Draft {
            verdict: composed.verdict,
            reason_code: composed.reason_code,
            retry_after_ms: composed.retry_after_ms,
            shield: composed.shield,
            counterexample: composed.counterexample,
            detail: composed.detail,
            escrow: None,
        };
        let inputs = RecordedInputs {
            facts: Some(facts),
            state,
            side_effects,
            rollback_usable,
            degraded: settings.degraded_no_allow,
            defer_remaining_ms,
            solver_unavailable,
            reservations: Vec::new(),
            applicable_axioms,
            threshold_scale_milli: settings.threshold_scale_milli,
        };
        (draft, inputs)
    }

    /// Checks that every source the intent requires, and every source the policy reads, is
    /// known, and that the intent's required sources are fresh enough.
    fn check_state(
        &self,
        request: &AuthenticatedRequest,
        policy_sources: &std::collections::BTreeSet<String>,
        now_ms: i64,
    ) -> StateCheck {
        let intent = &request.envelope.intent;
        let requirements = &intent.data_requirements;
        let tenant = intent.actor.tenant.as_str();
        let domain = intent.target.domain.as_str();
        let max_age = Decimal::from(requirements.max_staleness_sec);

        let mut unknown = Vec::new();
        let mut stale = Vec::new();
        for name in &requirements.required_sources {
            match self.sources.view(tenant, domain, name, now_ms) {
                None => unknown.push(name.clone()),
                Some(view) if view.age_sec > max_age => stale.push(name.clone()),
                Some(_) => {}
            }
        }
        for name in policy_sources {
            if !requirements.required_sources.contains(name)
                && self.sources.view(tenant, domain, name, now_ms).is_none()
            {
                unknown.push(name.clone());
            }
        }

        if !unknown.is_empty() {
            return StateCheck::Unknown(unknown);
        }
        if !stale.is_empty() {
            return StateCheck::Stale(stale);
        }
        StateCheck::Fresh
    }

    /// Returns what an ALLOW or an executed escrow spends: the intent's `amount` parameter,
    /// against every budget that an axiom of `applicable_axioms` (those whose `when` applied)
    /// reads. A negative amount is an error, because it would refill the budget.
    pub(crate) fn budget_reservations(
        &self,
        intent: &axiom_engine::model::Intent,
        policy: &PublishedPolicy,
        applicable_axioms: &[String],
    ) -> Result<Vec<BudgetReservation>, String> {
        let mut codes = std::collections::BTreeSet::new();
        for axiom in &policy.compiled.axioms {
            if applicable_axioms.contains(&axiom.name) {
                codes.extend(axiom.budget_codes());
            }
        }
        if codes.is_empty() {
            return Ok(Vec::new());
        }

        let Some(value) = intent.operation.params.get("amount") else {
            return Ok(Vec::new());
        };
        let amount = axiom_engine::policy::facts::decimal_from_json(value)
            .map_err(|error| format!("`action.params.amount` is invalid: {error}"))?;
        if amount.is_sign_negative() {
            return Err(format!(
                "`action.params.amount` is {amount}; a budgeted action needs an amount of at least 0"
            ));
        }
        Ok(codes
            .into_iter()
            .filter_map(|code| {
                self.budget_scope(&intent.actor.tenant, &code)
                    .map(|scope| BudgetReservation {
                        expected_remaining: None,
                        code,
                        scope,
                        amount,
                    })
            })
            .collect())
    }

    /// Reserves the budgets of an ALLOW in the shard, then audits it and returns the response.
    async fn complete_allow(
        &self,
        request: &AuthenticatedRequest,
        admission: &Admission,
        draft: &Draft,
        inputs: &RecordedInputs,
        reservations: &[BudgetReservation],
        now_ms: i64,
    ) -> Result<DecisionResponse, CompleteOutcome> {
        let decision_id = new_decision_id();
        let response = self.build_response(&decision_id, request, draft_clone(draft));
        let completion = Completion {
            response: response.clone(),
            reservations: reservations.to_vec(),
            now_ms,
        };
        match self.shards.complete(admission.clone(), completion).await {
            CompleteOutcome::Recorded => {}
            other => return Err(other),
        }

        let mut inputs = inputs.clone();
        inputs.reservations = reservations
            .iter()
            .map(|reservation| RecordedReservation {
                code: reservation.code.clone(),
                amount: reservation.amount,
            })
            .collect();
        Ok(self
            .audit(request, admission.shard_index as u32, response, Some(inputs), now_ms)
            .await)
    }

    /// Finishes a non-ALLOW decision of an admitted request: creates the escrow, audits, and
    /// completes the admission (a DEFER releases the nonce so the certificate can be retried).
    async fn finish(
        &self,
        request: &AuthenticatedRequest,
        admission: &Admission,
        mut draft: Draft,
        inputs: Option<RecordedInputs>,
        now_ms: i64,
    ) -> DecisionResponse {
        let decision_id = new_decision_id();
        if draft.verdict == Verdict::Escrow {
            match self.open_escrow(&decision_id, request, draft.verdict, now_ms) {
                Ok(summary) => draft.escrow = Some(summary),
                Err(error) => {
                    tracing::error!(decision_id, %error, "escrow could not be stored");
                    draft = Draft::new(
                        Verdict::Deny,
                        ReasonCode::InternalError,
                        "the escrow could not be stored",
                    );
                }
            }
        }

        let response = self.build_response(&decision_id, request, draft);
        let response = self
            .audit(request, admission.shard_index as u32, response, inputs, now_ms)
            .await;
        let completion = Completion {
            response: response.clone(),
            reservations: Vec::new(),
            now_ms,
        };
        let outcome = self.shards.complete(admission.clone(), completion).await;
        if outcome != CompleteOutcome::Recorded {
            tracing::warn!(decision_id = %response.decision_id, ?outcome, "shard did not record the completion");
        }
        response
    }

    /// Finishes a decision the shard never admitted (an authenticated check failure or an
    /// idempotency conflict): audits it on the tenant's chain.
    async fn finish_unadmitted(
        &self,
        request: &AuthenticatedRequest,
        draft: Draft,
        inputs: Option<RecordedInputs>,
        now_ms: i64,
    ) -> DecisionResponse {
        let decision_id = new_decision_id();
        let response = self.build_response(&decision_id, request, draft);
        let shard = self.shards.shard_for(&request.envelope.intent.actor.tenant) as u32;
        self.audit(request, shard, response, inputs, now_ms).await
    }

    fn build_response(
        &self,
        decision_id: &str,
        request: &AuthenticatedRequest,
        draft: Draft,
    ) -> DecisionResponse {
        let mut response = DecisionResponse {
            decision_id: decision_id.to_owned(),
            verdict: draft.verdict,
            reason_code: draft.reason_code,
            retry_after_ms: draft.retry_after_ms,
            shield: draft.shield,
            escrow: draft.escrow,
            counterexample: draft.counterexample,
            detail: draft.detail,
            receipt: None,
        };
        response.receipt = Some(
            self.engine_key
                .sign_receipt(&response, Some(&request.intent_hash)),
        );
        response
    }

    /// Appends the audit record and waits until it is durable. On failure the node stops
    /// answering decisions (fail closed) and this request gets `INTERNAL_ERROR`.
    async fn audit(
        &self,
        request: &AuthenticatedRequest,
        shard: u32,
        response: DecisionResponse,
        inputs: Option<RecordedInputs>,
        now_ms: i64,
    ) -> DecisionResponse {
        let intent = &request.envelope.intent;
        let certificate = &request.envelope.certificate;
        // The actor id and the parameters travel only in the encrypted personal part, so an
        // erasure leaves none of them readable in the public fields.
        let inputs = inputs.map(super::replay::without_personal_data);
        let facts = serde_json::to_value(&inputs).unwrap_or(serde_json::Value::Null);
        let response_json = serde_json::to_value(&response).unwrap_or(serde_json::Value::Null);
        // NOTE: the policy is looked up again here, so a version published between admission
        // and this point is the one recorded; the window is one decision long.
        let policy_set_id = self
            .policies
            .current(&intent.actor.tenant, &intent.target.domain)
            .map(|policy| policy.policy_set_id.clone());
        let sequence_stream = certificate.sequence.map(|_| {
            let stream_policy = policy_set_id.as_deref().unwrap_or_default();
            sequence_stream_id(&certificate.kid, &intent.actor.tenant, &intent.actor.id, stream_policy)
        });
        let entry = AuditEntry {
            shard,
            decision: DecisionFields {
                decision_id: response.decision_id.clone(),
                tenant: intent.actor.tenant.clone(),
                kid: certificate.kid.clone(),
                cert_id: certificate.cert_id.clone(),
                nonce: certificate.nonce.clone(),
                expires_at: certificate.expires_at,
                sequence: certificate.sequence,
                sequence_stream,
                policy_set_id,
                intent_hash: hex::encode(request.intent_hash),
                verdict: response.verdict,
                reason_code: response.reason_code,
                time_ms: now_ms.max(0),
                escrow_id: response.escrow.as_ref().map(|escrow| escrow.escrow_id.clone()),
                facts,
                response: response_json,
            },
            personal: PersonalData {
                actor_id: intent.actor.id.clone(),
                params: serde_json::Value::Object(intent.operation.params.clone()),
            },
        };

        let append_started = Instant::now();
        let appended = self.audit_log.append(entry).await;
        self.metrics.observe_audit_append(append_started.elapsed());
        match appended {
            Ok(_) => response,
            Err(error @ axiom_storage::StorageError::InvalidInput { .. }) => {
                // The entry was rejected before anything was written, so the log is intact and
                // the node keeps deciding; this request alone gets no decision.
                tracing::error!(decision_id = %response.decision_id, %error, "audit entry rejected");
                DecisionResponse::rejected(
                    ReasonCode::MalformedRequest,
                    format!("the decision could not be recorded: {error}"),
                )
            }
            Err(error) => {
                tracing::error!(decision_id = %response.decision_id, %error, "audit append failed; the node stops deciding");
                self.mark_audit_failed();
                DecisionResponse::rejected(
                    ReasonCode::InternalError,
                    format!("the audit record could not be made durable: {error}"),
                )
            }
        }
    }

    /// Counts a security-relevant rejection and opens a deduplicated incident when due,
    /// recording `kid` (the key the request used, when known) with the opening.
    fn observe_security(&self, tenant: &str, actor_id: &str, kid: Option<&str>, reason: ReasonCode, now_ms: i64) {
        if let Some(mut opening) = self.incidents.observe(tenant, actor_id, reason, now_ms) {
            opening.kid = kid.map(str::to_owned);
            self.open_incident(opening);
        }
    }
}

fn draft_clone(draft: &Draft) -> Draft {
    Draft {
        verdict: draft.verdict,
        reason_code: draft.reason_code,
        retry_after_ms: draft.retry_after_ms,
        shield: draft.shield.clone(),
        counterexample: draft.counterexample.clone(),
        detail: draft.detail.clone(),
        escrow: draft.escrow.clone(),
    }
}

/// Tenant and actor recorded for incidents of unauthenticated requests that name no registered
/// key: one bucket per reason, whatever the request claims.
const UNKNOWN_IDENTITY: &str = "unknown";
/// Prefix of the actor recorded for unauthenticated requests that name a registered key,
/// followed by that kid.
const KID_ACTOR_PREFIX: &str = "kid:";

impl Node {
    /// Returns the (tenant, actor) an unauthenticated rejection is grouped under for incidents.
    /// Nothing the request claims is trusted: a request naming a registered key is grouped
    /// under that key's tenant with the kid as actor, every other one under one shared
    /// `unknown` bucket, so a flood of invented tenants and actors opens at most one incident
    /// per reason and window. Oversized requests are not parsed again.
    fn unauthenticated_identity(&self, raw: &[u8], rejection: &Rejection) -> (String, String) {
        let unknown = (UNKNOWN_IDENTITY.to_owned(), UNKNOWN_IDENTITY.to_owned());
        if rejection.reason == ReasonCode::RequestTooLarge {
            return unknown;
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(raw) else {
            return unknown;
        };
        let Some(kid) = value["certificate"]["kid"].as_str() else {
            return unknown;
        };
        match self.keys.get(kid) {
            Some(record) => (record.tenant.clone(), format!("{KID_ACTOR_PREFIX}{}", record.kid)),
            None => unknown,
        }
    }
}

/// Builds a fact list entry.
pub fn fact(name: impl Into<String>, value: impl Into<String>) -> Fact {
    Fact {
        name: name.into(),
        value: value.into(),
    }
}
