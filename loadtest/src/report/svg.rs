//! Minimal SVG line charts for the HTML report: axes, ticks, a legend and polylines.

use std::fmt::Write;

/// Chart size in SVG user units (pixels at 100 % zoom).
const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 360.0;

/// Margins around the plot area, leaving room for tick labels and the legend.
const MARGIN_LEFT: f64 = 70.0;
const MARGIN_RIGHT: f64 = 170.0;
const MARGIN_TOP: f64 = 36.0;
const MARGIN_BOTTOM: f64 = 50.0;

/// Colours of successive series, distinguishable in print and for common colour blindness.
pub const PALETTE: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/// How data values map onto an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Evenly spaced values.
    Linear,
    /// Evenly spaced powers of ten; values must be above zero.
    Log10,
}

/// One axis: its label, scale and the labelled tick positions.
#[derive(Debug, Clone)]
pub struct Axis {
    /// Text under (x) or beside (y) the axis, with the unit.
    pub label: String,
    /// Mapping of values.
    pub scale: Scale,
    /// Tick positions (data values) and their labels.
    pub ticks: Vec<(f64, String)>,
}

impl Axis {
    /// Creates a linear axis from 0 to a rounded-up `max` with about five ticks.
    pub fn linear(label: impl Into<String>, max: f64) -> Axis {
        let top = if max > 0.0 && max.is_finite() { max } else { 1.0 };
        let raw_step = top / 5.0;
        let magnitude = 10f64.powf(raw_step.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .map(|factor| factor * magnitude)
            .find(|step| *step >= raw_step)
            .unwrap_or(10.0 * magnitude);
        // Ticks run from 0 to the first multiple of `step` at or above `top` (at most 6 steps).
        let steps = (top / step).ceil().clamp(1.0, 6.0) as u32;
        let ticks = (0..=steps)
            .map(|index| f64::from(index) * step)
            .map(|value| (value, format_tick(value)))
            .collect();
        Axis {
            label: label.into(),
            scale: Scale::Linear,
            ticks,
        }
    }

    fn range(&self) -> (f64, f64) {
        let first = self.ticks.first().map_or(0.0, |tick| tick.0);
        let last = self.ticks.last().map_or(1.0, |tick| tick.0);
        match self.scale {
            Scale::Linear => (first, last.max(first + f64::EPSILON)),
            Scale::Log10 => (first.max(f64::MIN_POSITIVE).log10(), last.max(first * 10.0).log10()),
        }
    }

    /// Maps a data value to a fraction of the axis length (0 at the start, 1 at the end).
    fn fraction(&self, value: f64) -> f64 {
        let (low, high) = self.range();
        let position = match self.scale {
            Scale::Linear => value,
            Scale::Log10 => value.max(f64::MIN_POSITIVE).log10(),
        };
        ((position - low) / (high - low)).clamp(0.0, 1.0)
    }
}

fn format_tick(value: f64) -> String {
    if value == value.trunc() {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// One named line of points `(x, y)` in data units.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Stroke colour.
    pub color: &'static str,
    /// Points in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Draws the line dashed (for reference lines such as a target).
    pub dashed: bool,
}

/// Escapes text for XML character data and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Draws a line chart as a standalone `<svg>` element.
pub fn line_chart(title: &str, x: &Axis, y: &Axis, series: &[Series]) -> String {
    let plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let to_px = |point: (f64, f64)| {
        (
            MARGIN_LEFT + x.fraction(point.0) * plot_width,
            MARGIN_TOP + (1.0 - y.fraction(point.1)) * plot_height,
        )
    };

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}" font-family="sans-serif" font-size="12">"#,
        title = escape(title)
    );
    let _ = write!(svg, r#"<text x="{}" y="20" font-size="15" font-weight="bold">{}</text>"#, MARGIN_LEFT, escape(title));

    // Grid lines and tick labels.
    for (value, label) in &x.ticks {
        let (px, _) = to_px((*value, 0.0));
        let _ = write!(
            svg,
            r##"<line x1="{px:.1}" y1="{MARGIN_TOP}" x2="{px:.1}" y2="{bottom}" stroke="#ddd"/><text x="{px:.1}" y="{label_y}" text-anchor="middle">{label}</text>"##,
            bottom = MARGIN_TOP + plot_height,
            label_y = MARGIN_TOP + plot_height + 16.0,
            label = escape(label)
        );
    }
    for (value, label) in &y.ticks {
        let (_, py) = to_px((0.0, *value));
        let _ = write!(
            svg,
            r##"<line x1="{MARGIN_LEFT}" y1="{py:.1}" x2="{right}" y2="{py:.1}" stroke="#ddd"/><text x="{label_x}" y="{text_y:.1}" text-anchor="end">{label}</text>"##,
            right = MARGIN_LEFT + plot_width,
            label_x = MARGIN_LEFT - 6.0,
            text_y = py + 4.0,
            label = escape(label)
        );
    }
    let _ = write!(
        svg,
        r##"<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{plot_width}" height="{plot_height}" fill="none" stroke="#444"/>"##
    );
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        MARGIN_LEFT + plot_width / 2.0,
        HEIGHT - 10.0,
        escape(&x.label)
    );
    let _ = write!(
        svg,
        r#"<text transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        MARGIN_TOP + plot_height / 2.0,
        escape(&y.label)
    );

    // Lines and legend.
    for (index, line) in series.iter().enumerate() {
        let points: Vec<String> = line
            .points
            .iter()
            .filter(|(px, py)| px.is_finite() && py.is_finite())
            .map(|point| {
                let (px, py) = to_px(*point);
                format!("{px:.1},{py:.1}")
            })
            .collect();
        let dash = if line.dashed { r#" stroke-dasharray="6 4""# } else { "" };
        if !points.is_empty() {
            let _ = write!(
                svg,
                r#"<polyline fill="none" stroke="{}" stroke-width="1.8"{dash} points="{}"><title>{}</title></polyline>"#,
                line.color,
                points.join(" "),
                escape(&line.name)
            );
        }
        let legend_y = MARGIN_TOP + 14.0 + 18.0 * index as f64;
        let legend_x = MARGIN_LEFT + plot_width + 12.0;
        let _ = write!(
            svg,
            r#"<line x1="{legend_x}" y1="{legend_y}" x2="{}" y2="{legend_y}" stroke="{}" stroke-width="3"{dash}/><text x="{}" y="{}">{}</text>"#,
            legend_x + 20.0,
            line.color,
            legend_x + 26.0,
            legend_y + 4.0,
            escape(&line.name)
        );
    }

    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_axis_covers_max() {
        let axis = Axis::linear("ms", 7.3);
        let last = axis.ticks.last().unwrap().0;
        assert!(last >= 7.3, "last tick {last}");
        assert!(axis.ticks.len() <= 7);
        assert_eq!(axis.ticks[0].1, "0");
    }

    #[test]
    fn chart_escapes_names_and_maps_points() {
        let x = Axis::linear("s", 10.0);
        let y = Axis::linear("ms", 10.0);
        let series = [Series {
            name: "p99 <all>".into(),
            color: PALETTE[0],
            points: vec![(0.0, 0.0), (10.0, 10.0)],
            dashed: false,
        }];
        let svg = line_chart("a & b", &x, &y, &series);
        assert!(svg.contains("a &amp; b"));
        assert!(svg.contains("p99 &lt;all&gt;"));
        // (0, 0) is the bottom-left corner of the plot area, (10, 10) the top-right.
        assert!(svg.contains(&format!("points=\"{:.1},{:.1} {:.1},{:.1}\"", MARGIN_LEFT, HEIGHT - MARGIN_BOTTOM, WIDTH - MARGIN_RIGHT, MARGIN_TOP)));
    }
}
