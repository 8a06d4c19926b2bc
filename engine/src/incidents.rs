//! Deduplication of security incidents.
//!
//! Forbidden requests can arrive in floods, so the engine must never write one incident per
//! request. The tracker opens at most one incident per (tenant, actor, reason) within a window
//! and counts the repeats in memory; the caller persists only the openings and, periodically,
//! the counts.

use crate::model::ReasonCode;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};

/// Default deduplication window, in milliseconds: one incident per actor and reason per minute.
pub const INCIDENT_WINDOW_MS_DEFAULT: i64 = 60_000;
/// Most (tenant, actor, reason) windows tracked at once; beyond it, repeats are folded into one
/// window per (tenant, reason) so memory stays bounded under a flood of distinct actor ids.
pub const INCIDENT_KEYS_MAX: usize = 100_000;
/// Actor id recorded when the flood of distinct actors overflowed [`INCIDENT_KEYS_MAX`].
pub const OVERFLOW_ACTOR: &str = "*";

/// An incident the caller must record, because no incident for its key was open in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentOpening {
    /// Tenant the requests claimed (for unauthenticated requests, as claimed, unverified).
    pub tenant: String,
    /// Actor id the requests claimed, or [`OVERFLOW_ACTOR`].
    pub actor_id: String,
    /// Why.
    pub reason_code: ReasonCode,
    /// Start of the deduplication window, Unix milliseconds.
    pub window_start_ms: i64,
    /// Key id of the request that opened the incident, when the caller knows it. Not part of
    /// the deduplication key, so repeats signed with other keys count into the same incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start_ms: i64,
    count: u64,
}

/// Opens at most one incident per key and window.
#[derive(Debug)]
pub struct IncidentTracker {
    window_ms: i64,
    windows: DashMap<(String, String, ReasonCode), Window>,
}

impl IncidentTracker {
    /// Creates a tracker with the given window, in milliseconds.
    pub fn new(window_ms: i64) -> Self {
        IncidentTracker {
            window_ms: window_ms.max(1),
            windows: DashMap::new(),
        }
    }

    /// Counts one occurrence; returns an opening when the key has no window in progress.
    pub fn observe(
        &self,
        tenant: &str,
        actor_id: &str,
        reason_code: ReasonCode,
        now_ms: i64,
    ) -> Option<IncidentOpening> {
        let mut actor = actor_id;
        let exact_key = (tenant.to_owned(), actor_id.to_owned(), reason_code);
        if !self.windows.contains_key(&exact_key) && self.windows.len() >= INCIDENT_KEYS_MAX {
            self.evict_expired(now_ms);
            if self.windows.len() >= INCIDENT_KEYS_MAX {
                actor = OVERFLOW_ACTOR;
            }
        }

        let key = (tenant.to_owned(), actor.to_owned(), reason_code);
        let mut window = self.windows.entry(key).or_insert(Window {
            start_ms: i64::MIN,
            count: 0,
        });
        if now_ms.saturating_sub(window.start_ms) < self.window_ms {
            window.count += 1;
            return None;
        }
        *window = Window {
            start_ms: now_ms,
            count: 1,
        };
        Some(IncidentOpening {
            tenant: tenant.to_owned(),
            actor_id: actor.to_owned(),
            reason_code,
            window_start_ms: now_ms,
            kid: None,
        })
    }

    /// Returns how many occurrences the current window of a key has counted.
    pub fn count(&self, tenant: &str, actor_id: &str, reason_code: ReasonCode) -> u64 {
        self.windows
            .get(&(tenant.to_owned(), actor_id.to_owned(), reason_code))
            .map(|window| window.count)
            .unwrap_or(0)
    }

    /// Drops windows that ended before `now_ms`.
    pub fn evict_expired(&self, now_ms: i64) {
        let window_ms = self.window_ms;
        self.windows
            .retain(|_, window| now_ms.saturating_sub(window.start_ms) < window_ms);
    }
}

impl Default for IncidentTracker {
    fn default() -> Self {
        IncidentTracker::new(INCIDENT_WINDOW_MS_DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_opening_per_window() {
        let tracker = IncidentTracker::new(60_000);
        let first = tracker.observe("acme", "bot-1", ReasonCode::ReplayDetected, 1_000);
        let repeats: Vec<_> = (0..100)
            .filter_map(|i| tracker.observe("acme", "bot-1", ReasonCode::ReplayDetected, 1_000 + i))
            .collect();

        assert!(first.is_some());
        assert!(repeats.is_empty());
        assert_eq!(tracker.count("acme", "bot-1", ReasonCode::ReplayDetected), 101);
    }

    #[test]
    fn new_window_opens_again() {
        let tracker = IncidentTracker::new(60_000);
        assert!(tracker.observe("acme", "bot-1", ReasonCode::BadSignature, 0).is_some());
        assert!(tracker.observe("acme", "bot-1", ReasonCode::BadSignature, 59_999).is_none());
        assert!(tracker.observe("acme", "bot-1", ReasonCode::BadSignature, 60_000).is_some());
    }

    #[test]
    fn keys_are_separate() {
        let tracker = IncidentTracker::new(60_000);
        assert!(tracker.observe("acme", "bot-1", ReasonCode::BadSignature, 0).is_some());
        assert!(tracker.observe("acme", "bot-2", ReasonCode::BadSignature, 0).is_some());
        assert!(tracker.observe("acme", "bot-1", ReasonCode::ReplayDetected, 0).is_some());
        assert!(tracker.observe("other", "bot-1", ReasonCode::BadSignature, 0).is_some());
    }
}
