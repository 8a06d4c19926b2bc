//! Graceful shutdown: in-flight requests finish, new streams and connections are refused, and
//! the grace period bounds the wait.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axiom_transport::{Client, ClientError, ShutdownOutcome, TransportLimits};
use common::*;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_requests() {
    let server = Arc::new(start_server(TransportLimits::default(), None).await);
    let first = connect(&server).await;
    let second = connect(&server).await;

    let mut slow = Vec::new();
    for index in 0..4 {
        let client = if index % 2 == 0 { first.clone() } else { second.clone() };
        slow.push(tokio::spawn(async move {
            let tag = format!("in-flight-{index}");
            (tag.clone(), client.request(sleep_request(600, &tag)).await)
        }));
    }
    let handler = server.handler.clone();
    let started = eventually(Duration::from_secs(5), || handler.calls.load(Ordering::SeqCst) == 4).await;
    assert!(started, "the slow requests did not reach the handler");

    let stopping = server.clone();
    let shutdown = tokio::spawn(async move { stopping.handle.shutdown(Duration::from_secs(10)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;

    // New work is refused while the slow requests are still running.
    let refused_stream = first.request(sum_request(&[1])).await.unwrap_err();
    assert!(matches!(refused_stream, ClientError::StreamRefused), "got {refused_stream}");
    let refused_connection = Client::connect(pinned_config(&server)).await.unwrap_err();
    assert!(
        matches!(refused_connection, ClientError::ConnectionRefused),
        "got {refused_connection}"
    );

    for task in slow {
        let (tag, result) = task.await.unwrap();
        let response = parse(&result.unwrap_or_else(|error| panic!("{tag} lost: {error}")));
        assert_eq!(response["tag"], tag);
        assert_eq!(response["slept_ms"], 600);
    }
    assert_eq!(shutdown.await.unwrap(), ShutdownOutcome::Drained);

    // After the close, the existing connections report the shutdown.
    let closed = first.request(sum_request(&[1])).await.unwrap_err();
    assert!(matches!(closed, ClientError::ServerShutDown), "got {closed}");
    let stats = server.handle.stats().snapshot();
    assert_eq!(stats.streams_refused_total, 1);
    assert_eq!(stats.connections_refused_total, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_grace_bounds_wait() {
    let server = Arc::new(start_server(TransportLimits::default(), None).await);
    let client = connect(&server).await;

    let stuck_client = client.clone();
    let stuck = tokio::spawn(async move { stuck_client.request(sleep_request(1_500, "stuck")).await });
    let handler = server.handler.clone();
    assert!(eventually(Duration::from_secs(5), || handler.calls.load(Ordering::SeqCst) == 1).await);

    let began = tokio::time::Instant::now();
    let outcome = server.handle.shutdown(Duration::from_millis(200)).await;

    assert_eq!(outcome, ShutdownOutcome::GraceExpired { streams_abandoned: 1 });
    assert!(began.elapsed() < Duration::from_millis(1_400), "shutdown waited for the handler");
    let error = stuck.await.unwrap().unwrap_err();
    assert!(matches!(error, ClientError::ServerShutDown), "got {error}");
}
