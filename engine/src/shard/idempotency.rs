//! Idempotency entries: the decision stored for each (actor, idempotency key).

use crate::model::DecisionResponse;
use std::collections::HashMap;

/// The table key for an actor's idempotency key. The actor id's length comes first, so no
/// two (actor, key) pairs give the same string.
pub fn entry_key(actor_id: &str, idempotency_key: &str) -> String {
    format!("{}:{actor_id}{idempotency_key}", actor_id.len())
}

/// State of one idempotency key.
#[derive(Debug, Clone, PartialEq)]
enum EntryState {
    /// An admitted request with this key is being decided.
    InFlight { admission_id: u64 },
    /// The final decision, kept until `expires_at_ms`.
    Decided {
        response: Box<DecisionResponse>,
        expires_at_ms: i64,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    intent_hash: [u8; 32],
    state: EntryState,
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyCheck {
    /// The key is unused (or its entry expired).
    New,
    /// Same intent, already decided: the stored response.
    Cached(Box<DecisionResponse>),
    /// Same intent, still being decided by another admission.
    InFlight,
    /// The key was used for a different intent.
    Conflict,
}

/// The idempotency entries of one tenant.
#[derive(Debug, Default)]
pub struct IdempotencyTable {
    entries: HashMap<String, Entry>,
}

impl IdempotencyTable {
    /// Looks up a key at `now_ms`; a decided entry past its expiry counts as unused.
    pub fn check(&self, key: &str, intent_hash: &[u8; 32], now_ms: i64) -> IdempotencyCheck {
        let Some(entry) = self.entries.get(key) else {
            return IdempotencyCheck::New;
        };
        if let EntryState::Decided { expires_at_ms, .. } = &entry.state {
            if *expires_at_ms < now_ms {
                return IdempotencyCheck::New;
            }
        }

        if entry.intent_hash != *intent_hash {
            return IdempotencyCheck::Conflict;
        }
        match &entry.state {
            EntryState::InFlight { .. } => IdempotencyCheck::InFlight,
            EntryState::Decided { response, .. } => IdempotencyCheck::Cached(response.clone()),
        }
    }

    /// True when the key has an entry, expired or not.
    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Marks the key as being decided by `admission_id`.
    pub fn begin(&mut self, key: String, intent_hash: [u8; 32], admission_id: u64) {
        self.entries.insert(
            key,
            Entry {
                intent_hash,
                state: EntryState::InFlight { admission_id },
            },
        );
    }

    /// Releases an in-flight key of `admission_id` (DEFER or a dropped admission).
    pub fn release(&mut self, key: &str, admission_id: u64) {
        let owned = matches!(
            self.entries.get(key),
            Some(Entry { state: EntryState::InFlight { admission_id: owner }, .. }) if *owner == admission_id
        );
        if owned {
            self.entries.remove(key);
        }
    }

    /// Stores the final decision for the key until `expires_at_ms`.
    pub fn decide(
        &mut self,
        key: String,
        intent_hash: [u8; 32],
        response: DecisionResponse,
        expires_at_ms: i64,
    ) {
        self.entries.insert(
            key,
            Entry {
                intent_hash,
                state: EntryState::Decided {
                    response: Box::new(response),
                    expires_at_ms,
                },
            },
        );
    }

    /// Removes a decided entry if it expired at `expires_at_ms`; returns whether it did.
    pub fn evict_if_expired(&mut self, key: &str, expires_at_ms: i64) -> bool {
        let matches = matches!(
            self.entries.get(key),
            Some(Entry { state: EntryState::Decided { expires_at_ms: at, .. }, .. }) if *at == expires_at_ms
        );
        if matches {
            self.entries.remove(key);
        }
        matches
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::ReasonCode;

    #[test]
    fn entry_keys_do_not_collide_across_split() {
        assert_ne!(entry_key("ab", "c"), entry_key("a", "bc"));
    }

    #[test]
    fn decided_entry_matches_or_conflicts() {
        let mut table = IdempotencyTable::default();
        let key = entry_key("actor", "k1");
        table.begin(key.clone(), [1; 32], 7);
        assert_eq!(table.check(&key, &[1; 32], 0), IdempotencyCheck::InFlight);
        assert_eq!(table.check(&key, &[2; 32], 0), IdempotencyCheck::Conflict);

        let response = DecisionResponse::rejected(ReasonCode::AxiomFail, "x");
        table.decide(key.clone(), [1; 32], response.clone(), 100);
        assert_eq!(
            table.check(&key, &[1; 32], 100),
            IdempotencyCheck::Cached(Box::new(response))
        );
        assert_eq!(table.check(&key, &[1; 32], 101), IdempotencyCheck::New);
    }

    #[test]
    fn release_only_by_owner() {
        let mut table = IdempotencyTable::default();
        let key = entry_key("actor", "k1");
        table.begin(key.clone(), [1; 32], 7);
        table.release(&key, 8);
        assert!(table.contains(&key));
        table.release(&key, 7);
        assert!(!table.contains(&key));
    }
}
