//! Runtime settings that operators change without a restart.
//!
//! Every field is an atomic so the request path reads it without a lock; a change takes effect
//! for the next request on every shard. Start values come from environment variables of the
//! same names (`RATE_LIMIT_PER_MINUTE`, `MAX_DEFER_TOTAL_MS`, `DEGRADED_NO_ALLOW`, …).

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// Default requests per minute per actor; a tenant's limit is `TENANT_RATE_MULTIPLIER` times it.
pub const RATE_LIMIT_PER_MINUTE_DEFAULT: u64 = 6_000;
/// A tenant may issue this many times the per-actor rate.
pub const TENANT_RATE_MULTIPLIER: u64 = 10;
/// Default longest certificate lifetime accepted, in milliseconds (5 minutes).
pub const ACCEPTANCE_TTL_MS_DEFAULT: u64 = 300_000;
/// Default time after `issued_at` during which a DEFER may be retried, in milliseconds.
pub const MAX_DEFER_TOTAL_MS_DEFAULT: u64 = 30_000;
/// Default allowed clock difference between agent and engine, in milliseconds.
pub const CLOCK_SKEW_MS_DEFAULT: u64 = 5_000;

/// The live settings shared by every part of the engine.
#[derive(Debug)]
pub struct RuntimeSettings {
    /// Per-actor request budget per minute; 0 means no request is admitted.
    pub rate_limit_per_minute: AtomicU64,
    /// Longest accepted certificate lifetime (`expires_at - issued_at`), in milliseconds;
    /// 0 rejects every certificate.
    pub acceptance_ttl_ms: AtomicU64,
    /// How long after `issued_at` a deferred certificate may be retried, in milliseconds.
    pub max_defer_total_ms: AtomicU64,
    /// Allowed clock difference between agent and engine, in milliseconds.
    pub clock_skew_ms: AtomicU64,
    /// When true, no request is allowed: would-be ALLOWs become SHIELD, ESCROW or DEFER.
    pub degraded_no_allow: AtomicBool,
    /// Multiplier in thousandths applied to every `escrow when` amount threshold and shield
    /// limit (1000 = as written in the policy); raised temporarily to drain an escrow backlog.
    pub threshold_scale_milli: AtomicU64,
    /// Certificates issued before this Unix time in milliseconds are rejected as expired.
    /// Setting the acceptance TTL to 0 moves it to the current time, so certificates active
    /// at that moment stay invalid after the TTL is raised again.
    pub certificates_issued_after_ms: AtomicI64,
}

/// A plain copy of the settings, for the API and the audit record of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsSnapshot {
    /// See [`RuntimeSettings::rate_limit_per_minute`].
    pub rate_limit_per_minute: u64,
    /// See [`RuntimeSettings::acceptance_ttl_ms`].
    pub acceptance_ttl_ms: u64,
    /// See [`RuntimeSettings::max_defer_total_ms`].
    pub max_defer_total_ms: u64,
    /// See [`RuntimeSettings::clock_skew_ms`].
    pub clock_skew_ms: u64,
    /// See [`RuntimeSettings::degraded_no_allow`].
    pub degraded_no_allow: bool,
    /// See [`RuntimeSettings::threshold_scale_milli`].
    pub threshold_scale_milli: u64,
    /// See [`RuntimeSettings::certificates_issued_after_ms`]; 0 when no cutoff was set.
    #[serde(default)]
    pub certificates_issued_after_ms: i64,
}

impl Default for SettingsSnapshot {
    fn default() -> Self {
        SettingsSnapshot {
            rate_limit_per_minute: RATE_LIMIT_PER_MINUTE_DEFAULT,
            acceptance_ttl_ms: ACCEPTANCE_TTL_MS_DEFAULT,
            max_defer_total_ms: MAX_DEFER_TOTAL_MS_DEFAULT,
            clock_skew_ms: CLOCK_SKEW_MS_DEFAULT,
            degraded_no_allow: false,
            threshold_scale_milli: 1_000,
            certificates_issued_after_ms: 0,
        }
    }
}

impl RuntimeSettings {
    /// Creates live settings from a snapshot.
    pub fn new(snapshot: SettingsSnapshot) -> Self {
        RuntimeSettings {
            rate_limit_per_minute: AtomicU64::new(snapshot.rate_limit_per_minute),
            acceptance_ttl_ms: AtomicU64::new(snapshot.acceptance_ttl_ms),
            max_defer_total_ms: AtomicU64::new(snapshot.max_defer_total_ms),
            clock_skew_ms: AtomicU64::new(snapshot.clock_skew_ms),
            degraded_no_allow: AtomicBool::new(snapshot.degraded_no_allow),
            threshold_scale_milli: AtomicU64::new(snapshot.threshold_scale_milli),
            certificates_issued_after_ms: AtomicI64::new(snapshot.certificates_issued_after_ms),
        }
    }

    /// Reads every setting at once.
    pub fn snapshot(&self) -> SettingsSnapshot {
        SettingsSnapshot {
            rate_limit_per_minute: self.rate_limit_per_minute.load(Ordering::Relaxed),
            acceptance_ttl_ms: self.acceptance_ttl_ms.load(Ordering::Relaxed),
            max_defer_total_ms: self.max_defer_total_ms.load(Ordering::Relaxed),
            clock_skew_ms: self.clock_skew_ms.load(Ordering::Relaxed),
            degraded_no_allow: self.degraded_no_allow.load(Ordering::Relaxed),
            threshold_scale_milli: self.threshold_scale_milli.load(Ordering::Relaxed),
            certificates_issued_after_ms: self.certificates_issued_after_ms.load(Ordering::Relaxed),
        }
    }

    /// Replaces every setting with the snapshot's values.
    pub fn apply(&self, snapshot: SettingsSnapshot) {
        self.rate_limit_per_minute
            .store(snapshot.rate_limit_per_minute, Ordering::Relaxed);
        self.acceptance_ttl_ms
            .store(snapshot.acceptance_ttl_ms, Ordering::Relaxed);
        self.max_defer_total_ms
            .store(snapshot.max_defer_total_ms, Ordering::Relaxed);
        self.clock_skew_ms.store(snapshot.clock_skew_ms, Ordering::Relaxed);
        self.degraded_no_allow
            .store(snapshot.degraded_no_allow, Ordering::Relaxed);
        self.threshold_scale_milli
            .store(snapshot.threshold_scale_milli, Ordering::Relaxed);
        self.certificates_issued_after_ms
            .store(snapshot.certificates_issued_after_ms, Ordering::Relaxed);
    }
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings::new(SettingsSnapshot::default())
    }
}
