//! Capacity mode: repeated short runs that search for the highest rate meeting a latency target.
//!
//! The search doubles the offered rate from a starting point until a step fails, then
//! bisects between the last passing and the first failing rate until they are within the
//! requested resolution. A step passes when its P95 and P99 are at or under their targets,
//! the server answered at least [`KEPT_UP_SHARE`] of the offered rate, and no request was
//! dropped, timed out or failed.

use crate::agents::Agent;
use crate::error::{ConfigError, LoadtestError};
use crate::generator::{self, RunOptions};
use crate::report::RunReport;
use serde::Serialize;

/// Share of the offered rate that must be answered for a step to pass; below it the server
/// is not keeping up, whatever the percentiles of the requests it did answer say.
pub const KEPT_UP_SHARE: f64 = 0.95;

/// Most steps of one search; doubling from 1/s reaches 1,000,000/s in 20 steps, and
/// bisection to 5 % takes about 5 more.
pub const CAPACITY_STEPS_MAX: usize = 40;

/// Smallest rate the search tries, in requests per second; below it there is no capacity.
pub const RATE_PER_S_MIN: f64 = 1.0;

/// The targets and bounds of a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacityConfig {
    /// First offered rate, in requests per second.
    pub start_rate_per_s: f64,
    /// Highest offered rate tried, in requests per second.
    pub rate_max_per_s: f64,
    /// Largest acceptable P95, in milliseconds.
    pub p95_ms: f64,
    /// Largest acceptable P99, in milliseconds.
    pub p99_ms: f64,
    /// The search stops when the passing and failing rates are closer than this share.
    pub resolution: f64,
    /// Most steps.
    pub steps_max: usize,
    /// Cores of the server, for the per-core figure.
    pub server_cores: usize,
    /// Where the core count came from, for the report.
    pub server_cores_source: String,
    /// Load to size a deployment for, in requests per second.
    pub target_rps: Option<f64>,
    /// Share of capacity kept free on each instance, 0 to below 1.
    pub headroom: f64,
}

impl CapacityConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let range = |name: &'static str, value: f64, expected: &'static str| ConfigError::OutOfRange {
            name,
            value: value.to_string(),
            expected,
        };
        if !(self.start_rate_per_s >= RATE_PER_S_MIN && self.start_rate_per_s <= self.rate_max_per_s) {
            return Err(range("start-rate", self.start_rate_per_s, "at least 1 and at most --max-rate"));
        }
        if !(self.p95_ms > 0.0 && self.p99_ms > 0.0) {
            return Err(range("p95-ms/p99-ms", self.p95_ms.min(self.p99_ms), "above 0 ms"));
        }
        if !(self.resolution > 0.0 && self.resolution < 1.0) {
            return Err(range("resolution", self.resolution, "above 0 and below 1"));
        }
        if !(0.0..1.0).contains(&self.headroom) {
            return Err(range("headroom", self.headroom, "at least 0 and below 1"));
        }
        if self.server_cores == 0 {
            return Err(range("server-cores", 0.0, "at least 1"));
        }
        if self.steps_max == 0 || self.steps_max > CAPACITY_STEPS_MAX {
            return Err(range("max-steps", self.steps_max as f64, "between 1 and 40"));
        }
        Ok(())
    }
}

/// The search state: the best passing and the lowest failing rate seen so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    passed: Option<f64>,
    failed: Option<f64>,
    next: Option<f64>,
    rate_max_per_s: f64,
    resolution: f64,
}

impl Search {
    /// Starts a search at `start` requests per second.
    pub fn new(start: f64, rate_max_per_s: f64, resolution: f64) -> Search {
        Search {
            passed: None,
            failed: None,
            next: Some(start),
            rate_max_per_s,
            resolution,
        }
    }

    /// Returns the next rate to try, or `None` when the search is over.
    pub fn next_rate(&self) -> Option<f64> {
        self.next
    }

    /// Returns the highest rate that passed.
    pub fn best(&self) -> Option<f64> {
        self.passed
    }

    /// Records whether `rate` passed and picks the next rate.
    pub fn record(&mut self, rate: f64, passed: bool) {
        if passed {
            self.passed = Some(self.passed.map_or(rate, |best| best.max(rate)));
        } else {
            self.failed = Some(self.failed.map_or(rate, |lowest| lowest.min(rate)));
        }

        self.next = match (self.passed, self.failed) {
            (Some(low), None) if low >= self.rate_max_per_s => None,
            (Some(low), None) => Some((low * 2.0).min(self.rate_max_per_s)),
            (None, Some(high)) => Some(high / 2.0).filter(|rate| *rate >= RATE_PER_S_MIN),
            (Some(low), Some(high)) if (high - low) / low > self.resolution => Some((low + high) / 2.0),
            _ => None,
        };
    }
}

/// One step of a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacityStep {
    /// Offered rate, in requests per second.
    pub rate_per_s: f64,
    /// Answered rate, in requests per second.
    pub achieved_rate_per_s: f64,
    /// Client-side P95, in milliseconds.
    pub p95_ms: f64,
    /// Client-side P99, in milliseconds.
    pub p99_ms: f64,
    /// Dropped, timed-out and failed requests.
    pub failures: u64,
    /// Whether the step met every condition.
    pub passed: bool,
    /// Why it failed, when it did.
    pub failure_reason: Option<String>,
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacityReport {
    /// The targets and bounds.
    pub config: CapacityConfig,
    /// Every step, in the order run.
    pub steps: Vec<CapacityStep>,
    /// Highest rate that passed, in requests per second.
    pub capacity_rps: Option<f64>,
    /// `capacity_rps / server_cores`.
    pub capacity_rps_per_core: Option<f64>,
    /// Usable rate per instance: `capacity_rps * (1 - headroom)`.
    pub usable_rps_per_instance: Option<f64>,
    /// Instances needed for `target_rps`.
    pub instances_needed: Option<u64>,
}

/// Judges one step against the targets.
pub fn judge(report: &RunReport, config: &CapacityConfig) -> CapacityStep {
    let latency = &report.overall_latency;
    let p95_ms = latency.p95_us as f64 / 1_000.0;
    let p99_ms = latency.p99_us as f64 / 1_000.0;
    let counts = &report.overall;
    let failures = counts.dropped + counts.timeouts + counts.transport_errors;

    let failure_reason = if latency.count == 0 {
        Some("no request was answered".to_owned())
    } else if failures > 0 {
        Some(format!("{failures} requests dropped, timed out or failed"))
    } else if report.achieved_rate_per_s < KEPT_UP_SHARE * report.target_rate_per_s {
        Some(format!("answered {:.1}/s of {:.1}/s offered", report.achieved_rate_per_s, report.target_rate_per_s))
    } else if p95_ms > config.p95_ms {
        Some(format!("p95 {p95_ms:.3} ms above {} ms", config.p95_ms))
    } else if p99_ms > config.p99_ms {
        Some(format!("p99 {p99_ms:.3} ms above {} ms", config.p99_ms))
    } else {
        None
    };

    CapacityStep {
        rate_per_s: report.target_rate_per_s,
        achieved_rate_per_s: report.achieved_rate_per_s,
        p95_ms,
        p99_ms,
        failures,
        passed: failure_reason.is_none(),
        failure_reason,
    }
}

/// Sizes a deployment from a measured capacity.
pub fn summarize(config: CapacityConfig, steps: Vec<CapacityStep>, capacity_rps: Option<f64>) -> CapacityReport {
    let usable = capacity_rps.map(|capacity| capacity * (1.0 - config.headroom));
    let instances_needed = match (config.target_rps, usable) {
        (Some(target), Some(usable)) if usable > 0.0 => Some((target / usable).ceil().max(1.0) as u64),
        _ => None,
    };
    CapacityReport {
        capacity_rps_per_core: capacity_rps.map(|capacity| capacity / config.server_cores as f64),
        usable_rps_per_instance: usable,
        instances_needed,
        capacity_rps,
        steps,
        config,
    }
}

/// Runs the search: one load run per step with the settings of `base` and the step's rate.
pub async fn search(
    base: &crate::config::RunConfig,
    agents: Vec<Agent>,
    config: CapacityConfig,
    options: &RunOptions,
) -> Result<CapacityReport, LoadtestError> {
    config.validate()?;
    let mut search = Search::new(config.start_rate_per_s, config.rate_max_per_s, config.resolution);
    let mut steps = Vec::new();

    for step_index in 0..config.steps_max {
        let Some(rate) = search.next_rate() else { break };
        let mut step_config = base.clone();
        step_config.rate_per_s = rate;
        step_config.seed = base.seed.wrapping_add(step_index as u64);

        let outcome = generator::run(&step_config, agents.clone(), options).await?;
        let step = judge(&outcome.report, &config);
        tracing::info!(
            step = step_index,
            rate_per_s = rate,
            p95_ms = step.p95_ms,
            p99_ms = step.p99_ms,
            passed = step.passed,
            reason = step.failure_reason.as_deref().unwrap_or(""),
            "capacity step finished"
        );
        search.record(rate, step.passed);
        steps.push(step);
    }
    Ok(summarize(config, steps, search.best()))
}

/// Formats a capacity report for the terminal.
pub fn render_text(report: &CapacityReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let config = &report.config;
    let _ = writeln!(out, "capacity search: p95 <= {} ms and p99 <= {} ms", config.p95_ms, config.p99_ms);
    let _ = writeln!(out, "  {:>12} {:>12} {:>10} {:>10}  result", "offered/s", "answered/s", "p95 ms", "p99 ms");
    for step in &report.steps {
        let _ = writeln!(
            out,
            "  {:>12.1} {:>12.1} {:>10.3} {:>10.3}  {}",
            step.rate_per_s,
            step.achieved_rate_per_s,
            step.p95_ms,
            step.p99_ms,
            step.failure_reason.as_deref().map_or("pass".to_owned(), |reason| format!("fail: {reason}"))
        );
    }
    match report.capacity_rps {
        None => {
            let _ = writeln!(out, "no rate met the targets (lowest tried: {} /s)", RATE_PER_S_MIN);
        }
        Some(capacity) => {
            let _ = writeln!(out, "capacity: {capacity:.1} requests/s");
            let _ = writeln!(
                out,
                "per core: {:.1} requests/s ({} cores, {})",
                report.capacity_rps_per_core.unwrap_or(0.0),
                config.server_cores,
                config.server_cores_source
            );
            if let Some(usable) = report.usable_rps_per_instance {
                let _ = writeln!(out, "usable per instance at {:.0} % headroom: {usable:.1} requests/s", config.headroom * 100.0);
            }
            if let (Some(target), Some(instances)) = (config.target_rps, report.instances_needed) {
                let _ = writeln!(out, "instances for {target:.0} requests/s: {instances}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a server whose true capacity is `limit`.
    fn search_against(limit: f64, start: f64, max: f64) -> (Option<f64>, usize) {
        let mut search = Search::new(start, max, 0.05);
        let mut steps = 0;
        while let Some(rate) = search.next_rate() {
            search.record(rate, rate <= limit);
            steps += 1;
            assert!(steps <= CAPACITY_STEPS_MAX, "search did not end");
        }
        (search.best(), steps)
    }

    #[test]
    fn search_converges_within_resolution() {
        for limit in [3.0, 150.0, 777.0, 12_345.0] {
            let (best, _) = search_against(limit, 100.0, 1_000_000.0);
            let best = best.unwrap();
            assert!(best <= limit, "{best} above limit {limit}");
            assert!(best >= limit * 0.95 * 0.95, "{best} too far below limit {limit}");
        }
    }

    #[test]
    fn search_stops_at_max_and_below_min() {
        assert_eq!(search_against(1e9, 100.0, 800.0).0, Some(800.0));
        assert_eq!(search_against(0.5, 100.0, 800.0).0, None);
    }

    #[test]
    fn instances_include_headroom() {
        let config = CapacityConfig {
            start_rate_per_s: 100.0,
            rate_max_per_s: 1e6,
            p95_ms: 200.0,
            p99_ms: 2.0,
            resolution: 0.05,
            steps_max: 20,
            server_cores: 2,
            server_cores_source: "given".into(),
            target_rps: Some(20_000.0),
            headroom: 0.3,
        };
        let report = summarize(config, Vec::new(), Some(10_000.0));
        assert_eq!(report.capacity_rps_per_core, Some(5_000.0));
        assert_eq!(report.usable_rps_per_instance, Some(7_000.0));
        // 20000 / 7000 = 2.86, so three instances.
        assert_eq!(report.instances_needed, Some(3));
    }
}
