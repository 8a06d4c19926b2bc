//! Request and response exchange over real QUIC on 127.0.0.1: round trips, malformed frames,
//! handler failures and many concurrent streams.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axiom_engine::model::{ReasonCode, Verdict};
use axiom_transport::frame::encode_frame;
use axiom_transport::{Client, StreamEnding, TransportLimits};
use bytes::Bytes;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_computes_sum() {
    let server = start_server(TransportLimits::default(), None).await;
    let client = connect(&server).await;

    for round in 0..5i64 {
        let values: Vec<i64> = (0..=round * 7).map(|v| v * 3 - 11).collect();
        let expected: i64 = values.iter().sum();

        let response = parse(&client.request(sum_request(&values)).await.unwrap());

        assert_eq!(response["sum"], expected, "round {round}");
        assert_eq!(response["count"], values.len(), "round {round}");
        assert!(response["client_fingerprint"].is_null());
    }
    assert_eq!(server.handle.stats().snapshot().frame_errors_total, 0);
}

/// One malformed input, sent raw, and the error frame it must produce.
struct MalformedCase {
    name: &'static str,
    bytes: Vec<u8>,
    ending: StreamEnding,
    reason_code: ReasonCode,
    detail_contains: &'static str,
}

fn malformed_cases(request_bytes_max: u32) -> Vec<MalformedCase> {
    let mut oversized = (request_bytes_max + 1).to_be_bytes().to_vec();
    oversized.extend(std::iter::repeat_n(b'x', 100 * 1024));

    let mut truncated = 100u32.to_be_bytes().to_vec();
    truncated.extend_from_slice(b"{\"op\":\"su");

    let mut not_utf8 = 5u32.to_be_bytes().to_vec();
    not_utf8.extend_from_slice(&[0xff, 0xfe, 0xfd, 0xfc, 0xfb]);

    let mut trailing = encode_frame(b"{\"op\":\"sum\",\"values\":[1]}").unwrap();
    trailing.extend_from_slice(b"extra");

    let mut reset = 100u32.to_be_bytes().to_vec();
    reset.extend_from_slice(b"{\"op\":");

    vec![
        MalformedCase {
            name: "oversized length prefix",
            bytes: oversized,
            ending: StreamEnding::Finish,
            reason_code: ReasonCode::RequestTooLarge,
            detail_contains: "the limit is 1024 bytes",
        },
        MalformedCase {
            name: "truncated payload",
            bytes: truncated,
            ending: StreamEnding::Finish,
            reason_code: ReasonCode::MalformedRequest,
            detail_contains: "after 9 of the 100 declared payload bytes",
        },
        MalformedCase {
            name: "truncated length prefix",
            bytes: vec![0, 0],
            ending: StreamEnding::Finish,
            reason_code: ReasonCode::MalformedRequest,
            detail_contains: "after 2 of the 4 length-prefix bytes",
        },
        MalformedCase {
            name: "empty frame",
            bytes: vec![0, 0, 0, 0],
            ending: StreamEnding::Finish,
            reason_code: ReasonCode::MalformedRequest,
            detail_contains: "empty payload",
        },
        MalformedCase {
            name: "no frame at all",
            bytes: Vec::new(),
            ending: StreamEnding::Finish,
            reason_code: ReasonCode::MalformedRequest,
            detail_contains: "without a request frame",
        },
        MalformedCase {
            name: "garbage text read as a huge length",
            bytes: b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            ending: StreamEnding::Finish,
            reason_code: ReasonCode::RequestTooLarge,
            // "GET " read as a big-endian u32.
            detail_contains: "declares 1195725856 payload bytes",
        },
        MalformedCase {
            name: "payload not UTF-8",
            bytes: not_utf8,
            ending: StreamEnding::Finish,
            reason_code: ReasonCode::MalformedRequest,
            detail_contains: "not valid UTF-8 after byte 0",
        },
        MalformedCase {
            name: "trailing bytes",
            bytes: trailing,
            ending: StreamEnding::Finish,
            reason_code: ReasonCode::MalformedRequest,
            detail_contains: "bytes after the request frame",
        },
        MalformedCase {
            name: "stream reset mid-frame",
            bytes: reset,
            ending: StreamEnding::Reset(7),
            reason_code: ReasonCode::MalformedRequest,
            detail_contains: "reset the stream with code 7",
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_error_frames() {
    let limits = TransportLimits {
        request_bytes_max: 1024,
        ..TransportLimits::default()
    };
    let server = start_server(limits, None).await;
    let client = connect(&server).await;
    let cases = malformed_cases(limits.request_bytes_max);

    for (index, case) in cases.iter().enumerate() {
        let response = client
            .send_raw(Bytes::from(case.bytes.clone()), case.ending)
            .await
            .unwrap_or_else(|error| panic!("{}: no error frame: {error}", case.name));
        let rejection = parse_rejection(&response);

        assert_eq!(rejection.verdict, Verdict::Deny, "{}", case.name);
        assert_eq!(rejection.reason_code, case.reason_code, "{}", case.name);
        assert_eq!(rejection.decision_id, "", "{}", case.name);
        let detail = rejection.detail.unwrap_or_default();
        assert!(
            detail.contains(case.detail_contains),
            "{}: detail `{detail}` lacks `{}`",
            case.name,
            case.detail_contains
        );

        // The same connection still serves a normal request after every malformed one.
        let values = [index as i64, 40, 2];
        let normal = parse(&client.request(sum_request(&values)).await.unwrap());
        assert_eq!(normal["sum"], index as i64 + 42, "after {}", case.name);
    }

    let stats = server.handle.stats().snapshot();
    assert_eq!(stats.frame_errors_total, cases.len() as u64);
    assert_eq!(server.handler.calls.load(std::sync::atomic::Ordering::SeqCst), cases.len());

    // A new connection works too.
    let fresh = connect(&server).await;
    let response = parse(&fresh.request(sum_request(&[5, 6])).await.unwrap());
    assert_eq!(response["sum"], 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_size_limit_is_exact() {
    let limits = TransportLimits {
        request_bytes_max: 256,
        ..TransportLimits::default()
    };
    let server = start_server(limits, None).await;
    let client = connect(&server).await;

    // Pads the JSON with spaces to exactly the limit, then one byte past it.
    let base = sum_request(&[1, 2, 3]);
    let mut at_limit = base.to_vec();
    at_limit.resize(256, b' ');
    let mut over_limit = at_limit.clone();
    over_limit.push(b' ');

    let accepted = parse(&client.request(Bytes::from(at_limit)).await.unwrap());
    assert_eq!(accepted["sum"], 6);

    let rejected = parse_rejection(&client.request(Bytes::from(over_limit)).await.unwrap());
    assert_eq!(rejected.reason_code, ReasonCode::RequestTooLarge);
    assert!(rejected.detail.unwrap_or_default().contains("declares 257 payload bytes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_panic_gives_internal_error() {
    let server = start_server(TransportLimits::default(), None).await;
    let client = connect(&server).await;

    let response = client
        .request(Bytes::from_static(br#"{"op":"panic"}"#))
        .await
        .unwrap();
    let rejection = parse_rejection(&response);

    assert_eq!(rejection.reason_code, ReasonCode::InternalError);
    assert_eq!(server.handle.stats().snapshot().handler_failures_total, 1);
    let after = parse(&client.request(sum_request(&[2, 2])).await.unwrap());
    assert_eq!(after["sum"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_streams_all_answered() {
    const CONNECTIONS: usize = 4;
    const TASKS: usize = 64;
    const REQUESTS_PER_TASK: usize = 50;

    let server = start_server(TransportLimits::default(), None).await;
    let mut clients: Vec<Client> = Vec::new();
    for _ in 0..CONNECTIONS {
        clients.push(connect(&server).await);
    }

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let client = clients[task % CONNECTIONS].clone();
        tasks.push(tokio::spawn(async move {
            for request in 0..REQUESTS_PER_TASK {
                // Values differ per task and request, so a response sent to the wrong stream
                // would carry the wrong sum.
                let values = [task as i64 * 1000, request as i64, -7];
                let expected = task as i64 * 1000 + request as i64 - 7;
                let response = parse(&client.request(sum_request(&values)).await.unwrap());
                assert_eq!(response["sum"], expected, "task {task} request {request}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let stats = server.handle.stats().snapshot();
    assert_eq!(stats.streams_total, (TASKS * REQUESTS_PER_TASK) as u64);
    assert_eq!(stats.connections_open, CONNECTIONS as u64);
    assert_eq!(stats.frame_errors_total, 0);
}
