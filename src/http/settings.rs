//! `/v1/settings`: runtime settings changed without a restart, every change audited.
//!
//! Settings are node-wide (one rate limit, one acceptance TTL for every tenant), so changing
//! them needs a platform-wide token (`tenant: "*"`, `platform: true`); any holder of the read
//! role may read them. Each change is written with the old and new values, who made it and
//! when, to the settings history in the same fsynced batch as the new values, and only then
//! applied to the live settings.

use crate::http::auth::{Principal, TenantScope};
use crate::http::error::ApiError;
use crate::http::roles::Permission;
use crate::http::unix_now_ms;
use crate::node::Node;
use actix_web::{web, HttpResponse};
use axiom_engine::settings::SettingsSnapshot;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// Largest accepted `THRESHOLD_SCALE_MILLI` (100 times the thresholds as written); beyond it
/// an escrow threshold no longer means anything.
pub const THRESHOLD_SCALE_MILLI_MAX: u64 = 100_000;
/// Largest accepted `MAX_DEFER_TOTAL_MS` (one hour); a longer defer budget would keep nonces
/// of deferred certificates alive for longer than any certificate should live.
pub const MAX_DEFER_TOTAL_MS_MAX: u64 = 3_600_000;
/// Most history entries one `GET /v1/settings/history` returns.
pub const HISTORY_PAGE_MAX: usize = 1_000;

/// Serializes read-modify-write of the settings, so two concurrent changes cannot both be
/// recorded against the same old values.
static SETTINGS_WRITE: Mutex<()> = Mutex::new(());

/// The settings under the names the runbook and the environment use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsView {
    /// Requests per minute per actor.
    #[serde(rename = "RATE_LIMIT_PER_MINUTE")]
    pub rate_limit_per_minute: u64,
    /// Longest accepted certificate lifetime, ms; 0 rejects every certificate.
    #[serde(rename = "ACCEPTANCE_TTL_MS")]
    pub acceptance_ttl_ms: u64,
    /// Defer retry budget after `issued_at`, ms.
    #[serde(rename = "MAX_DEFER_TOTAL_MS")]
    pub max_defer_total_ms: u64,
    /// Allowed clock difference, ms.
    #[serde(rename = "CLOCK_SKEW_MS")]
    pub clock_skew_ms: u64,
    /// No ALLOW while true.
    #[serde(rename = "DEGRADED_NO_ALLOW")]
    pub degraded_no_allow: bool,
    /// Shield and escrow threshold multiplier, thousandths.
    #[serde(rename = "THRESHOLD_SCALE_MILLI")]
    pub threshold_scale_milli: u64,
}

impl From<SettingsSnapshot> for SettingsView {
    fn from(snapshot: SettingsSnapshot) -> Self {
        SettingsView {
            rate_limit_per_minute: snapshot.rate_limit_per_minute,
            acceptance_ttl_ms: snapshot.acceptance_ttl_ms,
            max_defer_total_ms: snapshot.max_defer_total_ms,
            clock_skew_ms: snapshot.clock_skew_ms,
            degraded_no_allow: snapshot.degraded_no_allow,
            threshold_scale_milli: snapshot.threshold_scale_milli,
        }
    }
}

/// Body of `PATCH /v1/settings`: any subset of the settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(rename = "RATE_LIMIT_PER_MINUTE", default)]
    rate_limit_per_minute: Option<u64>,
    #[serde(rename = "ACCEPTANCE_TTL_MS", default)]
    acceptance_ttl_ms: Option<u64>,
    #[serde(rename = "MAX_DEFER_TOTAL_MS", default)]
    max_defer_total_ms: Option<u64>,
    #[serde(rename = "CLOCK_SKEW_MS", default)]
    clock_skew_ms: Option<u64>,
    #[serde(rename = "DEGRADED_NO_ALLOW", default)]
    degraded_no_allow: Option<bool>,
    #[serde(rename = "THRESHOLD_SCALE_MILLI", default)]
    threshold_scale_milli: Option<u64>,
    /// Reason for the change, kept in the history.
    #[serde(default)]
    reason: Option<String>,
}

/// One settings change as kept in the history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettingsChange {
    /// The token's `sub`.
    pub changed_by: String,
    /// Values before the change.
    pub old: SettingsSnapshot,
    /// Values after the change.
    pub new: SettingsSnapshot,
    /// Reason given by the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Largest clock skew accepted, in milliseconds (10 minutes): a larger one would keep expired
/// certificates valid and nonces remembered far beyond their lifetime.
pub const CLOCK_SKEW_MS_MAX: u64 = 600_000;

/// Longest accepted change reason, in bytes.
pub const REASON_BYTES_MAX: usize = 1_024;

fn apply_patch(old: SettingsSnapshot, patch: &SettingsPatch) -> Result<SettingsSnapshot, ApiError> {
    let mut new = old;
    if let Some(value) = patch.rate_limit_per_minute {
        new.rate_limit_per_minute = value;
    }
    if let Some(value) = patch.acceptance_ttl_ms {
        new.acceptance_ttl_ms = value;
        if value == 0 {
            // Runbook: a TTL of 0 invalidates every certificate active now, for good.
            new.certificates_issued_after_ms = unix_now_ms();
        }
    }
    if let Some(value) = patch.max_defer_total_ms {
        if value > MAX_DEFER_TOTAL_MS_MAX {
            return Err(ApiError::BadRequest(format!(
                "MAX_DEFER_TOTAL_MS {value} is above the limit of {MAX_DEFER_TOTAL_MS_MAX}"
            )));
        }
        new.max_defer_total_ms = value;
    }
    if let Some(value) = patch.clock_skew_ms {
        if value > CLOCK_SKEW_MS_MAX {
            return Err(ApiError::BadRequest(format!(
                "CLOCK_SKEW_MS {value} is above the limit of {CLOCK_SKEW_MS_MAX}"
            )));
        }
        new.clock_skew_ms = value;
    }
    if let Some(value) = patch.degraded_no_allow {
        new.degraded_no_allow = value;
    }
    if let Some(value) = patch.threshold_scale_milli {
        if value == 0 || value > THRESHOLD_SCALE_MILLI_MAX {
            return Err(ApiError::BadRequest(format!(
                "THRESHOLD_SCALE_MILLI {value} must be between 1 and {THRESHOLD_SCALE_MILLI_MAX}"
            )));
        }
        new.threshold_scale_milli = value;
    }
    if patch.reason.as_ref().is_some_and(|reason| reason.len() > REASON_BYTES_MAX) {
        return Err(ApiError::BadRequest(format!(
            "reason is longer than {REASON_BYTES_MAX} bytes"
        )));
    }
    Ok(new)
}

/// `GET /v1/settings`.
pub async fn get(node: web::Data<Node>, principal: Principal) -> Result<HttpResponse, ApiError> {
    principal.require(Permission::ReadSettings, "read settings")?;
    Ok(HttpResponse::Ok().json(SettingsView::from(node.settings.snapshot())))
}

/// `PATCH /v1/settings`.
pub async fn patch(
    node: web::Data<Node>,
    principal: Principal,
    body: web::Json<SettingsPatch>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Permission::WriteSettings, "change settings")?;
    if principal.scope != TenantScope::Platform {
        return Err(ApiError::TenantForbidden {
            requested: "*".to_owned(),
        });
    }

    let _guard = SETTINGS_WRITE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let old = node.settings.snapshot();
    let new = apply_patch(old, &body)?;
    let change = SettingsChange {
        changed_by: principal.subject.clone(),
        old,
        new,
        reason: body.reason.clone(),
    };
    let time_ms = u64::try_from(unix_now_ms()).unwrap_or(0);
    let entry_id = node.store.settings().put(time_ms, &new, &change)?;
    node.settings.apply(new);

    tracing::warn!(
        by = %principal.subject, history_id = entry_id, old = ?old, new = ?new,
        "runtime settings changed"
    );
    Ok(HttpResponse::Ok().json(SettingsView::from(new)))
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    #[serde(default)]
    after_id: u64,
}

/// `GET /v1/settings/history?after_id=`.
pub async fn history(
    node: web::Data<Node>,
    principal: Principal,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Permission::ReadSettings, "read the settings history")?;
    let entries: Vec<axiom_storage::LogEntry<SettingsChange>> =
        node.store.settings().history(query.after_id, HISTORY_PAGE_MAX)?;
    Ok(HttpResponse::Ok().json(entries))
}

/// Applies the settings stored by the last change, if any. They override the start flags,
/// because an operator's runtime change (a lowered TTL after a key leak) must survive a
/// restart. Returns whether stored settings were found.
pub fn restore(node: &Node) -> Result<bool, ApiError> {
    let Some(stored) = node.store.settings().get::<SettingsSnapshot>()? else {
        return Ok(false);
    };
    node.settings.apply(stored);
    Ok(true)
}
