//! Server-side state that policies read: source freshness.

pub mod sources;

pub use sources::{SourceEvent, SourceStatus, SourceStore, SourceView};
