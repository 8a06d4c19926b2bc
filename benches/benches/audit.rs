//! Group commit of audit records on a real fjall directory: the cost per record of appending
//! with one fsync per batch, at batch sizes 1, 16, 64 and 256.
//!
//! Each iteration submits `batch` records at once through `try_append` and waits until all of
//! them are durable, so the writer commits them as one batch with one fsync.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axiom_engine::model::{ReasonCode, Verdict};
use axiom_storage::{AuditEntry, AuditWriter, DecisionFields, PersonalData, Store, StoreConfig};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
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

        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(
            BenchmarkId::new("batch", batch),
            &batch,
            |bencher, &batch| {
                bencher.iter(|| {
                    let pending: Vec<_> = (0..batch)
                        .map(|index| writer.try_append(entry(index as u32 % 4)).unwrap())
                        .collect();
                    runtime.block_on(async {
                        for receipt in pending {
                            receipt.await.unwrap();
                        }
                    });
                });
            },
        );
        writer.shutdown().unwrap();
    }
    group.finish();
}

criterion_group!(benches, group_commit);
criterion_main!(benches);
