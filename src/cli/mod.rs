//! Command-line interface: one subcommand per job, each in its own module.

mod audit;
mod decide;
mod demo;
mod serve;
mod keygen;
mod loadtest;
mod policy;
mod replay_check;
mod sign;
mod verify;
pub mod ops;
pub mod token;

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
    /// Run the decision engine (QUIC decisions, HTTP control plane).
    Serve(crate::node::ServeArgs),
    /// Start a server on loopback and run the demo scenarios against it over QUIC.
    Demo(demo::DemoArgs),
    /// Sign one intent, send it over QUIC and print the response.
    Decide(decide::DecideArgs),
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
    /// Mints a development HS256 bearer token for the control plane.
    Token(token::TokenArgs),
    /// Agent keys on a running server: list, get, revoke.
    Keys(ops::KeysArgs),
    /// Security incidents on a running server: list, ack, resolve.
    Incidents(ops::IncidentsArgs),
    /// Runtime settings on a running server: get, set, history.
    Settings(ops::SettingsArgs),
    /// State sources on a running server: list, ingest.
    Sources(ops::SourcesArgs),
    /// Policy files offline: check (diagnostics and publish checks), eval (with Z3).
    Policy(policy::PolicyArgs),
    /// Replays a running server's recent decisions and exits 1 when they drift.
    ReplayCheck(replay_check::ReplayCheckArgs),
}

/// Writes `text` and a newline to standard output. A reader that closed the pipe early (as in
/// `axiom decide ... | head`) is not an error: the output was simply not wanted any more.
pub fn print_output(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
    match written {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Installs the tracing subscriber; the filter comes from `RUST_LOG` (default `info`).
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,lsm_tree=warn,fjall=warn"));
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
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Decide(args) => decide::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Loadtest(args) => loadtest::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Token(args) => token::run(args),
        Command::Keys(args) => ops::run_keys(args),
        Command::Incidents(args) => ops::run_incidents(args),
        Command::Settings(args) => ops::run_settings(args),
        Command::Sources(args) => ops::run_sources(args),
        Command::Policy(args) => policy::run(args),
        Command::ReplayCheck(args) => replay_check::run(args),
    }
}
