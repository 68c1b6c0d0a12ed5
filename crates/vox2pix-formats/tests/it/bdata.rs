//! BData HDF5 reader on fixtures written by bdpy / h5py (`tools/make_bdata_fixtures.py`): shapes, ROI voxel
//! counts, splits, runs, stimulus file names, both string kinds and spellings, and the bad-input errors.
use crate::helpers::fixture;
use std::collections::BTreeSet;
use std::path::Path;
use vox2pix_formats::bdata::{stimulus_file_name, summarize, BData, GodTrials, Split};
use vox2pix_formats::error::kind_of;
use vox2pix_formats::images::{build_unpaired_pool, cached_unpaired_pool, read_pool_cache, PoolSpec};
use vox2pix_formats::ErrorKind;

const TRAIN: [&str; 8] = [
    "n01518878_14910",
    "n01518878_8432",
    "n01639765_52902",
    "n01639765_48919",
    "n01645776_9743",
    "n01645776_12150",
    "n01664990_7133",
    "n01664990_16831",
];
const TEST: [&str; 3] = ["n01443537_22563", "n01677366_18182", "n01943899_24131"];

fn check_god_fixture(path: &Path) {
    let b = BData::open(path).unwrap();
    // 8 train + 4×3 test + 2 imagery samples; 40 voxel columns + DataType, Run, Block, stimulus id.
    assert_eq!(b.dataset.dim(), (22, 44), "{}", path.display());
    assert_eq!(b.keys.len(), 18);
    assert_eq!(b.values.dim(), (18, 44));
    assert!(
        b.dataset[[5, 3]].is_nan(),
        "the fixture's missing value must survive reading"
    );
    assert_eq!(b.select("VoxelData").unwrap(), (0..40).collect::<Vec<_>>());

    let t = GodTrials::from_bdata(&b, "VC").unwrap();
    assert_eq!(t.n_voxels(), 38, "columns 38-39 are outside VC");
    let counts: Vec<(String, usize)> = t
        .rois
        .iter()
        .map(|(k, m)| (k.clone(), m.iter().filter(|&&x| x).count()))
        .collect();
    let expect = [
        ("FFA", 4),
        ("HVC", 14),
        ("LOC", 6),
        ("LVC", 18),
        ("PPA", 4),
        ("V1", 6),
        ("V2", 6),
        ("V3", 6),
        ("V4", 6),
        ("VC", 38),
    ];
    assert_eq!(
        counts,
        expect.iter().map(|(k, n)| (k.to_string(), *n)).collect::<Vec<_>>()
    );
    // The VC voxels are exactly the first 38 columns, values untouched.
    for j in [0, 17, 37] {
        for i in [0, 10, 21] {
            assert_eq!(t.voxels[[i, j]].to_bits(), b.dataset[[i, j]].to_bits());
        }
    }
    assert_eq!(t.rows(Split::Train).len(), 8);
    assert_eq!(t.rows(Split::Test).len(), 12);
    assert_eq!(t.rows(Split::Imagery).len(), 2);
    let runs = |s| t.rows(s).iter().map(|&i| t.run[i]).collect::<BTreeSet<_>>();
    assert_eq!(runs(Split::Train), BTreeSet::from([1, 2]));
    assert_eq!(runs(Split::Test), BTreeSet::from([1, 2, 3, 4]));
    let names = |s| {
        t.rows(s)
            .iter()
            .map(|&i| stimulus_file_name(t.stimulus_id[i]).unwrap())
            .collect::<Vec<_>>()
    };
    let train: BTreeSet<String> = names(Split::Train).into_iter().collect();
    assert_eq!(train, TRAIN.iter().map(|s| format!("{s}.JPEG")).collect());
    let test = names(Split::Test);
    for s in TEST {
        assert_eq!(
            test.iter().filter(|n| **n == format!("{s}.JPEG")).count(),
            4,
            "4 repeats of {s}"
        );
    }
    assert_eq!(t.block.as_ref().map(|b| b.len()), Some(22));
}

#[test]
fn bdpy_file_with_variable_length_strings_reads_correctly() {
    check_god_fixture(&fixture("bdata", "god_bdpy.h5"));
}

#[test]
fn old_spelling_with_fixed_length_strings_and_label_key_reads_correctly() {
    check_god_fixture(&fixture("bdata", "god_old_fixed.h5"));
    let new = BData::open(&fixture("bdata", "god_bdpy.h5")).unwrap();
    let old = BData::open(&fixture("bdata", "god_old_fixed.h5")).unwrap();
    assert!(old.keys.contains(&"Label".to_string()) && !old.keys.contains(&"stimulus_id".to_string()));
    let bits = |b: &BData| b.dataset.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&new), bits(&old));
    assert_eq!(new.descriptions[1], "1 = DataType");
    assert_eq!(
        old.descriptions[1], "1 = DataType",
        "fixed-length padding must be stripped"
    );
}

#[test]
fn gzip_chunked_table_reads_the_same_numbers() {
    let plain = BData::open(&fixture("bdata", "god_bdpy.h5")).unwrap();
    let gz = BData::open(&fixture("bdata", "god_gzip.h5")).unwrap();
    assert_eq!(gz.dataset.dim(), plain.dataset.dim());
    // Identical except where the fixture blanked imagery stimulus ids and one Block value.
    let differing: Vec<(usize, usize)> = plain
        .dataset
        .indexed_iter()
        .filter(|(ij, v)| v.to_bits() != gz.dataset[*ij].to_bits())
        .map(|(ij, _)| ij)
        .collect();
    assert_eq!(differing, [(0, 42), (20, 43), (21, 43)]);
    let t = GodTrials::from_bdata(&gz, "VC").unwrap();
    assert!(t.block.is_none(), "a Block column with NaN is dropped, not fatal");
    assert_eq!(t.rows(Split::Imagery).len(), 2);
}

/// The fixture's one NaN (sample 5, data column 3, a V1 voxel) is named by the reader where the ROI holds it,
/// and only there.
#[test]
fn nan_voxel_values_are_named_with_sample_and_data_column() {
    let b = BData::open(&fixture("bdata", "god_bdpy.h5")).unwrap();
    let vc = GodTrials::from_bdata(&b, "VC").unwrap();
    let m = vc.missing.expect("VC holds the NaN");
    assert!(
        m.contains("ROI_VC voxel data holds 1 NaN/Inf values in 1 voxels (first at sample 5, voxel 3 = data column 3"),
        "{m}"
    );
    // V2 is data columns 6-11: no NaN there. V1 is columns 0-5: the NaN is its voxel 3 too.
    assert_eq!(GodTrials::from_bdata(&b, "V2").unwrap().missing, None);
    assert!(GodTrials::from_bdata(&b, "V1")
        .unwrap()
        .missing
        .unwrap()
        .contains("voxel 3 = data column 3"));
    // An Inf is named as well, with the column in file numbering: V2's voxel 1 is data column 7.
    let mut inf = b.clone();
    inf.dataset[[9, 7]] = f64::INFINITY;
    let m = GodTrials::from_bdata(&inf, "V2").unwrap().missing.unwrap();
    assert!(m.contains("first at sample 9, voxel 1 = data column 7"), "{m}");
}

#[test]
fn summary_reports_rois_splits_runs_and_repeats() {
    let s = summarize(&fixture("bdata", "god_bdpy.h5")).unwrap();
    for needle in [
        "VC=38",
        "V1=6",
        "HVC=14",
        "LVC=18",
        "22 samples × 44 columns (40 voxel columns)",
    ] {
        assert!(s.contains(needle), "summary lacks '{needle}':\n{s}");
    }
    assert!(
        s.contains("train    8 samples, 2 runs, 8 distinct stimuli, 1 repeats each"),
        "{s}"
    );
    assert!(
        s.contains("test     12 samples, 4 runs, 3 distinct stimuli, 4 repeats each"),
        "{s}"
    );
    assert!(s.contains("imagery  2 samples, 1 runs"), "{s}");
}

#[test]
fn truncated_file_is_a_clear_error() {
    let d = temp_dir!("trunc");
    let bytes = std::fs::read(fixture("bdata", "god_bdpy.h5")).unwrap();
    for cut in [bytes.len() / 2, 512, 8] {
        let p = d.join("Subject1.h5");
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let e = format!("{:#}", BData::open(&p).unwrap_err());
        assert!(e.contains("Subject1.h5"), "error must name the file: {e}");
        assert!(
            e.contains("truncated") || e.contains("damaged"),
            "error must say what is wrong: {e}"
        );
    }
    let e = format!("{:#}", BData::open(&fixture("bdata", "stimulus_test.tsv")).unwrap_err());
    assert!(e.contains("not a readable HDF5 file"), "{e}");
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn missing_metadata_is_a_clear_error() {
    let e = format!("{:#}", BData::open(&fixture("bdata", "no_metadata.h5")).unwrap_err());
    assert!(e.contains("no_metadata.h5") && e.contains("/metadata"), "{e}");
}

/// Damaged HDF5 files are [`ErrorKind::Corrupt`] (truncated, not HDF5, or with headers the fuzzers damaged); a
/// readable file without the BData keys is `Invalid`; an absent file is `Missing`.
#[test]
fn bad_files_have_typed_error_kinds() {
    let d = temp_dir!("kinds");
    let open = |p: &Path| kind_of(&BData::open(p).unwrap_err());
    let bytes = std::fs::read(fixture("bdata", "god_bdpy.h5")).unwrap();
    for cut in [bytes.len() - 100, bytes.len() / 2, 512, 8] {
        let p = d.join("Subject1.h5");
        std::fs::write(&p, &bytes[..cut]).unwrap();
        assert_eq!(open(&p), Some(ErrorKind::Corrupt), "cut at {cut}");
    }
    assert_eq!(
        open(&fixture("bdata", "stimulus_test.tsv")),
        Some(ErrorKind::Corrupt),
        "not HDF5"
    );
    for name in [
        "bdata_huge_shape.h5",
        "bdata_chunk_overflow.h5",
        "bdata_chunk_offset_oom.h5",
    ] {
        assert_eq!(open(&fixture("fuzz", name)), Some(ErrorKind::Corrupt), "{name}");
    }
    assert_eq!(open(&d.join("Subject9.h5")), Some(ErrorKind::Missing));
    assert_eq!(
        kind_of(&summarize(&d.join("Subject9.h5")).unwrap_err()),
        Some(ErrorKind::Missing)
    );
    assert_eq!(
        open(&fixture("bdata", "no_metadata.h5")),
        Some(ErrorKind::Invalid),
        "no /metadata"
    );
    let b = BData::open(&fixture("bdata", "god_bdpy.h5")).unwrap();
    assert_eq!(
        kind_of(&b.select("ImageID").unwrap_err()),
        Some(ErrorKind::Invalid),
        "missing key"
    );
    assert_eq!(
        kind_of(&b.label("VoxelData").unwrap_err()),
        Some(ErrorKind::Invalid),
        "not a label"
    );
    assert_eq!(
        kind_of(&GodTrials::from_bdata(&b, "V9").err().unwrap()),
        Some(ErrorKind::Invalid),
        "missing ROI"
    );
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn unknown_roi_lists_the_existing_roi_keys() {
    let b = BData::open(&fixture("bdata", "god_bdpy.h5")).unwrap();
    let e = format!("{:#}", GodTrials::from_bdata(&b, "V9").unwrap_err());
    assert!(e.contains("ROI_V9"), "{e}");
    for k in ["ROI_V1", "ROI_PPA", "ROI_LVC", "ROI_HVC", "ROI_VC"] {
        assert!(e.contains(k), "the message must list {k}: {e}");
    }
    let e = format!("{:#}", b.select("ImageID").unwrap_err());
    assert!(
        e.contains("'ImageID' does not exist") && e.contains("stimulus_id"),
        "{e}"
    );
}

#[test]
fn unpaired_pool_excludes_test_classes_samples_k_per_class_and_caches() {
    let spec = PoolSpec {
        per_class: 3,
        seed: 7,
        exclude: BTreeSet::from([1443537]),
        image_size: 16,
    };
    let pool = build_unpaired_pool(&fixture("bdata", "pool"), &spec).unwrap();
    // Classes: n01443537 (3 images, a test class), n01518878 (5), n09999999 (2) → 3 + 2 images.
    assert_eq!(pool.class_ids, vec![1518878, 1518878, 1518878, 9999999, 9999999]);
    assert_eq!(pool.pixels.shape(), &[5, 16, 16, 3]);
    assert_eq!(
        pool.files.iter().collect::<BTreeSet<_>>().len(),
        5,
        "no image drawn twice"
    );
    assert!(pool.files.iter().all(|f| !f.starts_with("n01443537/")));
    // Same seed → same draw; the draw is a subset of the class folder.
    assert_eq!(
        build_unpaired_pool(&fixture("bdata", "pool"), &spec).unwrap().files,
        pool.files
    );
    let d = temp_dir!("pool");
    let cache = d.join("pool_16.npz");
    let first = cached_unpaired_pool(&fixture("bdata", "pool"), &cache, &spec).unwrap();
    assert_eq!(first, pool);
    assert_eq!(
        read_pool_cache(&cache).unwrap(),
        pool,
        "the cache must round-trip exactly"
    );
    // A different spec does not reuse the cache.
    let spec2 = PoolSpec {
        per_class: 1,
        ..spec.clone()
    };
    assert_eq!(
        cached_unpaired_pool(&fixture("bdata", "pool"), &cache, &spec2)
            .unwrap()
            .class_ids
            .len(),
        2
    );
    let _ = std::fs::remove_dir_all(d);
}
