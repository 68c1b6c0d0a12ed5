//! The ablation table: one row per decoder variant (its name, run and metrics), written as `ablation.csv`,
//! `ablation.md` and `ablation.html`. The variants are trained and evaluated by `app::ablation`.
use super::html::metric_charts;
use super::svg::{bar_chart, escape, Bar};
use crate::eval::paired::PairedDifference;
use crate::eval::results::EvalMetrics;
use anyhow::{bail, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// One ablation row: the variant's name, its run directory and its metrics.
pub struct AblationRow {
    /// Variant name (`paired`, `paired+ED`, …, `roi-V1`).
    pub name: String,
    /// The variant's decoder run directory.
    pub run: PathBuf,
    /// Its evaluation.
    pub metrics: EvalMetrics,
}

/// One table cell: (column name, value, ci_lo, ci_hi, chance); accuracies in %, chance NaN where none.
type Column = (String, f64, f64, f64, f64);

/// Headline columns of a row.
fn columns(m: &EvalMetrics) -> Vec<Column> {
    let mut c = Vec::new();
    for set in &m.identification {
        for r in &set.results {
            c.push((
                format!("ident_{}_{}_{}way", set.distance, set.pool, r.n),
                100.0 * r.accuracy,
                100.0 * r.accuracy_ci.lo,
                100.0 * r.accuracy_ci.hi,
                100.0 * r.chance,
            ));
        }
    }
    for r in &m.classification {
        c.push((
            format!("class_{}way_top{}", r.n, r.top_k),
            100.0 * r.accuracy,
            100.0 * r.accuracy_ci.lo,
            100.0 * r.accuracy_ci.hi,
            100.0 * r.chance,
        ));
    }
    for (name, v) in [("pixcorr", &m.pixcorr), ("ssim", &m.ssim)] {
        if let Some(v) = v {
            c.push((name.into(), v.mean, v.ci.lo, v.ci.hi, f64::NAN));
        }
    }
    c
}

/// Writes `ablation.csv` (one row per variant; value, CI bounds and chance per column), `ablation.md` and
/// `ablation.html`, and, from `vs_paired` ((variant, its paired differences to the first row)),
/// `ablation_vs_paired.csv` and a second table in the markdown and HTML.
pub fn write_tables(out: &Path, rows: &[AblationRow], vs_paired: &[(String, Vec<PairedDifference>)]) -> Result<()> {
    let Some(first) = rows.first() else {
        bail!("ablation: no variants to tabulate")
    };
    let names: Vec<String> = columns(&first.metrics).into_iter().map(|c| c.0).collect();
    for r in rows {
        let got: Vec<String> = columns(&r.metrics).into_iter().map(|c| c.0).collect();
        if got != names {
            bail!(
                "ablation: variant '{}' has different metrics than '{}'; evaluate all with the same options",
                r.name,
                first.name
            );
        }
    }
    let mut csv = String::from("variant,run");
    for n in &names {
        let _ = write!(csv, ",{n},{n}_ci_lo,{n}_ci_hi,{n}_chance");
    }
    csv.push('\n');
    let mut md = String::from("| variant |");
    let mut md_rule = String::from("|---|");
    for n in &names {
        let _ = write!(md, " {n} |");
        md_rule += "---|";
    }
    md = md + "\n" + &md_rule + "\n";
    let mut chance_row = String::from("| chance |");
    for c in columns(&first.metrics) {
        let _ = write!(
            chance_row,
            " {} |",
            if c.4.is_nan() {
                String::new()
            } else {
                format!("{:.1}", c.4)
            }
        );
    }
    for r in rows {
        let _ = write!(csv, "{},{}", r.name, r.run.display());
        let _ = write!(md, "| {} |", r.name);
        for (_, v, lo, hi, ch) in columns(&r.metrics) {
            let _ = write!(
                csv,
                ",{v:.6},{lo:.6},{hi:.6},{}",
                if ch.is_nan() { String::new() } else { format!("{ch:.6}") }
            );
            let _ = write!(md, " {v:.1} [{lo:.1}, {hi:.1}] |");
        }
        csv.push('\n');
        md.push('\n');
    }
    md += &chance_row;
    md.push('\n');
    let (diff_md, diff_html, diff_csv) = paired_tables(rows.first().map_or("paired", |r| r.name.as_str()), vs_paired);
    md += &diff_md;
    vox2pix_formats::io::write_bytes_atomic(&out.join("ablation_vs_paired.csv"), diff_csv.as_bytes())?;
    vox2pix_formats::io::write_bytes_atomic(&out.join("ablation.csv"), csv.as_bytes())?;
    vox2pix_formats::io::write_bytes_atomic(&out.join("ablation.md"), md.as_bytes())?;
    let html = ablation_html(rows, &names).replace("</body>", &format!("{diff_html}</body>"));
    vox2pix_formats::io::write_bytes_atomic(&out.join("ablation.html"), html.as_bytes())?;
    Ok(())
}

/// The paired-difference table (headline metrics of `report::study::HEADLINE`) as markdown, HTML and, for every
/// compared metric, CSV.
fn paired_tables(base: &str, vs: &[(String, Vec<PairedDifference>)]) -> (String, String, String) {
    let mut md = format!(
        "\nPaired difference to `{base}` on the same test images (mean per-image difference, 95 % paired bootstrap CI, \
         sign-flip p):\n\n| variant | metric | difference | 95 % CI | p |\n|---|---|---|---|---|\n"
    );
    let mut html = format!(
        "<h2>Paired difference to {}</h2><table><tr><th>variant</th><th>metric</th><th>difference</th><th>95 % CI</th><th>p</th></tr>",
        escape(base)
    );
    let mut csv = String::from("variant,metric,mean_base,mean_variant,diff,ci_lo,ci_hi,p_value\n");
    for (name, diffs) in vs {
        for d in diffs {
            let _ = writeln!(
                csv,
                "{name},{},{},{},{},{},{},{}",
                d.metric, d.mean_a, d.mean_b, d.diff, d.ci_lo, d.ci_hi, d.p_value
            );
        }
        for (metric, label, scale) in crate::report::study::HEADLINE {
            let Some(d) = diffs.iter().find(|d| d.metric == metric) else {
                continue;
            };
            let _ = writeln!(
                md,
                "| {name} | {label} | {:+.2} | [{:+.2}, {:+.2}] | {:.3} |",
                d.diff * scale,
                d.ci_lo * scale,
                d.ci_hi * scale,
                d.p_value
            );
            let _ = write!(
                html,
                "<tr><th>{}</th><td>{}</td><td>{:+.2}</td><td>[{:+.2}, {:+.2}]</td><td>{:.3}</td></tr>",
                escape(name),
                escape(label),
                d.diff * scale,
                d.ci_lo * scale,
                d.ci_hi * scale,
                d.p_value
            );
        }
    }
    html.push_str("</table>");
    (md, html, csv)
}

fn ablation_html(rows: &[AblationRow], names: &[String]) -> String {
    let mut h = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>vox2pix ablation</title><style>\
         body{font-family:sans-serif;margin:20px}table{border-collapse:collapse;font-size:12px}\
         td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}svg{margin:4px;border:1px solid #eee}\
         </style></head><body><h1>Ablation: paired only vs + ED vs + ED + DE</h1>\
         <p>Same data, seed and encoder; accuracies in % with 95 % bootstrap CIs over test images.</p>\
         <table id=\"ablation\"><tr><th>variant</th>",
    );
    for n in names {
        let _ = write!(h, "<th>{}</th>", escape(n));
    }
    h += "</tr>";
    for r in rows {
        let _ = write!(h, "<tr><th>{}</th>", escape(&r.name));
        for (_, v, lo, hi, _) in columns(&r.metrics) {
            let _ = write!(h, "<td>{v:.1} [{lo:.1}, {hi:.1}]</td>");
        }
        h += "</tr>";
    }
    h += "</table>";
    // One grouped chart: every variant's bar next to the others', per headline accuracy.
    let legend: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    let per_row: Vec<Vec<Column>> = rows.iter().map(|r| columns(&r.metrics)).collect();
    let mut bars = Vec::new();
    for (j, n) in names.iter().enumerate() {
        if !(n.starts_with("ident_perceptual") || n.starts_with("class_")) {
            continue;
        }
        for (i, cols) in per_row.iter().enumerate() {
            let c = &cols[j];
            bars.push(Bar {
                label: if i == 0 {
                    n.replace("ident_perceptual_", "id ")
                } else {
                    String::new()
                },
                value: c.1,
                ci: Some((c.2, c.3)),
                chance: Some(c.4),
                series: i,
            });
        }
    }
    h += &bar_chart(
        "identification (perceptual) and classification per variant",
        "accuracy %",
        &bars,
        Some((0.0, 100.0)),
        &legend,
    );
    for r in rows {
        let _ = write!(
            h,
            "<h2>{}</h2><p>run: {} (report: report.html there)</p>",
            escape(&r.name),
            escape(&r.run.display().to_string())
        );
        h += &metric_charts(&r.metrics);
    }
    h + "</body></html>"
}
