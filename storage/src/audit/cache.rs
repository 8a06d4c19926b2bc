//! In-memory state the writer thread owns, so that appending a record needs no store read in
//! the common case: bounded maps of subject keys and sequence marks, and the window of recently
//! committed decision ids.
//!
//! Every entry mirrors durable data. The writer thread is the only writer of the subject keys,
//! the sequence marks and the decision index, so a cached value stays true until the writer
//! itself changes it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Arc;

/// Subject keys the writer keeps in memory. About 100 bytes each, so the map stays under about
/// 7 MiB. A subject outside the map costs one prefix scan of the subject key keyspace.
pub const SUBJECT_KEYS_CACHED_MAX: usize = 65_536;

/// Sequence marks the writer keeps in memory, one per stream. About 150 bytes each, so the map
/// stays under about 10 MiB. A stream outside the map costs one point read.
pub const SEQUENCE_MARKS_CACHED_MAX: usize = 65_536;

/// Decision ids of the most recently committed records that the writer remembers. The
/// caller checks the decision index before its entry enters the queue, and the writer only
/// has to read the index again when more records than this were committed in between. The
/// default queue holds 8,192 records, so the window covers it four times over, at about 3 MiB.
pub const RECENT_DECISION_IDS_MAX: usize = 32_768;

/// A map that holds at most `capacity` entries. When it is full, inserting a new key first
/// evicts an arbitrary entry, which is cheap and enough because a miss only costs a read.
pub struct BoundedMap<K, V> {
    entries: HashMap<K, V>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V> BoundedMap<K, V> {
    pub fn new(capacity: usize) -> BoundedMap<K, V> {
        BoundedMap {
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key)
    }

    pub fn insert(&mut self, key: K, value: V) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            let evicted = self.entries.keys().next().cloned();
            if let Some(evicted) = evicted {
                self.entries.remove(&evicted);
            }
        }
        self.entries.insert(key, value);
    }

    pub fn remove(&mut self, key: &K) {
        self.entries.remove(key);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The decision ids of the last `capacity` committed records, and how many records the writer
/// has committed in total.
///
/// Invariant: `order` holds the ids of records `committed - order.len() + 1 ..= committed` in
/// commit order, and `members` holds the same ids.
pub struct RecentDecisionIds {
    order: VecDeque<Arc<str>>,
    members: HashSet<Arc<str>>,
    capacity: usize,
    committed: u64,
}

impl RecentDecisionIds {
    pub fn new(capacity: usize) -> RecentDecisionIds {
        RecentDecisionIds {
            order: VecDeque::with_capacity(capacity.max(1)),
            members: HashSet::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
            committed: 0,
        }
    }

    /// Records that a record with `decision_id` was committed, forgetting the oldest id when
    /// the window is full.
    pub fn push(&mut self, decision_id: Arc<str>) {
        if self.order.len() >= self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.members.remove(&oldest);
            }
        }
        self.members.insert(decision_id.clone());
        self.order.push_back(decision_id);
        self.committed += 1;
    }

    pub fn contains(&self, decision_id: &str) -> bool {
        self.members.contains(decision_id)
    }

    /// Number of records committed so far.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// True when every record committed after the first `checked_at` records is still in the
    /// window, so an index check made when `checked_at` records were committed, together with
    /// [`RecentDecisionIds::contains`], covers every record written so far.
    pub fn covers_since(&self, checked_at: u64) -> bool {
        match self.committed.checked_sub(checked_at) {
            Some(since) => since <= self.order.len() as u64,
            None => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bounded_map_never_exceeds_capacity() {
        let mut map = BoundedMap::new(3);
        for key in 0..10u32 {
            map.insert(key, key * 2);
        }
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(&9), Some(&18));

        map.insert(9, 1);
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(&9), Some(&1));

        map.remove(&9);
        assert_eq!(map.get(&9), None);
    }

    #[test]
    fn recent_ids_forget_oldest() {
        let mut recent = RecentDecisionIds::new(2);
        recent.push("a".into());
        recent.push("b".into());
        recent.push("c".into());

        assert!(!recent.contains("a"));
        assert!(recent.contains("b"));
        assert!(recent.contains("c"));
        assert_eq!(recent.committed(), 3);
    }

    #[test]
    fn recent_ids_cover_only_the_window() {
        let mut recent = RecentDecisionIds::new(2);
        assert!(recent.covers_since(0));

        for id in ["a", "b", "c"] {
            recent.push(id.into());
        }

        assert!(recent.covers_since(3));
        assert!(recent.covers_since(2));
        assert!(recent.covers_since(1));
        assert!(!recent.covers_since(0));
        assert!(!recent.covers_since(4));
    }
}
