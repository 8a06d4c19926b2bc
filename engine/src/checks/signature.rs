//! Algorithm, key, signature and intent hash checks.

use super::rejection::CheckFailure;
use crate::crypto::{base64url_decode, certificate_signing_input, intent_hash, verify_strict};
use crate::keys::{KeyRecord, KeyRegistry};
use crate::model::{Certificate, Envelope, ReasonCode, ALG_ED25519};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Rejects any algorithm but `ed25519` with `UNSUPPORTED_ALGORITHM`.
pub fn check_algorithm(certificate: &Certificate) -> Result<(), CheckFailure> {
    if certificate.alg != ALG_ED25519 {
        return Err(CheckFailure::new(
            ReasonCode::UnsupportedAlgorithm,
            format!(
                "certificate alg `{}` is not supported; use `{ALG_ED25519}`",
                certificate.alg
            ),
        ));
    }
    Ok(())
}

/// Looks up the certificate's key for the intent's tenant and actor: `KEY_INVALID` with the
/// specific cause when it is unknown, revoked, outside its validity, or bound elsewhere.
pub fn check_key(
    envelope: &Envelope,
    registry: &KeyRegistry,
    now_ms: i64,
) -> Result<Arc<KeyRecord>, CheckFailure> {
    let actor = &envelope.intent.actor;
    registry
        .authorize(&envelope.certificate.kid, &actor.tenant, &actor.id, now_ms)
        .map_err(|rejection| CheckFailure::new(rejection.reason_code(), rejection.to_string()))
}

/// Verifies `sig` over the received certificate object (every member but `sig`, canonical form,
/// domain prefix) under strict ed25519: `BAD_SIGNATURE` on any failure.
pub fn check_signature(
    key: &KeyRecord,
    certificate: &Map<String, Value>,
    sig: &str,
) -> Result<(), CheckFailure> {
    let bad_signature = |detail: String| CheckFailure::new(ReasonCode::BadSignature, detail);

    let signature = base64url_decode(sig)
        .map_err(|error| bad_signature(format!("certificate sig is not valid: {error}")))?;
    let message = certificate_signing_input(certificate);
    verify_strict(&key.public_key, &message, &signature).map_err(|error| {
        bad_signature(format!("certificate sig does not verify for key `{}`: {error}", key.kid))
    })
}

/// Recomputes the intent hash from the received intent and compares it with the certificate's
/// `intent_hash` (lowercase hex): `INTENT_HASH_MISMATCH` if they differ. Returns the hash.
pub fn check_intent_hash(intent: &Value, certificate: &Certificate) -> Result<[u8; 32], CheckFailure> {
    let hash = intent_hash(intent);
    let computed = hex::encode(hash);
    if computed != certificate.intent_hash {
        return Err(CheckFailure::new(
            ReasonCode::IntentHashMismatch,
            format!(
                "certificate intent_hash `{}` differs from the hash of the intent received, `{computed}`",
                certificate.intent_hash
            ),
        ));
    }
    Ok(hash)
}
