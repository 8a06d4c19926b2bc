//! Fixtures shared by the storage scenarios: entries, an engine key, a store in a temp dir.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use axiom_engine::model::{ReasonCode, Verdict};
use axiom_storage::{AuditEntry, DecisionFields, PersonalData, Store, StoreConfig};
use ed25519_dalek::SigningKey;
use std::path::Path;

/// A fixed engine key, so checkpoints are reproducible across reopen.
pub fn engine_key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

/// Small batches and frequent checkpoints, so the tests cross batch and checkpoint borders.
pub fn config() -> StoreConfig {
    StoreConfig {
        audit_batch_records_max: 16,
        audit_batch_wait_us: 200,
        audit_checkpoint_interval_records: 4,
        ..StoreConfig::default()
    }
}

pub fn open(dir: &Path) -> Store {
    Store::open(dir, config()).unwrap()
}

/// Builds an ALLOW entry for `actor` of `tenant`, decided at `time_ms`.
pub fn entry(shard: u32, decision_id: &str, tenant: &str, actor: &str, time_ms: i64) -> AuditEntry {
    AuditEntry {
        shard,
        decision: DecisionFields {
            decision_id: decision_id.to_string(),
            tenant: tenant.to_string(),
            kid: "kid-1".into(),
            cert_id: format!("cert-{decision_id}"),
            nonce: format!("nonce-{decision_id}"),
            expires_at: time_ms + 60_000,
            sequence: None,
            sequence_stream: None,
            policy_set_id: Some("finance-v18".into()),
            intent_hash: "ab".repeat(32),
            verdict: Verdict::Allow,
            reason_code: ReasonCode::Ok,
            time_ms,
            escrow_id: None,
            facts: serde_json::json!({"source.bank.age_sec": 3}),
            response: serde_json::json!({"decision_id": decision_id, "verdict": "ALLOW"}),
        },
        personal: PersonalData {
            actor_id: actor.to_string(),
            params: serde_json::json!({"amount": "120.00", "payee": format!("payee of {actor}")}),
        },
    }
}
