//! Completion of an admission: DEFER releases what it consumed, a final verdict stores the
//! idempotency entry and, for ALLOW, reserves the budgets all at once.

use crate::model::{DecisionResponse, Verdict};
use std::sync::Arc;

use super::budgets::{BudgetDefinition, BudgetError, ReserveError};
use super::messages::{Admission, BudgetReservation, CompleteOutcome};
use super::recovery::{RecoveredBudget, RecoveredIdempotency, RecoveredSpend, StateChange};
use super::state::{PendingAdmission, ShardState};
use super::tenant::TenantState;

impl ShardState {
    /// Records the final response of an admission. `reservations` are applied only when the
    /// verdict is ALLOW; for other verdicts they are ignored.
    pub fn complete(
        &mut self,
        admission: &Admission,
        response: DecisionResponse,
        reservations: &[BudgetReservation],
        now_ms: i64,
    ) -> CompleteOutcome {
        self.clock.advance_to(now_ms);
        if admission.shard_run != self.run || admission.shard_index != self.shard_index {
            return CompleteOutcome::UnknownAdmission;
        }
        let Some(pending) = self.pending.get(&admission.admission_id).cloned() else {
            return CompleteOutcome::UnknownAdmission;
        };

        if response.verdict == Verdict::Defer {
            self.release(admission.admission_id, &pending);
            return CompleteOutcome::Recorded;
        }

        let ttl_ms = i64::try_from(self.config.idempotency_ttl_ms).unwrap_or(i64::MAX);
        let Some(tenant) = self.tenants.get_mut(&pending.tenant) else {
            return CompleteOutcome::Unavailable {
                detail: format!("tenant `{}` of a pending admission has no state", pending.tenant),
            };
        };

        let mut applied = Vec::new();
        if response.verdict == Verdict::Allow {
            match tenant.budgets.reserve(reservations, &pending.actor_id, now_ms) {
                Ok(spends) => applied = spends,
                Err(ReserveError::Exhausted { code, remaining }) => {
                    return CompleteOutcome::BudgetExhausted { code, remaining };
                }
                Err(ReserveError::Invalid { code, detail }) => {
                    return CompleteOutcome::InvalidReservation { code, detail };
                }
            }
        }

        let expires_at_ms = now_ms.saturating_add(ttl_ms);
        tenant.idempotency.decide(
            pending.idempotency_entry_key.clone(),
            pending.intent_hash,
            response.clone(),
            expires_at_ms,
        );
        tenant.pending = tenant.pending.saturating_sub(1);
        self.pending.remove(&admission.admission_id);
        self.idempotency_expiries.push(
            expires_at_ms,
            pending.tenant.clone(),
            pending.idempotency_entry_key.clone(),
        );

        for spend in applied {
            self.record(|| {
                StateChange::BudgetSpent(RecoveredSpend {
                    tenant: pending.tenant.to_string(),
                    code: spend.code,
                    actor_id: spend.actor_id,
                    spent_at_ms: now_ms,
                    amount: spend.amount,
                })
            });
        }
        self.record(|| {
            StateChange::IdempotencyDecided(Box::new(RecoveredIdempotency {
                tenant: pending.tenant.to_string(),
                actor_id: pending.actor_id.clone(),
                idempotency_key: pending.idempotency_key.clone(),
                intent_hash: pending.intent_hash,
                response,
                decided_at_ms: now_ms,
            }))
        });
        CompleteOutcome::Recorded
    }

    /// Undoes a deferred admission: the nonce is released and the sequence mark restored, so
    /// the same certificate can be retried.
    fn release(&mut self, admission_id: u64, pending: &PendingAdmission) {
        self.pending.remove(&admission_id);
        let Some(tenant) = self.tenants.get_mut(&pending.tenant) else {
            return;
        };
        tenant.pending = tenant.pending.saturating_sub(1);
        if tenant.nonces.remove_if_expiry(&pending.nonce_key, pending.expires_at_ms) {
            self.nonces_live = self.nonces_live.saturating_sub(1);
        }
        tenant
            .idempotency
            .release(&pending.idempotency_entry_key, admission_id);

        let mut restored_mark = None;
        if let Some((stream_id, raised, previous)) = &pending.sequence {
            tenant.sequences.restore(stream_id, *raised, *previous);
            restored_mark = Some((stream_id.clone(), tenant.sequences.mark(stream_id)));
        }

        self.record(|| StateChange::NonceReleased {
            tenant: pending.tenant.to_string(),
            nonce: pending.nonce.clone(),
        });
        if let Some((stream_id, value)) = restored_mark {
            self.record(|| StateChange::SequenceSet {
                tenant: pending.tenant.to_string(),
                stream_id,
                value,
            });
        }
    }

    /// Adds or replaces a budget definition of `tenant`.
    pub fn set_budget(
        &mut self,
        tenant: &str,
        definition: BudgetDefinition,
        now_ms: i64,
    ) -> Result<(), BudgetError> {
        definition.validate()?;
        let key = self.budget_tenant_key(tenant, now_ms)?;
        let max = self.config.budgets_per_tenant_max;
        if let Some(state) = self.tenants.get_mut(&key) {
            state.budgets.define(definition.clone(), max)?;
        }
        self.record(|| {
            StateChange::BudgetDefined(RecoveredBudget {
                tenant: tenant.to_owned(),
                definition,
            })
        });
        Ok(())
    }

    /// Removes a budget definition of `tenant` and its spends; returns whether it existed.
    pub fn remove_budget(&mut self, tenant: &str, code: &str) -> bool {
        let removed = self
            .tenants
            .get_mut(tenant)
            .is_some_and(|state| state.budgets.remove(code));
        if removed {
            self.record(|| StateChange::BudgetRemoved {
                tenant: tenant.to_owned(),
                code: code.to_owned(),
            });
        }
        removed
    }

    fn budget_tenant_key(&mut self, tenant: &str, now_ms: i64) -> Result<Arc<str>, BudgetError> {
        if let Some((key, _)) = self.tenants.get_key_value(tenant) {
            return Ok(key.clone());
        }
        if self.tenants.len() >= self.config.tenants_per_shard_max {
            return Err(BudgetError::Unavailable {
                detail: format!(
                    "shard {} holds {} tenants, the configured maximum (tenants_per_shard_max)",
                    self.shard_index,
                    self.tenants.len()
                ),
            });
        }
        let key: Arc<str> = Arc::from(tenant);
        let state = TenantState::new(self.tenant_per_minute(), &self.clock, now_ms);
        self.tenants.insert(key.clone(), state);
        Ok(key)
    }
}
