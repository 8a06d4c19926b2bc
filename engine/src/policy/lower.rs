//! Lowering of a condition to a solver [`Formula`] over bounded real variables.
//!
//! Strings, lists and exact values are resolved here from the facts, so the solver only sees
//! the numeric part that is uncertain: each `eps(w)` occurrence becomes its own variable in
//! `[-w, w]`, and each parameter with an uncertainty budget `w` becomes one variable in
//! `[v - w, v + w]`, shared by every place the parameter is read.

use super::facts::{EvalError, Facts};
use super::interval::{self, param_interval, text, Truth};
use super::typed::{BoolExpr, ListExpr, NumExpr};
use crate::smt::formula::{Formula, RealVar, Term};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Builds the variables and formulas of one evaluation. Variables are shared between the
/// conditions lowered with the same `Lowering`, so `when` and `require` talk about the same
/// parameter values.
pub struct Lowering<'a> {
    facts: &'a Facts,
    /// The variables created so far.
    pub variables: Vec<RealVar>,
    params: BTreeMap<String, usize>,
    eps_sites: BTreeMap<(u32, u32), usize>,
}

impl<'a> Lowering<'a> {
    /// Starts a lowering with no variables.
    pub fn new(facts: &'a Facts) -> Self {
        Lowering {
            facts,
            variables: Vec::new(),
            params: BTreeMap::new(),
            eps_sites: BTreeMap::new(),
        }
    }

    /// Lowers a condition. Errors follow the rule of [`interval::truth`]: an operand that fails
    /// makes `and`/`or` fail unless the other operand, evaluated on intervals, settles the result.
    pub fn condition(&mut self, expr: &BoolExpr) -> Result<Formula, EvalError> {
        match expr {
            BoolExpr::Const(value) => Ok(Formula::Const(*value)),
            BoolExpr::Not(inner) => Ok(Formula::negate(self.condition(inner)?)),
            BoolExpr::And(left, right) => self.junction(left, right, Truth::False),
            BoolExpr::Or(left, right) => self.junction(left, right, Truth::True),
            BoolExpr::CompareNum(op, left, right) => {
                let (left, right) = (self.term(left), self.term(right));
                Ok(Formula::compare(*op, left?, right?))
            }
            BoolExpr::NumIn(item, values) => {
                let item = self.term(item);
                let values = values
                    .iter()
                    .map(|value| self.term(value))
                    .collect::<Result<Vec<_>, _>>();
                let (item, values) = (item?, values?);
                let equalities = values
                    .into_iter()
                    .map(|value| Formula::compare(super::ast::CompareOp::Eq, item.clone(), value))
                    .collect();
                Ok(Formula::or(equalities))
            }
            BoolExpr::CompareStr { equal, left, right } => {
                let same = text(left, self.facts)? == text(right, self.facts)?;
                Ok(Formula::Const(same == *equal))
            }
            BoolExpr::StrIn(item, list) => {
                let item = text(item, self.facts)?;
                let found = match list {
                    ListExpr::Const(values) => values.contains(&item),
                    ListExpr::Field(field) => self.facts.list(*field).contains(&item),
                };
                Ok(Formula::Const(found))
            }
            BoolExpr::Substring { haystack, needle } => {
                let haystack = text(haystack, self.facts)?;
                Ok(Formula::Const(haystack.contains(text(needle, self.facts)?.as_str())))
            }
        }
    }

    /// Lowers `and` (`absorbing` = False) or `or` (`absorbing` = True).
    fn junction(&mut self, left: &BoolExpr, right: &BoolExpr, absorbing: Truth) -> Result<Formula, EvalError> {
        let lowered = (self.condition(left), self.condition(right));
        let absorbed = Formula::Const(absorbing == Truth::True);
        match lowered {
            (Ok(left), Ok(right)) => Ok(if absorbing == Truth::True {
                Formula::or(vec![left, right])
            } else {
                Formula::and(vec![left, right])
            }),
            (Err(error), _) => {
                if interval::truth(right, self.facts) == Ok(absorbing) {
                    return Ok(absorbed);
                }
                Err(error)
            }
            (Ok(_), Err(error)) => {
                if interval::truth(left, self.facts) == Ok(absorbing) {
                    return Ok(absorbed);
                }
                Err(error)
            }
        }
    }

    /// Lowers a numeric expression.
    pub fn term(&mut self, expr: &NumExpr) -> Result<Term, EvalError> {
        Ok(match expr {
            NumExpr::Const(value) => Term::Const(*value),
            NumExpr::Param(name) => self.param(name)?,
            NumExpr::BatchSize => Term::Const(self.facts.batch_size()),
            NumExpr::Source(name, attribute) => Term::Const(self.facts.source(name, *attribute)?),
            NumExpr::Budget(code) => Term::Const(self.facts.budget(code)?),
            NumExpr::Eps { width, site } => {
                if *width == Decimal::ZERO {
                    return Ok(Term::Const(Decimal::ZERO));
                }
                let key = (site.line, site.column);
                if let Some(index) = self.eps_sites.get(&key) {
                    return Ok(Term::Var(*index));
                }
                let index = self.push(RealVar {
                    name: format!("eps({width})@{}:{}", site.line, site.column),
                    lower: -*width,
                    upper: *width,
                });
                self.eps_sites.insert(key, index);
                Term::Var(index)
            }
            NumExpr::Add(left, right) => {
                let (left, right) = (self.term(left), self.term(right));
                Term::Add(Box::new(left?), Box::new(right?))
            }
            NumExpr::Sub(left, right) => {
                let (left, right) = (self.term(left), self.term(right));
                Term::Sub(Box::new(left?), Box::new(right?))
            }
            NumExpr::Scale(factor, inner) => Term::Scale(*factor, Box::new(self.term(inner)?)),
        })
    }

    fn param(&mut self, name: &str) -> Result<Term, EvalError> {
        let bounds = param_interval(name, self.facts)?;
        if bounds.lower == bounds.upper {
            return Ok(Term::Const(bounds.lower));
        }
        if let Some(index) = self.params.get(name) {
            return Ok(Term::Var(*index));
        }
        let index = self.push(RealVar {
            name: format!("action.params.{name}"),
            lower: bounds.lower,
            upper: bounds.upper,
        });
        self.params.insert(name.to_owned(), index);
        Ok(Term::Var(index))
    }

    fn push(&mut self, variable: RealVar) -> usize {
        self.variables.push(variable);
        self.variables.len() - 1
    }
}
