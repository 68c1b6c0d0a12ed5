//! fMRI preprocessing (`docs/method.md` §1.3): per-run z-scoring, test-repeat averaging, the random
//! repeat-subset average used as augmentation, the Weizmann `calc_snr` variance ratio and the NSD/GLMsingle
//! noise-ceiling SNR. Statistics accumulate in f64 so that 1,750-trial sums do not lose precision in f32.
use anyhow::{bail, Result};
use ndarray::{Array1, Array2};
use std::collections::BTreeMap;

/// Standardises every voxel within every run to mean 0 and population SD 1, in place
/// (SSRC `kamitani_data_handler.get_data(normalize=1)`).
///
/// NaN samples are ignored when the run's mean and SD are computed and become 0; a voxel that is
/// constant within a run (SD 0) becomes 0 for that run, as NumPy's `nan_to_num` of 0/0 would give.
/// `runs[t]` is the run id of row `t`; run ids need not be contiguous or sorted.
///
/// # Panics
/// If `runs.len()` differs from the number of rows (a programming error: callers build both together).
pub fn zscore_per_run(y: &mut Array2<f32>, runs: &[u32]) {
    assert_eq!(runs.len(), y.nrows(), "zscore_per_run: one run id per row is required");
    let mut rows_of_run: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (t, &r) in runs.iter().enumerate() {
        rows_of_run.entry(r).or_default().push(t);
    }
    let v = y.ncols();
    // Row-major passes over each run's rows (the array is [trials, voxels]), accumulating all voxels at once.
    for rows in rows_of_run.values() {
        let (mut n, mut sum, mut ss) = (vec![0usize; v], vec![0f64; v], vec![0f64; v]);
        for &t in rows {
            for (j, &x) in y.row(t).iter().enumerate() {
                if x.is_finite() {
                    n[j] += 1;
                    sum[j] += x as f64;
                }
            }
        }
        let mean: Vec<f64> = sum
            .iter()
            .zip(&n)
            .map(|(&s, &k)| if k > 0 { s / k as f64 } else { 0.0 })
            .collect();
        for &t in rows {
            for (j, &x) in y.row(t).iter().enumerate() {
                if x.is_finite() {
                    ss[j] += (x as f64 - mean[j]).powi(2);
                }
            }
        }
        let sd: Vec<f64> = ss
            .iter()
            .zip(&n)
            .map(|(&q, &k)| if k > 0 { (q / k as f64).sqrt() } else { 0.0 })
            .collect();
        for &t in rows {
            for (j, x) in y.row_mut(t).iter_mut().enumerate() {
                *x = if x.is_finite() && sd[j] > 0.0 {
                    ((*x as f64 - mean[j]) / sd[j]) as f32
                } else {
                    0.0
                };
            }
        }
    }
}

/// Mean of each image's repeats: row `i` of the result averages the rows of `y` whose label is `i`.
/// Errors when the lengths disagree, a label is outside `0..n_images`, or an image has no trial.
pub fn average_repeats(y: &Array2<f32>, labels: &[i64], n_images: usize) -> Result<Array2<f32>> {
    let groups = group_rows(y.nrows(), labels, n_images)?;
    let mut out = Array2::<f32>::zeros((n_images, y.ncols()));
    for (i, rows) in groups.iter().enumerate() {
        if rows.is_empty() {
            bail!(
                "image {i} has no trial among the {} labels; every image in 0..{n_images} needs at least one",
                labels.len()
            );
        }
        let mut acc = vec![0f64; y.ncols()];
        for &t in rows {
            for (a, &v) in acc.iter_mut().zip(y.row(t)) {
                *a += v as f64;
            }
        }
        for (o, a) in out.row_mut(i).iter_mut().zip(acc) {
            *o = (a / rows.len() as f64) as f32;
        }
    }
    Ok(out)
}

/// One augmentation draw (SSR `test_avg_qntl`): the mean of a random subset of image `image`'s repeats,
/// of size `max(1, floor(fraction · n_repeats))`, drawn without replacement from a generator seeded by
/// `rng_seed`. Returns zeros of length V when the image has no trial.
pub fn average_random_subset(
    y: &Array2<f32>,
    labels: &[i64],
    image: usize,
    fraction: f64,
    rng_seed: u64,
) -> Array1<f32> {
    let mut rows: Vec<usize> = (0..y.nrows().min(labels.len()))
        .filter(|&t| labels[t] == image as i64)
        .collect();
    let mut out = Array1::<f32>::zeros(y.ncols());
    if rows.is_empty() {
        return out;
    }
    let k = ((fraction.clamp(0.0, 1.0) * rows.len() as f64).floor() as usize).max(1);
    // Partial Fisher–Yates: the first k entries become a uniform subset.
    let mut rng = SplitMix64(rng_seed);
    for i in 0..k {
        let j = i + (rng.next() % (rows.len() - i) as u64) as usize;
        rows.swap(i, j);
    }
    let mut acc = vec![0f64; y.ncols()];
    for &t in &rows[..k] {
        for (a, &v) in acc.iter_mut().zip(y.row(t)) {
            *a += v as f64;
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o = (a / k as f64) as f32;
    }
    out
}

/// Per-voxel SNR as SSRC `Utils/gen_functions.py` `calc_snr` defines it: the population variance over images
/// of the repeat averages, divided by the within-image population variance of the repeats averaged over all
/// test trials (so images weigh by their repeat count). For pure signal SNR_v and r repeats its expectation is
/// ≈ SNR_v² + 1/r. A voxel with no within-image variance gets 0 (the ratio is undefined).
///
/// Labels outside `0..n_images` are ignored; use [`average_repeats`] first to validate them.
pub fn calc_snr(y_test: &Array2<f32>, labels: &[i64], n_images: usize) -> Array1<f32> {
    let stats = RepeatStats::new(y_test, labels, n_images);
    let v = y_test.ncols();
    Array1::from_iter((0..v).map(|j| {
        let signal = population_var(stats.image_means.iter().map(|m| m[j]));
        let noise = stats.weighted_within_var[j];
        if noise > 0.0 {
            (signal / noise) as f32
        } else {
            0.0
        }
    }))
}

/// Per-voxel noise-ceiling SNR in the NSD/GLMsingle convention (`docs/method.md` §1.3):
/// σ²_noise = mean over images (with ≥ 2 repeats) of the unbiased within-image variance,
/// var_signal = (population variance of all trials) − σ²_noise, ncsnr = sqrt(max(0, var_signal)) / σ_noise.
/// A voxel without noise (or without any repeated image) gets 0.
pub fn ncsnr(y_test: &Array2<f32>, labels: &[i64], n_images: usize) -> Array1<f32> {
    let stats = RepeatStats::new(y_test, labels, n_images);
    let v = y_test.ncols();
    let used: Vec<usize> = (0..y_test.nrows().min(labels.len()))
        .filter(|&t| labels[t] >= 0 && (labels[t] as usize) < n_images)
        .collect();
    Array1::from_iter((0..v).map(|j| {
        let noise_var = stats.unbiased_within_var[j];
        if noise_var.is_nan() || noise_var <= 0.0 {
            return 0.0;
        }
        let total_var = population_var(used.iter().map(|&t| y_test[[t, j]] as f64));
        ((total_var - noise_var).max(0.0).sqrt() / noise_var.sqrt()) as f32
    }))
}

/// Noise ceiling in percent for an `n`-trial average: NC(n) = 100 · ncsnr² / (ncsnr² + 1/n).
pub fn noise_ceiling(ncsnr: &Array1<f32>, n: usize) -> Array1<f32> {
    let inv_n = 1.0 / n.max(1) as f64;
    ncsnr.mapv(|s| {
        let s2 = (s as f64).powi(2);
        if s2 > 0.0 {
            (100.0 * s2 / (s2 + inv_n)) as f32
        } else {
            0.0
        }
    })
}

/// Row indices of each image's trials, validating lengths and label range.
fn group_rows(n_rows: usize, labels: &[i64], n_images: usize) -> Result<Vec<Vec<usize>>> {
    if labels.len() != n_rows {
        bail!(
            "{} labels for {} trials; there must be one label per trial",
            labels.len(),
            n_rows
        );
    }
    let mut groups = vec![Vec::new(); n_images];
    for (t, &l) in labels.iter().enumerate() {
        if l < 0 || l as usize >= n_images {
            bail!("label {l} of trial {t} is outside 0..{n_images}");
        }
        groups[l as usize].push(t);
    }
    Ok(groups)
}

/// Per-image means and within-image variances shared by [`calc_snr`] and [`ncsnr`].
struct RepeatStats {
    /// Mean of each image that has at least one trial, `[image][voxel]`.
    image_means: Vec<Vec<f64>>,
    /// Σ_images n_i · popvar_i / Σ n_i (calc_snr's "mean over test samples").
    weighted_within_var: Vec<f64>,
    /// Mean over images with n_i ≥ 2 of the ddof-1 variance (GLMsingle's noise variance).
    unbiased_within_var: Vec<f64>,
}

impl RepeatStats {
    fn new(y: &Array2<f32>, labels: &[i64], n_images: usize) -> Self {
        let v = y.ncols();
        let mut groups = vec![Vec::new(); n_images];
        for (t, &l) in labels.iter().enumerate().take(y.nrows()) {
            if l >= 0 && (l as usize) < n_images {
                groups[l as usize].push(t);
            }
        }
        let mut image_means = Vec::new();
        let mut weighted = vec![0f64; v];
        let mut n_total = 0usize;
        let mut unbiased = vec![0f64; v];
        let mut n_repeated = 0usize;
        for rows in groups.iter().filter(|r| !r.is_empty()) {
            let n = rows.len() as f64;
            let mut mean = vec![0f64; v];
            for &t in rows {
                for (m, &x) in mean.iter_mut().zip(y.row(t)) {
                    *m += x as f64;
                }
            }
            mean.iter_mut().for_each(|m| *m /= n);
            let mut ss = vec![0f64; v];
            for &t in rows {
                for ((s, &x), m) in ss.iter_mut().zip(y.row(t)).zip(&mean) {
                    *s += (x as f64 - m).powi(2);
                }
            }
            for j in 0..v {
                weighted[j] += ss[j]; // n_i · (ss/n_i)
            }
            n_total += rows.len();
            if rows.len() >= 2 {
                for j in 0..v {
                    unbiased[j] += ss[j] / (n - 1.0);
                }
                n_repeated += 1;
            }
            image_means.push(mean);
        }
        if n_total > 0 {
            weighted.iter_mut().for_each(|w| *w /= n_total as f64);
        }
        if n_repeated > 0 {
            unbiased.iter_mut().for_each(|u| *u /= n_repeated as f64);
        }
        RepeatStats {
            image_means,
            weighted_within_var: weighted,
            unbiased_within_var: unbiased,
        }
    }
}

fn population_var(xs: impl Iterator<Item = f64> + Clone) -> f64 {
    let (n, sum) = xs.clone().fold((0usize, 0f64), |(n, s), x| (n + 1, s + x));
    if n == 0 {
        return 0.0;
    }
    let mean = sum / n as f64;
    xs.map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64
}

/// SplitMix64 (Steele et al. 2014): a tiny, well-mixed generator, so the augmentation draw is reproducible
/// without a `rand` dependency.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn zscore_gives_mean0_sd1_per_run_and_zero_for_constant_and_nan() {
        // Two runs with different offsets and gains; voxel 1 is constant in run 0; one NaN in run 1.
        let mut y = array![
            [1.0f32, 5.0],
            [2.0, 5.0],
            [3.0, 5.0],
            [100.0, 1.0],
            [300.0, f32::NAN],
            [200.0, 3.0],
        ];
        let runs = [0u32, 0, 0, 7, 7, 7];
        zscore_per_run(&mut y, &runs);
        for run_rows in [[0usize, 1, 2], [3, 4, 5]] {
            let col0: Vec<f64> = run_rows.iter().map(|&t| y[[t, 0]] as f64).collect();
            let mean = col0.iter().sum::<f64>() / 3.0;
            let sd = (col0.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
            assert!(mean.abs() < 1e-6 && (sd - 1.0).abs() < 1e-6, "mean {mean} sd {sd}");
        }
        // Independent check of one value: (1 - 2) / sqrt(2/3).
        assert!((y[[0, 0]] as f64 + 1.0 / (2.0f64 / 3.0).sqrt()).abs() < 1e-6);
        assert_eq!([y[[0, 1]], y[[1, 1]], y[[2, 1]]], [0.0, 0.0, 0.0]);
        assert_eq!(y[[4, 1]], 0.0);
        // NaN ignored for the stats: remaining 1 and 3 → -1 and +1.
        assert!((y[[3, 1]] + 1.0).abs() < 1e-6 && (y[[5, 1]] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn average_repeats_means_and_errors() {
        let y = array![[1.0f32], [3.0], [10.0], [5.0]];
        let avg = average_repeats(&y, &[0, 0, 1, 0], 2).unwrap();
        assert_eq!(avg, array![[3.0f32], [10.0]]);
        assert!(average_repeats(&y, &[0, 0, 0, 0], 2)
            .unwrap_err()
            .to_string()
            .contains("image 1"));
        assert!(average_repeats(&y, &[0, 2, 1, 0], 2)
            .unwrap_err()
            .to_string()
            .contains("label 2"));
        assert!(average_repeats(&y, &[0, 1], 2).is_err());
    }

    #[test]
    fn random_subset_size_determinism_and_membership() {
        // Image 0 has 10 repeats with values 0..9 (one voxel); fraction 0.33 → 3 repeats.
        let y = Array2::from_shape_fn((12, 1), |(t, _)| t as f32);
        let mut labels = vec![0i64; 10];
        labels.extend([1, 1]);
        let a = average_random_subset(&y, &labels, 0, 0.33, 42);
        assert_eq!(a, average_random_subset(&y, &labels, 0, 0.33, 42));
        let means: std::collections::BTreeSet<i64> = (0..50)
            .map(|s| (average_random_subset(&y, &labels, 0, 0.33, s)[0] * 3.0).round() as i64)
            .collect();
        // Sums of 3 distinct values from 0..9 lie in 3..=24 and several different subsets are drawn.
        assert!(
            means.iter().all(|&s| (3..=24).contains(&s)) && means.len() > 5,
            "{means:?}"
        );
        assert_eq!(average_random_subset(&y, &labels, 0, 1.0, 1)[0], 4.5);
        assert_eq!(average_random_subset(&y, &labels, 0, 0.0, 1).len(), 1);
    }

    #[test]
    fn snr_and_noise_ceiling_match_hand_computation() {
        // 2 images × 2 repeats, 1 voxel: image 0 → {0, 2}, image 1 → {4, 6}.
        let y = array![[0.0f32], [4.0], [2.0], [6.0]];
        let labels = [0i64, 1, 0, 1];
        // means 1 and 5: signal popvar 4; within popvar 1 each → calc_snr 4.
        assert!((calc_snr(&y, &labels, 2)[0] - 4.0).abs() < 1e-6);
        // unbiased within var 2; total popvar of {0,2,4,6} = 5; ncsnr = sqrt(3)/sqrt(2).
        let s = ncsnr(&y, &labels, 2);
        assert!((s[0] as f64 - (1.5f64).sqrt()).abs() < 1e-6);
        let nc = noise_ceiling(&s, 2);
        assert!((nc[0] as f64 - 100.0 * 1.5 / 2.0).abs() < 1e-4);
        assert_eq!(noise_ceiling(&array![0.0f32], 35)[0], 0.0);
        // SNR 0.5 → NC(1) = 20 %, NC(35) ≈ 89.7 % (docs/synthetic-world.md §4.4).
        let nc = noise_ceiling(&array![0.5f32], 1);
        assert!((nc[0] - 20.0).abs() < 1e-4);
        assert!((noise_ceiling(&array![0.5f32], 35)[0] - 89.74).abs() < 0.01);
    }

    /// GOD-sized timing (not a correctness test): `cargo test --release --lib preprocess -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn god_sized_timing() {
        let (n, v) = (1750usize, 5355usize);
        let mut y = Array2::from_shape_fn((n, v), |(t, j)| ((t * 31 + j * 17) % 101) as f32 * 0.1);
        let runs: Vec<u32> = (0..n).map(|t| (t / 50) as u32).collect();
        let labels: Vec<i64> = (0..n).map(|t| (t % 50) as i64).collect();
        let t0 = std::time::Instant::now();
        zscore_per_run(&mut y, &runs);
        let t1 = t0.elapsed();
        let _ = average_repeats(&y, &labels, 50).unwrap();
        let t2 = t0.elapsed();
        let _ = calc_snr(&y, &labels, 50);
        let t3 = t0.elapsed();
        let _ = ncsnr(&y, &labels, 50);
        let t4 = t0.elapsed();
        println!(
            "[1750 x 5355] zscore {:.3}s, average_repeats {:.3}s, calc_snr {:.3}s, ncsnr {:.3}s",
            t1.as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t3 - t2).as_secs_f64(),
            (t4 - t3).as_secs_f64()
        );
    }
}
