//! The protection state one shard holds for one tenant.

use std::collections::HashMap;

use super::anomaly::AnomalyWindow;
use super::budgets::TenantBudgets;
use super::idempotency::IdempotencyTable;
use super::nonce_window::NonceWindow;
use super::rate_limit::{MinuteLimiter, ShardClock};
use super::sequences::SequenceMarks;

/// Rate-limit and anomaly state of one actor.
#[derive(Debug)]
pub struct ActorState {
    /// The actor's GCRA limiter.
    pub limiter: MinuteLimiter,
    /// Rate-limited rejections in the current minute.
    pub anomaly: AnomalyWindow,
    /// Time of the actor's latest request, Unix milliseconds.
    pub last_seen_ms: i64,
}

/// Everything a shard keeps for one tenant.
#[derive(Debug)]
pub struct TenantState {
    /// Nonces of admitted certificates that have not expired.
    pub nonces: NonceWindow,
    /// Sequence high-water marks.
    pub sequences: SequenceMarks,
    /// Idempotency entries, in flight or decided.
    pub idempotency: IdempotencyTable,
    /// Budget definitions and spends.
    pub budgets: TenantBudgets,
    /// Per-actor limiters and anomaly windows.
    pub actors: HashMap<String, ActorState>,
    /// The tenant-wide limiter.
    pub limiter: MinuteLimiter,
    /// Admissions of this tenant not yet completed.
    pub pending: usize,
    /// Time of the tenant's latest request, Unix milliseconds.
    pub last_seen_ms: i64,
}

impl TenantState {
    /// Creates an empty tenant whose limiter allows `tenant_per_minute`.
    pub fn new(tenant_per_minute: u64, clock: &ShardClock, now_ms: i64) -> Self {
        TenantState {
            nonces: NonceWindow::default(),
            sequences: SequenceMarks::default(),
            idempotency: IdempotencyTable::default(),
            budgets: TenantBudgets::default(),
            actors: HashMap::new(),
            limiter: MinuteLimiter::new(tenant_per_minute, clock),
            pending: 0,
            last_seen_ms: now_ms,
        }
    }

    /// Drops actors idle since before `idle_before_ms`; their limiters were full again
    /// because the idle time is at least the limiter period.
    pub fn evict_idle_actors(&mut self, idle_before_ms: i64) {
        self.actors
            .retain(|_, actor| actor.last_seen_ms >= idle_before_ms);
    }

    /// True when dropping the tenant loses nothing: no live protection state, no pending
    /// admission, no budget, and no request since `idle_before_ms`.
    pub fn is_evictable(&self, idle_before_ms: i64) -> bool {
        self.nonces.is_empty()
            && self.sequences.is_empty()
            && self.idempotency.is_empty()
            && self.budgets.is_empty()
            && self.actors.is_empty()
            && self.pending == 0
            && self.last_seen_ms < idle_before_ms
    }
}
