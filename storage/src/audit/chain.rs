//! Chain heads, the tail check run at open, and signed checkpoints.

use super::record::{decode_checked, GENESIS_HASH};
use crate::error::StorageError;
use crate::keys::{parse_record_key, record_key};
use crate::store::Keyspaces;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use fjall::Keyspace;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Domain-separation prefix of the checkpoint signing input.
pub const CHECKPOINT_SIGNING_PREFIX: &[u8] = b"axiom.audit.checkpoint.v1\0";

/// Where a chain ends: what the next record needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// Seq the next record of this shard gets.
    pub next_seq: u64,
    /// Hash of the last record, or [`GENESIS_HASH`] for an empty chain.
    pub head_hash: [u8; 32],
    /// Seq of the newest signed checkpoint, if any.
    pub checkpoint_seq: Option<u64>,
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis() -> ChainHead {
        ChainHead {
            next_seq: 0,
            head_hash: GENESIS_HASH,
            checkpoint_seq: None,
        }
    }

    /// True when records were appended after the newest checkpoint.
    pub fn has_unsigned_tail(&self) -> bool {
        match (self.next_seq, self.checkpoint_seq) {
            (0, _) => false,
            (next, Some(signed)) => signed + 1 < next,
            (_, None) => true,
        }
    }
}

/// A signed statement that record `(shard, seq)` of the chain has hash `record_hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The chain.
    pub shard: u32,
    /// Seq of the record signed.
    pub seq: u64,
    /// Hex hash of that record.
    pub record_hash: String,
    /// When the checkpoint was made, Unix milliseconds.
    pub time_ms: i64,
    /// Hex ed25519 public key of the engine key that signed.
    pub public_key: String,
    /// Hex ed25519 signature over [`checkpoint_signing_input`].
    pub signature: String,
}

/// The bytes a checkpoint signature covers: prefix, shard, seq, record hash and time.
pub fn checkpoint_signing_input(
    shard: u32,
    seq: u64,
    record_hash: &[u8; 32],
    time_ms: i64,
) -> Vec<u8> {
    let mut input = Vec::with_capacity(CHECKPOINT_SIGNING_PREFIX.len() + 52);
    input.extend_from_slice(CHECKPOINT_SIGNING_PREFIX);
    input.extend_from_slice(&shard.to_be_bytes());
    input.extend_from_slice(&seq.to_be_bytes());
    input.extend_from_slice(record_hash);
    input.extend_from_slice(&time_ms.to_be_bytes());
    input
}

impl Checkpoint {
    /// Signs the head `(shard, seq, record_hash)` with the engine key.
    pub fn sign(
        key: &SigningKey,
        shard: u32,
        seq: u64,
        record_hash: &[u8; 32],
        time_ms: i64,
    ) -> Checkpoint {
        let signature = key.sign(&checkpoint_signing_input(shard, seq, record_hash, time_ms));
        Checkpoint {
            shard,
            seq,
            record_hash: hex::encode(record_hash),
            time_ms,
            public_key: hex::encode(key.verifying_key().as_bytes()),
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// Checks the signature strictly under the embedded public key.
    pub fn signature_valid(&self) -> bool {
        let Some(record_hash) = super::record::parse_hash(&self.record_hash) else {
            return false;
        };
        let Some(key) = decode_array::<32>(&self.public_key)
            .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
        else {
            return false;
        };
        let Some(signature) =
            decode_array::<64>(&self.signature).map(|bytes| Signature::from_bytes(&bytes))
        else {
            return false;
        };
        let input = checkpoint_signing_input(self.shard, self.seq, &record_hash, self.time_ms);
        key.verify_strict(&input, &signature).is_ok() && key.verify(&input, &signature).is_ok()
    }
}

fn decode_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = hex::decode(text).ok()?;
    <[u8; N]>::try_from(bytes.as_slice()).ok()
}

/// Lists the shards that have at least one record, in order, by jumping from one shard's
/// first key to the next shard's.
pub(crate) fn shards(records: &Keyspace) -> Result<Vec<u32>, StorageError> {
    let mut shards = Vec::new();
    let mut start = record_key(0, 0);
    loop {
        let Some(guard) = records.range(start..).next() else {
            return Ok(shards);
        };
        let key = guard
            .key()
            .map_err(StorageError::fjall("scan audit records"))?;
        let Some((shard, _)) = parse_record_key(&key) else {
            return Err(StorageError::corrupt(
                "audit record key",
                format!("{} bytes, expected 12", key.len()),
            ));
        };
        shards.push(shard);
        let Some(next) = shard.checked_add(1) else {
            return Ok(shards);
        };
        start = record_key(next, 0);
    }
}

/// Finds every chain's head and recomputes the hashes and links of its last `tail_records`
/// records; fails on the first damage found.
pub(crate) fn check_tails(
    keyspaces: &Keyspaces,
    tail_records: u64,
) -> Result<BTreeMap<u32, ChainHead>, StorageError> {
    let mut heads = BTreeMap::new();
    for shard in shards(&keyspaces.audit_records)? {
        let head = check_tail(keyspaces, shard, tail_records)?;
        heads.insert(shard, head);
    }
    Ok(heads)
}

fn check_tail(
    keyspaces: &Keyspaces,
    shard: u32,
    tail_records: u64,
) -> Result<ChainHead, StorageError> {
    let prefix = shard.to_be_bytes();
    let take = usize::try_from(tail_records.max(1)).unwrap_or(usize::MAX);
    let mut tail = Vec::new();
    for guard in keyspaces.audit_records.prefix(prefix).rev().take(take) {
        let (key, value) = guard
            .into_inner()
            .map_err(StorageError::fjall("read audit tail"))?;
        let Some((_, seq)) = parse_record_key(&key) else {
            return Err(StorageError::corrupt("audit record key", "is not 12 bytes"));
        };
        tail.push((seq, decode_checked(shard, seq, &value)?));
    }
    tail.reverse();

    for pair in tail.windows(2) {
        let ((seq_before, before), (seq_after, after)) = (&pair[0], &pair[1]);
        let what = || format!("audit record shard {shard} seq {seq_after}");
        if *seq_after != seq_before + 1 {
            return Err(StorageError::corrupt(
                what(),
                format!("record seq {} is missing", seq_before + 1),
            ));
        }
        if after.body.prev_hash != hex::encode(before.computed_hash) {
            return Err(StorageError::corrupt(
                what(),
                "previous-record hash does not match",
            ));
        }
    }
    if let Some((seq, first)) = tail.first() {
        if *seq == 0 && first.body.prev_hash != hex::encode(GENESIS_HASH) {
            return Err(StorageError::corrupt(
                format!("audit record shard {shard} seq 0"),
                "first record does not start from the genesis hash",
            ));
        }
    }

    let checkpoint_seq = latest_checkpoint_seq(&keyspaces.audit_checkpoints, shard)?;
    Ok(match tail.last() {
        Some((seq, last)) => ChainHead {
            next_seq: seq + 1,
            head_hash: last.computed_hash,
            checkpoint_seq,
        },
        None => ChainHead::genesis(),
    })
}

fn latest_checkpoint_seq(checkpoints: &Keyspace, shard: u32) -> Result<Option<u64>, StorageError> {
    let Some(guard) = checkpoints.prefix(shard.to_be_bytes()).next_back() else {
        return Ok(None);
    };
    let key = guard
        .key()
        .map_err(StorageError::fjall("read checkpoints"))?;
    Ok(parse_record_key(&key).map(|(_, seq)| seq))
}
