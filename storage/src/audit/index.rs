//! Keys of the audit indexes and of the sequence marks. Every index key ends with the record
//! key `(shard, seq)`, so a scan yields records in time order and then chain order.

use crate::keys::{push_text, record_key, RECORD_KEY_BYTES};

/// `(time_ms, shard, seq)`.
pub fn time_index_key(time_ms: u64, shard: u32, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + RECORD_KEY_BYTES);
    key.extend_from_slice(&time_ms.to_be_bytes());
    key.extend_from_slice(&record_key(shard, seq));
    key
}

/// `(tenant, time_ms, shard, seq)`, the tenant length-prefixed.
pub fn tenant_index_key(tenant: &str, time_ms: u64, shard: u32, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + tenant.len() + 8 + RECORD_KEY_BYTES);
    push_text(&mut key, tenant);
    key.extend_from_slice(&time_ms.to_be_bytes());
    key.extend_from_slice(&record_key(shard, seq));
    key
}

/// `(HMAC(subject id), time_ms, shard, seq)`.
pub fn actor_index_key(subject_ref: &[u8; 32], time_ms: u64, shard: u32, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(32 + 8 + RECORD_KEY_BYTES);
    key.extend_from_slice(subject_ref);
    key.extend_from_slice(&time_ms.to_be_bytes());
    key.extend_from_slice(&record_key(shard, seq));
    key
}

/// `(tenant, stream id)`, both length-prefixed.
pub fn sequence_mark_key(tenant: &str, stream: &str) -> Vec<u8> {
    crate::keys::tenant_id_key(tenant, stream)
}

/// The record key at the end of an index key.
pub fn record_key_suffix(index_key: &[u8]) -> Option<(u32, u64)> {
    let start = index_key.len().checked_sub(RECORD_KEY_BYTES)?;
    crate::keys::parse_record_key(index_key.get(start..)?)
}
