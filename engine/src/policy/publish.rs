//! Publish-time checks with Z3: no axiom may be vacuous (a `when` that no input satisfies) or
//! contradictory (a `require` that no input satisfies where its `when` holds).
//!
//! Inputs are free here: every number the policy reads is a variable, each string field is a
//! variable over the string constants it is compared with, and each list membership is a free
//! truth value. That abstraction admits more worlds than real requests, so an unsat answer
//! means the axiom really is vacuous or contradictory, and no correct policy is rejected.

use super::compiled::CompiledPolicy;
use super::diagnostic::Diagnostic;
use super::typed::{BoolExpr, ListExpr, NumExpr, StrExpr};
use crate::smt::formula::{Formula, Query, RealVar, SatAnswer, Term};
use crate::smt::{InProcessSolver, Solve};
use super::ast::CompareOp;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Time limit of one publish-time query, in milliseconds; publishing is rare and may wait.
pub const PUBLISH_CHECK_TIMEOUT_MS: u64 = 2_000;

/// Reports vacuous and contradictory axioms, with the line and column of the condition.
/// Runs Z3 on the current thread.
pub fn check_publishable(policy: &CompiledPolicy) -> Vec<Diagnostic> {
    let mut solver = InProcessSolver::new(PUBLISH_CHECK_TIMEOUT_MS);
    let mut diagnostics = Vec::new();

    for axiom in &policy.axioms {
        let mut symbols = Symbols::default();
        let when = match &axiom.when {
            Some(condition) => symbols.condition(&condition.expr),
            None => Formula::Const(true),
        };
        let require = symbols.condition(&axiom.require.expr);
        let variables = symbols.variables.clone();

        if let Some(when_condition) = &axiom.when {
            match satisfiable(&mut solver, &variables, when.clone()) {
                Ok(true) => {}
                Ok(false) => {
                    diagnostics.push(Diagnostic::at(
                        when_condition.span,
                        format!("axiom `{}` is vacuous: its `when` can never be true", axiom.name),
                    ));
                    continue;
                }
                Err(detail) => {
                    diagnostics.push(Diagnostic::at(when_condition.span, format!("axiom `{}`: cannot check `when`: {detail}", axiom.name)));
                    continue;
                }
            }
        }

        match satisfiable(&mut solver, &variables, Formula::and(vec![when, require])) {
            Ok(true) => {}
            Ok(false) => diagnostics.push(Diagnostic::at(
                axiom.require.span,
                format!("axiom `{}` is contradictory: its `require` can never hold where it applies", axiom.name),
            )),
            Err(detail) => diagnostics.push(Diagnostic::at(
                axiom.require.span,
                format!("axiom `{}`: cannot check `require`: {detail}", axiom.name),
            )),
        }
    }
    diagnostics
}

fn satisfiable(solver: &mut InProcessSolver, variables: &[RealVar], assertion: Formula) -> Result<bool, String> {
    let query = Query { variables: variables.to_vec(), assertion };
    match solver.solve(&query) {
        Ok(SatAnswer::Sat(_)) => Ok(true),
        Ok(SatAnswer::Unsat) => Ok(false),
        Ok(SatAnswer::Unknown { reason, .. }) => Err(format!("solver returned unknown: {reason}")),
        Err(error) => Err(error.to_string()),
    }
}

/// Free variables for every input, created on first use and keyed by what they stand for.
#[derive(Default)]
struct Symbols {
    variables: Vec<RealVar>,
    keys: BTreeMap<String, usize>,
    string_ids: BTreeMap<String, i64>,
}

impl Symbols {
    fn variable(&mut self, key: String, lower: Decimal, upper: Decimal) -> Term {
        if let Some(index) = self.keys.get(&key) {
            return Term::Var(*index);
        }
        self.variables.push(RealVar { name: key.clone(), lower, upper });
        let index = self.variables.len() - 1;
        self.keys.insert(key, index);
        Term::Var(index)
    }

    fn free(&mut self, key: String) -> Term {
        self.variable(key, Decimal::MIN, Decimal::MAX)
    }

    /// A free truth value, encoded as a variable in [0, 1] compared with 1.
    fn truth(&mut self, key: String) -> Formula {
        let variable = self.variable(key, Decimal::ZERO, Decimal::ONE);
        Formula::Compare(CompareOp::Ge, variable, Term::Const(Decimal::ONE))
    }

    fn string_id(&mut self, text: &str) -> Term {
        let next = self.string_ids.len() as i64;
        let id = *self.string_ids.entry(text.to_owned()).or_insert(next);
        Term::Const(Decimal::from(id))
    }

    fn string(&mut self, expr: &StrExpr) -> Term {
        match expr {
            StrExpr::Const(text) => self.string_id(text),
            StrExpr::Field(field) => self.free(format!("text {}", field.path())),
            StrExpr::Param(name) => self.free(format!("text action.params.{name}")),
        }
    }

    fn string_key(expr: &StrExpr) -> String {
        match expr {
            StrExpr::Const(text) => format!("\"{text}\""),
            StrExpr::Field(field) => field.path().to_owned(),
            StrExpr::Param(name) => format!("action.params.{name}"),
        }
    }

    fn condition(&mut self, expr: &BoolExpr) -> Formula {
        match expr {
            BoolExpr::Const(value) => Formula::Const(*value),
            BoolExpr::Not(inner) => Formula::negate(self.condition(inner)),
            BoolExpr::And(left, right) => {
                let left = self.condition(left);
                Formula::and(vec![left, self.condition(right)])
            }
            BoolExpr::Or(left, right) => {
                let left = self.condition(left);
                Formula::or(vec![left, self.condition(right)])
            }
            BoolExpr::CompareNum(op, left, right) => {
                let left = self.number(left);
                Formula::compare(*op, left, self.number(right))
            }
            BoolExpr::NumIn(item, values) => {
                let item = self.number(item);
                let equalities = values
                    .iter()
                    .map(|value| {
                        let value = self.number(value);
                        Formula::compare(CompareOp::Eq, item.clone(), value)
                    })
                    .collect();
                Formula::or(equalities)
            }
            BoolExpr::CompareStr { equal, left, right } => {
                let left = self.string(left);
                let same = Formula::compare(CompareOp::Eq, left, self.string(right));
                if *equal { same } else { Formula::negate(same) }
            }
            BoolExpr::StrIn(item, ListExpr::Const(values)) => {
                let item = self.string(item);
                let equalities = values
                    .iter()
                    .map(|value| {
                        let value = self.string_id(value);
                        Formula::compare(CompareOp::Eq, item.clone(), value)
                    })
                    .collect();
                Formula::or(equalities)
            }
            BoolExpr::StrIn(item, ListExpr::Field(field)) => {
                self.truth(format!("{} in {}", Self::string_key(item), field.path()))
            }
            BoolExpr::Substring { haystack, needle } => match (haystack, needle) {
                (StrExpr::Const(haystack), StrExpr::Const(needle)) => Formula::Const(haystack.contains(needle.as_str())),
                _ => self.truth(format!("{} contains {}", Self::string_key(haystack), Self::string_key(needle))),
            },
        }
    }

    fn number(&mut self, expr: &NumExpr) -> Term {
        match expr {
            NumExpr::Const(value) => Term::Const(*value),
            NumExpr::Param(name) => self.free(format!("action.params.{name}")),
            NumExpr::BatchSize => self.variable("batch.size".into(), Decimal::ZERO, Decimal::MAX),
            NumExpr::Source(name, attribute) => self.free(format!("source(\"{name}\").{}", attribute.as_str())),
            NumExpr::Budget(code) => self.free(format!("budget.remaining(\"{code}\")")),
            NumExpr::Eps { width, site } => {
                self.variable(format!("eps({width})@{}:{}", site.line, site.column), -*width, *width)
            }
            NumExpr::Add(left, right) => Term::Add(Box::new(self.number(left)), Box::new(self.number(right))),
            NumExpr::Sub(left, right) => Term::Sub(Box::new(self.number(left)), Box::new(self.number(right))),
            NumExpr::Scale(factor, inner) => Term::Scale(*factor, Box::new(self.number(inner))),
        }
    }
}
