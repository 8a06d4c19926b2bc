//! Byte layouts of the keys in every keyspace.
//!
//! Integers are big-endian so that lexicographic key order is numeric order. Strings inside
//! composite keys carry a two-byte length prefix so that no id can run into the next part.
//! Every string is checked against its limit first, because lsm-tree panics on keys above
//! 65,535 bytes.

use crate::config::{ID_BYTES_MAX, TENANT_BYTES_MAX};
use crate::error::StorageError;

/// Length of an audit record key: shard (u32) then seq (u64), both big-endian.
pub const RECORD_KEY_BYTES: usize = 12;

/// Checks a tenant id: non-empty and at most [`TENANT_BYTES_MAX`] bytes.
pub fn check_tenant(tenant: &str) -> Result<(), StorageError> {
    check_text("tenant", tenant, TENANT_BYTES_MAX)
}

/// Checks an id: non-empty and at most [`ID_BYTES_MAX`] bytes.
pub fn check_id(field: &'static str, id: &str) -> Result<(), StorageError> {
    check_text(field, id, ID_BYTES_MAX)
}

fn check_text(field: &'static str, text: &str, bytes_max: usize) -> Result<(), StorageError> {
    if text.is_empty() {
        return Err(StorageError::invalid(field, "must not be empty"));
    }
    if text.len() > bytes_max {
        return Err(StorageError::invalid(
            field,
            format!("is {} bytes, above the limit of {bytes_max}", text.len()),
        ));
    }
    Ok(())
}

/// Appends `text` with its two-byte length prefix. Callers check the length first, so it
/// always fits in a u16.
pub fn push_text(key: &mut Vec<u8>, text: &str) {
    let length = u16::try_from(text.len()).unwrap_or(u16::MAX);
    key.extend_from_slice(&length.to_be_bytes());
    key.extend_from_slice(text.as_bytes());
}

/// Reads a length-prefixed string at `offset`; returns it and the offset after it.
pub fn read_text(key: &[u8], offset: usize) -> Option<(String, usize)> {
    let length_bytes = key.get(offset..offset + 2)?;
    let length = usize::from(u16::from_be_bytes([length_bytes[0], length_bytes[1]]));
    let start = offset + 2;
    let text = key.get(start..start + length)?;
    let text = String::from_utf8(text.to_vec()).ok()?;
    Some((text, start + length))
}

/// Builds the key `(tenant, id)` of a typed table.
pub fn tenant_id_key(tenant: &str, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(4 + tenant.len() + id.len());
    push_text(&mut key, tenant);
    push_text(&mut key, id);
    key
}

/// Builds the prefix that every key of `tenant` starts with.
pub fn tenant_prefix(tenant: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + tenant.len());
    push_text(&mut key, tenant);
    key
}

/// Builds an audit record key `(shard, seq)`.
pub fn record_key(shard: u32, seq: u64) -> [u8; RECORD_KEY_BYTES] {
    let mut key = [0u8; RECORD_KEY_BYTES];
    key[..4].copy_from_slice(&shard.to_be_bytes());
    key[4..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// Splits an audit record key into `(shard, seq)`; None when it is not 12 bytes.
pub fn parse_record_key(key: &[u8]) -> Option<(u32, u64)> {
    if key.len() != RECORD_KEY_BYTES {
        return None;
    }
    let shard = u32::from_be_bytes(key[..4].try_into().ok()?);
    let seq = u64::from_be_bytes(key[4..].try_into().ok()?);
    Some((shard, seq))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn record_key_orders_numerically() {
        let keys = [record_key(0, 255), record_key(0, 256), record_key(1, 0)];
        assert!(keys[0] < keys[1]);
        assert!(keys[1] < keys[2]);
        assert_eq!(parse_record_key(&keys[1]), Some((0, 256)));
    }

    #[test]
    fn text_round_trips_with_prefix() {
        let key = tenant_id_key("acme", "kid-1");
        let (tenant, next) = read_text(&key, 0).unwrap();
        let (id, end) = read_text(&key, next).unwrap();
        assert_eq!(tenant, "acme");
        assert_eq!(id, "kid-1");
        assert_eq!(end, key.len());
    }

    #[test]
    fn oversized_tenant_is_rejected() {
        let tenant = "t".repeat(TENANT_BYTES_MAX + 1);
        assert!(check_tenant(&tenant).is_err());
        assert!(check_tenant("").is_err());
        assert!(check_tenant("acme").is_ok());
    }
}
