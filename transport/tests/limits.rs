//! Server limits under real QUIC on 127.0.0.1: connection count, stream count, idle timeout,
//! handler timeout and frame read timeout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axiom_engine::model::ReasonCode;
use axiom_transport::{Client, ClientError, StreamEnding, TransportLimits};
use bytes::Bytes;
use common::*;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_max_refused() {
    let limits = TransportLimits {
        connections_max: 2,
        ..TransportLimits::default()
    };
    let server = start_server(limits, None).await;
    let first = connect(&server).await;
    let second = connect(&server).await;

    let error = Client::connect(pinned_config(&server)).await.unwrap_err();
    assert!(matches!(error, ClientError::ConnectionRefused), "got {error}");
    assert_eq!(server.handle.stats().snapshot().connections_refused_total, 1);

    // The existing connections keep working.
    assert_eq!(parse(&first.request(sum_request(&[1, 2])).await.unwrap())["sum"], 3);
    assert_eq!(parse(&second.request(sum_request(&[3, 4])).await.unwrap())["sum"], 7);

    // Closing one frees its slot for a new connection.
    first.close().await;
    let stats = server.handle.stats();
    let freed = eventually(Duration::from_secs(5), || stats.snapshot().connections_open == 1).await;
    assert!(freed, "connections_open stayed at {}", stats.snapshot().connections_open);
    let third = connect(&server).await;
    assert_eq!(parse(&third.request(sum_request(&[5, 6])).await.unwrap())["sum"], 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_per_connection_bounded() {
    let limits = TransportLimits {
        streams_per_connection_max: 2,
        ..TransportLimits::default()
    };
    let server = start_server(limits, None).await;
    let client = connect(&server).await;

    let mut tasks = Vec::new();
    for index in 0..6 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let tag = format!("slow-{index}");
            let response = parse(&client.request(sleep_request(150, &tag)).await.unwrap());
            assert_eq!(response["tag"], tag);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    // Every request got its response, but never more than two ran at once.
    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 6);
    assert_eq!(server.handler.running_max.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connection_closed() {
    let limits = TransportLimits {
        idle_timeout_ms: 300,
        ..TransportLimits::default()
    };
    let server = start_server(limits, None).await;
    let client = connect(&server).await;
    assert_eq!(parse(&client.request(sum_request(&[1])).await.unwrap())["sum"], 1);

    let stats = server.handle.stats();
    let closed = eventually(Duration::from_secs(5), || stats.snapshot().connections_open == 0).await;

    assert!(closed, "the server kept the idle connection open");
    assert!(client.is_closed());
    let error = client.request(sum_request(&[1])).await.unwrap_err();
    assert!(
        matches!(error, ClientError::Connection(quinn::ConnectionError::TimedOut)),
        "got {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_outlives_idle_timeout() {
    let limits = TransportLimits {
        idle_timeout_ms: 300,
        ..TransportLimits::default()
    };
    let server = start_server(limits, None).await;
    let mut config = pinned_config(&server);
    config.limits.keep_alive_interval_ms = Some(100);
    let client = Client::connect(config).await.unwrap();

    tokio::time::sleep(Duration::from_millis(900)).await;

    assert!(!client.is_closed());
    assert_eq!(parse(&client.request(sum_request(&[8])).await.unwrap())["sum"], 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_handler_gets_overloaded() {
    let limits = TransportLimits {
        request_timeout_ms: 200,
        ..TransportLimits::default()
    };
    let server = start_server(limits, None).await;
    let client = connect(&server).await;

    let response = client.request(sleep_request(3_000, "slow")).await.unwrap();
    let rejection = parse_rejection(&response);

    assert_eq!(rejection.reason_code, ReasonCode::Overloaded);
    assert!(rejection.detail.unwrap_or_default().contains("within 200 ms"));
    assert_eq!(server.handle.stats().snapshot().request_timeouts_total, 1);
    // The timed-out handler was dropped, so its stream task ends without waiting for it.
    let stats = server.handle.stats();
    let ended = eventually(Duration::from_secs(1), || stats.snapshot().streams_open == 0).await;
    assert!(ended, "the stream task still waits for the timed-out handler");
    let fast = parse(&client.request(sleep_request(10, "fast")).await.unwrap());
    assert_eq!(fast["tag"], "fast");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_frame_times_out() {
    let limits = TransportLimits {
        frame_read_timeout_ms: 200,
        ..TransportLimits::default()
    };
    let server = start_server(limits, None).await;
    let client = connect(&server).await;
    let mut partial = 50u32.to_be_bytes().to_vec();
    partial.extend_from_slice(b"{\"op\":");

    let response = client
        .send_raw(Bytes::from(partial), StreamEnding::LeaveOpen)
        .await
        .unwrap();
    let rejection = parse_rejection(&response);

    assert_eq!(rejection.reason_code, ReasonCode::MalformedRequest);
    assert!(rejection.detail.unwrap_or_default().contains("not complete within 200 ms"));
    assert_eq!(parse(&client.request(sum_request(&[3])).await.unwrap())["sum"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_response_limit_enforced() {
    let server = start_server(TransportLimits::default(), None).await;
    let mut config = pinned_config(&server);
    config.limits.response_bytes_max = 16;
    let client = Client::connect(config).await.unwrap();

    let error = client.request(sum_request(&[1, 2, 3])).await.unwrap_err();

    assert!(
        matches!(error, ClientError::ResponseTooLarge { max: 16, .. }),
        "got {error}"
    );
}
