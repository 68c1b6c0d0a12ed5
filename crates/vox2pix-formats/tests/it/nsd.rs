//! NSD against `tests/fixtures/nsd/`, written by `tools/make_nsd_fixtures.py` (h5py, nibabel and scipy.io in the
//! release's layouts; the expected conversion computed there with NumPy as nsd_access / Brain-Diffuser do it).
use std::path::{Path, PathBuf};
use vox2pix_formats::layout::load_dataset;
use vox2pix_formats::nifti::read_nifti;
use vox2pix_formats::npz::{read_npz, NpyArray};
use vox2pix_formats::nsd::{
    read_mindeye2, read_nsd_release, read_unpaired_pool, write_nsd, MindEye2Files, NsdDesign, NsdOptions, NsdRelease,
    NSD_IDS_FILE,
};
use vox2pix_formats::{ErrorKind, FormatError};

fn fx(name: &str) -> PathBuf {
    crate::helpers::fixture("nsd", name)
}

fn release(betas: &str) -> NsdRelease {
    NsdRelease {
        expdesign: fx("nsd_expdesign.mat"),
        betas: fx(betas),
        rois: fx("roi"),
        stimuli: fx("nsd_stimuli.hdf5"),
    }
}

fn opts(size: usize) -> NsdOptions {
    NsdOptions {
        subject: 1,
        sessions: None,
        size,
        zscore: true,
        progress: false,
        unpaired: 0,
        unpaired_seed: 0,
    }
}

fn kind(e: &anyhow::Error) -> Option<ErrorKind> {
    e.chain()
        .find_map(|c| c.downcast_ref::<FormatError>())
        .map(|f| f.kind())
}

fn f32s(a: &NpyArray) -> Vec<f32> {
    a.to_f32().unwrap().iter().copied().collect()
}

fn i64s(a: &NpyArray) -> Vec<i64> {
    a.to_i64().unwrap().iter().copied().collect()
}

fn bools(a: &NpyArray) -> Vec<bool> {
    a.to_array::<bool>().unwrap().iter().copied().collect()
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 2e-5, "{what}: max |Δ| {worst}");
}

#[test]
fn release_converts_to_the_numpy_bookkeeping_from_both_twins() {
    let e = read_npz(&fx("expected.npz")).unwrap();
    for betas in ["betas_h5", "betas_nii"] {
        let c = read_nsd_release(&release(betas), &opts(20)).unwrap();
        let s = &c.dataset.subject;
        // Which trial is which image, which images are shared, and in which order.
        let ids = |v: &[usize]| v.iter().map(|&i| i as i64).collect::<Vec<_>>();
        assert_eq!(
            ids(&c.train_nsd_ids),
            i64s(&e["train_nsd_ids"]),
            "{betas}: training images"
        );
        assert_eq!(
            ids(&c.test_nsd_ids),
            i64s(&e["test_nsd_ids"]),
            "{betas}: test images (shared1000 seen)"
        );
        assert_eq!(s.train_labels.to_vec(), i64s(&e["train_labels"]), "{betas}");
        assert_eq!(s.test_labels.to_vec(), i64s(&e["test_labels"]), "{betas}");
        let sessions: Vec<i64> = s.train_runs.as_ref().unwrap().iter().map(|&r| r as i64).collect();
        assert_eq!(
            sessions,
            i64s(&e["train_sessions"]),
            "{betas}: session of each training trial"
        );
        // Responses: /300, nsdgeneral voxels in NumPy's order, z-scored within each session.
        assert_close(
            &s.y_train.iter().copied().collect::<Vec<_>>(),
            &f32s(&e["y_train"]),
            "y_train",
        );
        assert_close(
            &s.y_test.iter().copied().collect::<Vec<_>>(),
            &f32s(&e["y_test"]),
            "y_test",
        );
        assert_close(
            &s.y_test_avg.iter().copied().collect::<Vec<_>>(),
            &f32s(&e["y_test_avg"]),
            "y_test_avg",
        );
        // Images from the brick by NSD id (no resize at the brick's own size).
        let px = |a: &NpyArray| a.to_array::<u8>().unwrap().iter().copied().collect::<Vec<u8>>();
        assert_eq!(
            c.dataset.train_images.pixels.iter().copied().collect::<Vec<_>>(),
            px(&e["train_images"])
        );
        assert_eq!(
            c.dataset.test_images.pixels.iter().copied().collect::<Vec<_>>(),
            px(&e["test_images"])
        );
        // ROI masks from NSD's label files.
        for roi in ["V1", "V4", "LVC", "FFA", "HVC", "OFA"] {
            assert_eq!(s.rois[roi], bools(&e[roi]), "{betas}: ROI {roi}");
        }
        assert!(s.rois["VC"].iter().all(|&b| b));
        assert!(s.snr.iter().all(|v| v.is_finite()) && s.noise_ceiling.iter().all(|v| (0.0..=100.0).contains(v)));
    }
}

#[test]
fn conversion_writes_a_dataset_that_loads_and_names_its_images() {
    let out = scratch!("written");
    let c = read_nsd_release(&release("betas_h5"), &opts(10)).unwrap();
    write_nsd(&c, 1, 10, &out).unwrap();
    let back = load_dataset(&out, Some(1)).unwrap();
    assert_eq!(back.subject.y_train, c.dataset.subject.y_train);
    assert_eq!(back.train_images.pixels.shape(), &[36, 10, 10, 3], "resized to --size");
    let csv = std::fs::read_to_string(out.join(NSD_IDS_FILE)).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "split,index,nsd_id");
    assert_eq!(lines.len(), 1 + 36 + 10);
    assert_eq!(lines[1], format!("train,0,{}", c.train_nsd_ids[0]));
    let m = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(m.contains("\"source\": \"nsd\""), "{m}");
}

#[test]
fn design_and_mask_are_read_with_matlab_and_nibabel_conventions() {
    let d = NsdDesign::read(&fx("nsd_expdesign.mat")).unwrap();
    assert_eq!(d.masterordering.len(), 80);
    assert_eq!(d.subjectim.len(), 8);
    assert_eq!(d.sharedix.len(), 12);
    // Every subject sees the shared images.
    for row in &d.subjectim {
        assert!(d.sharedix.iter().all(|s| row.contains(s)));
    }
    let m = read_nifti(&fx("roi/nsdgeneral.nii.gz")).unwrap();
    assert_eq!(m.header.dims, [6, 5, 4]);
    assert!(m.data.iter().all(|&v| v == -1.0 || v == 0.0 || v == 1.0));
    assert_eq!(m.data.iter().filter(|&&v| v > 0.0).count(), 54);
}

#[test]
fn sessions_can_be_chosen_and_a_missing_one_is_named() {
    let mut o = opts(20);
    o.sessions = Some(vec![1, 2]);
    let c = read_nsd_release(&release("betas_h5"), &o).unwrap();
    assert_eq!(c.dataset.subject.y_train.nrows() + c.dataset.subject.y_test.nrows(), 40);
    o.sessions = Some(vec![1, 5]);
    let err = read_nsd_release(&release("betas_h5"), &o).unwrap_err();
    let msg = format!("{err:#}");
    assert_eq!(kind(&err), Some(ErrorKind::Missing), "{msg}");
    assert!(
        msg.contains("betas_session05.hdf5") && msg.contains("found sessions 1, 2, 3"),
        "{msg}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn bad_inputs_are_named_errors_and_write_nothing() {
    let tmp = temp_dir!("bad");
    let out = tmp.join("out");
    let check = |src: NsdRelease, want: ErrorKind, needle: &str| {
        let err = match read_nsd_release(&src, &opts(20)) {
            Ok(c) => write_nsd(&c, 1, 20, &out).map(|_| ()).unwrap_err(),
            Err(e) => e,
        };
        let msg = format!("{err:#}");
        assert_eq!(kind(&err), Some(want), "{needle}: {msg}");
        assert!(msg.contains(needle), "expected '{needle}' in: {msg}");
        assert!(
            !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
            "nothing written"
        );
    };
    // The design ends before the betas do.
    let mut src = release("betas_h5");
    src.expdesign = fx("nsd_expdesign_short.mat");
    check(src, ErrorKind::Invalid, "does not match these betas");
    // A mask of another volume size.
    let mut src = release("betas_h5");
    src.rois = fx("roi_other");
    check(src, ErrorKind::Invalid, "use the ROI files of the same subject");
    // A truncated session file, in each twin.
    for (dir, file) in [
        ("betas_h5", "betas_session02.hdf5"),
        ("betas_nii", "betas_session02.nii.gz"),
    ] {
        let copy = tmp.join(dir);
        copy_dir(&fx(dir), &copy);
        let bytes = std::fs::read(copy.join(file)).unwrap();
        std::fs::write(copy.join(file), &bytes[..bytes.len() * 2 / 3]).unwrap();
        let mut src = release(dir);
        src.betas = copy.clone();
        check(src, ErrorKind::Corrupt, file);
    }
    // No betas at all, and a missing stimulus file.
    let empty = tmp.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut src = release("betas_h5");
    src.betas = empty;
    check(src, ErrorKind::Invalid, "holds no betas_sessionNN");
    let mut src = release("betas_h5");
    src.stimuli = tmp.join("nsd_stimuli.hdf5");
    check(src, ErrorKind::Missing, "nsd_stimuli.hdf5");
}

fn mindeye2(table: &str) -> MindEye2Files {
    MindEye2Files {
        betas: fx("betas_all_subj01_fp32_renorm.hdf5"),
        table: fx(table),
        images: fx("coco_images_224_float16.hdf5"),
        rois: Some(fx("roi")),
        shared1000: Some(fx("shared1000.npy")),
    }
}

#[test]
fn mindeye2_files_convert_to_the_same_subject_from_shards_or_csv() {
    let e = read_npz(&fx("expected.npz")).unwrap();
    let mut o = opts(20);
    o.zscore = false; // MindEye2's betas are z-scored already
    let from_release = read_nsd_release(&release("betas_h5"), &opts(20)).unwrap();
    for table in ["wds/subj01", "wds_table.csv"] {
        let c = read_mindeye2(&mindeye2(table), &o).unwrap();
        let s = &c.dataset.subject;
        let ids = |v: &[usize]| v.iter().map(|&i| i as i64).collect::<Vec<_>>();
        assert_eq!(ids(&c.train_nsd_ids), i64s(&e["train_nsd_ids"]), "{table}");
        assert_eq!(ids(&c.test_nsd_ids), i64s(&e["test_nsd_ids"]), "{table}");
        assert_eq!(s.train_labels.to_vec(), i64s(&e["train_labels"]), "{table}");
        assert_eq!(s.test_labels.to_vec(), i64s(&e["test_labels"]), "{table}");
        assert_close(
            &s.y_train.iter().copied().collect::<Vec<_>>(),
            &f32s(&e["y_train"]),
            "y_train",
        );
        assert_close(
            &s.y_test_avg.iter().copied().collect::<Vec<_>>(),
            &f32s(&e["y_test_avg"]),
            "y_test_avg",
        );
        // float16 CHW in [0, 1] back to the brick's bytes.
        assert_eq!(
            c.dataset.train_images.pixels, from_release.dataset.train_images.pixels,
            "{table}"
        );
        assert_eq!(
            c.dataset.test_images.pixels, from_release.dataset.test_images.pixels,
            "{table}"
        );
        // The release's ROI folder gives the same masks over MindEye2's columns.
        assert_eq!(s.rois, from_release.dataset.subject.rois, "{table}");
    }
    // Without a ROI folder only VC is known.
    let mut files = mindeye2("wds/subj01");
    files.rois = None;
    let c = read_mindeye2(&files, &o).unwrap();
    assert_eq!(c.dataset.subject.roi_names(), ["VC"]);
}

#[test]
fn mindeye2_bad_inputs_are_named_errors() {
    let tmp = temp_dir!("me2");
    let mut o = opts(20);
    o.zscore = false;
    let check = |files: MindEye2Files, want: ErrorKind, needle: &str| {
        let err = read_mindeye2(&files, &o).unwrap_err();
        let msg = format!("{err:#}");
        assert_eq!(kind(&err), Some(want), "{needle}: {msg}");
        assert!(msg.contains(needle), "expected '{needle}' in: {msg}");
    };
    let csv = std::fs::read_to_string(fx("wds_table.csv")).unwrap();
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    // A training trial showing a test image: the table mixes the splits.
    let test_row = lines.iter().find(|l| l.ends_with(",test")).unwrap().clone();
    let train_at = lines.iter().position(|l| l.ends_with(",train")).unwrap();
    let f: Vec<&str> = test_row.split(',').collect();
    let t: Vec<String> = lines[train_at].split(',').map(String::from).collect();
    lines[train_at] = format!("{},{},{},train", t[0], f[1], t[2]);
    let p = tmp.join("mixed.csv");
    std::fs::write(&p, lines.join("\n")).unwrap();
    let mut files = mindeye2("wds_table.csv");
    files.table = p;
    check(files, ErrorKind::Invalid, "which is in the test split");
    // A trial past the end of the betas.
    let p = tmp.join("long.csv");
    std::fs::write(&p, format!("{csv}500,3,9,train\n")).unwrap();
    let mut files = mindeye2("wds_table.csv");
    files.table = p;
    check(files, ErrorKind::Invalid, "refers to global trial 500");
    // A truncated shard.
    let shards = tmp.join("wds");
    for sub in ["train", "new_test"] {
        copy_dir(&fx(&format!("wds/subj01/{sub}")), &shards.join(sub));
    }
    let tar = shards.join("train/1.tar");
    let bytes = std::fs::read(&tar).unwrap();
    std::fs::write(&tar, &bytes[..bytes.len() / 2 + 100]).unwrap();
    let mut files = mindeye2("wds_table.csv");
    files.table = shards;
    check(files, ErrorKind::Corrupt, "1.tar");
    // ROI folder of another subject (other voxel count).
    let mut files = mindeye2("wds_table.csv");
    files.rois = Some(fx("roi_other"));
    check(files, ErrorKind::Invalid, "give the roi folder of the same subject");
    // The old 37-session test folder is not the split.
    let mut files = mindeye2("wds_table.csv");
    files.table = tmp.join("nothing");
    check(files, ErrorKind::Missing, "nothing");
}

#[test]
fn unpaired_pool_avoids_shared_and_own_images_and_is_checked_on_load() {
    let out = scratch!("unpaired");
    let mut o = opts(20);
    o.unpaired = 30;
    o.unpaired_seed = 7;
    let c = read_nsd_release(&release("betas_h5"), &o).unwrap();
    let pool = c.unpaired.as_ref().unwrap();
    let d = NsdDesign::read(&fx("nsd_expdesign.mat")).unwrap();
    assert_eq!(pool.class_ids.len(), 30);
    for &id in &pool.class_ids {
        let id = id as usize;
        assert!(!d.sharedix.contains(&id), "shared image {id} in the pool");
        assert!(
            !d.subjectim[0].contains(&id),
            "the subject's own image {id} in the pool"
        );
    }
    let again = read_nsd_release(&release("betas_nii"), &o).unwrap();
    assert_eq!(
        again.unpaired.as_ref().unwrap().class_ids,
        pool.class_ids,
        "seeded draw"
    );
    o.unpaired_seed = 8;
    let other = read_nsd_release(&release("betas_h5"), &o).unwrap();
    assert_ne!(other.unpaired.unwrap().class_ids, pool.class_ids);
    write_nsd(&c, 1, 20, &out).unwrap();
    let back = read_unpaired_pool(&out, 20).unwrap().unwrap();
    assert_eq!(back.class_ids, pool.class_ids);
    assert!(
        read_unpaired_pool(&out, 32).unwrap().is_none(),
        "no pool at another size"
    );
    // Only 100 − 12 shared − 48 own = 40 images are free.
    o.unpaired = 41;
    let err = read_nsd_release(&release("betas_h5"), &o).unwrap_err();
    assert!(format!("{err:#}").contains("only 40 NSD images"), "{err:#}");
}
