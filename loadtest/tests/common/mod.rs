//! A small real decision server for the load tests: axiom's QUIC transport on 127.0.0.1 with
//! a handler that checks signatures and nonces for real and answers verdict-shaped JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#![allow(dead_code)]

use axiom_engine::crypto::{base64url_decode, certificate_signing_input, verify_strict, PublicKey};
use axiom_engine::model::{DecisionResponse, ReasonCode, Verdict};
use axiom_loadtest::{ActorIdentity, Agent, RunConfig};
use axiom_transport::{start, PeerInfo, RequestHandler, ServerConfig, ServerHandle, TlsIdentity, TransportLimits};
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// State of the test handler.
pub struct DecisionHandler {
    /// Public key of the one agent the server knows.
    public_key: PublicKey,
    /// Nonces already accepted, for replay detection.
    nonces: Mutex<HashSet<String>>,
    /// Service time added to every request, in microseconds.
    pub delay_us: AtomicU64,
    /// A pause window: requests arriving inside it wait until its end.
    pub stall: Mutex<Option<(Instant, Duration)>>,
    /// Requests handled.
    pub calls: AtomicU64,
    /// A single worker: when set, each request holds it for `delay_us`, so the server answers
    /// at most `1e6 / delay_us` requests per second.
    pub serial: Option<tokio::sync::Semaphore>,
}

impl DecisionHandler {
    fn decide(&self, request: &[u8]) -> DecisionResponse {
        let Ok(envelope) = serde_json::from_slice::<Value>(request) else {
            return DecisionResponse::rejected(ReasonCode::MalformedRequest, "not JSON");
        };
        let Some(mut certificate) = envelope["certificate"].as_object().cloned() else {
            return DecisionResponse::rejected(ReasonCode::MalformedRequest, "certificate missing");
        };
        let sig = certificate.remove("sig").and_then(|sig| sig.as_str().map(str::to_owned)).unwrap_or_default();
        let signature = base64url_decode(&sig).unwrap_or_default();
        let input = certificate_signing_input(&certificate);
        let verdict = |verdict, reason| {
            let mut response = DecisionResponse::rejected(reason, "");
            response.verdict = verdict;
            response.detail = None;
            response.decision_id = "d".to_owned();
            response
        };
        if verify_strict(&self.public_key, &input, &signature).is_err() {
            return verdict(Verdict::Deny, ReasonCode::BadSignature);
        }

        let nonce = certificate["nonce"].as_str().unwrap_or_default().to_owned();
        let fresh = self.nonces.lock().unwrap().insert(nonce);
        if !fresh {
            return verdict(Verdict::Deny, ReasonCode::ReplayDetected);
        }
        verdict(Verdict::Allow, ReasonCode::Ok)
    }

    async fn wait_out_stall(&self) {
        let end = match *self.stall.lock().unwrap() {
            Some((start, length)) if Instant::now() >= start && Instant::now() < start + length => Some(start + length),
            _ => None,
        };
        if let Some(end) = end {
            tokio::time::sleep_until(tokio::time::Instant::from_std(end)).await;
        }
    }
}

struct Shared(Arc<DecisionHandler>);

impl RequestHandler for Shared {
    fn handle(&self, request: Bytes, _peer: PeerInfo) -> Pin<Box<dyn Future<Output = Bytes> + Send>> {
        let state = self.0.clone();
        Box::pin(async move {
            state.calls.fetch_add(1, Ordering::Relaxed);
            state.wait_out_stall().await;
            let delay_us = state.delay_us.load(Ordering::Relaxed);
            let _worker = match &state.serial {
                Some(worker) => Some(worker.acquire().await.unwrap()),
                None => None,
            };
            if delay_us > 0 {
                tokio::time::sleep(Duration::from_micros(delay_us)).await;
            }
            Bytes::from(serde_json::to_vec(&state.decide(&request)).unwrap())
        })
    }
}

/// A running test server and the agent it trusts.
pub struct TestServer {
    pub handle: ServerHandle,
    pub handler: Arc<DecisionHandler>,
    pub agent: Agent,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(false).await
    }

    /// Starts a server that handles one request at a time when `serial` is true.
    pub async fn start_with(serial: bool) -> TestServer {
        let agent = Agent::generate(ActorIdentity {
            tenant: "tenant-load".into(),
            actor: "agent-load".into(),
        });
        let handler = Arc::new(DecisionHandler {
            public_key: agent.key.key_pair().public_key(),
            nonces: Mutex::new(HashSet::new()),
            delay_us: AtomicU64::new(0),
            stall: Mutex::new(None),
            calls: AtomicU64::new(0),
            serial: serial.then(|| tokio::sync::Semaphore::new(1)),
        });
        let config = ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            identity: TlsIdentity::generate_self_signed(&["localhost".to_owned()]).unwrap(),
            client_auth: None,
            limits: TransportLimits::default(),
        };
        let handle = start(config, Arc::new(Shared(handler.clone()))).await.unwrap();
        TestServer { handle, handler, agent }
    }

    /// A run configuration against this server, with short phases for tests.
    pub fn run_config(&self) -> RunConfig {
        let mut config = RunConfig::new(self.handle.local_addr(), self.handle.fingerprint().to_string());
        config.warmup = Duration::from_millis(500);
        config.duration = Duration::from_secs(3);
        config.connections = 2;
        config.request_timeout_ms = 2_000;
        config.mix = "allow=1".parse().unwrap();
        config
    }

    pub async fn stop(&self) {
        self.handle.shutdown(Duration::from_secs(1)).await;
    }
}

/// Serializes the timing-sensitive tests of one file, so they do not share the two cores.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
