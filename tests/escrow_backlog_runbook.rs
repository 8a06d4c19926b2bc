//! The escrow backlog runbook, end to end over the real control plane: escrows opened by real
//! decisions are listed by age, approvers are added to the pool, the threshold scale is raised
//! so a new large refund no longer escrows, separation of duties rejects the requester and
//! the key owner, a quorum approves, the action runs against a real loopback tool, and the
//! backlog gauge returns to 0.

mod workflow_support;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use axiom_engine::model::{ReasonCode, Verdict};
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

/// A policy that charges `pay_invoice` to the `AP` budget and escrows payments above 900.
const BUDGET_POLICY: &str = r#"policyset finance v2:
  domain finance
  approvals required 2
  approvals roles ["financemanager"]
  approvals sod true
  approvals expires_in 4h
  escrow when action.name == "pay_invoice" and action.params.amount > 900

axiom Fresh_bank_feed:
  when action.name in ["pay_invoice", "refund"]
  require source("bank").age_sec <= 30

axiom Budget:
  when action.name == "pay_invoice"
  require action.params.amount + eps(1.00) <= budget.remaining("AP")
  else shield("REQUIRE_APPROVAL")
"#;

const PAYMENT: &str = "942.46";

fn decimal(text: &str) -> rust_decimal::Decimal {
    text.parse().expect("decimal")
}

/// Publishes `BUDGET_POLICY` and an `AP` budget of `limit` for the day.
async fn with_budget(test_node: &TestNode, limit: &str) {
    test_node.node.publish_policy_directly(TENANT, BUDGET_POLICY, "bootstrap").expect("publish budget policy");
    let definition = axiom_engine::shard::BudgetDefinition {
        code: "AP".to_owned(),
        scope: axiom_engine::shard::BudgetScope::Tenant,
        limit: decimal(limit),
        period_ms: 86_400_000,
    };
    test_node.node.set_budget(TENANT, definition).await.expect("define budget");
}

async fn ap_remaining(test_node: &TestNode) -> rust_decimal::Decimal {
    let read = test_node.node.shards.budgets(TENANT, ACTOR, vec!["AP".to_owned()], now_ms()).await.expect("read budgets");
    read[0].remaining.expect("AP is defined")
}

/// Adds alice and bob to the approver pool of `$app`.
macro_rules! add_approvers {
    ($app:expr) => {{
        let admin = token_for("admin-1", &["securityadmin"], TENANT);
        for principal in ["alice", "bob"] {
            let request = TestRequest::put().uri(&format!("/v1/approvers/{principal}")).insert_header(("Authorization", admin.clone())).set_json(json!({"roles": ["financemanager"]}));
            let response = test::call_service($app, request.to_request()).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
    }};
}

/// Opens an escrow from a real decision of `$intent` and approves it by quorum; returns its id.
macro_rules! approved_escrow {
    ($app:expr, $test_node:expr, $intent:expr) => {{
        let response = decide($test_node, &$intent).await;
        assert_eq!(response.verdict, Verdict::Escrow, "{response:?}");
        let id = response.escrow.expect("escrow summary").escrow_id;
        for subject in ["alice", "bob"] {
            let token = token_for(subject, &["approver"], TENANT);
            let request = TestRequest::post().uri(&format!("/v1/escrow/{id}/approve")).insert_header(("Authorization", token));
            let response = test::call_service($app, request.to_request()).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        id
    }};
}

/// Reads the stored escrow `$id` as JSON.
macro_rules! escrow_json {
    ($app:expr, $id:expr) => {{
        let sre = token_for("sre-1", &["sre"], TENANT);
        let request = TestRequest::get().uri(&format!("/v1/escrow/{}", $id)).insert_header(("Authorization", sre));
        let body: Value = test::call_and_read_body_json($app, request.to_request()).await;
        body
    }};
}

fn execute_request(id: &str) -> TestRequest {
    let alice = token_for("alice", &["approver"], TENANT);
    TestRequest::post().uri(&format!("/v1/escrow/{id}/execute")).insert_header(("Authorization", alice))
}

#[actix_rt::test]
async fn execute_spends_budget_once() {
    // Goal: executed escrows are charged to the live budget and cannot overspend it. Method:
    // three approved payments of 942.46 against 1570.77 remaining, executed one by one.
    let tool = start_tool(200);
    let test_node = start_node(&["--tool-url", &tool.url]);
    with_budget(&test_node, "1570.77").await;
    let app = test::init_service(axiom::http::app(test_node.node.clone(), test_node.authenticator.clone())).await;
    add_approvers!(&app);

    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(approved_escrow!(&app, &test_node, intent(ACTOR, "pay_invoice", PAYMENT)));
    }
    assert_eq!(ap_remaining(&test_node).await, decimal("1570.77"), "escrowed decisions reserve nothing");

    let mut statuses = Vec::new();
    for id in &ids {
        let response = test::call_service(&app, execute_request(id).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = serde_json::from_slice(&test::read_body(response).await).expect("json");
        statuses.push(body["status"].as_str().unwrap_or_default().to_owned());
        if body["status"] == "FAILED" {
            let failure = body["failure"].as_str().unwrap_or_default();
            assert!(failure.contains("Budget") || failure.contains("`AP`"), "{failure}");
        }
    }
    assert_eq!(statuses, ["EXECUTED", "FAILED", "FAILED"]);
    assert_eq!(tool.count.load(Ordering::SeqCst), 1, "only the payment that fits reaches the tool");
    assert_eq!(ap_remaining(&test_node).await, decimal("628.31"));

    // The spend is stored, so the shard recovers it after a restart.
    let rows: Vec<(String, String, Value)> = test_node.node.store.budgets().list_all(1_000).expect("budget rows");
    let spends: Vec<&Value> = rows.iter().filter(|(tenant, id, _)| tenant == TENANT && !id.starts_with("def/")).map(|(_, _, value)| value).collect();
    assert_eq!(spends.len(), 1, "{rows:?}");
    assert_eq!(spends[0]["amount"], PAYMENT, "{rows:?}");
}

#[actix_rt::test]
async fn concurrent_executions_never_overspend() {
    // Goal: two executions racing for the same budget cannot both spend it. Method: three
    // approved payments that fit once, executed concurrently on one app.
    let tool = start_tool(200);
    let test_node = start_node(&["--tool-url", &tool.url]);
    with_budget(&test_node, "1570.77").await;
    let app = test::init_service(axiom::http::app(test_node.node.clone(), test_node.authenticator.clone())).await;
    add_approvers!(&app);
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(approved_escrow!(&app, &test_node, intent(ACTOR, "pay_invoice", PAYMENT)));
    }

    let executions = ids.iter().map(|id| test::call_and_read_body(&app, execute_request(id).to_request()));
    let bodies = futures::future::join_all(executions).await;
    let statuses: Vec<Value> = bodies.iter().map(|body| serde_json::from_slice::<Value>(body).expect("json")["status"].clone()).collect();
    for body in &bodies {
        let body: Value = serde_json::from_slice(body).expect("json");
        if body["status"] == "FAILED" {
            let failure = body["failure"].as_str().unwrap_or_default();
            assert!(failure.contains("budget `AP`") || failure.contains("Budget"), "{failure}");
        }
    }
    let executed = statuses.iter().filter(|status| **status == "EXECUTED").count();
    assert_eq!(executed, 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|status| **status == "FAILED").count(), 2, "{statuses:?}");
    assert_eq!(tool.count.load(Ordering::SeqCst), 1);
    assert_eq!(ap_remaining(&test_node).await, decimal("628.31"));
}

#[actix_rt::test]
async fn rolled_back_execution_releases_budget() {
    // Goal: an execution the tool rejects and the rollback plan compensates gives its
    // reservation back. Method: a tool that fails the execute call and accepts compensation.
    let tool = start_tool_with(500, 200);
    let test_node = start_node(&["--tool-url", &tool.url]);
    with_budget(&test_node, "1570.77").await;
    let app = test::init_service(axiom::http::app(test_node.node.clone(), test_node.authenticator.clone())).await;
    add_approvers!(&app);
    let id = approved_escrow!(&app, &test_node, intent(ACTOR, "pay_invoice", PAYMENT));

    let body: Value = test::call_and_read_body_json(&app, execute_request(&id).to_request()).await;
    assert_eq!(body["status"], "ROLLED_BACK", "{body}");
    assert_eq!(tool.count.load(Ordering::SeqCst), 2, "one execute call and one compensating step");
    assert_eq!(ap_remaining(&test_node).await, decimal("1570.77"));
}

#[actix_rt::test]
async fn stale_feed_keeps_escrow_approved() {
    // Goal: a briefly stale source or degraded mode leaves an approved escrow APPROVED, so it
    // executes once the condition clears. Method: an intent allowing 1 s of staleness, a
    // wait past it, then a fresh feed event; then degraded mode on and off.
    let tool = start_tool(200);
    let test_node = start_node(&["--tool-url", &tool.url]);
    let app = test::init_service(axiom::http::app(test_node.node.clone(), test_node.authenticator.clone())).await;
    add_approvers!(&app);
    bank_feed(&test_node.node, 0);
    let mut refund = intent(ACTOR, "refund", "15000.00");
    refund["data_requirements"]["max_staleness_sec"] = json!(1);
    let id = approved_escrow!(&app, &test_node, refund);

    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
    let response = test::call_service(&app, execute_request(&id).to_request()).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = serde_json::from_slice(&test::read_body(response).await).expect("json");
    assert!(body["message"].as_str().unwrap_or_default().contains("`bank`"), "{body}");
    assert_eq!(escrow_json!(&app, &id)["status"], "APPROVED");
    assert_eq!(tool.count.load(Ordering::SeqCst), 0);

    bank_feed(&test_node.node, 0);
    let platform_sre = token_for("sre-1", &["sre"], "*");
    for (degraded, want) in [(true, StatusCode::SERVICE_UNAVAILABLE), (false, StatusCode::OK)] {
        let settings = TestRequest::patch().uri("/v1/settings").insert_header(("Authorization", platform_sre.clone())).set_json(json!({"DEGRADED_NO_ALLOW": degraded, "reason": "drill"}));
        assert_eq!(test::call_service(&app, settings.to_request()).await.status(), StatusCode::OK);
        let response = test::call_service(&app, execute_request(&id).to_request()).await;
        assert_eq!(response.status(), want, "degraded mode {degraded}");
        if degraded {
            assert_eq!(escrow_json!(&app, &id)["status"], "APPROVED");
        }
    }
    assert_eq!(escrow_json!(&app, &id)["status"], "EXECUTED");
    assert_eq!(tool.count.load(Ordering::SeqCst), 1);
}

#[actix_rt::test]
async fn execute_checks_quorum_before_tool() {
    // Goal: the escrow's state is checked before the tool configuration. Method: a node
    // without TOOL_URL returns 409 before the quorum, and 503 only once it is reached.
    let test_node = start_node(&[]);
    let app = test::init_service(axiom::http::app(test_node.node.clone(), test_node.authenticator.clone())).await;
    add_approvers!(&app);
    let response = decide(&test_node, &intent(ACTOR, "refund", "15000.00")).await;
    let id = response.escrow.expect("escrow summary").escrow_id;

    let early = test::call_service(&app, execute_request(&id).to_request()).await;
    assert_eq!(early.status(), StatusCode::CONFLICT);
    let body: Value = serde_json::from_slice(&test::read_body(early).await).expect("json");
    assert!(body["message"].as_str().unwrap_or_default().contains("approvals"), "{body}");

    for subject in ["alice", "bob"] {
        let token = token_for(subject, &["approver"], TENANT);
        let request = TestRequest::post().uri(&format!("/v1/escrow/{id}/approve")).insert_header(("Authorization", token));
        assert_eq!(test::call_service(&app, request.to_request()).await.status(), StatusCode::OK);
    }
    let no_tool = test::call_service(&app, execute_request(&id).to_request()).await;
    assert_eq!(no_tool.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(escrow_json!(&app, &id)["status"], "APPROVED");
}

/// A policy whose `Budget` axiom has no shield, so an amount whose uncertainty straddles the
/// remaining budget is escrowed as UNCERTAIN.
const UNCERTAIN_POLICY: &str = r#"policyset finance v3:
  domain finance
  approvals required 2
  approvals roles ["financemanager"]
  approvals sod true
  approvals expires_in 4h

axiom Fresh_bank_feed:
  when action.name in ["pay_invoice", "refund"]
  require source("bank").age_sec <= 30

axiom Budget:
  when action.name == "pay_invoice"
  require action.params.amount + eps(1.00) <= budget.remaining("AP")
"#;

#[actix_rt::test]
async fn approved_uncertain_escrow_executes() {
    // Goal: an escrow opened because the proof was uncertain is what the approvers judged, so
    // after their quorum it executes (and is charged) instead of failing re-verification.
    let tool = start_tool(200);
    let test_node = start_node(&["--tool-url", &tool.url]);
    test_node.node.publish_policy_directly(TENANT, UNCERTAIN_POLICY, "bootstrap").expect("publish");
    let definition = axiom_engine::shard::BudgetDefinition {
        code: "AP".to_owned(),
        scope: axiom_engine::shard::BudgetScope::Tenant,
        limit: decimal("1000.00"),
        period_ms: 86_400_000,
    };
    test_node.node.set_budget(TENANT, definition).await.expect("budget");
    let app = test::init_service(axiom::http::app(test_node.node.clone(), test_node.authenticator.clone())).await;
    add_approvers!(&app);

    let mut uncertain = intent(ACTOR, "pay_invoice", "800.00");
    uncertain["data_requirements"]["uncertainty_budget"] = json!({"amount": "500.00"});
    let response = decide(&test_node, &uncertain).await;
    assert_eq!(response.reason_code, ReasonCode::Uncertain, "{response:?}");
    let id = response.escrow.expect("escrow summary").escrow_id;
    for subject in ["alice", "bob"] {
        let token = token_for(subject, &["approver"], TENANT);
        let request = TestRequest::post().uri(&format!("/v1/escrow/{id}/approve")).insert_header(("Authorization", token));
        assert_eq!(test::call_service(&app, request.to_request()).await.status(), StatusCode::OK);
    }

    let response = test::call_service(&app, execute_request(&id).to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(&test::read_body(response).await).expect("json");
    assert_eq!(body["status"], "EXECUTED", "{body}");
    assert_eq!(tool.count.load(Ordering::SeqCst), 1);
    assert_eq!(ap_remaining(&test_node).await, decimal("200.00"), "the executed amount is charged");
}
