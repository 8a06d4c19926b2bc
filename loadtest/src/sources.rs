//! Keeps the sources the allow scenario depends on fresh, by pushing freshness events to the
//! control plane (`POST /v1/sources/events`) during a run. The source of the stale scenario is
//! never pushed.

use crate::agents::unix_time_ms;
use crate::http::{self, HttpError};
use crate::intents::{DOMAIN, FRESH_SOURCE};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Interval between freshness events, in milliseconds: a sixth of the demo policy's 30 s
/// limit on the bank feed's age, so one lost event does not make the source stale.
pub const SOURCE_REFRESH_INTERVAL_MS: u64 = 5_000;

/// Control-plane address, credentials and tenants of the freshness events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFeed {
    /// Base URL of the control plane, for example `http://127.0.0.1:8080`.
    pub control_url: String,
    /// Bearer token with the `operator` or `sre` role, when the control plane requires one.
    pub bearer_token: Option<String>,
    /// Tenants whose source is refreshed.
    pub tenants: Vec<String>,
}

impl SourceFeed {
    /// Pushes one event per tenant, stamped now.
    pub fn push_once(&self) -> Result<(), HttpError> {
        let url = format!("{}/v1/sources/events", self.control_url.trim_end_matches('/'));
        for tenant in &self.tenants {
            let body = serde_json::json!({
                "tenant": tenant,
                "domain": DOMAIN,
                "source": FRESH_SOURCE,
                "event_time_ms": unix_time_ms(),
            });
            http::post_json(&url, self.bearer_token.as_deref(), &body.to_string())?;
        }
        Ok(())
    }

    /// Pushes events every [`SOURCE_REFRESH_INTERVAL_MS`] until `stop` is notified.
    pub async fn refresh_until(self, stop: Arc<Notify>) {
        let mut ticker = tokio::time::interval(Duration::from_millis(SOURCE_REFRESH_INTERVAL_MS));
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.notified() => return,
            }
            let feed = self.clone();
            match tokio::task::spawn_blocking(move || feed.push_once()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "failed to push a source freshness event"),
                Err(error) => tracing::warn!(%error, "the source freshness task failed"),
            }
        }
    }
}
