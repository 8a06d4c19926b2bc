//! Audit replay: decide a recorded request again with the recorded inputs and report drift.
//!
//! The decision path records, for each audited decision, the policy version it used and the
//! facts it read (source ages, budgets, settings). Replay feeds those to a caller-provided
//! evaluation, which runs the same compiled policy and verdict composition, and compares the
//! outcome with the recorded one.
//!
//! Comparison rules: the verdict, the reason code, the shield type and the set of failed
//! axiom names must match. Decision ids, timestamps, receipts, `retry_after_ms` (it depends on
//! the clock), escrow ids and counterexample fact values (Z3 may pick another witness from
//! the same failing interval) are ignored.

use crate::model::{DecisionResponse, ReasonCode, ShieldType, Verdict};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The parts of a decision that replay compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionSummary {
    /// The verdict.
    pub verdict: Verdict,
    /// The reason code.
    pub reason_code: ReasonCode,
    /// The shield type, for SHIELD verdicts.
    pub shield: Option<ShieldType>,
    /// Names of the failed axioms, sorted and without repeats.
    pub failed_axioms: Vec<String>,
}

impl DecisionSummary {
    /// Builds a summary with its failed axioms sorted and deduplicated.
    pub fn new(
        verdict: Verdict,
        reason_code: ReasonCode,
        shield: Option<ShieldType>,
        failed_axioms: impl IntoIterator<Item = String>,
    ) -> Self {
        let mut failed_axioms: Vec<String> = failed_axioms.into_iter().collect();
        failed_axioms.sort();
        failed_axioms.dedup();
        DecisionSummary {
            verdict,
            reason_code,
            shield,
            failed_axioms,
        }
    }
}

impl From<&DecisionResponse> for DecisionSummary {
    fn from(response: &DecisionResponse) -> Self {
        let failed_axioms = response
            .counterexample
            .iter()
            .flat_map(|counterexample| counterexample.failed_axioms.iter().cloned());
        DecisionSummary::new(
            response.verdict,
            response.reason_code,
            response.shield.as_ref().map(|shield| shield.shield_type),
            failed_axioms,
        )
    }
}

/// Recorded outcome and inputs of one decision, as replay needs them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayInput {
    /// Id of the recorded decision.
    pub decision_id: String,
    /// The recorded outcome.
    pub recorded: DecisionSummary,
    /// Policy set used at decision time.
    pub policy_set_id: String,
    /// Version number of the policy used at decision time.
    pub policy_version_number: u32,
    /// Source text of that version, compiled again by the evaluation.
    pub policy_source: String,
    /// Facts read at decision time (the intent, source ages, budgets, settings), in the form
    /// the decision path recorded them.
    pub facts: serde_json::Value,
}

/// The outcome of one replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// Id of the recorded decision.
    pub decision_id: String,
    /// The recorded outcome.
    pub original: DecisionSummary,
    /// The outcome of the replay.
    pub replay: DecisionSummary,
    /// True when any compared field differs.
    pub drift: bool,
    /// One line per differing field, for example `verdict: recorded ALLOW, replayed DENY`.
    pub differences: Vec<String>,
}

/// Error of a replay that could not run. A replay that runs and disagrees is a report with drift, not
/// an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The evaluation failed, for example because the recorded policy no longer compiles.
    #[error("replay of decision `{decision_id}` failed: {detail}")]
    EvaluationFailed {
        /// Id of the recorded decision.
        decision_id: String,
        /// The evaluation's error message.
        detail: String,
    },
}

/// Decides the recorded request again with `evaluate` and compares the outcomes.
pub fn replay<E, F>(input: &ReplayInput, evaluate: F) -> Result<ReplayReport, ReplayError>
where
    E: fmt::Display,
    F: FnOnce(&ReplayInput) -> Result<DecisionResponse, E>,
{
    let response = evaluate(input).map_err(|error| ReplayError::EvaluationFailed {
        decision_id: input.decision_id.clone(),
        detail: error.to_string(),
    })?;

    let replayed = DecisionSummary::from(&response);
    let differences = compare_decisions(&input.recorded, &replayed);
    if !differences.is_empty() {
        tracing::warn!(
            decision_id = %input.decision_id,
            policy_set_id = %input.policy_set_id,
            differences = differences.len(),
            "audit replay found drift"
        );
    }

    Ok(ReplayReport {
        decision_id: input.decision_id.clone(),
        original: input.recorded.clone(),
        replay: replayed,
        drift: !differences.is_empty(),
        differences,
    })
}

/// Lists the compared fields that differ between a recorded and a replayed decision.
pub fn compare_decisions(recorded: &DecisionSummary, replayed: &DecisionSummary) -> Vec<String> {
    let mut differences = Vec::new();

    if recorded.verdict != replayed.verdict {
        differences.push(format!(
            "verdict: recorded {}, replayed {}",
            recorded.verdict, replayed.verdict
        ));
    }

    if recorded.reason_code != replayed.reason_code {
        differences.push(format!(
            "reason_code: recorded {}, replayed {}",
            recorded.reason_code, replayed.reason_code
        ));
    }

    if recorded.shield != replayed.shield {
        differences.push(format!(
            "shield: recorded {}, replayed {}",
            shield_name(recorded.shield),
            shield_name(replayed.shield)
        ));
    }

    if recorded.failed_axioms != replayed.failed_axioms {
        differences.push(format!(
            "failed_axioms: recorded [{}], replayed [{}]",
            recorded.failed_axioms.join(", "),
            replayed.failed_axioms.join(", ")
        ));
    }

    differences
}

fn shield_name(shield: Option<ShieldType>) -> &'static str {
    shield.map_or("none", ShieldType::as_str)
}
