//! Size limit, JSON parse and typed deserialization of the envelope.

use super::limits::CheckLimits;
use super::rejection::CheckFailure;
use crate::canonical::{parse_json, CanonicalError};
use crate::model::{Envelope, ReasonCode};
use serde::Deserialize;
use serde_json::Value;

/// Rejects a request longer than `request_bytes_max` with `REQUEST_TOO_LARGE`.
pub fn check_size(request_len: usize, limits: &CheckLimits) -> Result<(), CheckFailure> {
    if request_len > limits.request_bytes_max {
        return Err(CheckFailure::new(
            ReasonCode::RequestTooLarge,
            format!(
                "request is {request_len} bytes; the limit is {} bytes",
                limits.request_bytes_max
            ),
        ));
    }
    Ok(())
}

/// Parses the request under the protocol's JSON rules: `FLOAT_NOT_ALLOWED` for a float token,
/// `MALFORMED_REQUEST` for anything else that is not strict JSON.
pub fn parse_request(request: &[u8]) -> Result<Value, CheckFailure> {
    parse_json(request).map_err(|error| {
        let reason = match error {
            CanonicalError::FloatNotAllowed { .. } => ReasonCode::FloatNotAllowed,
            _ => ReasonCode::MalformedRequest,
        };
        CheckFailure::new(reason, error.to_string())
    })
}

/// Reads the typed envelope: `MALFORMED_REQUEST` with serde's message when a required field is
/// missing, a field has the wrong type, or an unknown field is present.
pub fn parse_envelope(value: &Value) -> Result<Envelope, CheckFailure> {
    let envelope = Envelope::deserialize(value).map_err(|error| {
        CheckFailure::new(
            ReasonCode::MalformedRequest,
            format!("invalid envelope: {error}"),
        )
    })?;
    check_identifiers(&envelope)?;
    Ok(envelope)
}

/// Longest tenant id accepted, in bytes; tenant ids are parts of storage keys and metric labels.
pub const TENANT_BYTES_MAX: usize = 256;
/// Longest identifier accepted (actor id, kid, cert id, intent id, idempotency key, domain,
/// operation name, policy set id), in bytes; identifiers are parts of storage keys.
pub const IDENTIFIER_BYTES_MAX: usize = 512;

/// Checks that every identifier that becomes part of a storage key or an index is non-empty
/// and within its limit, so that a signed request can never produce an unstorable decision.
fn check_identifiers(envelope: &Envelope) -> Result<(), CheckFailure> {
    let intent = &envelope.intent;
    let certificate = &envelope.certificate;
    check_identifier("intent.actor.tenant", &intent.actor.tenant, TENANT_BYTES_MAX)?;
    let identifiers = [
        ("intent.actor.id", intent.actor.id.as_str()),
        ("intent.intent_id", intent.intent_id.as_str()),
        ("intent.idempotency_key", intent.idempotency_key.as_str()),
        ("intent.target.domain", intent.target.domain.as_str()),
        ("intent.operation.name", intent.operation.name.as_str()),
        ("certificate.cert_id", certificate.cert_id.as_str()),
        ("certificate.kid", certificate.kid.as_str()),
    ];
    for (field, value) in identifiers {
        check_identifier(field, value, IDENTIFIER_BYTES_MAX)?;
    }
    if let Some(policy_set_id) = &certificate.policy_set_id {
        check_identifier("certificate.policy_set_id", policy_set_id, IDENTIFIER_BYTES_MAX)?;
    }
    Ok(())
}

fn check_identifier(field: &str, value: &str, bytes_max: usize) -> Result<(), CheckFailure> {
    if value.is_empty() {
        return Err(CheckFailure::new(
            ReasonCode::MalformedRequest,
            format!("`{field}` must not be empty"),
        ));
    }
    if value.len() > bytes_max {
        return Err(CheckFailure::new(
            ReasonCode::MalformedRequest,
            format!(
                "`{field}` is {} bytes, above the limit of {bytes_max}",
                value.len()
            ),
        ));
    }
    Ok(())
}
