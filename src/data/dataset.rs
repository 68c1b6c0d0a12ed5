//! The in-memory dataset model: one subject's fMRI (train single trials, test trials with repeats, test
//! averages), per-voxel reliability, ROI masks, and the paired train/test images with their class ids.
//! It mirrors the SelfSuperReconst `sbj_N.npz` + `images_112.npz` derivative (`docs/data-formats.md`).
use ndarray::{Array1, Array2, Array4};
use std::collections::BTreeMap;

/// ROI masks every dataset carries, in the order the SelfSuperReconst npz stores them.
pub const ROI_NAMES: [&str; 10] = ["V1", "V2", "V3", "V4", "LOC", "FFA", "PPA", "LVC", "HVC", "VC"];

/// Images as uint8 `[n, H, W, 3]` (HWC, RGB), with the class id of each image.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    pub pixels: Array4<u8>,
    /// Class id per image (synthetic world: class index; GOD: WordNet offset), `None` when unknown.
    pub class_ids: Option<Vec<i64>>,
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
    pub test_runs: Option<Vec<u32>>,
}

/// A subject's fMRI plus the paired images.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub subject: SubjectData,
    pub train_images: ImageSet,
    pub test_images: ImageSet,
}
