//! Goal: a record acknowledged by the writer survives a crash. Method: re-run this test binary
//! as a child process that appends records from several threads and prints each receipt as it
//! is acknowledged; the parent kills it with SIGKILL mid-stream, reopens the directory and
//! checks that every printed receipt is there, in its chain position, and that the chain
//! verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axiom_storage::{verify, AuditWriter};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const CHILD_DIR_VAR: &str = "AXIOM_STORAGE_CRASH_CHILD_DIR";
const ACKS_BEFORE_KILL: usize = 150;

#[test]
fn acknowledged_records_survive_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_DIR_VAR) {
        run_child(std::path::Path::new(&dir));
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "acknowledged_records_survive_sigkill",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_VAR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let mut acknowledged = Vec::new();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        let line = line.unwrap();
        let Some(ack) = line.strip_prefix("ACK ") else {
            continue;
        };
        let parts: Vec<&str> = ack.split(' ').collect();
        acknowledged.push((
            parts[0].to_string(),
            parts[1].parse::<u32>().unwrap(),
            parts[2].parse::<u64>().unwrap(),
            parts[3].to_string(),
        ));
        if acknowledged.len() == ACKS_BEFORE_KILL {
            child.kill().unwrap();
            break;
        }
    }
    child.wait().unwrap();
    assert_eq!(
        acknowledged.len(),
        ACKS_BEFORE_KILL,
        "child stopped before {ACKS_BEFORE_KILL} acknowledgements"
    );

    let store = common::open(dir.path());
    for (decision_id, shard, seq, hash) in &acknowledged {
        let record = store
            .audit_record(decision_id)
            .unwrap()
            .unwrap_or_else(|| panic!("{decision_id} lost"));
        assert_eq!((record.shard, record.seq), (*shard, *seq), "{decision_id}");
        assert_eq!(&record.record_hash, hash, "{decision_id}");
    }
    drop(store);
    let report = verify(dir.path()).unwrap();
    assert!(report.is_intact(), "problems: {:?}", report.problems);
}

/// Appends records from four threads forever, printing each receipt once it is durable.
fn run_child(dir: &std::path::Path) {
    let store = common::open(dir);
    let writer = AuditWriter::start(&store, common::engine_key()).unwrap();
    let stdout = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..4u32)
        .map(|thread| {
            let writer = writer.clone();
            let stdout = stdout.clone();
            std::thread::spawn(move || {
                for index in 0.. {
                    let id = format!("c{thread}-{index}");
                    let receipt = writer
                        .append_blocking(common::entry(thread % 2, &id, "acme", "agent", index))
                        .unwrap();
                    let mut out = stdout.lock().unwrap();
                    writeln!(
                        out,
                        "ACK {} {} {} {}",
                        receipt.decision_id, receipt.shard, receipt.seq, receipt.record_hash
                    )
                    .unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}
