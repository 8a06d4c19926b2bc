//! The OpenAPI document lists exactly the registered routes, and each of them is served.

mod http_support;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use http_support::*;
use serde_json::Value;
use std::collections::BTreeSet;

fn document_routes() -> BTreeSet<(String, String)> {
    let document: Value = serde_json::from_str(axiom::http::OPENAPI_JSON).expect("openapi.json is JSON");
    assert_eq!(document["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
    let mut routes = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

#[test]
fn document_lists_every_route() {
    let registered: BTreeSet<(String, String)> = axiom::http::route_list()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path.to_owned()))
        .collect();
    let documented = document_routes();

    let missing: Vec<_> = registered.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(missing.is_empty(), "routes missing from openapi.json: {missing:?}");
    assert!(extra.is_empty(), "openapi.json documents routes the server lacks: {extra:?}");
    assert!(registered.len() >= 16, "only {} routes registered", registered.len());
}

#[actix_rt::test]
async fn every_documented_route_is_served() {
    let node = start_node();
    let app = test::init_service(axiom::http::app(node.node.clone(), node.authenticator.clone())).await;

    for (method, path) in document_routes() {
        let uri = path.replace("{kid}", "k_unknown").replace("{id}", "inc-unknown").replace("{file}", "app.js");
        let method = actix_web::http::Method::from_bytes(method.as_bytes()).expect("method");
        let request = TestRequest::default().method(method.clone()).uri(&uri).to_request();
        let response = test::call_service(&app, request).await;
        let status = response.status();
        let public = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/console/", "/console/{file}"].contains(&path.as_str());
        let want = if public { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
        assert_eq!(status, want, "{method} {uri}");
    }

    let unknown = test::call_service(&app, TestRequest::get().uri("/v1/nothing").to_request()).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
