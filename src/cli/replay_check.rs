//! `axiom replay-check`: replays a running server's recent decisions and reports drift.
//!
//! It lists the tenant's most recent decisions (`GET /v1/audit?limit=N`), replays each with
//! the policy version it recorded (`POST /v1/audit/{id}/replay`), prints one row per decision
//! and a summary, and exits 1 when more decisions drifted than `--allow-drift` permits or any
//! single replay failed, and 2 when the check cannot run at all (bad flags, no listing).
//! Decisions the server cannot replay by design (rejected before policy evaluation, or of an
//! erased subject: both answer 409) are counted as skipped.

use crate::cli::ops::ServerArgs;
use crate::cli::token::{mint, TokenArgs};
use crate::http::client;
use anyhow::{bail, Context};
use clap::Args;
use serde_json::Value;
use std::process::ExitCode;

/// Most decisions one run replays; the server lists at most this many per request.
pub const SAMPLE_MAX: usize = 1_000;
/// Lifetime of a token minted from `--secret`, in seconds.
const MINTED_TOKEN_TTL_S: u64 = 600;

/// Flags of `axiom replay-check`.
#[derive(Debug, Args)]
pub struct ReplayCheckArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// HS256 secret to mint a complianceofficer token with, instead of `--token`; needs
    /// `--tenant`.
    #[arg(long, env = "AXIOM_JWT_HS256_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// `sub` of the token minted from `--secret`.
    #[arg(long, default_value = "replay-check")]
    pub sub: String,
    /// Number of recent decisions to replay (1 to 1000).
    #[arg(long, default_value_t = 100)]
    pub sample: usize,
    /// Decisions that may drift before the command fails.
    #[arg(long, default_value_t = 0)]
    pub allow_drift: usize,
}

/// The outcome of one replay.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Same,
    Drift(Vec<String>),
    Skipped(String),
    Failed(String),
}

/// Runs the check and prints the table and summary.
pub fn run(args: ReplayCheckArgs) -> anyhow::Result<ExitCode> {
    if args.sample == 0 || args.sample > SAMPLE_MAX {
        bail!("--sample must be between 1 and {SAMPLE_MAX}");
    }
    let token = bearer(&args)?;
    let server = &args.server.server;
    let tenant_query = args
        .server
        .tenant
        .as_deref()
        .map(|tenant| format!("&tenant={}", percent_encode(tenant)))
        .unwrap_or_default();

    let listing = client::send(
        server,
        "GET",
        &format!("/v1/audit?limit={}{tenant_query}", args.sample),
        Some(&token),
        None,
    )?;
    if !(200..300).contains(&listing.status) {
        bail!("listing decisions failed with status {}: {}", listing.status, listing.body.trim());
    }
    let records: Vec<Value> =
        serde_json::from_str(&listing.body).context("the audit listing is not a JSON array")?;

    println!("{:<38} {:<8} {:<24} {:<8} detail", "decision_id", "verdict", "reason_code", "result");
    let (mut same, mut drift, mut skipped, mut failed) = (0usize, 0usize, 0usize, 0usize);
    for record in &records {
        let decision = &record["decision"];
        let decision_id = decision["decision_id"].as_str().unwrap_or_default();
        let outcome = replay_one(server, &token, decision_id, &tenant_query);
        let (label, detail) = match &outcome {
            Outcome::Same => ("same", String::new()),
            Outcome::Drift(differences) => ("DRIFT", differences.join("; ")),
            Outcome::Skipped(reason) => ("skipped", reason.clone()),
            Outcome::Failed(reason) => ("FAILED", reason.clone()),
        };
        match outcome {
            Outcome::Same => same += 1,
            Outcome::Drift(_) => drift += 1,
            Outcome::Skipped(_) => skipped += 1,
            Outcome::Failed(_) => failed += 1,
        }
        println!(
            "{:<38} {:<8} {:<24} {:<8} {detail}",
            decision_id,
            decision["verdict"].as_str().unwrap_or("?"),
            decision["reason_code"].as_str().unwrap_or("?"),
            label,
        );
    }

    println!(
        "replayed {} decisions: {same} same, {drift} drifted (allowed {}), {skipped} skipped, {failed} failed",
        records.len(),
        args.allow_drift
    );
    if drift > args.allow_drift || failed > 0 {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Returns the bearer token: `--token`, or one minted from `--secret`.
fn bearer(args: &ReplayCheckArgs) -> anyhow::Result<String> {
    match (&args.server.token, &args.secret) {
        (Some(token), _) => Ok(token.clone()),
        (None, Some(secret)) => {
            let Some(tenant) = args.server.tenant.clone() else {
                bail!("--secret needs --tenant to name the tenant whose decisions are replayed");
            };
            mint(&TokenArgs {
                secret: secret.clone(),
                roles: vec!["complianceofficer".to_owned()],
                tenant,
                sub: args.sub.clone(),
                ttl_s: MINTED_TOKEN_TTL_S,
                issuer: std::env::var("AXIOM_JWT_ISSUER").unwrap_or_else(|_| "axiom".to_owned()),
                audience: std::env::var("AXIOM_JWT_AUDIENCE")
                    .unwrap_or_else(|_| "axiom-control".to_owned()),
            })
        }
        (None, None) => bail!("send --token (or AXIOM_TOKEN), or --secret with --tenant"),
    }
}

/// Percent-encodes every byte outside the URL's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Replays one decision and classifies the response.
fn replay_one(server: &str, token: &str, decision_id: &str, tenant_query: &str) -> Outcome {
    if decision_id.is_empty() {
        return Outcome::Failed("the listed record has no decision id".to_owned());
    }
    let query = tenant_query.replacen('&', "?", 1);
    let response = match client::send(
        server,
        "POST",
        &format!("/v1/audit/{}/replay{query}", percent_encode(decision_id)),
        Some(token),
        None,
    ) {
        Ok(response) => response,
        Err(error) => return Outcome::Failed(error.to_string()),
    };
    let body: Value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
    match response.status {
        200..=299 => match body["drift"].as_bool() {
            Some(false) => Outcome::Same,
            Some(true) => Outcome::Drift(
                body["differences"]
                    .as_array()
                    .map(|items| items.iter().filter_map(|item| item.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
            ),
            None => Outcome::Failed(format!("the replay answer has no `drift` field: {}", response.body.trim())),
        },
        409 => Outcome::Skipped(body["message"].as_str().unwrap_or("not replayable").to_owned()),
        status => Outcome::Failed(format!(
            "status {status}: {}",
            body["message"].as_str().unwrap_or(response.body.trim())
        )),
    }
}
