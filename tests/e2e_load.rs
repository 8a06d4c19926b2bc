//! 64 concurrent QUIC connections with a mixed load against one real `axiom serve`.
//!
//! Method: each connection runs its own closed loop for [`LOAD_DURATION`], drawing allow
//! (read and 0.01 payment), escrow, deny, stale, replay and forged requests. Every response
//! must have the verdict and reason code of its kind, and no request may fail in transport.
//! The server's VmRSS is sampled from `/proc` during the run, and its growth from the 30 %
//! mark to the end must stay below [`rss_growth_bound_kib`].

mod support;

use axiom::node::connect::connect_pinned;
use axiom_engine::crypto::AgentKey;
use axiom_engine::model::DecisionResponse;
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::mix::{signed_request, Kind};
use support::*;

/// Concurrent QUIC connections, one client task each.
const CONNECTIONS: usize = 64;
/// Length of the load phase.
const LOAD_DURATION: Duration = Duration::from_secs(10);
/// Interval between VmRSS samples.
const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(200);
/// Interval between bank feed reports; the policy accepts a feed at most 30 s old.
const FEED_INTERVAL: Duration = Duration::from_secs(5);
/// Per-actor rate limit of the test server. It is far above what the debug build can serve,
/// so the limiter never rejects in place of the decision path under test.
const RATE_LIMIT_PER_MINUTE: &str = "6000000";
/// The request kinds of the load, in the proportions they are drawn.
const LOAD_KINDS: [Kind; 7] = [
    Kind::Read,
    Kind::SmallPayment,
    Kind::Escrow,
    Kind::OverBudget,
    Kind::Stale,
    Kind::Replay,
    Kind::Forged,
];

/// What one client task saw.
#[derive(Debug, Default)]
struct TaskReport {
    /// Responses per kind.
    counts: HashMap<Kind, u64>,
    /// Responses whose verdict or reason code was not the expected one.
    mismatches: Vec<String>,
    /// Requests that failed in transport (connect, stream, timeout).
    transport_errors: Vec<String>,
}

/// Allowance for the server's memory growth between the 30 % mark and the end, in KiB.
///
/// The server keeps state for every decision on purpose, bounded by time rather than count:
/// a nonce entry until the certificate expires (4 minutes here), an idempotency entry with
/// the full response, for ESCROW the pending escrow with its intent, and the audit records in
/// fjall's memtables until a flush. None of it is released within a 10 s run, so RSS grows
/// with the decisions made: about 5.5 KiB per decision in one debug-profile run of this test
/// on a 2-core machine, everything included. The allowance is 8 KiB per decision in the
/// interval plus 64 MiB for allocator arenas, QUIC buffers of 64 connections and a memtable
/// rotation. A leak of a connection, a task or a response buffer per request exceeds it.
fn rss_growth_bound_kib(decisions_in_interval: u64) -> u64 {
    64 * 1024 + 8 * decisions_in_interval
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_connections_mixed_load() {
    let dir = TestDir::new();
    let server = ServerProcess::start(&dir, &["--rate-limit-per-minute", RATE_LIMIT_PER_MINUTE]);
    let session = connect_session(&server).await;
    session.ingest_bank_feed().expect("reporting the bank feed");
    let fingerprint: axiom_transport::Fingerprint =
        server.info.tls_fingerprint.parse().expect("server fingerprint");

    let mut clients = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let client = connect_pinned(server.info.quic_addr, fingerprint)
            .await
            .expect("connecting a load client");
        clients.push(client);
    }

    let decided = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + LOAD_DURATION;
    let mut tasks = Vec::with_capacity(CONNECTIONS);
    for (index, client) in clients.into_iter().enumerate() {
        let agent = session.agent.clone();
        let decided = Arc::clone(&decided);
        tasks.push(tokio::spawn(run_client(index, client, agent, deadline, decided)));
    }

    // (seconds since start, RSS in KiB, decisions so far)
    let mut samples: Vec<(f64, u64, u64)> = Vec::new();
    let mut last_feed = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(RSS_SAMPLE_INTERVAL).await;
        let rss = server.rss_kib().expect("reading the server's VmRSS from /proc");
        samples.push((started.elapsed().as_secs_f64(), rss, decided.load(Ordering::Relaxed)));
        if last_feed.elapsed() >= FEED_INTERVAL {
            session.ingest_bank_feed().expect("reporting the bank feed");
            last_feed = Instant::now();
        }
    }

    let mut total = TaskReport::default();
    for task in tasks {
        let report = task.await.expect("a client task panicked");
        for (kind, count) in report.counts {
            *total.counts.entry(kind).or_default() += count;
        }
        total.mismatches.extend(report.mismatches);
        total.transport_errors.extend(report.transport_errors);
    }
    let rss_end = server.rss_kib().expect("reading the server's VmRSS from /proc");
    let decisions_end = decided.load(Ordering::Relaxed);
    session.client.close().await;

    assert!(
        total.transport_errors.is_empty(),
        "{} requests failed in transport, first ones: {:?}",
        total.transport_errors.len(),
        &total.transport_errors[..total.transport_errors.len().min(5)]
    );
    assert!(
        total.mismatches.is_empty(),
        "{} responses had an unexpected verdict, first ones: {:?}",
        total.mismatches.len(),
        &total.mismatches[..total.mismatches.len().min(5)]
    );
    for kind in LOAD_KINDS {
        assert!(
            total.counts.get(&kind).copied().unwrap_or(0) > 0,
            "no {kind:?} request was answered; the mix did not run"
        );
    }

    let mark_s = LOAD_DURATION.as_secs_f64() * 0.3;
    let &(_, rss_mark, decisions_mark) = samples
        .iter()
        .find(|(at_s, _, _)| *at_s >= mark_s)
        .expect("an RSS sample at the 30 % mark");
    let growth_kib = rss_end.saturating_sub(rss_mark);
    let decisions_in_interval = decisions_end.saturating_sub(decisions_mark);
    let bound_kib = rss_growth_bound_kib(decisions_in_interval);
    let responses: u64 = total.counts.values().sum();
    eprintln!(
        "load: {responses} responses in {:.1} s over {CONNECTIONS} connections ({:.0}/s), counts {:?}; \
         VmRSS {} KiB at 30 %, {} KiB at the end, growth {growth_kib} KiB for {decisions_in_interval} decisions (bound {bound_kib} KiB)",
        LOAD_DURATION.as_secs_f64(),
        responses as f64 / LOAD_DURATION.as_secs_f64(),
        total.counts,
        rss_mark,
        rss_end,
    );
    assert!(
        growth_kib < bound_kib,
        "server VmRSS grew {growth_kib} KiB from the 30 % mark to the end, above the bound of {bound_kib} KiB for {decisions_in_interval} decisions; samples (s, KiB, decisions): {samples:?}"
    );

    let status = server.stop();
    assert!(status.success(), "`axiom serve` exited with {status} after SIGTERM");
    verify_chains(&dir.data());
}

/// Sends requests one after another on one connection until `deadline`.
async fn run_client(
    index: usize,
    client: axiom_transport::Client,
    agent: AgentKey,
    deadline: Instant,
    decided: Arc<AtomicU64>,
) -> TaskReport {
    let mut rng = StdRng::seed_from_u64(index as u64);
    let actor_id = format!("load-agent-{index}");
    let mut report = TaskReport::default();
    // Envelopes this connection had accepted, the pool its replays draw from.
    let mut accepted: Vec<Value> = Vec::new();

    while Instant::now() < deadline {
        let mut kind = LOAD_KINDS[rng.gen_range(0..LOAD_KINDS.len())];
        if kind == Kind::Replay && accepted.is_empty() {
            kind = Kind::Read;
        }
        let envelope = if kind == Kind::Replay {
            accepted[rng.gen_range(0..accepted.len())].clone()
        } else {
            signed_request(&agent, kind, &actor_id, None)
        };

        let payload = Bytes::from(serde_json::to_vec(&envelope).expect("encoding a request"));
        let bytes = match client.request(payload).await {
            Ok(bytes) => bytes,
            Err(error) => {
                report.transport_errors.push(format!("connection {index} {kind:?}: {error}"));
                if client.is_closed() {
                    return report;
                }
                continue;
            }
        };
        let response: DecisionResponse = match serde_json::from_slice(&bytes) {
            Ok(response) => response,
            Err(error) => {
                report.mismatches.push(format!("connection {index} {kind:?}: invalid JSON: {error}"));
                continue;
            }
        };

        *report.counts.entry(kind).or_default() += 1;
        if !response.decision_id.is_empty() {
            decided.fetch_add(1, Ordering::Relaxed);
        }
        if (response.verdict, response.reason_code) != kind.expected() {
            report.mismatches.push(format!("connection {index} {kind:?}: {response:?}"));
        } else if kind.consumes_nonce() {
            accepted.push(envelope);
        }
    }
    report
}
