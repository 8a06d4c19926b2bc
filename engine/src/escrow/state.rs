//! The escrow record, its states and the inputs of its operations.

use super::error::EscrowError;
use crate::model::{Intent, RollbackPlan};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Most approvals a policy may require. Quorums above it are a configuration mistake that would
/// hold actions forever, and the bound also caps the size of `approvals`.
pub const APPROVALS_REQUIRED_MAX: u32 = 16;
/// Most approver roles an escrow may list, so that a role check stays a short scan.
pub const APPROVER_ROLES_MAX: usize = 32;
/// Maximum length of a reason kept in a transition, in bytes. Longer reasons are cut at a
/// character boundary, so an upstream error body cannot bloat the stored escrow.
pub const REASON_BYTES_MAX: usize = 1_024;

/// Workflow status of an escrow.
///
/// `PENDING → APPROVED → EXECUTING → EXECUTED → CLOSED` is the normal path. `EXECUTING` keeps
/// the execution claim while the upstream call is in flight, so a crash between the claim and
/// the outcome leaves a visible `EXECUTING` escrow rather than one that looks executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EscrowStatus {
    /// Waiting for approvals.
    Pending,
    /// The quorum of distinct approvers is reached; may be executed until it expires.
    Approved,
    /// An execution was claimed and the upstream call is in flight.
    Executing,
    /// The upstream tool accepted the action.
    Executed,
    /// Settled after a successful execution. Terminal.
    Closed,
    /// Reached `expires_at_ms` before being executed. Terminal.
    Expired,
    /// Withdrawn by an approver or the requesting actor before execution. Terminal.
    Cancelled,
    /// Re-verification or the upstream call failed; `failure` contains the reason.
    Failed,
    /// The rollback plan's compensating steps ran after a failure or on request. Terminal.
    RolledBack,
}

impl EscrowStatus {
    /// Every status, in declaration order.
    pub const ALL: [EscrowStatus; 9] = [
        EscrowStatus::Pending,
        EscrowStatus::Approved,
        EscrowStatus::Executing,
        EscrowStatus::Executed,
        EscrowStatus::Closed,
        EscrowStatus::Expired,
        EscrowStatus::Cancelled,
        EscrowStatus::Failed,
        EscrowStatus::RolledBack,
    ];

    /// Returns the stable wire string, for example `"ROLLED_BACK"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EscrowStatus::Pending => "PENDING",
            EscrowStatus::Approved => "APPROVED",
            EscrowStatus::Executing => "EXECUTING",
            EscrowStatus::Executed => "EXECUTED",
            EscrowStatus::Closed => "CLOSED",
            EscrowStatus::Expired => "EXPIRED",
            EscrowStatus::Cancelled => "CANCELLED",
            EscrowStatus::Failed => "FAILED",
            EscrowStatus::RolledBack => "ROLLED_BACK",
        }
    }

    /// Parses the wire string, for example a `?status=` filter; returns None when unknown.
    pub fn parse(text: &str) -> Option<EscrowStatus> {
        EscrowStatus::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Returns true when no operation can change the escrow any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            EscrowStatus::Closed
                | EscrowStatus::Expired
                | EscrowStatus::Cancelled
                | EscrowStatus::RolledBack
        )
    }
}

impl fmt::Display for EscrowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One approval, by a distinct approver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Principal id of the approver.
    pub approver: String,
    /// Roles the approver held when approving.
    pub roles: Vec<String>,
    /// When the approval was given, Unix milliseconds.
    pub at_ms: i64,
}

/// One status change, kept in the escrow's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// Status before.
    pub from: EscrowStatus,
    /// Status after.
    pub to: EscrowStatus,
    /// Principal id (or `system` for expiry and execution outcomes) that caused it.
    pub by: String,
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// Why, at most [`REASON_BYTES_MAX`] bytes.
    pub reason: String,
}

/// Finding of the caller's re-verification just before execution, against the live state.
/// Since the action was escrowed, the key may have been revoked, a source may have gone
/// stale, a newer policy may forbid the action, or the budget may no longer cover it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reverification {
    /// Every check passed, and the escrowed amount is reserved from the live budgets.
    Passed,
    /// A condition that can clear without anyone changing the escrow. The escrow stays
    /// `APPROVED`, so it can be executed once the condition clears.
    Pending {
        /// Kind of the condition.
        cause: PendingCause,
        /// The problem found, for example "required source `bank` is 45 s old".
        reason: String,
    },
    /// A condition that does not clear by itself: the signing key is revoked or expired, the
    /// current policy no longer allows the action, or the live budget no longer covers it.
    /// The escrow becomes `FAILED`.
    Failed {
        /// The problem found.
        reason: String,
    },
}

/// The kind of a condition that keeps an escrow `APPROVED` at execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PendingCause {
    /// A required source is stale or unknown; it clears when its feed reports again.
    StateNotFresh,
    /// The verifier or a shard is unavailable, or degraded mode is on.
    Unavailable,
}

/// Result of sending an action to the upstream tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionOutcome {
    /// The tool accepted and performed the action.
    Succeeded,
    /// The tool rejected the action, failed, or did not respond in time.
    Failed {
        /// Failure description, for example `upstream returned status 500`.
        reason: String,
    },
}

/// Data the decision path supplies to open an escrow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEscrow {
    /// Unique escrow id.
    pub escrow_id: String,
    /// Tenant of the intent; only its principals may act on the escrow.
    pub tenant: String,
    /// Decision that created the escrow.
    pub decision_id: String,
    /// Actor id of the agent that requested the action.
    pub requesting_actor: String,
    /// Id of the key that signed the certificate.
    pub key_id: String,
    /// Principal id that owns the signing key; under separation of duties it may not approve.
    pub key_owner: String,
    /// The action held for approval.
    pub intent: Intent,
    /// Compensating steps from the certificate, run when the execution fails.
    pub rollback_plan: Option<RollbackPlan>,
    /// Policy set that escrowed the action.
    pub policy_set_id: String,
    /// Number of distinct approvers needed, 1 to [`APPROVALS_REQUIRED_MAX`].
    pub approvals_required: u32,
    /// Roles of which an approver must hold at least one.
    pub approver_roles: Vec<String>,
    /// Separation of duties: the requesting actor and the key owner may not approve.
    pub sod: bool,
    /// When the escrow was opened, Unix milliseconds.
    pub created_at_ms: i64,
    /// When it expires unless executed, Unix milliseconds; after `created_at_ms`.
    pub expires_at_ms: i64,
}

/// An action held for human approval, with everything needed to execute it later.
///
/// Invariants, checked by [`Escrow::open`] and kept by every operation:
/// - `approvals` holds distinct approvers of `tenant`, never more than `approvals_required`;
/// - `status` is `PENDING` exactly while `approvals.len() < approvals_required` and the escrow
///   is neither expired nor cancelled;
/// - `version` grows by one with every accepted operation, and `history` has one entry per
///   status change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Escrow {
    /// Unique escrow id.
    pub escrow_id: String,
    /// Tenant of the intent.
    pub tenant: String,
    /// Decision that created the escrow.
    pub decision_id: String,
    /// Actor id of the agent that requested the action.
    pub requesting_actor: String,
    /// Id of the key that signed the certificate.
    pub key_id: String,
    /// Principal id that owns the signing key.
    pub key_owner: String,
    /// The action held for approval.
    pub intent: Intent,
    /// Compensating steps from the certificate.
    pub rollback_plan: Option<RollbackPlan>,
    /// Policy set that escrowed the action.
    pub policy_set_id: String,
    /// Number of distinct approvers needed.
    pub approvals_required: u32,
    /// Roles of which an approver must hold at least one.
    pub approver_roles: Vec<String>,
    /// Separation of duties between requester, key owner and approvers.
    pub sod: bool,
    /// Approvals given so far, in order.
    pub approvals: Vec<Approval>,
    /// When the escrow was opened, Unix milliseconds.
    pub created_at_ms: i64,
    /// When it expires unless executed, Unix milliseconds.
    pub expires_at_ms: i64,
    /// Current status.
    pub status: EscrowStatus,
    /// When the execution was claimed, Unix milliseconds; set once by `begin_execute`.
    pub execution_started_at_ms: Option<i64>,
    /// Failure reason, set when the escrow becomes `FAILED`.
    pub failure: Option<String>,
    /// Optimistic-concurrency version: 0 when opened, one more after each operation.
    pub version: u64,
    /// Every status change, oldest first.
    pub history: Vec<Transition>,
}

impl Escrow {
    /// Opens a `PENDING` escrow at version 0, after checking the quorum, roles and times.
    pub fn open(new: NewEscrow) -> Result<Escrow, EscrowError> {
        if new.approvals_required == 0 || new.approvals_required > APPROVALS_REQUIRED_MAX {
            return Err(EscrowError::InvalidEscrow(format!(
                "approvals_required is {}, expected 1 to {APPROVALS_REQUIRED_MAX}",
                new.approvals_required
            )));
        }

        if new.approver_roles.is_empty() || new.approver_roles.len() > APPROVER_ROLES_MAX {
            return Err(EscrowError::InvalidEscrow(format!(
                "approver_roles has {} entries, expected 1 to {APPROVER_ROLES_MAX}",
                new.approver_roles.len()
            )));
        }

        if new.expires_at_ms <= new.created_at_ms {
            return Err(EscrowError::InvalidEscrow(format!(
                "expires_at_ms {} is not after created_at_ms {}",
                new.expires_at_ms, new.created_at_ms
            )));
        }

        if new.escrow_id.is_empty() || new.tenant.is_empty() || new.requesting_actor.is_empty() {
            return Err(EscrowError::InvalidEscrow(
                "escrow_id, tenant and requesting_actor must not be empty".to_owned(),
            ));
        }

        Ok(Escrow {
            escrow_id: new.escrow_id,
            tenant: new.tenant,
            decision_id: new.decision_id,
            requesting_actor: new.requesting_actor,
            key_id: new.key_id,
            key_owner: new.key_owner,
            intent: new.intent,
            rollback_plan: new.rollback_plan,
            policy_set_id: new.policy_set_id,
            approvals_required: new.approvals_required,
            approver_roles: new.approver_roles,
            sod: new.sod,
            approvals: Vec::new(),
            created_at_ms: new.created_at_ms,
            expires_at_ms: new.expires_at_ms,
            status: EscrowStatus::Pending,
            execution_started_at_ms: None,
            failure: None,
            version: 0,
            history: Vec::new(),
        })
    }

    /// Returns true when the quorum of distinct approvers is reached.
    pub fn quorum_reached(&self) -> bool {
        self.approvals.len() as u64 >= u64::from(self.approvals_required)
    }

    /// Returns true when `now_ms` is at or past the expiry time.
    pub fn is_expired_at(&self, now_ms: i64) -> bool {
        now_ms >= self.expires_at_ms
    }

    /// Returns true when the rollback plan has compensating steps to run.
    pub fn has_usable_rollback_plan(&self) -> bool {
        self.rollback_plan
            .as_ref()
            .is_some_and(RollbackPlan::is_usable)
    }
}
