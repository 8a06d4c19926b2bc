//! Unauthenticated probes and the metrics scrape.
//!
//! `/metrics` exposes no tenant data beyond tenant and source names in source ages; restrict
//! who reaches it with a network policy (deploy/k8s/networkpolicy.yaml).

use crate::node::metrics::text::CONTENT_TYPE;
use crate::node::metrics::Metrics;
use crate::node::Node;
use actix_web::{web, HttpResponse};

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 once recovery has finished and the node accepts traffic, else 503.
pub async fn readyz(node: web::Data<Node>) -> HttpResponse {
    if node.is_ready() {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "starting" }))
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(metrics.render())
}

/// `GET /openapi.json`.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(super::OPENAPI_JSON)
}
