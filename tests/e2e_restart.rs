//! A graceful restart loses no protection and no record.
//!
//! Method: run decisions against a real `axiom serve`, stop it with SIGTERM, read the audit
//! log while it is down, and start it again on the same data directory. The replay state,
//! the sequence mark and the budget spend must come back from disk. So a certificate accepted
//! before the restart is a replay after it, and a sequence at or below the old mark is
//! rejected. The 120.00 spent before the restart still counts against the 5000.00 budget.

mod support;

use axiom::node::demo::{demo_intent, demo_rollback_plan, DemoSession};
use axiom_engine::crypto::CertificateOptions;
use axiom_engine::model::{DecisionResponse, ReasonCode, Verdict};
use serde_json::{json, Value};
use support::*;

/// A decision received before the restart, with the envelope that produced it.
struct Decided {
    label: &'static str,
    envelope: Value,
    response: DecisionResponse,
}

fn payment_options() -> CertificateOptions {
    CertificateOptions {
        rollback_plan: Some(demo_rollback_plan()),
        ..CertificateOptions::default()
    }
}

fn sequence_options(sequence: u64) -> CertificateOptions {
    CertificateOptions {
        sequence: Some(sequence),
        ..CertificateOptions::default()
    }
}

async fn send_expecting(
    session: &DemoSession,
    label: &'static str,
    envelope: Value,
    expected: (Verdict, ReasonCode),
) -> Decided {
    let response = session.send(&envelope).await.expect("sending over QUIC");
    assert_eq!(
        (response.verdict, response.reason_code),
        expected,
        "{label}: unexpected response {response:?}"
    );
    Decided {
        label,
        envelope,
        response,
    }
}

fn assert_rejected(response: &DecisionResponse, reason: ReasonCode, label: &str) {
    assert_eq!(response.verdict, Verdict::Deny, "{label}: {response:?}");
    assert_eq!(response.reason_code, reason, "{label}: {response:?}");
}

#[tokio::test]
async fn restart_keeps_records_and_replay_state() {
    let dir = TestDir::new();
    let first = ServerProcess::start(&dir, &[]);
    let engine_key = first.engine_public_key();
    let session = connect_session(&first).await;
    session.ingest_bank_feed().expect("reporting the bank feed");

    // Any mark above 1 works; the current time keeps it unlike any constant.
    let mark = u64::try_from(now_s()).unwrap_or(1) * 1_000;
    let read_intent = demo_intent("get_invoice", json!({}), &[], 60);
    let sequenced = session.sign(&read_intent, &sequence_options(mark)).expect("signing");
    let payment_intent = demo_intent("pay_invoice", json!({"amount": "120.00"}), &["bank"], 60);
    let payment = session.sign(&payment_intent, &payment_options()).expect("signing");
    let refund_intent = demo_intent("refund", json!({"amount": "15000.00"}), &["bank"], 60);
    let refund = session.sign(&refund_intent, &payment_options()).expect("signing");
    let over_intent = demo_intent("pay_invoice", json!({"amount": "9000.00"}), &["bank"], 60);
    let over = session.sign(&over_intent, &payment_options()).expect("signing");

    let decided = vec![
        send_expecting(&session, "sequenced read", sequenced, (Verdict::Allow, ReasonCode::Ok)).await,
        send_expecting(&session, "in-limit payment", payment, (Verdict::Allow, ReasonCode::Ok)).await,
        send_expecting(
            &session,
            "escrowed refund",
            refund,
            (Verdict::Escrow, ReasonCode::EscrowRequired),
        )
        .await,
        send_expecting(&session, "over-budget payment", over, (Verdict::Deny, ReasonCode::AxiomFail)).await,
    ];
    for decision in &decided {
        assert_receipt_verifies(&engine_key, &decision.envelope, &decision.response, decision.label);
    }

    // The replay check works before the restart, so the check after it means something.
    let before = session.send(&decided[1].envelope).await.expect("sending over QUIC");
    assert_rejected(&before, ReasonCode::ReplayDetected, "replay before the restart");
    session.client.close().await;

    let status = first.stop();
    assert!(status.success(), "`axiom serve` exited with {status} after SIGTERM");

    let report = verify_chains(&dir.data());
    assert_eq!(
        record_count(&report),
        decided.len() as u64,
        "the audit log holds exactly the four decisions"
    );
    for chain in &report.chains {
        assert_eq!(
            chain.last_checkpoint_seq, chain.last_seq,
            "a clean stop signs a checkpoint at the head of chain {}",
            chain.shard
        );
    }
    {
        let store = open_store(&dir.data());
        for decision in &decided {
            let stored = audit_record(&store, &decision.response.decision_id, decision.label);
            assert_eq!(stored.decision.verdict, decision.response.verdict, "{}", decision.label);
            assert_eq!(stored.decision.reason_code, decision.response.reason_code, "{}", decision.label);
            assert_eq!(
                stored.decision.nonce,
                decision.envelope["certificate"]["nonce"].as_str().unwrap_or_default(),
                "{}: the audited nonce is the certificate's",
                decision.label
            );
        }
    }

    let second = ServerProcess::start(&dir, &[]);
    assert_eq!(
        second.info.engine_public_key,
        engine_key.to_base64url(),
        "the engine key survives the restart, so old receipts still verify"
    );
    let session = connect_session(&second).await;
    session.ingest_bank_feed().expect("reporting the bank feed");

    for decision in &decided {
        let response = session.send(&decision.envelope).await.expect("sending over QUIC");
        let label = format!("{} resent after the restart", decision.label);
        assert_rejected(&response, ReasonCode::ReplayDetected, &label);
    }

    let lower_intent = demo_intent("get_invoice", json!({}), &[], 60);
    let lower = session.sign(&lower_intent, &sequence_options(mark - 1)).expect("signing");
    let response = session.send(&lower).await.expect("sending over QUIC");
    assert_rejected(&response, ReasonCode::SequenceReplay, "sequence below the old mark");

    let equal_intent = demo_intent("get_invoice", json!({}), &[], 60);
    let equal = session.sign(&equal_intent, &sequence_options(mark)).expect("signing");
    let response = session.send(&equal).await.expect("sending over QUIC");
    assert_rejected(&response, ReasonCode::SequenceReplay, "sequence equal to the old mark");

    let higher_intent = demo_intent("get_invoice", json!({}), &[], 60);
    let higher = session.sign(&higher_intent, &sequence_options(mark + 1)).expect("signing");
    let response = session.send(&higher).await.expect("sending over QUIC");
    assert_eq!(
        (response.verdict, response.reason_code),
        (Verdict::Allow, ReasonCode::Ok),
        "a sequence above the old mark is accepted: {response:?}"
    );
    assert_receipt_verifies(&engine_key, &higher, &response, "sequence above the old mark");

    // 4890.00 fits the full 5000.00 but not the 4880.00 left after the earlier 120.00, even
    // with the policy's 1.00 margin either way, so only a remembered spend denies it.
    let spend_intent = demo_intent("pay_invoice", json!({"amount": "4890.00"}), &["bank"], 60);
    let spend = session.sign(&spend_intent, &payment_options()).expect("signing");
    let response = session.send(&spend).await.expect("sending over QUIC");
    assert_eq!(
        (response.verdict, response.reason_code),
        (Verdict::Deny, ReasonCode::AxiomFail),
        "the spend before the restart still counts against the budget: {response:?}"
    );
    session.client.close().await;

    let status = second.stop();
    assert!(status.success(), "`axiom serve` exited with {status} after the second SIGTERM");
    let report = verify_chains(&dir.data());
    assert_eq!(
        record_count(&report),
        decided.len() as u64 + 2,
        "the second run adds exactly its two audited decisions"
    );
}
