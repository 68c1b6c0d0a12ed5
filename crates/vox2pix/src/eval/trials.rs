//! The random-trial engine shared by n-way identification and N-way classification.
//!
//! One trial for item i: candidates = its true column + (n − 1) distinct distractors drawn uniformly from its
//! pool; the true column's rank = number of drawn distractors whose distance is ≤ the true distance (ties count
//! against it, so rank 0 ⇔ strictly nearest). Top-k correct ⇔ rank < k. Only the count of drawn distractors
//! that beat the truth matters, so each item's pool is reduced to one "beats the truth" flag per element and a
//! trial is a partial shuffle of those flags: O(min(n, pool − n)) per trial, no sorting.
use super::draw::Stream;
use anyhow::{bail, Result};
use rayon::prelude::*;

/// Per-item outcome of `trials` random trials at one n.
#[derive(Clone, Debug)]
pub struct ItemTrials {
    /// Fraction of trials with rank < k, one entry per requested k.
    pub hit_rate: Vec<f64>,
    /// Mean normalised rank, rank / (n − 1), 0 = best.
    pub mean_rank_score: f64,
    /// The exact expectation of `hit_rate` over all possible draws (hypergeometric), free of trial noise.
    pub expected_hit_rate: Vec<f64>,
    /// Exact expectation of the normalised rank: (#pool elements that beat the truth) / pool size.
    pub expected_rank_score: f64,
}

/// Rank of the true column among `candidates` (which may or may not include the truth itself): the number of
/// candidates other than `truth` whose distance is ≤ the truth's.
pub fn rank_among(row: &[f64], truth: usize, candidates: &[usize]) -> usize {
    let d = row[truth];
    candidates.iter().filter(|&&c| c != truth && row[c] <= d).count()
}

/// P(rank < k) when n_draw of `pool` elements are drawn without replacement and `better` of them beat the
/// truth: Σ_{r<k} hypergeometric pmf(r).
pub fn hypergeometric_cdf_below(pool: usize, better: usize, n_draw: usize, k: usize) -> f64 {
    if better == 0 {
        return 1.0;
    }
    let worse = pool - better;
    // pmf(0) = C(worse, n) / C(pool, n) = Π_t (worse − t)/(pool − t); then the pmf ratio recursion.
    let mut pmf = 1.0;
    for t in 0..n_draw {
        if t >= worse {
            pmf = 0.0;
            break;
        }
        pmf *= (worse - t) as f64 / (pool - t) as f64;
    }
    let mut total = 0.0;
    let mut r = 0usize;
    loop {
        if r >= k || r > n_draw || r > better {
            break;
        }
        if pmf == 0.0 {
            // pmf(0) underflowed or was impossible: restart from the log-space value at r.
            pmf = hypergeometric_pmf_log(pool, better, n_draw, r).exp();
        }
        total += pmf;
        let (b, n, w) = (better as f64, n_draw as f64, worse as f64);
        let (rf, next) = (r as f64, r as f64 + 1.0);
        let denom = next * (w - n + next);
        pmf = if denom > 0.0 {
            pmf * (b - rf) * (n - rf) / denom
        } else {
            0.0
        };
        r += 1;
    }
    total.min(1.0)
}

fn ln_factorial(n: usize) -> f64 {
    (1..=n).map(|i| (i as f64).ln()).sum()
}

fn hypergeometric_pmf_log(pool: usize, better: usize, n_draw: usize, r: usize) -> f64 {
    let worse = pool - better;
    if r > better || n_draw < r || n_draw - r > worse {
        return f64::NEG_INFINITY;
    }
    let ln_c = |a: usize, b: usize| ln_factorial(a) - ln_factorial(b) - ln_factorial(a - b);
    ln_c(better, r) + ln_c(worse, n_draw - r) - ln_c(pool, n_draw)
}

/// Runs `trials` trials of `n`-way for every row of the row-major `dist` [rows, cols]. `truth[i]` is row i's
/// true column; `pool(i)` lists the columns it may draw distractors from (the truth is removed if present).
/// `stream_tag` separates the random streams of different metrics sharing one seed.
#[allow(clippy::too_many_arguments)]
pub fn run_trials<'p>(
    dist: &[f64],
    cols: usize,
    truth: &[usize],
    pool: &(dyn Fn(usize) -> &'p [usize] + Sync),
    n: usize,
    ks: &[usize],
    trials: usize,
    seed: u64,
    stream_tag: u64,
) -> Result<Vec<ItemTrials>> {
    if n < 2 {
        bail!("n-way with n = {n}: n must be at least 2 (the truth plus one distractor)");
    }
    if trials == 0 {
        bail!("trials per item must be at least 1");
    }
    if let Some(k) = ks.iter().find(|&&k| k == 0) {
        bail!("top-{k}: k must be at least 1");
    }
    let rows = truth.len();
    if dist.len() != rows * cols {
        bail!("distance matrix has {} entries, expected {rows} × {cols}", dist.len());
    }
    (0..rows)
        .into_par_iter()
        .map(|i| {
            let row = &dist[i * cols..(i + 1) * cols];
            let t = truth[i];
            if t >= cols {
                bail!("item {i}: true column {t} is outside the distance matrix ({cols} columns)");
            }
            if let Some(j) = row.iter().position(|d| !d.is_finite()) {
                bail!(
                    "distance matrix row {i}, column {j} is {}; distances must be finite",
                    row[j]
                );
            }
            // 1 where a pool element beats (or ties) the truth.
            let mut flags: Vec<u8> = pool(i)
                .iter()
                .filter(|&&c| c != t)
                .map(|&c| u8::from(row[c] <= row[t]))
                .collect();
            let n_draw = n - 1;
            if flags.len() < n_draw {
                bail!(
                    "item {i}: {n}-way needs {n_draw} distinct distractors but its pool holds only {}; \
                     use a smaller n or a larger distractor pool",
                    flags.len()
                );
            }
            let better = flags.iter().map(|&f| f as usize).sum::<usize>();
            let mut rng = Stream::new(seed, &[stream_tag, n as u64, i as u64]);
            let mut hits = vec![0usize; ks.len()];
            let mut rank_sum = 0usize;
            // Drawing the n − 1 distractors is the same as drawing the pool elements left out; draw whichever
            // set is smaller (999 of 1,029 classes → 30 draws) and count the other through `better`.
            let left_out = flags.len() - n_draw;
            let count = |s: &[u8]| s.iter().map(|&f| f as usize).sum::<usize>();
            for _ in 0..trials {
                let rank = if left_out < n_draw {
                    better - count(rng.sample_distinct(&mut flags, left_out))
                } else {
                    count(rng.sample_distinct(&mut flags, n_draw))
                };
                rank_sum += rank;
                for (h, &k) in hits.iter_mut().zip(ks) {
                    *h += usize::from(rank < k);
                }
            }
            let pool_len = flags.len();
            Ok(ItemTrials {
                hit_rate: hits.iter().map(|&h| h as f64 / trials as f64).collect(),
                mean_rank_score: rank_sum as f64 / (trials * n_draw) as f64,
                expected_hit_rate: ks
                    .iter()
                    .map(|&k| hypergeometric_cdf_below(pool_len, better, n_draw, k))
                    .collect(),
                expected_rank_score: better as f64 / pool_len as f64,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force over all subsets of a small pool.
    fn brute_force(pool: usize, better: usize, n_draw: usize, k: usize) -> f64 {
        let (mut hit, mut total) = (0usize, 0usize);
        for mask in 0u32..(1 << pool) {
            if mask.count_ones() as usize != n_draw {
                continue;
            }
            let rank = (0..better).filter(|b| mask & (1 << b) != 0).count();
            total += 1;
            hit += usize::from(rank < k);
        }
        hit as f64 / total as f64
    }

    #[test]
    fn hypergeometric_matches_enumeration() {
        for (pool, better, n_draw, k) in [(10, 3, 4, 1), (10, 3, 4, 2), (12, 0, 5, 1), (9, 9, 2, 1), (11, 5, 6, 3)] {
            let want = brute_force(pool, better, n_draw, k);
            let got = hypergeometric_cdf_below(pool, better, n_draw, k);
            assert!(
                (got - want).abs() < 1e-12,
                "{pool} {better} {n_draw} {k}: {got} vs {want}"
            );
        }
        // 1000-way over 1,029 classes: pmf(0) underflows and the sum restarts in log space. Reference: the
        // 30 classes left out of the draw must hold ≥ better − k + 1 of the better ones.
        let ln_choose = |n: usize, r: usize| -> f64 { (0..r).map(|i| ((n - i) as f64 / (r - i) as f64).ln()).sum() };
        for (better, k) in [(3, 1), (3, 2), (3, 4), (12, 5), (40, 5)] {
            let want: f64 = (0..=better.min(30))
                .filter(|&j| better - j < k)
                .map(|j| (ln_choose(better, j) + ln_choose(1029 - better, 30 - j) - ln_choose(1029, 30)).exp())
                .sum();
            let got = hypergeometric_cdf_below(1029, better, 999, k);
            assert!(
                (got - want).abs() <= 1e-9 * want.max(1e-300),
                "better {better}, top-{k}: {got} vs {want}"
            );
        }
        assert!(hypergeometric_cdf_below(1029, 3, 999, 1) > 2e-5);
    }

    #[test]
    fn monte_carlo_agrees_with_exact_expectation_and_rejects_bad_input() {
        // 3 rows, 40 columns; row i's truth is column i; distances make 0, 7 and 25 columns beat the truth.
        let cols = 40;
        let mut dist = vec![0.0; 3 * cols];
        for (i, better) in [0usize, 7, 25].iter().enumerate() {
            for c in 0..cols {
                dist[i * cols + c] = if c == i {
                    1.0
                } else if c < i + 1 + better && c > i {
                    0.5
                } else {
                    2.0
                };
            }
        }
        let all: Vec<usize> = (0..cols).collect();
        let pool = |_: usize| all.as_slice();
        let out = run_trials(&dist, cols, &[0, 1, 2], &pool, 5, &[1, 3], 20_000, 3, 0).unwrap();
        assert_eq!(out[0].hit_rate, vec![1.0, 1.0]);
        assert_eq!(out[0].mean_rank_score, 0.0);
        for o in &out {
            for (h, e) in o.hit_rate.iter().zip(&o.expected_hit_rate) {
                assert!((h - e).abs() < 0.015, "{o:?}");
            }
            assert!((o.mean_rank_score - o.expected_rank_score).abs() < 0.01, "{o:?}");
        }
        assert!(run_trials(&dist, cols, &[0, 1, 2], &pool, 41, &[1], 10, 3, 0).is_err());
        assert!(run_trials(&dist, cols, &[0, 1, 99], &pool, 5, &[1], 10, 3, 0).is_err());
        dist[5] = f64::NAN;
        assert!(run_trials(&dist, cols, &[0, 1, 2], &pool, 5, &[1], 10, 3, 0).is_err());
    }
}
