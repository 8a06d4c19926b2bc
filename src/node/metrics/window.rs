//! Latency over a sliding window: a ring of per-interval histograms with atomic buckets.
//!
//! Lifetime percentiles hide a regression behind hours of good traffic, so the p95, p99 and
//! max that operators alert on cover only the last [`WINDOW_MS`]. The window is a ring of
//! [`WINDOW_SLOTS`] slots, each holding the samples of one [`SLOT_MS`] interval. A slot is
//! cleared when its interval comes round again. Recording is lock-free (one atomic add per
//! sample), so the QUIC decision path can call it without contention.

use std::sync::atomic::{AtomicU64, Ordering};

/// Length of one slot, in milliseconds.
pub const SLOT_MS: u64 = 10_000;
/// Number of slots in the ring: together they cover [`WINDOW_MS`].
pub const WINDOW_SLOTS: u64 = 6;
/// Length of the window the percentiles cover, in milliseconds (the last 60 s).
pub const WINDOW_MS: u64 = SLOT_MS * WINDOW_SLOTS;

/// Sub-buckets per power of two. 16 sub-buckets bound the relative error of a reported
/// percentile to 1/16 (6.25 %), and the reported value is the bucket's upper edge, so a
/// percentile is never under-reported.
const SUB_BUCKET_BITS: u32 = 4;
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;
/// Values below this many microseconds get one bucket each (exact).
const EXACT_BELOW_US: u64 = SUB_BUCKETS * 2;
/// Largest recorded value, in microseconds (2^40 µs, about 12.7 days); larger samples are
/// clamped to it.
pub const VALUE_US_MAX: u64 = (1 << 40) - 1;
/// Number of buckets needed to cover `0..=VALUE_US_MAX`.
const BUCKETS: usize = bucket_index(VALUE_US_MAX) + 1;

/// Returns the bucket of a value in microseconds.
const fn bucket_index(value_us: u64) -> usize {
    if value_us < EXACT_BELOW_US {
        return value_us as usize;
    }
    let most_significant_bit = 63 - value_us.leading_zeros();
    let shift = most_significant_bit - SUB_BUCKET_BITS;
    let mantissa = value_us >> shift;
    ((shift as u64 + 1) * SUB_BUCKETS + (mantissa - SUB_BUCKETS)) as usize
}

/// Returns the largest value, in microseconds, that falls into bucket `index`.
fn bucket_upper_us(index: usize) -> u64 {
    let index = index as u64;
    if index < EXACT_BELOW_US {
        return index;
    }
    let shift = index / SUB_BUCKETS - 1;
    let mantissa = index % SUB_BUCKETS + SUB_BUCKETS;
    ((mantissa + 1) << shift) - 1
}

/// The samples of one interval.
struct Slot {
    /// Interval number (`time_ms / SLOT_MS`) whose samples the slot holds.
    interval: AtomicU64,
    counts: Box<[AtomicU64]>,
    max_us: AtomicU64,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            interval: AtomicU64::new(u64::MAX),
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_us: AtomicU64::new(0),
        }
    }
}

/// Percentiles and max over the window, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowSummary {
    /// Samples in the window.
    pub count: u64,
    /// 95th percentile (bucket upper edge); 0 without samples.
    pub p95_us: u64,
    /// 99th percentile (bucket upper edge); 0 without samples.
    pub p99_us: u64,
    /// Largest sample (exact); 0 without samples.
    pub max_us: u64,
}

/// A ring of per-interval latency histograms.
pub struct SlidingWindow {
    slots: Box<[Slot]>,
}

impl Default for SlidingWindow {
    fn default() -> Self {
        SlidingWindow::new()
    }
}

impl std::fmt::Debug for SlidingWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlidingWindow").finish_non_exhaustive()
    }
}

impl SlidingWindow {
    /// Creates an empty window (about 28 KiB of counters).
    pub fn new() -> SlidingWindow {
        SlidingWindow {
            slots: (0..WINDOW_SLOTS).map(|_| Slot::new()).collect(),
        }
    }

    /// Records one sample taken at `now_ms`.
    pub fn record(&self, now_ms: u64, value_us: u64) {
        let value_us = value_us.min(VALUE_US_MAX);
        let interval = now_ms / SLOT_MS;
        let Some(slot) = self.slots.get((interval % WINDOW_SLOTS) as usize) else {
            return;
        };

        let held = slot.interval.load(Ordering::Acquire);
        if held != interval {
            if held != u64::MAX && held > interval {
                // A sample stamped before the slot's interval (the clock stepped back): its
                // interval has already left the ring.
                return;
            }
            let claimed = slot
                .interval
                .compare_exchange(held, interval, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if claimed {
                // NOTE: a sample another thread records into this slot between the exchange
                // and this reset is lost. Metrics tolerate that loss, and recording stays lock-free.
                for count in slot.counts.iter() {
                    count.store(0, Ordering::Relaxed);
                }
                slot.max_us.store(0, Ordering::Relaxed);
            } else if slot.interval.load(Ordering::Acquire) != interval {
                return;
            }
        }

        if let Some(count) = slot.counts.get(bucket_index(value_us)) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        slot.max_us.fetch_max(value_us, Ordering::Relaxed);
    }

    /// Summarizes the samples of the last [`WINDOW_MS`] before `now_ms`.
    pub fn summary(&self, now_ms: u64) -> WindowSummary {
        let current = now_ms / SLOT_MS;
        let oldest = current.saturating_sub(WINDOW_SLOTS - 1);
        let mut merged = vec![0u64; BUCKETS];
        let mut summary = WindowSummary::default();

        for slot in self.slots.iter() {
            let interval = slot.interval.load(Ordering::Acquire);
            if interval == u64::MAX || interval < oldest || interval > current {
                continue;
            }
            for (total, count) in merged.iter_mut().zip(slot.counts.iter()) {
                *total += count.load(Ordering::Relaxed);
            }
            summary.max_us = summary.max_us.max(slot.max_us.load(Ordering::Relaxed));
        }

        summary.count = merged.iter().sum();
        summary.p95_us = quantile_us(&merged, summary.count, 95);
        summary.p99_us = quantile_us(&merged, summary.count, 99);
        summary
    }
}

/// Returns the upper edge of the bucket holding the `percent`th percentile sample.
fn quantile_us(counts: &[u64], total: u64, percent: u64) -> u64 {
    if total == 0 {
        return 0;
    }
    // The rank of the percentile sample, 1-based, rounded up: p95 of 100 samples is the 95th.
    let rank = (total * percent).div_ceil(100).max(1);
    let mut seen = 0u64;
    for (index, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return bucket_upper_us(index);
        }
    }
    bucket_upper_us(counts.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_in_order() {
        let mut previous_upper = None;
        for index in 0..BUCKETS {
            let upper = bucket_upper_us(index);
            assert_eq!(bucket_index(upper), index, "upper edge of bucket {index}");
            if let Some(previous) = previous_upper {
                assert_eq!(bucket_index(previous + 1), index, "first value of bucket {index}");
            }
            previous_upper = Some(upper);
        }
        assert_eq!(previous_upper, Some(VALUE_US_MAX));
    }

    #[test]
    fn bucket_error_is_bounded() {
        for value in [33_u64, 999, 12_345, 200_000, 499_999, 7_000_000] {
            let upper = bucket_upper_us(bucket_index(value));
            assert!(upper >= value);
            assert!((upper - value) * SUB_BUCKETS <= value, "value {value} reported as {upper}");
        }
    }

    #[test]
    fn percentiles_of_known_mix() {
        let window = SlidingWindow::new();
        for _ in 0..90 {
            window.record(1_000, 1_000);
        }
        for _ in 0..10 {
            window.record(1_000, 300_000);
        }

        let summary = window.summary(1_000);
        assert_eq!(summary.count, 100);
        assert!(summary.p95_us >= 300_000);
        assert!(summary.p95_us < 320_000);
        assert!(summary.p99_us >= 300_000);
        assert_eq!(summary.max_us, 300_000);
    }

    #[test]
    fn old_samples_leave_window() {
        let window = SlidingWindow::new();
        window.record(5_000, 900_000);
        assert_eq!(window.summary(5_000).max_us, 900_000);
        assert_eq!(window.summary(5_000 + WINDOW_MS - SLOT_MS).max_us, 900_000);
        assert_eq!(window.summary(5_000 + WINDOW_MS).count, 0);

        window.record(5_000 + WINDOW_MS, 2_000);
        let summary = window.summary(5_000 + WINDOW_MS);
        assert_eq!(summary.count, 1);
        assert_eq!(summary.max_us, 2_000);
    }
}
