//! Reading audit records back: by decision id, by position, newest first, per tenant and per
//! subject. Every read checks the record's hash and key before it is returned.

use super::batch::subject_key_key;
use super::crypto::{open, subject_ref, KEY_ID_BYTES};
use super::entry::{AuditRecord, PersonalView, SubjectId};
use super::index::{actor_index_key, record_key_suffix, tenant_index_key};
use super::record::{decode_checked, DecodedRecord};
use crate::error::StorageError;
use crate::keys::{check_tenant, parse_record_key, record_key, tenant_prefix};
use crate::store::Store;
use std::ops::Bound;

/// Position of a record in the time-ordered audit indexes: pass the cursor of the last record
/// of one page to read the next page after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    /// Decision time, Unix milliseconds.
    pub time_ms: u64,
    /// The record's chain.
    pub shard: u32,
    /// The record's position in its chain.
    pub seq: u64,
}

impl AuditCursor {
    /// Returns the cursor of `record`.
    pub fn of(record: &AuditRecord) -> AuditCursor {
        AuditCursor {
            time_ms: u64::try_from(record.decision.time_ms).unwrap_or(0),
            shard: record.shard,
            seq: record.seq,
        }
    }
}

impl Store {
    /// Reads the record of a decision; None when no record has that decision id.
    pub fn audit_record(&self, decision_id: &str) -> Result<Option<AuditRecord>, StorageError> {
        crate::keys::check_id("decision_id", decision_id)?;
        let Some(key) = self
            .inner
            .keyspaces
            .audit_by_decision
            .get(decision_id.as_bytes())
            .map_err(StorageError::fjall("read decision index"))?
        else {
            return Ok(None);
        };
        let Some((shard, seq)) = parse_record_key(&key) else {
            return Err(StorageError::corrupt(
                format!("decision index entry `{decision_id}`"),
                "does not hold a record key",
            ));
        };
        match self.audit_record_at(shard, seq)? {
            Some(record) => Ok(Some(record)),
            None => Err(StorageError::corrupt(
                format!("audit record shard {shard} seq {seq}"),
                format!("is missing but indexed for decision `{decision_id}`"),
            )),
        }
    }

    /// Reads the record at `(shard, seq)`.
    pub fn audit_record_at(
        &self,
        shard: u32,
        seq: u64,
    ) -> Result<Option<AuditRecord>, StorageError> {
        let Some(value) = self
            .inner
            .keyspaces
            .audit_records
            .get(record_key(shard, seq))
            .map_err(StorageError::fjall("read audit record"))?
        else {
            return Ok(None);
        };
        let record = decode_checked(shard, seq, &value)?;
        self.reveal(record).map(Some)
    }

    /// Reads up to `limit` of the newest records by decision time, newest first.
    pub fn audit_tail(&self, limit: usize) -> Result<Vec<AuditRecord>, StorageError> {
        let index = self.inner.keyspaces.audit_by_time.iter().rev();
        self.collect_indexed(index, limit)
    }

    /// Reads up to `limit` records of `tenant` with `from_ms <= time_ms < to_ms`, oldest first.
    pub fn audit_by_tenant(
        &self,
        tenant: &str,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StorageError> {
        check_tenant(tenant)?;
        let prefix = tenant_prefix(tenant);
        let mut start = prefix.clone();
        start.extend_from_slice(&from_ms.to_be_bytes());
        let mut end = prefix;
        end.extend_from_slice(&to_ms.to_be_bytes());
        let index = self.inner.keyspaces.audit_by_tenant.range(start..end);
        self.collect_indexed(index, limit)
    }

    /// Reads up to `limit` records of one subject, oldest first, through the keyed-hash index;
    /// for GDPR and compliance exports.
    pub fn audit_by_subject(
        &self,
        subject: &SubjectId,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StorageError> {
        let subject_ref = subject_ref(&self.inner.index_key, subject);
        let index = self.inner.keyspaces.audit_by_actor.prefix(subject_ref);
        self.collect_indexed(index, limit)
    }

    /// Reads up to `limit` records of `tenant` with `from_ms <= time_ms < to_ms` that come
    /// after `after` in time order (from the start of the range when None), oldest first.
    pub fn audit_by_tenant_after(
        &self,
        tenant: &str,
        after: Option<AuditCursor>,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StorageError> {
        check_tenant(tenant)?;
        let prefix = tenant_prefix(tenant);
        let mut from = prefix.clone();
        from.extend_from_slice(&from_ms.to_be_bytes());
        let lower = match after {
            Some(cursor) if cursor.time_ms >= from_ms => {
                Bound::Excluded(tenant_index_key(tenant, cursor.time_ms, cursor.shard, cursor.seq))
            }
            _ => Bound::Included(from),
        };
        let mut end = prefix;
        end.extend_from_slice(&to_ms.to_be_bytes());
        let index = self
            .inner
            .keyspaces
            .audit_by_tenant
            .range::<Vec<u8>, _>((lower, Bound::Excluded(end)));
        self.collect_indexed(index, limit)
    }

    /// Reads up to `limit` records of one subject that come after `after` in time order (from
    /// the first when None), oldest first.
    pub fn audit_by_subject_after(
        &self,
        subject: &SubjectId,
        after: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StorageError> {
        let subject_ref = subject_ref(&self.inner.index_key, subject);
        let lower = match after {
            Some(cursor) => Bound::Excluded(actor_index_key(
                &subject_ref,
                cursor.time_ms,
                cursor.shard,
                cursor.seq,
            )),
            None => Bound::Included(subject_ref.to_vec()),
        };
        let mut keys = Vec::new();
        for guard in self
            .inner
            .keyspaces
            .audit_by_actor
            .range::<Vec<u8>, _>((lower, Bound::Unbounded))
        {
            if keys.len() >= limit {
                break;
            }
            let key = guard
                .key()
                .map_err(StorageError::fjall("scan audit index"))?;
            if !key.starts_with(&subject_ref) {
                break;
            }
            keys.push(key);
        }

        let mut records = Vec::with_capacity(keys.len());
        for key in keys {
            let Some((shard, seq)) = record_key_suffix(&key) else {
                return Err(StorageError::corrupt("audit index key", "is too short"));
            };
            match self.audit_record_at(shard, seq)? {
                Some(record) => records.push(record),
                None => {
                    return Err(StorageError::corrupt(
                        format!("audit record shard {shard} seq {seq}"),
                        "is indexed but missing",
                    ))
                }
            }
        }
        Ok(records)
    }

    fn collect_indexed(
        &self,
        index: impl Iterator<Item = fjall::Guard>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StorageError> {
        let mut records = Vec::new();
        for guard in index.take(limit) {
            let key = guard
                .key()
                .map_err(StorageError::fjall("scan audit index"))?;
            let Some((shard, seq)) = record_key_suffix(&key) else {
                return Err(StorageError::corrupt("audit index key", "is too short"));
            };
            match self.audit_record_at(shard, seq)? {
                Some(record) => records.push(record),
                None => {
                    return Err(StorageError::corrupt(
                        format!("audit record shard {shard} seq {seq}"),
                        "is indexed but missing",
                    ))
                }
            }
        }
        Ok(records)
    }

    /// Decrypts the personal data of a checked record, or marks it erased.
    fn reveal(&self, record: DecodedRecord) -> Result<AuditRecord, StorageError> {
        let body = record.body;
        let what = || format!("audit record shard {} seq {}", body.shard, body.seq);
        let sealed = &body.personal;

        let subject_ref = super::record::parse_hash(&sealed.subject_ref);
        let key_id = hex::decode(&sealed.key_id)
            .ok()
            .and_then(|bytes| <[u8; KEY_ID_BYTES]>::try_from(bytes.as_slice()).ok());
        let (Some(subject_ref), Some(key_id)) = (subject_ref, key_id) else {
            return Err(StorageError::corrupt(
                what(),
                "subject reference or key id is malformed",
            ));
        };
        let Some(key) = self
            .inner
            .keyspaces
            .subject_keys
            .get(subject_key_key(&subject_ref, &key_id))
            .map_err(StorageError::fjall("read subject key"))?
        else {
            return Err(StorageError::corrupt(what(), "its subject key is missing"));
        };

        let personal = if key.is_empty() {
            PersonalView::Erased
        } else {
            let key = <[u8; 32]>::try_from(key.as_ref())
                .map_err(|_| StorageError::corrupt(what(), "its subject key is not 32 bytes"))?;
            let nonce = hex::decode(&sealed.nonce).unwrap_or_default();
            let ciphertext = hex::decode(&sealed.ciphertext).unwrap_or_default();
            let Some(data) = open(&key, &body.decision.decision_id, &nonce, &ciphertext) else {
                return Err(StorageError::corrupt(
                    what(),
                    "personal data does not decrypt",
                ));
            };
            PersonalView::Readable {
                actor_id: data.actor_id,
                params: data.params,
            }
        };

        Ok(AuditRecord {
            shard: body.shard,
            seq: body.seq,
            record_hash: hex::encode(record.computed_hash),
            prev_hash: body.prev_hash,
            decision: body.decision,
            personal,
        })
    }
}
