//! The certificate that binds an intent to an agent key, and the request envelope.

use super::intent::Intent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The only signature algorithm accepted.
pub const ALG_ED25519: &str = "ed25519";

/// A signed binding of one intent to one key, for one use.
///
/// The signature covers every field except `sig` itself, so `kid`, `alg`, the nonce, the
/// times and the sequence cannot be changed without invalidating it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// Client-chosen certificate id.
    pub cert_id: String,
    /// Lowercase hex SHA-256 of the domain-separated canonical intent (64 characters).
    pub intent_hash: String,
    /// At least 128 random bits, base64url without padding; used once per validity window.
    pub nonce: String,
    /// Start of validity, Unix milliseconds.
    pub issued_at: i64,
    /// End of validity, Unix milliseconds.
    pub expires_at: i64,
    /// Optional strictly increasing counter per (kid, tenant, actor, policy set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// Optional policy set the agent expects; must match the one the server selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_set_id: Option<String>,
    /// How to undo the action; an ALLOW with side effects needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_plan: Option<RollbackPlan>,
    /// Id of the agent key that signed.
    pub kid: String,
    /// Signature algorithm; only `ed25519`.
    pub alg: String,
    /// ed25519 signature, base64url without padding (64 bytes decoded).
    pub sig: String,
}

/// Compensating steps that undo an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackPlan {
    /// Kind of plan, for example `compensate` or `none`.
    #[serde(rename = "type")]
    pub plan_type: String,
    /// Compensating steps, run in order when an escrowed execution fails.
    #[serde(default)]
    pub steps: Vec<Value>,
}

impl RollbackPlan {
    /// Returns true when the plan can actually undo something: it names a kind other than
    /// `none` and every one of its (at least one) steps is a JSON object.
    pub fn is_usable(&self) -> bool {
        let named = !self.plan_type.trim().is_empty() && self.plan_type != "none";
        named && !self.steps.is_empty() && self.steps.iter().all(Value::is_object)
    }
}

/// What an agent sends: the intent and its certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The action intent.
    pub intent: Intent,
    /// The certificate binding it to a key.
    pub certificate: Certificate,
}
