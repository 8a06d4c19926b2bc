//! The operators' key-leak and replay procedures, end to end over the control plane and
//! `POST /v1/decide` on a real node: revoking a kid makes its next request KEY_INVALID, an
//! acceptance TTL of 0 rejects every certificate, and replays show up as one deduplicated
//! incident.

mod http_support;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use axiom_engine::crypto::{AgentKey, CertificateOptions};
use http_support::*;
use serde_json::{json, Value};

const POLICY: &str = include_str!("../src/node/defaults/finance.policy");

macro_rules! call_json {
    ($app:expr, $request:expr) => {{
        let response = test::call_service($app, $request.to_request()).await;
        let status = response.status();
        let body: Value = serde_json::from_slice(&test::read_body(response).await).unwrap_or(Value::Null);
        (status, body)
    }};
}

fn register_body(agent: &AgentKey) -> Value {
    json!({
        "kid": agent.key_pair().kid(),
        "public_key": agent.key_pair().public_key().to_base64url(),
        "allowed_actors": ["bot-1"],
    })
}

fn envelope(agent: &AgentKey) -> Value {
    agent
        .sign_envelope(&intent(TENANT, "bot-1"), &CertificateOptions::default())
        .expect("signed envelope")
}

#[actix_rt::test]
async fn key_leak_and_replay_procedure() {
    let node = start_node();
    node.node
        .publish_policy_directly(TENANT, POLICY, "policy-author")
        .expect("policy publishes");
    let app = test::init_service(axiom::http::app(node.node.clone(), node.authenticator.clone())).await;
    let admin = format!("Bearer {}", token("securityadmin", TENANT));
    let operator = format!("Bearer {}", token("operator", TENANT));
    let platform_sre = format!("Bearer {}", token("sre", "*"));

    let agent = AgentKey::generate();
    let kid = agent.key_pair().kid().to_owned();
    let (status, _) = call_json!(&app, TestRequest::post().uri("/v1/keys").insert_header(("Authorization", admin.clone())).set_json(register_body(&agent)));
    assert_eq!(status, StatusCode::CREATED);

    // The policy reads source("bank"); a fresh event keeps the first decision from deferring,
    // because a DEFER does not consume the nonce.
    let bank = json!({"tenant": TENANT, "domain": "finance", "source": "bank", "event_time_ms": axiom::http::unix_now_ms()});
    let (status, _) = call_json!(&app, TestRequest::post().uri("/v1/sources/events").insert_header(("Authorization", operator.clone())).set_json(bank));
    assert_eq!(status, StatusCode::ACCEPTED);

    // A first request is decided normally and consumes its nonce.
    let first = envelope(&agent);
    let decide = |body: &Value| {
        TestRequest::post()
            .uri("/v1/decide")
            .insert_header(("Authorization", operator.clone()))
            .set_json(body.clone())
    };
    let (status, answer) = call_json!(&app, decide(&first));
    assert_eq!(status, StatusCode::OK);
    let first_reason = answer["reason_code"].as_str().unwrap_or_default().to_owned();
    assert!(
        !["KEY_INVALID", "BAD_SIGNATURE", "REPLAY_DETECTED", "MALFORMED_REQUEST"].contains(&first_reason.as_str())
            && answer["verdict"] != "DEFER",
        "first request was rejected: {answer}"
    );

    // Replays: the same envelope again, four times.
    for attempt in 0..4 {
        let (_, replay) = call_json!(&app, decide(&first));
        assert_eq!(replay["reason_code"], "REPLAY_DETECTED", "replay {attempt}: {replay}");
        assert_eq!(replay["verdict"], "DENY");
    }

    // Runbook: filter incidents by reason_code=REPLAY_DETECTED.
    let (status, incidents) = call_json!(&app, TestRequest::get().uri("/v1/incidents?reason_code=REPLAY_DETECTED").insert_header(("Authorization", admin.clone())));
    assert_eq!(status, StatusCode::OK);
    let incidents = incidents.as_array().cloned().unwrap_or_default();
    assert_eq!(incidents.len(), 1, "replays are deduplicated into one incident: {incidents:?}");
    let incident = &incidents[0];
    assert_eq!(incident["actor_id"], "bot-1");
    assert_eq!(incident["kid"], kid.as_str(), "the incident names the replayed key");
    assert_eq!(incident["status"], "OPEN");
    assert!(incident["count"].as_u64().unwrap_or(0) >= 4, "count {}", incident["count"]);
    let (_, bad_signature) = call_json!(&app, TestRequest::get().uri("/v1/incidents?reason_code=BAD_SIGNATURE").insert_header(("Authorization", admin.clone())));
    assert_eq!(bad_signature, json!([]));

    // Acknowledge, resolve, and nothing after that.
    let incident_uri = format!("/v1/incidents/{}", incident["id"].as_str().unwrap_or_default());
    for (target, want) in [("RESOLVED", StatusCode::CONFLICT), ("ACKNOWLEDGED", StatusCode::OK), ("ACKNOWLEDGED", StatusCode::CONFLICT), ("RESOLVED", StatusCode::OK), ("OPEN", StatusCode::CONFLICT)] {
        let (status, body) = call_json!(&app, TestRequest::patch().uri(&incident_uri).insert_header(("Authorization", admin.clone())).set_json(json!({"status": target})));
        assert_eq!(status, want, "move to {target}: {body}");
    }

    // Runbook: revoke the kid; its next request is KEY_INVALID.
    let (status, revoked) = call_json!(&app, TestRequest::patch().uri(&format!("/v1/keys/{kid}")).insert_header(("Authorization", admin.clone())).set_json(json!({"status": "revoked"})));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["status"], "revoked");
    let (_, after_revoke) = call_json!(&app, decide(&envelope(&agent)));
    assert_eq!(after_revoke["reason_code"], "KEY_INVALID", "{after_revoke}");

    // Revoking again is idempotent, so a repeated runbook script succeeds: 200 and the
    // record unchanged.
    let (status, again) = call_json!(&app, TestRequest::patch().uri(&format!("/v1/keys/{kid}")).insert_header(("Authorization", admin.clone())).set_json(json!({"status": "revoked"})));
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, revoked);

    // The request signed with the revoked key opened a KEY_INVALID incident naming that key.
    let (_, key_invalid) = call_json!(&app, TestRequest::get().uri("/v1/incidents?reason_code=KEY_INVALID").insert_header(("Authorization", admin.clone())));
    let key_invalid = key_invalid.as_array().cloned().unwrap_or_default();
    assert_eq!(key_invalid.len(), 1, "{key_invalid:?}");
    assert_eq!(key_invalid[0]["kid"], kid.as_str());

    // Runbook: rotate to new key material; the new key signs again.
    let rotated = AgentKey::generate();
    let (status, body) = call_json!(&app, TestRequest::post().uri("/v1/keys").insert_header(("Authorization", admin.clone())).set_json(register_body(&rotated)));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, fresh) = call_json!(&app, decide(&envelope(&rotated)));
    assert_ne!(fresh["reason_code"], "KEY_INVALID", "{fresh}");
    assert_ne!(fresh["reason_code"], "CERT_TTL_EXCEEDED", "{fresh}");

    // Runbook: invalidate active certificates with ACCEPTANCE_TTL_MS=0.
    let (status, settings) = call_json!(&app, TestRequest::patch().uri("/v1/settings").insert_header(("Authorization", platform_sre.clone())).set_json(json!({"ACCEPTANCE_TTL_MS": 0, "reason": "key leak"})));
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(settings["ACCEPTANCE_TTL_MS"], 0);
    for _ in 0..3 {
        let (_, rejected) = call_json!(&app, decide(&envelope(&rotated)));
        assert_eq!(rejected["reason_code"], "CERT_TTL_EXCEEDED", "{rejected}");
    }

    // The change is audited with who made it and the old value.
    let (_, history) = call_json!(&app, TestRequest::get().uri("/v1/settings/history").insert_header(("Authorization", platform_sre.clone())));
    let last = history.as_array().and_then(|entries| entries.last()).cloned().unwrap_or(Value::Null);
    assert_eq!(last["value"]["changed_by"], "sre-user");
    assert_eq!(last["value"]["old"]["acceptance_ttl_ms"], 300_000);
    assert_eq!(last["value"]["new"]["acceptance_ttl_ms"], 0);
    assert_eq!(last["value"]["reason"], "key leak");

    // The scrape counts what happened.
    let scrape = test::call_and_read_body(&app, TestRequest::get().uri("/metrics").to_request()).await;
    let scrape = String::from_utf8_lossy(&scrape);
    assert!(scrape.contains("axiom_decisions_total{verdict=\"DENY\",reason_code=\"REPLAY_DETECTED\"} 4"), "{scrape}");
    assert!(scrape.contains("axiom_incidents_opened_total{reason_code=\"REPLAY_DETECTED\"} 1"), "{scrape}");
}
