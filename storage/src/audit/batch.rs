//! One group commit: turn queued entries into records, indexes, sequence marks and due
//! checkpoints, write them in one fjall batch, fsync once, then reply to every caller.

use super::chain::{ChainHead, Checkpoint};
use super::crypto::{new_subject_key, seal, subject_ref, KEY_ID_BYTES};
use super::entry::{
    AuditEntry, AuditReceipt, RecordBody, SealedPersonal, SubjectId, RECORD_FORMAT,
};
use super::index::{actor_index_key, sequence_mark_key, tenant_index_key, time_index_key};
use super::record::encode_record;
use super::validate::validate_entry;
use super::writer::ReplySender;
use crate::config::StoreConfig;
use crate::error::StorageError;
use crate::keys::record_key;
use crate::store::{Store, META_ENGINE_KEY_PREFIX};
use ed25519_dalek::SigningKey;
use fjall::{OwnedWriteBatch, PersistMode};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;

/// A subject key id and the 256-bit key.
type SubjectKey = ([u8; KEY_ID_BYTES], [u8; 32]);

/// An entry waiting in a batch with its caller's reply slot.
pub(crate) struct Pending {
    pub entry: Box<AuditEntry>,
    pub reply: ReplySender,
}

/// The writer thread's state: the chain heads it owns and the engine key.
pub(crate) struct BatchWriter {
    store: Store,
    engine_key: SigningKey,
    heads: BTreeMap<u32, ChainHead>,
}

/// What one accepted entry adds to the batch, kept until the commit result is known.
struct Accepted {
    reply: ReplySender,
    receipt: AuditReceipt,
}

impl BatchWriter {
    pub fn new(store: Store, engine_key: SigningKey) -> Result<BatchWriter, StorageError> {
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
        })
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

    /// Writes every valid entry of `pending` in one fsynced batch and replies to each caller:
    /// a receipt only after the fsync returned, an error for an invalid entry, and the write
    /// error for every entry when the write or the fsync fails.
    pub fn commit(&mut self, pending: Vec<Pending>) {
        if pending.is_empty() {
            return;
        }
        let inner = &self.store.inner;
        let keyspaces = &inner.keyspaces;
        let mut batch = inner.db.batch().durability(Some(PersistMode::SyncAll));
        let mut heads = self.heads.clone();
        let mut accepted = Vec::with_capacity(pending.len());
        let mut decision_ids = HashSet::new();
        let mut subject_keys: HashMap<[u8; 32], SubjectKey> = HashMap::new();
        let mut sequence_marks: HashMap<Vec<u8>, u64> = HashMap::new();

        for Pending { entry, reply } in pending {
            let step = self.stage(
                &entry,
                &mut batch,
                &mut heads,
                &mut decision_ids,
                &mut subject_keys,
                &mut sequence_marks,
            );
            match step {
                Ok(receipt) => accepted.push(Accepted { reply, receipt }),
                Err(error) => {
                    tracing::warn!(decision_id = %entry.decision.decision_id, %error, "audit entry rejected");
                    let _ = reply.send(Err(error));
                }
            }
        }
        if accepted.is_empty() {
            return;
        }

        for (key, sequence) in sequence_marks {
            batch.insert(
                &keyspaces.sequence_marks,
                key,
                sequence.to_be_bytes().to_vec(),
            );
        }

        let records = accepted.len();
        match batch.commit() {
            Ok(()) => {
                self.heads = heads;
                tracing::debug!(records, "audit batch durable");
                for Accepted { reply, receipt } in accepted {
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

    /// Adds one entry to the batch and advances the staged head of its chain.
    fn stage(
        &self,
        entry: &AuditEntry,
        batch: &mut OwnedWriteBatch,
        heads: &mut BTreeMap<u32, ChainHead>,
        decision_ids: &mut HashSet<String>,
        subject_keys: &mut HashMap<[u8; 32], SubjectKey>,
        sequence_marks: &mut HashMap<Vec<u8>, u64>,
    ) -> Result<AuditReceipt, StorageError> {
        let inner = &self.store.inner;
        let keyspaces = &inner.keyspaces;
        let decision = &entry.decision;
        validate_entry(entry)?;

        // A decision id is written once: a second record would make the index ambiguous.
        let known = keyspaces
            .audit_by_decision
            .contains_key(decision.decision_id.as_bytes())
            .map_err(StorageError::fjall("read decision index"))?;
        if known || decision_ids.contains(&decision.decision_id) {
            return Err(StorageError::AlreadyExists {
                what: "audit record for decision",
                id: decision.decision_id.clone(),
            });
        }

        let subject = entry.subject();
        let subject_ref = subject_ref(&inner.index_key, &subject);
        let (key_id, key) = match subject_keys.get(&subject_ref) {
            Some(found) => *found,
            None => {
                let found = match live_subject_key(&self.store, &subject_ref)? {
                    Some(found) => found,
                    None => {
                        let created = new_subject_key();
                        batch.insert(
                            &keyspaces.subject_keys,
                            subject_key_key(&subject_ref, &created.0),
                            created.1.to_vec(),
                        );
                        created
                    }
                };
                subject_keys.insert(subject_ref, found);
                found
            }
        };
        let Some((nonce, ciphertext)) = seal(&key, &decision.decision_id, &entry.personal) else {
            return Err(StorageError::Encrypt {
                decision_id: decision.decision_id.clone(),
            });
        };

        let head = heads
            .get(&entry.shard)
            .copied()
            .unwrap_or_else(ChainHead::genesis);
        let seq = head.next_seq;
        let body = RecordBody {
            format: RECORD_FORMAT,
            shard: entry.shard,
            seq,
            prev_hash: hex::encode(head.head_hash),
            decision: decision.clone(),
            personal: SealedPersonal {
                subject_ref: hex::encode(subject_ref),
                key_id: hex::encode(key_id),
                nonce: hex::encode(nonce),
                ciphertext: hex::encode(ciphertext),
            },
        };
        let (value, hash) = encode_record(&body)?;
        let record_bytes_max = self.config().audit_record_bytes_max;
        if value.len() > record_bytes_max {
            return Err(StorageError::invalid(
                "audit entry",
                format!(
                    "encodes to {} bytes, above the limit of {record_bytes_max}",
                    value.len()
                ),
            ));
        }

        let record_key = record_key(entry.shard, seq);
        let time_ms = u64::try_from(decision.time_ms).unwrap_or(0);
        batch.insert(&keyspaces.audit_records, record_key, value);
        batch.insert(
            &keyspaces.audit_by_decision,
            decision.decision_id.as_bytes(),
            record_key.to_vec(),
        );
        batch.insert(
            &keyspaces.audit_by_tenant,
            tenant_index_key(&decision.tenant, time_ms, entry.shard, seq),
            Vec::new(),
        );
        batch.insert(
            &keyspaces.audit_by_actor,
            actor_index_key(&subject_ref, time_ms, entry.shard, seq),
            Vec::new(),
        );
        batch.insert(
            &keyspaces.audit_by_time,
            time_index_key(time_ms, entry.shard, seq),
            Vec::new(),
        );
        self.stage_sequence_mark(entry, sequence_marks)?;

        let mut next_head = ChainHead {
            next_seq: seq + 1,
            head_hash: hash,
            checkpoint_seq: head.checkpoint_seq,
        };
        let interval = self.config().audit_checkpoint_interval_records.max(1);
        if (seq + 1) % interval == 0 {
            self.stage_checkpoint(batch, entry.shard, seq, &hash, decision.time_ms)?;
            next_head.checkpoint_seq = Some(seq);
        }
        heads.insert(entry.shard, next_head);
        decision_ids.insert(decision.decision_id.clone());

        Ok(AuditReceipt {
            decision_id: decision.decision_id.clone(),
            shard: entry.shard,
            seq,
            record_hash: hex::encode(hash),
        })
    }

    /// Raises the stream's durable high-water mark when this record's sequence is above it.
    fn stage_sequence_mark(
        &self,
        entry: &AuditEntry,
        sequence_marks: &mut HashMap<Vec<u8>, u64>,
    ) -> Result<(), StorageError> {
        let decision = &entry.decision;
        let (Some(sequence), Some(stream)) =
            (decision.sequence, decision.sequence_stream.as_deref())
        else {
            return Ok(());
        };
        let key = sequence_mark_key(&decision.tenant, stream);
        let current = match sequence_marks.get(&key) {
            Some(staged) => Some(*staged),
            None => read_sequence_mark(&self.store, &key)?,
        };
        if current.is_none_or(|mark| sequence > mark) {
            sequence_marks.insert(key, sequence);
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
    pub fn erase_subject(&mut self, subject: &SubjectId) -> Result<usize, StorageError> {
        let inner = &self.store.inner;
        let subject_ref = subject_ref(&inner.index_key, subject);
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
