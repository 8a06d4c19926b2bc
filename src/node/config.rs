//! Settings of a running node, from flags and environment variables.

use axiom_engine::settings::{
    SettingsSnapshot, ACCEPTANCE_TTL_MS_DEFAULT, CLOCK_SKEW_MS_DEFAULT, MAX_DEFER_TOTAL_MS_DEFAULT,
    RATE_LIMIT_PER_MINUTE_DEFAULT,
};
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Which solver backend proves policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmtBackendName {
    /// In-process libz3, one context per pooled solver thread.
    #[value(name = "z3")]
    Z3,
    /// Persistent `z3 -in` child processes at `Z3_PATH`, isolated from crashes.
    #[value(name = "z3-process")]
    Z3Process,
    /// No solver: a would-be ALLOW becomes ESCROW `SMT_NON_FORMAL`.
    #[value(name = "disabled")]
    Disabled,
}

/// Flags of `axiom serve` (and of the server that `axiom demo` starts).
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Directory holding the fjall store, the TLS identity and the engine key.
    #[arg(long, env = "AXIOM_DATA_DIR", default_value = "axiom-data")]
    pub data_dir: PathBuf,

    /// UDP address the QUIC decision endpoint listens on.
    #[arg(long, env = "AXIOM_QUIC_LISTEN", default_value = "127.0.0.1:7443")]
    pub quic_listen: SocketAddr,

    /// TCP address of the HTTP control plane.
    #[arg(long, env = "AXIOM_HTTP_LISTEN", default_value = "127.0.0.1:8080")]
    pub http_listen: SocketAddr,

    /// PEM certificate chain for QUIC; without it a self-signed pair is generated into the data directory.
    #[arg(long, env = "AXIOM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key matching `--tls-cert`.
    #[arg(long, env = "AXIOM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// PEM CA certificate; when set, agents must present a client certificate it signed.
    #[arg(long, env = "AXIOM_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,

    /// Number of tenant shards; a change takes effect at the next start, which regroups the
    /// recovered replay state by the new mapping.
    #[arg(long, env = "AXIOM_SHARDS", default_value_t = 16)]
    pub shards: usize,

    /// Largest request frame accepted, in bytes.
    #[arg(long, env = "AXIOM_REQUEST_BYTES_MAX", default_value_t = 64 * 1024)]
    pub request_bytes_max: usize,

    /// Solver backend.
    #[arg(long, env = "SMT_BACKEND", value_enum, default_value_t = SmtBackendName::Z3)]
    pub smt_backend: SmtBackendName,

    /// Path of the z3 binary for the `z3-process` backend.
    #[arg(long, env = "Z3_PATH", default_value = "/usr/bin/z3")]
    pub z3_path: PathBuf,

    /// Time limit of one policy proof, in milliseconds; beyond it the answer is DEFER `SMT_UNAVAILABLE`.
    #[arg(long, env = "SMT_TIMEOUT_MS", default_value_t = 200)]
    pub smt_timeout_ms: u64,

    /// Pooled solver threads (0 = one per core).
    #[arg(long, env = "AXIOM_SMT_WORKERS", default_value_t = 0)]
    pub smt_workers: usize,

    /// Proofs waiting for a solver before new ones get DEFER `SMT_UNAVAILABLE`.
    #[arg(long, env = "AXIOM_SMT_QUEUE_MAX", default_value_t = 1024)]
    pub smt_queue_max: usize,

    /// Requests per minute per actor (a tenant gets ten times this); changeable at run time.
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = RATE_LIMIT_PER_MINUTE_DEFAULT)]
    pub rate_limit_per_minute: u64,

    /// Longest accepted certificate lifetime, in milliseconds; 0 rejects every certificate.
    #[arg(long, env = "ACCEPTANCE_TTL_MS", default_value_t = ACCEPTANCE_TTL_MS_DEFAULT)]
    pub acceptance_ttl_ms: u64,

    /// How long after `issued_at` a deferred certificate may be retried, in milliseconds.
    #[arg(long, env = "MAX_DEFER_TOTAL_MS", default_value_t = MAX_DEFER_TOTAL_MS_DEFAULT)]
    pub max_defer_total_ms: u64,

    /// Allowed clock difference between agents and the engine, in milliseconds.
    #[arg(long, env = "AXIOM_CLOCK_SKEW_MS", default_value_t = CLOCK_SKEW_MS_DEFAULT)]
    pub clock_skew_ms: u64,

    /// Start in degraded mode: no ALLOW until it is switched off.
    #[arg(long, env = "DEGRADED_NO_ALLOW", default_value_t = false, action = clap::ArgAction::Set)]
    pub degraded_no_allow: bool,

    /// Most audit records made durable by one fsync.
    #[arg(long, env = "AXIOM_AUDIT_BATCH_RECORDS_MAX", default_value_t = 256)]
    pub audit_batch_records_max: usize,

    /// Longest time a record waits for its batch to fill, in microseconds.
    #[arg(long, env = "AXIOM_AUDIT_BATCH_WAIT_US", default_value_t = 200)]
    pub audit_batch_wait_us: u64,

    /// URL of the tool upstream that executes approved escrows (http:// only).
    #[arg(long, env = "TOOL_URL")]
    pub tool_url: Option<String>,

    /// Time limit of one upstream call, in milliseconds.
    #[arg(long, env = "UPSTREAM_TIMEOUT_MS", default_value_t = 2_000)]
    pub upstream_timeout_ms: u64,

    /// Do not create the demo tenant, agent key, finance policy and budget on start.
    #[arg(long, env = "AXIOM_NO_DEMO_TENANT", default_value_t = false)]
    pub no_demo_tenant: bool,

    /// Secret for HS256 bearer tokens (development).
    #[arg(long, env = "AXIOM_JWT_HS256_SECRET", hide_env_values = true)]
    pub jwt_hs256_secret: Option<String>,

    /// JWKS file with EdDSA or RS256 public keys for bearer tokens (production).
    #[arg(long, env = "AXIOM_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,

    /// Plain `http://` URL of a JWKS with EdDSA or RS256 public keys, fetched at start (the
    /// server does not start if that fails) and every `--jwks-refresh-s`. `https://` is
    /// rejected: mount the JWKS and pass `--jwks-file` instead.
    #[arg(long, env = "AXIOM_JWKS_URL", conflicts_with = "jwks_file")]
    pub jwks_url: Option<String>,

    /// Time between fetches of `--jwks-url`, in seconds; a failed fetch keeps the previous keys.
    #[arg(long, env = "AXIOM_JWKS_REFRESH_S", default_value_t = crate::http::jwks::JWKS_REFRESH_S_DEFAULT)]
    pub jwks_refresh_s: u64,

    /// Expected `iss` claim of bearer tokens.
    #[arg(long, env = "AXIOM_JWT_ISSUER", default_value = "axiom")]
    pub jwt_issuer: String,

    /// Expected `aud` claim of bearer tokens.
    #[arg(long, env = "AXIOM_JWT_AUDIENCE", default_value = "axiom-control")]
    pub jwt_audience: String,

    /// Serve the control plane without authentication (development only; rejected when
    /// `AXIOM_ENV=production`).
    #[arg(long, env = "AXIOM_DEV_NO_AUTH", default_value_t = false)]
    pub dev_no_auth: bool,

    /// Deployment environment; `production` forbids `--dev-no-auth`.
    #[arg(long, env = "AXIOM_ENV", default_value = "development")]
    pub environment: String,
}

impl ServeArgs {
    /// Returns the start values of the runtime settings.
    pub fn settings(&self) -> SettingsSnapshot {
        SettingsSnapshot {
            rate_limit_per_minute: self.rate_limit_per_minute,
            acceptance_ttl_ms: self.acceptance_ttl_ms,
            max_defer_total_ms: self.max_defer_total_ms,
            clock_skew_ms: self.clock_skew_ms,
            degraded_no_allow: self.degraded_no_allow,
            threshold_scale_milli: 1_000,
            certificates_issued_after_ms: 0,
        }
    }

    /// Returns the solver thread count, resolving 0 to the number of cores.
    pub fn smt_worker_count(&self) -> usize {
        if self.smt_workers > 0 {
            return self.smt_workers;
        }
        std::thread::available_parallelism()
            .map(|cores| cores.get())
            .unwrap_or(1)
    }
}
