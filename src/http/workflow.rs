//! Helpers shared by the workflow endpoints (escrows, approvers, policies, GDPR, audit):
//! the engine-side principal of a verified token, and the mapping of state-machine errors to
//! HTTP statuses.

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use actix_web::HttpResponse;
use axiom_engine::escrow::{self, EscrowError};
use axiom_engine::lifecycle::LifecycleError;
use serde_json::json;

/// Builds the principal the state machines check: the token's subject and tenant, its roles,
/// and `pool_roles` (the approver pool's roles for the subject). Never read from a body.
pub fn engine_principal(principal: &Principal, tenant: &str, pool_roles: Vec<String>) -> escrow::Principal {
    let mut roles: Vec<String> = principal
        .roles
        .iter()
        .map(|role| role.as_str().to_owned())
        .collect();
    for role in pool_roles {
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    escrow::Principal {
        id: principal.subject.clone(),
        roles,
        tenant: tenant.to_owned(),
    }
}

/// Returns a `{"error", "message"}` response with `status`, the control plane's error shape.
pub fn error_response(status: actix_web::http::StatusCode, code: &str, message: String) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": code, "message": message}))
}

/// Maps an escrow error: 403 for rights, 409 for state (of the escrow or of the data it
/// depends on), 503 for an unavailable component, 400 for invalid data.
pub fn escrow_error(error: &EscrowError) -> HttpResponse {
    use actix_web::http::StatusCode;
    if error.is_forbidden() {
        return error_response(StatusCode::FORBIDDEN, "forbidden", error.to_string());
    }
    if error.is_unavailable() {
        return error_response(StatusCode::SERVICE_UNAVAILABLE, "unavailable", error.to_string());
    }
    if error.is_conflict() {
        return error_response(StatusCode::CONFLICT, "conflict", error.to_string());
    }
    error_response(StatusCode::BAD_REQUEST, "bad_request", error.to_string())
}

/// Maps a lifecycle error: 403 for rights, 422 for diagnostics, 400 for invalid data, 409
/// for state.
pub fn lifecycle_error(error: &LifecycleError) -> HttpResponse {
    use actix_web::http::StatusCode;
    if error.is_forbidden() {
        return error_response(StatusCode::FORBIDDEN, "forbidden", error.to_string());
    }
    match error {
        LifecycleError::PublishBlocked { diagnostics, .. } => HttpResponse::build(StatusCode::UNPROCESSABLE_ENTITY)
            .json(json!({"error": "publish_blocked", "message": error.to_string(), "diagnostics": diagnostics})),
        LifecycleError::InvalidVersion(_) => {
            error_response(StatusCode::BAD_REQUEST, "bad_request", error.to_string())
        }
        _ => error_response(StatusCode::CONFLICT, "conflict", error.to_string()),
    }
}

/// Converts an internal failure (storage, encoding) into a 500.
pub fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(error.to_string())
}

/// The 409 sent when another request changed a record between read and write.
pub fn concurrent_change(what: &str, id: &str) -> HttpResponse {
    error_response(
        actix_web::http::StatusCode::CONFLICT,
        "conflict",
        format!("{what} `{id}` was changed by another request; read it again and retry"),
    )
}
