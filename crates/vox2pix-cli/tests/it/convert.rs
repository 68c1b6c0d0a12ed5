//! `convert god` on the fixture against the NumPy implementation of the documented steps
//! (`tools/make_bdata_fixtures.py` → `expected_god.npz`), plus the missing-image error.
use crate::helpers::fixture;
use ndarray::ArrayD;
use std::collections::BTreeMap;
use std::path::Path;
use vox2pix_formats::convert::{convert_god, GodConvertOptions};
use vox2pix_formats::npz::{read_npz, NpyArray};

fn options(bdata: &str, out: &Path) -> GodConvertOptions {
    GodConvertOptions {
        bdata: fixture("bdata", bdata),
        stimuli: fixture("bdata", "stimuli"),
        out: out.to_path_buf(),
        subject: Some(1),
        roi: "VC".into(),
        train_table: Some(fixture("bdata", "stimulus_train.tsv")),
        test_table: Some(fixture("bdata", "stimulus_test.tsv")),
        pool: None,
    }
}

fn f64s(a: &NpyArray) -> ArrayD<f64> {
    a.to_f32()
        .map(|x| x.mapv(|v| v as f64))
        .unwrap_or_else(|| a.to_array::<f64>().expect("float array"))
}

fn assert_close(key: &str, got: &NpyArray, want: &NpyArray, abs: f64, rel: f64) {
    let (g, w) = (f64s(got), f64s(want));
    assert_eq!(g.shape(), w.shape(), "{key}: shape");
    let worst = g
        .iter()
        .zip(w.iter())
        .map(|(a, b)| (a - b).abs() - rel * b.abs())
        .fold(f64::MIN, f64::max);
    assert!(
        worst <= abs,
        "{key}: differs from the NumPy reference by {worst} beyond tolerance"
    );
}

fn load(dir: &Path) -> (BTreeMap<String, NpyArray>, BTreeMap<String, NpyArray>) {
    (
        read_npz(&dir.join("sbj_1.npz")).unwrap(),
        read_npz(&dir.join("images_112.npz")).unwrap(),
    )
}

#[test]
fn convert_god_matches_the_numpy_reference() {
    let out = temp_dir!("ref");
    convert_god(&options("god_bdpy.h5", &out)).unwrap();
    let (sbj, imgs) = load(&out);
    let want = read_npz(&fixture("bdata", "expected_god.npz")).unwrap();
    // z-scores are O(1): f32 rounding only. SNR and noise ceiling are ratios: relative tolerance.
    for key in ["arr_0", "arr_1", "arr_2"] {
        assert_close(key, &sbj[key], &want[key], 1e-5, 0.0);
    }
    assert_close("arr_6 (SNR)", &sbj["arr_6"], &want["arr_6"], 1e-6, 1e-4);
    assert_close("arr_5 (noise ceiling)", &sbj["arr_5"], &want["arr_5"], 1e-4, 1e-4);
    for key in ["arr_3", "arr_4", "train_runs", "test_runs"] {
        assert_eq!(sbj[key].to_i64(), want[key].to_i64(), "{key}");
    }
    for key in ["V1", "V2", "V3", "V4", "LOC", "FFA", "PPA", "LVC", "HVC", "VC"] {
        assert_eq!(sbj[key].to_array::<bool>(), want[key].to_array::<bool>(), "mask {key}");
    }
    assert_eq!(imgs["train_class_ids"].to_i64(), want["train_class_ids"].to_i64());
    assert_eq!(imgs["test_class_ids"].to_i64(), want["test_class_ids"].to_i64());
    // Images: same crop, bicubic kernels differ slightly between image-rs (Catmull-Rom) and PIL, and JPEG
    // decoders differ by a level or two; the mean error must stay under one grey level.
    for key in ["train_images", "test_images"] {
        let got = f64s(&imgs[key]);
        let want = want[&format!("{key}_u8")]
            .to_array::<u8>()
            .unwrap()
            .mapv(|v| v as f64 / 255.0);
        assert_eq!(got.shape(), want.shape(), "{key}");
        let diffs: Vec<f64> = got.iter().zip(want.iter()).map(|(a, b)| (a - b).abs()).collect();
        let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
        let max = diffs.iter().cloned().fold(0.0, f64::max);
        assert!(
            mean < 1.0 / 255.0 && max < 0.1,
            "{key}: mean |Δ| {mean}, max |Δ| {max} vs PIL"
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["source"], "god");
    assert_eq!(manifest["n_voxels"], 38);
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn old_layout_converts_to_the_same_arrays() {
    let (a, b) = (temp_dir!("new"), temp_dir!("old"));
    convert_god(&options("god_bdpy.h5", &a)).unwrap();
    convert_god(&options("god_old_fixed.h5", &b)).unwrap();
    assert_eq!(load(&a), load(&b));
    let _ = (std::fs::remove_dir_all(a), std::fs::remove_dir_all(b));
}

#[test]
fn gzip_file_with_nan_imagery_ids_converts_to_the_same_arrays() {
    let (a, b) = (temp_dir!("plain"), temp_dir!("gzip"));
    convert_god(&options("god_bdpy.h5", &a)).unwrap();
    convert_god(&options("god_gzip.h5", &b)).unwrap();
    assert_eq!(load(&a), load(&b));
    let _ = (std::fs::remove_dir_all(a), std::fs::remove_dir_all(b));
}

#[test]
fn without_tables_images_are_ordered_by_stimulus_id() {
    let out = temp_dir!("noorder");
    let mut o = options("god_bdpy.h5", &out);
    o.train_table = None;
    o.test_table = None;
    let ds = convert_god(&o).unwrap();
    let ids = ds.test_images.class_ids.clone().unwrap();
    assert_eq!(ids, vec![1443537, 1677366, 1943899]);
    let train = ds.train_images.class_ids.clone().unwrap();
    assert!(train.windows(2).all(|w| w[0] <= w[1]), "{train:?}");
    // Labels follow the new order and trials stay sorted by image.
    assert!(ds
        .subject
        .test_labels
        .iter()
        .zip(ds.subject.test_labels.iter().skip(1))
        .all(|(a, b)| a <= b));
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn missing_stimulus_images_are_listed_and_nothing_is_written() {
    let out = temp_dir!("missing");
    let stim = out.join("stimuli");
    std::fs::create_dir_all(&stim).unwrap();
    for f in ["n01518878_14910.png", "n01443537_22563.png"] {
        std::fs::copy(fixture("bdata", "stimuli").join(f), stim.join(f)).unwrap();
    }
    let mut o = options("god_bdpy.h5", &out.join("ds"));
    o.stimuli = stim;
    let e = format!("{:#}", convert_god(&o).unwrap_err());
    // The training set is loaded first: 7 of its 8 images are missing; the first in table order is named.
    assert!(e.contains("7 of 8 stimulus images are missing"), "{e}");
    assert!(e.contains("n01639765_48919.JPEG"), "{e}");
    assert!(!out.join("ds").join("sbj_1.npz").exists(), "no output on failure");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn unpaired_pool_is_written_beside_the_dataset_without_test_classes() {
    let out = temp_dir!("pool");
    let mut o = options("god_bdpy.h5", &out);
    o.pool = Some((fixture("bdata", "pool"), 50, 0));
    convert_god(&o).unwrap();
    let pool = vox2pix_formats::images::read_pool_cache(&out.join("pool_112.npz")).unwrap();
    // The test class n01443537 is excluded because it is a test image's class in the BData file.
    assert_eq!(
        pool.class_ids,
        vec![1518878; 5].into_iter().chain(vec![9999999; 2]).collect::<Vec<_>>()
    );
    assert_eq!(pool.pixels.shape(), &[7, 112, 112, 3]);
    let _ = std::fs::remove_dir_all(out);
}

/// The binary: a good conversion prints its summary; a bad ROI exits 1 with `error:` and the ROI keys that exist.
#[test]
fn cli_convert_god_reports_success_and_errors() {
    let out = temp_dir!("cli");
    let run = |roi: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vox2pix"))
            .args(["convert", "god", "--subject", "2", "--roi", roi, "--bdata"])
            .arg(fixture("bdata", "god_bdpy.h5"))
            .arg("--stimuli")
            .arg(fixture("bdata", "stimuli"))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let ok = run("VC");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(
        stdout.contains("38 voxels, 8 train trials / 8 images, 12 test trials / 3 images"),
        "{stdout}"
    );
    assert!(out.join("sbj_2.npz").is_file() && out.join("images_112.npz").is_file());
    let stderr = String::from_utf8_lossy(&ok.stderr);
    assert!(
        stderr.contains("warning:")
            && stderr.contains("first at sample 5, voxel 3 = data column 3")
            && stderr.contains("treated as missing"),
        "the fixture's NaN voxel value must be named: {stderr}"
    );
    let bad = run("V9");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr.starts_with("error:") && stderr.contains("ROI_V9") && stderr.contains("ROI_VC"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(out);
}

/// `weights fetch --from`: the torchvision file-name prefix rejects a foreign file and leaves the cache empty;
/// `--sha256` with the right digest converts it.
#[test]
fn cli_weights_fetch_checks_the_checksum() {
    let dir = temp_dir!("cli-weights");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vox2pix"))
            .args(["weights", "fetch", "vgg16", "--from"])
            .arg(fixture("bdata", "tiny_weights.pth"))
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .output()
            .unwrap()
    };
    let bad = run(&[]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("checksum mismatch") && stderr.contains("397923af"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing may be left in the cache"
    );
    let sha = std::fs::read_to_string(fixture("bdata", "tiny_weights.pth.sha256")).unwrap();
    let ok = run(&["--sha256", sha.trim()]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(dir.join("vgg16.safetensors").is_file());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("8 tensors"));
    let _ = std::fs::remove_dir_all(dir);
}

/// A small dataset in the vox2pix model, trials already in image order (as the converter writes them).
fn small_dataset() -> vox2pix::Dataset {
    use ndarray::{Array1, Array2, Array4};
    let mut state = 12345u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let v = 12;
    let y_train = Array2::from_shape_fn((6, v), |_| (next() * 4.0 - 2.0) as f32);
    let y_test = Array2::from_shape_fn((6, v), |_| (next() * 4.0 - 2.0) as f32);
    let test_labels = vec![0i64, 0, 0, 1, 1, 1];
    let y_test_avg = vox2pix_formats::preprocess::average_repeats(&y_test, &test_labels, 2).unwrap();
    let images =
        |n: usize, next: &mut dyn FnMut() -> f64| Array4::from_shape_fn((n, 112, 112, 3), |_| (next() * 255.0) as u8);
    let train_pixels = images(6, &mut next);
    let test_pixels = images(2, &mut next);
    let rois = [
        ("V1".to_string(), (0..v).map(|j| j < 4).collect()),
        ("VC".to_string(), vec![true; v]),
    ]
    .into();
    vox2pix::Dataset {
        subject: vox2pix::SubjectData {
            y_train,
            y_test,
            y_test_avg,
            train_labels: Array1::from(vec![0i64, 1, 2, 3, 4, 5]),
            test_labels: Array1::from(test_labels),
            noise_ceiling: Array1::zeros(v),
            snr: Array1::zeros(v),
            rois,
            train_runs: Some(vec![1, 1, 1, 2, 2, 2]),
            test_runs: Some(vec![1, 2, 3, 1, 2, 3]),
        },
        train_images: vox2pix::ImageSet {
            pixels: train_pixels,
            class_ids: Some(vec![1518878, 1518878, 1639765, 1639765, 3, 3]),
        },
        test_images: vox2pix::ImageSet {
            pixels: test_pixels,
            class_ids: Some(vec![1443537, 0]),
        },
    }
}

/// Dataset → GOD distribution form (BData HDF5 written by hdf5-pure, PNG stimuli, tables) → `convert god`
/// gives back the same images, labels, runs and masks, and the per-run z-scored fMRI.
#[test]
fn exported_bdata_round_trips_through_convert_god() {
    let ds = small_dataset();
    let dir = temp_dir!("export");
    vox2pix_formats::convert::export_god(&ds, 3, &dir).unwrap();
    let written = vox2pix_formats::bdata::BData::from_dataset(&ds).unwrap();
    let read = vox2pix_formats::bdata::BData::open(&dir.join("Subject3.h5")).unwrap();
    assert_eq!(read.keys, written.keys);
    assert_eq!(read.descriptions, written.descriptions);
    let bits = |a: &ndarray::Array2<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&read.dataset), bits(&written.dataset));
    assert_eq!(bits(&read.values), bits(&written.values));

    let out = dir.join("converted");
    let back = convert_god(&GodConvertOptions {
        bdata: dir.join("Subject3.h5"),
        stimuli: dir.join("stimuli"),
        out,
        subject: None,
        roi: "VC".into(),
        train_table: Some(dir.join("stimulus_train.tsv")),
        test_table: Some(dir.join("stimulus_test.tsv")),
        pool: None,
    })
    .unwrap();
    assert_eq!(
        back.train_images, ds.train_images,
        "PNG stimuli at 112 px must come back exactly"
    );
    assert_eq!(back.test_images, ds.test_images);
    let (s, b) = (&ds.subject, &back.subject);
    assert_eq!((&b.train_labels, &b.test_labels), (&s.train_labels, &s.test_labels));
    assert_eq!((&b.train_runs, &b.test_runs), (&s.train_runs, &s.test_runs));
    assert_eq!(b.rois, s.rois);
    // Expected fMRI: every voxel z-scored within each (split, run).
    let mut all = ndarray::concatenate(ndarray::Axis(0), &[s.y_train.view(), s.y_test.view()]).unwrap();
    let runs: Vec<u32> = [1, 1, 1, 2, 2, 2, 11, 12, 13, 11, 12, 13].to_vec();
    vox2pix_formats::preprocess::zscore_per_run(&mut all, &runs);
    let got = ndarray::concatenate(ndarray::Axis(0), &[b.y_train.view(), b.y_test.view()]).unwrap();
    let worst = got
        .iter()
        .zip(all.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-5, "z-scored fMRI differs by {worst}");
    let _ = std::fs::remove_dir_all(dir);
}

/// GOD-sized BData (1,200 + 1,750 trials × 4,600 voxels, ~110 MB) written by hdf5-pure and read back exactly.
/// Heavy (≈1 GB RAM), so opt-in: `cargo test --release --test bdata_convert -- --ignored`.
#[test]
#[ignore]
fn god_sized_bdata_round_trips() {
    use ndarray::{Array1, Array2, Array4};
    let (v, n_train, n_img, reps) = (4600, 1200, 50, 35);
    let y_train = Array2::from_shape_fn((n_train, v), |(i, j)| ((i * 31 + j * 17) % 1000) as f32 / 100.0 - 5.0);
    let y_test = Array2::from_shape_fn((n_img * reps, v), |(i, j)| {
        ((i * 13 + j * 7) % 997) as f32 / 100.0 - 5.0
    });
    let test_labels: Vec<i64> = (0..n_img * reps).map(|t| (t / reps) as i64).collect();
    let y_test_avg = vox2pix_formats::preprocess::average_repeats(&y_test, &test_labels, n_img).unwrap();
    let ds = vox2pix::Dataset {
        subject: vox2pix::SubjectData {
            y_train,
            y_test,
            y_test_avg,
            train_labels: Array1::from((0..n_train as i64).collect::<Vec<_>>()),
            test_labels: Array1::from(test_labels),
            noise_ceiling: Array1::zeros(v),
            snr: Array1::zeros(v),
            rois: [("VC".to_string(), vec![true; v])].into(),
            train_runs: Some((0..n_train as u32).map(|i| 1 + i / 50).collect()),
            test_runs: Some((0..(n_img * reps) as u32).map(|t| 1 + t % reps as u32).collect()),
        },
        train_images: vox2pix::ImageSet {
            pixels: Array4::zeros((n_train, 1, 1, 3)),
            class_ids: Some((0..n_train as i64).map(|i| 1_000_000 + i / 8).collect()),
        },
        test_images: vox2pix::ImageSet {
            pixels: Array4::zeros((n_img, 1, 1, 3)),
            class_ids: Some((0..n_img as i64).map(|i| 2_000_000 + i).collect()),
        },
    };
    let dir = temp_dir!("god-sized");
    let b = vox2pix_formats::bdata::BData::from_dataset(&ds).unwrap();
    let t = std::time::Instant::now();
    b.save(&dir.join("Subject1.h5")).unwrap();
    let t_write = t.elapsed();
    let t = std::time::Instant::now();
    let read = vox2pix_formats::bdata::BData::open(&dir.join("Subject1.h5")).unwrap();
    let trials = vox2pix_formats::bdata::GodTrials::from_bdata(&read, "VC").unwrap();
    let t_read = t.elapsed();
    eprintln!(
        "GOD-sized BData {:?}: write {t_write:?}, read + select {t_read:?}",
        read.dataset.dim()
    );
    assert_eq!(read.dataset, b.dataset);
    assert_eq!(trials.n_voxels(), v);
    assert_eq!(trials.rows(vox2pix_formats::bdata::Split::Test).len(), n_img * reps);
    let _ = std::fs::remove_dir_all(dir);
}

/// `convert nsd` from a release laid out as the AWS bucket is (--root) and from MindEye2's folder layout
/// (--mindeye2): both succeed, write a dataset that `info` reads, and agree on the trials and images.
#[test]
fn cli_convert_nsd_from_the_release_layout_and_from_mindeye2() {
    let tmp = temp_dir!("nsd");
    let nsd = |rel: &str| fixture("nsd", rel);
    let root = tmp.join("NSD");
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        if from.is_dir() {
            std::fs::create_dir_all(to).unwrap();
            for e in std::fs::read_dir(from).unwrap().flatten() {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        } else {
            std::fs::copy(from, to).unwrap();
        }
    };
    copy(
        &nsd("nsd_expdesign.mat"),
        &root.join("nsddata/experiments/nsd/nsd_expdesign.mat"),
    );
    copy(
        &nsd("betas_nii"),
        &root.join("nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR"),
    );
    copy(&nsd("roi"), &root.join("nsddata/ppdata/subj01/func1pt8mm/roi"));
    copy(
        &nsd("nsd_stimuli.hdf5"),
        &root.join("nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"),
    );
    let me2 = tmp.join("mindeyev2");
    copy(
        &nsd("betas_all_subj01_fp32_renorm.hdf5"),
        &me2.join("betas_all_subj01_fp32_renorm.hdf5"),
    );
    copy(
        &nsd("coco_images_224_float16.hdf5"),
        &me2.join("coco_images_224_float16.hdf5"),
    );
    for sub in ["train", "new_test"] {
        copy(&nsd(&format!("wds/subj01/{sub}")), &me2.join("wds/subj01").join(sub));
    }
    let run = |args: &[&std::ffi::OsStr]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_vox2pix"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let (a, b) = (tmp.join("from-release"), tmp.join("from-me2"));
    let os = |p: &Path| p.as_os_str().to_owned();
    let out_a = run(&[
        "convert".as_ref(),
        "nsd".as_ref(),
        "--root".as_ref(),
        &os(&root),
        "--subject".as_ref(),
        "1".as_ref(),
        "--size".as_ref(),
        "20".as_ref(),
        "--no-progress".as_ref(),
        "--out".as_ref(),
        &os(&a),
    ]);
    assert!(
        out_a.contains("54 voxels, 46 train trials / 36 images, 14 test trials / 10 images, 20 px"),
        "{out_a}"
    );
    let out_b = run(&[
        "convert".as_ref(),
        "nsd".as_ref(),
        "--mindeye2".as_ref(),
        &os(&me2),
        "--subject".as_ref(),
        "1".as_ref(),
        "--size".as_ref(),
        "20".as_ref(),
        "--no-progress".as_ref(),
        "--out".as_ref(),
        &os(&b),
    ]);
    assert!(
        out_b.contains("54 voxels, 46 train trials / 36 images, 14 test trials / 10 images"),
        "{out_b}"
    );
    assert_eq!(
        std::fs::read_to_string(a.join("nsd_images.csv")).unwrap(),
        std::fs::read_to_string(b.join("nsd_images.csv")).unwrap(),
        "the same images in the same order from both forms"
    );
    let info = run(&["info".as_ref(), &os(&a)]);
    assert!(info.contains("source       nsd") && info.contains("FFA"), "{info}");
    let design = run(&["info".as_ref(), &os(&nsd("nsd_expdesign.mat"))]);
    assert!(
        design.contains("NSD experiment design") && design.contains("subject 1: 19 shared-image trials"),
        "{design}"
    );
    let _ = std::fs::remove_dir_all(tmp);
}
