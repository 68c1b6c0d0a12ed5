//! `vox2pix study` end to end on the `tiny` world, and after SIGKILL: the resumed study reuses what was finished,
//! completes the rest, and ends with the same numbers as an uninterrupted one. Also `vox2pix layers` on the
//! study's encoders (with a held-out part of the paired set for one), and the errors of a malformed study.
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_vox2pix");

fn study_args(out: &Path) -> Vec<String> {
    [
        "study",
        "--world",
        "tiny",
        "--config",
        "tiny",
        "--seeds",
        "0,1",
        "--world-seeds",
        "3",
        "--variants",
        "paired,ed",
        "--backbone-steps",
        "25",
        "--trials",
        "50",
        "--pool",
        "test",
        "--resamples",
        "500",
        "--threads",
        "1",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([out.display().to_string()])
    .collect()
}

fn run_ok(args: &[String]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn study_runs_resumes_after_sigkill_and_reproduces_its_numbers() {
    let full = scratch!("full");
    let stdout = run_ok(&study_args(&full));
    assert!(stdout.contains("4 runs"), "{stdout}");
    for v in ["paired", "ed"] {
        for s in [0, 1] {
            let run = full.join(format!("world-3/seed-{s}/{v}"));
            assert!(run.join("decoder.safetensors").exists() && run.join("metrics_per_image.csv").exists());
        }
    }
    let csv = std::fs::read_to_string(full.join("study.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert_eq!(
        header,
        "variant,world,paired_images,metric,n_seeds,n_images,diff,ci_lo,ci_hi,level,excludes_zero"
    );
    let pix = csv
        .lines()
        .find(|l| l.starts_with("ed,3,96,pixcorr,"))
        .expect("an ed − paired PixCorr effect on the whole paired set (96 images)");
    let f: Vec<&str> = pix.split(',').collect();
    let (diff, lo, hi): (f64, f64, f64) = (f[6].parse().unwrap(), f[7].parse().unwrap(), f[8].parse().unwrap());
    assert!(lo <= diff && diff <= hi && f[4] == "2", "{pix}");
    let html = std::fs::read_to_string(full.join("study.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("What self-supervision bought"));

    // The same study, killed once the third run has started, then resumed with the same command. The world and
    // its encoder are copied from the full study (they are deterministic; this keeps the test short).
    let cut = scratch!("cut");
    std::fs::create_dir_all(cut.join("world-3")).unwrap();
    for d in ["data", "encoder"] {
        let st = Command::new("cp")
            .args([
                "-r",
                &full.join("world-3").join(d).display().to_string(),
                &cut.join("world-3").display().to_string(),
            ])
            .status()
            .unwrap();
        assert!(st.success());
    }
    let mut child = Command::new(BIN).args(study_args(&cut)).spawn().unwrap();
    let third = cut.join("world-3/seed-1/paired/run.json");
    crate::helpers::kill_when(&mut child, || third.exists());
    assert!(
        !cut.join("study.csv").exists(),
        "the study finished before it could be killed"
    );
    assert!(
        cut.join("world-3/seed-0/ed/metrics_per_image.csv").exists(),
        "the first runs were not finished"
    );
    let stdout = run_ok(&study_args(&cut));
    assert!(stdout.contains("4 runs"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(cut.join("study.csv")).unwrap(),
        csv,
        "the resumed study's effects differ from the uninterrupted one's"
    );
    for s in [0, 1] {
        for v in ["paired", "ed"] {
            let w =
                |root: &Path| std::fs::read(root.join(format!("world-3/seed-{s}/{v}/decoder.safetensors"))).unwrap();
            assert!(w(&full) == w(&cut), "seed {s} {v}: resumed weights differ");
        }
    }

    // Learning curves: the same study at 48 and 96 paired images. The whole set (96) reuses the four runs above
    // (same layout, same numbers); 48 trains its own encoder, with E's schedule stretched to as many steps.
    let mut curve_args = study_args(&full);
    curve_args.extend(["--paired-images".to_string(), "48,96".to_string()]);
    let stdout = run_ok(&curve_args);
    assert!(stdout.contains("8 runs"), "{stdout}");
    let csv2 = std::fs::read_to_string(full.join("study.csv")).unwrap();
    assert!(
        csv2.lines().any(|l| l == pix),
        "the whole-set effect must be reused unchanged:\n{csv2}"
    );
    assert!(csv2.lines().any(|l| l.starts_with("ed,3,48,pixcorr,")), "{csv2}");
    assert!(full.join("world-3/n48/seed-1/ed/metrics_per_image.csv").exists());
    let epochs = |run: &str| -> (usize, usize) {
        let path = full.join(run).join("config.toml");
        let c = vox2pix_formats::config::TrainConfig::load(path.to_str().unwrap(), &[]).unwrap();
        (c.encoder_training.epochs, c.paired_images)
    };
    assert_eq!(
        epochs("world-3/encoder-n48").1,
        48,
        "the encoder records its paired set"
    );
    assert!(
        epochs("world-3/encoder-n48").0 > epochs("world-3/encoder").0,
        "E on half the images must take more epochs (as many steps)"
    );
    let curves = std::fs::read_to_string(full.join("study_curves.csv")).unwrap();
    for v in ["paired", "ed"] {
        for n in [48, 96] {
            assert!(
                curves.lines().any(|l| l.starts_with(&format!("{v},pixcorr,{n},2,"))),
                "{v} at {n}:\n{curves}"
            );
        }
    }
    let html = std::fs::read_to_string(full.join("study.html")).unwrap();
    assert!(html.contains("Learning curves") && html.contains("worth in paired images"));

    // Layer preference of the study's encoder: every ROI reported, the truth known on a synthetic world.
    let enc = full.join("world-3/encoder");
    let layers = |run: &Path| {
        let (run, data) = (
            run.display().to_string(),
            full.join("world-3/data").display().to_string(),
        );
        run_ok(&["layers", "--run", &run, "--data", &data, "--threads", "1"].map(String::from))
    };
    let stdout = layers(&enc);
    assert!(
        stdout.contains("| V1 |") && stdout.contains("r(model, truth)"),
        "{stdout}"
    );
    let lp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(enc.join("layer_preference.json")).unwrap()).unwrap();
    for m in ["variance", "ablation-train", "ablation-test", "best-branch"] {
        let r = lp[m]["voxel_r"][0].as_f64().unwrap_or(f64::NAN);
        assert!((-1.0..=1.0).contains(&r), "{m}: {r}");
        let v1 = lp[m]["rois"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["roi"] == "V1")
            .unwrap();
        assert!(
            v1["truth"].as_f64().unwrap() < 0.5,
            "V1 is driven by shallow channels in the simulator"
        );
    }
    assert!(
        lp.get("ablation-heldout").is_none(),
        "E saw every paired image: nothing is held out"
    );

    // An encoder fitted to 48 of the 96 paired images: the other 48 images' trials are held out, and measured.
    let half = full.join("world-3/encoder-n48");
    layers(&half);
    let lp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(half.join("layer_preference.json")).unwrap()).unwrap();
    let r = lp["ablation-heldout"]["voxel_r"][0]
        .as_f64()
        .expect("a held-out measure");
    assert!((-1.0..=1.0).contains(&r), "ablation-heldout: {r}");
    assert_ne!(
        lp["ablation-heldout"]["voxel_r"], lp["ablation-train"]["voxel_r"],
        "held-out and training trials are different data"
    );
}

#[test]
fn a_malformed_study_is_refused_before_any_work() {
    for (extra, needle) in [
        (vec!["--variants", "ed,paired"], "must start with 'paired'"),
        (vec!["--variants", "paired,xyz"], "unknown study variant 'xyz'"),
        (vec!["--seeds", "0"], "at least 2 decoder seeds"),
        (vec!["--seeds", "1,1"], "lists a seed twice"),
        (vec!["--paired-images", "300,300"], "lists a size twice"),
        (vec!["--paired-images", "99999"], "99999"),
        (vec!["--world", "dmeo"], "dmeo"),
        (vec!["--config", "dmeo"], "dmeo"),
    ] {
        let out = scratch!("bad");
        let mut args = vec!["study".to_string(), "--out".into(), out.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = Command::new(BIN).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle) && !err.contains("panicked"), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} left {} behind", out.display());
    }
}
