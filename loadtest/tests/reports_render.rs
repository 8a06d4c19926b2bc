//! The report files of a real run: JSON and hgrm parse, and the HTML renders in Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The serial lock spans whole tests, each on its own runtime, so holding it across awaits is the point.
#![allow(clippy::await_holding_lock)]

mod common;

use axiom_loadtest::output::{write_reports, ReportPaths};
use axiom_loadtest::progress::ProgressMode;
use axiom_loadtest::report::hgrm;
use axiom_loadtest::{run, RunOptions};
use common::TestServer;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_parse_and_html_renders() {
    let _serial = common::serial();
    let server = TestServer::start().await;
    let mut config = server.run_config();
    config.rate_per_s = 200.0;
    config.duration = Duration::from_secs(3);
    config.mix = "allow=60,replay=20,forged=20".parse().unwrap();
    let options = RunOptions { progress: ProgressMode::Off, metrics_url: None, source_feed: None };
    let outcome = run(&config, vec![server.agent.clone()], &options).await.unwrap();
    server.stop().await;

    let directory = tempfile::tempdir().unwrap();
    let written = write_reports(&outcome, &ReportPaths::in_directory(directory.path())).unwrap();
    assert_eq!(written.len(), 4);

    // JSON: the figures a dashboard would read are present and consistent.
    let json: Value = serde_json::from_slice(&std::fs::read(directory.path().join("report.json")).unwrap()).unwrap();
    let measured = json["overall_latency"]["count"].as_u64().unwrap();
    assert!(measured > 400, "measured {measured}");
    assert_eq!(json["overall"]["answered"].as_u64().unwrap(), measured);
    assert_eq!(json["config"]["signing"], "presigned");
    assert_eq!(json["scenarios"].as_array().unwrap().len(), 3);
    assert_eq!(json["scenarios"][0]["scenario"], "allow");
    assert_eq!(json["timeline"].as_array().unwrap().len(), 3);
    let p99 = json["overall_latency"]["p99_us"].as_u64().unwrap();
    let max = json["overall_latency"]["max_us"].as_u64().unwrap();
    assert!(p99 > 0, "p99 {p99}");
    assert!(p99 <= max, "p99 {p99} max {max}");

    // hgrm: cumulative counts end at the number of measured requests, at the maximum.
    let lines = hgrm::parse(&std::fs::read_to_string(directory.path().join("latency.hgrm")).unwrap()).unwrap();
    let last = lines.last().unwrap();
    assert_eq!(last.total_count, measured);
    assert_eq!(last.quantile, 1.0);
    let max_ms = max as f64 / 1_000.0;
    assert!((last.value_ms - max_ms).abs() <= max_ms * 0.002 + 0.001, "hgrm max {} vs {max_ms}", last.value_ms);

    // Text: the same headline numbers.
    let text = std::fs::read_to_string(directory.path().join("summary.txt")).unwrap();
    assert!(text.contains("replay"), "{text}");
    assert!(text.contains("every answer matched"), "{text}");

    render_in_chromium(&directory.path().join("report.html"));
}

fn render_in_chromium(page: &Path) {
    let Some(chromium) = ["chromium", "chromium-browser"].into_iter().find(|name| {
        Command::new(name).arg("--version").output().map(|out| out.status.success()).unwrap_or(false)
    }) else {
        eprintln!("\n*** SKIPPED: chromium is not installed, so the HTML report was not rendered; scripts/install-deps.sh installs it ***\n");
        return;
    };

    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&output.stdout);
    let log = String::from_utf8_lossy(&output.stderr);

    assert!(output.status.success(), "chromium failed: {log}");
    assert!(!log.contains("Uncaught"), "script error while rendering: {log}");
    assert!(!log.contains("ERR_FILE_NOT_FOUND"), "page did not load: {log}");
    // The DOM Chromium built contains the three plots with their lines, and the summary.
    for id in ["spectrum", "latency-over-time", "throughput-over-time", "summary"] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "{id} missing from the rendered DOM");
    }
    assert_eq!(dom.matches("<svg").count(), 3);
    // Spectrum: all plus three scenarios; latency: p50 and p99; throughput: answered and target.
    let lines_expected = 4 + 2 + 2;
    assert_eq!(dom.matches("<polyline").count(), lines_expected, "plotted lines");
    assert!(!dom.contains("src=\"http") && !dom.contains("href=\"http"), "the page must not load anything external");
}
