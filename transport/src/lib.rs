//! axiom's QUIC transport: one request frame and one response frame per bidirectional stream.
//!
//! The server ([`start`]) accepts QUIC connections with ALPN [`ALPN`], reads one length-prefixed
//! request frame per stream, hands its payload to a [`RequestHandler`] and writes the handler's
//! bytes back as one response frame. A frame that breaks the framing rules gets a verdict-shaped
//! error frame instead, so the connection and the server stay up. The [`Client`]
//! shares one connection between any number of concurrent tasks and opens one stream per request.
//!
//! The transport carries bytes only: it checks frame sizes and UTF-8, but parsing the JSON and
//! deciding belong to the handler.

pub mod client;
pub mod codes;
pub mod error;
pub mod fingerprint;
pub mod frame;
pub mod identity;
pub mod limits;
pub mod server;
pub mod stats;

mod tls;
mod verify;

pub use client::{Client, ClientConfig, ClientError, ServerTrust, StreamEnding};
pub use codes::ALPN;
pub use error::TransportError;
pub use fingerprint::{fingerprint_of_pem, Fingerprint, FingerprintError};
pub use identity::TlsIdentity;
pub use limits::{ClientLimits, TransportLimits};
pub use server::{
    start, ClientAuth, PeerInfo, RequestHandler, ServerConfig, ServerHandle, ShutdownOutcome,
};
pub use stats::{TransportStats, TransportStatsSnapshot};
