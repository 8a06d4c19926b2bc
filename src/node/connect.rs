//! Client-side helpers shared by `axiom decide`, `axiom demo` and the tests: finding a
//! running server and opening a pinned QUIC connection to it.

use super::serve::{read_server_info, ServerInfo};
use anyhow::{anyhow, Context};
use axiom_transport::{Client, ClientConfig, ClientLimits, Fingerprint, ServerTrust};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where to reach a server: an explicit address and fingerprint, or a data directory whose
/// `server.json` a running `axiom serve` wrote.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// QUIC address of the server; read from `<data-dir>/server.json` when absent.
    #[arg(long)]
    pub server: Option<SocketAddr>,

    /// Lowercase hex SHA-256 of the server's TLS certificate, to pin it; read from
    /// `<data-dir>/server.json` when absent.
    #[arg(long)]
    pub fingerprint: Option<String>,

    /// Data directory of a local `axiom serve`, for its `server.json`.
    #[arg(long, env = "AXIOM_DATA_DIR", default_value = "axiom-data")]
    pub data_dir: PathBuf,
}

impl ServerArgs {
    /// Resolves the address and pin, reading `server.json` for whatever was not given.
    pub fn resolve(&self) -> anyhow::Result<(SocketAddr, Fingerprint, Option<ServerInfo>)> {
        if let (Some(server), Some(fingerprint)) = (self.server, &self.fingerprint) {
            let pin = fingerprint
                .parse::<Fingerprint>()
                .map_err(|error| anyhow!("invalid --fingerprint `{fingerprint}`: {error}"))?;
            return Ok((server, pin, None));
        }
        let info = read_server_info(&self.data_dir)?;
        let server = self.server.unwrap_or(info.quic_addr);
        let fingerprint = self.fingerprint.clone().unwrap_or(info.tls_fingerprint.clone());
        let pin = fingerprint
            .parse::<Fingerprint>()
            .map_err(|error| anyhow!("invalid fingerprint `{fingerprint}`: {error}"))?;
        Ok((server, pin, Some(info)))
    }
}

/// Opens a QUIC connection that trusts only the certificate with `fingerprint`.
pub async fn connect_pinned(server: SocketAddr, fingerprint: Fingerprint) -> anyhow::Result<Client> {
    Client::connect(ClientConfig {
        server,
        server_name: "localhost".to_owned(),
        trust: ServerTrust::PinnedFingerprint(fingerprint),
        client_identity: None,
        limits: ClientLimits::default(),
    })
    .await
    .with_context(|| format!("connecting to axiom at {server}"))
}
