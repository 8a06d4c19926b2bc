//! Cost of the metrics calls on the decision path: recording one request's latency
//! (`Metrics::observe_request`, called once per QUIC decision) and one decision
//! (`observe_decision`), and of rendering a scrape with 20 endpoints.

use axiom::node::metrics::Metrics;
use axiom_engine::model::{ReasonCode, Verdict};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::Duration;

fn record(c: &mut Criterion) {
    let metrics = Metrics::default();
    metrics.observe_request("quic_decide", Duration::from_micros(800));
    let mut micros = 0u64;
    c.bench_function("metrics/observe_request", |b| {
        b.iter(|| {
            micros = (micros + 37) % 5_000;
            metrics.observe_request(black_box("quic_decide"), Duration::from_micros(micros));
        })
    });
    c.bench_function("metrics/observe_decision", |b| {
        b.iter(|| metrics.observe_decision(black_box(Verdict::Allow), black_box(ReasonCode::Ok)))
    });
}

fn scrape(c: &mut Criterion) {
    let metrics = Metrics::default();
    for endpoint in 0..20 {
        for sample in 0..1_000u64 {
            metrics.observe_request(&format!("/v1/endpoint{endpoint}"), Duration::from_micros(sample * 13));
        }
    }
    c.bench_function("metrics/render_20_endpoints", |b| b.iter(|| black_box(metrics.render())));
}

criterion_group!(benches, record, scrape);
criterion_main!(benches);
