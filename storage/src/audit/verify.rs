//! Offline verification: walk every chain and every signed checkpoint and name the first
//! broken record of each chain.

use super::chain::{shards, Checkpoint};
use super::record::{decode_record, GENESIS_HASH};
use crate::config::StoreConfig;
use crate::error::StorageError;
use crate::keys::{parse_record_key, record_key};
use crate::store::{Keyspaces, Store, META_ENGINE_KEY_PREFIX};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// The kind of damage found at a record position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Damage {
    /// The stored value does not decode as a record.
    Undecodable {
        /// The decoding error.
        detail: String,
    },
    /// The record's bytes do not match the hash stored with them.
    HashMismatch {
        /// The stored hash, hex.
        stored: String,
        /// The hash of the bytes found, hex.
        computed: String,
    },
    /// The record's previous-record hash is not the hash of the record before it.
    BrokenLink {
        /// Hash of the record before, hex.
        expected: String,
        /// The previous-record hash the record holds, hex.
        found: String,
    },
    /// No record exists at this position, but a later one does.
    Missing {
        /// The next position that contains a record.
        next_present_seq: u64,
    },
    /// The record at this position names another position, so records were moved or swapped.
    Reordered {
        /// The shard the record's body names.
        body_shard: u32,
        /// The seq the record's body names.
        body_seq: u64,
    },
    /// A checkpoint signs a hash that differs from the record's.
    CheckpointMismatch {
        /// The hash the checkpoint signed, hex.
        signed: String,
        /// The record's hash, hex.
        actual: String,
    },
    /// A checkpoint's signature does not verify, or its key is not a registered engine key.
    BadCheckpointSignature {
        /// Hex public key the checkpoint names.
        public_key: String,
        /// The reason it was rejected.
        reason: String,
    },
    /// A checkpoint signs a record that no longer exists: the chain's tail was removed.
    CheckpointBeyondHead {
        /// Seq of the last record found.
        last_seq: Option<u64>,
    },
}

/// The first damage found in one chain, with the record it was found at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The chain.
    pub shard: u32,
    /// The record position.
    pub seq: u64,
    /// The decision stored (or indexed) at that position, when it is known.
    pub decision_id: Option<String>,
    /// The damage.
    pub damage: Damage,
}

/// Summary of one intact (or intact up to its problem) chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSummary {
    /// The chain.
    pub shard: u32,
    /// Records checked.
    pub records: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Seq of the last record checked.
    pub last_seq: Option<u64>,
    /// Seq of the newest valid checkpoint; records after it are linked but not yet signed.
    pub last_checkpoint_seq: Option<u64>,
}

/// The result of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// One summary per chain.
    pub chains: Vec<ChainSummary>,
    /// The first problem of each damaged chain; empty when everything verifies.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Opens the store in `dir` without the open-time tail check and verifies it.
/// Fails with `Locked` while a server has the directory open.
pub fn verify(dir: &Path) -> Result<VerifyReport, StorageError> {
    let store = Store::open_unchecked(dir, StoreConfig::default())?;
    verify_store(&store)
}

/// Verifies every chain and checkpoint of an open store.
pub fn verify_store(store: &Store) -> Result<VerifyReport, StorageError> {
    let keyspaces = &store.inner.keyspaces;
    let engine_keys = registered_engine_keys(keyspaces)?;

    let mut report = VerifyReport::default();
    let mut chain_shards: Vec<u32> = shards(&keyspaces.audit_records)?;
    for shard in checkpoint_shards(keyspaces)? {
        if !chain_shards.contains(&shard) {
            chain_shards.push(shard);
        }
    }
    chain_shards.sort_unstable();

    for shard in chain_shards {
        let (summary, problem) = verify_chain(keyspaces, &engine_keys, shard)?;
        report.chains.push(summary);
        if let Some(problem) = problem {
            tracing::warn!(shard, seq = problem.seq, decision_id = ?problem.decision_id, damage = ?problem.damage, "audit chain damaged");
            report.problems.push(problem);
        }
    }
    Ok(report)
}

fn verify_chain(
    keyspaces: &Keyspaces,
    engine_keys: &HashSet<String>,
    shard: u32,
) -> Result<(ChainSummary, Option<Problem>), StorageError> {
    let mut checkpoints = load_checkpoints(keyspaces, shard)?;
    let mut summary = ChainSummary {
        shard,
        records: 0,
        checkpoints: 0,
        last_seq: None,
        last_checkpoint_seq: None,
    };
    let problem = |seq: u64, decision_id: Option<String>, damage: Damage| Problem {
        shard,
        seq,
        decision_id,
        damage,
    };

    let mut expected_seq = 0u64;
    let mut previous_hash = GENESIS_HASH;
    for guard in keyspaces.audit_records.prefix(shard.to_be_bytes()) {
        let (key, value) = guard
            .into_inner()
            .map_err(StorageError::fjall("scan audit records"))?;
        let Some((_, seq)) = parse_record_key(&key) else {
            return Err(StorageError::corrupt("audit record key", "is not 12 bytes"));
        };

        if seq != expected_seq {
            let decision_id = indexed_decision(keyspaces, shard, expected_seq)?;
            let damage = Damage::Missing {
                next_present_seq: seq,
            };
            return Ok((summary, Some(problem(expected_seq, decision_id, damage))));
        }
        let record = match decode_record(&value) {
            Ok(record) => record,
            Err(error) => {
                let decision_id = indexed_decision(keyspaces, shard, seq)?;
                let damage = Damage::Undecodable {
                    detail: error.to_string(),
                };
                return Ok((summary, Some(problem(seq, decision_id, damage))));
            }
        };
        let decision_id = Some(record.body.decision.decision_id.clone());
        if !record.hash_matches() {
            let damage = Damage::HashMismatch {
                stored: hex::encode(record.stored_hash),
                computed: hex::encode(record.computed_hash),
            };
            return Ok((summary, Some(problem(seq, decision_id, damage))));
        }
        if record.body.shard != shard || record.body.seq != seq {
            let damage = Damage::Reordered {
                body_shard: record.body.shard,
                body_seq: record.body.seq,
            };
            return Ok((summary, Some(problem(seq, decision_id, damage))));
        }
        if record.body.prev_hash != hex::encode(previous_hash) {
            let damage = Damage::BrokenLink {
                expected: hex::encode(previous_hash),
                found: record.body.prev_hash.clone(),
            };
            return Ok((summary, Some(problem(seq, decision_id, damage))));
        }

        if let Some(checkpoint) = checkpoints.remove(&seq) {
            if let Some(damage) = check_checkpoint(&checkpoint, &record.computed_hash, engine_keys)
            {
                return Ok((summary, Some(problem(seq, decision_id, damage))));
            }
            summary.checkpoints += 1;
            summary.last_checkpoint_seq = Some(seq);
        }

        summary.records += 1;
        summary.last_seq = Some(seq);
        previous_hash = record.computed_hash;
        expected_seq = seq + 1;
    }

    // Any checkpoint left over signs a record past the end of the chain.
    if let Some((seq, _)) = checkpoints.into_iter().next() {
        let decision_id = indexed_decision(keyspaces, shard, seq)?;
        let damage = Damage::CheckpointBeyondHead {
            last_seq: summary.last_seq,
        };
        return Ok((summary, Some(problem(seq, decision_id, damage))));
    }
    Ok((summary, None))
}

fn check_checkpoint(
    checkpoint: &Checkpoint,
    record_hash: &[u8; 32],
    engine_keys: &HashSet<String>,
) -> Option<Damage> {
    if !engine_keys.contains(&checkpoint.public_key) {
        return Some(Damage::BadCheckpointSignature {
            public_key: checkpoint.public_key.clone(),
            reason: "the key is not a registered engine key".into(),
        });
    }
    if !checkpoint.signature_valid() {
        return Some(Damage::BadCheckpointSignature {
            public_key: checkpoint.public_key.clone(),
            reason: "the signature does not verify".into(),
        });
    }
    let actual = hex::encode(record_hash);
    if checkpoint.record_hash != actual {
        return Some(Damage::CheckpointMismatch {
            signed: checkpoint.record_hash.clone(),
            actual,
        });
    }
    None
}

fn load_checkpoints(
    keyspaces: &Keyspaces,
    shard: u32,
) -> Result<BTreeMap<u64, Checkpoint>, StorageError> {
    let mut checkpoints = BTreeMap::new();
    for guard in keyspaces.audit_checkpoints.prefix(shard.to_be_bytes()) {
        let (key, value) = guard
            .into_inner()
            .map_err(StorageError::fjall("scan checkpoints"))?;
        let Some((_, seq)) = parse_record_key(&key) else {
            return Err(StorageError::corrupt("checkpoint key", "is not 12 bytes"));
        };
        let checkpoint: Checkpoint = serde_json::from_slice(&value).map_err(|error| {
            StorageError::corrupt(
                format!("checkpoint shard {shard} seq {seq}"),
                error.to_string(),
            )
        })?;
        if checkpoint.shard != shard || checkpoint.seq != seq {
            return Err(StorageError::corrupt(
                format!("checkpoint shard {shard} seq {seq}"),
                format!("names shard {} seq {}", checkpoint.shard, checkpoint.seq),
            ));
        }
        checkpoints.insert(seq, checkpoint);
    }
    Ok(checkpoints)
}

fn checkpoint_shards(keyspaces: &Keyspaces) -> Result<Vec<u32>, StorageError> {
    shards(&keyspaces.audit_checkpoints)
}

fn registered_engine_keys(keyspaces: &Keyspaces) -> Result<HashSet<String>, StorageError> {
    let mut keys = HashSet::new();
    for guard in keyspaces.meta.prefix(META_ENGINE_KEY_PREFIX) {
        let key = guard
            .key()
            .map_err(StorageError::fjall("read engine keys"))?;
        if let Some(public_key) = key.get(META_ENGINE_KEY_PREFIX.len()..) {
            keys.insert(hex::encode(public_key));
        }
    }
    Ok(keys)
}

/// Finds the decision id whose index entry points at `(shard, seq)`, by a full scan of the
/// decision index. It is used only to name a record that is missing or unreadable.
fn indexed_decision(
    keyspaces: &Keyspaces,
    shard: u32,
    seq: u64,
) -> Result<Option<String>, StorageError> {
    let wanted = record_key(shard, seq);
    for guard in keyspaces.audit_by_decision.iter() {
        let (key, value) = guard
            .into_inner()
            .map_err(StorageError::fjall("scan decision index"))?;
        if value.as_ref() == wanted {
            return Ok(Some(String::from_utf8_lossy(&key).into_owned()));
        }
    }
    Ok(None)
}
