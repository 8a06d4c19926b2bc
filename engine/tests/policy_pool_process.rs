//! The `z3-process` backend under faults: killing the `z3` child answers with an `SmtError`
//! (never an ALLOW), the child is restarted, and later queries succeed. A hard query under a
//! short limit times out in the child without taking the pool down.
//!
//! This file holds one test, so the `z3` children found under this process are the pool's own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axiom_engine::model::Intent;
use axiom_engine::policy::{compile, AxiomOutcome, CompiledPolicy, Facts, Principal, SourceReading};
use axiom_engine::smt::{SmtBackend, SmtConfig, SmtError, SolverPool};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

fn corpus(name: &str) -> Arc<CompiledPolicy> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(name);
    Arc::new(compile(&std::fs::read_to_string(path).unwrap()).unwrap())
}

fn facts(params: serde_json::Value, uncertainty: serde_json::Value) -> Facts {
    let intent: Intent = serde_json::from_value(json!({
        "intent_id": "i", "idempotency_key": "k",
        "actor": {"id": "agent-7", "tenant": "acme", "roles": ["FinanceOperator"]},
        "target": {"domain": "finance", "object_types": [], "object_ids": ["o"], "scope": "single"},
        "operation": {"name": "pay_invoice", "params": params},
        "data_requirements": {"max_staleness_sec": 30, "uncertainty_budget": uncertainty},
        "time": {"request_time": 0}
    }))
    .unwrap();
    let mut sources = BTreeMap::new();
    sources.insert("bank".to_owned(), SourceReading { age_sec: Decimal::from(3), lag_sec: Decimal::ZERO, health_score: Decimal::ONE });
    let mut budgets = BTreeMap::new();
    budgets.insert("AP".to_owned(), Decimal::from(500));
    Facts { intent: Arc::new(intent), key: Principal { kid: "k".into(), tenant: "acme".into() }, sources, budgets }
}

/// An evaluation that needs Z3 (the amount is uncertain), so it reaches the child process.
fn uncertain_payment() -> Facts {
    facts(json!({"amount": "300"}), json!({"amount": "10"}))
}

/// Returns the ids of live `z3` processes whose parent is this test process.
fn z3_children() -> Vec<i32> {
    let own = std::process::id().to_string();
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((head, tail)) = stat.rsplit_once(") ") else { continue };
        let command = head.split_once(" (").map(|(_, command)| command).unwrap_or_default();
        let fields: Vec<&str> = tail.split_whitespace().collect();
        let is_live = fields.first().is_some_and(|state| *state != "Z");
        if command == "z3" && fields.get(1) == Some(&own.as_str()) && is_live {
            children.push(entry.file_name().to_string_lossy().parse().unwrap());
        }
    }
    children
}

#[actix_rt::test]
async fn killed_z3_child_is_restarted() {
    let z3_path = PathBuf::from(std::env::var("Z3_PATH").unwrap_or_else(|_| "z3".into()));
    let pool = SolverPool::start(SmtConfig { backend: SmtBackend::Process { z3_path }, workers: 1, queue_max: 16, timeout_ms: 1_000 });
    // Intervals cannot settle `a - a <= 0` for an uncertain `a` (they treat the two reads as
    // independent), so every evaluation of this policy reaches the z3 child.
    let finance = Arc::new(
        compile("policyset finance v1:\n  domain finance\naxiom Same:\n  require action.params.amount - action.params.amount <= 0\n")
            .unwrap(),
    );

    let evaluation = pool.evaluate(Arc::clone(&finance), uncertain_payment()).await.unwrap();
    assert!(evaluation.permits_allow(), "{evaluation:?}");
    let children = z3_children();
    assert_eq!(children.len(), 1, "expected one z3 child, found {children:?}");

    let status = std::process::Command::new("kill").arg("-9").arg(children[0].to_string()).status().unwrap();
    assert!(status.success());
    std::thread::sleep(std::time::Duration::from_millis(100));

    let error = pool.evaluate(Arc::clone(&finance), uncertain_payment()).await.unwrap_err();
    assert!(matches!(error, SmtError::ProcessFailed(_)), "{error}");
    assert_eq!(pool.stats().restarts.load(Ordering::Relaxed), 1);

    for _ in 0..5 {
        let evaluation = pool.evaluate(Arc::clone(&finance), uncertain_payment()).await.unwrap();
        assert!(evaluation.permits_allow(), "{evaluation:?}");
    }
    let restarted = z3_children();
    assert_eq!(restarted.len(), 1, "{restarted:?}");
    assert_ne!(restarted[0], children[0]);

    // A hard query under a short limit times out inside the child; the pool keeps answering.
    let short = SolverPool::start(SmtConfig {
        backend: SmtBackend::Process { z3_path: PathBuf::from(std::env::var("Z3_PATH").unwrap_or_else(|_| "z3".into())) },
        workers: 1,
        queue_max: 16,
        timeout_ms: 20,
    });
    let mut params = serde_json::Map::new();
    let mut uncertainty = serde_json::Map::new();
    for index in 1..=12 {
        params.insert(format!("p{index}"), json!("6"));
        uncertainty.insert(format!("p{index}"), json!("5"));
    }
    match short.evaluate(corpus("hard.policy"), facts(params.into(), uncertainty.into())).await {
        Ok(evaluation) => assert_eq!(evaluation.axioms[0].outcome, AxiomOutcome::Timeout),
        Err(error) => assert!(matches!(error, SmtError::Timeout { .. }), "{error}"),
    }
    let evaluation = short.evaluate(Arc::clone(&finance), uncertain_payment()).await.unwrap();
    assert!(evaluation.permits_allow(), "{evaluation:?}");
}
