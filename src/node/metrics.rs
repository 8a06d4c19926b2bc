//! Prometheus metrics of a node: request latency per endpoint (lifetime histograms and a
//! sliding-window p95, p99 and max), decisions by verdict and reason, incidents, rate limiting,
//! rejected bearer tokens, solver pool health, source ages and the escrow backlog.
//!
//! Every label set is bounded: endpoints are route templates (at most [`ENDPOINTS_MAX`], the
//! rest fold into [`OTHER_ENDPOINT`]), verdicts and reason codes are closed enums, and source
//! ages export at most [`SOURCE_SERIES_MAX`] series. Counters are plain atomics, so the QUIC
//! decision path records without taking a lock once its endpoint is known.

pub mod text;
pub mod window;

use axiom_engine::model::{ReasonCode, Verdict};
use axiom_engine::smt::SmtStats;
use axiom_engine::state::SourceStore;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use text::{MetricType, TextWriter};
use window::{SlidingWindow, WINDOW_MS};

/// Most distinct endpoint labels. Route templates and the QUIC endpoint number about 40; the
/// bound only matters if a caller passes something that is not a template.
pub const ENDPOINTS_MAX: usize = 64;
/// Endpoint label of requests beyond [`ENDPOINTS_MAX`] and of requests that matched no route.
pub const OTHER_ENDPOINT: &str = "other";
/// Most `axiom_source_age_seconds` series per scrape; the oldest sources are kept, because
/// those are the ones a staleness alert needs.
pub const SOURCE_SERIES_MAX: usize = 500;
/// Upper bounds of the lifetime request latency histogram, in seconds. Dense below 10 ms
/// where the QUIC decision path lives, and on both sides of the 200 ms and 500 ms SLO lines.
pub const LATENCY_BUCKETS_SECONDS: [f64; 14] = [
    0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5,
];

/// Upper bounds of the audit append latency histogram, in seconds. Finer than the request
/// buckets between 50 µs and 5 ms, where a group commit with its fsync lands.
pub const AUDIT_APPEND_BUCKETS_SECONDS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.000_75, 0.001, 0.001_5, 0.002, 0.003, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.5, 2.5,
];

/// A source of the current time, so tests can drive the sliding window without sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Returns the current time, Unix milliseconds.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that moves only when a test advances it.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicU64,
}

impl ManualClock {
    /// Creates a clock reading `now_ms`.
    pub fn new(now_ms: u64) -> ManualClock {
        ManualClock {
            now_ms: AtomicU64::new(now_ms),
        }
    }

    /// Moves the clock forward by `millis`.
    pub fn advance_ms(&self, millis: u64) {
        self.now_ms.fetch_add(millis, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::Relaxed)
    }
}

/// Reasons a control-plane request is rejected before any handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRejection {
    /// No `Authorization: Bearer` header.
    MissingToken,
    /// The token did not decode, its signature did not verify, or a claim was wrong.
    InvalidToken,
    /// The token's `exp` has passed (beyond the leeway).
    ExpiredToken,
    /// The token is valid but its role or tenant does not permit the request.
    Forbidden,
}

impl AuthRejection {
    const ALL: [AuthRejection; 4] = [
        AuthRejection::MissingToken,
        AuthRejection::InvalidToken,
        AuthRejection::ExpiredToken,
        AuthRejection::Forbidden,
    ];

    /// Returns the metrics label.
    pub fn label(self) -> &'static str {
        match self {
            AuthRejection::MissingToken => "missing_token",
            AuthRejection::InvalidToken => "invalid_token",
            AuthRejection::ExpiredToken => "expired_token",
            AuthRejection::Forbidden => "forbidden",
        }
    }
}

/// Health counters of the solver pool, read at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SolverPoolStats {
    /// Proofs waiting for a solver now.
    pub queue_depth: u64,
    /// Proofs that hit `SMT_TIMEOUT_MS` since start.
    pub timeouts_total: u64,
    /// Solver actors restarted by the supervisor since start.
    pub restarts_total: u64,
}

/// Escrows waiting for approval, read at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EscrowBacklog {
    /// Escrows in `PENDING`.
    pub pending: u64,
    /// Age of the oldest pending escrow, in seconds; 0 without pending escrows.
    pub oldest_pending_age_s: f64,
}

impl SolverPoolStats {
    /// Reads the solver pool's counters.
    pub fn from_stats(stats: &SmtStats) -> SolverPoolStats {
        SolverPoolStats {
            queue_depth: stats.queue_depth.load(Ordering::Relaxed),
            timeouts_total: stats.timeouts.load(Ordering::Relaxed),
            restarts_total: stats.restarts.load(Ordering::Relaxed),
        }
    }
}

type SolverStatsReader = Box<dyn Fn() -> SolverPoolStats + Send + Sync>;
type EscrowBacklogReader = Box<dyn Fn(u64) -> EscrowBacklog + Send + Sync>;

/// Latency of one endpoint: a lifetime histogram and the sliding window.
#[derive(Debug)]
struct EndpointStats {
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS_SECONDS`], then +Inf.
    buckets: [AtomicU64; LATENCY_BUCKETS_SECONDS.len() + 1],
    count: AtomicU64,
    sum_us: AtomicU64,
    window: SlidingWindow,
}

impl EndpointStats {
    fn new() -> EndpointStats {
        EndpointStats {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            window: SlidingWindow::new(),
        }
    }

    fn observe(&self, now_ms: u64, elapsed: Duration) {
        let elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS_SECONDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS_SECONDS.len());
        if let Some(counter) = self.buckets.get(bucket) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(elapsed_us, Ordering::Relaxed);
        self.window.record(now_ms, elapsed_us);
    }
}

/// The node's metrics. Shared by the HTTP control plane and the QUIC endpoint.
pub struct Metrics {
    clock: Arc<dyn Clock>,
    endpoints: RwLock<HashMap<String, Arc<EndpointStats>>>,
    /// Indexed by `verdict index * ReasonCode::ALL.len() + reason index`.
    decisions: Box<[AtomicU64]>,
    incidents_opened: Box<[AtomicU64]>,
    unauthenticated: Box<[AtomicU64]>,
    unaudited: Box<[AtomicU64]>,
    rate_limited: AtomicU64,
    auth_rejections: [AtomicU64; AuthRejection::ALL.len()],
    sources: OnceLock<Arc<SourceStore>>,
    /// Counts per bucket of [`AUDIT_APPEND_BUCKETS_SECONDS`], then +Inf; not cumulative.
    audit_append_buckets: [AtomicU64; AUDIT_APPEND_BUCKETS_SECONDS.len() + 1],
    audit_append_count: AtomicU64,
    audit_append_sum_us: AtomicU64,
    solver_stats: OnceLock<SolverStatsReader>,
    escrow_backlog: OnceLock<EscrowBacklogReader>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("clock", &self.clock)
            .field("rate_limited", &self.rate_limited)
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(Arc::new(SystemClock))
    }
}

fn reason_index(reason: ReasonCode) -> usize {
    ReasonCode::ALL
        .iter()
        .position(|code| *code == reason)
        .unwrap_or(0)
}

fn verdict_index(verdict: Verdict) -> usize {
    Verdict::ALL
        .iter()
        .position(|known| *known == verdict)
        .unwrap_or(0)
}

fn counters(count: usize) -> Box<[AtomicU64]> {
    (0..count).map(|_| AtomicU64::new(0)).collect()
}

impl Metrics {
    /// Creates empty metrics that read time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Metrics {
        Metrics {
            clock,
            endpoints: RwLock::new(HashMap::new()),
            decisions: counters(Verdict::ALL.len() * ReasonCode::ALL.len()),
            incidents_opened: counters(ReasonCode::ALL.len()),
            unauthenticated: counters(ReasonCode::ALL.len()),
            unaudited: counters(ReasonCode::ALL.len()),
            rate_limited: AtomicU64::new(0),
            auth_rejections: std::array::from_fn(|_| AtomicU64::new(0)),
            sources: OnceLock::new(),
            audit_append_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            audit_append_count: AtomicU64::new(0),
            audit_append_sum_us: AtomicU64::new(0),
            solver_stats: OnceLock::new(),
            escrow_backlog: OnceLock::new(),
        }
    }

    /// Returns the clock the metrics read.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Exports the ages of this store's sources at every scrape. Only the first call counts.
    pub fn attach_sources(&self, sources: Arc<SourceStore>) {
        let _ = self.sources.set(sources);
    }

    /// Exports the solver pool's counters, read by `reader` at every scrape. Only the first
    /// call counts.
    pub fn attach_solver_stats(&self, reader: impl Fn() -> SolverPoolStats + Send + Sync + 'static) {
        let _ = self.solver_stats.set(Box::new(reader));
    }

    /// Exports the escrow backlog, read by `reader(now_ms)` at every scrape. Only the first
    /// call counts.
    pub fn attach_escrow_backlog(
        &self,
        reader: impl Fn(u64) -> EscrowBacklog + Send + Sync + 'static,
    ) {
        let _ = self.escrow_backlog.set(Box::new(reader));
    }

    /// Records one request to `endpoint` (a route template such as `/v1/keys/{kid}`, or
    /// `quic_decide`) that took `elapsed`.
    pub fn observe_request(&self, endpoint: &str, elapsed: Duration) {
        let now_ms = self.clock.now_ms();
        self.endpoint_stats(endpoint).observe(now_ms, elapsed);
    }

    /// Records how long one decision waited for its audit record to become durable (the
    /// append, including the group commit's fsync), successful or not.
    pub fn observe_audit_append(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = AUDIT_APPEND_BUCKETS_SECONDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(AUDIT_APPEND_BUCKETS_SECONDS.len());
        if let Some(counter) = self.audit_append_buckets.get(bucket) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.audit_append_count.fetch_add(1, Ordering::Relaxed);
        let elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.audit_append_sum_us
            .fetch_add(elapsed_us, Ordering::Relaxed);
    }

    /// Counts one request rejected before its signature was verified (malformed, unknown key,
    /// bad signature …). The claimed identity is unverified, so only the reason is a label.
    pub fn observe_unauthenticated(&self, reason: ReasonCode) {
        if let Some(counter) = self.unauthenticated.get(reason_index(reason)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one authenticated rejection returned without an audit record (replays, rate
    /// limiting, overload), which are counted and sampled into incidents instead.
    pub fn observe_unaudited(&self, reason: ReasonCode) {
        if let Some(counter) = self.unaudited.get(reason_index(reason)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one decision. `RATE_LIMITED` decisions also count in `axiom_rate_limited_total`.
    pub fn observe_decision(&self, verdict: Verdict, reason: ReasonCode) {
        let index = verdict_index(verdict) * ReasonCode::ALL.len() + reason_index(reason);
        if let Some(counter) = self.decisions.get(index) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if reason == ReasonCode::RateLimited {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one incident opening.
    pub fn observe_incident_opened(&self, reason: ReasonCode) {
        if let Some(counter) = self.incidents_opened.get(reason_index(reason)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one control-plane request rejected by authentication or authorization.
    pub fn observe_auth_rejection(&self, rejection: AuthRejection) {
        let index = AuthRejection::ALL
            .iter()
            .position(|known| *known == rejection)
            .unwrap_or(0);
        if let Some(counter) = self.auth_rejections.get(index) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Returns the sliding-window p95, p99 and max of an endpoint, in microseconds.
    pub fn window_summary(&self, endpoint: &str) -> window::WindowSummary {
        let now_ms = self.clock.now_ms();
        let endpoints = self
            .endpoints
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        endpoints
            .get(endpoint)
            .map(|stats| stats.window.summary(now_ms))
            .unwrap_or_default()
    }

    fn endpoint_stats(&self, endpoint: &str) -> Arc<EndpointStats> {
        {
            let endpoints = self
                .endpoints
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(stats) = endpoints.get(endpoint) {
                return Arc::clone(stats);
            }
        }

        let mut endpoints = self
            .endpoints
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let label = if endpoints.len() >= ENDPOINTS_MAX && !endpoints.contains_key(endpoint) {
            OTHER_ENDPOINT
        } else {
            endpoint
        };
        Arc::clone(
            endpoints
                .entry(label.to_owned())
                .or_insert_with(|| Arc::new(EndpointStats::new())),
        )
    }

    /// Renders every metric in the Prometheus text format (see [`text::CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let now_ms = self.clock.now_ms();
        let mut writer = TextWriter::default();

        self.render_latency(&mut writer, now_ms);
        self.render_audit_append(&mut writer);
        self.render_decisions(&mut writer);
        self.render_security(&mut writer);
        self.render_solver(&mut writer);
        self.render_sources(&mut writer, now_ms);
        self.render_escrow(&mut writer, now_ms);
        writer.finish()
    }

    fn render_latency(&self, writer: &mut TextWriter, now_ms: u64) {
        let mut endpoints: Vec<(String, Arc<EndpointStats>)> = self
            .endpoints
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .map(|(name, stats)| (name.clone(), Arc::clone(stats)))
            .collect();
        endpoints.sort_by(|left, right| left.0.cmp(&right.0));

        writer.family(
            "axiom_request_duration_seconds",
            "Request latency per endpoint since start, in seconds.",
            MetricType::Histogram,
        );
        for (endpoint, stats) in &endpoints {
            let mut cumulative = 0u64;
            for (bound, counter) in LATENCY_BUCKETS_SECONDS.iter().zip(stats.buckets.iter()) {
                cumulative += counter.load(Ordering::Relaxed);
                let bound = bound.to_string();
                writer.sample(
                    "axiom_request_duration_seconds_bucket",
                    &[("endpoint", endpoint), ("le", &bound)],
                    cumulative as f64,
                );
            }
            let count = stats.count.load(Ordering::Relaxed);
            writer.sample(
                "axiom_request_duration_seconds_bucket",
                &[("endpoint", endpoint), ("le", "+Inf")],
                count as f64,
            );
            let sum_seconds = stats.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
            writer.sample(
                "axiom_request_duration_seconds_sum",
                &[("endpoint", endpoint)],
                sum_seconds,
            );
            writer.sample(
                "axiom_request_duration_seconds_count",
                &[("endpoint", endpoint)],
                count as f64,
            );
        }

        let summaries: Vec<(&str, window::WindowSummary)> = endpoints
            .iter()
            .map(|(endpoint, stats)| (endpoint.as_str(), stats.window.summary(now_ms)))
            .collect();
        let window_note = format!("over the last {} s; 0 without requests", WINDOW_MS / 1000);
        let gauges: [(&str, String, fn(&window::WindowSummary) -> f64); 4] = [
            (
                "axiom_latency_p95_seconds",
                format!("95th percentile request latency, in seconds, {window_note}."),
                |summary| summary.p95_us as f64 / 1e6,
            ),
            (
                "axiom_latency_p99_seconds",
                format!("99th percentile request latency, in seconds, {window_note}."),
                |summary| summary.p99_us as f64 / 1e6,
            ),
            (
                "axiom_endpoint_max_millis",
                format!("Slowest request, in milliseconds, {window_note}."),
                |summary| summary.max_us as f64 / 1e3,
            ),
            (
                "axiom_window_requests",
                format!("Requests {window_note}."),
                |summary| summary.count as f64,
            ),
        ];
        for (name, help, value) in gauges {
            writer.family(name, &help, MetricType::Gauge);
            for (endpoint, summary) in &summaries {
                writer.sample(name, &[("endpoint", endpoint)], value(summary));
            }
        }
    }

    fn render_audit_append(&self, writer: &mut TextWriter) {
        let name = "axiom_audit_append_seconds";
        writer.family(
            name,
            "Time a decision waited for its audit record to become durable, in seconds.",
            MetricType::Histogram,
        );
        let mut cumulative = 0u64;
        for (bound, counter) in AUDIT_APPEND_BUCKETS_SECONDS
            .iter()
            .zip(self.audit_append_buckets.iter())
        {
            cumulative += counter.load(Ordering::Relaxed);
            let bound = bound.to_string();
            writer.sample(
                "axiom_audit_append_seconds_bucket",
                &[("le", &bound)],
                cumulative as f64,
            );
        }
        let count = self.audit_append_count.load(Ordering::Relaxed);
        writer.sample(
            "axiom_audit_append_seconds_bucket",
            &[("le", "+Inf")],
            count as f64,
        );
        let sum_seconds = self.audit_append_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        writer.sample("axiom_audit_append_seconds_sum", &[], sum_seconds);
        writer.sample("axiom_audit_append_seconds_count", &[], count as f64);
    }

    fn render_decisions(&self, writer: &mut TextWriter) {
        writer.family(
            "axiom_decisions_total",
            "Decisions by verdict and reason code since start.",
            MetricType::Counter,
        );
        for (verdict_position, verdict) in Verdict::ALL.iter().enumerate() {
            for (reason_position, reason) in ReasonCode::ALL.iter().enumerate() {
                let index = verdict_position * ReasonCode::ALL.len() + reason_position;
                let count = self
                    .decisions
                    .get(index)
                    .map(|counter| counter.load(Ordering::Relaxed))
                    .unwrap_or(0);
                if count == 0 {
                    continue;
                }
                writer.sample(
                    "axiom_decisions_total",
                    &[("verdict", verdict.as_str()), ("reason_code", reason.as_str())],
                    count as f64,
                );
            }
        }

        writer.family(
            "axiom_rate_limited_total",
            "Decisions refused with RATE_LIMITED since start.",
            MetricType::Counter,
        );
        writer.sample(
            "axiom_rate_limited_total",
            &[],
            self.rate_limited.load(Ordering::Relaxed) as f64,
        );
    }

    fn render_security(&self, writer: &mut TextWriter) {
        writer.family(
            "axiom_incidents_opened_total",
            "Security incidents opened (after deduplication) by reason code since start.",
            MetricType::Counter,
        );
        for (reason, counter) in ReasonCode::ALL.iter().zip(self.incidents_opened.iter()) {
            if reason.is_security_incident() {
                writer.sample(
                    "axiom_incidents_opened_total",
                    &[("reason_code", reason.as_str())],
                    counter.load(Ordering::Relaxed) as f64,
                );
            }
        }

        let per_reason: [(&str, &str, &[AtomicU64]); 2] = [
            (
                "axiom_unauthenticated_rejections_total",
                "Decision requests rejected before their signature verified, by reason code.",
                &self.unauthenticated,
            ),
            (
                "axiom_unaudited_rejections_total",
                "Authenticated decision requests answered without an audit record, by reason code.",
                &self.unaudited,
            ),
        ];
        for (name, help, counters) in per_reason {
            writer.family(name, help, MetricType::Counter);
            for (reason, counter) in ReasonCode::ALL.iter().zip(counters.iter()) {
                let count = counter.load(Ordering::Relaxed);
                if count > 0 {
                    writer.sample(name, &[("reason_code", reason.as_str())], count as f64);
                }
            }
        }

        writer.family(
            "axiom_http_auth_rejections_total",
            "Control-plane requests rejected by bearer authentication or authorization.",
            MetricType::Counter,
        );
        for (rejection, counter) in AuthRejection::ALL.iter().zip(self.auth_rejections.iter()) {
            writer.sample(
                "axiom_http_auth_rejections_total",
                &[("reason", rejection.label())],
                counter.load(Ordering::Relaxed) as f64,
            );
        }
    }

    fn render_solver(&self, writer: &mut TextWriter) {
        let Some(reader) = self.solver_stats.get() else {
            return;
        };
        let stats = reader();
        writer.family(
            "axiom_smt_queue_depth",
            "Proofs waiting for a solver.",
            MetricType::Gauge,
        );
        writer.sample("axiom_smt_queue_depth", &[], stats.queue_depth as f64);
        writer.family(
            "axiom_smt_timeouts_total",
            "Proofs that hit SMT_TIMEOUT_MS since start.",
            MetricType::Counter,
        );
        writer.sample("axiom_smt_timeouts_total", &[], stats.timeouts_total as f64);
        writer.family(
            "axiom_smt_restarts_total",
            "Solver actors restarted by the supervisor since start.",
            MetricType::Counter,
        );
        writer.sample("axiom_smt_restarts_total", &[], stats.restarts_total as f64);
    }

    fn render_sources(&self, writer: &mut TextWriter, now_ms: u64) {
        let Some(store) = self.sources.get() else {
            return;
        };
        let now_ms = i64::try_from(now_ms).unwrap_or(i64::MAX);
        let mut sources = store.all();
        sources.sort_by_key(|(_, status)| status.event_time_ms);
        let exported = sources.len().min(SOURCE_SERIES_MAX);

        writer.family(
            "axiom_source_age_seconds",
            "Seconds since the newest event of each source, oldest sources first.",
            MetricType::Gauge,
        );
        for ((tenant, domain, source), status) in sources.iter().take(SOURCE_SERIES_MAX) {
            let age_ms = now_ms.saturating_sub(status.event_time_ms).max(0);
            writer.sample(
                "axiom_source_age_seconds",
                &[("tenant", tenant), ("domain", domain), ("source", source)],
                age_ms as f64 / 1e3,
            );
        }
        writer.family(
            "axiom_sources_unexported",
            "Sources left out of axiom_source_age_seconds by its series limit.",
            MetricType::Gauge,
        );
        writer.sample(
            "axiom_sources_unexported",
            &[],
            (sources.len() - exported) as f64,
        );
    }

    fn render_escrow(&self, writer: &mut TextWriter, now_ms: u64) {
        let Some(reader) = self.escrow_backlog.get() else {
            return;
        };
        let backlog = reader(now_ms);
        writer.family(
            "axiom_escrow_pending",
            "Escrows waiting for approval.",
            MetricType::Gauge,
        );
        writer.sample("axiom_escrow_pending", &[], backlog.pending as f64);
        writer.family(
            "axiom_escrow_oldest_pending_age_seconds",
            "Age of the oldest pending escrow, in seconds; 0 without pending escrows.",
            MetricType::Gauge,
        );
        writer.sample(
            "axiom_escrow_oldest_pending_age_seconds",
            &[],
            backlog.oldest_pending_age_s,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_beyond_limit_fold_into_other() {
        let metrics = Metrics::default();
        for index in 0..ENDPOINTS_MAX + 10 {
            metrics.observe_request(&format!("/e{index}"), Duration::from_millis(1));
        }
        let endpoints = metrics
            .endpoints
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        assert_eq!(endpoints.len(), ENDPOINTS_MAX + 1);
        assert_eq!(
            endpoints.get(OTHER_ENDPOINT).map(|stats| stats.count.load(Ordering::Relaxed)),
            Some(10)
        );
    }

    #[test]
    fn rate_limited_decision_counts_twice() {
        let metrics = Metrics::default();
        metrics.observe_decision(Verdict::Defer, ReasonCode::RateLimited);
        metrics.observe_decision(Verdict::Deny, ReasonCode::BadSignature);
        let scrape = metrics.render();
        assert!(scrape.contains("axiom_rate_limited_total 1\n"));
        assert!(scrape.contains(
            "axiom_decisions_total{verdict=\"DENY\",reason_code=\"BAD_SIGNATURE\"} 1\n"
        ));
    }
}
