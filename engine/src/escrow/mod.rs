//! The escrow workflow: actions held for human approval, as a typed state machine.
//!
//! An ESCROW verdict opens an [`Escrow`] in `PENDING`. Approvers add approvals until the
//! policy's quorum of distinct approvers is reached (`APPROVED`); an execution is then claimed
//! (`EXECUTING`) once re-verification passed, sent to the tool upstream, and its outcome
//! recorded (`EXECUTED`, `FAILED`, then `ROLLED_BACK` once compensating steps ran). A
//! re-verification that cannot pass yet (stale data, an unavailable verifier) leaves it
//! `APPROVED`. Side paths are `EXPIRED` and `CANCELLED`.
//!
//! Every operation is a pure function of the current escrow, the acting principal and `now_ms`.
//! It returns the next escrow with `version + 1`, or a typed error and no change. Callers
//! persist the result with compare-and-set on `version`, so two concurrent operations on the
//! same escrow cannot both take effect: this is what makes a double execution impossible.

mod error;
mod principal;
mod state;
mod transitions;

pub use error::{EscrowError, SodConflict};
pub use principal::Principal;
pub use state::{
    Approval, Escrow, EscrowStatus, ExecutionOutcome, NewEscrow, PendingCause, Reverification, Transition,
    APPROVALS_REQUIRED_MAX, APPROVER_ROLES_MAX, REASON_BYTES_MAX,
};
pub use transitions::{
    approve, begin_execute, cancel, check_execute, close, expire, record_execution, rollback,
};
