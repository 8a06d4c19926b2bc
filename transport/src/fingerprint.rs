//! Certificate fingerprints: the SHA-256 digest of an end-entity certificate's DER encoding.

use crate::error::TransportError;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// Length of a fingerprint in bytes (a SHA-256 digest).
pub const FINGERPRINT_BYTES: usize = 32;

/// The SHA-256 digest of a DER-encoded certificate. Displays as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; FINGERPRINT_BYTES]);

impl Fingerprint {
    /// Computes the fingerprint of a DER-encoded certificate.
    pub fn of_der(certificate_der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(certificate_der).into())
    }

    /// Returns the digest bytes.
    pub fn as_bytes(&self) -> &[u8; FINGERPRINT_BYTES] {
        &self.0
    }

    /// Compares in time independent of where the digests differ. Fingerprints are public, so
    /// this is hygiene rather than a requirement.
    pub(crate) fn matches(&self, other: &Fingerprint) -> bool {
        let difference = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        difference == 0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// A rejected fingerprint string and the reason for the rejection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid certificate fingerprint `{input}`: {reason}; expected 64 hex digits of a SHA-256 \
     digest, optionally with `:` between bytes"
)]
pub struct FingerprintError {
    /// The rejected text.
    pub input: String,
    /// The rule the text breaks.
    pub reason: &'static str,
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    /// Parses 64 hex digits in either case, with or without `:` between byte pairs (the form
    /// `openssl x509 -fingerprint -sha256` prints).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let reject = |reason| FingerprintError {
            input: text.to_owned(),
            reason,
        };

        let trimmed = text.trim();
        let digits: String = if trimmed.contains(':') {
            let pairs: Vec<&str> = trimmed.split(':').collect();
            if pairs.iter().any(|pair| pair.len() != 2) {
                return Err(reject("separators must sit between two-digit bytes"));
            }
            pairs.concat()
        } else {
            trimmed.to_owned()
        };

        if digits.len() != FINGERPRINT_BYTES * 2 {
            return Err(reject("wrong length"));
        }
        let mut bytes = [0u8; FINGERPRINT_BYTES];
        hex::decode_to_slice(&digits, &mut bytes).map_err(|_| reject("not hexadecimal"))?;
        Ok(Fingerprint(bytes))
    }
}

/// Computes the fingerprint of the first certificate in a PEM file, the value clients pin with
/// `--fingerprint`.
pub fn fingerprint_of_pem(path: &Path) -> Result<Fingerprint, TransportError> {
    let chain = crate::identity::read_certificates(path)?;
    match chain.first() {
        Some(end_entity) => Ok(Fingerprint::of_der(end_entity)),
        None => Err(TransportError::NoCertificate {
            path: path.to_path_buf(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // SHA-256 of the empty input, a published test vector (FIPS 180-2 examples).
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn of_der_matches_known_digest() {
        assert_eq!(Fingerprint::of_der(b"").to_string(), EMPTY_SHA256);
    }

    #[test]
    fn parse_accepts_plain_upper_and_colon_forms() {
        let plain: Fingerprint = EMPTY_SHA256.parse().unwrap();
        let upper: Fingerprint = EMPTY_SHA256.to_uppercase().parse().unwrap();
        let pairs: Vec<String> = EMPTY_SHA256
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8(pair.to_vec()).unwrap())
            .collect();
        let colons: Fingerprint = pairs.join(":").parse().unwrap();

        assert_eq!(plain, Fingerprint::of_der(b""));
        assert_eq!(upper, plain);
        assert_eq!(colons, plain);
    }

    #[test]
    fn parse_rejects_bad_input() {
        let cases = [
            ("", "wrong length"),
            (&EMPTY_SHA256[..62], "wrong length"),
            ("zz", "wrong length"),
            ("e3b:0c", "separators must sit between two-digit bytes"),
        ];
        for (input, reason) in cases {
            let error = input.parse::<Fingerprint>().unwrap_err();
            assert_eq!(error.reason, reason, "input `{input}`");
        }

        let not_hex = format!("{}zz", &EMPTY_SHA256[..62]);
        assert_eq!(not_hex.parse::<Fingerprint>().unwrap_err().reason, "not hexadecimal");
    }

    #[test]
    fn matches_compares_every_byte() {
        let a = Fingerprint::of_der(b"a");
        let b = Fingerprint::of_der(b"b");
        assert!(a.matches(&a));
        assert!(!a.matches(&b));
    }
}
