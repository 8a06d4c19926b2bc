//! The policy version operations. Each returns the next version with `version + 1`, or an
//! error and no change. Checks run tenant first, then state, then the principal's rights.

use super::error::LifecycleError;
use super::version::{check_source, PolicyApproval, PolicyState, PolicyTransition, PolicyVersion};
use crate::escrow::Principal;
use std::fmt;

/// The result of a publication: the new current version, and the one it replaced.
///
/// The caller must store both with compare-and-set on their `version`, in one batch, so the
/// (tenant, domain) never has two published versions or none in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// The candidate, now `PUBLISHED`.
    pub published: PolicyVersion,
    /// The previously published version, now `RETIRED`; None for a first publication.
    pub retired: Option<PolicyVersion>,
}

/// Replaces the text of a `DRAFT`; only its author may.
pub fn revise(
    version: &PolicyVersion,
    by: &Principal,
    source: &str,
    now_ms: i64,
) -> Result<PolicyVersion, LifecycleError> {
    check_tenant(version, by)?;
    check_state(version, "revised", PolicyState::Draft)?;
    check_author(version, by)?;
    check_source(source)?;

    let mut next = bump_version(version)?;
    next.source = source.to_owned();
    tracing::debug!(policy = %next.label(), tenant = %next.tenant, at_ms = now_ms, "policy draft revised");
    Ok(next)
}

/// Submits a `DRAFT` for approval: `PENDING_APPROVAL`. Only the author may submit.
pub fn submit(
    version: &PolicyVersion,
    by: &Principal,
    now_ms: i64,
) -> Result<PolicyVersion, LifecycleError> {
    check_tenant(version, by)?;
    check_state(version, "submitted", PolicyState::Draft)?;
    check_author(version, by)?;

    let mut next = bump_version(version)?;
    next.approvals.clear();
    next.submitted_at_ms = Some(now_ms);
    change_state(&mut next, PolicyState::PendingApproval, &by.id, now_ms);
    Ok(next)
}

/// Adds one approval to a `PENDING_APPROVAL` version.
///
/// The approver must belong to the tenant, hold one of the approver roles, not be the author
/// (separation of duties) and not have approved before. Approvals beyond the quorum are
/// rejected, which also bounds the list.
pub fn approve(
    version: &PolicyVersion,
    approver: &Principal,
    now_ms: i64,
) -> Result<PolicyVersion, LifecycleError> {
    check_tenant(version, approver)?;
    check_state(version, "approved", PolicyState::PendingApproval)?;
    check_role(version, approver)?;

    if approver.id == version.author {
        return Err(LifecycleError::AuthorCannotApprove {
            label: version.label(),
            author: version.author.clone(),
        });
    }

    if version
        .approvals
        .iter()
        .any(|approval| approval.approver == approver.id)
    {
        return Err(LifecycleError::DuplicateApprover {
            label: version.label(),
            approver: approver.id.clone(),
        });
    }

    if version.quorum_reached() {
        return Err(LifecycleError::QuorumAlreadyReached {
            label: version.label(),
            quorum: version.quorum,
        });
    }

    let mut next = bump_version(version)?;
    next.approvals.push(PolicyApproval {
        approver: approver.id.clone(),
        at_ms: now_ms,
    });
    Ok(next)
}

/// Publishes an approved candidate and retires the version it replaces.
///
/// `diagnostics` is the output of the static and Z3 publish checks run by the caller on the
/// candidate's source (the policy compiler's diagnostics, which display as
/// `line:column: message`); any diagnostic blocks publication and is listed in the error.
/// `current` is the (tenant, domain)'s currently published version, if any; the candidate's
/// version number must be above it, so an older version can never replace a newer one.
pub fn publish<D: fmt::Display>(
    candidate: &PolicyVersion,
    current: Option<&PolicyVersion>,
    by: &Principal,
    diagnostics: &[D],
    now_ms: i64,
) -> Result<Publication, LifecycleError> {
    check_tenant(candidate, by)?;
    check_state(candidate, "published", PolicyState::PendingApproval)?;
    check_role(candidate, by)?;

    if !candidate.quorum_reached() {
        return Err(LifecycleError::QuorumNotReached {
            label: candidate.label(),
            approvals: candidate.approvals.len(),
            quorum: candidate.quorum,
        });
    }

    if !diagnostics.is_empty() {
        return Err(LifecycleError::PublishBlocked {
            label: candidate.label(),
            diagnostics: diagnostics.iter().map(ToString::to_string).collect(),
        });
    }

    let retired = match current {
        Some(current) => {
            check_replaceable(candidate, current)?;
            let mut retired = bump_version(current)?;
            retired.retired_at_ms = Some(now_ms);
            change_state(&mut retired, PolicyState::Retired, &by.id, now_ms);
            Some(retired)
        }
        None => None,
    };

    let mut published = bump_version(candidate)?;
    published.published_at_ms = Some(now_ms);
    change_state(&mut published, PolicyState::Published, &by.id, now_ms);
    Ok(Publication { published, retired })
}

/// Retires a `PUBLISHED` version without a replacement. Requests for its domain then find no
/// published policy, so the decision path gives them no ALLOW.
pub fn retire(
    version: &PolicyVersion,
    by: &Principal,
    now_ms: i64,
) -> Result<PolicyVersion, LifecycleError> {
    check_tenant(version, by)?;
    check_state(version, "retired", PolicyState::Published)?;
    check_role(version, by)?;

    let mut next = bump_version(version)?;
    next.retired_at_ms = Some(now_ms);
    change_state(&mut next, PolicyState::Retired, &by.id, now_ms);
    Ok(next)
}

fn check_replaceable(
    candidate: &PolicyVersion,
    current: &PolicyVersion,
) -> Result<(), LifecycleError> {
    let mismatch = |detail: String| LifecycleError::CurrentMismatch {
        candidate: candidate.label(),
        current: current.label(),
        detail,
    };

    if current.tenant != candidate.tenant || current.domain != candidate.domain {
        return Err(mismatch(format!(
            "it belongs to tenant `{}` domain `{}`, not tenant `{}` domain `{}`",
            current.tenant, current.domain, candidate.tenant, candidate.domain
        )));
    }

    if current.state != PolicyState::Published {
        return Err(mismatch(format!(
            "it is {}, not PUBLISHED",
            current.state
        )));
    }

    if current.version_number >= candidate.version_number {
        return Err(mismatch(format!(
            "version number {} is not above the published {}",
            candidate.version_number, current.version_number
        )));
    }

    Ok(())
}

fn check_tenant(version: &PolicyVersion, principal: &Principal) -> Result<(), LifecycleError> {
    if principal.tenant == version.tenant {
        return Ok(());
    }
    Err(LifecycleError::WrongTenant {
        label: version.label(),
        principal: principal.id.clone(),
        principal_tenant: principal.tenant.clone(),
    })
}

fn check_state(
    version: &PolicyVersion,
    operation: &'static str,
    expected: PolicyState,
) -> Result<(), LifecycleError> {
    if version.state == expected {
        return Ok(());
    }
    Err(LifecycleError::InvalidTransition {
        label: version.label(),
        operation,
        state: version.state,
    })
}

fn check_author(version: &PolicyVersion, principal: &Principal) -> Result<(), LifecycleError> {
    if principal.id == version.author {
        return Ok(());
    }
    Err(LifecycleError::NotAuthor {
        label: version.label(),
        principal: principal.id.clone(),
        author: version.author.clone(),
    })
}

fn check_role(version: &PolicyVersion, principal: &Principal) -> Result<(), LifecycleError> {
    if principal.holds_any(&version.approver_roles) {
        return Ok(());
    }
    Err(LifecycleError::MissingRole {
        label: version.label(),
        principal: principal.id.clone(),
        required: version.approver_roles.clone(),
    })
}

fn bump_version(version: &PolicyVersion) -> Result<PolicyVersion, LifecycleError> {
    let counter = version
        .version
        .checked_add(1)
        .ok_or_else(|| LifecycleError::VersionExhausted {
            label: version.label(),
            version: version.version,
        })?;
    let mut next = version.clone();
    next.version = counter;
    Ok(next)
}

fn change_state(version: &mut PolicyVersion, to: PolicyState, by: &str, now_ms: i64) {
    tracing::debug!(
        policy = %version.label(),
        tenant = %version.tenant,
        from = %version.state,
        to = %to,
        by,
        "policy state changed"
    );
    version.history.push(PolicyTransition {
        from: version.state,
        to,
        by: by.to_owned(),
        at_ms: now_ms,
    });
    version.state = to;
}
