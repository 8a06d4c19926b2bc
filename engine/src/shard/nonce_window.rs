//! Replay windows: the nonces each tenant has used, kept until their certificate expires.

use sha2::{Digest, Sha256};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

/// A nonce reduced to the first 128 bits of its SHA-256, so every entry has the same small
/// size whatever the agent sent. A collision needs about 2^64 nonces of one tenant and only
/// rejects that tenant's own request as a replay, so it never lets a replay through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NonceKey([u8; 16]);

impl NonceKey {
    /// Hashes a nonce as received.
    pub fn of(nonce: &str) -> NonceKey {
        let digest = Sha256::digest(nonce.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        NonceKey(key)
    }
}

/// The live nonces of one tenant and the `expires_at` of the certificate that used each.
#[derive(Debug, Default)]
pub struct NonceWindow {
    expiries_ms: HashMap<NonceKey, i64>,
}

impl NonceWindow {
    /// Returns the certificate expiry of a nonce that is still remembered at `now_ms`.
    /// A nonce is remembered until `expires_at + clock_skew_ms`, inclusive, because the
    /// caller accepts its certificate until then.
    pub fn live_expiry(&self, key: &NonceKey, now_ms: i64, clock_skew_ms: i64) -> Option<i64> {
        let expires_at_ms = *self.expiries_ms.get(key)?;
        let forget_at_ms = expires_at_ms.saturating_add(clock_skew_ms);
        (now_ms <= forget_at_ms).then_some(expires_at_ms)
    }

    /// Returns the expiry a nonce is recorded with, live or not yet swept.
    pub fn recorded_expiry(&self, key: &NonceKey) -> Option<i64> {
        self.expiries_ms.get(key).copied()
    }

    /// Records a nonce; returns false when it was already present (live or not yet swept).
    pub fn insert(&mut self, key: NonceKey, expires_at_ms: i64) -> bool {
        self.expiries_ms.insert(key, expires_at_ms).is_none()
    }

    /// Forgets a nonce; returns its expiry when it was present.
    pub fn remove(&mut self, key: &NonceKey) -> Option<i64> {
        self.expiries_ms.remove(key)
    }

    /// Forgets a nonce only if it is still recorded with this expiry.
    pub fn remove_if_expiry(&mut self, key: &NonceKey, expires_at_ms: i64) -> bool {
        if self.expiries_ms.get(key) == Some(&expires_at_ms) {
            self.expiries_ms.remove(key);
            return true;
        }
        false
    }

    /// Number of nonces recorded.
    pub fn len(&self) -> usize {
        self.expiries_ms.len()
    }

    /// True when no nonce is recorded.
    pub fn is_empty(&self) -> bool {
        self.expiries_ms.is_empty()
    }
}

/// One scheduled eviction: at `at_ms`, `item` of `tenant` may be forgotten.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expiry<K> {
    /// When the entry may be forgotten, Unix milliseconds (before any skew is added).
    pub at_ms: i64,
    /// Owner of the entry.
    pub tenant: Arc<str>,
    /// The entry.
    pub item: K,
}

/// A shard-wide queue of evictions ordered by time, so a sweep touches only what expired.
/// Entries may be stale (the item was removed earlier); the owner checks before removing.
#[derive(Debug)]
pub struct ExpiryQueue<K: Ord> {
    heap: BinaryHeap<Reverse<Expiry<K>>>,
}

impl<K: Ord> Default for ExpiryQueue<K> {
    fn default() -> Self {
        ExpiryQueue {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord> ExpiryQueue<K> {
    /// Schedules an eviction.
    pub fn push(&mut self, at_ms: i64, tenant: Arc<str>, item: K) {
        self.heap.push(Reverse(Expiry { at_ms, tenant, item }));
    }

    /// Removes and returns the earliest entry if it is due, that is `at_ms + grace_ms < now_ms`.
    pub fn pop_due(&mut self, now_ms: i64, grace_ms: i64) -> Option<Expiry<K>> {
        let due = self
            .heap
            .peek()
            .is_some_and(|Reverse(next)| next.at_ms.saturating_add(grace_ms) < now_ms);
        if !due {
            return None;
        }
        self.heap.pop().map(|Reverse(expiry)| expiry)
    }

    /// Number of scheduled entries, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Keeps only the entries for which `keep` returns true, to drop stale ones.
    pub fn retain(&mut self, mut keep: impl FnMut(&Expiry<K>) -> bool) {
        self.heap.retain(|Reverse(expiry)| keep(expiry));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nonce_live_until_expiry_plus_skew() {
        let mut window = NonceWindow::default();
        let key = NonceKey::of("n-1");
        assert!(window.insert(key, 1_000));

        assert_eq!(window.live_expiry(&key, 1_000, 500), Some(1_000));
        assert_eq!(window.live_expiry(&key, 1_500, 500), Some(1_000));
        assert_eq!(window.live_expiry(&key, 1_501, 500), None);
    }

    #[test]
    fn distinct_nonces_get_distinct_keys() {
        assert_ne!(NonceKey::of("a"), NonceKey::of("b"));
        assert_eq!(NonceKey::of("a"), NonceKey::of("a"));
    }

    #[test]
    fn queue_pops_in_time_order_only_when_due() {
        let mut queue = ExpiryQueue::default();
        let tenant: Arc<str> = Arc::from("t");
        queue.push(300, tenant.clone(), 3u32);
        queue.push(100, tenant.clone(), 1u32);
        queue.push(200, tenant, 2u32);

        assert!(queue.pop_due(100, 0).is_none());
        assert_eq!(queue.pop_due(250, 0).map(|e| e.item), Some(1));
        assert_eq!(queue.pop_due(250, 0).map(|e| e.item), Some(2));
        assert!(queue.pop_due(250, 0).is_none());
        assert!(queue.pop_due(350, 100).is_none());
        assert_eq!(queue.pop_due(401, 100).map(|e| e.item), Some(3));
    }
}
