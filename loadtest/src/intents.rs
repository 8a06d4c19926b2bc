//! The intents behind each scenario, written against the demo finance policy.
//!
//! The answer each one should get is in [`crate::expectations`]; change both together.
//! Money travels as exact decimal strings, as the protocol requires.

use crate::mix::Scenario;
use axiom_engine::model::{Actor, DataRequirements, Intent, IntentTime, Operation, RollbackPlan, Scope, Target};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Policy domain of the demo finance policy.
pub const DOMAIN: &str = "finance";

/// Role the demo policy requires for payments.
pub const OPERATOR_ROLE: &str = "FinanceOperator";

/// Source the demo server keeps fresh and payments depend on.
pub const FRESH_SOURCE: &str = "bank";

/// Source that no feed refreshes, so a request that needs it can never be allowed.
pub const UNREFRESHED_SOURCE: &str = "loadtest_never_refreshed";

/// Payment of the allow, replay and forged scenarios: one cent, so that the demo tenant's
/// daily accounts-payable budget of 5000.00 lasts for 500,000 allowed requests.
const ALLOW_AMOUNT: &str = "0.01";

/// Payment and uncertainty of the uncertain scenario: the interval -2500.00 to 7500.00 holds
/// amounts that fit the demo budget (at most 5000.00 remaining) and amounts that do not, so
/// the Budget axiom is neither proved nor violated whatever remains of the budget.
const UNCERTAIN_AMOUNT: &str = "2500.00";
const UNCERTAIN_MARGIN: &str = "5000.00";

/// Objects in the deny scenario's batch: above the demo policy's invariant of at most 100.
const DENY_BATCH_SIZE: usize = 101;

/// Oldest accepted age of the required sources, in seconds.
const STALENESS_SEC_MAX: u64 = 60;

/// Who signs: the actor a key may sign for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorIdentity {
    /// Tenant id.
    pub tenant: String,
    /// Actor id within the tenant.
    pub actor: String,
}

/// Builds the intent of one scenario.
///
/// `unique` makes the intent id and idempotency key unique within the run; `now_ms` is the
/// request time in Unix milliseconds. Replay and forged requests start from an allow intent:
/// what makes them special happens to their certificate.
pub fn build(scenario: Scenario, identity: &ActorIdentity, unique: &str, now_ms: i64) -> Intent {
    let payment = |amount: &str| {
        let mut params = Map::new();
        params.insert("amount".into(), Value::from(amount));
        params.insert("currency".into(), Value::from("EUR"));
        params.insert("invoice_id".into(), Value::from(format!("inv-{unique}")));
        params
    };

    let mut intent = Intent {
        intent_id: format!("it-{unique}"),
        idempotency_key: format!("idem-{unique}"),
        actor: Actor {
            id: identity.actor.clone(),
            tenant: identity.tenant.clone(),
            roles: vec![OPERATOR_ROLE.to_owned()],
        },
        target: Target {
            domain: DOMAIN.to_owned(),
            object_types: vec!["invoice".to_owned()],
            object_ids: vec![format!("inv-{unique}")],
            scope: Scope::Single,
        },
        operation: Operation {
            name: "pay_invoice".to_owned(),
            params: payment(ALLOW_AMOUNT),
        },
        data_requirements: DataRequirements {
            required_sources: vec![FRESH_SOURCE.to_owned()],
            max_staleness_sec: STALENESS_SEC_MAX,
            uncertainty_budget: BTreeMap::new(),
        },
        time: IntentTime { request_time: now_ms },
    };

    match scenario {
        // The escrow scenario differs in its certificate: it carries no rollback plan.
        Scenario::Allow | Scenario::Replay | Scenario::Forged | Scenario::Escrow => {}
        Scenario::Deny => {
            intent.target.scope = Scope::Batch;
            intent.target.object_ids = (0..DENY_BATCH_SIZE).map(|index| format!("inv-{unique}-{index}")).collect();
        }
        Scenario::Stale => {
            intent.operation.name = "refund".to_owned();
            intent.data_requirements.required_sources = vec![UNREFRESHED_SOURCE.to_owned()];
        }
        Scenario::Uncertain => {
            intent.operation.params = payment(UNCERTAIN_AMOUNT);
            intent
                .data_requirements
                .uncertainty_budget
                .insert("amount".to_owned(), UNCERTAIN_MARGIN.to_owned());
        }
    }
    intent
}

/// Returns the rollback plan of a scenario's certificate. Every scenario but escrow carries
/// one, so that an allowed payment is not escrowed for lack of it; the escrow scenario
/// leaves it out to get ESCROW `ROLLBACK_REQUIRED`.
pub fn rollback_plan(scenario: Scenario) -> Option<RollbackPlan> {
    (scenario != Scenario::Escrow).then(compensating_plan)
}

fn compensating_plan() -> RollbackPlan {
    RollbackPlan {
        plan_type: "compensate".to_owned(),
        steps: vec![json!({"operation": "reverse_payment"})],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> ActorIdentity {
        ActorIdentity { tenant: "t1".into(), actor: "a1".into() }
    }

    #[test]
    fn scenarios_differ_where_policy_looks() {
        let allow = build(Scenario::Allow, &identity(), "1", 0);
        let deny = build(Scenario::Deny, &identity(), "2", 0);
        let stale = build(Scenario::Stale, &identity(), "3", 0);
        let uncertain = build(Scenario::Uncertain, &identity(), "4", 0);

        assert_eq!(allow.batch_size(), 1);
        assert!(deny.batch_size() > 100);
        assert_eq!(deny.target.scope, Scope::Batch);
        assert_eq!(stale.data_requirements.required_sources, [UNREFRESHED_SOURCE]);
        assert_eq!(uncertain.data_requirements.uncertainty_budget.get("amount").map(String::as_str), Some(UNCERTAIN_MARGIN));
        assert_ne!(allow.idempotency_key, deny.idempotency_key);
    }

    #[test]
    fn amounts_travel_as_strings() {
        for scenario in Scenario::ALL {
            let text = serde_json::to_string(&build(scenario, &identity(), "x", 1)).unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            assert!(value["operation"]["params"]["amount"].is_string(), "{scenario}: amount must be a string");
        }
    }
}
