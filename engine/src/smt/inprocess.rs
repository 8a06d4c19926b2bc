//! The in-process backend: libz3 through the `z3` crate, one solver reused for many queries.
//!
//! The `z3` crate (0.22) keeps one Z3 context per thread and builds every term in the calling
//! thread's context, so an [`InProcessSolver`] must stay on the thread that created it (it is
//! not `Send`). The crate installs no abort-on-error handler, and this module only sets the
//! `timeout` solver parameter, which Z3 4.8 knows.

use super::error::{Solve, SmtError};
use super::formula::{parse_smtlib_real, Formula, Query, SatAnswer, Term};
use crate::policy::CompareOp;
use rust_decimal::Decimal;
use z3::ast::{Bool, Real};
use z3::{Params, SatResult, Solver};

/// One Z3 solver on the current thread's context, with push/pop around each query.
pub struct InProcessSolver {
    solver: Solver,
    /// Per-query time limit given to Z3, in milliseconds.
    timeout_ms: u64,
}

impl InProcessSolver {
    /// Creates a solver on the current thread's Z3 context with a per-query `timeout_ms`.
    pub fn new(timeout_ms: u64) -> Self {
        let solver = Solver::new();
        let mut params = Params::new();
        // Z3 takes the limit as an unsigned 32-bit count of milliseconds.
        params.set_u32("timeout", u32::try_from(timeout_ms).unwrap_or(u32::MAX));
        solver.set_params(&params);
        InProcessSolver { solver, timeout_ms }
    }

    /// Returns the per-query time limit in milliseconds.
    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }
}

impl Solve for InProcessSolver {
    fn solve(&mut self, query: &Query) -> Result<SatAnswer, SmtError> {
        self.solver.push();
        let answer = self.check(query);
        self.solver.pop(1);
        answer
    }
}

impl InProcessSolver {
    fn check(&self, query: &Query) -> Result<SatAnswer, SmtError> {
        let variables: Vec<Real> = (0..query.variables.len())
            .map(|index| Real::new_const(format!("v{index}")))
            .collect();
        for (variable, bounds) in variables.iter().zip(&query.variables) {
            self.solver.assert(variable.ge(decimal(bounds.lower)?));
            self.solver.assert(variable.le(decimal(bounds.upper)?));
        }
        self.solver.assert(formula(&query.assertion, &variables)?);

        match self.solver.check() {
            SatResult::Unsat => Ok(SatAnswer::Unsat),
            SatResult::Unknown => {
                let reason = self.solver.get_reason_unknown().unwrap_or_default();
                let timed_out = reason.contains("timeout") || reason.contains("canceled");
                Ok(SatAnswer::Unknown { reason, timed_out })
            }
            SatResult::Sat => {
                let model = self
                    .solver
                    .get_model()
                    .ok_or_else(|| SmtError::Solver("sat answer without a model".into()))?;
                let mut values = Vec::with_capacity(variables.len());
                for variable in &variables {
                    let value = model
                        .eval(variable, true)
                        .ok_or_else(|| SmtError::Solver("model has no value for a variable".into()))?;
                    let printed = value.to_string();
                    let rendered = parse_smtlib_real(&printed)
                        .ok_or_else(|| SmtError::Solver(format!("unreadable model value `{printed}`")))?;
                    values.push(rendered);
                }
                Ok(SatAnswer::Sat(values))
            }
        }
    }
}

/// Builds an exact Z3 numeral from a decimal: mantissa over a power of ten.
fn decimal(value: Decimal) -> Result<Real, SmtError> {
    let mantissa = value.mantissa();
    let denominator = 10i128.pow(value.scale());
    // `Real::from_rational` calls `Z3_mk_real_int64`, which libz3 4.8.12 lacks, so numerals
    // are always built from strings.
    let magnitude = Real::from_rational_str(&mantissa.unsigned_abs().to_string(), &denominator.to_string())
        .ok_or_else(|| SmtError::Solver(format!("z3 rejected the numeral `{value}`")))?;
    Ok(if mantissa < 0 { magnitude.unary_minus() } else { magnitude })
}

fn term(term_value: &Term, variables: &[Real]) -> Result<Real, SmtError> {
    Ok(match term_value {
        Term::Const(value) => decimal(*value)?,
        Term::Var(index) => variables
            .get(*index)
            .cloned()
            .ok_or_else(|| SmtError::Solver(format!("term names variable {index}, which the query lacks")))?,
        Term::Add(left, right) => Real::add(&[term(left, variables)?, term(right, variables)?]),
        Term::Sub(left, right) => Real::sub(&[term(left, variables)?, term(right, variables)?]),
        Term::Scale(factor, inner) => Real::mul(&[decimal(*factor)?, term(inner, variables)?]),
    })
}

fn formula(formula_value: &Formula, variables: &[Real]) -> Result<Bool, SmtError> {
    Ok(match formula_value {
        Formula::Const(value) => Bool::from_bool(*value),
        Formula::Not(inner) => formula(inner, variables)?.not(),
        Formula::And(parts) => {
            let parts = parts.iter().map(|part| formula(part, variables)).collect::<Result<Vec<Bool>, _>>()?;
            Bool::and(&parts)
        }
        Formula::Or(parts) => {
            let parts = parts.iter().map(|part| formula(part, variables)).collect::<Result<Vec<Bool>, _>>()?;
            Bool::or(&parts)
        }
        Formula::Compare(op, left, right) => {
            let (left, right) = (term(left, variables)?, term(right, variables)?);
            match op {
                CompareOp::Eq => left.eq(right),
                CompareOp::Ne => left.eq(right).not(),
                CompareOp::Lt => left.lt(right),
                CompareOp::Le => left.le(right),
                CompareOp::Gt => left.gt(right),
                CompareOp::Ge => left.ge(right),
            }
        }
    })
}
