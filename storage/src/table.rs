//! A typed table: JSON values under `(tenant, id)` keys in one keyspace, with compare-and-set
//! for the state machines (escrows, policy versions) that must not lose a concurrent transition.

use crate::config::VALUE_BYTES_MAX;
use crate::error::StorageError;
use crate::keys::{check_id, check_tenant, read_text, tenant_id_key, tenant_prefix};
use fjall::{Database, Keyspace, PersistMode};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Result of [`Table::compare_and_set`].
#[derive(Debug, Clone, PartialEq)]
pub enum CasOutcome<T> {
    /// The stored value equalled the expected one and was replaced.
    Applied,
    /// The stored value differed (or was missing); nothing was written.
    Conflict {
        /// The value found, so the caller can decide again.
        current: Option<T>,
    },
}

/// One keyspace of JSON values keyed by `(tenant, id)`.
///
/// Every write is fsynced before it returns. Writes through one table are serialized by a
/// mutex, which makes [`Table::compare_and_set`] and [`Table::insert_new`] atomic: the store is
/// the only writer of its directory because fjall locks it.
pub struct Table {
    name: &'static str,
    db: Database,
    keyspace: Keyspace,
    write_lock: Mutex<()>,
}

impl Table {
    pub(crate) fn new(name: &'static str, db: Database, keyspace: Keyspace) -> Table {
        Table {
            name,
            db,
            keyspace,
            write_lock: Mutex::new(()),
        }
    }

    /// The keyspace name, for logs and errors.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Writes `value` under `(tenant, id)`, replacing any previous value.
    pub fn put<T: Serialize>(&self, tenant: &str, id: &str, value: &T) -> Result<(), StorageError> {
        let key = checked_key(tenant, id)?;
        let bytes = self.encode(value)?;

        let _guard = self.write_lock.lock();
        self.write(key, bytes)
    }

    /// Writes `value` under `(tenant, id)` without waiting for an fsync. fjall keeps one
    /// journal for every keyspace, so the write becomes durable with the next synced write of
    /// the store, at the latest the next audit group commit. For state that an audit record
    /// made durable right after it covers (budget spends, idempotency entries), not for state
    /// that must survive on its own.
    pub fn put_unsynced<T: Serialize>(
        &self,
        tenant: &str,
        id: &str,
        value: &T,
    ) -> Result<(), StorageError> {
        let key = checked_key(tenant, id)?;
        let bytes = self.encode(value)?;

        let mut batch = self.db.batch().durability(None);
        batch.insert(&self.keyspace, key, bytes);
        batch.commit().map_err(StorageError::fjall("write table"))
    }

    /// Writes `value` under `(tenant, id)` only if nothing is stored there yet.
    pub fn insert_new<T: Serialize>(
        &self,
        tenant: &str,
        id: &str,
        value: &T,
    ) -> Result<(), StorageError> {
        let key = checked_key(tenant, id)?;
        let bytes = self.encode(value)?;

        let _guard = self.write_lock.lock();
        let exists = self
            .keyspace
            .contains_key(&key)
            .map_err(StorageError::fjall("read table"))?;
        if exists {
            return Err(StorageError::AlreadyExists {
                what: self.name,
                id: format!("{tenant}/{id}"),
            });
        }
        self.write(key, bytes)
    }

    /// Replaces the value under `(tenant, id)` with `new` only if the stored value equals
    /// `expected` (compared as JSON values, so field order does not matter).
    pub fn compare_and_set<T: Serialize + DeserializeOwned>(
        &self,
        tenant: &str,
        id: &str,
        expected: &T,
        new: &T,
    ) -> Result<CasOutcome<T>, StorageError> {
        let key = checked_key(tenant, id)?;
        let expected = serde_json::to_value(expected).map_err(|source| StorageError::Encode {
            what: "expected value",
            source,
        })?;
        let bytes = self.encode(new)?;

        let _guard = self.write_lock.lock();
        let current: Option<serde_json::Value> = self.get(tenant, id)?;
        if current.as_ref() != Some(&expected) {
            let current = match current {
                Some(value) => Some(self.decode_value(tenant, id, value)?),
                None => None,
            };
            return Ok(CasOutcome::Conflict { current });
        }
        self.write(key, bytes)?;
        Ok(CasOutcome::Applied)
    }

    /// Reads the value under `(tenant, id)`.
    pub fn get<T: DeserializeOwned>(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<T>, StorageError> {
        let key = checked_key(tenant, id)?;
        let Some(bytes) = self
            .keyspace
            .get(&key)
            .map_err(StorageError::fjall("read table"))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| self.corrupt(tenant, id, error))
    }

    /// Lists up to `limit` entries of `tenant` in id order, as `(id, value)`.
    pub fn list<T: DeserializeOwned>(
        &self,
        tenant: &str,
        limit: usize,
    ) -> Result<Vec<(String, T)>, StorageError> {
        check_tenant(tenant)?;
        let entries = self.scan(self.keyspace.prefix(tenant_prefix(tenant)), limit)?;
        Ok(entries
            .into_iter()
            .map(|(_, id, value)| (id, value))
            .collect())
    }

    /// Lists up to `limit` entries of every tenant, as `(tenant, id, value)`, for platform-wide
    /// views and for rebuilding in-memory state at start.
    pub fn list_all<T: DeserializeOwned>(
        &self,
        limit: usize,
    ) -> Result<Vec<(String, String, T)>, StorageError> {
        self.scan(self.keyspace.iter(), limit)
    }

    /// Lists up to `limit` entries of `tenant` with ids after `after_id` (from the first when
    /// None), in id order, as `(id, value)`. Pages through a tenant with bounded memory: pass
    /// the last id of one page as `after_id` of the next.
    pub fn list_after<T: DeserializeOwned>(
        &self,
        tenant: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, T)>, StorageError> {
        check_tenant(tenant)?;
        let prefix = tenant_prefix(tenant);
        let start = match after_id {
            Some(id) => {
                check_id("after_id", id)?;
                tenant_id_key(tenant, id)
            }
            None => prefix.clone(),
        };
        let mut entries = Vec::new();
        for guard in self.keyspace.range(start.clone()..) {
            if entries.len() >= limit {
                break;
            }
            let (key, bytes) = guard
                .into_inner()
                .map_err(StorageError::fjall("scan table"))?;
            if !key.starts_with(&prefix) {
                break;
            }
            if after_id.is_some() && key.as_ref() == start.as_slice() {
                continue;
            }
            let Some((id, _)) = read_text(&key, prefix.len()) else {
                return Err(StorageError::corrupt(
                    format!("{} key", self.name),
                    "is not a (tenant, id) pair",
                ));
            };
            let value = serde_json::from_slice(&bytes)
                .map_err(|error| self.corrupt(tenant, &id, error))?;
            entries.push((id, value));
        }
        Ok(entries)
    }

    /// Deletes the entry under `(tenant, id)`; returns whether it existed.
    pub fn remove(&self, tenant: &str, id: &str) -> Result<bool, StorageError> {
        let key = checked_key(tenant, id)?;

        let _guard = self.write_lock.lock();
        let existed = self
            .keyspace
            .contains_key(&key)
            .map_err(StorageError::fjall("read table"))?;
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        batch.remove(&self.keyspace, key);
        batch.commit().map_err(StorageError::fjall("write table"))?;
        Ok(existed)
    }

    fn scan<T: DeserializeOwned>(
        &self,
        iter: fjall::Iter,
        limit: usize,
    ) -> Result<Vec<(String, String, T)>, StorageError> {
        let mut entries = Vec::new();
        for guard in iter.take(limit) {
            let (key, bytes) = guard
                .into_inner()
                .map_err(StorageError::fjall("scan table"))?;
            let parsed = read_text(&key, 0)
                .and_then(|(tenant, next)| read_text(&key, next).map(|(id, _)| (tenant, id)));
            let Some((tenant, id)) = parsed else {
                return Err(StorageError::corrupt(
                    format!("{} key", self.name),
                    "is not a (tenant, id) pair",
                ));
            };
            let value = serde_json::from_slice(&bytes)
                .map_err(|error| self.corrupt(&tenant, &id, error))?;
            entries.push((tenant, id, value));
        }
        Ok(entries)
    }

    fn write(&self, key: Vec<u8>, bytes: Vec<u8>) -> Result<(), StorageError> {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        batch.insert(&self.keyspace, key, bytes);
        batch.commit().map_err(StorageError::fjall("write table"))
    }

    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, StorageError> {
        let bytes = serde_json::to_vec(value).map_err(|source| StorageError::Encode {
            what: self.name,
            source,
        })?;
        if bytes.len() > VALUE_BYTES_MAX {
            return Err(StorageError::invalid(
                "value",
                format!(
                    "encodes to {} bytes, above the limit of {VALUE_BYTES_MAX}",
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }

    fn decode_value<T: DeserializeOwned>(
        &self,
        tenant: &str,
        id: &str,
        value: serde_json::Value,
    ) -> Result<T, StorageError> {
        serde_json::from_value(value).map_err(|error| self.corrupt(tenant, id, error))
    }

    fn corrupt(&self, tenant: &str, id: &str, error: serde_json::Error) -> StorageError {
        StorageError::corrupt(
            format!("{} entry `{tenant}/{id}`", self.name),
            error.to_string(),
        )
    }
}

fn checked_key(tenant: &str, id: &str) -> Result<Vec<u8>, StorageError> {
    check_tenant(tenant)?;
    check_id("id", id)?;
    Ok(tenant_id_key(tenant, id))
}
