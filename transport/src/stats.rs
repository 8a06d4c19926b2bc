//! Server counters, updated with relaxed atomics on the request path and read as a snapshot by
//! the metrics exporter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Live counters of one server. Gauges (`*_open`) go up and down; totals only grow.
#[derive(Debug, Default)]
pub struct TransportStats {
    connections_open: AtomicU64,
    connections_accepted_total: AtomicU64,
    connections_refused_total: AtomicU64,
    handshake_failures_total: AtomicU64,
    streams_open: AtomicU64,
    streams_total: AtomicU64,
    streams_refused_total: AtomicU64,
    frame_errors_total: AtomicU64,
    request_timeouts_total: AtomicU64,
    handler_failures_total: AtomicU64,
    responses_failed_total: AtomicU64,
}

/// A point-in-time copy of [`TransportStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStatsSnapshot {
    /// Connections counted against `connections_max`, handshakes included.
    pub connections_open: u64,
    /// Connection attempts accepted for a handshake.
    pub connections_accepted_total: u64,
    /// Connection attempts refused at `connections_max` or during shutdown.
    pub connections_refused_total: u64,
    /// Accepted attempts whose handshake failed (bad certificate, wrong ALPN, timeout).
    pub handshake_failures_total: u64,
    /// Request streams being read, handled or responded to.
    pub streams_open: u64,
    /// Request streams accepted for handling.
    pub streams_total: u64,
    /// Request streams refused because the server was shutting down.
    pub streams_refused_total: u64,
    /// Request frames rejected with an error frame (size, truncation, reset, UTF-8, timeout).
    pub frame_errors_total: u64,
    /// Requests whose handler did not return within `request_timeout_ms`.
    pub request_timeouts_total: u64,
    /// Requests whose handler task panicked.
    pub handler_failures_total: u64,
    /// Responses that could not be written because the stream or connection was gone.
    pub responses_failed_total: u64,
}

/// The gauges that [`GaugeGuard`] can hold up.
#[derive(Debug, Clone, Copy)]
enum Gauge {
    ConnectionsOpen,
    StreamsOpen,
}

/// A gauge increment that is undone when dropped, so every exit path decrements.
pub(crate) struct GaugeGuard {
    stats: Arc<TransportStats>,
    gauge: Gauge,
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.stats.gauge(self.gauge).fetch_sub(1, Ordering::Relaxed);
    }
}

impl TransportStats {
    /// Copies every counter. The copy is not atomic across counters.
    pub fn snapshot(&self) -> TransportStatsSnapshot {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        TransportStatsSnapshot {
            connections_open: read(&self.connections_open),
            connections_accepted_total: read(&self.connections_accepted_total),
            connections_refused_total: read(&self.connections_refused_total),
            handshake_failures_total: read(&self.handshake_failures_total),
            streams_open: read(&self.streams_open),
            streams_total: read(&self.streams_total),
            streams_refused_total: read(&self.streams_refused_total),
            frame_errors_total: read(&self.frame_errors_total),
            request_timeouts_total: read(&self.request_timeouts_total),
            handler_failures_total: read(&self.handler_failures_total),
            responses_failed_total: read(&self.responses_failed_total),
        }
    }

    pub(crate) fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    pub(crate) fn open_connection(self: &Arc<Self>) -> GaugeGuard {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        self.connections_accepted_total.fetch_add(1, Ordering::Relaxed);
        GaugeGuard {
            stats: self.clone(),
            gauge: Gauge::ConnectionsOpen,
        }
    }

    pub(crate) fn open_stream(self: &Arc<Self>) -> GaugeGuard {
        self.streams_open.fetch_add(1, Ordering::Relaxed);
        self.streams_total.fetch_add(1, Ordering::Relaxed);
        GaugeGuard {
            stats: self.clone(),
            gauge: Gauge::StreamsOpen,
        }
    }

    fn gauge(&self, gauge: Gauge) -> &AtomicU64 {
        match gauge {
            Gauge::ConnectionsOpen => &self.connections_open,
            Gauge::StreamsOpen => &self.streams_open,
        }
    }

    pub(crate) fn count_connection_refused(&self) {
        self.connections_refused_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_handshake_failure(&self) {
        self.handshake_failures_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_stream_refused(&self) {
        self.streams_refused_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_frame_error(&self) {
        self.frame_errors_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_request_timeout(&self) {
        self.request_timeouts_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_handler_failure(&self) {
        self.handler_failures_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_response_failed(&self) {
        self.responses_failed_total.fetch_add(1, Ordering::Relaxed);
    }
}
