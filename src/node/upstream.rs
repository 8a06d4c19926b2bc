//! Execution of approved escrows against the tool upstream, with compensation on failure.
//!
//! Protocol, as seen by the tool:
//! - Execute: `POST {TOOL_URL}` with `Content-Type: application/json`,
//!   `Idempotency-Key: {escrow_id}` and the body `{"escrow_id", "intent", "receipt"}`. Any 2xx
//!   status means the action was performed.
//! - Compensate: when the execute call fails (non-2xx status, timeout, connection or protocol
//!   error), each step of the certificate's rollback plan is sent in order as
//!   `POST {path}` with the body `{"escrow_id", "step_index", "step"}`. `path` is the step's
//!   own `"path"` field when the step is an object that has one (a path on the same host,
//!   starting with `/`), and otherwise the sibling `compensate` of the execute path
//!   (`/execute` → `/compensate`, `/tools/pay/execute` → `/tools/pay/compensate`). The first
//!   failing step stops the sequence.
//!
//! A timeout is ambiguous: the tool may have performed the action without responding in time.
//! The rule is therefore to treat it like any other failure and compensate, so compensating
//! steps must be idempotent and harmless when the action never happened. All steps
//! succeeding gives `ROLLED_BACK`; otherwise the escrow is `FAILED` and needs an operator.
//!
//! The client is a minimal HTTP/1.1 POST over a tokio `TcpStream`, written here rather than
//! pulled in as a crate because the call goes to one loopback or cluster-internal address
//! over plain `http://`: a general client would bring TLS, pooling and redirects that this
//! path must not use. Each request uses its own connection (`Connection: close`), and only the
//! response status line and headers are read.

use axiom_engine::escrow::{self, Escrow, EscrowError, EscrowStatus, ExecutionOutcome, Principal};
use axiom_engine::model::{Intent, Receipt};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Maximum response head (status line and headers) read from the tool, in bytes. A longer
/// head is a protocol error, so a misbehaving tool cannot make the engine buffer without end.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Most compensating steps run for one escrow; a plan with more is not started, because a
/// partial rollback is worse than an operator's decision.
pub const COMPENSATION_STEPS_MAX: usize = 64;
/// Maximum length of the failure text kept from one call, in bytes.
const FAILURE_BYTES_MAX: usize = 512;

/// Errors of setting up or using the upstream client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// `TOOL_URL` is not an `http://host[:port][/path]` URL.
    #[error("invalid TOOL_URL `{url}`: {detail}")]
    InvalidUrl {
        /// The configured value.
        url: String,
        /// The problem found.
        detail: String,
    },
    /// `UPSTREAM_TIMEOUT_MS` is 0, which would fail every execution.
    #[error("UPSTREAM_TIMEOUT_MS must be at least 1 ms")]
    ZeroTimeout,
    /// The escrow has no execution claim; call `begin_execute` and store it first.
    #[error("escrow `{escrow_id}` is {status}, not EXECUTING, so it cannot be sent upstream")]
    NotClaimed {
        /// Escrow id.
        escrow_id: String,
        /// Current status.
        status: EscrowStatus,
    },
}

/// Final result of an execution, after compensation when it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionReport {
    /// The tool accepted the action.
    Executed {
        /// HTTP status returned by the tool.
        status: u16,
    },
    /// The action failed and every compensating step succeeded.
    RolledBack {
        /// Failure reason of the execution.
        failure: String,
        /// Compensating steps run.
        steps_run: usize,
    },
    /// The action failed and could not be compensated completely.
    Failed {
        /// Failure reason of the execution.
        failure: String,
        /// Why compensation did not complete: no usable plan, or the step that failed.
        compensation: String,
    },
}

impl ExecutionReport {
    /// Returns the escrow status this report leads to.
    pub fn status(&self) -> EscrowStatus {
        match self {
            ExecutionReport::Executed { .. } => EscrowStatus::Executed,
            ExecutionReport::RolledBack { .. } => EscrowStatus::RolledBack,
            ExecutionReport::Failed { .. } => EscrowStatus::Failed,
        }
    }

    /// Applies the report to the `EXECUTING` escrow it was produced for: `record_execution`,
    /// then `rollback` when compensation completed.
    ///
    /// The result is one or two versions above `executing`; the caller stores it with
    /// compare-and-set against `executing.version`.
    pub fn apply(
        &self,
        executing: &Escrow,
        by: &Principal,
        now_ms: i64,
    ) -> Result<Escrow, EscrowError> {
        match self {
            ExecutionReport::Executed { .. } => {
                escrow::record_execution(executing, &ExecutionOutcome::Succeeded, now_ms)
            }
            ExecutionReport::RolledBack { failure, steps_run } => {
                let outcome = ExecutionOutcome::Failed {
                    reason: failure.clone(),
                };
                let failed = escrow::record_execution(executing, &outcome, now_ms)?;
                let reason = format!("{steps_run} compensating steps succeeded");
                escrow::rollback(&failed, by, now_ms, &reason)
            }
            ExecutionReport::Failed {
                failure,
                compensation,
            } => {
                let outcome = ExecutionOutcome::Failed {
                    reason: format!("{failure}; compensation incomplete: {compensation}"),
                };
                escrow::record_execution(executing, &outcome, now_ms)
            }
        }
    }
}

/// Address of the tool: a parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolUrl {
    host: String,
    port: u16,
    path: String,
}

impl ToolUrl {
    /// Parses `http://host[:port][/path]`; https, user info, queries and fragments are rejected.
    pub fn parse(url: &str) -> Result<ToolUrl, UpstreamError> {
        let invalid = |detail: &str| UpstreamError::InvalidUrl {
            url: url.to_owned(),
            detail: detail.to_owned(),
        };

        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| invalid("only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(index) => rest.split_at(index),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(invalid("the host is missing"));
        }
        if authority.contains('@') {
            return Err(invalid("user information is not supported"));
        }
        if path.contains('?') || path.contains('#') {
            return Err(invalid("queries and fragments are not supported"));
        }
        if !is_request_target(path) {
            return Err(invalid("the path has spaces or control characters"));
        }

        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|port| *port != 0)
                    .ok_or_else(|| invalid("the port is not a number from 1 to 65535"))?;
                (host, port)
            }
            None => (authority, 80),
        };
        if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')) {
            return Err(invalid("the host must be a name or an IPv4 address"));
        }

        Ok(ToolUrl {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    /// Returns the default compensation path: the execute path with its last segment
    /// replaced by `compensate`.
    pub fn compensate_path(&self) -> String {
        match self.path.rsplit_once('/') {
            Some((parent, _)) => format!("{parent}/compensate"),
            None => "/compensate".to_owned(),
        }
    }
}

/// True when `path` can be sent as an HTTP request target: starts with `/` and holds only
/// visible ASCII, so it cannot inject a header or a second request.
fn is_request_target(path: &str) -> bool {
    path.starts_with('/') && path.bytes().all(|byte| byte.is_ascii_graphic())
}

/// The upstream client, configured from `TOOL_URL` and `UPSTREAM_TIMEOUT_MS`.
#[derive(Debug, Clone)]
pub struct Upstream {
    url: ToolUrl,
    timeout: Duration,
}

#[derive(Serialize)]
struct ExecuteBody<'a> {
    escrow_id: &'a str,
    intent: &'a Intent,
    receipt: Option<&'a Receipt>,
}

#[derive(Serialize)]
struct CompensateBody<'a> {
    escrow_id: &'a str,
    step_index: usize,
    step: &'a Value,
}

impl Upstream {
    /// Builds a client for `tool_url`; `timeout_ms` bounds each call (connect, send and
    /// response head together).
    pub fn new(tool_url: &str, timeout_ms: u64) -> Result<Upstream, UpstreamError> {
        if timeout_ms == 0 {
            return Err(UpstreamError::ZeroTimeout);
        }
        Ok(Upstream {
            url: ToolUrl::parse(tool_url)?,
            timeout: Duration::from_millis(timeout_ms),
        })
    }

    /// Sends a claimed (`EXECUTING`) escrow's action to the tool, compensating on failure.
    ///
    /// `receipt` is the engine's signature over the escrowed decision, so the tool can check
    /// that the action was decided by the engine.
    pub async fn execute(
        &self,
        escrow: &Escrow,
        receipt: Option<&Receipt>,
    ) -> Result<ExecutionReport, UpstreamError> {
        if escrow.status != EscrowStatus::Executing {
            return Err(UpstreamError::NotClaimed {
                escrow_id: escrow.escrow_id.clone(),
                status: escrow.status,
            });
        }

        let body = ExecuteBody {
            escrow_id: &escrow.escrow_id,
            intent: &escrow.intent,
            receipt,
        };
        let failure = match self.post(&self.url.path, &escrow.escrow_id, &body).await {
            Ok(status) if (200..300).contains(&status) => {
                tracing::info!(escrow_id = %escrow.escrow_id, status, "upstream executed the action");
                return Ok(ExecutionReport::Executed { status });
            }
            Ok(status) => format!("upstream returned status {status}"),
            Err(error) => error,
        };
        tracing::warn!(escrow_id = %escrow.escrow_id, failure = %failure, "upstream execution failed, compensating");

        Ok(match self.compensate(escrow).await {
            Ok(steps_run) => ExecutionReport::RolledBack { failure, steps_run },
            Err(compensation) => {
                tracing::error!(
                    escrow_id = %escrow.escrow_id,
                    failure = %failure,
                    compensation = %compensation,
                    "compensation incomplete, escrow needs an operator"
                );
                ExecutionReport::Failed {
                    failure,
                    compensation,
                }
            }
        })
    }

    /// Runs the rollback plan's steps in order; returns how many ran, or why it stopped.
    /// Also used on its own to roll back an `EXECUTED` escrow on an operator's request.
    pub async fn compensate(&self, escrow: &Escrow) -> Result<usize, String> {
        let plan = escrow
            .rollback_plan
            .as_ref()
            .filter(|plan| plan.is_usable())
            .ok_or_else(|| "no usable rollback plan".to_owned())?;
        if plan.steps.len() > COMPENSATION_STEPS_MAX {
            return Err(format!(
                "the rollback plan has {} steps, more than the limit of {COMPENSATION_STEPS_MAX}",
                plan.steps.len()
            ));
        }

        let default_path = self.url.compensate_path();
        for (step_index, step) in plan.steps.iter().enumerate() {
            let path = match step.get("path") {
                None => default_path.clone(),
                Some(Value::String(path)) if is_request_target(path) => path.clone(),
                Some(_) => {
                    return Err(format!(
                        "step {step_index} has an invalid `path`: it must be a string starting with `/` without spaces"
                    ))
                }
            };
            let body = CompensateBody {
                escrow_id: &escrow.escrow_id,
                step_index,
                step,
            };
            match self.post(&path, &escrow.escrow_id, &body).await {
                Ok(status) if (200..300).contains(&status) => {
                    tracing::debug!(escrow_id = %escrow.escrow_id, step_index, status, "compensating step succeeded");
                }
                Ok(status) => {
                    return Err(format!("step {step_index} returned status {status}"));
                }
                Err(error) => return Err(format!("step {step_index}: {error}")),
            }
        }
        Ok(plan.steps.len())
    }

    /// Sends one POST and returns the response status, or a failure description.
    async fn post(&self, path: &str, escrow_id: &str, body: &impl Serialize) -> Result<u16, String> {
        let body = serde_json::to_vec(body).map_err(|error| format!("request body not encoded: {error}"))?;
        match tokio::time::timeout(self.timeout, self.exchange(path, escrow_id, &body)).await {
            Ok(result) => result.map_err(|error| truncate(&error)),
            Err(_) => Err(format!(
                "upstream timed out after {} ms",
                self.timeout.as_millis()
            )),
        }
    }

    async fn exchange(&self, path: &str, escrow_id: &str, body: &[u8]) -> Result<u16, String> {
        let mut stream = TcpStream::connect((self.url.host.as_str(), self.url.port))
            .await
            .map_err(|error| {
                format!(
                    "connection to {}:{} failed: {error}",
                    self.url.host, self.url.port
                )
            })?;

        // escrow_id comes from the engine, but it is still checked, because it is sent as a
        // header value.
        let idempotency_key = if escrow_id.bytes().all(|byte| byte.is_ascii_graphic()) {
            escrow_id
        } else {
            return Err("escrow id is not a valid header value".to_owned());
        };
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nIdempotency-Key: {idempotency_key}\r\nUser-Agent: axiom\r\nConnection: close\r\n\r\n",
            self.url.host,
            self.url.port,
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|error| format!("request not sent: {error}"))?;
        stream
            .write_all(body)
            .await
            .map_err(|error| format!("request not sent: {error}"))?;

        read_status(&mut stream).await
    }
}

/// Reads response heads until a final (non-1xx) status, within [`RESPONSE_HEAD_BYTES_MAX`].
async fn read_status(stream: &mut TcpStream) -> Result<u16, String> {
    let mut buffer: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find_head_end(&buffer) {
            let status = parse_status_line(&buffer[..end])?;
            if (100..200).contains(&status) {
                // An interim response: its head is dropped and the final one follows.
                buffer.drain(..end + 4);
                continue;
            }
            return Ok(status);
        }
        if buffer.len() > RESPONSE_HEAD_BYTES_MAX {
            return Err(format!(
                "response head is larger than {RESPONSE_HEAD_BYTES_MAX} bytes"
            ));
        }
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|error| format!("response not read: {error}"))?;
        if read == 0 {
            return Err("connection closed before a complete response head".to_owned());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

fn find_head_end(buffer: &[u8]) -> Option<usize> {
    buffer.windows(4).position(|window| window == b"\r\n\r\n")
}

/// Parses `HTTP/1.x NNN reason` from the first line of a head.
fn parse_status_line(head: &[u8]) -> Result<u16, String> {
    let line_end = head
        .windows(2)
        .position(|window| window == b"\r\n")
        .unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(format!("invalid status line `{}`", truncate(&line)));
    }
    code.parse::<u16>()
        .ok()
        .filter(|status| (100..600).contains(status))
        .ok_or_else(|| format!("invalid status code in `{}`", truncate(&line)))
}

fn truncate(text: &str) -> String {
    if text.len() <= FAILURE_BYTES_MAX {
        return text.to_owned();
    }
    let mut end = FAILURE_BYTES_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text.get(..end).unwrap_or_default())
}
