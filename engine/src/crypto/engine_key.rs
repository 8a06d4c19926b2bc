//! The engine side: receipts, the engine's signature over each decision.
//!
//! A receipt lets a tool check that an action was decided, and how, without calling the engine
//! back. It covers the decision id, verdict, reason code, the intent hash and the optional
//! `retry_after_ms`, `shield` and `escrow` members. The counterexample and the human-readable
//! detail are explanations and are not signed.

use super::domain::receipt_signing_input;
use super::encoding::base64url_encode;
use super::key_pair::KeyPair;
use super::public_key::{verify_strict_base64url, PublicKey, SignatureError};
use crate::model::{DecisionResponse, EscrowSummary, Receipt, Shield, ALG_ED25519};
use serde_json::{Map, Value};
use thiserror::Error;

/// Why a receipt did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReceiptError {
    /// The response carries no receipt.
    #[error("decision response has no receipt")]
    Missing,
    /// The receipt names an algorithm other than `ed25519`.
    #[error("receipt algorithm `{alg}` is not supported; only `ed25519` is")]
    UnsupportedAlgorithm {
        /// The algorithm named in the receipt.
        alg: String,
    },
    /// The signature does not verify for this response, intent hash and engine key.
    #[error("receipt signature is invalid: {0}")]
    Signature(#[from] SignatureError),
}

/// The engine's receipt signing key.
#[derive(Debug, Clone)]
pub struct EngineKey {
    pair: KeyPair,
}

impl EngineKey {
    /// Generates a fresh engine key with a derived key id.
    pub fn generate() -> EngineKey {
        EngineKey {
            pair: KeyPair::generate(),
        }
    }

    /// Wraps an existing key pair, for example one loaded from a key file.
    pub fn from_key_pair(pair: KeyPair) -> EngineKey {
        EngineKey { pair }
    }

    /// Returns the key pair, for its key id, public key and key file.
    pub fn key_pair(&self) -> &KeyPair {
        &self.pair
    }

    /// Signs a decision. Any receipt already on `response` is ignored. `intent_hash` is the
    /// hash of the authenticated intent, or `None` for a request that never authenticated.
    pub fn sign_receipt(
        &self,
        response: &DecisionResponse,
        intent_hash: Option<&[u8; 32]>,
    ) -> Receipt {
        let body = receipt_body(response, self.pair.kid(), ALG_ED25519, intent_hash);
        let signature = self.pair.sign(&receipt_signing_input(&body));
        Receipt {
            kid: self.pair.kid().to_owned(),
            alg: ALG_ED25519.to_owned(),
            sig: base64url_encode(&signature),
        }
    }
}

/// Builds the signed body of a receipt:
/// `{alg, decision_id, escrow?, intent_hash?, kid, reason_code, retry_after_ms?, shield?,
/// verdict}`, where `intent_hash` is lowercase hex and absent members are left out.
pub fn receipt_body(
    response: &DecisionResponse,
    kid: &str,
    alg: &str,
    intent_hash: Option<&[u8; 32]>,
) -> Value {
    let mut body = Map::new();
    body.insert("alg".into(), Value::from(alg));
    body.insert("decision_id".into(), Value::from(response.decision_id.clone()));
    body.insert("kid".into(), Value::from(kid));
    body.insert("reason_code".into(), Value::from(response.reason_code.as_str()));
    body.insert("verdict".into(), Value::from(response.verdict.as_str()));
    if let Some(hash) = intent_hash {
        body.insert("intent_hash".into(), Value::from(hex::encode(hash)));
    }
    if let Some(retry_after_ms) = response.retry_after_ms {
        body.insert("retry_after_ms".into(), Value::from(retry_after_ms));
    }
    if let Some(shield) = &response.shield {
        body.insert("shield".into(), shield_value(shield));
    }
    if let Some(escrow) = &response.escrow {
        body.insert("escrow".into(), escrow_value(escrow));
    }
    Value::Object(body)
}

/// Verifies the receipt on `response` with the engine's public key, for the intent whose hash
/// the caller computed (or `None` if the decision was for an unauthenticated request).
pub fn verify_receipt(
    public_key: &PublicKey,
    response: &DecisionResponse,
    intent_hash: Option<&[u8; 32]>,
) -> Result<(), ReceiptError> {
    let receipt = response.receipt.as_ref().ok_or(ReceiptError::Missing)?;
    if receipt.alg != ALG_ED25519 {
        return Err(ReceiptError::UnsupportedAlgorithm {
            alg: receipt.alg.clone(),
        });
    }

    let body = receipt_body(response, &receipt.kid, &receipt.alg, intent_hash);
    verify_strict_base64url(public_key, &receipt_signing_input(&body), &receipt.sig)?;
    Ok(())
}

fn shield_value(shield: &Shield) -> Value {
    let mut value = Map::new();
    value.insert("type".into(), Value::from(shield.shield_type.as_str()));
    value.insert("params".into(), Value::Object(shield.params.clone()));
    Value::Object(value)
}

fn escrow_value(escrow: &EscrowSummary) -> Value {
    let mut value = Map::new();
    value.insert("escrow_id".into(), Value::from(escrow.escrow_id.clone()));
    value.insert("status".into(), Value::from(escrow.status.clone()));
    value.insert("expires_at".into(), Value::from(escrow.expires_at));
    value.insert("approvals_required".into(), Value::from(escrow.approvals_required));
    Value::Object(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ReasonCode, ShieldType, Verdict};

    fn escrowed_response() -> DecisionResponse {
        let mut response = DecisionResponse::rejected(ReasonCode::EscrowRequired, "held");
        response.decision_id = "d-1".into();
        response.verdict = Verdict::Escrow;
        response.escrow = Some(EscrowSummary {
            escrow_id: "e-1".into(),
            status: "PENDING".into(),
            expires_at: 1_700_000_000_000,
            approvals_required: 2,
        });
        response
    }

    #[test]
    fn receipt_verifies_for_the_signed_decision() {
        let key = EngineKey::generate();
        let hash = [7u8; 32];
        let mut response = escrowed_response();
        response.receipt = Some(key.sign_receipt(&response, Some(&hash)));
        assert_eq!(verify_receipt(&key.key_pair().public_key(), &response, Some(&hash)), Ok(()));
    }

    #[test]
    fn receipt_fails_when_a_covered_field_changes() {
        let key = EngineKey::generate();
        let public_key = key.key_pair().public_key();
        let hash = [7u8; 32];
        let mut signed = escrowed_response();
        signed.receipt = Some(key.sign_receipt(&signed, Some(&hash)));

        let mut changes: Vec<(&str, DecisionResponse)> = Vec::new();
        let mut changed = signed.clone();
        changed.verdict = Verdict::Allow;
        changes.push(("verdict", changed));
        let mut changed = signed.clone();
        changed.reason_code = ReasonCode::Ok;
        changes.push(("reason_code", changed));
        let mut changed = signed.clone();
        changed.decision_id = "d-2".into();
        changes.push(("decision_id", changed));
        let mut changed = signed.clone();
        changed.escrow = None;
        changes.push(("escrow", changed));
        let mut changed = signed.clone();
        changed.retry_after_ms = Some(5);
        changes.push(("retry_after_ms", changed));
        let mut changed = signed.clone();
        changed.shield = Some(Shield {
            shield_type: ShieldType::ReadOnly,
            params: Map::new(),
        });
        changes.push(("shield", changed));

        for (field, response) in changes {
            assert!(
                verify_receipt(&public_key, &response, Some(&hash)).is_err(),
                "change to {field} went unnoticed"
            );
        }
        assert!(verify_receipt(&public_key, &signed, Some(&[8u8; 32])).is_err());
        assert!(verify_receipt(&public_key, &signed, None).is_err());
        let other_key = EngineKey::generate().key_pair().public_key();
        assert!(verify_receipt(&other_key, &signed, Some(&hash)).is_err());
    }

    #[test]
    fn missing_receipt_is_reported() {
        let key = EngineKey::generate().key_pair().public_key();
        assert_eq!(
            verify_receipt(&key, &escrowed_response(), None),
            Err(ReceiptError::Missing)
        );
    }
}
