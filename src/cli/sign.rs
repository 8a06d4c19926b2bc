//! `axiom sign`: signs an intent into the envelope an agent sends.

use anyhow::{Context, Result};
use axiom_engine::canonical::parse_json;
use axiom_engine::crypto::{AgentKey, CertificateOptions, KeyPair, CERTIFICATE_TTL_MS_DEFAULT};
use axiom_engine::model::RollbackPlan;
use clap::Args;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options of `axiom sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Key file written by `axiom keygen`.
    #[arg(long)]
    pub key: PathBuf,
    /// Intent JSON file.
    pub intent: PathBuf,
    /// Certificate lifetime, in milliseconds.
    #[arg(long, default_value_t = CERTIFICATE_TTL_MS_DEFAULT)]
    pub ttl_ms: u64,
    /// Sequence number for the (kid, tenant, actor, policy set) stream.
    #[arg(long)]
    pub sequence: Option<u64>,
    /// Policy set the agent expects the engine to select.
    #[arg(long)]
    pub policy_set_id: Option<String>,
    /// JSON file with the rollback plan, `{"type": …, "steps": […]}`.
    #[arg(long)]
    pub rollback_plan: Option<PathBuf>,
    /// Start of validity, Unix milliseconds (default: now).
    #[arg(long)]
    pub issued_at_ms: Option<i64>,
    /// Fixed nonce, base64url of at least 16 bytes (default: 16 random bytes).
    #[arg(long)]
    pub nonce: Option<String>,
    /// Fixed certificate id (default: a random UUID).
    #[arg(long)]
    pub cert_id: Option<String>,
}

/// Signs the intent and prints the envelope JSON on standard output.
pub fn run(args: SignArgs) -> Result<ExitCode> {
    let envelope = sign_file(&args)?;
    super::print_output(&serde_json::to_string(&envelope)?)?;
    Ok(ExitCode::SUCCESS)
}

/// Reads the key, intent and rollback plan files and returns the signed envelope.
pub fn sign_file(args: &SignArgs) -> Result<Value> {
    let key_bytes = read(&args.key)?;
    let pair = KeyPair::from_key_file_json(&key_bytes)
        .with_context(|| format!("failed to load key file {}", args.key.display()))?;

    let intent = parse_json(&read(&args.intent)?)
        .with_context(|| format!("invalid intent file {}", args.intent.display()))?;
    let rollback_plan = match &args.rollback_plan {
        Some(path) => {
            let plan: RollbackPlan = serde_json::from_slice(&read(path)?)
                .with_context(|| format!("invalid rollback plan file {}", path.display()))?;
            Some(plan)
        }
        None => None,
    };

    let options = CertificateOptions {
        ttl_ms: args.ttl_ms,
        issued_at_ms: args.issued_at_ms,
        sequence: args.sequence,
        policy_set_id: args.policy_set_id.clone(),
        rollback_plan,
        nonce: args.nonce.clone(),
        cert_id: args.cert_id.clone(),
    };
    let envelope = AgentKey::from_key_pair(pair).sign_envelope(&intent, &options)?;
    Ok(envelope)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))
}
