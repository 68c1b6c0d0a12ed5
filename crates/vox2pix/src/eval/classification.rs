//! N-way semantic classification of never-seen classes (method.md §6.2, metrics.md §3.2): is the true class's
//! prototype among the k nearest (1 − Pearson r) of itself and N − 1 random other classes?
use super::draw::{bootstrap_mean_ci, Interval};
use super::trials::run_trials;
use crate::nn::pearson::{corr_matrix, to_vec_f64};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Running per-class sums of embeddings, so that class prototypes (mean of ~100 exemplar embeddings per class,
/// over ~1,030 classes) are built batch by batch without holding all exemplars. Sums are kept in f64.
pub struct PrototypeAccumulator {
    sums: Tensor,
    counts: Vec<u64>,
}

impl PrototypeAccumulator {
    /// An empty accumulator for `n_classes` prototypes of `dim` features, on `device`.
    pub fn new(n_classes: usize, dim: usize, device: Device) -> Self {
        Self {
            sums: Tensor::zeros([n_classes as i64, dim as i64], (Kind::Double, device)),
            counts: vec![0; n_classes],
        }
    }

    /// Adds a batch of exemplar embeddings [b, ...] (flattened to [b, D]) with their class indices.
    pub fn add(&mut self, embeddings: &Tensor, classes: &[usize]) -> Result<()> {
        let e = embeddings.flatten(1, -1);
        let (b, d) = (e.size()[0] as usize, e.size()[1]);
        if b != classes.len() {
            bail!(
                "prototypes: {b} embeddings but {} class indices; give one class per exemplar",
                classes.len()
            );
        }
        if d != self.sums.size()[1] {
            bail!(
                "prototypes: embedding has {d} features, the accumulator was made for {}",
                self.sums.size()[1]
            );
        }
        if let Some(&c) = classes.iter().find(|&&c| c >= self.counts.len()) {
            bail!("prototypes: class index {c} is outside 0..{}", self.counts.len());
        }
        let idx =
            Tensor::from_slice(&classes.iter().map(|&c| c as i64).collect::<Vec<_>>()).to_device(self.sums.device());
        let _ = self
            .sums
            .index_add_(0, &idx, &e.to_kind(Kind::Double).to_device(self.sums.device()));
        for &c in classes {
            self.counts[c] += 1;
        }
        Ok(())
    }

    /// Exemplars seen per class.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Class prototypes [C, D] (f32). Errors naming the first class without exemplars.
    pub fn finish(&self) -> Result<Tensor> {
        if let Some(c) = self.counts.iter().position(|&n| n == 0) {
            bail!("prototypes: class {c} received no exemplar embeddings; every class needs at least one exemplar");
        }
        let counts = Tensor::from_slice(&self.counts.iter().map(|&n| n as f64).collect::<Vec<_>>())
            .to_device(self.sums.device());
        Ok((&self.sums / counts.unsqueeze(1)).to_kind(Kind::Float))
    }
}

/// Settings of the classification protocol; defaults are the paper's.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SemanticClassification {
    /// Numbers of candidate classes (default 50, 100, 500, 1000).
    pub ns: Vec<usize>,
    /// Top-k criteria evaluated on the same trials of every N (default 1 and 5).
    pub top_ks: Vec<usize>,
    /// Random trials per image (default 1,000).
    pub trials_per_image: usize,
    /// Seed of the distractor draws and the bootstrap.
    pub seed: u64,
    /// Bootstrap resamples of the test images for the CI (default 10,000).
    pub bootstrap: usize,
    /// Confidence level of the CI (default 0.95).
    pub ci_level: f64,
}

impl Default for SemanticClassification {
    fn default() -> Self {
        Self {
            ns: vec![50, 100, 500, 1000],
            top_ks: vec![1, 5],
            trials_per_image: 1000,
            seed: 0,
            bootstrap: 10_000,
            ci_level: 0.95,
        }
    }
}

/// Classification at one (N, k).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassificationResult {
    /// N: candidate classes per trial (the true one included).
    pub n: usize,
    /// k: a trial is correct when the true class ranks among the k nearest.
    pub top_k: usize,
    /// Mean of `per_image_accuracy`.
    pub accuracy: f64,
    /// Bootstrap CI of `accuracy` over the test images.
    pub accuracy_ci: Interval,
    /// k/N.
    pub chance: f64,
    /// Exact expected accuracy over all possible class draws (no trial noise).
    pub expected_accuracy: f64,
    /// Fraction of correct trials, per reconstruction.
    pub per_image_accuracy: Vec<f64>,
    /// Random trials per image.
    pub trials_per_image: usize,
    /// Seed of the draws.
    pub seed: u64,
}

const STREAM_TAG: u64 = 0xC1A55;

impl SemanticClassification {
    /// `embeddings` [n, D] of the reconstructions, `prototypes` [C, D], `true_class[i]` the row of
    /// reconstruction i's class. Distances are 1 − Pearson r; distractor classes are all other C − 1.
    pub fn evaluate(
        &self,
        embeddings: &Tensor,
        prototypes: &Tensor,
        true_class: &[usize],
    ) -> Result<Vec<ClassificationResult>> {
        let e = embeddings.flatten(1, -1);
        let p = prototypes.flatten(1, -1).to_device(e.device());
        if e.size()[0] as usize != true_class.len() {
            bail!(
                "classification: {} embeddings but {} true classes; give one class per reconstruction",
                e.size()[0],
                true_class.len()
            );
        }
        let n_classes = p.size()[0] as usize;
        if let Some(&n) = self.ns.iter().find(|&&n| n > n_classes) {
            bail!("classification: {n}-way needs at least {n} classes but there are {n_classes} prototypes; drop {n} from the N list or add classes");
        }
        if let Some(&k) = self.top_ks.iter().find(|&&k| k == 0) {
            bail!("classification: top-{k} is meaningless; k must be at least 1");
        }
        let dist = 1.0 - corr_matrix(&e, &p).context("classification: embeddings vs prototypes")?;
        self.evaluate_distances(&dist, true_class)
    }

    /// The trials on a precomputed distance matrix [n, C] (smaller = nearer), e.g. from another embedding
    /// distance; `true_class[i]` is row i's class column.
    pub fn evaluate_distances(&self, distances: &Tensor, true_class: &[usize]) -> Result<Vec<ClassificationResult>> {
        let n_classes = match distances.size().as_slice() {
            [n, c] if *n as usize == true_class.len() => *c as usize,
            s => bail!(
                "classification: distances must be [{}, classes], got shape {s:?}",
                true_class.len()
            ),
        };
        if let Some(&n) = self.ns.iter().find(|&&n| n > n_classes) {
            bail!("classification: {n}-way needs at least {n} classes but there are {n_classes}; drop {n} from the N list or add classes");
        }
        let dist = to_vec_f64(distances)?;
        let all: Vec<usize> = (0..n_classes).collect();
        let pool = |_: usize| all.as_slice();
        let mut out = Vec::new();
        for &n in &self.ns {
            let items = run_trials(
                &dist,
                n_classes,
                true_class,
                &pool,
                n,
                &self.top_ks,
                self.trials_per_image,
                self.seed,
                STREAM_TAG,
            )
            .with_context(|| format!("{n}-way classification"))?;
            for (j, &k) in self.top_ks.iter().enumerate() {
                let acc: Vec<f64> = items.iter().map(|t| t.hit_rate[j]).collect();
                let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
                out.push(ClassificationResult {
                    n,
                    top_k: k,
                    accuracy: mean(&acc),
                    accuracy_ci: bootstrap_mean_ci(
                        &acc,
                        self.bootstrap,
                        self.ci_level,
                        self.seed ^ ((n * 31 + k) as u64),
                    ),
                    chance: (k as f64 / n as f64).min(1.0),
                    expected_accuracy: mean(&items.iter().map(|t| t.expected_hit_rate[j]).collect::<Vec<_>>()),
                    per_image_accuracy: acc,
                    trials_per_image: self.trials_per_image,
                    seed: self.seed,
                });
            }
        }
        Ok(out)
    }
}

/// Timing of one full default classification (50 images × 1,000 trials × N ∈ {50, 100, 500, 1000}, top-1 and
/// top-5, CIs) over 1,030 random 9,216-d prototypes (AlexNet conv4 size), after embedding; for `vox2pix bench`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClassificationBench {
    /// 1 − Pearson r of 50 embeddings against 1,030 prototypes.
    pub distances_s: f64,
    /// The trials and bootstrap CIs on that distance matrix.
    pub trials_s: f64,
    /// Both together, seconds.
    pub total_s: f64,
    /// The device, as `Debug` prints it.
    pub device: String,
}

/// Times one default classification on random prototypes on `device` (after a small warm-up).
pub fn bench_classification(device: Device) -> Result<ClassificationBench> {
    tch::manual_seed(0);
    let protos = Tensor::randn([1030, 9216], (Kind::Float, device));
    let emb = protos.narrow(0, 0, 50) + Tensor::randn([50, 9216], (Kind::Float, device)) * 10.0;
    let truth: Vec<usize> = (0..50).collect();
    let cfg = SemanticClassification::default();
    let _ = cfg.evaluate(&emb.narrow(0, 0, 2), &protos, &truth[..2])?; // warm-up (threads, kernels)
    let start = Instant::now();
    let dist: Tensor = 1.0 - corr_matrix(&emb, &protos)?;
    let _ = to_vec_f64(&dist.narrow(0, 0, 1))?; // waits for an asynchronous device
    let distances_s = start.elapsed().as_secs_f64();
    let res = cfg.evaluate_distances(&dist, &truth)?;
    let total_s = start.elapsed().as_secs_f64();
    if res.len() != 8 {
        bail!("classification benchmark: expected 8 results, got {}", res.len());
    }
    Ok(ClassificationBench {
        distances_s,
        trials_s: total_s - distances_s,
        total_s,
        device: format!("{device:?}"),
    })
}
