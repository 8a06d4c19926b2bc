//! Group commit of audit records on a real fjall directory: the cost per record of appending
//! with one fsync per batch, at batch sizes 1, 16, 64 and 256.
//!
//! Each iteration submits `batch` records at once through `try_append` and waits until all of
//! them are durable, so the writer commits them as one batch with one fsync. The entries are
//! built outside the timed routine, because building them is the engine's work, not the log's.
//!
//! After each batch size the bench prints the writer thread's CPU time per record, warm-up
//! included, read from Linux's `/proc/self/task/*/schedstat`. That figure leaves out the fsync wait, which on a
//! shared virtual disk varies far more than the writer's own work.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axiom_engine::model::{ReasonCode, Verdict};
use axiom_storage::{AuditEntry, AuditWriter, DecisionFields, PersonalData, Store, StoreConfig};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use ed25519_dalek::SigningKey;
use std::sync::atomic::{AtomicU64, Ordering};

const BATCH_SIZES: [usize; 4] = [1, 16, 64, 256];

static NEXT_DECISION: AtomicU64 = AtomicU64::new(0);

/// A realistic entry: about 1 KiB once encoded and encrypted.
fn entry(shard: u32) -> AuditEntry {
    let id = NEXT_DECISION.fetch_add(1, Ordering::Relaxed);
    let decision_id = format!("01J0000000000000000000{id:010}");
    AuditEntry {
        shard,
        decision: DecisionFields {
            decision_id: decision_id.clone(),
            tenant: "acme".into(),
            kid: "kid-2024-01".into(),
            cert_id: format!("cert-{id}"),
            nonce: format!("bm9uY2Ut{id:016}"),
            expires_at: 1_700_000_060_000,
            sequence: Some(id),
            sequence_stream: Some("9f".repeat(16)),
            policy_set_id: Some("finance-v18".into()),
            intent_hash: "ab".repeat(32),
            verdict: Verdict::Allow,
            reason_code: ReasonCode::Ok,
            time_ms: 1_700_000_000_000,
            escrow_id: None,
            facts: serde_json::json!({"source.bank.age_sec": 3, "budget.AP.remaining": "120000.00"}),
            response: serde_json::json!({"decision_id": decision_id, "verdict": "ALLOW", "reason_code": "OK"}),
        },
        personal: PersonalData {
            actor_id: "agent-finance-7".into(),
            params: serde_json::json!({"amount": "1200.50", "invoice": "INV-2024-0042", "payee": "ACME Supplies"}),
        },
    }
}

/// Name of the writer thread as Linux shows it (the first 15 bytes of `axiom-audit-writer`).
const WRITER_THREAD_COMM: &str = "axiom-audit-wri";

/// On-CPU time of the audit writer thread so far, in nanoseconds, from the first field of its
/// `schedstat`. None when the thread or the file is not there (not Linux, or no writer running).
fn writer_cpu_ns() -> Option<u64> {
    // Threads come and go while the directory is read, so an unreadable entry is skipped.
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let path = task.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if comm.trim_end() != WRITER_THREAD_COMM {
            continue;
        }
        let schedstat = std::fs::read_to_string(path.join("schedstat")).ok()?;
        return schedstat.split_whitespace().next()?.parse().ok();
    }
    None
}

fn group_commit(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("audit_append");
    group.sample_size(20);

    for batch in BATCH_SIZES {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            audit_batch_records_max: batch,
            audit_batch_wait_us: 2_000,
            audit_queue_records_max: batch * 2,
            ..StoreConfig::default()
        };
        let store = Store::open(dir.path(), config).unwrap();
        let writer = AuditWriter::start(&store, SigningKey::from_bytes(&[7u8; 32])).unwrap();

        let records_before = NEXT_DECISION.load(Ordering::Relaxed);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(
            BenchmarkId::new("batch", batch),
            &batch,
            |bencher, &batch| {
                bencher.iter_batched(
                    || {
                        (0..batch)
                            .map(|index| entry(index as u32 % 4))
                            .collect::<Vec<_>>()
                    },
                    |entries| {
                        let pending: Vec<_> = entries
                            .into_iter()
                            .map(|entry| writer.try_append(entry).unwrap())
                            .collect();
                        runtime.block_on(async {
                            for receipt in pending {
                                receipt.await.unwrap();
                            }
                        });
                    },
                    BatchSize::SmallInput,
                );
            },
        );
        let records = NEXT_DECISION.load(Ordering::Relaxed) - records_before;
        // The thread was started for this batch size and had done no work before it, so its
        // whole CPU time counts. It names itself only once it runs, which is why it is not
        // looked up right after the start.
        // A filtered-out batch size appended nothing and has nothing to report.
        if let (true, Some(cpu_ns)) = (records > 0, writer_cpu_ns()) {
            let per_record_ns = cpu_ns / records.max(1);
            println!(
                "audit_append/batch/{batch}: writer thread CPU {:.1} µs per record over {records} records",
                per_record_ns as f64 / 1000.0
            );
        }
        writer.shutdown().unwrap();
    }
    group.finish();
}

criterion_group!(benches, group_commit);
criterion_main!(benches);
