//! Shared setup of the workflow tests: a real node on a temporary fjall directory with the
//! real authenticator, a registered agent key, the finance policy, tokens for any subject,
//! and a small HTTP tool upstream on loopback.

#![allow(dead_code)]

use axiom::http::auth::{mint_hs256, AuthSettings, Authenticator, Claims};
use axiom::node::{Endpoint, Node, ServeArgs};
use axiom_engine::crypto::{AgentKey, CertificateOptions, KeyPair};
use axiom_engine::keys::KeyRecord;
use axiom_engine::model::{DecisionResponse, RollbackPlan};
use clap::Parser;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub const SECRET: &str = "test-secret-of-at-least-32-bytes-long!";
pub const TENANT: &str = "acme";
pub const ACTOR: &str = "ap-agent-7";

/// The finance policy the workflow tests publish: refunds above 10000 are escrowed for two
/// approvers holding `financemanager`.
pub const POLICY_V1: &str = r#"policyset finance v1:
  domain finance
  approvals required 2
  approvals roles ["financemanager"]
  approvals sod true
  approvals expires_in 4h
  escrow when action.name in ["pay_invoice", "refund"] and action.params.amount > 10000
  invariant action.scope == "single" or batch.size <= 100

axiom Fresh_bank_feed:
  when action.name in ["pay_invoice", "refund"]
  require source("bank").age_sec <= 30

axiom Refund_cap:
  when action.name == "refund"
  require action.params.amount <= 50000
"#;

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    serve: ServeArgs,
}

/// A started node with its authenticator and one agent key of `TENANT`.
pub struct TestNode {
    pub node: Arc<Node>,
    pub authenticator: Arc<Authenticator>,
    pub agent: AgentKey,
    pub kid: String,
    pub dir: tempfile::TempDir,
}

/// Starts a ready node with `extra` flags, registers an agent key for `ACTOR` and publishes
/// `POLICY_V1`. Must run inside an actix System.
pub fn start_node(extra: &[&str]) -> TestNode {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data_dir = dir.path().display().to_string();
    let mut argv = vec![
        "axiom", "--data-dir", &data_dir, "--no-demo-tenant", "--shards", "2",
        "--smt-workers", "1", "--jwt-hs256-secret", SECRET,
        "--rate-limit-per-minute", "100000",
    ];
    argv.extend_from_slice(extra);
    let node = Node::start(Flags::parse_from(argv).serve).expect("node starts");
    node.mark_ready();
    let authenticator = Authenticator::new(&AuthSettings::from_serve_args(&node.config), Arc::clone(&node.metrics))
        .expect("authenticator");

    let pair = KeyPair::generate();
    let record = KeyRecord::new(TENANT, pair.public_key(), vec![ACTOR.to_owned(), "other-agent".to_owned()], now_ms());
    let kid = record.kid.clone();
    node.store.keys().insert_new(TENANT, &kid, &record).expect("store key");
    node.keys.register(record).expect("register key");
    node.publish_policy_directly(TENANT, POLICY_V1, "bootstrap").expect("publish policy");
    bank_feed(&node, 2);

    TestNode { node, authenticator: Arc::new(authenticator), agent: AgentKey::from_key_pair(pair.with_kid(kid.clone())), kid, dir }
}

/// Reports the bank feed as `age_s` seconds old.
pub fn bank_feed(node: &Node, age_s: i64) {
    let event = axiom_engine::state::SourceEvent {
        tenant: TENANT.to_owned(),
        domain: "finance".to_owned(),
        source: "bank".to_owned(),
        event_time_ms: now_ms() - age_s * 1_000,
        health_score: None,
    };
    node.sources.ingest(&event, now_ms(), 5_000).expect("ingest bank feed");
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as i64).unwrap_or(0)
}

/// A token for `subject` of `tenant` with `roles` (`"*"` makes it platform-wide).
pub fn token_for(subject: &str, roles: &[&str], tenant: &str) -> String {
    let now = (now_ms() / 1_000) as u64;
    let claims = Claims {
        sub: subject.to_owned(),
        tenant: tenant.to_owned(),
        roles: roles.iter().map(|role| role.to_string()).collect(),
        platform: tenant == "*",
        iss: "axiom".to_owned(),
        aud: "axiom-control".to_owned(),
        exp: now + 600,
        nbf: None,
        iat: Some(now),
    };
    format!("Bearer {}", mint_hs256(SECRET, &claims).expect("token"))
}

/// An intent of `ACTOR` (or `actor`) for `operation` with `amount`.
pub fn intent(actor: &str, operation: &str, amount: &str) -> Value {
    json!({
        "intent_id": uuid::Uuid::new_v4().to_string(),
        "idempotency_key": uuid::Uuid::new_v4().to_string(),
        "actor": {"id": actor, "tenant": TENANT, "roles": ["FinanceOperator"]},
        "target": {"domain": "finance", "object_types": ["invoice"], "object_ids": ["inv-1"], "scope": "single"},
        "operation": {"name": operation, "params": {"amount": amount}},
        "data_requirements": {"required_sources": ["bank"], "max_staleness_sec": 60, "uncertainty_budget": {}},
        "time": {"request_time": now_ms()}
    })
}

/// Signs `intent` with a one-step rollback plan and decides it on the node.
pub async fn decide(test: &TestNode, intent: &Value) -> DecisionResponse {
    let options = CertificateOptions {
        rollback_plan: Some(RollbackPlan { plan_type: "compensate".to_owned(), steps: vec![json!({"operation": "void"})] }),
        ..CertificateOptions::default()
    };
    let envelope = test.agent.sign_envelope(intent, &options).expect("sign");
    let bytes = serde_json::to_vec(&envelope).expect("encode");
    test.node.decide(&bytes, Endpoint::HttpDecide).await
}

/// A tool upstream on loopback that answers `status` to every POST and keeps the bodies.
pub struct Tool {
    pub url: String,
    pub requests: Arc<Mutex<Vec<String>>>,
    pub count: Arc<AtomicUsize>,
}

/// Starts the tool on a free port with a std thread, so it runs outside the actix runtime.
pub fn start_tool(status: u16) -> Tool {
    start_tool_with(status, status)
}

/// Starts a tool that responds with `execute_status` to the execute call and
/// `compensate_status` to the compensating steps (requests to a path ending in `/compensate`).
pub fn start_tool_with(execute_status: u16, compensate_status: u16) -> Tool {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind tool");
    let url = format!("http://{}/tools/pay/execute", listener.local_addr().expect("addr"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let (seen, counter) = (Arc::clone(&requests), Arc::clone(&count));
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let read = stream.read(&mut chunk).unwrap_or(0);
                if read == 0 { break; }
                buffer.extend_from_slice(&chunk[..read]);
                let text = String::from_utf8_lossy(&buffer).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text.lines().find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length: ").map(|value| value.trim().parse::<usize>().unwrap_or(0))).unwrap_or(0);
                    if buffer.len() >= end + 4 + length { break; }
                }
            }
            let request = String::from_utf8_lossy(&buffer).to_string();
            let status = if request.starts_with("POST /tools/pay/compensate ") { compensate_status } else { execute_status };
            seen.lock().expect("lock").push(request);
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes());
        }
    });
    Tool { url, requests, count }
}
