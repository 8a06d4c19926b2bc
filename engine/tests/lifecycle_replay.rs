//! Audit replay: drift detection between a recorded decision and its replay.
//!
//! The evaluation is the caller's: here a small budget rule reads the recorded facts, so a
//! test can make the replay agree or disagree by changing the facts or the policy text, and
//! check which differences the report lists and which fields it ignores.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use axiom_engine::lifecycle::{replay, DecisionSummary, ReplayError, ReplayInput};
use axiom_engine::model::{
    Counterexample, DecisionResponse, Fact, ReasonCode, Receipt, Shield, ShieldType, Verdict,
};
use serde_json::json;

/// Decides like a one-axiom policy `require amount <= limit`, with the limit in the policy
/// text after `limit `. The response carries a fresh decision id, receipt and retry delay, as
/// a real decision would.
fn evaluate(input: &ReplayInput) -> Result<DecisionResponse, String> {
    let limit: i64 = input
        .policy_source
        .split("limit ")
        .nth(1)
        .and_then(|rest| rest.trim().parse().ok())
        .ok_or_else(|| format!("policy `{}` has no limit", input.policy_set_id))?;
    let amount = input.facts["amount"].as_i64().ok_or("facts have no amount")?;

    let (verdict, reason_code, counterexample) = if amount <= limit {
        (Verdict::Allow, ReasonCode::Ok, None)
    } else {
        let counterexample = Counterexample {
            failed_axioms: vec!["Budget".to_owned()],
            facts: vec![Fact {
                name: "action.params.amount".to_owned(),
                value: format!("{amount}.00"),
            }],
        };
        (Verdict::Deny, ReasonCode::AxiomFail, Some(counterexample))
    };
    Ok(DecisionResponse {
        decision_id: "replay-0001".to_owned(),
        verdict,
        reason_code,
        retry_after_ms: Some(250),
        shield: None,
        escrow: None,
        counterexample,
        detail: None,
        receipt: Some(Receipt {
            kid: "engine-2".to_owned(),
            alg: "ed25519".to_owned(),
            sig: "other-signature".to_owned(),
        }),
    })
}

fn input(recorded: DecisionSummary, source: &str, amount: i64) -> ReplayInput {
    ReplayInput {
        decision_id: "dec-42".to_owned(),
        recorded,
        policy_set_id: "finance".to_owned(),
        policy_version_number: 18,
        policy_source: source.to_owned(),
        facts: json!({"amount": amount}),
    }
}

fn summary(verdict: Verdict, reason_code: ReasonCode, failed: &[&str]) -> DecisionSummary {
    DecisionSummary::new(verdict, reason_code, None, failed.iter().map(|name| (*name).to_owned()))
}

#[test]
fn same_outcome_has_no_drift() {
    // The replay has another decision id, receipt and retry delay; none of them count.
    let recorded = summary(Verdict::Deny, ReasonCode::AxiomFail, &["Budget"]);
    let report = replay(&input(recorded.clone(), "limit 1000", 5_000), evaluate).expect("replay");

    assert!(!report.drift, "{:?}", report.differences);
    assert!(report.differences.is_empty());
    assert_eq!(report.decision_id, "dec-42");
    assert_eq!(report.original, recorded);
    assert_eq!(report.replay, recorded);
}

#[test]
fn changed_policy_reports_drift() {
    // Recorded as ALLOW under `limit 10000`; the text given now has a lower limit.
    let recorded = summary(Verdict::Allow, ReasonCode::Ok, &[]);
    let report = replay(&input(recorded, "limit 1000", 5_000), evaluate).expect("replay");

    assert!(report.drift);
    assert_eq!(
        report.differences,
        vec![
            "verdict: recorded ALLOW, replayed DENY".to_owned(),
            "reason_code: recorded OK, replayed AXIOM_FAIL".to_owned(),
            "failed_axioms: recorded [], replayed [Budget]".to_owned(),
        ]
    );
    assert_eq!(report.replay.verdict, Verdict::Deny);
}

#[test]
fn reason_code_alone_is_drift() {
    let recorded = summary(Verdict::Deny, ReasonCode::InvariantViolated, &["Budget"]);
    let report = replay(&input(recorded, "limit 1000", 5_000), evaluate).expect("replay");

    assert!(report.drift);
    assert_eq!(
        report.differences,
        vec!["reason_code: recorded INVARIANT_VIOLATED, replayed AXIOM_FAIL".to_owned()]
    );
}

#[test]
fn failed_axioms_compare_as_sets() {
    let reordered = DecisionSummary::new(
        Verdict::Deny,
        ReasonCode::AxiomFail,
        None,
        ["Role_guard".to_owned(), "Budget".to_owned(), "Budget".to_owned()],
    );
    let plain = summary(Verdict::Deny, ReasonCode::AxiomFail, &["Budget", "Role_guard"]);
    assert_eq!(reordered, plain);

    let report = replay(&input(plain, "limit 1000", 5_000), evaluate).expect("replay");
    assert!(report.drift);
    assert_eq!(
        report.differences,
        vec!["failed_axioms: recorded [Budget, Role_guard], replayed [Budget]".to_owned()]
    );
}

#[test]
fn shield_type_is_compared() {
    let response = DecisionResponse {
        decision_id: "dec-7".to_owned(),
        verdict: Verdict::Shield,
        reason_code: ReasonCode::AxiomFail,
        retry_after_ms: None,
        shield: Some(Shield {
            shield_type: ShieldType::ReadOnly,
            params: serde_json::Map::new(),
        }),
        escrow: None,
        counterexample: None,
        detail: None,
        receipt: None,
    };
    let recorded = DecisionSummary::from(&response);
    assert_eq!(recorded.shield, Some(ShieldType::ReadOnly));

    let mut dry_run = response.clone();
    dry_run.shield = Some(Shield {
        shield_type: ShieldType::DryRun,
        params: serde_json::Map::new(),
    });
    let report = replay(&input(recorded, "limit 0", 0), |_| Ok::<_, String>(dry_run.clone()))
        .expect("replay");
    assert_eq!(
        report.differences,
        vec!["shield: recorded READ_ONLY, replayed DRY_RUN".to_owned()]
    );
}

#[test]
fn evaluation_failure_is_an_error() {
    let recorded = summary(Verdict::Allow, ReasonCode::Ok, &[]);
    let error = replay(&input(recorded, "no threshold here", 5), evaluate).expect_err("no limit");
    assert_eq!(
        error,
        ReplayError::EvaluationFailed {
            decision_id: "dec-42".to_owned(),
            detail: "policy `finance` has no limit".to_owned(),
        }
    );
}
