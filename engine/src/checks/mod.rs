//! The stateless request checks, run before anything touches per-tenant state.
//!
//! [`authenticate`] runs them in protocol order, cheapest and unauthenticated first: size,
//! JSON parse, required fields, algorithm, key, signature, intent hash, certificate times and
//! nonce format. Each check is a pure function of its inputs and the caller's `now_ms`, with
//! exactly one reason code, and is exposed for callers that need one on its own.

mod authenticate;
mod limits;
mod nonce;
mod parse;
mod rejection;
mod signature;
mod time;

pub use authenticate::{authenticate, AuthenticatedRequest};
pub use limits::{CheckLimits, NONCE_BYTES_MAX, NONCE_BYTES_MIN, REQUEST_BYTES_MAX_DEFAULT};
pub use nonce::check_nonce;
pub use parse::{check_size, parse_envelope, parse_request};
pub use rejection::{CheckFailure, Rejection, RejectionStage};
pub use signature::{check_algorithm, check_intent_hash, check_key, check_signature};
pub use time::check_times;

#[cfg(test)]
mod tests;
