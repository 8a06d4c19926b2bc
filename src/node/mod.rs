//! A running axiom node: the engine parts wired together behind the QUIC and HTTP endpoints.
//!
//! `Node` owns every shared component. The QUIC handler and the HTTP control plane both call
//! [`Node::decide`], so the two transports run the same decision path. Components are added
//! here as they land; the request path takes no global lock.

pub mod bootstrap;
pub mod build;
pub mod config;
pub mod connect;
pub mod decide;
pub mod demo;
pub mod metrics;
pub mod ops;
pub mod policies;
pub mod recovery;
pub mod replay;
pub mod serve;
pub mod thresholds;
pub mod upstream;
pub mod workflow;

use axiom_engine::incidents::IncidentTracker;
use axiom_engine::keys::KeyRegistry;
use axiom_storage::Store;
use metrics::Metrics;
use axiom_engine::settings::RuntimeSettings;
use axiom_engine::state::SourceStore;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use config::ServeArgs;

/// Which transport a decision request arrived on; a label of the latency metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// The QUIC decision endpoint.
    Quic,
    /// `POST /v1/decide` on the control plane.
    HttpDecide,
}

impl Endpoint {
    /// Returns the metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Quic => "quic_decide",
            Endpoint::HttpDecide => "/v1/decide",
        }
    }
}

/// The shared state of one running node.
pub struct Node {
    /// Flags and environment the node started with.
    pub config: ServeArgs,
    /// Live settings operators change at run time.
    pub settings: Arc<RuntimeSettings>,
    /// Source freshness per tenant.
    pub sources: Arc<SourceStore>,
    /// Deduplication of security incidents.
    pub incidents: Arc<IncidentTracker>,
    /// Agent keys, shared with every shard; a revocation applies to the next lookup.
    pub keys: Arc<KeyRegistry>,
    /// The durable store (keys, incidents, settings history, sources, audit).
    pub store: Store,
    /// Prometheus metrics, shared by both transports.
    pub metrics: Arc<Metrics>,
    /// The current published policy per (tenant, domain).
    pub policies: policies::PolicyRegistry,
    /// Budget definitions per (tenant, code), mirrored from the shards for reservation scopes.
    pub budgets: dashmap::DashMap<(String, String), axiom_engine::shard::BudgetDefinition>,
    /// (tenant, actor) pairs under a GDPR processing restriction; erased subjects appear
    /// as (tenant, pseudonym), see [`Node::is_restricted`].
    pub restrictions: dashmap::DashSet<(String, String)>,
    /// The approver pool and the pending-escrow index of the human workflows.
    pub workflow: workflow::WorkflowState,
    /// The tenant shard actors.
    pub shards: axiom_engine::shard::ShardSet,
    /// The pooled solvers.
    pub solver: axiom_engine::smt::SolverPool,
    /// The group-committing audit writer.
    pub audit_log: axiom_storage::AuditWriter,
    /// The engine's signing key for receipts and audit checkpoints.
    pub engine_key: axiom_engine::crypto::EngineKey,
    /// True once recovery has finished and both endpoints accept traffic (`GET /readyz`).
    pub ready: AtomicBool,
    /// Set when an audit append failed; the node then answers no decision (fail closed).
    pub audit_failed: AtomicBool,
}

impl Node {
    /// Returns true once the node accepts traffic.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !self.audit_failed()
    }

    /// Returns true after an audit append failed.
    pub fn audit_failed(&self) -> bool {
        self.audit_failed.load(Ordering::Acquire)
    }

    /// Stops the node from deciding after an audit failure.
    pub fn mark_audit_failed(&self) {
        self.audit_failed.store(true, Ordering::Release);
    }
}
