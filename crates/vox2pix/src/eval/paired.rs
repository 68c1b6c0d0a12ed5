//! Paired comparison of two decoder variants evaluated on the same test images (`vox2pix compare`).
//!
//! Each variant's own bootstrap CI (`draw::bootstrap_mean_ci`) answers "how precise is this mean"; two such CIs
//! overlap even when every test image improves a little, because most of their width is the spread *between
//! images*, which both variants share. A paired analysis works on the per-image differences d_i = b_i − a_i:
//!
//! * [`PairedDifference::compute`]: the mean difference with a **paired bootstrap** percentile CI (image indices
//!   resampled with replacement, the same indices for a and b) and a **two-sided sign-flip permutation
//!   p-value** (under H0 "A and B are exchangeable per image" each d_i is as likely to be −d_i). With n ≤
//!   [`EXACT_SIGN_FLIP_MAX_N`] the p-value enumerates all 2^n sign patterns and is exact; otherwise it draws
//!   `resamples` random patterns and reports p = (1 + #{|mean*| ≥ |mean|}) / (1 + B), which is never 0.
//! * [`hierarchical_bootstrap`]: the mean difference over several training seeds, each evaluated on the same
//!   images, with a CI that resamples seeds and then images.
//!
//! Everything is plain `f64` and seeded with [`CounterRng`], so results are reproducible bit for bit.
//! The reference is `tools/make_paired_fixtures.py` (NumPy), checked by `tests/it/paired.rs`.
use super::draw::percentile_sorted;
use anyhow::{bail, ensure, Result};
use serde::{Deserialize, Serialize};
use vox2pix_formats::rng::{mix_key, CounterRng};

/// Largest n for which [`sign_flip_p_value`] enumerates all 2^n sign patterns (65 536 at n = 16).
pub const EXACT_SIGN_FLIP_MAX_N: usize = 16;

/// Stream ids under the user's seed (`mix_key(seed, &[id])`), one per kind of random draw.
const STREAM_BOOTSTRAP: u64 = 0xB007;
const STREAM_SIGN_FLIP: u64 = 0x5167;
const STREAM_HIERARCHICAL: u64 = 0x41E7;

/// Relative tolerance for "at least as extreme" in the permutation test: |S*| ≥ |S| − `TIE_RTOL`·Σ|d_i|.
/// Per-image metrics are often discrete (0/1 correctness, trial fractions), so many sign patterns tie the
/// observed |S| exactly in real arithmetic; summed in another order they can differ by a few ulps, and a tie
/// must count as extreme. 1e-9 relative is far above rounding (≈ n·1e-16) and far below the gap between
/// distinct sums of `metrics_per_image.csv` values (printed with 6 decimals, so distinct sums differ ≥ 1e-6).
pub const TIE_RTOL: f64 = 1e-9;

/// Settings of the paired statistics.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedOptions {
    /// Bootstrap resamples for the CI, and random sign-flip patterns for the p-value when n is too large to
    /// enumerate.
    pub resamples: usize,
    /// Two-sided CI level, e.g. 0.95.
    pub level: f64,
    /// Seed of every random draw.
    pub seed: u64,
}

impl Default for PairedOptions {
    fn default() -> Self {
        Self {
            resamples: 10_000,
            level: 0.95,
            seed: 0,
        }
    }
}

impl PairedOptions {
    fn validate(&self) -> Result<()> {
        ensure!(self.resamples >= 1, "paired statistics need at least one resample");
        ensure!(
            self.level > 0.0 && self.level < 1.0,
            "CI level must lie strictly between 0 and 1, got {}",
            self.level
        );
        Ok(())
    }
}

/// B − A on the same test images for one metric: means, mean difference, paired bootstrap CI and sign-flip p.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedDifference {
    /// Metric name (a `metrics_per_image.csv` column).
    pub metric: String,
    /// Number of paired images.
    pub n: usize,
    /// Mean of A.
    pub mean_a: f64,
    /// Mean of B.
    pub mean_b: f64,
    /// mean(b − a) (equal to `mean_b − mean_a` up to rounding).
    pub diff: f64,
    /// Sample standard deviation (n − 1) of the per-image differences.
    pub sd_diff: f64,
    /// Lower bound of the paired bootstrap percentile CI of `diff`.
    pub ci_lo: f64,
    /// Upper bound of the paired bootstrap percentile CI of `diff`.
    pub ci_hi: f64,
    /// CI level.
    pub level: f64,
    /// Two-sided sign-flip permutation p-value for H0: no difference.
    pub p_value: f64,
    /// Whether `p_value` enumerated all 2^n sign patterns (n ≤ [`EXACT_SIGN_FLIP_MAX_N`]).
    pub p_exact: bool,
    /// Images where B is higher than A.
    pub n_b_higher: usize,
    /// Images where A is higher than B.
    pub n_a_higher: usize,
    /// Bootstrap resamples (and random sign patterns when `p_exact` is false).
    pub resamples: usize,
    /// Seed of the random draws.
    pub seed: u64,
}

impl PairedDifference {
    /// The paired statistics of `b − a` for `metric`; `a[i]` and `b[i]` must belong to the same test image.
    /// Errors (naming `metric`) on different lengths, fewer than two images or non-finite values.
    pub fn compute(metric: &str, a: &[f64], b: &[f64], o: &PairedOptions) -> Result<Self> {
        o.validate()?;
        ensure!(
            a.len() == b.len(),
            "{metric}: A has {} per-image values but B has {}; a paired comparison needs the same images",
            a.len(),
            b.len()
        );
        check_values(metric, "A", a)?;
        check_values(metric, "B", b)?;
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
        let n = d.len();
        let diff = mean(&d);
        let sd_diff = (d.iter().map(|v| (v - diff).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        let ci = paired_bootstrap_ci(&d, o.resamples, o.level, o.seed);
        let (p_value, p_exact) = sign_flip_p_value(&d, o.resamples, o.seed);
        Ok(Self {
            metric: metric.to_string(),
            n,
            mean_a: mean(a),
            mean_b: mean(b),
            diff,
            sd_diff,
            ci_lo: ci.0,
            ci_hi: ci.1,
            level: o.level,
            p_value,
            p_exact,
            n_b_higher: d.iter().filter(|&&v| v > 0.0).count(),
            n_a_higher: d.iter().filter(|&&v| v < 0.0).count(),
            resamples: o.resamples,
            seed: o.seed,
        })
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// At least two values, all finite; errors name the metric, the side and the first bad image.
fn check_values(metric: &str, side: &str, v: &[f64]) -> Result<()> {
    ensure!(
        v.len() >= 2,
        "{metric}: {side} has {} per-image value(s); a paired comparison needs at least 2 images",
        v.len()
    );
    if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        bail!("{metric}: {side} has a non-finite value ({x}) at image {i}");
    }
    Ok(())
}

/// Percentile bootstrap CI (lo, hi) at `level` of the mean of the per-image differences `d`: `resamples`
/// draws of n image indices with replacement (paired: one index selects both a_i and b_i, i.e. d_i), seeded
/// by `seed`. `d` must be non-empty and `resamples` ≥ 1.
pub fn paired_bootstrap_ci(d: &[f64], resamples: usize, level: f64, seed: u64) -> (f64, f64) {
    let n = d.len();
    let mut rng = CounterRng::new(mix_key(seed, &[STREAM_BOOTSTRAP]));
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| d[rng.below(n as u64) as usize]).sum::<f64>() / n as f64)
        .collect();
    percentile_ci(&mut means, level)
}

/// The central `level` interval of `values` (sorted in place), NumPy's linear interpolation.
fn percentile_ci(values: &mut [f64], level: f64) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    (percentile_sorted(values, tail), percentile_sorted(values, 1.0 - tail))
}

/// Two-sided sign-flip permutation p-value of H0 "mean of `d` is 0 by symmetry" and whether it is exact.
///
/// The statistic is |Σ s_i d_i| over sign patterns s ∈ {±1}^n; a pattern counts when it is at least as
/// extreme as the observed one (ties within [`TIE_RTOL`] count). n ≤ [`EXACT_SIGN_FLIP_MAX_N`]: all 2^n
/// patterns (the observed one among them), p = count / 2^n. Larger n: `resamples` uniform random patterns,
/// p = (1 + count) / (1 + resamples). All-zero `d` gives p = 1.
pub fn sign_flip_p_value(d: &[f64], resamples: usize, seed: u64) -> (f64, bool) {
    let n = d.len();
    let observed = d.iter().sum::<f64>().abs();
    let threshold = observed - TIE_RTOL * d.iter().map(|v| v.abs()).sum::<f64>();
    if n <= EXACT_SIGN_FLIP_MAX_N {
        let patterns = 1u64 << n;
        let count = (0..patterns)
            .filter(|&mask| {
                let s: f64 = d
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| if mask >> i & 1 == 1 { -v } else { v })
                    .sum();
                s.abs() >= threshold
            })
            .count();
        return (count as f64 / patterns as f64, true);
    }
    let mut rng = CounterRng::new(mix_key(seed, &[STREAM_SIGN_FLIP]));
    let mut count = 0usize;
    for _ in 0..resamples {
        let mut s = 0.0;
        for chunk in d.chunks(64) {
            let bits = rng.next_u64();
            for (i, &v) in chunk.iter().enumerate() {
                s += if bits >> i & 1 == 1 { -v } else { v };
            }
        }
        if s.abs() >= threshold {
            count += 1;
        }
    }
    ((1 + count) as f64 / (1 + resamples) as f64, false)
}

/// How [`hierarchical_bootstrap`] resamples the images within a resample of the seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageDraw {
    /// Nested (two-level) bootstrap: every drawn seed gets its own resample of the images. Treats the seeds'
    /// images as independent samples, so when some images are hard for every seed (they usually are: the
    /// test set is the same) it understates the image-to-image part of the uncertainty.
    PerSeed,
    /// One resample of the image indices per bootstrap replicate, used for every drawn seed: respects that
    /// all seeds were evaluated on the same images (crossed design), so the CI also covers the choice of
    /// test images.
    Shared,
}

/// Mean of per-image differences over several seeds with a hierarchical bootstrap CI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HierarchicalMean {
    /// Metric name.
    pub metric: String,
    /// Number of seeds.
    pub n_seeds: usize,
    /// Images per seed.
    pub n_images: usize,
    /// Grand mean over seeds and images.
    pub mean: f64,
    /// Lower bound of the percentile CI.
    pub ci_lo: f64,
    /// Upper bound of the percentile CI.
    pub ci_hi: f64,
    /// CI level.
    pub level: f64,
    /// How the images were resampled.
    pub image_draw: ImageDraw,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Seed of the random draws.
    pub seed: u64,
}

/// Mean and CI of `per_seed` (one vector of per-image differences b − a per training seed, all on the same
/// images in the same order). Each of `o.resamples` replicates draws S seeds with replacement, then n images
/// with replacement as `image_draw` says, and takes the mean of the S·n drawn values; the CI is the central
/// `o.level` percentile interval of those means. Needs ≥ 2 seeds with the same number (≥ 2) of finite values.
pub fn hierarchical_bootstrap<S: AsRef<[f64]>>(
    metric: &str,
    per_seed: &[S],
    o: &PairedOptions,
    image_draw: ImageDraw,
) -> Result<HierarchicalMean> {
    o.validate()?;
    let n_seeds = per_seed.len();
    ensure!(
        n_seeds >= 2,
        "{metric}: a hierarchical bootstrap needs at least 2 seeds, got {n_seeds}"
    );
    let n = per_seed[0].as_ref().len();
    for (s, v) in per_seed.iter().enumerate() {
        let v = v.as_ref();
        ensure!(
            v.len() == n,
            "{metric}: seed {s} has {} per-image values but seed 0 has {n}; \
             every seed must be evaluated on the same images",
            v.len()
        );
        check_values(metric, &format!("seed {s}"), v)?;
    }
    let grand = per_seed.iter().map(|v| v.as_ref().iter().sum::<f64>()).sum::<f64>() / (n_seeds * n) as f64;
    let mut rng = CounterRng::new(mix_key(o.seed, &[STREAM_HIERARCHICAL]));
    let mut images = vec![0usize; n];
    let mut means: Vec<f64> = (0..o.resamples)
        .map(|_| {
            let seeds: Vec<usize> = (0..n_seeds).map(|_| rng.below(n_seeds as u64) as usize).collect();
            let mut total = 0.0;
            for (k, &s) in seeds.iter().enumerate() {
                if k == 0 || image_draw == ImageDraw::PerSeed {
                    images.iter_mut().for_each(|i| *i = rng.below(n as u64) as usize);
                }
                let v = per_seed[s].as_ref();
                total += images.iter().map(|&i| v[i]).sum::<f64>();
            }
            total / (n_seeds * n) as f64
        })
        .collect();
    let (ci_lo, ci_hi) = percentile_ci(&mut means, o.level);
    Ok(HierarchicalMean {
        metric: metric.to_string(),
        n_seeds,
        n_images: n,
        mean: grand,
        ci_lo,
        ci_hi,
        level: o.level,
        image_draw,
        resamples: o.resamples,
        seed: o.seed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_sign_flip_small_cases_by_hand() {
        // d = [1, 2, 3]: |S| = 6 is reached only by +++ and −−− → 2/8.
        assert_eq!(sign_flip_p_value(&[1.0, 2.0, 3.0], 1, 0), (0.25, true));
        // d = [1, 1]: |S| = 2 by ++ and −− → 1/2; d = [1, −1]: S = 0, every pattern ties → 1.
        assert_eq!(sign_flip_p_value(&[1.0, 1.0], 1, 0).0, 0.5);
        assert_eq!(sign_flip_p_value(&[1.0, -1.0], 1, 0).0, 1.0);
        // d = [3, 1, 1, 1]: |S| = 6; patterns with |S*| ≥ 6: ++++ (6), and their negations → 2/16; +−++ gives 4.
        assert_eq!(sign_flip_p_value(&[3.0, 1.0, 1.0, 1.0], 1, 0).0, 2.0 / 16.0);
        // Ties in binary data: d = [1, 1, 0, 0]: S = 2, four patterns of the zeros × (++, −−) → 8/16.
        assert_eq!(sign_flip_p_value(&[1.0, 1.0, 0.0, 0.0], 1, 0).0, 0.5);
    }

    #[test]
    fn paired_random_flips_approach_the_exact_value() {
        // The same 16 differences through the exact and the random path (forced by padding with zeros, which
        // change no |S*|): the random estimate is within 4 sd of the exact p.
        let d: Vec<f64> = (0..16).map(|i| ((i * 7 % 11) as f64 - 4.0) / 10.0).collect();
        let (exact, is_exact) = sign_flip_p_value(&d, 1, 0);
        assert!(is_exact);
        let mut padded = d.clone();
        padded.resize(40, 0.0);
        let b = 20_000;
        let (mc, is_exact) = sign_flip_p_value(&padded, b, 3);
        assert!(!is_exact);
        let sd = (exact * (1.0 - exact) / b as f64).sqrt();
        assert!(
            (mc - exact).abs() < 4.0 * sd + 1.0 / b as f64,
            "exact {exact}, random {mc}"
        );
        assert!(exact > 0.01 && exact < 0.99, "pick data with a testable p: {exact}");
    }

    #[test]
    fn paired_difference_fields_and_reproducibility() {
        let a: Vec<f64> = (0..30).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(i, x)| x + 0.1 + 0.05 * (i as f64).cos())
            .collect();
        let o = PairedOptions::default();
        let r = PairedDifference::compute("m", &a, &b, &o).unwrap();
        assert_eq!(r, PairedDifference::compute("m", &a, &b, &o).unwrap());
        assert!((r.diff - (r.mean_b - r.mean_a)).abs() < 1e-12);
        assert!(r.ci_lo < r.diff && r.diff < r.ci_hi && r.ci_lo > 0.0);
        assert_eq!(r.p_value, 1.0 / 10_001.0);
        assert_eq!((r.n_b_higher, r.n_a_higher, r.p_exact), (30, 0, false));
        let other = PairedDifference::compute("m", &a, &b, &PairedOptions { seed: 1, ..o }).unwrap();
        assert_ne!(other.ci_lo, r.ci_lo);
    }

    #[test]
    fn paired_hierarchical_rejects_bad_shapes() {
        let o = PairedOptions::default();
        let one = [vec![1.0, 2.0]];
        assert!(hierarchical_bootstrap("m", &one, &o, ImageDraw::Shared).is_err());
        let ragged = [vec![1.0, 2.0], vec![1.0]];
        let e = hierarchical_bootstrap("m", &ragged, &o, ImageDraw::PerSeed).unwrap_err();
        assert!(e.to_string().contains("seed 1"), "{e}");
        let constant = [vec![0.5; 4], vec![0.5; 4]];
        let h = hierarchical_bootstrap("m", &constant, &o, ImageDraw::PerSeed).unwrap();
        assert_eq!((h.mean, h.ci_lo, h.ci_hi), (0.5, 0.5, 0.5));
    }
}
