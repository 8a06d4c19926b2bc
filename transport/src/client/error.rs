//! Client errors, and the mapping from quinn's errors to the cases a caller acts on.

use crate::codes::{CLOSE_SERVER_SHUTDOWN, STREAM_REFUSED_SHUTDOWN};
use crate::error::TransportError;
use crate::fingerprint::Fingerprint;
use quinn::{ConnectionError, TransportErrorCode};
use std::io;

/// A failed connection or request.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The client configuration is invalid (limits, CA file, client identity).
    #[error("invalid client configuration: {0}")]
    Config(#[from] TransportError),

    /// The local UDP socket could not be bound.
    #[error("failed to bind a local UDP socket: {0}")]
    Bind(io::Error),

    /// quinn rejected the connection parameters, for example an invalid server name.
    #[error("failed to start connecting: {0}")]
    Connect(#[from] quinn::ConnectError),

    /// The server presented a certificate other than the pinned one.
    #[error(
        "server certificate fingerprint mismatch: expected {expected}, server presented {actual}; \
         check `--fingerprint` against the server's certificate"
    )]
    FingerprintMismatch {
        /// The pinned fingerprint.
        expected: Fingerprint,
        /// The fingerprint of the certificate the server presented.
        actual: Fingerprint,
    },

    /// The server refused the connection: it is at `connections_max` or shutting down.
    #[error("the server refused the connection (at its connection limit or shutting down); retry later")]
    ConnectionRefused,

    /// The TLS handshake failed, for example because the server requires a client certificate
    /// or the certificate was not accepted.
    #[error("TLS handshake failed: {detail}")]
    Handshake {
        /// quinn's description, with the TLS alert.
        detail: String,
    },

    /// The handshake did not complete within `connect_timeout_ms`.
    #[error("connecting timed out after {timeout_ms} ms")]
    ConnectTimedOut {
        /// The configured timeout.
        timeout_ms: u64,
    },

    /// The server closed the connection because it is shutting down.
    #[error("the server closed the connection because it is shutting down; reconnect")]
    ServerShutDown,

    /// The connection ended for another reason (idle timeout, peer reset, local close).
    #[error("connection lost: {0}")]
    Connection(ConnectionError),

    /// The server refused the stream because it is shutting down; the request was not
    /// processed and may be sent again.
    #[error("the server is shutting down and refused the request unprocessed; retry on a new connection")]
    StreamRefused,

    /// The server reset the stream with an unexpected code.
    #[error("the server reset the stream with code {code}")]
    StreamReset {
        /// The RESET_STREAM error code.
        code: u64,
    },

    /// The request payload does not fit a frame.
    #[error(transparent)]
    RequestTooLong(#[from] crate::frame::PayloadTooLong),

    /// The response frame declares more than `response_bytes_max` bytes.
    #[error("the response frame declares {declared} bytes; the limit is {max} bytes")]
    ResponseTooLarge {
        /// The declared payload length.
        declared: u32,
        /// The client's `response_bytes_max`.
        max: u32,
    },

    /// The response stream broke the framing rules.
    #[error("malformed response: {detail}")]
    MalformedResponse {
        /// The broken rule.
        detail: String,
    },

    /// The request did not complete within `request_timeout_ms`.
    #[error("request timed out after {timeout_ms} ms")]
    TimedOut {
        /// The configured timeout.
        timeout_ms: u64,
    },
}

impl ClientError {
    /// Maps a quinn connection error to the case the caller can act on.
    pub(crate) fn from_connection(error: ConnectionError) -> ClientError {
        match &error {
            ConnectionError::ConnectionClosed(close)
                if close.error_code == TransportErrorCode::CONNECTION_REFUSED =>
            {
                ClientError::ConnectionRefused
            }
            ConnectionError::ApplicationClosed(close) if close.error_code == CLOSE_SERVER_SHUTDOWN => {
                ClientError::ServerShutDown
            }
            ConnectionError::ConnectionClosed(close) if is_tls_alert(close.error_code) => {
                ClientError::Handshake {
                    detail: error.to_string(),
                }
            }
            ConnectionError::TransportError(transport) if is_tls_alert(transport.code) => {
                ClientError::Handshake {
                    detail: error.to_string(),
                }
            }
            _ => ClientError::Connection(error),
        }
    }

    /// Maps a stream reset code from the server.
    pub(crate) fn from_reset(code: quinn::VarInt) -> ClientError {
        if code == STREAM_REFUSED_SHUTDOWN {
            return ClientError::StreamRefused;
        }
        ClientError::StreamReset {
            code: code.into_inner(),
        }
    }
}

/// QUIC carries TLS alerts as transport error codes 0x100 to 0x1ff (RFC 9001, section 4.8).
fn is_tls_alert(code: TransportErrorCode) -> bool {
    (0x100..=0x1ff).contains(&u64::from(code))
}
