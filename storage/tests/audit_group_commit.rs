//! Goal: under many concurrent appenders every acknowledged record is present, in chain order,
//! after reopen; a full queue sheds with `QueueFull`; invalid entries fail alone.
//! Method: real writer on a real fjall directory, tokio tasks appending at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axiom_storage::{verify, AuditReceipt, AuditWriter, StorageError, Store, StoreConfig};
use std::collections::BTreeMap;

const TASKS: usize = 16;
const RECORDS_PER_TASK: usize = 40;
const SHARDS: u32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_all_present_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let writer = AuditWriter::start(&store, common::engine_key()).unwrap();

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move {
            let mut receipts = Vec::new();
            for index in 0..RECORDS_PER_TASK {
                let shard = (task as u32 + index as u32) % SHARDS;
                let id = format!("t{task}-r{index}");
                let entry = common::entry(
                    shard,
                    &id,
                    "acme",
                    &format!("agent-{task}"),
                    10_000 + index as i64,
                );
                receipts.push(writer.append(entry).await.unwrap());
            }
            receipts
        }));
    }
    let mut receipts: Vec<AuditReceipt> = Vec::new();
    for task in tasks {
        receipts.extend(task.await.unwrap());
    }
    drop(writer);
    drop(store);

    // Every shard's seqs must be exactly 0..n, each given once.
    let mut per_shard: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for receipt in &receipts {
        per_shard
            .entry(receipt.shard)
            .or_default()
            .push(receipt.seq);
    }
    for (shard, seqs) in &mut per_shard {
        seqs.sort_unstable();
        let expected: Vec<u64> = (0..seqs.len() as u64).collect();
        assert_eq!(*seqs, expected, "shard {shard}");
    }

    let store = common::open(dir.path());
    for receipt in &receipts {
        let record = store.audit_record(&receipt.decision_id).unwrap().unwrap();
        assert_eq!((record.shard, record.seq), (receipt.shard, receipt.seq));
        assert_eq!(record.record_hash, receipt.record_hash);
    }
    drop(store);
    let report = verify(dir.path()).unwrap();
    assert!(report.is_intact(), "problems: {:?}", report.problems);
    let total: u64 = report.chains.iter().map(|chain| chain.records).sum();
    assert_eq!(total, (TASKS * RECORDS_PER_TASK) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_sheds_and_keeps_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        audit_queue_records_max: 1,
        audit_batch_records_max: 1,
        audit_batch_wait_us: 0,
        ..common::config()
    };
    let store = Store::open(dir.path(), config).unwrap();
    let writer = AuditWriter::start(&store, common::engine_key()).unwrap();

    let mut accepted = Vec::new();
    let mut shed = 0;
    for index in 0..200 {
        match writer.try_append(common::entry(0, &format!("d-{index}"), "acme", "a", 1)) {
            Ok(pending) => accepted.push(pending),
            Err(StorageError::QueueFull { capacity }) => {
                assert_eq!(capacity, 1);
                shed += 1;
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert!(
        shed > 0,
        "200 appends into a queue of 1 never found it full"
    );

    let count = accepted.len();
    for pending in accepted {
        pending.await.unwrap();
    }
    assert_eq!(store.audit_tail(1000).unwrap().len(), count);
}

#[test]
fn invalid_entry_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let writer = AuditWriter::start(&store, common::engine_key()).unwrap();

    let mut long_tenant = common::entry(0, "bad", &"t".repeat(10_000), "a", 1);
    long_tenant.decision.time_ms = 1;
    let error = writer.append_blocking(long_tenant).unwrap_err();
    assert!(
        matches!(
            error,
            StorageError::InvalidInput {
                field: "tenant",
                ..
            }
        ),
        "{error}"
    );

    writer
        .append_blocking(common::entry(0, "dup", "acme", "a", 1))
        .unwrap();
    let duplicate = writer
        .append_blocking(common::entry(0, "dup", "acme", "a", 2))
        .unwrap_err();
    assert!(
        matches!(duplicate, StorageError::AlreadyExists { .. }),
        "{duplicate}"
    );

    let good = writer
        .append_blocking(common::entry(0, "good", "acme", "a", 3))
        .unwrap();
    assert_eq!(good.seq, 1);
}

#[test]
fn second_writer_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let _writer = AuditWriter::start(&store, common::engine_key()).unwrap();

    let error = AuditWriter::start(&store, common::engine_key()).unwrap_err();

    assert!(matches!(error, StorageError::WriterAlreadyRunning));
}

#[test]
fn second_open_reports_lock() {
    let dir = tempfile::tempdir().unwrap();
    let _store = common::open(dir.path());

    let error = Store::open(dir.path(), common::config()).unwrap_err();

    assert!(matches!(error, StorageError::Locked { .. }), "{error}");
    assert!(error.to_string().contains("locked by another process"));
}
