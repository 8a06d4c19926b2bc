//! The Z3 verifier: a solver-neutral query form, two backends and the pooled solver set.

pub mod config;
pub mod error;
pub mod formula;
pub mod inprocess;
pub mod pool;
pub mod process;
pub mod stats;

pub use config::{SmtBackend, SmtConfig, SmtConfigError};
pub use error::{Solve, SmtError};
pub use inprocess::InProcessSolver;
pub use pool::{evaluate_with_z3, SolverPool};
pub use stats::SmtStats;
pub use process::ProcessSolver;
