//! The solver-neutral query form: linear real arithmetic over bounded variables.
//!
//! Both backends translate the same [`Query`], the in-process one into Z3 API terms and the
//! process one into SMT-LIB2 text, so they answer the same question.

use crate::policy::CompareOp;
use rust_decimal::Decimal;

/// A real variable bounded to `[lower, upper]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RealVar {
    /// What the variable stands for, for example `action.params.amount`; reported in witnesses.
    pub name: String,
    /// Inclusive lower bound.
    pub lower: Decimal,
    /// Inclusive upper bound.
    pub upper: Decimal,
}

/// A linear real term.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Const(Decimal),
    /// Index into [`Query::variables`].
    Var(usize),
    Add(Box<Term>, Box<Term>),
    Sub(Box<Term>, Box<Term>),
    Scale(Decimal, Box<Term>),
}

/// A quantifier-free formula over terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Formula {
    Const(bool),
    Not(Box<Formula>),
    And(Vec<Formula>),
    Or(Vec<Formula>),
    Compare(CompareOp, Term, Term),
}

/// Is `assertion` satisfiable with every variable inside its bounds?
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The variables, each with its bounds.
    pub variables: Vec<RealVar>,
    /// The formula to satisfy.
    pub assertion: Formula,
}

/// A solver's answer to a [`Query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SatAnswer {
    /// Satisfiable; one value per variable, in order, rendered exactly (see [`render_rational`]).
    Sat(Vec<String>),
    Unsat,
    /// The solver gave up; `timed_out` is true when its time limit was the reason.
    Unknown { reason: String, timed_out: bool },
}

impl Term {
    /// Returns the exact value when the term has no variables and no overflow occurs.
    pub fn constant_value(&self) -> Option<Decimal> {
        match self {
            Term::Const(value) => Some(*value),
            Term::Var(_) => None,
            Term::Add(left, right) => left.constant_value()?.checked_add(right.constant_value()?),
            Term::Sub(left, right) => left.constant_value()?.checked_sub(right.constant_value()?),
            Term::Scale(factor, inner) => factor.checked_mul(inner.constant_value()?),
        }
    }
}

/// Decides a comparison of two exact values.
pub fn compare_values(op: CompareOp, left: Decimal, right: Decimal) -> bool {
    match op {
        CompareOp::Eq => left == right,
        CompareOp::Ne => left != right,
        CompareOp::Lt => left < right,
        CompareOp::Le => left <= right,
        CompareOp::Gt => left > right,
        CompareOp::Ge => left >= right,
    }
}

impl Formula {
    /// Builds a conjunction, folding constants.
    pub fn and(parts: Vec<Formula>) -> Formula {
        let mut kept = Vec::new();
        for part in parts {
            match part {
                Formula::Const(true) => {}
                Formula::Const(false) => return Formula::Const(false),
                other => kept.push(other),
            }
        }
        match kept.len() {
            0 => Formula::Const(true),
            1 => kept.pop().unwrap_or(Formula::Const(true)),
            _ => Formula::And(kept),
        }
    }

    /// Builds a disjunction, folding constants.
    pub fn or(parts: Vec<Formula>) -> Formula {
        let mut kept = Vec::new();
        for part in parts {
            match part {
                Formula::Const(false) => {}
                Formula::Const(true) => return Formula::Const(true),
                other => kept.push(other),
            }
        }
        match kept.len() {
            0 => Formula::Const(false),
            1 => kept.pop().unwrap_or(Formula::Const(false)),
            _ => Formula::Or(kept),
        }
    }

    /// Builds a negation, folding constants.
    pub fn negate(inner: Formula) -> Formula {
        match inner {
            Formula::Const(value) => Formula::Const(!value),
            Formula::Not(inner) => *inner,
            other => Formula::Not(Box::new(other)),
        }
    }

    /// Builds a comparison, folding it when both sides are constant.
    pub fn compare(op: CompareOp, left: Term, right: Term) -> Formula {
        if let (Some(left), Some(right)) = (left.constant_value(), right.constant_value()) {
            return Formula::Const(compare_values(op, left, right));
        }
        Formula::Compare(op, left, right)
    }
}

/// Renders a rational `numerator / denominator` (both decimal strings) as an exact decimal when
/// it has one, otherwise as `p/q`.
pub fn render_rational(numerator: Decimal, denominator: Decimal) -> String {
    if denominator == Decimal::ONE {
        return numerator.normalize().to_string();
    }
    if let Some(quotient) = numerator.checked_div(denominator) {
        if quotient.checked_mul(denominator) == Some(numerator) {
            return quotient.normalize().to_string();
        }
    }
    format!("{}/{}", numerator.normalize(), denominator.normalize())
}

/// Parses a real value printed in SMT-LIB form (`5.0`, `(- 5.0)`, `(/ 1.0 3.0)`,
/// `(- (/ 1.0 3.0))`) and renders it with [`render_rational`].
pub fn parse_smtlib_real(text: &str) -> Option<String> {
    let tokens: Vec<String> = text
        .replace('(', " ( ")
        .replace(')', " ) ")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let mut position = 0;
    let (numerator, denominator) = parse_rational(&tokens, &mut position, 0)?;
    if position != tokens.len() || denominator == Decimal::ZERO {
        return None;
    }
    Some(render_rational(numerator, denominator))
}

/// Deepest nesting accepted in a printed value; Z3 prints at most three levels.
const SMTLIB_VALUE_DEPTH_MAX: usize = 8;

fn parse_rational(tokens: &[String], position: &mut usize, depth: usize) -> Option<(Decimal, Decimal)> {
    if depth > SMTLIB_VALUE_DEPTH_MAX {
        return None;
    }
    let token = tokens.get(*position)?;
    *position += 1;
    if token != "(" {
        let value: Decimal = token.parse().ok()?;
        return Some((value, Decimal::ONE));
    }

    let operator = tokens.get(*position)?.clone();
    *position += 1;
    let result = match operator.as_str() {
        "-" => {
            let (numerator, denominator) = parse_rational(tokens, position, depth + 1)?;
            (-numerator, denominator)
        }
        "/" => {
            let (top_numerator, top_denominator) = parse_rational(tokens, position, depth + 1)?;
            let (bottom_numerator, bottom_denominator) = parse_rational(tokens, position, depth + 1)?;
            let numerator = top_numerator.checked_mul(bottom_denominator)?;
            let denominator = top_denominator.checked_mul(bottom_numerator)?;
            if denominator < Decimal::ZERO {
                (-numerator, -denominator)
            } else {
                (numerator, denominator)
            }
        }
        _ => return None,
    };
    if tokens.get(*position).map(String::as_str) != Some(")") {
        return None;
    }
    *position += 1;
    Some(result)
}
