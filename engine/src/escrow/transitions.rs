//! The escrow operations. Each takes the current escrow by reference and returns the next one
//! with `version + 1`, or an error and no change.
//!
//! Checks run in a fixed order: tenant first (a principal of another tenant learns nothing
//! about the escrow's state), then status, then expiry, then the principal's rights.

use super::error::{EscrowError, SodConflict};
use super::principal::Principal;
use super::state::{
    Approval, Escrow, EscrowStatus, ExecutionOutcome, Reverification, Transition,
    REASON_BYTES_MAX,
};

/// Principal id recorded for transitions that no person caused (expiry, execution outcomes).
pub(crate) const SYSTEM_ACTOR: &str = "system";

/// Adds one approval; reaching the quorum moves `PENDING` to `APPROVED`.
///
/// The approver must belong to the escrow's tenant, hold one of its approver roles, not have
/// approved before, and under separation of duties be neither the requesting actor nor the
/// key owner. No approval is accepted at or after `expires_at_ms`.
pub fn approve(escrow: &Escrow, approver: &Principal, now_ms: i64) -> Result<Escrow, EscrowError> {
    check_tenant(escrow, approver)?;
    check_status(escrow, "approved", &[EscrowStatus::Pending])?;
    check_not_expired(escrow, now_ms)?;

    if !approver.holds_any(&escrow.approver_roles) {
        return Err(EscrowError::MissingRole {
            escrow_id: escrow.escrow_id.clone(),
            principal: approver.id.clone(),
            required: escrow.approver_roles.clone(),
        });
    }

    if escrow.sod {
        let conflict = if approver.id == escrow.requesting_actor {
            Some(SodConflict::RequestingActor)
        } else if approver.id == escrow.key_owner {
            Some(SodConflict::KeyOwner)
        } else {
            None
        };
        if let Some(conflict) = conflict {
            return Err(EscrowError::SeparationOfDuties {
                escrow_id: escrow.escrow_id.clone(),
                approver: approver.id.clone(),
                conflict,
            });
        }
    }

    if escrow
        .approvals
        .iter()
        .any(|approval| approval.approver == approver.id)
    {
        return Err(EscrowError::DuplicateApprover {
            escrow_id: escrow.escrow_id.clone(),
            approver: approver.id.clone(),
        });
    }

    let mut next = bump_version(escrow)?;
    next.approvals.push(Approval {
        approver: approver.id.clone(),
        roles: approver.roles.clone(),
        at_ms: now_ms,
    });
    if next.quorum_reached() {
        let reason = format!("quorum of {} distinct approvers reached", next.approvals_required);
        change_status(&mut next, EscrowStatus::Approved, &approver.id, now_ms, &reason);
    }
    Ok(next)
}

/// Withdraws a `PENDING` or `APPROVED` escrow before its expiry: `CANCELLED`.
///
/// An approver of the tenant or the requesting actor may cancel, because withdrawing an
/// action never causes a side effect.
pub fn cancel(
    escrow: &Escrow,
    by: &Principal,
    now_ms: i64,
    reason: &str,
) -> Result<Escrow, EscrowError> {
    check_tenant(escrow, by)?;
    check_status(
        escrow,
        "cancelled",
        &[EscrowStatus::Pending, EscrowStatus::Approved],
    )?;
    check_not_expired(escrow, now_ms)?;
    check_may_operate(escrow, by)?;

    let mut next = bump_version(escrow)?;
    change_status(&mut next, EscrowStatus::Cancelled, &by.id, now_ms, reason);
    Ok(next)
}

/// Marks a `PENDING` or `APPROVED` escrow whose expiry time has passed as `EXPIRED`.
pub fn expire(escrow: &Escrow, now_ms: i64) -> Result<Escrow, EscrowError> {
    check_status(
        escrow,
        "expired",
        &[EscrowStatus::Pending, EscrowStatus::Approved],
    )?;
    if !escrow.is_expired_at(now_ms) {
        return Err(EscrowError::NotYetExpired {
            escrow_id: escrow.escrow_id.clone(),
            expires_at_ms: escrow.expires_at_ms,
            now_ms,
        });
    }

    let mut next = bump_version(escrow)?;
    let reason = format!("expired at {} ms", escrow.expires_at_ms);
    change_status(&mut next, EscrowStatus::Expired, SYSTEM_ACTOR, now_ms, &reason);
    Ok(next)
}

/// Checks that `by` may execute the escrow now, before any re-verification: same tenant,
/// `APPROVED` with its quorum, not expired, and an approver role or the requesting actor.
pub fn check_execute(escrow: &Escrow, by: &Principal, now_ms: i64) -> Result<(), EscrowError> {
    check_tenant(escrow, by)?;
    if escrow.status == EscrowStatus::Pending {
        return Err(EscrowError::QuorumNotReached {
            escrow_id: escrow.escrow_id.clone(),
            approvals: escrow.approvals.len(),
            required: escrow.approvals_required,
        });
    }
    check_status(escrow, "executed", &[EscrowStatus::Approved])?;
    check_not_expired(escrow, now_ms)?;
    check_may_operate(escrow, by)?;

    // The status check above implies the quorum; this guards the invariant against a
    // hand-edited or corrupted stored escrow.
    if !escrow.quorum_reached() {
        return Err(EscrowError::QuorumNotReached {
            escrow_id: escrow.escrow_id.clone(),
            approvals: escrow.approvals.len(),
            required: escrow.approvals_required,
        });
    }
    Ok(())
}

/// Claims the execution of an `APPROVED` escrow after the caller's re-verification:
/// `EXECUTING` when it passed, `FAILED` when it found a permanent problem, and an
/// [`EscrowError::ReverificationPending`] with no change when the problem can clear by itself.
///
/// The caller sends the action upstream only when the returned status is `EXECUTING` and the
/// compare-and-set of the returned version succeeded. An escrow that is already `EXECUTING`
/// or `EXECUTED` is rejected, so an action runs at most once.
pub fn begin_execute(
    escrow: &Escrow,
    by: &Principal,
    reverification: Reverification,
    now_ms: i64,
) -> Result<Escrow, EscrowError> {
    check_execute(escrow, by, now_ms)?;

    match reverification {
        Reverification::Passed => {
            let mut next = bump_version(escrow)?;
            next.execution_started_at_ms = Some(now_ms);
            change_status(
                &mut next,
                EscrowStatus::Executing,
                &by.id,
                now_ms,
                "re-verification passed",
            );
            Ok(next)
        }
        Reverification::Pending { cause, reason } => Err(EscrowError::ReverificationPending {
            escrow_id: escrow.escrow_id.clone(),
            cause,
            reason: truncate_reason(&reason),
        }),
        Reverification::Failed { reason } => {
            let mut next = bump_version(escrow)?;
            let reason = format!("re-verification failed: {reason}");
            next.failure = Some(truncate_reason(&reason));
            change_status(&mut next, EscrowStatus::Failed, &by.id, now_ms, &reason);
            Ok(next)
        }
    }
}

/// Records the upstream tool's response to an `EXECUTING` escrow: `EXECUTED` or `FAILED`.
pub fn record_execution(
    escrow: &Escrow,
    outcome: &ExecutionOutcome,
    now_ms: i64,
) -> Result<Escrow, EscrowError> {
    check_status(escrow, "recorded as executed", &[EscrowStatus::Executing])?;

    let mut next = bump_version(escrow)?;
    match outcome {
        ExecutionOutcome::Succeeded => change_status(
            &mut next,
            EscrowStatus::Executed,
            SYSTEM_ACTOR,
            now_ms,
            "upstream accepted the action",
        ),
        ExecutionOutcome::Failed { reason } => {
            next.failure = Some(truncate_reason(reason));
            change_status(&mut next, EscrowStatus::Failed, SYSTEM_ACTOR, now_ms, reason);
        }
    }
    Ok(next)
}

/// Records that the rollback plan's compensating steps ran: `ROLLED_BACK`.
///
/// Allowed from `EXECUTED` (an operator undoes a completed action) and from `FAILED` when
/// the action reached the upstream tool. The caller runs the steps first and calls this only
/// once every step succeeded.
pub fn rollback(
    escrow: &Escrow,
    by: &Principal,
    now_ms: i64,
    reason: &str,
) -> Result<Escrow, EscrowError> {
    check_tenant(escrow, by)?;
    check_status(
        escrow,
        "rolled back",
        &[EscrowStatus::Executed, EscrowStatus::Failed],
    )?;
    check_may_operate(escrow, by)?;

    if escrow.execution_started_at_ms.is_none() {
        return Err(EscrowError::NeverExecuted {
            escrow_id: escrow.escrow_id.clone(),
        });
    }

    if !escrow.has_usable_rollback_plan() {
        return Err(EscrowError::NoRollbackPlan {
            escrow_id: escrow.escrow_id.clone(),
        });
    }

    let mut next = bump_version(escrow)?;
    change_status(&mut next, EscrowStatus::RolledBack, &by.id, now_ms, reason);
    Ok(next)
}

/// Settles an `EXECUTED` escrow: `CLOSED`.
pub fn close(escrow: &Escrow, by: &Principal, now_ms: i64) -> Result<Escrow, EscrowError> {
    check_tenant(escrow, by)?;
    check_status(escrow, "closed", &[EscrowStatus::Executed])?;
    check_may_operate(escrow, by)?;

    let mut next = bump_version(escrow)?;
    change_status(&mut next, EscrowStatus::Closed, &by.id, now_ms, "closed");
    Ok(next)
}

fn check_tenant(escrow: &Escrow, principal: &Principal) -> Result<(), EscrowError> {
    if principal.tenant == escrow.tenant {
        return Ok(());
    }
    Err(EscrowError::WrongTenant {
        escrow_id: escrow.escrow_id.clone(),
        principal: principal.id.clone(),
        principal_tenant: principal.tenant.clone(),
    })
}

fn check_status(
    escrow: &Escrow,
    operation: &'static str,
    allowed: &[EscrowStatus],
) -> Result<(), EscrowError> {
    if allowed.contains(&escrow.status) {
        return Ok(());
    }
    Err(EscrowError::InvalidTransition {
        escrow_id: escrow.escrow_id.clone(),
        operation,
        status: escrow.status,
    })
}

fn check_not_expired(escrow: &Escrow, now_ms: i64) -> Result<(), EscrowError> {
    if !escrow.is_expired_at(now_ms) {
        return Ok(());
    }
    Err(EscrowError::Expired {
        escrow_id: escrow.escrow_id.clone(),
        expires_at_ms: escrow.expires_at_ms,
        now_ms,
    })
}

/// Cancelling, executing, rolling back and closing need an approver role or the identity of
/// the requesting actor.
fn check_may_operate(escrow: &Escrow, principal: &Principal) -> Result<(), EscrowError> {
    if principal.holds_any(&escrow.approver_roles) || principal.id == escrow.requesting_actor {
        return Ok(());
    }
    Err(EscrowError::MissingRole {
        escrow_id: escrow.escrow_id.clone(),
        principal: principal.id.clone(),
        required: escrow.approver_roles.clone(),
    })
}

fn bump_version(escrow: &Escrow) -> Result<Escrow, EscrowError> {
    let version = escrow
        .version
        .checked_add(1)
        .ok_or_else(|| EscrowError::VersionExhausted {
            escrow_id: escrow.escrow_id.clone(),
            version: escrow.version,
        })?;
    let mut next = escrow.clone();
    next.version = version;
    Ok(next)
}

fn change_status(escrow: &mut Escrow, to: EscrowStatus, by: &str, now_ms: i64, reason: &str) {
    tracing::debug!(
        escrow_id = %escrow.escrow_id,
        tenant = %escrow.tenant,
        from = %escrow.status,
        to = %to,
        by,
        "escrow status changed"
    );
    escrow.history.push(Transition {
        from: escrow.status,
        to,
        by: by.to_owned(),
        at_ms: now_ms,
        reason: truncate_reason(reason),
    });
    escrow.status = to;
}

/// Cuts `reason` to at most [`REASON_BYTES_MAX`] bytes, at a character boundary.
pub(crate) fn truncate_reason(reason: &str) -> String {
    if reason.len() <= REASON_BYTES_MAX {
        return reason.to_owned();
    }
    let mut end = REASON_BYTES_MAX;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason.get(..end).unwrap_or_default().to_owned()
}
