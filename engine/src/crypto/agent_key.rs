//! The agent side: signing an intent into an envelope the engine accepts.

use super::domain::{certificate_signing_input, intent_hash_hex};
use super::encoding::{base64url_decode, base64url_encode};
use super::key_pair::KeyPair;
use crate::canonical::{canonicalize, parse_json, SAFE_INTEGER_MAX};
use crate::model::{Intent, RollbackPlan, ALG_ED25519};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// Default certificate lifetime, in milliseconds: one minute, well inside the engine's default
/// acceptance TTL of five minutes.
pub const CERTIFICATE_TTL_MS_DEFAULT: u64 = 60_000;

/// Random bytes in a generated nonce: 128 bits, the protocol's minimum.
pub const NONCE_BYTES_DEFAULT: usize = 16;

/// Smallest nonce the engine accepts, in decoded bytes (128 bits).
const NONCE_BYTES_MIN: usize = 16;

/// How to fill in a certificate. Every `None` gets a fresh or current value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateOptions {
    /// Lifetime: `expires_at = issued_at + ttl_ms`, in milliseconds.
    pub ttl_ms: u64,
    /// Start of validity in Unix milliseconds; the current time when `None`.
    pub issued_at_ms: Option<i64>,
    /// Strictly increasing counter for the (kid, tenant, actor, policy set) stream.
    pub sequence: Option<u64>,
    /// The policy set the agent expects the engine to select.
    pub policy_set_id: Option<String>,
    /// How to undo the action.
    pub rollback_plan: Option<RollbackPlan>,
    /// A fixed nonce (base64url, at least 16 bytes decoded); 16 random bytes when `None`.
    pub nonce: Option<String>,
    /// A fixed certificate id; a random UUID when `None`.
    pub cert_id: Option<String>,
}

impl Default for CertificateOptions {
    fn default() -> Self {
        CertificateOptions {
            ttl_ms: CERTIFICATE_TTL_MS_DEFAULT,
            issued_at_ms: None,
            sequence: None,
            policy_set_id: None,
            rollback_plan: None,
            nonce: None,
            cert_id: None,
        }
    }
}

/// Why an envelope could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignError {
    /// The intent breaks the protocol's JSON rules or misses a required field, so the engine
    /// would reject it.
    #[error("invalid intent: {reason}")]
    InvalidIntent {
        /// What is wrong.
        reason: String,
    },
    /// The rollback plan breaks the protocol's JSON rules, for example with a float in a step.
    #[error("invalid rollback plan: {reason}")]
    InvalidRollbackPlan {
        /// What is wrong.
        reason: String,
    },
    /// `sequence` is above 2^53 − 1, which the engine's JSON rules reject.
    #[error("sequence {sequence} is above the largest safe JSON integer 9007199254740991")]
    SequenceOutOfRange {
        /// The requested sequence.
        sequence: u64,
    },
    /// `issued_at + ttl_ms` is outside the safe JSON integer range.
    #[error("issued_at {issued_at_ms} plus ttl_ms {ttl_ms} is outside the safe JSON integer range")]
    TimeOutOfRange {
        /// Requested start of validity, Unix milliseconds.
        issued_at_ms: i64,
        /// Requested lifetime, milliseconds.
        ttl_ms: u64,
    },
    /// The nonce override is not base64url of at least 16 bytes.
    #[error("nonce must be base64url without padding of at least 16 bytes")]
    InvalidNonce,
}

/// An agent's signing key.
#[derive(Debug, Clone)]
pub struct AgentKey {
    pair: KeyPair,
}

impl AgentKey {
    /// Generates a fresh agent key with a derived key id.
    pub fn generate() -> AgentKey {
        AgentKey {
            pair: KeyPair::generate(),
        }
    }

    /// Wraps an existing key pair, for example one loaded from a key file.
    pub fn from_key_pair(pair: KeyPair) -> AgentKey {
        AgentKey { pair }
    }

    /// Returns the key pair, for its key id, public key and key file.
    pub fn key_pair(&self) -> &KeyPair {
        &self.pair
    }

    /// Signs a typed intent; see [`AgentKey::sign_envelope`].
    pub fn sign_intent(
        &self,
        intent: &Intent,
        options: &CertificateOptions,
    ) -> Result<Value, SignError> {
        let value = serde_json::to_value(intent).map_err(|error| SignError::InvalidIntent {
            reason: error.to_string(),
        })?;
        self.sign_envelope(&value, options)
    }

    /// Builds and signs `{"intent": …, "certificate": …}` exactly as the engine verifies it.
    ///
    /// The intent is checked against the protocol's JSON rules and the intent schema first, so
    /// that an intent the engine would reject is reported here.
    pub fn sign_envelope(
        &self,
        intent: &Value,
        options: &CertificateOptions,
    ) -> Result<Value, SignError> {
        check_intent(intent)?;

        let issued_at_ms = options.issued_at_ms.unwrap_or_else(unix_time_ms_now);
        let expires_at_ms = expiry(issued_at_ms, options.ttl_ms)?;
        let nonce = match &options.nonce {
            Some(nonce) => checked_nonce(nonce)?,
            None => random_nonce(),
        };
        let cert_id = options
            .cert_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());

        let mut certificate = Map::new();
        certificate.insert("cert_id".into(), Value::from(cert_id));
        certificate.insert("intent_hash".into(), Value::from(intent_hash_hex(intent)));
        certificate.insert("nonce".into(), Value::from(nonce));
        certificate.insert("issued_at".into(), Value::from(issued_at_ms));
        certificate.insert("expires_at".into(), Value::from(expires_at_ms));
        if let Some(sequence) = options.sequence {
            if sequence > SAFE_INTEGER_MAX {
                return Err(SignError::SequenceOutOfRange { sequence });
            }
            certificate.insert("sequence".into(), Value::from(sequence));
        }
        if let Some(policy_set_id) = &options.policy_set_id {
            certificate.insert("policy_set_id".into(), Value::from(policy_set_id.clone()));
        }
        if let Some(plan) = &options.rollback_plan {
            certificate.insert("rollback_plan".into(), rollback_plan_value(plan)?);
        }
        certificate.insert("kid".into(), Value::from(self.pair.kid()));
        certificate.insert("alg".into(), Value::from(ALG_ED25519));

        let signature = self.pair.sign(&certificate_signing_input(&certificate));
        certificate.insert("sig".into(), Value::from(base64url_encode(&signature)));

        Ok(json!({ "intent": intent, "certificate": certificate }))
    }
}

/// Rejects intents the engine would reject before looking at the signature.
fn check_intent(intent: &Value) -> Result<(), SignError> {
    parse_json(&canonicalize(intent)).map_err(|error| SignError::InvalidIntent {
        reason: error.to_string(),
    })?;
    Intent::deserialize(intent).map_err(|error| SignError::InvalidIntent {
        reason: error.to_string(),
    })?;
    Ok(())
}

fn expiry(issued_at_ms: i64, ttl_ms: u64) -> Result<i64, SignError> {
    let out_of_range = SignError::TimeOutOfRange {
        issued_at_ms,
        ttl_ms,
    };
    let expires_at_ms = i64::try_from(ttl_ms)
        .ok()
        .and_then(|ttl| issued_at_ms.checked_add(ttl))
        .ok_or(out_of_range.clone())?;
    if expires_at_ms.unsigned_abs() > SAFE_INTEGER_MAX || issued_at_ms.unsigned_abs() > SAFE_INTEGER_MAX {
        return Err(out_of_range);
    }
    Ok(expires_at_ms)
}

fn checked_nonce(nonce: &str) -> Result<String, SignError> {
    let bytes = base64url_decode(nonce).map_err(|_| SignError::InvalidNonce)?;
    if bytes.len() < NONCE_BYTES_MIN {
        return Err(SignError::InvalidNonce);
    }
    Ok(nonce.to_owned())
}

fn random_nonce() -> String {
    let mut bytes = [0u8; NONCE_BYTES_DEFAULT];
    OsRng.fill_bytes(&mut bytes);
    base64url_encode(&bytes)
}

fn rollback_plan_value(plan: &RollbackPlan) -> Result<Value, SignError> {
    let value = serde_json::to_value(plan).map_err(|error| SignError::InvalidRollbackPlan {
        reason: error.to_string(),
    })?;
    parse_json(&canonicalize(&value)).map_err(|error| SignError::InvalidRollbackPlan {
        reason: error.to_string(),
    })?;
    Ok(value)
}

/// Returns the current time in Unix milliseconds (0 if the clock is before 1970).
fn unix_time_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
