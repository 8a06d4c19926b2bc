//! The axiom node as a library, so that the binary and the integration tests under `tests/`
//! build the same server: the node's shared state, the HTTP control plane and the CLI.

pub mod cli;
pub mod http;
pub mod node;
