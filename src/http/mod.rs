//! The HTTP control plane (actix-web): keys, source feeds, runtime settings, incidents, the
//! HTTP decision endpoint, health probes, metrics, the OpenAPI document and the escrow
//! review console page.
//!
//! Every `/v1` handler takes a [`auth::Principal`], so no handler runs without a verified
//! bearer token (or `--dev-no-auth`), and each checks one [`roles::Permission`] and the
//! tenant before touching data. Routes are registered from one list ([`register_routes`]),
//! which the OpenAPI test reads too, so the document cannot miss a route.

pub mod auth;
pub mod client;
pub mod jwks;
mod decide;
pub mod error;
pub mod escrows;
mod health;
pub mod incidents;
pub mod keys;
pub mod roles;
pub mod settings;
pub mod sources;
pub mod audit;
pub mod compliance;
pub mod console;
pub mod gdpr;
pub mod policies;
pub mod workflow;

use crate::node::metrics::{AuthRejection, Metrics};
use crate::node::Node;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, App, FromRequest, Handler, HttpResponse, HttpServer, Responder};
use auth::Authenticator;
use error::ApiError;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

pub use incidents::record_incident;

/// Largest JSON body of a control-plane request, in bytes. Key registrations, settings
/// changes and source events are well under 4 KiB.
pub const JSON_BODY_BYTES_MAX: usize = 64 * 1024;
/// Endpoint label of requests that matched no route, so scans of random paths add no series.
pub const UNMATCHED_ENDPOINT: &str = "unmatched";
/// Routes whose latency the decision path records itself (`Node::decide` times every
/// decision under its transport's label), so the middleware must not count them again.
pub const SELF_TIMED_ENDPOINTS: [&str; 1] = ["/v1/decide"];
/// The OpenAPI 3 document served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// Returns the current time, Unix milliseconds.
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Where routes go: the real app, or a list for the OpenAPI check.
pub trait RouteSink {
    /// Registers `handler` for `method` on the route template `path`.
    fn add<F, Args>(&mut self, method: Method, path: &'static str, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static;
}

struct ConfigSink<'c>(&'c mut web::ServiceConfig);

impl RouteSink for ConfigSink<'_> {
    fn add<F, Args>(&mut self, method: Method, path: &'static str, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.0.route(path, web::method(method).to(handler));
    }
}

/// Collects `(method, path)` of every route.
#[derive(Debug, Default)]
pub struct RouteList(pub Vec<(Method, &'static str)>);

impl RouteSink for RouteList {
    fn add<F, Args>(&mut self, method: Method, path: &'static str, _handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.0.push((method, path));
    }
}

/// Registers every route of the control plane.
pub fn register_routes(sink: &mut impl RouteSink) {
    sink.add(Method::GET, "/healthz", health::healthz);
    sink.add(Method::GET, "/readyz", health::readyz);
    sink.add(Method::GET, "/metrics", health::metrics);
    sink.add(Method::GET, "/openapi.json", health::openapi);
    // The console page holds no data (it calls `/v1` with the person's token), so it is
    // public like the probes.
    sink.add(Method::GET, "/console/", console::index);
    sink.add(Method::GET, "/console/{file}", console::asset);

    sink.add(Method::POST, "/v1/keys", keys::create);
    sink.add(Method::GET, "/v1/keys", keys::list);
    sink.add(Method::GET, "/v1/keys/{kid}", keys::get);
    sink.add(Method::PATCH, "/v1/keys/{kid}", keys::patch);

    sink.add(Method::POST, "/v1/sources/events", sources::ingest);
    sink.add(Method::GET, "/v1/sources", sources::list);

    sink.add(Method::GET, "/v1/settings", settings::get);
    sink.add(Method::PATCH, "/v1/settings", settings::patch);
    sink.add(Method::GET, "/v1/settings/history", settings::history);

    sink.add(Method::GET, "/v1/incidents", incidents::list);
    sink.add(Method::PATCH, "/v1/incidents/{id}", incidents::patch);

    sink.add(Method::POST, "/v1/decide", decide::decide);

    sink.add(Method::GET, "/v1/escrows", escrows::list);
    sink.add(Method::GET, "/v1/escrow/{id}", escrows::get);
    sink.add(Method::POST, "/v1/escrow/{id}/approve", escrows::approve);
    sink.add(Method::POST, "/v1/escrow/{id}/cancel", escrows::cancel);
    sink.add(Method::POST, "/v1/escrow/{id}/execute", escrows::execute);
    sink.add(Method::POST, "/v1/escrow/{id}/rollback", escrows::rollback);
    sink.add(Method::GET, "/v1/approvers", escrows::list_approvers);
    sink.add(Method::PUT, "/v1/approvers/{principal}", escrows::put_approver);

    sink.add(Method::POST, "/v1/policies", policies::create);
    sink.add(Method::GET, "/v1/policies", policies::list);
    sink.add(Method::GET, "/v1/policies/{id}", policies::get);
    sink.add(Method::POST, "/v1/policies/{id}/submit", policies::submit);
    sink.add(Method::POST, "/v1/policies/{id}/approve", policies::approve);
    sink.add(Method::POST, "/v1/policies/{id}/publish", policies::publish);
    sink.add(Method::POST, "/v1/policies/{id}/retire", policies::retire);
    sink.add(Method::GET, "/v1/policies/{id}/diff", policies::diff);
    sink.add(Method::POST, "/v1/policies/{id}/evaluate", policies::evaluate);

    sink.add(Method::GET, "/v1/audit", audit::list);
    sink.add(Method::GET, "/v1/audit/{decision_id}", audit::get);
    sink.add(Method::POST, "/v1/audit/{decision_id}/replay", audit::replay);

    sink.add(Method::GET, "/v1/compliance/export", compliance::export);
    sink.add(Method::GET, "/v1/gdpr/export", gdpr::export);
    sink.add(Method::POST, "/v1/gdpr/erasure", gdpr::erasure);
}

/// Returns every registered route.
pub fn route_list() -> Vec<(Method, &'static str)> {
    let mut list = RouteList::default();
    register_routes(&mut list);
    list.0
}

/// Adds the control plane's routes, shared state and body limits to an app. `extra` may add
/// more routes (other modules' endpoints, or test-only ones) under the same middleware.
pub fn configure(
    config: &mut web::ServiceConfig,
    node: Arc<Node>,
    authenticator: Arc<Authenticator>,
) {
    let metrics = Arc::clone(&node.metrics);
    configure_with_metrics(config, node, authenticator, metrics);
}

/// Like [`configure`], with the metrics that `/metrics` renders given explicitly.
fn configure_with_metrics(
    config: &mut web::ServiceConfig,
    node: Arc<Node>,
    authenticator: Arc<Authenticator>,
    metrics: Arc<Metrics>,
) {
    config
        .app_data(web::Data::from(node))
        .app_data(web::Data::from(metrics))
        .app_data(web::Data::from(authenticator))
        .app_data(
            web::JsonConfig::default()
                .limit(JSON_BODY_BYTES_MAX)
                .error_handler(|error, _| ApiError::BadRequest(error.to_string()).into()),
        )
        .app_data(
            web::QueryConfig::default()
                .error_handler(|error, _| ApiError::BadRequest(error.to_string()).into()),
        )
        .app_data(
            web::PathConfig::default()
                .error_handler(|error, _| ApiError::BadRequest(error.to_string()).into()),
        );
    register_routes(&mut ConfigSink(config));
}

/// Builds the control-plane app with request timing, plus the routes `extra` adds.
pub fn app_with(
    node: Arc<Node>,
    authenticator: Arc<Authenticator>,
    extra: impl FnOnce(&mut web::ServiceConfig),
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let metrics = Arc::clone(&node.metrics);
    app_with_metrics(node, authenticator, metrics, extra)
}

/// Like [`app_with`], recording request latency into `metrics` and rendering them at
/// `/metrics` instead of the node's own; tests pass metrics on a manual clock.
pub fn app_with_metrics(
    node: Arc<Node>,
    authenticator: Arc<Authenticator>,
    metrics: Arc<Metrics>,
    extra: impl FnOnce(&mut web::ServiceConfig),
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let app_metrics = Arc::clone(&metrics);
    App::new()
        .configure(|config| {
            configure_with_metrics(config, node, authenticator, app_metrics);
            extra(config);
        })
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::NotFound {
                what: "route",
                id: "(no such endpoint; see /openapi.json)".to_owned(),
            })
        }))
        .wrap_fn(move |request, service| {
            let started = Instant::now();
            let metrics = Arc::clone(&metrics);
            let response = service.call(request);
            async move {
                let response = response.await?;
                let endpoint = response
                    .request()
                    .match_pattern()
                    .unwrap_or_else(|| UNMATCHED_ENDPOINT.to_owned());
                if !SELF_TIMED_ENDPOINTS.contains(&endpoint.as_str()) {
                    metrics.observe_request(&endpoint, started.elapsed());
                }
                if response.status() == StatusCode::FORBIDDEN {
                    metrics.observe_auth_rejection(AuthRejection::Forbidden);
                }
                Ok(response)
            }
        })
}

/// Builds the control-plane app with request timing.
pub fn app(
    node: Arc<Node>,
    authenticator: Arc<Authenticator>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    app_with(node, authenticator, |_| {})
}

/// Starts the control plane on `listener` with `workers` threads; the returned server runs
/// until stopped through its handle.
pub fn serve(
    node: Arc<Node>,
    authenticator: Arc<Authenticator>,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    let server = HttpServer::new(move || app(Arc::clone(&node), Arc::clone(&authenticator)))
        .workers(workers.max(1))
        .listen(listener)?
        .run();
    Ok(server)
}

/// Loads keys, sources and runtime settings from the store into the node; call once at
/// start, before the node is marked ready.
pub fn restore_state(node: &Node) -> Result<(), ApiError> {
    let keys = keys::restore(node)?;
    let sources = sources::restore(node)?;
    let settings = settings::restore(node)?;
    tracing::info!(keys, sources, stored_settings = settings, "control-plane state restored");
    Ok(())
}
