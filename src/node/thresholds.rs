//! The runtime escrow threshold scale (`THRESHOLD_SCALE_MILLI`).
//!
//! Rule: with a scale of `s` thousandths, every `escrow when` condition is evaluated against
//! a copy of the facts whose `action.params.amount` (and its uncertainty in the intent's
//! `uncertainty_budget`) is multiplied by `1000 / s`. A scale of 2000 therefore lets through
//! amounts up to twice each written threshold; 1000 (the default) changes nothing. Axioms,
//! invariants and ABAC rules always see the real amount, so a budget check is never relaxed.
//!
//! The scale is recorded with each decision's inputs, so replay applies the same rule.

use axiom_engine::policy::facts::decimal_from_json;
use axiom_engine::policy::{CompiledPolicy, Facts, PolicyEvaluation};
use axiom_engine::smt::SolverPool;
use rust_decimal::Decimal;
use std::sync::Arc;

/// The scale that leaves thresholds as written, in thousandths.
pub const THRESHOLD_SCALE_NEUTRAL_MILLI: u64 = 1_000;
/// The intent parameter the scale applies to.
pub const SCALED_PARAM: &str = "amount";

/// Returns a copy of `facts` with the scaled parameter and its uncertainty multiplied by
/// `1000 / scale_milli`, or None when nothing changes (neutral scale, no numeric amount).
pub fn scaled_facts(facts: &Facts, scale_milli: u64) -> Option<Facts> {
    if scale_milli == THRESHOLD_SCALE_NEUTRAL_MILLI || scale_milli == 0 {
        return None;
    }
    let amount = facts.intent.operation.params.get(SCALED_PARAM)?;
    let amount = decimal_from_json(amount).ok()?;
    let factor = Decimal::from(THRESHOLD_SCALE_NEUTRAL_MILLI).checked_div(Decimal::from(scale_milli))?;

    let mut intent = (*facts.intent).clone();
    let scaled = amount.checked_mul(factor)?.normalize();
    intent.operation.params.insert(
        SCALED_PARAM.to_owned(),
        serde_json::Value::String(scaled.to_string()),
    );
    if let Some(width) = intent.data_requirements.uncertainty_budget.get(SCALED_PARAM) {
        let width: Decimal = width.trim().parse().ok()?;
        let scaled_width = width.checked_mul(factor)?.normalize();
        intent
            .data_requirements
            .uncertainty_budget
            .insert(SCALED_PARAM.to_owned(), scaled_width.to_string());
    }

    let mut scaled_facts = facts.clone();
    scaled_facts.intent = Arc::new(intent);
    Some(scaled_facts)
}

/// Replaces the escrow part of `evaluation` with the one computed on scaled facts.
pub fn apply_scaled_escrow(evaluation: &mut PolicyEvaluation, scaled: &PolicyEvaluation) {
    evaluation.escrow_matched = scaled.escrow_matched;
    evaluation.escrow_conditions = scaled.escrow_conditions.clone();
}

/// Evaluates `policy` on the pooled solvers with the threshold scale applied to its escrow
/// conditions. A second evaluation runs only when the scale is not neutral and an escrow
/// condition matched the real amount.
pub async fn evaluate_scaled(
    solver: &SolverPool,
    policy: Arc<CompiledPolicy>,
    facts: Facts,
    scale_milli: u64,
) -> Result<PolicyEvaluation, axiom_engine::smt::SmtError> {
    let scaled = scaled_facts(&facts, scale_milli);
    let mut evaluation = solver.evaluate(Arc::clone(&policy), facts).await?;
    if let (true, Some(scaled)) = (evaluation.escrow_matched, scaled) {
        let rescaled = solver.evaluate(policy, scaled).await?;
        apply_scaled_escrow(&mut evaluation, &rescaled);
    }
    Ok(evaluation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axiom_engine::policy::Principal;
    use std::collections::BTreeMap;

    fn facts(amount: &str, width: Option<&str>) -> Facts {
        let mut intent: axiom_engine::model::Intent = serde_json::from_value(serde_json::json!({
            "intent_id": "i-1",
            "idempotency_key": "k-1",
            "actor": {"id": "bot", "tenant": "acme", "roles": []},
            "target": {"domain": "finance", "object_types": [], "object_ids": [], "scope": "single"},
            "operation": {"name": "refund", "params": {"amount": amount}},
            "data_requirements": {"required_sources": [], "max_staleness_sec": 60, "uncertainty_budget": {}},
            "time": {"request_time": 0}
        }))
        .unwrap_or_else(|error| panic!("intent: {error}"));
        if let Some(width) = width {
            intent
                .data_requirements
                .uncertainty_budget
                .insert("amount".into(), width.into());
        }
        Facts {
            intent: Arc::new(intent),
            key: Principal { kid: "k".into(), tenant: "acme".into() },
            sources: BTreeMap::new(),
            budgets: BTreeMap::new(),
        }
    }

    #[test]
    fn neutral_scale_changes_nothing() {
        assert!(scaled_facts(&facts("15000", None), 1_000).is_none());
    }

    #[test]
    fn doubled_scale_halves_amount_and_width() {
        let scaled = scaled_facts(&facts("15000.00", Some("100")), 2_000)
            .unwrap_or_else(|| panic!("scale 2000 must change the facts"));
        assert_eq!(scaled.intent.operation.params["amount"], "7500");
        assert_eq!(scaled.intent.data_requirements.uncertainty_budget["amount"], "50");
    }

    #[test]
    fn missing_amount_is_left_alone() {
        let mut plain = facts("1", None);
        Arc::make_mut(&mut plain.intent).operation.params.clear();
        assert!(scaled_facts(&plain, 2_000).is_none());
    }
}
