//! The rules that turn findings into one verdict.

use crate::model::{Counterexample, Fact, ReasonCode, Shield, ShieldType, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Retry hint for a DEFER, in milliseconds, when nothing better is known.
pub const RETRY_AFTER_MS_DEFAULT: u64 = 250;

/// Operation name prefixes of actions without side effects; every other action needs a usable
/// rollback plan before it can be allowed directly.
pub const READ_ONLY_OPERATION_PREFIXES: [&str; 6] =
    ["read_", "get_", "list_", "search_", "describe_", "query_"];

/// Returns true when an operation may change something outside the engine.
pub fn has_side_effects(operation_name: &str) -> bool {
    !READ_ONLY_OPERATION_PREFIXES
        .iter()
        .any(|prefix| operation_name.starts_with(prefix))
}

/// Result of the freshness step for the action's required sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "sources", rename_all = "snake_case")]
pub enum StateCheck {
    /// Every required source is known and fresh enough.
    Fresh,
    /// At least one required source never reported (names listed).
    Unknown(Vec<String>),
    /// At least one required source is older than allowed (names listed).
    Stale(Vec<String>),
}

/// How much of the certificate's defer allowance is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeferBudget {
    /// Milliseconds until `issued_at + MAX_DEFER_TOTAL_MS`; zero or negative means exhausted.
    pub remaining_ms: i64,
}

/// Outcome of one axiom, normalized from the prover.
#[derive(Debug, Clone, PartialEq)]
pub enum AxiomOutcome {
    /// The `when` is false: the axiom does not apply.
    NotApplicable,
    /// The `require` holds for every value in the uncertainty intervals.
    Proved,
    /// The `require` fails for every value; the facts show a witness.
    Violated(Vec<Fact>),
    /// The `require` holds for some values only; the facts are a failing witness.
    Uncertain(Vec<Fact>),
    /// The axiom could not be evaluated (for example a missing field); fails closed.
    Error(String),
    /// The solver did not finish in time.
    Timeout,
    /// Only a solver could settle the axiom, and none ran (SMT disabled).
    Unproved,
}

/// One axiom's finding.
#[derive(Debug, Clone, PartialEq)]
pub struct AxiomFinding {
    /// Axiom name.
    pub name: String,
    /// Outcome the prover reported.
    pub outcome: AxiomOutcome,
    /// The axiom's `else shield(...)`, if any.
    pub else_shield: Option<Shield>,
}

/// Findings of the policy evaluation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PolicyFindings {
    /// Name of the ABAC rule that denies the action, if one does.
    pub abac_denied: Option<String>,
    /// Invariants that failed, with their facts.
    pub invariant_failures: Vec<(String, Vec<Fact>)>,
    /// True when an `escrow when` condition matched.
    pub escrow_matched: bool,
    /// Every axiom's outcome, in policy order.
    pub axioms: Vec<AxiomFinding>,
    /// True when Z3 proved the outcomes; false when no solver ran (SMT disabled).
    pub formally_proved: bool,
}

/// Result of the verification step.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyStep {
    /// The policy was evaluated.
    Evaluated(PolicyFindings),
    /// The solver pool could not take or finish the proof (queue full, timeout, crash).
    SolverUnavailable(String),
}

/// Everything the verdict depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositionInput {
    /// Freshness of the required sources.
    pub state: StateCheck,
    /// The policy evaluation; not consulted when the state is not fresh.
    pub policy: PolicyStep,
    /// True when the operation may change something (see [`has_side_effects`]).
    pub side_effects: bool,
    /// True when the certificate carries a usable rollback plan.
    pub rollback_usable: bool,
    /// True when degraded mode (`DEGRADED_NO_ALLOW`) is on.
    pub degraded: bool,
    /// Remainder of the defer allowance.
    pub defer_budget: DeferBudget,
}

/// The composed verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Composition {
    /// The verdict.
    pub verdict: Verdict,
    /// Its reason.
    pub reason_code: ReasonCode,
    /// The shield, for SHIELD.
    pub shield: Option<Shield>,
    /// Failed axioms and facts, where the policy caused the verdict.
    pub counterexample: Option<Counterexample>,
    /// Retry hint, for DEFER.
    pub retry_after_ms: Option<u64>,
    /// Human-readable detail.
    pub detail: Option<String>,
}

impl Composition {
    fn new(verdict: Verdict, reason_code: ReasonCode) -> Self {
        Composition {
            verdict,
            reason_code,
            shield: None,
            counterexample: None,
            retry_after_ms: None,
            detail: None,
        }
    }

    fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    fn with_counterexample(mut self, failed_axioms: Vec<String>, facts: Vec<Fact>) -> Self {
        self.counterexample = Some(Counterexample {
            failed_axioms,
            facts,
        });
        self
    }
}

fn read_only_shield() -> Shield {
    Shield {
        shield_type: ShieldType::ReadOnly,
        params: Map::new(),
    }
}

/// Builds a DEFER while the defer allowance lasts, and the escalation after it: ESCROW
/// `DEFER_LIMIT_ESCROW` when a rollback plan exists, SHIELD `READ_ONLY` otherwise.
fn defer_or_escalate(input: &CompositionInput, reason_code: ReasonCode, detail: String) -> Composition {
    if input.defer_budget.remaining_ms > 0 {
        let retry_after_ms = RETRY_AFTER_MS_DEFAULT.min(input.defer_budget.remaining_ms as u64);
        let mut composition = Composition::new(Verdict::Defer, reason_code).with_detail(detail);
        composition.retry_after_ms = Some(retry_after_ms.max(1));
        return composition;
    }

    let detail = format!("defer limit reached after {reason_code}: {detail}");
    if input.rollback_usable {
        return Composition::new(Verdict::Escrow, ReasonCode::DeferLimitEscrow).with_detail(detail);
    }
    let mut composition =
        Composition::new(Verdict::Shield, ReasonCode::DeferLimitEscrow).with_detail(detail);
    composition.shield = Some(read_only_shield());
    composition
}

/// Ranks shields from least to most restrictive, so the strictest of several wins.
fn shield_rank(shield: &Shield) -> (u8, i64) {
    match shield.shield_type {
        ShieldType::SmallBatch => {
            let max = shield
                .params
                .get("max")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            (1, -max)
        }
        ShieldType::DryRun => (2, 0),
        ShieldType::ReadOnly => (3, 0),
        ShieldType::RequireApproval => (4, 0),
    }
}

/// Composes the verdict. Rules, first match wins:
/// 1. a stale or unknown required source: DEFER (`STATE_STALE`/`STATE_UNKNOWN`), escalated
///    after the defer allowance;
/// 2. the solver unavailable, or any axiom timed out: DEFER `SMT_UNAVAILABLE`, escalated likewise;
/// 3. an ABAC deny: DENY `ABAC_DENIED`; a failed invariant: DENY `INVARIANT_VIOLATED`;
/// 4. an axiom violated without a shield, or not evaluable: DENY `AXIOM_FAIL`;
/// 5. an uncertain axiom: ESCROW `UNCERTAIN`; an axiom no solver could settle because SMT is
///    disabled: ESCROW `SMT_NON_FORMAL`;
/// 6. a violated axiom whose shield is `REQUIRE_APPROVAL`: ESCROW `AXIOM_FAIL`;
/// 7. a matched `escrow when`: ESCROW `ESCROW_REQUIRED`;
/// 8. other violated axioms with shields: SHIELD `AXIOM_FAIL` with the strictest shield;
/// 9. a would-be ALLOW: SHIELD `DEGRADED_MODE` in degraded mode, ESCROW `SMT_NON_FORMAL`
///    without a formal proof, ESCROW `ROLLBACK_REQUIRED` for side effects without a usable
///    rollback plan, else ALLOW `OK`.
pub fn compose(input: &CompositionInput) -> Composition {
    match &input.state {
        StateCheck::Fresh => {}
        StateCheck::Unknown(sources) => {
            let detail = format!("required sources never reported: {}", sources.join(", "));
            return defer_or_escalate(input, ReasonCode::StateUnknown, detail);
        }
        StateCheck::Stale(sources) => {
            let detail = format!("required sources are stale: {}", sources.join(", "));
            return defer_or_escalate(input, ReasonCode::StateStale, detail);
        }
    }

    let findings = match &input.policy {
        PolicyStep::Evaluated(findings) => findings,
        PolicyStep::SolverUnavailable(detail) => {
            return defer_or_escalate(input, ReasonCode::SmtUnavailable, detail.clone());
        }
    };

    let timed_out: Vec<&str> = findings
        .axioms
        .iter()
        .filter(|axiom| axiom.outcome == AxiomOutcome::Timeout)
        .map(|axiom| axiom.name.as_str())
        .collect();
    if !timed_out.is_empty() {
        let detail = format!("proof timed out for axioms: {}", timed_out.join(", "));
        return defer_or_escalate(input, ReasonCode::SmtUnavailable, detail);
    }

    if let Some(rule) = &findings.abac_denied {
        return Composition::new(Verdict::Deny, ReasonCode::AbacDenied)
            .with_detail(format!("denied by ABAC rule {rule}"))
            .with_counterexample(vec![rule.clone()], Vec::new());
    }

    if !findings.invariant_failures.is_empty() {
        let names = findings
            .invariant_failures
            .iter()
            .map(|(name, _)| name.clone())
            .collect();
        let facts = findings
            .invariant_failures
            .iter()
            .flat_map(|(_, facts)| facts.iter().cloned())
            .collect();
        return Composition::new(Verdict::Deny, ReasonCode::InvariantViolated)
            .with_detail("a policy invariant does not hold")
            .with_counterexample(names, facts);
    }

    let mut hard_failures = Vec::new();
    let mut hard_facts = Vec::new();
    let mut errors = Vec::new();
    let mut uncertain = Vec::new();
    let mut uncertain_facts = Vec::new();
    let mut approval_shields = Vec::new();
    let mut shielded: Vec<(&AxiomFinding, &Shield)> = Vec::new();
    let mut shield_facts = Vec::new();
    for axiom in &findings.axioms {
        match &axiom.outcome {
            AxiomOutcome::NotApplicable
            | AxiomOutcome::Proved
            | AxiomOutcome::Timeout
            | AxiomOutcome::Unproved => {}
            AxiomOutcome::Error(detail) => {
                errors.push(format!("{}: {detail}", axiom.name));
                hard_failures.push(axiom.name.clone());
            }
            AxiomOutcome::Violated(facts) => match &axiom.else_shield {
                None => {
                    hard_failures.push(axiom.name.clone());
                    hard_facts.extend(facts.iter().cloned());
                }
                Some(shield) if shield.shield_type == ShieldType::RequireApproval => {
                    approval_shields.push(axiom.name.clone());
                    shield_facts.extend(facts.iter().cloned());
                }
                Some(shield) => {
                    shielded.push((axiom, shield));
                    shield_facts.extend(facts.iter().cloned());
                }
            },
            AxiomOutcome::Uncertain(facts) => {
                uncertain.push(axiom.name.clone());
                uncertain_facts.extend(facts.iter().cloned());
            }
        }
    }

    if !hard_failures.is_empty() {
        let detail = if errors.is_empty() {
            format!("axioms violated: {}", hard_failures.join(", "))
        } else {
            format!("axioms failed closed: {}", errors.join("; "))
        };
        return Composition::new(Verdict::Deny, ReasonCode::AxiomFail)
            .with_detail(detail)
            .with_counterexample(hard_failures, hard_facts);
    }

    if !uncertain.is_empty() {
        let detail = format!(
            "axioms hold for only part of the uncertainty interval: {}",
            uncertain.join(", ")
        );
        return Composition::new(Verdict::Escrow, ReasonCode::Uncertain)
            .with_detail(detail)
            .with_counterexample(uncertain, uncertain_facts);
    }

    let unproved: Vec<&str> = findings
        .axioms
        .iter()
        .filter(|axiom| axiom.outcome == AxiomOutcome::Unproved)
        .map(|axiom| axiom.name.as_str())
        .collect();
    if !unproved.is_empty() {
        let detail = format!("no solver proved these axioms: {}", unproved.join(", "));
        return Composition::new(Verdict::Escrow, ReasonCode::SmtNonFormal).with_detail(detail);
    }

    if !approval_shields.is_empty() {
        let detail = format!("axioms require approval: {}", approval_shields.join(", "));
        return Composition::new(Verdict::Escrow, ReasonCode::AxiomFail)
            .with_detail(detail)
            .with_counterexample(approval_shields, shield_facts);
    }

    if findings.escrow_matched {
        return Composition::new(Verdict::Escrow, ReasonCode::EscrowRequired)
            .with_detail("an `escrow when` condition of the policy matched");
    }

    if let Some((_, strictest)) = shielded
        .iter()
        .max_by_key(|(_, shield)| shield_rank(shield))
    {
        let names = shielded.iter().map(|(axiom, _)| axiom.name.clone()).collect();
        let mut composition = Composition::new(Verdict::Shield, ReasonCode::AxiomFail)
            .with_detail("axioms violated; a reduced form is offered")
            .with_counterexample(names, shield_facts);
        composition.shield = Some((*strictest).clone());
        return composition;
    }

    if input.degraded {
        let mut composition = Composition::new(Verdict::Shield, ReasonCode::DegradedMode)
            .with_detail("degraded mode is on: no action is allowed");
        composition.shield = Some(read_only_shield());
        return composition;
    }
    if !findings.formally_proved {
        return Composition::new(Verdict::Escrow, ReasonCode::SmtNonFormal)
            .with_detail("the policy was not proved by the solver");
    }
    if input.side_effects && !input.rollback_usable {
        return Composition::new(Verdict::Escrow, ReasonCode::RollbackRequired)
            .with_detail("the action has side effects and no usable rollback plan");
    }
    Composition::new(Verdict::Allow, ReasonCode::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(name: &str, value: &str) -> Fact {
        Fact {
            name: name.into(),
            value: value.into(),
        }
    }

    fn axiom(name: &str, outcome: AxiomOutcome, else_shield: Option<Shield>) -> AxiomFinding {
        AxiomFinding {
            name: name.into(),
            outcome,
            else_shield,
        }
    }

    fn shield(shield_type: ShieldType) -> Shield {
        Shield {
            shield_type,
            params: Map::new(),
        }
    }

    fn small_batch(max: i64) -> Shield {
        let mut params = Map::new();
        params.insert("max".into(), Value::from(max));
        Shield {
            shield_type: ShieldType::SmallBatch,
            params,
        }
    }

    fn input(axioms: Vec<AxiomFinding>) -> CompositionInput {
        CompositionInput {
            state: StateCheck::Fresh,
            policy: PolicyStep::Evaluated(PolicyFindings {
                axioms,
                formally_proved: true,
                ..PolicyFindings::default()
            }),
            side_effects: true,
            rollback_usable: true,
            degraded: false,
            defer_budget: DeferBudget { remaining_ms: 10_000 },
        }
    }

    fn findings(input: &mut CompositionInput) -> &mut PolicyFindings {
        match &mut input.policy {
            PolicyStep::Evaluated(findings) => findings,
            PolicyStep::SolverUnavailable(_) => unreachable!("tests build evaluated policies"),
        }
    }

    #[test]
    fn proved_policy_allows() {
        let composed = compose(&input(vec![axiom("A", AxiomOutcome::Proved, None)]));
        assert_eq!(composed.verdict, Verdict::Allow);
        assert_eq!(composed.reason_code, ReasonCode::Ok);
    }

    #[test]
    fn stale_state_defers_then_escalates() {
        let mut stale = input(vec![axiom("A", AxiomOutcome::Proved, None)]);
        stale.state = StateCheck::Stale(vec!["bank".into()]);
        let deferred = compose(&stale);
        assert_eq!(deferred.verdict, Verdict::Defer);
        assert_eq!(deferred.reason_code, ReasonCode::StateStale);
        assert!(deferred.retry_after_ms.is_some());

        stale.defer_budget.remaining_ms = 0;
        let escalated = compose(&stale);
        assert_eq!(escalated.verdict, Verdict::Escrow);
        assert_eq!(escalated.reason_code, ReasonCode::DeferLimitEscrow);

        stale.rollback_usable = false;
        let shielded = compose(&stale);
        assert_eq!(shielded.verdict, Verdict::Shield);
        assert_eq!(shielded.shield.map(|s| s.shield_type), Some(ShieldType::ReadOnly));
    }

    #[test]
    fn unknown_state_never_allows() {
        let mut unknown = input(vec![axiom("A", AxiomOutcome::Proved, None)]);
        unknown.state = StateCheck::Unknown(vec!["ledger".into()]);
        let composed = compose(&unknown);
        assert_eq!(composed.verdict, Verdict::Defer);
        assert_eq!(composed.reason_code, ReasonCode::StateUnknown);
    }

    #[test]
    fn solver_unavailable_defers() {
        let mut unavailable = input(Vec::new());
        unavailable.policy = PolicyStep::SolverUnavailable("queue full".into());
        let composed = compose(&unavailable);
        assert_eq!(composed.verdict, Verdict::Defer);
        assert_eq!(composed.reason_code, ReasonCode::SmtUnavailable);

        let timed_out = compose(&input(vec![axiom("A", AxiomOutcome::Timeout, None)]));
        assert_eq!(timed_out.verdict, Verdict::Defer);
        assert_eq!(timed_out.reason_code, ReasonCode::SmtUnavailable);
    }

    #[test]
    fn violation_without_shield_denies_with_facts() {
        let violated = AxiomOutcome::Violated(vec![fact("action.params.amount", "9000")]);
        let composed = compose(&input(vec![
            axiom("Budget", violated, None),
            axiom("Other", AxiomOutcome::Proved, None),
        ]));
        assert_eq!(composed.verdict, Verdict::Deny);
        assert_eq!(composed.reason_code, ReasonCode::AxiomFail);
        let counterexample = composed.counterexample.unwrap();
        assert_eq!(counterexample.failed_axioms, vec!["Budget".to_string()]);
        assert_eq!(counterexample.facts, vec![fact("action.params.amount", "9000")]);
    }

    #[test]
    fn error_fails_closed() {
        let composed = compose(&input(vec![axiom(
            "A",
            AxiomOutcome::Error("missing field action.params.amount".into()),
            Some(shield(ShieldType::ReadOnly)),
        )]));
        assert_eq!(composed.verdict, Verdict::Deny);
        assert_eq!(composed.reason_code, ReasonCode::AxiomFail);
    }

    #[test]
    fn uncertain_escrows_with_witness() {
        let witness = vec![fact("action.params.amount", "5999")];
        let composed = compose(&input(vec![axiom(
            "Budget",
            AxiomOutcome::Uncertain(witness.clone()),
            None,
        )]));
        assert_eq!(composed.verdict, Verdict::Escrow);
        assert_eq!(composed.reason_code, ReasonCode::Uncertain);
        assert_eq!(composed.counterexample.unwrap().facts, witness);
    }

    #[test]
    fn shields_pick_the_strictest() {
        let composed = compose(&input(vec![
            axiom("Batch", AxiomOutcome::Violated(Vec::new()), Some(small_batch(50))),
            axiom("Role", AxiomOutcome::Violated(Vec::new()), Some(shield(ShieldType::ReadOnly))),
        ]));
        assert_eq!(composed.verdict, Verdict::Shield);
        assert_eq!(composed.reason_code, ReasonCode::AxiomFail);
        assert_eq!(composed.shield.unwrap().shield_type, ShieldType::ReadOnly);

        let two_batches = compose(&input(vec![
            axiom("B1", AxiomOutcome::Violated(Vec::new()), Some(small_batch(50))),
            axiom("B2", AxiomOutcome::Violated(Vec::new()), Some(small_batch(10))),
        ]));
        assert_eq!(two_batches.shield.unwrap(), small_batch(10));
    }

    #[test]
    fn require_approval_shield_escrows() {
        let composed = compose(&input(vec![axiom(
            "Budget",
            AxiomOutcome::Violated(Vec::new()),
            Some(shield(ShieldType::RequireApproval)),
        )]));
        assert_eq!(composed.verdict, Verdict::Escrow);
        assert_eq!(composed.reason_code, ReasonCode::AxiomFail);
    }

    #[test]
    fn escrow_condition_escrows_but_deny_wins() {
        let mut matched = input(vec![axiom("A", AxiomOutcome::Proved, None)]);
        findings(&mut matched).escrow_matched = true;
        let composed = compose(&matched);
        assert_eq!(composed.verdict, Verdict::Escrow);
        assert_eq!(composed.reason_code, ReasonCode::EscrowRequired);

        findings(&mut matched).axioms = vec![axiom("B", AxiomOutcome::Violated(Vec::new()), None)];
        assert_eq!(compose(&matched).verdict, Verdict::Deny);
    }

    #[test]
    fn abac_and_invariants_deny() {
        let mut abac = input(Vec::new());
        findings(&mut abac).abac_denied = Some("abac deny #1".into());
        assert_eq!(compose(&abac).reason_code, ReasonCode::AbacDenied);

        let mut invariant = input(Vec::new());
        findings(&mut invariant).invariant_failures = vec![("invariant #1".into(), Vec::new())];
        let composed = compose(&invariant);
        assert_eq!(composed.verdict, Verdict::Deny);
        assert_eq!(composed.reason_code, ReasonCode::InvariantViolated);
    }

    #[test]
    fn would_be_allow_is_guarded() {
        let mut degraded = input(Vec::new());
        degraded.degraded = true;
        let composed = compose(&degraded);
        assert_eq!(composed.verdict, Verdict::Shield);
        assert_eq!(composed.reason_code, ReasonCode::DegradedMode);

        let mut informal = input(Vec::new());
        findings(&mut informal).formally_proved = false;
        let composed = compose(&informal);
        assert_eq!(composed.verdict, Verdict::Escrow);
        assert_eq!(composed.reason_code, ReasonCode::SmtNonFormal);

        let mut no_rollback = input(Vec::new());
        no_rollback.rollback_usable = false;
        let composed = compose(&no_rollback);
        assert_eq!(composed.verdict, Verdict::Escrow);
        assert_eq!(composed.reason_code, ReasonCode::RollbackRequired);

        no_rollback.side_effects = false;
        assert_eq!(compose(&no_rollback).verdict, Verdict::Allow);
    }

    #[test]
    fn unproved_axiom_escrows_as_non_formal() {
        let composed = compose(&input(vec![
            axiom("Budget", AxiomOutcome::Unproved, None),
            axiom("Other", AxiomOutcome::Proved, None),
        ]));
        assert_eq!(composed.verdict, Verdict::Escrow);
        assert_eq!(composed.reason_code, ReasonCode::SmtNonFormal);
    }

    #[test]
    fn read_only_prefixes_have_no_side_effects() {
        assert!(!has_side_effects("get_invoice"));
        assert!(!has_side_effects("list_accounts"));
        assert!(has_side_effects("pay_invoice"));
        assert!(has_side_effects("run_batch"));
    }
}
