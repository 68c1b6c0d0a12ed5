//! Training on the `tiny` synthetic world: the ED stream's effect, exact resume, leakage and bad-input errors.
//! One world + backbone is made once per test binary and shared (read-only) by the tests.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use vox2pix::app::jobs;
use vox2pix::data::TrainingData;
use vox2pix::model::DecoderModel;
use vox2pix::model::EncoderModel;
use vox2pix::train::decoder::cycle_image_loss;
use vox2pix_formats::config::TrainConfig;
use vox2pix_synth::render::{render, Role};

const BIN: &str = env!("CARGO_BIN_EXE_vox2pix");

/// A tiny world with a (briefly) trained backbone and a trained encoder run, shared by all tests.
fn world() -> &'static (PathBuf, PathBuf) {
    static W: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    W.get_or_init(|| {
        let root = scratch!("world");
        let data = root.join("data");
        let ok = |args: &[&str]| {
            let out = Command::new(BIN).args(args).output().unwrap();
            assert!(
                out.status.success(),
                "{args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ok(&[
            "synth",
            "--preset",
            "tiny",
            "--seed",
            "3",
            "--out",
            data.to_str().unwrap(),
            "--quiet",
        ]);
        ok(&[
            "train-backbone",
            "--world",
            data.to_str().unwrap(),
            "--steps",
            "25",
            "--threads",
            "1",
        ]);
        let enc = root.join("enc");
        ok(&[
            "train-encoder",
            "--data",
            data.to_str().unwrap(),
            "--config",
            "tiny",
            "--out",
            enc.to_str().unwrap(),
            "--threads",
            "1",
        ]);
        (data, enc)
    })
}

fn cfg(overrides: &[&str]) -> TrainConfig {
    TrainConfig::load("tiny", &overrides.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

fn held_out_unpaired(data: &Path, n: usize) -> tch::Tensor {
    let world = vox2pix_synth::export::world_from_dir(data).unwrap();
    let classes = &world.splits.non_test_classes;
    let size = world.config.image_size as i64;
    // Distractor stream: never part of the unpaired pool, the backbone's images or the paired set.
    let imgs: Vec<tch::Tensor> = (0..n)
        .map(|i| {
            let r = render(
                &world.taxonomy,
                world.seed,
                Role::Distractor,
                classes[i % classes.len()],
                (i / classes.len()) as u32,
                size as usize,
            );
            tch::Tensor::from_slice(&r.rgb).view([size, size, 3]).permute([2, 0, 1])
        })
        .collect();
    tch::Tensor::stack(&imgs, 0)
}

#[test]
fn ed_stream_lowers_the_cycle_loss_on_held_out_unpaired_images() {
    tch::set_num_threads(1);
    let (data, enc_run) = world();
    let dev = tch::Device::Cpu;
    let mut losses = vec![];
    for (name, unpaired) in [("paired-only", "0"), ("with-ed", "8")] {
        let c = cfg(&[
            "decoder_training.epochs=4",
            "decoder_training.steps_per_epoch=6",
            &format!("decoder_training.unpaired_batch={unpaired}"),
        ]);
        let out = scratch!(name);
        jobs::decoder_job(data, enc_run, &c, &out, dev, false, None).unwrap();
        let c = vox2pix::model::run_config(&out).unwrap();
        let d = TrainingData::load(data, &c.roi, dev).unwrap();
        let enc = EncoderModel::load_run(enc_run, &c, &d, dev).unwrap();
        let dec = DecoderModel::load_run(&out, &c, &d, dev).unwrap();
        losses.push(cycle_image_loss(&c, &d, &enc, &dec, &held_out_unpaired(data, 64)));
    }
    eprintln!(
        "held-out cycle image loss: paired-only {:.4}, with ED {:.4}",
        losses[0], losses[1]
    );
    assert!(
        losses[1] < losses[0] * 0.97,
        "ED stream did not help: paired-only {} vs ED {}",
        losses[0],
        losses[1]
    );
}

fn read_bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn killed_and_resumed_run_matches_an_uninterrupted_one() {
    let (data, enc_run) = world();
    let args = |out: &Path| {
        vec![
            "train-decoder".to_string(),
            "--data".into(),
            data.display().to_string(),
            "--encoder".into(),
            enc_run.display().to_string(),
            "--config".into(),
            "tiny".into(),
            "--set".into(),
            "decoder_training.epochs=4".into(),
            "--out".into(),
            out.display().to_string(),
            "--threads".into(),
            "1".into(),
        ]
    };
    let full = scratch!("full");
    let st = Command::new(BIN).args(args(&full)).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));

    // Kill with SIGKILL once the second epoch's checkpoint is committed (mid-run, possibly mid-epoch 3).
    let cut = scratch!("cut");
    let mut child = Command::new(BIN).args(args(&cut)).spawn().unwrap();
    crate::helpers::kill_when(&mut child, || {
        std::fs::read_to_string(cut.join("state.json"))
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["epoch"].as_u64())
            .is_some_and(|epoch| epoch >= 2)
    });
    assert!(
        !cut.join("decoder.safetensors").exists(),
        "run finished before it could be killed; make it longer"
    );
    let mut resume = args(&cut);
    resume.push("--resume".into());
    let st = Command::new(BIN).args(&resume).output().unwrap();
    assert!(
        st.status.success(),
        "resume failed: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert_eq!(
        read_bytes(&full.join("decoder.safetensors")),
        read_bytes(&cut.join("decoder.safetensors")),
        "resumed run ended with different weights"
    );
    let metrics = std::fs::read_to_string(cut.join("metrics.jsonl")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        4,
        "one metrics line per epoch after resume:\n{metrics}"
    );
}

fn run_fail(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    err
}

#[test]
fn bad_checkpoints_and_configs_give_clear_errors() {
    let (data, enc_run) = world();
    let d = data.to_str().unwrap();
    // Unknown config key.
    let err = run_fail(&[
        "train-encoder",
        "--data",
        d,
        "--config",
        "tiny",
        "--set",
        "encoder_training.epochz=2",
        "--out",
        scratch!("k").to_str().unwrap(),
    ]);
    assert!(err.contains("epochz"), "{err}");
    // A corrupted checkpoint, then resume.
    let run = scratch!("corrupt");
    std::fs::create_dir_all(&run).unwrap();
    for e in std::fs::read_dir(enc_run).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, run.join(p.file_name().unwrap())).unwrap();
    }
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("state.json")).unwrap()).unwrap();
    let ckpt = run.join(state["file"].as_str().unwrap());
    let bytes = read_bytes(&ckpt);
    std::fs::write(&ckpt, &bytes[..bytes.len() / 2]).unwrap();
    let err = run_fail(&[
        "train-encoder",
        "--data",
        d,
        "--config",
        "tiny",
        "--set",
        "encoder_training.epochs=5",
        "--out",
        run.to_str().unwrap(),
        "--resume",
    ]);
    assert!(
        err.contains("config differs") || err.contains("corrupt or truncated"),
        "{err}"
    );
    let err = run_fail(&[
        "train-encoder",
        "--data",
        d,
        "--config",
        "tiny",
        "--out",
        run.to_str().unwrap(),
        "--resume",
    ]);
    assert!(
        err.contains("corrupt or truncated") && err.contains(ckpt.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    // An encoder trained for another voxel count (a different ROI) used with this data.
    let err = run_fail(&[
        "train-decoder",
        "--data",
        d,
        "--encoder",
        enc_run.to_str().unwrap(),
        "--config",
        "tiny",
        "--set",
        "roi=[\"V1\"]",
        "--out",
        scratch!("roi").to_str().unwrap(),
    ]);
    assert!(err.contains("ROI") || err.contains("voxels"), "{err}");
    let small = scratch!("v1data");
    std::fs::create_dir_all(&small).unwrap();
    let c = cfg(&["roi=[\"V1\"]"]);
    let v1 = TrainingData::load(data, &c.roi, tch::Device::Cpu).unwrap();
    let full_cfg = vox2pix::model::run_config(enc_run).unwrap();
    let err = format!(
        "{:#}",
        EncoderModel::load_run(enc_run, &full_cfg, &v1, tch::Device::Cpu)
            .err()
            .expect("voxel mismatch must fail")
    );
    assert!(err.contains("wrong shape") && err.contains("voxels"), "{err}");
}

#[test]
fn test_classes_never_enter_training() {
    use vox2pix::data::pool::{GuardedPool, ImagePool};
    let (data, _) = world();
    let d = TrainingData::load(data, &["VC".to_string()], tch::Device::Cpu).unwrap();
    assert!(!d.test_classes.is_empty());
    // The world's own pool passes the guard; a pool that contains a test class is refused.
    let pool = vox2pix::data::world_pool::WorldPool::new(data, 4, false).unwrap();
    for i in 0..pool.len() {
        assert!(
            !d.test_classes.contains(&pool.class_of(i)),
            "world pool image {i} is of a test class"
        );
    }
    GuardedPool::new(pool, &d.test_classes).unwrap();
    struct Leaky(i64);
    impl ImagePool for Leaky {
        fn len(&self) -> usize {
            3
        }
        fn image_size(&self) -> usize {
            32
        }
        fn class_of(&self, i: usize) -> i64 {
            if i == 2 {
                self.0
            } else {
                -1
            }
        }
        fn image(&self, _: usize) -> anyhow::Result<Vec<f32>> {
            Ok(vec![0.0; 32 * 32 * 3])
        }
        fn describe(&self) -> String {
            "leaky".into()
        }
    }
    let err = GuardedPool::new(Leaky(d.test_classes[0]), &d.test_classes)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("leakage"), "{err}");
    // A backbone whose card says it saw a test class is refused.
    let bb = vox2pix::model::backbone::world_backbone_path(data);
    let card_p = vox2pix_formats::weights::card::backbone_card_path(&bb);
    let mut card: vox2pix_formats::weights::card::BackboneCard = serde_json::from_slice(&read_bytes(&card_p)).unwrap();
    for c in &card.trained_classes {
        assert!(!d.test_classes.contains(c), "backbone trained on test class {c}");
    }
    let copy = scratch!("leakbb");
    std::fs::create_dir_all(&copy).unwrap();
    let bb2 = copy.join("bb.safetensors");
    std::fs::copy(&bb, &bb2).unwrap();
    card.trained_classes.push(d.test_classes[0]);
    std::fs::write(
        vox2pix_formats::weights::card::backbone_card_path(&bb2),
        serde_json::to_vec(&card).unwrap(),
    )
    .unwrap();
    let mut c = cfg(&[]);
    c.backbone.weights = bb2.display().to_string();
    let err = vox2pix::model::backbone::load_backbone(&c.backbone, data, &d.test_classes, tch::Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("leakage"), "{err}");
}

/// Runs the binary, asserts success, returns (stdout, stderr).
fn ok(args: &[&str]) -> (String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?} failed: {err}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), err)
}

/// `convert vim1` of the fixture's subject 1 at 32 px into `data`; returns what the command printed.
fn convert_vim1_fixture(data: &Path) -> (String, String) {
    let fx = |n: &str| crate::helpers::fixture("vim1", n).display().to_string();
    ok(&[
        "convert",
        "vim1",
        "--responses",
        &fx("EstimatedResponses.mat"),
        "--stimuli",
        &fx("Stimuli.mat"),
        "--subject",
        "1",
        "--size",
        "32",
        "--out",
        data.to_str().unwrap(),
    ])
}

/// One epoch of E (with backbone weights `bb`) and of paired-only D on `data` in `root/{enc,dec}`, then
/// `reconstruct`; returns the decoder run.
fn train_tiny_and_reconstruct(data: &Path, bb: &Path, root: &Path) -> PathBuf {
    let (enc, dec) = (root.join("enc"), root.join("dec"));
    let (d, e, r) = (data.to_str().unwrap(), enc.to_str().unwrap(), dec.to_str().unwrap());
    let bb_set = format!("backbone.weights={}", bb.display());
    ok(&[
        "train-encoder",
        "--data",
        d,
        "--config",
        "tiny",
        "--set",
        &bb_set,
        "--set",
        "encoder_training.epochs=1",
        "--threads",
        "1",
        "--out",
        e,
    ]);
    ok(&[
        "train-decoder",
        "--data",
        d,
        "--encoder",
        e,
        "--config",
        "tiny",
        "--set",
        "decoder_training.epochs=1",
        "--set",
        "decoder_training.unpaired_batch=0",
        "--threads",
        "1",
        "--out",
        r,
    ]);
    ok(&["reconstruct", "--run", r, "--data", d, "--threads", "1"]);
    dec
}

/// vim-1 end to end on the `tiny` config: the h5py/scipy fixtures (`tools/make_vim1_fixtures.py`) convert, E and
/// D train on them (with the tiny world's backbone), and the reconstructions of the grayscale test images are
/// gray (R = G = B) and scored.
#[test]
fn vim1_fixture_converts_trains_and_reconstructs_gray() {
    let (world_data, _) = world();
    let root = scratch!("vim1");
    let data = root.join("data");
    let run = |args: &[&str]| ok(args);
    let d = data.to_str().unwrap();
    let (stdout, stderr) = convert_vim1_fixture(&data);
    assert!(stdout.contains("24 voxels, 12 train images, 4 test images"), "{stdout}");
    assert!(
        stderr.contains("warning:") && stderr.contains("2 of 26 selected voxels have NaN"),
        "{stderr}"
    );
    let dec = train_tiny_and_reconstruct(&data, &vox2pix::model::backbone::world_backbone_path(world_data), &root);
    let mut npz = vox2pix_formats::npz::NpzReader::open(&dec.join("reconstructions.npz")).unwrap();
    let recon = npz.read("recon").unwrap().to_f32().unwrap();
    assert_eq!(recon.shape(), [4, 32, 32, 3]);
    let v: Vec<f32> = recon.iter().copied().collect();
    assert!(
        v.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]),
        "grayscale data must give gray reconstructions"
    );
    assert!(v.chunks(3).any(|p| p[0] != v[0]), "the reconstruction is not constant");
    run(&[
        "evaluate",
        "--run",
        dec.to_str().unwrap(),
        "--data",
        d,
        "--threads",
        "1",
    ]);
    let m: serde_json::Value = serde_json::from_slice(&read_bytes(&dec.join("metrics.json"))).unwrap();
    assert_eq!(m["n_test_images"], 4);
    assert!(m["pixcorr"]["mean"].as_f64().unwrap().is_finite(), "{m}");
    // Calibrated LPIPS as a third identification distance (the lpips package's heads, cut to the narrow
    // fixture AlexNet by tools/make_lpips_fixtures.py).
    let heads = crate::helpers::fixture("nn", "lpips_alex_w0125_heads.pth")
        .display()
        .to_string();
    let alex = crate::helpers::fixture("nn", "alexnet_w0125.pth").display().to_string();
    let (stdout, _) = run(&[
        "evaluate",
        "--run",
        dec.to_str().unwrap(),
        "--data",
        d,
        "--threads",
        "1",
        "--lpips",
        &heads,
        "--lpips-weights",
        &alex,
        "--lpips-width",
        "0.125",
    ]);
    assert!(stdout.contains("lpips_alex"), "{stdout}");
    let m: serde_json::Value = serde_json::from_slice(&read_bytes(&dec.join("metrics.json"))).unwrap();
    let sets = m["identification"].as_array().unwrap();
    let lp = sets
        .iter()
        .find(|s| s["distance"] == "lpips_alex")
        .expect("an lpips_alex identification set");
    assert_eq!(lp["pool"], "test");
    assert!(!lp["results"].as_array().unwrap().is_empty());
    let csv = std::fs::read_to_string(dec.join("metrics_per_image.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains("identification_lpips_alex_test_2way"),
        "{csv}"
    );
    let vgg_heads = crate::helpers::fixture("nn", "lpips_vgg_w0125_heads.pth")
        .display()
        .to_string();
    let vgg = crate::helpers::fixture("nn", "vgg16_w0125.pth").display().to_string();
    let (stdout, _) = run(&[
        "evaluate",
        "--run",
        dec.to_str().unwrap(),
        "--data",
        d,
        "--threads",
        "1",
        "--pool",
        "test",
        "--lpips",
        &vgg_heads,
        "--lpips-net",
        "vgg",
        "--lpips-weights",
        &vgg,
        "--lpips-width",
        "0.125",
    ]);
    assert!(stdout.contains("lpips_vgg"), "{stdout}");
    // The external pool on real data: a folder of distractors (here the 9 fixture ImageNet-layout images).
    let imagenet = crate::helpers::fixture("protos", "imagenet").display().to_string();
    let (stdout, stderr) = run(&[
        "evaluate",
        "--run",
        dec.to_str().unwrap(),
        "--data",
        d,
        "--threads",
        "1",
        "--external-images",
        &imagenet,
    ]);
    assert!(stderr.contains("external pool: 9 images"), "{stderr}");
    assert!(stdout.contains("external"), "{stdout}");
    let m: serde_json::Value = serde_json::from_slice(&read_bytes(&dec.join("metrics.json"))).unwrap();
    let ext = m["identification"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["pool"] == "external")
        .count();
    assert_eq!(ext, 2, "perceptual and pixel correlation on the external pool: {m}");
    // A folder that holds a test image is refused, naming the file.
    let leak = root.join("leak");
    std::fs::create_dir_all(&leak).unwrap();
    let ds = vox2pix_formats::layout::load_dataset(&data, Some(1)).unwrap();
    let px = ds.test_images.pixels.index_axis(ndarray::Axis(0), 2);
    let img = image::RgbImage::from_fn(32, 32, |x, y| {
        image::Rgb([
            px[[y as usize, x as usize, 0]],
            px[[y as usize, x as usize, 1]],
            px[[y as usize, x as usize, 2]],
        ])
    });
    img.save(leak.join("copy.png")).unwrap();
    let o = Command::new(BIN)
        .args([
            "evaluate",
            "--run",
            dec.to_str().unwrap(),
            "--data",
            d,
            "--threads",
            "1",
            "--external-images",
        ])
        .arg(&leak)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("copy.png is test image 2"), "{err}");
    // Semantic classification needs prototypes of the same image size and classes the images do not have.
    let protos = root.join("protos.safetensors");
    for (size, needle) in [
        ("112", "rebuild with --size 32"),
        ("32", "needs the class (WordNet id) of every test image"),
    ] {
        run(&[
            "prototypes",
            "build",
            "--images",
            &imagenet,
            "--weights",
            &alex,
            "--width",
            "0.125",
            "--per-class",
            "2",
            "--size",
            size,
            "--out",
            protos.to_str().unwrap(),
        ]);
        let o = Command::new(BIN)
            .args([
                "evaluate",
                "--run",
                dec.to_str().unwrap(),
                "--data",
                d,
                "--threads",
                "1",
                "--prototypes",
            ])
            .arg(&protos)
            .args(["--alexnet", &alex])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.starts_with("error:") && err.contains(needle),
            "{err}"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// Semantic classification on real-layout data, end to end: a converted dataset whose test images carry
/// WordNet class ids, prototypes built from an ImageNet-layout folder, `evaluate --prototypes`. With 3 classes
/// the protocol is 3-way, where every trial holds all classes, so each test image's score is 1 exactly when
/// its reconstruction's AlexNet embedding is nearest (1 − Pearson r) to its own class's prototype; that is
/// recomputed here from the saved reconstructions and the prototype file.
#[test]
fn real_layout_classification_with_prototypes_end_to_end() {
    let _torch = crate::helpers::torch_lock();
    let (world_data, _) = world();
    let root = scratch!("protos-e2e");
    let data = root.join("data");
    let run = |args: &[&str]| ok(args).0;
    let d = data.to_str().unwrap();
    convert_vim1_fixture(&data);
    // Give the images class ids, as a GOD conversion has: test images of classes n00000001..3, training images
    // of other classes; the manifest (which says "no classes") goes.
    let mut ds = vox2pix_formats::layout::load_dataset(&data, Some(1)).unwrap();
    ds.test_images.class_ids = Some(vec![1, 2, 3, 1]);
    ds.train_images.class_ids = Some((0..12).map(|i| 100 + i % 4).collect());
    std::fs::remove_file(data.join("manifest.json")).unwrap();
    vox2pix_formats::layout::write_dataset(&data, 1, &ds).unwrap();
    // The tiny world's backbone saw classes 1–3 of *its* world; these ids only name ImageNet-style folders here,
    // so its weights are used without its card (which would, rightly, refuse them as leakage).
    let bb_file = root.join("bb.safetensors");
    std::fs::copy(vox2pix::model::backbone::world_backbone_path(world_data), &bb_file).unwrap();
    let dec = train_tiny_and_reconstruct(&data, &bb_file, &root);
    let protos = root.join("protos.safetensors");
    let alex = crate::helpers::fixture("nn", "alexnet_w0125.pth");
    let imagenet = crate::helpers::fixture("protos", "imagenet").display().to_string();
    run(&[
        "prototypes",
        "build",
        "--images",
        &imagenet,
        "--weights",
        alex.to_str().unwrap(),
        "--width",
        "0.125",
        "--per-class",
        "2",
        "--size",
        "32",
        "--out",
        protos.to_str().unwrap(),
        "--threads",
        "1",
    ]);
    run(&[
        "evaluate",
        "--run",
        dec.to_str().unwrap(),
        "--data",
        d,
        "--threads",
        "1",
        "--pool",
        "test",
        "--prototypes",
        protos.to_str().unwrap(),
        "--alexnet",
        alex.to_str().unwrap(),
    ]);
    let csv = std::fs::read_to_string(dec.join("metrics_per_image.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "classification_3way_top1")
        .unwrap_or_else(|| panic!("{csv}"));
    let got: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect();

    // Independent of the evaluator: AlexNet on the saved reconstructions, Pearson r to each prototype.
    let mut npz = vox2pix_formats::npz::NpzReader::open(&dec.join("reconstructions.npz")).unwrap();
    let recon = npz.read("recon").unwrap().to_f32().unwrap();
    let x: Vec<f32> = recon.iter().copied().collect();
    let x = tch::Tensor::from_slice(&x).view([4, 32, 32, 3]).permute([0, 3, 1, 2]) * 2.0 - 1.0;
    let mut vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let net = vox2pix::nn::backbone::AlexNetFeatures::new(&vs.root(), 0.125);
    vox2pix::model::weights::load_weights(&mut vs, &alex, vox2pix::model::weights::TORCHVISION_ALEXNET_UNUSED).unwrap();
    let emb = tch::no_grad(|| net.embedding(&x)).to_kind(tch::Kind::Double);
    let p = tch::Tensor::read_safetensors(&protos)
        .unwrap()
        .remove(0)
        .1
        .to_kind(tch::Kind::Double);
    let vec_of = |t: tch::Tensor| Vec::<f64>::try_from(t).unwrap();
    let pearson = |a: &[f64], b: &[f64]| {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let c: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        c / (a.iter().map(|x| (x - ma).powi(2)).sum::<f64>() * b.iter().map(|y| (y - mb).powi(2)).sum::<f64>()).sqrt()
    };
    let truth = [0usize, 1, 2, 0];
    for i in 0..4 {
        let e = vec_of(emb.get(i as i64));
        let r: Vec<f64> = (0..3).map(|c| pearson(&e, &vec_of(p.get(c)))).collect();
        let best = (0..3).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap();
        assert_eq!(
            got[i],
            (best == truth[i]) as u8 as f64,
            "test image {i}: r to the prototypes {r:?}"
        );
    }
    let m: serde_json::Value = serde_json::from_slice(&read_bytes(&dec.join("metrics.json"))).unwrap();
    assert!(
        m["classification"].as_array().unwrap().iter().any(|c| c["n"] == 3),
        "{m}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// The `ssr` method at `tiny` scale with E on its own VGG19 (the narrow torchvision-layout fixture of
/// tools/make_ssr_fixtures.py): E reads VGG19's taps, the decoder run inherits that backbone from the encoder run
/// and trains with SSR's blocks, pooled perceptual taps and 24 + 48 rows.
#[test]
fn ssr_method_trains_end_to_end_with_a_vgg19_encoder() {
    let (data, _) = world();
    let root = scratch!("ssr-vgg19");
    let (enc, dec) = (root.join("enc"), root.join("dec"));
    let (d, e, r) = (data.to_str().unwrap(), enc.to_str().unwrap(), dec.to_str().unwrap());
    let vgg19 = crate::helpers::fixture("nn", "vgg19_w0125.safetensors");
    let bb = format!("backbone.encoder={}", vgg19.display());
    ok(&[
        "train-encoder",
        "--data",
        d,
        "--config",
        "ssr@tiny",
        "--set",
        &bb,
        "--set",
        "encoder_training.epochs=1",
        "--threads",
        "1",
        "--out",
        e,
    ]);
    let w: std::collections::HashMap<String, tch::Tensor> =
        tch::Tensor::read_safetensors(enc.join("encoder.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    // Head inputs are VGG19 width 0.125 (8, 16, 32, 64 channels), not the world backbone's width 0.25 (16 … 128).
    for (head, c) in [(0, 8), (1, 16), (2, 32), (3, 64)] {
        let k = format!("heads.{head}.conv.weight");
        assert_eq!(w[&k].size()[1], c, "{k}");
    }
    let recorded = TrainConfig::load(enc.join("config.toml").to_str().unwrap(), &[]).unwrap();
    assert_eq!(recorded.backbone.encoder, vgg19.display().to_string());
    assert_eq!(recorded.backbone.weights, "world");
    assert_eq!(recorded.encoder.space_mom2, 10.0);
    ok(&[
        "train-decoder",
        "--data",
        d,
        "--encoder",
        e,
        "--config",
        "ssr@tiny",
        "--set",
        "decoder_training.epochs=1",
        "--threads",
        "1",
        "--out",
        r,
    ]);
    let recorded = TrainConfig::load(dec.join("config.toml").to_str().unwrap(), &[]).unwrap();
    assert_eq!(recorded.backbone.encoder, vgg19.display().to_string());
    assert_eq!(recorded.decoder.block, vox2pix_formats::config::DecoderBlock::Ssr);
    assert_eq!(recorded.decoder_training.unpaired_batch, 48);
    ok(&["reconstruct", "--run", r, "--data", d, "--threads", "1"]);
}

/// NSD end to end on the `tiny` config: the fixture release (`tools/make_nsd_fixtures.py`) converts with an
/// unpaired pool of NSD images, E trains, and D trains with the ED stream drawing from that pool (no image
/// folder given); a pool holding a test image is refused.
#[test]
fn nsd_fixture_converts_and_trains_with_its_unpaired_nsd_images() {
    let (world_data, _) = world();
    let root = scratch!("nsd");
    let data = root.join("data");
    let fx = |n: &str| crate::helpers::fixture("nsd", n).display().to_string();
    let d = data.to_str().unwrap();
    let (stdout, _) = ok(&[
        "convert",
        "nsd",
        "--root",
        "/nonexistent",
        "--expdesign",
        &fx("nsd_expdesign.mat"),
        "--betas-dir",
        &fx("betas_h5"),
        "--rois",
        &fx("roi"),
        "--stimuli",
        &fx("nsd_stimuli.hdf5"),
        "--subject",
        "1",
        "--size",
        "32",
        "--unpaired",
        "30",
        "--no-progress",
        "--out",
        d,
    ]);
    assert!(stdout.contains("54 voxels"), "{stdout}");
    assert!(data.join("unpaired_32.npz").is_file());
    let (enc, dec) = (root.join("enc"), root.join("dec"));
    let bb = format!(
        "backbone.weights={}",
        vox2pix::model::backbone::world_backbone_path(world_data).display()
    );
    let common = ["--config", "tiny", "--threads", "1", "--set"];
    let e = enc.to_str().unwrap();
    ok(&[
        &["train-encoder", "--data", d][..],
        &common,
        &[&bb, "--set", "encoder_training.epochs=1", "--out", e],
    ]
    .concat());
    let r = dec.to_str().unwrap();
    let (_, err) = ok(&[
        &["train-decoder", "--data", d, "--encoder", e][..],
        &common,
        &["decoder_training.epochs=1", "--out", r],
    ]
    .concat());
    let log = std::fs::read_to_string(dec.join("metrics.jsonl")).unwrap_or_default();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap_or("{}")).unwrap();
    let ed = first["loss_ed"].as_f64().unwrap_or(0.0);
    assert!(
        ed > 0.0 && ed.is_finite(),
        "the ED stream ran on the NSD pool: {log} {err}"
    );
    // A pool holding a test image (e.g. copied from another conversion) is refused by name.
    let ids = std::fs::read_to_string(data.join("nsd_images.csv")).unwrap();
    let test_id: i64 = ids
        .lines()
        .find_map(|l| l.strip_prefix("test,0,"))
        .unwrap()
        .parse()
        .unwrap();
    let pool_path = data.join("unpaired_32.npz");
    let mut pool = vox2pix_formats::images::read_pool_cache(&pool_path).unwrap();
    pool.class_ids[0] = test_id;
    vox2pix_formats::images::write_pool_cache(&pool_path, &pool).unwrap();
    let out = Command::new(BIN)
        .args(
            [
                &["train-decoder", "--data", d, "--encoder", e][..],
                &common,
                &["decoder_training.epochs=1"],
            ]
            .concat(),
        )
        .arg("--out")
        .arg(root.join("dec2"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("unpaired_32.npz") && err.contains("a test image"),
        "{err}"
    );
}

/// `paired_images` keeps a class-balanced, nested subset: every kept trial still shows its own image (the same
/// pixels and the same response row as before), every class is kept before any twice, a smaller set lies inside
/// a larger one, and asking for more than there is names the field.
#[test]
fn restricted_paired_set_keeps_each_trial_with_its_image_and_every_class() {
    let (data, _) = world();
    let vc = ["VC".to_string()];
    let full = TrainingData::load(data, &vc, tch::Device::Cpu).unwrap();
    let n_total = full.train_images.size()[0] as usize;
    let classes: std::collections::BTreeSet<i64> = full.train_classes.iter().copied().collect();
    let labels: Vec<i64> = Vec::try_from(&full.train_labels).unwrap();
    // A response row identifies its trial: find each kept trial in the full set by its row.
    let find_trial = |row: &tch::Tensor| -> usize {
        (0..full.n_trials())
            .find(|&t| full.y_train.get(t).equal(row))
            .expect("a kept trial must come from the full set") as usize
    };
    let mut previous: Option<Vec<usize>> = None;
    for n in [classes.len(), classes.len() + 3, n_total / 2] {
        let mut d = TrainingData::load(data, &vc, tch::Device::Cpu).unwrap();
        d.restrict_paired(n).unwrap();
        assert_eq!(d.train_images.size()[0] as usize, n);
        assert_eq!(d.train_classes.len(), n);
        let kept_classes: std::collections::BTreeSet<i64> = d.train_classes.iter().copied().collect();
        assert_eq!(kept_classes, classes, "n = {n}: every class must be kept");
        let kept_labels: Vec<i64> = Vec::try_from(&d.train_labels).unwrap();
        let mut originals = Vec::new();
        for (t, &l) in kept_labels.iter().enumerate() {
            let orig = find_trial(&d.y_train.get(t as i64));
            let orig_image = labels[orig];
            assert!(
                d.train_images.get(l).equal(&full.train_images.get(orig_image)),
                "n = {n}: trial {t} lost its image"
            );
            originals.push(orig_image as usize);
        }
        originals.sort_unstable();
        originals.dedup();
        assert_eq!(originals.len(), n, "n = {n}: each kept image keeps its trials");
        if let Some(p) = &previous {
            assert!(
                p.iter().all(|i| originals.contains(i)),
                "n = {n}: the subsets must be nested"
            );
        }
        previous = Some(originals);
    }
    let mut d = TrainingData::load(data, &vc, tch::Device::Cpu).unwrap();
    let err = format!("{:#}", d.restrict_paired(n_total + 1).unwrap_err());
    assert!(
        err.contains("paired_images") && err.contains(&n_total.to_string()),
        "{err}"
    );
}
