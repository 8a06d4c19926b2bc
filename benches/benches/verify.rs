//! Cost of the stateless checks on a typical 1 KiB signed request: the full `authenticate`
//! path, and its two main parts, the intent hash and the strict signature verification.

use axiom_engine::checks::{authenticate, CheckLimits};
use axiom_engine::crypto::{
    base64url_decode, certificate_signing_input, intent_hash, verify_strict, AgentKey,
    CertificateOptions,
};
use axiom_engine::keys::{KeyRecord, KeyRegistry};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use std::hint::black_box;

const NOW_MS: i64 = 1_750_000_000_000;

/// Builds an intent shaped like a payment request, with realistic parameters that bring the
/// signed envelope to about 1 KiB.
fn typical_intent() -> Value {
    json!({
        "intent_id": "2f1c7e0a-5b7d-4a53-9a55-3c1e0c8e9d41",
        "idempotency_key": "pay-invoice-INV-2024-000731",
        "actor": {"id": "ap-agent-17", "tenant": "acme-finance", "roles": ["FinanceOperator", "Payments"]},
        "target": {
            "domain": "finance",
            "object_types": ["invoice", "vendor"],
            "object_ids": ["INV-2024-000731", "VEND-00912"],
            "scope": "single"
        },
        "operation": {
            "name": "pay_invoice",
            "params": {
                "amount": "12450.75",
                "currency": "EUR",
                "vendor_iban": "DE89370400440532013000",
                "due_date": "2024-11-30",
                "memo": "Quarterly maintenance contract, Q4, site Hamburg-Nord",
                "payment_method": "sepa_credit_transfer",
                "approver_hint": "finance-manager-eu",
                "lines": 4
            }
        },
        "data_requirements": {
            "required_sources": ["bank", "erp", "vendor_master"],
            "max_staleness_sec": 30,
            "uncertainty_budget": {"amount": "0.05"}
        },
        "time": {"request_time": NOW_MS - 500}
    })
}

fn bench_verify(criterion: &mut Criterion) {
    let key = AgentKey::generate();
    let registry = KeyRegistry::new();
    let record = KeyRecord::new(
        "acme-finance",
        key.key_pair().public_key(),
        vec!["ap-agent-17".into()],
        0,
    );
    registry.register(record).expect("fresh registry");

    let intent = typical_intent();
    let options = CertificateOptions {
        issued_at_ms: Some(NOW_MS - 500),
        ttl_ms: 60_000,
        sequence: Some(731),
        policy_set_id: Some("finance-v18".into()),
        ..CertificateOptions::default()
    };
    let envelope = key.sign_envelope(&intent, &options).expect("valid intent");
    let request = serde_json::to_vec(&envelope).expect("serializable envelope");
    let limits = CheckLimits::default();
    assert!(authenticate(&request, &registry, &limits, NOW_MS).is_ok());

    let certificate = envelope["certificate"]
        .as_object()
        .expect("certificate object");
    let signing_input = certificate_signing_input(certificate);
    let signature = base64url_decode(certificate["sig"].as_str().expect("sig string"))
        .expect("base64url signature");
    let public_key = key.key_pair().public_key();

    let mut group = criterion.benchmark_group("verify");
    group.throughput(Throughput::Bytes(request.len() as u64));
    group.bench_function(format!("authenticate_{}_bytes", request.len()), |bencher| {
        bencher.iter(|| authenticate(black_box(&request), &registry, &limits, NOW_MS).is_ok())
    });
    group.bench_function("intent_hash", |bencher| {
        bencher.iter(|| intent_hash(black_box(&intent)))
    });
    group.bench_function("verify_strict", |bencher| {
        bencher.iter(|| verify_strict(&public_key, black_box(&signing_input), &signature).is_ok())
    });
    group.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
