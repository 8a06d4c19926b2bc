//! The figures of a finished run and the files they are written to.
//!
//! [`RunReport`] is built once from the [`Recorder`]; the text, JSON, hgrm and HTML writers
//! only format it, so every output shows the same numbers.

pub mod hgrm;
pub mod html;
pub mod svg;
pub mod text;

use crate::config::RunConfig;
use crate::expectations::expected;
use crate::metrics::ServerFigures;
use crate::mix::Scenario;
use crate::recorder::{Recorder, Tally};
use axiom_engine::model::{ReasonCode, Verdict};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// Latency percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyFigures {
    /// Values recorded.
    pub count: u64,
    /// Lowest value.
    pub min_us: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 95th percentile.
    pub p95_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Highest value.
    pub max_us: u64,
    /// Arithmetic mean.
    pub mean_us: f64,
}

impl LatencyFigures {
    /// Reads the percentiles of a histogram; all zero when it is empty.
    pub fn of(histogram: &Histogram<u64>) -> LatencyFigures {
        if histogram.is_empty() {
            return LatencyFigures {
                count: 0,
                min_us: 0,
                p50_us: 0,
                p90_us: 0,
                p95_us: 0,
                p99_us: 0,
                p999_us: 0,
                max_us: 0,
                mean_us: 0.0,
            };
        }
        LatencyFigures {
            count: histogram.len(),
            min_us: histogram.min(),
            p50_us: histogram.value_at_quantile(0.50),
            p90_us: histogram.value_at_quantile(0.90),
            p95_us: histogram.value_at_quantile(0.95),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
            mean_us: histogram.mean(),
        }
    }
}

/// How many times the server gave one answer to one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerCount {
    /// The verdict.
    pub verdict: Verdict,
    /// The reason code.
    pub reason: ReasonCode,
    /// Times given.
    pub count: u64,
    /// True when the scenario's expectation lists this answer.
    pub expected: bool,
}

/// Counters shared by the per-scenario and the overall figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Counts {
    /// Requests sent during the measured phase.
    pub sent: u64,
    /// Requests not sent because the in-flight limit was reached.
    pub dropped: u64,
    /// Requests answered with a decision.
    pub answered: u64,
    /// Answers the expectation table does not list.
    pub unexpected: u64,
    /// Responses that were not decisions.
    pub invalid_responses: u64,
    /// Connection or stream failures.
    pub transport_errors: u64,
    /// Requests without a response within the timeout.
    pub timeouts: u64,
}

/// The figures of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioReport {
    /// The scenario.
    pub scenario: Scenario,
    /// The accepted answers, as `VERDICT/REASON`.
    pub expected: String,
    /// Counters.
    #[serde(flatten)]
    pub counts: Counts,
    /// Answers, each marked expected or not.
    pub answers: Vec<AnswerCount>,
    /// Latency from intended send time to response.
    pub latency: LatencyFigures,
}

/// One second of the measured phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelinePoint {
    /// Seconds since the end of the warm-up.
    pub second: u64,
    /// Answers received in this second.
    pub completed: u64,
    /// Median latency of requests intended in this second.
    pub p50_us: u64,
    /// 99th percentile latency of requests intended in this second.
    pub p99_us: u64,
}

/// Why the run stopped scheduling requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The measured phase ran its full duration.
    Duration,
    /// `requests_max` requests were scheduled.
    RequestsMax,
}

/// Everything a run measured, ready to format.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// The settings of the run.
    pub config: RunConfig,
    /// Agents (keys) that signed requests.
    pub agents: usize,
    /// Why the run stopped.
    pub ended_by: EndReason,
    /// Length of the measured phase actually run, in seconds.
    pub measured_s: f64,
    /// Offered rate, in requests per second.
    pub target_rate_per_s: f64,
    /// Requests sent during the measured phase per second of it.
    pub sent_rate_per_s: f64,
    /// Answers received during the measured phase per second of it.
    pub achieved_rate_per_s: f64,
    /// Requests intended during the warm-up (left out of every figure).
    pub warmup_requests: u64,
    /// Counters over every scenario.
    pub overall: Counts,
    /// Latency over every scenario.
    pub overall_latency: LatencyFigures,
    /// How late the generator sent requests after their intended times.
    pub send_lag: LatencyFigures,
    /// Per-scenario figures, for scenarios with a weight above zero.
    pub scenarios: Vec<ScenarioReport>,
    /// Per-second latency and throughput.
    pub timeline: Vec<TimelinePoint>,
    /// The server's own latency figures, when its metrics could be read.
    pub server: Option<ServerFigures>,
}

impl RunReport {
    /// Builds the report of a run.
    ///
    /// `measured` is how long the measured phase lasted: the full duration, or less when
    /// `requests_max` ended it early.
    pub fn build(
        config: &RunConfig,
        agents: usize,
        recorder: &Recorder,
        measured: Duration,
        ended_by: EndReason,
        server: Option<ServerFigures>,
    ) -> RunReport {
        let scenarios: Vec<ScenarioReport> = config
            .mix
            .active()
            .map(|scenario| scenario_report(scenario, recorder.scenario(scenario)))
            .collect();

        let mut overall = counts(&recorder.overall, 0);
        overall.unexpected = scenarios.iter().map(|scenario| scenario.counts.unexpected).sum();

        let measured_s = measured.as_secs_f64();
        let per_second = |count: u64| if measured_s > 0.0 { count as f64 / measured_s } else { 0.0 };

        RunReport {
            config: config.clone(),
            agents,
            ended_by,
            measured_s,
            target_rate_per_s: config.rate_per_s,
            sent_rate_per_s: per_second(overall.sent),
            achieved_rate_per_s: achieved_rate(recorder, ended_by),
            warmup_requests: recorder.warmup_requests,
            overall,
            overall_latency: LatencyFigures::of(&recorder.overall.latency_us),
            send_lag: LatencyFigures::of(&recorder.send_lag_us),
            scenarios,
            timeline: timeline(recorder, measured),
            server,
        }
    }

    /// Returns true when every answer was expected and nothing failed, timed out or was dropped.
    pub fn is_clean(&self) -> bool {
        self.overall.unexpected == 0
            && self.overall.invalid_responses == 0
            && self.overall.transport_errors == 0
            && self.overall.timeouts == 0
            && self.overall.dropped == 0
    }
}

/// Returns the answers per second of the measured phase. A run that ran its full duration
/// counts the answers that arrived within it; a run cut short by `requests_max` counts every
/// measured answer over the time until the last one arrived.
fn achieved_rate(recorder: &Recorder, ended_by: EndReason) -> f64 {
    let (answers, window) = match ended_by {
        EndReason::Duration => (recorder.answered_in_phase, recorder.phase_end.saturating_sub(recorder.warmup)),
        EndReason::RequestsMax => (recorder.overall.answered(), recorder.last_answer.saturating_sub(recorder.warmup)),
    };
    let window_s = window.as_secs_f64();
    if window_s > 0.0 {
        answers as f64 / window_s
    } else {
        0.0
    }
}

fn scenario_report(scenario: Scenario, tally: &Tally) -> ScenarioReport {
    let expectation = expected(scenario);
    let answers: Vec<AnswerCount> = tally
        .answers
        .iter()
        .map(|(&(verdict, reason), &count)| AnswerCount {
            verdict,
            reason,
            count,
            expected: expectation.matches(verdict, reason),
        })
        .collect();
    let unexpected = answers.iter().filter(|answer| !answer.expected).map(|answer| answer.count).sum();

    ScenarioReport {
        scenario,
        expected: expectation.describe(),
        counts: counts(tally, unexpected),
        answers,
        latency: LatencyFigures::of(&tally.latency_us),
    }
}

fn counts(tally: &Tally, unexpected: u64) -> Counts {
    Counts {
        sent: tally.sent,
        dropped: tally.dropped,
        answered: tally.answered(),
        unexpected,
        invalid_responses: tally.invalid_responses,
        transport_errors: tally.transport_errors,
        timeouts: tally.timeouts,
    }
}

/// Lists the whole seconds of the measured phase; a trailing partial second is left out
/// because its throughput would read low.
fn timeline(recorder: &Recorder, measured: Duration) -> Vec<TimelinePoint> {
    let whole_seconds = measured.as_secs() as usize;
    recorder
        .timeline
        .iter()
        .take(whole_seconds)
        .enumerate()
        .map(|(second, slot)| {
            let empty = slot.latency_us.is_empty();
            TimelinePoint {
                second: second as u64,
                completed: slot.completed,
                p50_us: if empty { 0 } else { slot.latency_us.value_at_quantile(0.50) },
                p99_us: if empty { 0 } else { slot.latency_us.value_at_quantile(0.99) },
            }
        })
        .collect()
}
