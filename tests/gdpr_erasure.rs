//! GDPR data subject requests over the real control plane: a subject access export, then an
//! erasure with a processing restriction, checked against every store of a real fjall
//! directory, the audit chain, the other subject's data and new decisions on the real
//! decision path (real signed envelopes, real Z3).

mod workflow_support;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use axiom_engine::crypto::CertificateOptions;
use axiom_engine::model::{ReasonCode, RollbackPlan, Verdict};
use axiom_storage::{LogEntry, PersonalView, Store, SubjectId};
use serde_json::{json, Value};
use workflow_support::*;

const OTHER: &str = "other-agent";
const OFFICER: &str = "carol";
/// Rows read per table when the test scans a store; far above what the test writes.
const SCAN_ROWS: usize = 100_000;

fn rollback_options() -> CertificateOptions {
    CertificateOptions {
        rollback_plan: Some(RollbackPlan { plan_type: "compensate".to_owned(), steps: vec![json!({"operation": "void"})] }),
        ..CertificateOptions::default()
    }
}

/// Sends one signed envelope twice; the second copy is a replay and opens an incident.
async fn replay_twice(test_node: &TestNode, actor: &str) {
    let envelope = test_node
        .agent
        .sign_envelope(&intent(actor, "refund", "20.00"), &rollback_options())
        .expect("sign");
    let bytes = serde_json::to_vec(&envelope).expect("encode");
    let first = test_node.node.decide(&bytes, axiom::node::Endpoint::HttpDecide).await;
    assert_eq!(first.verdict, Verdict::Allow, "{first:?}");
    let second = test_node.node.decide(&bytes, axiom::node::Endpoint::HttpDecide).await;
    assert_eq!(second.reason_code, ReasonCode::ReplayDetected, "{second:?}");
}

/// Lists every place of the store that contains `needle`, as `store/tenant/id` labels. Reads every
/// table with `list_all`, the settings history and the whole compliance log.
fn places_holding(store: &Store, needle: &str) -> Vec<String> {
    let mut places = Vec::new();
    let tables = [
        store.keys(),
        store.policy_versions(),
        store.escrows(),
        store.incidents(),
        store.sources(),
        store.budgets(),
        store.idempotency(),
    ];
    for table in tables {
        let rows: Vec<(String, String, Value)> = table.list_all(SCAN_ROWS).expect("scan table");
        for (tenant, id, value) in rows {
            if id.contains(needle) || value.to_string().contains(needle) {
                places.push(format!("{}/{tenant}/{id}", table.name()));
            }
        }
    }
    let history: Vec<LogEntry<Value>> = store.settings().history(0, SCAN_ROWS).expect("settings history");
    for entry in history {
        if entry.value.to_string().contains(needle) {
            places.push(format!("settings_history/{}", entry.id));
        }
    }
    let events: Vec<LogEntry<Value>> = store.compliance_events().list(0, SCAN_ROWS).expect("compliance log");
    for entry in events {
        if entry.value.to_string().contains(needle) {
            places.push(format!("compliance_events/{}", entry.id));
        }
    }
    places
}

fn compliance_events(store: &Store) -> Vec<Value> {
    let events: Vec<LogEntry<Value>> = store.compliance_events().list(0, SCAN_ROWS).expect("compliance log");
    events.into_iter().map(|entry| entry.value).collect()
}

#[actix_rt::test]
async fn erasure_pseudonymizes_and_restricts() {
    let test_node = start_node(&[]);
    let node = test_node.node.clone();
    let app = test::init_service(axiom::http::app(node.clone(), test_node.authenticator.clone())).await;

    // Decisions, escrows and incidents for the subject and for another actor.
    for actor in [ACTOR, OTHER] {
        let allowed = decide(&test_node, &intent(actor, "refund", "100.00")).await;
        assert_eq!(allowed.verdict, Verdict::Allow, "{allowed:?}");
        let escrowed = decide(&test_node, &intent(actor, "refund", "15000.00")).await;
        assert_eq!(escrowed.verdict, Verdict::Escrow, "{escrowed:?}");
        replay_twice(&test_node, actor).await;
    }
    let before = places_holding(&node.store, ACTOR);
    for store in ["escrows/", "incidents/", "idempotency/", "keys/"] {
        assert!(before.iter().any(|place| place.starts_with(store)), "no {store} row names the subject before erasure: {before:?}");
    }

    // Subject access export: only the tenant's compliance officer, as themself.
    let officer = token_for(OFFICER, &["complianceofficer"], TENANT);
    let export_uri = format!("/v1/gdpr/export?requested_by={OFFICER}&subject_id={ACTOR}");
    let refused = [
        (token_for(OFFICER, &["securityadmin"], TENANT), export_uri.clone(), "securityadmin"),
        (token_for(OFFICER, &["complianceofficer"], "globex"), format!("{export_uri}&tenant={TENANT}"), "officer of another tenant"),
        (officer.clone(), format!("/v1/gdpr/export?requested_by=mallory&subject_id={ACTOR}"), "requester other than the token's subject"),
    ];
    for (token, uri, label) in refused {
        let response = test::call_service(&app, TestRequest::get().uri(&uri).insert_header(("Authorization", token)).to_request()).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{label}");
    }
    let export: Value = test::call_and_read_body_json(
        &app,
        TestRequest::get().uri(&export_uri).insert_header(("Authorization", officer.clone())).to_request(),
    )
    .await;
    let audit = export["audit_records"].as_array().expect("audit records");
    assert_eq!(audit.len(), 3, "two ALLOW and one ESCROW of the subject: {export}");
    for record in audit {
        assert_eq!(record["personal"]["status"], "readable");
        assert_eq!(record["personal"]["actor_id"], ACTOR);
    }
    assert_eq!(export["escrows"].as_array().map(Vec::len), Some(1), "{export}");
    assert_eq!(export["incidents"].as_array().map(Vec::len), Some(1), "{export}");
    assert!(export["idempotency_entries"].as_array().is_some_and(|entries| !entries.is_empty()), "{export}");
    assert_eq!(export["keys"].as_array().map(Vec::len), Some(1), "{export}");
    assert_eq!(export["processing_restricted"], false);

    // Erasure with a processing restriction; a securityadmin may not erase.
    let denied = test::call_service(
        &app,
        TestRequest::post().uri("/v1/gdpr/erasure").insert_header(("Authorization", token_for(OFFICER, &["securityadmin"], TENANT))).set_json(json!({"subject_id": ACTOR})).to_request(),
    )
    .await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let report: Value = test::call_and_read_body_json(
        &app,
        TestRequest::post().uri("/v1/gdpr/erasure").insert_header(("Authorization", officer.clone())).set_json(json!({"subject_id": ACTOR, "restrict_processing": true})).to_request(),
    )
    .await;
    let pseudonym = node.pseudonym(TENANT, ACTOR);
    assert_eq!(report["subject_ref"], pseudonym.as_str(), "{report}");
    assert!(report["audit_keys_destroyed"].as_u64().is_some_and(|keys| keys >= 1), "{report}");
    assert_eq!(report["retained_keys"], json!([test_node.kid]), "{report}");
    assert_eq!(report["processing_restricted"], true);

    // No store contains the subject's id any more, apart from the key record it reports.
    let after = places_holding(&node.store, ACTOR);
    assert_eq!(after, vec![format!("keys/{TENANT}/{}", test_node.kid)], "places still naming the subject");
    let escrows: Vec<(String, String, Value)> = node.store.escrows().list_all(SCAN_ROWS).expect("escrows");
    assert!(escrows.iter().any(|(_, _, escrow)| escrow["requesting_actor"] == pseudonym.as_str()), "{escrows:?}");

    // The audit records stay, unreadable, and every chain still verifies.
    let erased = node.store.audit_by_subject(&SubjectId::new(TENANT, ACTOR), SCAN_ROWS).expect("audit by subject");
    assert_eq!(erased.len(), 3);
    for record in &erased {
        assert_eq!(record.personal, PersonalView::Erased);
        let text = serde_json::to_string(record).expect("encode record");
        assert!(!text.contains(ACTOR), "an erased record still names the subject: {text}");
    }
    let verified = axiom_storage::verify_store(&node.store).expect("verify");
    assert!(verified.is_intact(), "{:?}", verified.problems);

    // The export returns nothing readable about the subject.
    let export: Value = test::call_and_read_body_json(
        &app,
        TestRequest::get().uri(&export_uri).insert_header(("Authorization", officer.clone())).to_request(),
    )
    .await;
    for record in export["audit_records"].as_array().expect("audit records") {
        assert_eq!(record["personal"], json!({"status": "erased"}));
    }
    for section in ["escrows", "incidents", "idempotency_entries", "budget_entries", "settings_changes"] {
        assert_eq!(export[section], json!([]), "{section}");
    }
    assert_eq!(export["processing_restricted"], true);
    let stream = test::call_and_read_body(
        &app,
        TestRequest::get().uri(&format!("/v1/compliance/export?actor_id={ACTOR}")).insert_header(("Authorization", officer.clone())).to_request(),
    )
    .await;
    let lines: Vec<Value> = String::from_utf8_lossy(&stream).lines().map(|line| serde_json::from_str(line).expect("NDJSON line")).collect();
    assert_eq!(lines, vec![json!({"kind": "end", "audit": 0, "escrow": 0, "incident": 0})]);

    // The other subject is untouched.
    let other = node.store.audit_by_subject(&SubjectId::new(TENANT, OTHER), SCAN_ROWS).expect("audit by subject");
    assert_eq!(other.len(), 3);
    for record in &other {
        assert!(matches!(&record.personal, PersonalView::Readable { actor_id, .. } if actor_id == OTHER), "{record:?}");
    }
    let other_escrows: Vec<&Value> = escrows.iter().map(|(_, _, escrow)| escrow).filter(|escrow| escrow["requesting_actor"] == OTHER).collect();
    assert_eq!(other_escrows.len(), 1);
    assert_eq!(other_escrows[0]["status"], "PENDING");
    assert_eq!(other_escrows[0]["intent"]["actor"]["id"], OTHER);
    let incidents: Vec<(String, String, Value)> = node.store.incidents().list_all(SCAN_ROWS).expect("incidents");
    assert_eq!(incidents.iter().filter(|(_, _, incident)| incident["actor_id"] == OTHER).count(), 1);

    // compliance_events records the export and the erasure, by pseudonym, with the legal basis.
    let events = compliance_events(&node.store);
    let erasure = events.iter().find(|event| event["event"] == "gdpr_erasure").expect("erasure event");
    assert_eq!(erasure["subject_ref"], pseudonym.as_str());
    assert_eq!(erasure["requested_by"], OFFICER);
    assert_eq!(erasure["restrict_processing"], true);
    assert!(erasure["legal_basis"].as_str().is_some_and(|text| text.contains("Art. 17(3)")), "{erasure}");
    assert_eq!(events.iter().filter(|event| event["event"] == "gdpr_export").count(), 2);
    assert!(events.iter().any(|event| event["event"] == "processing_restriction" && event["subject_ref"] == pseudonym.as_str()));

    // The restriction stops new decisions for the subject, and only for it.
    let restricted = decide(&test_node, &intent(ACTOR, "refund", "100.00")).await;
    assert_eq!(restricted.verdict, Verdict::Deny, "{restricted:?}");
    assert_eq!(restricted.reason_code, ReasonCode::SubjectRestricted, "{restricted:?}");
    let unrestricted = decide(&test_node, &intent(OTHER, "refund", "100.00")).await;
    assert_eq!(unrestricted.verdict, Verdict::Allow, "{unrestricted:?}");
}

#[actix_rt::test]
async fn erasure_of_principal_rewrites_workflow_stores() {
    let test_node = start_node(&[]);
    let node = test_node.node.clone();
    let app = test::init_service(axiom::http::app(node.clone(), test_node.authenticator.clone())).await;
    let principal = "dana.approver";

    // The principal joins the approver pool, approves an escrow and changes a setting.
    let admin = token_for("admin-1", &["securityadmin"], TENANT);
    for who in [principal, "erin"] {
        let response = test::call_service(
            &app,
            TestRequest::put().uri(&format!("/v1/approvers/{who}")).insert_header(("Authorization", admin.clone())).set_json(json!({"roles": ["financemanager"]})).to_request(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let escrowed = decide(&test_node, &intent(ACTOR, "refund", "15000.00")).await;
    let escrow_id = escrowed.escrow.expect("escrow summary").escrow_id;
    let approved = test::call_service(
        &app,
        TestRequest::post().uri(&format!("/v1/escrow/{escrow_id}/approve")).insert_header(("Authorization", token_for(principal, &["approver"], TENANT))).to_request(),
    )
    .await;
    assert_eq!(approved.status(), StatusCode::OK);
    let changed = test::call_service(
        &app,
        TestRequest::patch().uri("/v1/settings").insert_header(("Authorization", token_for(principal, &["sre"], "*"))).set_json(json!({"CLOCK_SKEW_MS": 2500, "reason": format!("requested by {principal}.")})).to_request(),
    )
    .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let before = places_holding(&node.store, principal);
    assert!(before.iter().any(|place| place.starts_with("escrows/")), "{before:?}");
    assert!(before.iter().any(|place| place.starts_with("settings_history/")), "{before:?}");

    let officer = token_for(OFFICER, &["complianceofficer"], TENANT);
    let report: Value = test::call_and_read_body_json(
        &app,
        TestRequest::post().uri("/v1/gdpr/erasure").insert_header(("Authorization", officer)).set_json(json!({"subject_id": principal})).to_request(),
    )
    .await;
    let pseudonym = node.pseudonym(TENANT, principal);
    assert_eq!(report["subject_ref"], pseudonym.as_str(), "{report}");
    assert_eq!(report["pseudonymized"]["settings_history"], 1, "{report}");
    assert_eq!(report["pseudonymized"]["approver_pool"], 1, "{report}");
    assert_eq!(report["processing_restricted"], false, "{report}");

    // The mutable stores hold only the pseudonym; compliance_events keeps the earlier
    // control-plane entries, which are the non-erasable record.
    let after = places_holding(&node.store, principal);
    assert!(after.iter().all(|place| place.starts_with("compliance_events/")), "{after:?}");
    let escrow: Value = node.store.escrows().get(TENANT, &escrow_id).expect("read").expect("escrow");
    assert_eq!(escrow["approvals"][0]["approver"], pseudonym.as_str(), "{escrow}");
    let history: Vec<LogEntry<Value>> = node.store.settings().history(0, SCAN_ROWS).expect("history");
    assert_eq!(history[0].value["changed_by"], pseudonym.as_str());
    assert_eq!(history[0].value["reason"], format!("requested by {pseudonym}."));
    assert_eq!(node.workflow.approver_roles(TENANT, principal), Vec::<String>::new());
    assert_eq!(node.workflow.approver_roles(TENANT, &pseudonym), vec!["financemanager".to_owned()]);
    assert_eq!(node.workflow.approver_roles(TENANT, "erin"), vec!["financemanager".to_owned()]);
    assert!(!node.is_restricted(TENANT, principal));
    let erasure = compliance_events(&node.store).into_iter().find(|event| event["event"] == "gdpr_erasure").expect("erasure event");
    assert!(!erasure.to_string().contains(principal), "{erasure}");
}

#[actix_rt::test]
async fn erasure_rejects_invalid_subjects() {
    let test_node = start_node(&[]);
    let app = test::init_service(axiom::http::app(test_node.node.clone(), test_node.authenticator.clone())).await;
    let officer = token_for(OFFICER, &["complianceofficer"], TENANT);
    for body in [json!({"subject_id": ""}), json!({"subject_id": "*"}), json!({"subject_id": "psn-0011"}), json!({"subject": ACTOR})] {
        let response = test::call_service(
            &app,
            TestRequest::post().uri("/v1/gdpr/erasure").insert_header(("Authorization", officer.clone())).set_json(body.clone()).to_request(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let events: Vec<LogEntry<Value>> = test_node.node.store.compliance_events().list(0, SCAN_ROWS).expect("compliance log");
    assert!(events.iter().all(|entry| entry.value["event"] != "gdpr_erasure"));
}
