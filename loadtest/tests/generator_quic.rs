//! The generator against a real QUIC server on 127.0.0.1 that verifies signatures and nonces.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The serial lock spans whole tests, each on its own runtime, so holding it across awaits is the point.
#![allow(clippy::await_holding_lock)]

mod common;

use axiom_engine::model::{ReasonCode, Verdict};
use axiom_loadtest::progress::ProgressMode;
use axiom_loadtest::report::EndReason;
use axiom_loadtest::{run, Arrival, RunOptions, Scenario, SigningMode};
use common::TestServer;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn options() -> RunOptions {
    RunOptions {
        progress: ProgressMode::Plain,
        metrics_url: None,
        source_feed: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_rate_is_achieved_when_unsaturated() {
    let _serial = common::serial();
    let server = TestServer::start().await;
    server.handler.delay_us.store(500, Ordering::Relaxed);
    let mut config = server.run_config();
    config.rate_per_s = 400.0;
    config.arrival = Arrival::Fixed;

    let outcome = run(&config, vec![server.agent.clone()], &options()).await.unwrap();
    let report = &outcome.report;

    assert_eq!(report.ended_by, EndReason::Duration);
    let error = (report.achieved_rate_per_s - 400.0).abs() / 400.0;
    assert!(error < 0.05, "achieved {:.1}/s for a target of 400/s", report.achieved_rate_per_s);
    let sent_error = (report.sent_rate_per_s - 400.0).abs() / 400.0;
    assert!(sent_error < 0.02, "sent {:.1}/s for a target of 400/s", report.sent_rate_per_s);
    assert_eq!(report.overall.dropped, 0);
    assert_eq!(report.overall.timeouts, 0);
    assert_eq!(report.overall.transport_errors, 0);
    assert_eq!(report.overall.unexpected, 0, "{:?}", report.scenarios);
    assert!(report.warmup_requests >= 190, "warm-up requests {}", report.warmup_requests);
    // The 500 µs service time is a floor for every measured latency.
    assert!(report.overall_latency.min_us >= 500, "min {} µs", report.overall_latency.min_us);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poisson_rate_on_the_fly_signing() {
    let _serial = common::serial();
    let server = TestServer::start().await;
    let mut config = server.run_config();
    config.rate_per_s = 300.0;
    config.arrival = Arrival::Poisson;
    config.signing = SigningMode::OnTheFly;
    config.duration = Duration::from_secs(4);

    let outcome = run(&config, vec![server.agent.clone()], &options()).await.unwrap();
    let report = &outcome.report;

    // A Poisson count over 4 s at 300/s has a standard deviation of about 35 (3 %).
    let error = (report.sent_rate_per_s - 300.0).abs() / 300.0;
    assert!(error < 0.10, "sent {:.1}/s for a target of 300/s", report.sent_rate_per_s);
    assert_eq!(report.overall.answered, report.overall.sent);
    assert_eq!(report.overall.unexpected, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_shows_in_high_percentiles() {
    let _serial = common::serial();
    let server = TestServer::start().await;
    let pause = Duration::from_millis(300);
    let mut config = server.run_config();
    config.rate_per_s = 500.0;
    config.arrival = Arrival::Fixed;
    config.duration = Duration::from_secs(4);

    // The server pauses once, 2 s after the start (1.5 s into the measured phase).
    *server.handler.stall.lock().unwrap() = Some((Instant::now() + Duration::from_secs(2), pause));
    let outcome = run(&config, vec![server.agent.clone()], &options()).await.unwrap();
    let report = &outcome.report;

    let pause_us = pause.as_micros() as u64;
    assert!(report.overall_latency.max_us >= pause_us * 9 / 10, "max {} µs hides the pause", report.overall_latency.max_us);
    // About 150 of 2000 requests were intended during the pause, waiting up to 300 ms each.
    assert!(report.overall_latency.p99_us >= pause_us / 2, "p99 {} µs hides the pause", report.overall_latency.p99_us);
    assert!(report.overall_latency.p50_us < 50_000, "p50 {} µs", report.overall_latency.p50_us);
    assert_eq!(report.overall.dropped, 0);

    let worst_second = report.timeline.iter().max_by_key(|point| point.p99_us).unwrap();
    assert_eq!(worst_second.second, 1, "timeline {:?}", report.timeline);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_limit_drops_excess_arrivals() {
    let _serial = common::serial();
    let server = TestServer::start().await;
    server.handler.delay_us.store(200_000, Ordering::Relaxed);
    let mut config = server.run_config();
    config.rate_per_s = 200.0;
    config.arrival = Arrival::Fixed;
    config.in_flight_max = 10;
    config.duration = Duration::from_secs(2);

    let started = Instant::now();
    let outcome = run(&config, vec![server.agent.clone()], &options()).await.unwrap();
    let report = &outcome.report;

    // With 10 slots and 200 ms per request, at most about 50 requests per second get through.
    assert!(report.overall.dropped > 200, "dropped {}", report.overall.dropped);
    assert!(report.overall.sent < 150, "sent {}", report.overall.sent);
    assert_eq!(report.overall.timeouts, 0);
    assert!(!report.is_clean());
    assert!(started.elapsed() < Duration::from_secs(6), "run took {:?}", started.elapsed());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_count_bound_ends_run() {
    let _serial = common::serial();
    let server = TestServer::start().await;
    let mut config = server.run_config();
    config.rate_per_s = 200.0;
    config.requests_max = 300;
    config.duration = Duration::from_secs(30);

    let started = Instant::now();
    let outcome = run(&config, vec![server.agent.clone()], &options()).await.unwrap();
    let report = &outcome.report;

    assert_eq!(report.ended_by, EndReason::RequestsMax);
    assert_eq!(report.warmup_requests + report.overall.sent, 300);
    assert!(started.elapsed() < Duration::from_secs(5), "run took {:?}", started.elapsed());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_and_forged_get_flagged_answers() {
    let _serial = common::serial();
    let server = TestServer::start().await;
    let mut config = server.run_config();
    config.rate_per_s = 300.0;
    config.mix = "allow=50,replay=25,forged=15,escrow=10".parse().unwrap();

    let outcome = run(&config, vec![server.agent.clone()], &options()).await.unwrap();
    let report = &outcome.report;
    let scenario = |wanted: Scenario| report.scenarios.iter().find(|s| s.scenario == wanted).unwrap();

    // The test server checks signatures and nonces for real, so these match their table rows.
    for wanted in [Scenario::Allow, Scenario::Replay, Scenario::Forged] {
        let figures = scenario(wanted);
        assert!(figures.counts.answered > 50, "{wanted}: {:?}", figures.counts);
        assert_eq!(figures.counts.unexpected, 0, "{wanted}: {:?}", figures.answers);
    }
    assert_eq!(scenario(Scenario::Replay).answers[0].reason, ReasonCode::ReplayDetected);
    assert_eq!(scenario(Scenario::Forged).answers[0].reason, ReasonCode::BadSignature);

    // It has no escrow threshold, so every escrow request is allowed: all flagged as unexpected.
    let escrow = scenario(Scenario::Escrow);
    assert!(escrow.counts.answered > 0);
    assert_eq!(escrow.counts.unexpected, escrow.counts.answered);
    assert_eq!(escrow.answers[0].verdict, Verdict::Allow);
    assert!(!escrow.answers[0].expected);
    assert_eq!(report.overall.unexpected, escrow.counts.unexpected);
    assert!(!report.is_clean());
    server.stop().await;
}
