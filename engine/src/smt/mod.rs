//! The Z3 verifier: a solver-neutral query form, two backends and the pooled solver set.

pub mod error;
pub mod formula;
pub mod inprocess;

pub use error::{Solve, SmtError};
pub use inprocess::InProcessSolver;
