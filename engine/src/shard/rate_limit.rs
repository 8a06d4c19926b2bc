//! Per-actor and per-tenant rate limits, with governor's GCRA on the shard's request clock.

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const NANOS_PER_MS: u64 = 1_000_000;

/// The shard's clock for rate limiting: the latest request time seen, never moving backwards,
/// so limiters follow the `now_ms` the caller passes and tests control time.
#[derive(Debug, Clone, Default)]
pub struct ShardClock {
    now_ns: Arc<AtomicU64>,
}

impl ShardClock {
    /// Moves the clock to `now_ms` unless it is already later. Negative times count as 0.
    pub fn advance_to(&self, now_ms: i64) {
        let now_ns = u64::try_from(now_ms)
            .unwrap_or(0)
            .saturating_mul(NANOS_PER_MS);
        self.now_ns.fetch_max(now_ns, Ordering::Relaxed);
    }
}

impl Clock for ShardClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.now_ns.load(Ordering::Relaxed))
    }
}

type DirectLimiter = RateLimiter<NotKeyed, InMemoryState, ShardClock, NoOpMiddleware<Nanos>>;

/// A rate limit that can no longer admit a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateExceeded {
    /// Milliseconds until one request fits again; None when the limit is 0 per minute.
    pub retry_after_ms: Option<u64>,
}

/// One GCRA limiter allowing `per_minute` requests per minute with a burst of the same size.
/// A change of the configured rate replaces the limiter at its next check, which starts with
/// a full burst.
#[derive(Debug)]
pub struct MinuteLimiter {
    per_minute: u32,
    limiter: Option<DirectLimiter>,
}

impl MinuteLimiter {
    /// Creates a limiter for `per_minute` requests per minute.
    pub fn new(per_minute: u64, clock: &ShardClock) -> Self {
        let per_minute = u32::try_from(per_minute).unwrap_or(u32::MAX);
        let limiter = NonZeroU32::new(per_minute)
            .map(|rate| RateLimiter::direct_with_clock(Quota::per_minute(rate), clock.clone()));
        MinuteLimiter {
            per_minute,
            limiter,
        }
    }

    /// Takes one request from the limit, first adopting `per_minute` if it changed.
    pub fn check(&mut self, per_minute: u64, clock: &ShardClock) -> Result<(), RateExceeded> {
        let wanted = u32::try_from(per_minute).unwrap_or(u32::MAX);
        if wanted != self.per_minute {
            *self = MinuteLimiter::new(per_minute, clock);
        }

        let Some(limiter) = &self.limiter else {
            return Err(RateExceeded {
                retry_after_ms: None,
            });
        };
        limiter.check().map_err(|not_until| {
            let wait_ns = not_until
                .earliest_possible()
                .duration_since(clock.now())
                .as_u64();
            RateExceeded {
                retry_after_ms: Some(wait_ns.div_ceil(NANOS_PER_MS).max(1)),
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn limiter_allows_burst_then_reports_wait() {
        let clock = ShardClock::default();
        clock.advance_to(1_000);
        let mut limiter = MinuteLimiter::new(60, &clock);
        for _ in 0..60 {
            assert_eq!(limiter.check(60, &clock), Ok(()));
        }

        let exceeded = limiter.check(60, &clock);
        assert_eq!(exceeded, Err(RateExceeded { retry_after_ms: Some(1_000) }));

        clock.advance_to(2_000);
        assert_eq!(limiter.check(60, &clock), Ok(()));
    }

    #[test]
    fn zero_rate_rejects_without_retry_hint() {
        let clock = ShardClock::default();
        let mut limiter = MinuteLimiter::new(0, &clock);
        assert_eq!(limiter.check(0, &clock), Err(RateExceeded { retry_after_ms: None }));
    }
}
