//! `axiom decide`: signs one intent, sends it over QUIC and prints the response.

use super::sign::{sign_file, SignArgs};
use crate::node::connect::{connect_pinned, ServerArgs};
use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use std::process::ExitCode;

/// Options of `axiom decide`.
#[derive(Debug, Args)]
pub struct DecideArgs {
    #[command(flatten)]
    pub sign: SignArgs,

    #[command(flatten)]
    pub server: ServerArgs,
}

/// Signs and sends the intent. Exits 0 for any verdict, DENY included; a transport or input
/// failure is an error (exit code 2).
pub fn run(args: DecideArgs) -> anyhow::Result<ExitCode> {
    let envelope = sign_file(&args.sign)?;
    let (server, fingerprint, _) = args.server.resolve()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the client runtime")?;
    let response = runtime.block_on(async move {
        let client = connect_pinned(server, fingerprint).await?;
        let payload = Bytes::from(serde_json::to_vec(&envelope)?);
        let response = client
            .request(payload)
            .await
            .with_context(|| format!("request to {server} failed"))?;
        client.close().await;
        anyhow::Ok(response)
    })?;

    let value: serde_json::Value = serde_json::from_slice(&response)
        .context("the server's response is not JSON")?;
    super::print_output(&serde_json::to_string_pretty(&value)?)?;
    Ok(ExitCode::SUCCESS)
}
