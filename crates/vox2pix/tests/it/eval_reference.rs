//! The eval metrics against independent references produced by `tools/make_eval_fixtures.py`: NumPy
//! (correlations, trial ranks on NumPy-drawn candidate sets, exact expectations, percentiles), scikit-image
//! (SSIM) and the `lpips` package (uncalibrated perceptual distance on the same backbone weights).
use std::collections::{BTreeMap, HashMap};
use tch::{Device, Kind, Tensor};
use vox2pix::eval::encoder::{branch_weight_summary, voxel_correlation};
use vox2pix::eval::perceptual::{paired_perceptual_distance, perceptual_distance_matrix, PerceptualInput, UnitTaps};
use vox2pix::eval::trials::{rank_among, run_trials};
use vox2pix::eval::{pixcorr, ssim, DistractorPool, NWayIdentification, SemanticClassification};
use vox2pix::nn::pearson::{column_corr, corr_matrix, row_corr};

fn load(name: &str) -> HashMap<String, Tensor> {
    let path = crate::helpers::fixture("eval", &format!("{name}.npz"));
    Tensor::read_npz(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .collect()
}

fn vec64(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(&t.to_kind(Kind::Double).contiguous().view([-1])).unwrap()
}

fn vec_usize(t: &Tensor) -> Vec<usize> {
    Vec::<i64>::try_from(&t.to_kind(Kind::Int64).contiguous().view([-1]))
        .unwrap()
        .into_iter()
        .map(|v| v as usize)
        .collect()
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{what}[{i}]: got {g}, want {w} (tol {tol})");
    }
}

#[test]
fn pearson_matches_numpy_corrcoef() {
    let _torch = crate::helpers::torch_lock();
    let f = load("pearson_trials");
    let (a, b) = (&f["a"], &f["b"]);
    assert_close(
        "corr_matrix",
        &vec64(&corr_matrix(a, b).unwrap()),
        &vec64(&f["corr"]),
        1e-12,
    );
    assert_close(
        "row_corr",
        &vec64(&row_corr(a, &b.narrow(0, 0, 6)).unwrap()),
        &vec64(&f["row_corr"]),
        1e-12,
    );
    assert_close(
        "column_corr",
        &vec64(&column_corr(a, &b.narrow(0, 0, 6)).unwrap()),
        &vec64(&f["col_corr"]),
        1e-12,
    );
    // f32 inputs stay accurate to f32 precision
    let r32 = corr_matrix(&a.to_kind(Kind::Float), &b.to_kind(Kind::Float)).unwrap();
    assert_eq!(r32.kind(), Kind::Float);
    assert_close("corr_matrix f32", &vec64(&r32), &vec64(&f["corr"]), 1e-5);
}

/// Ranks on NumPy's candidate sets, per-image accuracy / rank score, and the exact expected accuracy.
fn check_trials(f: &HashMap<String, Tensor>, prefix: &str, ns: &[usize], ks: &[usize], pool: &[usize]) {
    let dist_t = &f[&format!("{prefix}dist")];
    let cols = dist_t.size()[1] as usize;
    let dist = vec64(dist_t);
    let truth = vec_usize(&f[&format!("{prefix}truth")]);
    for &n in ns {
        let cands = vec_usize(&f[&format!("{prefix}cands_{n}")]);
        let ranks = vec_usize(&f[&format!("{prefix}ranks_{n}")]);
        let per_item = ranks.len() / truth.len();
        let mut acc = vec![vec![0.0; truth.len()]; ks.len()];
        let mut rank_score = vec![0.0; truth.len()];
        for (t, (set, &want)) in cands.chunks(n - 1).zip(&ranks).enumerate() {
            let i = t / per_item;
            let rank = rank_among(&dist[i * cols..(i + 1) * cols], truth[i], set);
            assert_eq!(rank, want, "{prefix}{n}-way item {i} trial {}: rank", t % per_item);
            for (j, &k) in ks.iter().enumerate() {
                acc[j][i] += f64::from(u8::from(rank < k)) / per_item as f64;
            }
            rank_score[i] += rank as f64 / (n - 1) as f64 / per_item as f64;
        }
        for (j, &k) in ks.iter().enumerate() {
            assert_close(
                &format!("{prefix}acc_top{k}_{n}"),
                &acc[j],
                &vec64(&f[&format!("{prefix}acc_top{k}_{n}")]),
                1e-12,
            );
        }
        assert_close(
            &format!("{prefix}rankscore_{n}"),
            &rank_score,
            &vec64(&f[&format!("{prefix}rankscore_{n}")]),
            1e-12,
        );
        // Our own draws: exact expectation equals NumPy's subset count; 2,000 trials land within 4 sd of it.
        let pool_of = |_: usize| pool;
        let items = run_trials(&dist, cols, &truth, &pool_of, n, ks, 2000, 9, 1).unwrap();
        let exact = vec64(&f[&format!("{prefix}exact_{n}")]);
        for (i, item) in items.iter().enumerate() {
            for (j, _) in ks.iter().enumerate() {
                let e = exact[i * ks.len() + j];
                assert!(
                    (item.expected_hit_rate[j] - e).abs() < 1e-12,
                    "{prefix}{n}: exact {} vs {e}",
                    item.expected_hit_rate[j]
                );
                let sd = (e * (1.0 - e) / 2000.0).sqrt();
                assert!(
                    (item.hit_rate[j] - e).abs() <= 4.0 * sd + 1e-9,
                    "{prefix}{n}-way item {i}: MC {} vs exact {e}",
                    item.hit_rate[j]
                );
            }
        }
    }
}

#[test]
fn identification_and_classification_trials_match_numpy() {
    let _torch = crate::helpers::torch_lock();
    let f = load("pearson_trials");
    let test_pool: Vec<usize> = (0..8).collect();
    let ext_pool: Vec<usize> = (8..30).collect();
    check_trials(&f, "test_", &[2, 5], &[1], &test_pool);
    check_trials(&f, "ext_", &[2, 5, 10], &[1], &ext_pool);
    check_trials(&f, "cls_", &[10, 40], &[1, 5], &(0..40).collect::<Vec<_>>());

    // The public protocol objects give the same exact expectations as NumPy.
    let cfg = NWayIdentification {
        ns: vec![2, 5, 10],
        trials_per_image: 500,
        ..Default::default()
    };
    let res = cfg
        .evaluate(
            &f["ext_dist"],
            &(0..8).collect::<Vec<_>>(),
            &DistractorPool::Columns(ext_pool),
        )
        .unwrap();
    for r in &res {
        let exact = vec64(&f[&format!("ext_exact_{}", r.n)]);
        let want = exact.iter().sum::<f64>() / exact.len() as f64;
        assert!((r.expected_accuracy - want).abs() < 1e-12, "{}-way", r.n);
        assert!(
            r.accuracy_ci.lo <= r.accuracy && r.accuracy <= r.accuracy_ci.hi,
            "{r:?}"
        );
        assert_eq!(r.pool, "external");
    }
    let truth = vec_usize(&f["cls_truth"]);
    let cls = SemanticClassification {
        ns: vec![10, 40],
        top_ks: vec![1, 5],
        trials_per_image: 500,
        ..Default::default()
    };
    let res = cls.evaluate(&f["cls_emb"], &f["cls_protos"], &truth).unwrap();
    assert_eq!(res.len(), 4);
    for r in &res {
        let exact = vec64(&f[&format!("cls_exact_{}", r.n)]);
        let j = usize::from(r.top_k == 5);
        let want = exact.chunks(2).map(|e| e[j]).sum::<f64>() / truth.len() as f64;
        assert!(
            (r.expected_accuracy - want).abs() < 1e-12,
            "{}-way top-{}: {} vs {want}",
            r.n,
            r.top_k,
            r.expected_accuracy
        );
        assert!((r.chance - r.top_k as f64 / r.n as f64).abs() < 1e-15);
    }
}

#[test]
fn ssim_matches_scikit_image_and_pixcorr_matches_numpy() {
    let _torch = crate::helpers::torch_lock();
    let f = load("ssim");
    assert_close(
        "ssim",
        &vec64(&ssim(&f["recon"], &f["gt"]).unwrap()),
        &vec64(&f["ssim"]),
        1e-10,
    );
    assert_close(
        "pixcorr",
        &vec64(&pixcorr(&f["recon"], &f["gt"]).unwrap()),
        &vec64(&f["pixcorr"]),
        1e-12,
    );
    // f32 images (as reconstructions come out of the decoder) agree to f32 precision
    let s32 = ssim(&f["recon"].to_kind(Kind::Float), &f["gt"].to_kind(Kind::Float)).unwrap();
    assert_close("ssim f32", &vec64(&s32), &vec64(&f["ssim"]), 1e-5);
    assert!(ssim(&f["recon"], &f["gt"].narrow(3, 0, 20)).is_err());
}

/// The narrow VGG16-shaped backbone of the fixture, written out with plain tch ops.
fn narrow_vgg(f: &HashMap<String, Tensor>, x: &Tensor) -> Vec<Tensor> {
    let mut taps = Vec::new();
    let mut h = x.shallow_clone();
    let mut conv = 0;
    for (s, n) in [2, 2, 3, 3, 3].into_iter().enumerate() {
        if s > 0 {
            h = h.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
        }
        for _ in 0..n {
            let w = f[&format!("conv{conv:02}_w")].to_kind(x.kind());
            let b = f[&format!("conv{conv:02}_b")].to_kind(x.kind());
            h = h.conv2d(&w, Some(&b), [1, 1], [1, 1], [1, 1], 1).relu();
            conv += 1;
        }
        taps.push(h.shallow_clone());
    }
    taps
}

#[test]
fn perceptual_distance_matches_lpips_package() {
    let _torch = crate::helpers::torch_lock();
    let f = load("lpips");
    let want = vec64(&f["dist"]);
    let images = f["images"].to_kind(Kind::Double);
    let taps = narrow_vgg(&f, &PerceptualInput::LpipsV01.apply(&images).unwrap());
    let unit = UnitTaps::new(&taps).unwrap();
    assert_close(
        "all-pairs (matrix form)",
        &vec64(&unit.distances_to(&unit).unwrap()),
        &want,
        1e-10,
    );
    for i in 0..6 {
        let rep: Vec<Tensor> = taps.iter().map(|t| t.narrow(0, i, 1).expand_as(t)).collect();
        let d = paired_perceptual_distance(&rep, &taps).unwrap();
        assert_close(
            &format!("paired row {i}"),
            &vec64(&d),
            &want[i as usize * 6..(i as usize + 1) * 6],
            1e-12,
        );
    }
    // Batched pipeline (batch 4 over 6 candidates crosses a batch boundary) with the input convention applied.
    let mut backbone = |x: &Tensor| Ok(narrow_vgg(&f, x));
    let d = perceptual_distance_matrix(
        &images.narrow(0, 2, 3),
        &images,
        PerceptualInput::LpipsV01,
        4,
        &mut backbone,
    )
    .unwrap();
    assert_eq!(d.size(), vec![3, 6]);
    assert_close("batched", &vec64(&d), &want[12..30], 1e-10);
    // f32 end to end
    let images32 = f["images"].to_kind(Kind::Float);
    let d32 = perceptual_distance_matrix(&images32, &images32, PerceptualInput::LpipsV01, 5, &mut backbone).unwrap();
    assert_close("f32", &vec64(&d32), &want, 2e-5);
    // A different input convention gives different numbers (the convention is not ignored).
    let d_other =
        perceptual_distance_matrix(&images, &images, PerceptualInput::MinusOneToOne, 6, &mut backbone).unwrap();
    assert!((vec64(&d_other)[2] - want[2]).abs() > 1e-3);
    let _ = Device::Cpu;
}

#[test]
fn encoder_metrics_match_numpy() {
    let _torch = crate::helpers::torch_lock();
    let f = load("encoder");
    let mut rois = BTreeMap::new();
    for name in ["A", "B"] {
        rois.insert(
            name.to_string(),
            Vec::<bool>::try_from(&f[&format!("mask_{name}")]).unwrap(),
        );
    }
    let nc: Vec<f32> = Vec::<f32>::try_from(&f["nc"]).unwrap();
    let res = voxel_correlation(&f["pred"], &f["meas"], Some(&nc), &rois).unwrap();
    assert_close("per-voxel r", &res.per_voxel_r, &vec64(&f["r"]), 1e-12);
    assert_eq!(res.per_voxel_r_over_ceiling[2], None);
    for roi in &res.rois {
        let r = roi.r.as_ref().unwrap();
        assert_close(
            &format!("r {}", roi.roi),
            &[r.mean, r.median, r.p75, r.p90],
            &vec64(&f[&format!("r_{}", roi.roi)]),
            1e-12,
        );
        let n = roi.r_over_ceiling.as_ref().unwrap();
        assert_close(
            &format!("r/nc {}", roi.roi),
            &[n.mean, n.median, n.p75, n.p90],
            &vec64(&f[&format!("rnc_{}", roi.roi)]),
            1e-9,
        );
    }
    let bw = branch_weight_summary(&f["branch"], &rois).unwrap();
    for b in &bw {
        assert_close(
            &format!("branch mean {}", b.roi),
            b.mean_weight.as_ref().unwrap(),
            &vec64(&f[&format!("bw_mean_{}", b.roi)]),
            1e-12,
        );
        assert_eq!(
            b.argmax_histogram,
            vec_usize(&f[&format!("bw_hist_{}", b.roi)]),
            "argmax histogram {}",
            b.roi
        );
    }
    // A mask from another dataset is a clear error.
    let mut bad = rois.clone();
    bad.insert("C".into(), vec![true; 29]);
    let err = voxel_correlation(&f["pred"], &f["meas"], Some(&nc), &bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("'C'") && err.contains("29"), "{err}");
}
