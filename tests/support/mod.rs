//! Shared setup of the end-to-end tests. Each test runs the `axiom serve` binary cargo built
//! for this package on a temporary data directory and reaches it over real QUIC on 127.0.0.1.
//! It stops the process with SIGTERM or SIGKILL and reads its fjall store back afterwards.

#![allow(dead_code)]

pub mod mix;

use axiom::http::auth::{mint_hs256, Claims};
use axiom::node::bootstrap::DEMO_TENANT;
use axiom::node::build::STORE_DIR;
use axiom::node::demo::{demo_intent, DemoSession, DEMO_OPERATOR};
use axiom::node::serve::{read_server_info, ServerInfo, SERVER_INFO_FILE};
use axiom_engine::crypto::{intent_hash, verify_receipt, CertificateOptions, PublicKey};
use axiom_engine::model::{DecisionResponse, ReasonCode, Verdict};
use axiom_storage::{AuditRecord, Store, StoreConfig, VerifyReport};
use serde_json::Value;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// HS256 secret of every test server's control plane.
pub const SECRET: &str = "e2e-test-secret-of-at-least-32-bytes!!";
/// How long a start may take before the test fails. A first start in the debug profile
/// generates the TLS identity and proves the demo policy (about 1.5 s unloaded), and CI
/// machines run other test binaries at the same time.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a SIGTERM may take: the server's own grace period for in-flight requests is 10 s.
pub const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Lifetime of the test tokens, in seconds.
const TOKEN_TTL_S: u64 = 3_600;
/// Lines of the server log printed when a start fails.
const LOG_TAIL_LINES: usize = 40;

/// A temporary folder holding one data directory and the server logs written next to it.
pub struct TestDir {
    root: tempfile::TempDir,
}

impl TestDir {
    /// Creates the folder and its empty data directory.
    pub fn new() -> TestDir {
        let root = tempfile::tempdir().expect("creating a temporary directory");
        std::fs::create_dir(root.path().join("data")).expect("creating the data directory");
        TestDir { root }
    }

    /// Returns the data directory passed to `--data-dir`.
    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// Returns the file the server's stderr is appended to, outside the data directory.
    pub fn log(&self) -> PathBuf {
        self.root.path().join("server.log")
    }
}

/// A running `axiom serve` child process. Dropping it kills the process, so a failing test
/// never leaves a server behind.
pub struct ServerProcess {
    child: Option<Child>,
    /// What the server wrote to `server.json` once both endpoints listened.
    pub info: ServerInfo,
    data_dir: PathBuf,
}

impl ServerProcess {
    /// Starts `axiom serve` on `dir` with loopback listeners on free ports and `extra` flags,
    /// and waits until it has written its `server.json`.
    pub fn start(dir: &TestDir, extra: &[&str]) -> ServerProcess {
        let data_dir = dir.data();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.log())
            .expect("opening the server log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_axiom"))
            .arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--quic-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
            .args(extra)
            .env("AXIOM_JWT_HS256_SECRET", SECRET)
            .env_remove("AXIOM_DEV_NO_AUTH")
            .env_remove("AXIOM_DATA_DIR")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawning `axiom serve`");

        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        let info = loop {
            if let Some(status) = child.try_wait().expect("polling the server") {
                panic!(
                    "`axiom serve` exited during start with {status}; log tail:\n{}",
                    log_tail(&dir.log())
                );
            }
            // A server killed earlier on this directory leaves its server.json behind, so
            // only a file naming this process counts.
            if let Ok(info) = read_server_info(&data_dir) {
                if info.pid == child.id() {
                    break info;
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`axiom serve` wrote no server.json within {} s; log tail:\n{}",
                    SERVER_START_TIMEOUT.as_secs(),
                    log_tail(&dir.log())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };

        ServerProcess {
            child: Some(child),
            info,
            data_dir,
        }
    }

    /// Process id of the server.
    pub fn pid(&self) -> u32 {
        self.info.pid
    }

    /// Returns the engine public key from `server.json`, which verifies every receipt.
    pub fn engine_public_key(&self) -> PublicKey {
        PublicKey::from_base64url(&self.info.engine_public_key)
            .expect("server.json holds a valid engine public key")
    }

    /// Resident set size of the server process, in KiB, from `/proc/PID/status`.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Sends SIGTERM and waits for the process to exit; fails the test when it does not stop
    /// within [`SERVER_STOP_TIMEOUT`].
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the server is running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("running kill -TERM");
        assert!(status.success(), "kill -TERM {} failed", child.id());

        let deadline = Instant::now() + SERVER_STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("polling the server") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`axiom serve` did not exit within {} s of SIGTERM",
                    SERVER_STOP_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGKILL and reaps the process: a crash with no chance to flush or close anything.
    pub fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("sending SIGKILL to the server");
            child.wait().expect("reaping the killed server");
        }
    }

    /// Path of `server.json` in the data directory.
    pub fn info_path(&self) -> PathBuf {
        self.data_dir.join(SERVER_INFO_FILE)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LOG_TAIL_LINES);
    lines[start..].join("\n")
}

/// Returns the current Unix time in seconds.
pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// Mints the demo operator's token (securityadmin, operator and sre of the demo tenant).
pub fn operator_token() -> String {
    let now = now_s();
    let claims = Claims {
        sub: DEMO_OPERATOR.to_owned(),
        tenant: DEMO_TENANT.to_owned(),
        roles: vec!["securityadmin".into(), "operator".into(), "sre".into()],
        platform: false,
        iss: "axiom".to_owned(),
        aud: "axiom-control".to_owned(),
        exp: now + TOKEN_TTL_S,
        nbf: None,
        iat: Some(now),
    };
    mint_hs256(SECRET, &claims).expect("minting the operator token")
}

/// Connects a demo session (pinned QUIC connection, demo agent key, operator token).
pub async fn connect_session(server: &ServerProcess) -> DemoSession {
    DemoSession::connect(&server.info, operator_token())
        .await
        .expect("connecting a demo session over QUIC")
}

/// Checks the receipt of an audited response against the engine key and the intent hash the
/// client computes itself from the envelope it sent.
pub fn assert_receipt_verifies(
    engine_key: &PublicKey,
    envelope: &Value,
    response: &DecisionResponse,
    label: &str,
) {
    assert!(
        !response.decision_id.is_empty(),
        "{label}: an audited response must carry a decision id: {response:?}"
    );
    let hash = intent_hash(&envelope["intent"]);
    if let Err(error) = verify_receipt(engine_key, response, Some(&hash)) {
        panic!("{label}: the receipt does not verify with the engine key from server.json: {error}; response {response:?}");
    }
}

/// Longest wait for a restarted server to decide a request.
pub const SHARD_RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Returns true for the response the QUIC endpoint sends when the decision path did not
/// finish within its 2000 ms request timeout: `OVERLOADED` without a decision id.
pub fn is_timeout_answer(response: &DecisionResponse) -> bool {
    response.reason_code == ReasonCode::Overloaded && response.decision_id.is_empty()
}

/// Sends `envelope` until the server decides it, resending after each timeout response.
///
/// NOTE: `axiom serve` writes `server.json` before its shard actors have rebuilt their state
/// from the audit log, and each shard rereads the whole recent log while it blocks its
/// arbiter thread. After a restart with many records, a request can wait longer than the
/// transport's 2000 ms request timeout. The server then asks the client to retry, and this
/// loop is that retry, so a slow recovery is not mistaken for a wrong verdict.
pub async fn send_until_decided(session: &DemoSession, envelope: &Value) -> DecisionResponse {
    let deadline = Instant::now() + SHARD_RECOVERY_TIMEOUT;
    loop {
        let response = session.send(envelope).await.expect("sending over QUIC");
        if !is_timeout_answer(&response) {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not decide within {} s of its start: {response:?}",
            SHARD_RECOVERY_TIMEOUT.as_secs()
        );
    }
}

/// Sends fresh read requests until the server decides one, and returns that envelope and the
/// ALLOW it must get. Each attempt signs a new certificate, because a request that timed out
/// may still have been decided and its nonce consumed.
pub async fn wait_until_deciding(session: &DemoSession) -> (Value, DecisionResponse) {
    let deadline = Instant::now() + SHARD_RECOVERY_TIMEOUT;
    loop {
        let intent = demo_intent("get_invoice", serde_json::json!({}), &[], 60);
        let envelope = session
            .sign(&intent, &CertificateOptions::default())
            .expect("signing a probe");
        let response = session.send(&envelope).await.expect("sending a probe over QUIC");
        if !is_timeout_answer(&response) {
            assert_eq!(
                (response.verdict, response.reason_code),
                (Verdict::Allow, ReasonCode::Ok),
                "a read request after the start must be allowed: {response:?}"
            );
            return (envelope, response);
        }
        assert!(
            Instant::now() < deadline,
            "the server did not decide within {} s of its start: {response:?}",
            SHARD_RECOVERY_TIMEOUT.as_secs()
        );
    }
}

/// Verifies every audit chain of a stopped server's data directory.
pub fn verify_chains(data_dir: &Path) -> VerifyReport {
    let report = axiom_storage::verify(&data_dir.join(STORE_DIR)).expect("opening the store to verify it");
    assert!(
        report.is_intact(),
        "the audit chain is broken: {:?}",
        report.problems
    );
    report
}

/// Number of records over every chain of a report.
pub fn record_count(report: &VerifyReport) -> u64 {
    report.chains.iter().map(|chain| chain.records).sum()
}

/// Opens the store of a stopped server, to read audit records back.
pub fn open_store(data_dir: &Path) -> Store {
    Store::open(&data_dir.join(STORE_DIR), StoreConfig::default()).expect("opening the stopped server's store")
}

/// Reads the audit record of `decision_id`; fails the test when it is missing.
pub fn audit_record(store: &Store, decision_id: &str, label: &str) -> AuditRecord {
    match store.audit_record(decision_id) {
        Ok(Some(record)) => record,
        Ok(None) => panic!("{label}: decision `{decision_id}` is not in the audit log"),
        Err(error) => panic!("{label}: reading decision `{decision_id}` failed: {error}"),
    }
}
