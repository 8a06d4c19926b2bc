//! The data model shared by every part of axiom: intents, certificates, verdicts and reason codes.

pub mod certificate;
pub mod intent;
pub mod reason;
pub mod verdict;

pub use certificate::{Certificate, Envelope, RollbackPlan, ALG_ED25519};
pub use intent::{Actor, DataRequirements, Intent, IntentTime, Operation, Scope, Target};
pub use reason::ReasonCode;
pub use verdict::{
    Counterexample, DecisionResponse, EscrowSummary, Fact, Receipt, Shield, ShieldType, Verdict,
};
