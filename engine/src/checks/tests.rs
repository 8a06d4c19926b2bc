//! Each stateless check, in order, with the reason code it must give.

use super::*;
use crate::crypto::{
    base64url_encode, certificate_signing_input, intent_hash_hex, AgentKey, CertificateOptions,
};
use crate::keys::{KeyRecord, KeyRegistry};
use crate::model::ReasonCode;
use serde_json::{json, Map, Value};

const NOW_MS: i64 = 1_750_000_000_000;

fn intent() -> Value {
    json!({
        "intent_id": "i-1",
        "idempotency_key": "idem-1",
        "actor": {"id": "bot-1", "tenant": "acme", "roles": ["FinanceOperator"]},
        "target": {"domain": "finance", "object_types": ["invoice"], "object_ids": ["inv-7"], "scope": "single"},
        "operation": {"name": "pay_invoice", "params": {"amount": "120.50", "currency": "EUR"}},
        "data_requirements": {"required_sources": ["bank"], "max_staleness_sec": 30, "uncertainty_budget": {}},
        "time": {"request_time": NOW_MS - 1_000}
    })
}

struct Fixture {
    key: AgentKey,
    registry: KeyRegistry,
    limits: CheckLimits,
}

fn fixture() -> Fixture {
    let key = AgentKey::generate();
    let registry = KeyRegistry::new();
    let record = KeyRecord::new("acme", key.key_pair().public_key(), vec!["bot-1".into()], 0);
    registry.register(record).unwrap();
    Fixture {
        key,
        registry,
        limits: CheckLimits::default(),
    }
}

fn options() -> CertificateOptions {
    CertificateOptions {
        issued_at_ms: Some(NOW_MS - 1_000),
        ttl_ms: 60_000,
        ..CertificateOptions::default()
    }
}

impl Fixture {
    fn sign(&self, intent: &Value, options: &CertificateOptions) -> Value {
        self.key.sign_envelope(intent, options).unwrap()
    }

    fn check(&self, envelope: &Value) -> Result<AuthenticatedRequest, Rejection> {
        self.check_bytes(&serde_json::to_vec(envelope).unwrap())
    }

    fn check_bytes(&self, bytes: &[u8]) -> Result<AuthenticatedRequest, Rejection> {
        authenticate(bytes, &self.registry, &self.limits, NOW_MS)
    }

    /// Replaces certificate members and signs the result again with the fixture key.
    fn resign(&self, envelope: &mut Value, changes: &[(&str, Value)]) {
        let certificate = envelope["certificate"].as_object_mut().unwrap();
        for (name, value) in changes {
            certificate.insert((*name).to_owned(), value.clone());
        }
        let signature = self.key.key_pair().sign(&certificate_signing_input(certificate));
        certificate.insert("sig".into(), Value::from(base64url_encode(&signature)));
    }
}

fn reason(result: Result<AuthenticatedRequest, Rejection>) -> ReasonCode {
    match result {
        Ok(_) => ReasonCode::Ok,
        Err(rejection) => rejection.reason,
    }
}

#[test]
fn valid_envelope_authenticates() {
    let fixture = fixture();
    let envelope = fixture.sign(&intent(), &options());
    let request = fixture.check(&envelope).unwrap();
    assert_eq!(hex::encode(request.intent_hash), intent_hash_hex(&intent()));
    assert_eq!(request.key.kid, fixture.key.key_pair().kid());
    assert_eq!(request.envelope.intent.actor.id, "bot-1");
}

#[test]
fn oversized_request_is_rejected_first() {
    let mut fixture = fixture();
    let bytes = serde_json::to_vec(&fixture.sign(&intent(), &options())).unwrap();
    fixture.limits.request_bytes_max = bytes.len() - 1;
    let rejection = fixture.check_bytes(&bytes).unwrap_err();
    assert_eq!(rejection.reason, ReasonCode::RequestTooLarge);
    assert!(!rejection.is_authenticated());
    fixture.limits.request_bytes_max = bytes.len();
    assert!(fixture.check_bytes(&bytes).is_ok());
}

#[test]
fn parse_failures_have_their_codes() {
    let fixture = fixture();
    assert_eq!(reason(fixture.check_bytes(b"{not json")), ReasonCode::MalformedRequest);
    assert_eq!(reason(fixture.check_bytes(b"[]")), ReasonCode::MalformedRequest);
    assert_eq!(reason(fixture.check_bytes(b"{\"a\":1.5}")), ReasonCode::FloatNotAllowed);

    let mut with_float = intent();
    with_float["operation"]["params"]["amount"] = json!(120.5);
    let text = serde_json::to_string(&json!({"intent": with_float, "certificate": {}})).unwrap();
    assert_eq!(reason(fixture.check_bytes(text.as_bytes())), ReasonCode::FloatNotAllowed);
}

#[test]
fn missing_or_unknown_fields_are_malformed() {
    let fixture = fixture();
    let mut envelope = fixture.sign(&intent(), &options());
    envelope["intent"].as_object_mut().unwrap().remove("intent_id");
    let rejection = fixture.check(&envelope).unwrap_err();
    assert_eq!(rejection.reason, ReasonCode::MalformedRequest);
    assert!(rejection.detail.contains("intent_id"), "{}", rejection.detail);

    let mut envelope = fixture.sign(&intent(), &options());
    envelope["certificate"]["extra"] = json!(1);
    assert_eq!(reason(fixture.check(&envelope)), ReasonCode::MalformedRequest);
}

#[test]
fn other_algorithms_are_unsupported() {
    let fixture = fixture();
    let mut envelope = fixture.sign(&intent(), &options());
    fixture.resign(&mut envelope, &[("alg", json!("rsa"))]);
    assert_eq!(reason(fixture.check(&envelope)), ReasonCode::UnsupportedAlgorithm);
}

#[test]
fn key_binding_is_enforced_before_the_signature() {
    let fixture = fixture();

    let mut other_tenant = intent();
    other_tenant["actor"]["tenant"] = json!("globex");
    let envelope = fixture.sign(&other_tenant, &options());
    let rejection = fixture.check(&envelope).unwrap_err();
    assert_eq!(rejection.reason, ReasonCode::KeyInvalid);
    assert!(rejection.detail.contains("tenant"), "{}", rejection.detail);

    let mut other_actor = intent();
    other_actor["actor"]["id"] = json!("bot-2");
    let envelope = fixture.sign(&other_actor, &options());
    assert_eq!(reason(fixture.check(&envelope)), ReasonCode::KeyInvalid);

    let stranger = AgentKey::generate();
    let envelope = stranger.sign_envelope(&intent(), &options()).unwrap();
    assert_eq!(reason(fixture.check(&envelope)), ReasonCode::KeyInvalid);

    fixture.registry.revoke(fixture.key.key_pair().kid(), NOW_MS - 10).unwrap();
    let envelope = fixture.sign(&intent(), &options());
    let rejection = fixture.check(&envelope).unwrap_err();
    assert_eq!(rejection.reason, ReasonCode::KeyInvalid);
    assert!(rejection.detail.contains("revoked"), "{}", rejection.detail);
}

#[test]
fn signature_by_another_key_is_bad() {
    let fixture = fixture();
    let mut envelope = fixture.sign(&intent(), &options());
    let forged = AgentKey::generate()
        .sign_envelope(&intent(), &options())
        .unwrap();
    envelope["certificate"]["sig"] = forged["certificate"]["sig"].clone();
    let rejection = fixture.check(&envelope).unwrap_err();
    assert_eq!(rejection.reason, ReasonCode::BadSignature);
    assert!(!rejection.is_authenticated());

    envelope["certificate"]["sig"] = json!("not base64!");
    assert_eq!(reason(fixture.check(&envelope)), ReasonCode::BadSignature);
}

#[test]
fn changed_intent_gives_hash_mismatch() {
    let fixture = fixture();
    let mut envelope = fixture.sign(&intent(), &options());
    envelope["intent"]["operation"]["params"]["amount"] = json!("99999.00");
    let rejection = fixture.check(&envelope).unwrap_err();
    assert_eq!(rejection.reason, ReasonCode::IntentHashMismatch);
    assert!(!rejection.is_authenticated());
}

#[test]
fn time_checks_apply_skew_and_ttl() {
    let fixture = fixture();
    let skew = i64::try_from(fixture.limits.clock_skew_ms).unwrap();
    let cases: [(i64, u64, ReasonCode); 6] = [
        (NOW_MS - 60_000 - skew, 60_000, ReasonCode::Ok),
        (NOW_MS - 60_001 - skew, 60_000, ReasonCode::CertExpired),
        (NOW_MS + skew, 60_000, ReasonCode::Ok),
        (NOW_MS + skew + 1, 60_000, ReasonCode::CertNotYetValid),
        (NOW_MS, 300_000, ReasonCode::Ok),
        (NOW_MS, 300_001, ReasonCode::CertTtlExceeded),
    ];
    for (issued_at, ttl_ms, expected) in cases {
        let options = CertificateOptions {
            issued_at_ms: Some(issued_at),
            ttl_ms,
            ..CertificateOptions::default()
        };
        let envelope = fixture.sign(&intent(), &options);
        let result = fixture.check(&envelope);
        assert_eq!(reason(result.clone()), expected, "issued_at {issued_at}, ttl {ttl_ms}");
        if let Err(rejection) = result {
            assert!(rejection.is_authenticated(), "time checks follow the signature");
        }
    }
}

#[test]
fn zero_acceptance_ttl_rejects_everything() {
    let mut fixture = fixture();
    fixture.limits.acceptance_ttl_ms = 0;
    let envelope = fixture.sign(&intent(), &options());
    assert_eq!(reason(fixture.check(&envelope)), ReasonCode::CertTtlExceeded);
}

#[test]
fn empty_validity_window_is_expired() {
    let fixture = fixture();
    let mut envelope = fixture.sign(&intent(), &options());
    fixture.resign(&mut envelope, &[("expires_at", json!(NOW_MS - 1_000))]);
    assert_eq!(reason(fixture.check(&envelope)), ReasonCode::CertExpired);
}

#[test]
fn bad_nonce_is_malformed_and_authenticated() {
    let fixture = fixture();
    for nonce in [base64url_encode(&[7u8; 15]), base64url_encode(&[7u8; 65]), "a+b".to_owned()] {
        let mut envelope = fixture.sign(&intent(), &options());
        fixture.resign(&mut envelope, &[("nonce", Value::from(nonce.clone()))]);
        let rejection = fixture.check(&envelope).unwrap_err();
        assert_eq!(rejection.reason, ReasonCode::MalformedRequest, "{nonce}");
        let request = rejection.authenticated_request().expect("nonce is checked after the signature");
        assert_eq!(request.key.kid, fixture.key.key_pair().kid());
    }
    let mut envelope = fixture.sign(&intent(), &options());
    fixture.resign(&mut envelope, &[("nonce", Value::from(base64url_encode(&[7u8; 64])))]);
    assert!(fixture.check(&envelope).is_ok());
}

#[test]
fn optional_certificate_members_are_signed() {
    let fixture = fixture();
    let options = CertificateOptions {
        sequence: Some(41),
        policy_set_id: Some("finance-v18".into()),
        ..options()
    };
    let envelope = fixture.sign(&intent(), &options);
    let request = fixture.check(&envelope).unwrap();
    assert_eq!(request.envelope.certificate.sequence, Some(41));

    for (name, value) in [("sequence", json!(42)), ("policy_set_id", json!("finance-v19"))] {
        let mut changed = envelope.clone();
        changed["certificate"][name] = value;
        assert_eq!(reason(fixture.check(&changed)), ReasonCode::BadSignature, "{name}");
    }
    let mut removed = envelope.clone();
    let certificate: &mut Map<String, Value> = removed["certificate"].as_object_mut().unwrap();
    certificate.remove("sequence");
    assert_eq!(reason(fixture.check(&removed)), ReasonCode::BadSignature);
}
