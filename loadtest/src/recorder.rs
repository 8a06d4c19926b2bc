//! Collects the outcome of every request into HDR histograms and counters.
//!
//! Latency is the time from a request's *intended* send time to its response, so time spent
//! waiting behind a stalled server (or a stalled generator) is counted. Requests whose intended
//! time falls in the warm-up phase are counted apart and left out of every figure.

use crate::mix::Scenario;
use axiom_engine::model::{ReasonCode, Verdict};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// Highest latency a histogram can hold, in microseconds (10 minutes). Longer values are
/// recorded as this value; request timeouts are far below it.
pub const LATENCY_US_MAX: u64 = 600_000_000;

/// Significant decimal digits of the run-wide and per-scenario histograms (0.1 % resolution).
const HISTOGRAM_SIGFIG: u8 = 3;

/// Significant digits of the per-second histograms: 1 % resolution keeps one second's
/// histogram near 20 KB, so an hour-long run stays below 100 MB.
const TIMELINE_SIGFIG: u8 = 2;

/// Most one-second slots kept for the time plots (one day); later seconds are not plotted.
pub const TIMELINE_SECONDS_MAX: usize = 86_400;

/// What became of one request that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server returned a decision.
    Answered {
        /// The verdict returned.
        verdict: Verdict,
        /// The reason code returned.
        reason: ReasonCode,
    },
    /// The server returned bytes that are not a decision response.
    InvalidResponse,
    /// The QUIC connection or stream failed.
    TransportError,
    /// No response came within the request timeout.
    Timeout,
}

/// One finished request.
#[derive(Debug, Clone, Copy)]
pub struct Completion {
    /// The request's scenario.
    pub scenario: Scenario,
    /// Intended send time, measured from the start of the run.
    pub intended: Duration,
    /// Time from the intended send time to the response (or to the timeout or error).
    pub latency: Duration,
    /// What happened.
    pub outcome: Outcome,
}

/// Counters and a histogram for one scenario, or for the whole run.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Latency of answered and timed-out requests, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Requests sent.
    pub sent: u64,
    /// Requests not sent because the in-flight limit was reached at their intended time.
    pub dropped: u64,
    /// Answers per (verdict, reason code).
    pub answers: BTreeMap<(Verdict, ReasonCode), u64>,
    /// Responses that were not decisions.
    pub invalid_responses: u64,
    /// Connection or stream failures.
    pub transport_errors: u64,
    /// Requests without a response within the timeout.
    pub timeouts: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latency_us: new_histogram(HISTOGRAM_SIGFIG),
            sent: 0,
            dropped: 0,
            answers: BTreeMap::new(),
            invalid_responses: 0,
            transport_errors: 0,
            timeouts: 0,
        }
    }

    /// Returns the number of requests answered with a decision.
    pub fn answered(&self) -> u64 {
        self.answers.values().sum()
    }

    fn record(&mut self, completion: &Completion) {
        let latency_us = duration_us(completion.latency);
        match completion.outcome {
            Outcome::Answered { verdict, reason } => {
                *self.answers.entry((verdict, reason)).or_insert(0) += 1;
                self.latency_us.saturating_record(latency_us);
            }
            Outcome::InvalidResponse => {
                self.invalid_responses += 1;
                self.latency_us.saturating_record(latency_us);
            }
            // A timed-out request took at least this long; leaving it out would flatter the tail.
            Outcome::Timeout => {
                self.timeouts += 1;
                self.latency_us.saturating_record(latency_us);
            }
            // A failed stream says nothing about decision latency, so it is only counted.
            Outcome::TransportError => self.transport_errors += 1,
        }
    }
}

/// Latency and completions of one second of the measured phase.
#[derive(Debug, Clone)]
pub struct Second {
    /// Latency of requests whose intended send time fell in this second, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Answers received during this second (by arrival time of the response).
    pub completed: u64,
}

/// The collector of one run. Feed it with [`Recorder::sent`], [`Recorder::dropped`] and
/// [`Recorder::complete`]; read it through its public fields.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Length of the warm-up phase; requests intended before it are not measured.
    pub warmup: Duration,
    /// Requests (sent or dropped) whose intended time fell in the warm-up phase.
    pub warmup_requests: u64,
    /// Figures over every scenario.
    pub overall: Tally,
    /// Figures per scenario, indexed by [`Scenario::index`].
    pub scenarios: Vec<Tally>,
    /// One slot per second of the measured phase, at most [`TIMELINE_SECONDS_MAX`].
    pub timeline: Vec<Second>,
    /// End of the measured phase (warm-up plus duration), measured from the start of the run.
    pub phase_end: Duration,
    /// Answers to measured requests that arrived before `phase_end`.
    pub answered_in_phase: u64,
    /// Arrival time of the last answer to a measured request, measured from the start of the run.
    pub last_answer: Duration,
    /// How late the generator sent each measured request after its intended time, in
    /// microseconds. Part of every latency figure; a large value means the generator, not
    /// the server, was the bottleneck.
    pub send_lag_us: Histogram<u64>,
}

impl Recorder {
    /// Creates an empty recorder for a run with the given warm-up and measured phases.
    pub fn new(warmup: Duration, duration: Duration) -> Recorder {
        Recorder {
            warmup,
            phase_end: warmup + duration,
            answered_in_phase: 0,
            last_answer: warmup,
            warmup_requests: 0,
            overall: Tally::new(),
            scenarios: Scenario::ALL.iter().map(|_| Tally::new()).collect(),
            timeline: Vec::new(),
            send_lag_us: new_histogram(HISTOGRAM_SIGFIG),
        }
    }

    /// Records how late a measured request was sent after its intended time.
    pub fn send_lag(&mut self, intended: Duration, lag: Duration) {
        if intended >= self.warmup {
            self.send_lag_us.saturating_record(duration_us(lag));
        }
    }

    /// Counts a request that was sent at (or after) its intended time.
    pub fn sent(&mut self, scenario: Scenario, intended: Duration) {
        if intended < self.warmup {
            self.warmup_requests += 1;
            return;
        }
        self.overall.sent += 1;
        self.scenarios[scenario.index()].sent += 1;
    }

    /// Counts a request that was not sent because too many were in flight.
    pub fn dropped(&mut self, scenario: Scenario, intended: Duration) {
        if intended < self.warmup {
            self.warmup_requests += 1;
            return;
        }
        self.overall.dropped += 1;
        self.scenarios[scenario.index()].dropped += 1;
    }

    /// Records a finished request.
    pub fn complete(&mut self, completion: &Completion) {
        if completion.intended < self.warmup {
            return;
        }
        self.overall.record(completion);
        self.scenarios[completion.scenario.index()].record(completion);

        let answered_or_late = !matches!(completion.outcome, Outcome::TransportError);
        if answered_or_late {
            let intended_second = (completion.intended - self.warmup).as_secs();
            if let Some(slot) = self.slot(intended_second) {
                slot.latency_us.saturating_record(duration_us(completion.latency));
            }
        }
        if matches!(completion.outcome, Outcome::Answered { .. }) {
            let answered_at = completion.intended + completion.latency;
            if answered_at < self.phase_end {
                self.answered_in_phase += 1;
            }
            self.last_answer = self.last_answer.max(answered_at);
            let done_second = (answered_at - self.warmup).as_secs();
            if let Some(slot) = self.slot(done_second) {
                slot.completed += 1;
            }
        }
    }

    /// Returns the tally of one scenario.
    pub fn scenario(&self, scenario: Scenario) -> &Tally {
        &self.scenarios[scenario.index()]
    }

    fn slot(&mut self, second: u64) -> Option<&mut Second> {
        let index = usize::try_from(second).ok()?;
        if index >= TIMELINE_SECONDS_MAX {
            return None;
        }
        while self.timeline.len() <= index {
            self.timeline.push(Second {
                latency_us: new_histogram(TIMELINE_SIGFIG),
                completed: 0,
            });
        }
        self.timeline.get_mut(index)
    }
}

/// Converts a duration to whole microseconds, at least 1 (the histogram's lowest value).
pub fn duration_us(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX).max(1)
}

#[expect(
    clippy::expect_used,
    reason = "the bounds are constants within the crate's rules (low >= 1, high >= 2 * low, sigfig <= 5)"
)]
fn new_histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, sigfig).expect("constant histogram bounds are valid")
}
