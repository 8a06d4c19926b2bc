//! The operator commands against a real `axiom serve` process on loopback: `axiom token`,
//! `axiom keys`, `axiom sources`, `axiom settings`, `axiom incidents` and the deploy smoke
//! script. The server is then killed and started again on the same data directory, and the
//! keys, sources and settings changed through the API are still there.

mod http_support;

use http_support::{SECRET, TENANT};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_axiom");
/// How long a server may take to write `server.json` (store open, solver start).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A server process, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(data_dir: &Path) -> Server {
    let info_path = data_dir.join("server.json");
    let _ = std::fs::remove_file(&info_path);
    let child = Command::new(BIN)
        .args(["serve", "--no-demo-tenant", "--http-listen", "127.0.0.1:0", "--quic-listen", "127.0.0.1:0", "--shards", "2", "--smt-workers", "1"])
        .arg("--data-dir")
        .arg(data_dir)
        .env("AXIOM_JWT_HS256_SECRET", SECRET)
        .env("AXIOM_ENV", "development")
        .spawn()
        .expect("axiom serve starts");
    let mut server = Server { child, url: String::new() };

    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if let Ok(text) = std::fs::read_to_string(&info_path) {
            if let Ok(info) = serde_json::from_str::<Value>(&text) {
                if let Some(address) = info["http_addr"].as_str() {
                    server.url = format!("http://{address}");
                    return server;
                }
            }
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("axiom serve exited early with {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("axiom serve wrote no server.json within {START_TIMEOUT:?}");
}

fn axiom(server: &Server, token: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("AXIOM_SERVER", &server.url)
        .env("AXIOM_TOKEN", token)
        .output()
        .expect("axiom runs")
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

fn mint(role: &str, tenant: &str) -> String {
    let output = Command::new(BIN)
        .args(["token", "--role", role, "--tenant", tenant, "--sub", &format!("{role}-cli"), "--ttl-s", "600"])
        .env("AXIOM_JWT_HS256_SECRET", SECRET)
        .output()
        .expect("axiom token runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8").trim().to_owned()
}

#[test]
fn operator_commands_and_restart() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let admin = mint("securityadmin", TENANT);
    let operator = mint("operator", TENANT);
    let platform = mint("sre", "*");
    let agent = axiom_engine::crypto::KeyPair::generate();
    let event_time_ms = axiom::http::unix_now_ms() - 3_000;
    let kid;

    {
        let server = start_server(dir.path());

        let smoke = Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/scripts/smoke.sh"))
            .env("AXIOM_SERVER", &server.url)
            .env("AXIOM_TOKEN", &platform)
            .output()
            .expect("smoke script runs");
        assert!(smoke.status.success(), "smoke failed: {}", String::from_utf8_lossy(&smoke.stderr));

        let body = serde_json::json!({
            "public_key": agent.public_key().to_base64url(),
            "allowed_actors": ["bot-1"],
        });
        let response = axiom::http::client::send(&server.url, "POST", "/v1/keys", Some(&admin), Some(&body.to_string()))
            .expect("register key");
        assert_eq!(response.status, 201, "{}", response.body);
        let registered: Value = serde_json::from_str(&response.body).expect("JSON");
        kid = registered["kid"].as_str().expect("kid").to_owned();

        let listed = json_of(&axiom(&server, &admin, &["keys", "list"]));
        assert_eq!(listed.as_array().map(Vec::len), Some(1));
        let revoked = json_of(&axiom(&server, &admin, &["keys", "revoke", &kid]));
        assert_eq!(revoked["status"], "revoked");
        // Revocation is idempotent, so runbook scripts can repeat it: the second call
        // succeeds and returns the record unchanged, with the first revocation time.
        let again = json_of(&axiom(&server, &admin, &["keys", "revoke", &kid]));
        assert_eq!(again["status"], "revoked");
        assert_eq!(again["revoked_at"], revoked["revoked_at"], "second revocation keeps the first time");

        let forbidden = axiom(&server, &operator, &["keys", "list"]);
        assert_eq!(forbidden.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&forbidden.stderr).contains("HTTP 403"));

        let event_time = event_time_ms.to_string();
        let ingested = json_of(&axiom(&server, &operator, &["sources", "ingest", "--tenant", TENANT, "--domain", "finance", "--source", "bank", "--event-time-ms", &event_time]));
        assert_eq!(ingested["source"], "bank");
        let sources = json_of(&axiom(&server, &operator, &["sources", "list"]));
        assert_eq!(sources[0]["event_time_ms"], event_time_ms);

        let changed = json_of(&axiom(&server, &platform, &["settings", "set", "RATE_LIMIT_PER_MINUTE=30", "MAX_DEFER_TOTAL_MS=120000", "--reason", "slow abuse"]));
        assert_eq!(changed["RATE_LIMIT_PER_MINUTE"], 30);
        let tenant_sre = mint("sre", TENANT);
        let rejected = axiom(&server, &tenant_sre, &["settings", "set", "RATE_LIMIT_PER_MINUTE=1"]);
        assert_eq!(rejected.status.code(), Some(1), "a tenant token must not change node-wide settings");

        let incidents = json_of(&axiom(&server, &admin, &["incidents", "list", "--reason-code", "REPLAY_DETECTED"]));
        assert_eq!(incidents, serde_json::json!([]));
        let bad_filter = axiom(&server, &admin, &["incidents", "list", "--reason-code", "NOPE"]);
        assert_eq!(bad_filter.status.code(), Some(1));
    }

    let server = start_server(dir.path());
    let key = json_of(&axiom(&server, &admin, &["keys", "get", &kid]));
    assert_eq!(key["status"], "revoked", "revocation survives a restart");
    let sources = json_of(&axiom(&server, &operator, &["sources", "list"]));
    assert_eq!(sources[0]["event_time_ms"], event_time_ms, "source state survives a restart");
    let settings = json_of(&axiom(&server, &platform, &["settings", "get"]));
    assert_eq!(settings["RATE_LIMIT_PER_MINUTE"], 30, "settings survive a restart");
    assert_eq!(settings["MAX_DEFER_TOTAL_MS"], 120_000);
    let history = json_of(&axiom(&server, &platform, &["settings", "history"]));
    assert_eq!(history[0]["value"]["changed_by"], "sre-cli");
    assert_eq!(history[0]["value"]["reason"], "slow abuse");
}
