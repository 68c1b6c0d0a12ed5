//! The SelfSuperReconst file layout (`docs/data-formats.md` §1.5): `sbj_N.npz` (`arr_0..arr_6` + bool ROI
//! masks) and `images_<size>.npz` (`train_images` / `test_images`, float in [0, 1]) in one folder.
//!
//! Besides the upstream keys vox2pix writes optional `train_runs` / `test_runs` (int64 run ids) into
//! `sbj_N.npz` and `train_class_ids` / `test_class_ids` into the images file, so that its own exports reload
//! exactly; upstream loaders access keys by name and ignore them.
use super::dataset::{Dataset, ImageSet, SubjectData, ROI_NAMES};
use super::npz::{write_npz_members, Compression, NpyArray, NpyData, NpzMember, NpzReader};
use crate::error::{ErrorKind, FormatError};
use anyhow::{Context, Result};
use ndarray::{Array1, Array2, Array4, Ix1, Ix2, Ix4};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const TRAIN_RUNS: &str = "train_runs";
const TEST_RUNS: &str = "test_runs";
const TRAIN_CLASS_IDS: &str = "train_class_ids";
const TEST_CLASS_IDS: &str = "test_class_ids";

/// File name of a subject's fMRI: `sbj_<subject>.npz`.
pub fn subject_file_name(subject: u32) -> String {
    format!("sbj_{subject}.npz")
}

/// File name of the images with side `size`: `images_<size>.npz`.
pub fn images_file_name(size: usize) -> String {
    format!("images_{size}.npz")
}

/// The files a dataset path resolves to.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetFiles {
    /// The dataset folder (the `sbj_N.npz` file's parent when a file was given).
    pub dir: PathBuf,
    /// The subject number N.
    pub subject: u32,
    /// Path of `sbj_N.npz`.
    pub subject_file: PathBuf,
    /// `None` when the folder holds no `images_*.npz`.
    pub images_file: Option<PathBuf>,
}

/// Resolves a dataset folder or a `sbj_N.npz` path. In a folder, `subject` picks `sbj_<subject>.npz`
/// (default: the only one present). The images file is `images_<size>.npz` with the manifest's size when a
/// manifest exists, else the only `images_*.npz`, else `images_112.npz` among several.
pub fn locate(path: &Path, subject: Option<u32>) -> Result<DatasetFiles> {
    if path.extension().is_some_and(|e| e == "h5" || e == "hdf5") {
        return Err(FormatError::unsupported(
            path.display().to_string(),
            "a BData HDF5 file; BData support: see `vox2pix convert`, then point at the converted folder",
        )
        .into());
    }
    if !path.exists() {
        return Err(FormatError::Missing {
            path: path.to_path_buf(),
            hint: "give a dataset folder or a sbj_N.npz file".into(),
        }
        .into());
    }
    let (dir, subject_file, subject) = if path.is_dir() {
        let found = list_matching(path, "sbj_")?;
        let subject = match subject {
            Some(s) => s,
            None => match found.as_slice() {
                [(s, _)] => *s,
                [] => {
                    return Err(FormatError::new(
                        ErrorKind::Missing,
                        format!(
                            "{}: no sbj_N.npz file in this folder; is it a vox2pix/SelfSuperReconst dataset?",
                            path.display()
                        ),
                    )
                    .into())
                }
                many => {
                    return Err(FormatError::invalid(
                        path.display().to_string(),
                        format!(
                            "several subjects ({}); choose one with --subject",
                            many.iter().map(|(s, _)| s.to_string()).collect::<Vec<_>>().join(", ")
                        ),
                    )
                    .into())
                }
            },
        };
        let file = path.join(subject_file_name(subject));
        if !file.is_file() {
            return Err(FormatError::new(
                ErrorKind::Missing,
                format!("{}: missing file for subject {subject}", file.display()),
            )
            .into());
        }
        (path.to_path_buf(), file, subject)
    } else {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let parsed = parse_numbered(&name, "sbj_");
        let subject = match (subject, parsed) {
            (Some(s), Some(p)) if s != p => {
                return Err(FormatError::invalid(
                    path.display().to_string(),
                    format!("file is subject {p} but subject {s} was requested"),
                )
                .into())
            }
            (Some(s), _) => s,
            (None, Some(p)) => p,
            (None, None) => 1,
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        (dir, path.to_path_buf(), subject)
    };
    let images_file = locate_images(&dir)?;
    Ok(DatasetFiles {
        dir,
        subject,
        subject_file,
        images_file,
    })
}

fn locate_images(dir: &Path) -> Result<Option<PathBuf>> {
    if let Some(m) = super::manifest::read_manifest(dir)? {
        let f = dir.join(images_file_name(m.image_size));
        return Ok(f.is_file().then_some(f));
    }
    let found = list_matching(dir, "images_")?;
    Ok(match found.as_slice() {
        [] => None,
        [(_, f)] => Some(f.clone()),
        many => match many.iter().find(|(s, _)| *s == 112) {
            Some((_, f)) => Some(f.clone()),
            None => {
                return Err(FormatError::invalid(
                    dir.display().to_string(),
                    format!(
                        "several image files ({}) and no manifest.json to choose; keep one",
                        many.iter()
                            .map(|(_, f)| f.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .into())
            }
        },
    })
}

/// `<prefix><number>.npz` files in `dir`, sorted by number.
fn list_matching(dir: &Path, prefix: &str) -> Result<Vec<(u32, PathBuf)>> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| FormatError::io_context(format!("cannot list {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry?;
        if let Some(n) = parse_numbered(&entry.file_name().to_string_lossy(), prefix) {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn parse_numbered(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.strip_suffix(".npz")?.parse().ok()
}

/// Loads a complete dataset (fMRI + images) from a folder or a `sbj_N.npz` path and validates it.
pub fn load_dataset(path: &Path, subject: Option<u32>) -> Result<Dataset> {
    let files = locate(path, subject)?;
    let images_file = files.images_file.clone().ok_or_else(|| {
        FormatError::new(
            ErrorKind::Missing,
            format!(
                "{}: no images_<size>.npz beside {}; the SelfSuperReconst layout needs images_112.npz with \
                 train_images and test_images",
                files.dir.display(),
                files.subject_file.display()
            ),
        )
    })?;
    let subject = load_subject(&files.subject_file)?;
    let (train_images, test_images) = load_images(&images_file)?;
    let mut ds = Dataset {
        subject,
        train_images,
        test_images,
    };
    if let Some(m) = super::manifest::read_manifest(&files.dir)? {
        // The manifest's class ids fill in files that do not carry them (e.g. hand-assembled folders).
        if ds.train_images.class_ids.is_none() && m.train_classes.len() == ds.train_images.pixels.shape()[0] {
            ds.train_images.class_ids = Some(m.train_classes.clone());
        }
        if ds.test_images.class_ids.is_none() && m.test_classes.len() == ds.test_images.pixels.shape()[0] {
            ds.test_images.class_ids = Some(m.test_classes.clone());
        }
    }
    ds.validate().with_context(|| {
        format!(
            "{} with {} is not a consistent dataset",
            files.subject_file.display(),
            images_file.display()
        )
    })?;
    Ok(ds)
}

/// Loads and validates one `sbj_N.npz` (labels are range-checked against the test images only, as the
/// training image count is not in this file).
pub fn load_subject(path: &Path) -> Result<SubjectData> {
    let mut r = NpzReader::open(path)?;
    let file = path.display().to_string();
    let y_train = float2(&mut r, "arr_0")?;
    let y_test = float2(&mut r, "arr_1")?;
    let y_test_avg = float2(&mut r, "arr_2")?;
    let train_labels = int1(&mut r, "arr_3")?;
    let test_labels = int1(&mut r, "arr_4")?;
    let noise_ceiling = float1(&mut r, "arr_5")?;
    let snr = float1(&mut r, "arr_6")?;
    let train_runs = run_ids(&mut r, TRAIN_RUNS)?;
    let test_runs = run_ids(&mut r, TEST_RUNS)?;
    let mut rois = BTreeMap::new();
    for name in r.names() {
        if is_subject_key(&name) {
            continue;
        }
        let a = r.read(&name)?;
        let mask = a
            .to_array::<bool>()
            .and_then(|m| m.into_dimensionality::<Ix1>().ok())
            .ok_or_else(|| {
                FormatError::invalid(
                    file.as_str(),
                    format!(
                        "key '{name}' should be a 1-D bool ROI mask but is {} of shape {:?}",
                        a.dtype.descr(),
                        a.shape
                    ),
                )
            })?;
        rois.insert(name, mask.to_vec());
    }
    let s = SubjectData {
        y_train,
        y_test,
        y_test_avg,
        train_labels,
        test_labels,
        noise_ceiling,
        snr,
        rois,
        train_runs,
        test_runs,
    };
    s.validate(None)
        .with_context(|| format!("{file}: invalid subject data"))?;
    Ok(s)
}

fn is_subject_key(name: &str) -> bool {
    matches!(
        name,
        "arr_0" | "arr_1" | "arr_2" | "arr_3" | "arr_4" | "arr_5" | "arr_6" | TRAIN_RUNS | TEST_RUNS
    )
}

/// Loads `train_images` / `test_images` (float in [0, 1] as f16/f32/f64, or uint8) as uint8 `[n, H, W, 3]`.
pub fn load_images(path: &Path) -> Result<(ImageSet, ImageSet)> {
    let mut r = NpzReader::open(path)?;
    let mut sets = Vec::new();
    for (key, ids_key) in [("train_images", TRAIN_CLASS_IDS), ("test_images", TEST_CLASS_IDS)] {
        let pixels = image_array(&mut r, key)?;
        let class_ids = if r.contains(ids_key) {
            Some(int1(&mut r, ids_key)?.to_vec())
        } else {
            None
        };
        if let Some(c) = &class_ids {
            if c.len() != pixels.shape()[0] {
                return Err(FormatError::invalid(
                    path.display().to_string(),
                    format!(
                        "key '{ids_key}' has {} entries for {} images",
                        c.len(),
                        pixels.shape()[0]
                    ),
                )
                .into());
            }
        }
        sets.push(ImageSet { pixels, class_ids });
    }
    let test = sets.pop().expect("two sets pushed");
    let train = sets.pop().expect("two sets pushed");
    Ok((train, test))
}

fn image_array(r: &mut NpzReader, key: &str) -> Result<Array4<u8>> {
    let file = r.path().display().to_string();
    let a = r.read(key)?;
    if a.shape.len() != 4 || a.shape[3] != 3 {
        return Err(FormatError::invalid(
            file,
            format!("key '{key}' has shape {:?}; images must be [n, H, W, 3]", a.shape),
        )
        .into());
    }
    let shape = (a.shape[0], a.shape[1], a.shape[2], 3);
    if let Some(u) = a.to_array::<u8>() {
        return Ok(u.into_dimensionality::<Ix4>().expect("rank checked"));
    }
    // Converted straight from the stored float type: an f64 copy of 1,200 images is already ~360 MB.
    let px = match &a.data {
        NpyData::F32(v) => unit_to_u8(v.iter().map(|&x| x as f64), &file, key)?,
        NpyData::F64(v) => unit_to_u8(v.iter().copied(), &file, key)?,
        _ => {
            return Err(FormatError::invalid(
                file,
                format!(
                    "key '{key}' has dtype {}; images must be float in [0, 1] (or uint8)",
                    a.dtype.descr()
                ),
            )
            .into())
        }
    };
    Ok(Array4::from_shape_vec(shape, px).expect("length equals shape"))
}

/// Maps [0, 1] floats to the nearest uint8; errors (with the count and range) on values outside [0, 1] or NaN.
fn unit_to_u8(values: impl Iterator<Item = f64> + Clone, file: &str, key: &str) -> Result<Vec<u8>, FormatError> {
    let bad = values.clone().filter(|v| !(0.0..=1.0).contains(v)).count();
    if bad > 0 {
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
        return Err(FormatError::invalid(
            file,
            format!(
                "key '{key}' has {bad} values outside [0, 1] or NaN (min {lo}, max {hi}); images must be float in \
                 [0, 1] — divide 0..255 data by 255"
            ),
        ));
    }
    Ok(values.map(|v| (v * 255.0).round() as u8).collect())
}

fn read_typed(r: &mut NpzReader, key: &str, rank: usize, what: &str) -> Result<NpyArray> {
    let a = r.read(key)?;
    if a.shape.len() != rank {
        return Err(FormatError::invalid(
            r.path().display().to_string(),
            format!(
                "key '{key}' has rank {} (shape {:?}); expected rank {rank} ({what})",
                a.shape.len(),
                a.shape
            ),
        )
        .into());
    }
    Ok(a)
}

fn float2(r: &mut NpzReader, key: &str) -> Result<Array2<f32>> {
    let a = read_typed(r, key, 2, "[trials, voxels]")?;
    let f = a.to_f32().ok_or_else(|| wrong_dtype(r, key, &a, "float32/float64"))?;
    Ok(f.into_dimensionality::<Ix2>().expect("rank checked"))
}

fn float1(r: &mut NpzReader, key: &str) -> Result<Array1<f32>> {
    let a = read_typed(r, key, 1, "[voxels]")?;
    let f = a.to_f32().ok_or_else(|| wrong_dtype(r, key, &a, "float32/float64"))?;
    Ok(f.into_dimensionality::<Ix1>().expect("rank checked"))
}

fn int1(r: &mut NpzReader, key: &str) -> Result<Array1<i64>> {
    let a = read_typed(r, key, 1, "[trials]")?;
    let i = match a.to_i64() {
        Some(i) => i,
        // Float labels are accepted when every value is a whole number (some exports store them as float).
        None => match a.to_f32() {
            Some(f) if f.iter().all(|v| v.fract() == 0.0) => f.mapv(|v| v as i64),
            _ => return Err(wrong_dtype(r, key, &a, "integer (int64) labels").into()),
        },
    };
    Ok(i.into_dimensionality::<Ix1>().expect("rank checked"))
}

fn run_ids(r: &mut NpzReader, key: &str) -> Result<Option<Vec<u32>>> {
    if !r.contains(key) {
        return Ok(None);
    }
    let ids = int1(r, key)?;
    ids.iter()
        .map(|&v| {
            u32::try_from(v).map_err(|e| {
                FormatError::caused_by(
                    ErrorKind::Invalid,
                    format!("{}: key '{key}': run id {v} is negative", r.path().display()),
                    e,
                )
                .into()
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn wrong_dtype(r: &NpzReader, key: &str, a: &NpyArray, expected: &str) -> FormatError {
    FormatError::invalid(
        r.path().display().to_string(),
        format!("key '{key}' has dtype {}; expected {expected}", a.dtype.descr()),
    )
}

/// Writes `sbj_<subject>.npz` and `images_<H>.npz` into `dir` (created if needed), each atomically, after
/// validating the dataset. fMRI is float32, labels int64, masks bool, images float32 in [0, 1].
pub fn write_dataset(dir: &Path, subject: u32, ds: &Dataset) -> Result<()> {
    ds.validate().context("refusing to write an inconsistent dataset")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let s = &ds.subject;
    // The fMRI matrices (the bulk: 1.7 GB for an NSD subject) are written from where they are, without a copy.
    let fmri: Vec<(Vec<usize>, std::borrow::Cow<[f32]>)> = [&s.y_train, &s.y_test, &s.y_test_avg]
        .iter()
        .map(|a| {
            let data = match a.as_slice() {
                Some(v) => std::borrow::Cow::Borrowed(v),
                None => std::borrow::Cow::Owned(a.iter().copied().collect()),
            };
            (a.shape().to_vec(), data)
        })
        .collect();
    let mut arrays: Vec<(String, NpyArray)> = vec![
        ("arr_3".into(), NpyArray::new(s.train_labels.view())),
        ("arr_4".into(), NpyArray::new(s.test_labels.view())),
        ("arr_5".into(), NpyArray::new(s.noise_ceiling.view())),
        ("arr_6".into(), NpyArray::new(s.snr.view())),
    ];
    let roi_order = ROI_NAMES
        .iter()
        .map(|n| n.to_string())
        .chain(s.rois.keys().filter(|k| !ROI_NAMES.contains(&k.as_str())).cloned());
    for name in roi_order {
        if is_subject_key(&name) || name.starts_with("arr_") {
            return Err(FormatError::new(
                ErrorKind::Invalid,
                format!("ROI mask name '{name}' clashes with a data key; rename the ROI"),
            )
            .into());
        }
        if let Some(m) = s.rois.get(&name) {
            arrays.push((name, NpyArray::new(ndarray::ArrayView1::from(m.as_slice()))));
        }
    }
    for (key, runs) in [(TRAIN_RUNS, &s.train_runs), (TEST_RUNS, &s.test_runs)] {
        if let Some(r) = runs {
            let ids: Vec<i64> = r.iter().map(|&v| v as i64).collect();
            arrays.push((key.into(), NpyArray::new(ndarray::ArrayView1::from(ids.as_slice()))));
        }
    }
    let mut members: Vec<(&str, NpzMember)> = ["arr_0", "arr_1", "arr_2"]
        .iter()
        .zip(&fmri)
        .map(|(k, (shape, v))| (*k, NpzMember::F32(shape, v)))
        .collect();
    members.extend(arrays.iter().map(|(k, a)| (k.as_str(), NpzMember::Array(a))));
    write_npz_members(&dir.join(subject_file_name(subject)), &members, Compression::Stored)?;

    // Images are written as float32 in [0, 1] straight from their bytes: the float copy (4× the bytes) is never
    // held, which is what bounds memory for large sets (NSD at 224 px: 10k images, 6 GB as float32).
    let mut shapes = Vec::new();
    let mut ids = Vec::new();
    for set in [&ds.train_images, &ds.test_images] {
        shapes.push(set.pixels.shape().to_vec());
        ids.push(
            set.class_ids
                .as_ref()
                .map(|c| NpyArray::new(ndarray::ArrayView1::from(c.as_slice()))),
        );
    }
    let bytes: Vec<std::borrow::Cow<[u8]>> = [&ds.train_images, &ds.test_images]
        .iter()
        .map(|set| match set.pixels.as_slice() {
            Some(b) => std::borrow::Cow::Borrowed(b),
            None => std::borrow::Cow::Owned(set.pixels.iter().copied().collect()),
        })
        .collect();
    let mut members: Vec<(&str, NpzMember)> = Vec::new();
    for (k, (key, ids_key)) in [("train_images", TRAIN_CLASS_IDS), ("test_images", TEST_CLASS_IDS)]
        .into_iter()
        .enumerate()
    {
        members.push((key, NpzMember::UnitF32(&shapes[k], &bytes[k])));
        if let Some(c) = &ids[k] {
            members.push((ids_key, NpzMember::Array(c)));
        }
    }
    let size = ds.train_images.pixels.shape()[1];
    write_npz_members(&dir.join(images_file_name(size)), &members, Compression::Stored)
}
