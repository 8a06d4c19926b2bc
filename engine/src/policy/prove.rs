//! Evaluation of a compiled policy against facts: the interval fast path first, then Z3.

use super::compile::visit_bool;
use super::compiled::{AbacEffect, Axiom, CompiledPolicy};
use super::facts::{EvalError, Facts};
use super::interval::{self, Truth};
use super::lower::Lowering;
use super::outcome::{
    AbacDecision, AxiomOutcome, AxiomResult, ConditionResult, ConditionValue, DecidedBy,
    PolicyEvaluation, ProvedBy,
};
use super::typed::{BoolExpr, Condition, ListExpr, NumExpr, StrExpr};
use crate::model::Fact;
use crate::smt::error::{Solve, SmtError};
use crate::smt::formula::{Formula, Query, RealVar, SatAnswer};
use std::collections::BTreeMap;

/// How to evaluate.
pub struct Evaluator<'s> {
    /// The solver, or None when SMT is disabled.
    pub solver: Option<&'s mut dyn Solve>,
    /// Whether the interval fast path may settle cases before Z3 is asked.
    pub fast_path: bool,
}

/// Evaluates every part of `policy` against `facts`.
///
/// Returns an error only when the solver itself failed (crashed, timed out on the caller's side,
/// or rejected a query); per-axiom solver timeouts are reported as [`AxiomOutcome::Timeout`].
pub fn evaluate(policy: &CompiledPolicy, facts: &Facts, mut evaluator: Evaluator<'_>) -> Result<PolicyEvaluation, SmtError> {
    let proved_by = if evaluator.solver.is_some() { ProvedBy::Z3 } else { ProvedBy::Disabled };

    let mut escrow_conditions = Vec::new();
    for condition in &policy.escrow_conditions {
        let value = evaluator.condition_value(condition, facts)?;
        escrow_conditions.push(ConditionResult { span: condition.span, value });
    }
    let escrow_matched = escrow_conditions
        .iter()
        .any(|result| result.value != ConditionValue::False);

    let mut invariant_failures = Vec::new();
    for condition in &policy.invariants {
        let value = evaluator.condition_value(condition, facts)?;
        if value != ConditionValue::True {
            invariant_failures.push(ConditionResult { span: condition.span, value });
        }
    }

    let abac = evaluator.abac(policy, facts)?;

    let mut axioms = Vec::with_capacity(policy.axioms.len());
    for axiom in &policy.axioms {
        axioms.push(evaluator.axiom(axiom, facts)?);
    }

    Ok(PolicyEvaluation {
        policy_set_id: policy.policy_set_id(),
        escrow_matched,
        escrow_conditions,
        invariant_failures,
        abac,
        axioms,
        proved_by,
    })
}

impl Evaluator<'_> {
    fn abac(&mut self, policy: &CompiledPolicy, facts: &Facts) -> Result<AbacDecision, SmtError> {
        let mut any_allow_rule = false;
        let mut allow_matched = false;
        for rule in &policy.abac {
            let value = self.condition_value(&rule.condition, facts)?;
            match rule.effect {
                AbacEffect::Deny => {
                    if value != ConditionValue::False {
                        return Ok(AbacDecision::Denied {
                            rule: Some(rule.condition.span),
                            detail: format!("deny rule evaluated to {value:?}"),
                        });
                    }
                }
                AbacEffect::Allow => {
                    any_allow_rule = true;
                    allow_matched |= value == ConditionValue::True;
                }
            }
        }
        if any_allow_rule && !allow_matched {
            return Ok(AbacDecision::Denied {
                rule: None,
                detail: "no allow rule matches for every value".into(),
            });
        }
        Ok(AbacDecision::Allowed)
    }

    /// Evaluates a header condition to True, False, Possible or Error.
    fn condition_value(&mut self, condition: &Condition, facts: &Facts) -> Result<ConditionValue, SmtError> {
        if self.fast_path {
            match interval::truth(&condition.expr, facts) {
                Err(error) => return Ok(ConditionValue::Error { detail: error.to_string() }),
                Ok(Truth::True) => return Ok(ConditionValue::True),
                Ok(Truth::False) => return Ok(ConditionValue::False),
                Ok(Truth::Unknown) => {}
            }
        }

        let mut lowering = Lowering::new(facts);
        let formula = match lowering.condition(&condition.expr) {
            Ok(formula) => formula,
            Err(error) => return Ok(ConditionValue::Error { detail: error.to_string() }),
        };
        if let Formula::Const(value) = formula {
            return Ok(if value { ConditionValue::True } else { ConditionValue::False });
        }
        let Some(solver) = self.solver.as_deref_mut() else {
            return Ok(ConditionValue::Possible);
        };

        let variables = lowering.variables;
        let can_hold = solver.solve(&Query { variables: variables.clone(), assertion: formula.clone() })?;
        let can_fail = solver.solve(&Query { variables, assertion: Formula::negate(formula) })?;
        Ok(match (can_hold, can_fail) {
            (SatAnswer::Unsat, _) => ConditionValue::False,
            (_, SatAnswer::Unsat) => ConditionValue::True,
            (SatAnswer::Sat(_), SatAnswer::Sat(_)) => ConditionValue::Possible,
            (SatAnswer::Unknown { reason, .. }, _) | (_, SatAnswer::Unknown { reason, .. }) => {
                ConditionValue::Error { detail: format!("solver returned unknown: {reason}") }
            }
        })
    }

    fn axiom(&mut self, axiom: &Axiom, facts: &Facts) -> Result<AxiomResult, SmtError> {
        let (outcome, decided_by) = match self.fast_path.then(|| axiom_by_intervals(axiom, facts)).flatten() {
            Some(outcome) => (outcome, DecidedBy::Interval),
            None => self.axiom_by_solver(axiom, facts)?,
        };
        Ok(AxiomResult {
            name: axiom.name.clone(),
            outcome,
            else_shield: axiom.else_shield.clone(),
            decided_by,
        })
    }

    /// Decides an axiom with Z3: the `when` restricts the values, then the `require` is proved
    /// (its negation is unsat), violated (it is unsat itself) or uncertain (both are sat).
    fn axiom_by_solver(&mut self, axiom: &Axiom, facts: &Facts) -> Result<(AxiomOutcome, DecidedBy), SmtError> {
        let mut lowering = Lowering::new(facts);
        let when = match &axiom.when {
            None => Ok(Formula::Const(true)),
            Some(condition) => lowering.condition(&condition.expr),
        };
        let when = match when {
            Ok(formula) => formula,
            Err(error) => return Ok((error_outcome(error), DecidedBy::Undecided)),
        };
        if when == Formula::Const(false) {
            return Ok((AxiomOutcome::NotApplicable, DecidedBy::Z3));
        }
        // The `when` is settled before the `require` is read, so that an axiom that does not
        // apply never fails on a value only its `require` needs (the interval path does the same).
        if when != Formula::Const(true) {
            if let Some(solver) = self.solver.as_deref_mut() {
                let query = Query { variables: lowering.variables.clone(), assertion: when.clone() };
                match solver.solve(&query)? {
                    SatAnswer::Unsat => return Ok((AxiomOutcome::NotApplicable, DecidedBy::Z3)),
                    SatAnswer::Sat(_) => {}
                    SatAnswer::Unknown { reason, timed_out } => return Ok((unknown_outcome(reason, timed_out), DecidedBy::Z3)),
                }
            }
        }

        let require = match lowering.condition(&axiom.require.expr) {
            Ok(formula) => formula,
            Err(error) => return Ok((error_outcome(error), DecidedBy::Undecided)),
        };
        let variables = lowering.variables;

        let Some(solver) = self.solver.as_deref_mut() else {
            return Ok(disabled_outcome(&when, &require, axiom, facts));
        };

        let negation = Formula::and(vec![when.clone(), Formula::negate(require.clone())]);
        let witness = match solver.solve(&Query { variables: variables.clone(), assertion: negation })? {
            SatAnswer::Unsat => return Ok((AxiomOutcome::Proved, DecidedBy::Z3)),
            SatAnswer::Sat(values) => values,
            SatAnswer::Unknown { reason, timed_out } => return Ok((unknown_outcome(reason, timed_out), DecidedBy::Z3)),
        };
        let facts = witness_facts(&variables, &witness, axiom, facts);

        let holds = Formula::and(vec![when, require]);
        match solver.solve(&Query { variables, assertion: holds })? {
            SatAnswer::Unsat => Ok((AxiomOutcome::Violated { facts }, DecidedBy::Z3)),
            SatAnswer::Sat(_) => Ok((AxiomOutcome::Uncertain { facts }, DecidedBy::Z3)),
            SatAnswer::Unknown { reason, timed_out } => Ok((unknown_outcome(reason, timed_out), DecidedBy::Z3)),
        }
    }
}

/// Evaluates `policy` with the exact interval evaluator alone, on the caller's thread, and
/// returns None as soon as any condition or axiom would need a solver query.
///
/// When it returns an evaluation, that evaluation equals the one the pooled Z3 evaluation
/// gives, because the pool runs the same interval step first and stops there for every part
/// the intervals settle (the differential tests check that this step never disagrees with Z3).
/// The request path uses it to skip the hop to a solver thread for clear cases.
pub fn evaluate_by_intervals(policy: &CompiledPolicy, facts: &Facts) -> Option<PolicyEvaluation> {
    let truth = |condition: &Condition| -> Option<ConditionValue> {
        match interval::truth(&condition.expr, facts) {
            Err(error) => Some(ConditionValue::Error {
                detail: error.to_string(),
            }),
            Ok(Truth::True) => Some(ConditionValue::True),
            Ok(Truth::False) => Some(ConditionValue::False),
            Ok(Truth::Unknown) => None,
        }
    };

    let mut escrow_conditions = Vec::with_capacity(policy.escrow_conditions.len());
    for condition in &policy.escrow_conditions {
        escrow_conditions.push(ConditionResult {
            span: condition.span,
            value: truth(condition)?,
        });
    }
    let escrow_matched = escrow_conditions
        .iter()
        .any(|result| result.value != ConditionValue::False);

    let mut invariant_failures = Vec::new();
    for condition in &policy.invariants {
        let value = truth(condition)?;
        if value != ConditionValue::True {
            invariant_failures.push(ConditionResult {
                span: condition.span,
                value,
            });
        }
    }

    let mut abac = AbacDecision::Allowed;
    let mut any_allow_rule = false;
    let mut allow_matched = false;
    for rule in &policy.abac {
        let value = truth(&rule.condition)?;
        match rule.effect {
            AbacEffect::Deny => {
                if value != ConditionValue::False && abac == AbacDecision::Allowed {
                    abac = AbacDecision::Denied {
                        rule: Some(rule.condition.span),
                        detail: format!("deny rule evaluated to {value:?}"),
                    };
                }
            }
            AbacEffect::Allow => {
                any_allow_rule = true;
                allow_matched |= value == ConditionValue::True;
            }
        }
    }
    if abac == AbacDecision::Allowed && any_allow_rule && !allow_matched {
        abac = AbacDecision::Denied {
            rule: None,
            detail: "no allow rule matches for every value".into(),
        };
    }

    let mut axioms = Vec::with_capacity(policy.axioms.len());
    for axiom in &policy.axioms {
        axioms.push(AxiomResult {
            name: axiom.name.clone(),
            outcome: axiom_by_intervals(axiom, facts)?,
            else_shield: axiom.else_shield.clone(),
            decided_by: DecidedBy::Interval,
        });
    }

    Some(PolicyEvaluation {
        policy_set_id: policy.policy_set_id(),
        escrow_matched,
        escrow_conditions,
        invariant_failures,
        abac,
        axioms,
        proved_by: ProvedBy::Z3,
    })
}

/// Decides an axiom on intervals alone; None when the intervals do not settle it.
pub fn axiom_by_intervals(axiom: &Axiom, facts: &Facts) -> Option<AxiomOutcome> {
    if let Some(when) = &axiom.when {
        match interval::truth(&when.expr, facts) {
            Err(error) => return Some(error_outcome(error)),
            Ok(Truth::False) => return Some(AxiomOutcome::NotApplicable),
            Ok(Truth::Unknown) => return None,
            Ok(Truth::True) => {}
        }
    }
    match interval::truth(&axiom.require.expr, facts) {
        Err(error) => Some(error_outcome(error)),
        Ok(Truth::True) => Some(AxiomOutcome::Proved),
        Ok(Truth::False) => Some(AxiomOutcome::Violated { facts: referenced_facts(axiom, facts) }),
        Ok(Truth::Unknown) => None,
    }
}

/// Without a solver, only constant results are settled; anything else fails closed.
/// Detail of the `Error` outcome of an axiom that only a solver could settle while SMT is
/// disabled; verdict composition reads it as "not formally proved" rather than a failure.
pub const SMT_DISABLED_DETAIL: &str = "smt is disabled and the axiom depends on uncertain values";

fn disabled_outcome(when: &Formula, require: &Formula, axiom: &Axiom, facts: &Facts) -> (AxiomOutcome, DecidedBy) {
    match (when, require) {
        (Formula::Const(true), Formula::Const(true)) => (AxiomOutcome::Proved, DecidedBy::Interval),
        (Formula::Const(true), Formula::Const(false)) => {
            (AxiomOutcome::Violated { facts: referenced_facts(axiom, facts) }, DecidedBy::Interval)
        }
        _ => (
            AxiomOutcome::Error { detail: SMT_DISABLED_DETAIL.into() },
            DecidedBy::Undecided,
        ),
    }
}

fn error_outcome(error: EvalError) -> AxiomOutcome {
    AxiomOutcome::Error { detail: error.to_string() }
}

fn unknown_outcome(reason: String, timed_out: bool) -> AxiomOutcome {
    if timed_out {
        AxiomOutcome::Timeout
    } else {
        AxiomOutcome::Error { detail: format!("solver returned unknown: {reason}") }
    }
}

/// Builds the counterexample facts: the witness values from the model, then the exact values
/// of every other fact the axiom reads.
fn witness_facts(variables: &[RealVar], witness: &[String], axiom: &Axiom, facts: &Facts) -> Vec<Fact> {
    let mut result: Vec<Fact> = variables
        .iter()
        .zip(witness)
        .map(|(variable, value)| Fact { name: variable.name.clone(), value: value.clone() })
        .collect();
    for fact in referenced_facts(axiom, facts) {
        if !result.iter().any(|known| known.name == fact.name) {
            result.push(fact);
        }
    }
    result
}

/// Lists the exact values of the parameters, sources, budgets, batch size and string fields an
/// axiom reads, as reported (an uncertain parameter at its reported value).
pub fn referenced_facts(axiom: &Axiom, facts: &Facts) -> Vec<Fact> {
    let mut values = BTreeMap::new();
    let mut collect = |expr: &BoolExpr| {
        visit_bool(expr, &mut |leaf| {
            let entry = match leaf {
                NumExpr::Param(name) => facts.param_number(name).ok().map(|value| (format!("action.params.{name}"), value)),
                NumExpr::BatchSize => Some(("batch.size".to_owned(), facts.batch_size())),
                NumExpr::Source(name, attribute) => facts
                    .source(name, *attribute)
                    .ok()
                    .map(|value| (format!("source(\"{name}\").{}", attribute.as_str()), value)),
                NumExpr::Budget(code) => facts.budget(code).ok().map(|value| (format!("budget.remaining(\"{code}\")"), value)),
                _ => None,
            };
            if let Some((name, value)) = entry {
                values.insert(name, value.normalize().to_string());
            }
        });
    };
    if let Some(when) = &axiom.when {
        collect(&when.expr);
    }
    collect(&axiom.require.expr);
    if let Some(when) = &axiom.when {
        text_facts(&when.expr, facts, &mut values);
    }
    text_facts(&axiom.require.expr, facts, &mut values);
    values.into_iter().map(|(name, value)| Fact { name, value }).collect()
}

/// Adds the string and list fields a condition reads; lists are rendered as JSON arrays.
fn text_facts(expr: &BoolExpr, facts: &Facts, values: &mut BTreeMap<String, String>) {
    let add_text = |text: &StrExpr, values: &mut BTreeMap<String, String>| match text {
        StrExpr::Const(_) => {}
        StrExpr::Field(field) => {
            values.insert(field.path().to_owned(), facts.text(*field).to_owned());
        }
        StrExpr::Param(name) => {
            if let Ok(value) = facts.param_text(name) {
                values.insert(format!("action.params.{name}"), value.to_owned());
            }
        }
    };
    match expr {
        BoolExpr::Const(_) | BoolExpr::CompareNum(..) | BoolExpr::NumIn(..) => {}
        BoolExpr::Not(inner) => text_facts(inner, facts, values),
        BoolExpr::And(left, right) | BoolExpr::Or(left, right) => {
            text_facts(left, facts, values);
            text_facts(right, facts, values);
        }
        BoolExpr::CompareStr { left, right, .. } => {
            add_text(left, values);
            add_text(right, values);
        }
        BoolExpr::Substring { haystack, needle } => {
            add_text(haystack, values);
            add_text(needle, values);
        }
        BoolExpr::StrIn(item, list) => {
            add_text(item, values);
            if let ListExpr::Field(field) = list {
                let rendered = serde_json::to_string(facts.list(*field)).unwrap_or_default();
                values.insert(field.path().to_owned(), rendered);
            }
        }
    }
}
