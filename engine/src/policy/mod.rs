//! The policy language: parsing, type checking, compilation and evaluation.
//!
//! [`compile`] turns policy text into an immutable [`CompiledPolicy`], once per version.
//! [`evaluate`] checks it against [`Facts`], using the exact interval fast path and a
//! [`crate::smt::error::Solve`] backend for what intervals cannot settle.

pub mod ast;
pub mod compile;
pub mod compiled;
pub mod diagnostic;
pub mod facts;
pub mod interval;
pub mod lexer;
pub mod lower;
pub mod outcome;
pub mod parser;
pub mod prove;
pub mod publish;
pub mod typed;

pub use ast::CompareOp;
pub use compile::compile;
pub use compiled::{
    AbacEffect, AbacRule, ApprovalRules, Axiom, CompiledPolicy, RateLimitRule, RateScope,
};
pub use diagnostic::{Diagnostic, Span};
pub use facts::{EvalError, Facts, Principal, SourceReading};
pub use outcome::{
    AbacDecision, AxiomOutcome, AxiomResult, ConditionResult, ConditionValue, DecidedBy,
    PolicyEvaluation, ProvedBy,
};
pub use prove::{evaluate, evaluate_by_intervals, Evaluator};
pub use publish::check_publishable;
