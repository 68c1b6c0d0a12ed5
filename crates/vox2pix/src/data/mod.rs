//! Datasets as tensors, the bridge from `vox2pix_formats` to libtorch: [`TrainingData`] is what the trainers and
//! evaluators need from a dataset on the device (images [N, 3, S, S] in [0, 1], ROI-selected fMRI, per-voxel
//! SNR weights, ROI masks, and the class split used by the leakage checks); [`images_to_tensor`] is the one
//! HWC-u8 → NCHW-float conversion; [`pool`] and [`world_pool`] are the unpaired image sources of the ED stream.
pub mod pool;
pub mod world_pool;

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};
use vox2pix_formats::layout::load_dataset;
use vox2pix_formats::manifest::{read_manifest, DatasetManifest};
use vox2pix_formats::Dataset;

/// A dataset loaded onto a device for training and evaluation: images, ROI-selected fMRI, SNR weights, classes.
pub struct TrainingData {
    /// The dataset directory it was loaded from.
    pub dir: PathBuf,
    /// The ROI-selected dataset as loaded (CPU arrays).
    pub dataset: Dataset,
    /// The dataset manifest, when the directory has one.
    pub manifest: Option<DatasetManifest>,
    /// ROI names the voxels were selected by.
    pub roi: Vec<String>,
    /// Image size S (pixels per side).
    pub image_size: i64,
    /// Selected voxel count V.
    pub n_voxels: i64,
    /// [N_train_images, 3, S, S] f32 in [0, 1].
    pub train_images: Tensor,
    /// [N_trials, V] single trials and, per trial, the index of its image.
    pub y_train: Tensor,
    /// [N_trials] i64 index into `train_images` of each trial.
    pub train_labels: Tensor,
    /// [N_test_images, 3, S, S] f32 in [0, 1].
    pub test_images: Tensor,
    /// [N_test_images, V] test responses averaged over repeats.
    pub y_test_avg: Tensor,
    /// SNR normalised to mean 1 (`snr_n`) and inverse SNR normalised to mean 1 (`snr_inv_n`), method.md §1.3.
    pub snr_n: Tensor,
    /// [V] inverse SNR normalised to mean 1 (see `snr_n`).
    pub snr_inv_n: Tensor,
    /// Per-channel mean |pixel| of the training images, [3] (the pixel-loss normaliser `img_norm l1`).
    pub channel_mean_abs: Tensor,
    /// Classes the test images belong to; no training stream may draw them.
    pub test_classes: Vec<i64>,
    /// Classes of the training images.
    pub train_classes: Vec<i64>,
    /// Whether the training and test images are grayscale (R = G = B everywhere, e.g. vim-1): D's output is
    /// then reduced to its luminance before it is saved or scored.
    pub grayscale: bool,
}

/// Images as files and renderers hold them, pixel-interleaved RGB f32 in [0, 1] (`n` images of `size`²×3, one
/// after the other) → a contiguous [n, 3, size, size] CPU tensor.
pub fn rgb_to_tensor(pixels: &[f32], n: i64, size: i64) -> Tensor {
    Tensor::from_slice(pixels)
        .view([n, size, size, 3])
        .permute([0, 3, 1, 2])
        .contiguous()
}

/// uint8 [n, H, W, 3] → f32 [n, 3, H, W] in [0, 1] (the dataset's stored images).
pub fn images_to_tensor(pixels: &ndarray::Array4<u8>) -> Tensor {
    let s = pixels.shape();
    // Straight from the array's buffer when it is contiguous (it always is when loaded): no transient copy.
    let data: std::borrow::Cow<[u8]> = match pixels.as_slice() {
        Some(v) => std::borrow::Cow::Borrowed(v),
        None => std::borrow::Cow::Owned(pixels.iter().copied().collect()),
    };
    Tensor::from_slice(&data)
        .view([s[0] as i64, s[1] as i64, s[2] as i64, s[3] as i64])
        .permute([0, 3, 1, 2])
        .to_kind(Kind::Float)
        / 255.0
}

/// f32 [rows, cols] array → a [rows, cols] CPU tensor.
pub fn array2_to_tensor(a: &ndarray::Array2<f32>) -> Tensor {
    let data: std::borrow::Cow<[f32]> = match a.as_slice() {
        Some(v) => std::borrow::Cow::Borrowed(v),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    };
    Tensor::from_slice(&data).view([a.nrows() as i64, a.ncols() as i64])
}

impl TrainingData {
    /// Loads the dataset in `dir`, keeps the voxels of the `roi` union and puts the tensors on `device`. Fails on
    /// image sizes the models cannot take and on a class shared by training and test images.
    pub fn load(dir: &Path, roi: &[String], device: Device) -> Result<Self> {
        let full = load_dataset(dir, None).with_context(|| format!("cannot load dataset {}", dir.display()))?;
        let manifest = if dir.is_dir() { read_manifest(dir)? } else { None };
        let names: Vec<&str> = roi.iter().map(String::as_str).collect();
        let dataset = full.select_rois(&names)?;
        let subj = &dataset.subject;
        let size = dataset.train_images.pixels.shape()[1] as i64;
        if size % 16 != 0 || size < 32 {
            bail!(
                "{}: images are {size} px; vox2pix models need a multiple of 16 ≥ 32 (112 for GOD)",
                dir.display()
            );
        }
        let test_classes: Vec<i64> = dataset
            .test_images
            .class_ids
            .clone()
            .or_else(|| manifest.as_ref().map(|m| m.test_classes.clone()))
            .unwrap_or_default();
        let train_classes: Vec<i64> = dataset
            .train_images
            .class_ids
            .clone()
            .or_else(|| manifest.as_ref().map(|m| m.train_classes.clone()))
            .unwrap_or_default();
        if let Some(c) = train_classes.iter().find(|c| test_classes.contains(c)) {
            bail!(
                "leakage: class {c} appears among both the training and the test images of {}",
                dir.display()
            );
        }
        let snr = Tensor::from_slice(subj.snr.as_slice().context("snr not contiguous")?)
            .to_kind(Kind::Float)
            .clamp_min(1e-6);
        let snr_n = &snr / snr.mean(Kind::Float);
        let inv = snr.reciprocal();
        let snr_inv_n = &inv / inv.mean(Kind::Float);
        let train_images = images_to_tensor(&dataset.train_images.pixels);
        let channel_mean_abs = train_images
            .abs()
            .mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float)
            .clamp_min(1e-6);
        let labels: Vec<i64> = subj.train_labels.to_vec();
        Ok(Self {
            dir: dir.to_path_buf(),
            roi: roi.to_vec(),
            image_size: size,
            n_voxels: subj.n_voxels() as i64,
            train_images: train_images.to_device(device),
            y_train: array2_to_tensor(&subj.y_train).to_device(device),
            train_labels: Tensor::from_slice(&labels).to_device(device),
            test_images: images_to_tensor(&dataset.test_images.pixels).to_device(device),
            y_test_avg: array2_to_tensor(&subj.y_test_avg).to_device(device),
            snr_n: snr_n.to_device(device),
            snr_inv_n: snr_inv_n.to_device(device),
            channel_mean_abs: channel_mean_abs.to_device(device),
            test_classes,
            train_classes,
            grayscale: dataset.train_images.is_grayscale() && dataset.test_images.is_grayscale(),
            manifest,
            dataset,
        })
    }

    /// Number of single training trials (rows of `y_train`).
    pub fn n_trials(&self) -> i64 {
        self.y_train.size()[0]
    }

    /// ROI masks over the selected voxels.
    pub fn rois(&self) -> &BTreeMap<String, Vec<bool>> {
        &self.dataset.subject.rois
    }

    /// The indices (into `train_images`, increasing) of the `n` images `restrict_paired(n)` keeps; all of them
    /// for 0 or more than there are.
    pub fn paired_subset(&self, n: usize) -> Vec<usize> {
        let total = self.train_images.size()[0] as usize;
        if n == 0 || n >= total {
            return (0..total).collect();
        }
        balanced_subset(&self.train_classes, total, n)
    }

    /// Keeps `n` of the paired training images and their trials (`paired_images` of the training config; 0 keeps
    /// all). The subset is class-balanced and nested: the first image of every class in the dataset's order, then
    /// the second, and so on, so a smaller set is always part of a larger one. Without class ids, the first `n`
    /// images. The normalisers (SNR, channel means) stay those of the whole set: properties of the voxels and
    /// the image statistics, not of the paired samples a learning curve varies.
    pub fn restrict_paired(&mut self, n: usize) -> Result<()> {
        let total = self.train_images.size()[0] as usize;
        if n == 0 || n == total {
            return Ok(());
        }
        if n > total {
            bail!(
                "paired_images = {n}: {} has only {total} paired training images; use at most {total} (0 = all)",
                self.dir.display()
            );
        }
        let keep = self.paired_subset(n);
        let mut new_index = vec![-1i64; total];
        for (j, &i) in keep.iter().enumerate() {
            new_index[i] = j as i64;
        }
        let labels: Vec<i64> = Vec::try_from(self.train_labels.to_device(Device::Cpu))?;
        let (mut rows, mut relabel) = (Vec::new(), Vec::new());
        for (t, &l) in labels.iter().enumerate() {
            if new_index[l as usize] >= 0 {
                rows.push(t as i64);
                relabel.push(new_index[l as usize]);
            }
        }
        let device = self.train_images.device();
        let keep_t = Tensor::from_slice(&keep.iter().map(|&i| i as i64).collect::<Vec<_>>()).to_device(device);
        self.train_images = self.train_images.index_select(0, &keep_t);
        self.y_train = self
            .y_train
            .index_select(0, &Tensor::from_slice(&rows).to_device(device));
        self.train_labels = Tensor::from_slice(&relabel).to_device(device);
        if self.train_classes.len() == total {
            self.train_classes = keep.iter().map(|&i| self.train_classes[i]).collect();
        }
        Ok(())
    }
}

/// `n` of `total` image indices, class-balanced and nested (round-robin over the classes in order of first
/// appearance, each class's images in dataset order); the first `n` when `classes` does not list every image.
fn balanced_subset(classes: &[i64], total: usize, n: usize) -> Vec<usize> {
    if classes.len() != total {
        return (0..n).collect();
    }
    let mut order: Vec<i64> = Vec::new();
    let mut members: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, &c) in classes.iter().enumerate() {
        if !members.contains_key(&c) {
            order.push(c);
        }
        members.entry(c).or_default().push(i);
    }
    let mut keep = Vec::with_capacity(n);
    for round in 0.. {
        let before = keep.len();
        for c in &order {
            if keep.len() == n {
                break;
            }
            if let Some(&i) = members[c].get(round) {
                keep.push(i);
            }
        }
        if keep.len() == n || keep.len() == before {
            break;
        }
    }
    keep.sort_unstable();
    keep
}

#[cfg(test)]
mod subset_tests {
    use super::balanced_subset;

    /// Round-robin over classes in order of first appearance, nested, and sorted back into dataset order.
    #[test]
    fn balanced_subset_takes_every_class_once_before_any_twice_and_is_nested() {
        // classes: 7 7 7 3 3 9 (three classes, 3 / 2 / 1 images)
        let classes = [7, 7, 7, 3, 3, 9];
        assert_eq!(balanced_subset(&classes, 6, 3), vec![0, 3, 5]);
        assert_eq!(balanced_subset(&classes, 6, 4), vec![0, 1, 3, 5]);
        assert_eq!(balanced_subset(&classes, 6, 5), vec![0, 1, 3, 4, 5]);
        assert_eq!(balanced_subset(&classes, 6, 6), vec![0, 1, 2, 3, 4, 5]);
        for n in 1..6 {
            let small = balanced_subset(&classes, 6, n);
            let large = balanced_subset(&classes, 6, n + 1);
            assert!(
                small.iter().all(|i| large.contains(i)),
                "subset of {n} not inside {}",
                n + 1
            );
        }
        // Without a class per image: the first n.
        assert_eq!(balanced_subset(&[], 6, 2), vec![0, 1]);
    }
}
