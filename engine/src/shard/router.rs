//! The shard set: starts the shards and routes each tenant's messages to its shard.

use actix::prelude::*;
use actix::{Arbiter, Supervisor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use thiserror::Error;

use crate::model::ReasonCode;
use crate::settings::RuntimeSettings;

use super::actor::{
    Admit, Complete, Completion, GetStats, ReadBudgets, Release, RemoveBudget, Reserve, SetBudget,
    ShardActor,
};
use super::budgets::{BudgetDefinition, BudgetError, BudgetRemaining};
use super::config::{ShardConfig, ShardConfigError};
use super::messages::{
    AdmitOutcome, AdmitRequest, Admission, BudgetReservation, CompleteOutcome, Rejection, ReserveOutcome,
};
use rust_decimal::Decimal;
use super::recovery::RecoverySource;
use super::state::ShardStats;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Maps a tenant to its shard: 64-bit FNV-1a over the tenant's UTF-8 bytes, modulo the shard
/// count. The mapping is stable across processes and versions (unlike the standard library's
/// randomly keyed hasher), so recovery sources and tools can compute it too. Tenants are
/// authenticated before they reach a shard, so no one can pick tenant names to crowd a shard.
pub fn shard_index_for(tenant: &str, shard_count: usize) -> usize {
    let hash = tenant.bytes().fold(FNV_OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    });
    let count = u64::try_from(shard_count.max(1)).unwrap_or(u64::MAX);
    usize::try_from(hash % count).unwrap_or(0)
}

/// Failure to start the shard set.
#[derive(Debug, Error)]
pub enum ShardStartError {
    /// The configuration is out of range.
    #[error("invalid shard configuration: {0}")]
    Config(#[from] ShardConfigError),
    /// `ShardSet::start` was called outside a running actix System.
    #[error("shards must be started inside a running actix System")]
    NoSystem,
}

struct ShardSlot {
    addr: Addr<ShardActor>,
    /// Admissions sent to the shard and still waiting for a result.
    queued: AtomicUsize,
}

struct ShardSetInner {
    slots: Vec<ShardSlot>,
    arbiters: Vec<actix::ArbiterHandle>,
    queue_max: usize,
}

/// Handle to the running shards. Cheap to clone, `Send + Sync`, and usable from any tokio
/// runtime: each call sends one message to one shard and awaits its result. The only shared
/// write on the request path is the target shard's queue counter, an atomic.
#[derive(Clone)]
pub struct ShardSet {
    inner: Arc<ShardSetInner>,
}

/// Decrements a shard's queue counter when the admission returns or is abandoned.
struct QueueSlot<'a>(&'a AtomicUsize);

impl<'a> QueueSlot<'a> {
    fn enter(counter: &'a AtomicUsize, max: usize) -> Option<Self> {
        let before = counter.fetch_add(1, Ordering::AcqRel);
        if before >= max {
            counter.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(QueueSlot(counter))
    }
}

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ShardSet {
    /// Starts `config.shard_count` supervised shard actors spread round-robin over
    /// `config.arbiter_count` new arbiters. Must be called inside a running actix System.
    /// Each shard recovers from `recovery` before it serves.
    pub fn start(
        config: ShardConfig,
        settings: Arc<RuntimeSettings>,
        recovery: Arc<dyn RecoverySource>,
    ) -> Result<ShardSet, ShardStartError> {
        config.validate()?;
        if actix::System::try_current().is_none() {
            return Err(ShardStartError::NoSystem);
        }

        let arbiters: Vec<actix::ArbiterHandle> = (0..config.arbiter_count)
            .map(|_| Arbiter::new().handle())
            .collect();
        let slots = (0..config.shard_count)
            .map(|index| {
                let arbiter = &arbiters[index % arbiters.len()];
                let shard_config = config.clone();
                let shard_settings = settings.clone();
                let shard_recovery = recovery.clone();
                let shard_count = config.shard_count;
                let addr = Supervisor::start_in_arbiter(arbiter, move |_ctx| {
                    ShardActor::new(index, shard_count, shard_config, shard_settings, shard_recovery)
                });
                ShardSlot {
                    addr,
                    queued: AtomicUsize::new(0),
                }
            })
            .collect();

        tracing::info!(
            shards = config.shard_count,
            arbiters = config.arbiter_count,
            "shard set started"
        );
        Ok(ShardSet {
            inner: Arc::new(ShardSetInner {
                slots,
                arbiters,
                queue_max: config.shard_queue_max,
            }),
        })
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.inner.slots.len()
    }

    /// Index of the shard that owns `tenant`.
    pub fn shard_for(&self, tenant: &str) -> usize {
        shard_index_for(tenant, self.shard_count())
    }

    fn slot(&self, index: usize) -> Option<&ShardSlot> {
        self.inner.slots.get(index)
    }

    /// Runs the admission checks on the tenant's shard. A shard with `shard_queue_max`
    /// admissions outstanding answers `OVERLOADED` at once.
    pub async fn admit(&self, request: AdmitRequest) -> AdmitOutcome {
        let index = self.shard_for(&request.tenant);
        let Some(slot) = self.slot(index) else {
            return AdmitOutcome::Rejected(Rejection::new(
                ReasonCode::InternalError,
                format!("shard {index} does not exist"),
            ));
        };
        let Some(_queued) = QueueSlot::enter(&slot.queued, self.inner.queue_max) else {
            return AdmitOutcome::Rejected(Rejection::new(
                ReasonCode::Overloaded,
                format!(
                    "shard {index} has {} admissions outstanding, the configured maximum (shard_queue_max); retry later",
                    self.inner.queue_max
                ),
            ));
        };

        match slot.addr.send(Admit(request)).await {
            Ok(outcome) => outcome,
            Err(error) => AdmitOutcome::Rejected(Rejection::new(
                ReasonCode::InternalError,
                format!("shard {index} did not answer the admission: {error}"),
            )),
        }
    }

    /// Records the final response of an admission on the shard that admitted it.
    pub async fn complete(&self, admission: Admission, completion: Completion) -> CompleteOutcome {
        let index = admission.shard_index;
        let Some(slot) = self.slot(index) else {
            return CompleteOutcome::UnknownAdmission;
        };
        match slot
            .addr
            .send(Complete {
                admission,
                completion,
            })
            .await
        {
            Ok(outcome) => outcome,
            Err(error) => CompleteOutcome::Unavailable {
                detail: format!("shard {index} did not answer the completion: {error}"),
            },
        }
    }

    /// Adds or replaces a budget definition of `tenant`, on its shard.
    pub async fn set_budget(&self, tenant: &str, definition: BudgetDefinition) -> Result<(), BudgetError> {
        definition.validate()?;
        let index = self.shard_for(tenant);
        let slot = self.slot(index).ok_or_else(|| BudgetError::Unavailable {
            detail: format!("shard {index} does not exist"),
        })?;
        let message = SetBudget {
            tenant: tenant.to_owned(),
            definition,
        };
        slot.addr.send(message).await.unwrap_or_else(|error| {
            Err(BudgetError::Unavailable {
                detail: format!("shard {index} did not answer: {error}"),
            })
        })
    }

    /// Removes a budget definition of `tenant`; returns whether it existed.
    pub async fn remove_budget(&self, tenant: &str, code: &str) -> Result<bool, BudgetError> {
        let index = self.shard_for(tenant);
        let slot = self.slot(index).ok_or_else(|| BudgetError::Unavailable {
            detail: format!("shard {index} does not exist"),
        })?;
        let message = RemoveBudget {
            tenant: tenant.to_owned(),
            code: code.to_owned(),
        };
        slot.addr.send(message).await.unwrap_or_else(|error| {
            Err(BudgetError::Unavailable {
                detail: format!("shard {index} did not answer: {error}"),
            })
        })
    }

    /// Returns the live remaining amounts of `codes` for `actor_id` of `tenant` at `now_ms`,
    /// read on the tenant's shard; an undefined code reads as None.
    pub async fn budgets(
        &self,
        tenant: &str,
        actor_id: &str,
        codes: Vec<String>,
        now_ms: i64,
    ) -> Result<Vec<BudgetRemaining>, BudgetError> {
        let index = self.shard_for(tenant);
        let slot = self.slot(index).ok_or_else(|| BudgetError::Unavailable {
            detail: format!("shard {index} does not exist"),
        })?;
        let message = ReadBudgets {
            tenant: tenant.to_owned(),
            actor_id: actor_id.to_owned(),
            codes,
            now_ms,
        };
        slot.addr.send(message).await.unwrap_or_else(|error| {
            Err(BudgetError::Unavailable {
                detail: format!("shard {index} did not answer: {error}"),
            })
        })
    }

    /// Reserves `reservations` for `actor_id` of `tenant` outside an admission, all or none,
    /// with the same rule as an ALLOW's completion. The shard handles one message at a time,
    /// so two concurrent reservations can never together spend more than the limit.
    pub async fn reserve(
        &self,
        tenant: &str,
        actor_id: &str,
        reservations: Vec<BudgetReservation>,
        now_ms: i64,
    ) -> ReserveOutcome {
        let index = self.shard_for(tenant);
        let Some(slot) = self.slot(index) else {
            return ReserveOutcome::Unavailable {
                detail: format!("shard {index} does not exist"),
            };
        };
        let message = Reserve {
            tenant: tenant.to_owned(),
            actor_id: actor_id.to_owned(),
            reservations,
            now_ms,
        };
        slot.addr.send(message).await.unwrap_or_else(|error| ReserveOutcome::Unavailable {
            detail: format!("shard {index} did not answer the reservation: {error}"),
        })
    }

    /// Gives back what [`ShardSet::reserve`] took at `reserved_at_ms`, within that budget
    /// period only; returns the total given back.
    pub async fn release(
        &self,
        tenant: &str,
        actor_id: &str,
        reservations: Vec<BudgetReservation>,
        reserved_at_ms: i64,
        now_ms: i64,
    ) -> Result<Decimal, BudgetError> {
        let index = self.shard_for(tenant);
        let slot = self.slot(index).ok_or_else(|| BudgetError::Unavailable {
            detail: format!("shard {index} does not exist"),
        })?;
        let message = Release {
            tenant: tenant.to_owned(),
            actor_id: actor_id.to_owned(),
            reservations,
            reserved_at_ms,
            now_ms,
        };
        slot.addr.send(message).await.unwrap_or_else(|error| {
            Err(BudgetError::Unavailable {
                detail: format!("shard {index} did not answer: {error}"),
            })
        })
    }

    /// Returns the counts of shard `index`, None when it does not answer.
    pub async fn stats(&self, index: usize) -> Option<ShardStats> {
        self.slot(index)?.addr.send(GetStats).await.ok()
    }

    /// Makes shard `index`'s handler panic, to exercise its supervised restart.
    #[cfg(any(test, feature = "fault-injection"))]
    pub async fn inject_panic(&self, index: usize) -> bool {
        match self.slot(index) {
            Some(slot) => slot.addr.send(super::actor::InjectPanic).await.is_ok(),
            None => false,
        }
    }

    /// Stops the arbiters; the shards stop with them.
    pub fn stop(&self) {
        for arbiter in &self.inner.arbiters {
            arbiter.stop();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_values() {
        // Reference values of 64-bit FNV-1a from its published test suite.
        let hash = |text: &str| {
            text.bytes().fold(FNV_OFFSET_BASIS, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
            })
        };
        assert_eq!(hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn tenants_spread_over_shards() {
        let mut counts = [0usize; 8];
        for i in 0..8_000 {
            counts[shard_index_for(&format!("tenant-{i}"), 8)] += 1;
        }
        for count in counts {
            assert!((800..1_200).contains(&count), "uneven spread: {counts:?}");
        }
    }
}
