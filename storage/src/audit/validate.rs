//! Checks on an entry before it is staged, so that no field can break a key or bloat a batch.

use super::entry::AuditEntry;
use crate::config::ID_BYTES_MAX;
use crate::error::StorageError;
use crate::keys::{check_id, check_tenant};

/// Checks every field that ends up in a key, and the time.
pub fn validate_entry(entry: &AuditEntry) -> Result<(), StorageError> {
    let decision = &entry.decision;
    check_id("decision_id", &decision.decision_id)?;
    check_tenant(&decision.tenant)?;
    check_id("actor_id", &entry.personal.actor_id)?;
    check_bounded("kid", &decision.kid)?;
    check_bounded("cert_id", &decision.cert_id)?;
    check_bounded("nonce", &decision.nonce)?;
    check_bounded("intent_hash", &decision.intent_hash)?;
    if let Some(policy_set_id) = &decision.policy_set_id {
        check_bounded("policy_set_id", policy_set_id)?;
    }
    if let Some(escrow_id) = &decision.escrow_id {
        check_bounded("escrow_id", escrow_id)?;
    }
    match (&decision.sequence, &decision.sequence_stream) {
        (Some(_), Some(stream)) => check_id("sequence_stream", stream)?,
        (None, None) => {}
        _ => {
            return Err(StorageError::invalid(
                "sequence_stream",
                "must be present exactly when sequence is",
            ))
        }
    }
    if decision.time_ms < 0 {
        return Err(StorageError::invalid(
            "time_ms",
            format!("is {}, must not be negative", decision.time_ms),
        ));
    }
    Ok(())
}

/// A field kept in the body only: it may be empty (a rejected certificate can lack it) but
/// stays within [`ID_BYTES_MAX`].
fn check_bounded(field: &'static str, value: &str) -> Result<(), StorageError> {
    if value.len() > ID_BYTES_MAX {
        return Err(StorageError::invalid(
            field,
            format!(
                "is {} bytes, above the limit of {ID_BYTES_MAX}",
                value.len()
            ),
        ));
    }
    Ok(())
}
