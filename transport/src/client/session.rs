//! The client: connect once, then send requests concurrently over one connection.

use super::config::{ClientConfig, StreamEnding};
use super::error::ClientError;
use super::response::read_response;
use crate::codes::{CLOSE_CLIENT_DONE, STREAM_REFUSED_SHUTDOWN};
use crate::frame::frame_header;
use crate::limits::ClientLimits;
use crate::tls;
use bytes::Bytes;
use quinn::{Connection, Endpoint, VarInt, WriteError};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// A connection to an axiom server.
///
/// Cloning is cheap and every clone shares the one QUIC connection, so many tasks can send
/// requests at once; each request gets its own stream. When the server's stream limit is
/// reached, further requests wait for a free stream (within their `request_timeout_ms`). The
/// client does not reconnect: after a connection error, [`Client::is_closed`] is true and a
/// new client must be connected.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: Endpoint,
    connection: Connection,
    limits: ClientLimits,
}

impl Client {
    /// Binds a local UDP socket, completes the QUIC and TLS handshake and returns the client.
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        config.limits.validate()?;

        let crypto = tls::client_crypto(&config.trust, config.client_identity.as_ref())?;
        let mut quic_config = quinn::ClientConfig::new(Arc::new(crypto.config));
        quic_config.transport_config(Arc::new(tls::client_transport(&config.limits)?));

        let endpoint = Endpoint::client(local_bind_address(config.server)).map_err(ClientError::Bind)?;
        let connecting = endpoint.connect_with(quic_config, config.server, &config.server_name)?;

        let timeout_ms = config.limits.connect_timeout_ms;
        let handshake = tokio::time::timeout(Duration::from_millis(timeout_ms), connecting).await;
        let result = match handshake {
            Ok(result) => result,
            Err(_) => return Err(ClientError::ConnectTimedOut { timeout_ms }),
        };

        let connection = match result {
            Ok(connection) => connection,
            Err(error) => {
                // quinn reports only the TLS alert, so the pinned verifier supplies the details.
                if let Some(mismatch) = crypto.pinned.as_ref().and_then(|pinned| pinned.mismatch()) {
                    return Err(ClientError::FingerprintMismatch {
                        expected: mismatch.expected,
                        actual: mismatch.actual,
                    });
                }
                return Err(ClientError::from_connection(error));
            }
        };

        tracing::debug!(
            server = %config.server,
            connection_id = connection.stable_id(),
            "connected to the axiom server"
        );
        Ok(Client {
            endpoint,
            connection,
            limits: config.limits,
        })
    }

    /// Sends one request payload and returns the response payload.
    ///
    /// A verdict-shaped error frame from the server (for example `REQUEST_TOO_LARGE`) is a
    /// successful response at this level; the caller parses it like any other.
    pub async fn request(&self, payload: Bytes) -> Result<Bytes, ClientError> {
        let header = frame_header(payload.len())?;
        let chunks = [Bytes::copy_from_slice(&header), payload];
        self.with_timeout(self.exchange(chunks, StreamEnding::Finish))
            .await
    }

    /// Sends arbitrary bytes on a new stream, ends it as `ending` requests, and reads the response
    /// frame. For testing how the server handles malformed frames.
    pub async fn send_raw(&self, bytes: Bytes, ending: StreamEnding) -> Result<Bytes, ClientError> {
        self.with_timeout(self.exchange([bytes, Bytes::new()], ending))
            .await
    }

    /// Returns true once the connection has ended, for any reason.
    pub fn is_closed(&self) -> bool {
        self.connection.close_reason().is_some()
    }

    /// Returns the server's address.
    pub fn remote_address(&self) -> SocketAddr {
        self.connection.remote_address()
    }

    /// Closes the connection for every clone and waits, at most `connect_timeout_ms`, until the
    /// close has reached the server.
    pub async fn close(&self) {
        self.connection.close(CLOSE_CLIENT_DONE, b"client done");
        let wait = Duration::from_millis(self.limits.connect_timeout_ms);
        let _ = tokio::time::timeout(wait, self.endpoint.wait_idle()).await;
    }

    async fn with_timeout(
        &self,
        exchange: impl std::future::Future<Output = Result<Bytes, ClientError>>,
    ) -> Result<Bytes, ClientError> {
        let timeout_ms = self.limits.request_timeout_ms;
        match tokio::time::timeout(Duration::from_millis(timeout_ms), exchange).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::TimedOut { timeout_ms }),
        }
    }

    /// Opens a stream, writes the chunks, ends the stream and reads the response frame.
    async fn exchange(&self, mut chunks: [Bytes; 2], ending: StreamEnding) -> Result<Bytes, ClientError> {
        let (mut send, mut recv) = self
            .connection
            .open_bi()
            .await
            .map_err(ClientError::from_connection)?;

        match send.write_all_chunks(&mut chunks).await {
            Ok(()) => {}
            Err(WriteError::Stopped(code)) if code == STREAM_REFUSED_SHUTDOWN => {
                return Err(ClientError::StreamRefused)
            }
            // The server stopped reading because it rejected the frame early. The error frame
            // with the reason follows on the receive half.
            Err(WriteError::Stopped(_)) => {}
            Err(WriteError::ConnectionLost(error)) => return Err(ClientError::from_connection(error)),
            Err(error) => {
                return Err(ClientError::MalformedResponse {
                    detail: format!("failed to send the request: {error}"),
                })
            }
        }

        // Both calls fail only if the stream is already closed, which the read below reports.
        match ending {
            StreamEnding::Finish => {
                let _ = send.finish();
            }
            StreamEnding::Reset(code) => {
                let _ = send.reset(VarInt::from_u32(code));
            }
            StreamEnding::LeaveOpen => {}
        }

        // `send` stays alive until the response is read, so `LeaveOpen` really leaves it open.
        let response = read_response(&mut recv, self.limits.response_bytes_max).await;
        drop(send);
        response
    }
}

/// Picks the unspecified local address of the server's address family, with an ephemeral port.
fn local_bind_address(server: SocketAddr) -> SocketAddr {
    match server {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    }
}
