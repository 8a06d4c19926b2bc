//! End-to-end slice: compile the finance policy and prove its budget axiom with the real Z3.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axiom_engine::model::Intent;
use axiom_engine::policy::{compile, evaluate, AxiomOutcome, Evaluator, Facts, Principal, SourceReading};
use axiom_engine::smt::InProcessSolver;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;

fn payment(amount: &str) -> Intent {
    serde_json::from_value(serde_json::json!({
        "intent_id": "i-1",
        "idempotency_key": "k-1",
        "actor": {"id": "agent-7", "tenant": "acme", "roles": ["FinanceOperator"]},
        "target": {"domain": "finance", "object_types": ["invoice"], "object_ids": ["inv-1"], "scope": "single"},
        "operation": {"name": "pay_invoice", "params": {"amount": amount}},
        "data_requirements": {"required_sources": ["bank"], "max_staleness_sec": 30},
        "time": {"request_time": 1_700_000_000_000i64}
    }))
    .unwrap()
}

fn facts(amount: &str, remaining: i64) -> Facts {
    let mut sources = BTreeMap::new();
    sources.insert(
        "bank".to_owned(),
        SourceReading { age_sec: Decimal::from(5), lag_sec: Decimal::ZERO, health_score: Decimal::ONE },
    );
    let mut budgets = BTreeMap::new();
    budgets.insert("AP".to_owned(), Decimal::from(remaining));
    Facts {
        intent: Arc::new(payment(amount)),
        key: Principal { kid: "k1".into(), tenant: "acme".into() },
        sources,
        budgets,
    }
}

#[test]
fn budget_axiom_proved_then_violated() {
    let policy = compile(include_str!("corpus/finance.policy")).unwrap();
    assert_eq!(policy.policy_set_id(), "finance@v18");
    let mut solver = InProcessSolver::new(1_000);

    let evaluation = evaluate(&policy, &facts("100.00", 500), Evaluator { solver: Some(&mut solver), fast_path: false }).unwrap();
    let budget = evaluation.axioms.iter().find(|axiom| axiom.name == "Budget").unwrap();
    assert_eq!(budget.outcome, AxiomOutcome::Proved);

    let evaluation = evaluate(&policy, &facts("600.00", 500), Evaluator { solver: Some(&mut solver), fast_path: false }).unwrap();
    let budget = evaluation.axioms.iter().find(|axiom| axiom.name == "Budget").unwrap();
    assert!(matches!(budget.outcome, AxiomOutcome::Violated { .. }), "{:?}", budget.outcome);

    let evaluation = evaluate(&policy, &facts("499.50", 500), Evaluator { solver: Some(&mut solver), fast_path: false }).unwrap();
    let budget = evaluation.axioms.iter().find(|axiom| axiom.name == "Budget").unwrap();
    let AxiomOutcome::Uncertain { facts } = &budget.outcome else {
        panic!("expected uncertain, got {:?}", budget.outcome);
    };
    let witness = facts.iter().find(|fact| fact.name.starts_with("eps(")).unwrap();
    let value: Decimal = witness.value.parse().unwrap();
    assert!(value > Decimal::new(5, 1), "witness {value} must break the budget");
}
