//! The study's tables and report (`app::study` computes them): `study_runs.csv` (every run's mean of every
//! metric), `study.csv` and `study.json` (every effect with its CI), `study.md` (the headline effects) and
//! `study.html` (the same table and a forest plot of the effects with their intervals), all written atomically.
//! With several paired-set sizes, also `study_curves.csv` (each variant's level per size, with its CI), the
//! learning-curve charts and what the ED cycle is worth in paired images.
use super::svg::escape;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use vox2pix_formats::io::write_bytes_atomic;

/// One variant's effect on one metric: mean per-image difference (variant − paired) with its bootstrap CI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudyEffect {
    /// Variant name (e.g. `ed`).
    pub variant: String,
    /// The world the effect is estimated on; `None` = pooled over all worlds.
    pub world_seed: Option<u64>,
    /// Paired training images of both runs.
    #[serde(default)]
    pub paired_images: usize,
    /// Metric (a `metrics_per_image.csv` column).
    pub metric: String,
    /// Decoder seeds (pooled: world × seed units).
    pub n_seeds: usize,
    /// Test images per seed.
    pub n_images: usize,
    /// Mean difference over seeds and images.
    pub diff: f64,
    /// Lower end of the CI.
    pub ci_lo: f64,
    /// Upper end of the CI.
    pub ci_hi: f64,
    /// CI level (0.95).
    pub level: f64,
    /// The mean difference of each seed (pooled: of each unit), in order.
    pub per_seed_diff: Vec<f64>,
}

impl StudyEffect {
    /// Whether the CI excludes 0.
    pub fn excludes_zero(&self) -> bool {
        self.ci_lo > 0.0 || self.ci_hi < 0.0
    }

    fn scope(&self, with_size: bool) -> String {
        let w = self.world_seed.map_or("pooled".to_string(), |w| format!("world {w}"));
        if with_size {
            format!("{w}, {} paired", self.paired_images)
        } else {
            w
        }
    }
}

/// One run's mean of one metric over the test images (a row of `study_runs.csv`).
#[derive(Clone, Debug, PartialEq)]
pub struct RunMean {
    /// World seed.
    pub world_seed: u64,
    /// Paired training images.
    pub paired_images: usize,
    /// Decoder seed.
    pub seed: u64,
    /// Variant name.
    pub variant: String,
    /// Metric.
    pub metric: String,
    /// Mean over the test images.
    pub mean: f64,
}

/// One point of a learning curve: a variant's level of a metric at one paired-set size, over worlds, seeds and
/// test images, with its hierarchical bootstrap CI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Variant name.
    pub variant: String,
    /// Metric.
    pub metric: String,
    /// Paired training images.
    pub paired_images: usize,
    /// (world, seed) units.
    pub n_units: usize,
    /// Mean over units and test images.
    pub mean: f64,
    /// Lower end of the 95 % CI.
    pub ci_lo: f64,
    /// Upper end of the 95 % CI.
    pub ci_hi: f64,
}

/// The paired-set size at which the `paired` curve reaches `level`, by linear interpolation in log(size) between
/// the sizes studied; `None` when the curve never reaches it (beyond the largest size) or does so only by
/// crossing back. The sizes must be increasing.
pub fn paired_equivalent(curve: &[(usize, f64)], level: f64) -> Option<f64> {
    if curve.first().is_some_and(|&(_, m)| m >= level) {
        return curve.first().map(|&(n, _)| n as f64);
    }
    for w in curve.windows(2) {
        let ((n0, m0), (n1, m1)) = (w[0], w[1]);
        if m0 < level && m1 >= level {
            let t = (level - m0) / (m1 - m0);
            let (l0, l1) = ((n0 as f64).ln(), (n1 as f64).ln());
            return Some((l0 + t * (l1 - l0)).exp());
        }
    }
    None
}

/// One point of a drawn curve: (paired images, mean, CI low, CI high).
pub type CurveXY = (usize, f64, f64, f64);

/// A learning-curve chart: one line per variant over the paired-set sizes (log scale), each point with its CI.
pub fn learning_curve_plot(title: &str, percent: bool, lines: &[(String, Vec<CurveXY>)]) -> String {
    const W: f64 = 560.0;
    const H: f64 = 330.0;
    const L: f64 = 60.0;
    const R: f64 = 130.0;
    const T: f64 = 36.0;
    const B: f64 = 44.0;
    const COLOURS: [&str; 5] = ["#555", "#0969da", "#1a7f37", "#bf8700", "#8250df"];
    let scale = if percent { 100.0 } else { 1.0 };
    let sizes: Vec<usize> = {
        let mut v: Vec<usize> = lines.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (_, pts) in lines {
        for &(_, _, l, u) in pts {
            lo = lo.min(l * scale);
            hi = hi.max(u * scale);
        }
    }
    if !lo.is_finite() || sizes.is_empty() {
        return String::new();
    }
    let pad = ((hi - lo) * 0.08).max(1e-6);
    let (lo, hi) = (lo - pad, hi + pad);
    let (xmin, xmax) = (
        (*sizes.first().unwrap_or(&1) as f64).ln(),
        (*sizes.last().unwrap_or(&1) as f64).ln(),
    );
    let x_of = |n: usize| {
        if xmax > xmin {
            L + (W - L - R) * ((n as f64).ln() - xmin) / (xmax - xmin)
        } else {
            L + (W - L - R) / 2.0
        }
    };
    let y_of = |v: f64| T + (H - T - B) * (hi - v) / (hi - lo);
    let prec = if percent { 1 } else { 3 };
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="12"><text x="10" y="20" font-size="14" font-weight="bold">{}</text><line x1="{L}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#888"/><line x1="{L}" y1="{T}" x2="{L}" y2="{:.1}" stroke="#888"/>"##,
        escape(title),
        H - B,
        W - R,
        H - B,
        H - B
    );
    for &n in &sizes {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{n}</text>"##,
            x_of(n),
            H - B + 16.0
        );
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">paired training images (log scale)</text><text x="{L}" y="{:.1}" text-anchor="end" dx="-4">{hi:.prec$}</text><text x="{L}" y="{:.1}" text-anchor="end" dx="-4">{lo:.prec$}</text>"##,
        (L + W - R) / 2.0,
        H - 8.0,
        y_of(hi) + 4.0,
        y_of(lo)
    );
    for (k, (name, pts)) in lines.iter().enumerate() {
        let c = COLOURS[k % COLOURS.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|&(n, m, ..)| format!("{:.1},{:.1}", x_of(n), y_of(m * scale)))
            .collect();
        let _ = write!(
            s,
            r##"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2"/>"##,
            path.join(" ")
        );
        for &(n, m, l, u) in pts {
            let x = x_of(n) + (k as f64 - 0.5) * 4.0;
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="{c}"/><circle cx="{x:.1}" cy="{:.1}" r="3.5" fill="{c}"><title>{}, {n} paired: {:.3} [{:.3}, {:.3}]</title></circle>"##,
                y_of(l * scale),
                y_of(u * scale),
                y_of(m * scale),
                escape(name),
                m * scale,
                l * scale,
                u * scale
            );
        }
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" fill="{c}">{}</text>"##,
            W - R + 10.0,
            T + 16.0 * (k as f64 + 1.0),
            escape(name)
        );
    }
    s.push_str("</svg>");
    s
}

/// The metrics the headline table and the forest plot show, with their labels (accuracies in percentage points).
pub const HEADLINE: [(&str, &str, f64); 7] = [
    (
        "identification_perceptual_test_50way",
        "50-way identification, perceptual (pp)",
        100.0,
    ),
    (
        "identification_pixel_correlation_test_50way",
        "50-way identification, pixel corr. (pp)",
        100.0,
    ),
    ("classification_100way_top1", "100-way classification top-1 (pp)", 100.0),
    (
        "classification_1000way_top1",
        "1000-way classification top-1 (pp)",
        100.0,
    ),
    (
        "classification_1000way_top5",
        "1000-way classification top-5 (pp)",
        100.0,
    ),
    ("pixcorr", "PixCorr", 1.0),
    ("ssim", "SSIM", 1.0),
];

fn headline(effects: &[StudyEffect]) -> Vec<(&StudyEffect, &'static str, f64)> {
    let mut rows = Vec::new();
    for (metric, label, scale) in HEADLINE {
        for e in effects.iter().filter(|e| e.metric == metric) {
            rows.push((e, label, scale));
        }
    }
    rows
}

/// A forest plot: one row per (label, estimate, CI), a vertical line at 0, the scale fitted to the intervals.
pub fn forest_plot(title: &str, rows: &[(String, f64, f64, f64)]) -> String {
    const W: f64 = 900.0;
    const LABEL_W: f64 = 430.0;
    const ROW_H: f64 = 22.0;
    const TOP: f64 = 40.0;
    let h = TOP + ROW_H * rows.len() as f64 + 40.0;
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for (_, m, l, u) in rows {
        for v in [*m, *l, *u] {
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    let pad = ((hi - lo) * 0.08).max(1e-6);
    let (lo, hi) = (lo - pad, hi + pad);
    let x_of = |v: f64| LABEL_W + (W - LABEL_W - 20.0) * (v - lo) / (hi - lo);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" width="{W}" height="{h}" font-family="sans-serif" font-size="12"><text x="10" y="20" font-size="15" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let zero = x_of(0.0);
    let _ = write!(
        s,
        r##"<line x1="{zero:.1}" y1="{:.1}" x2="{zero:.1}" y2="{:.1}" stroke="#888" stroke-dasharray="4 3"/>"##,
        TOP - 6.0,
        h - 30.0
    );
    for (i, (label, m, l, u)) in rows.iter().enumerate() {
        let y = TOP + ROW_H * (i as f64 + 0.5);
        let colour = if *l > 0.0 {
            "#1a7f37"
        } else if *u < 0.0 {
            "#cf222e"
        } else {
            "#555"
        };
        let _ = write!(
            s,
            r##"<text x="10" y="{:.1}">{}</text><line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="2"/><circle cx="{:.1}" cy="{y:.1}" r="4" fill="{colour}"><title>{}: {m:+.4} [{l:+.4}, {u:+.4}]</title></circle>"##,
            y + 4.0,
            escape(label),
            x_of(*l),
            x_of(*u),
            x_of(*m),
            escape(label)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{lo:.3}</text><text x="{zero:.1}" y="{:.1}" text-anchor="middle">0</text><text x="{:.1}" y="{:.1}" text-anchor="middle">{hi:.3}</text></svg>"##,
        x_of(lo),
        h - 12.0,
        h - 12.0,
        x_of(hi),
        h - 12.0
    );
    s
}

/// Writes the study's files into `out` and returns the HTML report's path. `curves` is empty unless several
/// paired-set sizes were studied.
pub fn write_study_report(
    out: &Path,
    runs: &[RunMean],
    effects: &[StudyEffect],
    curves: &[CurvePoint],
) -> Result<PathBuf> {
    let mut csv = String::from("world_seed,paired_images,seed,variant,metric,mean\n");
    for r in runs {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{}",
            r.world_seed, r.paired_images, r.seed, r.variant, r.metric, r.mean
        );
    }
    write_bytes_atomic(&out.join("study_runs.csv"), csv.as_bytes())?;

    let mut sizes: Vec<usize> = effects.iter().map(|e| e.paired_images).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let with_size = sizes.len() > 1;
    let mut csv =
        String::from("variant,world,paired_images,metric,n_seeds,n_images,diff,ci_lo,ci_hi,level,excludes_zero\n");
    for e in effects {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{}",
            e.variant,
            e.world_seed.map_or("pooled".to_string(), |w| w.to_string()),
            e.paired_images,
            e.metric,
            e.n_seeds,
            e.n_images,
            e.diff,
            e.ci_lo,
            e.ci_hi,
            e.level,
            e.excludes_zero()
        );
    }
    write_bytes_atomic(&out.join("study.csv"), csv.as_bytes())?;
    write_bytes_atomic(&out.join("study.json"), &serde_json::to_vec_pretty(effects)?)?;

    let rows = headline(effects);
    let mut md = String::from(
        "| variant − paired | scope | metric | seeds | difference | 95 % CI | per-seed differences |\n|---|---|---|---|---|---|---|\n",
    );
    for (e, label, scale) in &rows {
        let seeds: Vec<String> = e.per_seed_diff.iter().map(|d| format!("{:+.2}", d * scale)).collect();
        let _ = writeln!(
            md,
            "| {} | {} | {label} | {} | {}{:+.3} | [{:+.3}, {:+.3}] | {} |",
            e.variant,
            e.scope(with_size),
            e.n_seeds,
            if e.excludes_zero() { "**" } else { "" },
            e.diff * scale,
            e.ci_lo * scale,
            e.ci_hi * scale,
            seeds.join(" ")
        );
    }
    write_bytes_atomic(&out.join("study.md"), md.as_bytes())?;

    // One plot per unit: accuracies in percentage points, image similarities as they are.
    let plot_rows = |percent: bool| -> Vec<(String, f64, f64, f64)> {
        rows.iter()
            .filter(|(_, _, scale)| (*scale > 1.0) == percent)
            .map(|(e, label, scale)| {
                (
                    format!("{} · {} · {label}", e.variant, e.scope(with_size)),
                    e.diff * scale,
                    e.ci_lo * scale,
                    e.ci_hi * scale,
                )
            })
            .collect()
    };
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>vox2pix study</title><style>body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}</style></head><body>",
    );
    html.push_str("<h1>What self-supervision bought: paired differences against the paired-only baseline</h1>");
    html.push_str(
        "<p>Each row: the mean per-image difference (variant − paired) on the same test images, with a 95 % \
         hierarchical bootstrap interval over decoder seeds and test images. Green: the interval excludes 0 in \
         favour of the variant; red: against it.</p>",
    );
    for (percent, title) in [
        (true, "accuracies: variant − paired, percentage points (95 % CI)"),
        (false, "image similarity: variant − paired (95 % CI)"),
    ] {
        let r = plot_rows(percent);
        if !r.is_empty() {
            html.push_str(&forest_plot(title, &r));
        }
    }
    html.push_str("<table><tr><th>variant</th><th>scope</th><th>metric</th><th>seeds</th><th>difference</th><th>95 % CI</th></tr>");
    for (e, label, scale) in &rows {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:+.3}</td><td>[{:+.3}, {:+.3}]</td></tr>",
            escape(&e.variant),
            e.scope(with_size),
            escape(label),
            e.n_seeds,
            e.diff * scale,
            e.ci_lo * scale,
            e.ci_hi * scale
        );
    }
    html.push_str("</table>");
    if !curves.is_empty() {
        html.push_str(&curves_section(out, curves)?);
    }
    html.push_str("<p>All numbers: <code>study.csv</code>, <code>study.json</code>, <code>study_runs.csv</code>");
    if !curves.is_empty() {
        html.push_str(", <code>study_curves.csv</code>");
    }
    html.push_str(".</p></body></html>");
    let path = out.join("study.html");
    write_bytes_atomic(&path, html.as_bytes())?;
    Ok(path)
}

/// `study_curves.csv`, and the HTML section with one learning-curve chart per headline metric and the table of
/// what the ED cycle is worth: at each size, the paired-only size with the same level.
fn curves_section(out: &Path, curves: &[CurvePoint]) -> Result<String> {
    let mut csv = String::from("variant,metric,paired_images,n_units,mean,ci_lo,ci_hi\n");
    for c in curves {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{}",
            c.variant, c.metric, c.paired_images, c.n_units, c.mean, c.ci_lo, c.ci_hi
        );
    }
    write_bytes_atomic(&out.join("study_curves.csv"), csv.as_bytes())?;
    let mut html = String::from(
        "<h2>Learning curves: each variant's level against the paired-set size</h2><p>Mean over (world, seed) \
         units and test images, with a 95 % hierarchical bootstrap interval. E and D train on a class-balanced, \
         nested subset of the paired images; E takes the same number of steps at every size.</p>",
    );
    let mut variants: Vec<&str> = Vec::new();
    for c in curves {
        if !variants.contains(&c.variant.as_str()) {
            variants.push(&c.variant);
        }
    }
    let mut worth = String::from(
        "<h3>What the ED cycle is worth in paired images</h3><p>For each size N and variant: the paired-only size \
         whose level equals the variant's at N (log-linear interpolation between the sizes studied; “&gt; max” \
         when the paired-only curve never gets there, “≤” when it starts above it), and that size as a multiple \
         of N. A point estimate: the curves' intervals above say how far to trust it.</p><table><tr><th>metric</th>\
         <th>variant</th><th>N</th><th>level</th><th>paired-only size with that level</th><th>× N</th></tr>",
    );
    for (metric, label, scale) in HEADLINE {
        let pts = |v: &str| -> Vec<CurveXY> {
            let mut p: Vec<CurveXY> = curves
                .iter()
                .filter(|c| c.variant == v && c.metric == metric)
                .map(|c| (c.paired_images, c.mean, c.ci_lo, c.ci_hi))
                .collect();
            p.sort_by_key(|q| q.0);
            p
        };
        let lines: Vec<(String, Vec<CurveXY>)> = variants
            .iter()
            .map(|v| (v.to_string(), pts(v)))
            .filter(|(_, p)| !p.is_empty())
            .collect();
        if lines.is_empty() {
            continue;
        }
        html.push_str(&learning_curve_plot(label, scale > 1.0, &lines));
        let paired: Vec<(usize, f64)> = pts("paired").iter().map(|q| (q.0, q.1)).collect();
        for (v, p) in lines.iter().filter(|(v, _)| v != "paired") {
            for &(n, m, ..) in p {
                let (eq, times) = match paired_equivalent(&paired, m) {
                    // At or below the smallest size's level: the smallest size is only an upper bound.
                    Some(e) if paired.first().is_some_and(|&(_, m0)| m <= m0) => {
                        (format!("≤ {e:.0}"), format!("≤ {:.2}", e / n as f64))
                    }
                    Some(e) => (format!("{e:.0}"), format!("{:.2}", e / n as f64)),
                    None => ("&gt; max".to_string(), "—".to_string()),
                };
                let _ = write!(
                    worth,
                    "<tr><td>{}</td><td>{}</td><td>{n}</td><td>{:.3}</td><td>{eq}</td><td>{times}</td></tr>",
                    escape(label),
                    escape(v),
                    m * scale
                );
            }
        }
    }
    worth.push_str("</table>");
    html.push_str(&worth);
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Interpolation in log(size): halfway between 100 and 400 in level is 200 in size; a level the curve starts
    /// at is its first size; a level it never reaches is `None`.
    #[test]
    fn paired_equivalent_interpolates_in_log_size() {
        let curve = [(100, 0.2), (400, 0.4), (1600, 0.5)];
        assert!((paired_equivalent(&curve, 0.3).unwrap() - 200.0).abs() < 1e-9);
        assert!((paired_equivalent(&curve, 0.45).unwrap() - 800.0).abs() < 1e-9);
        assert_eq!(paired_equivalent(&curve, 0.1), Some(100.0));
        assert_eq!(paired_equivalent(&curve, 0.6), None);
    }

    #[test]
    fn learning_curve_plot_draws_a_line_and_an_interval_per_point() {
        let lines = vec![
            ("paired".to_string(), vec![(150, 0.2, 0.1, 0.3), (1200, 0.4, 0.3, 0.5)]),
            ("ed".to_string(), vec![(150, 0.3, 0.2, 0.4), (1200, 0.5, 0.4, 0.6)]),
        ];
        let svg = learning_curve_plot("t", true, &lines);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(svg.contains(">150<") && svg.contains(">1200<") && svg.contains("ed, 1200 paired: 50.000"));
    }

    #[test]
    fn forest_plot_draws_every_row_and_colours_by_the_interval() {
        let rows = vec![
            ("gain".to_string(), 2.0, 1.0, 3.0),
            ("null".to_string(), 0.1, -1.0, 1.2),
            ("loss".to_string(), -2.0, -3.0, -0.5),
        ];
        let svg = forest_plot("t", &rows);
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("#1a7f37") && svg.contains("#cf222e") && svg.contains("#555"));
        for (label, ..) in &rows {
            assert!(svg.contains(label.as_str()));
        }
    }

    #[test]
    fn effects_excluding_zero_are_marked_in_the_tables() {
        let e = |variant: &str, lo: f64, hi: f64| StudyEffect {
            variant: variant.into(),
            world_seed: Some(0),
            paired_images: 1200,
            metric: "pixcorr".into(),
            n_seeds: 5,
            n_images: 50,
            diff: (lo + hi) / 2.0,
            ci_lo: lo,
            ci_hi: hi,
            level: 0.95,
            per_seed_diff: vec![0.01; 5],
        };
        let effects = [e("ed", 0.01, 0.05), e("ed-pixel", -0.02, 0.03)];
        assert!(effects[0].excludes_zero() && !effects[1].excludes_zero());
        let dir = std::env::temp_dir().join(format!("vox2pix-study-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let run = RunMean {
            world_seed: 0,
            paired_images: 1200,
            seed: 0,
            variant: "ed".into(),
            metric: "pixcorr".into(),
            mean: 0.2,
        };
        let html = write_study_report(&dir, &[run], &effects, &[]).unwrap();
        let md = std::fs::read_to_string(dir.join("study.md")).unwrap();
        assert!(md.contains("| ed | world 0 | PixCorr | 5 | **+0.030 |"), "{md}");
        assert!(md.contains("| ed-pixel | world 0 | PixCorr | 5 | +0.005 |"), "{md}");
        let csv = std::fs::read_to_string(dir.join("study.csv")).unwrap();
        assert!(csv.lines().nth(1).unwrap().ends_with(",true") && csv.lines().nth(2).unwrap().ends_with(",false"));
        assert!(std::fs::read_to_string(html).unwrap().contains("image similarity"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
