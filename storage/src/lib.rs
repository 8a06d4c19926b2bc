//! axiom's durable state on fjall.
//!
//! One fjall database holds every keyspace: the hash-chained audit log (written only through
//! the group-committing [`AuditWriter`]), and typed tables for keys, policy versions, escrows,
//! incidents, source state, budgets and idempotency entries, plus the runtime settings history
//! and the append-only `compliance_events` log.

pub mod audit;
pub mod config;
pub mod error;
mod keys;
pub mod ledger;
mod store;
pub mod table;

pub use audit::chain::Checkpoint;
pub use audit::entry::{
    AuditEntry, AuditReceipt, AuditRecord, DecisionFields, PersonalData, PersonalView, SubjectId,
};
pub use audit::reader::AuditCursor;
pub use audit::recovery::{RecoveredNonce, RecoveredSequence, RecoveredState};
pub use audit::verify::{verify, verify_store, ChainSummary, Damage, Problem, VerifyReport};
pub use audit::writer::AuditWriter;
pub use config::StoreConfig;
pub use error::StorageError;
pub use ledger::{ComplianceLog, LogEntry, SettingsLog};
pub use store::Store;
pub use table::{CasOutcome, Table};
