//! Operator commands that call the control plane: `axiom keys`, `axiom incidents`,
//! `axiom settings` and `axiom sources`. Each prints the JSON response and exits 0 on a 2xx
//! status, 1 otherwise.

use crate::http::client;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use std::process::ExitCode;

/// Server address and credentials of the commands.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Base URL of the control plane.
    #[arg(long, global = true, env = "AXIOM_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Bearer token (see `axiom token`).
    #[arg(long, global = true, env = "AXIOM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Tenant to act on; defaults to the token's (required for platform-wide tokens).
    #[arg(long, global = true)]
    pub tenant: Option<String>,
}

/// `axiom keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// Subcommands of `axiom keys`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the tenant's keys, revoked ones included.
    List,
    /// Show one key.
    Get {
        /// Key id.
        kid: String,
    },
    /// Revoke a key; it signs nothing from the next request on.
    Revoke {
        /// Key id.
        kid: String,
    },
}

/// `axiom incidents`.
#[derive(Debug, Args)]
pub struct IncidentsArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: IncidentsCommand,
}

/// Subcommands of `axiom incidents`.
#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// List incidents, newest first.
    List {
        /// Only this reason code, for example REPLAY_DETECTED.
        #[arg(long)]
        reason_code: Option<String>,
        /// Only this status: OPEN, ACKNOWLEDGED or RESOLVED.
        #[arg(long)]
        status: Option<String>,
    },
    /// Move an incident from OPEN to ACKNOWLEDGED.
    Ack {
        /// Incident id.
        id: String,
    },
    /// Move an incident from ACKNOWLEDGED to RESOLVED.
    Resolve {
        /// Incident id.
        id: String,
    },
}

/// `axiom settings`.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: SettingsCommand,
}

/// Subcommands of `axiom settings`.
#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Print the runtime settings.
    Get,
    /// Change settings, for example `RATE_LIMIT_PER_MINUTE=60 ACCEPTANCE_TTL_MS=0`.
    Set {
        /// NAME=VALUE pairs; numbers and true/false are sent as JSON values.
        #[arg(required = true)]
        assignments: Vec<String>,
        /// Why, kept in the settings history.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Print the history of changes.
    History,
}

/// `axiom sources`.
#[derive(Debug, Args)]
pub struct SourcesArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: SourcesCommand,
}

/// Subcommands of `axiom sources`.
#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// List the tenant's sources with their ages.
    List,
    /// Push one freshness event.
    Ingest {
        /// Policy domain, for example `finance`.
        #[arg(long)]
        domain: String,
        /// Source name, as in `source("bank")`.
        #[arg(long)]
        source: String,
        /// Time of the data, Unix milliseconds; defaults to now.
        #[arg(long)]
        event_time_ms: Option<i64>,
        /// Health score in [0, 1], as a decimal string.
        #[arg(long)]
        health_score: Option<String>,
    },
}

/// Percent-encodes a query or path value (RFC 3986 unreserved characters pass through).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Builds `?a=b&c=d` from the pairs that have a value.
fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(name, value)| value.map(|value| format!("{name}={}", encode(value))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn call(server: &ServerArgs, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<ExitCode> {
    let body = body.map(|value| value.to_string());
    let response = client::send(&server.server, method, path, server.token.as_deref(), body.as_deref())
        .with_context(|| format!("{method} {path}"))?;

    let pretty = serde_json::from_str::<Value>(&response.body)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or(response.body);
    if (200..300).contains(&response.status) {
        println!("{pretty}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: {method} {path} returned HTTP {}\n{pretty}", response.status);
        Ok(ExitCode::from(1))
    }
}

/// Runs `axiom keys`.
pub fn run_keys(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let tenant = query(&[("tenant", args.server.tenant.as_deref())]);
    match args.command {
        KeysCommand::List => call(&args.server, "GET", &format!("/v1/keys{tenant}"), None),
        KeysCommand::Get { kid } => {
            call(&args.server, "GET", &format!("/v1/keys/{}{tenant}", encode(&kid)), None)
        }
        KeysCommand::Revoke { kid } => call(
            &args.server,
            "PATCH",
            &format!("/v1/keys/{}{tenant}", encode(&kid)),
            Some(json!({ "status": "revoked" })),
        ),
    }
}

/// Runs `axiom incidents`.
pub fn run_incidents(args: IncidentsArgs) -> anyhow::Result<ExitCode> {
    let tenant = args.server.tenant.as_deref();
    let (id, status) = match args.command {
        IncidentsCommand::List { reason_code, status } => {
            let path = format!(
                "/v1/incidents{}",
                query(&[
                    ("tenant", tenant),
                    ("reason_code", reason_code.as_deref()),
                    ("status", status.as_deref()),
                ])
            );
            return call(&args.server, "GET", &path, None);
        }
        IncidentsCommand::Ack { id } => (id, "ACKNOWLEDGED"),
        IncidentsCommand::Resolve { id } => (id, "RESOLVED"),
    };
    let path = format!("/v1/incidents/{}{}", encode(&id), query(&[("tenant", tenant)]));
    call(&args.server, "PATCH", &path, Some(json!({ "status": status })))
}

/// Parses `NAME=VALUE` pairs into a settings patch.
fn settings_patch(assignments: &[String], reason: Option<String>) -> anyhow::Result<Value> {
    let mut patch = Map::new();
    for assignment in assignments {
        let Some((name, value)) = assignment.split_once('=') else {
            bail!("`{assignment}` is not NAME=VALUE");
        };
        let value = match value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            number => Value::from(
                number
                    .parse::<u64>()
                    .with_context(|| format!("{name}: `{number}` is not a whole number or true/false"))?,
            ),
        };
        patch.insert(name.to_owned(), value);
    }
    if let Some(reason) = reason {
        patch.insert("reason".to_owned(), Value::String(reason));
    }
    Ok(Value::Object(patch))
}

/// Runs `axiom settings`.
pub fn run_settings(args: SettingsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        SettingsCommand::Get => call(&args.server, "GET", "/v1/settings", None),
        SettingsCommand::History => call(&args.server, "GET", "/v1/settings/history", None),
        SettingsCommand::Set { assignments, reason } => {
            let patch = settings_patch(&assignments, reason)?;
            call(&args.server, "PATCH", "/v1/settings", Some(patch))
        }
    }
}

/// Runs `axiom sources`.
pub fn run_sources(args: SourcesArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        SourcesCommand::List => {
            let path = format!("/v1/sources{}", query(&[("tenant", args.server.tenant.as_deref())]));
            call(&args.server, "GET", &path, None)
        }
        SourcesCommand::Ingest {
            domain,
            source,
            event_time_ms,
            health_score,
        } => {
            let Some(tenant) = args.server.tenant.clone() else {
                bail!("--tenant is required for `sources ingest`");
            };
            let event_time_ms = event_time_ms.unwrap_or_else(crate::http::unix_now_ms);
            let mut event = json!({
                "tenant": tenant,
                "domain": domain,
                "source": source,
                "event_time_ms": event_time_ms,
            });
            if let (Some(score), Some(object)) = (health_score, event.as_object_mut()) {
                object.insert("health_score".to_owned(), Value::String(score));
            }
            call(&args.server, "POST", "/v1/sources/events", Some(event))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            query(&[("tenant", Some("a b&c")), ("status", None), ("reason_code", Some("REPLAY_DETECTED"))]),
            "?tenant=a%20b%26c&reason_code=REPLAY_DETECTED"
        );
        assert_eq!(query(&[("tenant", None)]), "");
    }

    #[test]
    fn settings_assignments_parse() {
        let patch = settings_patch(
            &["ACCEPTANCE_TTL_MS=0".to_owned(), "DEGRADED_NO_ALLOW=true".to_owned()],
            Some("key leak".to_owned()),
        )
        .ok();
        assert_eq!(
            patch,
            Some(json!({"ACCEPTANCE_TTL_MS": 0, "DEGRADED_NO_ALLOW": true, "reason": "key leak"}))
        );
        assert!(settings_patch(&["RATE_LIMIT_PER_MINUTE".to_owned()], None).is_err());
        assert!(settings_patch(&["RATE_LIMIT_PER_MINUTE=-1".to_owned()], None).is_err());
    }
}
