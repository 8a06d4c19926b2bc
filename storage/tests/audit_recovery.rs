//! Goal: after a restart the replay protection comes back: unexpired nonces from the audit
//! tail, sequence marks from their durable keyspace (even beyond the certificate lifetime
//! window) and the next seq of each chain. Method: append, drop without clean shutdown,
//! reopen and call `recovery_state`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axiom_engine::model::{ReasonCode, Verdict};
use axiom_storage::{AuditWriter, RecoveredNonce, RecoveredSequence};

const NOW_MS: i64 = 10_000_000;
const LIFETIME_MS: u64 = 300_000;

#[test]
fn nonces_and_sequences_recovered_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = common::open(dir.path());
        let writer = AuditWriter::start(&store, common::engine_key()).unwrap();

        // Old record, outside the lifetime window: its nonce is gone but its sequence stays.
        let mut old = common::entry(0, "old", "acme", "a", NOW_MS - 1_000_000);
        old.decision.sequence = Some(7);
        old.decision.sequence_stream = Some("stream-old".into());
        writer.append_blocking(old).unwrap();

        let mut live = common::entry(0, "live", "acme", "a", NOW_MS - 1_000);
        live.decision.expires_at = NOW_MS + 50_000;
        live.decision.sequence = Some(41);
        live.decision.sequence_stream = Some("stream-a".into());
        writer.append_blocking(live).unwrap();

        // A lower sequence later on the same stream must not lower the mark.
        let mut lower = common::entry(1, "lower", "acme", "a", NOW_MS - 900);
        lower.decision.expires_at = NOW_MS + 50_000;
        lower.decision.sequence = Some(40);
        lower.decision.sequence_stream = Some("stream-a".into());
        lower.decision.verdict = Verdict::Deny;
        lower.decision.reason_code = ReasonCode::SequenceReplay;
        writer.append_blocking(lower).unwrap();

        let mut expired = common::entry(1, "expired", "globex", "b", NOW_MS - 2_000);
        expired.decision.expires_at = NOW_MS - 1;
        writer.append_blocking(expired).unwrap();

        let mut deferred = common::entry(1, "deferred", "globex", "b", NOW_MS - 500);
        deferred.decision.verdict = Verdict::Defer;
        deferred.decision.reason_code = ReasonCode::SmtUnavailable;
        writer.append_blocking(deferred).unwrap();
        // Dropped without shutdown, as after a crash.
    }

    let store = common::open(dir.path());
    let state = store.recovery_state(NOW_MS, LIFETIME_MS).unwrap();

    let mut nonces = state.nonces.clone();
    nonces.sort_by(|a, b| a.nonce.cmp(&b.nonce));
    assert_eq!(
        nonces,
        vec![
            RecoveredNonce {
                tenant: "acme".into(),
                nonce: "nonce-live".into(),
                expires_at: NOW_MS + 50_000
            },
            RecoveredNonce {
                tenant: "acme".into(),
                nonce: "nonce-lower".into(),
                expires_at: NOW_MS + 50_000
            },
        ]
    );
    let mut sequences = state.sequences.clone();
    sequences.sort_by(|a, b| a.stream_id.cmp(&b.stream_id));
    assert_eq!(
        sequences,
        vec![
            RecoveredSequence {
                tenant: "acme".into(),
                stream_id: "stream-a".into(),
                sequence: 41
            },
            RecoveredSequence {
                tenant: "acme".into(),
                stream_id: "stream-old".into(),
                sequence: 7
            },
        ]
    );
    assert_eq!(state.next_seq.get(&0), Some(&2));
    assert_eq!(state.next_seq.get(&1), Some(&3));
    assert_eq!(state.records_scanned, 4);

    // The chains continue where they stopped.
    let writer = AuditWriter::start(&store, common::engine_key()).unwrap();
    let receipt = writer
        .append_blocking(common::entry(0, "next", "acme", "a", NOW_MS))
        .unwrap();
    assert_eq!(receipt.seq, 2);
}
