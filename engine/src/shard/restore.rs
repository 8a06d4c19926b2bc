//! Loading recovered state into an empty shard.

use std::sync::Arc;

use super::nonce_window::NonceKey;
use super::recovery::RecoveredState;
use super::router::shard_index_for;
use super::state::ShardState;
use super::tenant::TenantState;

/// What a restore kept and dropped, for the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Nonces restored.
    pub nonces: usize,
    /// Sequence marks restored.
    pub sequences: usize,
    /// Budget definitions restored.
    pub budgets: usize,
    /// Spends of the current period restored.
    pub spends: usize,
    /// Idempotency entries restored.
    pub idempotency: usize,
    /// Entries dropped: expired, of another shard's tenant, or of an undefined budget.
    pub dropped: usize,
}

impl ShardState {
    /// Loads `recovered` into this shard at `now_ms`. Caps do not apply here: forgetting a
    /// recovered nonce or mark would reopen a replay, so every live entry is kept.
    pub fn restore(&mut self, recovered: RecoveredState, shard_count: usize, now_ms: i64) -> RestoreSummary {
        self.clock.advance_to(now_ms);
        let skew_ms = self.clock_skew_ms();
        let ttl_ms = i64::try_from(self.config.idempotency_ttl_ms).unwrap_or(i64::MAX);
        let mut summary = RestoreSummary::default();
        let shard_index = self.shard_index;
        let own = move |tenant: &str| shard_index_for(tenant, shard_count) == shard_index;

        for budget in recovered.budgets {
            if !own(&budget.tenant) {
                summary.dropped += 1;
                continue;
            }
            let tenant = self.restored_tenant(&budget.tenant, now_ms);
            let max = usize::MAX;
            if self.tenant_mut(&tenant).budgets.define(budget.definition, max).is_ok() {
                summary.budgets += 1;
            } else {
                summary.dropped += 1;
            }
        }

        for spend in recovered.budget_spends {
            let kept = own(&spend.tenant) && {
                let tenant = self.restored_tenant(&spend.tenant, now_ms);
                self.tenant_mut(&tenant).budgets.restore_spend(
                    &spend.code,
                    spend.actor_id.as_deref(),
                    spend.spent_at_ms,
                    spend.amount,
                    now_ms,
                )
            };
            if kept {
                summary.spends += 1;
            } else {
                summary.dropped += 1;
            }
        }

        for nonce in recovered.nonces {
            if !own(&nonce.tenant) || nonce.expires_at_ms.saturating_add(skew_ms) < now_ms {
                summary.dropped += 1;
                continue;
            }
            let tenant = self.restored_tenant(&nonce.tenant, now_ms);
            let key = NonceKey::of(&nonce.nonce);
            if self.tenant_mut(&tenant).nonces.insert(key, nonce.expires_at_ms) {
                self.nonces_live += 1;
            }
            self.nonce_expiries.push(nonce.expires_at_ms, tenant, key);
            summary.nonces += 1;
        }

        for sequence in recovered.sequences {
            if !own(&sequence.tenant) {
                summary.dropped += 1;
                continue;
            }
            let tenant = self.restored_tenant(&sequence.tenant, now_ms);
            self.tenant_mut(&tenant)
                .sequences
                .raise(&sequence.stream_id, sequence.value);
            summary.sequences += 1;
        }

        for entry in recovered.idempotency {
            let expires_at_ms = entry.decided_at_ms.saturating_add(ttl_ms);
            if !own(&entry.tenant) || expires_at_ms < now_ms {
                summary.dropped += 1;
                continue;
            }
            let tenant = self.restored_tenant(&entry.tenant, now_ms);
            let key = super::idempotency::entry_key(&entry.actor_id, &entry.idempotency_key);
            self.tenant_mut(&tenant).idempotency.decide(
                key.clone(),
                entry.intent_hash,
                entry.response,
                expires_at_ms,
            );
            self.idempotency_expiries.push(expires_at_ms, tenant, key);
            summary.idempotency += 1;
        }

        summary
    }

    fn restored_tenant(&mut self, tenant: &str, now_ms: i64) -> Arc<str> {
        if let Some((key, _)) = self.tenants.get_key_value(tenant) {
            return key.clone();
        }
        let key: Arc<str> = Arc::from(tenant);
        let state = TenantState::new(self.tenant_per_minute(), &self.clock, now_ms);
        self.tenants.insert(key.clone(), state);
        key
    }

    fn tenant_mut(&mut self, tenant: &Arc<str>) -> &mut TenantState {
        let per_minute = self.tenant_per_minute();
        let clock = self.clock.clone();
        self.tenants
            .entry(tenant.clone())
            .or_insert_with(|| TenantState::new(per_minute, &clock, 0))
    }
}
