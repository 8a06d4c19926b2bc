//! Checks the worked example in `docs/PROTOCOL.md` against the code, so the document cannot
//! drift from what the engine computes.
//!
//! Each example value in the document follows a marker line `<!-- example:NAME -->` and sits in
//! the fenced block right after it. Hex blocks may wrap; whitespace is removed before use.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axiom_engine::canonical::{canonicalize, parse_json};
use axiom_engine::checks::{authenticate, CheckLimits};
use axiom_engine::crypto::{
    certificate_signing_input, intent_hash, AgentKey, CertificateOptions, KeyPair,
    INTENT_HASH_PREFIX,
};
use axiom_engine::keys::{KeyRecord, KeyRegistry};
use axiom_engine::model::Certificate;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

fn protocol_document() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/PROTOCOL.md");
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Returns the contents of the fenced block after `<!-- example:NAME -->`.
fn example(document: &str, name: &str) -> String {
    let marker = format!("<!-- example:{name} -->");
    let after_marker = document
        .split_once(&marker)
        .unwrap_or_else(|| panic!("docs/PROTOCOL.md has no {marker}"))
        .1;
    let block_start = after_marker.find("```").expect("a fenced block after the marker");
    let after_fence = &after_marker[block_start + 3..];
    let body_start = after_fence.find('\n').expect("a newline after the opening fence") + 1;
    let body_end = after_fence[body_start..]
        .find("```")
        .expect("a closing fence");
    after_fence[body_start..body_start + body_end].trim_end().to_owned()
}

fn compact(text: &str) -> String {
    text.chars().filter(|character| !character.is_whitespace()).collect()
}

#[test]
fn worked_example_matches_the_code() {
    let document = protocol_document();
    let mut mismatches = Vec::new();
    let mut expect = |name: &str, documented: String, computed: String| {
        if documented != computed {
            mismatches.push(format!("{name}:\n  document: {documented}\n  code:     {computed}"));
        }
    };

    let secret: [u8; 32] = hex::decode(compact(&example(&document, "secret_key_hex")))
        .unwrap()
        .try_into()
        .unwrap();
    let pair = KeyPair::from_secret_bytes(&secret);
    expect(
        "public_key_base64url",
        compact(&example(&document, "public_key_base64url")),
        pair.public_key().to_base64url(),
    );
    expect("kid", compact(&example(&document, "kid")), pair.kid().to_owned());

    let intent = parse_json(example(&document, "intent_json").as_bytes()).unwrap();
    let canonical_intent = canonicalize(&intent);
    expect(
        "canonical_intent_hex",
        compact(&example(&document, "canonical_intent_hex")),
        hex::encode(&canonical_intent),
    );

    // The hash is computed here from the documented layout, independently of the crate's
    // helper, and then compared with the helper too.
    let mut hash_input = b"axiom/intent/v1\n".to_vec();
    assert_eq!(hash_input, INTENT_HASH_PREFIX);
    hash_input.extend_from_slice(&canonical_intent);
    let layout_hash = hex::encode(Sha256::digest(&hash_input));
    expect("intent_hash_hex", compact(&example(&document, "intent_hash_hex")), layout_hash.clone());
    expect("intent_hash helper", layout_hash, hex::encode(intent_hash(&intent)));

    let certificate_value = parse_json(example(&document, "certificate_json").as_bytes()).unwrap();
    let certificate_object = certificate_value.as_object().unwrap().clone();
    let certificate = Certificate::deserialize(&certificate_value).unwrap();
    let signing_input = certificate_signing_input(&certificate_object);
    expect(
        "signing_input_hex",
        compact(&example(&document, "signing_input_hex")),
        hex::encode(&signing_input),
    );
    let mut layout_input = b"axiom/certificate/v1\n".to_vec();
    let mut unsigned = certificate_object.clone();
    unsigned.remove("sig");
    layout_input.extend_from_slice(&canonicalize(&Value::Object(unsigned)));
    expect("signing input layout", hex::encode(&layout_input), hex::encode(&signing_input));

    let signature = axiom_engine::crypto::base64url_encode(&pair.sign(&signing_input));
    expect(
        "signature_base64url",
        compact(&example(&document, "signature_base64url")),
        signature.clone(),
    );
    expect("certificate sig", certificate.sig.clone(), signature);

    // The signer reproduces the documented certificate from the same inputs.
    let options = CertificateOptions {
        ttl_ms: u64::try_from(certificate.expires_at - certificate.issued_at).unwrap(),
        issued_at_ms: Some(certificate.issued_at),
        sequence: certificate.sequence,
        policy_set_id: certificate.policy_set_id.clone(),
        rollback_plan: certificate.rollback_plan.clone(),
        nonce: Some(certificate.nonce.clone()),
        cert_id: Some(certificate.cert_id.clone()),
    };
    let envelope = AgentKey::from_key_pair(pair.clone())
        .sign_envelope(&intent, &options)
        .unwrap();
    expect(
        "signed certificate",
        String::from_utf8(canonicalize(&certificate_value)).unwrap(),
        String::from_utf8(canonicalize(&envelope["certificate"])).unwrap(),
    );

    assert!(mismatches.is_empty(), "docs/PROTOCOL.md differs from the code:\n{}", mismatches.join("\n"));

    // The engine accepts the documented envelope.
    let registry = KeyRegistry::new();
    let record = KeyRecord::new("acme", pair.public_key(), vec!["bot-1".into()], 0);
    registry.register(record).unwrap();
    let request = json!({"intent": intent, "certificate": certificate_value});
    let bytes = serde_json::to_vec(&request).unwrap();
    let accepted = authenticate(&bytes, &registry, &CheckLimits::default(), certificate.issued_at);
    assert!(accepted.is_ok(), "{:?}", accepted.err());
}
