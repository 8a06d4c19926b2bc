//! Capacity mode against a real QUIC server whose throughput is capped by a single worker.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axiom_loadtest::capacity::{search, CapacityConfig};
use axiom_loadtest::progress::ProgressMode;
use axiom_loadtest::{Arrival, RunOptions};
use common::TestServer;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_single_worker_limit() {
    // One worker spending 4 ms per request answers at most 250 requests per second; above
    // that the queue, and with it the latency, grows without bound.
    let server = TestServer::start_with(true).await;
    server.handler.delay_us.store(4_000, Ordering::Relaxed);
    let mut base = server.run_config();
    base.arrival = Arrival::Fixed;
    base.warmup = Duration::from_millis(300);
    base.duration = Duration::from_millis(1_500);
    base.in_flight_max = 400;

    let config = CapacityConfig {
        start_rate_per_s: 50.0,
        rate_max_per_s: 2_000.0,
        p95_ms: 100.0,
        p99_ms: 150.0,
        resolution: 0.1,
        steps_max: 12,
        server_cores: 1,
        server_cores_source: "test".into(),
        target_rps: Some(1_000.0),
        headroom: 0.3,
    };
    let options = RunOptions { progress: ProgressMode::Off, metrics_url: None, source_feed: None };
    let report = search(&base, vec![server.agent.clone()], config, &options).await.unwrap();
    println!("{}", axiom_loadtest::capacity::render_text(&report));
    server.stop().await;

    let capacity = report.capacity_rps.expect("some rate passed");
    assert!(capacity <= 260.0, "capacity {capacity}/s is above what one 4 ms worker can answer");
    assert!(capacity >= 120.0, "capacity {capacity}/s is far below the 250/s limit");
    assert!(report.steps.iter().any(|step| !step.passed), "the search never found a failing rate");
    assert!(report.steps.len() <= 12);

    // 1000/s at 70 % of capacity per instance.
    let instances = report.instances_needed.unwrap();
    assert_eq!(instances, (1_000.0 / (capacity * 0.7)).ceil() as u64);
}
