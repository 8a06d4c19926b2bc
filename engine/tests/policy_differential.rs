//! Differential test: the interval fast path against Z3.
//!
//! For thousands of random policies and intents, every axiom the interval evaluator decides
//! must get the same outcome kind from Z3 alone (and Z3's outcome must be one the intervals
//! could have reached). A second property compares the in-process and `z3 -in` backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axiom_engine::model::Intent;
use axiom_engine::policy::prove::axiom_by_intervals;
use axiom_engine::policy::{
    compile, evaluate, evaluate_by_intervals, AxiomOutcome, Evaluator, Facts, Principal, SourceReading,
};
use axiom_engine::smt::{InProcessSolver, ProcessSolver, SmtStats};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

fn decimal_text(rng: &mut StdRng) -> String {
    let cents: i64 = rng.gen_range(-500..3_000);
    Decimal::new(cents, 2).to_string()
}

fn number(rng: &mut StdRng, depth: u32) -> String {
    let leaf = depth == 0 || rng.gen_bool(0.5);
    if leaf {
        return match rng.gen_range(0..7) {
            0 => decimal_text(rng),
            1 => "action.params.a".into(),
            2 => "action.params.b".into(),
            3 => "batch.size".into(),
            4 => format!("source(\"{}\").age_sec", pick(rng, &["s", "t"])),
            5 => "budget.remaining(\"B\")".into(),
            _ => format!("eps({})", Decimal::new(rng.gen_range(0..800), 2)),
        };
    }
    match rng.gen_range(0..4) {
        0 => format!("({} + {})", number(rng, depth - 1), number(rng, depth - 1)),
        1 => format!("({} - {})", number(rng, depth - 1), number(rng, depth - 1)),
        2 => format!("{} * {}", Decimal::new(rng.gen_range(-300..300), 1), number(rng, depth - 1)),
        _ => format!("-{}", number(rng, depth - 1)),
    }
}

fn condition(rng: &mut StdRng, depth: u32) -> String {
    let leaf = depth == 0 || rng.gen_bool(0.4);
    if leaf {
        return match rng.gen_range(0..6) {
            0..=2 => {
                let op = pick(rng, &["==", "!=", "<", "<=", ">", ">="]);
                format!("{} {op} {}", number(rng, 2), number(rng, 2))
            }
            3 => format!("action.name == \"{}\"", pick(rng, &["pay", "refund", "read"])),
            4 => format!("\"{}\" in actor.roles", pick(rng, &["Ops", "Fin"])),
            _ => format!("{} in [{}, {}]", number(rng, 1), decimal_text(rng), decimal_text(rng)),
        };
    }
    match rng.gen_range(0..3) {
        0 => format!("({} and {})", condition(rng, depth - 1), condition(rng, depth - 1)),
        1 => format!("({} or {})", condition(rng, depth - 1), condition(rng, depth - 1)),
        _ => format!("not ({})", condition(rng, depth - 1)),
    }
}

fn policy_text(rng: &mut StdRng) -> String {
    let mut text = String::from("policyset random v1:\n  domain random\n");
    for index in 0..3 {
        text.push_str(&format!("axiom A{index}:\n"));
        if rng.gen_bool(0.7) {
            text.push_str(&format!("  when {}\n", condition(rng, 2)));
        }
        text.push_str(&format!("  require {}\n", condition(rng, 3)));
    }
    text
}

fn facts(rng: &mut StdRng) -> Facts {
    let mut params = Map::new();
    let mut uncertainty = BTreeMap::new();
    for name in ["a", "b"] {
        match rng.gen_range(0..10) {
            0 => {}
            1 => {
                params.insert(name.into(), json!("not a number"));
            }
            2 | 3 => {
                params.insert(name.into(), json!(rng.gen_range(-5i64..30)));
            }
            _ => {
                params.insert(name.into(), json!(decimal_text(rng)));
            }
        }
        if rng.gen_bool(0.4) {
            uncertainty.insert(name.to_owned(), Decimal::new(rng.gen_range(0..1_000), 2).to_string());
        }
    }
    let objects = rng.gen_range(1..30);
    let intent: Intent = serde_json::from_value(json!({
        "intent_id": "random",
        "idempotency_key": "random",
        "actor": {"id": "agent", "tenant": "acme", "roles": if rng.gen_bool(0.5) { json!(["Ops"]) } else { json!(["Fin"]) }},
        "target": {"domain": "random", "object_types": [], "object_ids": (0..objects).map(|i| format!("o{i}")).collect::<Vec<_>>(), "scope": "batch"},
        "operation": {"name": pick(rng, &["pay", "refund", "read"]), "params": Value::Object(params)},
        "data_requirements": {"max_staleness_sec": 30, "uncertainty_budget": uncertainty},
        "time": {"request_time": 0}
    }))
    .unwrap();

    let mut sources = BTreeMap::new();
    if rng.gen_bool(0.9) {
        let age = Decimal::new(rng.gen_range(0..3_000), 2);
        sources.insert("s".to_owned(), SourceReading { age_sec: age, lag_sec: Decimal::ZERO, health_score: Decimal::ONE });
    }
    let mut budgets = BTreeMap::new();
    if rng.gen_bool(0.9) {
        budgets.insert("B".to_owned(), Decimal::new(rng.gen_range(0..4_000), 2));
    }
    Facts { intent: Arc::new(intent), key: Principal { kid: "k".into(), tenant: "acme".into() }, sources, budgets }
}

fn kind(outcome: &AxiomOutcome) -> &'static str {
    match outcome {
        AxiomOutcome::NotApplicable => "not_applicable",
        AxiomOutcome::Proved => "proved",
        AxiomOutcome::Violated { .. } => "violated",
        AxiomOutcome::Uncertain { .. } => "uncertain",
        AxiomOutcome::Error { .. } => "error",
        AxiomOutcome::Timeout => "timeout",
    }
}

static DECIDED: AtomicU64 = AtomicU64::new(0);
static UNDECIDED: AtomicU64 = AtomicU64::new(0);

proptest! {
    #![proptest_config(ProptestConfig { cases: 3_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn intervals_agree_with_z3(seed in any::<u64>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        let source = policy_text(&mut rng);
        let policy = compile(&source).map_err(|errors| TestCaseError::fail(format!("{errors:?}\n{source}")))?;
        let mut solver = InProcessSolver::new(10_000);
        for _ in 0..3 {
            let facts = facts(&mut rng);
            let by_z3 = evaluate(&policy, &facts, Evaluator { solver: Some(&mut solver), fast_path: false }).unwrap();
            if let Some(inline) = evaluate_by_intervals(&policy, &facts) {
                let pooled = evaluate(&policy, &facts, Evaluator { solver: Some(&mut solver), fast_path: true }).unwrap();
                prop_assert_eq!(&inline, &pooled, "inline interval evaluation differs from the pooled one\npolicy:\n{}", source);
            }
            for (axiom, z3_result) in policy.axioms.iter().zip(&by_z3.axioms) {
                prop_assert!(z3_result.outcome != AxiomOutcome::Timeout, "z3 timed out on\n{}", source);
                match axiom_by_intervals(axiom, &facts) {
                    Some(interval_outcome) => {
                        DECIDED.fetch_add(1, Ordering::Relaxed);
                        prop_assert_eq!(kind(&interval_outcome), kind(&z3_result.outcome),
                            "axiom {} disagrees\npolicy:\n{}\nfacts: {}", axiom.name, source, serde_json::to_string(&facts).unwrap());
                    }
                    None => {
                        UNDECIDED.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

}

proptest! {
    // Each case starts a `z3` child process, so fewer cases keep the debug run short.
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn process_backend_agrees_with_in_process(seed in any::<u64>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        let source = policy_text(&mut rng);
        let policy = compile(&source).map_err(|errors| TestCaseError::fail(format!("{errors:?}")))?;
        let mut in_process = InProcessSolver::new(10_000);
        let z3_path = std::env::var("Z3_PATH").unwrap_or_else(|_| "z3".into());
        let mut process = ProcessSolver::new(z3_path.into(), 10_000, Arc::new(SmtStats::default()));
        let facts = facts(&mut rng);
        let first = evaluate(&policy, &facts, Evaluator { solver: Some(&mut in_process), fast_path: false }).unwrap();
        let second = evaluate(&policy, &facts, Evaluator { solver: Some(&mut process), fast_path: false }).unwrap();
        for (left, right) in first.axioms.iter().zip(&second.axioms) {
            prop_assert_eq!(kind(&left.outcome), kind(&right.outcome), "{}\n{}", left.name, source);
        }
    }
}

/// Shows on a fixed sample that the fast path decides a real share of cases, that it leaves
/// cases to Z3, and that the sample reaches every outcome, so the property above is not vacuous.
#[test]
fn intervals_decide_a_share_of_cases() {
    let mut decided = 0;
    let mut undecided = 0;
    let mut outcomes = std::collections::BTreeMap::new();
    let mut solver = InProcessSolver::new(10_000);
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..300 {
        let policy = compile(&policy_text(&mut rng)).unwrap();
        let facts = facts(&mut rng);
        let by_z3 = evaluate(&policy, &facts, Evaluator { solver: Some(&mut solver), fast_path: false }).unwrap();
        for result in &by_z3.axioms {
            *outcomes.entry(kind(&result.outcome)).or_insert(0) += 1;
        }
        for axiom in &policy.axioms {
            match axiom_by_intervals(axiom, &facts) {
                Some(_) => decided += 1,
                None => undecided += 1,
            }
        }
    }
    println!("decided {decided}, undecided {undecided}, z3 outcomes {outcomes:?}");
    assert!(decided > 300, "intervals decided only {decided} of {}", decided + undecided);
    assert!(undecided >= 50, "intervals left only {undecided} cases to Z3");
    for outcome in ["not_applicable", "proved", "violated", "uncertain", "error"] {
        assert!(outcomes.get(outcome).copied().unwrap_or(0) > 0, "sample never reached {outcome}: {outcomes:?}");
    }
    let _ = (DECIDED.load(Ordering::Relaxed), UNDECIDED.load(Ordering::Relaxed));
}
