//! `axiom demo`: starts `axiom serve` on loopback with a fresh data directory, runs the demo
//! scenarios over QUIC, stops the server and verifies the audit chain.

use crate::http::auth::{mint_hs256, Claims};
use crate::node::demo::{DemoSession, Scenario, DEMO_OPERATOR};
use crate::node::bootstrap::DEMO_TENANT;
use crate::node::serve::{read_server_info, ServerInfo};
use anyhow::{anyhow, Context};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the demo waits for the server to write `server.json`.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the demo waits for the server to exit after SIGTERM before killing it.
const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Lifetime of the demo's control-plane token, in seconds.
const TOKEN_TTL_S: u64 = 3_600;

/// Options of `axiom demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Data directory for the demo server; a fresh temporary one when absent.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,

    /// Keep the temporary data directory after the demo, for `axiom audit` commands.
    #[arg(long, default_value_t = false)]
    pub keep: bool,
}

/// Runs the demo; exits 1 when a scenario gave an unexpected answer or the chain is broken.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let temporary = match &args.data_dir {
        Some(_) => None,
        None => Some(tempfile_dir()?),
    };
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| temporary.clone())
        .ok_or_else(|| anyhow!("no data directory"))?;

    let secret = random_secret();
    let mut server = spawn_server(&data_dir, &secret)?;
    let outcome = run_against(&data_dir, &secret, &mut server);
    stop_server(&mut server);
    let all_expected = outcome?;

    println!();
    let report = axiom_storage::verify(&data_dir.join(crate::node::build::STORE_DIR))
        .context("verifying the audit log")?;
    let records: u64 = report.chains.iter().map(|chain| chain.records).sum();
    let intact = report.is_intact();
    println!(
        "audit chain: {} ({} records on {} shard chains)",
        if intact { "verified" } else { "BROKEN" },
        records,
        report.chains.len()
    );
    for problem in &report.problems {
        println!("  {problem:?}");
    }

    match (&temporary, args.keep) {
        (Some(dir), false) => {
            let _ = std::fs::remove_dir_all(dir);
        }
        _ => println!("data directory kept: {}", data_dir.display()),
    }

    if all_expected && intact {
        println!("demo passed: every scenario gave its expected verdict");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("demo FAILED");
        Ok(ExitCode::from(1))
    }
}

fn run_against(data_dir: &Path, secret: &str, server: &mut Child) -> anyhow::Result<bool> {
    let info = wait_for_server(data_dir, server)?;
    println!(
        "axiom serving QUIC on {} and HTTP on {} (certificate {})",
        info.quic_addr,
        info.http_addr,
        &info.tls_fingerprint[..16.min(info.tls_fingerprint.len())]
    );

    let token = demo_token(secret)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the demo runtime")?;
    runtime.block_on(async move {
        let mut session = DemoSession::connect(&info, token).await?;
        session.ingest_bank_feed()?;
        println!("bank feed ingested; running {} scenarios over QUIC\n", Scenario::ALL.len());
        println!(
            "{:<32} {:<8} {:<22} {:>10}  {}",
            "scenario", "verdict", "reason", "latency", "check"
        );

        let mut all_expected = true;
        for scenario in Scenario::ALL {
            let result = session.run(scenario).await?;
            let expected = result.as_expected();
            all_expected &= expected;
            let (verdict, reason) = scenario.expected();
            println!(
                "{:<32} {:<8} {:<22} {:>8.2}ms  {}",
                scenario.name(),
                result.response.verdict.as_str(),
                result.response.reason_code.as_str(),
                result.latency.as_secs_f64() * 1_000.0,
                if expected {
                    "ok".to_owned()
                } else {
                    format!("UNEXPECTED (wanted {} {})", verdict.as_str(), reason.as_str())
                }
            );
        }

        let after = session
            .run(Scenario::InLimitPayment)
            .await
            .context("the server sent no response after the malformed frame")?;
        println!(
            "\nserver still up after the malformed frame: {} {}",
            after.response.verdict.as_str(),
            after.response.reason_code.as_str()
        );
        session.client.close().await;
        anyhow::Ok(all_expected)
    })
}

fn demo_token(secret: &str) -> anyhow::Result<String> {
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    let claims = Claims {
        sub: DEMO_OPERATOR.to_owned(),
        tenant: DEMO_TENANT.to_owned(),
        roles: vec!["securityadmin".into(), "operator".into(), "sre".into()],
        platform: false,
        iss: "axiom".to_owned(),
        aud: "axiom-control".to_owned(),
        exp: now_s + TOKEN_TTL_S,
        nbf: None,
        iat: Some(now_s),
    };
    mint_hs256(secret, &claims).context("minting the demo token")
}

fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("axiom-demo-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn spawn_server(data_dir: &Path, secret: &str) -> anyhow::Result<Child> {
    let executable = std::env::current_exe().context("locating the axiom executable")?;
    Command::new(executable)
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--quic-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
        .env("AXIOM_JWT_HS256_SECRET", secret)
        .env_remove("AXIOM_DEV_NO_AUTH")
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()))
        .stdin(Stdio::null())
        .spawn()
        .context("starting `axiom serve`")
}

fn wait_for_server(data_dir: &Path, server: &mut Child) -> anyhow::Result<ServerInfo> {
    let deadline = Instant::now() + SERVER_START_TIMEOUT;
    loop {
        if let Some(status) = server.try_wait()? {
            return Err(anyhow!("`axiom serve` exited during start with {status}"));
        }
        if let Ok(info) = read_server_info(data_dir) {
            if info.pid == server.id() {
                return Ok(info);
            }
        }
        if Instant::now() > deadline {
            return Err(anyhow!(
                "`axiom serve` did not start within {} s",
                SERVER_START_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGTERM and waits for a clean exit, killing the server if it does not stop.
fn stop_server(server: &mut Child) {
    #[cfg(unix)]
    {
        let pid = server.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
    }
    let deadline = Instant::now() + SERVER_STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = server.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = server.kill();
    let _ = server.wait();
}
