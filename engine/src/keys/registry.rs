//! The concurrent key registry consulted on every request.

use super::record::{KeyRecord, KeyStatus, KID_LEN_MAX};
use super::rejection::KeyRejection;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use std::sync::Arc;
use thiserror::Error;

/// The reason a registry change was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistryError {
    /// A key with this kid exists already; kids are never reused, even after revocation.
    #[error("key `{kid}` is already registered")]
    Duplicate {
        /// The kid.
        kid: String,
    },
    /// No key is registered under the kid.
    #[error("key `{kid}` is not registered")]
    NotFound {
        /// The kid.
        kid: String,
    },
    /// The key is revoked already.
    #[error("key `{kid}` is already revoked")]
    AlreadyRevoked {
        /// The kid.
        kid: String,
    },
    /// The record is invalid.
    #[error("invalid key record `{kid}`: {reason}")]
    InvalidRecord {
        /// The kid.
        kid: String,
        /// The rule the record breaks.
        reason: String,
    },
    /// A rotation named a new key of another tenant.
    #[error("key `{new_kid}` belongs to another tenant than `{old_kid}`; rotation keeps the tenant")]
    TenantMismatch {
        /// The key being replaced.
        old_kid: String,
        /// The replacement.
        new_kid: String,
    },
}

/// Every agent key, by kid. Cloning shares the same registry.
///
/// Readers get an `Arc` of an immutable record. A change replaces the record under the map's
/// shard lock, so it is visible to the next lookup on every thread. A request that looked the
/// key up just before a revocation may still finish with the old record.
#[derive(Debug, Clone, Default)]
pub struct KeyRegistry {
    keys: Arc<DashMap<String, Arc<KeyRecord>>>,
}

impl KeyRegistry {
    /// Creates an empty registry.
    pub fn new() -> KeyRegistry {
        KeyRegistry::default()
    }

    /// Adds a key. Records of any status are accepted, so history can be restored from storage.
    pub fn register(&self, record: KeyRecord) -> Result<Arc<KeyRecord>, RegistryError> {
        validate_record(&record)?;

        match self.keys.entry(record.kid.clone()) {
            Entry::Occupied(_) => Err(RegistryError::Duplicate { kid: record.kid }),
            Entry::Vacant(slot) => {
                let record = Arc::new(record);
                slot.insert(Arc::clone(&record));
                Ok(record)
            }
        }
    }

    /// Revokes a key at `now_ms`. Revocation is final.
    pub fn revoke(&self, kid: &str, now_ms: i64) -> Result<Arc<KeyRecord>, RegistryError> {
        self.revoke_replaced(kid, now_ms, None)
    }

    /// Registers `new_record` as the replacement of `old_kid` and revokes `old_kid`, linking the
    /// two records. Both stay in the registry as history. Returns (old, new).
    pub fn rotate(
        &self,
        old_kid: &str,
        mut new_record: KeyRecord,
        now_ms: i64,
    ) -> Result<(Arc<KeyRecord>, Arc<KeyRecord>), RegistryError> {
        let old = self.get(old_kid).ok_or_else(|| RegistryError::NotFound {
            kid: old_kid.to_owned(),
        })?;
        if old.status == KeyStatus::Revoked {
            return Err(RegistryError::AlreadyRevoked {
                kid: old_kid.to_owned(),
            });
        }
        if new_record.tenant != old.tenant {
            return Err(RegistryError::TenantMismatch {
                old_kid: old_kid.to_owned(),
                new_kid: new_record.kid,
            });
        }

        new_record.replaces = Some(old_kid.to_owned());
        new_record.status = KeyStatus::Active;
        let new_kid = new_record.kid.clone();
        let new = self.register(new_record)?;

        // A concurrent revocation or rotation of the old key may have won the race; undo the
        // registration so that no key is left half rotated.
        match self.revoke_replaced(old_kid, now_ms, Some(new_kid.clone())) {
            Ok(old) => Ok((old, new)),
            Err(error) => {
                self.keys.remove(&new_kid);
                Err(error)
            }
        }
    }

    /// Returns the record for `kid`.
    pub fn get(&self, kid: &str) -> Option<Arc<KeyRecord>> {
        self.keys.get(kid).map(|entry| Arc::clone(entry.value()))
    }

    /// Returns every key of `tenant`, revoked ones included, oldest first.
    pub fn list(&self, tenant: &str) -> Vec<Arc<KeyRecord>> {
        let mut records: Vec<Arc<KeyRecord>> = self
            .keys
            .iter()
            .filter(|entry| entry.value().tenant == tenant)
            .map(|entry| Arc::clone(entry.value()))
            .collect();
        records.sort_by(|left, right| {
            (left.created_at, &left.kid).cmp(&(right.created_at, &right.kid))
        });
        records
    }

    /// Returns the number of keys, revoked ones included.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Returns true if no key is registered.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Returns the key if it may sign for `actor_id` of `tenant` at `now_ms`.
    ///
    /// The tenant is checked right after existence, so a probe with another tenant's kid learns
    /// only that the kid is not usable, never its status or validity.
    pub fn authorize(
        &self,
        kid: &str,
        tenant: &str,
        actor_id: &str,
        now_ms: i64,
    ) -> Result<Arc<KeyRecord>, KeyRejection> {
        let record = self.get(kid).ok_or_else(|| KeyRejection::Unknown {
            kid: kid.to_owned(),
        })?;

        if record.tenant != tenant {
            return Err(KeyRejection::WrongTenant {
                kid: kid.to_owned(),
                tenant: tenant.to_owned(),
            });
        }
        if record.status == KeyStatus::Revoked {
            return Err(KeyRejection::Revoked {
                kid: kid.to_owned(),
                revoked_at_ms: record.revoked_at.unwrap_or(record.created_at),
            });
        }
        if let Some(not_before_ms) = record.not_before.filter(|start| now_ms < *start) {
            return Err(KeyRejection::NotYetValid {
                kid: kid.to_owned(),
                not_before_ms,
            });
        }
        if let Some(not_after_ms) = record.not_after.filter(|end| now_ms >= *end) {
            return Err(KeyRejection::Expired {
                kid: kid.to_owned(),
                not_after_ms,
            });
        }
        if !record.allows_actor(actor_id) {
            return Err(KeyRejection::ActorNotAllowed {
                kid: kid.to_owned(),
                actor_id: actor_id.to_owned(),
            });
        }
        Ok(record)
    }

    fn revoke_replaced(
        &self,
        kid: &str,
        now_ms: i64,
        replaced_by: Option<String>,
    ) -> Result<Arc<KeyRecord>, RegistryError> {
        let mut entry = self.keys.get_mut(kid).ok_or_else(|| RegistryError::NotFound {
            kid: kid.to_owned(),
        })?;
        if entry.status == KeyStatus::Revoked {
            return Err(RegistryError::AlreadyRevoked {
                kid: kid.to_owned(),
            });
        }

        let mut revoked = KeyRecord::clone(entry.value());
        revoked.status = KeyStatus::Revoked;
        revoked.revoked_at = Some(now_ms);
        if replaced_by.is_some() {
            revoked.replaced_by = replaced_by;
        }
        let revoked = Arc::new(revoked);
        *entry.value_mut() = Arc::clone(&revoked);
        Ok(revoked)
    }
}

fn validate_record(record: &KeyRecord) -> Result<(), RegistryError> {
    let invalid = |reason: &str| RegistryError::InvalidRecord {
        kid: record.kid.clone(),
        reason: reason.to_owned(),
    };

    let kid_is_valid = !record.kid.is_empty()
        && record.kid.len() <= KID_LEN_MAX
        && record
            .kid
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'));
    if !kid_is_valid {
        return Err(invalid(
            "kid must be 1 to 128 characters from A-Z, a-z, 0-9, `_`, `-` and `.`",
        ));
    }
    if record.tenant.is_empty() {
        return Err(invalid("tenant must not be empty"));
    }
    if let (Some(start), Some(end)) = (record.not_before, record.not_after) {
        if start >= end {
            return Err(invalid("not_before must be earlier than not_after"));
        }
    }
    if record.status == KeyStatus::Revoked && record.revoked_at.is_none() {
        return Err(invalid("a revoked key needs revoked_at"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyPair;
    use crate::keys::ANY_ACTOR;

    fn record(tenant: &str, actors: &[&str]) -> KeyRecord {
        let actors = actors.iter().map(|actor| actor.to_string()).collect();
        KeyRecord::new(tenant, KeyPair::generate().public_key(), actors, 1_000)
    }

    #[test]
    fn authorize_accepts_a_valid_key() {
        let registry = KeyRegistry::new();
        let key = registry.register(record("acme", &["bot-1"])).unwrap();
        let found = registry.authorize(&key.kid, "acme", "bot-1", 2_000).unwrap();
        assert_eq!(found.kid, key.kid);
    }

    #[test]
    fn authorize_reports_each_failure() {
        let registry = KeyRegistry::new();
        let mut bounded = record("acme", &["bot-1"]);
        bounded.not_before = Some(1_000);
        bounded.not_after = Some(5_000);
        let kid = registry.register(bounded).unwrap().kid.clone();

        assert!(matches!(
            registry.authorize("k_missing", "acme", "bot-1", 2_000),
            Err(KeyRejection::Unknown { .. })
        ));
        assert!(matches!(
            registry.authorize(&kid, "globex", "bot-1", 2_000),
            Err(KeyRejection::WrongTenant { .. })
        ));
        assert!(matches!(
            registry.authorize(&kid, "acme", "bot-2", 2_000),
            Err(KeyRejection::ActorNotAllowed { .. })
        ));
        assert!(matches!(
            registry.authorize(&kid, "acme", "bot-1", 999),
            Err(KeyRejection::NotYetValid { .. })
        ));
        assert!(registry.authorize(&kid, "acme", "bot-1", 1_000).is_ok());
        assert!(registry.authorize(&kid, "acme", "bot-1", 4_999).is_ok());
        assert!(matches!(
            registry.authorize(&kid, "acme", "bot-1", 5_000),
            Err(KeyRejection::Expired { .. })
        ));

        registry.revoke(&kid, 3_000).unwrap();
        assert_eq!(
            registry.authorize(&kid, "acme", "bot-1", 3_000),
            Err(KeyRejection::Revoked {
                kid: kid.clone(),
                revoked_at_ms: 3_000
            })
        );
    }

    #[test]
    fn wildcard_and_empty_actor_lists() {
        let registry = KeyRegistry::new();
        let any = registry.register(record("acme", &[ANY_ACTOR])).unwrap();
        assert!(registry.authorize(&any.kid, "acme", "whoever", 2_000).is_ok());
        let none = registry.register(record("acme", &[])).unwrap();
        assert!(registry.authorize(&none.kid, "acme", "bot-1", 2_000).is_err());
    }

    #[test]
    fn register_rejects_duplicates_and_bad_records() {
        let registry = KeyRegistry::new();
        let first = record("acme", &["bot-1"]);
        registry.register(first.clone()).unwrap();
        assert!(matches!(registry.register(first), Err(RegistryError::Duplicate { .. })));

        let mut bad_kid = record("acme", &["bot-1"]);
        bad_kid.kid = "has space".into();
        assert!(matches!(registry.register(bad_kid), Err(RegistryError::InvalidRecord { .. })));

        let mut bad_window = record("acme", &["bot-1"]);
        bad_window.not_before = Some(10);
        bad_window.not_after = Some(10);
        assert!(matches!(
            registry.register(bad_window),
            Err(RegistryError::InvalidRecord { .. })
        ));
    }

    #[test]
    fn rotate_links_and_keeps_history() {
        let registry = KeyRegistry::new();
        let old = registry.register(record("acme", &["bot-1"])).unwrap();
        let replacement = record("acme", &["bot-1"]);
        let new_kid = replacement.kid.clone();

        let (old_after, new) = registry.rotate(&old.kid, replacement, 7_000).unwrap();
        assert_eq!(old_after.status, KeyStatus::Revoked);
        assert_eq!(old_after.revoked_at, Some(7_000));
        assert_eq!(old_after.replaced_by.as_deref(), Some(new_kid.as_str()));
        assert_eq!(new.replaces.as_deref(), Some(old.kid.as_str()));
        assert_eq!(registry.list("acme").len(), 2);
        assert!(registry.authorize(&old.kid, "acme", "bot-1", 8_000).is_err());
        assert!(registry.authorize(&new_kid, "acme", "bot-1", 8_000).is_ok());

        assert!(matches!(
            registry.rotate(&old.kid, record("acme", &["bot-1"]), 9_000),
            Err(RegistryError::AlreadyRevoked { .. })
        ));
        assert!(matches!(
            registry.rotate(&new_kid, record("globex", &["bot-1"]), 9_000),
            Err(RegistryError::TenantMismatch { .. })
        ));
        assert_eq!(registry.len(), 2);
    }

    #[test]
    fn list_is_per_tenant() {
        let registry = KeyRegistry::new();
        registry.register(record("acme", &["a"])).unwrap();
        registry.register(record("globex", &["a"])).unwrap();
        assert_eq!(registry.list("acme").len(), 1);
        assert!(registry.list("initech").is_empty());
    }

    #[test]
    fn revocation_is_seen_by_other_threads() {
        let registry = KeyRegistry::new();
        let kid = registry.register(record("acme", &["bot-1"])).unwrap().kid.clone();
        let (checked_sender, checked_receiver) = std::sync::mpsc::channel::<bool>();
        let (revoked_sender, revoked_receiver) = std::sync::mpsc::channel::<()>();

        let reader = {
            let registry = registry.clone();
            let kid = kid.clone();
            std::thread::spawn(move || {
                let before = registry.authorize(&kid, "acme", "bot-1", 2_000).is_ok();
                checked_sender.send(before).unwrap();
                revoked_receiver.recv().unwrap();
                registry.authorize(&kid, "acme", "bot-1", 2_000)
            })
        };

        assert!(checked_receiver.recv().unwrap(), "key was not usable before revocation");
        registry.revoke(&kid, 1_500).unwrap();
        revoked_sender.send(()).unwrap();
        let after = reader.join().unwrap();
        assert!(matches!(after, Err(KeyRejection::Revoked { .. })), "{after:?}");
    }
}
