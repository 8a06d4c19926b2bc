//! The process backend: persistent `z3 -in` children spoken to in SMT-LIB2 over pipes.
//!
//! A crash of Z3 here ends only the child process; the next query starts a new one. Each
//! query runs between `(push 1)` and `(pop 1)`, so declarations never pile up in the child.

use super::error::{Solve, SmtError};
use super::formula::{parse_smtlib_real, Formula, Query, SatAnswer, Term};
use crate::policy::CompareOp;
use rust_decimal::Decimal;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use super::stats::SmtStats;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Extra time granted on the caller's side beyond Z3's own limit before the child is declared
/// hung and killed; covers pipe latency and process scheduling.
const PROCESS_GRACE_MS: u64 = 250;

/// Longest line accepted from the child, in bytes; Z3's answers here are a few hundred bytes.
const LINE_BYTES_MAX: usize = 64 * 1024;

/// Most lines read for one answer before the child is declared broken.
const ANSWER_LINES_MAX: usize = 1_024;

struct Running {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

/// One persistent `z3 -in` child, started on first use and restarted after a failure.
pub struct ProcessSolver {
    z3_path: PathBuf,
    timeout_ms: u64,
    running: Option<Running>,
    /// The pool's counters; child restarts after failures are counted in `restarts`.
    stats: Arc<SmtStats>,
}

impl ProcessSolver {
    /// Prepares a solver that runs `z3_path -in`; the child starts on the first query.
    pub fn new(z3_path: PathBuf, timeout_ms: u64, stats: Arc<SmtStats>) -> Self {
        ProcessSolver {
            z3_path,
            timeout_ms,
            running: None,
            stats,
        }
    }

    /// Returns the id of the running child, if one is running.
    pub fn child_id(&self) -> Option<u32> {
        self.running.as_ref().map(|running| running.child.id())
    }

    fn start(&mut self) -> Result<&mut Running, SmtError> {
        if self.running.is_none() {
            let mut child = Command::new(&self.z3_path)
                .arg("-in")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|error| SmtError::ProcessFailed(format!("cannot start `{}`: {error}", self.z3_path.display())))?;
            let stdin = child.stdin.take().ok_or_else(|| SmtError::ProcessFailed("child has no stdin".into()))?;
            let stdout = child.stdout.take().ok_or_else(|| SmtError::ProcessFailed("child has no stdout".into()))?;

            // A reader thread turns the blocking pipe into a channel, so every read can have a
            // deadline. It ends when the child's stdout closes.
            let (sender, lines) = mpsc::channel();
            std::thread::Builder::new()
                .name("z3-process-reader".into())
                .spawn(move || {
                    let mut reader = BufReader::new(stdout);
                    let mut line = String::new();
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {
                                line.truncate(LINE_BYTES_MAX);
                                if sender.send(line.trim_end().to_owned()).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                })
                .map_err(|error| SmtError::ProcessFailed(format!("cannot start the reader thread: {error}")))?;

            let mut running = Running { child, stdin, lines };
            let setup = format!("(set-option :timeout {})\n", self.timeout_ms.min(u64::from(u32::MAX)));
            running
                .stdin
                .write_all(setup.as_bytes())
                .map_err(|error| SmtError::ProcessFailed(format!("cannot write to z3: {error}")))?;
            tracing::debug!(pid = running.child.id(), "z3 process started");
            self.running = Some(running);
        }
        self.running
            .as_mut()
            .ok_or_else(|| SmtError::ProcessFailed("z3 process is not running".into()))
    }

    /// Kills the child after a failure so the next query starts a fresh one.
    fn discard(&mut self, reason: &str) {
        if let Some(mut running) = self.running.take() {
            tracing::warn!(pid = running.child.id(), reason, "restarting z3 process");
            let _ = running.child.kill();
            let _ = running.child.wait();
            self.stats.restarts.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn exchange(&mut self, query: &Query) -> Result<SatAnswer, SmtError> {
        let deadline = Instant::now() + Duration::from_millis(self.timeout_ms.saturating_add(PROCESS_GRACE_MS));
        let script = script(query);
        let running = self.start()?;
        running
            .stdin
            .write_all(script.as_bytes())
            .and_then(|()| running.stdin.flush())
            .map_err(|error| SmtError::ProcessFailed(format!("cannot write to z3: {error}")))?;

        let status = read_status(running, deadline)?;
        let answer = match status.as_str() {
            "unsat" => SatAnswer::Unsat,
            "sat" => {
                let names: Vec<String> = (0..query.variables.len()).map(|index| format!("v{index}")).collect();
                let values = if names.is_empty() {
                    Vec::new()
                } else {
                    send(running, &format!("(get-value ({}))\n", names.join(" ")))?;
                    read_values(running, deadline, names.len())?
                };
                SatAnswer::Sat(values)
            }
            _ => {
                send(running, "(get-info :reason-unknown)\n")?;
                let reason = read_line(running, deadline)?;
                let timed_out = reason.contains("timeout") || reason.contains("canceled");
                SatAnswer::Unknown { reason, timed_out }
            }
        };
        send(running, "(pop 1)\n")?;
        Ok(answer)
    }
}

impl Solve for ProcessSolver {
    fn solve(&mut self, query: &Query) -> Result<SatAnswer, SmtError> {
        let timeout_ms = self.timeout_ms;
        let result = self.exchange(query).map_err(|error| match error {
            SmtError::Timeout { .. } => SmtError::Timeout { timeout_ms },
            other => other,
        });
        match &result {
            Err(SmtError::ProcessFailed(reason)) => self.discard(reason),
            Err(SmtError::Timeout { .. }) => self.discard("no answer before the deadline"),
            Err(SmtError::Solver(reason)) => self.discard(reason),
            _ => {}
        }
        result
    }
}

impl Drop for ProcessSolver {
    fn drop(&mut self) {
        if let Some(mut running) = self.running.take() {
            let _ = running.child.kill();
            let _ = running.child.wait();
        }
    }
}

fn send(running: &mut Running, text: &str) -> Result<(), SmtError> {
    running
        .stdin
        .write_all(text.as_bytes())
        .and_then(|()| running.stdin.flush())
        .map_err(|error| SmtError::ProcessFailed(format!("cannot write to z3: {error}")))
}

fn read_line(running: &mut Running, deadline: Instant) -> Result<String, SmtError> {
    let wait = deadline.saturating_duration_since(Instant::now());
    match running.lines.recv_timeout(wait) {
        Ok(line) => Ok(line),
        Err(RecvTimeoutError::Timeout) => Err(SmtError::Timeout {
            timeout_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        }),
        Err(RecvTimeoutError::Disconnected) => Err(SmtError::ProcessFailed("z3 process exited".into())),
    }
}

/// Reads up to the `sat`/`unsat`/`unknown` line; an `(error ...)` line before it is a failure.
fn read_status(running: &mut Running, deadline: Instant) -> Result<String, SmtError> {
    for _ in 0..ANSWER_LINES_MAX {
        let line = read_line(running, deadline)?;
        match line.as_str() {
            "sat" | "unsat" | "unknown" => return Ok(line),
            "" => {}
            other if other.starts_with("(error") => return Err(SmtError::Solver(other.to_owned())),
            other => return Err(SmtError::ProcessFailed(format!("unexpected z3 output `{other}`"))),
        }
    }
    Err(SmtError::ProcessFailed("z3 sent too many lines".into()))
}

/// Reads a `(get-value ...)` answer, which may span lines, and returns the values in order.
fn read_values(running: &mut Running, deadline: Instant, count: usize) -> Result<Vec<String>, SmtError> {
    let mut text = String::new();
    let mut depth: i64 = 0;
    for _ in 0..ANSWER_LINES_MAX {
        let line = read_line(running, deadline)?;
        if line.starts_with("(error") {
            return Err(SmtError::Solver(line));
        }
        depth += line.matches('(').count() as i64 - line.matches(')').count() as i64;
        text.push_str(&line);
        text.push(' ');
        if depth <= 0 && !text.trim().is_empty() {
            return parse_values(&text, count);
        }
    }
    Err(SmtError::ProcessFailed("z3 value answer too long".into()))
}

/// Splits `((v0 VALUE) (v1 VALUE) ...)` into the rendered values.
fn parse_values(text: &str, count: usize) -> Result<Vec<String>, SmtError> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(|| SmtError::ProcessFailed(format!("unreadable z3 values `{text}`")))?;
    let mut values = Vec::with_capacity(count);
    let mut depth = 0usize;
    let mut start = None;
    for (index, character) in inner.char_indices() {
        match character {
            '(' => {
                if depth == 0 {
                    start = Some(index + 1);
                }
                depth += 1;
            }
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    let pair = start.map(|begin| &inner[begin..index]).unwrap_or_default();
                    let value = pair.trim().split_once(char::is_whitespace).map(|(_, value)| value).unwrap_or_default();
                    let rendered = parse_smtlib_real(value)
                        .ok_or_else(|| SmtError::ProcessFailed(format!("unreadable z3 value `{value}`")))?;
                    values.push(rendered);
                }
            }
            _ => {}
        }
    }
    if values.len() != count {
        return Err(SmtError::ProcessFailed(format!("z3 returned {} values for {count} variables", values.len())));
    }
    Ok(values)
}

/// Writes the SMT-LIB2 commands of one query, up to and including `(check-sat)`.
fn script(query: &Query) -> String {
    let mut text = String::from("(push 1)\n");
    for (index, variable) in query.variables.iter().enumerate() {
        text.push_str(&format!(
            "(declare-const v{index} Real)\n(assert (<= {} v{index}))\n(assert (<= v{index} {}))\n",
            decimal(variable.lower),
            decimal(variable.upper)
        ));
    }
    text.push_str(&format!("(assert {})\n(check-sat)\n", formula(&query.assertion)));
    text
}

fn decimal(value: Decimal) -> String {
    let magnitude = value.abs();
    let mut text = magnitude.to_string();
    if !text.contains('.') {
        text.push_str(".0");
    }
    if value.is_sign_negative() && !value.is_zero() {
        format!("(- {text})")
    } else {
        text
    }
}

fn term(value: &Term) -> String {
    match value {
        Term::Const(constant) => decimal(*constant),
        Term::Var(index) => format!("v{index}"),
        Term::Add(left, right) => format!("(+ {} {})", term(left), term(right)),
        Term::Sub(left, right) => format!("(- {} {})", term(left), term(right)),
        Term::Scale(factor, inner) => format!("(* {} {})", decimal(*factor), term(inner)),
    }
}

fn formula(value: &Formula) -> String {
    match value {
        Formula::Const(true) => "true".into(),
        Formula::Const(false) => "false".into(),
        Formula::Not(inner) => format!("(not {})", formula(inner)),
        Formula::And(parts) => format!("(and {})", parts.iter().map(formula).collect::<Vec<_>>().join(" ")),
        Formula::Or(parts) => format!("(or {})", parts.iter().map(formula).collect::<Vec<_>>().join(" ")),
        Formula::Compare(op, left, right) => {
            let (left, right) = (term(left), term(right));
            match op {
                CompareOp::Eq => format!("(= {left} {right})"),
                CompareOp::Ne => format!("(not (= {left} {right}))"),
                CompareOp::Lt => format!("(< {left} {right})"),
                CompareOp::Le => format!("(<= {left} {right})"),
                CompareOp::Gt => format!("(> {left} {right})"),
                CompareOp::Ge => format!("(>= {left} {right})"),
            }
        }
    }
}
