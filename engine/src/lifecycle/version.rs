//! A policy version and its states.

use super::error::LifecycleError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest policy source accepted, in bytes. Real policy sets are a few kilobytes; the bound
/// keeps stored versions and the quadratic diff small.
pub const POLICY_SOURCE_BYTES_MAX: usize = 262_144;
/// Largest approval quorum for a policy version, so a quorum is always reachable in practice.
pub const POLICY_QUORUM_MAX: u32 = 16;
/// Roles that may approve and publish policy versions unless the caller configures others.
pub const POLICY_APPROVER_ROLES_DEFAULT: [&str; 2] = ["complianceofficer", "securityadmin"];

/// Lifecycle state of a policy version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PolicyState {
    /// Being written; only the author may change the text.
    Draft,
    /// Submitted by the author; collects approvals, text frozen.
    PendingApproval,
    /// The version the engine enforces for its (tenant, domain).
    Published,
    /// No longer enforced. Terminal.
    Retired,
}

impl PolicyState {
    /// Returns the stable wire string, for example `"PENDING_APPROVAL"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyState::Draft => "DRAFT",
            PolicyState::PendingApproval => "PENDING_APPROVAL",
            PolicyState::Published => "PUBLISHED",
            PolicyState::Retired => "RETIRED",
        }
    }
}

impl fmt::Display for PolicyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One approval of a policy version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyApproval {
    /// Principal id of the approver, never the author.
    pub approver: String,
    /// When, Unix milliseconds.
    pub at_ms: i64,
}

/// One state change, kept in the version's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyTransition {
    /// State before.
    pub from: PolicyState,
    /// State after.
    pub to: PolicyState,
    /// Principal id that caused it.
    pub by: String,
    /// When, Unix milliseconds.
    pub at_ms: i64,
}

/// Data the control plane supplies to create a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPolicyVersion {
    /// Tenant that owns the policy.
    pub tenant: String,
    /// Domain the policy governs, for example `finance`.
    pub domain: String,
    /// Policy set id, for example `finance`.
    pub policy_set_id: String,
    /// Version number within the (tenant, domain), strictly increasing across publications.
    pub version_number: u32,
    /// Policy source text, at most [`POLICY_SOURCE_BYTES_MAX`] bytes.
    pub source: String,
    /// Principal id of the author.
    pub author: String,
    /// Distinct approvers needed before publication, 1 to [`POLICY_QUORUM_MAX`].
    pub quorum: u32,
    /// Roles of which an approver or publisher must hold one.
    pub approver_roles: Vec<String>,
    /// When the draft was created, Unix milliseconds.
    pub created_at_ms: i64,
}

/// One version of a tenant's policy for a domain.
///
/// Invariants kept by every operation: `source` changes only in `DRAFT`; `approvals` holds
/// distinct principals other than `author`; at most one version per (tenant, domain) is
/// `PUBLISHED` provided callers publish through [`super::publish`] with compare-and-set on
/// both versions it returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// Tenant that owns the policy.
    pub tenant: String,
    /// Domain the policy governs.
    pub domain: String,
    /// Policy set id.
    pub policy_set_id: String,
    /// Version number within the (tenant, domain).
    pub version_number: u32,
    /// Policy source text.
    pub source: String,
    /// Principal id of the author.
    pub author: String,
    /// Current state.
    pub state: PolicyState,
    /// Approvals given since the last submission, in order.
    pub approvals: Vec<PolicyApproval>,
    /// Distinct approvers needed before publication.
    pub quorum: u32,
    /// Roles of which an approver or publisher must hold one.
    pub approver_roles: Vec<String>,
    /// Optimistic-concurrency version: 0 when created, one more after each operation.
    pub version: u64,
    /// When the draft was created, Unix milliseconds.
    pub created_at_ms: i64,
    /// When the version was last submitted, Unix milliseconds.
    pub submitted_at_ms: Option<i64>,
    /// When the version was published, Unix milliseconds.
    pub published_at_ms: Option<i64>,
    /// When the version was retired, Unix milliseconds.
    pub retired_at_ms: Option<i64>,
    /// Every state change, oldest first.
    pub history: Vec<PolicyTransition>,
}

impl PolicyVersion {
    /// Creates a `DRAFT` at version 0, after checking the text size, quorum and roles.
    pub fn draft(new: NewPolicyVersion) -> Result<PolicyVersion, LifecycleError> {
        check_source(&new.source)?;

        if new.quorum == 0 || new.quorum > POLICY_QUORUM_MAX {
            return Err(LifecycleError::InvalidVersion(format!(
                "quorum is {}, expected 1 to {POLICY_QUORUM_MAX}",
                new.quorum
            )));
        }

        if new.approver_roles.is_empty() {
            return Err(LifecycleError::InvalidVersion(
                "approver_roles must name at least one role".to_owned(),
            ));
        }

        if new.tenant.is_empty() || new.domain.is_empty() || new.author.is_empty() {
            return Err(LifecycleError::InvalidVersion(
                "tenant, domain and author must not be empty".to_owned(),
            ));
        }

        Ok(PolicyVersion {
            tenant: new.tenant,
            domain: new.domain,
            policy_set_id: new.policy_set_id,
            version_number: new.version_number,
            source: new.source,
            author: new.author,
            state: PolicyState::Draft,
            approvals: Vec::new(),
            quorum: new.quorum,
            approver_roles: new.approver_roles,
            version: 0,
            created_at_ms: new.created_at_ms,
            submitted_at_ms: None,
            published_at_ms: None,
            retired_at_ms: None,
            history: Vec::new(),
        })
    }

    /// Returns true when the quorum of distinct approvers is reached.
    pub fn quorum_reached(&self) -> bool {
        self.approvals.len() as u64 >= u64::from(self.quorum)
    }

    /// Returns a label such as `finance v18`, for diff headers and messages.
    pub fn label(&self) -> String {
        format!("{} v{}", self.policy_set_id, self.version_number)
    }
}

/// Checks that policy source text is non-empty and within [`POLICY_SOURCE_BYTES_MAX`].
pub(crate) fn check_source(source: &str) -> Result<(), LifecycleError> {
    if source.trim().is_empty() {
        return Err(LifecycleError::InvalidVersion(
            "policy source is empty".to_owned(),
        ));
    }
    if source.len() > POLICY_SOURCE_BYTES_MAX {
        return Err(LifecycleError::InvalidVersion(format!(
            "policy source is {} bytes, larger than the limit of {POLICY_SOURCE_BYTES_MAX}",
            source.len()
        )));
    }
    Ok(())
}
