//! Helpers shared by the shard integration tests: requests, responses and a started set.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axiom_engine::model::{DecisionResponse, ReasonCode, Verdict};
use axiom_engine::settings::{RuntimeSettings, SettingsSnapshot};
use axiom_engine::shard::{
    unix_now_ms, AdmitOutcome, AdmitRequest, Admission, Completion, MemoryRecovery, Rejection,
    SequenceClaim, ShardConfig, ShardSet,
};
use std::sync::Arc;

/// Certificate lifetime used by the tests, in milliseconds.
pub const CERT_LIFETIME_MS: i64 = 60_000;

pub struct Harness {
    pub shards: ShardSet,
    pub settings: Arc<RuntimeSettings>,
    pub recovery: Arc<MemoryRecovery>,
    pub base_ms: i64,
}

pub fn test_config() -> ShardConfig {
    ShardConfig {
        shard_count: 4,
        arbiter_count: 2,
        ..ShardConfig::default()
    }
}

/// Starts a shard set with a high rate limit; must run inside an actix System.
pub fn start(config: ShardConfig) -> Harness {
    let settings = Arc::new(RuntimeSettings::new(SettingsSnapshot {
        rate_limit_per_minute: 1_000_000,
        ..SettingsSnapshot::default()
    }));
    let recovery = Arc::new(MemoryRecovery::new(config.shard_count));
    let shards = ShardSet::start(config, settings.clone(), recovery.clone()).expect("shards start");
    Harness {
        shards,
        settings,
        recovery,
        base_ms: unix_now_ms(),
    }
}

pub fn request(tenant: &str, actor: &str, nonce: &str, now_ms: i64) -> AdmitRequest {
    AdmitRequest {
        tenant: tenant.to_owned(),
        actor_id: actor.to_owned(),
        kid: format!("{tenant}-key"),
        nonce: nonce.to_owned(),
        cert_expires_at_ms: now_ms + CERT_LIFETIME_MS,
        sequence: None,
        idempotency_key: format!("idem-{nonce}"),
        intent_hash: [7; 32],
        budget_codes: Vec::new(),
        now_ms,
    }
}

pub fn with_sequence(mut request: AdmitRequest, stream: &str, value: u64) -> AdmitRequest {
    request.sequence = Some(SequenceClaim {
        stream_id: stream.to_owned(),
        value,
    });
    request
}

pub fn response(verdict: Verdict, reason: ReasonCode) -> DecisionResponse {
    DecisionResponse {
        decision_id: format!("d-{verdict}-{reason}"),
        verdict,
        reason_code: reason,
        retry_after_ms: None,
        shield: None,
        escrow: None,
        counterexample: None,
        detail: None,
        receipt: None,
    }
}

pub fn completion(verdict: Verdict, now_ms: i64) -> Completion {
    let reason = if verdict == Verdict::Allow {
        ReasonCode::Ok
    } else {
        ReasonCode::SmtUnavailable
    };
    Completion {
        response: response(verdict, reason),
        reservations: Vec::new(),
        now_ms,
    }
}

pub fn admitted(outcome: AdmitOutcome) -> Admission {
    match outcome {
        AdmitOutcome::Admitted(admission) => admission,
        other => panic!("expected an admission, got {other:?}"),
    }
}

pub fn rejected(outcome: AdmitOutcome) -> Rejection {
    match outcome {
        AdmitOutcome::Rejected(rejection) => rejection,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Two tenant names that map to different shards.
pub fn tenants_on_distinct_shards(shards: &ShardSet) -> (String, String) {
    let first = "tenant-a".to_owned();
    let index = shards.shard_for(&first);
    let second = (0..1_000)
        .map(|i| format!("tenant-{i}"))
        .find(|name| shards.shard_for(name) != index)
        .expect("some tenant maps to another shard");
    (first, second)
}
