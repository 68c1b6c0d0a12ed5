//! The in-memory dataset model: one subject's fMRI (train single trials, test trials with repeats, test
//! averages), per-voxel reliability, ROI masks, and the paired train/test images with their class ids.
//! It mirrors the SelfSuperReconst `sbj_N.npz` + `images_112.npz` derivative (`docs/data-formats.md`).
use crate::error::{ErrorKind, FormatError};
use anyhow::Result;

/// `bail!` with an [`ErrorKind::Invalid`] [`FormatError`] holding the same message.
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err(FormatError::new(ErrorKind::Invalid, format!($($arg)*)).into())
    };
}
use ndarray::{Array1, Array2, Array4};
use std::collections::BTreeMap;

/// ROI masks every dataset carries, in the order the SelfSuperReconst npz stores them.
pub const ROI_NAMES: [&str; 10] = ["V1", "V2", "V3", "V4", "LOC", "FFA", "PPA", "LVC", "HVC", "VC"];

/// Images as uint8 `[n, H, W, 3]` (HWC, RGB), with the class id of each image.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    /// Pixels, uint8 `[n, H, W, 3]`.
    pub pixels: Array4<u8>,
    /// Class id per image (synthetic world: class index; GOD: WordNet offset), `None` when unknown.
    pub class_ids: Option<Vec<i64>>,
}

impl ImageSet {
    /// Whether every pixel has R = G = B (a grayscale set stored as RGB, e.g. vim-1), and there is at least one.
    pub fn is_grayscale(&self) -> bool {
        !self.pixels.is_empty()
            && self
                .pixels
                .lanes(ndarray::Axis(3))
                .into_iter()
                .all(|p| p[0] == p[1] && p[1] == p[2])
    }
}

/// One subject's preprocessed fMRI, in image order as in `sbj_N.npz`.
#[derive(Clone, Debug, PartialEq)]
pub struct SubjectData {
    /// `arr_0`: single-trial training responses `[n_train, V]`.
    pub y_train: Array2<f32>,
    /// `arr_1`: single-trial test responses, all repeats `[n_test_trials, V]`.
    pub y_test: Array2<f32>,
    /// `arr_2`: test responses averaged over repeats `[n_test_images, V]`.
    pub y_test_avg: Array2<f32>,
    /// `arr_3`: index into the train images for each training trial.
    pub train_labels: Array1<i64>,
    /// `arr_4`: index into the test images for each test trial.
    pub test_labels: Array1<i64>,
    /// `arr_5`: per-voxel noise ceiling NC(n_rep) in percent.
    pub noise_ceiling: Array1<f32>,
    /// `arr_6`: per-voxel SNR (`calc_snr` variance ratio).
    pub snr: Array1<f32>,
    /// Boolean ROI masks over the V voxels, by name.
    pub rois: BTreeMap<String, Vec<bool>>,
    /// Run id of each training / test trial, where the source provides it (BData, synthetic world).
    pub train_runs: Option<Vec<u32>>,
    /// Run id of each test trial, where the source provides it.
    pub test_runs: Option<Vec<u32>>,
}

/// A subject's fMRI plus the paired images.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The subject's fMRI.
    pub subject: SubjectData,
    /// The training images, indexed by `subject.train_labels`.
    pub train_images: ImageSet,
    /// The test images, indexed by `subject.test_labels` (one row of `y_test_avg` each).
    pub test_images: ImageSet,
}

impl SubjectData {
    /// Number of voxels V.
    pub fn n_voxels(&self) -> usize {
        self.y_train.ncols()
    }

    /// Number of distinct test images (rows of `y_test_avg`).
    pub fn n_test_images(&self) -> usize {
        self.y_test_avg.nrows()
    }

    /// Checks that every array agrees on V, labels match their trials and lie in range, run ids (when present)
    /// match their trials, ROI masks have V entries, and the fMRI holds no NaN/Inf. `n_train_images` bounds the
    /// training labels when the images are known. Errors name the array (`arr_N` / mask name) and the fix.
    pub fn validate(&self, n_train_images: Option<usize>) -> Result<()> {
        let v = self.n_voxels();
        for (key, n) in [
            ("arr_1 (y_test)", self.y_test.ncols()),
            ("arr_2 (y_test_avg)", self.y_test_avg.ncols()),
            ("arr_5 (noise_ceiling)", self.noise_ceiling.len()),
            ("arr_6 (snr)", self.snr.len()),
        ] {
            if n != v {
                invalid!("{key} has {n} voxels but arr_0 (y_train) has {v}; all arrays must cover the same voxels");
            }
        }
        for (name, mask) in &self.rois {
            if mask.len() != v {
                invalid!(
                    "ROI mask '{name}' has {} entries but the data has {v} voxels",
                    mask.len()
                );
            }
        }
        if self.train_labels.len() != self.y_train.nrows() {
            invalid!(
                "arr_3 (train labels) has {} entries but arr_0 has {} trials; one label per trial is required",
                self.train_labels.len(),
                self.y_train.nrows()
            );
        }
        if self.test_labels.len() != self.y_test.nrows() {
            invalid!(
                "arr_4 (test labels) has {} entries but arr_1 has {} trials; one label per trial is required",
                self.test_labels.len(),
                self.y_test.nrows()
            );
        }
        check_labels("arr_3 (train labels)", &self.train_labels.to_vec(), n_train_images)?;
        check_labels(
            "arr_4 (test labels)",
            &self.test_labels.to_vec(),
            Some(self.n_test_images()),
        )?;
        for (key, runs, n) in [
            ("train_runs", &self.train_runs, self.y_train.nrows()),
            ("test_runs", &self.test_runs, self.y_test.nrows()),
        ] {
            if let Some(r) = runs {
                if r.len() != n {
                    invalid!("{key} has {} entries but there are {n} trials", r.len());
                }
            }
        }
        check_finite("arr_0 (y_train)", self.y_train.view())?;
        check_finite("arr_1 (y_test)", self.y_test.view())?;
        check_finite("arr_2 (y_test_avg)", self.y_test_avg.view())?;
        check_finite(
            "arr_5 (noise_ceiling)",
            self.noise_ceiling.view().insert_axis(ndarray::Axis(0)),
        )?;
        check_finite("arr_6 (snr)", self.snr.view().insert_axis(ndarray::Axis(0)))?;
        Ok(())
    }

    /// Voxel indices (ascending) in the union of the named ROI masks. Errors for an unknown name (listing the
    /// known ones) and for a selection of zero voxels.
    pub fn select_rois(&self, names: &[&str]) -> Result<Vec<usize>> {
        if names.is_empty() {
            invalid!("no ROI named; choose from: {}", self.roi_names().join(", "));
        }
        let mut keep = vec![false; self.n_voxels()];
        for name in names {
            let mask = self.rois.get(*name).ok_or_else(|| {
                FormatError::new(
                    ErrorKind::Invalid,
                    format!(
                        "unknown ROI '{name}'; this dataset has: {}",
                        self.roi_names().join(", ")
                    ),
                )
            })?;
            for (k, &m) in keep.iter_mut().zip(mask) {
                *k |= m;
            }
        }
        let idx: Vec<usize> = keep.iter().enumerate().filter(|(_, &k)| k).map(|(i, _)| i).collect();
        if idx.is_empty() {
            invalid!(
                "ROI selection {} contains no voxel; choose a non-empty ROI",
                names.join("+")
            );
        }
        Ok(idx)
    }

    /// ROI names, standard ones first in [`ROI_NAMES`] order, then any extra masks alphabetically.
    pub fn roi_names(&self) -> Vec<String> {
        let mut names: Vec<String> = ROI_NAMES
            .iter()
            .filter(|n| self.rois.contains_key(**n))
            .map(|n| n.to_string())
            .collect();
        names.extend(self.rois.keys().filter(|k| !ROI_NAMES.contains(&k.as_str())).cloned());
        names
    }

    /// A copy keeping only the voxels `idx` (in that order), masks restricted likewise.
    pub fn restrict_voxels(&self, idx: &[usize]) -> SubjectData {
        let cols = |a: &Array2<f32>| a.select(ndarray::Axis(1), idx);
        SubjectData {
            y_train: cols(&self.y_train),
            y_test: cols(&self.y_test),
            y_test_avg: cols(&self.y_test_avg),
            train_labels: self.train_labels.clone(),
            test_labels: self.test_labels.clone(),
            noise_ceiling: self.noise_ceiling.select(ndarray::Axis(0), idx),
            snr: self.snr.select(ndarray::Axis(0), idx),
            rois: self
                .rois
                .iter()
                .map(|(k, m)| (k.clone(), idx.iter().map(|&i| m[i]).collect()))
                .collect(),
            train_runs: self.train_runs.clone(),
            test_runs: self.test_runs.clone(),
        }
    }
}

impl Dataset {
    /// [`SubjectData::validate`] plus image checks: counts match the labels' ranges, images are square and share
    /// one size.
    pub fn validate(&self) -> Result<()> {
        for (what, set) in [("train_images", &self.train_images), ("test_images", &self.test_images)] {
            if set.pixels.shape()[3] != 3 {
                invalid!(
                    "{what} has {} channels; images must be [n, H, W, 3] RGB",
                    set.pixels.shape()[3]
                );
            }
            // The encoder/decoder geometry is derived from one side length; a non-square image would only
            // fail deep inside libtorch.
            if set.pixels.shape()[1] != set.pixels.shape()[2] {
                invalid!(
                    "{what} are {}×{} (H×W); images must be square [n, S, S, 3] — centre-crop them to S×S",
                    set.pixels.shape()[1],
                    set.pixels.shape()[2]
                );
            }
            if let Some(c) = &set.class_ids {
                if c.len() != set.pixels.shape()[0] {
                    invalid!("{what}: {} class ids for {} images", c.len(), set.pixels.shape()[0]);
                }
            }
        }
        if self.train_images.pixels.shape()[1..] != self.test_images.pixels.shape()[1..] {
            invalid!(
                "train images are {:?} but test images are {:?}; both must have one size",
                &self.train_images.pixels.shape()[1..],
                &self.test_images.pixels.shape()[1..]
            );
        }
        let n_test = self.test_images.pixels.shape()[0];
        if n_test != self.subject.n_test_images() {
            invalid!(
                "{n_test} test images but arr_2 (y_test_avg) has {} rows; they must match",
                self.subject.n_test_images()
            );
        }
        self.subject.validate(Some(self.train_images.pixels.shape()[0]))
    }

    /// The dataset restricted to the union of the named ROIs (see [`SubjectData::select_rois`]).
    pub fn select_rois(&self, names: &[&str]) -> Result<Dataset> {
        let idx = self.subject.select_rois(names)?;
        Ok(Dataset {
            subject: self.subject.restrict_voxels(&idx),
            ..self.clone()
        })
    }
}

fn check_labels(key: &str, labels: &[i64], n: Option<usize>) -> Result<()> {
    for (t, &l) in labels.iter().enumerate() {
        let bad = l < 0 || n.is_some_and(|n| l as usize >= n);
        if bad {
            let range = n.map_or("non-negative".to_string(), |n| format!("in 0..{n}"));
            invalid!("{key}: label {l} at position {t} is out of range; labels must be {range}");
        }
    }
    Ok(())
}

/// The NaN/Inf entries of a [rows, voxels] matrix, as every reader reports them.
pub(crate) struct NonFinite {
    /// Entries that are NaN or ±Inf.
    pub count: usize,
    /// The first one in row order: (row, voxel).
    pub first: (usize, usize),
    /// The voxels (columns) holding any, ascending.
    pub voxels: Vec<usize>,
}

impl NonFinite {
    /// Finds the non-finite entries of `a`, None when there are none.
    pub fn find<T: Copy + Into<f64>>(a: ndarray::ArrayView2<T>) -> Option<NonFinite> {
        let bad: Vec<(usize, usize)> = a
            .indexed_iter()
            .filter(|(_, v)| !(**v).into().is_finite())
            .map(|(ij, _)| ij)
            .collect();
        let first = *bad.first()?;
        let voxels: std::collections::BTreeSet<usize> = bad.iter().map(|&(_, c)| c).collect();
        Some(NonFinite {
            count: bad.len(),
            first,
            voxels: voxels.into_iter().collect(),
        })
    }

    /// "voxels 3, 7, …" with the first ten, mapped through `name` (e.g. to a file's column numbers).
    pub fn voxel_list(&self, name: impl Fn(usize) -> usize) -> String {
        let shown: Vec<String> = self.voxels.iter().take(10).map(|&v| name(v).to_string()).collect();
        format!(
            "{}{}",
            shown.join(", "),
            if self.voxels.len() > 10 { ", …" } else { "" }
        )
    }
}

fn check_finite(key: &str, a: ndarray::ArrayView2<f32>) -> Result<()> {
    if let Some(nf) = NonFinite::find(a) {
        let (r, c) = nf.first;
        invalid!(
            "{key} holds {} NaN/Inf values in {} voxels (first at row {r}, voxel {c}; voxels {}); \
             replace them (e.g. np.nan_to_num) or drop those voxels",
            nf.count,
            nf.voxels.len(),
            nf.voxel_list(|v| v)
        );
    }
    Ok(())
}
