//! axiom's decision core.
//!
//! The pure parts (model, canonical JSON, signatures, stateless checks, policy compilation and
//! evaluation) take the current time and solver results as inputs, so they can be tested
//! exhaustively. The actor parts (`shard`, `smt`) are thin drivers around them.

pub mod canonical;
pub mod checks;
pub mod crypto;
pub mod decision;
pub mod escrow;
pub mod incidents;
pub mod keys;
pub mod lifecycle;
pub mod model;
pub mod policy;
pub mod settings;
pub mod shard;
pub mod smt;
pub mod state;
