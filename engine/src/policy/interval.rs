//! Exact interval evaluation: the solver-free fast path.
//!
//! Every numeric expression evaluates to an interval of exact decimals that contains every
//! value it can take (an uncertain parameter spans `[v - w, v + w]`, `eps(w)` spans
//! `[-w, w]`). A condition is `True` or `False` only when it has that value at every point of
//! the intervals, so the fast path never claims more than Z3 would prove. Anything it cannot
//! settle (overlapping intervals, arithmetic overflow) is `Unknown` and goes to Z3.

use super::ast::CompareOp;
use super::facts::{EvalError, Facts};
use super::typed::{BoolExpr, ListExpr, NumExpr, StrExpr};
use rust_decimal::Decimal;

/// A three-valued truth: the same answer everywhere, or not settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

/// A closed interval of exact decimals, `lower <= upper`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub lower: Decimal,
    pub upper: Decimal,
}

impl Interval {
    fn point(value: Decimal) -> Interval {
        Interval { lower: value, upper: value }
    }
}

/// Evaluates a condition. Errors follow the rule shared with the solver path: an operand that
/// cannot be evaluated makes `and`/`or` fail, unless the other operand settles the result alone
/// (`false and ?` is false, `true or ?` is true).
pub fn truth(expr: &BoolExpr, facts: &Facts) -> Result<Truth, EvalError> {
    match expr {
        BoolExpr::Const(value) => Ok(from_bool(*value)),
        BoolExpr::Not(inner) => Ok(match truth(inner, facts)? {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }),
        BoolExpr::And(left, right) => {
            let (left, right) = (truth(left, facts), truth(right, facts));
            if left == Ok(Truth::False) || right == Ok(Truth::False) {
                return Ok(Truth::False);
            }
            match (left?, right?) {
                (Truth::True, Truth::True) => Ok(Truth::True),
                _ => Ok(Truth::Unknown),
            }
        }
        BoolExpr::Or(left, right) => {
            let (left, right) = (truth(left, facts), truth(right, facts));
            if left == Ok(Truth::True) || right == Ok(Truth::True) {
                return Ok(Truth::True);
            }
            match (left?, right?) {
                (Truth::False, Truth::False) => Ok(Truth::False),
                _ => Ok(Truth::Unknown),
            }
        }
        BoolExpr::CompareNum(op, left, right) => {
            let (left, right) = (interval(left, facts)?, interval(right, facts)?);
            match (left, right) {
                (Some(left), Some(right)) => Ok(compare(*op, left, right)),
                _ => Ok(Truth::Unknown),
            }
        }
        BoolExpr::NumIn(item, values) => {
            // Every listed value is read first, so a missing one fails the same way as on
            // the solver path.
            let item = interval(item, facts)?;
            let values = values
                .iter()
                .map(|value| interval(value, facts))
                .collect::<Result<Vec<_>, _>>()?;
            let Some(item) = item else {
                return Ok(Truth::Unknown);
            };
            let mut result = Truth::False;
            for value in values {
                let found = match value {
                    Some(value) => compare(CompareOp::Eq, item, value),
                    None => Truth::Unknown,
                };
                match found {
                    Truth::True => return Ok(Truth::True),
                    Truth::Unknown => result = Truth::Unknown,
                    Truth::False => {}
                }
            }
            Ok(result)
        }
        BoolExpr::CompareStr { equal, left, right } => {
            let same = text(left, facts)? == text(right, facts)?;
            Ok(from_bool(same == *equal))
        }
        BoolExpr::StrIn(item, list) => {
            let item = text(item, facts)?;
            let found = match list {
                ListExpr::Const(values) => values.contains(&item),
                ListExpr::Field(field) => facts.list(*field).contains(&item),
            };
            Ok(from_bool(found))
        }
        BoolExpr::Substring { haystack, needle } => {
            let haystack = text(haystack, facts)?;
            Ok(from_bool(haystack.contains(text(needle, facts)?.as_str())))
        }
    }
}

fn from_bool(value: bool) -> Truth {
    if value {
        Truth::True
    } else {
        Truth::False
    }
}

/// Returns the string value of a string expression.
pub fn text(expr: &StrExpr, facts: &Facts) -> Result<String, EvalError> {
    Ok(match expr {
        StrExpr::Const(value) => value.clone(),
        StrExpr::Field(field) => facts.text(*field).to_owned(),
        StrExpr::Param(name) => facts.param_text(name)?.to_owned(),
    })
}

/// Returns the interval `action.params.NAME` lies in, shared with the solver path so that both
/// report the same errors.
pub fn param_interval(name: &str, facts: &Facts) -> Result<Interval, EvalError> {
    let value = facts.param_number(name)?;
    let width = facts.param_uncertainty(name)?.unwrap_or(Decimal::ZERO);
    let lower = value.checked_sub(width).ok_or(EvalError::Overflow)?;
    let upper = value.checked_add(width).ok_or(EvalError::Overflow)?;
    Ok(Interval { lower, upper })
}

/// Returns the interval of a numeric expression; None when exact decimals overflow.
pub fn interval(expr: &NumExpr, facts: &Facts) -> Result<Option<Interval>, EvalError> {
    let result = match expr {
        NumExpr::Const(value) => Interval::point(*value),
        NumExpr::Param(name) => param_interval(name, facts)?,
        NumExpr::BatchSize => Interval::point(facts.batch_size()),
        NumExpr::Source(name, attribute) => Interval::point(facts.source(name, *attribute)?),
        NumExpr::Budget(code) => Interval::point(facts.budget(code)?),
        NumExpr::Eps { width, .. } => Interval { lower: -*width, upper: *width },
        NumExpr::Add(left, right) => {
            let (left, right) = (interval(left, facts)?, interval(right, facts)?);
            let (Some(left), Some(right)) = (left, right) else {
                return Ok(None);
            };
            let lower = left.lower.checked_add(right.lower);
            let upper = left.upper.checked_add(right.upper);
            let (Some(lower), Some(upper)) = (lower, upper) else {
                return Ok(None);
            };
            Interval { lower, upper }
        }
        NumExpr::Sub(left, right) => {
            let (left, right) = (interval(left, facts)?, interval(right, facts)?);
            let (Some(left), Some(right)) = (left, right) else {
                return Ok(None);
            };
            let lower = left.lower.checked_sub(right.upper);
            let upper = left.upper.checked_sub(right.lower);
            let (Some(lower), Some(upper)) = (lower, upper) else {
                return Ok(None);
            };
            Interval { lower, upper }
        }
        NumExpr::Scale(factor, inner) => {
            let Some(inner) = interval(inner, facts)? else {
                return Ok(None);
            };
            let first = factor.checked_mul(inner.lower);
            let second = factor.checked_mul(inner.upper);
            let (Some(first), Some(second)) = (first, second) else {
                return Ok(None);
            };
            Interval { lower: first.min(second), upper: first.max(second) }
        }
    };
    Ok(Some(result))
}

fn compare(op: CompareOp, left: Interval, right: Interval) -> Truth {
    let equal_everywhere = left.lower == left.upper && right.lower == right.upper && left.lower == right.lower;
    let disjoint = left.upper < right.lower || right.upper < left.lower;
    let (surely, surely_not) = match op {
        CompareOp::Lt => (left.upper < right.lower, left.lower >= right.upper),
        CompareOp::Le => (left.upper <= right.lower, left.lower > right.upper),
        CompareOp::Gt => (left.lower > right.upper, left.upper <= right.lower),
        CompareOp::Ge => (left.lower >= right.upper, left.upper < right.lower),
        CompareOp::Eq => (equal_everywhere, disjoint),
        CompareOp::Ne => (disjoint, equal_everywhere),
    };
    if surely {
        Truth::True
    } else if surely_not {
        Truth::False
    } else {
        Truth::Unknown
    }
}
