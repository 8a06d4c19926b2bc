//! The stored form of an audit record and its hash.
//!
//! A record's value is `record hash (32 bytes) ‖ body JSON`. The hash is SHA-256 over
//! [`RECORD_HASH_PREFIX`] followed by the exact body bytes, so it never depends on how JSON is
//! re-serialized, and the body carries the previous record's hash, which chains the records.

use super::entry::RecordBody;
use crate::error::StorageError;
use sha2::{Digest, Sha256};

/// Domain-separation prefix of the record hash, so a record hash can never be mistaken for
/// another SHA-256 the engine computes.
pub const RECORD_HASH_PREFIX: &[u8] = b"axiom.audit.record.v1\0";

/// The previous-record hash of the first record of every chain.
pub const GENESIS_HASH: [u8; 32] = [0u8; 32];

/// Computes the record hash of a body's stored bytes.
pub fn record_hash(body_bytes: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(RECORD_HASH_PREFIX);
    hasher.update(body_bytes);
    hasher.finalize().into()
}

/// Encodes a body into its stored value; returns the value and the record hash.
pub fn encode_record(body: &RecordBody) -> Result<(Vec<u8>, [u8; 32]), StorageError> {
    let body_bytes = serde_json::to_vec(body).map_err(|source| StorageError::Encode {
        what: "audit record",
        source,
    })?;
    let hash = record_hash(&body_bytes);

    let mut value = Vec::with_capacity(32 + body_bytes.len());
    value.extend_from_slice(&hash);
    value.extend_from_slice(&body_bytes);
    Ok((value, hash))
}

/// A stored record split into its parts, before any integrity judgement.
#[derive(Debug, Clone)]
pub struct DecodedRecord {
    /// The hash stored in front of the body.
    pub stored_hash: [u8; 32],
    /// The hash recomputed from the body bytes.
    pub computed_hash: [u8; 32],
    /// The body.
    pub body: RecordBody,
}

impl DecodedRecord {
    /// True when the stored hash matches the body.
    pub fn hash_matches(&self) -> bool {
        self.stored_hash == self.computed_hash
    }
}

/// Why a stored value could not be decoded at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UndecodableRecord {
    /// The value is shorter than its hash.
    TooShort {
        /// The value's length, in bytes.
        length: usize,
    },
    /// The body is not a valid record body; the string is the JSON error.
    BadBody(String),
}

impl std::fmt::Display for UndecodableRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UndecodableRecord::TooShort { length } => {
                write!(f, "value is {length} bytes, shorter than its 32-byte hash")
            }
            UndecodableRecord::BadBody(error) => write!(f, "body does not decode: {error}"),
        }
    }
}

/// Splits a stored value into hash and body and recomputes the hash.
pub fn decode_record(value: &[u8]) -> Result<DecodedRecord, UndecodableRecord> {
    let (Some(hash_bytes), Some(body_bytes)) = (value.get(..32), value.get(32..)) else {
        return Err(UndecodableRecord::TooShort {
            length: value.len(),
        });
    };
    let mut stored_hash = [0u8; 32];
    stored_hash.copy_from_slice(hash_bytes);
    let computed_hash = record_hash(body_bytes);

    let body = serde_json::from_slice(body_bytes)
        .map_err(|error| UndecodableRecord::BadBody(error.to_string()))?;
    Ok(DecodedRecord {
        stored_hash,
        computed_hash,
        body,
    })
}

/// Decodes a record and checks it against its key: the read-side integrity check.
pub fn decode_checked(shard: u32, seq: u64, value: &[u8]) -> Result<DecodedRecord, StorageError> {
    let what = || format!("audit record shard {shard} seq {seq}");
    let record =
        decode_record(value).map_err(|error| StorageError::corrupt(what(), error.to_string()))?;
    if !record.hash_matches() {
        return Err(StorageError::corrupt(
            what(),
            "record hash does not match its body",
        ));
    }
    if record.body.shard != shard || record.body.seq != seq {
        return Err(StorageError::corrupt(
            what(),
            format!(
                "body claims shard {} seq {}",
                record.body.shard, record.body.seq
            ),
        ));
    }
    Ok(record)
}

/// Parses a lowercase hex hash of 32 bytes.
pub fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}
