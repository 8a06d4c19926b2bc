//! Nonce format check.

use super::limits::{NONCE_BYTES_MAX, NONCE_BYTES_MIN};
use crate::crypto::base64url_decode;
use super::rejection::CheckFailure;
use crate::model::ReasonCode;

/// Checks that the nonce is base64url without padding of 16 to 64 decoded bytes:
/// `MALFORMED_REQUEST` otherwise. Returns the decoded nonce.
pub fn check_nonce(nonce: &str) -> Result<Vec<u8>, CheckFailure> {
    let malformed = |detail: String| CheckFailure::new(ReasonCode::MalformedRequest, detail);

    // Four base64 characters carry three bytes; checking the text length first bounds the
    // work spent decoding an oversized nonce.
    if nonce.len() > NONCE_BYTES_MAX.div_ceil(3) * 4 {
        return Err(malformed(format!(
            "certificate nonce is {} characters; at most {NONCE_BYTES_MAX} bytes are allowed",
            nonce.len()
        )));
    }
    let bytes = base64url_decode(nonce)
        .map_err(|error| malformed(format!("certificate nonce is not valid: {error}")))?;
    if bytes.len() < NONCE_BYTES_MIN || bytes.len() > NONCE_BYTES_MAX {
        return Err(malformed(format!(
            "certificate nonce is {} bytes; it must be {NONCE_BYTES_MIN} to {NONCE_BYTES_MAX} bytes",
            bytes.len()
        )));
    }
    Ok(bytes)
}
