//! `axiom policy`: checks policy files and evaluates them offline against an intent and state.

use anyhow::{bail, Context, Result};
use axiom_engine::model::Intent;
use axiom_engine::policy::facts::decimal_from_json;
use axiom_engine::policy::{check_publishable, compile, Diagnostic, Facts, Principal, SourceReading};
use axiom_engine::smt::{evaluate_with_z3, SmtConfig};
use clap::{Args, Subcommand};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Options of `axiom policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// The policy subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Compiles a policy file and runs the publish checks; prints `FILE:LINE:COL: message`
    /// for each problem and exits 1 if there is any.
    Check {
        /// Policy file.
        file: PathBuf,
    },
    /// Evaluates a policy file against an intent and server state with Z3; prints the
    /// per-axiom outcomes and counterexamples as JSON.
    Eval {
        /// Policy file.
        file: PathBuf,
        /// Intent JSON file.
        #[arg(long)]
        intent: PathBuf,
        /// State JSON file: `{"sources": {NAME: {"age_sec": .., "lag_sec": .., "health_score": ..}},
        /// "budgets": {CODE: "123.45"}, "principal": {"kid": .., "tenant": ..}}`.
        #[arg(long)]
        state: PathBuf,
    },
}

/// Runs a policy subcommand.
pub fn run(args: PolicyArgs) -> Result<ExitCode> {
    match args.command {
        PolicyCommand::Check { file } => check(&file),
        PolicyCommand::Eval { file, intent, state } => eval(&file, &intent, &state),
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))
}

fn print_diagnostics(file: &Path, diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        eprintln!("{}:{}:{}: {}", file.display(), diagnostic.line, diagnostic.column, diagnostic.message);
    }
}

fn check(file: &Path) -> Result<ExitCode> {
    let source = read(file)?;
    let policy = match compile(&source) {
        Ok(policy) => policy,
        Err(diagnostics) => {
            print_diagnostics(file, &diagnostics);
            return Ok(ExitCode::from(1));
        }
    };
    let diagnostics = check_publishable(&policy);
    if !diagnostics.is_empty() {
        print_diagnostics(file, &diagnostics);
        return Ok(ExitCode::from(1));
    }
    println!("{}: ok ({}, {} axioms)", file.display(), policy.policy_set_id(), policy.axioms.len());
    Ok(ExitCode::SUCCESS)
}

fn eval(file: &Path, intent_path: &Path, state_path: &Path) -> Result<ExitCode> {
    let source = read(file)?;
    let policy = match compile(&source) {
        Ok(policy) => policy,
        Err(diagnostics) => {
            print_diagnostics(file, &diagnostics);
            return Ok(ExitCode::from(1));
        }
    };
    let intent: Intent = serde_json::from_str(&read(intent_path)?)
        .with_context(|| format!("invalid intent in `{}`", intent_path.display()))?;
    let state: Value = serde_json::from_str(&read(state_path)?)
        .with_context(|| format!("invalid JSON in `{}`", state_path.display()))?;
    let facts = facts_from_state(intent, &state)?;

    let config = SmtConfig::from_env()?;
    let evaluation = evaluate_with_z3(&policy, &facts, config.timeout_ms)?;
    super::print_output(&serde_json::to_string_pretty(&evaluation)?)?;
    Ok(ExitCode::SUCCESS)
}

fn decimal_field(value: &Value, what: &str) -> Result<Decimal> {
    decimal_from_json(value).map_err(|detail| anyhow::anyhow!("invalid {what}: {detail}"))
}

fn facts_from_state(intent: Intent, state: &Value) -> Result<Facts> {
    let mut sources = BTreeMap::new();
    if let Some(map) = state.get("sources").and_then(Value::as_object) {
        for (name, reading) in map {
            let field = |key: &str, default: Decimal| -> Result<Decimal> {
                match reading.get(key) {
                    Some(value) => decimal_field(value, &format!("sources.{name}.{key}")),
                    None => Ok(default),
                }
            };
            let Some(age) = reading.get("age_sec") else {
                bail!("source `{name}` has no `age_sec`");
            };
            sources.insert(
                name.clone(),
                SourceReading {
                    age_sec: decimal_field(age, &format!("sources.{name}.age_sec"))?,
                    lag_sec: field("lag_sec", Decimal::ZERO)?,
                    health_score: field("health_score", Decimal::ONE)?,
                },
            );
        }
    }
    let mut budgets = BTreeMap::new();
    if let Some(map) = state.get("budgets").and_then(Value::as_object) {
        for (code, value) in map {
            budgets.insert(code.clone(), decimal_field(value, &format!("budgets.{code}"))?);
        }
    }
    let principal = state.get("principal");
    let text = |key: &str, default: &str| {
        principal
            .and_then(|principal| principal.get(key))
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_owned()
    };
    let key = Principal { kid: text("kid", "cli"), tenant: text("tenant", &intent.actor.tenant) };
    Ok(Facts { intent: Arc::new(intent), key, sources, budgets })
}
