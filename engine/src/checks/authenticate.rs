//! The stateless checks in protocol order.

use super::limits::CheckLimits;
use super::nonce::check_nonce;
use super::parse::{check_size, parse_envelope, parse_request};
use super::rejection::{CheckFailure, Rejection};
use super::signature::{check_algorithm, check_intent_hash, check_key, check_signature};
use super::time::check_times;
use crate::keys::{KeyRecord, KeyRegistry};
use crate::model::{Envelope, ReasonCode};
use serde_json::{Map, Value};
use std::sync::Arc;

/// A request whose signature, key binding and intent hash verified.
#[derive(Debug, Clone)]
pub struct AuthenticatedRequest {
    /// The typed envelope.
    pub envelope: Envelope,
    /// SHA-256 of the domain-separated canonical intent, recomputed from the bytes received.
    pub intent_hash: [u8; 32],
    /// The key that signed, as it was when the request was checked.
    pub key: Arc<KeyRecord>,
}

/// Runs every stateless check on a raw request at `now_ms` (Unix milliseconds), in order:
///
/// 1. size (`REQUEST_TOO_LARGE`)
/// 2. JSON parse (`MALFORMED_REQUEST`, `FLOAT_NOT_ALLOWED`)
/// 3. required fields and types (`MALFORMED_REQUEST`)
/// 4. algorithm (`UNSUPPORTED_ALGORITHM`)
/// 5. key lookup for the intent's tenant and actor (`KEY_INVALID`)
/// 6. signature over the certificate (`BAD_SIGNATURE`)
/// 7. intent hash recomputed from the received intent (`INTENT_HASH_MISMATCH`)
/// 8. certificate times (`CERT_EXPIRED`, `CERT_NOT_YET_VALID`, `CERT_TTL_EXCEEDED`)
/// 9. nonce format (`MALFORMED_REQUEST`)
///
/// Rejections from steps 1 to 7 are unauthenticated; from steps 8 and 9 they carry the
/// authenticated request. Nothing here reads or changes per-tenant state.
pub fn authenticate(
    request: &[u8],
    registry: &KeyRegistry,
    limits: &CheckLimits,
    now_ms: i64,
) -> Result<AuthenticatedRequest, Rejection> {
    check_size(request.len(), limits).map_err(Rejection::unauthenticated)?;
    let value = parse_request(request).map_err(Rejection::unauthenticated)?;
    let envelope = parse_envelope(&value).map_err(Rejection::unauthenticated)?;

    check_algorithm(&envelope.certificate).map_err(Rejection::unauthenticated)?;
    let key = check_key(&envelope, registry, now_ms).map_err(Rejection::unauthenticated)?;

    // The signature and the hash are computed over the members as received, not over the
    // typed structs re-serialized, so defaults filled in by serde never change what is checked.
    let (intent, certificate) = envelope_members(&value).map_err(Rejection::unauthenticated)?;
    check_signature(&key, certificate, &envelope.certificate.sig)
        .map_err(Rejection::unauthenticated)?;
    let intent_hash =
        check_intent_hash(intent, &envelope.certificate).map_err(Rejection::unauthenticated)?;

    let request = AuthenticatedRequest {
        envelope,
        intent_hash,
        key,
    };
    let certificate = &request.envelope.certificate;
    let later_checks = check_times(certificate, limits, now_ms)
        .and_then(|()| check_nonce(&certificate.nonce).map(|_| ()));
    match later_checks {
        Ok(()) => Ok(request),
        Err(failure) => Err(Rejection::authenticated(failure, request)),
    }
}

/// Returns the received `intent` value and `certificate` object. Typed parsing has already
/// required both, so a failure here means the two parsers disagree.
fn envelope_members(value: &Value) -> Result<(&Value, &Map<String, Value>), CheckFailure> {
    let intent = value.get("intent");
    let certificate = value.get("certificate").and_then(Value::as_object);
    match (intent, certificate) {
        (Some(intent), Some(certificate)) => Ok((intent, certificate)),
        _ => Err(CheckFailure::new(
            ReasonCode::MalformedRequest,
            "envelope must be an object with `intent` and `certificate` objects",
        )),
    }
}
