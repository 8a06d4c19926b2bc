//! The answer the demo finance policy is expected to give each scenario, in one table.
//!
//! The intents behind each scenario are built in [`crate::intents`]. When the demo policy
//! changes, change this table and those builders together; the report flags every answer
//! that the table does not list.

use crate::mix::Scenario;
use axiom_engine::model::{ReasonCode, Verdict};
use serde::Serialize;

/// The answers accepted for one scenario: any listed verdict with any listed reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Expectation {
    /// Verdicts that count as expected.
    pub verdicts: &'static [Verdict],
    /// Reason codes that count as expected.
    pub reasons: &'static [ReasonCode],
}

impl Expectation {
    /// Returns true when the server's answer is one this scenario expects.
    pub fn matches(&self, verdict: Verdict, reason: ReasonCode) -> bool {
        self.verdicts.contains(&verdict) && self.reasons.contains(&reason)
    }

    /// Formats the accepted answers for reports, for example `ESCROW/ROLLBACK_REQUIRED`.
    pub fn describe(&self) -> String {
        let verdicts: Vec<&str> = self.verdicts.iter().map(|verdict| verdict.as_str()).collect();
        let reasons: Vec<&str> = self.reasons.iter().map(|reason| reason.as_str()).collect();
        format!("{}/{}", verdicts.join("|"), reasons.join("|"))
    }
}

/// Returns the expected answer of a scenario against the demo finance policy.
///
/// Stale and unknown sources may be answered with DEFER, SHIELD or ESCROW depending on the
/// defer budget, but never with ALLOW, so all three are accepted there.
pub fn expected(scenario: Scenario) -> Expectation {
    match scenario {
        Scenario::Allow => Expectation {
            verdicts: &[Verdict::Allow],
            reasons: &[ReasonCode::Ok],
        },
        Scenario::Escrow => Expectation {
            verdicts: &[Verdict::Escrow],
            reasons: &[ReasonCode::RollbackRequired],
        },
        Scenario::Deny => Expectation {
            verdicts: &[Verdict::Deny],
            reasons: &[ReasonCode::InvariantViolated],
        },
        Scenario::Stale => Expectation {
            verdicts: &[Verdict::Defer, Verdict::Shield, Verdict::Escrow],
            reasons: &[ReasonCode::StateStale, ReasonCode::StateUnknown],
        },
        Scenario::Uncertain => Expectation {
            verdicts: &[Verdict::Escrow],
            reasons: &[ReasonCode::Uncertain],
        },
        Scenario::Replay => Expectation {
            verdicts: &[Verdict::Deny],
            reasons: &[ReasonCode::ReplayDetected],
        },
        Scenario::Forged => Expectation {
            verdicts: &[Verdict::Deny],
            reasons: &[ReasonCode::BadSignature],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_rejection_scenario_accepts_allow() {
        for scenario in Scenario::ALL.into_iter().filter(|s| *s != Scenario::Allow) {
            assert!(
                !expected(scenario).verdicts.contains(&Verdict::Allow),
                "{scenario} must never expect ALLOW"
            );
        }
    }

    #[test]
    fn matches_needs_both_verdict_and_reason() {
        let forged = expected(Scenario::Forged);
        assert!(forged.matches(Verdict::Deny, ReasonCode::BadSignature));
        assert!(!forged.matches(Verdict::Deny, ReasonCode::ReplayDetected));
        assert!(!forged.matches(Verdict::Allow, ReasonCode::BadSignature));
        assert_eq!(forged.describe(), "DENY/BAD_SIGNATURE");
    }
}
