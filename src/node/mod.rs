//! A running axiom node: the engine parts wired together behind the QUIC and HTTP endpoints.
//!
//! `Node` owns every shared component. The QUIC handler and the HTTP control plane both call
//! [`Node::decide`], so the two transports run the same decision path. Components are added
//! here as they land; the request path takes no global lock.

pub mod config;

use axiom_engine::incidents::IncidentTracker;
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
    /// True once recovery has finished and both endpoints accept traffic (`GET /readyz`).
    pub ready: AtomicBool,
}

impl Node {
    /// Returns true once the node accepts traffic.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}
