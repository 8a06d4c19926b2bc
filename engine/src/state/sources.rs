//! Freshness of the data feeds that actions rely on.
//!
//! Feeds push `(tenant, domain, source, event_time)` events. Ages are computed when read, from
//! the newest event time seen, so an event that arrives out of order never makes a source look
//! fresher than it is.

use dashmap::DashMap;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Longest accepted tenant, domain or source name, in bytes; keeps map keys and labels small.
pub const SOURCE_NAME_BYTES_MAX: usize = 128;
/// Most sources one store tracks; ingestion of a new source beyond it is rejected.
pub const SOURCES_MAX: usize = 100_000;

/// One freshness event from a feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEvent {
    /// Tenant the source belongs to.
    pub tenant: String,
    /// Policy domain, for example `finance`.
    pub domain: String,
    /// Source name as policies write it in `source("bank")`.
    pub source: String,
    /// When the data the event describes was produced, Unix milliseconds.
    pub event_time_ms: i64,
    /// Optional health score in [0, 1], as an exact decimal string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_score: Option<Decimal>,
}

/// Why an event was not ingested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// A name is empty or longer than [`SOURCE_NAME_BYTES_MAX`].
    #[error("invalid {field} `{value}`: must be 1 to {SOURCE_NAME_BYTES_MAX} bytes")]
    InvalidName {
        /// Which field.
        field: &'static str,
        /// The value received.
        value: String,
    },
    /// The event time is after the engine's clock plus the allowed skew.
    #[error("event_time_ms {event_time_ms} is in the future (now {now_ms})")]
    FromTheFuture {
        /// The event time received.
        event_time_ms: i64,
        /// The engine's clock.
        now_ms: i64,
    },
    /// The health score is outside [0, 1].
    #[error("health_score {0} is outside [0, 1]")]
    InvalidHealth(Decimal),
    /// The store already tracks [`SOURCES_MAX`] sources.
    #[error("source limit of {SOURCES_MAX} reached")]
    TooManySources,
}

/// What the store keeps per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStatus {
    /// Newest event time seen, Unix milliseconds; only ever moves forward.
    pub event_time_ms: i64,
    /// When the engine received the event that set `event_time_ms`, Unix milliseconds.
    pub received_at_ms: i64,
    /// Health score of the newest event, 1 when the feed does not report one.
    pub health_score: Decimal,
}

/// A source's freshness as seen at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceView {
    /// Source name.
    pub source: String,
    /// Seconds since the newest event time, at read time (exact, millisecond precision).
    pub age_sec: Decimal,
    /// Seconds between the newest event's time and its arrival at the engine.
    pub lag_sec: Decimal,
    /// Health score of the newest event.
    pub health_score: Decimal,
    /// Newest event time, Unix milliseconds.
    pub event_time_ms: i64,
}

type SourceKey = (String, String, String);

/// Concurrent map of source freshness per (tenant, domain, source).
#[derive(Debug, Default)]
pub struct SourceStore {
    sources: DashMap<SourceKey, SourceStatus>,
}

/// Converts a millisecond span to exact seconds.
fn millis_to_seconds(millis: i64) -> Decimal {
    Decimal::new(millis, 3)
}

fn check_name(field: &'static str, value: &str) -> Result<(), SourceError> {
    if value.is_empty() || value.len() > SOURCE_NAME_BYTES_MAX {
        return Err(SourceError::InvalidName {
            field,
            value: value.chars().take(SOURCE_NAME_BYTES_MAX).collect(),
        });
    }
    Ok(())
}

impl SourceStore {
    /// Creates an empty store.
    pub fn new() -> Self {
        SourceStore::default()
    }

    /// Records an event; returns the status after it. An event older than the newest one seen
    /// leaves the status unchanged.
    pub fn ingest(
        &self,
        event: &SourceEvent,
        now_ms: i64,
        clock_skew_ms: i64,
    ) -> Result<SourceStatus, SourceError> {
        check_name("tenant", &event.tenant)?;
        check_name("domain", &event.domain)?;
        check_name("source", &event.source)?;
        if event.event_time_ms > now_ms.saturating_add(clock_skew_ms) {
            return Err(SourceError::FromTheFuture {
                event_time_ms: event.event_time_ms,
                now_ms,
            });
        }
        let health_score = event.health_score.unwrap_or(Decimal::ONE);
        if health_score < Decimal::ZERO || health_score > Decimal::ONE {
            return Err(SourceError::InvalidHealth(health_score));
        }

        let key = (
            event.tenant.clone(),
            event.domain.clone(),
            event.source.clone(),
        );
        if !self.sources.contains_key(&key) && self.sources.len() >= SOURCES_MAX {
            return Err(SourceError::TooManySources);
        }
        let candidate = SourceStatus {
            event_time_ms: event.event_time_ms,
            received_at_ms: now_ms,
            health_score,
        };
        let mut entry = self.sources.entry(key).or_insert(candidate);
        if candidate.event_time_ms > entry.event_time_ms {
            *entry = candidate;
        }
        Ok(*entry)
    }

    /// Restores a status loaded from durable storage, keeping the newer of the two.
    pub fn restore(&self, tenant: &str, domain: &str, source: &str, status: SourceStatus) {
        let key = (tenant.to_owned(), domain.to_owned(), source.to_owned());
        let mut entry = self.sources.entry(key).or_insert(status);
        if status.event_time_ms > entry.event_time_ms {
            *entry = status;
        }
    }

    /// Reads one source's freshness at `now_ms`; None when it never reported.
    pub fn view(&self, tenant: &str, domain: &str, source: &str, now_ms: i64) -> Option<SourceView> {
        let key = (tenant.to_owned(), domain.to_owned(), source.to_owned());
        let status = *self.sources.get(&key)?;
        Some(Self::to_view(source, status, now_ms))
    }

    /// Reads every source of a tenant, sorted by domain and name.
    pub fn list(&self, tenant: &str, now_ms: i64) -> Vec<(String, SourceView)> {
        let mut views: Vec<(String, SourceView)> = self
            .sources
            .iter()
            .filter(|entry| entry.key().0 == tenant)
            .map(|entry| {
                let (_, domain, source) = entry.key();
                (domain.clone(), Self::to_view(source, *entry.value(), now_ms))
            })
            .collect();
        views.sort_by(|left, right| (&left.0, &left.1.source).cmp(&(&right.0, &right.1.source)));
        views
    }

    /// Returns every tracked source, for persistence and metrics.
    pub fn all(&self) -> Vec<(SourceKey, SourceStatus)> {
        self.sources
            .iter()
            .map(|entry| (entry.key().clone(), *entry.value()))
            .collect()
    }

    fn to_view(source: &str, status: SourceStatus, now_ms: i64) -> SourceView {
        let age_ms = now_ms.saturating_sub(status.event_time_ms).max(0);
        let lag_ms = status
            .received_at_ms
            .saturating_sub(status.event_time_ms)
            .max(0);
        SourceView {
            source: source.to_owned(),
            age_sec: millis_to_seconds(age_ms),
            lag_sec: millis_to_seconds(lag_ms),
            health_score: status.health_score,
            event_time_ms: status.event_time_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(source: &str, event_time_ms: i64) -> SourceEvent {
        SourceEvent {
            tenant: "acme".into(),
            domain: "finance".into(),
            source: source.into(),
            event_time_ms,
            health_score: None,
        }
    }

    #[test]
    fn age_is_computed_at_read_time() {
        let store = SourceStore::new();
        store.ingest(&event("bank", 10_000), 10_500, 1_000).unwrap();

        let early = store.view("acme", "finance", "bank", 12_000).unwrap();
        let late = store.view("acme", "finance", "bank", 40_000).unwrap();

        assert_eq!(early.age_sec, Decimal::new(2_000, 3));
        assert_eq!(late.age_sec, Decimal::new(30_000, 3));
        assert_eq!(early.lag_sec, Decimal::new(500, 3));
    }

    #[test]
    fn out_of_order_event_never_freshens() {
        let store = SourceStore::new();
        store.ingest(&event("bank", 20_000), 20_000, 0).unwrap();
        store.ingest(&event("bank", 5_000), 21_000, 0).unwrap();

        let view = store.view("acme", "finance", "bank", 30_000).unwrap();
        assert_eq!(view.event_time_ms, 20_000);
        assert_eq!(view.age_sec, Decimal::new(10_000, 3));
    }

    #[test]
    fn future_event_and_bad_names_rejected() {
        let store = SourceStore::new();
        assert!(matches!(
            store.ingest(&event("bank", 50_000), 10_000, 1_000),
            Err(SourceError::FromTheFuture { .. })
        ));
        assert!(matches!(
            store.ingest(&event("", 1_000), 10_000, 1_000),
            Err(SourceError::InvalidName { field: "source", .. })
        ));
        assert!(store.view("acme", "finance", "bank", 10_000).is_none());
    }

    #[test]
    fn tenants_are_kept_apart() {
        let store = SourceStore::new();
        store.ingest(&event("bank", 1_000), 2_000, 0).unwrap();
        assert!(store.view("other", "finance", "bank", 3_000).is_none());
        assert!(store.list("other", 3_000).is_empty());
        assert_eq!(store.list("acme", 3_000).len(), 1);
    }
}
