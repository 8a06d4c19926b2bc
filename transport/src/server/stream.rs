//! One task per request stream: read the frame, call the handler, write the response frame.

use super::drain::DrainGuard;
use super::handle::Shared;
use super::read::{read_request, ReadOutcome};
use super::PeerInfo;
use crate::codes::STREAM_FRAME_REJECTED;
use crate::frame::{error_frame, frame_header, FrameFault};
use axiom_engine::model::ReasonCode;
use bytes::Bytes;
use quinn::{RecvStream, SendStream};
use std::sync::Arc;

/// Serves one request stream. `_in_flight` keeps a graceful shutdown waiting until the client
/// has acknowledged the response.
pub(crate) async fn serve_stream(
    mut send: SendStream,
    mut recv: RecvStream,
    peer: PeerInfo,
    shared: Arc<Shared>,
    _in_flight: DrainGuard,
) {
    let _open = shared.stats.open_stream();
    let stream_id = u64::from(recv.id());
    let limits = &shared.limits;

    let read = tokio::time::timeout(
        limits.frame_read_timeout(),
        read_request(&mut recv, limits.request_bytes_max),
    )
    .await;
    let outcome = read.unwrap_or(ReadOutcome::Rejected(FrameFault::ReadTimedOut {
        timeout_ms: limits.frame_read_timeout_ms,
    }));

    let response = match outcome {
        ReadOutcome::Request(request) => call_handler(&shared, request, peer, stream_id).await,
        ReadOutcome::Rejected(fault) => reject_frame(&shared, &mut recv, &fault, peer, stream_id),
        ReadOutcome::Lost(error) => {
            tracing::debug!(
                connection_id = peer.connection_id,
                stream_id,
                %error,
                "request stream lost before a frame was read"
            );
            return;
        }
    };

    write_response(&shared, &mut send, response, peer, stream_id).await;
}

/// Runs the handler in its own task, so a panic becomes an `INTERNAL_ERROR` frame and a
/// timeout can drop it.
async fn call_handler(shared: &Shared, request: Bytes, peer: PeerInfo, stream_id: u64) -> Bytes {
    let mut task = tokio::spawn(shared.handler.handle(request, peer));

    match tokio::time::timeout(shared.limits.request_timeout(), &mut task).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            shared.stats.count_handler_failure();
            tracing::error!(
                connection_id = peer.connection_id,
                stream_id,
                %error,
                "request handler failed"
            );
            error_frame(
                ReasonCode::InternalError,
                "the request handler failed; the request was not decided",
            )
        }
        Err(_) => {
            task.abort();
            shared.stats.count_request_timeout();
            let timeout_ms = shared.limits.request_timeout_ms;
            tracing::warn!(
                connection_id = peer.connection_id,
                stream_id,
                timeout_ms,
                "request handler timed out"
            );
            error_frame(
                ReasonCode::Overloaded,
                format!(
                    "the server did not answer within {timeout_ms} ms; the request may have been \
                     decided, so retry later with the same idempotency key"
                ),
            )
        }
    }
}

/// Counts and logs a rejected frame, sends STOP_SENDING to the client, and builds the error
/// frame.
fn reject_frame(
    shared: &Shared,
    recv: &mut RecvStream,
    fault: &FrameFault,
    peer: PeerInfo,
    stream_id: u64,
) -> Bytes {
    shared.stats.count_frame_error();
    let reason_code = fault.reason_code();
    let detail = fault.detail();
    tracing::debug!(
        connection_id = peer.connection_id,
        stream_id,
        reason_code = reason_code.as_str(),
        detail = %detail,
        "rejected a request frame"
    );

    // Fails harmlessly when the client already finished or reset its half.
    let _ = recv.stop(STREAM_FRAME_REJECTED);
    error_frame(reason_code, detail)
}

/// Writes the response frame, finishes the stream and waits until the client acknowledges it,
/// at most `idle_timeout_ms`, so that a shutdown closing the connection next cannot cut it off.
async fn write_response(
    shared: &Shared,
    send: &mut SendStream,
    response: Bytes,
    peer: PeerInfo,
    stream_id: u64,
) {
    let (header, payload) = match frame_header(response.len()) {
        Ok(header) => (header, response),
        Err(error) => {
            tracing::error!(connection_id = peer.connection_id, stream_id, %error, "response too long");
            let payload = error_frame(ReasonCode::InternalError, "the response does not fit a frame");
            // The error frame is a few hundred bytes, far below the 4 GiB frame maximum.
            let header = frame_header(payload.len()).unwrap_or_default();
            (header, payload)
        }
    };

    let mut chunks = [Bytes::copy_from_slice(&header), payload];
    if let Err(error) = send.write_all_chunks(&mut chunks).await {
        shared.stats.count_response_failed();
        tracing::debug!(connection_id = peer.connection_id, stream_id, %error, "failed to send a response");
        return;
    }
    // Fails only if the stream was already finished or reset, and then there is nothing to do.
    let _ = send.finish();

    let acknowledged = tokio::time::timeout(shared.limits.idle_timeout(), send.stopped()).await;
    if !matches!(acknowledged, Ok(Ok(None))) {
        tracing::debug!(
            connection_id = peer.connection_id,
            stream_id,
            "response not acknowledged as fully received"
        );
    }
}
