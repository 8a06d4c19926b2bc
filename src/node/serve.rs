//! `axiom serve`: the node behind its QUIC and HTTP endpoints, until a signal stops it.
//!
//! Threads: the actix system thread runs the HTTP control plane and owns the shard arbiters
//! and solver pool; a separate tokio multi-thread runtime runs the QUIC endpoint, so signature
//! checks and framing use every core without waiting on the actix thread.

use super::bootstrap::DemoTenant;
use super::config::ServeArgs;
use super::{Endpoint, Node};
use anyhow::{anyhow, Context};
use axiom_transport::{
    ClientAuth, PeerInfo, RequestHandler, ServerConfig, ServerHandle, TlsIdentity, TransportLimits,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// File the server writes into its data directory once both endpoints listen.
pub const SERVER_INFO_FILE: &str = "server.json";
/// How long start-up waits for every shard to recover its replay state from the audit log.
pub const SHARD_RECOVERY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a graceful shutdown waits for in-flight QUIC requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Worker threads of the QUIC runtime; the machine's cores, since request work is CPU-bound.
fn quic_worker_threads() -> usize {
    std::thread::available_parallelism()
        .map(|cores| cores.get())
        .unwrap_or(1)
}

/// Where a running server can be reached; written to `server.json` for clients and tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Process id of the server.
    pub pid: u32,
    /// Bound QUIC address.
    pub quic_addr: SocketAddr,
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    /// Lowercase hex SHA-256 of the server's TLS certificate, for pinning.
    pub tls_fingerprint: String,
    /// Key id of the engine key that signs receipts.
    pub engine_kid: String,
    /// Engine public key, base64url.
    pub engine_public_key: String,
    /// The demo tenant, when it was created.
    pub demo: Option<DemoInfo>,
}

/// The embedded demo tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoInfo {
    /// Tenant id.
    pub tenant: String,
    /// Key id of the demo agent key.
    pub kid: String,
    /// Path of the demo agent key file.
    pub key_file: PathBuf,
    /// The published demo policy.
    pub policy_set_id: String,
}

impl From<DemoTenant> for DemoInfo {
    fn from(demo: DemoTenant) -> Self {
        DemoInfo {
            tenant: demo.tenant,
            kid: demo.kid,
            key_file: demo.key_file,
            policy_set_id: demo.policy_set_id,
        }
    }
}

/// Reads `server.json` from a data directory.
pub fn read_server_info(data_dir: &Path) -> anyhow::Result<ServerInfo> {
    let path = data_dir.join(SERVER_INFO_FILE);
    let text = std::fs::read(&path).with_context(|| {
        format!("reading {} (is `axiom serve` running with this data directory?)", path.display())
    })?;
    serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Answers QUIC requests with the node's decision path.
struct DecisionHandler {
    node: Arc<Node>,
}

impl RequestHandler for DecisionHandler {
    fn handle(&self, request: Bytes, _peer: PeerInfo) -> Pin<Box<dyn Future<Output = Bytes> + Send>> {
        let node = Arc::clone(&self.node);
        Box::pin(async move {
            // The decision runs in its own task, so a transport timeout that drops this future
            // never cancels a decision between its shard admission and its audit record.
            let decision = tokio::spawn(async move {
                let response = node.decide(&request, Endpoint::Quic).await;
                serde_json::to_vec(&response).unwrap_or_default()
            });
            match decision.await {
                Ok(bytes) => Bytes::from(bytes),
                Err(error) => {
                    tracing::error!(%error, "decision task failed");
                    let response = axiom_engine::model::DecisionResponse::rejected(
                        axiom_engine::model::ReasonCode::InternalError,
                        "the decision task failed",
                    );
                    Bytes::from(serde_json::to_vec(&response).unwrap_or_default())
                }
            }
        })
    }
}

fn tls_identity(config: &ServeArgs) -> anyhow::Result<TlsIdentity> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => TlsIdentity::from_pem_files(cert, key)
            .map_err(|error| anyhow!("loading the TLS identity failed: {error}")),
        _ => {
            let names = vec!["localhost".to_owned(), config.quic_listen.ip().to_string()];
            TlsIdentity::load_or_generate(&config.data_dir, &names)
                .map_err(|error| anyhow!("creating the TLS identity failed: {error}"))
        }
    }
}

/// Runs `axiom serve` until SIGINT or SIGTERM.
pub fn run(config: ServeArgs) -> anyhow::Result<()> {
    if config.dev_no_auth && config.environment.eq_ignore_ascii_case("production") {
        return Err(anyhow!(
            "--dev-no-auth is not allowed when AXIOM_ENV=production; configure a JWKS file or HS256 secret"
        ));
    }
    let config = with_default_control_secret(config)?;

    // The QUIC runtime is created and dropped outside the actix system's async context,
    // because tokio forbids dropping a runtime from inside another one.
    let quic_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(quic_worker_threads())
        .thread_name("axiom-quic")
        .enable_all()
        .build()
        .context("starting the QUIC runtime")?;
    let system = actix_rt::System::new();
    let served = system.block_on(serve(config, quic_runtime.handle().clone()));
    quic_runtime.shutdown_timeout(Duration::from_secs(1));
    let node = served?;

    // The audit writer's shutdown blocks on its thread, so it runs after the async runtime.
    match node.audit_log.shutdown() {
        Ok(checkpoints) => tracing::info!(checkpoints, "audit log closed with signed checkpoints"),
        Err(error) => tracing::error!(%error, "audit log did not close cleanly"),
    }
    Ok(())
}

/// File in the data directory holding the generated HS256 secret of the control plane.
pub const CONTROL_SECRET_FILE: &str = "control-plane.secret";

/// Gives a server started without any token configuration a generated HS256 secret, kept in
/// the data directory (mode 0600), so that `axiom serve` with no flags has an authenticated
/// control plane. Mint tokens with `axiom token --secret "$(cat DATA/control-plane.secret)"`.
/// Production (`AXIOM_ENV=production`) never gets a generated secret.
fn with_default_control_secret(mut config: ServeArgs) -> anyhow::Result<ServeArgs> {
    let configured = config.jwt_hs256_secret.is_some()
        || config.jwks_file.is_some()
        || config.jwks_url.is_some()
        || config.dev_no_auth;
    if configured || config.environment.eq_ignore_ascii_case("production") {
        return Ok(config);
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let path = config.data_dir.join(CONTROL_SECRET_FILE);
    let secret = if path.exists() {
        std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_owned()
    } else {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = hex::encode(bytes);
        super::build::write_secret_file(&path, secret.as_bytes())?;
        tracing::warn!(
            path = %path.display(),
            "no token verification configured; generated an HS256 secret for the control plane"
        );
        secret
    };
    config.jwt_hs256_secret = Some(secret);
    Ok(config)
}

async fn serve(config: ServeArgs, quic_runtime: tokio::runtime::Handle) -> anyhow::Result<Arc<Node>> {
    let node = Node::start(config.clone())?;
    let demo = if config.no_demo_tenant {
        None
    } else {
        Some(DemoInfo::from(node.bootstrap_demo_tenant().await?))
    };

    let identity = tls_identity(&config)?;
    let client_auth = config.client_ca.clone().map(ClientAuth::CaFile);
    let quic_config = ServerConfig {
        bind: config.quic_listen,
        identity,
        client_auth,
        limits: TransportLimits {
            request_bytes_max: u32::try_from(config.request_bytes_max).unwrap_or(u32::MAX),
            ..TransportLimits::default()
        },
    };

    let handler: Arc<dyn RequestHandler> = Arc::new(DecisionHandler {
        node: Arc::clone(&node),
    });
    // The endpoint must be created on the QUIC runtime, so it is started there and awaited
    // from the actix thread through the join handle.
    let quic: ServerHandle = quic_runtime
        .spawn(async move { axiom_transport::start(quic_config, handler).await })
        .await
        .context("the QUIC start task failed")?
        .map_err(|error| anyhow!("starting the QUIC endpoint on {} failed: {error}", config.quic_listen))?;

    let authenticator = Arc::new(
        crate::http::auth::Authenticator::new(
            &crate::http::auth::AuthSettings::from_serve_args(&config),
            Arc::clone(&node.metrics),
        )
        .map_err(|error| anyhow!("configuring control-plane authentication failed: {error}"))?,
    );
    let listener = TcpListener::bind(config.http_listen)
        .with_context(|| format!("binding the HTTP control plane to {}", config.http_listen))?;
    let http_addr = listener.local_addr()?;
    let http = crate::http::serve(Arc::clone(&node), authenticator, listener, 1)?;
    let http_handle = http.handle();
    let http_task = actix_rt::spawn(http);

    let engine_pair = node.engine_key.key_pair();
    let info = ServerInfo {
        pid: std::process::id(),
        quic_addr: quic.local_addr(),
        http_addr,
        tls_fingerprint: quic.fingerprint().to_string(),
        engine_kid: engine_pair.kid().to_owned(),
        engine_public_key: engine_pair.public_key().to_base64url(),
        demo,
    };
    node.wait_for_shards(SHARD_RECOVERY_TIMEOUT).await?;
    write_server_info(&config.data_dir, &info)?;
    node.mark_ready();
    tracing::info!(
        quic = %info.quic_addr,
        http = %info.http_addr,
        fingerprint = %info.tls_fingerprint,
        data_dir = %config.data_dir.display(),
        "axiom is serving"
    );

    wait_for_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    let quic = Arc::new(quic);
    let stopping = Arc::clone(&quic);
    match quic_runtime
        .spawn(async move { stopping.shutdown(SHUTDOWN_GRACE).await })
        .await
    {
        Ok(outcome) => tracing::info!(?outcome, "QUIC endpoint stopped"),
        Err(error) => tracing::error!(%error, "QUIC shutdown task failed"),
    }
    http_handle.stop(true).await;
    let _ = http_task.await;
    node.shards.stop();
    let _ = std::fs::remove_file(config.data_dir.join(SERVER_INFO_FILE));
    Ok(node)
}

fn write_server_info(data_dir: &Path, info: &ServerInfo) -> anyhow::Result<()> {
    let path = data_dir.join(SERVER_INFO_FILE);
    let temporary = data_dir.join(format!("{SERVER_INFO_FILE}.tmp"));
    std::fs::write(&temporary, serde_json::to_vec_pretty(info)?)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "SIGTERM handler unavailable; stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
