//! base64url without padding, the encoding of every binary value on the wire.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use thiserror::Error;

/// A string that is not canonical base64url without padding.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid base64url (RFC 4648 section 5, no padding): {reason}")]
pub struct EncodingError {
    /// The decoder's description.
    pub reason: String,
}

/// Encodes bytes as base64url without padding.
pub fn base64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding. Rejects `=` padding, the standard alphabet's `+` and
/// `/`, whitespace and non-zero trailing bits, so each byte string has exactly one encoding.
pub fn base64url_decode(text: &str) -> Result<Vec<u8>, EncodingError> {
    URL_SAFE_NO_PAD.decode(text).map_err(|error| EncodingError {
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_spellings() {
        let bytes = [0xfbu8, 0xff, 0x01];
        let text = base64url_encode(&bytes);
        assert_eq!(text, "-_8B");
        assert_eq!(base64url_decode(&text).unwrap(), bytes);
        // "-_9" leaves non-zero trailing bits; "A" is one character short of a byte.
        for bad in ["+/8B", "-_8B=", "-_9", "-_ 8B", "A"] {
            assert!(base64url_decode(bad).is_err(), "{bad}");
        }
    }
}
