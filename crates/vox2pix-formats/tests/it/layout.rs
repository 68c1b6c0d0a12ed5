//! SelfSuperReconst layout and preprocessing: a NumPy-written `sbj_N.npz` folder loads to the values NumPy wrote,
//! vox2pix's own export round-trips exactly, ROI selection, load-time validation errors, and preprocessing
//! against an independent NumPy computation (`tools/make_npz_fixtures.py`).
use crate::helpers::fixture;
use ndarray::{Array1, Array2, Array4, Axis};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vox2pix_formats::error::kind_of;
use vox2pix_formats::layout::{load_dataset, load_images, load_subject, locate, write_dataset};
use vox2pix_formats::manifest::{manifest_path, read_manifest};
use vox2pix_formats::npz::{read_npz, write_npz, Compression, NpyArray};
use vox2pix_formats::preprocess::{average_repeats, calc_snr, ncsnr, noise_ceiling, zscore_per_run};
use vox2pix_formats::{Dataset, ErrorKind, ImageSet, SubjectData, ROI_NAMES};

fn json_f32(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn numpy_written_sbj_folder_loads_exactly() {
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("npz", "sbj_dataset.json")).unwrap()).unwrap();
    let dir = fixture("npz", "sbj_dataset");
    let files = locate(&dir, None).unwrap();
    assert_eq!(files.subject, 3);
    assert_eq!(files.images_file.as_deref(), Some(dir.join("images_8.npz").as_path()));
    let ds = load_dataset(&dir, None).unwrap();
    let s = &ds.subject;
    assert_eq!(s.y_train.iter().copied().collect::<Vec<_>>(), json_f32(&e["arr_0"]));
    assert_eq!(s.y_test.iter().copied().collect::<Vec<_>>(), json_f32(&e["arr_1"]));
    assert_eq!(s.y_test_avg.iter().copied().collect::<Vec<_>>(), json_f32(&e["arr_2"]));
    assert_eq!(s.y_train.dim(), (8, 12));
    assert_eq!(s.train_labels.to_vec(), vec![0, 1, 2, 3, 3, 2, 1, 0]);
    assert_eq!(
        s.test_labels.iter().map(|&l| l as f32).collect::<Vec<_>>(),
        json_f32(&e["arr_4"])
    );
    assert_eq!(s.noise_ceiling.to_vec(), json_f32(&e["arr_5"]));
    assert_eq!(s.snr.to_vec(), json_f32(&e["arr_6"]));
    let masks = e["masks"].as_object().unwrap();
    assert_eq!(s.rois.len(), 10);
    for name in ROI_NAMES {
        let want: Vec<bool> = masks[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_bool().unwrap())
            .collect();
        assert_eq!(s.rois[name], want, "mask {name}");
    }
    // float64 images k/255 come back as the uint8 k.
    let px = |key: &str| -> Vec<u8> {
        e[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect()
    };
    assert_eq!(ds.train_images.pixels.dim(), (4, 8, 8, 3));
    assert_eq!(
        ds.train_images.pixels.iter().copied().collect::<Vec<_>>(),
        px("train_images_u8")
    );
    assert_eq!(
        ds.test_images.pixels.iter().copied().collect::<Vec<_>>(),
        px("test_images_u8")
    );
    assert_eq!(ds.train_images.class_ids, None);
    // The same subject through the file path.
    assert_eq!(load_dataset(&dir.join("sbj_3.npz"), None).unwrap(), ds);
}

/// A small dataset with every optional field filled, including a non-standard ROI.
fn sample_dataset() -> Dataset {
    let v = 9;
    let y_train = Array2::from_shape_fn((6, v), |(t, j)| (t * v + j) as f32 * 0.25 - 3.0);
    let test_labels = Array1::from_vec(vec![0i64, 1, 0, 1, 0, 1]);
    let y_test = Array2::from_shape_fn((6, v), |(t, j)| ((t * 7 + j * 3) % 11) as f32 - 5.0);
    let y_test_avg = average_repeats(&y_test, test_labels.as_slice().unwrap(), 2).unwrap();
    let mut rois = BTreeMap::new();
    for (k, name) in ROI_NAMES.iter().enumerate() {
        rois.insert(name.to_string(), (0..v).map(|j| (j + k) % 3 == 0).collect());
    }
    rois.insert("custom".to_string(), (0..v).map(|j| j == 4).collect());
    let labels = test_labels.to_vec();
    Dataset {
        subject: SubjectData {
            y_train,
            y_test: y_test.clone(),
            y_test_avg,
            train_labels: Array1::from_vec(vec![0, 1, 2, 2, 1, 0]),
            test_labels,
            noise_ceiling: noise_ceiling(&ncsnr(&y_test, &labels, 2), 3),
            snr: calc_snr(&y_test, &labels, 2),
            rois,
            train_runs: Some(vec![0, 0, 0, 1, 1, 1]),
            test_runs: Some(vec![2, 2, 3, 3, 4, 4]),
        },
        train_images: ImageSet {
            pixels: Array4::from_shape_fn((3, 16, 16, 3), |(n, y, x, c)| {
                ((n * 31 + y * 7 + x * 3 + c) % 256) as u8
            }),
            class_ids: Some(vec![10, 11, 10]),
        },
        test_images: ImageSet {
            pixels: Array4::from_shape_fn((2, 16, 16, 3), |(n, y, x, c)| {
                ((n * 91 + y + x * 13 + c * 5) % 256) as u8
            }),
            class_ids: Some(vec![1020, 1021]),
        },
    }
}

#[test]
fn write_then_load_round_trips_exactly() {
    let dir = temp_dir!("layout_rt");
    let ds = sample_dataset();
    write_dataset(&dir, 2, &ds).unwrap();
    assert!(dir.join("sbj_2.npz").is_file() && dir.join("images_16.npz").is_file());
    assert_eq!(load_dataset(&dir, None).unwrap(), ds);
    assert_eq!(load_dataset(&dir.join("sbj_2.npz"), Some(2)).unwrap(), ds);
    // Upstream key set and dtypes, as the SelfSuperReconst loader expects them.
    let raw = read_npz(&dir.join("sbj_2.npz")).unwrap();
    for k in ["arr_0", "arr_1", "arr_2", "arr_5", "arr_6"] {
        assert_eq!(raw[k].dtype.descr(), "<f4", "{k}");
    }
    assert_eq!(raw["arr_3"].dtype.descr(), "<i8");
    assert_eq!(raw["VC"].dtype.descr(), "|b1");
    let img = read_npz(&dir.join("images_16.npz")).unwrap();
    let t = img["test_images"].to_f32().unwrap();
    assert_eq!(img["test_images"].dtype.descr(), "<f4");
    assert!((t[[1, 0, 0, 0]] - 91.0 / 255.0).abs() < 1e-7);
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn write_refuses_inconsistent_dataset() {
    let dir = temp_dir!("layout_bad_write");
    let mut ds = sample_dataset();
    ds.subject.snr = Array1::zeros(3);
    let e = format!("{:#}", write_dataset(&dir, 1, &ds).unwrap_err());
    assert!(e.contains("arr_6") && e.contains("3 voxels"), "{e}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing written");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn roi_selection_is_a_union_with_clear_errors() {
    let ds = load_dataset(&fixture("npz", "sbj_dataset"), Some(3)).unwrap();
    // Fixture masks: LVC = voxels 0..6, HVC = 7..12, V4 = {6}.
    let idx = ds.subject.select_rois(&["LVC", "HVC"]).unwrap();
    assert_eq!(idx, vec![0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11]);
    let lvc = ds.select_rois(&["LVC"]).unwrap();
    assert_eq!(lvc.subject.n_voxels(), 6);
    assert_eq!(
        lvc.subject.y_train,
        ds.subject.y_train.select(Axis(1), &[0, 1, 2, 3, 4, 5])
    );
    assert_eq!(lvc.subject.snr.to_vec(), ds.subject.snr.to_vec()[..6].to_vec());
    assert!(lvc.subject.rois["LVC"].iter().all(|&m| m));
    assert!(lvc.subject.rois["HVC"].iter().all(|&m| !m));
    lvc.validate().unwrap();
    // Overlapping masks are not duplicated.
    assert_eq!(ds.subject.select_rois(&["V1", "LVC"]).unwrap(), vec![0, 1, 2, 3, 4, 5]);

    let e = ds.subject.select_rois(&["V5"]).unwrap_err().to_string();
    assert!(
        e.contains("unknown ROI 'V5'") && e.contains("V1, V2, V3, V4, LOC, FFA, PPA, LVC, HVC, VC"),
        "{e}"
    );
    let e = ds.subject.select_rois(&["PPA"]).unwrap_err().to_string();
    assert!(e.contains("PPA") && e.contains("no voxel"), "{e}");
}

/// Writes the fixture subject with one key replaced (or removed, for `None`).
fn patched_subject(dir: &Path, key: &str, value: Option<NpyArray>) -> PathBuf {
    let mut arrays = read_npz(&fixture("npz", "sbj_dataset/sbj_3.npz")).unwrap();
    match value {
        Some(a) => arrays.insert(key.to_string(), a),
        None => arrays.remove(key),
    };
    let path = dir.join(format!("sbj_{}.npz", key.len() + dir.read_dir().unwrap().count()));
    let refs: Vec<(&str, &NpyArray)> = arrays.iter().map(|(k, a)| (k.as_str(), a)).collect();
    write_npz(&path, &refs, Compression::Stored).unwrap();
    path
}

#[test]
fn load_errors_name_file_key_and_problem() {
    let dir = temp_dir!("layout_errors");
    let expect = |path: &Path, needles: &[&str]| {
        let e = format!("{:#}", load_subject(path).unwrap_err());
        assert!(
            e.contains(&path.file_name().unwrap().to_string_lossy().to_string()),
            "no file name: {e}"
        );
        for n in needles {
            assert!(e.contains(n), "missing '{n}' in: {e}");
        }
    };
    expect(&patched_subject(&dir, "arr_2", None), &["missing key 'arr_2'"]);
    let mut nan = Array2::<f32>::zeros((8, 12));
    nan[[3, 5]] = f32::NAN;
    nan[[4, 5]] = f32::INFINITY;
    nan[[0, 9]] = f32::NAN;
    expect(
        &patched_subject(&dir, "arr_0", Some(NpyArray::new(nan.view()))),
        &["arr_0", "3 NaN/Inf", "2 voxels", "row 0, voxel 9"],
    );
    expect(
        &patched_subject(&dir, "arr_0", Some(NpyArray::new(Array2::<i64>::zeros((8, 12)).view()))),
        &["'arr_0'", "<i8", "float"],
    );
    expect(
        &patched_subject(&dir, "arr_5", Some(NpyArray::new(Array2::<f32>::zeros((2, 6)).view()))),
        &["'arr_5'", "rank 2"],
    );
    expect(
        &patched_subject(&dir, "arr_6", Some(NpyArray::new(Array1::<f32>::zeros(11).view()))),
        &["arr_6", "11 voxels", "12"],
    );
    expect(
        &patched_subject(&dir, "VC", Some(NpyArray::new(Array1::from_elem(5, true).view()))),
        &["'VC'", "5 entries", "12 voxels"],
    );
    expect(
        &patched_subject(&dir, "V1", Some(NpyArray::new(Array1::<f32>::zeros(12).view()))),
        &["'V1'", "bool"],
    );
    let mut labels = Array1::from_vec(vec![0i64; 12]);
    labels[7] = 3;
    expect(
        &patched_subject(&dir, "arr_4", Some(NpyArray::new(labels.view()))),
        &["arr_4", "label 3", "0..3"],
    );

    // Image checks go through load_dataset: values outside [0, 1], wrong shape.
    let img_dir = dir.join("imgs");
    std::fs::create_dir_all(&img_dir).unwrap();
    std::fs::copy(fixture("npz", "sbj_dataset/sbj_3.npz"), img_dir.join("sbj_3.npz")).unwrap();
    let images = read_npz(&fixture("npz", "sbj_dataset/images_8.npz")).unwrap();
    let write_images = |train: NpyArray| {
        let test = &images["test_images"];
        write_npz(
            &img_dir.join("images_8.npz"),
            &[("train_images", &train), ("test_images", test)],
            Compression::Stored,
        )
        .unwrap();
    };
    write_images(NpyArray::new(Array4::<f32>::from_elem((4, 8, 8, 3), 2.0).view()));
    let e = format!("{:#}", load_dataset(&img_dir, None).unwrap_err());
    assert!(
        e.contains("images_8.npz") && e.contains("train_images") && e.contains("outside [0, 1]"),
        "{e}"
    );
    write_images(NpyArray::new(Array4::<f32>::zeros((4, 8, 8, 1)).view()));
    let e = format!("{:#}", load_dataset(&img_dir, None).unwrap_err());
    assert!(e.contains("[n, H, W, 3]"), "{e}");
    // Train labels beyond the number of train images.
    write_images(NpyArray::new(Array4::<f32>::zeros((2, 8, 8, 3)).view()));
    let e = format!("{:#}", load_dataset(&img_dir, None).unwrap_err());
    assert!(e.contains("arr_3") && e.contains("out of range"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Load-time validation failures carry the kind of the problem: [`ErrorKind::Invalid`] for content (keys, dtypes,
/// shapes, voxel counts, NaN/Inf, label ranges), `Missing` for absent files, `Corrupt` for damaged ones.
#[test]
fn load_errors_have_typed_kinds() {
    let dir = temp_dir!("layout_kinds");
    let subject = |path: &Path| kind_of(&load_subject(path).unwrap_err());
    let invalid = Some(ErrorKind::Invalid);
    assert_eq!(subject(&patched_subject(&dir, "arr_1", None)), invalid, "missing key");
    assert_eq!(
        subject(&patched_subject(
            &dir,
            "arr_0",
            Some(NpyArray::new(Array2::<i64>::zeros((8, 12)).view()))
        )),
        invalid,
        "integer fMRI"
    );
    assert_eq!(
        subject(&patched_subject(
            &dir,
            "arr_5",
            Some(NpyArray::new(Array2::<f32>::zeros((2, 6)).view()))
        )),
        invalid,
        "rank 2 noise ceiling"
    );
    assert_eq!(
        subject(&patched_subject(
            &dir,
            "arr_1",
            Some(NpyArray::new(Array2::<f32>::zeros((12, 11)).view()))
        )),
        invalid,
        "11 voxels in arr_1"
    );
    assert_eq!(
        subject(&patched_subject(
            &dir,
            "arr_6",
            Some(NpyArray::new(Array1::<f32>::zeros(11).view()))
        )),
        invalid,
        "11 voxels in arr_6"
    );
    let mut nan = Array2::<f32>::zeros((8, 12));
    nan[[2, 3]] = f32::NAN;
    assert_eq!(
        subject(&patched_subject(&dir, "arr_0", Some(NpyArray::new(nan.view())))),
        invalid,
        "NaN"
    );
    let mut inf = Array1::<f32>::zeros(12);
    inf[4] = f32::INFINITY;
    assert_eq!(
        subject(&patched_subject(&dir, "arr_6", Some(NpyArray::new(inf.view())))),
        invalid,
        "Inf"
    );
    let mut labels = Array1::from_vec(vec![0i64; 12]);
    labels[7] = 3;
    assert_eq!(
        subject(&patched_subject(&dir, "arr_4", Some(NpyArray::new(labels.view())))),
        invalid,
        "test label out of range"
    );
    assert_eq!(
        subject(&patched_subject(
            &dir,
            "V1",
            Some(NpyArray::new(Array1::<f32>::zeros(12).view()))
        )),
        invalid,
        "float ROI mask"
    );
    assert_eq!(
        subject(&patched_subject(
            &dir,
            "train_runs",
            Some(NpyArray::new(Array1::from_elem(8, -1i64).view()))
        )),
        invalid,
        "negative run id"
    );
    assert_eq!(
        subject(&dir.join("sbj_404.npz")),
        Some(ErrorKind::Missing),
        "no such file"
    );
    let bytes = std::fs::read(fixture("npz", "sbj_dataset/sbj_3.npz")).unwrap();
    let cut = dir.join("sbj_cut.npz");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    assert_eq!(subject(&cut), Some(ErrorKind::Corrupt), "truncated file");

    // Dataset paths: missing folder, missing subject, a BData file given directly, no images file.
    let dataset = |path: &Path, s: Option<u32>| kind_of(&load_dataset(path, s).unwrap_err());
    assert_eq!(dataset(&dir.join("nothing"), None), Some(ErrorKind::Missing));
    assert_eq!(
        dataset(&fixture("npz", "sbj_dataset"), Some(4)),
        Some(ErrorKind::Missing)
    );
    assert_eq!(
        kind_of(&locate(&fixture("bdata", "god_bdpy.h5"), None).unwrap_err()),
        Some(ErrorKind::Unsupported)
    );
    let img_dir = dir.join("imgs");
    std::fs::create_dir_all(&img_dir).unwrap();
    std::fs::copy(fixture("npz", "sbj_dataset/sbj_3.npz"), img_dir.join("sbj_3.npz")).unwrap();
    assert_eq!(
        dataset(&img_dir, None),
        Some(ErrorKind::Missing),
        "no images_<size>.npz"
    );

    // Image content: values outside [0, 1], a wrong shape, train labels beyond the train images.
    let images = read_npz(&fixture("npz", "sbj_dataset/images_8.npz")).unwrap();
    let with_train = |train: NpyArray| {
        let path = img_dir.join("images_8.npz");
        write_npz(
            &path,
            &[("train_images", &train), ("test_images", &images["test_images"])],
            Compression::Stored,
        )
        .unwrap();
        path
    };
    let path = with_train(NpyArray::new(Array4::<f32>::from_elem((4, 8, 8, 3), 2.0).view()));
    assert_eq!(kind_of(&load_images(&path).unwrap_err()), invalid, "values above 1");
    let path = with_train(NpyArray::new(Array4::<f32>::zeros((4, 8, 8, 1)).view()));
    assert_eq!(kind_of(&load_images(&path).unwrap_err()), invalid, "one channel");
    with_train(NpyArray::new(Array4::<f32>::zeros((2, 8, 8, 3)).view()));
    assert_eq!(dataset(&img_dir, None), invalid, "train label 3 of 2 images");

    // manifest.json: broken JSON is damaged, a wrong field invalid, a newer format unsupported.
    let manifest = |text: &str| {
        std::fs::write(manifest_path(&img_dir), text).unwrap();
        kind_of(&read_manifest(&img_dir).unwrap_err())
    };
    assert_eq!(manifest("{ \"format_version\": 1,"), Some(ErrorKind::Corrupt));
    assert_eq!(manifest("{ \"format_version\": 1, \"subjet\": 3 }"), invalid);
    let newer = serde_json::json!({
        "format_version": 99, "source": "npz", "subject": 3, "n_voxels": 12, "image_size": 8,
        "train_classes": [], "test_classes": [], "seed": null, "generator_version": null, "world": null
    });
    assert_eq!(manifest(&newer.to_string()), Some(ErrorKind::Unsupported));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn read_f64(arrays: &BTreeMap<String, NpyArray>, key: &str) -> Vec<f64> {
    arrays[key].to_array::<f64>().unwrap().iter().copied().collect()
}

fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, NumPy {w}"
        );
    }
}

#[test]
fn preprocessing_matches_numpy_reference() {
    let f = read_npz(&fixture("npz", "preprocess.npz")).unwrap();
    let y_raw = f["y_raw"]
        .to_array::<f32>()
        .unwrap()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap();
    let runs: Vec<u32> = f["runs"].to_i64().unwrap().iter().map(|&r| r as u32).collect();
    let labels: Vec<i64> = f["labels"].to_i64().unwrap().iter().copied().collect();
    let n_images = f["n_images"].to_i64().unwrap().iter().next().copied().unwrap() as usize;
    assert!(y_raw.iter().any(|v| v.is_nan()), "fixture must contain a NaN");

    let mut z = y_raw.clone();
    zscore_per_run(&mut z, &runs);
    assert_close(
        &z.iter().copied().collect::<Vec<_>>(),
        &read_f64(&f, "zscored"),
        1e-5,
        "zscore",
    );
    // Mean 0 / SD 1 within every run for every voxel that varies there (voxel 5 is constant in run 1).
    for run in 0..3u32 {
        let rows: Vec<usize> = (0..runs.len()).filter(|&t| runs[t] == run).collect();
        for j in 0..z.ncols() {
            let col: Vec<f64> = rows.iter().map(|&t| z[[t, j]] as f64).collect();
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            let sd = (col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / col.len() as f64).sqrt();
            assert!(mean.abs() < 1e-5, "run {run} voxel {j}: mean {mean}");
            if run == 1 && j == 5 {
                assert_eq!(sd, 0.0);
            } else if !(run == 0 && j == 1) {
                assert!((sd - 1.0).abs() < 1e-5, "run {run} voxel {j}: sd {sd}");
            }
        }
    }

    let avg = average_repeats(&z, &labels, n_images).unwrap();
    assert_close(
        &avg.iter().copied().collect::<Vec<_>>(),
        &read_f64(&f, "avg"),
        1e-5,
        "average_repeats",
    );
    assert_close(
        calc_snr(&z, &labels, n_images).as_slice().unwrap(),
        &read_f64(&f, "calc_snr"),
        1e-4,
        "calc_snr",
    );
    let s = ncsnr(&z, &labels, n_images);
    assert_close(s.as_slice().unwrap(), &read_f64(&f, "ncsnr"), 1e-4, "ncsnr");
    assert_close(
        noise_ceiling(&s, 1).as_slice().unwrap(),
        &read_f64(&f, "nc1"),
        1e-4,
        "NC(1)",
    );
    assert_close(
        noise_ceiling(&s, 4).as_slice().unwrap(),
        &read_f64(&f, "nc4"),
        1e-4,
        "NC(4)",
    );
}

#[test]
fn written_images_survive_the_upstream_uint8_truncation() {
    // The SelfSuperReconst loader does `(images * 255).astype(np.uint8)`, which truncates: every stored
    // p / 255 must come back as p, not p - 1.
    for p in 0u8..=255 {
        let stored = p as f32 / 255.0;
        assert_eq!((stored * 255.0) as u8, p, "pixel {p}");
    }
}

#[test]
fn numpy_reads_a_vox2pix_dataset_like_the_upstream_loader() {
    let python = || {
        let mut cmd = std::process::Command::new("python3");
        if let Ok(torch) = std::env::var("VOX2PIX_TORCH_DIR") {
            cmd.env("PYTHONPATH", torch);
        }
        cmd
    };
    if !python()
        .args(["-c", "import numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
    {
        println!("skipped: no python3 with numpy (set VOX2PIX_TORCH_DIR or install numpy)");
        return;
    }
    let dir = temp_dir!("layout_py");
    let ds = sample_dataset();
    write_dataset(&dir, 4, &ds).unwrap();
    // Expected values computed here and handed to Python as literals.
    let px_sum: u64 = ds.train_images.pixels.iter().map(|&p| p as u64).sum();
    let vc = ds.subject.rois["VC"].iter().filter(|&&m| m).count();
    let y_sum: f64 = ds.subject.y_train.iter().map(|&v| v as f64).sum();
    let script = format!(
        r#"
import sys, numpy as np
d = np.load(sys.argv[1] + "/sbj_4.npz")
assert [d[f"arr_{{i}}"].dtype.str for i in range(7)] == ["<f4", "<f4", "<f4", "<i8", "<i8", "<f4", "<f4"]
vc = d["VC"]; assert vc.dtype == np.bool_ and vc.sum() == {vc}
assert d["arr_0"][..., vc].shape == (6, {vc})
assert abs(float(d["arr_0"].astype(np.float64).sum()) - {y_sum}) < 1e-3
assert d["arr_2"].shape == (2, 9) and d["arr_4"].tolist() == [0, 1, 0, 1, 0, 1]
im = np.load(sys.argv[1] + "/images_16.npz")
tr = (im["train_images"] * 255).astype(np.uint8)
assert tr.shape == (3, 16, 16, 3) and int(tr.astype(np.int64).sum()) == {px_sum}
assert im["test_images"].min() >= 0 and im["test_images"].max() <= 1
print("numpy ok")
"#
    );
    let out = python().args(["-c", &script]).arg(&dir).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("numpy ok"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `decoder_training.lr_milestones` equals PyTorch's MultiStepLR stepped once per epoch
/// (`tools/make_schedule_fixtures.py` → `tests/fixtures/eval/multisteplr.json`), and bad milestones are named.
#[test]
fn decoder_lr_milestones_match_pytorch_multisteplr() {
    use vox2pix_formats::config::TrainConfig;
    let path = crate::helpers::fixture("eval", "multisteplr.json");
    let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for c in cases.as_array().unwrap() {
        let ms: Vec<String> = c["milestones"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.to_string())
            .collect();
        let cfg = TrainConfig::load(
            "paper",
            &[
                format!("decoder_training.lr={}", c["lr"]),
                format!("decoder_training.lr_decay={}", c["gamma"]),
                format!("decoder_training.lr_milestones=[{}]", ms.join(",")),
            ],
        )
        .unwrap();
        for (e, want) in c["lrs"].as_array().unwrap().iter().enumerate() {
            let (got, want) = (cfg.decoder_training.lr_at(e), want.as_f64().unwrap());
            assert!(
                (got - want).abs() <= 1e-12 * want.max(1e-12),
                "epoch {e}: {got} vs PyTorch {want}"
            );
        }
    }
    // Without milestones the Keras schedule stays (lr_decay_every), so the presets are unchanged.
    let paper = TrainConfig::load("paper", &[]).unwrap();
    assert!((paper.decoder_training.lr_at(29) - 2e-4).abs() < 1e-15);
    for bad in ["[140, 100]", "[0, 100]", "[100, 100]"] {
        let err = format!(
            "{:#}",
            TrainConfig::load("paper", &[format!("decoder_training.lr_milestones={bad}")]).unwrap_err()
        );
        assert!(
            err.contains("decoder_training.lr_milestones must be increasing"),
            "{bad}: {err}"
        );
    }
    // The decoder group lasso's neighbourhood: 4 (Keras) or 8 (SelfSuperReconst), nothing else.
    assert_eq!(TrainConfig::load("paper", &[]).unwrap().decoder.fc_neighbours, 4);
    assert_eq!(
        TrainConfig::load("paper", &["decoder.fc_neighbours=8".into()])
            .unwrap()
            .decoder
            .fc_neighbours,
        8
    );
    let err = format!(
        "{:#}",
        TrainConfig::load("paper", &["decoder.fc_neighbours=6".into()]).unwrap_err()
    );
    assert!(err.contains("decoder.fc_neighbours = 6"), "{err}");
}
