//! Rebuilding a shard's protection state after a start or a crash.
//!
//! A shard calls [`RecoverySource::recover`] before it handles any request, on the first
//! start and on every restart; while recovery fails the shard rejects every request. A source
//! backed by the audit log rebuilds the state from durable decisions; [`MemoryRecovery`] keeps
//! the latest state in memory, fed by the shards, which is enough for in-process restarts.

use crate::model::DecisionResponse;
use parking_lot::Mutex;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use super::budgets::BudgetDefinition;

/// A nonce that must still be rejected as a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredNonce {
    /// Tenant that used it.
    pub tenant: String,
    /// The nonce as received.
    pub nonce: String,
    /// Its certificate's `expires_at`, Unix milliseconds.
    pub expires_at_ms: i64,
}

/// The highest accepted sequence of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredSequence {
    /// Tenant of the stream.
    pub tenant: String,
    /// Stream id.
    pub stream_id: String,
    /// The mark.
    pub value: u64,
}

/// A budget definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredBudget {
    /// Tenant that defined it.
    pub tenant: String,
    /// The definition.
    pub definition: BudgetDefinition,
}

/// An amount spent from a budget by an allowed decision or an executed escrow, or given back
/// by a released escrow reservation (a negative amount, always in the period it was spent in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredSpend {
    /// Tenant of the budget.
    pub tenant: String,
    /// Budget code.
    pub code: String,
    /// The actor charged, for actor-scoped budgets.
    pub actor_id: Option<String>,
    /// When the amount was spent or given back, Unix milliseconds; selects the period.
    pub spent_at_ms: i64,
    /// Amount spent; negative when given back.
    pub amount: Decimal,
}

/// A stored decision for an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredIdempotency {
    /// Tenant of the actor.
    pub tenant: String,
    /// Actor that sent the key.
    pub actor_id: String,
    /// The idempotency key.
    pub idempotency_key: String,
    /// SHA-256 of the intent decided.
    pub intent_hash: [u8; 32],
    /// The decision returned.
    pub response: DecisionResponse,
    /// When the decision was made, Unix milliseconds; the entry lives for the configured TTL.
    pub decided_at_ms: i64,
}

/// Everything a shard needs to protect its tenants again. Entries of tenants that map to
/// another shard are ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecoveredState {
    /// Nonces of accepted certificates; expired ones are dropped on restore.
    pub nonces: Vec<RecoveredNonce>,
    /// Sequence marks; the highest per stream wins.
    pub sequences: Vec<RecoveredSequence>,
    /// Budget definitions, restored before the spends.
    pub budgets: Vec<RecoveredBudget>,
    /// Spends; those of past periods are dropped on restore.
    pub budget_spends: Vec<RecoveredSpend>,
    /// Decided idempotency entries; expired ones are dropped on restore.
    pub idempotency: Vec<RecoveredIdempotency>,
}

/// A change of protection state, sent to sources that keep their own copy.
#[derive(Debug, Clone, PartialEq)]
pub enum StateChange {
    /// A nonce was consumed by an admission.
    NonceConsumed(RecoveredNonce),
    /// A deferred admission released its nonce.
    NonceReleased {
        /// Tenant of the nonce.
        tenant: String,
        /// The nonce.
        nonce: String,
    },
    /// A stream's mark was set (raised by an admission, or restored by a DEFER).
    SequenceSet {
        /// Tenant of the stream.
        tenant: String,
        /// Stream id.
        stream_id: String,
        /// The new mark; None when the stream has no mark any more.
        value: Option<u64>,
    },
    /// A final decision was stored for an idempotency key.
    IdempotencyDecided(Box<RecoveredIdempotency>),
    /// A budget amount was spent, or given back when negative.
    BudgetSpent(RecoveredSpend),
    /// A budget was defined or replaced.
    BudgetDefined(RecoveredBudget),
    /// A budget was removed.
    BudgetRemoved {
        /// Tenant of the budget.
        tenant: String,
        /// Budget code.
        code: String,
    },
}

/// Where a shard gets its protection state back from.
pub trait RecoverySource: Send + Sync + 'static {
    /// Returns the state of the tenants that map to `shard_index`. Called on the shard's
    /// thread before it serves, so a slow source delays that shard only. An error keeps the
    /// shard rejecting requests until a later attempt succeeds.
    fn recover(&self, shard_index: usize) -> Result<RecoveredState, String>;

    /// True when the source wants every [`StateChange`] through [`RecoverySource::record`].
    /// A source that reads the audit log returns false, so the shard builds no changes.
    fn wants_changes(&self) -> bool {
        false
    }

    /// Takes one change made by shard `shard_index`. Must not block for long: it runs on the
    /// shard's thread inside the request path.
    fn record(&self, shard_index: usize, change: StateChange) {
        let _ = (shard_index, change);
    }
}

/// Changes recorded between two prunes of expired entries.
const MEMORY_PRUNE_EVERY_CHANGES: u64 = 4_096;
/// How long a pruned nonce is kept past its expiry, in milliseconds, to cover clock skew.
const MEMORY_NONCE_GRACE_MS: i64 = 10 * 60 * 1_000;
/// How long an idempotency entry is kept by [`MemoryRecovery`], in milliseconds.
const MEMORY_IDEMPOTENCY_KEEP_MS: i64 = 24 * 60 * 60 * 1_000;

/// The copy of one shard's state kept by [`MemoryRecovery`].
#[derive(Debug, Default)]
struct Journal {
    nonces: HashMap<(String, String), i64>,
    sequences: HashMap<(String, String), u64>,
    budgets: HashMap<(String, String), BudgetDefinition>,
    spends: Vec<RecoveredSpend>,
    idempotency: HashMap<(String, String, String), RecoveredIdempotency>,
    changes: u64,
}

/// A recovery source that keeps the latest protection state of every shard in memory, fed by
/// the shards' [`StateChange`]s. It survives shard restarts but not a process restart. Each
/// shard has its own mutex, taken only by that shard's thread and by its recovery, so it is
/// never contended on the request path.
#[derive(Debug)]
pub struct MemoryRecovery {
    journals: Vec<Mutex<Journal>>,
    unavailable: Mutex<Option<String>>,
}

impl MemoryRecovery {
    /// Creates an empty source for `shard_count` shards.
    pub fn new(shard_count: usize) -> Self {
        MemoryRecovery {
            journals: (0..shard_count).map(|_| Mutex::new(Journal::default())).collect(),
            unavailable: Mutex::new(None),
        }
    }

    /// Makes every later `recover` fail with `reason` (Some) or succeed again (None), as a
    /// source whose storage is unreachable would. Meant for tests and drills.
    pub fn set_unavailable(&self, reason: Option<String>) {
        *self.unavailable.lock() = reason;
    }
}

impl RecoverySource for MemoryRecovery {
    fn recover(&self, shard_index: usize) -> Result<RecoveredState, String> {
        if let Some(reason) = self.unavailable.lock().clone() {
            return Err(reason);
        }
        let journal = self
            .journals
            .get(shard_index)
            .ok_or_else(|| format!("shard index {shard_index} is outside the {} journals", self.journals.len()))?;
        let mut journal = journal.lock();
        journal.prune(unix_now_ms());
        Ok(journal.snapshot())
    }

    fn wants_changes(&self) -> bool {
        true
    }

    fn record(&self, shard_index: usize, change: StateChange) {
        let Some(journal) = self.journals.get(shard_index) else {
            tracing::warn!(shard_index, "recovery journal missing for shard; change dropped");
            return;
        };
        let mut journal = journal.lock();
        journal.apply(change);
        journal.changes += 1;
        if journal.changes % MEMORY_PRUNE_EVERY_CHANGES == 0 {
            journal.prune(unix_now_ms());
        }
    }
}

impl Journal {
    fn apply(&mut self, change: StateChange) {
        match change {
            StateChange::NonceConsumed(nonce) => {
                self.nonces
                    .insert((nonce.tenant, nonce.nonce), nonce.expires_at_ms);
            }
            StateChange::NonceReleased { tenant, nonce } => {
                self.nonces.remove(&(tenant, nonce));
            }
            StateChange::SequenceSet {
                tenant,
                stream_id,
                value,
            } => match value {
                Some(value) => {
                    self.sequences.insert((tenant, stream_id), value);
                }
                None => {
                    self.sequences.remove(&(tenant, stream_id));
                }
            },
            StateChange::IdempotencyDecided(entry) => {
                let entry = *entry;
                let key = (
                    entry.tenant.clone(),
                    entry.actor_id.clone(),
                    entry.idempotency_key.clone(),
                );
                self.idempotency.insert(key, entry);
            }
            StateChange::BudgetSpent(spend) => self.spends.push(spend),
            StateChange::BudgetDefined(budget) => {
                let key = (budget.tenant, budget.definition.code.clone());
                self.budgets.insert(key, budget.definition);
            }
            StateChange::BudgetRemoved { tenant, code } => {
                self.spends
                    .retain(|spend| !(spend.tenant == tenant && spend.code == code));
                self.budgets.remove(&(tenant, code));
            }
        }
    }

    /// Drops nonces, idempotency entries and spends that no shard would restore at `now_ms`.
    fn prune(&mut self, now_ms: i64) {
        self.nonces
            .retain(|_, expires_at_ms| expires_at_ms.saturating_add(MEMORY_NONCE_GRACE_MS) >= now_ms);
        self.idempotency.retain(|_, entry| {
            entry.decided_at_ms.saturating_add(MEMORY_IDEMPOTENCY_KEEP_MS) >= now_ms
        });
        let budgets = &self.budgets;
        self.spends.retain(|spend| {
            budgets
                .get(&(spend.tenant.clone(), spend.code.clone()))
                .is_some_and(|definition| {
                    definition.period_index(spend.spent_at_ms) == definition.period_index(now_ms)
                })
        });
    }

    fn snapshot(&self) -> RecoveredState {
        RecoveredState {
            nonces: self
                .nonces
                .iter()
                .map(|((tenant, nonce), expires_at_ms)| RecoveredNonce {
                    tenant: tenant.clone(),
                    nonce: nonce.clone(),
                    expires_at_ms: *expires_at_ms,
                })
                .collect(),
            sequences: self
                .sequences
                .iter()
                .map(|((tenant, stream_id), value)| RecoveredSequence {
                    tenant: tenant.clone(),
                    stream_id: stream_id.clone(),
                    value: *value,
                })
                .collect(),
            budgets: self
                .budgets
                .iter()
                .map(|((tenant, _), definition)| RecoveredBudget {
                    tenant: tenant.clone(),
                    definition: definition.clone(),
                })
                .collect(),
            budget_spends: self.spends.clone(),
            idempotency: self.idempotency.values().cloned().collect(),
        }
    }
}

/// The system clock in Unix milliseconds; 0 if the clock is before 1970.
pub fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}
