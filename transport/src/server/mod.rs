//! The QUIC server: accepts connections, reads one request frame per stream, calls the
//! [`RequestHandler`] and writes its response back.

mod config;
mod connection;
mod drain;
mod handle;
mod read;
mod stream;

pub use config::{ClientAuth, PeerInfo, RequestHandler, ServerConfig};
pub use handle::{start, ServerHandle, ShutdownOutcome};
