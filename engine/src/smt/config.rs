//! Solver pool settings and their environment variables.

use std::path::PathBuf;

/// Default per-query and per-evaluation solver time limit, in milliseconds. Small proofs take
/// about 0.1 ms on a reused solver, so 200 ms only ends pathological queries.
pub const SMT_TIMEOUT_MS_DEFAULT: u64 = 200;

/// Default number of solver workers: one per core of the 2-core reference machine.
pub const SMT_WORKERS_DEFAULT: usize = 2;

/// Default bound on evaluations queued or running. At about 1 ms per 10-axiom evaluation,
/// 1,024 queued evaluations wait at most about half a second on two workers.
pub const SMT_QUEUE_MAX_DEFAULT: usize = 1_024;

/// Which solver answers queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtBackend {
    /// libz3 inside the engine process (`SMT_BACKEND=z3`, the default).
    InProcess,
    /// Persistent `z3 -in` child processes (`SMT_BACKEND=z3-process`), isolated from crashes.
    Process { z3_path: PathBuf },
    /// No solver (`SMT_BACKEND=disabled`); evaluations report `proved_by: disabled`.
    Disabled,
}

/// Settings of a [`super::SolverPool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtConfig {
    /// Which solver answers.
    pub backend: SmtBackend,
    /// Number of worker threads, each with its own solver.
    pub workers: usize,
    /// Most evaluations queued or running at once; more are rejected with `QueueFull`.
    pub queue_max: usize,
    /// Time limit of one solver query, and of all solver work for one evaluation, in ms.
    pub timeout_ms: u64,
}

impl Default for SmtConfig {
    fn default() -> Self {
        SmtConfig {
            backend: SmtBackend::InProcess,
            workers: SMT_WORKERS_DEFAULT,
            queue_max: SMT_QUEUE_MAX_DEFAULT,
            timeout_ms: SMT_TIMEOUT_MS_DEFAULT,
        }
    }
}

/// An invalid SMT setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtConfigError {
    #[error("invalid SMT_BACKEND `{0}`; expected z3, z3-process or disabled")]
    Backend(String),
    #[error("invalid SMT_TIMEOUT_MS `{0}`; expected a whole number of milliseconds from 1 to 60000")]
    Timeout(String),
}

impl SmtConfig {
    /// Reads `SMT_BACKEND` (`z3` | `z3-process` | `disabled`), `Z3_PATH` (default `z3`, looked
    /// up on `PATH`) and `SMT_TIMEOUT_MS` through `lookup`, over the defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<SmtConfig, SmtConfigError> {
        let mut config = SmtConfig::default();
        if let Some(backend) = lookup("SMT_BACKEND") {
            config.backend = match backend.trim() {
                "z3" => SmtBackend::InProcess,
                "z3-process" => SmtBackend::Process {
                    z3_path: PathBuf::from(lookup("Z3_PATH").unwrap_or_else(|| "z3".into())),
                },
                "disabled" => SmtBackend::Disabled,
                other => return Err(SmtConfigError::Backend(other.to_owned())),
            };
        }
        if let Some(timeout) = lookup("SMT_TIMEOUT_MS") {
            config.timeout_ms = timeout
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| (1..=60_000).contains(ms))
                .ok_or(SmtConfigError::Timeout(timeout))?;
        }
        Ok(config)
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<SmtConfig, SmtConfigError> {
        SmtConfig::from_lookup(|name| std::env::var(name).ok())
    }
}
