//! Wire constants: the ALPN protocol id and the QUIC application error codes axiom uses.
//!
//! QUIC keeps connection close codes and stream codes in separate frames (CONNECTION_CLOSE
//! versus RESET_STREAM and STOP_SENDING), so the two sets below may reuse numbers.

use quinn::VarInt;

/// The ALPN protocol id. A peer that offers anything else fails the handshake with TLS alert
/// `no_application_protocol` (120).
pub const ALPN: &[u8] = b"axiom/1";

/// Connection close code: the client closed its connection normally.
pub const CLOSE_CLIENT_DONE: VarInt = VarInt::from_u32(0x0);

/// Connection close code: the server is shutting down. In-flight requests got their responses, or
/// the shutdown grace period ran out. Reconnect to another server or retry later.
pub const CLOSE_SERVER_SHUTDOWN: VarInt = VarInt::from_u32(0x1);

/// Stream code, sent in both RESET_STREAM and STOP_SENDING: the server refused the stream
/// because it is shutting down. The request was not read and not processed, so the client may
/// send it again elsewhere.
pub const STREAM_REFUSED_SHUTDOWN: VarInt = VarInt::from_u32(0x1);

/// Stream code, sent in STOP_SENDING: the server stopped reading because the request frame was
/// rejected. The error frame with the reason arrives on the server's half of the stream.
pub const STREAM_FRAME_REJECTED: VarInt = VarInt::from_u32(0x2);
