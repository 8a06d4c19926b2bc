//! Counters of the solver pool, read by the metrics exporter.

use std::sync::atomic::AtomicU64;

/// Counters of the pool, for the metrics exporter.
#[derive(Debug, Default)]
pub struct SmtStats {
    /// Evaluations admitted and not yet finished (queued or running).
    pub queue_depth: AtomicU64,
    /// Evaluations rejected because the queue was full.
    pub queue_full: AtomicU64,
    /// Evaluations that ended in `SmtError::Timeout`, and axioms whose query timed out in Z3.
    pub timeouts: AtomicU64,
    /// Workers replaced after a panic, and `z3` child processes restarted after a failure.
    pub restarts: AtomicU64,
    /// Evaluations answered, successfully or not.
    pub evaluations: AtomicU64,
    /// Evaluations the interval step settled on the caller's thread, without a solver thread.
    pub settled_inline: AtomicU64,
}
