//! The open-loop generator: sends requests at their scheduled times over QUIC, whatever the
//! server's answers do, and records each one against its intended send time.
//!
//! One scheduler task walks the arrival schedule. At each arrival it takes a slot from the
//! in-flight semaphore and spawns a task that sends the request and records the outcome; when
//! no slot is free the arrival is counted as dropped, because queueing it would hide the
//! overload. The run ends at the end of the measured phase or after `requests_max` arrivals,
//! and in-flight requests are then drained within the request timeout.

use crate::agents::{Agent, RequestFactory};
use crate::config::{RunConfig, SigningMode};
use crate::error::{ConfigError, LoadtestError};
use crate::metrics::{self, ServerFigures, QUIC_ENDPOINT_LABEL};
use crate::mix::Scenario;
use crate::progress::{self, LiveCounters, ProgressMode};
use crate::recorder::{Completion, Outcome, Recorder};
use crate::report::{EndReason, RunReport};
use crate::schedule::Schedule;
use crate::sources::SourceFeed;
use axiom_engine::model::{ReasonCode, Verdict};
use axiom_transport::{Client, ClientConfig, ClientError, ClientLimits, Fingerprint, ServerTrust};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Deserialize;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

/// Extra time allowed beyond the request timeout when draining in-flight requests, in
/// milliseconds, so a request that timed out can still be recorded.
const DRAIN_GRACE_MS: u64 = 2_000;

/// Options of a run that are not part of the measured configuration.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Progress display mode.
    pub progress: ProgressMode,
    /// The server's Prometheus endpoint, scraped before and after the run.
    pub metrics_url: Option<String>,
    /// Freshness events that keep the allow scenario's source fresh during the run.
    pub source_feed: Option<SourceFeed>,
}

/// A finished run: the report and the histograms it was built from.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The figures.
    pub report: RunReport,
    /// The raw histograms, for the hgrm file and the HTML plots.
    pub recorder: Recorder,
}

/// The fields of a decision response the harness reads; the rest is ignored.
#[derive(Debug, Deserialize)]
struct DecisionFields {
    verdict: Verdict,
    reason_code: ReasonCode,
}

/// The bytes a spawned request task sends.
enum Payload {
    /// Bytes signed before the run.
    Ready(Bytes),
    /// Sign now, inside the measured time.
    SignNow,
    /// Re-send the most recent certificate the server allowed.
    Replay,
}

/// State shared by the scheduler and every request task.
struct Shared {
    clients: Vec<Client>,
    factory: RequestFactory,
    recorder: Mutex<Recorder>,
    counters: Arc<LiveCounters>,
    /// Bytes of the latest allow request that the server answered with ALLOW.
    replay_source: Mutex<Option<Bytes>>,
    request_timeout: Duration,
}

/// Runs one load test against the server in `config`.
pub async fn run(config: &RunConfig, agents: Vec<Agent>, options: &RunOptions) -> Result<RunOutcome, LoadtestError> {
    config.validate()?;
    let agent_count = agents.len();
    let run_id = format!("{:016x}", rand::random::<u64>());
    let factory = RequestFactory::new(agents, run_id, config.cert_ttl_s * 1_000)?;

    let pool = match config.signing {
        SigningMode::Presigned => Some(presign(config, &factory)?),
        SigningMode::OnTheFly => None,
    };
    let clients = connect_all(config).await?;

    // The source must be fresh before the first allow request, including the replay seed.
    let stop_refresh = Arc::new(Notify::new());
    let refresh_task = match options.source_feed.clone() {
        Some(feed) => {
            let first = feed.clone();
            tokio::task::spawn_blocking(move || first.push_once())
                .await
                .map_err(|error| LoadtestError::SourceFeed(error.to_string()))?
                .map_err(|error| LoadtestError::SourceFeed(error.to_string()))?;
            Some(tokio::spawn(feed.refresh_until(stop_refresh.clone())))
        }
        None => None,
    };

    let shared = Arc::new(Shared {
        clients,
        factory,
        recorder: Mutex::new(Recorder::new(config.warmup, config.duration)),
        counters: Arc::new(LiveCounters::default()),
        replay_source: Mutex::new(None),
        request_timeout: Duration::from_millis(config.request_timeout_ms),
    });
    if config.mix.weight(Scenario::Replay) > 0 {
        seed_replay(&shared).await?;
    }

    let before = match &options.metrics_url {
        Some(url) => scrape(url.clone()).await,
        None => None,
    };

    let stop_progress = Arc::new(Notify::new());
    let progress_task = tokio::spawn(progress::display(
        options.progress,
        shared.counters.clone(),
        config.warmup,
        config.warmup + config.duration,
        stop_progress.clone(),
    ));

    let (ended_by, last_offset) = schedule_requests(config, &shared, pool).await;
    drain(config, &shared).await;
    stop_progress.notify_one();
    let _ = progress_task.await;
    if let Some(task) = refresh_task {
        stop_refresh.notify_one();
        let _ = task.await;
    }

    let server = match &options.metrics_url {
        Some(url) => scrape(url.clone()).await.map(|after| ServerFigures {
            endpoint: QUIC_ENDPOINT_LABEL.to_owned(),
            before,
            after,
        }),
        None => None,
    };

    for client in &shared.clients {
        client.close().await;
    }

    let measured = match ended_by {
        EndReason::Duration => config.duration,
        EndReason::RequestsMax => last_offset.saturating_sub(config.warmup),
    };
    let recorder = lock(&shared.recorder).clone();
    let report = RunReport::build(config, agent_count, &recorder, measured, ended_by, server);
    Ok(RunOutcome { report, recorder })
}

/// Creates the random stream of scenario picks. It is separate from the stream of arrival
/// gaps, so the pre-signed pool and the scheduler see the same scenario sequence.
fn scenario_rng(config: &RunConfig) -> StdRng {
    StdRng::seed_from_u64(config.seed ^ 0x5ce7_a410)
}

/// Signs every request the run can send, in the order the scheduler will pick them.
fn presign(config: &RunConfig, factory: &RequestFactory) -> Result<Vec<Option<Bytes>>, LoadtestError> {
    let planned = config.requests_planned();
    let mut rng = scenario_rng(config);
    let mut pool = Vec::with_capacity(usize::try_from(planned).unwrap_or(0));
    for index in 0..planned {
        let scenario = config.mix.pick(&mut rng);
        if scenario == Scenario::Replay {
            pool.push(None);
        } else {
            pool.push(Some(factory.build(scenario, index)?));
        }
    }
    tracing::info!(requests = planned, "pre-signed the request pool");
    Ok(pool)
}

async fn connect_all(config: &RunConfig) -> Result<Vec<Client>, LoadtestError> {
    let connect_error = |message: String| LoadtestError::Connect {
        server: config.server.to_string(),
        message,
    };
    let fingerprint: Fingerprint = config
        .fingerprint
        .parse()
        .map_err(|error| ConfigError::OutOfRange {
            name: "fingerprint",
            value: format!("{} ({error})", config.fingerprint),
            expected: "64 hexadecimal digits (the SHA-256 of the server certificate)",
        })?;

    let limits = ClientLimits {
        request_timeout_ms: config.request_timeout_ms,
        ..ClientLimits::default()
    };
    let keep_alive_ms = (limits.idle_timeout_ms / 3).max(1);
    let client_config = ClientConfig {
        server: config.server,
        server_name: config.server_name.clone(),
        trust: ServerTrust::PinnedFingerprint(fingerprint),
        client_identity: None,
        limits: ClientLimits {
            keep_alive_interval_ms: Some(keep_alive_ms),
            ..limits
        },
    };

    let mut clients = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        let client = Client::connect(client_config.clone())
            .await
            .map_err(|error| connect_error(error.to_string()))?;
        clients.push(client);
    }
    Ok(clients)
}

/// Sends one allow request before the run and keeps it as the first certificate to replay.
async fn seed_replay(shared: &Shared) -> Result<(), LoadtestError> {
    let bytes = shared.factory.build(Scenario::Allow, u64::MAX)?;
    let client = shared.clients.first().ok_or_else(|| LoadtestError::ReplaySeeds("no connection".to_owned()))?;
    let response = client
        .request(bytes.clone())
        .await
        .map_err(|error| LoadtestError::ReplaySeeds(error.to_string()))?;
    let answer = serde_json::from_slice::<DecisionFields>(&response)
        .map_err(|error| LoadtestError::ReplaySeeds(format!("the response is not a decision: {error}")))?;
    tracing::info!(verdict = %answer.verdict, reason = %answer.reason_code, "sent the first certificate to replay");
    *lock(&shared.replay_source) = Some(bytes);
    Ok(())
}

/// Walks the schedule and spawns one task per arrival. Returns why it stopped and the
/// offset of the last arrival.
async fn schedule_requests(config: &RunConfig, shared: &Arc<Shared>, pool: Option<Vec<Option<Bytes>>>) -> (EndReason, Duration) {
    let semaphore = Arc::new(Semaphore::new(config.in_flight_max));
    let mut schedule = Schedule::new(config.arrival, config.rate_per_s, StdRng::seed_from_u64(config.seed));
    let mut scenarios = scenario_rng(config);
    let end = config.warmup + config.duration;
    let start = Instant::now();
    let mut last_offset = Duration::ZERO;

    for index in 0..config.requests_max {
        let offset = schedule.next_offset();
        if offset >= end {
            return (EndReason::Duration, last_offset);
        }
        last_offset = offset;
        let scenario = config.mix.pick(&mut scenarios);
        let intended = start + offset;
        if intended > Instant::now() {
            tokio::time::sleep_until(intended).await;
        }

        let Ok(permit) = semaphore.clone().try_acquire_owned() else {
            shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
            lock(&shared.recorder).dropped(scenario, offset);
            continue;
        };

        let payload = match (scenario, &pool) {
            (Scenario::Replay, _) => Payload::Replay,
            (_, Some(pool)) => match pool.get(index as usize).cloned().flatten() {
                Some(bytes) => Payload::Ready(bytes),
                None => Payload::SignNow,
            },
            (_, None) => Payload::SignNow,
        };
        {
            let mut recorder = lock(&shared.recorder);
            recorder.sent(scenario, offset);
            recorder.send_lag(offset, Instant::now().saturating_duration_since(intended));
        }
        shared.counters.sent.fetch_add(1, Ordering::Relaxed);

        let task_shared = shared.clone();
        tokio::spawn(async move {
            send_one(&task_shared, index, scenario, intended, offset, payload).await;
            drop(permit);
        });
    }
    (EndReason::RequestsMax, last_offset)
}

async fn send_one(shared: &Shared, index: u64, scenario: Scenario, intended: Instant, offset: Duration, payload: Payload) {
    let bytes = match payload {
        Payload::Ready(bytes) => Some(bytes),
        Payload::Replay => lock(&shared.replay_source).clone(),
        Payload::SignNow => match shared.factory.build(scenario, index) {
            Ok(bytes) => Some(bytes),
            Err(error) => {
                tracing::error!(%error, index, "failed to sign a request");
                None
            }
        },
    };

    let outcome = match bytes {
        None => Outcome::TransportError,
        Some(bytes) => {
            let client = &shared.clients[(index % shared.clients.len() as u64) as usize];
            let guard = shared.request_timeout + Duration::from_millis(DRAIN_GRACE_MS);
            let response = tokio::time::timeout(guard, client.request(bytes.clone())).await;
            let outcome = classify(response);
            if scenario == Scenario::Allow && matches!(outcome, Outcome::Answered { verdict: Verdict::Allow, .. }) {
                *lock(&shared.replay_source) = Some(bytes);
            }
            outcome
        }
    };

    let latency = Instant::now().saturating_duration_since(intended);
    let counter = match outcome {
        Outcome::Answered { .. } | Outcome::InvalidResponse => &shared.counters.completed,
        Outcome::Timeout | Outcome::TransportError => &shared.counters.failed,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    lock(&shared.recorder).complete(&Completion {
        scenario,
        intended: offset,
        latency,
        outcome,
    });
}

fn classify(response: Result<Result<Bytes, ClientError>, tokio::time::error::Elapsed>) -> Outcome {
    match response {
        Err(_) | Ok(Err(ClientError::TimedOut { .. })) => Outcome::Timeout,
        Ok(Err(error)) => {
            tracing::debug!(%error, "request failed");
            Outcome::TransportError
        }
        Ok(Ok(body)) => match serde_json::from_slice::<DecisionFields>(&body) {
            Ok(fields) => Outcome::Answered {
                verdict: fields.verdict,
                reason: fields.reason_code,
            },
            Err(_) => Outcome::InvalidResponse,
        },
    }
}

/// Waits until every in-flight request has finished, at most the request timeout plus a grace.
async fn drain(config: &RunConfig, shared: &Shared) {
    let deadline = Duration::from_millis(config.request_timeout_ms + DRAIN_GRACE_MS * 2);
    let started = Instant::now();
    // Each pass sleeps 5 ms, so the loop ends within `deadline / 5 ms` passes.
    while started.elapsed() < deadline {
        let counters = &shared.counters;
        let finished = counters.completed.load(Ordering::Relaxed) + counters.failed.load(Ordering::Relaxed);
        if finished >= counters.sent.load(Ordering::Relaxed) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tracing::warn!("some requests were still in flight when the drain time ran out");
}

async fn scrape(url: String) -> Option<metrics::ServerLatency> {
    let result = tokio::task::spawn_blocking(move || metrics::scrape(&url)).await;
    match result {
        Ok(Ok(latency)) => Some(latency),
        Ok(Err(error)) => {
            tracing::warn!(%error, "failed to read the server metrics");
            None
        }
        Err(error) => {
            tracing::warn!(%error, "the metrics scrape task failed");
            None
        }
    }
}

/// Locks a mutex, taking over its data if a task panicked while holding it. The counters stay
/// usable, and the panicking task reports its own bug.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
