//! Verdicts and the decision response returned to agents.

use super::reason::ReasonCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The five answers the engine gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Execute as requested.
    Allow,
    /// Execute only in the reduced form given by the shield.
    Shield,
    /// Do nothing now; retry after `retry_after_ms`.
    Defer,
    /// Held for human approval.
    Escrow,
    /// Hard stop.
    Deny,
}

impl Verdict {
    /// Every verdict, in declaration order.
    pub const ALL: [Verdict; 5] = [
        Verdict::Allow,
        Verdict::Shield,
        Verdict::Defer,
        Verdict::Escrow,
        Verdict::Deny,
    ];

    /// Returns the stable wire string, for example `"ALLOW"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "ALLOW",
            Verdict::Shield => "SHIELD",
            Verdict::Defer => "DEFER",
            Verdict::Escrow => "ESCROW",
            Verdict::Deny => "DENY",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The reduced forms a SHIELD verdict can impose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShieldType {
    /// Only reads are allowed.
    ReadOnly,
    /// Simulate without side effects.
    DryRun,
    /// Process at most `params.max` objects per call.
    SmallBatch,
    /// Needs approval; the engine turns this into an ESCROW.
    RequireApproval,
}

impl ShieldType {
    /// Returns the wire string, for example `"SMALL_BATCH"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShieldType::ReadOnly => "READ_ONLY",
            ShieldType::DryRun => "DRY_RUN",
            ShieldType::SmallBatch => "SMALL_BATCH",
            ShieldType::RequireApproval => "REQUIRE_APPROVAL",
        }
    }

    /// Parses the wire string; returns None for an unknown shield type.
    pub fn parse(text: &str) -> Option<ShieldType> {
        match text {
            "READ_ONLY" => Some(ShieldType::ReadOnly),
            "DRY_RUN" => Some(ShieldType::DryRun),
            "SMALL_BATCH" => Some(ShieldType::SmallBatch),
            "REQUIRE_APPROVAL" => Some(ShieldType::RequireApproval),
            _ => None,
        }
    }
}

/// A shield: the reduced form and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shield {
    /// Which reduced form.
    #[serde(rename = "type")]
    pub shield_type: ShieldType,
    /// Parameters such as `{"max": 100}` for `SMALL_BATCH`.
    #[serde(default)]
    pub params: Map<String, Value>,
}

/// The escrow created for an ESCROW verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowSummary {
    /// Escrow id, for `GET /v1/escrow/{id}`.
    pub escrow_id: String,
    /// Current state, `PENDING` when created.
    pub status: String,
    /// When the escrow expires unless approved, Unix milliseconds.
    pub expires_at: i64,
    /// Number of distinct approvals needed.
    pub approvals_required: u32,
}

/// One fact behind a non-ALLOW verdict, for example a witness value from Z3's model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// What the fact is about, for example `action.params.amount`.
    pub name: String,
    /// The value, as an exact decimal or string.
    pub value: String,
}

/// Why an action failed the policy: the axioms that failed and the facts that show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counterexample {
    /// Names of the axioms (or invariants) that failed.
    pub failed_axioms: Vec<String>,
    /// Values that make the failure concrete.
    pub facts: Vec<Fact>,
}

/// The engine's signature over a decision, so a tool can check it without calling back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Id of the engine key that signed.
    pub kid: String,
    /// Always `ed25519`.
    pub alg: String,
    /// Signature, base64url without padding, over the receipt signing input.
    pub sig: String,
}

/// The answer to one decision request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionResponse {
    /// Unique id of this decision, the key of its audit record. Empty when nothing was audited
    /// (an unparseable frame).
    pub decision_id: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why.
    pub reason_code: ReasonCode,
    /// When to retry, for DEFER and RATE_LIMITED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// The reduced form, for SHIELD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shield: Option<Shield>,
    /// The escrow created, for ESCROW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escrow: Option<EscrowSummary>,
    /// The failed axioms and facts, for DENY and policy-driven SHIELD or ESCROW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Counterexample>,
    /// Human-readable detail, for example which field was malformed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The engine's signature over this decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

impl DecisionResponse {
    /// Builds an unaudited error response, for input that could not be parsed at all.
    pub fn rejected(reason_code: ReasonCode, detail: impl Into<String>) -> Self {
        DecisionResponse {
            decision_id: String::new(),
            verdict: Verdict::Deny,
            reason_code,
            retry_after_ms: None,
            shield: None,
            escrow: None,
            counterexample: None,
            detail: Some(detail.into()),
            receipt: None,
        }
    }
}
