//! Property tests: tampering with a signed envelope is always caught with the right reason
//! code, and canonical JSON does not depend on key order, whitespace or escaping.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axiom_engine::canonical::{canonicalize, parse_json};
use axiom_engine::checks::{authenticate, CheckLimits};
use axiom_engine::crypto::{base64url_decode, base64url_encode, AgentKey, CertificateOptions};
use axiom_engine::keys::{KeyRecord, KeyRegistry};
use axiom_engine::model::ReasonCode;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

const NOW_MS: i64 = 1_750_000_000_000;

struct Fixture {
    registry: KeyRegistry,
    envelope: Value,
}

/// Returns one key and one signed envelope, shared by every case.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = AgentKey::generate();
        let registry = KeyRegistry::new();
        let record = KeyRecord::new("acme", key.key_pair().public_key(), vec!["bot-1".into()], 0);
        registry.register(record).unwrap();

        let intent = json!({
            "intent_id": "i-4711",
            "idempotency_key": "pay-inv-7",
            "actor": {"id": "bot-1", "tenant": "acme", "roles": ["FinanceOperator"]},
            "target": {"domain": "finance", "object_types": ["invoice"], "object_ids": ["inv-7"], "scope": "single"},
            "operation": {"name": "pay_invoice", "params": {"amount": "120.50", "currency": "EUR", "lines": 3}},
            "data_requirements": {"required_sources": ["bank"], "max_staleness_sec": 30, "uncertainty_budget": {"amount": "0.05"}},
            "time": {"request_time": NOW_MS - 1_000}
        });
        let options = CertificateOptions {
            issued_at_ms: Some(NOW_MS - 1_000),
            ttl_ms: 60_000,
            sequence: Some(12),
            policy_set_id: Some("finance-v18".into()),
            ..CertificateOptions::default()
        };
        let envelope = key.sign_envelope(&intent, &options).unwrap();
        Fixture { registry, envelope }
    })
}

fn check(envelope: &Value) -> ReasonCode {
    check_bytes(&serde_json::to_vec(envelope).unwrap())
}

fn check_bytes(bytes: &[u8]) -> ReasonCode {
    let fixture = fixture();
    match authenticate(bytes, &fixture.registry, &CheckLimits::default(), NOW_MS) {
        Ok(_) => ReasonCode::Ok,
        Err(rejection) => rejection.reason,
    }
}

/// Flips one bit of a value: a low bit of one character of a string (kept ASCII), or one of
/// the 53 low bits of a safe integer.
fn flip_bit(value: &Value, position: usize, bit: u32) -> Value {
    match value {
        Value::String(text) => {
            let mut bytes = text.clone().into_bytes();
            let index = position % bytes.len();
            bytes[index] ^= 1 << (bit % 7);
            Value::from(String::from_utf8(bytes).unwrap())
        }
        Value::Number(number) => {
            let integer = number.as_i64().unwrap();
            Value::from(integer ^ (1_i64 << (bit % 53)))
        }
        other => panic!("no bit to flip in {other}"),
    }
}

/// Paths of the intent's scalar members, with the reason a change there must give.
/// Tenant and actor select the key, so changing them fails the key binding first. Every other
/// listed change fails the intent hash. The scope is left out because it is an enum, and most
/// changes to it make the envelope malformed instead.
fn intent_fields() -> Vec<(Vec<&'static str>, ReasonCode)> {
    vec![
        (vec!["intent_id"], ReasonCode::IntentHashMismatch),
        (vec!["idempotency_key"], ReasonCode::IntentHashMismatch),
        (vec!["actor", "id"], ReasonCode::KeyInvalid),
        (vec!["actor", "tenant"], ReasonCode::KeyInvalid),
        (vec!["target", "domain"], ReasonCode::IntentHashMismatch),
        (vec!["operation", "name"], ReasonCode::IntentHashMismatch),
        (vec!["operation", "params", "amount"], ReasonCode::IntentHashMismatch),
        (vec!["operation", "params", "lines"], ReasonCode::IntentHashMismatch),
        (vec!["data_requirements", "max_staleness_sec"], ReasonCode::IntentHashMismatch),
        (vec!["data_requirements", "uncertainty_budget", "amount"], ReasonCode::IntentHashMismatch),
        (vec!["time", "request_time"], ReasonCode::IntentHashMismatch),
    ]
}

/// Certificate members, with the reason a change there must give. `kid` names an unknown key
/// and `alg` an unknown algorithm, both checked before the signature; every other member is
/// covered by the signature.
fn certificate_fields() -> Vec<(&'static str, ReasonCode)> {
    vec![
        ("cert_id", ReasonCode::BadSignature),
        ("intent_hash", ReasonCode::BadSignature),
        ("nonce", ReasonCode::BadSignature),
        ("issued_at", ReasonCode::BadSignature),
        ("expires_at", ReasonCode::BadSignature),
        ("sequence", ReasonCode::BadSignature),
        ("policy_set_id", ReasonCode::BadSignature),
        ("kid", ReasonCode::KeyInvalid),
        ("alg", ReasonCode::UnsupportedAlgorithm),
    ]
}

fn member_mut<'a>(value: &'a mut Value, path: &[&str]) -> &'a mut Value {
    path.iter().fold(value, |current, name| &mut current[*name])
}

#[test]
fn untouched_envelope_is_accepted() {
    assert_eq!(check(&fixture().envelope), ReasonCode::Ok);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn intent_bit_flip_is_rejected(field in 0usize..11, position in 0usize..64, bit in 0u32..64) {
        let (path, expected) = intent_fields().swap_remove(field);
        let mut envelope = fixture().envelope.clone();
        let target = member_mut(&mut envelope["intent"], &path);
        *target = flip_bit(target, position, bit);
        prop_assert_eq!(check(&envelope), expected, "field {:?}", path);
    }

    #[test]
    fn certificate_bit_flip_is_rejected(field in 0usize..9, position in 0usize..128, bit in 0u32..64) {
        let (name, expected) = certificate_fields().swap_remove(field);
        let mut envelope = fixture().envelope.clone();
        let target = &mut envelope["certificate"][name];
        *target = flip_bit(target, position, bit);
        let reason = check(&envelope);
        // A flipped nonce or hash character can leave the base64url or hex alphabet. The
        // signature still catches it, because it covers the text as sent.
        prop_assert_eq!(reason, expected, "field {}", name);
    }

    #[test]
    fn signature_bit_flip_is_bad_signature(bit in 0usize..512) {
        let mut envelope = fixture().envelope.clone();
        let mut signature = base64url_decode(envelope["certificate"]["sig"].as_str().unwrap()).unwrap();
        signature[bit / 8] ^= 1 << (bit % 8);
        envelope["certificate"]["sig"] = Value::from(base64url_encode(&signature));
        prop_assert_eq!(check(&envelope), ReasonCode::BadSignature);
    }

    #[test]
    fn any_request_bit_flip_is_rejected(bit in 0usize..100_000) {
        let mut bytes = serde_json::to_vec(&fixture().envelope).unwrap();
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        prop_assert_ne!(check_bytes(&bytes), ReasonCode::Ok);
    }
}

/// Values the protocol allows: null, booleans, safe integers, any string, and nested arrays
/// and objects.
fn protocol_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Writes `value` as JSON with members in a random order, random whitespace between tokens,
/// and characters randomly written as `\u` escapes.
fn write_scrambled(value: &Value, rng: &mut StdRng, out: &mut String) {
    const WHITESPACE: [&str; 5] = ["", " ", "\n", "\t", "\r\n  "];
    let space = |rng: &mut StdRng, out: &mut String| {
        out.push_str(WHITESPACE.choose(rng).copied().unwrap_or(""));
    };

    match value {
        Value::String(text) => write_scrambled_string(text, rng, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                space(rng, out);
                write_scrambled(item, rng, out);
                space(rng, out);
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut members: Vec<(&String, &Value)> = members.iter().collect();
            members.shuffle(rng);
            out.push('{');
            for (index, (name, member)) in members.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                space(rng, out);
                write_scrambled_string(name, rng, out);
                space(rng, out);
                out.push(':');
                space(rng, out);
                write_scrambled(member, rng, out);
            }
            space(rng, out);
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn write_scrambled_string(text: &str, rng: &mut StdRng, out: &mut String) {
    out.push('"');
    for character in text.chars() {
        let must_escape = character == '"' || character == '\\' || character < ' ';
        if must_escape || rng.gen_bool(0.25) {
            let mut units = [0u16; 2];
            for unit in character.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04X}"));
            }
        } else {
            out.push(character);
        }
    }
    out.push('"');
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn canonicalization_is_idempotent(value in protocol_value()) {
        let canonical = canonicalize(&value);
        let reparsed = parse_json(&canonical).unwrap();
        prop_assert_eq!(&reparsed, &value);
        prop_assert_eq!(canonicalize(&reparsed), canonical);
    }

    #[test]
    fn canonicalization_ignores_order_and_whitespace(value in protocol_value(), seed in any::<u64>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut scrambled = String::new();
        write_scrambled(&value, &mut rng, &mut scrambled);
        let parsed = parse_json(scrambled.as_bytes()).unwrap();
        prop_assert_eq!(canonicalize(&parsed), canonicalize(&value));
    }
}
