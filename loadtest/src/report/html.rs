//! A self-contained HTML report: the text summary and inline SVG plots, with no scripts and
//! no external resources, so it opens offline and can be attached to a ticket.

use super::svg::{escape, line_chart, Axis, Scale, Series, PALETTE};
use super::{text, RunReport};
use crate::recorder::Recorder;
use hdrhistogram::Histogram;

/// Percentile steps per halving of the distance to 100 %, as in the hgrm file.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Highest 1/(1-p) plotted (the 99.9999th percentile); rarer percentiles need more samples
/// than any run here records.
const INVERSE_TAIL_MAX: f64 = 1e6;

/// Renders the report page.
pub fn render(report: &RunReport, recorder: &Recorder) -> String {
    let mut page = String::new();
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    page.push_str("<title>axiom load test report</title>");
    page.push_str(
        "<style>body{font-family:sans-serif;margin:2em;color:#222}pre{background:#f6f6f6;padding:1em;\
         overflow-x:auto}figure{margin:1.5em 0}.bad{color:#b00;font-weight:bold}</style></head><body>",
    );
    page.push_str("<h1>axiom load test report</h1>");
    if !report.is_clean() {
        page.push_str("<p class=\"bad\" id=\"not-clean\">Some answers were unexpected, or requests failed, timed out or were dropped.</p>");
    }

    page.push_str("<figure id=\"spectrum\">");
    page.push_str(&spectrum_chart(report, recorder));
    page.push_str("</figure><figure id=\"latency-over-time\">");
    page.push_str(&latency_over_time_chart(report));
    page.push_str("</figure><figure id=\"throughput-over-time\">");
    page.push_str(&throughput_chart(report));
    page.push_str("</figure>");

    page.push_str("<h2>Summary</h2><pre id=\"summary\">");
    page.push_str(&escape(&text::render(report)));
    page.push_str("</pre></body></html>\n");
    page
}

/// Returns the points `(1/(1-p), latency_ms)` of a histogram's percentile spectrum.
fn spectrum_points(histogram: &Histogram<u64>) -> Vec<(f64, f64)> {
    if histogram.is_empty() {
        return Vec::new();
    }
    histogram
        .iter_quantiles(TICKS_PER_HALF_DISTANCE)
        .map(|step| (step.quantile_iterated_to(), step.value_iterated_to() as f64 / 1_000.0))
        .filter(|(quantile, _)| *quantile < 1.0)
        .map(|(quantile, value_ms)| ((1.0 / (1.0 - quantile)).min(INVERSE_TAIL_MAX), value_ms))
        .collect()
}

fn spectrum_chart(report: &RunReport, recorder: &Recorder) -> String {
    let mut series = vec![Series {
        name: "all".to_owned(),
        color: PALETTE[0],
        points: spectrum_points(&recorder.overall.latency_us),
        dashed: false,
    }];
    for (index, scenario) in report.scenarios.iter().enumerate() {
        series.push(Series {
            name: scenario.scenario.as_str().to_owned(),
            color: PALETTE[(index + 1) % PALETTE.len()],
            points: spectrum_points(&recorder.scenario(scenario.scenario).latency_us),
            dashed: false,
        });
    }

    // One decade of 1/(1-p) per "nine": enough decades to show the samples recorded.
    let samples = recorder.overall.latency_us.len().max(10) as f64;
    let decades = samples.log10().ceil().clamp(1.0, INVERSE_TAIL_MAX.log10()) as i32;
    let x = Axis {
        label: "percentile (log scale of 1/(1-p))".to_owned(),
        scale: Scale::Log10,
        ticks: (0..=decades).map(|decade| (10f64.powi(decade), percentile_label(decade))).collect(),
    };
    let y_max = series.iter().flat_map(|line| line.points.iter().map(|point| point.1)).fold(0.0, f64::max);
    let y = Axis::linear("latency (ms)", y_max);
    line_chart("Latency by percentile, from intended send time", &x, &y, &series)
}

/// Labels decade `d` of 1/(1-p): 0 is 0 %, 1 is 90 %, 2 is 99 %, 3 is 99.9 % and so on.
fn percentile_label(decade: i32) -> String {
    match decade {
        0 => "0%".to_owned(),
        1 => "90%".to_owned(),
        _ => format!("99.{}%", "9".repeat((decade - 2) as usize)).replace("99.%", "99%"),
    }
}

fn latency_over_time_chart(report: &RunReport) -> String {
    let p50: Vec<(f64, f64)> = report.timeline.iter().map(|point| (point.second as f64, point.p50_us as f64 / 1_000.0)).collect();
    let p99: Vec<(f64, f64)> = report.timeline.iter().map(|point| (point.second as f64, point.p99_us as f64 / 1_000.0)).collect();
    let y_max = p99.iter().map(|point| point.1).fold(0.0, f64::max);
    let series = [
        Series { name: "p50".to_owned(), color: PALETTE[0], points: p50, dashed: false },
        Series { name: "p99".to_owned(), color: PALETTE[1], points: p99, dashed: false },
    ];
    let x = Axis::linear("time since warm-up (s)", report.timeline.len() as f64);
    let y = Axis::linear("latency (ms)", y_max);
    line_chart("Latency per second (by intended send time)", &x, &y, &series)
}

fn throughput_chart(report: &RunReport) -> String {
    let seconds = report.timeline.len() as f64;
    let completed: Vec<(f64, f64)> = report.timeline.iter().map(|point| (point.second as f64, point.completed as f64)).collect();
    let y_max = completed.iter().map(|point| point.1).fold(report.target_rate_per_s, f64::max);
    let series = [
        Series { name: "answered/s".to_owned(), color: PALETTE[2], points: completed, dashed: false },
        Series {
            name: "target/s".to_owned(),
            color: PALETTE[3],
            points: vec![(0.0, report.target_rate_per_s), (seconds, report.target_rate_per_s)],
            dashed: true,
        },
    ];
    let x = Axis::linear("time since warm-up (s)", seconds);
    let y = Axis::linear("requests per second", y_max);
    line_chart("Throughput per second", &x, &y, &series)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels() {
        let labels: Vec<String> = (0..5).map(percentile_label).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
    }
}
