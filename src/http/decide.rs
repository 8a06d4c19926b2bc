//! `POST /v1/decide`: the QUIC decision over HTTP, for clients without QUIC.

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::roles::Permission;
use crate::node::{Endpoint, Node};
use actix_web::{web, HttpResponse};

/// `POST /v1/decide`: the body is the same envelope bytes an agent sends over QUIC, and the
/// response is the same decision. The operator's token must be of the intent's tenant; the
/// engine then checks the agent's signature as on QUIC.
pub async fn decide(
    node: web::Data<Node>,
    principal: Principal,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    principal.require(Permission::Decide, "request decisions")?;
    if body.len() > node.config.request_bytes_max {
        return Err(ApiError::BadRequest(format!(
            "body is {} bytes, above the limit of {}",
            body.len(),
            node.config.request_bytes_max
        )));
    }
    if let Some(tenant) = claimed_tenant(&body) {
        principal.tenant(Some(&tenant))?;
    } else {
        principal.tenant(None)?;
    }

    let response = node.decide(&body, Endpoint::HttpDecide).await;
    Ok(HttpResponse::Ok().json(response))
}

/// Reads `intent.actor.tenant` from an envelope, or None when the body does not have one (the
/// engine then returns MALFORMED_REQUEST itself).
fn claimed_tenant(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value
        .pointer("/intent/actor/tenant")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}
