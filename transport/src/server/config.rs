//! Server configuration and the handler interface the server calls.

use crate::fingerprint::Fingerprint;
use crate::identity::TlsIdentity;
use crate::limits::TransportLimits;
use bytes::Bytes;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;

/// Everything [`crate::start`] needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// UDP address to listen on; port 0 picks a free port (see [`crate::ServerHandle::local_addr`]).
    pub bind: SocketAddr,
    /// The server's certificate and key.
    pub identity: TlsIdentity,
    /// Client certificate requirement; `None` accepts clients without certificates.
    pub client_auth: Option<ClientAuth>,
    /// Size, count and time limits.
    pub limits: TransportLimits,
}

/// The client certificate requirement. With either variant the handshake fails for a client
/// that presents no certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// The client's chain must lead to a CA certificate in this PEM file (rustls
    /// `WebPkiClientVerifier`: validity dates and the client-auth key usage are checked).
    CaFile(PathBuf),
    /// The client's end-entity certificate must have one of these SHA-256 fingerprints. Names
    /// and validity dates are not checked, because the pin names one exact certificate.
    PinnedFingerprints(Vec<Fingerprint>),
}

/// The peer of a request, as far as the server can identify it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    /// The client's UDP address at the time the connection was accepted.
    pub remote_address: SocketAddr,
    /// Fingerprint of the client's certificate; `None` when client authentication is off.
    pub client_fingerprint: Option<Fingerprint>,
    /// quinn's stable id of the connection, for correlating log lines.
    pub connection_id: usize,
}

/// Computes one response payload for one request payload.
///
/// `request` is the complete payload of a request frame, already checked to be non-empty,
/// within `request_bytes_max` and valid UTF-8. The returned bytes are sent as the response
/// payload. Each call runs in its own task; if it does not finish within `request_timeout_ms`
/// the future is dropped and the client receives an `OVERLOADED` error frame, and if it panics
/// the client receives an `INTERNAL_ERROR` error frame.
pub trait RequestHandler: Send + Sync + 'static {
    /// Handles one request.
    fn handle(&self, request: Bytes, peer: PeerInfo) -> Pin<Box<dyn Future<Output = Bytes> + Send>>;
}
