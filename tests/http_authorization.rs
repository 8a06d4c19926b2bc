//! Authorization matrix of the control plane: every endpoint × every role × own tenant,
//! other tenant and platform-wide token, plus no token, an expired token and a forged one,
//! each with its exact expected status. The expected roles are written out here from the
//! product's role table, independently of the server's own matrix.

mod http_support;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use axiom::http::incidents::record_incident;
use axiom_engine::crypto::KeyPair;
use axiom_engine::incidents::IncidentOpening;
use axiom_engine::model::ReasonCode;
use http_support::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};

const ROLES: [&str; 5] = ["securityadmin", "complianceofficer", "approver", "operator", "sre"];

/// Who the request acts as, and for which tenant.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    /// A token of `TENANT` acting on `TENANT`.
    OwnTenant,
    /// A token of `TENANT` naming `OTHER_TENANT` in the path, query or body.
    OtherTenant,
    /// A platform-wide token (`tenant: "*"`, `platform: true`) naming `TENANT`.
    Platform,
}

/// One endpoint of the matrix.
struct Case {
    method: &'static str,
    path: &'static str,
    /// Roles that may call it, from the product's role table.
    allowed: &'static [&'static str],
    /// Status of a permitted call on the caller's own tenant.
    success: StatusCode,
    /// Whether the request names a tenant (endpoints without one have no other-tenant case).
    tenant_scoped: bool,
    /// Whether only platform-wide tokens may call it (node-wide settings).
    platform_only: bool,
}

const CASES: &[Case] = &[
    Case { method: "POST", path: "/v1/keys", allowed: &["securityadmin"], success: StatusCode::CREATED, tenant_scoped: true, platform_only: false },
    Case { method: "GET", path: "/v1/keys", allowed: &["securityadmin"], success: StatusCode::OK, tenant_scoped: true, platform_only: false },
    Case { method: "GET", path: "/v1/keys/{kid}", allowed: &["securityadmin"], success: StatusCode::OK, tenant_scoped: true, platform_only: false },
    Case { method: "PATCH", path: "/v1/keys/{kid}", allowed: &["securityadmin"], success: StatusCode::OK, tenant_scoped: true, platform_only: false },
    Case { method: "POST", path: "/v1/sources/events", allowed: &["operator", "sre"], success: StatusCode::ACCEPTED, tenant_scoped: true, platform_only: false },
    Case { method: "GET", path: "/v1/sources", allowed: &["operator", "sre", "approver"], success: StatusCode::OK, tenant_scoped: true, platform_only: false },
    Case { method: "GET", path: "/v1/settings", allowed: &["securityadmin", "complianceofficer", "sre"], success: StatusCode::OK, tenant_scoped: false, platform_only: false },
    Case { method: "GET", path: "/v1/settings/history", allowed: &["securityadmin", "complianceofficer", "sre"], success: StatusCode::OK, tenant_scoped: false, platform_only: false },
    Case { method: "PATCH", path: "/v1/settings", allowed: &["securityadmin", "sre"], success: StatusCode::OK, tenant_scoped: false, platform_only: true },
    Case { method: "GET", path: "/v1/incidents", allowed: &["securityadmin", "complianceofficer", "sre"], success: StatusCode::OK, tenant_scoped: true, platform_only: false },
    Case { method: "PATCH", path: "/v1/incidents/{id}", allowed: &["securityadmin"], success: StatusCode::OK, tenant_scoped: true, platform_only: false },
    Case { method: "POST", path: "/v1/decide", allowed: &["operator"], success: StatusCode::OK, tenant_scoped: true, platform_only: false },
];

static WINDOW: AtomicI64 = AtomicI64::new(1_000);

/// Registers a fresh key of `tenant` directly on the node and returns its kid.
fn fresh_key(node: &TestNode, tenant: &str) -> String {
    let pair = KeyPair::generate();
    let record = axiom_engine::keys::KeyRecord::new(tenant, pair.public_key(), vec!["*".into()], 0);
    let kid = record.kid.clone();
    node.node.store.keys().insert_new(tenant, &kid, &record).expect("store key");
    node.node.keys.register(record).expect("register key");
    kid
}

/// Opens a fresh incident of `tenant` and returns its id.
fn fresh_incident(node: &TestNode, tenant: &str) -> String {
    let opening = IncidentOpening {
        tenant: tenant.to_owned(),
        actor_id: "bot-1".to_owned(),
        reason_code: ReasonCode::BadSignature,
        window_start_ms: WINDOW.fetch_add(1, Ordering::Relaxed),
        kid: None,
    };
    record_incident(&node.node, &opening).expect("record incident").id
}

/// Builds the request of `case` as `caller`, creating whatever entry it needs.
fn build(node: &TestNode, case: &Case, caller: Caller) -> TestRequest {
    let target = match caller {
        Caller::OtherTenant => OTHER_TENANT,
        Caller::OwnTenant | Caller::Platform => TENANT,
    };
    let tenant_query = match caller {
        Caller::OwnTenant => String::new(),
        Caller::OtherTenant | Caller::Platform => format!("?tenant={target}"),
    };
    let path = match case.path {
        "/v1/keys/{kid}" => format!("/v1/keys/{}{tenant_query}", fresh_key(node, target)),
        "/v1/incidents/{id}" => format!("/v1/incidents/{}{tenant_query}", fresh_incident(node, target)),
        "/v1/keys" if case.method == "POST" => "/v1/keys".to_owned(),
        "/v1/sources/events" | "/v1/decide" | "/v1/settings" => case.path.to_owned(),
        other => format!("{other}{tenant_query}"),
    };

    let body: Option<Value> = match (case.method, case.path) {
        ("POST", "/v1/keys") => Some(json!({
            "tenant": target,
            "public_key": KeyPair::generate().public_key().to_base64url(),
            "allowed_actors": ["*"],
        })),
        ("PATCH", "/v1/keys/{kid}") => Some(json!({"status": "revoked"})),
        ("POST", "/v1/sources/events") => Some(json!({
            "tenant": target, "domain": "finance", "source": "bank",
            "event_time_ms": axiom::http::unix_now_ms() - 1_000,
        })),
        ("PATCH", "/v1/settings") => Some(json!({"RATE_LIMIT_PER_MINUTE": 6_000})),
        ("PATCH", "/v1/incidents/{id}") => Some(json!({"status": "ACKNOWLEDGED"})),
        ("POST", "/v1/decide") => Some(json!({"intent": intent(target, "bot-1"), "certificate": {}})),
        _ => None,
    };

    let method = actix_web::http::Method::from_bytes(case.method.as_bytes()).expect("method");
    let request = TestRequest::default().method(method).uri(&path);
    match body {
        Some(body) => request.set_json(body),
        None => request,
    }
}

fn expected(case: &Case, role: &str, caller: Caller) -> Option<StatusCode> {
    if caller == Caller::OtherTenant && !case.tenant_scoped {
        return None;
    }
    if !case.allowed.contains(&role) {
        return Some(StatusCode::FORBIDDEN);
    }
    match caller {
        Caller::OtherTenant => Some(StatusCode::FORBIDDEN),
        Caller::OwnTenant if case.platform_only => Some(StatusCode::FORBIDDEN),
        Caller::OwnTenant | Caller::Platform => Some(case.success),
    }
}

#[actix_rt::test]
async fn every_endpoint_role_and_tenant() {
    let node = start_node();
    let app = test::init_service(axiom::http::app(
        node.node.clone(),
        node.authenticator.clone(),
    ))
    .await;

    let mut failures = Vec::new();
    let mut checked = 0;
    for case in CASES {
        for role in ROLES {
            for caller in [Caller::OwnTenant, Caller::OtherTenant, Caller::Platform] {
                let Some(want) = expected(case, role, caller) else {
                    continue;
                };
                let token_tenant = if caller == Caller::Platform { "*" } else { TENANT };
                let request = build(&node, case, caller)
                    .insert_header(("Authorization", format!("Bearer {}", token(role, token_tenant))))
                    .to_request();
                let response = test::call_service(&app, request).await;
                checked += 1;
                if response.status() != want {
                    let body = test::read_body(response).await;
                    failures.push(format!(
                        "{} {} as {role} {caller:?}: want {want}, got body {}",
                        case.method,
                        case.path,
                        String::from_utf8_lossy(&body)
                    ));
                }
            }
        }

        for (label, header) in [
            ("no token", None),
            ("expired token", Some(expired_token(case.allowed[0]))),
            ("forged token", Some(forged_token(case.allowed[0]))),
            ("garbage token", Some("not.a.jwt".to_owned())),
        ] {
            let mut request = build(&node, case, Caller::OwnTenant);
            if let Some(token) = header {
                request = request.insert_header(("Authorization", format!("Bearer {token}")));
            }
            let response = test::call_service(&app, request.to_request()).await;
            checked += 1;
            if response.status() != StatusCode::UNAUTHORIZED {
                failures.push(format!(
                    "{} {} with {label}: want 401, got {}",
                    case.method,
                    case.path,
                    response.status()
                ));
            }
        }
    }

    assert!(checked > 200, "only {checked} requests checked");
    assert!(failures.is_empty(), "{} of {checked} wrong:\n{}", failures.len(), failures.join("\n"));
}

#[actix_rt::test]
async fn other_tenant_data_stays_invisible() {
    let node = start_node();
    let app = test::init_service(axiom::http::app(
        node.node.clone(),
        node.authenticator.clone(),
    ))
    .await;
    let acme_kid = fresh_key(&node, TENANT);
    let acme_incident = fresh_incident(&node, TENANT);
    let globex_admin = format!("Bearer {}", token("securityadmin", OTHER_TENANT));

    let read_key = TestRequest::get()
        .uri(&format!("/v1/keys/{acme_kid}"))
        .insert_header(("Authorization", globex_admin.clone()))
        .to_request();
    let response = test::call_service(&app, read_key).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let revoke_key = TestRequest::patch()
        .uri(&format!("/v1/keys/{acme_kid}"))
        .insert_header(("Authorization", globex_admin.clone()))
        .set_json(json!({"status": "revoked"}))
        .to_request();
    let response = test::call_service(&app, revoke_key).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let still_active = node.node.keys.get(&acme_kid).map(|record| record.status);
    assert_eq!(still_active, Some(axiom_engine::keys::KeyStatus::Active));

    let list_keys = TestRequest::get()
        .uri("/v1/keys")
        .insert_header(("Authorization", globex_admin.clone()))
        .to_request();
    let listed: Value = test::call_and_read_body_json(&app, list_keys).await;
    assert_eq!(listed, json!([]));

    let ack = TestRequest::patch()
        .uri(&format!("/v1/incidents/{acme_incident}"))
        .insert_header(("Authorization", globex_admin.clone()))
        .set_json(json!({"status": "ACKNOWLEDGED"}))
        .to_request();
    let response = test::call_service(&app, ack).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let incidents = TestRequest::get()
        .uri("/v1/incidents")
        .insert_header(("Authorization", globex_admin))
        .to_request();
    let listed: Value = test::call_and_read_body_json(&app, incidents).await;
    assert_eq!(listed, json!([]));
}

#[actix_rt::test]
async fn probes_need_no_token() {
    let node = start_node();
    let app = test::init_service(axiom::http::app(
        node.node.clone(),
        node.authenticator.clone(),
    ))
    .await;

    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let response = test::call_service(&app, TestRequest::get().uri(path).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }

    node.node.ready.store(false, Ordering::Release);
    let response = test::call_service(&app, TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}
