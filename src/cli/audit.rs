//! `axiom audit`: offline tools over the audit log in a data directory.

use anyhow::Context;
use axiom_storage::{Store, StoreConfig};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `axiom audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// The data directory option shared by the audit subcommands.
#[derive(Debug, Args)]
pub struct DataDirArg {
    /// Data directory of the store. It must not be in use by a running server, because the
    /// store locks it.
    #[arg(long, env = "AXIOM_DATA_DIR", default_value = "./axiom-data")]
    pub data_dir: PathBuf,
}

/// The audit subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every hash chain and signed checkpoint; exit 0 when intact, 1 naming the first
    /// broken record of each damaged chain.
    Verify {
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Print the newest records, newest first, one JSON object per line.
    Tail {
        #[command(flatten)]
        dir: DataDirArg,
        /// Number of records to print.
        #[arg(short = 'n', long = "lines", default_value_t = 10)]
        lines: usize,
    },
    /// Print the record of one decision as JSON.
    Show {
        /// The decision id.
        decision_id: String,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

/// Runs an audit subcommand.
pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify { dir } => verify(&dir.data_dir),
        AuditCommand::Tail { dir, lines } => tail(&dir.data_dir, lines),
        AuditCommand::Show { decision_id, dir } => show(&dir.data_dir, &decision_id),
    }
}

fn verify(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let store = store_dir(dir)?;
    let report = axiom_storage::verify(&store)?;

    for chain in &report.chains {
        println!(
            "shard {}: {} records, {} checkpoints, last seq {}, last signed seq {}",
            chain.shard,
            chain.records,
            chain.checkpoints,
            display_seq(chain.last_seq),
            display_seq(chain.last_checkpoint_seq),
        );
    }
    if report.is_intact() {
        println!("audit log intact: {} chains verified", report.chains.len());
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &report.problems {
        println!(
            "BROKEN shard {} seq {} decision {}: {}",
            problem.shard,
            problem.seq,
            problem.decision_id.as_deref().unwrap_or("(unknown)"),
            serde_json::to_string(&problem.damage)?,
        );
    }
    Ok(ExitCode::from(1))
}

fn tail(dir: &std::path::Path, lines: usize) -> anyhow::Result<ExitCode> {
    let store = Store::open_unchecked(&store_dir(dir)?, StoreConfig::default())?;
    for record in store.audit_tail(lines)? {
        super::print_output(&serde_json::to_string(&record)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn show(dir: &std::path::Path, decision_id: &str) -> anyhow::Result<ExitCode> {
    let store = Store::open_unchecked(&store_dir(dir)?, StoreConfig::default())?;
    let Some(record) = store.audit_record(decision_id)? else {
        eprintln!("error: no audit record for decision `{decision_id}`");
        return Ok(ExitCode::from(1));
    };
    super::print_output(&serde_json::to_string_pretty(&record)?)?;
    Ok(ExitCode::SUCCESS)
}

/// Refuses a missing directory, because opening it would create an empty store there.
/// Finds the audit store for `dir`: the `store` folder of a data directory that `axiom serve`
/// uses, or a store directory given directly. Never creates one, so a wrong path cannot be
/// reported as an intact empty log.
fn store_dir(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let exists = dir
        .try_exists()
        .with_context(|| format!("failed to read data directory `{}`", dir.display()))?;
    if !exists {
        anyhow::bail!(
            "data directory `{}` does not exist; pass --data-dir or set AXIOM_DATA_DIR",
            dir.display()
        );
    }
    let nested = dir.join(crate::node::build::STORE_DIR);
    if nested.join(STORE_MARKER_FILE).is_file() {
        return Ok(nested);
    }
    if dir.join(STORE_MARKER_FILE).is_file() {
        return Ok(dir.to_path_buf());
    }
    anyhow::bail!(
        "no audit store in `{}`: expected the data directory of `axiom serve` (with a `{}` folder) or a store directory",
        dir.display(),
        crate::node::build::STORE_DIR
    )
}

/// File fjall writes at the top of every database directory.
const STORE_MARKER_FILE: &str = "version";

fn display_seq(seq: Option<u64>) -> String {
    seq.map_or_else(|| "none".to_string(), |seq| seq.to_string())
}
