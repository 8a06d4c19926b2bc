//! Execution of approved escrows against a real HTTP tool on loopback.
//!
//! The upstream client lives in the server binary (`src/node/upstream.rs`). It is compiled
//! into this test as a module, so its behaviour is tested together with the escrow state
//! machine without building the whole server. Each test starts a small HTTP/1.1 server on
//! 127.0.0.1 that records every request and answers per path with a configured status or
//! delay, then checks what the tool received and which escrow status results.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "../../src/node/upstream.rs"]
#[allow(dead_code)]
mod upstream;

use axiom_engine::escrow::{self, Escrow, EscrowStatus, NewEscrow, Principal, Reverification};
use axiom_engine::model::{Intent, Receipt, RollbackPlan};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use upstream::{ExecutionReport, ToolUrl, Upstream, UpstreamError};

const TENANT: &str = "acme";
const NOW_MS: i64 = 1_700_000_000_000;
const TIMEOUT_MS: u64 = 300;

/// Reply of the test tool to one request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Waits this long before responding 200, to trigger the client's timeout.
    Stall(Duration),
}

#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    head: String,
    body: Value,
}

type Responder = Arc<dyn Fn(&str, &Value) -> Reply + Send + Sync>;

/// A loopback HTTP tool recording every request it receives.
struct ToolServer {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl ToolServer {
    async fn start(responder: impl Fn(&str, &Value) -> Reply + Send + Sync + 'static) -> ToolServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let address = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let responder: Responder = Arc::new(responder);
        let recorded = Arc::clone(&requests);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let recorded = Arc::clone(&recorded);
                let responder = Arc::clone(&responder);
                tokio::spawn(async move { serve(stream, recorded, responder).await });
            }
        });
        ToolServer { address, requests }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests lock").clone()
    }
}

async fn serve(mut stream: TcpStream, recorded: Arc<Mutex<Vec<Recorded>>>, responder: Responder) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + 4 + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
    let body: Value = serde_json::from_slice(&buffer[head_end + 4..head_end + 4 + length]).unwrap_or(Value::Null);
    let path = head.split(' ').nth(1).unwrap_or_default().to_owned();

    let reply = responder(&path, &body);
    recorded.lock().expect("requests lock").push(Recorded { path, head, body });
    let status = match reply {
        Reply::Status(status) => status,
        Reply::Stall(delay) => {
            tokio::time::sleep(delay).await;
            200
        }
    };
    let response = format!("HTTP/1.1 {status} Test\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}");
    let _ = stream.write_all(response.as_bytes()).await;
}

fn intent() -> Intent {
    serde_json::from_value(json!({
        "intent_id": "i-9",
        "idempotency_key": "k-9",
        "actor": {"id": "agent-7", "tenant": TENANT, "roles": ["FinanceOperator"]},
        "target": {"domain": "finance", "object_types": ["invoice"], "object_ids": ["inv-9"], "scope": "single"},
        "operation": {"name": "pay_invoice", "params": {"amount": "25000.00"}},
        "data_requirements": {"required_sources": ["bank"], "max_staleness_sec": 30},
        "time": {"request_time": NOW_MS}
    }))
    .expect("test intent is valid")
}

fn approver() -> Principal {
    Principal {
        id: "alice".to_owned(),
        roles: vec!["complianceofficer".to_owned()],
        tenant: TENANT.to_owned(),
    }
}

/// Opens, approves and claims an escrow, as the control plane does before calling upstream.
fn executing_escrow(steps: Vec<Value>) -> Escrow {
    let plan = (!steps.is_empty()).then(|| RollbackPlan {
        plan_type: "compensate".to_owned(),
        steps,
    });
    let pending = Escrow::open(NewEscrow {
        escrow_id: "esc-9".to_owned(),
        tenant: TENANT.to_owned(),
        decision_id: "dec-9".to_owned(),
        requesting_actor: "agent-7".to_owned(),
        key_id: "kid-1".to_owned(),
        key_owner: "key-owner-1".to_owned(),
        intent: intent(),
        rollback_plan: plan,
        policy_set_id: "finance".to_owned(),
        approvals_required: 1,
        approver_roles: vec!["complianceofficer".to_owned()],
        sod: true,
        created_at_ms: NOW_MS,
        expires_at_ms: NOW_MS + 60_000,
    })
    .expect("valid escrow");
    let approved = escrow::approve(&pending, &approver(), NOW_MS + 1).expect("approve");
    let passed = Reverification::Passed;
    escrow::begin_execute(&approved, &approver(), passed, NOW_MS + 2).expect("claim")
}

fn receipt() -> Receipt {
    Receipt {
        kid: "engine-1".to_owned(),
        alg: "ed25519".to_owned(),
        sig: "c2lnbmF0dXJl".to_owned(),
    }
}

fn three_steps() -> Vec<Value> {
    vec![
        json!({"op": "void_payment", "invoice": "inv-9"}),
        json!({"op": "restore_budget", "code": "AP"}),
        json!({"op": "notify", "path": "/hooks/notify"}),
    ]
}

#[tokio::test]
async fn success_executes_once() {
    let tool = ToolServer::start(|_, _| Reply::Status(201)).await;
    let client = Upstream::new(&tool.url("/execute"), TIMEOUT_MS).expect("client");
    let escrow = executing_escrow(three_steps());

    let report = client.execute(&escrow, Some(&receipt())).await.expect("claimed escrow");

    assert_eq!(report, ExecutionReport::Executed { status: 201 });
    let requests = tool.requests();
    assert_eq!(requests.len(), 1, "no compensation after success");
    assert_eq!(requests[0].path, "/execute");
    assert!(requests[0].head.starts_with("POST /execute HTTP/1.1\r\n"), "{}", requests[0].head);
    assert!(requests[0].head.contains("Idempotency-Key: esc-9"), "{}", requests[0].head);
    assert_eq!(requests[0].body["escrow_id"], "esc-9");
    assert_eq!(requests[0].body["intent"], serde_json::to_value(intent()).expect("intent json"));
    assert_eq!(requests[0].body["receipt"]["kid"], "engine-1");

    let executed = report.apply(&escrow, &approver(), NOW_MS + 3).expect("apply");
    assert_eq!(executed.status, EscrowStatus::Executed);
    assert_eq!(executed.version, escrow.version + 1);
}

#[tokio::test]
async fn server_error_runs_compensation_in_order() {
    let tool = ToolServer::start(|path, _| match path {
        "/tools/pay/execute" => Reply::Status(500),
        _ => Reply::Status(200),
    })
    .await;
    let client = Upstream::new(&tool.url("/tools/pay/execute"), TIMEOUT_MS).expect("client");
    let escrow = executing_escrow(three_steps());

    let report = client.execute(&escrow, Some(&receipt())).await.expect("claimed escrow");

    assert_eq!(
        report,
        ExecutionReport::RolledBack {
            failure: "upstream returned status 500".to_owned(),
            steps_run: 3,
        }
    );
    let requests = tool.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        vec!["/tools/pay/execute", "/tools/pay/compensate", "/tools/pay/compensate", "/hooks/notify"]
    );
    for (index, request) in requests[1..].iter().enumerate() {
        assert_eq!(request.body["step_index"], index, "steps in plan order");
        assert_eq!(request.body["step"], three_steps()[index]);
        assert_eq!(request.body["escrow_id"], "esc-9");
    }

    let rolled_back = report.apply(&escrow, &approver(), NOW_MS + 3).expect("apply");
    assert_eq!(rolled_back.status, EscrowStatus::RolledBack);
    let path: Vec<_> = rolled_back.history.iter().map(|t| t.to).collect();
    assert_eq!(
        path,
        vec![EscrowStatus::Approved, EscrowStatus::Executing, EscrowStatus::Failed, EscrowStatus::RolledBack]
    );
    assert_eq!(rolled_back.failure.as_deref(), Some("upstream returned status 500"));
}

#[tokio::test]
async fn timeout_compensates_and_rolls_back() {
    let tool = ToolServer::start(|path, _| match path {
        "/execute" => Reply::Stall(Duration::from_millis(TIMEOUT_MS * 10)),
        _ => Reply::Status(204),
    })
    .await;
    let client = Upstream::new(&tool.url("/execute"), TIMEOUT_MS).expect("client");
    let escrow = executing_escrow(three_steps()[..2].to_vec());

    let started = std::time::Instant::now();
    let report = client.execute(&escrow, None).await.expect("claimed escrow");
    let elapsed = started.elapsed();

    assert_eq!(
        report,
        ExecutionReport::RolledBack {
            failure: format!("upstream timed out after {TIMEOUT_MS} ms"),
            steps_run: 2,
        }
    );
    assert!(elapsed < Duration::from_millis(TIMEOUT_MS * 5), "gave up after {elapsed:?}");
    let paths: Vec<String> = tool.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, vec!["/execute", "/compensate", "/compensate"]);
    assert_eq!(report.status(), EscrowStatus::RolledBack);
}

#[tokio::test]
async fn failing_step_stops_compensation() {
    let tool = ToolServer::start(|path, body| match (path, body["step_index"].as_u64()) {
        ("/execute", _) => Reply::Status(503),
        (_, Some(1)) => Reply::Status(500),
        _ => Reply::Status(200),
    })
    .await;
    let client = Upstream::new(&tool.url("/execute"), TIMEOUT_MS).expect("client");
    let escrow = executing_escrow(three_steps());

    let report = client.execute(&escrow, Some(&receipt())).await.expect("claimed escrow");

    assert_eq!(
        report,
        ExecutionReport::Failed {
            failure: "upstream returned status 503".to_owned(),
            compensation: "step 1 returned status 500".to_owned(),
        }
    );
    assert_eq!(tool.requests().len(), 3, "step 2 is not sent after step 1 failed");

    let failed = report.apply(&escrow, &approver(), NOW_MS + 3).expect("apply");
    assert_eq!(failed.status, EscrowStatus::Failed);
    assert!(
        failed.failure.as_deref().is_some_and(|f| f.contains("compensation incomplete: step 1 returned status 500")),
        "{:?}",
        failed.failure
    );
}

#[tokio::test]
async fn refused_connection_without_plan_fails() {
    // Bind and drop a listener to get a loopback port with no listener.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("address").port()
    };
    let client = Upstream::new(&format!("http://127.0.0.1:{port}/execute"), TIMEOUT_MS).expect("client");
    let escrow = executing_escrow(Vec::new());

    let report = client.execute(&escrow, None).await.expect("claimed escrow");

    match &report {
        ExecutionReport::Failed { failure, compensation } => {
            assert!(failure.starts_with(&format!("connection to 127.0.0.1:{port} failed")), "{failure}");
            assert_eq!(compensation, "no usable rollback plan");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let failed = report.apply(&escrow, &approver(), NOW_MS + 3).expect("apply");
    assert_eq!(failed.status, EscrowStatus::Failed);
}

#[tokio::test]
async fn step_path_cannot_inject_a_request() {
    let tool = ToolServer::start(|path, _| match path {
        "/execute" => Reply::Status(500),
        _ => Reply::Status(200),
    })
    .await;
    let client = Upstream::new(&tool.url("/execute"), TIMEOUT_MS).expect("client");
    let escrow = executing_escrow(vec![json!({"path": "/undo HTTP/1.1\r\nHost: x\r\n\r\nPOST /steal"})]);

    let report = client.execute(&escrow, None).await.expect("claimed escrow");

    assert!(matches!(&report, ExecutionReport::Failed { compensation, .. } if compensation.contains("invalid `path`")), "{report:?}");
    assert_eq!(tool.requests().len(), 1, "the invalid step is never sent");
}

#[tokio::test]
async fn unclaimed_escrow_is_not_sent() {
    let tool = ToolServer::start(|_, _| Reply::Status(200)).await;
    let client = Upstream::new(&tool.url("/execute"), TIMEOUT_MS).expect("client");
    let executed = escrow::record_execution(
        &executing_escrow(Vec::new()),
        &escrow::ExecutionOutcome::Succeeded,
        NOW_MS + 3,
    )
    .expect("record");

    let error = client.execute(&executed, None).await.expect_err("already executed");
    assert_eq!(
        error,
        UpstreamError::NotClaimed {
            escrow_id: "esc-9".to_owned(),
            status: EscrowStatus::Executed,
        }
    );
    assert!(tool.requests().is_empty());
}

#[test]
fn tool_url_parsing() {
    let url = ToolUrl::parse("http://127.0.0.1:9100/execute").expect("loopback url");
    assert_eq!(url.compensate_path(), "/compensate");
    assert_eq!(
        ToolUrl::parse("http://tool.internal/v1/pay/execute").expect("name").compensate_path(),
        "/v1/pay/compensate"
    );
    assert_eq!(ToolUrl::parse("http://tool").expect("bare host").compensate_path(), "/compensate");

    for bad in [
        "https://tool/execute",
        "ftp://tool/execute",
        "http:///execute",
        "http://user@tool/execute",
        "http://tool:0/execute",
        "http://tool:99999/execute",
        "http://tool/execute?x=1",
        "http://[::1]:80/execute",
        "http://tool/exe cute",
    ] {
        assert!(matches!(ToolUrl::parse(bad), Err(UpstreamError::InvalidUrl { .. })), "{bad} accepted");
    }
    assert!(matches!(Upstream::new("http://tool/execute", 0), Err(UpstreamError::ZeroTimeout)));
}
