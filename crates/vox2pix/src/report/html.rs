//! `vox2pix report`: one self-contained HTML page per decoder run (`RUN/report.html`): the GT | reconstruction
//! grid in test order, training curves of D and E, identification and classification against chance with CIs,
//! encoder r per ROI, branch weights, config and data manifest. Images are embedded as base64 PNG.
use super::svg::{bar_chart, escape, line_chart, Bar, Line};
use crate::eval::paired::PairedDifference;
use crate::eval::results::EvalMetrics;
use crate::model::run::encoder_of;
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// File name of the report inside a run directory.
pub const REPORT_FILE: &str = "report.html";

const STYLE: &str = "body{font-family:sans-serif;max-width:1320px;margin:20px auto;color:#222}\
h2{border-bottom:1px solid #ccc;margin-top:28px}svg{margin:4px;border:1px solid #eee}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
pre{background:#f6f6f6;padding:8px;max-height:400px;overflow:auto;font-size:11px}\
img.grid{image-rendering:pixelated;width:100%}\
.pair{display:flex;gap:12px}.pair figure{margin:0;flex:1}figcaption{font-weight:bold;margin:4px 0}";

/// Standard base64 (RFC 4648, padded): only used to inline PNGs.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= c.len() {
                out.push(A[(n >> shift & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn pct(v: f64) -> f64 {
    100.0 * v
}

/// Training-curve charts from a run's `metrics.jsonl`: one chart of the loss terms, one of per-ROI
/// validation r where logged.
fn curves(run: &Path, what: &str) -> Result<String> {
    let p = run.join("metrics.jsonl");
    let Ok(text) = std::fs::read_to_string(&p) else {
        return Ok(format!(
            "<p>No {} (training curves unavailable).</p>",
            escape(&p.display().to_string())
        ));
    };
    let recs: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{} line {}: not JSON", p.display(), i + 1)))
        .collect::<Result<_>>()?;
    let mut losses: Vec<Line> = Vec::new();
    let mut rois: Vec<Line> = Vec::new();
    for r in &recs {
        let epoch = r["epoch"].as_f64().unwrap_or(0.0);
        let Some(obj) = r.as_object() else { continue };
        for (k, v) in obj {
            let (target, name) = match (k.as_str(), v) {
                ("epoch" | "lr", _) => continue,
                ("val_median_r", serde_json::Value::Object(m)) => {
                    for (roi, r) in m {
                        if let Some(x) = r.as_f64() {
                            push_point(&mut rois, roi, epoch, x);
                        }
                    }
                    continue;
                }
                (_, v) if v.is_number() => (&mut losses, k.as_str()),
                _ => continue,
            };
            push_point(target, name, epoch, v.as_f64().unwrap_or(f64::NAN));
        }
    }
    let mut s = line_chart(&format!("{what}: training loss"), "epoch", "loss", &losses);
    if !rois.is_empty() {
        s += &line_chart(
            &format!("{what}: median voxel r on the test set, per ROI (monitoring)"),
            "epoch",
            "r",
            &rois,
        );
    }
    Ok(s)
}

fn push_point(lines: &mut Vec<Line>, name: &str, x: f64, y: f64) {
    match lines.iter_mut().find(|l| l.name == name) {
        Some(l) => l.points.push((x, y)),
        None => lines.push(Line {
            name: name.to_string(),
            points: vec![(x, y)],
        }),
    }
}

/// Identification charts (one per distance × pool) and the classification chart, in percent.
pub fn metric_charts(m: &EvalMetrics) -> String {
    let mut s = String::new();
    for set in &m.identification {
        let bars: Vec<Bar> = set
            .results
            .iter()
            .map(|r| Bar {
                label: format!("{}-way", r.n),
                value: pct(r.accuracy),
                ci: Some((pct(r.accuracy_ci.lo), pct(r.accuracy_ci.hi))),
                chance: Some(pct(r.chance)),
                series: 0,
            })
            .collect();
        s += &bar_chart(
            &format!(
                "identification, {} distance, {} pool",
                set.distance.replace('_', " "),
                set.pool
            ),
            "accuracy %",
            &bars,
            Some((0.0, 100.0)),
            &[],
        );
    }
    if !m.classification.is_empty() {
        let bars: Vec<Bar> = m
            .classification
            .iter()
            .map(|r| Bar {
                label: format!("{}-way top-{}", r.n, r.top_k),
                value: pct(r.accuracy),
                ci: Some((pct(r.accuracy_ci.lo), pct(r.accuracy_ci.hi))),
                chance: Some(pct(r.chance)),
                series: usize::from(r.top_k != 1),
            })
            .collect();
        s += &bar_chart(
            "semantic classification of never-seen classes",
            "accuracy %",
            &bars,
            Some((0.0, 100.0)),
            &[],
        );
    }
    s
}

fn encoder_charts(m: &EvalMetrics) -> String {
    let mut s = String::new();
    if let Some(e) = &m.encoder {
        let mut bars = Vec::new();
        for roi in std::iter::once(&e.all_voxels).chain(&e.rois) {
            if let Some(r) = &roi.r {
                bars.push(Bar {
                    label: roi.roi.clone(),
                    value: r.median,
                    ci: Some((r.median.min(r.p75), r.p75)),
                    chance: None,
                    series: 0,
                });
            }
            if let Some(r) = &roi.r_over_ceiling {
                bars.push(Bar {
                    label: if roi.r.is_some() {
                        String::new()
                    } else {
                        roi.roi.clone()
                    },
                    value: r.median,
                    ci: Some((r.median.min(r.p75), r.p75)),
                    chance: None,
                    series: 1,
                });
            }
        }
        s += &bar_chart(
            "encoder: median voxel r on test averages per ROI (whisker to 75th pct)",
            "r",
            &bars,
            None,
            &["r", "r / sqrt(noise ceiling)"],
        );
    }
    if !m.branch_weights.is_empty() {
        let mut bars = Vec::new();
        for roi in &m.branch_weights {
            if let Some(w) = &roi.mean_weight {
                for (d, v) in w.iter().enumerate() {
                    bars.push(Bar {
                        label: if d == 0 { roi.roi.clone() } else { String::new() },
                        value: *v,
                        ci: None,
                        chance: None,
                        series: d,
                    });
                }
            }
        }
        s += &bar_chart(
            "branch weights per ROI (mean |w| share per backbone depth)",
            "share",
            &bars,
            Some((0.0, 1.0)),
            &["depth 1", "depth 2", "depth 3", "depth 4"],
        );
    }
    s
}

fn metrics_table(m: &EvalMetrics) -> String {
    let mut s =
        String::from("<table><tr><th>metric</th><th>setting</th><th>value</th><th>95 % CI</th><th>chance</th></tr>");
    for row in m.csv_rows() {
        let ci = if row[3].is_empty() {
            String::new()
        } else {
            format!("[{}, {}]", short(&row[3]), short(&row[4]))
        };
        let _ = write!(
            s,
            "<tr><td style=\"text-align:left\">{}</td><td style=\"text-align:left\">{}</td><td>{}</td><td>{ci}</td><td>{}</td></tr>",
            escape(&row[0]),
            escape(&row[1]),
            short(&row[2]),
            short(&row[5])
        );
    }
    s + "</table>"
}

fn short(v: &str) -> String {
    v.parse::<f64>().map(|x| format!("{x:.3}")).unwrap_or_default()
}

fn read_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|_| format!("({} missing)", p.display()))
}

/// Writes `RUN/report.html` for a decoder run that has been reconstructed and evaluated.
pub fn write_report(run: &Path) -> Result<PathBuf> {
    write_report_with_baseline(run, None)
}

/// The report's opening section when a paired-only baseline was trained beside the run: the headline paired
/// differences (run − baseline on the same test images, with CIs) and both runs' reconstructions side by side.
fn baseline_section(run: &Path, baseline: &Path, diffs: &[PairedDifference]) -> Result<String> {
    let grid = |r: &Path| -> Result<String> {
        let p = r.join("reconstructions.png");
        Ok(base64(
            &std::fs::read(&p).with_context(|| format!("{}: missing", p.display()))?,
        ))
    };
    let mut h = String::from(
        "<h2 id=\"bought\">What self-supervision bought</h2><p>This run against the same decoder trained on paired \
         data only (same data, encoder, seed and steps): the mean per-image difference on the same test images, with \
         a 95 % paired bootstrap CI and a sign-flip p-value. Bold: the CI excludes 0.</p><table><tr><th>metric</th>\
         <th>paired only</th><th>+ self-supervision</th><th>difference</th><th>95 % CI</th><th>p</th></tr>",
    );
    for (metric, label, scale) in crate::report::study::HEADLINE {
        let Some(d) = diffs.iter().find(|d| d.metric == metric) else {
            continue;
        };
        let strong = d.ci_lo > 0.0 || d.ci_hi < 0.0;
        let (b0, b1) = if strong { ("<b>", "</b>") } else { ("", "") };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{b0}{:+.2}{b1}</td><td>[{:+.2}, {:+.2}]</td><td>{:.3}</td></tr>",
            escape(label),
            d.mean_a * scale,
            d.mean_b * scale,
            d.diff * scale,
            d.ci_lo * scale,
            d.ci_hi * scale,
            d.p_value
        );
    }
    let _ = write!(
        h,
        "</table><div class=\"pair\"><figure><figcaption>paired only ({})</figcaption><img class=\"grid\" \
         id=\"grid-baseline\" src=\"data:image/png;base64,{}\"></figure><figure><figcaption>+ self-supervision \
         (this run)</figcaption><img class=\"grid\" id=\"grid-run\" src=\"data:image/png;base64,{}\"></figure></div>",
        escape(&baseline.display().to_string()),
        grid(baseline)?,
        grid(run)?
    );
    Ok(h)
}

/// [`write_report`], opening with [`baseline_section`] when `baseline` (the paired-only run and the paired
/// differences of this run against it) is given.
pub fn write_report_with_baseline(run: &Path, baseline: Option<(&Path, &[PairedDifference])>) -> Result<PathBuf> {
    let metrics_path = run.join("metrics.json");
    if !metrics_path.exists() {
        anyhow::bail!(
            "{}: no metrics.json; run `vox2pix evaluate --run {} --data DATA` first",
            run.display(),
            run.display()
        );
    }
    let m = EvalMetrics::read_json(&metrics_path)?;
    let grid_path = run.join("reconstructions.png");
    let grid = std::fs::read(&grid_path).with_context(|| {
        format!(
            "{}: missing; run `vox2pix reconstruct --run {} --data DATA` first",
            grid_path.display(),
            run.display()
        )
    })?;
    let enc_run = encoder_of(run).ok();
    let mut h = String::new();
    let title = format!("vox2pix report: {}", run.display());
    let _ = write!(
        h,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1>",
        escape(&title),
        escape(&title)
    );
    if let Some((b, diffs)) = baseline {
        h += &baseline_section(run, b, diffs)?;
    }
    let _ = write!(
        h,
        "<h2>Reconstructions</h2><p>{} test images in test order (fixed, not selected): each band shows the ground \
         truth above its reconstruction from the averaged test fMRI.</p>\
         <img class=\"grid\" id=\"grid\" alt=\"ground truth above reconstruction\" src=\"data:image/png;base64,{}\">",
        m.n_test_images,
        base64(&grid)
    );
    if let (Some(p), Some(s)) = (&m.pixcorr, &m.ssim) {
        let _ = write!(
            h,
            "<p>PixCorr {:.3} [{:.3}, {:.3}], SSIM {:.3} [{:.3}, {:.3}] (mean over test images, 95 % bootstrap CI).</p>",
            p.mean, p.ci.lo, p.ci.hi, s.mean, s.ci.lo, s.ci.hi
        );
    }
    h += "<h2>Identification and classification</h2><p>Bars: accuracy; whiskers: 95 % CI (bootstrap over test \
          images); dashed red: chance.</p><div id=\"charts\">";
    h += &metric_charts(&m);
    h += "</div><h2>Encoder</h2>";
    h += &encoder_charts(&m);
    h += "<h2>Training curves</h2>";
    h += &curves(run, "decoder")?;
    if let Some(e) = &enc_run {
        h += &curves(e, "encoder")?;
    }
    h += "<h2>All numbers</h2>";
    h += &metrics_table(&m);
    let _ = write!(
        h,
        "<h2>Config</h2><pre>{}</pre><h2>Data</h2><details><summary>data.json (dataset, ROI, manifest)</summary><pre>{}</pre></details>\
         <p>Encoder run: {}</p></body></html>",
        escape(&read_text(&run.join("config.toml"))),
        escape(&read_text(&run.join("data.json"))),
        escape(&enc_run.map(|e| e.display().to_string()).unwrap_or_else(|| "unknown".into()))
    );
    let out = run.join(REPORT_FILE);
    vox2pix_formats::io::write_bytes_atomic(&out, h.as_bytes())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
