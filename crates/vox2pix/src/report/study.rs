//! The study's tables and report (`app::study` computes them): `study_runs.csv` (every run's mean of every
//! metric), `study.csv` and `study.json` (every effect with its CI), `study.md` (the headline effects) and
//! `study.html` (the same table and a forest plot of the effects with their intervals), all written atomically.
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

    fn scope(&self) -> String {
        self.world_seed.map_or("pooled".to_string(), |w| format!("world {w}"))
    }
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

/// Writes the study's files into `out` and returns the HTML report's path. `runs` are (world seed, decoder
/// seed, variant, metric, mean over images).
pub fn write_study_report(
    out: &Path,
    runs: &[(u64, u64, String, String, f64)],
    effects: &[StudyEffect],
) -> Result<PathBuf> {
    let mut csv = String::from("world_seed,seed,variant,metric,mean\n");
    for (w, s, v, m, x) in runs {
        let _ = writeln!(csv, "{w},{s},{v},{m},{x}");
    }
    write_bytes_atomic(&out.join("study_runs.csv"), csv.as_bytes())?;

    let mut csv = String::from("variant,world,metric,n_seeds,n_images,diff,ci_lo,ci_hi,level,excludes_zero\n");
    for e in effects {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{}",
            e.variant,
            e.world_seed.map_or("pooled".to_string(), |w| w.to_string()),
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
            e.scope(),
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
                    format!("{} · {} · {label}", e.variant, e.scope()),
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
            e.scope(),
            escape(label),
            e.n_seeds,
            e.diff * scale,
            e.ci_lo * scale,
            e.ci_hi * scale
        );
    }
    html.push_str("</table><p>All numbers: <code>study.csv</code>, <code>study.json</code>, <code>study_runs.csv</code>.</p></body></html>");
    let path = out.join("study.html");
    write_bytes_atomic(&path, html.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let html = write_study_report(&dir, &[(0, 0, "ed".into(), "pixcorr".into(), 0.2)], &effects).unwrap();
        let md = std::fs::read_to_string(dir.join("study.md")).unwrap();
        assert!(md.contains("| ed | world 0 | PixCorr | 5 | **+0.030 |"), "{md}");
        assert!(md.contains("| ed-pixel | world 0 | PixCorr | 5 | +0.005 |"), "{md}");
        let csv = std::fs::read_to_string(dir.join("study.csv")).unwrap();
        assert!(csv.lines().nth(1).unwrap().ends_with(",true") && csv.lines().nth(2).unwrap().ends_with(",false"));
        assert!(std::fs::read_to_string(html).unwrap().contains("image similarity"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
