//! Goal: `verify` finds a flipped byte, a deleted record and two swapped records, and names the
//! damaged record. Method: write a real chain, close the store, tamper through fjall's own API,
//! then run `verify` on the directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axiom_storage::{verify, AuditWriter, Damage};
use fjall::{Database, KeyspaceCreateOptions};
use std::path::Path;

const RECORDS: u64 = 10;

/// Writes `RECORDS` records to shard 0 and 3 to shard 1, then closes everything cleanly.
fn write_chain(dir: &Path) {
    let store = common::open(dir);
    let writer = AuditWriter::start(&store, common::engine_key()).unwrap();
    for seq in 0..RECORDS {
        let entry = common::entry(
            0,
            &format!("d-{seq}"),
            "acme",
            "agent-1",
            1_000 + seq as i64,
        );
        writer.append_blocking(entry).unwrap();
    }
    for seq in 0..3 {
        let entry = common::entry(1, &format!("other-{seq}"), "globex", "agent-2", 2_000);
        writer.append_blocking(entry).unwrap();
    }
    writer.shutdown().unwrap();
}

fn record_key(shard: u32, seq: u64) -> Vec<u8> {
    let mut key = shard.to_be_bytes().to_vec();
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Runs `tamper` on the closed store's audit record keyspace.
fn tamper(dir: &Path, tamper: impl FnOnce(&fjall::Keyspace)) {
    let db = Database::builder(dir).open().unwrap();
    let records = db
        .keyspace("audit_records", KeyspaceCreateOptions::default)
        .unwrap();
    tamper(&records);
    db.persist(fjall::PersistMode::SyncAll).unwrap();
}

#[test]
fn intact_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    write_chain(dir.path());

    let report = verify(dir.path()).unwrap();

    assert!(report.is_intact(), "problems: {:?}", report.problems);
    assert_eq!(report.chains.len(), 2);
    assert_eq!(report.chains[0].records, RECORDS);
    assert_eq!(report.chains[0].last_checkpoint_seq, Some(RECORDS - 1));
    assert!(report.chains[0].checkpoints >= 2);
}

#[test]
fn flipped_byte_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_chain(dir.path());
    tamper(dir.path(), |records| {
        let mut value = records.get(record_key(0, 5)).unwrap().unwrap().to_vec();
        let position = value
            .windows(4)
            .position(|window| window == b"acme")
            .unwrap();
        value[position] ^= 0x01;
        records.insert(record_key(0, 5), value).unwrap();
    });

    let report = verify(dir.path()).unwrap();

    assert_eq!(report.problems.len(), 1, "problems: {:?}", report.problems);
    let problem = &report.problems[0];
    assert_eq!((problem.shard, problem.seq), (0, 5));
    assert_eq!(problem.decision_id.as_deref(), Some("d-5"));
    assert!(
        matches!(problem.damage, Damage::HashMismatch { .. }),
        "{:?}",
        problem.damage
    );
}

#[test]
fn undecodable_record_is_named_from_index() {
    let dir = tempfile::tempdir().unwrap();
    write_chain(dir.path());
    tamper(dir.path(), |records| {
        let mut value = records.get(record_key(0, 2)).unwrap().unwrap().to_vec();
        let last = value.len() - 1;
        value[last] = b'!';
        records.insert(record_key(0, 2), value).unwrap();
    });

    let report = verify(dir.path()).unwrap();

    let problem = &report.problems[0];
    assert_eq!((problem.shard, problem.seq), (0, 2));
    assert_eq!(problem.decision_id.as_deref(), Some("d-2"));
    assert!(
        matches!(problem.damage, Damage::Undecodable { .. }),
        "{:?}",
        problem.damage
    );
}

#[test]
fn deleted_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_chain(dir.path());
    tamper(dir.path(), |records| {
        records.remove(record_key(0, 6)).unwrap()
    });

    let report = verify(dir.path()).unwrap();

    assert_eq!(report.problems.len(), 1, "problems: {:?}", report.problems);
    let problem = &report.problems[0];
    assert_eq!((problem.shard, problem.seq), (0, 6));
    assert_eq!(problem.decision_id.as_deref(), Some("d-6"));
    assert_eq!(
        problem.damage,
        Damage::Missing {
            next_present_seq: 7
        }
    );
}

#[test]
fn deleted_tail_is_caught_by_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    write_chain(dir.path());
    tamper(dir.path(), |records| {
        records.remove(record_key(0, RECORDS - 1)).unwrap()
    });

    let report = verify(dir.path()).unwrap();

    let problem = &report.problems[0];
    assert_eq!((problem.shard, problem.seq), (0, RECORDS - 1));
    assert_eq!(
        problem.damage,
        Damage::CheckpointBeyondHead {
            last_seq: Some(RECORDS - 2)
        }
    );
}

#[test]
fn swapped_records_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write_chain(dir.path());
    tamper(dir.path(), |records| {
        let third = records.get(record_key(0, 3)).unwrap().unwrap();
        let fourth = records.get(record_key(0, 4)).unwrap().unwrap();
        records.insert(record_key(0, 3), fourth).unwrap();
        records.insert(record_key(0, 4), third).unwrap();
    });

    let report = verify(dir.path()).unwrap();

    assert_eq!(report.problems.len(), 1, "problems: {:?}", report.problems);
    let problem = &report.problems[0];
    assert_eq!((problem.shard, problem.seq), (0, 3));
    assert_eq!(problem.decision_id.as_deref(), Some("d-4"));
    assert_eq!(
        problem.damage,
        Damage::Reordered {
            body_shard: 0,
            body_seq: 4
        }
    );
}

#[test]
fn forged_checkpoint_signature_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_chain(dir.path());
    {
        let db = Database::builder(dir.path()).open().unwrap();
        let checkpoints = db
            .keyspace("audit_checkpoints", KeyspaceCreateOptions::default)
            .unwrap();
        let value = checkpoints.get(record_key(0, 3)).unwrap().unwrap();
        let mut checkpoint: serde_json::Value = serde_json::from_slice(&value).unwrap();
        checkpoint["time_ms"] = serde_json::json!(5);
        checkpoints
            .insert(record_key(0, 3), serde_json::to_vec(&checkpoint).unwrap())
            .unwrap();
    }

    let report = verify(dir.path()).unwrap();

    let problem = &report.problems[0];
    assert_eq!((problem.shard, problem.seq), (0, 3));
    assert!(
        matches!(problem.damage, Damage::BadCheckpointSignature { .. }),
        "{:?}",
        problem.damage
    );
}

#[test]
fn damaged_tail_blocks_open() {
    let dir = tempfile::tempdir().unwrap();
    write_chain(dir.path());
    tamper(dir.path(), |records| {
        let mut value = records.get(record_key(1, 2)).unwrap().unwrap().to_vec();
        value[0] ^= 0xff;
        records.insert(record_key(1, 2), value).unwrap();
    });

    let error = axiom_storage::Store::open(dir.path(), common::config()).unwrap_err();

    assert!(error.to_string().contains("shard 1 seq 2"), "{error}");
}
