//! Errors of the policy lifecycle operations.

use super::version::PolicyState;

/// A policy lifecycle operation that was rejected; the versions are unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The operation is not defined in the version's current state.
    #[error("policy `{label}` is {state}, so it cannot be {operation}")]
    InvalidTransition {
        /// Policy set and version number, for example `finance v18`.
        label: String,
        /// Past participle of the operation, for example `published`.
        operation: &'static str,
        /// Current state.
        state: PolicyState,
    },

    /// The principal belongs to another tenant.
    #[error("principal `{principal}` of tenant `{principal_tenant}` cannot act on policy `{label}` of another tenant")]
    WrongTenant {
        /// Policy set and version number.
        label: String,
        /// Principal id.
        principal: String,
        /// Tenant of the principal.
        principal_tenant: String,
    },

    /// Only the author may edit or submit a draft.
    #[error("principal `{principal}` is not the author `{author}` of policy `{label}`")]
    NotAuthor {
        /// Policy set and version number.
        label: String,
        /// Principal id.
        principal: String,
        /// Author id.
        author: String,
    },

    /// Separation of duties: the author cannot approve their own version.
    #[error("author `{author}` cannot approve their own policy `{label}`")]
    AuthorCannotApprove {
        /// Policy set and version number.
        label: String,
        /// Author id.
        author: String,
    },

    /// The principal has none of the roles the operation needs.
    #[error("principal `{principal}` holds none of the roles {required:?} needed to act on policy `{label}`")]
    MissingRole {
        /// Policy set and version number.
        label: String,
        /// Principal id.
        principal: String,
        /// Roles of which one is needed.
        required: Vec<String>,
    },

    /// The approver already approved; a quorum needs distinct approvers.
    #[error("approver `{approver}` already approved policy `{label}`, and a quorum needs distinct approvers")]
    DuplicateApprover {
        /// Policy set and version number.
        label: String,
        /// Principal id of the repeated approver.
        approver: String,
    },

    /// Publication was requested before the quorum was reached.
    #[error("policy `{label}` has {approvals} of {quorum} approvals, and publication needs the full quorum")]
    QuorumNotReached {
        /// Policy set and version number.
        label: String,
        /// Approvals given so far.
        approvals: usize,
        /// Approvals needed.
        quorum: u32,
    },

    /// The quorum is already reached, so a further approval is not recorded.
    #[error("policy `{label}` already has its quorum of {quorum} approvals")]
    QuorumAlreadyReached {
        /// Policy set and version number.
        label: String,
        /// Approvals needed.
        quorum: u32,
    },

    /// The static or Z3 publish checks reported problems.
    #[error("policy `{label}` cannot be published: {}", .diagnostics.join("; "))]
    PublishBlocked {
        /// Policy set and version number.
        label: String,
        /// Every problem found, each rendered as `line:column: message`.
        diagnostics: Vec<String>,
    },

    /// The version given as currently published does not belong with the candidate.
    #[error("policy `{candidate}` cannot replace `{current}`: {detail}")]
    CurrentMismatch {
        /// Candidate label.
        candidate: String,
        /// Current label.
        current: String,
        /// The mismatch.
        detail: String,
    },

    /// The data given to create or revise a version is invalid.
    #[error("invalid policy version: {0}")]
    InvalidVersion(String),

    /// The version counter cannot grow further.
    #[error("policy `{label}` reached the highest version {version}")]
    VersionExhausted {
        /// Policy set and version number.
        label: String,
        /// Current version.
        version: u64,
    },
}

impl LifecycleError {
    /// Returns true when the principal is not allowed to perform the operation (HTTP 403).
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            LifecycleError::WrongTenant { .. }
                | LifecycleError::NotAuthor { .. }
                | LifecycleError::AuthorCannotApprove { .. }
                | LifecycleError::MissingRole { .. }
                | LifecycleError::DuplicateApprover { .. }
        )
    }

    /// Returns true when the input is invalid (HTTP 400 or 422): diagnostics or bad fields.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            LifecycleError::PublishBlocked { .. } | LifecycleError::InvalidVersion(_)
        )
    }
}
