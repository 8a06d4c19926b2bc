//! The shard actor: a thin driver around [`ShardState`] that recovers before serving, sweeps
//! on a timer, and turns a panic in a handler into a supervised restart.

use actix::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::ReasonCode;
use crate::settings::RuntimeSettings;

use super::budgets::{BudgetDefinition, BudgetError, BudgetRemaining};
use super::config::ShardConfig;
use super::messages::{
    AdmitOutcome, AdmitRequest, Admission, BudgetReservation, CompleteOutcome, Rejection, ReserveOutcome,
};
use super::recovery::{unix_now_ms, RecoverySource};
use super::state::{ShardState, ShardStats};
use crate::model::DecisionResponse;

/// Asks a shard to admit a request.
#[derive(Message)]
#[rtype(result = "AdmitOutcome")]
pub struct Admit(pub AdmitRequest);

/// The final response of an admission and the budgets it spends.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The response the caller will send; its verdict decides what is recorded.
    pub response: DecisionResponse,
    /// Budget amounts to reserve; applied only when the verdict is ALLOW.
    pub reservations: Vec<BudgetReservation>,
    /// The engine's current time, Unix milliseconds; selects the budget period.
    pub now_ms: i64,
}

/// Asks a shard to record the completion of an admission.
#[derive(Message)]
#[rtype(result = "CompleteOutcome")]
pub struct Complete {
    /// The ticket from the admission.
    pub admission: Admission,
    /// The final response and reservations.
    pub completion: Completion,
}

/// Asks a shard to add or replace a budget definition.
#[derive(Message)]
#[rtype(result = "Result<(), BudgetError>")]
pub struct SetBudget {
    /// Tenant that owns the budget.
    pub tenant: String,
    /// The definition.
    pub definition: BudgetDefinition,
}

/// Asks a shard to remove a budget definition. The result is true when it existed.
#[derive(Message)]
#[rtype(result = "Result<bool, BudgetError>")]
pub struct RemoveBudget {
    /// Tenant that owns the budget.
    pub tenant: String,
    /// Budget code.
    pub code: String,
}

/// Asks a shard for the remaining amounts of budget codes, outside an admission.
#[derive(Message)]
#[rtype(result = "Result<Vec<BudgetRemaining>, BudgetError>")]
pub struct ReadBudgets {
    /// Tenant that owns the budgets.
    pub tenant: String,
    /// Actor whose amounts are read, for actor budgets.
    pub actor_id: String,
    /// Budget codes to read.
    pub codes: Vec<String>,
    /// The engine's current time, Unix milliseconds; selects the budget period.
    pub now_ms: i64,
}

/// Asks a shard to reserve budget amounts outside an admission, all or none.
#[derive(Message)]
#[rtype(result = "ReserveOutcome")]
pub struct Reserve {
    /// Tenant that owns the budgets.
    pub tenant: String,
    /// Actor charged, for actor budgets.
    pub actor_id: String,
    /// Amounts to reserve.
    pub reservations: Vec<BudgetReservation>,
    /// The engine's current time, Unix milliseconds; selects the budget period.
    pub now_ms: i64,
}

/// Asks a shard to give back amounts an earlier [`Reserve`] took. The result is the total
/// given back.
#[derive(Message)]
#[rtype(result = "Result<rust_decimal::Decimal, BudgetError>")]
pub struct Release {
    /// Tenant that owns the budgets.
    pub tenant: String,
    /// Actor charged, for actor budgets.
    pub actor_id: String,
    /// The amounts that were reserved.
    pub reservations: Vec<BudgetReservation>,
    /// When they were reserved, Unix milliseconds; a release in a later period gives nothing back.
    pub reserved_at_ms: i64,
    /// The engine's current time, Unix milliseconds.
    pub now_ms: i64,
}

/// Asks a shard for its counts.
#[derive(Message)]
#[rtype(result = "ShardStats")]
pub struct GetStats;

/// Makes the shard's handler panic, to exercise supervision in tests and drills.
#[cfg(any(test, feature = "fault-injection"))]
#[derive(Message)]
#[rtype(result = "()")]
pub struct InjectPanic;

/// One shard actor. It has no state until recovery succeeds, and until then it rejects every request.
pub struct ShardActor {
    index: usize,
    shard_count: usize,
    run: u64,
    config: ShardConfig,
    settings: Arc<RuntimeSettings>,
    recovery: Arc<dyn RecoverySource>,
    state: Option<ShardState>,
    /// Why the shard is not serving: the latest recovery error, or a restart in progress.
    unavailable: String,
    /// The latest request time and when it was seen, so the timer sweep follows request time.
    last_request: Option<(i64, Instant)>,
}

impl ShardActor {
    /// Creates the actor for shard `index`; it recovers when started.
    pub fn new(
        index: usize,
        shard_count: usize,
        config: ShardConfig,
        settings: Arc<RuntimeSettings>,
        recovery: Arc<dyn RecoverySource>,
    ) -> Self {
        ShardActor {
            index,
            shard_count,
            run: 1,
            config,
            settings,
            recovery,
            state: None,
            unavailable: "shard is starting".to_owned(),
            last_request: None,
        }
    }

    /// Rebuilds the state from the recovery source; on failure the shard stays unavailable.
    fn recover(&mut self) {
        let started = Instant::now();
        match self.recovery.recover(self.index) {
            Ok(recovered) => {
                let mut state = ShardState::new(
                    self.index,
                    self.run,
                    self.config.clone(),
                    self.settings.clone(),
                    Some(self.recovery.clone()),
                );
                let summary = state.restore(recovered, self.shard_count, unix_now_ms());
                self.state = Some(state);
                tracing::info!(
                    shard_index = self.index,
                    run = self.run,
                    nonces = summary.nonces,
                    sequences = summary.sequences,
                    budgets = summary.budgets,
                    spends = summary.spends,
                    idempotency = summary.idempotency,
                    dropped = summary.dropped,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "shard recovered its protection state"
                );
            }
            Err(error) => {
                self.unavailable = format!(
                    "shard {} could not restore its replay protection ({error}); requests are rejected until recovery succeeds",
                    self.index
                );
                tracing::error!(shard_index = self.index, run = self.run, %error, "shard recovery failed; rejecting requests");
            }
        }
    }

    /// Request time now: the latest request time plus the real time since it arrived.
    fn sweep_now_ms(&self) -> Option<i64> {
        let (request_ms, seen) = self.last_request?;
        let elapsed_ms = i64::try_from(seen.elapsed().as_millis()).unwrap_or(i64::MAX);
        Some(request_ms.saturating_add(elapsed_ms))
    }

    fn note_request(&mut self, now_ms: i64) {
        let later = self.last_request.is_none_or(|(seen_ms, _)| now_ms >= seen_ms);
        if later {
            self.last_request = Some((now_ms, Instant::now()));
        }
    }

    /// Runs `work` on the state, or returns `unavailable(detail)` when there is no state.
    /// A panic inside `work` discards the state and stops the actor, so the supervisor
    /// restarts it and it recovers before serving again.
    fn guarded<T>(
        &mut self,
        ctx: &mut Context<Self>,
        message: &'static str,
        work: impl FnOnce(&mut ShardState) -> T,
        unavailable: impl FnOnce(String) -> T,
    ) -> T {
        let Some(state) = self.state.as_mut() else {
            return unavailable(self.unavailable.clone());
        };
        match catch_unwind(AssertUnwindSafe(|| work(state))) {
            Ok(result) => result,
            Err(payload) => {
                let cause = payload
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-text panic".to_owned());
                tracing::error!(shard_index = self.index, run = self.run, message, %cause, "shard handler panicked; restarting the shard");
                self.state = None;
                self.unavailable = format!("shard {} is restarting after an internal failure", self.index);
                ctx.stop();
                unavailable(format!(
                    "shard {} failed while handling {message} and is restarting; the request was not admitted",
                    self.index
                ))
            }
        }
    }
}

impl Actor for ShardActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.config.shard_queue_max.saturating_add(1));
        self.recover();

        let sweep_every = Duration::from_millis(self.config.sweep_interval_ms);
        ctx.run_interval(sweep_every, |actor, _ctx| {
            let Some(now_ms) = actor.sweep_now_ms() else {
                return;
            };
            if let Some(state) = actor.state.as_mut() {
                state.sweep(now_ms);
            }
        });

        let retry_every = Duration::from_millis(self.config.recovery_retry_ms);
        ctx.run_interval(retry_every, |actor, _ctx| {
            if actor.state.is_none() {
                actor.recover();
            }
        });
    }
}

impl Supervised for ShardActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.run += 1;
        self.state = None;
        self.unavailable = format!("shard {} is restarting", self.index);
        tracing::warn!(shard_index = self.index, run = self.run, "shard restarting");
    }
}

impl Handler<Admit> for ShardActor {
    type Result = MessageResult<Admit>;

    fn handle(&mut self, message: Admit, ctx: &mut Context<Self>) -> Self::Result {
        let request = message.0;
        self.note_request(request.now_ms);
        let outcome = self.guarded(
            ctx,
            "an admission",
            |state| state.admit(request),
            |detail| AdmitOutcome::Rejected(Rejection::new(ReasonCode::InternalError, detail)),
        );
        MessageResult(outcome)
    }
}

impl Handler<Complete> for ShardActor {
    type Result = MessageResult<Complete>;

    fn handle(&mut self, message: Complete, ctx: &mut Context<Self>) -> Self::Result {
        let Complete {
            admission,
            completion,
        } = message;
        self.note_request(completion.now_ms);
        let outcome = self.guarded(
            ctx,
            "a completion",
            |state| {
                state.complete(
                    &admission,
                    completion.response,
                    &completion.reservations,
                    completion.now_ms,
                )
            },
            |detail| CompleteOutcome::Unavailable { detail },
        );
        MessageResult(outcome)
    }
}

impl Handler<SetBudget> for ShardActor {
    type Result = Result<(), BudgetError>;

    fn handle(&mut self, message: SetBudget, ctx: &mut Context<Self>) -> Self::Result {
        let now_ms = unix_now_ms();
        self.guarded(
            ctx,
            "a budget definition",
            |state| state.set_budget(&message.tenant, message.definition, now_ms),
            |detail| Err(BudgetError::Unavailable { detail }),
        )
    }
}

impl Handler<RemoveBudget> for ShardActor {
    type Result = Result<bool, BudgetError>;

    fn handle(&mut self, message: RemoveBudget, ctx: &mut Context<Self>) -> Self::Result {
        self.guarded(
            ctx,
            "a budget removal",
            |state| Ok(state.remove_budget(&message.tenant, &message.code)),
            |detail| Err(BudgetError::Unavailable { detail }),
        )
    }
}

impl Handler<ReadBudgets> for ShardActor {
    type Result = Result<Vec<BudgetRemaining>, BudgetError>;

    fn handle(&mut self, message: ReadBudgets, ctx: &mut Context<Self>) -> Self::Result {
        self.guarded(
            ctx,
            "a budget read",
            |state| Ok(state.read_budgets(&message.tenant, &message.actor_id, &message.codes, message.now_ms)),
            |detail| Err(BudgetError::Unavailable { detail }),
        )
    }
}

impl Handler<Reserve> for ShardActor {
    type Result = MessageResult<Reserve>;

    fn handle(&mut self, message: Reserve, ctx: &mut Context<Self>) -> Self::Result {
        let outcome = self.guarded(
            ctx,
            "a budget reservation",
            |state| state.reserve_budgets(&message.tenant, &message.actor_id, &message.reservations, message.now_ms),
            |detail| ReserveOutcome::Unavailable { detail },
        );
        MessageResult(outcome)
    }
}

impl Handler<Release> for ShardActor {
    type Result = Result<rust_decimal::Decimal, BudgetError>;

    fn handle(&mut self, message: Release, ctx: &mut Context<Self>) -> Self::Result {
        self.guarded(
            ctx,
            "a budget release",
            |state| {
                Ok(state.release_budgets(
                    &message.tenant,
                    &message.actor_id,
                    &message.reservations,
                    message.reserved_at_ms,
                    message.now_ms,
                ))
            },
            |detail| Err(BudgetError::Unavailable { detail }),
        )
    }
}

impl Handler<GetStats> for ShardActor {
    type Result = MessageResult<GetStats>;

    fn handle(&mut self, _message: GetStats, _ctx: &mut Context<Self>) -> Self::Result {
        let stats = match &self.state {
            Some(state) => state.stats(true),
            None => ShardStats {
                shard_index: self.index,
                run: self.run,
                ..ShardStats::default()
            },
        };
        MessageResult(stats)
    }
}

#[cfg(any(test, feature = "fault-injection"))]
impl Handler<InjectPanic> for ShardActor {
    type Result = ();

    #[expect(clippy::panic, reason = "fault injection exists to make the handler panic")]
    fn handle(&mut self, _message: InjectPanic, ctx: &mut Context<Self>) {
        self.guarded(ctx, "an injected fault", |_state| panic!("injected fault"), |_detail| ());
    }
}
