//! One task per connection: the handshake, then accepting request streams.

use super::handle::Shared;
use super::stream::serve_stream;
use super::PeerInfo;
use crate::codes::STREAM_REFUSED_SHUTDOWN;
use crate::fingerprint::Fingerprint;
use crate::stats::GaugeGuard;
use quinn::{Connection, Incoming, RecvStream, SendStream};
use rustls::pki_types::CertificateDer;
use std::sync::Arc;

/// Completes the handshake, then spawns a task per request stream until the connection ends.
///
/// Work per connection is bounded by QUIC stream credit: the client can have at most
/// `streams_per_connection_max` request streams open, so at most that many stream tasks.
/// `_open` keeps the connection counted against `connections_max` until this returns.
pub(crate) async fn serve_connection(incoming: Incoming, shared: Arc<Shared>, _open: GaugeGuard) {
    let remote_address = incoming.remote_address();

    let connecting = match incoming.accept() {
        Ok(connecting) => connecting,
        Err(error) => {
            shared.stats.count_handshake_failure();
            tracing::debug!(%remote_address, %error, "failed to accept a connection");
            return;
        }
    };
    let connection = match connecting.await {
        Ok(connection) => connection,
        Err(error) => {
            shared.stats.count_handshake_failure();
            tracing::debug!(%remote_address, %error, "QUIC handshake failed");
            return;
        }
    };

    let peer = PeerInfo {
        remote_address,
        client_fingerprint: client_fingerprint(&connection),
        connection_id: connection.stable_id(),
    };
    tracing::debug!(
        connection_id = peer.connection_id,
        %remote_address,
        client_fingerprint = ?peer.client_fingerprint,
        "connection established"
    );

    loop {
        let (send, recv) = match connection.accept_bi().await {
            Ok(streams) => streams,
            Err(error) => {
                tracing::debug!(connection_id = peer.connection_id, %error, "connection ended");
                break;
            }
        };

        let Some(in_flight) = shared.drain.try_enter() else {
            shared.stats.count_stream_refused();
            refuse_stream(send, recv);
            continue;
        };
        tokio::spawn(serve_stream(send, recv, peer, shared.clone(), in_flight));
    }
}

/// Resets both halves of a stream that arrived during shutdown, unread.
fn refuse_stream(mut send: SendStream, mut recv: RecvStream) {
    // Errors mean the stream is already closed, which is the goal.
    let _ = send.reset(STREAM_REFUSED_SHUTDOWN);
    let _ = recv.stop(STREAM_REFUSED_SHUTDOWN);
}

/// Returns the fingerprint of the client's end-entity certificate, if it presented one.
fn client_fingerprint(connection: &Connection) -> Option<Fingerprint> {
    let identity = connection.peer_identity()?;
    let chain = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    chain.first().map(|end_entity| Fingerprint::of_der(end_entity))
}
