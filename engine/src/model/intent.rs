//! The action intent an agent asks the engine to decide on.
//!
//! Numbers in an intent are integers; decimals such as money travel as strings (`"123.45"`)
//! and are read as exact decimals by the policy layer. The canonical-JSON layer rejects float
//! tokens before these types are built, so no binary float ever reaches a decision.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A side effect an agent wants to perform, as signed by the agent's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    /// Client-chosen identifier of this intent.
    pub intent_id: String,
    /// Key under which a repeated request returns the stored decision (per actor).
    pub idempotency_key: String,
    /// Who acts.
    pub actor: Actor,
    /// What the action touches.
    pub target: Target,
    /// What the action does.
    pub operation: Operation,
    /// Which server-side state the action relies on, and how fresh it must be.
    pub data_requirements: DataRequirements,
    /// When the agent formed the request.
    pub time: IntentTime,
}

/// The agent identity acting, within one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// Actor id, unique within the tenant. Personal data: stored encrypted in the audit log.
    pub id: String,
    /// Tenant the actor belongs to; the signing key must be registered for the same tenant.
    pub tenant: String,
    /// Roles the agent claims; policies may test them with `in actor.roles`.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Whether an action touches one object or many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// One object.
    Single,
    /// Several objects at once; `batch.size` is the number of `object_ids`.
    Batch,
}

impl Scope {
    /// Returns the wire string, `"single"` or `"batch"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Single => "single",
            Scope::Batch => "batch",
        }
    }
}

/// The objects an action touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Policy domain, for example `finance`; selects the tenant's published policy.
    pub domain: String,
    /// Kinds of object touched, for example `invoice`.
    #[serde(default)]
    pub object_types: Vec<String>,
    /// Ids of the objects touched.
    #[serde(default)]
    pub object_ids: Vec<String>,
    /// Single or batch.
    pub scope: Scope,
}

/// The operation and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// Operation name, for example `pay_invoice`.
    pub name: String,
    /// Free-form parameters. Personal data: stored encrypted in the audit log.
    #[serde(default)]
    pub params: Map<String, Value>,
}

/// Freshness and uncertainty requirements of an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataRequirements {
    /// Sources that must be known and fresh for an ALLOW.
    #[serde(default)]
    pub required_sources: Vec<String>,
    /// Maximum age of each required source, in seconds.
    pub max_staleness_sec: u64,
    /// Per-parameter uncertainty, as exact decimal strings: `{"amount": "5.00"}` widens
    /// `action.params.amount` to the interval `[amount - 5.00, amount + 5.00]`.
    #[serde(default)]
    pub uncertainty_budget: BTreeMap<String, String>,
}

/// Time stamps of an intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentTime {
    /// When the agent formed the request, in Unix milliseconds.
    pub request_time: i64,
}

impl Intent {
    /// Returns the number of objects the action touches (`batch.size` in policies).
    pub fn batch_size(&self) -> u64 {
        self.target.object_ids.len() as u64
    }
}
