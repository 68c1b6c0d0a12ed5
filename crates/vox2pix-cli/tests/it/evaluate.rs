//! `vox2pix evaluate`, `report` and `ablation` end to end on the `tiny` world: GT-as-reconstruction sanity,
//! numbers consistent with an independent PixCorr, the HTML page's content, the 3-row ablation table, and
//! refusals of a mismatched dataset. One world + encoder + decoder is trained once per test binary.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use vox2pix::eval::results::EvalMetrics;

const BIN: &str = env!("CARGO_BIN_EXE_vox2pix");

fn vox(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = vox(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err(args: &[&str]) -> String {
    let out = vox(args);
    assert!(!out.status.success(), "{args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Tiny {
    data: PathBuf,
    enc: PathBuf,
    dec: PathBuf,
}

/// tiny world (seed 3) + backbone + encoder + reconstructed decoder run, shared read-only.
fn tiny() -> &'static Tiny {
    static W: OnceLock<Tiny> = OnceLock::new();
    W.get_or_init(|| {
        let root = scratch!("world");
        let (data, enc, dec) = (root.join("data"), root.join("enc"), root.join("dec"));
        let (d, e, r) = (data.to_str().unwrap(), enc.to_str().unwrap(), dec.to_str().unwrap());
        ok(&["synth", "--preset", "tiny", "--seed", "3", "--out", d, "--quiet"]);
        ok(&["train-backbone", "--world", d, "--steps", "60", "--threads", "1"]);
        ok(&[
            "train-encoder",
            "--data",
            d,
            "--config",
            "tiny",
            "--out",
            e,
            "--threads",
            "1",
        ]);
        ok(&[
            "train-decoder",
            "--data",
            d,
            "--encoder",
            e,
            "--config",
            "tiny",
            "--out",
            r,
            "--threads",
            "1",
        ]);
        ok(&["reconstruct", "--run", r, "--data", d, "--threads", "1"]);
        Tiny { data, enc, dec }
    })
}

/// A private copy of the shared decoder run (evaluate writes into the run folder).
fn copy_run(name: &str) -> PathBuf {
    let dst = scratch!(name);
    std::fs::create_dir_all(&dst).unwrap();
    for entry in std::fs::read_dir(&tiny().dec).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
        }
    }
    dst
}

fn evaluate(run: &Path, extra: &[&str]) -> EvalMetrics {
    let mut args = vec![
        "evaluate",
        "--run",
        run.to_str().unwrap(),
        "--data",
        tiny().data.to_str().unwrap(),
        "--trials",
        "200",
        "--threads",
        "1",
    ];
    args.extend_from_slice(extra);
    ok(&args);
    EvalMetrics::read_json(&run.join("metrics.json")).unwrap()
}

#[test]
fn ground_truth_as_reconstruction_is_identified_perfectly() {
    let run = copy_run("gt");
    let m = evaluate(&run, &["--recon-from-gt"]);
    assert_eq!(m.n_test_images, 10);
    let pools: Vec<(&str, &str)> = m
        .identification
        .iter()
        .map(|s| (s.distance.as_str(), s.pool.as_str()))
        .collect();
    for want in [
        ("perceptual", "test"),
        ("pixel_correlation", "test"),
        ("perceptual", "external"),
        ("pixel_correlation", "external"),
    ] {
        assert!(pools.contains(&want), "missing {want:?} in {pools:?}");
    }
    for set in &m.identification {
        // The test pool has 9 distractors, so 50-way is only possible against the external pool (100).
        let ns: Vec<usize> = set.results.iter().map(|r| r.n).collect();
        let want: &[usize] = if set.pool == "test" {
            &[2, 5, 10]
        } else {
            &[2, 5, 10, 50]
        };
        assert_eq!(ns, want, "{} {}", set.distance, set.pool);
        for r in &set.results {
            assert_eq!(r.accuracy, 1.0, "{} {} {}-way", set.distance, set.pool, r.n);
            assert_eq!(r.rank_score, 0.0);
            assert!((r.chance - 1.0 / r.n as f64).abs() < 1e-12);
        }
    }
    assert!((m.pixcorr.as_ref().unwrap().mean - 1.0).abs() < 1e-6);
    assert!((m.ssim.as_ref().unwrap().mean - 1.0).abs() < 1e-6);
    // The true test images against all 64 class prototypes: well above chance at every N (tiny: 5, 10, 50).
    let ns: Vec<usize> = m.classification.iter().map(|r| r.n).collect();
    assert_eq!(ns, vec![5, 10, 50]);
    for r in &m.classification {
        eprintln!(
            "GT classification {}-way: {:.3} (chance {:.3})",
            r.n, r.accuracy, r.chance
        );
        assert!(
            r.accuracy_ci.lo > r.chance,
            "{}-way: {} CI {:?} not above chance {}",
            r.n,
            r.accuracy,
            r.accuracy_ci,
            r.chance
        );
    }
    // Prototypes were cached for the next evaluation.
    let cache: Vec<_> = std::fs::read_dir(tiny().data.join("cache")).unwrap().collect();
    assert!(!cache.is_empty());
}

/// Pearson r of two slices, computed plainly in f64 (independent of the tensor code).
fn pearson(a: &[f32], b: &[f32]) -> f64 {
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
    sab / (saa * sbb).sqrt()
}

#[test]
fn evaluation_of_a_trained_run_is_consistent_and_the_report_shows_it() {
    let run = copy_run("trained");
    let m = evaluate(&run, &[]);
    // PixCorr per image equals r computed here from reconstructions.npz (written by `reconstruct`).
    // Both outputs are in place and no temporary file is left behind.
    assert!(run.join("reconstructions.png").is_file());
    assert!(!run.join("reconstructions.tmp.npz").exists() && !run.join("reconstructions.tmp.png").exists());
    let npz = vox2pix_formats::npz::read_npz(&run.join("reconstructions.npz")).unwrap();
    let (recon, gt) = (npz["recon"].to_f32().unwrap(), npz["gt"].to_f32().unwrap());
    let per = recon.len() / 10;
    let (rs, gs) = (recon.as_slice().unwrap(), gt.as_slice().unwrap());
    let pix = &m.pixcorr.as_ref().unwrap().per_image;
    for i in 0..10 {
        let want = pearson(&rs[i * per..(i + 1) * per], &gs[i * per..(i + 1) * per]);
        assert!((pix[i] - want).abs() < 1e-4, "image {i}: {} vs {want}", pix[i]);
    }
    for set in &m.identification {
        for r in &set.results {
            assert!(r.accuracy_ci.lo <= r.accuracy && r.accuracy <= r.accuracy_ci.hi);
            // 200 trials per image: the trial estimate is close to the exact expectation.
            assert!((r.accuracy - r.expected_accuracy).abs() < 0.05, "{r:?}");
        }
    }
    let enc = m.encoder.as_ref().unwrap();
    assert_eq!(enc.per_voxel_r.len(), 160);
    let rois: Vec<&str> = enc.rois.iter().map(|r| r.roi.as_str()).collect();
    assert!(rois.contains(&"V1") && rois.contains(&"HVC"), "{rois:?}");
    assert!(
        enc.all_voxels.r.as_ref().unwrap().median > 0.1,
        "encoder r unexpectedly low"
    );
    assert!(!m.branch_weights.is_empty());
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + m.csv_rows().len());
    let per_image = std::fs::read_to_string(run.join("metrics_per_image.csv")).unwrap();
    assert_eq!(per_image.lines().count(), 11);

    ok(&["report", "--run", run.to_str().unwrap()]);
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("id=\"grid\"") && html.contains("data:image/png;base64,iVBORw0KGgo"));
    // identification: 2 distances × 2 pools, classification, encoder r, branch weights, 2 + 2 curves.
    assert!(
        html.matches("<svg").count() >= 10,
        "{} charts",
        html.matches("<svg").count()
    );
    assert!(html.matches("class=\"chance\"").count() >= 15);
    assert!(html.matches("class=\"ci\"").count() >= 15);
    assert!(html.contains("loss_paired"), "decoder curves missing");
    assert!(
        html.contains("median voxel r on the test set"),
        "encoder curves missing"
    );
    assert!(html.contains("[decoder_training]"), "config missing");
    assert!(html.contains("test_classes"), "data manifest missing");
}

#[test]
fn ablation_writes_one_row_per_variant_and_roi() {
    let t = tiny();
    let out = scratch!("ablation");
    let stdout = ok(&[
        "ablation",
        "--data",
        t.data.to_str().unwrap(),
        "--config",
        "tiny",
        "--set",
        "decoder_training.epochs=1",
        "--encoder",
        t.enc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--trials",
        "50",
        "--pool",
        "test",
        "--rois",
        "V1",
        "--threads",
        "1",
    ]);
    let csv = std::fs::read_to_string(out.join("ablation.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    // The three stream variants, then the ROI-restricted decoder (full method, its own V1 encoder).
    assert_eq!(rows.len(), 5, "{csv}");
    for (row, name) in rows[1..]
        .iter()
        .zip(["paired,", "paired+ED,", "paired+ED+DE,", "roi-V1,"])
    {
        assert!(row.starts_with(name), "{row}");
        assert_eq!(row.split(',').count(), rows[0].split(',').count());
    }
    assert!(rows[0].contains("ident_perceptual_test_2way") && rows[0].contains("class_5way_top1"));
    let md = std::fs::read_to_string(out.join("ablation.md")).unwrap();
    assert!(md.contains("| paired+ED+DE |") && stdout.contains("| paired |"));
    assert!(std::fs::read_to_string(out.join("ablation.html"))
        .unwrap()
        .contains("<table id=\"ablation\">"));
    // Every variant's paired difference to paired only, recomputed here from the two per-image tables.
    assert!(md.contains("Paired difference to `paired`"), "{md}");
    let diffs = std::fs::read_to_string(out.join("ablation_vs_paired.csv")).unwrap();
    let mean_col = |run: &str, col: &str| -> Vec<f64> {
        let t = std::fs::read_to_string(out.join(run).join("metrics_per_image.csv")).unwrap();
        let mut lines = t.lines();
        let i = lines.next().unwrap().split(',').position(|c| c == col).unwrap();
        lines.map(|l| l.split(',').nth(i).unwrap().parse().unwrap()).collect()
    };
    for v in ["paired+ED", "paired+ED+DE", "roi-V1"] {
        let line = diffs
            .lines()
            .find(|l| l.starts_with(&format!("{v},pixcorr,")))
            .unwrap_or_else(|| panic!("no {v} pixcorr row in\n{diffs}"));
        let f: Vec<f64> = line.split(',').skip(2).map(|x| x.parse().unwrap()).collect();
        let (a, b) = (mean_col("paired", "pixcorr"), mean_col(v, "pixcorr"));
        let want = b.iter().zip(&a).map(|(b, a)| b - a).sum::<f64>() / a.len() as f64;
        assert!((f[2] - want).abs() < 1e-9, "{v}: diff {} vs {want}", f[2]);
        assert!(f[3] <= f[2] && f[2] <= f[4] && (0.0..=1.0).contains(&f[5]), "{line}");
    }
    // The variants really differ in their streams.
    let cfg = |v: &str| std::fs::read_to_string(out.join(v).join("config.toml")).unwrap();
    assert!(cfg("paired").contains("unpaired_batch = 0") && cfg("paired").contains("de_batch = 0"));
    assert!(cfg("paired+ED").contains("unpaired_batch = 8") && cfg("paired+ED").contains("de_batch = 0"));
    assert!(cfg("paired+ED+DE").contains("de_batch = 8"));
    assert!(cfg("roi-V1").contains("roi = [\"V1\"]") && cfg("roi-V1").contains("de_batch = 8"));
    let v1: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("roi-V1").join("data.json")).unwrap()).unwrap();
    assert_eq!(v1["n_voxels"], 40, "the V1 decoder reads the 40 V1 voxels only");
}

#[test]
fn mismatched_dataset_and_missing_inputs_are_clear_errors() {
    let t = tiny();
    let run = copy_run("bad");
    let r = run.to_str().unwrap();
    let other = scratch!("other-world");
    let o = other.to_str().unwrap();
    // Another seed: different test classes, same voxel count.
    ok(&["synth", "--preset", "tiny", "--seed", "4", "--out", o, "--quiet"]);
    let e = err(&["evaluate", "--run", r, "--data", o, "--threads", "1"]);
    assert!(e.contains("test set") && e.contains("trained on"), "{e}");
    // Fewer V1 voxels: a different voxel count.
    let fewer = scratch!("fewer-voxels");
    let f = fewer.to_str().unwrap();
    ok(&[
        "synth",
        "--preset",
        "tiny",
        "--seed",
        "3",
        "--set",
        "cortex.areas.V1.voxels=20",
        "--out",
        f,
        "--quiet",
    ]);
    let e = err(&["evaluate", "--run", r, "--data", f, "--threads", "1"]);
    assert!(e.contains("160 voxels") && e.contains("140"), "{e}");
    let e = err(&[
        "evaluate",
        "--run",
        r,
        "--data",
        t.data.to_str().unwrap(),
        "--pool",
        "nearby",
    ]);
    assert!(e.contains("unknown pool 'nearby'"), "{e}");
    let e = err(&["report", "--run", r]);
    assert!(e.contains("no metrics.json") && e.contains("vox2pix evaluate"), "{e}");
    assert!(!run.join("metrics.json").exists() && !run.join("report.html").exists());
}

#[test]
fn demo_trains_the_baseline_by_default_and_opens_its_report_with_the_paired_gain() {
    let out = scratch!("demo-baseline");
    let stdout = ok(&[
        "demo",
        "--world",
        "tiny",
        "--config",
        "tiny",
        "--seed",
        "3",
        "--backbone-steps",
        "25",
        "--out",
        out.to_str().unwrap(),
        "--threads",
        "1",
    ]);
    assert!(stdout.contains("report"), "{stdout}");
    let base = out.join("decoder-paired");
    let cfg = std::fs::read_to_string(base.join("config.toml")).unwrap();
    assert!(
        cfg.contains("unpaired_batch = 0") && cfg.contains("de_batch = 0"),
        "{cfg}"
    );
    let cmp = out.join("decoder").join("compare-vs-decoder-paired");
    let csv = std::fs::read_to_string(cmp.join("compare.csv")).unwrap();
    assert!(csv.lines().any(|l| l.starts_with("pixcorr,")), "{csv}");
    let html = std::fs::read_to_string(out.join("decoder").join("report.html")).unwrap();
    let bought = html.find("What self-supervision bought").expect("the baseline section");
    assert!(
        bought < html.find("<h2>Reconstructions</h2>").unwrap(),
        "the section opens the report"
    );
    assert!(html.contains("id=\"grid-baseline\"") && html.contains("id=\"grid-run\""));
}
