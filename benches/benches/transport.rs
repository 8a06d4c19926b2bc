//! The QUIC transport alone, on 127.0.0.1 with an echo handler: the round-trip time of one
//! request at a time, and the cost per request when 64 requests share one connection at once.
//!
//! The payload is 1 KiB, about the size of a signed intent with its certificate. Client and server run
//! on one two-worker tokio runtime in the same process, so the figures include both sides.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axiom_transport::{
    start, Client, ClientConfig, ClientLimits, PeerInfo, RequestHandler, ServerConfig, ServerTrust,
    TlsIdentity, TransportLimits,
};
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAYLOAD_BYTES: usize = 1024;
const CONCURRENT_REQUESTS: usize = 64;

/// Returns the request payload unchanged, so the figures measure the transport only.
struct Echo;

impl RequestHandler for Echo {
    fn handle(&self, request: Bytes, _peer: PeerInfo) -> Pin<Box<dyn Future<Output = Bytes> + Send>> {
        Box::pin(async move { request })
    }
}

fn transport(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let identity = TlsIdentity::generate_self_signed(&["localhost".to_owned()]).unwrap();
    let fingerprint = identity.fingerprint();

    let (server, client) = runtime.block_on(async {
        let config = ServerConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            identity,
            client_auth: None,
            limits: TransportLimits::default(),
        };
        let server = start(config, Arc::new(Echo)).await.unwrap();
        let client = Client::connect(ClientConfig {
            server: server.local_addr(),
            server_name: "localhost".to_owned(),
            trust: ServerTrust::PinnedFingerprint(fingerprint),
            client_identity: None,
            limits: ClientLimits::default(),
        })
        .await
        .unwrap();
        (server, client)
    });
    let payload = Bytes::from(vec![b'x'; PAYLOAD_BYTES]);

    let mut group = c.benchmark_group("transport");
    group.throughput(Throughput::Elements(1));
    group.bench_function("round_trip_1k", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let began = Instant::now();
                for _ in 0..iterations {
                    let response = client.request(payload.clone()).await.unwrap();
                    assert_eq!(response.len(), PAYLOAD_BYTES);
                }
                began.elapsed()
            })
        })
    });

    group.throughput(Throughput::Elements(CONCURRENT_REQUESTS as u64));
    group.bench_function("concurrent_64_1k", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let began = Instant::now();
                for _ in 0..iterations {
                    let mut tasks = Vec::with_capacity(CONCURRENT_REQUESTS);
                    for _ in 0..CONCURRENT_REQUESTS {
                        let client = client.clone();
                        let payload = payload.clone();
                        tasks.push(tokio::spawn(async move { client.request(payload).await }));
                    }
                    for task in tasks {
                        let response = task.await.unwrap().unwrap();
                        assert_eq!(response.len(), PAYLOAD_BYTES);
                    }
                }
                began.elapsed()
            })
        })
    });
    group.finish();

    runtime.block_on(async {
        server.shutdown(Duration::from_secs(1)).await;
    });
}

criterion_group!(benches, transport);
criterion_main!(benches);
