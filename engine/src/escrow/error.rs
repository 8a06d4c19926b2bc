//! Errors of the escrow operations.

use super::state::{EscrowStatus, PendingCause};
use std::fmt;

/// The separation-of-duties rule that an approver broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SodConflict {
    /// The approver is the agent that requested the action.
    RequestingActor,
    /// The approver owns the key that signed the request.
    KeyOwner,
}

impl fmt::Display for SodConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SodConflict::RequestingActor => f.write_str("requesting actor"),
            SodConflict::KeyOwner => f.write_str("key owner"),
        }
    }
}

/// An escrow operation that was rejected; the escrow is unchanged.
///
/// The variants fall in four groups, see [`EscrowError::is_forbidden`],
/// [`EscrowError::is_conflict`] and [`EscrowError::is_unavailable`]. Either the principal may
/// not do this (403), or the escrow or the data it depends on is in the wrong state for it
/// (409), or a component it needs is unavailable (503), or the input is invalid (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscrowError {
    /// The operation is not defined in the escrow's current status.
    #[error("escrow `{escrow_id}` is {status}, so it cannot be {operation}")]
    InvalidTransition {
        /// Escrow id.
        escrow_id: String,
        /// Past participle of the operation, for example `approved`.
        operation: &'static str,
        /// Current status.
        status: EscrowStatus,
    },

    /// The escrow's expiry time has passed; the caller should record it with `expire`.
    #[error("escrow `{escrow_id}` expired at {expires_at_ms} ms (now {now_ms} ms)")]
    Expired {
        /// Escrow id.
        escrow_id: String,
        /// Expiry time, Unix milliseconds.
        expires_at_ms: i64,
        /// Time of the rejected operation, Unix milliseconds.
        now_ms: i64,
    },

    /// `expire` was called before the expiry time.
    #[error("escrow `{escrow_id}` does not expire until {expires_at_ms} ms (now {now_ms} ms)")]
    NotYetExpired {
        /// Escrow id.
        escrow_id: String,
        /// Expiry time, Unix milliseconds.
        expires_at_ms: i64,
        /// Time of the rejected operation, Unix milliseconds.
        now_ms: i64,
    },

    /// The principal belongs to another tenant.
    #[error("principal `{principal}` of tenant `{principal_tenant}` cannot act on escrow `{escrow_id}` of another tenant")]
    WrongTenant {
        /// Escrow id.
        escrow_id: String,
        /// Principal id.
        principal: String,
        /// Tenant of the principal.
        principal_tenant: String,
    },

    /// The principal has none of the roles the operation needs.
    #[error("principal `{principal}` holds none of the roles {required:?} needed to act on escrow `{escrow_id}`")]
    MissingRole {
        /// Escrow id.
        escrow_id: String,
        /// Principal id.
        principal: String,
        /// Roles of which one is needed.
        required: Vec<String>,
    },

    /// Separation of duties forbids this approver.
    #[error("approver `{approver}` is the {conflict} of escrow `{escrow_id}`, and separation of duties forbids that approval")]
    SeparationOfDuties {
        /// Escrow id.
        escrow_id: String,
        /// Principal id of the rejected approver.
        approver: String,
        /// The broken rule.
        conflict: SodConflict,
    },

    /// The approver already approved; a quorum needs distinct approvers.
    #[error("approver `{approver}` already approved escrow `{escrow_id}`, and a quorum needs distinct approvers")]
    DuplicateApprover {
        /// Escrow id.
        escrow_id: String,
        /// Principal id of the repeated approver.
        approver: String,
    },

    /// Execution was requested before the quorum was reached.
    #[error("escrow `{escrow_id}` has {approvals} of {required} approvals, and execution needs the full quorum")]
    QuorumNotReached {
        /// Escrow id.
        escrow_id: String,
        /// Approvals given so far.
        approvals: usize,
        /// Approvals needed.
        required: u32,
    },

    /// Re-verification found a condition that can clear by itself (stale data, an unavailable
    /// verifier); the escrow stays `APPROVED` and may be executed again later.
    #[error("escrow `{escrow_id}` stays APPROVED because re-verification cannot pass yet: {reason}; execute it again once this clears")]
    ReverificationPending {
        /// Escrow id.
        escrow_id: String,
        /// Kind of the condition.
        cause: PendingCause,
        /// The problem found.
        reason: String,
    },

    /// A rollback was requested but the certificate carried no usable rollback plan.
    #[error("escrow `{escrow_id}` has no usable rollback plan")]
    NoRollbackPlan {
        /// Escrow id.
        escrow_id: String,
    },

    /// A rollback was requested for an escrow whose action never reached the upstream tool.
    #[error("escrow `{escrow_id}` failed before execution, so there is nothing to roll back")]
    NeverExecuted {
        /// Escrow id.
        escrow_id: String,
    },

    /// The data given to open an escrow is invalid.
    #[error("invalid escrow: {0}")]
    InvalidEscrow(String),

    /// The version counter cannot grow further; the escrow cannot change any more.
    #[error("escrow `{escrow_id}` reached the highest version {version}")]
    VersionExhausted {
        /// Escrow id.
        escrow_id: String,
        /// Current version.
        version: u64,
    },
}

impl EscrowError {
    /// Returns true when the principal is not allowed to perform the operation (HTTP 403).
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            EscrowError::WrongTenant { .. }
                | EscrowError::MissingRole { .. }
                | EscrowError::SeparationOfDuties { .. }
                | EscrowError::DuplicateApprover { .. }
        )
    }

    /// Returns true when the escrow's state does not allow the operation now (HTTP 409).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            EscrowError::InvalidTransition { .. }
                | EscrowError::Expired { .. }
                | EscrowError::NotYetExpired { .. }
                | EscrowError::QuorumNotReached { .. }
                | EscrowError::NoRollbackPlan { .. }
                | EscrowError::NeverExecuted { .. }
                | EscrowError::VersionExhausted { .. }
                | EscrowError::ReverificationPending {
                    cause: PendingCause::StateNotFresh,
                    ..
                }
        )
    }

    /// Returns true when a component the operation needs is unavailable for now (HTTP 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            EscrowError::ReverificationPending {
                cause: PendingCause::Unavailable,
                ..
            }
        )
    }
}
