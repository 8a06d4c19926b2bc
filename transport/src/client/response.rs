//! Reading one response frame from a QUIC stream.

use super::error::ClientError;
use crate::frame::{decode_header, FRAME_HEADER_BYTES};
use bytes::Bytes;
use quinn::{ReadError, ReadExactError, RecvStream};

/// Largest chunk requested when checking that nothing follows the frame.
const TRAILING_PROBE_BYTES: usize = 64;

/// Reads the length prefix, the payload and the server's FIN.
pub(crate) async fn read_response(
    recv: &mut RecvStream,
    response_bytes_max: u32,
) -> Result<Bytes, ClientError> {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    match recv.read_exact(&mut header).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(received)) => {
            return Err(ClientError::MalformedResponse {
                detail: format!(
                    "the server finished the stream after {received} of the 4 length-prefix bytes"
                ),
            })
        }
        Err(ReadExactError::ReadError(error)) => return Err(from_read_error(error)),
    }

    let declared = decode_header(header);
    if declared > response_bytes_max {
        // Fails harmlessly if the server already finished.
        let _ = recv.stop(crate::codes::STREAM_FRAME_REJECTED);
        return Err(ClientError::ResponseTooLarge {
            declared,
            max: response_bytes_max,
        });
    }

    // `declared` is at most `response_bytes_max`, a limit the client chose.
    let mut payload = vec![0u8; declared as usize];
    match recv.read_exact(&mut payload).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(received)) => {
            return Err(ClientError::MalformedResponse {
                detail: format!(
                    "the server finished the stream after {received} of the {declared} declared \
                     payload bytes"
                ),
            })
        }
        Err(ReadExactError::ReadError(error)) => return Err(from_read_error(error)),
    }

    loop {
        match recv.read_chunk(TRAILING_PROBE_BYTES, true).await {
            Ok(None) => return Ok(Bytes::from(payload)),
            Ok(Some(chunk)) if chunk.bytes.is_empty() => continue,
            Ok(Some(_)) => {
                return Err(ClientError::MalformedResponse {
                    detail: "the server sent bytes after the response frame".to_owned(),
                })
            }
            Err(error) => return Err(from_read_error(error)),
        }
    }
}

fn from_read_error(error: ReadError) -> ClientError {
    match error {
        ReadError::Reset(code) => ClientError::from_reset(code),
        ReadError::ConnectionLost(error) => ClientError::from_connection(error),
        other => ClientError::MalformedResponse {
            detail: format!("failed to read the response: {other}"),
        },
    }
}
