//! Inputs and commands that once took a node down or misled an operator.
//!
//! Method: a real `axiom serve` process on a temp data directory, real QUIC requests signed
//! with the demo agent key, and the real `axiom` binary for the offline audit commands.

mod support;

use axiom::node::demo::{demo_intent, demo_rollback_plan};
use axiom_engine::crypto::CertificateOptions;
use axiom_engine::model::{ReasonCode, Verdict};
use serde_json::json;
use std::process::Command;
use support::*;

fn payment_options() -> CertificateOptions {
    CertificateOptions {
        rollback_plan: Some(demo_rollback_plan()),
        ..CertificateOptions::default()
    }
}

#[tokio::test]
async fn hostile_identifiers_never_stop_the_node() {
    let dir = TestDir::new();
    let server = ServerProcess::start(&dir, &[]);
    let session = connect_session(&server).await;
    session.ingest_bank_feed().expect("ingest the bank feed");

    let mut empty_actor = demo_intent("pay_invoice", json!({"amount": "1.00"}), &["bank"], 60);
    empty_actor["actor"]["id"] = json!("");
    let mut long_actor = demo_intent("pay_invoice", json!({"amount": "1.00"}), &["bank"], 60);
    long_actor["actor"]["id"] = json!("a".repeat(600));
    let long_cert_id = CertificateOptions {
        cert_id: Some("c".repeat(20_000)),
        ..payment_options()
    };

    let cases = [
        ("empty actor id", session.sign(&empty_actor, &payment_options())),
        ("600-byte actor id", session.sign(&long_actor, &payment_options())),
        (
            "20 kB cert id",
            session.sign(
                &demo_intent("pay_invoice", json!({"amount": "1.00"}), &["bank"], 60),
                &long_cert_id,
            ),
        ),
    ];
    for (label, envelope) in cases {
        let envelope = envelope.expect("sign");
        let response = session.send(&envelope).await.expect("send");
        assert_eq!(response.verdict, Verdict::Deny, "{label}: {response:?}");
        assert_eq!(response.reason_code, ReasonCode::MalformedRequest, "{label}: {response:?}");
    }

    let valid = session
        .sign(
            &demo_intent("pay_invoice", json!({"amount": "1.00"}), &["bank"], 60),
            &payment_options(),
        )
        .expect("sign");
    let after = session.send(&valid).await.expect("send");
    assert_eq!(after.verdict, Verdict::Allow, "the node still decides: {after:?}");

    session.client.close().await;
    server.stop();
}

#[tokio::test]
async fn audit_commands_find_the_serve_store() {
    let dir = TestDir::new();
    let server = ServerProcess::start(&dir, &[]);
    let session = connect_session(&server).await;
    session.ingest_bank_feed().expect("ingest the bank feed");
    let envelope = session
        .sign(
            &demo_intent("pay_invoice", json!({"amount": "2.00"}), &["bank"], 60),
            &payment_options(),
        )
        .expect("sign");
    let response = session.send(&envelope).await.expect("send");
    assert_eq!(response.verdict, Verdict::Allow, "{response:?}");
    session.client.close().await;
    server.stop();

    let verify = Command::new(env!("CARGO_BIN_EXE_axiom"))
        .args(["audit", "verify", "--data-dir"])
        .arg(dir.data())
        .output()
        .expect("run axiom audit verify");
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "verify failed: {stdout}");
    assert!(stdout.contains("audit log intact"), "{stdout}");
    assert!(!stdout.contains("0 chains verified"), "verify found no chain: {stdout}");

    let show = Command::new(env!("CARGO_BIN_EXE_axiom"))
        .args(["audit", "show", &response.decision_id, "--data-dir"])
        .arg(dir.data())
        .output()
        .expect("run axiom audit show");
    assert!(show.status.success(), "{}", String::from_utf8_lossy(&show.stderr));
    assert!(String::from_utf8_lossy(&show.stdout).contains(&response.decision_id));

    let empty = TestDir::new();
    std::fs::create_dir_all(empty.data()).expect("create an empty directory");
    let missing = Command::new(env!("CARGO_BIN_EXE_axiom"))
        .args(["audit", "verify", "--data-dir"])
        .arg(empty.data())
        .output()
        .expect("run axiom audit verify");
    assert!(!missing.status.success(), "an empty directory must not verify");
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no audit store"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let created: Vec<_> = std::fs::read_dir(empty.data()).expect("list").collect();
    assert!(created.is_empty(), "verify created files in an empty directory");
}

#[test]
fn serve_without_auth_flags_starts() {
    let dir = TestDir::new();
    let data = dir.data();
    let mut child = Command::new(env!("CARGO_BIN_EXE_axiom"))
        .arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .args(["--quic-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
        .env_remove("AXIOM_JWT_HS256_SECRET")
        .env_remove("AXIOM_JWKS_FILE")
        .env_remove("AXIOM_DEV_NO_AUTH")
        .env_remove("AXIOM_ENV")
        .env_remove("AXIOM_DATA_DIR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn axiom serve");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut started = false;
    while std::time::Instant::now() < deadline {
        if child.try_wait().expect("poll").is_some() {
            break;
        }
        if data.join("server.json").is_file() {
            started = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().expect("wait");

    assert!(started, "axiom serve without auth flags did not start (exit {status:?})");
    assert!(status.success(), "axiom serve did not stop cleanly: {status:?}");
    let secret = std::fs::read_to_string(data.join("control-plane.secret")).expect("secret file");
    assert_eq!(secret.trim().len(), 64, "a 32-byte hex secret");
}
