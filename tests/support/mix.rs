//! Signed requests of the load and crash tests, each kind with the one verdict and reason code
//! the demo policy must give it.
//!
//! The demo tenant's budget is 5000.00 per day, so the ALLOW kinds either read (no budget) or
//! pay 0.01: even 100,000 such payments spend only 1000.00, and the over-budget kind (9000.00)
//! is denied whatever was spent.

use axiom::node::demo::{demo_intent, demo_rollback_plan, flip_signature_bit};
use axiom_engine::crypto::{AgentKey, CertificateOptions};
use axiom_engine::model::{ReasonCode, Verdict};
use serde_json::{json, Value};

/// Certificate lifetime of the test requests: 4 minutes, inside the server's default
/// acceptance TTL of 5 minutes and longer than any test run. So a resent certificate is still
/// valid and can only be rejected as a replay.
pub const CERT_TTL_MS: u64 = 240_000;

/// The operation and conditions of a test request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `get_invoice`: no side effects, no sources, proved and allowed.
    Read,
    /// A 0.01 payment with a rollback plan and a fresh bank feed: allowed.
    SmallPayment,
    /// A 15000.00 refund, above the policy's escrow threshold of 10000.
    Escrow,
    /// A 9000.00 payment, above the whole 5000.00 budget: the Budget axiom fails.
    OverBudget,
    /// A refund that accepts a bank feed at most 1 s old; the feed is reported 5 s old.
    Stale,
    /// A certificate this client already had accepted, sent again.
    Replay,
    /// A fresh certificate with one signature bit flipped.
    Forged,
}

impl Kind {
    /// Returns the verdict and reason code the demo policy must give.
    pub fn expected(self) -> (Verdict, ReasonCode) {
        match self {
            Kind::Read | Kind::SmallPayment => (Verdict::Allow, ReasonCode::Ok),
            Kind::Escrow => (Verdict::Escrow, ReasonCode::EscrowRequired),
            Kind::OverBudget => (Verdict::Deny, ReasonCode::AxiomFail),
            Kind::Stale => (Verdict::Defer, ReasonCode::StateStale),
            Kind::Replay => (Verdict::Deny, ReasonCode::ReplayDetected),
            Kind::Forged => (Verdict::Deny, ReasonCode::BadSignature),
        }
    }

    /// Returns true when a decision of this kind consumes the certificate's nonce, so sending
    /// the certificate again must be a replay. A DEFER leaves the nonce for a retry.
    pub fn consumes_nonce(self) -> bool {
        matches!(
            self,
            Kind::Read | Kind::SmallPayment | Kind::Escrow | Kind::OverBudget
        )
    }
}

/// Builds and signs a fresh request of `kind` for `actor_id`; `Replay` has no fresh form.
pub fn signed_request(agent: &AgentKey, kind: Kind, actor_id: &str, sequence: Option<u64>) -> Value {
    let mut intent = match kind {
        Kind::Read => demo_intent("get_invoice", json!({}), &[], 60),
        Kind::SmallPayment => demo_intent("pay_invoice", json!({"amount": "0.01"}), &["bank"], 60),
        Kind::Escrow => demo_intent("refund", json!({"amount": "15000.00"}), &["bank"], 60),
        Kind::OverBudget => demo_intent("pay_invoice", json!({"amount": "9000.00"}), &["bank"], 60),
        Kind::Stale => demo_intent("refund", json!({"amount": "50.00"}), &["bank"], 1),
        Kind::Forged => demo_intent("pay_invoice", json!({"amount": "10.00"}), &["bank"], 60),
        Kind::Replay => panic!("a replay resends an earlier certificate"),
    };
    intent["actor"]["id"] = Value::from(actor_id);

    let options = CertificateOptions {
        ttl_ms: CERT_TTL_MS,
        sequence,
        rollback_plan: Some(demo_rollback_plan()),
        ..CertificateOptions::default()
    };
    let mut envelope = agent
        .sign_envelope(&intent, &options)
        .expect("signing a test request");
    if kind == Kind::Forged {
        flip_signature_bit(&mut envelope).expect("flipping a signature bit");
    }
    envelope
}
