//! Starting the server, the accept loop, and the handle that reports on and stops it.

use super::config::{RequestHandler, ServerConfig};
use super::connection::serve_connection;
use super::drain::Drain;
use crate::codes::CLOSE_SERVER_SHUTDOWN;
use crate::error::TransportError;
use crate::fingerprint::Fingerprint;
use crate::limits::TransportLimits;
use crate::stats::TransportStats;
use crate::tls;
use quinn::Endpoint;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long a shutdown waits, after closing the endpoint, for peers to receive the close: the
/// QUIC draining period is three probe timeouts, well under a second on a healthy network.
/// Peers that miss the close learn of it through their idle timeout.
const SHUTDOWN_CLOSE_WAIT_MS: u64 = 2_000;

/// State shared by the accept loop and every connection and stream task.
pub(crate) struct Shared {
    pub handler: Arc<dyn RequestHandler>,
    pub limits: TransportLimits,
    pub stats: Arc<TransportStats>,
    pub drain: Arc<Drain>,
}

/// A running server.
///
/// Dropping the handle closes the endpoint at once with [`CLOSE_SERVER_SHUTDOWN`], cutting off
/// requests in flight; call [`ServerHandle::shutdown`] first for a graceful stop.
pub struct ServerHandle {
    endpoint: Endpoint,
    local_addr: SocketAddr,
    fingerprint: Fingerprint,
    shared: Arc<Shared>,
}

/// The result of a graceful shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownOutcome {
    /// Every request in flight got its response before the connections were closed.
    Drained,
    /// The grace period ran out; this many request streams were cut off unanswered.
    GraceExpired {
        /// Streams still in flight when the connections were closed.
        streams_abandoned: usize,
    },
}

/// Binds the UDP socket and starts accepting connections. Must be called within a tokio
/// runtime; the accept loop and all connection and stream tasks run on it.
pub async fn start(
    config: ServerConfig,
    handler: Arc<dyn RequestHandler>,
) -> Result<ServerHandle, TransportError> {
    config.limits.validate()?;

    let crypto = tls::server_crypto(&config.identity, config.client_auth.as_ref())?;
    let mut quinn_config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    quinn_config.transport_config(Arc::new(tls::server_transport(&config.limits)?));

    let bind_error = |source| TransportError::Bind {
        addr: config.bind,
        source,
    };
    let endpoint = Endpoint::server(quinn_config, config.bind).map_err(bind_error)?;
    let local_addr = endpoint.local_addr().map_err(bind_error)?;

    let shared = Arc::new(Shared {
        handler,
        limits: config.limits,
        stats: Arc::new(TransportStats::default()),
        drain: Arc::new(Drain::default()),
    });
    tokio::spawn(accept_loop(endpoint.clone(), shared.clone()));

    let fingerprint = config.identity.fingerprint();
    tracing::info!(
        %local_addr,
        %fingerprint,
        client_auth = config.client_auth.is_some(),
        "QUIC server listening"
    );
    Ok(ServerHandle {
        endpoint,
        local_addr,
        fingerprint,
        shared,
    })
}

impl ServerHandle {
    /// Returns the bound UDP address, with the actual port when port 0 was requested.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Returns the fingerprint clients pin for this server.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Returns the live counters.
    pub fn stats(&self) -> Arc<TransportStats> {
        self.shared.stats.clone()
    }

    /// Stops the server gracefully.
    ///
    /// From the call on, new connections are refused with QUIC `CONNECTION_REFUSED` and new
    /// streams are reset with [`crate::codes::STREAM_REFUSED_SHUTDOWN`]. Requests already in
    /// flight run to completion and their responses are acknowledged by the client, for at most
    /// `grace`. Then every connection is closed with [`CLOSE_SERVER_SHUTDOWN`].
    pub async fn shutdown(&self, grace: Duration) -> ShutdownOutcome {
        let drain = &self.shared.drain;
        drain.begin_shutdown();
        tracing::info!(
            in_flight = drain.in_flight(),
            grace_ms = grace.as_millis() as u64,
            "QUIC server shutting down"
        );

        let outcome = match tokio::time::timeout(grace, drain.wait_idle()).await {
            Ok(()) => ShutdownOutcome::Drained,
            Err(_) => ShutdownOutcome::GraceExpired {
                streams_abandoned: drain.in_flight(),
            },
        };

        self.endpoint
            .close(CLOSE_SERVER_SHUTDOWN, b"server shutting down");
        let close_wait = Duration::from_millis(SHUTDOWN_CLOSE_WAIT_MS);
        if tokio::time::timeout(close_wait, self.endpoint.wait_idle())
            .await
            .is_err()
        {
            tracing::debug!("some peers did not confirm the close; they will time out");
        }

        match outcome {
            ShutdownOutcome::Drained => tracing::info!("QUIC server stopped after draining"),
            ShutdownOutcome::GraceExpired { streams_abandoned } => tracing::warn!(
                streams_abandoned,
                "QUIC server stopped with requests still in flight"
            ),
        }
        outcome
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shared.drain.begin_shutdown();
        self.endpoint
            .close(CLOSE_SERVER_SHUTDOWN, b"server shutting down");
    }
}

/// Accepts or refuses each connection attempt until the endpoint is closed.
///
/// The connection count is raised here, before the handshake task is spawned, so that
/// `connections_max` is enforced even when many attempts arrive at once.
async fn accept_loop(endpoint: Endpoint, shared: Arc<Shared>) {
    let connections_max = u64::from(shared.limits.connections_max);

    while let Some(incoming) = endpoint.accept().await {
        let remote_address = incoming.remote_address();

        if shared.drain.is_shutting_down() {
            shared.stats.count_connection_refused();
            tracing::debug!(%remote_address, "refused a connection during shutdown");
            incoming.refuse();
            continue;
        }
        if shared.stats.connections_open() >= connections_max {
            shared.stats.count_connection_refused();
            tracing::debug!(%remote_address, connections_max, "refused a connection at the limit");
            incoming.refuse();
            continue;
        }

        let open = shared.stats.open_connection();
        tokio::spawn(serve_connection(incoming, shared.clone(), open));
    }
    tracing::debug!("QUIC accept loop ended");
}
