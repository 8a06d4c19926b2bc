//! Policy versions over HTTP (separation of duties, the Z3 publish check, the next decision
//! selecting the new version) and audit replay over a few hundred recorded decisions.

mod workflow_support;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use axiom_engine::model::Verdict;
use serde_json::{json, Value};
use workflow_support::*;

const POLICY_V2: &str = r#"policyset finance v2:
  domain finance
  approvals required 2
  approvals roles ["financemanager"]
  approvals sod true
  approvals expires_in 4h
  escrow when action.name in ["pay_invoice", "refund"] and action.params.amount > 10000

axiom Fresh_bank_feed:
  when action.name in ["pay_invoice", "refund"]
  require source("bank").age_sec <= 30

axiom Refund_cap:
  when action.name == "refund"
  require action.params.amount <= 100
"#;

const CONTRADICTORY: &str = r#"policyset finance v3:
  domain finance
axiom Impossible:
  when action.name == "refund"
  require action.params.amount > 10 and action.params.amount < 5
"#;

/// Creates a version from `$source` as carol, submits it, checks that carol cannot approve
/// it, and approves it as dave and erin; evaluates to the version id.
macro_rules! create_and_approve {
    ($app:expr, $source:expr) => {{
    let author = token_for("carol", &["complianceofficer"], TENANT);
    let created: Value = test::call_and_read_body_json($app, TestRequest::post().uri("/v1/policies").insert_header(("Authorization", author.clone())).set_json(json!({"source": $source})).to_request()).await;
    let id = created["id"].as_str().expect("id").to_owned();
    let submitted = test::call_service($app, TestRequest::post().uri(&format!("/v1/policies/{id}/submit")).insert_header(("Authorization", author.clone())).to_request()).await;
    assert_eq!(submitted.status(), StatusCode::OK);
    let own = test::call_service($app, TestRequest::post().uri(&format!("/v1/policies/{id}/approve")).insert_header(("Authorization", author)).to_request()).await;
    assert_eq!(own.status(), StatusCode::FORBIDDEN, "the author approved their own version");
    for approver in ["dave", "erin"] {
        let token = token_for(approver, &["complianceofficer"], TENANT);
        let response = test::call_service($app, TestRequest::post().uri(&format!("/v1/policies/{id}/approve")).insert_header(("Authorization", token)).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    id
    }};
}

#[actix_rt::test]
async fn lifecycle_publish_and_replay() {
    let test_node = start_node(&[]);
    let app = test::init_service(axiom::http::app(test_node.node.clone(), test_node.authenticator.clone())).await;
    let officer = token_for("dave", &["complianceofficer"], TENANT);

    // A text that does not compile gives line and column.
    let invalid = test::call_service(&app, TestRequest::post().uri("/v1/policies").insert_header(("Authorization", officer.clone())).set_json(json!({"source": "policyset x v1:\n  domain\n"})).to_request()).await;
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
    let body: Value = test::read_body_json(invalid).await;
    assert!(body["diagnostics"][0]["line"].as_u64().is_some(), "{body}");

    // A few hundred decisions of mixed verdicts under v1.
    let mut decided = Vec::new();
    for index in 0..240 {
        let (operation, amount) = match index % 4 {
            0 => ("refund", "50.00"),
            1 => ("refund", "15000.00"),
            2 => ("refund", "60000.00"),
            _ => ("get_invoice", "1"),
        };
        let response = decide(&test_node, &intent(ACTOR, operation, amount)).await;
        decided.push((response.decision_id.clone(), response.verdict));
    }
    let verdicts: std::collections::BTreeSet<String> = decided.iter().map(|(_, verdict)| verdict.to_string()).collect();
    assert!(verdicts.len() >= 3, "verdicts {verdicts:?}");

    let auditor = token_for("dave", &["complianceofficer"], TENANT);
    let mut drift = 0;
    for (id, _) in &decided {
        let report: Value = test::call_and_read_body_json(&app, TestRequest::post().uri(&format!("/v1/audit/{id}/replay")).insert_header(("Authorization", auditor.clone())).to_request()).await;
        assert!(report["drift"].is_boolean(), "{report}");
        if report["drift"] == true {
            drift += 1;
        }
    }
    assert_eq!(drift, 0, "replay drifted on an unchanged build");

    // A contradictory axiom blocks publication.
    let blocked_id = create_and_approve!(&app, CONTRADICTORY);
    let blocked = test::call_service(&app, TestRequest::post().uri(&format!("/v1/policies/{blocked_id}/publish")).insert_header(("Authorization", officer.clone())).to_request()).await;
    assert_eq!(blocked.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Publish v2 (refund cap 100): the next decision uses it.
    let v2 = create_and_approve!(&app, POLICY_V2);
    let published = test::call_service(&app, TestRequest::post().uri(&format!("/v1/policies/{v2}/publish")).insert_header(("Authorization", officer.clone())).to_request()).await;
    assert_eq!(published.status(), StatusCode::OK);
    let after = decide(&test_node, &intent(ACTOR, "refund", "50.00")).await;
    assert_eq!(after.verdict, Verdict::Allow);
    let capped = decide(&test_node, &intent(ACTOR, "refund", "500.00")).await;
    assert_eq!(capped.verdict, Verdict::Deny, "{capped:?}");
    let record: Value = test::call_and_read_body_json(&app, TestRequest::get().uri(&format!("/v1/audit/{}", capped.decision_id)).insert_header(("Authorization", auditor.clone())).to_request()).await;
    assert_eq!(record["decision"]["policy_set_id"], "finance@v2");

    // Replaying the old decisions against the current (stricter) version shows drift exactly
    // where the new cap bites; against the recorded version, none.
    let allowed_refund = decided.iter().find(|(id, verdict)| *verdict == Verdict::Allow && !id.is_empty()).expect("an allowed decision");
    let recorded: Value = test::call_and_read_body_json(&app, TestRequest::post().uri(&format!("/v1/audit/{}/replay", allowed_refund.0)).insert_header(("Authorization", auditor.clone())).to_request()).await;
    assert_eq!(recorded["drift"], false);
    let mut current_drift = 0;
    for (id, _) in decided.iter().step_by(4).take(10).chain(decided.iter().skip(1).step_by(4).take(10)) {
        let report: Value = test::call_and_read_body_json(&app, TestRequest::post().uri(&format!("/v1/audit/{id}/replay?policy=current")).insert_header(("Authorization", auditor.clone())).to_request()).await;
        if report["drift"] == true {
            current_drift += 1;
        }
    }
    assert_eq!(current_drift, 10, "only the 15000 refunds (escrowed under v1, denied under v2's cap) drift");
}
