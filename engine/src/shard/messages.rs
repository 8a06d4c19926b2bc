//! The requests a shard handles and the outcomes it returns.
//!
//! Calling protocol: the caller verifies the signature, then sends one [`AdmitRequest`]. An
//! [`AdmitOutcome::Admitted`] ticket must be followed by exactly one successful completion
//! (`ShardSet::complete`) carrying the final response. A completion that returns
//! [`CompleteOutcome::BudgetExhausted`] leaves the admission open, so the caller changes the
//! verdict and completes again.

use crate::model::{DecisionResponse, ReasonCode};
use rust_decimal::Decimal;
use std::sync::Arc;

use super::budgets::{BudgetRemaining, BudgetScope};

/// One authenticated request asking to pass the replay, sequence, idempotency and rate checks.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmitRequest {
    /// Tenant of the actor and key; selects the shard.
    pub tenant: String,
    /// Actor id from the intent.
    pub actor_id: String,
    /// Key id that signed the certificate.
    pub kid: String,
    /// The certificate's nonce, as received.
    pub nonce: String,
    /// The certificate's `expires_at`, Unix milliseconds; the nonce is remembered until this
    /// time plus the clock skew.
    pub cert_expires_at_ms: i64,
    /// The certificate's sequence and the stream it belongs to (the caller builds the stream
    /// id from kid, tenant, actor and policy set).
    pub sequence: Option<SequenceClaim>,
    /// The intent's idempotency key.
    pub idempotency_key: String,
    /// SHA-256 of the intent, compared on an idempotency hit.
    pub intent_hash: [u8; 32],
    /// Budget codes whose remaining amount the caller needs for the policy.
    pub budget_codes: Vec<String>,
    /// The engine's current time, Unix milliseconds.
    pub now_ms: i64,
}

/// A certificate's sequence number within its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceClaim {
    /// Stream the number belongs to.
    pub stream_id: String,
    /// The number; must be strictly above the stream's high-water mark.
    pub value: u64,
}

/// Outcome of an [`AdmitRequest`].
#[derive(Debug, Clone, PartialEq)]
pub enum AdmitOutcome {
    /// Every check passed; the nonce is consumed and the sequence mark raised until completion.
    Admitted(Admission),
    /// A check failed; nothing was consumed.
    Rejected(Rejection),
    /// The same actor already sent this idempotency key with the same intent; this is the
    /// stored decision. Nothing was consumed.
    Cached(Box<DecisionResponse>),
}

/// Reason an admission was rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The reason code for the response.
    pub reason: ReasonCode,
    /// When the request may be retried, for `RATE_LIMITED` and in-flight idempotency keys.
    pub retry_after_ms: Option<u64>,
    /// Description of the failure, for the response's `detail`.
    pub detail: String,
    /// An anomaly the caller should record as an incident, at most one per actor per minute.
    pub anomaly: Option<AnomalyEvent>,
}

impl Rejection {
    /// Builds a rejection without retry hint or anomaly.
    pub fn new(reason: ReasonCode, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            retry_after_ms: None,
            detail: detail.into(),
            anomaly: None,
        }
    }
}

/// An anomaly the shard observed; the caller opens the incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnomalyEvent {
    /// Tenant of the actor.
    pub tenant: String,
    /// The actor that was rate limited repeatedly.
    pub actor_id: String,
    /// The reason that repeated, `RATE_LIMITED`.
    pub reason: ReasonCode,
    /// Start of the minute the rejections were counted in, Unix milliseconds.
    pub window_start_ms: i64,
    /// Rejections counted in that minute when the anomaly opened.
    pub rejections: u32,
}

/// The ticket for an admitted request, handed back on completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    /// Id of the admission, unique within its shard's current run.
    pub admission_id: u64,
    /// Index of the shard that admitted it.
    pub shard_index: usize,
    /// Run number of that shard (raised on every restart); a ticket from an earlier run is
    /// unknown to the current one.
    pub shard_run: u64,
    /// Tenant of the request.
    pub tenant: Arc<str>,
    /// Actor of the request.
    pub actor_id: String,
    /// Remaining amounts of the requested budget codes, read at admission.
    pub budgets: Vec<BudgetRemaining>,
}

/// A budget amount to reserve when the final verdict is ALLOW.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetReservation {
    /// Budget code.
    pub code: String,
    /// Whether the tenant's or the actor's budget is charged; must match the definition.
    pub scope: BudgetScope,
    /// Amount to spend; must not be negative.
    pub amount: Decimal,
    /// The remaining amount the caller's proof used. When set, the reservation is refused with
    /// `BudgetExhausted` unless the budget still has exactly this remaining amount, so an
    /// ALLOW proved against a stale amount (another request spent in between) is proved again.
    pub expected_remaining: Option<Decimal>,
}

/// Outcome of a completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompleteOutcome {
    /// The verdict was recorded: a DEFER released the nonce and restored the sequence mark,
    /// a final verdict stored the idempotency entry and, for ALLOW, reserved the budgets.
    Recorded,
    /// A reservation no longer fits. Nothing was reserved or recorded and the admission stays
    /// open, so the caller changes the verdict and completes again.
    BudgetExhausted {
        /// The first budget that did not fit.
        code: String,
        /// Its remaining amount in the current period.
        remaining: Decimal,
    },
    /// A reservation is invalid (unknown code, wrong scope or negative amount). Nothing was
    /// reserved and the admission stays open.
    InvalidReservation {
        /// Budget code of the invalid reservation.
        code: String,
        /// Description of the problem.
        detail: String,
    },
    /// The shard has no open admission with this id: it was already completed, it timed
    /// out, or the shard restarted since. Its nonce stays consumed.
    UnknownAdmission,
    /// The shard could not handle the completion (restarting, recovering or failed).
    Unavailable {
        /// What failed.
        detail: String,
    },
}

/// Outcome of a reservation made outside an admission (`ShardSet::reserve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Every reservation fitted and was applied and journaled.
    Reserved,
    /// A reservation does not fit in what remains. Nothing was reserved.
    BudgetExhausted {
        /// The first budget that did not fit.
        code: String,
        /// Its remaining amount in the current period.
        remaining: Decimal,
    },
    /// A reservation is invalid (unknown code, wrong scope or negative amount). Nothing was
    /// reserved.
    InvalidReservation {
        /// Budget code of the invalid reservation.
        code: String,
        /// Description of the problem.
        detail: String,
    },
    /// The shard could not handle the reservation (restarting, recovering or failed).
    /// Nothing was reserved.
    Unavailable {
        /// What failed.
        detail: String,
    },
}
