//! Verdict composition: the pure last step of a decision.
//!
//! The node gathers what the earlier steps found (state freshness, the policy evaluation, the
//! runtime switches) into a [`CompositionInput`]; [`compose`] turns it into exactly one verdict
//! and reason code. It holds the rules that must hold whatever the configuration: no ALLOW while
//! the verifier is unavailable, a required source is stale or unknown, or degraded mode is on;
//! and no ALLOW for an action with side effects but no usable rollback plan.

mod compose;
mod findings;

pub use compose::{
    compose, has_side_effects, AxiomFinding, AxiomOutcome, Composition, CompositionInput,
    DeferBudget, PolicyFindings, PolicyStep, StateCheck, READ_ONLY_OPERATION_PREFIXES,
    RETRY_AFTER_MS_DEFAULT,
};
pub use findings::findings_from_evaluation;
