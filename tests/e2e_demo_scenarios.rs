//! The twelve demo scenarios, each against its own `axiom serve` process on a fresh data
//! directory, over real QUIC with the real Z3 and fjall.
//!
//! Method: start the server and report a fresh bank feed. Run the scenario's setup and the
//! scenario through `DemoSession`, the code `axiom demo` runs. Check the exact verdict, the
//! reason code and the parts the verdict must carry, and check every audited response's
//! receipt with the engine key from `server.json`. Then stop the server with SIGTERM and read
//! the audit log back: each audited decision is there with the same verdict, the number of
//! records equals the number of audited decisions, and every chain verifies.

mod support;

use axiom::node::bootstrap::DEMO_TENANT;
use axiom::node::demo::{Scenario, ScenarioResult};
use axiom_engine::model::{DecisionResponse, Verdict};
use serde_json::Value;
use support::*;

/// What one scenario test runs and expects beyond the verdict and reason code.
struct Case {
    scenario: Scenario,
    /// Scenarios run first on the same session, with their own expected verdicts checked.
    setup: &'static [Scenario],
    /// True when the product rules require an audit record: every decision on a request
    /// whose signature verified, except replays, which are counted instead so a replayed
    /// certificate cannot fill the disk.
    audited: bool,
    /// Audited requests the scenario sends internally without returning their response
    /// (the lower-sequence scenario first sends an accepted request with the higher sequence).
    internal_audited: u64,
    /// Checks specific to the scenario's response.
    check: fn(&DecisionResponse),
}

fn no_extra_check(_: &DecisionResponse) {}

fn check_allow(response: &DecisionResponse) {
    assert!(response.counterexample.is_none(), "an ALLOW carries no counterexample: {response:?}");
    assert!(response.shield.is_none(), "an ALLOW carries no shield: {response:?}");
    assert!(response.escrow.is_none(), "an ALLOW opens no escrow: {response:?}");
}

fn check_escrow(response: &DecisionResponse) {
    let escrow = response
        .escrow
        .as_ref()
        .unwrap_or_else(|| panic!("an ESCROW response must carry its escrow: {response:?}"));
    assert!(!escrow.escrow_id.is_empty(), "the escrow id is empty: {response:?}");
    assert_eq!(escrow.status, "PENDING", "a new escrow is pending: {response:?}");
    assert_eq!(
        escrow.approvals_required, 2,
        "the demo policy requires 2 approvals: {response:?}"
    );
    let now_ms = i64::try_from(now_s() * 1_000).unwrap_or(i64::MAX);
    assert!(escrow.expires_at > now_ms, "the escrow expires in the future: {response:?}");
}

fn check_over_budget(response: &DecisionResponse) {
    let counterexample = response
        .counterexample
        .as_ref()
        .unwrap_or_else(|| panic!("a policy DENY must carry a counterexample: {response:?}"));
    assert_eq!(
        counterexample.failed_axioms,
        vec!["Budget".to_owned()],
        "only the Budget axiom fails for a 9000.00 payment against 5000.00: {response:?}"
    );
    assert!(
        counterexample.facts.iter().any(|fact| fact.name == "action.params.amount"),
        "the counterexample names the amount it refused: {response:?}"
    );
}

fn check_uncertain(response: &DecisionResponse) {
    check_escrow(response);
    let counterexample = response
        .counterexample
        .as_ref()
        .unwrap_or_else(|| panic!("an UNCERTAIN escrow carries the witness: {response:?}"));
    assert!(
        counterexample.failed_axioms.iter().any(|axiom| axiom == "Budget"),
        "the uncertain axiom is Budget: {response:?}"
    );
}

fn check_stale(response: &DecisionResponse) {
    assert!(
        response.retry_after_ms.is_some_and(|ms| ms > 0),
        "a DEFER says when to retry: {response:?}"
    );
    assert!(response.escrow.is_none(), "a DEFER opens no escrow: {response:?}");
}

fn check_small_batch(response: &DecisionResponse) {
    let shield = response
        .shield
        .as_ref()
        .unwrap_or_else(|| panic!("a SHIELD response carries its shield: {response:?}"));
    assert_eq!(shield.shield_type.as_str(), "SMALL_BATCH", "{response:?}");
    assert_eq!(shield.params.get("max"), Some(&Value::from(50)), "{response:?}");
    let failed = response
        .counterexample
        .as_ref()
        .map(|counterexample| counterexample.failed_axioms.clone())
        .unwrap_or_default();
    assert!(failed.iter().any(|axiom| axiom == "Batch_size"), "{response:?}");
}

fn check_unaudited(response: &DecisionResponse) {
    assert!(
        response.decision_id.is_empty(),
        "a rejection that is not audited must not claim a decision id: {response:?}"
    );
    assert!(response.receipt.is_none(), "{response:?}");
}

/// Runs one case against its own server and checks everything the header lists.
async fn run_case(case: Case) {
    let name = case.scenario.name();
    let dir = TestDir::new();
    let server = ServerProcess::start(&dir, &[]);
    let engine_key = server.engine_public_key();
    let mut session = connect_session(&server).await;
    session.ingest_bank_feed().expect("reporting the bank feed");

    // Every audited response received, with the envelope that produced it.
    let mut audited: Vec<(String, DecisionResponse)> = Vec::new();
    let mut record = |label: &str, result: &ScenarioResult| {
        if result.response.decision_id.is_empty() {
            return;
        }
        let envelope = result
            .envelope
            .as_ref()
            .unwrap_or_else(|| panic!("{label}: an audited response to a raw frame"));
        assert_receipt_verifies(&engine_key, envelope, &result.response, label);
        audited.push((label.to_owned(), result.response.clone()));
    };

    for setup in case.setup {
        let result = session.run(*setup).await.expect("running the setup scenario");
        let label = format!("{name}: setup `{}`", setup.name());
        assert_eq!(
            (result.response.verdict, result.response.reason_code),
            setup.expected(),
            "{label}: unexpected response {:?}",
            result.response
        );
        record(&label, &result);
    }

    let result = session.run(case.scenario).await.expect("running the scenario");
    let (verdict, reason) = case.scenario.expected();
    assert_eq!(
        (result.response.verdict, result.response.reason_code),
        (verdict, reason),
        "{name}: expected {} {}, got {:?}",
        verdict.as_str(),
        reason.as_str(),
        result.response
    );
    (case.check)(&result.response);
    if case.audited {
        assert!(
            !result.response.decision_id.is_empty(),
            "{name}: the decision must be audited and carry its id: {:?}",
            result.response
        );
    }
    record(name, &result);

    // The connection and the server survive every scenario, the malformed frame included.
    let after = session.run(Scenario::InLimitPayment).await.expect("a request after the scenario");
    assert_eq!(
        after.response.verdict,
        Verdict::Allow,
        "{name}: the server must keep answering on the same connection: {:?}",
        after.response
    );
    record(&format!("{name}: follow-up payment"), &after);
    session.client.close().await;

    let status = server.stop();
    assert!(status.success(), "{name}: `axiom serve` exited with {status} after SIGTERM");
    assert!(!dir.data().join("server.json").exists(), "{name}: server.json is removed on a clean stop");

    let report = verify_chains(&dir.data());
    assert_eq!(
        record_count(&report),
        audited.len() as u64 + case.internal_audited,
        "{name}: the audit log holds exactly the audited decisions"
    );
    let store = open_store(&dir.data());
    for (label, response) in &audited {
        let stored = audit_record(&store, &response.decision_id, label);
        assert_eq!(stored.decision.verdict, response.verdict, "{label}: audited verdict");
        assert_eq!(stored.decision.reason_code, response.reason_code, "{label}: audited reason");
        assert_eq!(stored.decision.tenant, DEMO_TENANT, "{label}: audited tenant");
        let escrow_id = response.escrow.as_ref().map(|escrow| escrow.escrow_id.clone());
        assert_eq!(stored.decision.escrow_id, escrow_id, "{label}: audited escrow id");
        if let Some(escrow_id) = escrow_id {
            let escrow: Option<Value> = store
                .escrows()
                .get(DEMO_TENANT, &escrow_id)
                .expect("reading the escrow table");
            let escrow = escrow.unwrap_or_else(|| panic!("{label}: escrow `{escrow_id}` is not stored"));
            assert_eq!(
                escrow["decision_id"].as_str(),
                Some(response.decision_id.as_str()),
                "{label}: the stored escrow points at its decision"
            );
        }
    }
}

#[tokio::test]
async fn in_limit_payment_is_allowed() {
    run_case(Case {
        scenario: Scenario::InLimitPayment,
        setup: &[],
        audited: true,
        internal_audited: 0,
        check: check_allow,
    })
    .await;
}

#[tokio::test]
async fn refund_above_threshold_is_escrowed() {
    run_case(Case {
        scenario: Scenario::AboveEscrowThreshold,
        setup: &[],
        audited: true,
        internal_audited: 0,
        check: check_escrow,
    })
    .await;
}

#[tokio::test]
async fn over_budget_payment_is_denied_with_budget_axiom() {
    run_case(Case {
        scenario: Scenario::OverBudget,
        setup: &[],
        audited: true,
        internal_audited: 0,
        check: check_over_budget,
    })
    .await;
}

#[tokio::test]
async fn stale_bank_feed_is_deferred() {
    run_case(Case {
        scenario: Scenario::StaleBankFeed,
        setup: &[],
        audited: true,
        internal_audited: 0,
        check: check_stale,
    })
    .await;
}

#[tokio::test]
async fn uncertain_amount_is_escrowed() {
    run_case(Case {
        scenario: Scenario::UncertainAmount,
        setup: &[Scenario::InLimitPayment],
        audited: true,
        internal_audited: 0,
        check: check_uncertain,
    })
    .await;
}

#[tokio::test]
async fn replayed_certificate_is_rejected() {
    run_case(Case {
        scenario: Scenario::ReplayedCertificate,
        setup: &[Scenario::InLimitPayment],
        audited: false,
        internal_audited: 0,
        check: check_unaudited,
    })
    .await;
}

#[tokio::test]
async fn lower_sequence_is_rejected() {
    run_case(Case {
        scenario: Scenario::LowerSequence,
        setup: &[],
        audited: false,
        internal_audited: 1,
        check: check_unaudited,
    })
    .await;
}

#[tokio::test]
async fn flipped_signature_bit_is_rejected() {
    run_case(Case {
        scenario: Scenario::FlippedSignatureBit,
        setup: &[],
        audited: false,
        internal_audited: 0,
        check: check_unaudited,
    })
    .await;
}

#[tokio::test]
async fn revoked_key_is_rejected() {
    run_case(Case {
        scenario: Scenario::RevokedKey,
        setup: &[],
        audited: false,
        internal_audited: 0,
        check: no_extra_check,
    })
    .await;
}

#[tokio::test]
async fn expired_certificate_is_rejected() {
    run_case(Case {
        scenario: Scenario::ExpiredCertificate,
        setup: &[],
        audited: true,
        internal_audited: 0,
        check: no_extra_check,
    })
    .await;
}

#[tokio::test]
async fn oversized_batch_is_shielded() {
    run_case(Case {
        scenario: Scenario::OversizedBatch,
        setup: &[],
        audited: true,
        internal_audited: 0,
        check: check_small_batch,
    })
    .await;
}

#[tokio::test]
async fn malformed_frame_is_rejected() {
    run_case(Case {
        scenario: Scenario::MalformedFrame,
        setup: &[],
        audited: false,
        internal_audited: 0,
        check: check_unaudited,
    })
    .await;
}
