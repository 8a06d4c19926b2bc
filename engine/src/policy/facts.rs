//! The facts a policy is evaluated against, recorded in the audit log for replay.

use super::typed::{ListField, SourceAttribute, StrField};
use crate::model::Intent;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Properties of the key that signed the request (`principal.*` in policies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Key id.
    pub kid: String,
    /// Tenant the key is registered for.
    pub tenant: String,
}

/// One server-side source reading, as of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceReading {
    /// Seconds since the source last reported.
    pub age_sec: Decimal,
    /// Seconds the source's data lags behind real time.
    pub lag_sec: Decimal,
    /// The source's health score.
    pub health_score: Decimal,
}

/// Everything one evaluation reads. Sources and budgets are server-side state, never taken
/// from the agent's intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// The signed intent.
    #[serde(with = "shared_intent")]
    pub intent: Arc<Intent>,
    /// The key that signed it.
    pub key: Principal,
    /// Source readings by source name.
    pub sources: BTreeMap<String, SourceReading>,
    /// Remaining budget by budget code.
    pub budgets: BTreeMap<String, Decimal>,
}

/// Why an expression could not be evaluated. Any of these makes the condition fail closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("parameter `action.params.{0}` is missing")]
    MissingParam(String),
    #[error("parameter `action.params.{name}` is not a number: {detail}")]
    ParamNotNumber { name: String, detail: String },
    #[error("parameter `action.params.{0}` is not a string")]
    ParamNotString(String),
    #[error("uncertainty budget for `{name}` is invalid: {detail}")]
    InvalidUncertainty { name: String, detail: String },
    #[error("source `{0}` has no reading")]
    MissingSource(String),
    #[error("budget `{0}` is not known")]
    MissingBudget(String),
    #[error("arithmetic overflow in exact decimals")]
    Overflow,
}

/// Reads a JSON value as an exact decimal: integers, or decimal strings such as `"123.45"`.
pub fn decimal_from_json(value: &Value) -> Result<Decimal, String> {
    match value {
        Value::Number(number) => {
            if let Some(integer) = number.as_i64() {
                return Ok(Decimal::from(integer));
            }
            if let Some(integer) = number.as_u64() {
                return Ok(Decimal::from(integer));
            }
            Err(format!("`{number}` is a float; send decimals as strings"))
        }
        Value::String(text) => crate::canonical::parse_decimal(text)
            .map_err(|error| format!("`{text}` is not an exact decimal: {error}")),
        other => Err(format!("expected an integer or a decimal string, found `{other}`")),
    }
}

impl Facts {
    /// Returns the exact value of `action.params.NAME`.
    pub fn param_number(&self, name: &str) -> Result<Decimal, EvalError> {
        let value = self
            .intent
            .operation
            .params
            .get(name)
            .ok_or_else(|| EvalError::MissingParam(name.to_owned()))?;
        decimal_from_json(value).map_err(|detail| EvalError::ParamNotNumber {
            name: name.to_owned(),
            detail,
        })
    }

    /// Returns `action.params.NAME` as a string.
    pub fn param_text(&self, name: &str) -> Result<&str, EvalError> {
        match self.intent.operation.params.get(name) {
            None => Err(EvalError::MissingParam(name.to_owned())),
            Some(Value::String(text)) => Ok(text),
            Some(_) => Err(EvalError::ParamNotString(name.to_owned())),
        }
    }

    /// Returns the half-width of the interval `action.params.NAME` may lie in, from the
    /// intent's `uncertainty_budget`, or None when the value is exact.
    pub fn param_uncertainty(&self, name: &str) -> Result<Option<Decimal>, EvalError> {
        let Some(text) = self.intent.data_requirements.uncertainty_budget.get(name) else {
            return Ok(None);
        };
        let invalid = |detail: String| EvalError::InvalidUncertainty {
            name: name.to_owned(),
            detail,
        };
        let width = crate::canonical::parse_decimal(text).map_err(|error| invalid(format!("`{text}`: {error}")))?;
        if width < Decimal::ZERO {
            return Err(invalid(format!("`{text}` is negative")));
        }
        Ok(Some(width))
    }

    /// Returns a source attribute.
    pub fn source(&self, name: &str, attribute: SourceAttribute) -> Result<Decimal, EvalError> {
        let reading = self
            .sources
            .get(name)
            .ok_or_else(|| EvalError::MissingSource(name.to_owned()))?;
        Ok(match attribute {
            SourceAttribute::AgeSec => reading.age_sec,
            SourceAttribute::LagSec => reading.lag_sec,
            SourceAttribute::HealthScore => reading.health_score,
        })
    }

    /// Returns the remaining budget for `code`.
    pub fn budget(&self, code: &str) -> Result<Decimal, EvalError> {
        self.budgets
            .get(code)
            .copied()
            .ok_or_else(|| EvalError::MissingBudget(code.to_owned()))
    }

    /// Returns `batch.size`, the number of object ids.
    pub fn batch_size(&self) -> Decimal {
        Decimal::from(self.intent.batch_size())
    }

    /// Returns a string field.
    pub fn text(&self, field: StrField) -> &str {
        let intent = &self.intent;
        match field {
            StrField::ActionName => &intent.operation.name,
            StrField::ActionScope => intent.target.scope.as_str(),
            StrField::ActorId => &intent.actor.id,
            StrField::ActorTenant => &intent.actor.tenant,
            StrField::TargetDomain => &intent.target.domain,
            StrField::PrincipalKid => &self.key.kid,
            StrField::PrincipalTenant => &self.key.tenant,
        }
    }

    /// Returns a list field.
    pub fn list(&self, field: ListField) -> &[String] {
        let intent = &self.intent;
        match field {
            ListField::ActorRoles => &intent.actor.roles,
            ListField::TargetObjectTypes => &intent.target.object_types,
            ListField::TargetObjectIds => &intent.target.object_ids,
        }
    }
}

/// Serializes the shared intent as a plain intent, without serde's `rc` feature.
mod shared_intent {
    use crate::model::Intent;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::sync::Arc;

    pub fn serialize<S: Serializer>(intent: &Arc<Intent>, serializer: S) -> Result<S::Ok, S::Error> {
        intent.as_ref().serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Arc<Intent>, D::Error> {
        Intent::deserialize(deserializer).map(Arc::new)
    }
}
