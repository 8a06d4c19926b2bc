//! One group commit: stage prepared entries as they arrive into records, indexes, sequence
//! marks and due checkpoints, write them in one fjall batch, fsync once, then reply to every
//! caller.

use super::cache::{
    BoundedMap, RecentDecisionIds, RECENT_DECISION_IDS_MAX, SEQUENCE_MARKS_CACHED_MAX,
    SUBJECT_KEYS_CACHED_MAX,
};
use super::chain::{ChainHead, Checkpoint};
use super::crypto::{new_subject_key, seal, subject_ref, KEY_ID_BYTES};
use super::entry::{AuditReceipt, SubjectId};
use super::index::{actor_index_key, sequence_mark_key, tenant_index_key, time_index_key};
use super::prepared::PreparedEntry;
use super::record::{encode_record_parts, BodyParts};
use super::writer::ReplySender;
use crate::config::StoreConfig;
use crate::error::StorageError;
use crate::keys::record_key;
use crate::store::{Store, META_ENGINE_KEY_PREFIX};
use ed25519_dalek::SigningKey;
use fjall::{OwnedWriteBatch, PersistMode};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A subject key id and the 256-bit key.
type SubjectKey = ([u8; KEY_ID_BYTES], [u8; 32]);

/// A prepared entry with its caller's reply slot.
pub(crate) struct Pending {
    pub entry: Box<PreparedEntry>,
    pub reply: ReplySender,
}

/// The writer thread's state: the chain heads it owns, the engine key, and the in-memory
/// copies of the durable state that staging reads.
pub(crate) struct BatchWriter {
    store: Store,
    engine_key: SigningKey,
    heads: BTreeMap<u32, ChainHead>,
    /// Live subject keys by subject reference; an erasure removes its subject's entry.
    subject_keys: BoundedMap<[u8; 32], SubjectKey>,
    /// Durable sequence marks by mark key.
    sequence_marks: BoundedMap<Vec<u8>, u64>,
    recent_ids: RecentDecisionIds,
    /// Count of committed records, published for callers' duplicate checks; always equal to
    /// `recent_ids.committed()` once a commit returns.
    committed: Arc<AtomicU64>,
}

/// What one accepted entry adds to the batch, kept until the commit result is known.
struct Accepted {
    reply: ReplySender,
    receipt: AuditReceipt,
    decision_id: Arc<str>,
}

/// A group commit being built. Nothing in it is visible to readers or to the writer's caches
/// until [`BatchWriter::commit`] has written and fsynced it.
pub(crate) struct StagedBatch {
    batch: OwnedWriteBatch,
    /// Chain heads after the staged records.
    heads: BTreeMap<u32, ChainHead>,
    accepted: Vec<Accepted>,
    /// Decision ids staged in this batch, so a duplicate inside one batch is caught too.
    decision_ids: HashSet<Arc<str>>,
    /// Subject keys created in this batch; they join the cache only once they are durable.
    new_subject_keys: HashMap<[u8; 32], SubjectKey>,
    /// Sequence marks raised in this batch.
    sequence_marks: HashMap<Vec<u8>, u64>,
    /// Entries received, accepted or not, for the batch size limit.
    received: usize,
}

impl StagedBatch {
    /// Entries received into this batch, accepted or not.
    pub fn received(&self) -> usize {
        self.received
    }
}

impl BatchWriter {
    /// Registers the engine's public key and takes over the chain heads found at open.
    /// `committed` must start at 0; the writer publishes its commit count there.
    pub fn new(
        store: Store,
        engine_key: SigningKey,
        committed: Arc<AtomicU64>,
    ) -> Result<BatchWriter, StorageError> {
        let heads = store.inner.heads_at_open.clone();

        let public_key = engine_key.verifying_key();
        let mut meta_key = META_ENGINE_KEY_PREFIX.to_vec();
        meta_key.extend_from_slice(public_key.as_bytes());
        let mut batch = store
            .inner
            .db
            .batch()
            .durability(Some(PersistMode::SyncAll));
        batch.insert(&store.inner.keyspaces.meta, meta_key, Vec::new());
        batch
            .commit()
            .map_err(StorageError::fjall("register engine public key"))?;

        Ok(BatchWriter {
            store,
            engine_key,
            heads,
            subject_keys: BoundedMap::new(SUBJECT_KEYS_CACHED_MAX),
            sequence_marks: BoundedMap::new(SEQUENCE_MARKS_CACHED_MAX),
            recent_ids: RecentDecisionIds::new(RECENT_DECISION_IDS_MAX),
            committed,
        })
    }

    /// Shrinks the window of recent decision ids, so a test can overrun it with few records.
    #[cfg(test)]
    fn set_recent_window(&mut self, capacity: usize) {
        self.recent_ids = RecentDecisionIds::new(capacity);
    }

    pub fn config(&self) -> &StoreConfig {
        self.store.config()
    }

    /// Releases the store's writer slot so a new writer may start.
    pub fn stop(&self) {
        self.store
            .inner
            .writer_running
            .store(false, Ordering::SeqCst);
    }

    /// Opens an empty group commit on top of the current chain heads.
    pub fn open_batch(&self) -> StagedBatch {
        StagedBatch {
            batch: self
                .store
                .inner
                .db
                .batch()
                .durability(Some(PersistMode::SyncAll)),
            heads: self.heads.clone(),
            accepted: Vec::new(),
            decision_ids: HashSet::new(),
            new_subject_keys: HashMap::new(),
            sequence_marks: HashMap::new(),
            received: 0,
        }
    }

    /// Adds one entry to `staged`, or replies at once with the reason it was rejected.
    pub fn stage(&mut self, staged: &mut StagedBatch, pending: Pending) {
        let Pending { entry, reply } = pending;
        staged.received += 1;
        match self.stage_entry(staged, &entry) {
            Ok(receipt) => {
                staged.decision_ids.insert(entry.decision_id.clone());
                staged.accepted.push(Accepted {
                    reply,
                    receipt,
                    decision_id: entry.decision_id.clone(),
                });
            }
            Err(error) => {
                tracing::warn!(decision_id = %entry.decision_id, %error, "audit entry rejected");
                let _ = reply.send(Err(error));
            }
        }
    }

    /// Writes every staged record in one fsynced batch and replies to each caller: a receipt
    /// only after the fsync returned, and the write error for every record when the write or
    /// the fsync fails. The caches and chain heads advance only on success.
    pub fn commit(&mut self, staged: StagedBatch) {
        let StagedBatch {
            mut batch,
            heads,
            accepted,
            new_subject_keys,
            sequence_marks,
            ..
        } = staged;
        if accepted.is_empty() {
            return;
        }

        let keyspaces = &self.store.inner.keyspaces;
        for (key, sequence) in &sequence_marks {
            batch.insert(
                &keyspaces.sequence_marks,
                key.clone(),
                sequence.to_be_bytes().to_vec(),
            );
        }

        let records = accepted.len();
        match batch.commit() {
            Ok(()) => {
                self.heads = heads;
                for (subject_ref, key) in new_subject_keys {
                    self.subject_keys.insert(subject_ref, key);
                }
                for (key, sequence) in sequence_marks {
                    self.sequence_marks.insert(key, sequence);
                }
                for Accepted { decision_id, .. } in &accepted {
                    self.recent_ids.push(decision_id.clone());
                }
                self.committed
                    .store(self.recent_ids.committed(), Ordering::Release);

                tracing::debug!(records, "audit batch durable");
                for Accepted { reply, receipt, .. } in accepted {
                    let _ = reply.send(Ok(receipt));
                }
            }
            Err(error) => {
                let message = error.to_string();
                tracing::error!(records, error = %message, "audit batch write failed; no record acknowledged");
                for Accepted { reply, .. } in accepted {
                    let _ = reply.send(Err(StorageError::WriteFailed {
                        message: message.clone(),
                    }));
                }
            }
        }
    }

    /// Adds one entry's record, indexes and due checkpoint to the batch and advances the
    /// staged head of its chain.
    fn stage_entry(
        &mut self,
        staged: &mut StagedBatch,
        entry: &PreparedEntry,
    ) -> Result<AuditReceipt, StorageError> {
        self.check_new_decision(staged, entry)?;

        let (key_id, key) = self.subject_key(staged, &entry.subject_ref)?;
        let Some((nonce, ciphertext)) = seal(&key, &entry.decision_id, &entry.personal_json)
        else {
            return Err(StorageError::Encrypt {
                decision_id: entry.decision_id.to_string(),
            });
        };

        let head = staged
            .heads
            .get(&entry.shard)
            .copied()
            .unwrap_or_else(ChainHead::genesis);
        let seq = head.next_seq;
        let (value, hash) = encode_record_parts(&BodyParts {
            shard: entry.shard,
            seq,
            prev_hash: &head.head_hash,
            decision_json: &entry.decision_json,
            subject_ref: &entry.subject_ref,
            key_id: &key_id,
            nonce: &nonce,
            ciphertext: &ciphertext,
        });
        let record_bytes_max = self.config().audit_record_bytes_max;
        let body_bytes = value.len() - 32;
        if body_bytes > record_bytes_max {
            return Err(StorageError::invalid(
                "audit entry",
                format!("encodes to {body_bytes} bytes, above the limit of {record_bytes_max}"),
            ));
        }

        let keyspaces = &self.store.inner.keyspaces;
        let batch = &mut staged.batch;
        let record_key = record_key(entry.shard, seq);
        batch.insert(&keyspaces.audit_records, record_key, value);
        batch.insert(
            &keyspaces.audit_by_decision,
            entry.decision_id.as_bytes(),
            record_key.to_vec(),
        );
        batch.insert(
            &keyspaces.audit_by_tenant,
            tenant_index_key(&entry.tenant, entry.time_ms, entry.shard, seq),
            Vec::new(),
        );
        batch.insert(
            &keyspaces.audit_by_actor,
            actor_index_key(&entry.subject_ref, entry.time_ms, entry.shard, seq),
            Vec::new(),
        );
        batch.insert(
            &keyspaces.audit_by_time,
            time_index_key(entry.time_ms, entry.shard, seq),
            Vec::new(),
        );
        self.stage_sequence_mark(staged, entry)?;

        let mut next_head = ChainHead {
            next_seq: seq + 1,
            head_hash: hash,
            checkpoint_seq: head.checkpoint_seq,
        };
        let interval = self.config().audit_checkpoint_interval_records.max(1);
        if (seq + 1) % interval == 0 {
            // The time is the caller's, checked non-negative, so it always fits.
            let time_ms = i64::try_from(entry.time_ms).unwrap_or(i64::MAX);
            self.stage_checkpoint(&mut staged.batch, entry.shard, seq, &hash, time_ms)?;
            next_head.checkpoint_seq = Some(seq);
        }
        staged.heads.insert(entry.shard, next_head);

        Ok(AuditReceipt {
            decision_id: entry.decision_id.to_string(),
            shard: entry.shard,
            seq,
            record_hash: hex::encode(hash),
        })
    }

    /// Fails with `AlreadyExists` when the decision id has a record already, staged or
    /// durable. A decision id is written once: a second record would make the index ambiguous.
    ///
    /// The caller checked the decision index before queueing. Every record committed since
    /// then is in the recent window unless more than the window holds were committed in
    /// between, and only in that case is the index read again here.
    fn check_new_decision(
        &self,
        staged: &StagedBatch,
        entry: &PreparedEntry,
    ) -> Result<(), StorageError> {
        let decision_id: &str = &entry.decision_id;
        let mut known =
            staged.decision_ids.contains(decision_id) || self.recent_ids.contains(decision_id);
        if !known && !self.recent_ids.covers_since(entry.index_checked_at) {
            known = self
                .store
                .inner
                .keyspaces
                .audit_by_decision
                .contains_key(decision_id.as_bytes())
                .map_err(StorageError::fjall("read decision index"))?;
        }
        if known {
            return Err(StorageError::AlreadyExists {
                what: "audit record for decision",
                id: decision_id.to_string(),
            });
        }
        Ok(())
    }

    /// Finds the subject's live key: staged in this batch, cached, stored, or else created
    /// and staged.
    fn subject_key(
        &mut self,
        staged: &mut StagedBatch,
        subject_ref: &[u8; 32],
    ) -> Result<SubjectKey, StorageError> {
        if let Some(found) = staged.new_subject_keys.get(subject_ref) {
            return Ok(*found);
        }
        if let Some(found) = self.subject_keys.get(subject_ref) {
            return Ok(*found);
        }
        if let Some(found) = live_subject_key(&self.store, subject_ref)? {
            self.subject_keys.insert(*subject_ref, found);
            return Ok(found);
        }

        let created = new_subject_key();
        staged.batch.insert(
            &self.store.inner.keyspaces.subject_keys,
            subject_key_key(subject_ref, &created.0),
            created.1.to_vec(),
        );
        staged.new_subject_keys.insert(*subject_ref, created);
        Ok(created)
    }

    /// Raises the stream's durable high-water mark when this record's sequence is above it.
    fn stage_sequence_mark(
        &mut self,
        staged: &mut StagedBatch,
        entry: &PreparedEntry,
    ) -> Result<(), StorageError> {
        let Some((stream, sequence)) = &entry.sequence else {
            return Ok(());
        };
        let key = sequence_mark_key(&entry.tenant, stream);
        let current = match staged.sequence_marks.get(&key) {
            Some(staged_mark) => Some(*staged_mark),
            None => match self.sequence_marks.get(&key) {
                Some(cached) => Some(*cached),
                None => {
                    let stored = read_sequence_mark(&self.store, &key)?;
                    if let Some(stored) = stored {
                        self.sequence_marks.insert(key.clone(), stored);
                    }
                    stored
                }
            },
        };
        if current.is_none_or(|mark| *sequence > mark) {
            staged.sequence_marks.insert(key, *sequence);
        }
        Ok(())
    }

    fn stage_checkpoint(
        &self,
        batch: &mut OwnedWriteBatch,
        shard: u32,
        seq: u64,
        hash: &[u8; 32],
        time_ms: i64,
    ) -> Result<(), StorageError> {
        let checkpoint = Checkpoint::sign(&self.engine_key, shard, seq, hash, time_ms);
        let value = serde_json::to_vec(&checkpoint).map_err(|source| StorageError::Encode {
            what: "checkpoint",
            source,
        })?;
        batch.insert(
            &self.store.inner.keyspaces.audit_checkpoints,
            record_key(shard, seq),
            value,
        );
        Ok(())
    }

    /// Signs the head of every chain with records after its last checkpoint, in one fsynced
    /// batch; returns the number of checkpoints written.
    pub fn checkpoint_all(&mut self) -> Result<usize, StorageError> {
        let time_ms = now_ms();
        let mut batch = self
            .store
            .inner
            .db
            .batch()
            .durability(Some(PersistMode::SyncAll));
        let mut signed = Vec::new();
        for (shard, head) in &self.heads {
            if !head.has_unsigned_tail() {
                continue;
            }
            let seq = head.next_seq - 1;
            self.stage_checkpoint(&mut batch, *shard, seq, &head.head_hash, time_ms)?;
            signed.push((*shard, seq));
        }
        batch.commit().map_err(|error| StorageError::WriteFailed {
            message: error.to_string(),
        })?;
        for (shard, seq) in &signed {
            if let Some(head) = self.heads.get_mut(shard) {
                head.checkpoint_seq = Some(*seq);
            }
        }
        Ok(signed.len())
    }

    /// Marks every key of `subject` erased and fsyncs; returns how many keys were live.
    /// Call it only between group commits, so that no staged record uses the erased key.
    pub fn erase_subject(&mut self, subject: &SubjectId) -> Result<usize, StorageError> {
        let inner = &self.store.inner;
        let subject_ref = subject_ref(&inner.index_key, subject);

        // Forget the cached key first: even if the erasure fails halfway, the next record of
        // this subject reads the key state back from the store.
        self.subject_keys.remove(&subject_ref);
        let mut batch = inner.db.batch().durability(Some(PersistMode::SyncAll));
        let mut erased = 0;
        for guard in inner.keyspaces.subject_keys.prefix(subject_ref) {
            let (key, value) = guard
                .into_inner()
                .map_err(StorageError::fjall("read subject keys"))?;
            if value.is_empty() {
                continue;
            }
            batch.insert(&inner.keyspaces.subject_keys, key, Vec::new());
            erased += 1;
        }
        batch
            .commit()
            .map_err(StorageError::fjall("erase subject keys"))?;

        // NOTE: the old key bytes stay in fjall's journal and older tables until they are
        // rewritten. The major compaction drops them from the tables, and fjall deletes
        // the journal once its data has been flushed.
        if erased > 0 {
            let subject_keys = &inner.keyspaces.subject_keys;
            if let Err(error) = subject_keys
                .rotate_memtable_and_wait()
                .and_then(|()| subject_keys.major_compact())
            {
                tracing::warn!(%error, "compaction after subject erasure failed; the erased keys stay on disk until the next compaction");
            }
        }
        tracing::info!(erased, "subject keys erased");
        Ok(erased)
    }
}

/// Key of one subject key: subject reference then key id.
pub(crate) fn subject_key_key(subject_ref: &[u8; 32], key_id: &[u8; KEY_ID_BYTES]) -> Vec<u8> {
    let mut key = Vec::with_capacity(32 + KEY_ID_BYTES);
    key.extend_from_slice(subject_ref);
    key.extend_from_slice(key_id);
    key
}

/// Finds the subject's live (not erased) key, if any.
fn live_subject_key(
    store: &Store,
    subject_ref: &[u8; 32],
) -> Result<Option<SubjectKey>, StorageError> {
    for guard in store.inner.keyspaces.subject_keys.prefix(subject_ref) {
        let (key, value) = guard
            .into_inner()
            .map_err(StorageError::fjall("read subject keys"))?;
        if value.is_empty() {
            continue;
        }
        let key_id = key
            .get(32..)
            .and_then(|bytes| <[u8; KEY_ID_BYTES]>::try_from(bytes).ok());
        let secret = <[u8; 32]>::try_from(value.as_ref()).ok();
        match (key_id, secret) {
            (Some(key_id), Some(secret)) => return Ok(Some((key_id, secret))),
            _ => return Err(StorageError::corrupt("subject key", "has the wrong length")),
        }
    }
    Ok(None)
}

fn read_sequence_mark(store: &Store, key: &[u8]) -> Result<Option<u64>, StorageError> {
    let Some(bytes) = store
        .inner
        .keyspaces
        .sequence_marks
        .get(key)
        .map_err(StorageError::fjall("read sequence mark"))?
    else {
        return Ok(None);
    };
    let bytes = <[u8; 8]>::try_from(bytes.as_ref())
        .map_err(|_| StorageError::corrupt("sequence mark", "is not 8 bytes"))?;
    Ok(Some(u64::from_be_bytes(bytes)))
}

/// Current time in Unix milliseconds, for checkpoints written outside a decision.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::audit::entry::{AuditEntry, DecisionFields, PersonalData, PersonalView};
    use crate::audit::prepared::prepare;
    use crate::StoreConfig;
    use axiom_engine::model::{ReasonCode, Verdict};
    use tokio::sync::oneshot;

    fn entry(decision_id: &str) -> AuditEntry {
        AuditEntry {
            shard: 0,
            decision: DecisionFields {
                decision_id: decision_id.into(),
                tenant: "acme".into(),
                kid: "kid-1".into(),
                cert_id: format!("cert-{decision_id}"),
                nonce: format!("nonce-{decision_id}"),
                expires_at: 2_000,
                sequence: None,
                sequence_stream: None,
                policy_set_id: None,
                intent_hash: "ab".repeat(32),
                verdict: Verdict::Allow,
                reason_code: ReasonCode::Ok,
                time_ms: 1_000,
                escrow_id: None,
                facts: serde_json::json!({}),
                response: serde_json::json!({}),
            },
            personal: PersonalData {
                actor_id: "agent-1".into(),
                params: serde_json::json!({"amount": "1.00"}),
            },
        }
    }

    /// Opens a store in `dir` and a writer on it, without the writer thread.
    fn open_writer(dir: &std::path::Path) -> (Store, Arc<AtomicU64>, BatchWriter) {
        let store = Store::open(dir, StoreConfig::default()).unwrap();
        let committed = Arc::new(AtomicU64::new(0));
        let writer = BatchWriter::new(
            store.clone(),
            SigningKey::from_bytes(&[1u8; 32]),
            committed.clone(),
        )
        .unwrap();
        (store, committed, writer)
    }

    /// Stages and commits one prepared entry as its own batch; returns the caller's result.
    fn commit_one(
        writer: &mut BatchWriter,
        prepared: PreparedEntry,
    ) -> Result<AuditReceipt, StorageError> {
        let (reply, mut receiver) = oneshot::channel();
        let mut staged = writer.open_batch();
        writer.stage(
            &mut staged,
            Pending {
                entry: Box::new(prepared),
                reply,
            },
        );
        writer.commit(staged);
        receiver.try_recv().expect("the writer replied")
    }

    #[test]
    fn duplicate_past_window_found_in_index() {
        let dir = tempfile::tempdir().unwrap();
        let (store, committed, mut writer) = open_writer(dir.path());
        writer.set_recent_window(2);

        // Both copies pass the caller's index check, because neither is written yet.
        let first = prepare(entry("dup"), &store, &committed).unwrap();
        let second = prepare(entry("dup"), &store, &committed).unwrap();
        commit_one(&mut writer, first).unwrap();
        for id in ["b", "c"] {
            let other = prepare(entry(id), &store, &committed).unwrap();
            commit_one(&mut writer, other).unwrap();
        }
        assert_eq!(committed.load(Ordering::Acquire), 3);

        let error = commit_one(&mut writer, second).unwrap_err();
        assert!(
            matches!(error, StorageError::AlreadyExists { .. }),
            "{error}"
        );
    }

    #[test]
    fn duplicate_inside_window_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let (store, committed, mut writer) = open_writer(dir.path());

        let first = prepare(entry("dup"), &store, &committed).unwrap();
        let second = prepare(entry("dup"), &store, &committed).unwrap();
        let third = prepare(entry("dup"), &store, &committed).unwrap();
        let (reply_first, mut first_result) = oneshot::channel();
        let (reply_second, mut second_result) = oneshot::channel();
        let mut staged = writer.open_batch();
        writer.stage(
            &mut staged,
            Pending {
                entry: Box::new(first),
                reply: reply_first,
            },
        );
        writer.stage(
            &mut staged,
            Pending {
                entry: Box::new(second),
                reply: reply_second,
            },
        );
        writer.commit(staged);

        assert!(first_result.try_recv().unwrap().is_ok());
        let in_batch = second_result.try_recv().unwrap().unwrap_err();
        assert!(
            matches!(in_batch, StorageError::AlreadyExists { .. }),
            "{in_batch}"
        );
        let next_batch = commit_one(&mut writer, third).unwrap_err();
        assert!(
            matches!(next_batch, StorageError::AlreadyExists { .. }),
            "{next_batch}"
        );
        assert_eq!(store.audit_tail(10).unwrap().len(), 1);
    }

    #[test]
    fn erased_subject_key_leaves_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (store, committed, mut writer) = open_writer(dir.path());

        let before = prepare(entry("before"), &store, &committed).unwrap();
        commit_one(&mut writer, before).unwrap();
        let erased = writer
            .erase_subject(&SubjectId::new("acme", "agent-1"))
            .unwrap();
        assert_eq!(erased, 1);
        let after = prepare(entry("after"), &store, &committed).unwrap();
        commit_one(&mut writer, after).unwrap();

        let old = store.audit_record("before").unwrap().unwrap();
        let new = store.audit_record("after").unwrap().unwrap();
        assert!(matches!(old.personal, PersonalView::Erased));
        assert!(
            matches!(new.personal, PersonalView::Readable { .. }),
            "a record appended after the erasure used the erased key"
        );
    }
}
