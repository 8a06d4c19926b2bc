//! Server-side budgets: definitions per tenant and the amounts spent in the current period.

use rust_decimal::Decimal;
use std::collections::HashMap;
use thiserror::Error;

use super::messages::BudgetReservation;

/// Maximum length of a budget code, in bytes.
pub const BUDGET_CODE_BYTES_MAX: usize = 64;

/// Scope of a budget: the whole tenant or each actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BudgetScope {
    /// One amount for the whole tenant.
    Tenant,
    /// One amount per actor of the tenant.
    Actor,
}

/// A budget: at most `limit` may be spent per period of `period_ms`. Periods are aligned to
/// the Unix epoch: period number `now_ms / period_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetDefinition {
    /// Code the policy names in `budget.remaining("CODE")`.
    pub code: String,
    /// Tenant-wide or per actor.
    pub scope: BudgetScope,
    /// Amount available per period; not negative.
    pub limit: Decimal,
    /// Length of a period, in milliseconds; at least 1.
    pub period_ms: u64,
}

/// The remaining amount of one budget, as read at admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetRemaining {
    /// Budget code the caller asked for.
    pub code: String,
    /// Limit minus the amount spent in the current period; None when the tenant defines no
    /// budget with this code, so the policy fails closed.
    pub remaining: Option<Decimal>,
}

/// An invalid budget definition.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BudgetError {
    /// The code is empty or longer than [`BUDGET_CODE_BYTES_MAX`].
    #[error("budget code `{code}` must be 1 to {BUDGET_CODE_BYTES_MAX} bytes long")]
    InvalidCode {
        /// The code given.
        code: String,
    },
    /// The limit is negative.
    #[error("budget `{code}` has a negative limit {limit}; limits must be zero or more")]
    NegativeLimit {
        /// Budget code.
        code: String,
        /// The limit given.
        limit: Decimal,
    },
    /// The period is zero.
    #[error("budget `{code}` has a period of 0 ms; the period must be at least 1 ms")]
    ZeroPeriod {
        /// Budget code.
        code: String,
    },
    /// The tenant already has the maximum number of budgets.
    #[error("tenant already has {max} budgets, the configured maximum; remove one first")]
    TooMany {
        /// The cap, `budgets_per_tenant_max`.
        max: usize,
    },
    /// The shard is unavailable (restarting, recovering or failed).
    #[error("shard unavailable: {detail}")]
    Unavailable {
        /// What failed.
        detail: String,
    },
}

impl BudgetDefinition {
    /// Checks the code, limit and period.
    pub fn validate(&self) -> Result<(), BudgetError> {
        if self.code.is_empty() || self.code.len() > BUDGET_CODE_BYTES_MAX {
            return Err(BudgetError::InvalidCode {
                code: self.code.clone(),
            });
        }
        if self.limit.is_sign_negative() && !self.limit.is_zero() {
            return Err(BudgetError::NegativeLimit {
                code: self.code.clone(),
                limit: self.limit,
            });
        }
        if self.period_ms == 0 {
            return Err(BudgetError::ZeroPeriod {
                code: self.code.clone(),
            });
        }
        Ok(())
    }

    /// Number of the period containing `now_ms`.
    pub fn period_index(&self, now_ms: i64) -> i64 {
        let period_ms = i64::try_from(self.period_ms).unwrap_or(i64::MAX);
        now_ms.div_euclid(period_ms)
    }
}

/// Whose spend an amount is: the budget code and, for actor budgets, the actor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SpendKey {
    code: String,
    actor_id: Option<String>,
}

/// The amount spent in one period.
#[derive(Debug, Clone, Copy)]
struct Spend {
    period_index: i64,
    spent: Decimal,
}

/// Failure to apply a set of reservations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveError {
    /// A reservation does not fit in what remains.
    Exhausted {
        /// Budget code.
        code: String,
        /// Amount remaining in the current period.
        remaining: Decimal,
    },
    /// A reservation is malformed.
    Invalid {
        /// Budget code.
        code: String,
        /// Description of the problem.
        detail: String,
    },
}

/// One spend that was applied, to be recorded for recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedSpend {
    /// Budget code.
    pub code: String,
    /// The actor charged, for actor budgets.
    pub actor_id: Option<String>,
    /// Amount spent; negative when a reservation was given back.
    pub amount: Decimal,
}

/// The budgets of one tenant.
#[derive(Debug, Default)]
pub struct TenantBudgets {
    definitions: HashMap<String, BudgetDefinition>,
    spends: HashMap<SpendKey, Spend>,
}

impl TenantBudgets {
    /// Adds or replaces a definition. Amounts already spent in the current period still count.
    pub fn define(&mut self, definition: BudgetDefinition, max: usize) -> Result<(), BudgetError> {
        definition.validate()?;
        if !self.definitions.contains_key(&definition.code) && self.definitions.len() >= max {
            return Err(BudgetError::TooMany { max });
        }
        self.definitions.insert(definition.code.clone(), definition);
        Ok(())
    }

    /// Removes a definition and its spends; returns whether it existed.
    pub fn remove(&mut self, code: &str) -> bool {
        self.spends.retain(|key, _| key.code != code);
        self.definitions.remove(code).is_some()
    }

    /// Remaining amount of `code` for `actor_id` at `now_ms`; None when the code is not defined.
    pub fn remaining(&self, code: &str, actor_id: &str, now_ms: i64) -> Option<Decimal> {
        let definition = self.definitions.get(code)?;
        let key = spend_key(definition, actor_id);
        let spent = self.spent_in_period(definition, &key, now_ms);
        Some(definition.limit - spent)
    }

    /// Applies every reservation or none. Reservations of the same code add up, so two
    /// reservations in one completion cannot each fit on their own and overspend together.
    pub fn reserve(
        &mut self,
        reservations: &[BudgetReservation],
        actor_id: &str,
        now_ms: i64,
    ) -> Result<Vec<AppliedSpend>, ReserveError> {
        let mut planned: Vec<(SpendKey, i64, Decimal)> = Vec::with_capacity(reservations.len());

        for reservation in reservations {
            let definition = self.checked_definition(reservation)?;
            let key = spend_key(definition, actor_id);
            let period_index = definition.period_index(now_ms);
            let already_planned: Decimal = planned
                .iter()
                .filter(|(planned_key, _, _)| *planned_key == key)
                .map(|(_, _, amount)| *amount)
                .sum();
            let spent = self.spent_in_period(definition, &key, now_ms) + already_planned;
            let remaining = definition.limit - spent;
            let changed = reservation
                .expected_remaining
                .is_some_and(|expected| expected != remaining);
            if changed || reservation.amount > remaining {
                return Err(ReserveError::Exhausted {
                    code: reservation.code.clone(),
                    remaining,
                });
            }
            planned.push((key, period_index, reservation.amount));
        }

        let mut applied = Vec::with_capacity(planned.len());
        for (key, period_index, amount) in planned {
            self.add_spend(key.clone(), period_index, amount);
            applied.push(AppliedSpend {
                code: key.code,
                actor_id: key.actor_id,
                amount,
            });
        }
        Ok(applied)
    }

    /// Gives back amounts reserved at `reserved_at_ms`, each at most what the period still
    /// counts as spent, so a release never raises a budget above its limit. Nothing is given
    /// back once that period has ended, because the new period starts from zero anyway.
    /// Returns what was given back, as negative spends to record.
    pub fn release(
        &mut self,
        reservations: &[BudgetReservation],
        actor_id: &str,
        reserved_at_ms: i64,
        now_ms: i64,
    ) -> Vec<AppliedSpend> {
        let mut released = Vec::with_capacity(reservations.len());
        for reservation in reservations {
            let Some(definition) = self.definitions.get(&reservation.code) else {
                continue;
            };
            let period_index = definition.period_index(now_ms);
            if definition.period_index(reserved_at_ms) != period_index {
                continue;
            }
            let key = spend_key(definition, actor_id);
            let amount = reservation
                .amount
                .min(self.spent_in_period(definition, &key, now_ms));
            if amount <= Decimal::ZERO {
                continue;
            }
            self.add_spend(key.clone(), period_index, -amount);
            released.push(AppliedSpend {
                code: key.code,
                actor_id: key.actor_id,
                amount: -amount,
            });
        }
        released
    }

    /// Adds a recovered spend made at `spent_at_ms`; spends of undefined codes or of an
    /// earlier period than `now_ms`'s are ignored. Returns whether it was kept.
    pub fn restore_spend(
        &mut self,
        code: &str,
        actor_id: Option<&str>,
        spent_at_ms: i64,
        amount: Decimal,
        now_ms: i64,
    ) -> bool {
        let Some(definition) = self.definitions.get(code) else {
            return false;
        };
        let period_index = definition.period_index(spent_at_ms);
        if period_index != definition.period_index(now_ms) {
            return false;
        }
        let key = SpendKey {
            code: code.to_owned(),
            actor_id: match definition.scope {
                BudgetScope::Tenant => None,
                BudgetScope::Actor => actor_id.map(str::to_owned),
            },
        };
        self.add_spend(key, period_index, amount);
        true
    }

    /// Drops spends of past periods and of removed definitions.
    pub fn evict_stale(&mut self, now_ms: i64) {
        let definitions = &self.definitions;
        self.spends.retain(|key, spend| {
            definitions
                .get(&key.code)
                .is_some_and(|definition| definition.period_index(now_ms) == spend.period_index)
        });
    }

    /// True when nothing is defined or spent.
    pub fn is_empty(&self) -> bool {
        self.definitions.is_empty() && self.spends.is_empty()
    }

    fn checked_definition(
        &self,
        reservation: &BudgetReservation,
    ) -> Result<&BudgetDefinition, ReserveError> {
        let invalid = |detail: String| ReserveError::Invalid {
            code: reservation.code.clone(),
            detail,
        };
        let definition = self
            .definitions
            .get(&reservation.code)
            .ok_or_else(|| invalid(format!("budget `{}` is not defined for this tenant", reservation.code)))?;
        if definition.scope != reservation.scope {
            return Err(invalid(format!(
                "budget `{}` has scope {:?} but the reservation names {:?}",
                reservation.code, definition.scope, reservation.scope
            )));
        }
        if reservation.amount.is_sign_negative() && !reservation.amount.is_zero() {
            return Err(invalid(format!(
                "reservation amount {} is negative",
                reservation.amount
            )));
        }
        Ok(definition)
    }

    fn spent_in_period(&self, definition: &BudgetDefinition, key: &SpendKey, now_ms: i64) -> Decimal {
        match self.spends.get(key) {
            Some(spend) if spend.period_index == definition.period_index(now_ms) => spend.spent,
            _ => Decimal::ZERO,
        }
    }

    fn add_spend(&mut self, key: SpendKey, period_index: i64, amount: Decimal) {
        let spend = self.spends.entry(key).or_insert(Spend {
            period_index,
            spent: Decimal::ZERO,
        });
        if spend.period_index != period_index {
            *spend = Spend {
                period_index,
                spent: Decimal::ZERO,
            };
        }
        spend.spent = spend.spent.saturating_add(amount);
    }
}

fn spend_key(definition: &BudgetDefinition, actor_id: &str) -> SpendKey {
    SpendKey {
        code: definition.code.clone(),
        actor_id: match definition.scope {
            BudgetScope::Tenant => None,
            BudgetScope::Actor => Some(actor_id.to_owned()),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ap_budget(limit: i64) -> BudgetDefinition {
        BudgetDefinition {
            code: "AP".to_owned(),
            scope: BudgetScope::Tenant,
            limit: Decimal::from(limit),
            period_ms: 1_000,
        }
    }

    fn reserve(amount: i64) -> BudgetReservation {
        BudgetReservation {
            code: "AP".to_owned(),
            scope: BudgetScope::Tenant,
            amount: Decimal::from(amount),
            expected_remaining: None,
        }
    }

    #[test]
    fn reservations_in_one_call_add_up() {
        let mut budgets = TenantBudgets::default();
        budgets.define(ap_budget(100), 8).unwrap();

        let result = budgets.reserve(&[reserve(60), reserve(60)], "a", 10);
        assert_eq!(
            result,
            Err(ReserveError::Exhausted { code: "AP".to_owned(), remaining: Decimal::from(40) })
        );
        assert_eq!(budgets.remaining("AP", "a", 10), Some(Decimal::from(100)));
    }

    #[test]
    fn new_period_resets_spent() {
        let mut budgets = TenantBudgets::default();
        budgets.define(ap_budget(100), 8).unwrap();
        budgets.reserve(&[reserve(70)], "a", 10).unwrap();
        assert_eq!(budgets.remaining("AP", "a", 999), Some(Decimal::from(30)));
        assert_eq!(budgets.remaining("AP", "a", 1_000), Some(Decimal::from(100)));
    }

    #[test]
    fn release_gives_back_within_the_period_only() {
        let mut budgets = TenantBudgets::default();
        budgets.define(ap_budget(100), 8).unwrap();
        budgets.reserve(&[reserve(70)], "a", 10).unwrap();

        let released = budgets.release(&[reserve(70)], "a", 10, 20);
        assert_eq!(released.len(), 1);
        assert_eq!(released[0].amount, Decimal::from(-70));
        assert_eq!(budgets.remaining("AP", "a", 20), Some(Decimal::from(100)));

        // A second release finds nothing spent, so the limit is never exceeded.
        assert!(budgets.release(&[reserve(70)], "a", 10, 20).is_empty());
        assert_eq!(budgets.remaining("AP", "a", 20), Some(Decimal::from(100)));

        // A reservation of an earlier period is not given back in the next one.
        budgets.reserve(&[reserve(40)], "a", 1_000).unwrap();
        assert!(budgets.release(&[reserve(40)], "a", 999, 1_000).is_empty());
        assert_eq!(budgets.remaining("AP", "a", 1_000), Some(Decimal::from(60)));
    }

    #[test]
    fn invalid_definitions_rejected() {
        let mut budget = ap_budget(-1);
        assert!(matches!(budget.validate(), Err(BudgetError::NegativeLimit { .. })));
        budget = ap_budget(1);
        budget.period_ms = 0;
        assert!(matches!(budget.validate(), Err(BudgetError::ZeroPeriod { .. })));
        budget = ap_budget(1);
        budget.code = String::new();
        assert!(matches!(budget.validate(), Err(BudgetError::InvalidCode { .. })));
    }
}
