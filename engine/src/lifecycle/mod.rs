//! Policy versions from draft to retirement, diffs between versions, and audit replay.
//!
//! Like the escrow module, everything here is pure: operations take the current version, the
//! acting principal and `now_ms`, and return the next state or a typed error. The caller
//! persists with compare-and-set on `version`.

mod diff;
mod error;
mod replay;
mod transitions;
mod version;

pub use diff::{diff_lines, DiffError, DIFF_CELLS_MAX, DIFF_CONTEXT_LINES};
pub use error::LifecycleError;
pub use replay::{
    compare_decisions, replay, DecisionSummary, ReplayError, ReplayInput, ReplayReport,
};
pub use transitions::{approve, publish, retire, revise, submit, Publication};
pub use version::{
    NewPolicyVersion, PolicyApproval, PolicyState, PolicyTransition, PolicyVersion,
    POLICY_APPROVER_ROLES_DEFAULT, POLICY_QUORUM_MAX, POLICY_SOURCE_BYTES_MAX,
};
