//! Errors of the load-test harness, grouped by who must act on them.

use crate::mix::Scenario;
use std::path::PathBuf;

/// An invalid option or combination of options; the operator must change the command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A mix item is not `name=weight`.
    #[error("invalid mix item `{0}`: expected `scenario=weight`, for example `allow=70`")]
    InvalidMixItem(String),
    /// A mix names a scenario that does not exist.
    #[error("unknown scenario `{0}`: expected one of allow, escrow, deny, stale, uncertain, replay, forged")]
    UnknownScenario(String),
    /// A scenario appears twice in the mix.
    #[error("scenario `{0}` appears twice in the mix")]
    DuplicateScenario(Scenario),
    /// Every weight of the mix is zero.
    #[error("the mix has no scenario with a weight above 0")]
    EmptyMix,
    /// A weight is above [`crate::mix::MIX_WEIGHT_MAX`].
    #[error("weight {weight} of scenario `{scenario}` is above the maximum of 1000000")]
    MixWeightTooLarge {
        /// The scenario.
        scenario: Scenario,
        /// The weight given.
        weight: u32,
    },
    /// A numeric option is outside its allowed range.
    #[error("`{name}` is {value}, expected {expected}")]
    OutOfRange {
        /// Option name.
        name: &'static str,
        /// Value given, formatted.
        value: String,
        /// The allowed range, in words.
        expected: &'static str,
    },
    /// Pre-signed certificates would expire before the run ends.
    #[error(
        "pre-signed certificates live {cert_ttl_s} s but the run lasts up to {run_s} s; \
         raise --cert-ttl-s or sign on the fly with --signing on-the-fly"
    )]
    PoolOutlivesCertificates {
        /// Certificate lifetime, in seconds.
        cert_ttl_s: u64,
        /// Longest possible run (warm-up, measured phase and drain), in seconds.
        run_s: u64,
    },
    /// The pre-signed pool would hold more requests than its limit.
    #[error(
        "the run needs {needed} pre-signed requests, above the limit of {limit}; \
         lower --rate, --duration-s or --max-requests, or sign on the fly with --signing on-the-fly"
    )]
    PoolTooLarge {
        /// Requests the run could send.
        needed: u64,
        /// [`crate::config::PRESIGNED_REQUESTS_MAX`].
        limit: u64,
    },
    /// No agent was configured.
    #[error("no agent key: pass --key-file or --agents")]
    NoAgents,
}

/// A failure while preparing or running a load test.
#[derive(Debug, thiserror::Error)]
pub enum LoadtestError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An agent key file could not be read or parsed.
    #[error("failed to load agent key file `{path}`: {message}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Description of the failure.
        message: String,
    },
    /// Signing an intent failed.
    #[error("failed to sign a `{scenario}` intent: {message}")]
    Signing {
        /// The scenario being built.
        scenario: Scenario,
        /// Description of the failure.
        message: String,
    },
    /// No QUIC connection to the server could be made.
    #[error("failed to connect to {server}: {message}")]
    Connect {
        /// Server address.
        server: String,
        /// Description of the failure.
        message: String,
    },
    /// The requests that seed the replay scenario were not answered.
    #[error("failed to prepare replay seeds: {0}")]
    ReplaySeeds(String),
    /// The first source freshness event was rejected.
    #[error("failed to push a source freshness event: {0}; check --control-url and --bearer-token")]
    SourceFeed(String),
    /// A report file could not be written.
    #[error("failed to write report `{path}`: {source}")]
    WriteReport {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Serializing the JSON report failed.
    #[error("failed to serialize the JSON report: {0}")]
    Json(#[from] serde_json::Error),
}
