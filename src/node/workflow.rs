//! State of the human workflows that lives beside the decision path: the approver pool, the
//! index of pending escrows behind the backlog metrics, GDPR processing restrictions and
//! keyed-hash pseudonyms, the `compliance_events` vocabulary, and the periodic escrow expiry.
//!
//! The approver pool and the restrictions are persisted only as `compliance_events` (which are
//! append-only and never erased), and rebuilt from that log at start by
//! [`Node::restore_workflow`]. That keeps one record of who changed what, and no second copy
//! that could disagree with it.

use super::decide::unix_now_ms;
use super::metrics::EscrowBacklog;
use super::Node;
use anyhow::{anyhow, Context};
use axiom_engine::escrow::{self, Escrow, EscrowStatus};
use axiom_storage::{CasOutcome, LogEntry};
use dashmap::{DashMap, DashSet};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Time between two runs of the escrow expiry sweep. Expired escrows are also moved to
/// `EXPIRED` whenever a request touches them, so the sweep only bounds how long an untouched
/// one keeps counting in the backlog metrics.
pub const ESCROW_SWEEP_INTERVAL_MS: u64 = 10_000;
/// Most escrows one sweep or one listing reads from the store. A tenant with more stored
/// escrows is listed only up to this bound, and the sweep expires the rest on later runs.
pub const ESCROW_SCAN_ROWS_MAX: usize = 100_000;
/// Compliance events read per page when the workflow state is rebuilt at start.
const COMPLIANCE_PAGE_EVENTS: usize = 1_000;
/// Most roles one approver-pool entry may grant; as many as an escrow may require.
pub const APPROVER_POOL_ROLES_MAX: usize = escrow::APPROVER_ROLES_MAX;
/// Domain prefix of the pseudonym key derivation, so the key is used for nothing else.
const PSEUDONYM_KEY_CONTEXT: &[u8] = b"axiom/pseudonym-key/v1";
/// Prefix of every pseudonym, so a reader sees that an id was replaced.
pub const PSEUDONYM_PREFIX: &str = "psn-";

type HmacSha256 = Hmac<Sha256>;

/// One entry of the `compliance_events` log written by the control plane.
///
/// Subjects (agent actors) appear only as keyed-hash pseudonyms (`subject_ref`), because the
/// log is never erased; control-plane principals (approvers, compliance officers) appear by
/// their token subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ComplianceEvent {
    /// An escrow changed status.
    EscrowTransition {
        /// Tenant of the escrow.
        tenant: String,
        /// The escrow.
        escrow_id: String,
        /// Status before.
        from: EscrowStatus,
        /// Status after.
        to: EscrowStatus,
        /// Who caused it: a principal, `system`, or the pseudonym of the requesting actor.
        by: String,
        /// Stored version after the change.
        version: u64,
    },
    /// An approval was added without reaching the quorum (the status stays `PENDING`).
    EscrowApproval {
        /// Tenant of the escrow.
        tenant: String,
        /// The escrow.
        escrow_id: String,
        /// The approver.
        approver: String,
        /// Approvals given so far.
        approvals: usize,
        /// Approvals needed.
        required: u32,
    },
    /// A principal's approver roles were set (an empty list removes the principal).
    ApproverPoolChanged {
        /// Tenant of the pool.
        tenant: String,
        /// The principal (token `sub`).
        principal: String,
        /// Roles granted for escrow approvals, for example `financemanager`.
        roles: Vec<String>,
        /// Who changed it.
        by: String,
    },
    /// A policy version changed state.
    PolicyTransition {
        /// Tenant of the version.
        tenant: String,
        /// Stored id of the version, for example `finance@v18`.
        policy_id: String,
        /// State after the change.
        to: String,
        /// Who caused it.
        by: String,
    },
    /// A GDPR processing restriction was set or lifted.
    ProcessingRestriction {
        /// Tenant of the subject.
        tenant: String,
        /// Pseudonym of the subject.
        subject_ref: String,
        /// True when set, false when lifted.
        restricted: bool,
        /// Who requested it.
        by: String,
    },
    /// A GDPR subject access export was served.
    GdprExport {
        /// Tenant of the subject.
        tenant: String,
        /// Pseudonym of the subject.
        subject_ref: String,
        /// The compliance officer.
        requested_by: String,
        /// Items returned.
        items: u64,
    },
    /// A GDPR erasure was carried out.
    GdprErasure {
        /// Tenant of the subject.
        tenant: String,
        /// Pseudonym of the subject, which replaced its id in the mutable stores.
        subject_ref: String,
        /// The compliance officer.
        requested_by: String,
        /// Subject keys destroyed in the audit log.
        audit_keys_destroyed: usize,
        /// Rows rewritten per table, as (table, rows).
        pseudonymized: Vec<(String, usize)>,
        /// Whether a processing restriction was requested.
        restrict_processing: bool,
        /// Why the audit records themselves are kept.
        legal_basis: String,
    },
    /// A compliance export was streamed.
    ComplianceExport {
        /// Tenant exported.
        tenant: String,
        /// Pseudonym of the actor filter, when one was given.
        subject_ref: Option<String>,
        /// Who requested it.
        requested_by: String,
        /// Start of the time range, Unix milliseconds.
        from_ms: u64,
        /// End of the time range (exclusive), Unix milliseconds.
        to_ms: u64,
    },
}

/// The approver pool and the index of pending escrows.
#[derive(Debug, Default)]
pub struct WorkflowState {
    /// Extra approver roles per (tenant, principal), added with `PUT /v1/approvers/{principal}`
    /// on top of the roles in the principal's token.
    approvers: DashMap<(String, String), Vec<String>>,
    /// Creation time (Unix ms) of every `PENDING` escrow, by (tenant, escrow id).
    pending: Arc<DashMap<(String, String), i64>>,
    /// Escrows with an execution request in progress on this node, by (tenant, escrow id).
    /// Holds at most one entry per concurrent execute request.
    executing: DashSet<(String, String)>,
}

/// An execution request in progress for one escrow; dropping it ends the attempt.
#[derive(Debug)]
pub struct ExecutionAttempt<'a> {
    executing: &'a DashSet<(String, String)>,
    key: (String, String),
}

impl Drop for ExecutionAttempt<'_> {
    fn drop(&mut self) {
        self.executing.remove(&self.key);
    }
}

impl WorkflowState {
    /// Returns the pool roles of a principal of `tenant` (empty when it has none).
    pub fn approver_roles(&self, tenant: &str, principal: &str) -> Vec<String> {
        self.approvers
            .get(&(tenant.to_owned(), principal.to_owned()))
            .map(|entry| entry.value().clone())
            .unwrap_or_default()
    }

    /// Lists the pool of `tenant` as (principal, roles), sorted by principal.
    pub fn approver_pool(&self, tenant: &str) -> Vec<(String, Vec<String>)> {
        let mut pool: Vec<(String, Vec<String>)> = self
            .approvers
            .iter()
            .filter(|entry| entry.key().0 == tenant)
            .map(|entry| (entry.key().1.clone(), entry.value().clone()))
            .collect();
        pool.sort();
        pool
    }

    fn set_approver(&self, tenant: &str, principal: &str, roles: Vec<String>) {
        let key = (tenant.to_owned(), principal.to_owned());
        if roles.is_empty() {
            self.approvers.remove(&key);
        } else {
            self.approvers.insert(key, roles);
        }
    }

    /// Marks an execution request for an escrow as in progress; returns None when another
    /// request of this node is already executing it.
    pub fn begin_execution_attempt(&self, tenant: &str, escrow_id: &str) -> Option<ExecutionAttempt<'_>> {
        let key = (tenant.to_owned(), escrow_id.to_owned());
        if !self.executing.insert(key.clone()) {
            return None;
        }
        Some(ExecutionAttempt {
            executing: &self.executing,
            key,
        })
    }

    /// Keeps the pending index in step with a stored escrow.
    pub fn escrow_stored(&self, escrow: &Escrow) {
        let key = (escrow.tenant.clone(), escrow.escrow_id.clone());
        if escrow.status == EscrowStatus::Pending {
            self.pending.insert(key, escrow.created_at_ms);
        } else {
            self.pending.remove(&key);
        }
    }

    /// Returns the backlog at `now_ms`: pending escrows and the age of the oldest.
    pub fn backlog(&self, now_ms: i64) -> EscrowBacklog {
        backlog_of(&self.pending, now_ms)
    }
}

fn backlog_of(pending: &DashMap<(String, String), i64>, now_ms: i64) -> EscrowBacklog {
    let oldest = pending.iter().map(|entry| *entry.value()).min();
    EscrowBacklog {
        pending: pending.len() as u64,
        oldest_pending_age_s: oldest
            .map(|created_at_ms| (now_ms.saturating_sub(created_at_ms)).max(0) as f64 / 1_000.0)
            .unwrap_or(0.0),
    }
}

impl Node {
    /// Returns the keyed-hash pseudonym of an actor of `tenant`: `psn-` and 32 hex digits of
    /// HMAC-SHA256 under a key derived from the engine key. The same actor always gets the
    /// same pseudonym on this data directory, so pseudonymized rows stay linkable to each
    /// other, but not back to the actor without the engine key.
    pub fn pseudonym(&self, tenant: &str, actor_id: &str) -> String {
        let secret = self.engine_key.key_pair().to_key_file().secret_key;
        let mut derive = HmacSha256::new_from_slice(secret.as_bytes())
            .unwrap_or_else(|_| unreachable_hmac());
        derive.update(PSEUDONYM_KEY_CONTEXT);
        let key = derive.finalize().into_bytes();

        let mut mac = HmacSha256::new_from_slice(&key).unwrap_or_else(|_| unreachable_hmac());
        mac.update(&(tenant.len() as u64).to_be_bytes());
        mac.update(tenant.as_bytes());
        mac.update(actor_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("{PSEUDONYM_PREFIX}{}", hex::encode(&digest[..16]))
    }

    /// Returns true when a GDPR processing restriction covers the actor, by its id or (after
    /// an erasure) by its pseudonym. The pseudonym is computed only while some restriction
    /// exists, so the request path pays nothing otherwise.
    pub fn is_restricted(&self, tenant: &str, actor_id: &str) -> bool {
        if self.restrictions.is_empty() {
            return false;
        }
        self.restrictions
            .contains(&(tenant.to_owned(), actor_id.to_owned()))
            || self
                .restrictions
                .contains(&(tenant.to_owned(), self.pseudonym(tenant, actor_id)))
    }

    /// Appends a compliance event, fsynced, and returns its id.
    pub fn record_compliance(&self, event: &ComplianceEvent) -> anyhow::Result<u64> {
        let time_ms = u64::try_from(unix_now_ms()).unwrap_or(0);
        self.store
            .compliance_events()
            .append(time_ms, event)
            .context("appending to compliance_events")
    }

    /// Sets the approver roles of a principal (an empty list removes it), recording the
    /// change in `compliance_events` before applying it.
    pub fn set_approver(
        &self,
        tenant: &str,
        principal: &str,
        roles: Vec<String>,
        by: &str,
    ) -> anyhow::Result<()> {
        self.record_compliance(&ComplianceEvent::ApproverPoolChanged {
            tenant: tenant.to_owned(),
            principal: principal.to_owned(),
            roles: roles.clone(),
            by: by.to_owned(),
        })?;
        self.workflow.set_approver(tenant, principal, roles);
        Ok(())
    }

    /// Sets or lifts a processing restriction on `(tenant, subject)`; `subject` is an actor
    /// id or a pseudonym. Recorded with the subject's pseudonym only.
    pub fn set_restriction(
        &self,
        tenant: &str,
        subject_ref: &str,
        restricted: bool,
        by: &str,
    ) -> anyhow::Result<()> {
        self.record_compliance(&ComplianceEvent::ProcessingRestriction {
            tenant: tenant.to_owned(),
            subject_ref: subject_ref.to_owned(),
            restricted,
            by: by.to_owned(),
        })?;
        let key = (tenant.to_owned(), subject_ref.to_owned());
        if restricted {
            self.restrictions.insert(key);
        } else {
            self.restrictions.remove(&key);
        }
        Ok(())
    }

    /// Rebuilds the approver pool and the restrictions from `compliance_events`, the pending
    /// index from the escrows table, and attaches the backlog metrics. Called once by
    /// [`Node::start`].
    pub fn restore_workflow(&self) -> anyhow::Result<()> {
        let mut after_id = 0;
        let mut events = 0usize;
        loop {
            let page: Vec<LogEntry<serde_json::Value>> = self
                .store
                .compliance_events()
                .list(after_id, COMPLIANCE_PAGE_EVENTS)
                .context("reading compliance_events")?;
            let Some(last) = page.last() else { break };
            after_id = last.id;
            for entry in page {
                events += 1;
                // Events of other writers (or future kinds) are skipped, not fatal.
                let Ok(event) = serde_json::from_value::<ComplianceEvent>(entry.value) else {
                    continue;
                };
                match event {
                    ComplianceEvent::ApproverPoolChanged { tenant, principal, roles, .. } => {
                        self.workflow.set_approver(&tenant, &principal, roles);
                    }
                    ComplianceEvent::ProcessingRestriction { tenant, subject_ref, restricted, .. } => {
                        if restricted {
                            self.restrictions.insert((tenant, subject_ref));
                        } else {
                            self.restrictions.remove(&(tenant, subject_ref));
                        }
                    }
                    _ => {}
                }
            }
        }

        let escrows: Vec<(String, String, Escrow)> = self
            .store
            .escrows()
            .list_all(ESCROW_SCAN_ROWS_MAX)
            .context("reading escrows")?;
        for (_, _, escrow) in &escrows {
            self.workflow.escrow_stored(escrow);
        }

        let pending = Arc::clone(&self.workflow.pending);
        self.metrics.attach_escrow_backlog(move |now_ms| {
            backlog_of(&pending, i64::try_from(now_ms).unwrap_or(i64::MAX))
        });
        tracing::info!(
            compliance_events = events,
            restrictions = self.restrictions.len(),
            pending_escrows = self.workflow.pending.len(),
            "workflow state restored"
        );
        Ok(())
    }

    /// Stores `next` over `current` with compare-and-set, updates the pending index and
    /// records the transition in `compliance_events`. Returns the stored escrow, or the one
    /// found when another request changed it first.
    pub fn store_escrow_transition(
        &self,
        current: &Escrow,
        next: &Escrow,
    ) -> anyhow::Result<Result<Escrow, Option<Escrow>>> {
        let outcome = self
            .store
            .escrows()
            .compare_and_set(&current.tenant, &current.escrow_id, current, next)
            .context("storing the escrow")?;
        if let CasOutcome::Conflict { current } = outcome {
            return Ok(Err(current));
        }
        self.workflow.escrow_stored(next);

        let event = if next.status == current.status {
            let approver = next
                .approvals
                .last()
                .map(|approval| approval.approver.clone())
                .unwrap_or_default();
            ComplianceEvent::EscrowApproval {
                tenant: next.tenant.clone(),
                escrow_id: next.escrow_id.clone(),
                approver,
                approvals: next.approvals.len(),
                required: next.approvals_required,
            }
        } else {
            let by = next
                .history
                .last()
                .map(|transition| transition.by.clone())
                .unwrap_or_default();
            let by = if by == next.requesting_actor {
                self.pseudonym(&next.tenant, &by)
            } else {
                by
            };
            ComplianceEvent::EscrowTransition {
                tenant: next.tenant.clone(),
                escrow_id: next.escrow_id.clone(),
                from: current.status,
                to: next.status,
                by,
                version: next.version,
            }
        };
        self.record_compliance(&event)?;
        Ok(Ok(next.clone()))
    }

    /// Moves an escrow past its expiry to `EXPIRED` and returns the stored result; returns
    /// the escrow unchanged when it is not due.
    pub fn expire_if_due(&self, escrow: Escrow, now_ms: i64) -> anyhow::Result<Escrow> {
        let due = matches!(escrow.status, EscrowStatus::Pending | EscrowStatus::Approved)
            && escrow.is_expired_at(now_ms);
        if !due {
            return Ok(escrow);
        }
        let expired = escrow::expire(&escrow, now_ms).map_err(|error| anyhow!("{error}"))?;
        match self.store_escrow_transition(&escrow, &expired)? {
            Ok(stored) => {
                tracing::info!(escrow_id = %stored.escrow_id, tenant = %stored.tenant, "escrow expired");
                Ok(stored)
            }
            Err(Some(current)) => Ok(current),
            Err(None) => Err(anyhow!("escrow `{}` disappeared", escrow.escrow_id)),
        }
    }

    /// Expires every due escrow in the store; returns how many moved to `EXPIRED`.
    pub fn sweep_escrows(&self, now_ms: i64) -> anyhow::Result<usize> {
        let escrows: Vec<(String, String, Escrow)> = self
            .store
            .escrows()
            .list_all(ESCROW_SCAN_ROWS_MAX)
            .context("reading escrows")?;
        let mut expired = 0;
        for (_, _, escrow) in escrows {
            let before = escrow.status;
            let after = self.expire_if_due(escrow, now_ms)?;
            if before != after.status && after.status == EscrowStatus::Expired {
                expired += 1;
            }
        }
        Ok(expired)
    }
}

/// Starts the periodic escrow expiry on the current actix runtime. The task holds only a weak
/// reference, so it ends once the node is dropped.
pub fn start_escrow_sweep(node: &Arc<Node>) {
    let weak: Weak<Node> = Arc::downgrade(node);
    actix_rt::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(ESCROW_SWEEP_INTERVAL_MS));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let Some(node) = weak.upgrade() else { break };
            match node.sweep_escrows(unix_now_ms()) {
                Ok(0) => {}
                Ok(expired) => tracing::info!(expired, "escrow sweep expired escrows"),
                Err(error) => tracing::warn!(%error, "escrow sweep failed; retrying at the next interval"),
            }
        }
    });
}

/// HMAC-SHA256 accepts keys of any length, so building it cannot fail.
#[cold]
fn unreachable_hmac() -> HmacSha256 {
    #[allow(clippy::panic, reason = "HMAC accepts keys of every length")]
    {
        panic!("HMAC-SHA256 rejected a key, which it never does")
    }
}
