//! Random byte streams against a real server: whatever a client sends on a stream, the server
//! responds with a JSON frame or closes the stream cleanly, and keeps serving normal requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axiom_transport::frame::encode_frame;
use axiom_transport::{ClientError, StreamEnding, TransportLimits};
use bytes::Bytes;
use common::*;
use proptest::prelude::*;

fn ending() -> impl Strategy<Value = StreamEnding> {
    prop_oneof![
        4 => Just(StreamEnding::Finish),
        1 => (0u32..1000).prop_map(StreamEnding::Reset),
    ]
}

/// Raw bytes, or a valid frame around random bytes, or a valid frame with random bytes after it.
fn stream_bytes() -> impl Strategy<Value = Vec<u8>> {
    let raw = proptest::collection::vec(any::<u8>(), 0..1200);
    let framed = proptest::collection::vec(any::<u8>(), 0..700)
        .prop_map(|payload| encode_frame(&payload).unwrap());
    let framed_with_trailer = (
        proptest::collection::vec(any::<u8>(), 1..300),
        proptest::collection::vec(any::<u8>(), 1..50),
    )
        .prop_map(|(payload, trailer)| {
            let mut bytes = encode_frame(&payload).unwrap();
            bytes.extend_from_slice(&trailer);
            bytes
        });
    prop_oneof![raw, framed, framed_with_trailer]
}

#[test]
fn random_streams_never_break_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let limits = TransportLimits {
        request_bytes_max: 512,
        ..TransportLimits::default()
    };
    let server = runtime.block_on(start_server(limits, None));
    let client = runtime.block_on(connect(&server));

    let config = ProptestConfig {
        cases: 128,
        ..ProptestConfig::default()
    };
    proptest!(config, |(bytes in stream_bytes(), ending in ending())| {
        let result = runtime.block_on(client.send_raw(Bytes::from(bytes), ending));
        match result {
            Ok(response) => {
                let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&response);
                prop_assert!(parsed.is_ok(), "response is not JSON: {:?}", response);
            }
            // A reset can race the request: the server may see the reset before any byte and
            // still answer, or the stream may end first. Neither may touch the connection.
            Err(ClientError::MalformedResponse { .. }) | Err(ClientError::StreamReset { .. })
                if matches!(ending, StreamEnding::Reset(_)) => {}
            Err(error) => prop_assert!(false, "request failed: {error}"),
        }
        prop_assert!(!client.is_closed());
    });

    let normal = runtime.block_on(client.request(sum_request(&[19, 23]))).unwrap();
    assert_eq!(parse(&normal)["sum"], 42);
}
