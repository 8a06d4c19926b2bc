//! Transport limits for the server and the client, with their defaults and the reasons for them.

use crate::error::TransportError;
use std::time::Duration;

/// Default `request_bytes_max`: 64 KiB. A signed intent with its certificate is 1 to 2 KiB, so
/// this leaves room for long parameter lists while capping what one stream can make the server
/// buffer.
pub const REQUEST_BYTES_MAX_DEFAULT: u32 = 64 * 1024;

/// The highest accepted `request_bytes_max`: 16 MiB. Larger requests belong on another channel,
/// and a cap keeps a configuration typo from disabling the limit.
pub const REQUEST_BYTES_MAX_CEILING: u32 = 16 * 1024 * 1024;

/// Default `response_bytes_max` on the client: 1 MiB. Responses carry counterexamples and
/// receipts, usually a few KiB, and the client buffers at most this much per request.
pub const RESPONSE_BYTES_MAX_DEFAULT: u32 = 1024 * 1024;

/// Default `connections_max`: 512 concurrent connections, counted from the first packet of the
/// handshake. Agents are expected to share connections through a gateway or SDK pool.
pub const CONNECTIONS_MAX_DEFAULT: u32 = 512;

/// Default `streams_per_connection_max`: 64 concurrent requests per connection, enforced by QUIC
/// stream credit (`initial_max_streams_bidi`), so a client opening more simply waits.
pub const STREAMS_PER_CONNECTION_MAX_DEFAULT: u32 = 64;

/// Default `connection_receive_bytes_max`: 512 KiB of unread request bytes buffered per
/// connection (the QUIC connection flow-control window). With the default `connections_max`
/// the worst case is 256 MiB of buffered requests.
pub const CONNECTION_RECEIVE_BYTES_MAX_DEFAULT: u32 = 512 * 1024;

/// Default `idle_timeout_ms`: 30 s without any packet closes a connection. QUIC uses the smaller
/// of the two peers' values.
pub const IDLE_TIMEOUT_MS_DEFAULT: u64 = 30_000;

/// Default `request_timeout_ms`: 2 s for the handler to return, four times the 500 ms P99 latency
/// objective, so only a stuck handler reaches it.
pub const REQUEST_TIMEOUT_MS_DEFAULT: u64 = 2_000;

/// Default `frame_read_timeout_ms`: 5 s from the stream's arrival to the end of its request frame
/// (the peer's FIN), so a stream that stops sending cannot hold its slot for the connection's
/// lifetime.
pub const FRAME_READ_TIMEOUT_MS_DEFAULT: u64 = 5_000;

/// Default `connect_timeout_ms` on the client: 5 s for the QUIC and TLS handshake.
pub const CONNECT_TIMEOUT_MS_DEFAULT: u64 = 5_000;

/// Default `request_timeout_ms` on the client: 10 s for one request, from opening the stream to
/// the end of the response. It exceeds the server's handler timeout so that the server's error
/// frame normally arrives first.
pub const CLIENT_REQUEST_TIMEOUT_MS_DEFAULT: u64 = 10_000;

/// The largest idle timeout QUIC can encode: 2^62 - 1 ms.
const IDLE_TIMEOUT_MS_CEILING: u64 = (1 << 62) - 1;

/// Server-side limits. Every field is a hard bound, and [`TransportLimits::validate`] rejects
/// zero and out-of-range values before the server starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportLimits {
    /// Largest request payload accepted, in bytes, excluding the 4-byte length prefix. A longer
    /// declared length gets a `REQUEST_TOO_LARGE` error frame before the payload is read.
    pub request_bytes_max: u32,
    /// Concurrent connections, including those still in their handshake. Further connection
    /// attempts are refused with QUIC `CONNECTION_REFUSED`.
    pub connections_max: u32,
    /// Concurrent request streams per connection (QUIC `max_concurrent_bidi_streams`).
    pub streams_per_connection_max: u32,
    /// Unread request bytes buffered per connection (QUIC connection receive window).
    pub connection_receive_bytes_max: u32,
    /// Milliseconds without any packet after which a connection is closed.
    pub idle_timeout_ms: u64,
    /// Milliseconds the handler has to return. Past it the stream gets an `OVERLOADED` error
    /// frame and the handler's future is dropped.
    pub request_timeout_ms: u64,
    /// Milliseconds from a stream's arrival to the end of its request frame. Past it the stream
    /// gets a `MALFORMED_REQUEST` error frame.
    pub frame_read_timeout_ms: u64,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            request_bytes_max: REQUEST_BYTES_MAX_DEFAULT,
            connections_max: CONNECTIONS_MAX_DEFAULT,
            streams_per_connection_max: STREAMS_PER_CONNECTION_MAX_DEFAULT,
            connection_receive_bytes_max: CONNECTION_RECEIVE_BYTES_MAX_DEFAULT,
            idle_timeout_ms: IDLE_TIMEOUT_MS_DEFAULT,
            request_timeout_ms: REQUEST_TIMEOUT_MS_DEFAULT,
            frame_read_timeout_ms: FRAME_READ_TIMEOUT_MS_DEFAULT,
        }
    }
}

impl TransportLimits {
    /// Checks that every limit is positive and within what QUIC and the framing can express.
    pub fn validate(&self) -> Result<(), TransportError> {
        check_range(
            "request_bytes_max",
            u64::from(self.request_bytes_max),
            1,
            u64::from(REQUEST_BYTES_MAX_CEILING),
        )?;
        check_range("connections_max", u64::from(self.connections_max), 1, u64::from(u32::MAX))?;
        check_range(
            "streams_per_connection_max",
            u64::from(self.streams_per_connection_max),
            1,
            u64::from(u32::MAX),
        )?;
        check_range(
            "connection_receive_bytes_max",
            u64::from(self.connection_receive_bytes_max),
            1,
            u64::from(u32::MAX),
        )?;
        check_range("idle_timeout_ms", self.idle_timeout_ms, 1, IDLE_TIMEOUT_MS_CEILING)?;
        check_range("request_timeout_ms", self.request_timeout_ms, 1, u64::MAX)?;
        check_range("frame_read_timeout_ms", self.frame_read_timeout_ms, 1, u64::MAX)
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub(crate) fn frame_read_timeout(&self) -> Duration {
        Duration::from_millis(self.frame_read_timeout_ms)
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
}

/// Client-side limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Largest response payload accepted, in bytes, excluding the 4-byte length prefix.
    pub response_bytes_max: u32,
    /// Milliseconds allowed for the QUIC and TLS handshake.
    pub connect_timeout_ms: u64,
    /// Milliseconds allowed for one request, from opening the stream to the end of the response.
    pub request_timeout_ms: u64,
    /// Milliseconds without any packet after which the connection is closed.
    pub idle_timeout_ms: u64,
    /// Interval between QUIC PING frames that keep an idle connection open, in milliseconds.
    /// `None` sends none, so the connection closes after the idle timeout.
    pub keep_alive_interval_ms: Option<u64>,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            response_bytes_max: RESPONSE_BYTES_MAX_DEFAULT,
            connect_timeout_ms: CONNECT_TIMEOUT_MS_DEFAULT,
            request_timeout_ms: CLIENT_REQUEST_TIMEOUT_MS_DEFAULT,
            idle_timeout_ms: IDLE_TIMEOUT_MS_DEFAULT,
            keep_alive_interval_ms: None,
        }
    }
}

impl ClientLimits {
    /// Checks that every limit is positive and within what QUIC can express.
    pub fn validate(&self) -> Result<(), TransportError> {
        check_range(
            "response_bytes_max",
            u64::from(self.response_bytes_max),
            1,
            u64::from(u32::MAX),
        )?;
        check_range("connect_timeout_ms", self.connect_timeout_ms, 1, u64::MAX)?;
        check_range("request_timeout_ms", self.request_timeout_ms, 1, u64::MAX)?;
        check_range("idle_timeout_ms", self.idle_timeout_ms, 1, IDLE_TIMEOUT_MS_CEILING)?;
        if let Some(interval_ms) = self.keep_alive_interval_ms {
            check_range("keep_alive_interval_ms", interval_ms, 1, self.idle_timeout_ms)?;
        }
        Ok(())
    }
}

fn check_range(name: &'static str, value: u64, min: u64, max: u64) -> Result<(), TransportError> {
    if value < min || value > max {
        return Err(TransportError::InvalidLimit {
            name,
            value,
            min,
            max,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(TransportLimits::default().validate().is_ok());
        assert!(ClientLimits::default().validate().is_ok());
    }

    #[test]
    fn zero_and_oversized_limits_rejected() {
        let zero_requests = TransportLimits {
            request_bytes_max: 0,
            ..TransportLimits::default()
        };
        assert!(matches!(
            zero_requests.validate(),
            Err(TransportError::InvalidLimit { name: "request_bytes_max", .. })
        ));

        let huge_requests = TransportLimits {
            request_bytes_max: REQUEST_BYTES_MAX_CEILING + 1,
            ..TransportLimits::default()
        };
        assert!(huge_requests.validate().is_err());

        let zero_streams = TransportLimits {
            streams_per_connection_max: 0,
            ..TransportLimits::default()
        };
        assert!(zero_streams.validate().is_err());

        let keep_alive_above_idle = ClientLimits {
            keep_alive_interval_ms: Some(IDLE_TIMEOUT_MS_DEFAULT + 1),
            ..ClientLimits::default()
        };
        assert!(keep_alive_above_idle.validate().is_err());
    }
}
