//! Append-only logs outside the audit chain: runtime settings with their history, and the
//! `compliance_events` log. Neither has an update or delete API.

use crate::error::StorageError;
use fjall::{Database, Keyspace, PersistMode};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Key of the current settings in the settings keyspace.
const CURRENT_SETTINGS_KEY: &[u8] = b"current";

/// One entry of a log: its position and its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry<T> {
    /// Position in the log, starting at 1 and increasing by 1 per entry.
    pub id: u64,
    /// When the entry was written, Unix milliseconds, as given by the caller.
    pub time_ms: u64,
    /// The entry.
    pub value: T,
}

/// A log keyed by a u64 big-endian position; appends are serialized by a mutex that also
/// holds the next position.
struct AppendLog {
    db: Database,
    keyspace: Keyspace,
    next_id: Mutex<u64>,
}

impl AppendLog {
    fn new(db: Database, keyspace: Keyspace) -> Result<AppendLog, StorageError> {
        let last = keyspace
            .last_key_value()
            .map(|guard| guard.key())
            .transpose()
            .map_err(StorageError::fjall("read log tail"))?;
        let next_id = match last {
            Some(key) => {
                let bytes = <[u8; 8]>::try_from(key.as_ref())
                    .map_err(|_| StorageError::corrupt("log key", "is not 8 bytes"))?;
                u64::from_be_bytes(bytes).saturating_add(1)
            }
            None => 1,
        };
        Ok(AppendLog {
            db,
            keyspace,
            next_id: Mutex::new(next_id),
        })
    }

    /// Appends `value`, with `extra` written in the same atomic, fsynced batch.
    fn append<T: Serialize>(
        &self,
        time_ms: u64,
        value: &T,
        extra: Option<(&Keyspace, &[u8], Vec<u8>)>,
    ) -> Result<u64, StorageError> {
        let mut next_id = self.next_id.lock();
        let entry = LogEntry {
            id: *next_id,
            time_ms,
            value,
        };
        let bytes = serde_json::to_vec(&entry).map_err(|source| StorageError::Encode {
            what: "log entry",
            source,
        })?;

        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        batch.insert(&self.keyspace, entry.id.to_be_bytes(), bytes);
        if let Some((keyspace, key, value)) = extra {
            batch.insert(keyspace, key, value);
        }
        batch.commit().map_err(StorageError::fjall("append log"))?;

        *next_id += 1;
        Ok(entry.id)
    }

    /// Lists up to `limit` entries with ids above `after_id`, oldest first.
    fn list<T: DeserializeOwned>(
        &self,
        after_id: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry<T>>, StorageError> {
        let start = after_id.saturating_add(1).to_be_bytes();
        let mut entries = Vec::new();
        for guard in self.keyspace.range(start..).take(limit) {
            let bytes = guard.value().map_err(StorageError::fjall("scan log"))?;
            let entry = serde_json::from_slice(&bytes)
                .map_err(|error| StorageError::corrupt("log entry", error.to_string()))?;
            entries.push(entry);
        }
        Ok(entries)
    }

    /// Rewrites the values `edit` changes (it returns the new value, or None to keep one) in
    /// one fsynced batch, holding the append lock so no entry is added meanwhile. Returns how
    /// many entries changed. Ids and times stay as they were.
    fn rewrite(
        &self,
        mut edit: impl FnMut(&serde_json::Value) -> Option<serde_json::Value>,
    ) -> Result<usize, StorageError> {
        let _appends = self.next_id.lock();
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        let mut changed = 0;
        for guard in self.keyspace.iter() {
            let (key, bytes) = guard
                .into_inner()
                .map_err(StorageError::fjall("scan log"))?;
            let mut entry: LogEntry<serde_json::Value> = serde_json::from_slice(&bytes)
                .map_err(|error| StorageError::corrupt("log entry", error.to_string()))?;
            let Some(value) = edit(&entry.value) else {
                continue;
            };
            entry.value = value;
            let bytes = serde_json::to_vec(&entry).map_err(|source| StorageError::Encode {
                what: "log entry",
                source,
            })?;
            batch.insert(&self.keyspace, key, bytes);
            changed += 1;
        }
        if changed > 0 {
            batch.commit().map_err(StorageError::fjall("rewrite log"))?;
        }
        Ok(changed)
    }
}

/// The runtime settings: the current value plus every change, appended to a history.
pub struct SettingsLog {
    current: Keyspace,
    history: AppendLog,
}

impl SettingsLog {
    pub(crate) fn new(
        db: Database,
        current: Keyspace,
        history: Keyspace,
    ) -> Result<SettingsLog, StorageError> {
        Ok(SettingsLog {
            current,
            history: AppendLog::new(db, history)?,
        })
    }

    /// Stores new settings and appends `change` (who changed what, and why) to the history,
    /// atomically; returns the history entry id.
    pub fn put<S: Serialize, C: Serialize>(
        &self,
        time_ms: u64,
        settings: &S,
        change: &C,
    ) -> Result<u64, StorageError> {
        let bytes = serde_json::to_vec(settings).map_err(|source| StorageError::Encode {
            what: "settings",
            source,
        })?;
        self.history.append(
            time_ms,
            change,
            Some((&self.current, CURRENT_SETTINGS_KEY, bytes)),
        )
    }

    /// Reads the current settings; None until the first `put`.
    pub fn get<S: DeserializeOwned>(&self) -> Result<Option<S>, StorageError> {
        let Some(bytes) = self
            .current
            .get(CURRENT_SETTINGS_KEY)
            .map_err(StorageError::fjall("read settings"))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| StorageError::corrupt("settings", error.to_string()))
    }

    /// Lists up to `limit` history entries with ids above `after_id`, oldest first.
    pub fn history<C: DeserializeOwned>(
        &self,
        after_id: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry<C>>, StorageError> {
        self.history.list(after_id, limit)
    }

    /// Rewrites history entries in place for GDPR pseudonymization: `edit` returns the new
    /// value of an entry it changes. Returns how many entries changed. The settings history
    /// is the only log with this method; `compliance_events` is never rewritten.
    pub fn rewrite_history(
        &self,
        edit: impl FnMut(&serde_json::Value) -> Option<serde_json::Value>,
    ) -> Result<usize, StorageError> {
        self.history.rewrite(edit)
    }
}

/// The `compliance_events` log: exports, erasures and other acts that must stay on record.
/// It is append-only and never erased, not even by a GDPR erasure.
pub struct ComplianceLog {
    log: AppendLog,
}

impl ComplianceLog {
    pub(crate) fn new(db: Database, keyspace: Keyspace) -> Result<ComplianceLog, StorageError> {
        Ok(ComplianceLog {
            log: AppendLog::new(db, keyspace)?,
        })
    }

    /// Appends an event and fsyncs it; returns its id.
    pub fn append<T: Serialize>(&self, time_ms: u64, event: &T) -> Result<u64, StorageError> {
        self.log.append(time_ms, event, None)
    }

    /// Lists up to `limit` events with ids above `after_id`, oldest first.
    pub fn list<T: DeserializeOwned>(
        &self,
        after_id: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry<T>>, StorageError> {
        self.log.list(after_id, limit)
    }
}
