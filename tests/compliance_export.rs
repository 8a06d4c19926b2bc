//! The streamed compliance export over the real control plane: NDJSON lines of the three kinds
//! from real decisions, escrows and incidents, tenant scoping, the actor filter, the time range,
//! paging across more records than one page (many within one millisecond), and its entry in
//! `compliance_events`.

mod workflow_support;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use axiom::http::compliance::EXPORT_PAGE_ROWS;
use axiom_engine::crypto::CertificateOptions;
use axiom_engine::model::{ReasonCode, RollbackPlan, Verdict};
use axiom_storage::{AuditEntry, DecisionFields, LogEntry, PersonalData};
use serde_json::{json, Value};
use workflow_support::*;

const OTHER: &str = "other-agent";

/// Reads an export response: 200, NDJSON, one JSON value per line.
async fn export_lines<B: actix_web::body::MessageBody>(response: actix_web::dev::ServiceResponse<B>, uri: &str) -> Vec<Value> {
    assert_eq!(response.status(), StatusCode::OK, "{uri}");
    let content_type = response.headers().get("content-type").and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(content_type, "application/x-ndjson");
    let body = test::read_body(response).await;
    let text = String::from_utf8(body.to_vec()).expect("UTF-8 body");
    assert!(text.ends_with('\n'), "the export ends with a newline");
    text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("line {line:?} is not JSON: {error}"))).collect()
}

/// Runs one export request and returns its lines.
macro_rules! export {
    ($app:expr, $uri:expr, $token:expr) => {{
        let uri: String = $uri.to_string();
        let request = TestRequest::get().uri(&uri).insert_header(("Authorization", $token.to_string())).to_request();
        export_lines(test::call_service(&$app, request).await, &uri).await
    }};
}

fn of_kind<'l>(lines: &'l [Value], kind: &str) -> Vec<&'l Value> {
    lines.iter().filter(|line| line["kind"] == kind).collect()
}

/// Checks the `end` line closes the export and counts the other lines.
fn assert_complete(lines: &[Value]) {
    let end = lines.last().expect("at least the end line");
    assert_eq!(end["kind"], "end", "last line: {end}");
    for kind in ["audit", "escrow", "incident"] {
        assert_eq!(end[kind].as_u64(), Some(of_kind(lines, kind).len() as u64), "{kind} count in {end}");
    }
    assert_eq!(of_kind(lines, "end").len(), 1);
}

async fn replay_twice(test_node: &TestNode, actor: &str) {
    let options = CertificateOptions {
        rollback_plan: Some(RollbackPlan { plan_type: "compensate".to_owned(), steps: vec![json!({"operation": "void"})] }),
        ..CertificateOptions::default()
    };
    let envelope = test_node.agent.sign_envelope(&intent(actor, "refund", "20.00"), &options).expect("sign");
    let bytes = serde_json::to_vec(&envelope).expect("encode");
    let first = test_node.node.decide(&bytes, axiom::node::Endpoint::HttpDecide).await;
    assert_eq!(first.verdict, Verdict::Allow, "{first:?}");
    let second = test_node.node.decide(&bytes, axiom::node::Endpoint::HttpDecide).await;
    assert_eq!(second.reason_code, ReasonCode::ReplayDetected, "{second:?}");
}

#[actix_rt::test]
async fn export_streams_three_kinds_in_scope() {
    let test_node = start_node(&[]);
    let node = test_node.node.clone();
    let app = test::init_service(axiom::http::app(node.clone(), test_node.authenticator.clone())).await;

    // First batch: a decision, an escrow and an incident for each actor.
    for actor in [ACTOR, OTHER] {
        assert_eq!(decide(&test_node, &intent(actor, "refund", "100.00")).await.verdict, Verdict::Allow);
        assert_eq!(decide(&test_node, &intent(actor, "refund", "15000.00")).await.verdict, Verdict::Escrow);
        replay_twice(&test_node, actor).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let middle_ms = now_ms();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // Second batch: one more escrowed decision of the subject.
    assert_eq!(decide(&test_node, &intent(ACTOR, "refund", "12000.00")).await.verdict, Verdict::Escrow);

    let officer = token_for("carol", &["complianceofficer"], TENANT);
    let lines = export!(app, "/v1/compliance/export", officer);
    assert_complete(&lines);
    assert_eq!(of_kind(&lines, "audit").len(), 7, "3 per actor and the late escrow");
    assert_eq!(of_kind(&lines, "escrow").len(), 3);
    assert_eq!(of_kind(&lines, "incident").len(), 2);
    for line in &lines[..lines.len() - 1] {
        let tenant = if line["kind"] == "audit" { &line["decision"]["tenant"] } else { &line["tenant"] };
        assert_eq!(tenant, TENANT, "{line}");
    }
    for audit in of_kind(&lines, "audit") {
        assert_eq!(audit["personal"]["status"], "readable", "{audit}");
    }

    // Actor filter: only the other actor's records, escrows and incidents.
    let other_lines = export!(app, format!("/v1/compliance/export?actor_id={OTHER}"), officer);
    assert_complete(&other_lines);
    assert_eq!(of_kind(&other_lines, "audit").len(), 3);
    assert_eq!(of_kind(&other_lines, "escrow").len(), 1);
    assert_eq!(of_kind(&other_lines, "incident").len(), 1);
    for line in of_kind(&other_lines, "audit") {
        assert_eq!(line["personal"]["actor_id"], OTHER);
    }
    assert_eq!(of_kind(&other_lines, "escrow")[0]["requesting_actor"], OTHER);
    assert_eq!(of_kind(&other_lines, "incident")[0]["actor_id"], OTHER);

    // Time range: `from` inclusive, `to` exclusive, on decision, escrow and incident times.
    let late = export!(app, format!("/v1/compliance/export?from={middle_ms}"), officer);
    assert_complete(&late);
    assert_eq!((of_kind(&late, "audit").len(), of_kind(&late, "escrow").len(), of_kind(&late, "incident").len()), (1, 1, 0));
    assert!(of_kind(&late, "audit")[0]["decision"]["time_ms"].as_i64().is_some_and(|time| time >= middle_ms));
    let early = export!(app, format!("/v1/compliance/export?to={middle_ms}"), officer);
    assert_complete(&early);
    assert_eq!((of_kind(&early, "audit").len(), of_kind(&early, "escrow").len(), of_kind(&early, "incident").len()), (6, 2, 2));
    for line in of_kind(&early, "audit") {
        assert!(line["decision"]["time_ms"].as_i64().is_some_and(|time| time < middle_ms), "{line}");
    }
    let inverted = test::call_service(
        &app,
        TestRequest::get().uri(&format!("/v1/compliance/export?from={middle_ms}&to={middle_ms}")).insert_header(("Authorization", officer.clone())).to_request(),
    )
    .await;
    assert_eq!(inverted.status(), StatusCode::BAD_REQUEST);

    // Scoping: other roles, and an officer of another tenant, get 403 before any line.
    let refused = [
        (token_for("sam", &["securityadmin"], TENANT), "/v1/compliance/export".to_owned()),
        (token_for("otto", &["operator", "sre", "approver"], TENANT), "/v1/compliance/export".to_owned()),
        (token_for("gina", &["complianceofficer"], "globex"), format!("/v1/compliance/export?tenant={TENANT}")),
    ];
    for (token, uri) in refused {
        let response = test::call_service(&app, TestRequest::get().uri(&uri).insert_header(("Authorization", token)).to_request()).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{uri}");
    }
    let globex = export!(app, "/v1/compliance/export", token_for("gina", &["complianceofficer"], "globex"));
    assert_eq!(globex, vec![json!({"kind": "end", "audit": 0, "escrow": 0, "incident": 0})]);

    // Every served export is in compliance_events, the actor filter only as a pseudonym.
    let events: Vec<LogEntry<Value>> = node.store.compliance_events().list(0, 10_000).expect("compliance log");
    let exports: Vec<&Value> = events.iter().map(|entry| &entry.value).filter(|event| event["event"] == "compliance_export").collect();
    assert_eq!(exports.len(), 5, "{exports:?}");
    assert!(exports.iter().any(|event| event["subject_ref"] == node.pseudonym(TENANT, OTHER).as_str()));
    assert!(exports.iter().all(|event| !event.to_string().contains(OTHER)), "{exports:?}");
    assert!(exports.iter().any(|event| event["tenant"] == "globex" && event["requested_by"] == "gina"));
}

#[actix_rt::test]
async fn export_pages_through_many_records() {
    let test_node = start_node(&[]);
    let node = test_node.node.clone();
    let app = test::init_service(axiom::http::app(node.clone(), test_node.authenticator.clone())).await;

    // More records than two pages, most of them in one millisecond, so page boundaries fall
    // between records of the same time.
    let base_ms = now_ms();
    let total = 2 * EXPORT_PAGE_ROWS + 137;
    let appends = (0..total).map(|index| {
        let time_ms = if index < EXPORT_PAGE_ROWS + 50 { base_ms } else { base_ms + 1 + (index % 7) as i64 };
        let entry = AuditEntry {
            shard: (index % 2) as u32,
            decision: DecisionFields {
                decision_id: format!("bulk-{index:05}"),
                tenant: TENANT.to_owned(),
                kid: test_node.kid.clone(),
                cert_id: format!("cert-{index}"),
                nonce: format!("nonce-{index}"),
                expires_at: base_ms + 60_000,
                sequence: None,
                sequence_stream: None,
                policy_set_id: None,
                intent_hash: "00".repeat(32),
                verdict: Verdict::Deny,
                reason_code: ReasonCode::PolicyNotFound,
                time_ms,
                escrow_id: None,
                facts: Value::Null,
                response: Value::Null,
            },
            personal: PersonalData { actor_id: format!("bulk-actor-{}", index % 3), params: json!({"index": index}) },
        };
        node.audit_log.append(entry)
    });
    for receipt in futures::future::join_all(appends).await {
        receipt.expect("append");
    }

    let officer = token_for("carol", &["complianceofficer"], TENANT);
    let lines = export!(app, "/v1/compliance/export", officer);
    assert_complete(&lines);
    let mut ids: Vec<String> = of_kind(&lines, "audit").iter().filter_map(|line| line["decision"]["decision_id"].as_str().map(str::to_owned)).collect();
    assert_eq!(ids.len(), total, "every record exactly once");
    let times: Vec<i64> = of_kind(&lines, "audit").iter().filter_map(|line| line["decision"]["time_ms"].as_i64()).collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "records come oldest first");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "no record repeated across pages");

    let one_actor = export!(app, "/v1/compliance/export?actor_id=bulk-actor-1", officer);
    assert_complete(&one_actor);
    assert_eq!(of_kind(&one_actor, "audit").len(), (0..total).filter(|index| index % 3 == 1).count());
}
