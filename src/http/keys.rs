//! `/v1/keys`: register, list, read, revoke and rotate agent keys.
//!
//! Every change is written to the store's keys keyspace first and then applied to the shared
//! in-memory [`KeyRegistry`](axiom_engine::keys::KeyRegistry), except revocation: it is
//! applied in memory first, so that it takes effect for the next request on every shard even
//! if the write fails (the failure is returned and logged, and revocation stays in force).

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::roles::Permission;
use crate::http::unix_now_ms;
use crate::node::Node;
use actix_web::{web, HttpResponse};
use axiom_engine::crypto::PublicKey;
use axiom_engine::keys::{KeyRecord, KeyStatus, RegistryError};
use serde::Deserialize;

/// Most keys restored from the store at start.
pub const KEYS_RESTORE_MAX: usize = 1_000_000;

/// Body of `POST /v1/keys`, and the `rotate_to` part of a rotation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// Tenant of the key; defaults to the token's.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Key id; derived from the public key when absent.
    #[serde(default)]
    pub kid: Option<String>,
    /// ed25519 public key, base64url without padding.
    pub public_key: String,
    /// Actor ids the key may sign for (`"*"` for all actors of the tenant).
    pub allowed_actors: Vec<String>,
    /// Start of validity, Unix milliseconds.
    #[serde(default)]
    pub not_before: Option<i64>,
    /// End of validity, Unix milliseconds.
    #[serde(default)]
    pub not_after: Option<i64>,
}

/// Body of `PATCH /v1/keys/{kid}`: exactly one of the two fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPatch {
    /// `"revoked"` revokes the key.
    #[serde(default)]
    pub status: Option<KeyStatus>,
    /// Registers this key as the replacement and revokes the old one.
    #[serde(default)]
    pub rotate_to: Option<NewKey>,
}

#[derive(Debug, Deserialize)]
pub struct TenantQuery {
    #[serde(default)]
    pub tenant: Option<String>,
}

fn registry_error(error: RegistryError) -> ApiError {
    match error {
        RegistryError::NotFound { kid } => ApiError::NotFound { what: "key", id: kid },
        RegistryError::Duplicate { .. } | RegistryError::AlreadyRevoked { .. } => {
            ApiError::Conflict(error.to_string())
        }
        RegistryError::InvalidRecord { .. } | RegistryError::TenantMismatch { .. } => {
            ApiError::BadRequest(error.to_string())
        }
    }
}

fn build_record(tenant: &str, body: &NewKey, now_ms: i64) -> Result<KeyRecord, ApiError> {
    let public_key = PublicKey::from_base64url(&body.public_key)
        .map_err(|error| ApiError::BadRequest(format!("public_key: {error}")))?;
    if let (Some(start), Some(end)) = (body.not_before, body.not_after) {
        if end <= start {
            return Err(ApiError::BadRequest(format!(
                "not_after {end} must be later than not_before {start}"
            )));
        }
    }
    let mut record = KeyRecord::new(tenant, public_key, body.allowed_actors.clone(), now_ms);
    if let Some(kid) = &body.kid {
        record.kid = kid.clone();
    }
    record.not_before = body.not_before;
    record.not_after = body.not_after;
    Ok(record)
}

/// Loads the key of `kid` if it belongs to `tenant`; another tenant's key is reported as not
/// found, so its existence does not leak.
fn owned_key(node: &Node, tenant: &str, kid: &str) -> Result<std::sync::Arc<KeyRecord>, ApiError> {
    node.keys
        .get(kid)
        .filter(|record| record.tenant == tenant)
        .ok_or_else(|| ApiError::NotFound {
            what: "key",
            id: kid.to_owned(),
        })
}

/// `POST /v1/keys`.
pub async fn create(
    node: web::Data<Node>,
    principal: Principal,
    body: web::Json<NewKey>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ManageKeys, "register keys", body.tenant.as_deref())?;
    let record = build_record(&tenant, &body, unix_now_ms())?;
    if node.keys.get(&record.kid).is_some() {
        return Err(ApiError::Conflict(format!("key `{}` is already registered", record.kid)));
    }

    node.store.keys().insert_new(&tenant, &record.kid, &record)?;
    if let Err(error) = node.keys.register(record.clone()) {
        let _ = node.store.keys().remove(&tenant, &record.kid);
        return Err(registry_error(error));
    }
    tracing::info!(kid = %record.kid, tenant = %tenant, by = %principal.subject, "key registered");
    Ok(HttpResponse::Created().json(record))
}

/// `GET /v1/keys`.
pub async fn list(
    node: web::Data<Node>,
    principal: Principal,
    query: web::Query<TenantQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ManageKeys, "list keys", query.tenant.as_deref())?;
    let records: Vec<KeyRecord> = node
        .keys
        .list(&tenant)
        .into_iter()
        .map(|record| (*record).clone())
        .collect();
    Ok(HttpResponse::Ok().json(records))
}

/// `GET /v1/keys/{kid}`.
pub async fn get(
    node: web::Data<Node>,
    principal: Principal,
    kid: web::Path<String>,
    query: web::Query<TenantQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ManageKeys, "read keys", query.tenant.as_deref())?;
    let record = owned_key(&node, &tenant, &kid)?;
    Ok(HttpResponse::Ok().json(&*record))
}

/// `PATCH /v1/keys/{kid}`: `{"status": "revoked"}` or `{"rotate_to": {…}}`. Revoking a key
/// that is already revoked returns 200 with the unchanged record; rotating one returns 409.
pub async fn patch(
    node: web::Data<Node>,
    principal: Principal,
    kid: web::Path<String>,
    query: web::Query<TenantQuery>,
    body: web::Json<KeyPatch>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.authorize(Permission::ManageKeys, "change keys", query.tenant.as_deref())?;
    owned_key(&node, &tenant, &kid)?;
    let now_ms = unix_now_ms();

    match (&body.status, &body.rotate_to) {
        (Some(KeyStatus::Revoked), None) => {
            let revoked = match node.keys.revoke(&kid, now_ms) {
                Ok(revoked) => revoked,
                Err(RegistryError::AlreadyRevoked { .. }) => {
                    // Revoking is idempotent, so runbook scripts can repeat it: the record is
                    // returned unchanged, with its original `revoked_at`.
                    tracing::info!(kid = %kid, tenant = %tenant, by = %principal.subject, "key already revoked; nothing changed");
                    let unchanged = owned_key(&node, &tenant, &kid)?;
                    return Ok(HttpResponse::Ok().json(&*unchanged));
                }
                Err(error) => return Err(registry_error(error)),
            };
            tracing::warn!(kid = %kid, tenant = %tenant, by = %principal.subject, "key revoked");
            node.store.keys().put(&tenant, &kid, &*revoked)?;
            Ok(HttpResponse::Ok().json(&*revoked))
        }
        (None, Some(new_key)) => {
            if new_key.tenant.as_deref().is_some_and(|named| named != tenant) {
                return Err(ApiError::BadRequest(
                    "rotate_to.tenant must be the old key's tenant".to_owned(),
                ));
            }
            let record = build_record(&tenant, new_key, now_ms)?;
            let (old, new) = node.keys.rotate(&kid, record, now_ms).map_err(registry_error)?;
            tracing::warn!(
                kid = %kid, new_kid = %new.kid, tenant = %tenant, by = %principal.subject,
                "key rotated"
            );
            node.store.keys().put(&tenant, &new.kid, &*new)?;
            node.store.keys().put(&tenant, &old.kid, &*old)?;
            Ok(HttpResponse::Ok().json(serde_json::json!({ "old": &*old, "new": &*new })))
        }
        (Some(KeyStatus::Active), None) => Err(ApiError::Conflict(
            "revocation is final: a key cannot be made active again; register a new key".to_owned(),
        )),
        _ => Err(ApiError::BadRequest(
            "send exactly one of `status` (\"revoked\") or `rotate_to`".to_owned(),
        )),
    }
}

/// Loads every stored key into the registry; returns how many were loaded.
pub fn restore(node: &Node) -> Result<usize, ApiError> {
    let stored: Vec<(String, String, KeyRecord)> = node.store.keys().list_all(KEYS_RESTORE_MAX)?;
    let count = stored.len();
    for (_, _, record) in stored {
        let kid = record.kid.clone();
        if let Err(error) = node.keys.register(record) {
            tracing::error!(kid = %kid, error = %error, "stored key could not be restored");
        }
    }
    Ok(count)
}
