//! Settings of one load run, with their limits.

use crate::error::ConfigError;
use crate::mix::Mix;
use crate::schedule::Arrival;
use serde::Serialize;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// Highest offered rate, in requests per second. Far above what one machine can answer;
/// it stops a typo from scheduling billions of arrivals.
pub const RATE_PER_S_MAX: f64 = 1_000_000.0;

/// Longest warm-up plus measured phase, in seconds (one day).
pub const RUN_S_MAX: f64 = 86_400.0;

/// Most requests one run may send.
pub const REQUESTS_MAX_LIMIT: u64 = 1_000_000_000;

/// Most requests in flight at once; each holds a task and a QUIC stream.
pub const IN_FLIGHT_MAX_LIMIT: usize = 100_000;

/// Most QUIC connections; each has its own TLS handshake and UDP socket.
pub const CONNECTIONS_MAX: usize = 1_024;

/// Longest request timeout, in milliseconds. Must stay below the histograms' top value.
pub const REQUEST_TIMEOUT_MS_MAX: u64 = 120_000;

/// Most pre-signed requests held in memory. An envelope is about 1 KB, so the pool stays
/// near 200 MB at most; longer runs sign on the fly.
pub const PRESIGNED_REQUESTS_MAX: u64 = 200_000;

/// How requests get their signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SigningMode {
    /// Every request is signed before the run starts, so signing costs nothing during it.
    Presigned,
    /// Each request is signed at its intended send time; signing then shares the CPU with
    /// sending and counts in the measured latency.
    OnTheFly,
}

impl SigningMode {
    /// Returns the command-line and report name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningMode::Presigned => "presigned",
            SigningMode::OnTheFly => "on-the-fly",
        }
    }
}

impl FromStr for SigningMode {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "presigned" => Ok(SigningMode::Presigned),
            "on-the-fly" => Ok(SigningMode::OnTheFly),
            _ => Err(ConfigError::OutOfRange {
                name: "signing",
                value: text.to_owned(),
                expected: "`presigned` or `on-the-fly`",
            }),
        }
    }
}

impl FromStr for Arrival {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "fixed" => Ok(Arrival::Fixed),
            "poisson" => Ok(Arrival::Poisson),
            _ => Err(ConfigError::OutOfRange {
                name: "arrival",
                value: text.to_owned(),
                expected: "`fixed` or `poisson`",
            }),
        }
    }
}

/// Everything one load run needs except the agents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunConfig {
    /// UDP address of the server's QUIC endpoint.
    pub server: SocketAddr,
    /// TLS server name sent in the handshake.
    pub server_name: String,
    /// Lowercase hex SHA-256 of the server's certificate, pinned instead of a CA.
    pub fingerprint: String,
    /// Offered rate, in requests per second.
    pub rate_per_s: f64,
    /// Arrival pattern.
    pub arrival: Arrival,
    /// Warm-up phase, excluded from every figure.
    #[serde(serialize_with = "serialize_seconds")]
    pub warmup: Duration,
    /// Measured phase after the warm-up.
    #[serde(serialize_with = "serialize_seconds")]
    pub duration: Duration,
    /// Most requests sent (warm-up included); the run ends early when reached.
    pub requests_max: u64,
    /// Most requests in flight; an arrival beyond it is dropped and counted.
    pub in_flight_max: usize,
    /// QUIC connections the requests are spread over.
    pub connections: usize,
    /// Time after which a request without response counts as timed out, in milliseconds.
    pub request_timeout_ms: u64,
    /// Signing mode.
    pub signing: SigningMode,
    /// Lifetime of each certificate, in seconds; must not exceed the server's acceptance TTL.
    pub cert_ttl_s: u64,
    /// Scenario weights.
    pub mix: Mix,
    /// Seed of the random choices (scenarios, Poisson gaps), for repeatable runs.
    pub seed: u64,
}

fn serialize_seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

impl RunConfig {
    /// Creates a configuration with the documented defaults for the given server.
    pub fn new(server: SocketAddr, fingerprint: impl Into<String>) -> RunConfig {
        RunConfig {
            server,
            server_name: "localhost".to_owned(),
            fingerprint: fingerprint.into(),
            rate_per_s: 1_000.0,
            arrival: Arrival::Poisson,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(10),
            requests_max: 10_000_000,
            in_flight_max: 4_096,
            connections: 4,
            request_timeout_ms: 5_000,
            signing: SigningMode::Presigned,
            cert_ttl_s: 120,
            mix: Mix::default(),
            seed: 1,
        }
    }

    /// Returns the most requests the run can schedule: the rate over both phases, capped
    /// by `requests_max`.
    pub fn requests_planned(&self) -> u64 {
        let by_time = (self.rate_per_s * (self.warmup + self.duration).as_secs_f64()).ceil();
        (by_time as u64).saturating_add(1).min(self.requests_max)
    }

    /// Returns the longest the run can last: both phases plus the drain of in-flight requests.
    pub fn run_bound(&self) -> Duration {
        self.warmup + self.duration + Duration::from_millis(self.request_timeout_ms)
    }

    /// Checks every limit and the combinations that cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.rate_per_s > 0.0 && self.rate_per_s <= RATE_PER_S_MAX) {
            return Err(out_of_range("rate", self.rate_per_s, "above 0 and at most 1000000 requests/s"));
        }
        let phases_s = (self.warmup + self.duration).as_secs_f64();
        if self.duration.is_zero() || phases_s > RUN_S_MAX {
            return Err(out_of_range("duration-s", phases_s, "above 0, and warm-up plus duration at most 86400 s"));
        }
        if self.requests_max == 0 || self.requests_max > REQUESTS_MAX_LIMIT {
            return Err(out_of_range("max-requests", self.requests_max, "between 1 and 1000000000"));
        }
        if self.in_flight_max == 0 || self.in_flight_max > IN_FLIGHT_MAX_LIMIT {
            return Err(out_of_range("max-in-flight", self.in_flight_max, "between 1 and 100000"));
        }
        if self.connections == 0 || self.connections > CONNECTIONS_MAX {
            return Err(out_of_range("connections", self.connections, "between 1 and 1024"));
        }
        if self.request_timeout_ms == 0 || self.request_timeout_ms > REQUEST_TIMEOUT_MS_MAX {
            return Err(out_of_range("timeout-ms", self.request_timeout_ms, "between 1 and 120000 ms"));
        }
        if self.cert_ttl_s == 0 {
            return Err(out_of_range("cert-ttl-s", self.cert_ttl_s, "at least 1 s"));
        }

        if self.signing == SigningMode::Presigned {
            let run_s = self.run_bound().as_secs_f64().ceil() as u64;
            if run_s >= self.cert_ttl_s {
                return Err(ConfigError::PoolOutlivesCertificates {
                    cert_ttl_s: self.cert_ttl_s,
                    run_s,
                });
            }
            let needed = self.requests_planned();
            if needed > PRESIGNED_REQUESTS_MAX {
                return Err(ConfigError::PoolTooLarge {
                    needed,
                    limit: PRESIGNED_REQUESTS_MAX,
                });
            }
        }
        Ok(())
    }
}

fn out_of_range(name: &'static str, value: impl ToString, expected: &'static str) -> ConfigError {
    ConfigError::OutOfRange {
        name,
        value: value.to_string(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RunConfig {
        RunConfig::new(SocketAddr::from(([127, 0, 0, 1], 7443)), "00")
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(config().validate(), Ok(()));
    }

    #[test]
    fn presigned_pool_must_outlive_run() {
        let mut long = config();
        long.duration = Duration::from_secs(600);
        assert!(matches!(long.validate(), Err(ConfigError::PoolOutlivesCertificates { .. })));
        long.signing = SigningMode::OnTheFly;
        assert_eq!(long.validate(), Ok(()));
    }

    #[test]
    fn presigned_pool_is_bounded() {
        let mut big = config();
        big.rate_per_s = 100_000.0;
        assert!(matches!(big.validate(), Err(ConfigError::PoolTooLarge { .. })));
        big.requests_max = 1_000;
        assert_eq!(big.validate(), Ok(()));
    }

    #[test]
    fn limits_are_checked() {
        let mut zero_rate = config();
        zero_rate.rate_per_s = 0.0;
        assert!(zero_rate.validate().is_err());
        let mut no_connections = config();
        no_connections.connections = 0;
        assert!(no_connections.validate().is_err());
        let mut nan_rate = config();
        nan_rate.rate_per_s = f64::NAN;
        assert!(nan_rate.validate().is_err());
    }
}
