//! `axiom loadtest`: open-loop QUIC load runs and capacity searches against a server.

use anyhow::{bail, Context, Result};
use axiom_loadtest::capacity::{self, CapacityConfig};
use axiom_loadtest::output::{write_file, write_reports, ReportPaths};
use axiom_loadtest::progress::ProgressMode;
use axiom_loadtest::report::text;
use axiom_loadtest::sources::SourceFeed;
use axiom_loadtest::{ActorIdentity, Agent, Arrival, Mix, RunConfig, RunOptions, SigningMode};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Most actors per key; each actor has its own rate-limit bucket on the server.
const ACTORS_PER_KEY_MAX: usize = 100_000;

/// Most generated agent keys.
const AGENTS_MAX: usize = 10_000;

/// Options of `axiom loadtest`.
#[derive(Debug, Args)]
pub struct LoadtestArgs {
    #[command(subcommand)]
    pub command: LoadtestCommand,
}

/// The two modes.
#[derive(Debug, Subcommand)]
pub enum LoadtestCommand {
    /// Sends one open-loop run and writes its reports; exits 1 when any answer was unexpected
    /// or any request was dropped, timed out or failed.
    Run(RunArgs),
    /// Searches for the highest rate whose P95 and P99 meet the targets, and sizes a deployment.
    Capacity(CapacityArgs),
}

/// Options shared by both modes.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// `server.json` in the data directory of a running `axiom serve`: fills in the QUIC
    /// address, fingerprint, control-plane URL, metrics URL, demo key file and tenant.
    #[arg(long)]
    pub server_info: Option<PathBuf>,
    /// UDP address of the server's QUIC endpoint.
    #[arg(long)]
    pub server: Option<SocketAddr>,
    /// TLS server name sent in the handshake.
    #[arg(long, default_value = "localhost")]
    pub server_name: String,
    /// SHA-256 fingerprint of the server's TLS certificate, 64 hex digits.
    #[arg(long)]
    pub fingerprint: Option<String>,
    /// Agent key file (repeatable); each key signs for `--actors` actors.
    #[arg(long = "key-file")]
    pub key_files: Vec<PathBuf>,
    /// Generate this many fresh agent keys instead; the server accepts them only once they are
    /// registered for the tenant.
    #[arg(long)]
    pub agents: Option<usize>,
    /// Tenant of the actors.
    #[arg(long, default_value = "demo")]
    pub tenant: Option<String>,
    /// Actors per key, named `<actor-prefix>-<n>`; each has its own server-side rate limit.
    #[arg(long, default_value_t = 64)]
    pub actors: usize,
    /// Prefix of the actor ids.
    #[arg(long, default_value = "loadtest-agent")]
    pub actor_prefix: String,
    /// Offered rate, in requests per second.
    #[arg(long, default_value_t = 1_000.0)]
    pub rate: f64,
    /// Arrival pattern: `fixed` (even gaps) or `poisson` (exponential gaps).
    #[arg(long, default_value = "poisson")]
    pub arrival: String,
    /// Measured phase, in seconds (per step in capacity mode).
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    /// Warm-up phase before it, in seconds, left out of every figure.
    #[arg(long, default_value_t = 2.0)]
    pub warmup_s: f64,
    /// Most requests sent, warm-up included; the run ends early when reached.
    #[arg(long, default_value_t = 10_000_000)]
    pub max_requests: u64,
    /// Most requests in flight; arrivals beyond it are dropped and counted.
    #[arg(long, default_value_t = 4_096)]
    pub max_in_flight: usize,
    /// QUIC connections the requests are spread over.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Request timeout, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    pub timeout_ms: u64,
    /// `presigned` (all requests signed before the run) or `on-the-fly` (signed at send time).
    #[arg(long, default_value = "presigned")]
    pub signing: String,
    /// Certificate lifetime, in seconds; at most the server's acceptance TTL.
    #[arg(long, default_value_t = 120)]
    pub cert_ttl_s: u64,
    /// Scenario weights, for example `allow=70,escrow=10,deny=5,stale=5,uncertain=5,replay=3,forged=2`.
    #[arg(long, default_value = "allow=70,escrow=10,deny=5,stale=5,uncertain=5,replay=3,forged=2")]
    pub mix: String,
    /// Seed of the random choices, for repeatable runs.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The server's Prometheus endpoint, read before and after each run (http:// only).
    #[arg(long)]
    pub metrics_url: Option<String>,
    /// Base URL of the control plane; when set, the allow scenario's source is kept fresh there.
    #[arg(long)]
    pub control_url: Option<String>,
    /// Bearer token for the control plane (role operator or sre).
    #[arg(long, env = "AXIOM_LOADTEST_TOKEN", hide_env_values = true)]
    pub bearer_token: Option<String>,
    /// No progress display.
    #[arg(long)]
    pub no_progress: bool,
}

/// Options of `axiom loadtest run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Directory for summary.txt, report.json, latency.hgrm and report.html.
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// JSON report file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// HdrHistogram percentile distribution file (latency in ms).
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
    /// Self-contained HTML report with plots.
    #[arg(long)]
    pub html: Option<PathBuf>,
}

/// Options of `axiom loadtest capacity`.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// P95 target, in milliseconds (the runbook's SLO is 200).
    #[arg(long, default_value_t = 200.0)]
    pub p95_ms: f64,
    /// P99 target, in milliseconds (the runbook's SLO is 500; the engineering target is 2).
    #[arg(long, default_value_t = 500.0)]
    pub p99_ms: f64,
    /// First rate tried, in requests per second.
    #[arg(long, default_value_t = 500.0)]
    pub start_rate: f64,
    /// Highest rate tried, in requests per second.
    #[arg(long, default_value_t = 200_000.0)]
    pub max_rate: f64,
    /// Stop when the passing and failing rates are within this share of each other.
    #[arg(long, default_value_t = 0.05)]
    pub resolution: f64,
    /// Most steps.
    #[arg(long, default_value_t = 20)]
    pub max_steps: usize,
    /// Cores of the server; default: this machine's cores when the server is on loopback.
    #[arg(long)]
    pub server_cores: Option<usize>,
    /// Load to size a deployment for, in requests per second.
    #[arg(long)]
    pub target_rps: Option<f64>,
    /// Share of each instance's capacity kept free, 0 to below 1.
    #[arg(long, default_value_t = 0.3)]
    pub headroom: f64,
    /// JSON file for the capacity report.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Runs the chosen mode.
pub fn run(args: LoadtestArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    match args.command {
        LoadtestCommand::Run(args) => runtime.block_on(run_once(args)),
        LoadtestCommand::Capacity(args) => runtime.block_on(run_capacity(args)),
    }
}

async fn run_once(args: RunArgs) -> Result<ExitCode> {
    let prepared = prepare(&args.common)?;
    let outcome = axiom_loadtest::run(&prepared.config, prepared.agents, &prepared.options).await?;
    println!("{}", text::render(&outcome.report));

    let explicit = ReportPaths {
        text: None,
        json: args.json,
        hgrm: args.hgrm,
        html: args.html,
    };
    let paths = match &args.report_dir {
        Some(directory) => explicit.or(ReportPaths::in_directory(directory)),
        None => explicit,
    };
    for path in write_reports(&outcome, &paths)? {
        println!("wrote {}", path.display());
    }
    Ok(if outcome.report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

async fn run_capacity(args: CapacityArgs) -> Result<ExitCode> {
    let prepared = prepare(&args.common)?;
    let (server_cores, server_cores_source) = match args.server_cores {
        Some(cores) => (cores, "given with --server-cores".to_owned()),
        None if prepared.config.server.ip().is_loopback() => {
            let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
            (cores, "this machine's cores, since the server is on loopback".to_owned())
        }
        None => bail!("the server is not on this machine: pass --server-cores with its core count"),
    };
    let config = CapacityConfig {
        start_rate_per_s: args.start_rate,
        rate_max_per_s: args.max_rate,
        p95_ms: args.p95_ms,
        p99_ms: args.p99_ms,
        resolution: args.resolution,
        steps_max: args.max_steps,
        server_cores,
        server_cores_source,
        target_rps: args.target_rps,
        headroom: args.headroom,
    };

    let report = capacity::search(&prepared.config, prepared.agents, config, &prepared.options).await?;
    println!("{}", capacity::render_text(&report));
    if let Some(path) = &args.json {
        write_file(path, &serde_json::to_vec_pretty(&report)?)?;
        println!("wrote {}", path.display());
    }
    Ok(if report.capacity_rps.is_some() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// A run configuration, its agents and options, built from the command line.
struct Prepared {
    config: RunConfig,
    agents: Vec<Agent>,
    options: RunOptions,
}

/// Fields read from `server.json` of a running server.
#[derive(Debug, Default)]
struct ServerInfo {
    quic_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    fingerprint: Option<String>,
    demo_key_file: Option<PathBuf>,
    demo_tenant: Option<String>,
}

fn read_server_info(path: &Path) -> Result<ServerInfo> {
    let text = std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    let value: Value = serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let text_field = |pointer: &str| value.pointer(pointer).and_then(Value::as_str).map(str::to_owned);
    Ok(ServerInfo {
        quic_addr: text_field("/quic_addr").and_then(|addr| addr.parse().ok()),
        http_addr: text_field("/http_addr").and_then(|addr| addr.parse().ok()),
        fingerprint: text_field("/tls_fingerprint"),
        demo_key_file: text_field("/demo/key_file").map(PathBuf::from),
        demo_tenant: text_field("/demo/tenant"),
    })
}

fn prepare(args: &CommonArgs) -> Result<Prepared> {
    let info = match &args.server_info {
        Some(path) => read_server_info(path)?,
        None => ServerInfo::default(),
    };
    let server = args.server.or(info.quic_addr).context("missing --server (or --server-info)")?;
    let fingerprint = args
        .fingerprint
        .clone()
        .or(info.fingerprint)
        .context("missing --fingerprint (or --server-info)")?;

    let mut config = RunConfig::new(server, fingerprint);
    config.server_name = args.server_name.clone();
    config.rate_per_s = args.rate;
    config.arrival = args.arrival.parse::<Arrival>()?;
    config.warmup = seconds("warmup-s", args.warmup_s)?;
    config.duration = seconds("duration-s", args.duration_s)?;
    config.requests_max = args.max_requests;
    config.in_flight_max = args.max_in_flight;
    config.connections = args.connections;
    config.request_timeout_ms = args.timeout_ms;
    config.signing = args.signing.parse::<SigningMode>()?;
    config.cert_ttl_s = args.cert_ttl_s;
    config.mix = args.mix.parse::<Mix>()?;
    config.seed = args.seed;
    config.validate()?;

    let tenant = match (&info.demo_tenant, args.server_info.is_some()) {
        (Some(tenant), true) if args.tenant.as_deref() == Some("demo") => tenant.clone(),
        _ => args.tenant.clone().unwrap_or_else(|| "demo".to_owned()),
    };
    let mut key_files = args.key_files.clone();
    if key_files.is_empty() && args.agents.is_none() {
        key_files.extend(info.demo_key_file);
    }
    let agents = agents(args, &key_files, &tenant)?;

    let control_url = args.control_url.clone().or(info.http_addr.map(|addr| format!("http://{addr}")));
    let metrics_url = args
        .metrics_url
        .clone()
        .or(info.http_addr.map(|addr| format!("http://{addr}/metrics")));
    let options = RunOptions {
        progress: if args.no_progress { ProgressMode::Off } else { ProgressMode::detect() },
        metrics_url,
        source_feed: control_url.map(|control_url| SourceFeed {
            control_url,
            bearer_token: args.bearer_token.clone(),
            tenants: vec![tenant.clone()],
        }),
    };
    Ok(Prepared { config, agents, options })
}

fn seconds(name: &str, value: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| anyhow::anyhow!("--{name} must be a number of seconds at least 0, got {value}"))
}

fn agents(args: &CommonArgs, key_files: &[PathBuf], tenant: &str) -> Result<Vec<Agent>> {
    if args.actors == 0 || args.actors > ACTORS_PER_KEY_MAX {
        bail!("--actors must be between 1 and {ACTORS_PER_KEY_MAX}, got {}", args.actors);
    }
    let identity = |number: usize| ActorIdentity {
        tenant: tenant.to_owned(),
        actor: format!("{}-{number}", args.actor_prefix),
    };

    let mut agents = Vec::new();
    if let Some(count) = args.agents {
        if count == 0 || count > AGENTS_MAX {
            bail!("--agents must be between 1 and {AGENTS_MAX}, got {count}");
        }
        for number in 0..count {
            agents.push(Agent::generate(identity(number)));
        }
        return Ok(agents);
    }
    if key_files.is_empty() {
        bail!("missing --key-file, --agents or --server-info with a demo key");
    }
    for (file_index, path) in key_files.iter().enumerate() {
        let base = Agent::from_key_file(path, identity(0))?;
        for actor in 0..args.actors {
            let mut agent = base.clone();
            agent.identity = identity(file_index * args.actors + actor);
            agents.push(agent);
        }
    }
    Ok(agents)
}
