//! n-way image identification (method.md §6.1, metrics.md §3.1): is the ground truth the nearest of itself and
//! n − 1 random distractors, for each reconstruction, over many seeded trials?
use super::draw::{bootstrap_mean_ci, Interval};
use super::trials::run_trials;
use crate::nn::pearson::to_vec_f64;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Where a reconstruction's distractors come from. The distance matrix's columns are all candidates.
#[derive(Clone, Debug, PartialEq)]
pub enum DistractorPool {
    /// Every column except the reconstruction's own ground truth (`test`: the other test images).
    OtherColumns,
    /// Only these columns (`external`: e.g. unpaired images appended after the test images).
    Columns(Vec<usize>),
}

impl DistractorPool {
    /// The name written next to the numbers (`test` or `external`).
    pub fn name(&self) -> &'static str {
        match self {
            DistractorPool::OtherColumns => "test",
            DistractorPool::Columns(_) => "external",
        }
    }
}

/// Settings of the identification protocol; defaults are the paper's.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NWayIdentification {
    /// Candidate-set sizes (default 2, 5, 10, 50).
    pub ns: Vec<usize>,
    /// Random trials per test image (default 1,000).
    pub trials_per_image: usize,
    /// Seed of every draw (default 0).
    pub seed: u64,
    /// Bootstrap resamples of the test images for the CI (default 10,000).
    pub bootstrap: usize,
    /// CI level (default 0.95).
    pub ci_level: f64,
}

impl Default for NWayIdentification {
    fn default() -> Self {
        Self {
            ns: vec![2, 5, 10, 50],
            trials_per_image: 1000,
            seed: 0,
            bootstrap: 10_000,
            ci_level: 0.95,
        }
    }
}

/// Identification at one n.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdentificationResult {
    /// n: candidates per trial (the ground truth included).
    pub n: usize,
    /// Fraction of all trials (images × trials) where the ground truth was strictly nearest.
    pub accuracy: f64,
    /// Bootstrap CI over test images of `accuracy`.
    pub accuracy_ci: Interval,
    /// Mean normalised rank of the ground truth among the candidates, 0 = best, 0.5 = chance.
    pub rank_score: f64,
    /// Bootstrap CI over test images of `rank_score`.
    pub rank_score_ci: Interval,
    /// 1/n.
    pub chance: f64,
    /// Exact expected accuracy over all possible distractor draws (no trial noise), for comparison.
    pub expected_accuracy: f64,
    /// Fraction of strictly-nearest trials, per reconstruction.
    pub per_image_accuracy: Vec<f64>,
    /// Mean normalised rank, per reconstruction.
    pub per_image_rank_score: Vec<f64>,
    /// Random trials per image.
    pub trials_per_image: usize,
    /// Seed of the draws.
    pub seed: u64,
    /// `test` or `external`.
    pub pool: String,
}

const STREAM_TAG: u64 = 0x1D;

impl NWayIdentification {
    /// Scores reconstructions given `distances` [n_recon, n_candidates] (smaller = more similar) where column
    /// `gt[i]` is reconstruction i's ground truth. One result per n in `self.ns`.
    pub fn evaluate(
        &self,
        distances: &Tensor,
        gt: &[usize],
        pool: &DistractorPool,
    ) -> Result<Vec<IdentificationResult>> {
        let (rows, cols) = match distances.size().as_slice() {
            [r, c] => (*r as usize, *c as usize),
            s => bail!("identification: distance matrix must be [n_recon, n_candidates], got shape {s:?}"),
        };
        if rows != gt.len() {
            bail!(
                "identification: {rows} distance rows but {} ground-truth indices; give one per reconstruction",
                gt.len()
            );
        }
        if let DistractorPool::Columns(c) = pool {
            if let Some(bad) = c.iter().find(|&&c| c >= cols) {
                bail!("identification: distractor column {bad} is outside the distance matrix ({cols} columns)");
            }
            let mut sorted = c.clone();
            sorted.sort_unstable();
            if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
                bail!(
                    "identification: distractor column {} is listed twice; distractors must be distinct",
                    w[0]
                );
            }
        }
        let dist = to_vec_f64(distances).context("identification: reading the distance matrix")?;
        let all: Vec<usize> = (0..cols).collect();
        let pool_cols: &[usize] = match pool {
            DistractorPool::OtherColumns => &all,
            DistractorPool::Columns(c) => c,
        };
        let pool_of = |_: usize| pool_cols;
        self.ns
            .iter()
            .map(|&n| {
                let items = run_trials(
                    &dist,
                    cols,
                    gt,
                    &pool_of,
                    n,
                    &[1],
                    self.trials_per_image,
                    self.seed,
                    STREAM_TAG,
                )
                .with_context(|| format!("{n}-way identification ({} pool)", pool.name()))?;
                let acc: Vec<f64> = items.iter().map(|t| t.hit_rate[0]).collect();
                let rank: Vec<f64> = items.iter().map(|t| t.mean_rank_score).collect();
                let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
                let boot_seed = self.seed ^ (n as u64).wrapping_mul(0x9E37_79B9);
                Ok(IdentificationResult {
                    n,
                    accuracy: mean(&acc),
                    accuracy_ci: bootstrap_mean_ci(&acc, self.bootstrap, self.ci_level, boot_seed),
                    rank_score: mean(&rank),
                    rank_score_ci: bootstrap_mean_ci(&rank, self.bootstrap, self.ci_level, boot_seed ^ 1),
                    chance: 1.0 / n as f64,
                    expected_accuracy: mean(&items.iter().map(|t| t.expected_hit_rate[0]).collect::<Vec<_>>()),
                    per_image_accuracy: acc,
                    per_image_rank_score: rank,
                    trials_per_image: self.trials_per_image,
                    seed: self.seed,
                    pool: pool.name().to_string(),
                })
            })
            .collect()
    }
}
