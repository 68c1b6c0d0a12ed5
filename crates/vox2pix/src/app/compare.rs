//! `vox2pix compare RUN_A RUN_B [RUN_A2 RUN_B2 …]`: a paired comparison of evaluated decoder runs on the same
//! test images — one pair, or one pair per training seed pooled by a hierarchical bootstrap.
//!
//! Reads both runs' `metrics_per_image.csv` (written by `vox2pix evaluate`, `EvalMetrics::write_per_image_csv`:
//! an `image` column, then one column per per-image metric), refuses runs whose images differ, and computes an
//! [`eval::paired::PairedDifference`](crate::eval::paired::PairedDifference) (B − A, paired bootstrap CI,
//! sign-flip p-value) for every metric column both files have. Writes `compare.csv` and `compare.md` atomically
//! into the output folder (by default `RUN_B/compare-vs-<name of RUN_A>`, [`default_out_dir`]).
//!
//! Where the runs' `metrics.json` and `data.json` exist they are checked too: the number of test images the
//! evaluation reported must match the CSV, and both runs must have been trained on the same test classes.
//!
//! With several pairs ([`compare_run_pairs`], one (A, B) pair per training seed, e.g. the baseline and the
//! variant trained with the same seed), each pair is compared as above into `OUT/pair-K/`, and every metric
//! all pairs share gets the grand mean of the per-image differences with a
//! [`hierarchical_bootstrap`](crate::eval::paired::hierarchical_bootstrap) CI (pairs resampled, then images,
//! one image draw shared by the drawn pairs because all were scored on the same images), the same statistic
//! `vox2pix study` reports, written as `OUT/compare.csv` and `OUT/compare.md`.
use crate::eval::paired::{hierarchical_bootstrap, HierarchicalMean, ImageDraw, PairedDifference, PairedOptions};
use anyhow::{bail, ensure, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use vox2pix_formats::io::write_bytes_atomic;

/// File name of the per-image table in a run folder.
pub const PER_IMAGE_CSV: &str = "metrics_per_image.csv";
/// Name of the image id column (the first column of [`PER_IMAGE_CSV`]).
pub const IMAGE_COLUMN: &str = "image";

/// One `metrics_per_image.csv`: image ids in row order and the numeric metric columns.
#[derive(Clone, Debug, PartialEq)]
pub struct PerImageTable {
    /// The file it was read from.
    pub path: PathBuf,
    /// The `image` column, as written (the test-image index).
    pub images: Vec<String>,
    /// (column name, one value per image) in file order, without the `image` column.
    pub columns: Vec<(String, Vec<f64>)>,
}

/// Reads a per-image table: a header whose first field is `image`, then one row per image with the same number
/// of comma-separated fields, every field after the first a number (`NaN` is read, and refused later per
/// metric). Errors name the file and line.
pub fn read_per_image_csv(path: &Path) -> Result<PerImageTable> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {}; run `vox2pix evaluate` on the run first",
            path.display()
        )
    })?;
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        bail!("{}: empty file, expected a `{IMAGE_COLUMN},...` header", path.display());
    };
    let names: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
    ensure!(
        names[0] == IMAGE_COLUMN,
        "{}: the first column is `{}`, expected `{IMAGE_COLUMN}` (not a vox2pix {PER_IMAGE_CSV}?)",
        path.display(),
        names[0]
    );
    for (i, n) in names.iter().enumerate() {
        ensure!(!n.is_empty(), "{}: column {} has an empty name", path.display(), i + 1);
        ensure!(
            !names[..i].contains(n),
            "{}: column `{n}` appears twice",
            path.display()
        );
    }
    let mut images = Vec::new();
    let mut columns: Vec<(String, Vec<f64>)> = names[1..].iter().map(|n| (n.clone(), Vec::new())).collect();
    for (line_no, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        ensure!(
            fields.len() == names.len(),
            "{}:{line_no}: {} fields, but the header has {}",
            path.display(),
            fields.len(),
            names.len()
        );
        images.push(fields[0].to_string());
        for ((name, col), field) in columns.iter_mut().zip(&fields[1..]) {
            let v: f64 = field.parse().with_context(|| {
                format!(
                    "{}:{line_no}: column `{name}`: `{field}` is not a number",
                    path.display()
                )
            })?;
            col.push(v);
        }
    }
    Ok(PerImageTable {
        path: path.to_path_buf(),
        images,
        columns,
    })
}

/// What to compare and where to write it.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// Baseline run folder (A).
    pub run_a: PathBuf,
    /// Run folder compared against the baseline (B); differences are B − A.
    pub run_b: PathBuf,
    /// Output folder for `compare.csv` and `compare.md` (created if missing).
    pub out: PathBuf,
    /// Resamples, CI level and seed of the paired statistics.
    pub paired: PairedOptions,
}

/// The result of a comparison: one [`PairedDifference`] per shared metric, plus what could not be compared.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The per-image table of A.
    pub file_a: PathBuf,
    /// The per-image table of B.
    pub file_b: PathBuf,
    /// Number of paired test images.
    pub n_images: usize,
    /// One row per metric column both tables have, in A's column order.
    pub rows: Vec<PairedDifference>,
    /// Shared columns that could not be compared, with the reason (e.g. a non-finite value).
    pub skipped: Vec<(String, String)>,
    /// Columns only A has.
    pub only_in_a: Vec<String>,
    /// Columns only B has.
    pub only_in_b: Vec<String>,
    /// The evaluation seeds recorded in A's and B's `metrics.json`, where present.
    pub eval_seeds: (Option<u64>, Option<u64>),
    /// The settings of the paired statistics.
    pub paired: PairedOptions,
}

/// `RUN_B/compare-vs-<name of RUN_A>`; the name is RUN_A's last path component (of its canonical path when it
/// has none, e.g. `.`).
pub fn default_out_dir(run_a: &Path, run_b: &Path) -> PathBuf {
    let name = run_a
        .file_name()
        .map(|n| n.to_os_string())
        .or_else(|| {
            run_a
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_os_string()))
        })
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "A".to_string());
    run_b.join(format!("compare-vs-{name}"))
}

/// Pairs two per-image tables: they must list the same images in the same order (else an error naming both
/// files); every column both have gets a [`PairedDifference`] of B − A.
pub fn compare_tables(a: &PerImageTable, b: &PerImageTable, o: &PairedOptions) -> Result<Comparison> {
    let (pa, pb) = (a.path.display(), b.path.display());
    ensure!(
        a.images.len() == b.images.len(),
        "{pa} has {} test images but {pb} has {}; a paired comparison needs runs evaluated on the same test images",
        a.images.len(),
        b.images.len()
    );
    if let Some(i) = (0..a.images.len()).find(|&i| a.images[i] != b.images[i]) {
        bail!(
            "{pa} and {pb} list different test images: row {} is image `{}` in A but `{}` in B; \
             a paired comparison needs the same images in the same order",
            i + 1,
            a.images[i],
            b.images[i]
        );
    }
    ensure!(
        a.images.len() >= 2,
        "{pa}: {} test image(s); a paired comparison needs at least 2",
        a.images.len()
    );
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for (name, va) in &a.columns {
        let Some((_, vb)) = b.columns.iter().find(|(n, _)| n == name) else {
            continue;
        };
        match PairedDifference::compute(name, va, vb, o) {
            Ok(r) => rows.push(r),
            Err(e) => skipped.push((name.clone(), format!("{e:#}"))),
        }
    }
    let missing_in = |t: &PerImageTable, other: &PerImageTable| -> Vec<String> {
        t.columns
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| !other.columns.iter().any(|(m, _)| m == n))
            .collect()
    };
    ensure!(
        !rows.is_empty() || !skipped.is_empty(),
        "{pa} and {pb} have no metric column in common"
    );
    Ok(Comparison {
        file_a: a.path.clone(),
        file_b: b.path.clone(),
        n_images: a.images.len(),
        rows,
        skipped,
        only_in_a: missing_in(a, b),
        only_in_b: missing_in(b, a),
        eval_seeds: (None, None),
        paired: *o,
    })
}

/// A run folder's JSON file as loose JSON, or None when it does not exist.
fn read_json_if_present(path: &Path) -> Result<Option<serde_json::Value>> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some(
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not valid JSON", path.display()))?,
    ))
}

/// Cross-checks with `metrics.json` (image count) and returns its evaluation seed.
fn check_metrics_json(run: &Path, table: &PerImageTable) -> Result<Option<u64>> {
    let path = run.join("metrics.json");
    let Some(v) = read_json_if_present(&path)? else {
        return Ok(None);
    };
    if let Some(n) = v["n_test_images"].as_u64() {
        ensure!(
            n as usize == table.images.len(),
            "{} reports {n} test images but {} has {} rows; re-run `vox2pix evaluate` on {}",
            path.display(),
            table.path.display(),
            table.images.len(),
            run.display()
        );
    }
    Ok(v["seed"].as_u64())
}

/// Refuses runs whose `data.json` (both present) name different test classes.
fn check_same_test_classes(run_a: &Path, run_b: &Path) -> Result<()> {
    let (pa, pb) = (run_a.join("data.json"), run_b.join("data.json"));
    let (Some(a), Some(b)) = (read_json_if_present(&pa)?, read_json_if_present(&pb)?) else {
        return Ok(());
    };
    let (ca, cb) = (&a["test_classes"], &b["test_classes"]);
    if !ca.is_null() && !cb.is_null() && ca != cb {
        bail!(
            "{} and {} have different test sets (test_classes {ca} vs {cb}); \
             a paired comparison needs runs on the same data",
            pa.display(),
            pb.display()
        );
    }
    Ok(())
}

/// Compares the runs, writes `compare.csv` and `compare.md` into `o.out`, and returns the comparison.
pub fn compare_runs(o: &CompareOptions) -> Result<Comparison> {
    let a = read_per_image_csv(&o.run_a.join(PER_IMAGE_CSV))?;
    let b = read_per_image_csv(&o.run_b.join(PER_IMAGE_CSV))?;
    check_same_test_classes(&o.run_a, &o.run_b)?;
    let seed_a = check_metrics_json(&o.run_a, &a)?;
    let seed_b = check_metrics_json(&o.run_b, &b)?;
    let mut c = compare_tables(&a, &b, &o.paired)?;
    c.eval_seeds = (seed_a, seed_b);
    std::fs::create_dir_all(&o.out).with_context(|| format!("cannot create {}", o.out.display()))?;
    write_bytes_atomic(&o.out.join("compare.csv"), c.csv().as_bytes())?;
    write_bytes_atomic(&o.out.join("compare.md"), c.markdown().as_bytes())?;
    Ok(c)
}

/// Several (A, B) pairs, one per training seed, all evaluated on the same test images.
#[derive(Clone, Debug)]
pub struct PairsCompareOptions {
    /// (baseline A, compared B) run folders, one pair per seed; differences are B − A.
    pub pairs: Vec<(PathBuf, PathBuf)>,
    /// Output folder: `compare.{csv,md}` for the pooled result, `pair-K/compare.{csv,md}` per pair.
    pub out: PathBuf,
    /// Resamples, CI level and seed of the statistics.
    pub paired: PairedOptions,
}

/// One metric pooled over the pairs.
#[derive(Clone, Debug)]
pub struct PooledDifference {
    /// Grand mean of B − A over pairs and images, with its hierarchical bootstrap CI.
    pub pooled: HierarchicalMean,
    /// Mean of A over pairs and images.
    pub mean_a: f64,
    /// Mean of B over pairs and images.
    pub mean_b: f64,
    /// Each pair's mean difference B − A, in pair order.
    pub per_pair: Vec<f64>,
}

/// The result of [`compare_run_pairs`].
#[derive(Clone, Debug)]
pub struct PairsComparison {
    /// Each pair's own comparison, in the order given.
    pub pairs: Vec<Comparison>,
    /// One row per metric that every pair compared, in the first pair's order.
    pub rows: Vec<PooledDifference>,
    /// Metrics compared in some pairs but not all, or refused by the pooled statistic, with the reason.
    pub skipped: Vec<(String, String)>,
    /// The settings of the statistics.
    pub paired: PairedOptions,
}

/// Compares every pair (each into `o.out/pair-K`), then pools the metrics all pairs share; writes
/// `o.out/compare.{csv,md}`. Every pair must list the same test images in the same order as the first.
pub fn compare_run_pairs(o: &PairsCompareOptions) -> Result<PairsComparison> {
    ensure!(
        o.pairs.len() >= 2,
        "a comparison over seeds needs at least 2 (A, B) pairs, got {}",
        o.pairs.len()
    );
    let mut tables = Vec::new();
    let mut pairs = Vec::new();
    for (k, (run_a, run_b)) in o.pairs.iter().enumerate() {
        let a = read_per_image_csv(&run_a.join(PER_IMAGE_CSV))?;
        let b = read_per_image_csv(&run_b.join(PER_IMAGE_CSV))?;
        if let Some((a0, _)) = tables.first() {
            let a0: &PerImageTable = a0;
            ensure!(
                a0.images == a.images,
                "{} and {} list different test images; every pair must be evaluated on the same images \
                 (the same dataset and `vox2pix evaluate` settings)",
                a0.path.display(),
                a.path.display()
            );
        }
        check_same_test_classes(run_a, run_b)?;
        if k > 0 {
            check_same_test_classes(&o.pairs[0].0, run_a)?;
        }
        let seed_a = check_metrics_json(run_a, &a)?;
        let seed_b = check_metrics_json(run_b, &b)?;
        let mut c = compare_tables(&a, &b, &o.paired)?;
        c.eval_seeds = (seed_a, seed_b);
        pairs.push(c);
        tables.push((a, b));
    }
    let column = |t: &PerImageTable, name: &str| t.columns.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for metric in pairs[0].rows.iter().map(|r| r.metric.clone()) {
        if let Some(k) = pairs.iter().position(|c| !c.rows.iter().any(|r| r.metric == metric)) {
            skipped.push((metric, format!("not compared in pair {}", k + 1)));
            continue;
        }
        let mut diffs = Vec::new();
        let (mut sum_a, mut sum_b, mut n) = (0.0, 0.0, 0usize);
        for (a, b) in &tables {
            let (va, vb) = (
                column(a, &metric).unwrap_or_default(),
                column(b, &metric).unwrap_or_default(),
            );
            sum_a += va.iter().sum::<f64>();
            sum_b += vb.iter().sum::<f64>();
            n += va.len();
            diffs.push(vb.iter().zip(&va).map(|(y, x)| y - x).collect::<Vec<f64>>());
        }
        match hierarchical_bootstrap(&metric, &diffs, &o.paired, ImageDraw::Shared) {
            Ok(pooled) => rows.push(PooledDifference {
                per_pair: pairs
                    .iter()
                    .map(|c| c.rows.iter().find(|r| r.metric == metric).map_or(f64::NAN, |r| r.diff))
                    .collect(),
                pooled,
                mean_a: sum_a / n as f64,
                mean_b: sum_b / n as f64,
            }),
            Err(e) => skipped.push((metric, format!("{e:#}"))),
        }
    }
    for c in &pairs[1..] {
        for r in &c.rows {
            if !pairs[0].rows.iter().any(|q| q.metric == r.metric) && !skipped.iter().any(|(m, _)| m == &r.metric) {
                skipped.push((r.metric.clone(), "not compared in pair 1".to_string()));
            }
        }
    }
    ensure!(
        !rows.is_empty(),
        "no metric could be pooled over the pairs: {skipped:?}"
    );
    let result = PairsComparison {
        pairs,
        rows,
        skipped,
        paired: o.paired,
    };
    for (k, c) in result.pairs.iter().enumerate() {
        let dir = o.out.join(format!("pair-{}", k + 1));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        write_bytes_atomic(&dir.join("compare.csv"), c.csv().as_bytes())?;
        write_bytes_atomic(&dir.join("compare.md"), c.markdown().as_bytes())?;
    }
    write_bytes_atomic(&o.out.join("compare.csv"), result.csv().as_bytes())?;
    write_bytes_atomic(&o.out.join("compare.md"), result.markdown().as_bytes())?;
    Ok(result)
}

impl PairsComparison {
    /// `compare.csv` of a comparison over pairs: one row per pooled metric; `per_pair_diff` lists each pair's
    /// mean difference, separated by `;`.
    pub fn csv(&self) -> String {
        let mut s = String::from(
            "metric,n_pairs,n_images,mean_a,mean_b,diff,ci_lo,ci_hi,level,pairs_b_higher,per_pair_diff,resamples,seed\n",
        );
        for r in &self.rows {
            let h = &r.pooled;
            let per: Vec<String> = r.per_pair.iter().map(|d| format!("{d:.6}")).collect();
            let _ = writeln!(
                s,
                "{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{},{},{},{},{}",
                h.metric,
                h.n_seeds,
                h.n_images,
                r.mean_a,
                r.mean_b,
                h.mean,
                h.ci_lo,
                h.ci_hi,
                h.level,
                r.per_pair.iter().filter(|d| **d > 0.0).count(),
                per.join(";"),
                h.resamples,
                h.seed
            );
        }
        s
    }

    /// `compare.md` of a comparison over pairs: the pairs, how the interval was computed, and the table.
    pub fn markdown(&self) -> String {
        let o = &self.paired;
        let pct = format!("{} %", (o.level * 100.0 * 1e6).round() / 1e6);
        let n_pairs = self.pairs.len();
        let n_images = self.pairs[0].n_images;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# Paired comparison over {n_pairs} seeds, B − A
"
        );
        for (k, c) in self.pairs.iter().enumerate() {
            let _ = writeln!(
                s,
                "- pair {}: A `{}`, B `{}` (its own table: `pair-{}/compare.md`)",
                k + 1,
                c.file_a.display(),
                c.file_b.display(),
                k + 1
            );
        }
        let _ = writeln!(
            s,
            "- {n_images} test images in every pair. B−A is the mean per-image difference over all pairs and \
             images; {pct} CI: hierarchical bootstrap ({} resamples: pairs drawn with replacement, then one draw of \
             the images shared by the drawn pairs, since every pair was scored on the same images; seed {}). \
             \"B>A\" counts the pairs whose own mean difference is positive. Not corrected for multiple comparisons.\n",
            o.resamples, o.seed
        );
        let _ = writeln!(s, "| metric | A | B | B−A | {pct} CI | per pair B−A | B>A |");
        let _ = writeln!(s, "|---|---:|---:|---:|---|---|---:|");
        for r in &self.rows {
            let h = &r.pooled;
            let per: Vec<String> = r.per_pair.iter().map(|d| format!("{d:+.3}")).collect();
            let _ = writeln!(
                s,
                "| {} | {:.4} | {:.4} | {:+.4} | [{:+.4}, {:+.4}] | {} | {}/{n_pairs} |",
                h.metric,
                r.mean_a,
                r.mean_b,
                h.mean,
                h.ci_lo,
                h.ci_hi,
                per.join(" "),
                r.per_pair.iter().filter(|d| **d > 0.0).count()
            );
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(s, "\nNot pooled:");
            for (name, why) in &self.skipped {
                let _ = writeln!(s, "- `{name}`: {why}");
            }
        }
        s
    }
}

/// p-values: 4 decimals, scientific below 0.001.
fn fmt_p(p: f64) -> String {
    if p >= 1e-3 {
        format!("{p:.4}")
    } else {
        format!("{p:.1e}")
    }
}

impl Comparison {
    /// `compare.csv`: one row per compared metric.
    pub fn csv(&self) -> String {
        let mut s = String::from(
            "metric,n,mean_a,mean_b,diff,ci_lo,ci_hi,level,p_value,p_exact,sd_diff,\
             n_b_higher,n_a_higher,resamples,seed\n",
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{},{:.6e},{},{:.6},{},{},{},{}",
                r.metric,
                r.n,
                r.mean_a,
                r.mean_b,
                r.diff,
                r.ci_lo,
                r.ci_hi,
                r.level,
                r.p_value,
                r.p_exact,
                r.sd_diff,
                r.n_b_higher,
                r.n_a_higher,
                r.resamples,
                r.seed
            );
        }
        s
    }

    /// `compare.md`: which files, how the numbers were computed, and the table (metric, A, B, B−A, CI, p).
    pub fn markdown(&self) -> String {
        let o = &self.paired;
        let pct = format!("{} %", (o.level * 100.0 * 1e6).round() / 1e6);
        let mut s = String::new();
        let _ = writeln!(s, "# Paired comparison, B − A\n");
        let seed = |x: Option<u64>| x.map(|v| format!(" (evaluation seed {v})")).unwrap_or_default();
        let _ = writeln!(s, "- A: `{}`{}", self.file_a.display(), seed(self.eval_seeds.0));
        let _ = writeln!(s, "- B: `{}`{}", self.file_b.display(), seed(self.eval_seeds.1));
        let exact = self.rows.first().is_some_and(|r| r.p_exact);
        let p_how = if exact {
            format!("exact over all 2^{} sign patterns", self.n_images)
        } else {
            format!("{} random sign patterns", o.resamples)
        };
        let _ = writeln!(
            s,
            "- {} test images paired by the `{IMAGE_COLUMN}` column. B−A is the mean per-image difference; \
             {pct} CI: paired bootstrap ({} resamples of the images, seed {}); p: two-sided sign-flip permutation \
             test ({p_how}), per metric, not corrected for multiple comparisons.\n",
            self.n_images, o.resamples, o.seed
        );
        let _ = writeln!(s, "| metric | A | B | B−A | {pct} CI | p |");
        let _ = writeln!(s, "|---|---:|---:|---:|---|---:|");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {:.4} | {:.4} | {:+.4} | [{:+.4}, {:+.4}] | {} |",
                r.metric,
                r.mean_a,
                r.mean_b,
                r.diff,
                r.ci_lo,
                r.ci_hi,
                fmt_p(r.p_value)
            );
        }
        if self.eval_seeds.0.is_some() && self.eval_seeds.1.is_some() && self.eval_seeds.0 != self.eval_seeds.1 {
            let _ = writeln!(
                s,
                "\nNote: the runs were evaluated with different seeds, so their identification and classification \
                 trials differ; the comparison is still paired by image but noisier."
            );
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(s, "\nNot compared:");
            for (name, why) in &self.skipped {
                let _ = writeln!(s, "- `{name}`: {why}");
            }
        }
        for (who, cols) in [("A", &self.only_in_a), ("B", &self.only_in_b)] {
            if !cols.is_empty() {
                let list: Vec<String> = cols.iter().map(|c| format!("`{c}`")).collect();
                let _ = writeln!(s, "\nOnly in {who}: {}", list.join(", "));
            }
        }
        s
    }
}
