//! The HdrHistogram percentile-distribution text format (`.hgrm`).
//!
//! Columns are `Value Percentile TotalCount 1/(1-Percentile)`, values in milliseconds, as the
//! reference HdrHistogram implementations print them; plotting tools for HdrHistogram read it.

use hdrhistogram::Histogram;
use std::fmt::Write;

/// Reporting steps per halving of the distance to 100 %, the reference tools' default.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Microseconds per millisecond: histograms hold microseconds, the file shows milliseconds.
const US_PER_MS: f64 = 1_000.0;

/// Formats a histogram of microsecond values as an hgrm percentile distribution.
pub fn render(histogram: &Histogram<u64>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:>12} {:>14} {:>10} {:>14}\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");

    let mut total: u64 = 0;
    for step in histogram.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total += step.count_since_last_iteration();
        let value_ms = step.value_iterated_to() as f64 / US_PER_MS;
        let quantile = step.quantile_iterated_to();
        if quantile < 1.0 {
            let _ = writeln!(out, "{value_ms:12.3} {quantile:2.12} {total:10} {:14.2}", 1.0 / (1.0 - quantile));
        } else {
            let _ = writeln!(out, "{value_ms:12.3} {quantile:2.12} {total:10}");
        }
    }

    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        histogram.mean() / US_PER_MS,
        histogram.stdev() / US_PER_MS
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        histogram.max() as f64 / US_PER_MS,
        histogram.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        histogram.buckets(),
        histogram.distinct_values()
    );
    out
}

/// One data line of an hgrm file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HgrmLine {
    /// Value, in milliseconds.
    pub value_ms: f64,
    /// Fraction of values at or below `value_ms`, 0 to 1.
    pub quantile: f64,
    /// Values at or below `value_ms`.
    pub total_count: u64,
}

/// Parses the data lines of an hgrm file, skipping the header and the `#[` footer.
///
/// Returns an error naming the first line that is neither.
pub fn parse(text: &str) -> Result<Vec<HgrmLine>, String> {
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("Value") {
            continue;
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        let parsed = match fields.as_slice() {
            [value, quantile, total] | [value, quantile, total, _] => {
                value.parse().ok().zip(quantile.parse().ok()).zip(total.parse().ok())
            }
            _ => None,
        };
        let Some(((value_ms, quantile), total_count)) = parsed else {
            return Err(format!("line {}: expected `value percentile total_count [1/(1-p)]`, found `{trimmed}`", number + 1));
        };
        lines.push(HgrmLine {
            value_ms,
            quantile,
            total_count,
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hgrm_round_trips_distribution() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for value_us in 1..=10_000u64 {
            histogram.record(value_us * 10).unwrap();
        }
        let text = render(&histogram);
        let lines = parse(&text).unwrap();

        assert!(lines.len() > 20, "only {} lines", lines.len());
        let last = lines.last().unwrap();
        assert_eq!(last.quantile, 1.0);
        assert_eq!(last.total_count, 10_000);
        assert!((last.value_ms - 100.0).abs() < 0.1, "max {}", last.value_ms);
        assert!(lines.windows(2).all(|pair| pair[0].quantile <= pair[1].quantile));

        let median = lines.iter().find(|line| line.quantile >= 0.5).unwrap();
        assert!((median.value_ms - 50.0).abs() < 0.1, "median {}", median.value_ms);
        assert!(text.contains("1/(1-Percentile)"));
    }

    #[test]
    fn parse_names_bad_line() {
        let error = parse("Value Percentile\n\n1.0 0.5 x\n").unwrap_err();
        assert!(error.starts_with("line 3"), "{error}");
    }
}
