//! The evaluation results as written to disk: `metrics.json` (serde) and a flat `metrics.csv`, both atomic.
use super::classification::ClassificationResult;
use super::draw::{bootstrap_mean_ci, Interval};
use super::encoder::{RoiBranchWeights, VoxelCorrelation};
use super::identification::IdentificationResult;
use super::perceptual::PerceptualInput;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use vox2pix_formats::io::{write_atomic, write_bytes_atomic};

/// Identification results for one distance and one distractor pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentificationSet {
    /// `perceptual` or `pixel_correlation`.
    pub distance: String,
    /// Input convention of the perceptual backbone, where it applies.
    pub input: Option<PerceptualInput>,
    /// `test` or `external`.
    pub pool: String,
    /// One result per n.
    pub results: Vec<IdentificationResult>,
}

/// A per-image mean with its bootstrap CI (PixCorr, SSIM).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeanWithCi {
    /// Mean over the test images.
    pub mean: f64,
    /// Bootstrap CI of `mean`.
    pub ci: Interval,
    /// The metric per test image.
    pub per_image: Vec<f64>,
}

impl MeanWithCi {
    /// Mean of `per_image` with its `bootstrap`-resample percentile CI at `level`, seeded by `seed`.
    pub fn of(per_image: Vec<f64>, bootstrap: usize, level: f64, seed: u64) -> Self {
        Self {
            mean: per_image.iter().sum::<f64>() / per_image.len().max(1) as f64,
            ci: bootstrap_mean_ci(&per_image, bootstrap, level, seed),
            per_image,
        }
    }
}

/// Everything `metrics.json` holds; sections a run did not compute are absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalMetrics {
    /// Test images evaluated (length of every per-image column).
    pub n_test_images: usize,
    /// Seed of the evaluation's random draws.
    pub seed: u64,
    /// Per distance and distractor pool.
    #[serde(default)]
    pub identification: Vec<IdentificationSet>,
    /// Per (N, k).
    #[serde(default)]
    pub classification: Vec<ClassificationResult>,
    /// Pixel correlation, reconstruction vs ground truth.
    pub pixcorr: Option<MeanWithCi>,
    /// SSIM, reconstruction vs ground truth.
    pub ssim: Option<MeanWithCi>,
    /// Encoder voxel correlation on the test images.
    pub encoder: Option<VoxelCorrelation>,
    /// Per-ROI branch-weight summary of the encoder.
    #[serde(default)]
    pub branch_weights: Vec<RoiBranchWeights>,
    /// The NSD 8-metric suite, when asked for (`evaluate --suite nsd8`).
    #[serde(default)]
    pub nsd8: Option<super::nsd8::Nsd8Metrics>,
}

impl EvalMetrics {
    /// Writes pretty-printed JSON (`metrics.json`) atomically.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).context("serialising metrics")?;
        write_bytes_atomic(path, text.as_bytes())
    }

    /// Reads a `metrics.json` written by `write_json`.
    pub fn read_json(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a vox2pix metrics.json", path.display()))
    }

    /// One row per headline number: `metric,setting,value,ci_lo,ci_hi,chance`.
    pub fn csv_rows(&self) -> Vec<[String; 6]> {
        let f = |x: f64| format!("{x:.6}");
        let mut rows = Vec::new();
        for set in &self.identification {
            for r in &set.results {
                let setting = format!(
                    "{}-way;pool={};trials={};seed={}",
                    r.n, set.pool, r.trials_per_image, r.seed
                );
                rows.push([
                    format!("identification_{}", set.distance),
                    setting.clone(),
                    f(r.accuracy),
                    f(r.accuracy_ci.lo),
                    f(r.accuracy_ci.hi),
                    f(r.chance),
                ]);
                rows.push([
                    format!("identification_{}_rank", set.distance),
                    setting,
                    f(r.rank_score),
                    f(r.rank_score_ci.lo),
                    f(r.rank_score_ci.hi),
                    f(0.5),
                ]);
            }
        }
        for r in &self.classification {
            let setting = format!(
                "{}-way;top-{};trials={};seed={}",
                r.n, r.top_k, r.trials_per_image, r.seed
            );
            rows.push([
                "classification".into(),
                setting,
                f(r.accuracy),
                f(r.accuracy_ci.lo),
                f(r.accuracy_ci.hi),
                f(r.chance),
            ]);
        }
        for (name, m) in [("pixcorr", &self.pixcorr), ("ssim", &self.ssim)] {
            if let Some(m) = m {
                rows.push([
                    name.into(),
                    "mean".into(),
                    f(m.mean),
                    f(m.ci.lo),
                    f(m.ci.hi),
                    String::new(),
                ]);
            }
        }
        if let Some(enc) = &self.encoder {
            for roi in std::iter::once(&enc.all_voxels).chain(&enc.rois) {
                for (metric, stats) in [("encoder_r", &roi.r), ("encoder_r_over_ceiling", &roi.r_over_ceiling)] {
                    if let Some(s) = stats {
                        for (what, v) in [("mean", s.mean), ("median", s.median), ("p75", s.p75), ("p90", s.p90)] {
                            rows.push([
                                metric.into(),
                                format!("{};{what}", roi.roi),
                                f(v),
                                String::new(),
                                String::new(),
                                String::new(),
                            ]);
                        }
                    }
                }
            }
        }
        if let Some(suite) = &self.nsd8 {
            for m in &suite.metrics {
                // Chance: 50 % for 2-way identification; none for the distances.
                let chance = if m.higher_is_better && m.name != "pixcorr" && m.name != "ssim" {
                    f(0.5)
                } else {
                    String::new()
                };
                rows.push([
                    format!("nsd8_{}", m.name),
                    format!("{};{}", suite.protocol, m.how.replace(',', ";")),
                    f(m.value.mean),
                    f(m.value.ci.lo),
                    f(m.value.ci.hi),
                    chance,
                ]);
            }
        }
        rows
    }

    /// Per-test-image table: one row per image, one column per per-image metric (the accuracy table of
    /// method.md §6.2, plus identification, PixCorr and SSIM). Columns whose length differs from
    /// `n_test_images` are an error (they would misalign rows).
    pub fn per_image_columns(&self) -> Result<Vec<(String, Vec<f64>)>> {
        let mut cols: Vec<(String, Vec<f64>)> = Vec::new();
        for set in &self.identification {
            for r in &set.results {
                let name = format!("identification_{}_{}_{}way", set.distance, set.pool, r.n);
                cols.push((name.clone(), r.per_image_accuracy.clone()));
                cols.push((name + "_rank", r.per_image_rank_score.clone()));
            }
        }
        for r in &self.classification {
            cols.push((
                format!("classification_{}way_top{}", r.n, r.top_k),
                r.per_image_accuracy.clone(),
            ));
        }
        for (name, m) in [("pixcorr", &self.pixcorr), ("ssim", &self.ssim)] {
            if let Some(m) = m {
                cols.push((name.to_string(), m.per_image.clone()));
            }
        }
        for m in self.nsd8.iter().flat_map(|s| &s.metrics) {
            cols.push((format!("nsd8_{}", m.name), m.value.per_image.clone()));
        }
        if let Some((name, c)) = cols.iter().find(|(_, c)| c.len() != self.n_test_images) {
            anyhow::bail!(
                "per-image column {name} has {} values but there are {} test images",
                c.len(),
                self.n_test_images
            );
        }
        Ok(cols)
    }

    /// Writes `per_image_columns` as CSV (`image` column first, one row per test image) atomically.
    pub fn write_per_image_csv(&self, path: &Path) -> Result<()> {
        let cols = self.per_image_columns()?;
        write_atomic(path, |file| {
            let header: Vec<&str> = std::iter::once("image")
                .chain(cols.iter().map(|(n, _)| n.as_str()))
                .collect();
            writeln!(file, "{}", header.join(","))?;
            for i in 0..self.n_test_images {
                let row: Vec<String> = std::iter::once(i.to_string())
                    .chain(cols.iter().map(|(_, c)| format!("{:.6}", c[i])))
                    .collect();
                writeln!(file, "{}", row.join(","))?;
            }
            Ok(())
        })
    }

    /// Writes `csv_rows` under a `metric,setting,value,ci_lo,ci_hi,chance` header atomically.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let rows = self.csv_rows();
        write_atomic(path, |file| {
            writeln!(file, "metric,setting,value,ci_lo,ci_hi,chance")?;
            for row in &rows {
                writeln!(file, "{}", row.join(","))?;
            }
            Ok(())
        })
    }
}
