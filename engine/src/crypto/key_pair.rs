//! An ed25519 key pair with its key id, and its JSON key file.

use super::encoding::{base64url_decode, base64url_encode};
use super::public_key::{derive_kid, PublicKey, PublicKeyError};
use crate::model::ALG_ED25519;
use ed25519_dalek::{Signer, SigningKey, SECRET_KEY_LENGTH};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// A key file: the secret key and what identifies it. Written with mode 0600 by `axiom keygen`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// Key id, as registered with the engine.
    pub kid: String,
    /// Always `ed25519`.
    pub alg: String,
    /// Public key, base64url without padding (32 bytes).
    pub public_key: String,
    /// Secret key seed, base64url without padding (32 bytes).
    pub secret_key: String,
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("KeyFile")
            .field("kid", &self.kid)
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

/// The public half of a key file, safe to share and to register with the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyFile {
    /// Key id.
    pub kid: String,
    /// Always `ed25519`.
    pub alg: String,
    /// Public key, base64url without padding (32 bytes).
    pub public_key: String,
}

/// Why a key file could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyFileError {
    /// The file is not the expected JSON object.
    #[error("key file is not valid JSON with kid, alg, public_key and secret_key: {reason}")]
    Format {
        /// serde_json's description.
        reason: String,
    },
    /// `alg` is not `ed25519`.
    #[error("key file algorithm `{alg}` is not supported; only `ed25519` is")]
    UnsupportedAlgorithm {
        /// The algorithm named in the file.
        alg: String,
    },
    /// `secret_key` is not 32 bytes of base64url.
    #[error("key file secret_key must be 32 bytes of base64url without padding")]
    SecretKey,
    /// `public_key` is invalid.
    #[error("key file public_key is invalid: {0}")]
    PublicKey(#[from] PublicKeyError),
    /// `public_key` does not belong to `secret_key`.
    #[error("key file public_key does not match its secret_key")]
    Mismatch,
}

/// An ed25519 signing key and the key id it is registered under.
#[derive(Clone)]
pub struct KeyPair {
    kid: String,
    signing_key: SigningKey,
}

impl KeyPair {
    /// Generates a key pair from the operating system's random source, with a derived key id.
    pub fn generate() -> KeyPair {
        KeyPair::from_signing_key(SigningKey::generate(&mut OsRng))
    }

    /// Builds a key pair from a 32-byte secret seed, with a derived key id.
    pub fn from_secret_bytes(secret: &[u8; SECRET_KEY_LENGTH]) -> KeyPair {
        KeyPair::from_signing_key(SigningKey::from_bytes(secret))
    }

    fn from_signing_key(signing_key: SigningKey) -> KeyPair {
        let public_key = PublicKey::from_verifying_key(signing_key.verifying_key());
        KeyPair {
            kid: derive_kid(&public_key),
            signing_key,
        }
    }

    /// Replaces the key id, for keys registered under an id of the operator's choice.
    pub fn with_kid(mut self, kid: impl Into<String>) -> KeyPair {
        self.kid = kid.into();
        self
    }

    /// Returns the key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Returns the public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_verifying_key(self.signing_key.verifying_key())
    }

    /// Signs `message` (ed25519 is deterministic: the same key and message give the same
    /// signature) and returns the 64 signature bytes.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing_key.sign(message).to_bytes()
    }

    /// Returns the key file contents, including the secret key.
    pub fn to_key_file(&self) -> KeyFile {
        KeyFile {
            kid: self.kid.clone(),
            alg: ALG_ED25519.to_owned(),
            public_key: self.public_key().to_base64url(),
            secret_key: base64url_encode(self.signing_key.as_bytes()),
        }
    }

    /// Returns the public key file contents.
    pub fn to_public_key_file(&self) -> PublicKeyFile {
        PublicKeyFile {
            kid: self.kid.clone(),
            alg: ALG_ED25519.to_owned(),
            public_key: self.public_key().to_base64url(),
        }
    }

    /// Loads a key file, checking that its public key belongs to its secret key.
    pub fn from_key_file(file: &KeyFile) -> Result<KeyPair, KeyFileError> {
        if file.alg != ALG_ED25519 {
            return Err(KeyFileError::UnsupportedAlgorithm {
                alg: file.alg.clone(),
            });
        }

        let secret = base64url_decode(&file.secret_key).map_err(|_| KeyFileError::SecretKey)?;
        let secret: [u8; SECRET_KEY_LENGTH] =
            secret.try_into().map_err(|_| KeyFileError::SecretKey)?;
        let stated_public_key = PublicKey::from_base64url(&file.public_key)?;

        let pair = KeyPair::from_secret_bytes(&secret).with_kid(file.kid.clone());
        if pair.public_key() != stated_public_key {
            return Err(KeyFileError::Mismatch);
        }
        Ok(pair)
    }

    /// Parses key file JSON.
    pub fn from_key_file_json(text: &[u8]) -> Result<KeyPair, KeyFileError> {
        let file: KeyFile = serde_json::from_slice(text).map_err(|error| KeyFileError::Format {
            reason: error.to_string(),
        })?;
        KeyPair::from_key_file(&file)
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("KeyPair")
            .field("kid", &self.kid)
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trips() {
        let pair = KeyPair::generate();
        let json = serde_json::to_vec(&pair.to_key_file()).unwrap();
        let loaded = KeyPair::from_key_file_json(&json).unwrap();
        assert_eq!(loaded.kid(), pair.kid());
        assert_eq!(loaded.public_key(), pair.public_key());
        assert_eq!(loaded.sign(b"m"), pair.sign(b"m"));
    }

    #[test]
    fn key_file_rejects_mismatched_public_key() {
        let mut file = KeyPair::generate().to_key_file();
        file.public_key = KeyPair::generate().public_key().to_base64url();
        assert_eq!(KeyPair::from_key_file(&file).unwrap_err(), KeyFileError::Mismatch);
    }

    #[test]
    fn key_file_rejects_bad_secret_and_alg() {
        let mut file = KeyPair::generate().to_key_file();
        file.secret_key = "AAAA".into();
        assert_eq!(KeyPair::from_key_file(&file).unwrap_err(), KeyFileError::SecretKey);
        let mut file = KeyPair::generate().to_key_file();
        file.alg = "rsa".into();
        assert!(matches!(
            KeyPair::from_key_file(&file),
            Err(KeyFileError::UnsupportedAlgorithm { .. })
        ));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let pair = KeyPair::generate();
        let file = pair.to_key_file();
        assert!(!format!("{pair:?}").contains(&file.secret_key));
        assert!(!format!("{file:?}").contains(&file.secret_key));
    }
}
