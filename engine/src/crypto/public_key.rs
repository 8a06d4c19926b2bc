//! Strictly parsed ed25519 public keys, key ids and strict signature verification.

use super::encoding::{base64url_decode, base64url_encode};
use ed25519_dalek::{Signature, VerifyingKey, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;

/// Prefix of every derived key id.
pub const KID_PREFIX: &str = "k_";

/// Number of base64url characters of the public key's SHA-256 in a derived key id (96 bits).
const KID_HASH_CHARS: usize = 16;

/// The reason a public key was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PublicKeyError {
    /// The text is not base64url without padding.
    #[error("public key is not base64url without padding: {reason}")]
    Encoding {
        /// The decoder's description.
        reason: String,
    },
    /// The key is not 32 bytes long.
    #[error("public key is {len} bytes long; an ed25519 public key is 32 bytes")]
    WrongLength {
        /// Length received, in bytes.
        len: usize,
    },
    /// The bytes do not encode a point on the curve.
    #[error("public key is not a point on edwards25519")]
    NotOnCurve,
    /// The point is valid but encoded non-canonically (y ≥ p, or x = 0 with the sign bit set).
    #[error("public key uses a non-canonical point encoding")]
    NonCanonical,
    /// The point has small order, so a forged signature could verify for many messages.
    #[error("public key is a small-order (weak) point")]
    SmallOrder,
}

/// The reason a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    /// The text is not base64url without padding.
    #[error("signature is not base64url without padding: {reason}")]
    Encoding {
        /// The decoder's description.
        reason: String,
    },
    /// The signature is not 64 bytes long.
    #[error("signature is {len} bytes long; an ed25519 signature is 64 bytes")]
    WrongLength {
        /// Length received, in bytes.
        len: usize,
    },
    /// Strict verification failed: wrong key or message, `s` not below the group order, a
    /// non-canonical or small-order `R`, or a forged signature.
    #[error("signature does not verify under strict ed25519 rules")]
    Invalid,
}

/// An ed25519 public key that passed strict parsing: 32 bytes, canonical encoding, on the
/// curve, and not of small order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses raw public key bytes under the strict rules.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey, PublicKeyError> {
        let array: &[u8; PUBLIC_KEY_LENGTH] = bytes
            .try_into()
            .map_err(|_| PublicKeyError::WrongLength { len: bytes.len() })?;

        let key = VerifyingKey::from_bytes(array).map_err(|_| PublicKeyError::NotOnCurve)?;

        // curve25519-dalek 4 reduces y modulo p and ignores the sign bit of x = 0 when
        // decompressing, so a key is canonical only if recompressing gives the same bytes.
        if key.to_edwards().compress().as_bytes() != array {
            return Err(PublicKeyError::NonCanonical);
        }
        if key.is_weak() {
            return Err(PublicKeyError::SmallOrder);
        }
        Ok(PublicKey(key))
    }

    /// Parses a base64url (no padding) public key under the strict rules.
    pub fn from_base64url(text: &str) -> Result<PublicKey, PublicKeyError> {
        let bytes = base64url_decode(text).map_err(|error| PublicKeyError::Encoding {
            reason: error.reason,
        })?;
        PublicKey::from_bytes(&bytes)
    }

    /// Returns the 32 key bytes.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LENGTH] {
        self.0.to_bytes()
    }

    /// Returns the key as base64url without padding.
    pub fn to_base64url(&self) -> String {
        base64url_encode(self.0.as_bytes())
    }

    /// Returns the key id derived from this key (see [`derive_kid`]).
    pub fn derive_kid(&self) -> String {
        derive_kid(self)
    }

    pub(super) fn from_verifying_key(key: VerifyingKey) -> PublicKey {
        PublicKey(key)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "PublicKey({})", self.to_base64url())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64url())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PublicKey, D::Error> {
        let text = String::deserialize(deserializer)?;
        PublicKey::from_base64url(&text).map_err(serde::de::Error::custom)
    }
}

/// Derives a key id: `k_` followed by the first 16 base64url characters (96 bits) of the
/// SHA-256 of the 32 public key bytes.
pub fn derive_kid(public_key: &PublicKey) -> String {
    let digest = Sha256::digest(public_key.to_bytes());
    let encoded = base64url_encode(&digest);
    format!("{KID_PREFIX}{}", &encoded[..KID_HASH_CHARS])
}

/// Verifies an ed25519 signature under strict rules (ed25519-dalek `verify_strict`): `s` must
/// be below the group order, `R` must be canonical and not of small order, and the key was
/// already checked by [`PublicKey::from_bytes`].
pub fn verify_strict(
    public_key: &PublicKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let bytes: &[u8; SIGNATURE_LENGTH] = signature
        .try_into()
        .map_err(|_| SignatureError::WrongLength {
            len: signature.len(),
        })?;
    let signature = Signature::from_bytes(bytes);
    public_key
        .0
        .verify_strict(message, &signature)
        .map_err(|_| SignatureError::Invalid)
}

/// Decodes a base64url signature and verifies it with [`verify_strict`].
pub(crate) fn verify_strict_base64url(
    public_key: &PublicKey,
    message: &[u8],
    signature: &str,
) -> Result<(), SignatureError> {
    let bytes = base64url_decode(signature).map_err(|error| SignatureError::Encoding {
        reason: error.reason,
    })?;
    verify_strict(public_key, message, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC8032_TEST1_PUBLIC: &str =
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    #[test]
    fn accepts_a_regular_key() {
        let bytes = hex::decode(RFC8032_TEST1_PUBLIC).unwrap();
        let key = PublicKey::from_bytes(&bytes).unwrap();
        assert_eq!(key.to_bytes().to_vec(), bytes);
        assert!(key.derive_kid().starts_with("k_"));
        assert_eq!(key.derive_kid().len(), 2 + 16);
    }

    #[test]
    fn rejects_wrong_length() {
        assert_eq!(PublicKey::from_bytes(&[1u8; 31]), Err(PublicKeyError::WrongLength { len: 31 }));
        assert_eq!(PublicKey::from_bytes(&[1u8; 33]), Err(PublicKeyError::WrongLength { len: 33 }));
    }

    #[test]
    fn rejects_small_order_points() {
        // The identity (y = 1) and the point of order 2 (y = -1 = p - 1).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity), Err(PublicKeyError::SmallOrder));

        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        assert_eq!(PublicKey::from_bytes(&minus_one), Err(PublicKeyError::SmallOrder));
    }

    #[test]
    fn rejects_non_canonical_encodings() {
        // y = p + 1 encodes the identity non-canonically.
        let mut y_above_p = [0xffu8; 32];
        y_above_p[0] = 0xee;
        y_above_p[31] = 0x7f;
        assert_eq!(PublicKey::from_bytes(&y_above_p), Err(PublicKeyError::NonCanonical));

        // x = 0 with the sign bit set.
        let mut negative_zero_x = [0u8; 32];
        negative_zero_x[0] = 1;
        negative_zero_x[31] = 0x80;
        assert_eq!(PublicKey::from_bytes(&negative_zero_x), Err(PublicKeyError::NonCanonical));
    }

    #[test]
    fn rejects_points_off_the_curve() {
        // y = 2 has no matching x on edwards25519.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert_eq!(PublicKey::from_bytes(&off_curve), Err(PublicKeyError::NotOnCurve));
    }

    #[test]
    fn verify_rejects_wrong_length_signature() {
        let key = PublicKey::from_bytes(&hex::decode(RFC8032_TEST1_PUBLIC).unwrap()).unwrap();
        assert_eq!(
            verify_strict(&key, b"", &[0u8; 63]),
            Err(SignatureError::WrongLength { len: 63 })
        );
    }
}
