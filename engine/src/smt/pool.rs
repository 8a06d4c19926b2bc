//! The pooled solver set: worker threads under an actix `SyncArbiter`, each owning one solver
//! for its lifetime.
//!
//! Calling protocol: [`SolverPool::start`] inside a running actix system, then
//! [`SolverPool::evaluate`] from any task. Admission is counted before a request is queued, so
//! a full pool answers `QueueFull` at once instead of growing a queue. Every evaluation has a
//! deadline of `timeout_ms` from admission: a worker that picks it up later answers `Timeout`
//! without solving, stops issuing queries once it passes, and the caller stops waiting at
//! twice the deadline (the second half covers one query already running under Z3's own limit).
//!
//! Supervision: actix restarts a sync actor only when it stops itself, and a panic would end
//! its thread for good. So each worker runs its work under `catch_unwind`; after a panic it
//! answers `WorkerFailed`, stops, and the arbiter builds a fresh worker on the same thread.

use super::config::{SmtBackend, SmtConfig};
use super::error::{Solve, SmtError};
use super::formula::{Query, SatAnswer};
use super::inprocess::InProcessSolver;
use super::process::ProcessSolver;
use crate::policy::{self, CompiledPolicy, Evaluator, Facts, PolicyEvaluation};
use super::stats::SmtStats;
use actix::{Actor, ActorContext, Addr, Handler, Message, SyncArbiter, SyncContext};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Extra wait on the caller's side for scheduling and message passing, in milliseconds.
const CALLER_GRACE_MS: u64 = 50;

/// The solver pool. Cloning shares the same workers.
#[derive(Clone)]
pub struct SolverPool {
    workers: Option<Addr<SolverWorker>>,
    config: Arc<SmtConfig>,
    stats: Arc<SmtStats>,
}

/// Decrements the queue depth when the request is dropped, handled or not.
struct Admission(Arc<SmtStats>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.queue_depth.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One evaluation request for a worker.
struct EvaluateRequest {
    policy: Arc<CompiledPolicy>,
    facts: Facts,
    deadline: Instant,
    _admission: Admission,
}

impl Message for EvaluateRequest {
    type Result = Result<PolicyEvaluation, SmtError>;
}

/// Makes the worker that receives it panic inside its guarded section. Used by supervision
/// tests and failure drills to show that a panicking worker is replaced.
struct InjectPanic;

impl Message for InjectPanic {
    type Result = Result<(), SmtError>;
}

enum Backend {
    InProcess(InProcessSolver),
    Process(ProcessSolver),
}

struct SolverWorker {
    backend: Backend,
    timeout_ms: u64,
    stats: Arc<SmtStats>,
}

impl Actor for SolverWorker {
    type Context = SyncContext<Self>;
}

/// Wraps a solver so that no query starts after the evaluation's deadline.
struct DeadlineSolver<'a> {
    inner: &'a mut dyn Solve,
    deadline: Instant,
    timeout_ms: u64,
}

impl Solve for DeadlineSolver<'_> {
    fn solve(&mut self, query: &Query) -> Result<SatAnswer, SmtError> {
        if Instant::now() >= self.deadline {
            return Err(SmtError::Timeout { timeout_ms: self.timeout_ms });
        }
        self.inner.solve(query)
    }
}

impl Handler<EvaluateRequest> for SolverWorker {
    type Result = Result<PolicyEvaluation, SmtError>;

    fn handle(&mut self, request: EvaluateRequest, context: &mut SyncContext<Self>) -> Self::Result {
        if Instant::now() >= request.deadline {
            self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
            return Err(SmtError::Timeout { timeout_ms: self.timeout_ms });
        }

        let timeout_ms = self.timeout_ms;
        let solver: &mut dyn Solve = match &mut self.backend {
            Backend::InProcess(solver) => solver,
            Backend::Process(solver) => solver,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut guarded = DeadlineSolver { inner: solver, deadline: request.deadline, timeout_ms };
            policy::evaluate(&request.policy, &request.facts, Evaluator { solver: Some(&mut guarded), fast_path: true })
        }));
        match outcome {
            Ok(result) => {
                if let Ok(evaluation) = &result {
                    let timed_out = evaluation
                        .axioms
                        .iter()
                        .filter(|axiom| axiom.outcome == policy::AxiomOutcome::Timeout)
                        .count();
                    self.stats.timeouts.fetch_add(timed_out as u64, Ordering::Relaxed);
                }
                if matches!(result, Err(SmtError::Timeout { .. })) {
                    self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                }
                result
            }
            Err(_) => self.replace(context, "panic while evaluating"),
        }
    }
}

impl Handler<InjectPanic> for SolverWorker {
    type Result = Result<(), SmtError>;

    #[expect(clippy::panic, reason = "fault injection exists to make the worker panic")]
    fn handle(&mut self, _request: InjectPanic, context: &mut SyncContext<Self>) -> Self::Result {
        let outcome = catch_unwind(|| {
            panic!("injected solver worker panic");
        });
        match outcome {
            Ok(()) => Ok(()),
            Err(_) => self.replace(context, "injected panic"),
        }
    }
}

impl SolverWorker {
    /// Stops this worker so the arbiter builds a fresh one, and reports the failure.
    fn replace<T>(&mut self, context: &mut SyncContext<Self>, reason: &str) -> Result<T, SmtError> {
        tracing::warn!(reason, "replacing solver worker");
        self.stats.restarts.fetch_add(1, Ordering::Relaxed);
        context.stop();
        Err(SmtError::WorkerFailed(reason.to_owned()))
    }
}

impl SolverPool {
    /// Starts the workers. Must be called inside a running actix system.
    pub fn start(config: SmtConfig) -> SolverPool {
        let stats = Arc::new(SmtStats::default());
        let workers = match &config.backend {
            SmtBackend::Disabled => None,
            backend => {
                let backend = backend.clone();
                let timeout_ms = config.timeout_ms;
                let worker_stats = Arc::clone(&stats);
                Some(SyncArbiter::start(config.workers.max(1), move || {
                    let backend = match &backend {
                        SmtBackend::Process { z3_path } => Backend::Process(ProcessSolver::new(
                            z3_path.clone(),
                            timeout_ms,
                            Arc::clone(&worker_stats),
                        )),
                        _ => Backend::InProcess(InProcessSolver::new(timeout_ms)),
                    };
                    SolverWorker { backend, timeout_ms, stats: Arc::clone(&worker_stats) }
                }))
            }
        };
        SolverPool { workers, config: Arc::new(config), stats }
    }

    /// Returns the pool's counters.
    pub fn stats(&self) -> &Arc<SmtStats> {
        &self.stats
    }

    /// Returns the pool's settings.
    pub fn config(&self) -> &SmtConfig {
        &self.config
    }

    /// Evaluates `policy` against `facts` on a pooled solver.
    ///
    /// With SMT disabled this runs the interval evaluation in place and reports
    /// `proved_by: disabled`. Errors: `QueueFull` when `queue_max` evaluations are in flight,
    /// `Timeout` past the deadline, `WorkerFailed` when the worker panicked or is gone.
    pub async fn evaluate(&self, policy: Arc<CompiledPolicy>, facts: Facts) -> Result<PolicyEvaluation, SmtError> {
        self.stats.evaluations.fetch_add(1, Ordering::Relaxed);
        let Some(workers) = &self.workers else {
            return policy::evaluate(&policy, &facts, Evaluator { solver: None, fast_path: true });
        };
        // Clear cases are settled by the exact interval step on the caller's thread, which
        // saves the round trip to a solver thread; the result equals the pooled one.
        if let Some(evaluation) = policy::evaluate_by_intervals(&policy, &facts) {
            self.stats.settled_inline.fetch_add(1, Ordering::Relaxed);
            return Ok(evaluation);
        }

        let admission = self.admit()?;
        let timeout_ms = self.config.timeout_ms;
        let request = EvaluateRequest {
            policy,
            facts,
            deadline: Instant::now() + Duration::from_millis(timeout_ms),
            _admission: admission,
        };
        let wait = Duration::from_millis(timeout_ms.saturating_mul(2).saturating_add(CALLER_GRACE_MS));
        match workers.send(request).timeout(wait).await {
            Ok(result) => result,
            Err(actix::MailboxError::Timeout) => {
                self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                Err(SmtError::Timeout { timeout_ms })
            }
            Err(actix::MailboxError::Closed) => Err(SmtError::WorkerFailed("solver worker mailbox closed".into())),
        }
    }

    fn admit(&self) -> Result<Admission, SmtError> {
        let queue_max = self.config.queue_max;
        let previous = self.stats.queue_depth.fetch_add(1, Ordering::AcqRel);
        let admission = Admission(Arc::clone(&self.stats));
        if previous >= queue_max as u64 {
            drop(admission);
            self.stats.queue_full.fetch_add(1, Ordering::Relaxed);
            return Err(SmtError::QueueFull { queue_max });
        }
        Ok(admission)
    }

    /// Makes one worker panic and be replaced; for supervision tests and failure drills.
    pub async fn inject_worker_panic(&self) -> Result<(), SmtError> {
        let Some(workers) = &self.workers else {
            return Err(SmtError::Disabled);
        };
        workers
            .send(InjectPanic)
            .await
            .map_err(|error| SmtError::WorkerFailed(error.to_string()))?
    }
}

/// Evaluates on the current thread with its Z3 context: for the CLI, tests and replay.
/// Creates a solver per call, which costs a few milliseconds; request paths use the pool.
pub fn evaluate_with_z3(policy: &CompiledPolicy, facts: &Facts, timeout_ms: u64) -> Result<PolicyEvaluation, SmtError> {
    let mut solver = InProcessSolver::new(timeout_ms);
    policy::evaluate(policy, facts, Evaluator { solver: Some(&mut solver), fast_path: true })
}
