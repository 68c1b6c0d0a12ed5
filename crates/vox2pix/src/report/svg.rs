//! Hand-written SVG charts for the HTML report (bar charts with CI whiskers and chance marks, line charts).
//! Plain strings keep the dependency tree lean; every chart is a fixed-size `<svg>` element.
use std::fmt::Write;

/// One bar: value with an optional interval and an optional chance level drawn as a dashed mark.
#[derive(Clone, Debug)]
pub struct Bar {
    /// Axis label under the bar (also its tooltip).
    pub label: String,
    /// The bar's value (its height).
    pub value: f64,
    /// (lo, hi) whisker.
    pub ci: Option<(f64, f64)>,
    /// Chance level.
    pub chance: Option<f64>,
    /// Index into the palette (groups bars of one series).
    pub series: usize,
}

/// A named line over x values.
#[derive(Clone, Debug)]
pub struct Line {
    /// Legend entry.
    pub name: String,
    /// (x, y) points, joined in order; non-finite y are skipped.
    pub points: Vec<(f64, f64)>,
}

const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
];
const W: f64 = 640.0;
const H: f64 = 300.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 70.0;

/// Escapes `& < > "` for SVG/HTML text and attributes.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// A "nice" upper bound for an axis.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&x| x >= v * 0.999)
        .unwrap_or(10.0 * p)
}

fn header(s: &mut String, title: &str) {
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="18" text-anchor="middle" font-size="13" font-weight="bold">{}</text>"#,
        W / 2.0,
        escape(title)
    );
}

/// y axis with 5 ticks from `lo` to `hi`, gridlines, and a label.
fn y_axis(s: &mut String, lo: f64, hi: f64, label: &str, y_of: &dyn Fn(f64) -> f64) {
    for i in 0..=5 {
        let v = lo + (hi - lo) * i as f64 / 5.0;
        let y = y_of(v);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            fmt_tick(v)
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{}" stroke="#333"/><text transform="translate(14,{}) rotate(-90)" text-anchor="middle">{}</text>"##,
        H - BOTTOM,
        (TOP + H - BOTTOM) / 2.0,
        escape(label)
    );
}

fn fmt_tick(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Bar chart with CI whiskers and dashed chance marks. `y_range`: fixed axis, or None to fit the data.
pub fn bar_chart(title: &str, y_label: &str, bars: &[Bar], y_range: Option<(f64, f64)>, legend: &[&str]) -> String {
    let mut s = String::new();
    header(&mut s, title);
    let data_max = bars
        .iter()
        .flat_map(|b| [b.value, b.ci.map_or(b.value, |c| c.1), b.chance.unwrap_or(0.0)])
        .fold(0.0f64, f64::max);
    let data_min = bars
        .iter()
        .flat_map(|b| [b.value, b.ci.map_or(b.value, |c| c.0)])
        .fold(0.0f64, f64::min);
    let (lo, hi) = y_range.unwrap_or((
        if data_min < 0.0 { -nice_max(-data_min) } else { 0.0 },
        nice_max(data_max),
    ));
    let plot_h = H - TOP - BOTTOM;
    let y_of = |v: f64| TOP + plot_h * (1.0 - (v.clamp(lo, hi) - lo) / (hi - lo));
    y_axis(&mut s, lo, hi, y_label, &y_of);
    let n = bars.len().max(1) as f64;
    let slot = (W - LEFT - RIGHT) / n;
    let bw = (slot * 0.7).min(60.0);
    for (i, b) in bars.iter().enumerate() {
        let cx = LEFT + slot * (i as f64 + 0.5);
        let (y0, y1) = (y_of(0.0f64.max(lo)), y_of(b.value));
        let _ = write!(
            s,
            r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{}"><title>{}: {:.4}</title></rect>"#,
            cx - bw / 2.0,
            y0.min(y1),
            (y0 - y1).abs(),
            color(b.series),
            escape(&b.label),
            b.value
        );
        if let Some((l, h)) = b.ci {
            let (yl, yh) = (y_of(l), y_of(h));
            let _ = write!(
                s,
                r##"<path class="ci" d="M{cx:.1} {yl:.1}V{yh:.1}M{:.1} {yl:.1}h8M{:.1} {yh:.1}h8" stroke="#111" stroke-width="1.3"/>"##,
                cx - 4.0,
                cx - 4.0
            );
        }
        if let Some(c) = b.chance {
            let yc = y_of(c);
            let _ = write!(
                s,
                r##"<line class="chance" x1="{:.1}" x2="{:.1}" y1="{yc:.1}" y2="{yc:.1}" stroke="#c00" stroke-width="2" stroke-dasharray="4 2"/>"##,
                cx - slot * 0.45,
                cx + slot * 0.45
            );
        }
        let _ = write!(
            s,
            r#"<text x="{cx:.1}" y="{:.1}" text-anchor="end" transform="rotate(-35 {cx:.1} {:.1})">{}</text>"#,
            H - BOTTOM + 14.0,
            H - BOTTOM + 14.0,
            escape(&b.label)
        );
    }
    let mut x = LEFT + 8.0;
    for (i, name) in legend.iter().enumerate() {
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="{}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{}">{}</text>"#,
            TOP - 4.0,
            color(i),
            x + 14.0,
            TOP + 5.0,
            escape(name)
        );
        x += 24.0 + 7.0 * name.len() as f64;
    }
    if bars.iter().any(|b| b.chance.is_some()) {
        let _ = write!(
            s,
            r##"<line x1="{:.1}" x2="{:.1}" y1="{}" y2="{}" stroke="#c00" stroke-width="2" stroke-dasharray="4 2"/><text x="{:.1}" y="{}">chance</text>"##,
            W - RIGHT - 90.0,
            W - RIGHT - 66.0,
            TOP,
            TOP,
            W - RIGHT - 62.0,
            TOP + 4.0
        );
    }
    s.push_str("</svg>");
    s
}

/// Line chart of several series over a shared x axis (e.g. loss per epoch).
pub fn line_chart(title: &str, x_label: &str, y_label: &str, lines: &[Line]) -> String {
    let mut s = String::new();
    header(&mut s, title);
    let pts = || lines.iter().flat_map(|l| l.points.iter()).filter(|p| p.1.is_finite());
    let (x_lo, x_hi) = pts().fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
    let y_hi = nice_max(pts().fold(0.0f64, |a, p| a.max(p.1)));
    let y_lo = pts().fold(0.0f64, |a, p| a.min(p.1));
    let y_lo = if y_lo < 0.0 { -nice_max(-y_lo) } else { 0.0 };
    let (x_lo, x_hi) = if x_lo >= x_hi {
        (x_lo.min(0.0), x_lo.max(0.0) + 1.0)
    } else {
        (x_lo, x_hi)
    };
    let plot_h = H - TOP - BOTTOM;
    let y_of = |v: f64| TOP + plot_h * (1.0 - (v - y_lo) / (y_hi - y_lo));
    let x_of = |v: f64| LEFT + (W - LEFT - RIGHT) * (v - x_lo) / (x_hi - x_lo);
    y_axis(&mut s, y_lo, y_hi, y_label, &y_of);
    for i in 0..=5 {
        let v = x_lo + (x_hi - x_lo) * i as f64 / 5.0;
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x_of(v),
            H - BOTTOM + 14.0,
            fmt_tick(v)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - BOTTOM + 30.0,
        escape(x_label)
    );
    for (i, l) in lines.iter().enumerate() {
        let d: Vec<String> = l
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|p| format!("{:.1},{:.1}", x_of(p.0), y_of(p.1)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline class="series" points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
            d.join(" "),
            color(i)
        );
        for p in &d {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(s, r#"<circle cx="{x}" cy="{y}" r="2.5" fill="{}"/>"#, color(i));
        }
        // Legend rows of five entries under the x-axis label.
        let ly = H - 24.0 + 13.0 * (i / 5) as f64;
        let lx = LEFT + 8.0 + 110.0 * (i % 5) as f64;
        let _ = write!(
            s,
            r#"<rect x="{lx:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            ly - 9.0,
            color(i),
            lx + 14.0,
            ly,
            escape(&l.name)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_heights_are_proportional_to_values_and_text_is_escaped() {
        let bars = vec![
            Bar {
                label: "a<b".into(),
                value: 0.5,
                ci: Some((0.4, 0.6)),
                chance: Some(0.1),
                series: 0,
            },
            Bar {
                label: "c".into(),
                value: 1.0,
                ci: None,
                chance: None,
                series: 1,
            },
        ];
        let svg = bar_chart("t & u", "acc", &bars, Some((0.0, 1.0)), &[]);
        assert!(svg.contains("a&lt;b") && svg.contains("t &amp; u"));
        let heights: Vec<f64> = svg
            .match_indices("height=\"")
            .skip(1) // the <svg> element's own height
            .map(|(i, m)| svg[i + m.len()..].split('"').next().unwrap().parse().unwrap())
            .collect();
        let plot_h = H - TOP - BOTTOM;
        assert!((heights[0] - plot_h * 0.5).abs() < 0.2, "{heights:?}");
        assert!((heights[1] - plot_h).abs() < 0.2, "{heights:?}");
        assert_eq!(svg.matches("class=\"ci\"").count(), 1);
        assert_eq!(svg.matches("class=\"chance\"").count(), 1);
    }

    #[test]
    fn nice_axis_bounds_cover_the_data() {
        for (v, want) in [(0.73, 1.0), (1.2, 2.0), (430.0, 500.0), (0.0, 1.0), (2.5, 2.5)] {
            assert_eq!(nice_max(v), want, "{v}");
        }
        let svg = line_chart(
            "loss",
            "epoch",
            "",
            &[Line {
                name: "x".into(),
                points: vec![(1.0, 2.0), (2.0, 1.0)],
            }],
        );
        assert_eq!(svg.matches("<circle").count(), 2);
    }
}
