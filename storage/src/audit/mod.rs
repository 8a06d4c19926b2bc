//! The append-only audit log: hash-chained records per shard, group commit, signed
//! checkpoints, per-subject encryption of personal data, recovery and offline verification.

mod batch;
mod cache;
pub mod chain;
mod crypto;
pub mod entry;
mod index;
mod prepared;
pub mod reader;
pub mod record;
pub mod recovery;
mod validate;
pub mod verify;
pub mod writer;
