//! SIGKILL under load loses no decision a client received and no replay protection.
//!
//! Method: several client tasks send a mix of requests over their own QUIC connections to a
//! real `axiom serve`. After a random 0.3 to 1.5 s the server gets SIGKILL, and it is started
//! again on the same data directory, [`CRASH_CYCLES`] times. Each restart resends certificates
//! accepted before earlier crashes (they must be replays) and the highest sequence the client
//! saw accepted (it must be a sequence replay). At the end the server stops cleanly, and every
//! response that carried a decision id must be in the audit log with the same verdict, on
//! chains that verify.
//!
//! The random seed is printed; set `AXIOM_E2E_SEED` to rerun the same request mix and kill
//! delays (process scheduling still varies).

mod support;

use axiom::node::connect::connect_pinned;
use axiom_engine::crypto::AgentKey;
use axiom_engine::model::{DecisionResponse, ReasonCode, Verdict};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::mix::{signed_request, Kind};
use support::*;

/// Kill-and-restart cycles.
const CRASH_CYCLES: usize = 20;
/// Client tasks sending load, each on its own connection.
const LOAD_TASKS: usize = 4;
/// Shortest and longest load phase before the kill, in milliseconds.
const LOAD_MS_MIN: u64 = 300;
const LOAD_MS_MAX: u64 = 1_500;
/// Certificates from the cycle just before a restart resent after it, at most.
const REPLAYS_RECENT_MAX: usize = 16;
/// Certificates from older cycles resent after each restart.
const REPLAYS_OLDER: usize = 8;
/// Per-actor rate limit of the test server. It is far above what the debug build can serve,
/// so the limiter never rejects in place of the decision path under test.
const RATE_LIMIT_PER_MINUTE: &str = "600000";
/// The request kinds of the load, in the proportions they are drawn.
const LOAD_KINDS: [Kind; 6] = [
    Kind::Read,
    Kind::Read,
    Kind::SmallPayment,
    Kind::Escrow,
    Kind::OverBudget,
    Kind::Stale,
];

/// A response the client received with a decision id.
#[derive(Debug, Clone)]
struct Received {
    cycle: usize,
    kind: Kind,
    envelope: Value,
    response: DecisionResponse,
}

/// Responses whose verdict or reason code was not the one expected for their kind.
type Mismatches = Arc<Mutex<Vec<String>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing() {
    let seed = std::env::var("AXIOM_E2E_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("crash test seed: {seed} (set AXIOM_E2E_SEED={seed} to reuse it)");
    let mut rng = StdRng::seed_from_u64(seed);

    let dir = TestDir::new();
    let received: Arc<Mutex<Vec<Received>>> = Arc::new(Mutex::new(Vec::new()));
    let mismatches: Mismatches = Arc::new(Mutex::new(Vec::new()));
    // Sequences of the sequenced task start at the current time in ms and only grow.
    let next_sequence = Arc::new(AtomicU64::new(u64::try_from(now_s()).unwrap_or(1) * 1_000));
    let acknowledged_sequence = Arc::new(AtomicU64::new(0));
    let mut recovery_wait_max = Duration::ZERO;
    let timeouts = Arc::new(AtomicU64::new(0));

    for cycle in 0..CRASH_CYCLES {
        let server = ServerProcess::start(&dir, &["--rate-limit-per-minute", RATE_LIMIT_PER_MINUTE]);
        let session = connect_session(&server).await;
        session.ingest_bank_feed().expect("reporting the bank feed");
        let waited = Instant::now();
        let (envelope, response) = wait_until_deciding(&session).await;
        recovery_wait_max = recovery_wait_max.max(waited.elapsed());
        received.lock().expect("received list").push(Received {
            cycle,
            kind: Kind::Read,
            envelope,
            response,
        });
        if cycle > 0 {
            check_replays_rejected(&session, &received, cycle, &acknowledged_sequence, &mut rng).await;
        }

        let fingerprint = server.info.tls_fingerprint.parse().expect("server fingerprint");
        let mut tasks = Vec::new();
        for task in 0..LOAD_TASKS {
            let client = connect_pinned(server.info.quic_addr, fingerprint)
                .await
                .expect("connecting a load client");
            let load = LoadTask {
                cycle,
                actor_id: format!("crash-agent-{task}"),
                sequenced: task == 0,
                agent: session.agent.clone(),
                received: Arc::clone(&received),
                mismatches: Arc::clone(&mismatches),
                next_sequence: Arc::clone(&next_sequence),
                acknowledged_sequence: Arc::clone(&acknowledged_sequence),
                timeouts: Arc::clone(&timeouts),
                seed: rng.gen(),
            };
            tasks.push(tokio::spawn(load.run(client)));
        }

        let load_ms = rng.gen_range(LOAD_MS_MIN..=LOAD_MS_MAX);
        tokio::time::sleep(Duration::from_millis(load_ms)).await;
        server.kill();
        // A task records each response before its next await, so aborting the tasks drops
        // only requests still in flight, whose responses were lost with the process.
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        session.client.close().await;
    }

    let server = ServerProcess::start(&dir, &["--rate-limit-per-minute", RATE_LIMIT_PER_MINUTE]);
    let session = connect_session(&server).await;
    let (envelope, response) = wait_until_deciding(&session).await;
    received.lock().expect("received list").push(Received {
        cycle: CRASH_CYCLES,
        kind: Kind::Read,
        envelope,
        response,
    });
    check_replays_rejected(&session, &received, CRASH_CYCLES, &acknowledged_sequence, &mut rng).await;
    session.client.close().await;
    let status = server.stop();
    assert!(status.success(), "`axiom serve` exited with {status} after SIGTERM");

    let mismatches = mismatches.lock().expect("mismatch list").clone();
    assert!(
        mismatches.is_empty(),
        "{} responses had an unexpected verdict, first ones: {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(5)]
    );

    let received = received.lock().expect("received list").clone();
    let cycles_with_responses = (0..CRASH_CYCLES)
        .filter(|cycle| {
            let load_responses = received.iter().filter(|item| item.cycle == *cycle).count();
            // The first response of each cycle is the readiness probe.
            load_responses > 1
        })
        .count();
    assert_eq!(
        cycles_with_responses, CRASH_CYCLES,
        "every cycle must receive responses before its kill, or it tests nothing"
    );

    let report = verify_chains(&dir.data());
    assert!(
        record_count(&report) >= received.len() as u64,
        "the log holds {} records but the clients received {} audited responses",
        record_count(&report),
        received.len()
    );
    let store = open_store(&dir.data());
    let mut seen = std::collections::HashSet::new();
    for item in &received {
        let label = format!("cycle {} {:?}", item.cycle, item.kind);
        assert!(seen.insert(item.response.decision_id.clone()), "{label}: decision id reused");
        let stored = audit_record(&store, &item.response.decision_id, &label);
        assert_eq!(stored.decision.verdict, item.response.verdict, "{label}: audited verdict");
        assert_eq!(stored.decision.reason_code, item.response.reason_code, "{label}: audited reason");
        assert_eq!(
            stored.decision.nonce,
            item.envelope["certificate"]["nonce"].as_str().unwrap_or_default(),
            "{label}: audited nonce"
        );
    }
    eprintln!(
        "crash test: {CRASH_CYCLES} kills, {} audited responses received, {} records on {} chains, longest wait for recovered shards {} ms, {} timeout responses",
        received.len(),
        record_count(&report),
        report.chains.len(),
        recovery_wait_max.as_millis(),
        timeouts.load(Ordering::Relaxed)
    );
}

/// Resends certificates accepted before earlier crashes and the highest acknowledged
/// sequence; every one must be rejected.
async fn check_replays_rejected(
    session: &axiom::node::demo::DemoSession,
    received: &Mutex<Vec<Received>>,
    cycle: usize,
    acknowledged_sequence: &AtomicU64,
    rng: &mut StdRng,
) {
    let accepted: Vec<Received> = received
        .lock()
        .expect("received list")
        .iter()
        .filter(|item| item.kind.consumes_nonce())
        .cloned()
        .collect();
    let (recent, older): (Vec<&Received>, Vec<&Received>) =
        accepted.iter().partition(|item| item.cycle + 1 == cycle);
    let mut sample: Vec<&Received> = Vec::new();
    for _ in 0..REPLAYS_RECENT_MAX.min(recent.len()) {
        sample.push(recent[rng.gen_range(0..recent.len())]);
    }
    for _ in 0..REPLAYS_OLDER.min(older.len()) {
        sample.push(older[rng.gen_range(0..older.len())]);
    }

    for item in sample {
        let response = send_until_decided(session, &item.envelope).await;
        assert_eq!(
            (response.verdict, response.reason_code),
            (Verdict::Deny, ReasonCode::ReplayDetected),
            "restart {cycle}: a {:?} certificate accepted in cycle {} must be a replay: {response:?}",
            item.kind,
            item.cycle
        );
    }

    let mark = acknowledged_sequence.load(Ordering::SeqCst);
    if mark > 0 {
        let envelope = signed_request(&session.agent, Kind::Read, "crash-agent-0", Some(mark));
        let response = send_until_decided(session, &envelope).await;
        assert_eq!(
            (response.verdict, response.reason_code),
            (Verdict::Deny, ReasonCode::SequenceReplay),
            "restart {cycle}: sequence {mark} was accepted before the crash: {response:?}"
        );
    }
}

/// One client task of a cycle.
struct LoadTask {
    cycle: usize,
    actor_id: String,
    /// True for the task whose requests carry increasing sequences.
    sequenced: bool,
    agent: AgentKey,
    received: Arc<Mutex<Vec<Received>>>,
    mismatches: Mismatches,
    next_sequence: Arc<AtomicU64>,
    acknowledged_sequence: Arc<AtomicU64>,
    /// Timeout responses received, which decide nothing.
    timeouts: Arc<AtomicU64>,
    seed: u64,
}

impl LoadTask {
    /// Sends requests one after another until the connection fails (the kill) or the task is
    /// aborted.
    async fn run(self, client: axiom_transport::Client) {
        let mut rng = StdRng::seed_from_u64(self.seed);
        loop {
            let kind = LOAD_KINDS[rng.gen_range(0..LOAD_KINDS.len())];
            let sequence = (self.sequenced && kind == Kind::Read)
                .then(|| self.next_sequence.fetch_add(1, Ordering::SeqCst));
            let envelope = signed_request(&self.agent, kind, &self.actor_id, sequence);
            let payload = Bytes::from(serde_json::to_vec(&envelope).expect("encoding a request"));
            let Ok(bytes) = client.request(payload).await else {
                return;
            };

            let response: DecisionResponse = match serde_json::from_slice(&bytes) {
                Ok(response) => response,
                Err(error) => {
                    self.mismatch(format!("{kind:?}: invalid response JSON: {error}"));
                    continue;
                }
            };
            if is_timeout_answer(&response) {
                // Shards still recovering after the restart (see `send_until_decided`).
                self.timeouts.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if (response.verdict, response.reason_code) != kind.expected() {
                self.mismatch(format!("{kind:?}: {response:?}"));
            }
            if let Some(sequence) = sequence.filter(|_| response.verdict == Verdict::Allow) {
                self.acknowledged_sequence.fetch_max(sequence, Ordering::SeqCst);
            }
            if !response.decision_id.is_empty() {
                self.received.lock().expect("received list").push(Received {
                    cycle: self.cycle,
                    kind,
                    envelope,
                    response,
                });
            }
        }
    }

    fn mismatch(&self, text: String) {
        self.mismatches.lock().expect("mismatch list").push(format!("cycle {} {text}", self.cycle));
    }
}
