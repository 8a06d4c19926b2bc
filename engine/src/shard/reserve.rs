//! Budget reads, reservations and releases outside an admission, for actions that run later
//! than their decision (approved escrows). They follow the rules of a completion: every
//! reservation fits or none is applied, and each applied amount is journaled as a
//! [`StateChange::BudgetSpent`] so it survives a restart.

use rust_decimal::Decimal;

use super::budgets::{AppliedSpend, BudgetRemaining, ReserveError};
use super::messages::{BudgetReservation, ReserveOutcome};
use super::recovery::{RecoveredSpend, StateChange};
use super::state::ShardState;

impl ShardState {
    /// Returns the remaining amount of each of `codes` for `actor_id` at `now_ms`; a code the
    /// tenant does not define reads as None, so a policy that needs it fails closed.
    pub fn read_budgets(&self, tenant: &str, actor_id: &str, codes: &[String], now_ms: i64) -> Vec<BudgetRemaining> {
        let budgets = self.tenants.get(tenant).map(|state| &state.budgets);
        codes
            .iter()
            .map(|code| BudgetRemaining {
                code: code.clone(),
                remaining: budgets.and_then(|budgets| budgets.remaining(code, actor_id, now_ms)),
            })
            .collect()
    }

    /// Reserves every amount of `reservations` for `actor_id`, or none when one does not fit.
    pub fn reserve_budgets(
        &mut self,
        tenant: &str,
        actor_id: &str,
        reservations: &[BudgetReservation],
        now_ms: i64,
    ) -> ReserveOutcome {
        if reservations.is_empty() {
            return ReserveOutcome::Reserved;
        }
        let Some(state) = self.tenants.get_mut(tenant) else {
            let code = reservations
                .first()
                .map(|reservation| reservation.code.clone())
                .unwrap_or_default();
            return ReserveOutcome::InvalidReservation {
                detail: format!("budget `{code}` is not defined for this tenant"),
                code,
            };
        };

        match state.budgets.reserve(reservations, actor_id, now_ms) {
            Ok(applied) => {
                self.record_spends(tenant, applied, now_ms);
                ReserveOutcome::Reserved
            }
            Err(ReserveError::Exhausted { code, remaining }) => {
                ReserveOutcome::BudgetExhausted { code, remaining }
            }
            Err(ReserveError::Invalid { code, detail }) => {
                ReserveOutcome::InvalidReservation { code, detail }
            }
        }
    }

    /// Gives back `reservations` made at `reserved_at_ms`, within that period only and never
    /// more than is spent. Returns the total given back.
    pub fn release_budgets(
        &mut self,
        tenant: &str,
        actor_id: &str,
        reservations: &[BudgetReservation],
        reserved_at_ms: i64,
        now_ms: i64,
    ) -> Decimal {
        let Some(state) = self.tenants.get_mut(tenant) else {
            return Decimal::ZERO;
        };
        let released = state
            .budgets
            .release(reservations, actor_id, reserved_at_ms, now_ms);
        let total = released.iter().map(|spend| -spend.amount).sum();
        self.record_spends(tenant, released, now_ms);
        total
    }

    fn record_spends(&self, tenant: &str, spends: Vec<AppliedSpend>, now_ms: i64) {
        for spend in spends {
            self.record(|| {
                StateChange::BudgetSpent(RecoveredSpend {
                    tenant: tenant.to_owned(),
                    code: spend.code,
                    actor_id: spend.actor_id,
                    spent_at_ms: now_ms,
                    amount: spend.amount,
                })
            });
        }
    }
}
