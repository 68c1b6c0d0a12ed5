//! vim-1 and MAT-files against `tests/fixtures/vim1/`, written by `tools/make_vim1_fixtures.py` (h5py and
//! scipy.io in the real release's layout; the expected conversion computed there with NumPy).
use serde_json::Value;
use std::path::PathBuf;
use vox2pix_formats::layout::load_dataset;
use vox2pix_formats::mat5::{list_variables, mat_version, read_variable, MatVersion};
use vox2pix_formats::vim1::{convert_vim1, read_vim1, summarize, PixelRange, Vim1Options, VoxelSelection};
use vox2pix_formats::{ErrorKind, FormatError};

fn fx(name: &str) -> PathBuf {
    crate::helpers::fixture("vim1", name)
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fx("expected.json")).unwrap()).unwrap()
}

fn opts(subject: u32, voxels: VoxelSelection, stimuli: &str) -> Vim1Options {
    Vim1Options {
        responses: fx("EstimatedResponses.mat"),
        stimuli: fx(stimuli),
        subject,
        voxels,
        size: 16,
    }
}

fn kind(e: &anyhow::Error) -> Option<ErrorKind> {
    e.downcast_ref::<FormatError>().map(|f| f.kind())
}

#[test]
fn mat_files_of_every_version_read_the_same_values() {
    let e = expected();
    let versions = [
        ("Stimuli.mat", MatVersion::Level5),
        ("Stimuli_v73.mat", MatVersion::Hdf5),
        ("Stimuli_v5_plain.mat", MatVersion::Level5),
    ];
    let mut reads = Vec::new();
    for (file, version) in versions {
        let bytes = std::fs::read(fx(file)).unwrap();
        assert_eq!(mat_version(&fx(file), &bytes).unwrap(), version, "{file}");
        let v = read_variable(&fx(file), "stimTrn").unwrap();
        assert_eq!(
            v.dims,
            [12, 16, 16],
            "{file}: MATLAB's size(), whichever version wrote it"
        );
        reads.push(v);
    }
    // float32 (compressed v5), float32 (v7.3) and float64 (plain v5) of the same float32 values: identical.
    assert_eq!(reads[0].data, reads[1].data);
    assert_eq!(reads[0].data, reads[2].data);
    // Column-major: MATLAB stimTrn(i, r, c); the fixture pins two values (image 0 (0,0) and image 1 (0,1)).
    assert!((reads[0].at(&[0, 0, 0]) - e["pixel_min"].as_f64().unwrap()).abs() < 1e-7);
    assert!((reads[0].at(&[1, 0, 1]) - e["pixel_max"].as_f64().unwrap()).abs() < 1e-7);
    // Integer classes, stored as such.
    let u8v = read_variable(&fx("Stimuli_v5_plain.mat"), "u8").unwrap();
    assert_eq!(u8v.dims, [2, 3]);
    let want: Vec<f64> = e["u8"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(u8v.data, want);
    assert_eq!(
        read_variable(&fx("Stimuli_v5_plain.mat"), "i16").unwrap().data,
        [-3.0, 7.0]
    );
    // Variables are listed; a char array is named and refused; a missing one lists what there is.
    let names = list_variables(&fx("Stimuli.mat")).unwrap();
    assert_eq!(names, ["stimTrn", "stimVal", "note"]);
    let err = format!("{:#}", read_variable(&fx("Stimuli.mat"), "note").unwrap_err());
    assert!(err.contains("`note`") && err.contains("char"), "{err}");
    let err = read_variable(&fx("Stimuli.mat"), "stimTst").unwrap_err();
    assert!(
        format!("{err:#}").contains("no variable `stimTst` (the file has: stimTrn, stimVal, note)"),
        "{err:#}"
    );
    let err = read_variable(&fx("EstimatedResponses.mat"), "dataTrnS3").unwrap_err();
    assert!(format!("{err:#}").contains("dataTrnS1"), "{err:#}");
}

#[test]
fn damaged_mat_files_are_errors_never_panics() {
    let tmp = scratch!("damaged");
    std::fs::create_dir_all(&tmp).unwrap();
    let good = std::fs::read(fx("Stimuli.mat")).unwrap();
    let plain = std::fs::read(fx("Stimuli_v5_plain.mat")).unwrap();
    let p = tmp.join("x.mat");
    let cases: Vec<(&str, Vec<u8>, ErrorKind)> = vec![
        ("short", good[..60].to_vec(), ErrorKind::Corrupt),
        (
            "not matlab",
            [b"hello".as_slice(), &[0u8; 200]].concat(),
            ErrorKind::Invalid,
        ),
        (
            "truncated compressed",
            good[..good.len() / 2].to_vec(),
            ErrorKind::Corrupt,
        ),
        (
            "truncated plain",
            plain[..plain.len() - 1000].to_vec(),
            ErrorKind::Corrupt,
        ),
        (
            "flipped zlib byte",
            {
                let mut b = good.clone();
                b[300] ^= 0xff;
                b
            },
            ErrorKind::Corrupt,
        ),
        (
            "big endian",
            {
                let mut b = good.clone();
                b[126..128].copy_from_slice(b"MI");
                b
            },
            ErrorKind::Unsupported,
        ),
    ];
    for (what, bytes, want) in cases {
        std::fs::write(&p, &bytes).unwrap();
        let err = read_variable(&p, "stimTrn").unwrap_err();
        assert_eq!(kind(&err), Some(want), "{what}: {err:#}");
        assert!(format!("{err:#}").contains("x.mat"), "{what}: {err:#}");
    }
    // Every single-byte truncation of the plain file's tail: an error, never a panic.
    for cut in (128..plain.len()).step_by(997) {
        std::fs::write(&p, &plain[..cut]).unwrap();
        assert!(read_variable(&p, "stimVal").is_err(), "cut at {cut}");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn vim1_converts_as_numpy_says() {
    let e = expected();
    for (subject, sel, key) in [
        (1, VoxelSelection::Vc, "vc"),
        (1, VoxelSelection::All, "all"),
        (2, VoxelSelection::Vc, "vc"),
    ] {
        let want = &e["subjects"][subject.to_string()][key];
        let c = read_vim1(&opts(subject, sel, "Stimuli.mat")).unwrap();
        let s = &c.dataset.subject;
        let kept: Vec<usize> = want["kept"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(c.kept_voxels, kept, "subject {subject} {key}");
        assert_eq!(s.n_voxels(), kept.len());
        for (name, rows) in [("y_train", &s.y_train), ("y_test", &s.y_test)] {
            let w = want[name].as_array().unwrap();
            assert_eq!(rows.nrows(), w.len());
            for (i, row) in w.iter().enumerate() {
                for (v, x) in row.as_array().unwrap().iter().enumerate() {
                    assert_eq!(rows[[i, v]], x.as_f64().unwrap() as f32, "{name}[{i},{v}]");
                }
            }
        }
        assert_eq!(s.y_test, s.y_test_avg, "one averaged response per test image");
        assert_eq!(s.test_labels.to_vec(), (0..4).collect::<Vec<i64>>());
        // ROI masks from the codes: V1 = 1, V3A = 4, LOC = 7, LVC = 1–3, HVC = LOC, VC = 1–7, FFA empty.
        let roi: Vec<u64> = want["roi"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        let m = |n: &str| s.rois[n].clone();
        assert_eq!(m("V1"), roi.iter().map(|&c| c == 1).collect::<Vec<_>>());
        assert_eq!(m("V3A"), roi.iter().map(|&c| c == 4).collect::<Vec<_>>());
        assert_eq!(m("LOC"), roi.iter().map(|&c| c == 7).collect::<Vec<_>>());
        assert_eq!(m("HVC"), m("LOC"));
        assert_eq!(m("LVC"), roi.iter().map(|&c| (1..=3).contains(&c)).collect::<Vec<_>>());
        assert_eq!(m("VC"), roi.iter().map(|&c| c > 0).collect::<Vec<_>>());
        assert!(m("FFA").iter().all(|&b| !b));
        // NaN voxels: dropped and reported.
        let dropped = want["dropped_nan"].as_u64().unwrap();
        assert_eq!(c.warnings.len(), (dropped > 0) as usize, "{:?}", c.warnings);
        if dropped > 0 {
            assert!(c.warnings[0].contains(&format!("{dropped} of")), "{}", c.warnings[0]);
        }
        // Images: zero-centred gray → +0.5, ×255, rounded, clipped; replicated to RGB; no resize at 16 px.
        for (set, key) in [
            (&c.dataset.train_images, "train_bytes"),
            (&c.dataset.test_images, "test_bytes"),
        ] {
            assert!(set.class_ids.is_none());
            for (i, img) in e[key].as_array().unwrap().iter().enumerate() {
                for (k, b) in img.as_array().unwrap().iter().enumerate() {
                    let (y, x) = (k / 16, k % 16);
                    for ch in 0..3 {
                        assert_eq!(
                            set.pixels[[i, y, x, ch]] as u64,
                            b.as_u64().unwrap(),
                            "{key} {i} ({y},{x}) ch {ch}"
                        );
                    }
                }
            }
        }
        assert!(
            c.notes
                .iter()
                .any(|n| n.contains("Centered") && n.contains(&format!("{} of", e["clipped"]))),
            "{:?}",
            c.notes
        );
    }
    // Gray replicated to RGB is recognised as grayscale; one coloured pixel is not.
    let mut c = read_vim1(&opts(1, VoxelSelection::Vc, "Stimuli.mat")).unwrap().dataset;
    assert!(c.train_images.is_grayscale() && c.test_images.is_grayscale());
    c.test_images.pixels[[3, 15, 15, 1]] ^= 1;
    assert!(!c.test_images.is_grayscale());
    // The v7.3 and the plain v5 stimulus files give the same dataset.
    let a = read_vim1(&opts(1, VoxelSelection::Vc, "Stimuli.mat")).unwrap().dataset;
    assert_eq!(
        read_vim1(&opts(1, VoxelSelection::Vc, "Stimuli_v73.mat"))
            .unwrap()
            .dataset,
        a
    );
    assert_eq!(
        read_vim1(&opts(1, VoxelSelection::Vc, "Stimuli_v5_plain.mat"))
            .unwrap()
            .dataset,
        a
    );
}

#[test]
fn vim1_writes_a_dataset_that_loads_and_refuses_bad_requests() {
    let tmp = scratch!("convert");
    let c = convert_vim1(&opts(1, VoxelSelection::Vc, "Stimuli.mat"), &tmp).unwrap();
    let back = load_dataset(&tmp, Some(1)).unwrap();
    assert_eq!(back.subject.y_train, c.dataset.subject.y_train);
    assert_eq!(back.train_images.pixels, c.dataset.train_images.pixels);
    let manifest = vox2pix_formats::manifest::read_manifest(&tmp).unwrap().unwrap();
    assert_eq!(
        (manifest.source.as_str(), manifest.n_voxels, manifest.image_size),
        ("vim1", c.kept_voxels.len(), 16)
    );
    assert!(manifest.notes.iter().any(|n| n.contains("dropped for NaN")));
    // `info` on the converted folder: one NC(1) line (one repeat per test image) and no classes.
    let info = vox2pix_formats::summary::DatasetSummary::load(&tmp, Some(1))
        .unwrap()
        .to_string();
    assert_eq!(info.matches("NC(1) %").count(), 1, "{info}");
    assert!(
        info.contains("classes      none (the images carry no class labels"),
        "{info}"
    );
    // Resized output: the size asked for.
    let mut o = opts(2, VoxelSelection::Vc, "Stimuli.mat");
    o.size = 32;
    assert_eq!(
        read_vim1(&o).unwrap().dataset.test_images.pixels.shape(),
        [4, 32, 32, 3]
    );

    let refuse = |o: Vim1Options, needle: &str| {
        let err = format!("{:#}", read_vim1(&o).unwrap_err());
        assert!(err.contains(needle), "{needle}: {err}");
    };
    refuse(opts(3, VoxelSelection::Vc, "Stimuli.mat"), "subjects 1 and 2");
    // Files swapped: the responses file has no stimTrn, and says what it has.
    let mut swapped = opts(1, VoxelSelection::Vc, "Stimuli.mat");
    std::mem::swap(&mut swapped.responses, &mut swapped.stimuli);
    refuse(swapped, "no variable `stimTrn`");
    let mut missing = opts(1, VoxelSelection::Vc, "Stimuli.mat");
    missing.stimuli = tmp.join("nope.mat");
    refuse(missing, "nope.mat");
    // Stimuli of another release (other image counts): the mismatch is named.
    let other = tmp.join("other.mat");
    std::fs::copy(fx("Stimuli_v73.mat"), &other).unwrap();
    let mut o = opts(1, VoxelSelection::Vc, "Stimuli.mat");
    o.stimuli = fx("Stimuli_v5_plain.mat");
    assert!(read_vim1(&o).is_ok());
    assert!("bogus".parse::<VoxelSelection>().unwrap_err().contains("vc"));
    // Pixel ranges.
    assert_eq!(PixelRange::of(-0.53, 0.52, "x").unwrap(), PixelRange::Centered);
    assert_eq!(PixelRange::of(0.0, 1.0, "x").unwrap(), PixelRange::Unit);
    assert_eq!(PixelRange::of(0.0, 200.0, "x").unwrap(), PixelRange::Byte);
    assert_eq!(PixelRange::of(-1.0, 0.9, "x").unwrap(), PixelRange::Signed);
    assert!(format!("{:#}", PixelRange::of(-3.0, 4.0, "x").unwrap_err()).contains("[-3, 4]"));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn info_on_raw_vim1_files_names_sizes_rois_and_nan_voxels() {
    let s = summarize(&fx("EstimatedResponses.mat")).unwrap();
    assert!(s.contains("dataTrnS1: [30, 12]"), "{s}");
    assert!(s.contains("subject 1: 30 voxels; by ROI: none 4, V1 4, V2 4"), "{s}");
    assert!(
        s.contains("WARNING: subject 1: 2 voxels have NaN/Inf training responses"),
        "{s}"
    );
    assert!(!s.contains("WARNING: subject 2"), "{s}");
    let s = summarize(&fx("Stimuli.mat")).unwrap();
    assert!(
        s.contains("stimTrn: [12, 16, 16]") && s.contains("note: not read"),
        "{s}"
    );
}
