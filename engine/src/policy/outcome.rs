//! The result of evaluating a policy against one set of facts.
//!
//! Verdict composition happens elsewhere; this module only reports what each part of the policy
//! says, and every uncertain or failed part is reported so that it can never become an ALLOW.

use super::diagnostic::Span;
use crate::model::{Fact, Shield};
use serde::{Deserialize, Serialize};

/// The result of checking one axiom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AxiomOutcome {
    /// The `when` is false for every value in the uncertainty box, so the axiom does not apply.
    NotApplicable,
    /// The `require` holds for every value where the `when` holds (its negation is unsat).
    Proved,
    /// The `require` fails for every value where the `when` holds. `facts` is a witness.
    /// Leads to DENY, or to the axiom's `else` shield.
    Violated { facts: Vec<Fact> },
    /// The `require` holds for some values only. `facts` is a witness where it fails.
    /// Leads to ESCROW `UNCERTAIN`.
    Uncertain { facts: Vec<Fact> },
    /// A value the axiom reads is missing or malformed, or the solver failed. Fails closed:
    /// never an ALLOW.
    Error { detail: String },
    /// The solver ran out of time on this axiom. Never an ALLOW; maps to DEFER `SMT_UNAVAILABLE`.
    Timeout,
}

/// The method that settled an axiom's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// Exact interval evaluation settled it without a solver query.
    Interval,
    /// Z3 settled it.
    Z3,
    /// Neither: the value could not be read, or no solver was available.
    Undecided,
}

/// One axiom's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AxiomResult {
    /// Axiom name.
    pub name: String,
    /// The outcome of the check.
    #[serde(flatten)]
    pub outcome: AxiomOutcome,
    /// The shield the policy offers when the axiom is violated.
    pub else_shield: Option<Shield>,
    /// The method that settled the outcome.
    pub decided_by: DecidedBy,
}

/// The value of a header condition (escrow, invariant, abac).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConditionValue {
    /// True for every value in the uncertainty box.
    True,
    /// False for every value in the uncertainty box.
    False,
    /// True for some values only.
    Possible,
    /// Could not be evaluated.
    Error { detail: String },
}

/// A header condition and its value, named by its position in the policy text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionResult {
    /// Position of the condition in the policy text.
    pub span: Span,
    /// The value it evaluated to.
    pub value: ConditionValue,
}

/// The ABAC decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum AbacDecision {
    /// No deny rule can match, and either there are no allow rules or one surely matches.
    Allowed,
    /// A deny rule matches or may match, no allow rule surely matches, or a rule failed to
    /// evaluate. `rule` is the span of the deciding rule, None when no allow rule matched.
    Denied { rule: Option<Span>, detail: String },
}

/// Whether a formal solver stood behind this evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvedBy {
    /// Z3 was available: every outcome is Z3's, or the interval fast path's, which only
    /// decides when the answer is the same for every value (checked against Z3 by tests).
    Z3,
    /// SMT is disabled: a would-be ALLOW must become ESCROW `SMT_NON_FORMAL`.
    Disabled,
}

/// The findings of every part of the policy for one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyEvaluation {
    /// The policy version evaluated, for example `finance@v18`.
    pub policy_set_id: String,
    /// True when any `escrow when` condition is true, possibly true, or failed to evaluate.
    pub escrow_matched: bool,
    /// Each escrow condition's value, in policy order.
    pub escrow_conditions: Vec<ConditionResult>,
    /// Invariants that are false, possibly false, or failed to evaluate.
    pub invariant_failures: Vec<ConditionResult>,
    /// The ABAC decision.
    pub abac: AbacDecision,
    /// One result per axiom, in policy order.
    pub axioms: Vec<AxiomResult>,
    /// Whether Z3 was available.
    pub proved_by: ProvedBy,
}

impl PolicyEvaluation {
    /// Returns true when nothing in the policy rules out an ALLOW: no escrow match, no
    /// invariant failure, ABAC allowed, every axiom proved or not applicable, and Z3 available.
    pub fn permits_allow(&self) -> bool {
        self.proved_by == ProvedBy::Z3
            && !self.escrow_matched
            && self.invariant_failures.is_empty()
            && self.abac == AbacDecision::Allowed
            && self.axioms.iter().all(|axiom| {
                matches!(axiom.outcome, AxiomOutcome::Proved | AxiomOutcome::NotApplicable)
            })
    }
}
