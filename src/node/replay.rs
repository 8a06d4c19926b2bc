//! Audit replay on a node: decide a recorded request again from its audit record and report
//! drift, with the policy version it recorded or, on request, the current one.
//!
//! The decision path records its inputs ([`RecordedInputs`]) in the public part of the audit
//! record without the actor id and the operation parameters, which live only in the
//! encrypted personal part. Replay puts them back from the decrypted record, so a decision of
//! an erased subject can no longer be replayed: that is the point of the erasure.

use super::decide::RecordedInputs;
use super::Node;
use axiom_engine::decision::{
    compose, findings_from_evaluation, CompositionInput, DeferBudget, PolicyStep, StateCheck,
};
use axiom_engine::lifecycle::{replay, DecisionSummary, PolicyVersion, ReplayInput, ReplayReport};
use axiom_engine::model::DecisionResponse;
use axiom_storage::{AuditRecord, PersonalView};
use std::sync::Arc;

/// Which policy a replay evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayPolicy {
    /// The version the decision recorded (`policy_set_id`), even if retired since.
    Recorded,
    /// The version published now for the decision's tenant and domain, to preview how a
    /// new version would have decided the same request.
    Current,
}

/// Why a recorded decision could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayFailure {
    /// No record has this decision id in the caller's tenant.
    #[error("decision `{0}` not found")]
    NotFound(String),
    /// The decision was made before any policy evaluation (a key, signature or restriction
    /// rejection), so there is nothing to re-evaluate.
    #[error("decision `{0}` recorded no policy inputs (it was decided before policy evaluation)")]
    NoInputs(String),
    /// The subject's key was erased, so the actor and parameters cannot be read.
    #[error("decision `{0}` belongs to an erased subject; its inputs are no longer readable")]
    Erased(String),
    /// The policy version is missing or no longer compiles.
    #[error("policy of decision `{decision_id}` is unusable: {detail}")]
    Policy {
        /// The decision.
        decision_id: String,
        /// What is wrong.
        detail: String,
    },
    /// Reading the store failed.
    #[error("reading the store failed: {0}")]
    Storage(#[from] axiom_storage::StorageError),
    /// The recorded inputs do not parse.
    #[error("recorded inputs of decision `{decision_id}` are unreadable: {detail}")]
    Unreadable {
        /// The decision.
        decision_id: String,
        /// The parse error.
        detail: String,
    },
    /// The replay ran but the evaluation failed.
    #[error("{0}")]
    Evaluation(#[from] axiom_engine::lifecycle::ReplayError),
}

/// Returns `inputs` with the actor id and the operation parameters removed from the recorded
/// intent, for the public part of the audit record.
pub fn without_personal_data(mut inputs: RecordedInputs) -> RecordedInputs {
    if let Some(facts) = inputs.facts.as_mut() {
        let intent = Arc::make_mut(&mut facts.intent);
        intent.actor.id.clear();
        intent.operation.params.clear();
    }
    inputs
}

/// Puts the decrypted actor id and parameters back into the recorded intent.
fn with_personal_data(
    mut inputs: RecordedInputs,
    actor_id: &str,
    params: &serde_json::Value,
) -> RecordedInputs {
    if let Some(facts) = inputs.facts.as_mut() {
        let intent = Arc::make_mut(&mut facts.intent);
        intent.actor.id = actor_id.to_owned();
        if let serde_json::Value::Object(params) = params {
            intent.operation.params = params.clone();
        }
    }
    inputs
}

impl Node {
    /// Replays decision `decision_id` of `tenant` and reports drift. Uses the solver pool and
    /// the store, but writes nothing and touches no shard.
    pub async fn replay_decision(
        &self,
        tenant: &str,
        decision_id: &str,
        policy: ReplayPolicy,
    ) -> Result<ReplayReport, ReplayFailure> {
        let record = self
            .store
            .audit_record(decision_id)?
            .filter(|record| record.decision.tenant == tenant)
            .ok_or_else(|| ReplayFailure::NotFound(decision_id.to_owned()))?;
        self.replay_record(&record, policy).await
    }

    /// Replays one audit record.
    pub async fn replay_record(
        &self,
        record: &AuditRecord,
        choice: ReplayPolicy,
    ) -> Result<ReplayReport, ReplayFailure> {
        let decision = &record.decision;
        let decision_id = decision.decision_id.clone();
        let recorded: DecisionResponse = serde_json::from_value(decision.response.clone())
            .map_err(|error| ReplayFailure::Unreadable {
                decision_id: decision_id.clone(),
                detail: format!("response: {error}"),
            })?;
        let inputs: Option<RecordedInputs> = serde_json::from_value(decision.facts.clone())
            .map_err(|error| ReplayFailure::Unreadable {
                decision_id: decision_id.clone(),
                detail: error.to_string(),
            })?;
        let (Some(inputs), Some(policy_set_id)) = (inputs, decision.policy_set_id.clone()) else {
            return Err(ReplayFailure::NoInputs(decision_id));
        };
        let inputs = match &record.personal {
            PersonalView::Readable { actor_id, params } => {
                with_personal_data(inputs, actor_id, params)
            }
            PersonalView::Erased => return Err(ReplayFailure::Erased(decision_id)),
        };
        let Some(facts) = inputs.facts.clone() else {
            return Err(ReplayFailure::NoInputs(decision_id));
        };

        let policy_error = |detail: String| ReplayFailure::Policy {
            decision_id: decision_id.clone(),
            detail,
        };
        let (source, policy_id, version_number) = match choice {
            ReplayPolicy::Recorded => {
                let version: PolicyVersion = self
                    .store
                    .policy_versions()
                    .get(&decision.tenant, &policy_set_id)?
                    .ok_or_else(|| policy_error(format!("version `{policy_set_id}` is not stored")))?;
                (version.source, policy_set_id, version.version_number)
            }
            ReplayPolicy::Current => {
                let current = self
                    .policies
                    .current(&decision.tenant, &facts.intent.target.domain)
                    .ok_or_else(|| policy_error("the domain has no published policy now".to_owned()))?;
                (
                    current.source.clone(),
                    current.policy_set_id.clone(),
                    current.compiled.version,
                )
            }
        };
        let compiled = axiom_engine::policy::compile(&source).map_err(|diagnostics| {
            policy_error(format!("{} compile diagnostics", diagnostics.len()))
        })?;

        let policy_step = match (&inputs.state, &inputs.solver_unavailable) {
            (StateCheck::Fresh, None) => {
                match super::thresholds::evaluate_scaled(
                    &self.solver,
                    Arc::new(compiled),
                    facts.clone(),
                    inputs.threshold_scale_milli,
                )
                .await
                {
                    Ok(evaluation) => PolicyStep::Evaluated(findings_from_evaluation(&evaluation)),
                    Err(error) => PolicyStep::SolverUnavailable(error.to_string()),
                }
            }
            (StateCheck::Fresh, Some(detail)) => PolicyStep::SolverUnavailable(detail.clone()),
            _ => PolicyStep::SolverUnavailable("not evaluated: state not fresh".into()),
        };
        let composed = compose(&CompositionInput {
            state: inputs.state.clone(),
            policy: policy_step,
            side_effects: inputs.side_effects,
            rollback_usable: inputs.rollback_usable,
            degraded: inputs.degraded,
            defer_budget: DeferBudget {
                remaining_ms: inputs.defer_remaining_ms,
            },
        });
        let replayed = DecisionResponse {
            decision_id: decision_id.clone(),
            verdict: composed.verdict,
            reason_code: composed.reason_code,
            retry_after_ms: composed.retry_after_ms,
            shield: composed.shield,
            escrow: None,
            counterexample: composed.counterexample,
            detail: composed.detail,
            receipt: None,
        };

        let input = ReplayInput {
            decision_id: decision_id.clone(),
            recorded: DecisionSummary::from(&recorded),
            policy_set_id: policy_id,
            policy_version_number: version_number,
            policy_source: source,
            facts: decision.facts.clone(),
        };
        Ok(replay(&input, |_| Ok::<_, String>(replayed))?)
    }
}
