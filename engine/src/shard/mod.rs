//! Tenant shard actors: replay windows, sequence marks, idempotency, rate limits and budgets.
//!
//! Tenants map onto a fixed number of shards by a stable hash ([`shard_index_for`]). Each
//! shard actor owns all state of its tenants, runs on one of the arbiters (one per core) under
//! an actix supervisor, and rebuilds its state from a [`RecoverySource`] before it serves,
//! on start and after every restart. The request path sends one message to one shard and takes
//! no global lock.
//!
//! The rules live in [`ShardState`], which takes time as `now_ms` and does no I/O; the actor
//! and [`ShardSet`] only carry messages to it.

mod actor;
mod admit;
mod anomaly;
mod budgets;
mod complete;
mod config;
mod idempotency;
mod messages;
mod nonce_window;
mod rate_limit;
mod recovery;
mod reserve;
mod restore;
mod router;
mod sequences;
mod state;
mod tenant;

pub use actor::{Completion, ShardActor};
pub use budgets::{BudgetDefinition, BudgetError, BudgetRemaining, BudgetScope, BUDGET_CODE_BYTES_MAX};
pub use config::{ShardConfig, ShardConfigError};
pub use messages::{
    AdmitOutcome, AdmitRequest, Admission, AnomalyEvent, BudgetReservation, CompleteOutcome,
    Rejection, ReserveOutcome, SequenceClaim,
};
pub use recovery::{
    unix_now_ms, MemoryRecovery, RecoveredBudget, RecoveredIdempotency, RecoveredNonce,
    RecoveredSequence, RecoveredSpend, RecoveredState, RecoverySource, StateChange,
};
pub use restore::RestoreSummary;
pub use router::{shard_index_for, ShardSet, ShardStartError};
pub use state::{ShardState, ShardStats};
