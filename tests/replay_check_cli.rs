//! `axiom replay-check` against a real `axiom serve` process: the demo scenarios make real
//! decisions over QUIC, and the command replays them over the HTTP control plane.

mod support;

use axiom::node::bootstrap::DEMO_TENANT;
use axiom::node::demo::Scenario;
use std::process::{Command, Output};
use support::*;

fn replay_check(server: &ServerProcess, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_axiom"))
        .arg("replay-check")
        .args(["--server", &format!("http://{}", server.info.http_addr)])
        .args(args)
        .env_remove("AXIOM_TOKEN")
        .env_remove("AXIOM_JWT_HS256_SECRET")
        .env("RUST_LOG", "warn")
        .output()
        .expect("running `axiom replay-check`")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn replay_check_reports_no_drift() {
    let dir = TestDir::new();
    let server = ServerProcess::start(&dir, &[]);
    let mut session = connect_session(&server).await;
    session.ingest_bank_feed().expect("reporting the bank feed");
    let scenarios = [
        Scenario::InLimitPayment,
        Scenario::AboveEscrowThreshold,
        Scenario::OverBudget,
        Scenario::StaleBankFeed,
        Scenario::UncertainAmount,
    ];
    let mut decisions = Vec::new();
    for scenario in scenarios {
        let result = session.run(scenario).await.expect("running a scenario");
        decisions.push(result.response.decision_id);
    }

    let output = replay_check(&server, &["--secret", SECRET, "--tenant", DEMO_TENANT, "--sample", "50"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}", output.status, text(&output.stderr));
    for decision_id in &decisions {
        let row = stdout.lines().find(|line| line.starts_with(decision_id.as_str()));
        let row = row.unwrap_or_else(|| panic!("decision {decision_id} is missing from the table:\n{stdout}"));
        assert!(row.contains(" same "), "{row}");
    }
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.contains("0 drifted"), "{summary}");
    assert!(summary.contains("0 failed"), "{summary}");

    // The same run with a token minted outside the command.
    let token = demo_token(&["complianceofficer"]);
    let output = replay_check(&server, &["--token", &token, "--sample", "2"]);
    assert!(output.status.success(), "stdout:\n{}\nstderr:\n{}", text(&output.stdout), text(&output.stderr));
    assert!(text(&output.stdout).contains("replayed 2 decisions"), "{}", text(&output.stdout));
}

#[tokio::test]
async fn replay_check_fails_without_access() {
    let dir = TestDir::new();
    let server = ServerProcess::start(&dir, &[]);

    // An operator has no audit role: the listing is refused, so the check cannot run (2).
    let output = replay_check(&server, &["--token", &demo_token(&["operator"])]);
    assert_eq!(output.status.code(), Some(2), "stdout:\n{}", text(&output.stdout));
    assert!(text(&output.stderr).contains("403"), "{}", text(&output.stderr));

    let output = replay_check(&server, &["--secret", SECRET, "--tenant", DEMO_TENANT, "--sample", "0"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--sample"), "{}", text(&output.stderr));

    let output = replay_check(&server, &["--secret", SECRET]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--tenant"), "{}", text(&output.stderr));
}

/// Mints a token of the demo tenant with `roles`.
fn demo_token(roles: &[&str]) -> String {
    let now = now_s();
    let claims = axiom::http::auth::Claims {
        sub: "carol".to_owned(),
        tenant: DEMO_TENANT.to_owned(),
        roles: roles.iter().map(|role| role.to_string()).collect(),
        platform: false,
        iss: "axiom".to_owned(),
        aud: "axiom-control".to_owned(),
        exp: now + 600,
        nbf: None,
        iat: Some(now),
    };
    axiom::http::auth::mint_hs256(SECRET, &claims).expect("minting a token")
}
