//! Rebuilding the shards' replay protection after a restart, from the audit log's recent tail
//! and the durable sequence marks.

use super::chain::check_tails;
use super::index::record_key_suffix;
use super::record::decode_checked;
use crate::error::StorageError;
use crate::keys::{read_text, record_key};
use crate::store::Store;
use axiom_engine::model::Verdict;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A nonce that is still inside its certificate's validity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveredNonce {
    /// The tenant.
    pub tenant: String,
    /// The nonce.
    pub nonce: String,
    /// When the certificate expires, Unix milliseconds; the nonce may be forgotten after.
    pub expires_at: i64,
}

/// The highest accepted sequence of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveredSequence {
    /// The tenant.
    pub tenant: String,
    /// The engine's opaque stream id.
    pub stream_id: String,
    /// The highest sequence recorded; the next must be strictly above.
    pub sequence: u64,
}

/// What the shard actors need before they accept traffic again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveredState {
    /// Nonces of audited certificates that have not expired, except those of DEFER decisions,
    /// which do not consume their nonce.
    pub nonces: Vec<RecoveredNonce>,
    /// Every stream's sequence high-water mark, from the durable marks.
    pub sequences: Vec<RecoveredSequence>,
    /// Seq the next record of each shard gets.
    pub next_seq: BTreeMap<u32, u64>,
    /// Number of records read from the tail.
    pub records_scanned: u64,
}

impl Store {
    /// Collects what replay protection needs after a restart.
    ///
    /// A certificate still valid at `now_ms` expires after it and was issued at most
    /// `max_cert_lifetime_ms` before its expiry, so it was decided at or after
    /// `now_ms - max_cert_lifetime_ms`; only records from then on are read, through the time
    /// index. Pass the acceptance TTL plus the allowed clock skew as the lifetime.
    pub fn recovery_state(
        &self,
        now_ms: i64,
        max_cert_lifetime_ms: u64,
    ) -> Result<RecoveredState, StorageError> {
        let keyspaces = &self.inner.keyspaces;
        let lifetime = i64::try_from(max_cert_lifetime_ms).unwrap_or(i64::MAX);
        let from_ms = u64::try_from(now_ms.saturating_sub(lifetime)).unwrap_or(0);

        let mut state = RecoveredState::default();
        for guard in keyspaces.audit_by_time.range(from_ms.to_be_bytes()..) {
            let key = guard
                .key()
                .map_err(StorageError::fjall("scan time index"))?;
            let Some((shard, seq)) = record_key_suffix(&key) else {
                return Err(StorageError::corrupt("time index key", "is too short"));
            };
            let Some(value) = keyspaces
                .audit_records
                .get(record_key(shard, seq))
                .map_err(StorageError::fjall("read audit record"))?
            else {
                return Err(StorageError::corrupt(
                    format!("audit record shard {shard} seq {seq}"),
                    "is indexed but missing",
                ));
            };
            let decision = decode_checked(shard, seq, &value)?.body.decision;
            state.records_scanned += 1;
            if decision.expires_at > now_ms
                && decision.verdict != Verdict::Defer
                && !decision.nonce.is_empty()
            {
                state.nonces.push(RecoveredNonce {
                    tenant: decision.tenant,
                    nonce: decision.nonce,
                    expires_at: decision.expires_at,
                });
            }
        }

        for guard in keyspaces.sequence_marks.iter() {
            let (key, value) = guard
                .into_inner()
                .map_err(StorageError::fjall("scan sequence marks"))?;
            let parsed = read_text(&key, 0).and_then(|(tenant, next)| {
                read_text(&key, next).map(|(stream, _)| (tenant, stream))
            });
            let sequence = <[u8; 8]>::try_from(value.as_ref())
                .ok()
                .map(u64::from_be_bytes);
            let (Some((tenant, stream_id)), Some(sequence)) = (parsed, sequence) else {
                return Err(StorageError::corrupt(
                    "sequence mark",
                    "key or value is malformed",
                ));
            };
            state.sequences.push(RecoveredSequence {
                tenant,
                stream_id,
                sequence,
            });
        }

        for (shard, head) in check_tails(keyspaces, 1)? {
            state.next_seq.insert(shard, head.next_seq);
        }
        tracing::info!(
            nonces = state.nonces.len(),
            sequences = state.sequences.len(),
            records_scanned = state.records_scanned,
            "replay state recovered from the audit log"
        );
        Ok(state)
    }
}
