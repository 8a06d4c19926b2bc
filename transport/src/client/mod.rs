//! The QUIC client: one shared connection, one stream per request.

mod config;
mod error;
mod response;
mod session;

pub use config::{ClientConfig, ServerTrust, StreamEnding};
pub use error::ClientError;
pub use session::Client;
