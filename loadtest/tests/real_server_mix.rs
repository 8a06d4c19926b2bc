//! A short mixed load against a real `axiom serve` process on 127.0.0.1: every scenario must
//! get the answer the expectation table lists from the demo finance policy.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axiom_loadtest::progress::ProgressMode;
use axiom_loadtest::sources::SourceFeed;
use axiom_loadtest::{run, ActorIdentity, Agent, RunConfig, RunOptions, Scenario};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest wait for the server to write `server.json`.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Kills the server process when the test ends, even on failure.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Builds the `axiom` binary (a no-op when it is up to date) and returns its path.
fn axiom_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "axiom", "--bin", "axiom"])
        .current_dir(&workspace)
        .status()
        .unwrap();
    assert!(status.success(), "building the axiom binary failed");
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| workspace.join("target"));
    target.join("debug").join("axiom")
}

fn start_server(data_dir: &Path) -> (ServerProcess, Value) {
    let child = Command::new(axiom_binary())
        .args(["serve", "--quic-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--dev-no-auth"])
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let process = ServerProcess(child);

    let info_path = data_dir.join("server.json");
    let started = Instant::now();
    while started.elapsed() < SERVER_START_TIMEOUT {
        if let Ok(text) = std::fs::read(&info_path) {
            if let Ok(info) = serde_json::from_slice::<Value>(&text) {
                return (process, info);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("axiom serve did not write {} within {SERVER_START_TIMEOUT:?}", info_path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_gets_expected_verdict() {
    let data_dir = tempfile::tempdir().unwrap();
    let (_server, info) = start_server(data_dir.path());
    let field = |pointer: &str| info.pointer(pointer).and_then(Value::as_str).unwrap().to_owned();

    let mut config = RunConfig::new(field("/quic_addr").parse().unwrap(), field("/tls_fingerprint"));
    config.rate_per_s = 60.0;
    config.warmup = Duration::from_millis(500);
    config.duration = Duration::from_secs(4);
    config.connections = 2;
    // Equal weights, so that each scenario gets tens of requests in a short run.
    config.mix = "allow=1,escrow=1,deny=1,stale=1,uncertain=1,replay=1,forged=1".parse().unwrap();

    let tenant = field("/demo/tenant");
    let key_file = PathBuf::from(field("/demo/key_file"));
    let agents: Vec<Agent> = (0..16)
        .map(|number| {
            let identity = ActorIdentity { tenant: tenant.clone(), actor: format!("loadtest-agent-{number}") };
            Agent::from_key_file(&key_file, identity).unwrap()
        })
        .collect();
    let http = field("/http_addr");
    let options = RunOptions {
        progress: ProgressMode::Plain,
        metrics_url: Some(format!("http://{http}/metrics")),
        source_feed: Some(SourceFeed {
            control_url: format!("http://{http}"),
            bearer_token: None,
            tenants: vec![tenant],
        }),
    };

    let outcome = run(&config, agents, &options).await.unwrap();
    let report = &outcome.report;
    println!("{}", axiom_loadtest::report::text::render(report));

    for scenario in Scenario::ALL {
        let figures = report.scenarios.iter().find(|figures| figures.scenario == scenario).unwrap();
        assert!(figures.counts.answered >= 10, "{scenario}: only {} answered", figures.counts.answered);
        assert_eq!(figures.counts.unexpected, 0, "{scenario}: unexpected answers {:?}", figures.answers);
    }
    assert!(report.is_clean(), "{:?}", report.overall);

    let server = report.server.as_ref().expect("server metrics were read");
    assert!(server.after.p99_s.is_some(), "no quic_decide p99 in the server metrics: {server:?}");
}
