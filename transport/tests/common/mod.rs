//! Shared helpers: a computing test handler, and server and client setup on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#![allow(dead_code)]

use axiom_engine::model::{DecisionResponse, ReasonCode};
use axiom_transport::{
    start, Client, ClientAuth, ClientConfig, ClientLimits, Fingerprint, PeerInfo, RequestHandler,
    ServerConfig, ServerHandle, ServerTrust, TlsIdentity, TransportLimits,
};
use bytes::Bytes;
use serde_json::{json, Value};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A handler that does real work on the request JSON:
/// - `{"op":"sum","values":[..]}` returns `{"sum": total, "count": n, "client_fingerprint": ..}`
/// - `{"op":"sleep","ms":n,"tag":t}` sleeps `n` ms, then returns `{"slept_ms": n, "tag": t}`
/// - `{"op":"panic"}` panics
///
/// It also records the highest number of calls running at once.
#[derive(Debug, Default)]
pub struct TestHandler {
    running: AtomicUsize,
    pub running_max: AtomicUsize,
    pub calls: AtomicUsize,
}

struct RunningGuard(Arc<TestHandler>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl TestHandler {
    fn enter(self: &Arc<Self>) -> RunningGuard {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.running_max.fetch_max(now, Ordering::SeqCst);
        RunningGuard(self.clone())
    }
}

/// Wraps the shared handler state so the server can hold it as a trait object.
pub struct SharedHandler(pub Arc<TestHandler>);

impl RequestHandler for SharedHandler {
    fn handle(&self, request: Bytes, peer: PeerInfo) -> Pin<Box<dyn Future<Output = Bytes> + Send>> {
        let state = self.0.clone();
        Box::pin(async move {
            let _running = state.enter();
            let parsed: Value = match serde_json::from_slice(&request) {
                Ok(value) => value,
                Err(error) => return rejection(ReasonCode::MalformedRequest, error.to_string()),
            };

            match parsed["op"].as_str() {
                Some("sum") => {
                    let Some(values) = parsed["values"].as_array() else {
                        return rejection(ReasonCode::MalformedRequest, "values missing");
                    };
                    let total: i64 = values.iter().filter_map(Value::as_i64).sum();
                    let fingerprint = peer.client_fingerprint.map(|f| f.to_string());
                    json_bytes(json!({
                        "sum": total,
                        "count": values.len(),
                        "client_fingerprint": fingerprint,
                    }))
                }
                Some("sleep") => {
                    let ms = parsed["ms"].as_u64().unwrap_or(0);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    json_bytes(json!({ "slept_ms": ms, "tag": parsed["tag"].clone() }))
                }
                Some("panic") => panic!("test handler asked to panic"),
                _ => rejection(ReasonCode::MalformedRequest, "unknown op"),
            }
        })
    }
}

fn json_bytes(value: Value) -> Bytes {
    Bytes::from(serde_json::to_vec(&value).unwrap())
}

fn rejection(reason: ReasonCode, detail: impl Into<String>) -> Bytes {
    Bytes::from(serde_json::to_vec(&DecisionResponse::rejected(reason, detail)).unwrap())
}

/// A running test server with its handler state.
pub struct TestServer {
    pub handle: ServerHandle,
    pub handler: Arc<TestHandler>,
    pub identity: TlsIdentity,
}

impl TestServer {
    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.identity.fingerprint()
    }
}

pub fn localhost_names() -> Vec<String> {
    vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
}

pub async fn start_server(limits: TransportLimits, client_auth: Option<ClientAuth>) -> TestServer {
    let identity = TlsIdentity::generate_self_signed(&localhost_names()).unwrap();
    start_server_with(identity, limits, client_auth).await
}

pub async fn start_server_with(
    identity: TlsIdentity,
    limits: TransportLimits,
    client_auth: Option<ClientAuth>,
) -> TestServer {
    let handler = Arc::new(TestHandler::default());
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        identity: identity.clone(),
        client_auth,
        limits,
    };
    let handle = start(config, Arc::new(SharedHandler(handler.clone())))
        .await
        .unwrap();
    TestServer {
        handle,
        handler,
        identity,
    }
}

pub fn pinned_config(server: &TestServer) -> ClientConfig {
    ClientConfig {
        server: server.addr(),
        server_name: "localhost".to_owned(),
        trust: ServerTrust::PinnedFingerprint(server.fingerprint()),
        client_identity: None,
        limits: ClientLimits::default(),
    }
}

pub async fn connect(server: &TestServer) -> Client {
    Client::connect(pinned_config(server)).await.unwrap()
}

pub fn sum_request(values: &[i64]) -> Bytes {
    json_bytes(json!({ "op": "sum", "values": values }))
}

pub fn sleep_request(ms: u64, tag: &str) -> Bytes {
    json_bytes(json!({ "op": "sleep", "ms": ms, "tag": tag }))
}

pub fn parse(response: &Bytes) -> Value {
    serde_json::from_slice(response).unwrap()
}

/// Parses a response that must be a transport error frame.
pub fn parse_rejection(response: &Bytes) -> DecisionResponse {
    serde_json::from_slice(response).unwrap()
}

/// Polls `condition` every 10 ms for up to `limit`, returning whether it became true.
pub async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}
