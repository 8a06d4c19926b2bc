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
    Envelope::deserialize(value).map_err(|error| {
        CheckFailure::new(
            ReasonCode::MalformedRequest,
            format!("invalid envelope: {error}"),
        )
    })
}
