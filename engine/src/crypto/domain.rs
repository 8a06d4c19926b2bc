//! The domain-separated byte strings that are hashed or signed.
//!
//! Each prefix names what the bytes are and a version, and ends in a newline that canonical
//! JSON never starts with, so a signature made for one purpose can never verify for another.

use crate::canonical::canonicalize_into;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Prefix of the intent hash input: `SHA-256(INTENT_HASH_PREFIX || JCS(intent))`.
pub const INTENT_HASH_PREFIX: &[u8] = b"axiom/intent/v1\n";
/// Prefix of the certificate signing input: `CERTIFICATE_SIGNING_PREFIX || JCS(certificate
/// without sig)`.
pub const CERTIFICATE_SIGNING_PREFIX: &[u8] = b"axiom/certificate/v1\n";
/// Prefix of the receipt signing input: `RECEIPT_SIGNING_PREFIX || JCS(receipt body)`.
pub const RECEIPT_SIGNING_PREFIX: &[u8] = b"axiom/receipt/v1\n";

/// Returns SHA-256 over [`INTENT_HASH_PREFIX`] followed by the canonical form of `intent`.
pub fn intent_hash(intent: &Value) -> [u8; 32] {
    let mut input = Vec::with_capacity(1024);
    input.extend_from_slice(INTENT_HASH_PREFIX);
    canonicalize_into(intent, &mut input);
    Sha256::digest(&input).into()
}

/// Returns the intent hash as 64 lowercase hex digits, its form in a certificate.
pub fn intent_hash_hex(intent: &Value) -> String {
    hex::encode(intent_hash(intent))
}

/// Returns the bytes an agent signs: [`CERTIFICATE_SIGNING_PREFIX`] followed by the canonical
/// form of every certificate member except `sig`.
pub fn certificate_signing_input(certificate: &Map<String, Value>) -> Vec<u8> {
    let unsigned: Map<String, Value> = certificate
        .iter()
        .filter(|(name, _)| name.as_str() != "sig")
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();

    let mut input = Vec::with_capacity(512);
    input.extend_from_slice(CERTIFICATE_SIGNING_PREFIX);
    canonicalize_into(&Value::Object(unsigned), &mut input);
    input
}

/// Returns the bytes the engine signs for a receipt: [`RECEIPT_SIGNING_PREFIX`] followed by the
/// canonical form of the receipt body (see [`super::receipt_body`]).
pub fn receipt_signing_input(body: &Value) -> Vec<u8> {
    let mut input = Vec::with_capacity(512);
    input.extend_from_slice(RECEIPT_SIGNING_PREFIX);
    canonicalize_into(body, &mut input);
    input
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn intent_hash_depends_on_content_not_layout() {
        let first = json!({"a": 1, "b": [true, "x"]});
        let second: Value = serde_json::from_str("{ \"b\" : [ true , \"x\" ] , \"a\" : 1 }").unwrap();
        assert_eq!(intent_hash(&first), intent_hash(&second));
        assert_ne!(intent_hash(&first), intent_hash(&json!({"a": 2, "b": [true, "x"]})));
    }

    #[test]
    fn intent_hash_covers_the_prefix() {
        let intent = json!({"a": 1});
        let mut without_prefix = Sha256::new();
        without_prefix.update(b"{\"a\":1}");
        let plain: [u8; 32] = without_prefix.finalize().into();
        assert_ne!(intent_hash(&intent), plain);

        let mut with_prefix = Sha256::new();
        with_prefix.update(b"axiom/intent/v1\n{\"a\":1}");
        let expected: [u8; 32] = with_prefix.finalize().into();
        assert_eq!(intent_hash(&intent), expected);
    }

    #[test]
    fn certificate_input_leaves_out_only_sig() {
        let certificate = json!({"sig": "abc", "kid": "k1", "alg": "ed25519"});
        let input = certificate_signing_input(certificate.as_object().unwrap());
        assert_eq!(input, b"axiom/certificate/v1\n{\"alg\":\"ed25519\",\"kid\":\"k1\"}");
    }
}
