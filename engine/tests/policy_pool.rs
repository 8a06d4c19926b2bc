//! The pooled solver set under load and faults, with the real in-process Z3.
//!
//! Each test starts its own pool in its own actix system, drives it past a limit (a full
//! queue, solver timeouts, a panicking worker) and checks two things: the failures come back
//! as `SmtError`s or timeout outcomes that never permit an ALLOW, and later queries succeed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axiom_engine::model::Intent;
use axiom_engine::policy::{compile, AxiomOutcome, DecidedBy, CompiledPolicy, Facts, Principal, ProvedBy, SourceReading};
use axiom_engine::smt::{SmtBackend, SmtConfig, SmtError, SolverPool};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

fn corpus(name: &str) -> Arc<CompiledPolicy> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(name);
    Arc::new(compile(&std::fs::read_to_string(path).unwrap()).unwrap())
}

fn payment_facts(amount: &str) -> Facts {
    let intent: Intent = serde_json::from_value(json!({
        "intent_id": "i", "idempotency_key": "k",
        "actor": {"id": "agent-7", "tenant": "acme", "roles": ["FinanceOperator"]},
        "target": {"domain": "finance", "object_types": ["invoice"], "object_ids": ["inv-1"], "scope": "single"},
        "operation": {"name": "pay_invoice", "params": {"amount": amount}},
        "data_requirements": {"max_staleness_sec": 30},
        "time": {"request_time": 0}
    }))
    .unwrap();
    let mut sources = BTreeMap::new();
    sources.insert("bank".to_owned(), SourceReading { age_sec: Decimal::from(3), lag_sec: Decimal::ZERO, health_score: Decimal::ONE });
    let mut budgets = BTreeMap::new();
    budgets.insert("AP".to_owned(), Decimal::from(500));
    Facts { intent: Arc::new(intent), key: Principal { kid: "k".into(), tenant: "acme".into() }, sources, budgets }
}

/// Facts for the pigeonhole policy: twelve uncertain values, which makes Z3 work hard.
fn pigeon_facts() -> Facts {
    let mut params = serde_json::Map::new();
    let mut uncertainty = BTreeMap::new();
    for index in 1..=12 {
        params.insert(format!("p{index}"), json!("6"));
        uncertainty.insert(format!("p{index}"), "5".to_owned());
    }
    let intent: Intent = serde_json::from_value(json!({
        "intent_id": "i", "idempotency_key": "k",
        "actor": {"id": "agent", "tenant": "acme", "roles": []},
        "target": {"domain": "lab", "object_types": [], "object_ids": [], "scope": "single"},
        "operation": {"name": "place", "params": params},
        "data_requirements": {"max_staleness_sec": 30, "uncertainty_budget": uncertainty},
        "time": {"request_time": 0}
    }))
    .unwrap();
    Facts { intent: Arc::new(intent), key: Principal { kid: "k".into(), tenant: "acme".into() }, sources: BTreeMap::new(), budgets: BTreeMap::new() }
}

fn config(workers: usize, queue_max: usize, timeout_ms: u64) -> SmtConfig {
    SmtConfig { backend: SmtBackend::InProcess, workers, queue_max, timeout_ms }
}

/// Intervals cannot settle `a - a <= 0` for an uncertain `a`, so this policy always needs Z3.
fn z3_only_policy() -> Arc<CompiledPolicy> {
    Arc::new(compile("policyset finance v1:\n  domain finance\naxiom Same:\n  require action.params.amount - action.params.amount <= 0\n").unwrap())
}

fn uncertain_payment() -> Facts {
    let mut facts = payment_facts("300");
    let mut intent = (*facts.intent).clone();
    intent.data_requirements.uncertainty_budget.insert("amount".into(), "10".into());
    facts.intent = Arc::new(intent);
    facts
}

async fn assert_pool_answers(pool: &SolverPool) {
    let finance = corpus("finance.policy");
    let same = z3_only_policy();
    for _ in 0..6 {
        let evaluation = pool.evaluate(Arc::clone(&same), uncertain_payment()).await.unwrap();
        assert_eq!(evaluation.axioms[0].outcome, AxiomOutcome::Proved);
        assert_eq!(evaluation.axioms[0].decided_by, DecidedBy::Z3);
        let evaluation = pool.evaluate(Arc::clone(&finance), payment_facts("100")).await.unwrap();
        assert!(evaluation.permits_allow(), "{evaluation:?}");
        let evaluation = pool.evaluate(Arc::clone(&finance), payment_facts("900")).await.unwrap();
        let budget = evaluation.axioms.iter().find(|axiom| axiom.name == "Budget").unwrap();
        assert!(matches!(budget.outcome, AxiomOutcome::Violated { .. }), "{:?}", budget.outcome);
    }
}

#[actix_rt::test]
async fn pool_evaluates_policies() {
    let pool = SolverPool::start(config(2, 64, 1_000));
    assert_pool_answers(&pool).await;
    let evaluation = pool.evaluate(corpus("finance.policy"), payment_facts("499.50")).await.unwrap();
    assert_eq!(evaluation.proved_by, ProvedBy::Z3);
    assert!(!evaluation.permits_allow());
    assert_eq!(pool.stats().queue_depth.load(Ordering::Relaxed), 0);
    assert_eq!(pool.stats().evaluations.load(Ordering::Relaxed), 19);
}

#[actix_rt::test]
async fn full_queue_rejects_at_once_then_recovers() {
    let pool = SolverPool::start(config(1, 2, 400));
    let hard = corpus("hard.policy");

    let mut handles = Vec::new();
    for _ in 0..8 {
        let pool = pool.clone();
        let hard = Arc::clone(&hard);
        handles.push(actix_rt::spawn(async move { pool.evaluate(hard, pigeon_facts()).await }));
    }
    let mut rejected = 0;
    for handle in handles {
        match handle.await.unwrap() {
            Err(SmtError::QueueFull { queue_max }) => {
                assert_eq!(queue_max, 2);
                rejected += 1;
            }
            Ok(evaluation) => assert!(!evaluation.permits_allow(), "{evaluation:?}"),
            Err(other) => assert!(matches!(other, SmtError::Timeout { .. }), "{other}"),
        }
    }
    assert_eq!(rejected, 6, "two evaluations fit the queue, six must be rejected");
    assert_eq!(pool.stats().queue_full.load(Ordering::Relaxed), 6);
    assert_pool_answers(&pool).await;
}

#[actix_rt::test]
async fn solver_timeouts_never_allow_and_pool_recovers() {
    let pool = SolverPool::start(config(2, 64, 30));
    let hard = corpus("hard.policy");

    let mut handles = Vec::new();
    for _ in 0..6 {
        let pool = pool.clone();
        let hard = Arc::clone(&hard);
        handles.push(actix_rt::spawn(async move { pool.evaluate(hard, pigeon_facts()).await }));
    }
    for handle in handles {
        match handle.await.unwrap() {
            Ok(evaluation) => {
                assert!(!evaluation.permits_allow());
                assert_eq!(evaluation.axioms[0].outcome, AxiomOutcome::Timeout);
            }
            Err(error) => assert!(matches!(error, SmtError::Timeout { .. }), "{error}"),
        }
    }
    assert!(pool.stats().timeouts.load(Ordering::Relaxed) >= 6);

    let relaxed = SolverPool::start(config(2, 64, 1_000));
    assert_pool_answers(&relaxed).await;
    // The same short-deadline pool still answers small queries after the timeouts.
    let evaluation = pool.evaluate(corpus("finance.policy"), payment_facts("100")).await.unwrap();
    assert!(evaluation.permits_allow(), "{evaluation:?}");
}

#[actix_rt::test]
async fn panicking_worker_is_replaced() {
    let pool = SolverPool::start(config(2, 64, 1_000));
    assert_pool_answers(&pool).await;

    for round in 1..=3u64 {
        let error = pool.inject_worker_panic().await.unwrap_err();
        assert!(matches!(error, SmtError::WorkerFailed(_)), "{error}");
        assert_eq!(pool.stats().restarts.load(Ordering::Relaxed), round);
        assert_pool_answers(&pool).await;
    }
}

#[actix_rt::test]
async fn disabled_backend_never_claims_a_proof() {
    let pool = SolverPool::start(SmtConfig { backend: SmtBackend::Disabled, ..SmtConfig::default() });
    let evaluation = pool.evaluate(corpus("finance.policy"), payment_facts("100")).await.unwrap();
    assert_eq!(evaluation.proved_by, ProvedBy::Disabled);
    assert!(!evaluation.permits_allow());
    let evaluation = pool.evaluate(corpus("finance.policy"), payment_facts("499.50")).await.unwrap();
    let budget = evaluation.axioms.iter().find(|axiom| axiom.name == "Budget").unwrap();
    assert!(matches!(budget.outcome, AxiomOutcome::Error { .. }), "{:?}", budget.outcome);
    assert!(pool.inject_worker_panic().await.is_err());
}

#[test]
fn config_reads_environment_names() {
    let lookup = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned())
    };
    let config = SmtConfig::from_lookup(lookup(&[("SMT_BACKEND", "z3-process"), ("Z3_PATH", "/usr/bin/z3"), ("SMT_TIMEOUT_MS", "75")])).unwrap();
    assert_eq!(config.backend, SmtBackend::Process { z3_path: "/usr/bin/z3".into() });
    assert_eq!(config.timeout_ms, 75);
    assert_eq!(SmtConfig::from_lookup(lookup(&[("SMT_BACKEND", "disabled")])).unwrap().backend, SmtBackend::Disabled);
    assert_eq!(SmtConfig::from_lookup(lookup(&[])).unwrap().backend, SmtBackend::InProcess);
    assert!(SmtConfig::from_lookup(lookup(&[("SMT_BACKEND", "cvc5")])).is_err());
    assert!(SmtConfig::from_lookup(lookup(&[("SMT_TIMEOUT_MS", "0")])).is_err());
    assert!(SmtConfig::from_lookup(lookup(&[("SMT_TIMEOUT_MS", "fast")])).is_err());
}
