//! The escrow backlog runbook, end to end over the real control plane: escrows opened by real
//! decisions are listed by age, approvers are added to the pool, the threshold scale is raised
//! so a new large refund no longer escrows, separation of duties rejects the requester and
//! the key owner, a quorum approves, the action runs against a real loopback tool, and the
//! backlog gauge returns to 0.

mod workflow_support;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use axiom_engine::model::Verdict;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use workflow_support::*;

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[actix_rt::test]
async fn escrow_backlog_runbook() {
    let tool = start_tool(200);
    let test_node = start_node(&["--tool-url", &tool.url]);
    let app = test::init_service(axiom::http::app(test_node.node.clone(), test_node.authenticator.clone())).await;

    // Three escrows from real decisions, oldest first.
    let mut escrow_ids = Vec::new();
    for _ in 0..3 {
        let response = decide(&test_node, &intent(ACTOR, "refund", "15000.00")).await;
        assert_eq!(response.verdict, Verdict::Escrow, "{response:?}");
        escrow_ids.push(response.escrow.expect("escrow summary").escrow_id);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let scrape = |app_text: String| metric(&app_text, "axiom_escrow_pending");
    let metrics = test::call_and_read_body(&app, TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(scrape(String::from_utf8_lossy(&metrics).to_string()), Some(3.0));

    // Step 1: stale pending items, by age.
    let sre = token_for("sre-1", &["sre"], TENANT);
    let listed: Value = test::call_and_read_body_json(
        &app,
        TestRequest::get().uri("/v1/escrows?status=PENDING&older_than=0").insert_header(("Authorization", sre.clone())).to_request(),
    )
    .await;
    let listed_ids: Vec<&str> = listed.as_array().expect("array").iter().filter_map(|item| item["escrow_id"].as_str()).collect();
    assert_eq!(listed_ids, escrow_ids.iter().map(String::as_str).collect::<Vec<_>>());
    let none_old: Value = test::call_and_read_body_json(
        &app,
        TestRequest::get().uri("/v1/escrows?status=PENDING&older_than=3600").insert_header(("Authorization", sre.clone())).to_request(),
    )
    .await;
    assert_eq!(none_old, json!([]));
    let single = test::call_service(&app, TestRequest::get().uri(&format!("/v1/escrow/{}", escrow_ids[0])).insert_header(("Authorization", sre.clone())).to_request()).await;
    assert_eq!(single.status(), StatusCode::OK);

    // Step 2: an approver without a pool role holds none of the policy's roles.
    let alice = token_for("alice", &["approver"], TENANT);
    let approve_path = format!("/v1/escrow/{}/approve", escrow_ids[0]);
    let response = test::call_service(&app, TestRequest::post().uri(&approve_path).insert_header(("Authorization", alice.clone())).to_request()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Step 3: increase the approver pool (securityadmin only).
    let admin = token_for("admin-1", &["securityadmin"], TENANT);
    for principal in ["alice", "bob", ACTOR, test_node.kid.as_str()] {
        let response = test::call_service(
            &app,
            TestRequest::put().uri(&format!("/v1/approvers/{principal}")).insert_header(("Authorization", admin.clone())).set_json(json!({"roles": ["financemanager"]})).to_request(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "pool entry for {principal}");
    }
    let denied = test::call_service(
        &app,
        TestRequest::put().uri("/v1/approvers/mallory").insert_header(("Authorization", alice.clone())).set_json(json!({"roles": ["financemanager"]})).to_request(),
    )
    .await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);

    // Separation of duties: neither the requesting actor nor the key owner may approve.
    for subject in [ACTOR, test_node.kid.as_str()] {
        let token = token_for(subject, &["approver"], TENANT);
        let response = test::call_service(&app, TestRequest::post().uri(&approve_path).insert_header(("Authorization", token)).to_request()).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "approval by {subject}");
    }

    // Raise the thresholds: a new refund of the same size no longer escrows, a larger one does.
    let platform_sre = token_for("sre-1", &["sre"], "*");
    let response = test::call_service(
        &app,
        TestRequest::patch().uri("/v1/settings").insert_header(("Authorization", platform_sre)).set_json(json!({"THRESHOLD_SCALE_MILLI": 2000, "reason": "escrow backlog"})).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let relaxed = decide(&test_node, &intent(ACTOR, "refund", "15000.00")).await;
    assert_eq!(relaxed.verdict, Verdict::Allow, "{relaxed:?}");
    let still_large = decide(&test_node, &intent(ACTOR, "refund", "25000.00")).await;
    assert_eq!(still_large.verdict, Verdict::Escrow, "{still_large:?}");
    escrow_ids.push(still_large.escrow.expect("escrow summary").escrow_id);

    // Quorum: alice then bob; a repeated approval by alice is rejected.
    let bob = token_for("bob", &["approver"], TENANT);
    let first: Value = test::call_and_read_body_json(&app, TestRequest::post().uri(&approve_path).insert_header(("Authorization", alice.clone())).to_request()).await;
    assert_eq!(first["status"], "PENDING");
    let again = test::call_service(&app, TestRequest::post().uri(&approve_path).insert_header(("Authorization", alice.clone())).to_request()).await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    let second: Value = test::call_and_read_body_json(&app, TestRequest::post().uri(&approve_path).insert_header(("Authorization", bob.clone())).to_request()).await;
    assert_eq!(second["status"], "APPROVED");

    // Execute against the real tool, with the engine's receipt.
    let executed: Value = test::call_and_read_body_json(
        &app,
        TestRequest::post().uri(&format!("/v1/escrow/{}/execute", escrow_ids[0])).insert_header(("Authorization", alice.clone())).to_request(),
    )
    .await;
    assert_eq!(executed["status"], "EXECUTED", "{executed}");
    assert_eq!(tool.count.load(Ordering::SeqCst), 1);
    let request = tool.requests.lock().expect("lock")[0].clone();
    assert!(request.contains(&format!("Idempotency-Key: {}", escrow_ids[0])), "{request}");
    assert!(request.contains("\"receipt\":{"), "{request}");
    let twice = test::call_service(&app, TestRequest::post().uri(&format!("/v1/escrow/{}/execute", escrow_ids[0])).insert_header(("Authorization", alice.clone())).to_request()).await;
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    assert_eq!(tool.count.load(Ordering::SeqCst), 1);

    // Clear the rest of the backlog: approve and execute one, cancel the others.
    let approve_second = format!("/v1/escrow/{}/approve", escrow_ids[1]);
    for token in [&alice, &bob] {
        let response = test::call_service(&app, TestRequest::post().uri(&approve_second).insert_header(("Authorization", token.clone())).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    for id in &escrow_ids[2..] {
        let cancelled: Value = test::call_and_read_body_json(
            &app,
            TestRequest::post().uri(&format!("/v1/escrow/{id}/cancel")).insert_header(("Authorization", bob.clone())).set_json(json!({"reason": "duplicate"})).to_request(),
        )
        .await;
        assert_eq!(cancelled["status"], "CANCELLED", "{cancelled}");
    }
    let metrics = test::call_and_read_body(&app, TestRequest::get().uri("/metrics").to_request()).await;
    let text = String::from_utf8_lossy(&metrics).to_string();
    assert_eq!(metric(&text, "axiom_escrow_pending"), Some(0.0), "{text}");
    assert_eq!(metric(&text, "axiom_escrow_oldest_pending_age_seconds"), Some(0.0));

    // Every transition is on record.
    let events: Vec<axiom_storage::LogEntry<Value>> = test_node.node.store.compliance_events().list(0, 1_000).expect("events");
    let transitions = events.iter().filter(|entry| entry.value["event"] == "escrow_transition").count();
    assert!(transitions >= 6, "{transitions} escrow transitions recorded");
    let approvers: Value = test::call_and_read_body_json(&app, TestRequest::get().uri("/v1/approvers").insert_header(("Authorization", sre)).to_request()).await;
    assert_eq!(approvers["recent_approvers"].as_array().map(Vec::len), Some(2), "{approvers}");
}

#[actix_rt::test]
async fn execute_reverifies_key() {
    let tool = start_tool(200);
    let test_node = start_node(&["--tool-url", &tool.url]);
    let app = test::init_service(axiom::http::app(test_node.node.clone(), test_node.authenticator.clone())).await;
    let admin = token_for("admin-1", &["securityadmin"], TENANT);
    for principal in ["alice", "bob"] {
        let response = test::call_service(&app, TestRequest::put().uri(&format!("/v1/approvers/{principal}")).insert_header(("Authorization", admin.clone())).set_json(json!({"roles": ["financemanager"]})).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = decide(&test_node, &intent(ACTOR, "refund", "15000.00")).await;
    let id = response.escrow.expect("escrow").escrow_id;
    for subject in ["alice", "bob"] {
        let token = token_for(subject, &["approver"], TENANT);
        let response = test::call_service(&app, TestRequest::post().uri(&format!("/v1/escrow/{id}/approve")).insert_header(("Authorization", token)).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    // The signing key is revoked after approval: execution fails re-verification, and the
    // tool is never called.
    test_node.node.keys.revoke(&test_node.kid, now_ms()).expect("revoke");
    let alice = token_for("alice", &["approver"], TENANT);
    let failed: Value = test::call_and_read_body_json(&app, TestRequest::post().uri(&format!("/v1/escrow/{id}/execute")).insert_header(("Authorization", alice)).to_request()).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert!(failed["failure"].as_str().unwrap_or("").contains("key"), "{failed}");
    assert_eq!(tool.count.load(Ordering::SeqCst), 0);
}
