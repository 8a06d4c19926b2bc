//! The caller's half of an append: the checks and encodings that need no chain state run on
//! the caller's thread before the entry enters the queue, so the single writer thread only does
//! the work that must follow chain order.

use super::crypto::subject_ref_of;
use super::entry::AuditEntry;
use super::validate::validate_entry;
use crate::error::StorageError;
use crate::store::Store;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// An entry checked and encoded by its caller, waiting for the writer thread.
pub(crate) struct PreparedEntry {
    /// The chain the record joins.
    pub shard: u32,
    pub decision_id: Arc<str>,
    pub tenant: String,
    /// Decision time in Unix milliseconds, checked non-negative.
    pub time_ms: u64,
    /// The sequence stream id and the sequence, when the certificate has one.
    pub sequence: Option<(String, u64)>,
    /// HMAC-SHA256 of the subject id under the store's index key.
    pub subject_ref: [u8; 32],
    /// `serde_json` encoding of the decision fields, spliced into the record body as is.
    pub decision_json: Vec<u8>,
    /// `serde_json` encoding of the personal data, encrypted by the writer under the subject
    /// key, which only the writer thread may create.
    pub personal_json: Vec<u8>,
    /// How many records the writer had committed when the decision index was checked for this
    /// decision id. The writer uses it to tell whether its window of recent ids covers every
    /// record written since that check.
    pub index_checked_at: u64,
}

/// Checks and encodes `entry` for the writer thread.
///
/// Fails with `InvalidInput` for a field that would break a key, and with `AlreadyExists`
/// when the decision index already has a record for the decision id. `committed` is the
/// writer's count of committed records. It is read before the index, so that any record
/// missing from this read is one the writer committed after the count, and so is in its
/// window of recent ids or triggers a second read.
pub(crate) fn prepare(
    entry: AuditEntry,
    store: &Store,
    committed: &AtomicU64,
) -> Result<PreparedEntry, StorageError> {
    validate_entry(&entry)?;
    let AuditEntry {
        shard,
        decision,
        personal,
    } = entry;

    let index_checked_at = committed.load(Ordering::Acquire);
    let known = store
        .inner
        .keyspaces
        .audit_by_decision
        .contains_key(decision.decision_id.as_bytes())
        .map_err(StorageError::fjall("read decision index"))?;
    if known {
        return Err(StorageError::AlreadyExists {
            what: "audit record for decision",
            id: decision.decision_id,
        });
    }

    let subject_ref = subject_ref_of(
        &store.inner.index_key,
        &decision.tenant,
        &personal.actor_id,
    );
    let decision_json = serde_json::to_vec(&decision).map_err(|source| StorageError::Encode {
        what: "audit decision fields",
        source,
    })?;
    let personal_json = serde_json::to_vec(&personal).map_err(|source| StorageError::Encode {
        what: "audit personal data",
        source,
    })?;

    let sequence = match (decision.sequence, decision.sequence_stream) {
        (Some(sequence), Some(stream)) => Some((stream, sequence)),
        _ => None,
    };
    Ok(PreparedEntry {
        shard,
        decision_id: Arc::from(decision.decision_id),
        tenant: decision.tenant,
        // validate_entry rejected negative times.
        time_ms: u64::try_from(decision.time_ms).unwrap_or(0),
        sequence,
        subject_ref,
        decision_json,
        personal_json,
        index_checked_at,
    })
}
