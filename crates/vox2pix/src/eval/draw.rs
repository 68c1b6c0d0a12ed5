//! Seeded random draws for the trial-based metrics: distinct distractor subsets and bootstrap resamples.
//!
//! Every stream is a pure function of (seed, stream ids), so each test image's trials can be drawn in parallel
//! and reproduced on their own, on any device. (A deliberately small SplitMix64 generator, kept here so the
//! metrics do not change when the synthetic world's generator evolves.)
use serde::{Deserialize, Serialize};

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64 stream keyed by a seed and stream ids (e.g. metric, n, image index).
#[derive(Clone, Debug)]
pub struct Stream {
    state: u64,
}

impl Stream {
    /// The stream for `seed` and `ids`; the same pair always gives the same draws.
    pub fn new(seed: u64, ids: &[u64]) -> Self {
        let mut h = splitmix64(seed ^ GOLDEN);
        for (i, &id) in ids.iter().enumerate() {
            h = splitmix64(h ^ splitmix64(id.wrapping_add((i as u64 + 1).wrapping_mul(GOLDEN))));
        }
        Self { state: h }
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        splitmix64(self.state)
    }

    /// Uniform integer in [0, n), unbiased (Lemire's multiply-shift; the rejection threshold, which needs a
    /// division, is only computed in the rare case that can need it). `n` must be > 0.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut m = (self.next_u64() as u128) * (n as u128);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = (self.next_u64() as u128) * (n as u128);
            }
        }
        (m >> 64) as u64
    }

    /// Moves `k` distinct uniformly drawn elements of `pool` to its front (partial Fisher–Yates) and returns
    /// them. `pool` stays a permutation of itself, so one scratch buffer serves all trials. Requires k ≤ len.
    #[inline]
    pub fn sample_distinct<'a, T>(&mut self, pool: &'a mut [T], k: usize) -> &'a [T] {
        let len = pool.len();
        debug_assert!(k <= len);
        for i in 0..k {
            let j = i + self.below((len - i) as u64) as usize;
            pool.swap(i, j);
        }
        &pool[..k]
    }
}

/// A two-sided confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

/// Percentile with linear interpolation between order statistics (NumPy's default), `q` in [0, 1]; `sorted`
/// must be ascending and non-empty.
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Percentile bootstrap CI of the mean of `values` (one value per test image): `n_boot` resamples of the
/// images with replacement, interval [(1−level)/2, (1+level)/2] of the resampled means. Empty input → NaNs.
pub fn bootstrap_mean_ci(values: &[f64], n_boot: usize, level: f64, seed: u64) -> Interval {
    let n = values.len();
    if n == 0 || n_boot == 0 {
        return Interval {
            lo: f64::NAN,
            hi: f64::NAN,
        };
    }
    let mut rng = Stream::new(seed, &[0xB007]);
    let mut means: Vec<f64> = (0..n_boot)
        .map(|_| (0..n).map(|_| values[rng.below(n as u64) as usize]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Interval {
        lo: percentile_sorted(&means, tail),
        hi: percentile_sorted(&means, 1.0 - tail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_draws_are_uniform_and_reproducible() {
        let mut pool: Vec<u32> = (0..10).collect();
        let mut counts = [0usize; 10];
        let mut rng = Stream::new(7, &[1, 2]);
        let trials = 20_000;
        for _ in 0..trials {
            let s = rng.sample_distinct(&mut pool, 3).to_vec();
            assert!(s[0] != s[1] && s[1] != s[2] && s[0] != s[2]);
            for v in s {
                counts[v as usize] += 1;
            }
        }
        // Each element is drawn with probability 3/10: expected 6000, sd ≈ 65.
        for c in counts {
            assert!((c as f64 - 6000.0).abs() < 350.0, "{counts:?}");
        }
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = Stream::new(9, &[4]);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..5)
            .map({
                let mut r = Stream::new(9, &[4]);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(Stream::new(9, &[4]).next_u64(), Stream::new(9, &[5]).next_u64());
    }

    #[test]
    fn bootstrap_ci_matches_normal_approximation() {
        // 400 Bernoulli(0.3)-like values: the bootstrap CI of the mean ≈ mean ± 1.96·sd/√n.
        let values: Vec<f64> = (0..400).map(|i| if i % 10 < 3 { 1.0 } else { 0.0 }).collect();
        let ci = bootstrap_mean_ci(&values, 4000, 0.95, 1);
        let half = 1.96 * (0.3f64 * 0.7 / 400.0).sqrt();
        assert!((ci.lo - (0.3 - half)).abs() < 0.006, "{ci:?}");
        assert!((ci.hi - (0.3 + half)).abs() < 0.006, "{ci:?}");
        assert_eq!(percentile_sorted(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
    }
}
