//! The frame format and the request frame checks.
//!
//! A frame is a 4-byte big-endian unsigned payload length followed by exactly that many payload
//! bytes. Each stream carries one request frame from the client, then one response frame from
//! the server, and each side finishes its half of the stream after its frame.

use axiom_engine::model::{DecisionResponse, ReasonCode};
use bytes::Bytes;

/// Size of the length prefix in bytes.
pub const FRAME_HEADER_BYTES: usize = 4;

/// Returned when a payload does not fit the 32-bit length prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("payload of {payload_bytes} bytes does not fit a frame; the maximum is 4294967295 bytes")]
pub struct PayloadTooLong {
    /// The payload length.
    pub payload_bytes: usize,
}

/// Encodes the length prefix for a payload of `payload_bytes` bytes.
pub fn frame_header(payload_bytes: usize) -> Result<[u8; FRAME_HEADER_BYTES], PayloadTooLong> {
    let length = u32::try_from(payload_bytes).map_err(|_| PayloadTooLong { payload_bytes })?;
    Ok(length.to_be_bytes())
}

/// Encodes a whole frame: the length prefix followed by the payload.
pub fn encode_frame(payload: &[u8]) -> Result<Vec<u8>, PayloadTooLong> {
    let header = frame_header(payload.len())?;
    let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + payload.len());
    frame.extend_from_slice(&header);
    frame.extend_from_slice(payload);
    Ok(frame)
}

/// Decodes the payload length from a length prefix.
pub fn decode_header(header: [u8; FRAME_HEADER_BYTES]) -> u32 {
    u32::from_be_bytes(header)
}

/// The rule a request frame broke. The server responds to each fault with an error frame built by
/// [`error_frame`] from its reason code and detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameFault {
    /// The client finished the stream without sending a byte.
    NoFrame,
    /// The client finished the stream inside the length prefix.
    TruncatedHeader {
        /// Prefix bytes received, 1 to 3.
        received: usize,
    },
    /// The declared payload length exceeds `request_bytes_max`.
    TooLarge {
        /// The length the prefix declared.
        declared: u32,
        /// The server's `request_bytes_max`.
        max: u32,
    },
    /// The length prefix declared zero bytes.
    Empty,
    /// The client finished the stream before the declared payload length arrived.
    TruncatedPayload {
        /// Payload bytes received.
        received: usize,
        /// The length the prefix declared.
        declared: u32,
    },
    /// The client sent bytes after the payload instead of finishing the stream.
    TrailingBytes,
    /// The payload is not valid UTF-8.
    NotUtf8 {
        /// Length of the longest valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// The client reset its half of the stream before the frame was complete.
    Reset {
        /// The client's RESET_STREAM error code.
        code: u64,
    },
    /// The frame did not arrive within `frame_read_timeout_ms`.
    ReadTimedOut {
        /// The configured timeout.
        timeout_ms: u64,
    },
}

impl FrameFault {
    /// Returns the reason code of the error frame: `REQUEST_TOO_LARGE` for an oversized length,
    /// `MALFORMED_REQUEST` for everything else.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            FrameFault::TooLarge { .. } => ReasonCode::RequestTooLarge,
            _ => ReasonCode::MalformedRequest,
        }
    }

    /// Returns the human-readable detail of the error frame.
    pub fn detail(&self) -> String {
        match self {
            FrameFault::NoFrame => {
                "the stream finished without a request frame; send a 4-byte big-endian length \
                 followed by the JSON payload"
                    .to_owned()
            }
            FrameFault::TruncatedHeader { received } => format!(
                "the stream finished after {received} of the 4 length-prefix bytes"
            ),
            FrameFault::TooLarge { declared, max } => format!(
                "the request frame declares {declared} payload bytes; the limit is {max} bytes"
            ),
            FrameFault::Empty => "the request frame declares an empty payload".to_owned(),
            FrameFault::TruncatedPayload { received, declared } => format!(
                "the stream finished after {received} of the {declared} declared payload bytes"
            ),
            FrameFault::TrailingBytes => {
                "the stream carries bytes after the request frame; send exactly one frame, then \
                 finish the stream"
                    .to_owned()
            }
            FrameFault::NotUtf8 { valid_up_to } => format!(
                "the request payload is not valid UTF-8 after byte {valid_up_to}"
            ),
            FrameFault::Reset { code } => format!(
                "the client reset the stream with code {code} before the request frame was complete"
            ),
            FrameFault::ReadTimedOut { timeout_ms } => format!(
                "the request frame was not complete within {timeout_ms} ms"
            ),
        }
    }
}

/// Checks a declared request length against the server's limit.
pub fn check_declared_length(declared: u32, max: u32) -> Result<(), FrameFault> {
    if declared == 0 {
        return Err(FrameFault::Empty);
    }
    if declared > max {
        return Err(FrameFault::TooLarge { declared, max });
    }
    Ok(())
}

/// Checks that a complete request payload is UTF-8. JSON parsing is the handler's job.
pub fn check_payload(payload: &[u8]) -> Result<(), FrameFault> {
    match std::str::from_utf8(payload) {
        Ok(_) => Ok(()),
        Err(error) => Err(FrameFault::NotUtf8 {
            valid_up_to: error.valid_up_to(),
        }),
    }
}

/// A minimal error payload, used only if serializing the full one fails.
const FALLBACK_ERROR_PAYLOAD: &[u8] =
    br#"{"decision_id":"","verdict":"DENY","reason_code":"INTERNAL_ERROR"}"#;

/// Builds the payload of a verdict-shaped error frame: the JSON of
/// [`DecisionResponse::rejected`], a DENY with an empty `decision_id` because nothing was audited.
pub fn error_frame(reason_code: ReasonCode, detail: impl Into<String>) -> Bytes {
    let response = DecisionResponse::rejected(reason_code, detail);
    match serde_json::to_vec(&response) {
        Ok(json) => Bytes::from(json),
        Err(error) => {
            tracing::error!(%error, "failed to serialize an error frame; sending the fallback");
            Bytes::from_static(FALLBACK_ERROR_PAYLOAD)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axiom_engine::model::Verdict;

    #[test]
    fn header_round_trips_big_endian() {
        let header = frame_header(0x0102_0304).unwrap();
        assert_eq!(header, [1, 2, 3, 4]);
        assert_eq!(decode_header(header), 0x0102_0304);
    }

    #[test]
    fn encode_frame_prefixes_length() {
        let frame = encode_frame(b"{}").unwrap();
        assert_eq!(frame, vec![0, 0, 0, 2, b'{', b'}']);
    }

    #[test]
    fn declared_length_checks() {
        assert_eq!(check_declared_length(0, 10), Err(FrameFault::Empty));
        assert_eq!(check_declared_length(10, 10), Ok(()));
        assert_eq!(
            check_declared_length(11, 10),
            Err(FrameFault::TooLarge { declared: 11, max: 10 })
        );
    }

    #[test]
    fn payload_must_be_utf8() {
        assert_eq!(check_payload("{\"a\":\"é\"}".as_bytes()), Ok(()));
        assert_eq!(
            check_payload(b"{\"a\":\xff}"),
            Err(FrameFault::NotUtf8 { valid_up_to: 5 })
        );
    }

    #[test]
    fn fault_reason_codes() {
        let too_large = FrameFault::TooLarge { declared: 2, max: 1 };
        assert_eq!(too_large.reason_code(), ReasonCode::RequestTooLarge);
        assert_eq!(FrameFault::Empty.reason_code(), ReasonCode::MalformedRequest);
        assert_eq!(FrameFault::Reset { code: 7 }.reason_code(), ReasonCode::MalformedRequest);
    }

    #[test]
    fn error_frame_is_a_rejected_decision() {
        let payload = error_frame(ReasonCode::RequestTooLarge, "too big");
        let response: DecisionResponse = serde_json::from_slice(&payload).unwrap();
        assert_eq!(response.verdict, Verdict::Deny);
        assert_eq!(response.reason_code, ReasonCode::RequestTooLarge);
        assert_eq!(response.detail.as_deref(), Some("too big"));
        assert_eq!(response.decision_id, "");
    }

    #[test]
    fn error_frame_matches_documented_example() {
        // The example in the Transport section of the protocol documentation.
        let fault = FrameFault::TooLarge {
            declared: u32::from_be_bytes([0x00, 0x01, 0x11, 0x70]),
            max: 65_536,
        };
        let payload = error_frame(fault.reason_code(), fault.detail());

        assert_eq!(
            std::str::from_utf8(&payload).unwrap(),
            r#"{"decision_id":"","verdict":"DENY","reason_code":"REQUEST_TOO_LARGE","detail":"the request frame declares 70000 payload bytes; the limit is 65536 bytes"}"#
        );
        assert_eq!(frame_header(payload.len()).unwrap(), [0x00, 0x00, 0x00, 0x99]);
    }

    #[test]
    fn fallback_error_payload_parses() {
        let response: DecisionResponse = serde_json::from_slice(FALLBACK_ERROR_PAYLOAD).unwrap();
        assert_eq!(response.reason_code, ReasonCode::InternalError);
    }
}
