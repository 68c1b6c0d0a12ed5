//! The paired statistics of `vox2pix compare` (`eval::paired`) against `tests/fixtures/eval/paired.json`, made by
//! `tools/make_paired_fixtures.py` (NumPy: sign-flip p-values by full enumeration, large-B bootstrap, t
//! intervals), and `app::compare` end to end on hand-written `metrics_per_image.csv` files.
use serde_json::Value;
use std::path::Path;
use vox2pix::app::compare::{
    compare_run_pairs, compare_runs, default_out_dir, read_per_image_csv, CompareOptions, PairsCompareOptions,
};
use vox2pix::eval::draw::bootstrap_mean_ci;
use vox2pix::eval::paired::{hierarchical_bootstrap, ImageDraw, PairedDifference, PairedOptions};

fn fixture() -> Value {
    let path = crate::helpers::fixture("eval", "paired.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("fixture field {key} missing"))
}

fn cases<'a>(f: &'a Value, group: &str) -> &'a [Value] {
    f[group].as_array().unwrap()
}

fn case<'a>(f: &'a Value, group: &str, name: &str) -> &'a Value {
    cases(f, group).iter().find(|c| c["name"] == name).unwrap()
}

fn compute(c: &Value, o: &PairedOptions) -> PairedDifference {
    let name = c["name"].as_str().unwrap();
    PairedDifference::compute(name, &f64s(&c["a"]), &f64s(&c["b"]), o).unwrap()
}

/// Means and the mean difference: plain arithmetic on the same (6-decimal) values, so only rounding differs.
fn assert_means(r: &PairedDifference, c: &Value) {
    for (what, got, want) in [
        ("mean_a", r.mean_a, num(c, "mean_a")),
        ("mean_b", r.mean_b, num(c, "mean_b")),
        ("diff", r.diff, num(c, "diff")),
    ] {
        assert!((got - want).abs() < 1e-12, "{}: {what} {got} vs NumPy {want}", r.metric);
    }
}

#[test]
fn paired_exact_sign_flip_p_matches_numpy_enumeration() {
    let f = fixture();
    let exact = cases(&f, "exact");
    assert_eq!(exact.len(), 5);
    for c in exact {
        let r = compute(c, &PairedOptions::default());
        assert_means(&r, c);
        assert!(r.p_exact, "{}: n = {} must be enumerated", r.metric, r.n);
        // count / 2^n is a dyadic rational, exact in f64 on both sides: equality, not a tolerance. A one-sided
        // test, a "+1" correction, or counting ties as less extreme each change the count.
        assert_eq!(
            r.p_value,
            num(c, "p"),
            "{}: {} of {} patterns in NumPy",
            r.metric,
            c["count"],
            c["patterns"]
        );
        assert!(r.ci_lo <= r.diff && r.diff <= r.ci_hi, "{r:?}");
    }
    // The fixture discriminates: in the 0/1 case, ties make "≥" and ">" differ (2560 vs 512 of 4096 patterns).
    let ties = case(&f, "exact", "n12_binary_ties");
    assert!(ties["count_strict"].as_u64() < ties["count"].as_u64());
    // Every image better: only the observed pattern and its mirror are as extreme.
    let all = compute(case(&f, "exact", "n10_all_better"), &PairedOptions::default());
    assert_eq!(all.p_value, 2.0 / 1024.0);
    assert!(all.ci_lo > 0.0 && all.n_b_higher == 10);
}

#[test]
fn paired_bootstrap_ci_and_random_flip_p_match_numpy() {
    let f = fixture();
    let o = PairedOptions::default(); // 10 000 resamples, 95 %, seed 0
    for c in cases(&f, "bootstrap") {
        let r = compute(c, &o);
        let name = &r.metric;
        assert_means(&r, c);
        assert!(
            (r.sd_diff - num(c, "sd_diff")).abs() < 1e-12,
            "{name}: sd {}",
            r.sd_diff
        );
        let shift = num(c, "true_shift");
        assert!(
            r.ci_lo <= shift && shift <= r.ci_hi,
            "{name}: CI [{}, {}] misses the true shift {shift}",
            r.ci_lo,
            r.ci_hi
        );
        assert!(r.ci_lo <= r.diff && r.diff <= r.ci_hi, "{name}");

        // Against NumPy's percentile bootstrap (200 000 resamples) of the same data: both estimate the same
        // ideal bootstrap quantiles, so they differ by Monte Carlo error only. For a near-normal bootstrap
        // distribution with sd σ* (`boot_sd`), the 2.5 % quantile of B resampled means has sd
        // √(0.025·0.975/B) / φ(1.96) · σ* = 0.027 σ* at B = 10 000 (0.006 σ* for NumPy's B), together 0.028 σ*.
        // 0.12 σ* is > 4 of those sd, yet catches a 90 % interval (ends move by 0.31 σ*), an unpaired bootstrap
        // (σ* of a and b separately: ≥ 2× here) or sd instead of sd/√n.
        let sd = num(c, "boot_sd");
        let want = f64s(&c["boot_ci"]);
        for (what, got, w) in [("lo", r.ci_lo, want[0]), ("hi", r.ci_hi, want[1])] {
            assert!(
                (got - w).abs() <= 0.12 * sd,
                "{name}: ci_{what} {got} vs NumPy {w} (tol {})",
                0.12 * sd
            );
        }

        // Against the analytic t interval: the percentile bootstrap's half-width is ≈ 1.96·√((n−1)/n)·s/√n
        // (the plug-in sd), the t interval's t_{0.975,n−1}·s/√n, a known gap; add the same 0.12 σ* for Monte
        // Carlo error plus skewness of d (small for these data).
        let n = r.n as f64;
        let se = num(c, "sd_diff") / n.sqrt();
        let gap = (num(c, "t_quantile") - 1.959964 * ((n - 1.0) / n).sqrt()) * se;
        let t = f64s(&c["t_ci"]);
        for (what, got, w) in [("lo", r.ci_lo, t[0]), ("hi", r.ci_hi, t[1])] {
            let tol = gap + 0.12 * sd;
            assert!(
                (got - w).abs() <= tol,
                "{name}: ci_{what} {got} vs t interval {w} (tol {tol})"
            );
        }

        // The random sign-flip path (n > 16): p estimates the same permutation p as NumPy's 400 000 flips (or the
        // exact enumeration at n = 17); sd of p̂ is √(p(1−p)/B). 4.5 sd of each plus the 1/(1+B) offset of the
        // "+1" convention; a one-sided p (half as large) is far outside at the p of these cases.
        assert!(!r.p_exact, "{name}: n = {} uses random flips", r.n);
        let (b_rust, b_np) = (o.resamples as f64, num(c, "p_mc_resamples"));
        let p_ref = c.get("p_exact").and_then(Value::as_f64).unwrap_or(num(c, "p_mc"));
        let tol =
            4.5 * (p_ref * (1.0 - p_ref)).sqrt() * (1.0 / b_rust.sqrt() + 1.0 / b_np.sqrt()) + 1.0 / (1.0 + b_rust);
        assert!(
            (r.p_value - p_ref).abs() <= tol,
            "{name}: p {} vs NumPy {p_ref} (tol {tol})",
            r.p_value
        );
    }
    // The cases cover a p where halving it would be caught.
    let weak = compute(case(&f, "bootstrap", "n50_weak"), &o);
    assert!(weak.p_value > 0.02 && weak.p_value < 0.2, "{weak:?}");
}

#[test]
fn paired_shift_is_clear_although_each_runs_ci_overlaps() {
    // The motivation of `compare`: between-image spread (sd 0.15) dwarfs the gain (0.02), so A's and B's own
    // bootstrap CIs overlap, while the paired CI excludes 0 and no random sign pattern is as extreme.
    let f = fixture();
    let c = case(&f, "bootstrap", "n50_shift");
    let (a, b) = (f64s(&c["a"]), f64s(&c["b"]));
    let (ca, cb) = (
        bootstrap_mean_ci(&a, 10_000, 0.95, 1),
        bootstrap_mean_ci(&b, 10_000, 0.95, 2),
    );
    assert!(
        ca.hi > cb.lo && cb.hi > ca.lo,
        "marginal CIs {ca:?} {cb:?} should overlap"
    );
    let r = PairedDifference::compute("shift", &a, &b, &PairedOptions::default()).unwrap();
    assert!(r.ci_lo > 0.0, "{r:?}");
    assert!(
        r.ci_hi - r.ci_lo < (cb.hi - cb.lo) / 4.0,
        "paired CI must be far narrower: {r:?}"
    );
    assert_eq!(r.p_value, 1.0 / 10_001.0);
    // Reversed roles: the same evidence for A − B.
    let rev = PairedDifference::compute("shift", &b, &a, &PairedOptions::default()).unwrap();
    assert!(rev.ci_hi < 0.0 && rev.p_value == r.p_value && (rev.diff + r.diff).abs() < 1e-15);
}

#[test]
fn paired_zero_difference_gives_p_one_and_a_ci_around_zero() {
    let f = fixture();
    for (group, name) in [("exact", "n14_symmetric_zero"), ("bootstrap", "n40_symmetric_zero")] {
        let r = compute(case(&f, group, name), &PairedOptions::default());
        assert!(r.diff.abs() < 1e-15, "{name}: {}", r.diff);
        assert_eq!(r.p_value, 1.0, "{name}");
        assert!(r.ci_lo < 0.0 && 0.0 < r.ci_hi, "{name}: [{}, {}]", r.ci_lo, r.ci_hi);
    }
    // Identical runs: every difference is 0.
    let a = f64s(&case(&f, "bootstrap", "n50_weak")["a"]);
    let r = PairedDifference::compute("same", &a, &a, &PairedOptions::default()).unwrap();
    assert_eq!((r.diff, r.ci_lo, r.ci_hi, r.p_value), (0.0, 0.0, 0.0, 1.0));
}

#[test]
fn paired_bad_input_is_refused_naming_the_metric() {
    let o = PairedOptions::default();
    let err = |a: &[f64], b: &[f64]| PairedDifference::compute("pixcorr", a, b, &o).unwrap_err().to_string();
    let e = err(&[0.1, 0.2, 0.3], &[0.1, 0.2]);
    assert!(e.contains("pixcorr") && e.contains('3') && e.contains('2'), "{e}");
    let e = err(&[0.1, f64::NAN, 0.3], &[0.1, 0.2, 0.3]);
    assert!(
        e.contains("pixcorr") && e.contains("non-finite") && e.contains("image 1"),
        "{e}"
    );
    let e = err(&[0.1, 0.2], &[0.1, f64::INFINITY]);
    assert!(e.contains("pixcorr") && e.contains("B"), "{e}");
    assert!(err(&[0.1], &[0.2]).contains("at least 2"));
    let zero = PairedOptions { resamples: 0, ..o };
    assert!(PairedDifference::compute("m", &[0.1, 0.2], &[0.2, 0.3], &zero).is_err());
    let e = hierarchical_bootstrap("ssim", &[vec![0.1, f64::NAN], vec![0.1, 0.2]], &o, ImageDraw::Shared).unwrap_err();
    assert!(
        e.to_string().contains("ssim") && e.to_string().contains("seed 0"),
        "{e}"
    );
}

#[test]
fn paired_hierarchical_bootstrap_matches_numpy() {
    let f = fixture();
    let c = &cases(&f, "hierarchical")[0];
    let per_seed: Vec<Vec<f64>> = c["per_seed"].as_array().unwrap().iter().map(f64s).collect();
    let o = PairedOptions {
        resamples: 20_000,
        ..Default::default()
    };
    let mut widths = Vec::new();
    for (draw, key) in [(ImageDraw::PerSeed, "per_seed"), (ImageDraw::Shared, "shared")] {
        let h = hierarchical_bootstrap("d", &per_seed, &o, draw).unwrap();
        assert_eq!((h.n_seeds, h.n_images), (5, 50));
        assert!((h.mean - num(c, "mean")).abs() < 1e-12);
        // As in the paired bootstrap test: the endpoints' Monte Carlo sd is ≈ 0.019 σ* at B = 20 000 and
        // 0.0085 σ* for NumPy's 100 000, σ* the sd of the bootstrap means (a mean of 250 values, near normal);
        // 0.12 σ* is ≈ 6 of those sd. Skipping the seed level (−15 % width here) or drawing images the other
        // way (the two modes' endpoints differ by > 6 tolerances) fails.
        let sd = num(c, &format!("sd_{key}"));
        let want = f64s(&c[format!("ci_{key}").as_str()]);
        for (what, got, w) in [("lo", h.ci_lo, want[0]), ("hi", h.ci_hi, want[1])] {
            assert!(
                (got - w).abs() <= 0.12 * sd,
                "{key}: ci_{what} {got} vs NumPy {w} (tol {})",
                0.12 * sd
            );
        }
        widths.push(h.ci_hi - h.ci_lo);
    }
    // The image effect is shared by the seeds: only the shared draw keeps it in the interval.
    assert!(widths[1] > 1.4 * widths[0], "{widths:?}");
}

/// `image` + four metric columns; `extra` adds a column only this file has.
fn write_table(dir: &Path, images: &[usize], rows: &[[f64; 4]], extra: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let mut s = String::from("image,identification_perceptual_test_2way,classification_10way_top1,pixcorr,ssim");
    s += if extra {
        ",identification_perceptual_external_2way\n"
    } else {
        "\n"
    };
    for (i, r) in images.iter().zip(rows) {
        s += &format!("{i},{:.6},{:.6},{:.6},{:.6}", r[0], r[1], r[2], r[3]);
        s += if extra { ",0.500000\n" } else { "\n" };
    }
    std::fs::write(dir.join("metrics_per_image.csv"), s).unwrap();
}

#[test]
fn paired_compare_runs_end_to_end() {
    let tmp = temp_dir!("compare");
    let (ra, rb) = (tmp.join("paired"), tmp.join("paired+ED"));
    let images: Vec<usize> = (0..6).collect();
    // pixcorr: every image +0.05 → diff 0.05, CI [0.05, 0.05], exact p = 2/64. ssim: identical → p = 1.
    // classification: 0/1 with two images gained, none lost.
    let a: Vec<[f64; 4]> = (0..6)
        .map(|i| [0.6 + 0.05 * i as f64, [0.0, 1.0][i % 2], 0.1 * (i + 1) as f64, 0.3])
        .collect();
    let b: Vec<[f64; 4]> = a
        .iter()
        .enumerate()
        .map(|(i, r)| {
            [
                r[0] + [0.1, -0.05, 0.0, 0.05, 0.1, 0.0][i],
                if i < 2 { 1.0 } else { r[1] },
                r[2] + 0.05,
                r[3],
            ]
        })
        .collect();
    write_table(&ra, &images, &a, false);
    write_table(&rb, &images, &b, true);
    std::fs::write(ra.join("metrics.json"), r#"{"n_test_images": 6, "seed": 0}"#).unwrap();

    let out = default_out_dir(&ra, &rb);
    assert_eq!(out, rb.join("compare-vs-paired"));
    let opts = CompareOptions {
        run_a: ra.clone(),
        run_b: rb.clone(),
        out: out.clone(),
        paired: PairedOptions::default(),
    };
    let c = compare_runs(&opts).unwrap();
    assert_eq!(c.n_images, 6);
    let names: Vec<&str> = c.rows.iter().map(|r| r.metric.as_str()).collect();
    assert_eq!(
        names,
        [
            "identification_perceptual_test_2way",
            "classification_10way_top1",
            "pixcorr",
            "ssim"
        ]
    );
    assert_eq!(c.only_in_b, ["identification_perceptual_external_2way"]);
    assert_eq!(c.eval_seeds, (Some(0), None));
    let pix = &c.rows[2];
    assert!((pix.diff - 0.05).abs() < 1e-9 && (pix.ci_lo - 0.05).abs() < 1e-9 && (pix.ci_hi - 0.05).abs() < 1e-9);
    assert_eq!((pix.p_value, pix.p_exact), (2.0 / 64.0, true));
    assert_eq!(c.rows[3].p_value, 1.0);
    let cls = &c.rows[1];
    // d = [1, 0, 0, 0, 0, 0]: |S| = 1 is reached by every pattern → p = 1; diff = 1/6.
    assert!((cls.diff - 1.0 / 6.0).abs() < 1e-12 && cls.p_value == 1.0 && cls.n_b_higher == 1);

    // compare.csv: header + one row per metric, numbers readable back.
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("metric,n,mean_a,mean_b,diff,ci_lo,ci_hi,level,p_value"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 5);
    let pix_row: Vec<&str> = lines[3].split(',').collect();
    assert_eq!(pix_row[0], "pixcorr");
    assert!((pix_row[4].parse::<f64>().unwrap() - 0.05).abs() < 1e-6);
    assert!((pix_row[8].parse::<f64>().unwrap() - 0.03125).abs() < 1e-9);
    // compare.md: the table.
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(md.contains("| metric | A | B | B−A | 95 % CI | p |"), "{md}");
    assert!(
        md.contains("| pixcorr | 0.3500 | 0.4000 | +0.0500 | [+0.0500, +0.0500] |"),
        "{md}"
    );
    assert!(
        md.contains("Only in B: `identification_perceptual_external_2way`"),
        "{md}"
    );
    assert!(!out
        .read_dir()
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().starts_with('.')));

    // A column with a NaN is not compared, and says why.
    let mut nan = b.clone();
    nan[3][3] = f64::NAN;
    write_table(&rb, &images, &nan, true);
    let c = compare_runs(&opts).unwrap();
    assert_eq!(c.rows.len(), 3);
    assert_eq!(c.skipped[0].0, "ssim");
    assert!(std::fs::read_to_string(out.join("compare.md"))
        .unwrap()
        .contains("`ssim`: ssim: B has a non-finite value"));

    // Different images or order, a stale metrics.json, or another test set: refused, naming the files.
    let refuse = |what: &str| {
        let e = format!("{:#}", compare_runs(&opts).unwrap_err());
        assert!(e.contains(what), "{e}");
        e
    };
    write_table(&rb, &[1, 0, 2, 3, 4, 5], &b, true);
    let e = refuse("different test images");
    assert!(e.contains(&ra.join("metrics_per_image.csv").display().to_string()));
    assert!(e.contains(&rb.join("metrics_per_image.csv").display().to_string()));
    write_table(&rb, &images[..5], &b[..5], true);
    refuse("has 6 test images but");
    write_table(&rb, &images, &b, true);
    std::fs::write(rb.join("metrics.json"), r#"{"n_test_images": 50, "seed": 0}"#).unwrap();
    refuse("reports 50 test images");
    std::fs::remove_file(rb.join("metrics.json")).unwrap();
    std::fs::write(ra.join("data.json"), r#"{"test_classes": [1, 2]}"#).unwrap();
    std::fs::write(rb.join("data.json"), r#"{"test_classes": [1, 3]}"#).unwrap();
    refuse("different test sets");
    std::fs::remove_file(rb.join("data.json")).unwrap();
    assert!(compare_runs(&opts).is_ok());

    // Malformed tables.
    std::fs::write(rb.join("metrics_per_image.csv"), "img,pixcorr\n0,0.1\n").unwrap();
    assert!(read_per_image_csv(&rb.join("metrics_per_image.csv"))
        .unwrap_err()
        .to_string()
        .contains("`image`"));
    std::fs::write(rb.join("metrics_per_image.csv"), "image,pixcorr\n0,0.1\n1,abc\n").unwrap();
    let e = format!(
        "{:#}",
        read_per_image_csv(&rb.join("metrics_per_image.csv")).unwrap_err()
    );
    assert!(e.contains(":3:") && e.contains("pixcorr") && e.contains("abc"), "{e}");
    std::fs::write(rb.join("metrics_per_image.csv"), "image,pixcorr\n0,0.1,0.2\n").unwrap();
    assert!(read_per_image_csv(&rb.join("metrics_per_image.csv"))
        .unwrap_err()
        .to_string()
        .contains("3 fields"));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn paired_compare_over_seeds_pools_the_pairs_hierarchically() {
    let tmp = temp_dir!("compare-seeds");
    let images: Vec<usize> = (0..8).collect();
    // Three seeds; B − A on pixcorr is +0.02, +0.04, +0.06 plus a per-image wobble that is the same for every
    // seed (the test images are shared), so the pooled mean is 0.04 and each pair's own mean its offset.
    let wobble = |i: usize| 0.01 * ((i as f64) - 3.5);
    let mut pairs = Vec::new();
    for (k, off) in [0.02, 0.04, 0.06].into_iter().enumerate() {
        let (ra, rb) = (tmp.join(format!("a{k}")), tmp.join(format!("b{k}")));
        let a: Vec<[f64; 4]> = (0..8).map(|i| [0.5, 0.0, 0.2 + 0.01 * i as f64, 0.3]).collect();
        let b: Vec<[f64; 4]> = a
            .iter()
            .enumerate()
            .map(|(i, r)| [r[0], r[1], r[2] + off + wobble(i), r[3] + 0.01])
            .collect();
        // Only the last pair's B has the extra column: it is compared there but not pooled.
        write_table(&ra, &images, &a, false);
        write_table(&rb, &images, &b, k == 2);
        pairs.push((ra, rb));
    }
    let out = tmp.join("pooled");
    let mut o = PairsCompareOptions {
        pairs: pairs.clone(),
        out: out.clone(),
        paired: PairedOptions::default(),
    };
    let c = compare_run_pairs(&o).unwrap();
    assert_eq!(c.pairs.len(), 3);
    let pix = c.rows.iter().find(|r| r.pooled.metric == "pixcorr").unwrap();
    assert_eq!((pix.pooled.n_seeds, pix.pooled.n_images), (3, 8));
    assert!((pix.pooled.mean - 0.04).abs() < 1e-9, "{}", pix.pooled.mean);
    for (got, want) in pix.per_pair.iter().zip([0.02, 0.04, 0.06]) {
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    }
    // The interval covers the seed spread: it must be wider than any one pair's (their CIs are ±wobble only)
    // and stay inside the range of the pair means.
    let own = &c.pairs[1].rows.iter().find(|r| r.metric == "pixcorr").unwrap();
    assert!(pix.pooled.ci_hi - pix.pooled.ci_lo > own.ci_hi - own.ci_lo);
    assert!(pix.pooled.ci_lo >= 0.02 - 0.02 && pix.pooled.ci_hi <= 0.06 + 0.02);
    assert!(pix.pooled.ci_lo < 0.04 && pix.pooled.ci_hi > 0.04);
    // A constant difference has a zero-width interval; the means of A and B are over all pairs.
    let ssim = c.rows.iter().find(|r| r.pooled.metric == "ssim").unwrap();
    assert!((ssim.pooled.ci_lo - 0.01).abs() < 1e-9 && (ssim.pooled.ci_hi - 0.01).abs() < 1e-9);
    assert!((ssim.mean_a - 0.3).abs() < 1e-9 && (ssim.mean_b - 0.31).abs() < 1e-9);
    assert!(c
        .rows
        .iter()
        .all(|r| r.pooled.metric != "identification_perceptual_external_2way"));

    // Files: the pooled table and one folder per pair, readable back.
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    let row = csv.lines().find(|l| l.starts_with("pixcorr,")).unwrap();
    let f: Vec<&str> = row.split(',').collect();
    assert_eq!((f[1], f[2], f[9]), ("3", "8", "3"));
    assert!((f[5].parse::<f64>().unwrap() - 0.04).abs() < 1e-6);
    assert_eq!(f[10], "0.020000;0.040000;0.060000");
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(md.contains("# Paired comparison over 3 seeds"), "{md}");
    assert!(md.contains("| pixcorr | 0.2350 | 0.2750 | +0.0400 |"), "{md}");
    assert!(md.contains("+0.020 +0.040 +0.060 | 3/3 |"), "{md}");
    for k in 1..=3 {
        assert!(out.join(format!("pair-{k}/compare.md")).exists());
    }

    // A pair scored on other images, and a single pair, are refused.
    write_table(
        &pairs[2].0,
        &[0, 1, 2, 3, 4, 5, 7, 6],
        &[[0.5, 0.0, 0.2, 0.3]; 8],
        false,
    );
    let e = format!("{:#}", compare_run_pairs(&o).unwrap_err());
    assert!(e.contains("different test images") && e.contains("a2"), "{e}");
    o.pairs.truncate(1);
    assert!(compare_run_pairs(&o).unwrap_err().to_string().contains("at least 2"));
    let _ = std::fs::remove_dir_all(&tmp);
}
