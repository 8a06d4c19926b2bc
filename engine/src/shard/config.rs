//! Shard configuration: the number of shards and every memory cap, with units.

use thiserror::Error;

/// Sizing and caps of the shard set. Every cap bounds memory; when a cap is reached the shard
/// rejects new work with `OVERLOADED` instead of forgetting live protection state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardConfig {
    /// Number of shard actors. Fixed for the life of the process because the tenant-to-shard
    /// mapping depends on it.
    pub shard_count: usize,
    /// Number of arbiters (threads) the shards are spread over; one per core is the intent.
    pub arbiter_count: usize,
    /// Admissions waiting in or being handled by one shard; past this `admit` returns
    /// `OVERLOADED` at once instead of queueing.
    pub shard_queue_max: usize,
    /// Tenants with live state in one shard.
    pub tenants_per_shard_max: usize,
    /// Live nonces in one shard, over all its tenants. Each costs about 100 bytes (see the
    /// shard section of the benchmarks document for the measured figure).
    pub nonces_per_shard_max: usize,
    /// Live nonces of one tenant, so one tenant cannot use up its shard's capacity.
    pub nonces_per_tenant_max: usize,
    /// Sequence streams with a high-water mark, per tenant. Marks are never evicted while the
    /// process runs, because forgetting one would let a lower sequence through again.
    pub sequence_streams_per_tenant_max: usize,
    /// Stored idempotency entries (decided or in flight) per tenant.
    pub idempotency_entries_per_tenant_max: usize,
    /// How long a decided idempotency entry is kept, in milliseconds.
    pub idempotency_ttl_ms: u64,
    /// Actors with a rate limiter, anomaly window or budget spend, per tenant.
    pub actors_per_tenant_max: usize,
    /// Budget definitions per tenant.
    pub budgets_per_tenant_max: usize,
    /// An actor's limiter and anomaly window are dropped after this long without a request,
    /// in milliseconds. At least 60,000 so that a dropped limiter was already full again
    /// (the limiter's period is one minute) and dropping it changes no answer.
    pub actor_idle_ms: u64,
    /// An admission not completed within this time is dropped, in milliseconds: its nonce
    /// stays consumed and its sequence mark stays raised (fail closed), and its idempotency
    /// key is released.
    pub admission_pending_ms_max: u64,
    /// Rate-limited rejections of one actor within one minute that open an anomaly.
    pub anomaly_rate_limited_per_minute_min: u32,
    /// Interval of the sweep that evicts expired and idle state, in milliseconds.
    pub sweep_interval_ms: u64,
    /// Delay before a shard whose recovery failed tries again, in milliseconds.
    pub recovery_retry_ms: u64,
}

impl Default for ShardConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |count| count.get());
        ShardConfig {
            shard_count: 16,
            arbiter_count: cores,
            shard_queue_max: 4_096,
            tenants_per_shard_max: 100_000,
            nonces_per_shard_max: 2_000_000,
            nonces_per_tenant_max: 500_000,
            sequence_streams_per_tenant_max: 100_000,
            idempotency_entries_per_tenant_max: 200_000,
            idempotency_ttl_ms: 24 * 60 * 60 * 1_000,
            actors_per_tenant_max: 100_000,
            budgets_per_tenant_max: 256,
            actor_idle_ms: 120_000,
            admission_pending_ms_max: 60_000,
            anomaly_rate_limited_per_minute_min: 10,
            sweep_interval_ms: 1_000,
            recovery_retry_ms: 1_000,
        }
    }
}

/// A configuration value outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ShardConfigError {
    /// A count that must be at least one is zero.
    #[error("shard config `{field}` must be at least 1")]
    Zero {
        /// Name of the field.
        field: &'static str,
    },
    /// `actor_idle_ms` is shorter than the limiter period.
    #[error("shard config `actor_idle_ms` is {value} ms but must be at least 60000 ms, the rate-limit period")]
    ActorIdleTooShort {
        /// The configured value.
        value: u64,
    },
}

impl ShardConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), ShardConfigError> {
        let counts = [
            ("shard_count", self.shard_count as u64),
            ("arbiter_count", self.arbiter_count as u64),
            ("shard_queue_max", self.shard_queue_max as u64),
            ("tenants_per_shard_max", self.tenants_per_shard_max as u64),
            ("nonces_per_shard_max", self.nonces_per_shard_max as u64),
            ("nonces_per_tenant_max", self.nonces_per_tenant_max as u64),
            ("sequence_streams_per_tenant_max", self.sequence_streams_per_tenant_max as u64),
            ("idempotency_entries_per_tenant_max", self.idempotency_entries_per_tenant_max as u64),
            ("actors_per_tenant_max", self.actors_per_tenant_max as u64),
            ("budgets_per_tenant_max", self.budgets_per_tenant_max as u64),
            ("anomaly_rate_limited_per_minute_min", u64::from(self.anomaly_rate_limited_per_minute_min)),
            ("sweep_interval_ms", self.sweep_interval_ms),
            ("recovery_retry_ms", self.recovery_retry_ms),
        ];
        if let Some((field, _)) = counts.iter().find(|(_, value)| *value == 0) {
            return Err(ShardConfigError::Zero { field });
        }

        if self.actor_idle_ms < 60_000 {
            return Err(ShardConfigError::ActorIdleTooShort {
                value: self.actor_idle_ms,
            });
        }
        Ok(())
    }
}
