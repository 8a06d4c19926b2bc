//! Corpus: every policy and intent under `tests/corpus/` must give the expected per-axiom
//! outcomes, on the in-process Z3 (with and without the interval fast path) and on `z3 -in`.
//!
//! The cases cover proved, violated, uncertain, not applicable, fail-closed errors and a
//! timeout (a pigeonhole problem under a 1 ms limit).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axiom_engine::model::Intent;
use axiom_engine::policy::{
    compile, evaluate, AbacDecision, AxiomOutcome, CompiledPolicy, Evaluator, Facts, Principal,
    PolicyEvaluation, SourceReading,
};
use axiom_engine::smt::{InProcessSolver, ProcessSolver, SmtStats, Solve};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

const CORPUS_TIMEOUT_MS: u64 = 5_000;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn z3_path() -> PathBuf {
    std::env::var("Z3_PATH").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from("z3"))
}

fn decimal(value: &Value) -> Decimal {
    match value {
        Value::String(text) => Decimal::from_str(text).unwrap(),
        Value::Number(number) => Decimal::from(number.as_i64().unwrap()),
        other => panic!("not a decimal: {other}"),
    }
}

/// Builds the intent of a case from its short description.
fn intent(case: &Value) -> Intent {
    let short = &case["intent"];
    let objects = short["objects"].as_u64().unwrap_or(1);
    let object_ids: Vec<String> = (0..objects).map(|index| format!("obj-{index}")).collect();
    serde_json::from_value(json!({
        "intent_id": format!("intent-{}", case["name"].as_str().unwrap()),
        "idempotency_key": "key-1",
        "actor": {"id": "agent-7", "tenant": "acme", "roles": short.get("roles").cloned().unwrap_or(json!([]))},
        "target": {"domain": "any", "object_types": ["invoice"], "object_ids": object_ids,
                   "scope": short.get("scope").cloned().unwrap_or(json!("single"))},
        "operation": {"name": short["action"], "params": short.get("params").cloned().unwrap_or(json!({}))},
        "data_requirements": {"required_sources": [], "max_staleness_sec": 30,
                              "uncertainty_budget": short.get("uncertainty").cloned().unwrap_or(json!({}))},
        "time": {"request_time": 1_700_000_000_000i64}
    }))
    .unwrap()
}

/// Builds the facts: `sources` gives ages, `lag` and `health` override the defaults (0 and 1).
fn facts(case: &Value) -> Facts {
    let state = &case["state"];
    let mut sources = BTreeMap::new();
    let mut names: Vec<String> = Vec::new();
    for key in ["sources", "lag", "health"] {
        if let Some(map) = state[key].as_object() {
            names.extend(map.keys().cloned());
        }
    }
    for name in names {
        let reading = SourceReading {
            age_sec: state["sources"].get(&name).map(decimal).unwrap_or(Decimal::ZERO),
            lag_sec: state["lag"].get(&name).map(decimal).unwrap_or(Decimal::ZERO),
            health_score: state["health"].get(&name).map(decimal).unwrap_or(Decimal::ONE),
        };
        sources.insert(name, reading);
    }
    let budgets = state["budgets"]
        .as_object()
        .map(|map| map.iter().map(|(code, value)| (code.clone(), decimal(value))).collect())
        .unwrap_or_default();
    Facts {
        intent: Arc::new(intent(case)),
        key: Principal {
            kid: "kid-1".into(),
            tenant: state["key_tenant"].as_str().unwrap_or("acme").into(),
        },
        sources,
        budgets,
    }
}

fn outcome_name(outcome: &AxiomOutcome) -> &'static str {
    match outcome {
        AxiomOutcome::NotApplicable => "not_applicable",
        AxiomOutcome::Proved => "proved",
        AxiomOutcome::Violated { .. } => "violated",
        AxiomOutcome::Uncertain { .. } => "uncertain",
        AxiomOutcome::Error { .. } => "error",
        AxiomOutcome::Timeout => "timeout",
    }
}

fn check(case: &Value, evaluation: &PolicyEvaluation, mode: &str) {
    let name = case["name"].as_str().unwrap();
    let expect = &case["expect"];
    let no_axioms = serde_json::Map::new();
    for (axiom, expected) in expect["axioms"].as_object().unwrap_or(&no_axioms) {
        let result = evaluation
            .axioms
            .iter()
            .find(|result| result.name == *axiom)
            .unwrap_or_else(|| panic!("{name} [{mode}]: no result for axiom {axiom}"));
        assert_eq!(
            outcome_name(&result.outcome),
            expected.as_str().unwrap(),
            "{name} [{mode}]: axiom {axiom} gave {:?}",
            result.outcome
        );
        if let AxiomOutcome::Violated { facts } | AxiomOutcome::Uncertain { facts } = &result.outcome {
            assert!(!facts.is_empty(), "{name} [{mode}]: {axiom} has no counterexample facts");
        }
    }
    if let Some(escrow) = expect["escrow"].as_bool() {
        assert_eq!(evaluation.escrow_matched, escrow, "{name} [{mode}]: escrow {:?}", evaluation.escrow_conditions);
    }
    if let Some(count) = expect["invariant_failures"].as_u64() {
        assert_eq!(evaluation.invariant_failures.len() as u64, count, "{name} [{mode}]: invariants");
    }
    if let Some(abac) = expect["abac"].as_str() {
        let actual = match evaluation.abac {
            AbacDecision::Allowed => "allowed",
            AbacDecision::Denied { .. } => "denied",
        };
        assert_eq!(actual, abac, "{name} [{mode}]: abac {:?}", evaluation.abac);
    }
    let only_good = evaluation.axioms.iter().all(|axiom| {
        matches!(axiom.outcome, AxiomOutcome::Proved | AxiomOutcome::NotApplicable)
    });
    assert_eq!(evaluation.permits_allow(), only_good && !evaluation.escrow_matched
        && evaluation.invariant_failures.is_empty() && evaluation.abac == AbacDecision::Allowed,
        "{name} [{mode}]: permits_allow");
}

fn load_cases() -> (Vec<Value>, BTreeMap<String, CompiledPolicy>) {
    let text = std::fs::read_to_string(corpus_dir().join("cases.json")).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut policies = BTreeMap::new();
    for case in &cases {
        let file = case["policy"].as_str().unwrap().to_owned();
        if let std::collections::btree_map::Entry::Vacant(slot) = policies.entry(file.clone()) {
            let source = std::fs::read_to_string(corpus_dir().join(&file)).unwrap();
            let policy = compile(&source).unwrap_or_else(|errors| panic!("{file}: {errors:?}"));
            slot.insert(policy);
        }
    }
    (cases, policies)
}

fn run_corpus(mode: &str, fast_path: bool, make_solver: &dyn Fn(u64) -> Box<dyn Solve>) {
    let (cases, policies) = load_cases();
    assert!(cases.len() >= 20, "corpus shrank to {} cases", cases.len());
    let mut seen = std::collections::BTreeSet::new();
    for case in &cases {
        let timeout_ms = case["timeout_ms"].as_u64().unwrap_or(CORPUS_TIMEOUT_MS);
        let mut solver = make_solver(timeout_ms);
        let policy = &policies[case["policy"].as_str().unwrap()];
        let evaluation = evaluate(policy, &facts(case), Evaluator { solver: Some(solver.as_mut()), fast_path })
            .unwrap_or_else(|error| panic!("{} [{mode}]: {error}", case["name"]));
        check(case, &evaluation, mode);
        for result in &evaluation.axioms {
            seen.insert(outcome_name(&result.outcome));
        }
    }
    for branch in ["not_applicable", "proved", "violated", "uncertain", "error", "timeout"] {
        assert!(seen.contains(branch), "[{mode}] corpus never reached {branch}");
    }
}

#[test]
fn corpus_in_process_with_fast_path() {
    run_corpus("z3 + intervals", true, &|timeout_ms| Box::new(InProcessSolver::new(timeout_ms)));
}

#[test]
fn corpus_in_process_z3_only() {
    run_corpus("z3 only", false, &|timeout_ms| Box::new(InProcessSolver::new(timeout_ms)));
}

#[test]
fn corpus_z3_process() {
    let stats = Arc::new(SmtStats::default());
    run_corpus("z3 -in", false, &|timeout_ms| {
        Box::new(ProcessSolver::new(z3_path(), timeout_ms, Arc::clone(&stats)))
    });
}
