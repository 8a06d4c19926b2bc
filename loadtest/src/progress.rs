//! Live counters of a running load test and their display.
//!
//! On a terminal the display is one line rewritten in place; otherwise (a CI log, a file) it
//! is a plain line every few seconds, so logs stay readable.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Refresh interval of the in-place terminal line, in milliseconds.
const TERMINAL_REFRESH_MS: u64 = 250;

/// Interval between plain progress lines when stdout is not a terminal, in milliseconds.
const PLAIN_LINE_INTERVAL_MS: u64 = 5_000;

/// Counters updated by the generator while it runs, readable at any time.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Requests sent, warm-up included.
    pub sent: AtomicU64,
    /// Responses received (decisions or not).
    pub completed: AtomicU64,
    /// Arrivals dropped at the in-flight limit.
    pub dropped: AtomicU64,
    /// Timeouts and transport errors.
    pub failed: AtomicU64,
}

impl LiveCounters {
    fn load(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// No progress output.
    Off,
    /// One line rewritten in place.
    Terminal,
    /// A new line every few seconds.
    Plain,
}

impl ProgressMode {
    /// Picks the mode for stdout: in-place on a terminal, plain lines otherwise.
    pub fn detect() -> ProgressMode {
        if std::io::stdout().is_terminal() {
            ProgressMode::Terminal
        } else {
            ProgressMode::Plain
        }
    }
}

/// Prints progress until `stop` is notified; runs as its own task.
pub async fn display(
    mode: ProgressMode,
    counters: Arc<LiveCounters>,
    warmup: Duration,
    total: Duration,
    stop: Arc<tokio::sync::Notify>,
) {
    let interval_ms = match mode {
        ProgressMode::Off => return,
        ProgressMode::Terminal => TERMINAL_REFRESH_MS,
        ProgressMode::Plain => PLAIN_LINE_INTERVAL_MS,
    };
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(interval_ms));
    ticker.tick().await;

    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.notified() => break,
        }
        let elapsed = started.elapsed();
        let phase = if elapsed < warmup { "warm-up" } else { "measuring" };
        let sent = LiveCounters::load(&counters.sent);
        let completed = LiveCounters::load(&counters.completed);
        let line = format!(
            "[{:>6.1}/{:.0} s {phase}] sent {sent}, answered {completed}, in flight {}, dropped {}, failed {}",
            elapsed.as_secs_f64(),
            total.as_secs_f64(),
            sent.saturating_sub(completed + LiveCounters::load(&counters.failed)),
            LiveCounters::load(&counters.dropped),
            LiveCounters::load(&counters.failed),
        );
        let mut stdout = std::io::stdout().lock();
        let _ = match mode {
            ProgressMode::Terminal => write!(stdout, "\r\x1b[2K{line}"),
            _ => writeln!(stdout, "{line}"),
        };
        let _ = stdout.flush();
    }

    if mode == ProgressMode::Terminal {
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, "\r\x1b[2K");
        let _ = stdout.flush();
    }
}
