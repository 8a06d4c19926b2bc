//! Protection state for the shard actors, rebuilt from the durable store.
//!
//! On every shard start and restart the shard calls [`StoreRecovery::recover`]: nonces and
//! sequence marks come from the audit log (every answered decision is durable before its
//! response leaves), budget definitions, budget spends and idempotency entries from their own
//! tables, which the shards keep current through [`StoreRecovery::record`].

use axiom_engine::model::DecisionResponse;
use axiom_engine::settings::RuntimeSettings;
use axiom_engine::shard::{
    shard_index_for, BudgetDefinition, BudgetScope, RecoveredBudget, RecoveredIdempotency,
    RecoveredNonce, RecoveredSequence, RecoveredSpend, RecoveredState, RecoverySource,
    StateChange,
};
use axiom_storage::Store;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::decide::unix_now_ms;

/// Most budget definitions, spends or idempotency entries read back per table on recovery.
const RECOVERY_ROWS_MAX: usize = 1_000_000;
/// Id prefix of budget definitions in the budgets table.
const BUDGET_DEFINITION_PREFIX: &str = "def/";
/// Id prefix of budget spends in the budgets table.
const BUDGET_SPEND_PREFIX: &str = "spend/";

/// A budget definition as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBudget {
    /// Budget code.
    pub code: String,
    /// `tenant` or `actor`.
    pub scope: String,
    /// Amount per period, exact decimal.
    pub limit: Decimal,
    /// Period length, in milliseconds.
    pub period_ms: u64,
}

impl StoredBudget {
    /// Converts a shard definition to its stored form.
    pub fn from_definition(definition: &BudgetDefinition) -> StoredBudget {
        StoredBudget {
            code: definition.code.clone(),
            scope: match definition.scope {
                BudgetScope::Tenant => "tenant".into(),
                BudgetScope::Actor => "actor".into(),
            },
            limit: definition.limit,
            period_ms: definition.period_ms,
        }
    }

    /// Converts the stored form back; None for an unknown scope.
    pub fn to_definition(&self) -> Option<BudgetDefinition> {
        let scope = match self.scope.as_str() {
            "tenant" => BudgetScope::Tenant,
            "actor" => BudgetScope::Actor,
            _ => return None,
        };
        Some(BudgetDefinition {
            code: self.code.clone(),
            scope,
            limit: self.limit,
            period_ms: self.period_ms,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredSpend {
    code: String,
    actor_id: Option<String>,
    spent_at_ms: i64,
    amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredIdempotency {
    actor_id: String,
    idempotency_key: String,
    intent_hash: String,
    response: DecisionResponse,
    decided_at_ms: i64,
}

/// Returns the id of a budget definition row.
pub fn budget_definition_id(code: &str) -> String {
    format!("{BUDGET_DEFINITION_PREFIX}{code}")
}

/// Rebuilds shard state from the store and keeps the store's copies of budgets and
/// idempotency entries current.
pub struct StoreRecovery {
    store: Store,
    settings: Arc<RuntimeSettings>,
    shard_count: usize,
    /// Every shard's state read once at process start, handed to each shard's first
    /// recovery, so a start reads the audit tail once instead of once per shard.
    startup: parking_lot::Mutex<Option<Arc<Vec<RecoveredState>>>>,
    /// Shards that already took their start-up state; later recoveries (after a shard
    /// crashed) read the store again, because decisions were made since.
    started: Vec<std::sync::atomic::AtomicBool>,
}

impl StoreRecovery {
    /// Creates the source.
    pub fn new(store: Store, settings: Arc<RuntimeSettings>, shard_count: usize) -> Self {
        StoreRecovery {
            store,
            settings,
            shard_count,
            startup: parking_lot::Mutex::new(None),
            started: (0..shard_count)
                .map(|_| std::sync::atomic::AtomicBool::new(false))
                .collect(),
        }
    }

    /// Returns the start-up state of every shard, reading the store on the first call.
    fn startup_state(&self) -> Result<Arc<Vec<RecoveredState>>, String> {
        let mut startup = self.startup.lock();
        if let Some(states) = startup.as_ref() {
            return Ok(Arc::clone(states));
        }
        let mut states: Vec<RecoveredState> =
            (0..self.shard_count).map(|_| RecoveredState::default()).collect();
        let all = self.collect(None)?;
        for nonce in all.nonces {
            let index = shard_index_for(&nonce.tenant, self.shard_count);
            states[index].nonces.push(nonce);
        }
        for sequence in all.sequences {
            let index = shard_index_for(&sequence.tenant, self.shard_count);
            states[index].sequences.push(sequence);
        }
        for budget in all.budgets {
            let index = shard_index_for(&budget.tenant, self.shard_count);
            states[index].budgets.push(budget);
        }
        for spend in all.budget_spends {
            let index = shard_index_for(&spend.tenant, self.shard_count);
            states[index].budget_spends.push(spend);
        }
        for entry in all.idempotency {
            let index = shard_index_for(&entry.tenant, self.shard_count);
            states[index].idempotency.push(entry);
        }
        let states = Arc::new(states);
        *startup = Some(Arc::clone(&states));
        Ok(states)
    }

    /// Returns true when `tenant` belongs to `shard_index`, or to any shard when it is None.
    fn owns(&self, tenant: &str, shard_index: Option<usize>) -> bool {
        shard_index.is_none_or(|index| shard_index_for(tenant, self.shard_count) == index)
    }

    /// Reads the state of one shard's tenants, or of every tenant when `shard_index` is None.
    fn collect(&self, shard_index: Option<usize>) -> Result<RecoveredState, String> {
        let settings = self.settings.snapshot();
        let lifetime_ms = settings
            .acceptance_ttl_ms
            .max(axiom_engine::settings::ACCEPTANCE_TTL_MS_DEFAULT)
            .saturating_add(settings.clock_skew_ms);
        let durable = self
            .store
            .recovery_state(unix_now_ms(), lifetime_ms)
            .map_err(|error| format!("audit log recovery failed: {error}"))?;

        let mut state = RecoveredState::default();
        state.nonces = durable
            .nonces
            .into_iter()
            .filter(|nonce| self.owns(&nonce.tenant, shard_index))
            .map(|nonce| RecoveredNonce {
                tenant: nonce.tenant,
                nonce: nonce.nonce,
                expires_at_ms: nonce.expires_at,
            })
            .collect();
        state.sequences = durable
            .sequences
            .into_iter()
            .filter(|sequence| self.owns(&sequence.tenant, shard_index))
            .map(|sequence| RecoveredSequence {
                tenant: sequence.tenant,
                stream_id: sequence.stream_id,
                value: sequence.sequence,
            })
            .collect();

        let rows: Vec<(String, String, serde_json::Value)> = self
            .store
            .budgets()
            .list_all(RECOVERY_ROWS_MAX)
            .map_err(|error| format!("budget recovery failed: {error}"))?;
        for (tenant, id, value) in rows {
            if !self.owns(&tenant, shard_index) {
                continue;
            }
            if id.starts_with(BUDGET_DEFINITION_PREFIX) {
                let stored: StoredBudget = serde_json::from_value(value)
                    .map_err(|error| format!("budget `{id}` of `{tenant}` is unreadable: {error}"))?;
                if let Some(definition) = stored.to_definition() {
                    state.budgets.push(RecoveredBudget { tenant, definition });
                }
            } else if id.starts_with(BUDGET_SPEND_PREFIX) {
                let stored: StoredSpend = serde_json::from_value(value)
                    .map_err(|error| format!("spend `{id}` of `{tenant}` is unreadable: {error}"))?;
                state.budget_spends.push(RecoveredSpend {
                    tenant,
                    code: stored.code,
                    actor_id: stored.actor_id,
                    spent_at_ms: stored.spent_at_ms,
                    amount: stored.amount,
                });
            }
        }

        let entries: Vec<(String, String, StoredIdempotency)> = self
            .store
            .idempotency()
            .list_all(RECOVERY_ROWS_MAX)
            .map_err(|error| format!("idempotency recovery failed: {error}"))?;
        for (tenant, _, stored) in entries {
            if !self.owns(&tenant, shard_index) {
                continue;
            }
            let mut intent_hash = [0u8; 32];
            if hex::decode_to_slice(&stored.intent_hash, &mut intent_hash).is_err() {
                return Err(format!(
                    "idempotency entry `{}` of `{tenant}` has an invalid intent hash",
                    stored.idempotency_key
                ));
            }
            state.idempotency.push(RecoveredIdempotency {
                tenant,
                actor_id: stored.actor_id,
                idempotency_key: stored.idempotency_key,
                intent_hash,
                response: stored.response,
                decided_at_ms: stored.decided_at_ms,
            });
        }
        Ok(state)
    }

    /// Writes one change to its table. Spends and idempotency entries are not fsynced here,
    /// because this runs on the shard's thread: for an ALLOW they are made durable by the audit
    /// batch fsync that precedes the response, since fjall keeps one journal for every
    /// keyspace.
    fn persist(&self, change: StateChange) -> Result<(), String> {
        match change {
            StateChange::BudgetSpent(spend) => {
                let id = format!("{BUDGET_SPEND_PREFIX}{}", uuid::Uuid::now_v7());
                let stored = StoredSpend {
                    code: spend.code,
                    actor_id: spend.actor_id,
                    spent_at_ms: spend.spent_at_ms,
                    amount: spend.amount,
                };
                self.store
                    .budgets()
                    .put_unsynced(&spend.tenant, &id, &stored)
                    .map_err(|error| error.to_string())
            }
            StateChange::BudgetDefined(budget) => self
                .store
                .budgets()
                .put(
                    &budget.tenant,
                    &budget_definition_id(&budget.definition.code),
                    &StoredBudget::from_definition(&budget.definition),
                )
                .map_err(|error| error.to_string()),
            StateChange::BudgetRemoved { tenant, code } => self
                .store
                .budgets()
                .remove(&tenant, &budget_definition_id(&code))
                .map(|_| ())
                .map_err(|error| error.to_string()),
            StateChange::IdempotencyDecided(entry) => {
                let id = format!("{}\u{1f}{}", entry.actor_id, entry.idempotency_key);
                let stored = StoredIdempotency {
                    actor_id: entry.actor_id,
                    idempotency_key: entry.idempotency_key,
                    intent_hash: hex::encode(entry.intent_hash),
                    response: entry.response,
                    decided_at_ms: entry.decided_at_ms,
                };
                // NOTE: a non-ALLOW decision completes after its audit fsync, so its entry is
                // durable only with the next group commit; a crash in between loses the entry
                // and a retry with the same key is decided again instead of answered from it.
                self.store
                    .idempotency()
                    .put_unsynced(&entry.tenant, &id, &stored)
                    .map_err(|error| error.to_string())
            }
            StateChange::NonceConsumed(_)
            | StateChange::NonceReleased { .. }
            | StateChange::SequenceSet { .. } => Ok(()),
        }
    }
}

impl RecoverySource for StoreRecovery {
    fn recover(&self, shard_index: usize) -> Result<RecoveredState, String> {
        let first_start = self
            .started
            .get(shard_index)
            .is_some_and(|started| !started.swap(true, std::sync::atomic::Ordering::AcqRel));
        let state = if first_start {
            self.startup_state()?
                .get(shard_index)
                .cloned()
                .unwrap_or_default()
        } else {
            self.collect(Some(shard_index))?
        };
        tracing::info!(
            shard_index,
            nonces = state.nonces.len(),
            sequences = state.sequences.len(),
            budgets = state.budgets.len(),
            spends = state.budget_spends.len(),
            idempotency = state.idempotency.len(),
            "shard state recovered from the store"
        );
        Ok(state)
    }

    fn wants_changes(&self) -> bool {
        true
    }

    fn record(&self, shard_index: usize, change: StateChange) {
        if let Err(error) = self.persist(change) {
            tracing::error!(shard_index, %error, "shard state change could not be stored");
        }
    }
}
