//! Errors of the solver pool. Every one of them means "no proof": the decision layer maps
//! them to DEFER `SMT_UNAVAILABLE`, never to ALLOW.

/// Why the solver pool could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtError {
    /// The pool already holds `queue_max` queries; the caller should retry later.
    #[error("solver queue is full ({queue_max} queries in flight)")]
    QueueFull { queue_max: usize },
    /// No answer within the per-query time limit.
    #[error("solver did not answer within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    /// The worker failed while answering (a panic, or its mailbox closed); it is replaced.
    #[error("solver worker failed: {0}")]
    WorkerFailed(String),
    /// A `z3` child process could not be started, crashed, or broke the protocol; it is restarted.
    #[error("z3 process failed: {0}")]
    ProcessFailed(String),
    /// Z3 reported an error for a query.
    #[error("z3 reported an error: {0}")]
    Solver(String),
    /// SMT is disabled, so no solver query can be made.
    #[error("smt is disabled")]
    Disabled,
}

/// Answers satisfiability queries; implemented by the in-process and the process backend.
pub trait Solve {
    /// Decides whether `query` is satisfiable.
    fn solve(&mut self, query: &super::formula::Query) -> Result<super::formula::SatAnswer, SmtError>;
}
