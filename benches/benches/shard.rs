//! Shard round trip (admit + complete) under concurrent senders, and the memory held per
//! million live nonces.
//!
//! Run: `cargo bench -p axiom-benches --bench shard`. The memory figures are printed before
//! the criterion groups run.

use axiom_engine::model::{DecisionResponse, ReasonCode, Verdict};
use axiom_engine::settings::{RuntimeSettings, SettingsSnapshot};
use axiom_engine::shard::{
    unix_now_ms, AdmitOutcome, AdmitRequest, Completion, MemoryRecovery, RecoveredNonce,
    RecoveredState, RecoverySource, ShardConfig, ShardSet, ShardState,
};
use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tenants the benchmark spreads requests over.
const BENCH_TENANTS: u64 = 64;
/// Nonces loaded for the memory figure.
const MEMORY_NONCES: u64 = 1_000_000;

static NEXT_NONCE: AtomicU64 = AtomicU64::new(0);

fn settings() -> Arc<RuntimeSettings> {
    Arc::new(RuntimeSettings::new(SettingsSnapshot {
        rate_limit_per_minute: u64::from(u32::MAX),
        ..SettingsSnapshot::default()
    }))
}

fn next_request(now_ms: i64) -> AdmitRequest {
    let id = NEXT_NONCE.fetch_add(1, Ordering::Relaxed);
    AdmitRequest {
        tenant: format!("tenant-{}", id % BENCH_TENANTS),
        actor_id: format!("agent-{}", id % 1_024),
        kid: "bench-key".to_owned(),
        nonce: format!("bench-nonce-{id:016x}-0123456789abcdef"),
        // Short-lived certificates keep the live set small over a long run.
        cert_expires_at_ms: now_ms + 1_000,
        sequence: None,
        idempotency_key: format!("idem-{id}"),
        intent_hash: [9; 32],
        budget_codes: Vec::new(),
        now_ms,
    }
}

fn allow() -> DecisionResponse {
    DecisionResponse {
        decision_id: "bench".to_owned(),
        verdict: Verdict::Allow,
        reason_code: ReasonCode::Ok,
        retry_after_ms: None,
        shield: None,
        escrow: None,
        counterexample: None,
        detail: None,
        receipt: None,
    }
}

async fn round_trip(shards: &ShardSet) {
    let now_ms = unix_now_ms();
    match shards.admit(next_request(now_ms)).await {
        AdmitOutcome::Admitted(admission) => {
            let completion = Completion {
                response: allow(),
                reservations: Vec::new(),
                now_ms,
            };
            shards.complete(admission, completion).await;
        }
        other => panic!("benchmark request not admitted: {other:?}"),
    }
}

/// A recovery source shaped like the audit-log one: it reads at start and takes no changes.
struct AuditShapedRecovery;

impl RecoverySource for AuditShapedRecovery {
    fn recover(&self, _shard_index: usize) -> Result<RecoveredState, String> {
        Ok(RecoveredState::default())
    }
}

/// Starts the shards in an actix System on its own thread and returns the handle.
/// `journal` selects [`MemoryRecovery`], which takes every state change, over a source
/// that takes none.
fn start_shards(journal: bool) -> ShardSet {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let system = actix_rt::System::new();
        system.block_on(async move {
            let config = ShardConfig {
                shard_count: 16,
                ..ShardConfig::default()
            };
            let recovery: Arc<dyn RecoverySource> = if journal {
                Arc::new(MemoryRecovery::new(config.shard_count))
            } else {
                Arc::new(AuditShapedRecovery)
            };
            let shards = ShardSet::start(config, settings(), recovery).expect("shards start");
            sender.send(shards).expect("benchmark thread waits");
            std::future::pending::<()>().await;
        });
    });
    receiver.recv().expect("shards started")
}

fn bench_round_trip(c: &mut Criterion, journal: bool) {
    let shards = start_shards(journal);
    // The QUIC server's runtime: multi-thread tokio, separate from the shard arbiters.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    let name = if journal {
        "shard_round_trip_memory_journal"
    } else {
        "shard_round_trip"
    };
    let mut group = c.benchmark_group(name);
    group.measurement_time(Duration::from_secs(6));
    for senders in [2u64, 8] {
        group.bench_function(format!("admit_complete_{senders}_senders"), |b| {
            b.iter_custom(|iters| {
                let started = Instant::now();
                runtime.block_on(async {
                    let tasks: Vec<_> = (0..senders)
                        .map(|sender| {
                            let shards = shards.clone();
                            let share = iters / senders + u64::from(sender < iters % senders);
                            tokio::spawn(async move {
                                for _ in 0..share {
                                    round_trip(&shards).await;
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("sender task");
                    }
                });
                started.elapsed()
            });
        });
    }
    group.finish();
}

/// Resident set size of this process, in bytes, from /proc/self/status.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1_024)
}

/// Prints the RSS growth from one million live nonces in one shard's state (nonce windows plus
/// the expiry queue), loaded in chunks so the loading buffers stay small.
fn measure_nonce_memory() {
    let config = ShardConfig {
        nonces_per_shard_max: 2 * MEMORY_NONCES as usize,
        nonces_per_tenant_max: 2 * MEMORY_NONCES as usize,
        ..ShardConfig::default()
    };
    let now_ms = unix_now_ms();
    let mut state = ShardState::new(0, 1, config, settings(), None);
    let before = rss_bytes();

    let chunk = 10_000;
    for start in (0..MEMORY_NONCES).step_by(chunk) {
        let nonces = (start..start + chunk as u64)
            .map(|id| RecoveredNonce {
                tenant: format!("tenant-{}", id % 100),
                nonce: format!("memory-nonce-{id:016x}-0123456789abcdef"),
                expires_at_ms: now_ms + 300_000,
            })
            .collect();
        state.restore(
            RecoveredState {
                nonces,
                ..RecoveredState::default()
            },
            1,
            now_ms,
        );
    }

    let after = rss_bytes();
    let live = state.stats(true).nonces_live;
    match (before, after) {
        (Some(before), Some(after)) => println!(
            "shard memory: {live} live nonces over 100 tenants add {:.1} MiB RSS ({:.0} bytes per nonce)",
            after.saturating_sub(before) as f64 / (1024.0 * 1024.0),
            after.saturating_sub(before) as f64 / live as f64
        ),
        _ => println!("shard memory: /proc/self/status unavailable, no RSS figure"),
    }
    drop(state);
}

fn memory_then_round_trip(c: &mut Criterion) {
    measure_nonce_memory();
    bench_round_trip(c, false);
    bench_round_trip(c, true);
}

criterion_group!(shard, memory_then_round_trip);
criterion_main!(shard);
