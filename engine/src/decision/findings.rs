//! Normalization of a policy evaluation into the findings verdict composition reads.

use super::compose::{AxiomFinding, AxiomOutcome, PolicyFindings};
use crate::model::Fact;
use crate::policy::{
    AbacDecision, AxiomOutcome as ProvedOutcome, ConditionValue, PolicyEvaluation, ProvedBy,
};

/// Converts the prover's evaluation into composition findings. Every uncertain or failed part
/// stays a failure: a possibly-false invariant fails, a possibly-matching ABAC deny denies.
pub fn findings_from_evaluation(evaluation: &PolicyEvaluation) -> PolicyFindings {
    let abac_denied = match &evaluation.abac {
        AbacDecision::Allowed => None,
        AbacDecision::Denied { rule, detail } => Some(match rule {
            Some(span) => format!("abac rule at {}:{} ({detail})", span.line, span.column),
            None => format!("abac ({detail})"),
        }),
    };

    let invariant_failures = evaluation
        .invariant_failures
        .iter()
        .map(|failure| {
            let name = format!("invariant at {}:{}", failure.span.line, failure.span.column);
            let facts = match &failure.value {
                ConditionValue::Error { detail } => vec![Fact {
                    name: "error".into(),
                    value: detail.clone(),
                }],
                ConditionValue::True | ConditionValue::False | ConditionValue::Possible => {
                    Vec::new()
                }
            };
            (name, facts)
        })
        .collect();

    let axioms = evaluation
        .axioms
        .iter()
        .map(|result| AxiomFinding {
            name: result.name.clone(),
            outcome: match &result.outcome {
                ProvedOutcome::NotApplicable => AxiomOutcome::NotApplicable,
                ProvedOutcome::Proved => AxiomOutcome::Proved,
                ProvedOutcome::Violated { facts } => AxiomOutcome::Violated(facts.clone()),
                ProvedOutcome::Uncertain { facts } => AxiomOutcome::Uncertain(facts.clone()),
                ProvedOutcome::Error { detail }
                    if evaluation.proved_by == ProvedBy::Disabled
                        && detail == crate::policy::prove::SMT_DISABLED_DETAIL =>
                {
                    AxiomOutcome::Unproved
                }
                ProvedOutcome::Error { detail } => AxiomOutcome::Error(detail.clone()),
                ProvedOutcome::Timeout => AxiomOutcome::Timeout,
            },
            else_shield: result.else_shield.clone(),
        })
        .collect();

    PolicyFindings {
        abac_denied,
        invariant_failures,
        escrow_matched: evaluation.escrow_matched,
        axioms,
        formally_proved: evaluation.proved_by == ProvedBy::Z3,
    }
}
