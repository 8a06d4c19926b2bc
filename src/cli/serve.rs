//! `axiom serve`: runs the decision engine until SIGINT or SIGTERM.

use crate::node::{serve, ServeArgs};
use std::process::ExitCode;

/// Runs the server with the given settings.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    serve::run(args)?;
    Ok(ExitCode::SUCCESS)
}
