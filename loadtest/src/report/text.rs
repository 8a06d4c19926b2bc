//! The plain-text summary printed at the end of a run.

use super::{LatencyFigures, RunReport};
use crate::metrics::ServerLatency;
use std::fmt::Write;

/// Formats microseconds as milliseconds with three decimals.
fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1_000.0)
}

fn latency_row(out: &mut String, name: &str, figures: &LatencyFigures) {
    let _ = writeln!(
        out,
        "  {name:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        figures.count,
        ms(figures.min_us),
        ms(figures.p50_us),
        ms(figures.p90_us),
        ms(figures.p95_us),
        ms(figures.p99_us),
        ms(figures.p999_us),
        ms(figures.max_us),
    );
}

/// Formats the median and tail of a latency distribution, in milliseconds.
fn tail_summary(figures: &LatencyFigures) -> String {
    format!(
        "p50 {} ms, p95 {} ms, p99 {} ms, max {} ms",
        ms(figures.p50_us),
        ms(figures.p95_us),
        ms(figures.p99_us),
        ms(figures.max_us)
    )
}

/// Formats the report as the summary shown on the terminal.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let config = &report.config;

    let _ = writeln!(
        out,
        "axiom loadtest: {} over {} connection(s), {} agent(s), {} arrivals, {} signing",
        config.server,
        config.connections,
        report.agents,
        match config.arrival {
            crate::schedule::Arrival::Fixed => "fixed",
            crate::schedule::Arrival::Poisson => "poisson",
        },
        config.signing.as_str(),
    );
    let _ = writeln!(out, "mix: {}", config.mix);
    let _ = writeln!(
        out,
        "measured {:.1} s after a {:.1} s warm-up ({} warm-up requests left out); ended by {:?}",
        report.measured_s,
        config.warmup.as_secs_f64(),
        report.warmup_requests,
        report.ended_by,
    );
    let _ = writeln!(
        out,
        "rate: target {:.1}/s, sent {:.1}/s, answered {:.1}/s ({:.1} % of target)",
        report.target_rate_per_s,
        report.sent_rate_per_s,
        report.achieved_rate_per_s,
        100.0 * report.achieved_rate_per_s / report.target_rate_per_s,
    );
    let totals = &report.overall;
    let _ = writeln!(
        out,
        "requests: {} sent, {} answered, {} unexpected answers, {} dropped (in-flight limit {}), \
         {} timeouts ({} ms), {} transport errors, {} invalid responses",
        totals.sent,
        totals.answered,
        totals.unexpected,
        totals.dropped,
        config.in_flight_max,
        totals.timeouts,
        config.request_timeout_ms,
        totals.transport_errors,
        totals.invalid_responses,
    );

    let _ = writeln!(out, "send lag of the generator: {}", tail_summary(&report.send_lag));

    let _ = writeln!(out, "\nlatency from intended send time, in ms:");
    let _ = writeln!(
        out,
        "  {:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "scenario", "count", "min", "p50", "p90", "p95", "p99", "p99.9", "max"
    );
    latency_row(&mut out, "all", &report.overall_latency);
    for scenario in &report.scenarios {
        latency_row(&mut out, scenario.scenario.as_str(), &scenario.latency);
    }

    let _ = writeln!(out, "\nanswers per scenario (expected: VERDICT/REASON):");
    for scenario in &report.scenarios {
        let _ = writeln!(out, "  {:<10} expected {}", scenario.scenario.as_str(), scenario.expected);
        for answer in &scenario.answers {
            let flag = if answer.expected { "" } else { "   <-- UNEXPECTED" };
            let _ = writeln!(out, "    {:>9}  {}/{}{flag}", answer.count, answer.verdict, answer.reason);
        }
        let counts = &scenario.counts;
        if counts.timeouts + counts.transport_errors + counts.invalid_responses + counts.dropped > 0 {
            let _ = writeln!(
                out,
                "    {} timeouts, {} transport errors, {} invalid responses, {} dropped",
                counts.timeouts, counts.transport_errors, counts.invalid_responses, counts.dropped
            );
        }
    }

    if let Some(server) = &report.server {
        let _ = writeln!(out, "\nserver metrics for endpoint `{}`:", server.endpoint);
        if let Some(before) = &server.before {
            let _ = writeln!(out, "  before: {}", server_line(before));
        }
        let _ = writeln!(out, "  after:  {}", server_line(&server.after));
        let _ = writeln!(out, "  client: {}", tail_summary(&report.overall_latency));
    }

    if report.is_clean() {
        let _ = writeln!(out, "\nresult: every answer matched its scenario; no errors, timeouts or drops");
    } else {
        let _ = writeln!(out, "\nresult: NOT CLEAN, see the unexpected answers and error counts above");
    }
    out
}

fn server_line(latency: &ServerLatency) -> String {
    let seconds_as_ms = |value: Option<f64>| value.map_or("n/a".to_owned(), |s| format!("{:.3}", s * 1_000.0));
    format!(
        "p95 {} ms, p99 {} ms, max {} ms",
        seconds_as_ms(latency.p95_s),
        seconds_as_ms(latency.p99_s),
        latency.max_ms.map_or("n/a".to_owned(), |value| format!("{value:.3}"))
    )
}
