//! Command-line interface: one subcommand per job, each in its own module.

mod audit;
mod keygen;
mod loadtest;
mod sign;
mod verify;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// axiom: a runtime decision engine for AI agent fleets.
#[derive(Debug, Parser)]
#[command(name = "axiom", version, about, propagate_version = true)]
pub struct Cli {
    /// Log output format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "AXIOM_LOG_FORMAT")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Offline tools over the audit log: verify, tail, show.
    Audit(audit::AuditArgs),
    /// Generates an agent key pair: NAME.key (secret, mode 0600) and NAME.pub.
    Keygen(keygen::KeygenArgs),
    /// Drives a server with open-loop signed QUIC load, or searches its capacity.
    Loadtest(loadtest::LoadtestArgs),
    /// Signs an intent file and prints the envelope JSON.
    Sign(sign::SignArgs),
    /// Checks an envelope offline and prints its reason code; exits 0 on OK, 1 otherwise.
    Verify(verify::VerifyArgs),
}

/// Installs the tracing subscriber; the filter comes from `RUST_LOG` (default `info`).
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs the chosen subcommand and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Audit(args) => audit::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Loadtest(args) => loadtest::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify::run(args),
    }
}
