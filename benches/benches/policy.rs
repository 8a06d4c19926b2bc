//! Policy benchmarks: compile, evaluate and prove a 10-axiom policy, against the primitive cost
//! of one small query on a reused Z3 solver and on a fresh Z3 context.
//!
//! Run: `cargo bench -p axiom-benches --bench policy`.

use axiom_engine::model::Intent;
use axiom_engine::policy::{compile, evaluate, CompareOp, CompiledPolicy, Evaluator, Facts, Principal, SourceReading};
use axiom_engine::smt::formula::{Formula, Query, RealVar, Term};
use axiom_engine::smt::{InProcessSolver, SmtBackend, SmtConfig, Solve, SolverPool};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Ten axioms over payments: budgets with `eps`, fresh feeds, roles, batch sizes.
fn ten_axiom_policy() -> String {
    let mut text = String::from(
        "policyset finance v18:\n  domain finance\n  escrow when action.name == \"pay_invoice\" and action.params.amount > 10000\n  invariant action.scope == \"single\" or batch.size <= 100\n",
    );
    for index in 0..4 {
        text.push_str(&format!(
            "axiom Budget_{index}:\n  when action.name == \"pay_invoice\"\n  require action.params.amount * {} + eps(1.00) <= budget.remaining(\"AP\")\n  else shield(\"REQUIRE_APPROVAL\")\n",
            index + 1
        ));
    }
    for index in 0..3 {
        text.push_str(&format!(
            "axiom Fresh_{index}:\n  when action.name in [\"pay_invoice\", \"refund\"]\n  require source(\"bank\").age_sec + eps(0.5) <= {}\n",
            30 + index * 10
        ));
    }
    text.push_str("axiom Role_guard:\n  when action.name == \"pay_invoice\"\n  require \"FinanceOperator\" in actor.roles\n  else shield(\"READ_ONLY\")\n");
    text.push_str("axiom Batch:\n  when action.scope == \"batch\"\n  require batch.size <= 100\n  else shield(SMALL_BATCH, max=100)\n");
    text.push_str("axiom Fee:\n  require action.params.amount - action.params.amount + action.params.fee <= 5\n");
    text
}

fn facts() -> Facts {
    let intent: Intent = serde_json::from_value(json!({
        "intent_id": "i", "idempotency_key": "k",
        "actor": {"id": "agent-7", "tenant": "acme", "roles": ["FinanceOperator"]},
        "target": {"domain": "finance", "object_types": ["invoice"], "object_ids": ["inv-1"], "scope": "single"},
        "operation": {"name": "pay_invoice", "params": {"amount": "100.00", "fee": "2"}},
        "data_requirements": {"max_staleness_sec": 30, "uncertainty_budget": {"amount": "5.00"}},
        "time": {"request_time": 0}
    }))
    .unwrap();
    let mut sources = BTreeMap::new();
    sources.insert("bank".to_owned(), SourceReading { age_sec: Decimal::from(4), lag_sec: Decimal::ZERO, health_score: Decimal::ONE });
    let mut budgets = BTreeMap::new();
    budgets.insert("AP".to_owned(), Decimal::from(5_000));
    Facts { intent: Arc::new(intent), key: Principal { kid: "k".into(), tenant: "acme".into() }, sources, budgets }
}

/// One small query: is `x + e > 500` possible with x in [95, 105] and e in [-1, 1]?
fn small_query() -> Query {
    Query {
        variables: vec![
            RealVar { name: "x".into(), lower: Decimal::from(95), upper: Decimal::from(105) },
            RealVar { name: "e".into(), lower: Decimal::NEGATIVE_ONE, upper: Decimal::ONE },
        ],
        assertion: Formula::Compare(
            CompareOp::Gt,
            Term::Add(Box::new(Term::Var(0)), Box::new(Term::Var(1))),
            Term::Const(Decimal::from(500)),
        ),
    }
}

fn policy_benches(criterion: &mut Criterion) {
    let source = ten_axiom_policy();
    let policy: Arc<CompiledPolicy> = Arc::new(compile(&source).unwrap());
    let facts = facts();

    criterion.bench_function("policy/compile_10_axioms", |bench| {
        bench.iter(|| compile(black_box(&source)).unwrap())
    });

    let mut solver = InProcessSolver::new(1_000);
    criterion.bench_function("policy/evaluate_10_axioms_fast_path_then_z3", |bench| {
        bench.iter(|| evaluate(&policy, black_box(&facts), Evaluator { solver: Some(&mut solver), fast_path: true }).unwrap())
    });
    criterion.bench_function("policy/prove_10_axioms_z3_only", |bench| {
        bench.iter(|| evaluate(&policy, black_box(&facts), Evaluator { solver: Some(&mut solver), fast_path: false }).unwrap())
    });

    let query = small_query();
    criterion.bench_function("smt/small_query_reused_solver", |bench| {
        bench.iter(|| solver.solve(black_box(&query)).unwrap())
    });
    criterion.bench_function("smt/small_query_fresh_context", |bench| {
        bench.iter(|| {
            let query = query.clone();
            z3::with_z3_config(&z3::Config::new(), move || {
                let mut fresh = InProcessSolver::new(1_000);
                fresh.solve(&query).is_ok()
            })
        })
    });

    let system = actix_rt::System::new();
    let pool = system.block_on(async {
        SolverPool::start(SmtConfig { backend: SmtBackend::InProcess, workers: 1, queue_max: 64, timeout_ms: 1_000 })
    });
    criterion.bench_function("smt/pool_evaluate_10_axioms", |bench| {
        bench.iter(|| system.block_on(pool.evaluate(Arc::clone(&policy), facts.clone())).unwrap())
    });
}

criterion_group!(benches, policy_benches);
criterion_main!(benches);
