//! Arrival times of an open-loop run: when each request is meant to be sent.
//!
//! The schedule is fixed before any response arrives, so a slow server cannot slow the
//! arrivals down. Latency is measured from these intended times, which keeps a stall visible
//! in the percentiles instead of hiding it (coordinated omission).

use rand::Rng;
use serde::Serialize;
use std::time::Duration;

/// How the gaps between arrivals are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Evenly spaced, one every `1 / rate` seconds.
    Fixed,
    /// A Poisson process: exponentially distributed gaps with mean `1 / rate` seconds.
    Poisson,
}

/// Yields the intended send offsets, measured from the start of the run.
#[derive(Debug, Clone)]
pub struct Schedule<R> {
    /// The arrival pattern.
    arrival: Arrival,
    /// Mean gap between arrivals, in nanoseconds (`1e9 / rate`).
    gap_ns_mean: f64,
    /// Offset of the next arrival, in nanoseconds since the start.
    next_ns: f64,
    /// Random source for Poisson gaps.
    rng: R,
}

impl<R: Rng> Schedule<R> {
    /// Creates a schedule for `rate_per_s` requests per second (must be above zero).
    pub fn new(arrival: Arrival, rate_per_s: f64, rng: R) -> Self {
        Schedule {
            arrival,
            gap_ns_mean: 1e9 / rate_per_s,
            next_ns: 0.0,
            rng,
        }
    }

    /// Returns the offset of the next arrival and advances past it.
    pub fn next_offset(&mut self) -> Duration {
        let offset = Duration::from_nanos(self.next_ns as u64);
        let gap = match self.arrival {
            Arrival::Fixed => self.gap_ns_mean,
            Arrival::Poisson => {
                // 1 - U lies in (0, 1], so its logarithm is finite.
                let uniform: f64 = 1.0 - self.rng.gen::<f64>();
                -uniform.ln() * self.gap_ns_mean
            }
        };
        self.next_ns += gap;
        offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn fixed_schedule_is_evenly_spaced() {
        let rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut schedule = Schedule::new(Arrival::Fixed, 1000.0, rng);
        assert_eq!(schedule.next_offset(), Duration::ZERO);
        assert_eq!(schedule.next_offset(), Duration::from_millis(1));
        assert_eq!(schedule.next_offset(), Duration::from_millis(2));
    }

    #[test]
    fn poisson_schedule_has_requested_mean_and_spread() {
        let rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut schedule = Schedule::new(Arrival::Poisson, 1000.0, rng);
        let mut previous = schedule.next_offset();
        let mut gaps_ns = Vec::new();
        for _ in 0..50_000 {
            let offset = schedule.next_offset();
            assert!(offset >= previous, "arrivals must not go back in time");
            gaps_ns.push((offset - previous).as_nanos() as f64);
            previous = offset;
        }
        let mean = gaps_ns.iter().sum::<f64>() / gaps_ns.len() as f64;
        assert!((mean - 1e6).abs() < 0.02e6, "mean gap {mean} ns");

        // An exponential distribution has its standard deviation equal to its mean.
        let variance = gaps_ns.iter().map(|gap| (gap - mean).powi(2)).sum::<f64>() / gaps_ns.len() as f64;
        assert!((variance.sqrt() - mean).abs() < 0.05 * mean, "std dev {}", variance.sqrt());
    }
}
