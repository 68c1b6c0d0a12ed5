//! Calibration checks of the synthetic world (`docs/synthetic-world.md` §6). Each test asserts a number and
//! prints it. Cheap checks run on `tiny`; statistical ones on `demo` (GOD design: 1,200 paired trials,
//! 50 test images × 35 repeats; 64 px, 2,400 voxels), built once and shared.
use ndarray::{Array1, Array2, ArrayView1, Axis};
use std::sync::OnceLock;
use vox2pix_synth::cortex::Area;
use vox2pix_synth::taxonomy::Taxonomy;
use vox2pix_synth::world::{Experiment, Splits, World, WorldConfig};

fn tiny() -> &'static (World, Experiment) {
    static W: OnceLock<(World, Experiment)> = OnceLock::new();
    W.get_or_init(|| {
        let w = World::from_preset("tiny", 1).unwrap();
        let e = w.experiment(&|_| {}).unwrap();
        (w, e)
    })
}

fn demo() -> &'static (World, Experiment) {
    static W: OnceLock<(World, Experiment)> = OnceLock::new();
    W.get_or_init(|| {
        let t = std::time::Instant::now();
        // VOX2PIX_SYNTH_SEED / VOX2PIX_SYNTH_PRESET re-run the statistical checks on another world (robustness
        // sweeps, or the full GOD-sized `default` preset).
        let seed = std::env::var("VOX2PIX_SYNTH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(7);
        let preset = std::env::var("VOX2PIX_SYNTH_PRESET").unwrap_or_else(|_| "demo".into());
        let w = World::from_preset(&preset, seed).unwrap();
        let e = w.experiment(&|_| {}).unwrap();
        eprintln!("{preset} world + experiment: {:.1} s", t.elapsed().as_secs_f64());
        (w, e)
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "median of nothing");
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn pearson(a: ArrayView1<f32>, b: ArrayView1<f32>) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|&x| x as f64).sum::<f64>() / n,
        b.iter().map(|&x| x as f64).sum::<f64>() / n,
    );
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa > 0.0 && sbb > 0.0 {
        sab / (saa * sbb).sqrt()
    } else {
        0.0
    }
}

fn voxels_of(world: &World, areas: &[Area], visual_only: bool) -> Vec<usize> {
    world
        .cortex()
        .voxels()
        .iter()
        .enumerate()
        .filter(|(_, v)| areas.contains(&v.area) && (!visual_only || v.snr > 0.0))
        .map(|(i, _)| i)
        .collect()
}

/// #1: same (seed, role, class, instance) → identical image and responses; another seed differs.
#[test]
fn c01_determinism() {
    let (w, e) = tiny();
    let w2 = World::from_preset("tiny", 1).unwrap();
    let e2 = w2.experiment(&|_| {}).unwrap();
    assert!(e.dataset == e2.dataset, "same seed must give an identical dataset");
    assert_eq!(e.raw_test, e2.raw_test);
    let img = w.test_image(3);
    assert_eq!(w.render(img).rgb, w2.render(img).rgb);
    assert_eq!(w.noiseless(&[img]), w2.noiseless(&[img]));
    let w3 = World::from_preset("tiny", 2).unwrap();
    let e3 = w3.experiment(&|_| {}).unwrap();
    let diff = (&e.raw_train - &e3.raw_train).mapv(f32::abs).mean().unwrap_or(0.0);
    println!("#1 determinism: identical for seed 1 twice; mean |Δ raw| seed 1 vs 2 = {diff:.3}");
    assert!(diff > 0.1, "different seeds must give different data");
    assert_ne!(e.dataset.train_images.pixels, e3.dataset.train_images.pixels);
}

/// #2: test classes never in paired training, unpaired or distractor streams; backbone classes = non-test;
/// the test instance is not among its class's exemplars.
#[test]
fn c02_split_hygiene() {
    let (w, e) = tiny();
    let s = &w.splits;
    let test: std::collections::BTreeSet<u32> = s.test_classes.iter().copied().collect();
    assert_eq!(test.len(), w.config.test_classes);
    for &c in e.dataset.train_images.class_ids.as_ref().unwrap() {
        assert!(!test.contains(&(c as u32)), "paired training image of test class {c}");
    }
    let test_ids: Vec<u32> = e
        .dataset
        .test_images
        .class_ids
        .as_ref()
        .unwrap()
        .iter()
        .map(|&c| c as u32)
        .collect();
    assert_eq!(test_ids, s.test_classes);
    for i in 0..w.unpaired_len() {
        assert!(!test.contains(&w.unpaired_ref(i).class), "unpaired image {i}");
    }
    for i in 0..w.config.distractors {
        assert!(!test.contains(&w.distractor_ref(i).class), "distractor {i}");
    }
    let all: Vec<u32> = (0..w.config.classes as u32).collect();
    let backbone: Vec<u32> = all.iter().copied().filter(|c| !test.contains(c)).collect();
    assert_eq!(s.non_test_classes, backbone);
    // Distinct images across roles: a test image never reappears as an exemplar of its own class.
    let mut checked = 0;
    for i in 0..w.config.test_classes {
        let t = w.render(w.test_image(i));
        for k in 0..w.config.exemplars_per_class {
            let ex = w.exemplar(s.test_classes[i], k);
            assert_ne!(
                ex.rgb, t.rgb,
                "exemplar {k} of test class {} equals the test image",
                s.test_classes[i]
            );
            checked += 1;
        }
    }
    // Strict switch: paired classes leave the unpaired pool.
    let strict = World::new(
        WorldConfig::resolve("tiny", &["unpaired_excludes_paired=true".into()]).unwrap(),
        1,
    )
    .unwrap();
    for i in 0..strict.unpaired_len() {
        let c = strict.unpaired_ref(i).class;
        assert!(!strict.splits.is_test(c) && strict.splits.paired_classes.binary_search(&c).is_err());
    }
    // Default-sized splits: 50 test / 150 paired, disjoint, 5 / 15 per super-category.
    let tax = Taxonomy::new(0, 1030);
    let d = Splits::new(&tax, 0, 50, 150);
    let mut per = [[0usize; 2]; 10];
    for &c in &d.test_classes {
        per[tax.super_of(c).index()][0] += 1;
        assert!(d.paired_classes.binary_search(&c).is_err() && d.non_test_classes.binary_search(&c).is_err());
    }
    for &c in &d.paired_classes {
        per[tax.super_of(c).index()][1] += 1;
    }
    assert!(per.iter().all(|p| *p == [5, 15]), "{per:?}");
    println!(
        "#2 split hygiene: {} unpaired + {} distractors checked, {checked} test-class exemplars differ from the test image",
        w.unpaired_len(),
        w.config.distractors
    );
}

/// #7: raw per-run means differ (run offsets, between-run SD > 0.3 noise SD); after per-run z-scoring every
/// run has mean 0, SD 1 per voxel.
#[test]
fn c07_run_effects() {
    let (_w, e) = tiny();
    // Test runs show every test image once, so run means differ only by run effects + noise/n.
    let runs: Vec<u32> = e.test_trials.iter().map(|t| t.run).collect();
    let n_runs = *runs.iter().max().unwrap() as usize;
    let per_run = runs.len() / n_runs;
    let v = e.raw_test.ncols();
    let mut offset_sd = Vec::new();
    for j in 0..v {
        let means: Vec<f64> = (1..=n_runs as u32)
            .map(|r| {
                let rows: Vec<f64> = (0..runs.len())
                    .filter(|&t| runs[t] == r)
                    .map(|t| e.raw_test[[t, j]] as f64)
                    .collect();
                rows.iter().sum::<f64>() / rows.len() as f64
            })
            .collect();
        let m = means.iter().sum::<f64>() / n_runs as f64;
        let var = means.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n_runs - 1) as f64;
        // Remove the sampling variance of a run mean of unit-variance noise.
        offset_sd.push((var - 1.0 / per_run as f64).max(0.0).sqrt());
    }
    let med = median(offset_sd);
    println!("#7 run effects: median between-run SD of raw run means (noise removed) = {med:.3} noise SD");
    assert!(med > 0.3, "between-run SD {med} must exceed 0.3 noise SD");
    let s = &e.dataset.subject;
    let mut worst: f64 = 0.0;
    for (y, rs) in [
        (&s.y_train, s.train_runs.as_ref().unwrap()),
        (&s.y_test, s.test_runs.as_ref().unwrap()),
    ] {
        for r in rs.iter().copied().collect::<std::collections::BTreeSet<_>>() {
            let rows: Vec<usize> = (0..rs.len()).filter(|&t| rs[t] == r).collect();
            let sub = y.select(Axis(0), &rows);
            for col in sub.columns() {
                let m = col.iter().map(|&x| x as f64).sum::<f64>() / col.len() as f64;
                let sd = (col.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / col.len() as f64).sqrt();
                worst = worst.max(m.abs()).max((sd - 1.0).abs());
            }
        }
    }
    println!("#7 after per-run z-scoring: max |mean| / |SD − 1| over runs and voxels = {worst:.2e}");
    assert!(worst < 1e-4);
}

/// #5: calc_snr ≈ SNR² + 1/35 (median ratio per area within ±15 %); ncsnr recovers SNR within ±15 %.
#[test]
fn c05_snr_recovery() {
    let (w, e) = demo();
    let s = &e.dataset.subject;
    let reps = w.config.test_repeats as f64;
    for area in Area::ALL {
        let idx = voxels_of(w, &[area], false);
        if idx.is_empty() {
            continue;
        }
        let vox = w.cortex().voxels();
        let ratio = median(
            idx.iter()
                .map(|&j| s.snr[j] as f64 / (vox[j].snr.powi(2) + 1.0 / reps))
                .collect(),
        );
        let vis = voxels_of(w, &[area], true);
        let nc = median(vis.iter().map(|&j| e.ncsnr[j] as f64 / vox[j].snr).collect());
        println!(
            "#5 {:>9}: median calc_snr / (SNR² + 1/35) = {ratio:.3}; median ncsnr / SNR = {nc:.3}",
            area.name()
        );
        assert!((ratio - 1.0).abs() <= 0.15, "{}: calc_snr ratio {ratio}", area.name());
        assert!((nc - 1.0).abs() <= 0.15, "{}: ncsnr ratio {nc}", area.name());
    }
}

/// #6: NC(1) of visual voxels within 0–25 % (median), median NC(35) of the better half within the target band,
/// and the estimate from repeats tracks the analytic NC(35) = 100·SNR²/(SNR² + 1/35) voxel by voxel.
///
/// The band's upper end is 95 %, not the spec's 90 %: the spec's own (T) parameters (per-area SNR medians
/// 0.5 … 0.25, log-SD 0.5) put the expected better-half median at ≈ 91.7 % for the demo area sizes and
/// ≈ 90.5 % for default (92.0 % for this seed's draw), so 90 % cannot hold for them. The tight check is the
/// voxel-level agreement of the estimate with the analytic value (± 3 points on the better-half median).
#[test]
fn c06_noise_ceiling() {
    let (w, e) = demo();
    let vis = voxels_of(w, &Area::ALL, true);
    let nc1: Vec<f64> = vis
        .iter()
        .map(|&j| 100.0 * (e.ncsnr[j] as f64).powi(2) / ((e.ncsnr[j] as f64).powi(2) + 1.0))
        .collect();
    let analytic = w.cortex().analytic_noise_ceiling(w.config.test_repeats);
    let better_half = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        median(v[v.len() / 2..].to_vec())
    };
    let measured = better_half(vis.iter().map(|&j| e.dataset.subject.noise_ceiling[j] as f64).collect());
    let expected = better_half(vis.iter().map(|&j| analytic[j] as f64).collect());
    let diffs: Vec<f64> = vis
        .iter()
        .map(|&j| (e.dataset.subject.noise_ceiling[j] - analytic[j]).abs() as f64)
        .collect();
    let med1 = median(nc1);
    let med_diff = median(diffs);
    let r = pearson(
        Array1::from(
            vis.iter()
                .map(|&j| e.dataset.subject.noise_ceiling[j])
                .collect::<Vec<_>>(),
        )
        .view(),
        Array1::from(vis.iter().map(|&j| analytic[j]).collect::<Vec<_>>()).view(),
    );
    println!(
        "#6 noise ceiling: median NC(1) = {med1:.1} %, median NC(35) of better half = {measured:.1} % (analytic \
         {expected:.1} %), |estimate − analytic| median {med_diff:.2} points, r = {r:.3}"
    );
    assert!((0.0..=25.0).contains(&med1));
    assert!((50.0..=95.0).contains(&measured) && (measured - expected).abs() < 3.0);
    assert!(med_diff < 5.0 && r > 0.9);
}

/// #8: the top k principal components of repeat residuals (k = shared factors) carry ≈ 30 % ± 10 % of noise.
#[test]
fn c08_shared_noise() {
    let (w, e) = demo();
    let s = &e.dataset.subject;
    let mut resid = s.y_test.clone();
    for (t, mut row) in resid.rows_mut().into_iter().enumerate() {
        row -= &s.y_test_avg.row(s.test_labels[t] as usize);
    }
    let k = w.config.cortex.shared_factors;
    let frac = top_k_variance_fraction(&resid, k, 60);
    println!(
        "#8 shared noise: top {k} PCs of repeat residuals carry {:.1} % of noise variance",
        100.0 * frac
    );
    assert!((0.2..=0.4).contains(&frac), "{frac}");
}

/// Fraction of ‖R‖² captured by the top-k right singular subspace (subspace iteration on RᵀR).
fn top_k_variance_fraction(r: &Array2<f32>, k: usize, iters: usize) -> f64 {
    let v = r.ncols();
    let mut q = Array2::<f32>::from_shape_fn((v, k), |(i, j)| (((i * 31 + j * 17) % 97) as f32 / 97.0) - 0.5);
    for _ in 0..iters {
        q = r.t().dot(&r.dot(&q));
        orthonormalise(&mut q);
    }
    let captured = r.dot(&q).mapv(|x| (x as f64).powi(2)).sum();
    captured / r.mapv(|x| (x as f64).powi(2)).sum()
}

fn orthonormalise(q: &mut Array2<f32>) {
    for j in 0..q.ncols() {
        for i in 0..j {
            let d = q.column(i).dot(&q.column(j));
            let qi = q.column(i).to_owned();
            q.column_mut(j).scaled_add(-d, &qi);
        }
        let n = q.column(j).dot(&q.column(j)).sqrt().max(1e-20);
        q.column_mut(j).mapv_inplace(|x| x / n);
    }
}

/// #9: the true model's predictions reach r / sqrt(NC(35)/100) of 0.9–1.1 (median) on Y_test_avg.
#[test]
fn c09_oracle_encoder() {
    let (w, e) = demo();
    let analytic = w.cortex().analytic_noise_ceiling(w.config.test_repeats);
    let idx: Vec<usize> = (0..w.cortex().n_voxels()).filter(|&j| analytic[j] >= 20.0).collect();
    let ratios: Vec<f64> = idx
        .iter()
        .map(|&j| {
            pearson(e.noiseless_test.column(j), e.dataset.subject.y_test_avg.column(j))
                / (analytic[j] as f64 / 100.0).sqrt()
        })
        .collect();
    let med = median(ratios);
    println!(
        "#9 oracle encoder: median r / sqrt(NC) = {med:.3} over {} voxels with NC(35) ≥ 20 %",
        idx.len()
    );
    assert!((0.9..=1.1).contains(&med));
}

/// Ridge predictions of Y_test_avg from Gabor-energy features (dual form), `[n_test, V]`.
fn ridge_gabor_predictions(w: &World, e: &Experiment) -> Array2<f32> {
    let spec = w.cortex().feature_spec();
    let feats = |set: &vox2pix_formats::ImageSet| -> Array2<f32> {
        let n = set.pixels.shape()[0];
        let s = w.config.image_size;
        let rows: Vec<Vec<f32>> = (0..n)
            .map(|i| {
                let rgb: Vec<f32> = set
                    .pixels
                    .index_axis(Axis(0), i)
                    .iter()
                    .map(|&p| p as f32 / 255.0)
                    .collect();
                spec.compute(&rgb, &vec![0.0; s * s]).gabor
            })
            .collect();
        Array2::from_shape_fn((n, rows[0].len()), |(i, f)| rows[i][f])
    };
    let (mut xtr, mut xte) = (feats(&e.dataset.train_images), feats(&e.dataset.test_images));
    let mean = xtr.mean_axis(Axis(0)).unwrap();
    let sd = xtr.std_axis(Axis(0), 0.0).mapv(|x| x.max(1e-6));
    for x in [&mut xtr, &mut xte] {
        for mut row in x.rows_mut() {
            row -= &mean;
            row /= &sd;
        }
    }
    let s = &e.dataset.subject;
    // One trial per training image, rows ordered by image: y_train row i is image i's response.
    assert!(s.train_labels.iter().enumerate().all(|(i, &l)| l == i as i64));
    ridge_smoother(&xtr, &xte).dot(&s.y_train)
}

/// Dual-form ridge smoother M = X_te X_trᵀ (X_tr X_trᵀ + λI)⁻¹ with λ = mean diagonal (so predictions are
/// M · Y_train for any targets), solved by Cholesky.
fn ridge_smoother(xtr: &Array2<f32>, xte: &Array2<f32>) -> Array2<f32> {
    let n = xtr.nrows();
    let mut k = xtr.dot(&xtr.t()).mapv(|x| x as f64);
    let lambda = (0..n).map(|i| k[[i, i]]).sum::<f64>() / n as f64;
    for i in 0..n {
        k[[i, i]] += lambda;
    }
    let l = cholesky(&k);
    let kt = xte.dot(&xtr.t()).mapv(|x| x as f64);
    let mut m = Array2::<f64>::zeros(kt.dim());
    for (i, row) in kt.rows().into_iter().enumerate() {
        m.row_mut(i).assign(&cholesky_solve(&l, row));
    }
    m.mapv(|x| x as f32)
}

fn cholesky(a: &Array2<f64>) -> Array2<f64> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for j in 0..n {
        let mut d = a[[j, j]];
        for k in 0..j {
            d -= l[[j, k]] * l[[j, k]];
        }
        let d = d.sqrt();
        l[[j, j]] = d;
        for i in j + 1..n {
            let mut s = a[[i, j]];
            for k in 0..j {
                s -= l[[i, k]] * l[[j, k]];
            }
            l[[i, j]] = s / d;
        }
    }
    l
}

fn cholesky_solve(l: &Array2<f64>, b: ArrayView1<f64>) -> Array1<f64> {
    let n = l.nrows();
    let mut y = Array1::<f64>::zeros(n);
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[[i, k]] * y[k]).sum();
        y[i] = (b[i] - s) / l[[i, i]];
    }
    let mut x = Array1::<f64>::zeros(n);
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[[k, i]] * x[k]).sum();
        x[i] = (y[i] - s) / l[[i, i]];
    }
    x
}

fn identification_accuracy(measured: &Array2<f32>, predicted: &Array2<f32>, cols: &[usize]) -> f64 {
    let (m, p) = (measured.select(Axis(1), cols), predicted.select(Axis(1), cols));
    let n = m.nrows();
    let correct = (0..n)
        .filter(|&i| {
            let best = (0..n).max_by(|&a, &b| pearson(m.row(i), p.row(a)).total_cmp(&pearson(m.row(i), p.row(b))));
            best == Some(i)
        })
        .count();
    correct as f64 / n as f64
}

/// #10 + #11: a ridge readout from Gabor energy predicts early-visual voxels better than FFA/PPA, and 50-way
/// identification from test-average V1 activity reaches ≥ 80 % (oracle) — the ridge model is reported too.
#[test]
fn c10_c11_naive_encoder_and_identification() {
    let (w, e) = demo();
    let pred = ridge_gabor_predictions(w, e);
    let y = &e.dataset.subject.y_test_avg;
    let r_of = |areas: &[Area]| {
        median(
            voxels_of(w, areas, true)
                .iter()
                .map(|&j| pearson(pred.column(j), y.column(j)))
                .collect(),
        )
    };
    let (r_v1, r_hl) = (r_of(&[Area::V1]), r_of(&[Area::Ffa, Area::Ppa]));
    println!("#10 ridge on Gabor energy (1,200 trials): median test-average r V1 = {r_v1:.3}, FFA+PPA = {r_hl:.3}");
    assert!(r_v1 > 0.2 && r_v1 > r_hl + 0.1, "V1 {r_v1} vs FFA/PPA {r_hl}");
    let v1 = voxels_of(w, &[Area::V1], false);
    let oracle = identification_accuracy(y, &e.noiseless_test, &v1);
    let ridge = identification_accuracy(y, &pred, &v1);
    println!(
        "#11 50-way identification from V1 test averages: oracle {:.0} %, ridge {:.0} %",
        100.0 * oracle,
        100.0 * ridge
    );
    assert!(oracle >= 0.8, "oracle identification {oracle}");
    assert!(ridge >= 0.3, "ridge identification {ridge}");
}

/// #12: super-category decodes from HVC far above chance and better than from V1 (nearest class-mean by
/// correlation, trained on single training trials, tested on test averages).
#[test]
fn c12_area_dissociation() {
    let (w, e) = demo();
    let s = &e.dataset.subject;
    let supers_of = |ids: &Option<Vec<i64>>| -> Vec<usize> {
        ids.as_ref()
            .unwrap()
            .iter()
            .map(|&c| w.taxonomy.super_of(c as u32).index())
            .collect()
    };
    let train_super = supers_of(&e.dataset.train_images.class_ids);
    let test_super = supers_of(&e.dataset.test_images.class_ids);
    let decode = |cols: &[usize]| -> f64 {
        let ytr = s.y_train.select(Axis(1), cols);
        let mut centroids = Array2::<f32>::zeros((10, cols.len()));
        let mut counts = [0f32; 10];
        for (t, &l) in s.train_labels.iter().enumerate() {
            let c = train_super[l as usize];
            let mut row = centroids.row_mut(c);
            row += &ytr.row(t);
            counts[c] += 1.0;
        }
        for (c, mut row) in centroids.rows_mut().into_iter().enumerate() {
            row /= counts[c].max(1.0);
        }
        let yte = s.y_test_avg.select(Axis(1), cols);
        let correct = (0..yte.nrows())
            .filter(|&i| {
                let best = (0..10).max_by(|&a, &b| {
                    pearson(yte.row(i), centroids.row(a)).total_cmp(&pearson(yte.row(i), centroids.row(b)))
                });
                best == Some(test_super[i])
            })
            .count();
        correct as f64 / yte.nrows() as f64
    };
    let hvc = decode(&voxels_of(w, &[Area::Loc, Area::Ffa, Area::Ppa, Area::HvcOther], false));
    let v1 = decode(&voxels_of(w, &[Area::V1], false));
    println!(
        "#12 super-category (10-way, chance 10 %) from test averages: HVC {:.0} %, V1 {:.0} %",
        100.0 * hvc,
        100.0 * v1
    );
    assert!(hvc >= 0.4, "HVC {hvc}");
    assert!(hvc > v1, "HVC {hvc} vs V1 {v1}");

    // Low-level statistics with a retinotopic layout: the RMS luminance contrast of each image quadrant minus
    // the mean over its quadrants, read out linearly (ridge on a ROI's voxels, trained on single training
    // trials) and scored by r over the 50 test images, averaged over the 4 quadrants. Small pRFs (LVC) see
    // where the contrast is; HVC's large position-tolerant pRFs mostly do not.
    let quadrant_contrast = |set: &vox2pix_formats::ImageSet| -> Array2<f32> {
        let size = set.pixels.shape()[1];
        let h = size / 2;
        let mut out = Array2::<f32>::zeros((set.pixels.shape()[0], 4));
        for (i, img) in set.pixels.outer_iter().enumerate() {
            for q in 0..4 {
                let (x0, y0) = ((q % 2) * h, (q / 2) * h);
                let mut lum = Vec::with_capacity(h * h);
                for y in y0..y0 + h {
                    for x in x0..x0 + h {
                        let p = img.slice(ndarray::s![y, x, ..]);
                        lum.push((0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0);
                    }
                }
                let m = lum.iter().sum::<f32>() / lum.len() as f32;
                out[[i, q]] = (lum.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / lum.len() as f32).sqrt();
            }
            let mean = out.row(i).sum() / 4.0;
            out.row_mut(i).mapv_inplace(|v| v - mean);
        }
        out
    };
    let target = quadrant_contrast(&e.dataset.train_images); // rows of y_train are in image order
    let c_test = quadrant_contrast(&e.dataset.test_images);
    let readout = |cols: &[usize]| -> f64 {
        let pred = ridge_smoother(&s.y_train.select(Axis(1), cols), &s.y_test_avg.select(Axis(1), cols)).dot(&target);
        (0..4).map(|q| pearson(pred.column(q), c_test.column(q))).sum::<f64>() / 4.0
    };
    let lvc_r = readout(&voxels_of(w, &[Area::V1, Area::V2, Area::V3], false));
    let hvc_r = readout(&voxels_of(w, &[Area::Loc, Area::Ffa, Area::Ppa, Area::HvcOther], false));
    println!("#12 quadrant RMS contrast read out from test averages: mean r LVC = {lvc_r:.3}, HVC = {hvc_r:.3}");
    assert!(lvc_r > 0.3 && lvc_r > hvc_r + 0.15, "LVC {lvc_r} vs HVC {hvc_r}");
}

/// Category selectivity (§4.3): FFA's noiseless response to face-like test images, and PPA's to scene- and
/// building-like ones, exceed their response to the other test images (in units of the response SD).
#[test]
fn c12b_category_selectivity() {
    use vox2pix_synth::taxonomy::SuperCategory;
    let (w, e) = demo();
    let supers: Vec<SuperCategory> = e
        .dataset
        .test_images
        .class_ids
        .as_ref()
        .unwrap()
        .iter()
        .map(|&c| w.taxonomy.super_of(c as u32))
        .collect();
    let selectivity = |area: Area, preferred: &[SuperCategory]| -> f64 {
        let cols = voxels_of(w, &[area], false);
        let mean_over = |pick: &dyn Fn(SuperCategory) -> bool| {
            let rows: Vec<usize> = (0..supers.len()).filter(|&i| pick(supers[i])).collect();
            let sub = e.noiseless_test.select(Axis(0), &rows).select(Axis(1), &cols);
            sub.mean().unwrap() as f64
        };
        mean_over(&|s| preferred.contains(&s)) - mean_over(&|s| !preferred.contains(&s))
    };
    let ffa = selectivity(Area::Ffa, &[SuperCategory::Face]);
    let ppa = selectivity(Area::Ppa, &[SuperCategory::Scene, SuperCategory::Building]);
    let v1_face = selectivity(Area::V1, &[SuperCategory::Face]);
    println!("#12b selectivity (preferred − other, response SDs): FFA faces {ffa:.2}, PPA scenes+buildings {ppa:.2}, V1 faces {v1_face:.2}");
    assert!(ffa > 1.0 && ppa > 0.5, "FFA {ffa}, PPA {ppa}");
    assert!(ffa > v1_face.abs() + 0.5);
}
