//! Client configuration.

use crate::fingerprint::Fingerprint;
use crate::identity::TlsIdentity;
use crate::limits::ClientLimits;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything [`crate::Client::connect`] needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server's UDP address.
    pub server: SocketAddr,
    /// Name sent as TLS SNI and, with [`ServerTrust::CaFile`], checked against the certificate's
    /// subject alternative names. A DNS name or an IP address literal.
    pub server_name: String,
    /// The rule for accepting the server's certificate.
    pub trust: ServerTrust,
    /// Certificate to present when the server requires client authentication.
    pub client_identity: Option<TlsIdentity>,
    /// Size and time limits.
    pub limits: ClientLimits,
}

/// How the client decides to trust the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerTrust {
    /// The server's end-entity certificate must have exactly this SHA-256 fingerprint. Names and
    /// validity dates are not checked; the handshake signature is.
    PinnedFingerprint(Fingerprint),
    /// The server's chain must lead to a CA certificate in this PEM file, and its certificate
    /// must name `server_name` (standard WebPKI checks).
    CaFile(PathBuf),
}

/// The way [`crate::Client::send_raw`] ends its half of the stream after writing the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnding {
    /// Finish the stream normally (FIN), as a well-behaved client does.
    Finish,
    /// Reset the stream with this application error code, abandoning anything unsent.
    Reset(u32),
    /// Leave the stream open while waiting for the response, as a stalled client would.
    LeaveOpen,
}
