//! The admission checks, in the pipeline's order: replay, sequence, idempotency, capacity,
//! then rate limits. Nothing is consumed unless every check passes.

use crate::model::ReasonCode;
use std::sync::Arc;

use super::anomaly::AnomalyWindow;
use super::budgets::BudgetRemaining;
use super::idempotency::{entry_key, IdempotencyCheck};
use super::messages::{AdmitOutcome, AdmitRequest, Admission, AnomalyEvent, Rejection};
use super::nonce_window::NonceKey;
use super::rate_limit::{MinuteLimiter, RateExceeded};
use super::recovery::{RecoveredNonce, StateChange};
use super::state::{PendingAdmission, ShardState, INLINE_EVICTIONS_MAX};
use super::tenant::{ActorState, TenantState};

/// Suggested wait for a request whose idempotency key is still being decided, in milliseconds.
const IN_FLIGHT_RETRY_AFTER_MS: u64 = 100;

impl ShardState {
    /// Runs the admission checks for one authenticated request.
    pub fn admit(&mut self, request: AdmitRequest) -> AdmitOutcome {
        let now_ms = request.now_ms;
        self.clock.advance_to(now_ms);
        self.evict_expired(now_ms, INLINE_EVICTIONS_MAX);

        match self.check_and_consume(&request) {
            Ok(admission) => AdmitOutcome::Admitted(admission),
            Err(Refusal::Rejected(rejection)) => AdmitOutcome::Rejected(rejection),
            Err(Refusal::Cached(response)) => AdmitOutcome::Cached(response),
        }
    }

    fn check_and_consume(&mut self, request: &AdmitRequest) -> Result<Admission, Refusal> {
        let now_ms = request.now_ms;
        let skew_ms = self.clock_skew_ms();

        if request.cert_expires_at_ms.saturating_add(skew_ms) < now_ms {
            return Err(reject(
                ReasonCode::CertExpired,
                format!(
                    "certificate expired at {} ms, before now ({now_ms} ms) minus the clock skew",
                    request.cert_expires_at_ms
                ),
            ));
        }

        let tenant_key = self.tenant_key(&request.tenant, now_ms)?;
        let nonce_key = NonceKey::of(&request.nonce);
        let entry_key = entry_key(&request.actor_id, &request.idempotency_key);
        let nonces_live = self.nonces_live;
        let config = self.config.clone();
        let actor_per_minute = self.actor_per_minute();
        let tenant_per_minute = self.tenant_per_minute();
        let clock = self.clock.clone();
        let tenant = self
            .tenants
            .get_mut(&tenant_key)
            .ok_or_else(|| reject(ReasonCode::InternalError, "tenant state missing after insert".to_owned()))?;
        tenant.last_seen_ms = now_ms;

        // Replay: a live nonce is rejected; an expired one not yet swept is forgotten now.
        let mut expired_nonce_removed = false;
        if let Some(expires_at_ms) = tenant.nonces.live_expiry(&nonce_key, now_ms, skew_ms) {
            return Err(reject(
                ReasonCode::ReplayDetected,
                format!(
                    "nonce `{}` was already used by an accepted certificate; it is remembered until {} ms",
                    request.nonce,
                    expires_at_ms.saturating_add(skew_ms)
                ),
            ));
        }
        if tenant.nonces.recorded_expiry(&nonce_key).is_some() {
            tenant.nonces.remove(&nonce_key);
            expired_nonce_removed = true;
        }

        // Sequence: strictly above the stream's mark, gaps allowed.
        let mut previous_mark = None;
        if let Some(claim) = &request.sequence {
            previous_mark = tenant
                .sequences
                .check(&claim.stream_id, claim.value)
                .map_err(|too_low| {
                    reject(
                        ReasonCode::SequenceReplay,
                        format!(
                            "sequence {} is not above {}, the last accepted for stream `{}`",
                            claim.value, too_low.mark, claim.stream_id
                        ),
                    )
                })?;
            if !tenant.sequences.contains(&claim.stream_id)
                && tenant.sequences.len() >= config.sequence_streams_per_tenant_max
            {
                return Err(overloaded(format!(
                    "tenant has {} sequence streams, the configured maximum (sequence_streams_per_tenant_max)",
                    tenant.sequences.len()
                )));
            }
        }

        // Idempotency: same actor and key.
        match tenant.idempotency.check(&entry_key, &request.intent_hash, now_ms) {
            IdempotencyCheck::New => {}
            IdempotencyCheck::Cached(response) => return Err(Refusal::Cached(response)),
            IdempotencyCheck::Conflict => {
                return Err(reject(
                    ReasonCode::IdempotencyConflict,
                    format!(
                        "idempotency key `{}` was already used by this actor for a different intent",
                        request.idempotency_key
                    ),
                ));
            }
            IdempotencyCheck::InFlight => {
                let mut rejection = Rejection::new(
                    ReasonCode::IdempotencyConflict,
                    format!(
                        "idempotency key `{}` belongs to a request of this actor that is still being decided; retry to get its decision",
                        request.idempotency_key
                    ),
                );
                rejection.retry_after_ms = Some(IN_FLIGHT_RETRY_AFTER_MS);
                return Err(Refusal::Rejected(rejection));
            }
        }

        // Capacity: every cap is checked before anything is consumed.
        check_capacity(tenant, &entry_key, &request.actor_id, nonces_live, &config)?;

        // Rate limits: the actor's, then the tenant's.
        let actor = tenant
            .actors
            .entry(request.actor_id.clone())
            .or_insert_with(|| ActorState {
                limiter: MinuteLimiter::new(actor_per_minute, &clock),
                anomaly: AnomalyWindow::default(),
                last_seen_ms: now_ms,
            });
        actor.last_seen_ms = now_ms;
        let limited = actor
            .limiter
            .check(actor_per_minute, &clock)
            .map_err(|exceeded| ("actor", actor_per_minute, exceeded))
            .and_then(|()| {
                tenant
                    .limiter
                    .check(tenant_per_minute, &clock)
                    .map_err(|exceeded| ("tenant", tenant_per_minute, exceeded))
            });
        if let Err((scope, per_minute, exceeded)) = limited {
            let threshold = config.anomaly_rate_limited_per_minute_min;
            let opened = tenant
                .actors
                .get_mut(&request.actor_id)
                .and_then(|actor| actor.anomaly.record(now_ms, threshold));
            return Err(rate_limited(request, scope, per_minute, exceeded, opened));
        }

        // Every check passed: consume.
        let admission_id = self.next_admission_id;
        self.next_admission_id += 1;

        tenant.nonces.insert(nonce_key, request.cert_expires_at_ms);
        if let Some(claim) = &request.sequence {
            tenant.sequences.raise(&claim.stream_id, claim.value);
        }
        tenant
            .idempotency
            .begin(entry_key.clone(), request.intent_hash, admission_id);
        tenant.pending += 1;
        let budgets = request
            .budget_codes
            .iter()
            .map(|code| BudgetRemaining {
                code: code.clone(),
                remaining: tenant.budgets.remaining(code, &request.actor_id, now_ms),
            })
            .collect();

        if expired_nonce_removed {
            self.nonces_live = self.nonces_live.saturating_sub(1);
        }
        self.nonces_live += 1;
        self.nonce_expiries
            .push(request.cert_expires_at_ms, tenant_key.clone(), nonce_key);
        self.compact_nonce_queue();

        let pending_ms_max = i64::try_from(config.admission_pending_ms_max).unwrap_or(i64::MAX);
        self.pending_deadlines
            .push_back((now_ms.saturating_add(pending_ms_max), admission_id));
        self.pending.insert(
            admission_id,
            PendingAdmission {
                tenant: tenant_key.clone(),
                actor_id: request.actor_id.clone(),
                nonce: request.nonce.clone(),
                nonce_key,
                expires_at_ms: request.cert_expires_at_ms,
                sequence: request
                    .sequence
                    .as_ref()
                    .map(|claim| (claim.stream_id.clone(), claim.value, previous_mark)),
                idempotency_key: request.idempotency_key.clone(),
                idempotency_entry_key: entry_key,
                intent_hash: request.intent_hash,
            },
        );

        self.record(|| {
            StateChange::NonceConsumed(RecoveredNonce {
                tenant: request.tenant.clone(),
                nonce: request.nonce.clone(),
                expires_at_ms: request.cert_expires_at_ms,
            })
        });
        if let Some(claim) = &request.sequence {
            self.record(|| StateChange::SequenceSet {
                tenant: request.tenant.clone(),
                stream_id: claim.stream_id.clone(),
                value: Some(claim.value),
            });
        }

        Ok(Admission {
            admission_id,
            shard_index: self.shard_index,
            shard_run: self.run,
            tenant: tenant_key,
            actor_id: request.actor_id.clone(),
            budgets,
        })
    }

    /// Returns the tenant's key, creating its state unless the shard is at its tenant cap.
    fn tenant_key(&mut self, tenant: &str, now_ms: i64) -> Result<Arc<str>, Refusal> {
        if let Some((key, _)) = self.tenants.get_key_value(tenant) {
            return Ok(key.clone());
        }
        if self.tenants.len() >= self.config.tenants_per_shard_max {
            return Err(overloaded(format!(
                "shard {} holds {} tenants, the configured maximum (tenants_per_shard_max)",
                self.shard_index,
                self.tenants.len()
            )));
        }
        let key: Arc<str> = Arc::from(tenant);
        let state = TenantState::new(self.tenant_per_minute(), &self.clock, now_ms);
        self.tenants.insert(key.clone(), state);
        Ok(key)
    }
}

/// Outcome of a request that was not admitted.
enum Refusal {
    Rejected(Rejection),
    Cached(Box<crate::model::DecisionResponse>),
}

fn reject(reason: ReasonCode, detail: String) -> Refusal {
    Refusal::Rejected(Rejection::new(reason, detail))
}

fn overloaded(detail: String) -> Refusal {
    reject(
        ReasonCode::Overloaded,
        format!("{detail}; live replay protection is kept, so new work is rejected until entries expire"),
    )
}

fn check_capacity(
    tenant: &TenantState,
    entry_key: &str,
    actor_id: &str,
    nonces_live: usize,
    config: &super::config::ShardConfig,
) -> Result<(), Refusal> {
    if tenant.nonces.len() >= config.nonces_per_tenant_max {
        return Err(overloaded(format!(
            "tenant holds {} live nonces, the configured maximum (nonces_per_tenant_max)",
            tenant.nonces.len()
        )));
    }
    if nonces_live >= config.nonces_per_shard_max {
        return Err(overloaded(format!(
            "shard holds {nonces_live} live nonces, the configured maximum (nonces_per_shard_max)"
        )));
    }
    if !tenant.idempotency.contains(entry_key)
        && tenant.idempotency.len() >= config.idempotency_entries_per_tenant_max
    {
        return Err(overloaded(format!(
            "tenant holds {} idempotency entries, the configured maximum (idempotency_entries_per_tenant_max)",
            tenant.idempotency.len()
        )));
    }
    if !tenant.actors.contains_key(actor_id) && tenant.actors.len() >= config.actors_per_tenant_max {
        return Err(overloaded(format!(
            "tenant has {} active actors, the configured maximum (actors_per_tenant_max)",
            tenant.actors.len()
        )));
    }
    Ok(())
}

fn rate_limited(
    request: &AdmitRequest,
    scope: &str,
    per_minute: u64,
    exceeded: RateExceeded,
    opened: Option<super::anomaly::AnomalyOpened>,
) -> Refusal {
    let detail = match exceeded.retry_after_ms {
        Some(wait_ms) => format!("{scope} rate limit of {per_minute} requests per minute reached; retry after {wait_ms} ms"),
        None => format!("{scope} rate limit is {per_minute} requests per minute, so no request is admitted"),
    };
    Refusal::Rejected(Rejection {
        reason: ReasonCode::RateLimited,
        retry_after_ms: exceeded.retry_after_ms,
        detail,
        anomaly: opened.map(|opened| AnomalyEvent {
            tenant: request.tenant.clone(),
            actor_id: request.actor_id.clone(),
            reason: ReasonCode::RateLimited,
            window_start_ms: opened.window_start_ms,
            rejections: opened.rejections,
        }),
    })
}
