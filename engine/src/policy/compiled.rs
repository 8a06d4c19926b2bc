//! The immutable, compiled form of a policy set that requests are evaluated against.

use super::diagnostic::Span;
use super::typed::Condition;
use crate::model::Shield;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Who a rate limit counts requests for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RateScope {
    Actor,
    Tenant,
}

/// `rate limit N per UNIT scope S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitRule {
    /// Requests allowed per period.
    pub count: u32,
    /// Length of the period in milliseconds.
    pub period_ms: u64,
    /// Who the count applies to.
    pub scope: RateScope,
}

/// The approval rules for escrowed actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRules {
    /// Distinct approvals needed to release an escrow.
    pub required: u32,
    /// Roles an approver must hold one of; empty means any approver.
    pub roles: Vec<String>,
    /// Separation of duties: the requesting actor may not approve its own action.
    pub sod: bool,
    /// How long an escrow waits for approvals, in milliseconds.
    pub expires_in_ms: u64,
}

impl Default for ApprovalRules {
    /// One approval by anyone, separation of duties on, 24 hours to approve.
    fn default() -> Self {
        ApprovalRules {
            required: 1,
            roles: Vec::new(),
            sod: true,
            expires_in_ms: 24 * 60 * 60 * 1000,
        }
    }
}

/// Whether an ABAC rule allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AbacEffect {
    Allow,
    Deny,
}

/// `abac allow when ...` or `abac deny when ...`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbacRule {
    pub effect: AbacEffect,
    pub condition: Condition,
}

/// One compiled axiom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axiom {
    /// Unique name within the policy set; violations name it.
    pub name: String,
    /// Where the name is written.
    pub span: Span,
    /// When the axiom applies; None means always.
    pub when: Option<Condition>,
    /// What must hold whenever it applies.
    pub require: Condition,
    /// The reduced form to offer when `require` fails; None means the failure is a DENY.
    pub else_shield: Option<Shield>,
}

/// A compiled policy set. Built once per published version by [`super::compile`] and shared
/// as `Arc<CompiledPolicy>`; evaluation never parses text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompiledPolicy {
    /// Policy set name, for example `finance`.
    pub name: String,
    /// Version number, for example 18 for `v18`.
    pub version: u32,
    /// Target domain the policy governs; defaults to the policy set name.
    pub domain: String,
    /// Optional rate limit.
    pub rate_limit: Option<RateLimitRule>,
    /// Approval rules for escrows.
    pub approvals: ApprovalRules,
    /// `escrow when` conditions; any match sends the action to escrow.
    pub escrow_conditions: Vec<Condition>,
    /// `invariant` conditions; every one must hold.
    pub invariants: Vec<Condition>,
    /// ABAC rules in the order written.
    pub abac: Vec<AbacRule>,
    /// Axioms in the order written.
    pub axioms: Vec<Axiom>,
    /// Names of the sources referenced anywhere in the policy.
    pub source_names: BTreeSet<String>,
    /// Budget codes referenced anywhere in the policy.
    pub budget_codes: BTreeSet<String>,
}

impl Axiom {
    /// Returns the budget codes this axiom reads in its `when` or `require`.
    pub fn budget_codes(&self) -> BTreeSet<String> {
        let mut codes = BTreeSet::new();
        let conditions = self.when.iter().chain(std::iter::once(&self.require));
        for condition in conditions {
            super::compile::visit_bool(&condition.expr, &mut |number| {
                if let super::typed::NumExpr::Budget(code) = number {
                    codes.insert(code.clone());
                }
            });
        }
        codes
    }
}

impl CompiledPolicy {
    /// Returns the stable id of this version, `NAME@vVERSION` (for example `finance@v18`).
    pub fn policy_set_id(&self) -> String {
        format!("{}@v{}", self.name, self.version)
    }
}
