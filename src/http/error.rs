//! Errors of the control plane, each mapped to one HTTP status in one place.
//!
//! The body is always `{"error": CODE, "message": TEXT}`: `CODE` is stable for clients,
//! `TEXT` states what failed and how to fix it.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use axiom_storage::StorageError;
use serde::Serialize;

/// Errors of a control-plane request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No `Authorization: Bearer …` header.
    #[error("missing bearer token: send `Authorization: Bearer <jwt>`")]
    MissingToken,

    /// The token failed decoding, signature or claim checks.
    #[error("invalid bearer token: {0}")]
    InvalidToken(String),

    /// The token's `exp` has passed.
    #[error("bearer token expired; request a new one")]
    ExpiredToken,

    /// None of the token's roles grants the request.
    #[error("roles {roles} may not {action}; it needs one of {required}")]
    RoleForbidden {
        /// The token's roles.
        roles: String,
        /// The action the request attempted.
        action: &'static str,
        /// Roles that would grant it.
        required: String,
    },

    /// The request names a tenant other than the token's.
    #[error("tenant `{requested}` is outside this token's tenant")]
    TenantForbidden {
        /// The tenant the request named.
        requested: String,
    },

    /// The request is malformed or a value is out of range.
    #[error("invalid request: {0}")]
    BadRequest(String),

    /// The named entry does not exist (in the caller's tenant).
    #[error("{what} `{id}` not found")]
    NotFound {
        /// Kind of entry.
        what: &'static str,
        /// Its id.
        id: String,
    },

    /// The request conflicts with the entry's current state.
    #[error("{0}")]
    Conflict(String),

    /// The node has not finished starting.
    #[error("node is not ready: {0}")]
    Unavailable(String),

    /// The store failed; nothing was acknowledged.
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),

    /// An internal invariant failed.
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

impl ApiError {
    /// Returns the stable error code of the body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingToken => "missing_token",
            ApiError::InvalidToken(_) => "invalid_token",
            ApiError::ExpiredToken => "expired_token",
            ApiError::RoleForbidden { .. } => "role_forbidden",
            ApiError::TenantForbidden { .. } => "tenant_forbidden",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound { .. } => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Storage(StorageError::InvalidInput { .. }) => "bad_request",
            ApiError::Storage(StorageError::AlreadyExists { .. }) => "conflict",
            ApiError::Storage(_) => "storage_error",
            ApiError::Internal(_) => "internal_error",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MissingToken | ApiError::InvalidToken(_) | ApiError::ExpiredToken => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::RoleForbidden { .. } | ApiError::TenantForbidden { .. } => {
                StatusCode::FORBIDDEN
            }
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Storage(StorageError::InvalidInput { .. }) => StatusCode::BAD_REQUEST,
            ApiError::Storage(StorageError::AlreadyExists { .. }) => StatusCode::CONFLICT,
            ApiError::Storage(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "control-plane request failed");
        }

        let mut response = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"axiom\", error=\"invalid_token\""),
            ));
        }
        response.json(ErrorBody {
            error: self.code(),
            message: self.to_string(),
        })
    }
}
