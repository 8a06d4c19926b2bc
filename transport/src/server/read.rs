//! Reading one request frame from a QUIC stream.

use crate::frame::{check_declared_length, check_payload, decode_header, FrameFault, FRAME_HEADER_BYTES};
use bytes::{Bytes, BytesMut};
use quinn::{ReadError, ReadExactError, RecvStream};

/// Largest chunk requested when checking that nothing follows the frame.
const TRAILING_PROBE_BYTES: usize = 64;

/// The result of reading a request stream.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    /// A complete, well-formed request payload followed by the client's FIN.
    Request(Bytes),
    /// The frame broke a rule; the client gets an error frame.
    Rejected(FrameFault),
    /// The stream or connection is gone, so no response can be sent.
    Lost(ReadError),
}

/// Reads the length prefix, the payload and the end of the stream.
///
/// The payload buffer grows with the bytes actually received rather than being sized from the
/// declared length, so a client that declares a large frame and sends nothing costs no memory.
pub(crate) async fn read_request(recv: &mut RecvStream, request_bytes_max: u32) -> ReadOutcome {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    match recv.read_exact(&mut header).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(0)) => return ReadOutcome::Rejected(FrameFault::NoFrame),
        Err(ReadExactError::FinishedEarly(received)) => {
            return ReadOutcome::Rejected(FrameFault::TruncatedHeader { received })
        }
        Err(ReadExactError::ReadError(error)) => return from_read_error(error),
    }

    let declared = decode_header(header);
    if let Err(fault) = check_declared_length(declared, request_bytes_max) {
        return ReadOutcome::Rejected(fault);
    }

    let payload = match read_payload(recv, declared).await {
        Ok(payload) => payload,
        Err(outcome) => return outcome,
    };
    if let Err(fault) = check_payload(&payload) {
        return ReadOutcome::Rejected(fault);
    }

    match expect_finish(recv).await {
        Ok(()) => ReadOutcome::Request(payload),
        Err(outcome) => outcome,
    }
}

async fn read_payload(recv: &mut RecvStream, declared: u32) -> Result<Bytes, ReadOutcome> {
    // `declared` was checked against `request_bytes_max`, at most 16 MiB, so it fits a usize.
    let declared_len = declared as usize;
    let mut buffer = BytesMut::new();

    loop {
        let remaining = declared_len - buffer.len();
        match recv.read_chunk(remaining, true).await {
            Ok(Some(chunk)) => {
                // The common case, a payload in one chunk, is passed on without a copy.
                if buffer.is_empty() && chunk.bytes.len() == declared_len {
                    return Ok(chunk.bytes);
                }
                buffer.extend_from_slice(&chunk.bytes);
                if buffer.len() == declared_len {
                    return Ok(buffer.freeze());
                }
            }
            Ok(None) => {
                return Err(ReadOutcome::Rejected(FrameFault::TruncatedPayload {
                    received: buffer.len(),
                    declared,
                }))
            }
            Err(error) => return Err(from_read_error(error)),
        }
    }
}

/// Succeeds when the client finishes the stream right after the frame.
async fn expect_finish(recv: &mut RecvStream) -> Result<(), ReadOutcome> {
    loop {
        match recv.read_chunk(TRAILING_PROBE_BYTES, true).await {
            Ok(None) => return Ok(()),
            Ok(Some(chunk)) if chunk.bytes.is_empty() => continue,
            Ok(Some(_)) => return Err(ReadOutcome::Rejected(FrameFault::TrailingBytes)),
            Err(error) => return Err(from_read_error(error)),
        }
    }
}

fn from_read_error(error: ReadError) -> ReadOutcome {
    match error {
        ReadError::Reset(code) => ReadOutcome::Rejected(FrameFault::Reset {
            code: code.into_inner(),
        }),
        other => ReadOutcome::Lost(other),
    }
}
