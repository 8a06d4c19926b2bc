//! The state of one shard and its time-driven eviction. Pure: no actor, no I/O, time comes in
//! as `now_ms`, so every rule is testable without threads.

use crate::settings::{RuntimeSettings, TENANT_RATE_MULTIPLIER};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::config::ShardConfig;
use super::nonce_window::{ExpiryQueue, NonceKey};
use super::rate_limit::ShardClock;
use super::recovery::{RecoverySource, StateChange};
use super::tenant::TenantState;

/// Expired entries evicted inline per request, so a request never pays for a long backlog;
/// the periodic sweep takes the rest.
pub(crate) const INLINE_EVICTIONS_MAX: usize = 32;

/// An admitted request waiting for its completion.
#[derive(Debug, Clone)]
pub(crate) struct PendingAdmission {
    pub tenant: Arc<str>,
    pub actor_id: String,
    pub nonce: String,
    pub nonce_key: NonceKey,
    pub expires_at_ms: i64,
    /// Stream, value raised to, and the mark before.
    pub sequence: Option<(String, u64, Option<u64>)>,
    pub idempotency_key: String,
    pub idempotency_entry_key: String,
    pub intent_hash: [u8; 32],
}

/// Counts describing one shard, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardStats {
    /// Index of the shard.
    pub shard_index: usize,
    /// Run number, raised on every restart.
    pub run: u64,
    /// True once recovery succeeded and the shard serves requests.
    pub ready: bool,
    /// Tenants with state.
    pub tenants: usize,
    /// Live nonces.
    pub nonces_live: usize,
    /// Admissions not completed yet.
    pub pending: usize,
}

/// The protection state of the tenants of one shard.
pub struct ShardState {
    pub(crate) shard_index: usize,
    pub(crate) run: u64,
    pub(crate) config: ShardConfig,
    pub(crate) settings: Arc<RuntimeSettings>,
    pub(crate) journal: Option<Arc<dyn RecoverySource>>,
    pub(crate) clock: ShardClock,
    pub(crate) tenants: HashMap<Arc<str>, TenantState>,
    pub(crate) nonce_expiries: ExpiryQueue<NonceKey>,
    pub(crate) nonces_live: usize,
    pub(crate) idempotency_expiries: ExpiryQueue<String>,
    pub(crate) pending: HashMap<u64, PendingAdmission>,
    /// Deadlines of pending admissions in admission order, with their ids.
    pub(crate) pending_deadlines: VecDeque<(i64, u64)>,
    pub(crate) next_admission_id: u64,
}

impl ShardState {
    /// Creates an empty shard. `journal` receives every state change when it wants them.
    pub fn new(
        shard_index: usize,
        run: u64,
        config: ShardConfig,
        settings: Arc<RuntimeSettings>,
        journal: Option<Arc<dyn RecoverySource>>,
    ) -> Self {
        let journal = journal.filter(|source| source.wants_changes());
        ShardState {
            shard_index,
            run,
            config,
            settings,
            journal,
            clock: ShardClock::default(),
            tenants: HashMap::new(),
            nonce_expiries: ExpiryQueue::default(),
            nonces_live: 0,
            idempotency_expiries: ExpiryQueue::default(),
            pending: HashMap::new(),
            pending_deadlines: VecDeque::new(),
            next_admission_id: 1,
        }
    }

    /// Returns the shard's counts.
    pub fn stats(&self, ready: bool) -> ShardStats {
        ShardStats {
            shard_index: self.shard_index,
            run: self.run,
            ready,
            tenants: self.tenants.len(),
            nonces_live: self.nonces_live,
            pending: self.pending.len(),
        }
    }

    pub(crate) fn clock_skew_ms(&self) -> i64 {
        let skew = self.settings.clock_skew_ms.load(Ordering::Relaxed);
        i64::try_from(skew).unwrap_or(i64::MAX)
    }

    pub(crate) fn actor_per_minute(&self) -> u64 {
        self.settings.rate_limit_per_minute.load(Ordering::Relaxed)
    }

    pub(crate) fn tenant_per_minute(&self) -> u64 {
        self.actor_per_minute()
            .saturating_mul(TENANT_RATE_MULTIPLIER)
    }

    pub(crate) fn record(&self, change: impl FnOnce() -> StateChange) {
        if let Some(journal) = &self.journal {
            journal.record(self.shard_index, change());
        }
    }

    /// Evicts at most `max` expired nonces, expired idempotency entries and timed-out pending
    /// admissions each; returns how many entries were evicted in all.
    pub fn evict_expired(&mut self, now_ms: i64, max: usize) -> usize {
        let skew_ms = self.clock_skew_ms();
        let mut evicted = 0;

        for _ in 0..max {
            let Some(expiry) = self.nonce_expiries.pop_due(now_ms, skew_ms) else {
                break;
            };
            let removed = self
                .tenants
                .get_mut(&expiry.tenant)
                .is_some_and(|tenant| tenant.nonces.remove_if_expiry(&expiry.item, expiry.at_ms));
            if removed {
                self.nonces_live = self.nonces_live.saturating_sub(1);
                evicted += 1;
            }
        }

        for _ in 0..max {
            let Some(expiry) = self.idempotency_expiries.pop_due(now_ms, 0) else {
                break;
            };
            if let Some(tenant) = self.tenants.get_mut(&expiry.tenant) {
                if tenant.idempotency.evict_if_expired(&expiry.item, expiry.at_ms) {
                    evicted += 1;
                }
            }
        }

        for _ in 0..max {
            match self.pending_deadlines.front() {
                Some(&(deadline_ms, _)) if deadline_ms < now_ms => {}
                _ => break,
            }
            let Some((_, admission_id)) = self.pending_deadlines.pop_front() else {
                break;
            };
            if self.drop_pending(admission_id) {
                evicted += 1;
            }
        }
        evicted
    }

    /// Drops an admission never completed: its nonce stays consumed and its sequence mark
    /// raised (fail closed), its in-flight idempotency key is released.
    fn drop_pending(&mut self, admission_id: u64) -> bool {
        let Some(pending) = self.pending.remove(&admission_id) else {
            return false;
        };
        tracing::warn!(
            shard_index = self.shard_index,
            admission_id,
            tenant = %pending.tenant,
            actor_id = %pending.actor_id,
            "admission not completed in time; nonce stays consumed"
        );
        if let Some(tenant) = self.tenants.get_mut(&pending.tenant) {
            tenant.pending = tenant.pending.saturating_sub(1);
            tenant
                .idempotency
                .release(&pending.idempotency_entry_key, admission_id);
        }
        true
    }

    /// Runs the full sweep: every expired entry, idle actors, stale budget spends, idle
    /// tenants, and stale entries of the nonce queue.
    pub fn sweep(&mut self, now_ms: i64) {
        while self.evict_expired(now_ms, 4_096) > 0 {}

        let idle_before_ms = now_ms.saturating_sub(i64::try_from(self.config.actor_idle_ms).unwrap_or(i64::MAX));
        self.tenants.retain(|_, tenant| {
            tenant.evict_idle_actors(idle_before_ms);
            tenant.budgets.evict_stale(now_ms);
            !tenant.is_evictable(idle_before_ms)
        });

        self.compact_nonce_queue();
    }

    /// Drops queue entries of nonces that were released, once they outnumber live ones, so
    /// repeated DEFER retries cannot grow the queue without bound.
    pub(crate) fn compact_nonce_queue(&mut self) {
        if self.nonce_expiries.len() <= self.nonces_live.saturating_mul(2).saturating_add(1_024) {
            return;
        }
        let tenants = &self.tenants;
        self.nonce_expiries.retain(|expiry| {
            tenants
                .get(&expiry.tenant)
                .is_some_and(|tenant| tenant.nonces.recorded_expiry(&expiry.item) == Some(expiry.at_ms))
        });
    }
}
