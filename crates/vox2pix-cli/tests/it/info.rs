//! `vox2pix info` through the real binary: a good dataset prints its summary; bad inputs exit non-zero with an
//! `error:` line naming the file and the problem, never a panic.
use crate::helpers::fixture;
use ndarray::Array1;
use std::path::{Path, PathBuf};
use std::process::Command;
use vox2pix_formats::npz::{read_npz, write_npz, Compression, NpyArray};

fn info(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vox2pix"))
        .arg("info")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn expect_failure(path: &Path, needles: &[&str]) {
    let (code, out, err) = info(&[path.to_str().unwrap()]);
    assert_eq!(code, 1, "exit code for {}: stdout {out} stderr {err}", path.display());
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
    assert!(
        err.contains(&path.file_name().unwrap().to_string_lossy().to_string()),
        "file not named: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "missing '{n}' in: {err}");
    }
}

#[test]
fn info_summarises_a_dataset_folder() {
    let (code, out, err) = info(&[fixture("npz", "sbj_dataset").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for needle in [
        "subject      3",
        "voxels       12",
        "train        8 single trials",
        "test         12 trials = 3 images × 4 repeats",
        "LVC      6",
        "HVC      5",
        "PPA      0",
        "SNR (calc_snr)",
        "NC(4) %",
        "images       4 train + 3 test, 8×8×3",
        "classes      unknown",
    ] {
        assert!(out.contains(needle), "missing '{needle}' in:\n{out}");
    }
    // A single sbj file without images beside it still summarises the fMRI.
    let dir = temp_dir!("info_single");
    std::fs::copy(fixture("npz", "sbj_dataset/sbj_3.npz"), dir.join("sbj_3.npz")).unwrap();
    let (code, out, err) = info(&[dir.join("sbj_3.npz").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("images       none found"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn info_summarises_a_bdata_file() {
    let h5 = crate::helpers::fixture("bdata", "god_bdpy.h5");
    let (code, out, err) = info(&[h5.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("BData file") && out.contains("voxels per ROI"), "{out}");
    // The fixture's one NaN voxel value (sample 5, data column 3) is named, not passed over.
    assert!(
        out.contains("WARNING")
            && out.contains("1 NaN/Inf values in 1 voxels (first at sample 5, voxel 3 = data column 3"),
        "{out}"
    );
}

#[test]
fn info_picks_a_subject_among_several() {
    let dir = temp_dir!("info_subjects");
    for (from, to) in [
        ("sbj_3.npz", "sbj_3.npz"),
        ("sbj_3.npz", "sbj_5.npz"),
        ("images_8.npz", "images_8.npz"),
    ] {
        std::fs::copy(fixture("npz", "sbj_dataset").join(from), dir.join(to)).unwrap();
    }
    let (code, _, err) = info(&[dir.to_str().unwrap()]);
    assert!(
        code == 1 && err.contains("several subjects (3, 5)") && err.contains("--subject"),
        "{err}"
    );
    let (code, out, err) = info(&[dir.to_str().unwrap(), "--subject", "5"]);
    assert!(
        code == 0 && out.contains("subject      5") && out.contains("sbj_5.npz"),
        "{out}{err}"
    );
    let (code, _, err) = info(&[dir.to_str().unwrap(), "--subject", "4"]);
    assert!(
        code == 1 && err.contains("sbj_4.npz") && err.contains("missing file"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn info_reports_manifest_source_and_classes() {
    use vox2pix_formats::manifest::{write_manifest, DatasetManifest, MANIFEST_FORMAT_VERSION};
    let dir = temp_dir!("info_manifest");
    for f in ["sbj_3.npz", "images_8.npz"] {
        std::fs::copy(fixture("npz", "sbj_dataset").join(f), dir.join(f)).unwrap();
    }
    let m = DatasetManifest {
        format_version: MANIFEST_FORMAT_VERSION,
        source: "synthetic".into(),
        subject: 3,
        n_voxels: 12,
        image_size: 8,
        train_classes: vec![7, 7, 8, 9],
        test_classes: vec![1, 2, 3],
        seed: Some(5),
        generator_version: None,
        world: None,
        notes: vec![],
    };
    write_manifest(&dir, &m).unwrap();
    let (code, out, err) = info(&[dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("source       synthetic (format 1), seed 5"), "{out}");
    assert!(out.contains("classes      3 train, 3 test"), "{out}");
    // A broken manifest is an error naming it, not silently ignored.
    std::fs::write(dir.join("manifest.json"), "{\"format_version\": 1, \"bogus\": 2}").unwrap();
    let (code, _, err) = info(&[dir.to_str().unwrap()]);
    assert!(
        code == 1 && err.contains("manifest.json") && !err.contains("panicked"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn info_help_has_an_example() {
    let out = Command::new(env!("CARGO_BIN_EXE_vox2pix"))
        .args(["info", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("Examples:") && text.contains("vox2pix info data/tiny"),
        "{text}"
    );
}

#[test]
fn info_rejects_bad_inputs_with_named_errors() {
    let dir = temp_dir!("info_bad");
    expect_failure(&dir.join("sbj_9.npz"), &["no such file"]);

    let bytes = std::fs::read(fixture("npz", "sbj_dataset/sbj_3.npz")).unwrap();
    let truncated = dir.join("truncated").join("sbj_1.npz");
    std::fs::create_dir_all(truncated.parent().unwrap()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    expect_failure(&truncated, &["not a readable .npz", "truncated"]);

    let write_variant = |name: &str, edit: &dyn Fn(&mut std::collections::BTreeMap<String, NpyArray>)| -> PathBuf {
        let mut arrays = read_npz(&fixture("npz", "sbj_dataset/sbj_3.npz")).unwrap();
        edit(&mut arrays);
        let path = dir.join(name).join("sbj_1.npz");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let refs: Vec<(&str, &NpyArray)> = arrays.iter().map(|(k, a)| (k.as_str(), a)).collect();
        write_npz(&path, &refs, Compression::Deflated).unwrap();
        path
    };
    let no_arr2 = write_variant("no_arr2", &|a| {
        a.remove("arr_2");
    });
    expect_failure(&no_arr2, &["missing key 'arr_2'"]);
    let mismatch = write_variant("mismatch", &|a| {
        a.insert("arr_5".into(), NpyArray::new(Array1::<f32>::zeros(10).view()));
    });
    expect_failure(&mismatch, &["arr_5", "10 voxels", "12"]);
    // The folder form names the file too.
    let (code, _, err) = info(&[dir.join("mismatch").to_str().unwrap()]);
    assert!(code == 1 && err.contains("sbj_1.npz") && err.contains("arr_5"), "{err}");

    let h5 = dir.join("Subject1.h5");
    std::fs::write(&h5, b"not hdf5").unwrap();
    expect_failure(&h5, &["BData"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
