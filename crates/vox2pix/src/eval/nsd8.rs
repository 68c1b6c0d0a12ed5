//! The NSD "8-metric suite" (Brain-Diffuser's table, as MindEye 1/2 compute it; metrics.md §2.1): PixCorr and
//! SSIM at 425 px, AlexNet(2) / AlexNet(5) / InceptionV3 / CLIP as 2-way identification over all pairs, and
//! EfficientNet-B1 / SwAV as mean correlation distance — with each network's resize and normalisation as
//! MindEye2's `final_evaluations` does it (the default and only protocol implemented; the Brain-Diffuser
//! differences are listed in metrics.md). The recipe:
//! 1. [`SuiteWeights::locate`] finds the five weight files users have (torchvision `.pth`, OpenAI's
//!    `ViT-L-14.pt`, SwAV's `.pth.tar`) in one folder, naming any that is missing and where to get it;
//! 2. [`Nsd8Suite::load`] builds the networks (`nn::backbone::AlexNetFeatures`, `nn::inception`,
//!    `nn::efficientnet`, `nn::resnet`, `nn::clip`) and loads them by name;
//! 3. [`Nsd8Suite::evaluate`] scores reconstructions against the ground truth, [`two_way_identification`] and
//!    [`correlation_distance`] per image, each mean with its bootstrap CI.
use super::image::{pixcorr, ssim};
use super::results::MeanWithCi;
use crate::model::weights::{copy_into, read_clip_weights, read_tensor_map, KeyMatch};
use crate::nn::backbone::AlexNetFeatures;
use crate::nn::clip::{ClipVision, ClipVisionSize, CLIP_MEAN, CLIP_STD};
use crate::nn::efficientnet::EfficientNetB1;
use crate::nn::inception::InceptionV3;
use crate::nn::resnet::ResNet50;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// The five networks' files, by the names their publishers give them.
#[derive(Clone, Debug, PartialEq)]
pub struct SuiteWeights {
    /// torchvision AlexNet (`alexnet-owt-7be5be79.pth`).
    pub alexnet: PathBuf,
    /// torchvision Inception v3 (`inception_v3_google-0cc3c7bd.pth`).
    pub inception: PathBuf,
    /// OpenAI CLIP ViT-L/14 (`ViT-L-14.pt`, TorchScript).
    pub clip: PathBuf,
    /// torchvision EfficientNet-B1 (`efficientnet_b1-c27df63c.pth`, IMAGENET1K_V2, MindEye's choice).
    pub efficientnet: PathBuf,
    /// SwAV ResNet-50 (`swav_800ep_pretrain.pth.tar`).
    pub swav: PathBuf,
}

/// (field, accepted file names, where users get it).
const FILES: [(&str, &[&str], &str); 5] = [
    (
        "AlexNet",
        &["alexnet-owt-7be5be79.pth", "alexnet.pth"],
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth (torchvision AlexNet_Weights.IMAGENET1K_V1)",
    ),
    (
        "InceptionV3",
        &["inception_v3_google-0cc3c7bd.pth", "inception_v3.pth"],
        "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth (torchvision Inception_V3_Weights)",
    ),
    (
        "CLIP ViT-L/14",
        &["ViT-L-14.pt"],
        "OpenAI's clip package (clip.load(\"ViT-L/14\") saves it to ~/.cache/clip/ViT-L-14.pt)",
    ),
    (
        "EfficientNet-B1",
        &["efficientnet_b1-c27df63c.pth", "efficientnet_b1.pth", "efficientnet_b1_rwightman-bac287d4.pth", "efficientnet_b1_rwightman-533bc792.pth"],
        "https://download.pytorch.org/models/efficientnet_b1-c27df63c.pth (torchvision EfficientNet_B1_Weights.IMAGENET1K_V2)",
    ),
    (
        "SwAV ResNet-50",
        &["swav_800ep_pretrain.pth.tar", "swav.pth"],
        "https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar (torch.hub facebookresearch/swav resnet50)",
    ),
];

impl SuiteWeights {
    /// The files in `dir` (e.g. torch hub's `~/.cache/torch/hub/checkpoints` with `ViT-L-14.pt` copied in);
    /// every missing one is named with where to get it, in one error.
    pub fn locate(dir: &Path) -> Result<Self> {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for (what, names, url) in FILES {
            match names.iter().map(|n| dir.join(n)).find(|p| p.is_file()) {
                Some(p) => found.push(p),
                None => missing.push(format!("{what}: {} — from {url}", names[0])),
            }
        }
        if !missing.is_empty() {
            bail!(
                "the NSD suite needs five weight files in {}; missing:\n  {}",
                dir.display(),
                missing.join("\n  ")
            );
        }
        let mut f = found.into_iter();
        let mut next = || f.next().expect("five files");
        Ok(Self {
            alexnet: next(),
            inception: next(),
            clip: next(),
            efficientnet: next(),
            swav: next(),
        })
    }
}

/// The suite's networks, loaded and frozen.
pub struct Nsd8Suite {
    device: Device,
    alexnet: (VarStore, AlexNetFeatures),
    inception: (VarStore, InceptionV3),
    clip: (VarStore, ClipVision),
    efficientnet: (VarStore, EfficientNetB1),
    swav: (VarStore, ResNet50),
}

/// Loads `file` into `vs` by name, after dropping BN step counters; `prefix` is stripped (SwAV's `module.`).
fn load_by_name<T>(
    device: Device,
    build: impl FnOnce(&tch::nn::Path) -> T,
    file: HashMap<String, Tensor>,
    source: &Path,
    prefix: &str,
    unused: &[&str],
) -> Result<(VarStore, T)> {
    let mut vs = VarStore::new(device);
    let net = build(&vs.root());
    let file: HashMap<String, Tensor> = file
        .into_iter()
        .filter(|(k, _)| !k.ends_with("num_batches_tracked"))
        .collect();
    copy_into(
        &mut vs,
        &file,
        &source.display().to_string(),
        KeyMatch {
            prefix,
            allowed_unused: unused,
            hint: "",
        },
    )
    .with_context(|| format!("loading {}", source.display()))?;
    vs.freeze();
    Ok((vs, net))
}

/// One metric of the table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nsd8Metric {
    /// `pixcorr`, `ssim`, `alexnet2`, `alexnet5`, `inception`, `clip`, `effnet`, `swav`.
    pub name: String,
    /// What is computed, for the table (network, layer, input size, score).
    pub how: String,
    /// Whether higher is better (the two correlation distances: lower).
    pub higher_is_better: bool,
    /// Mean over the test images with its bootstrap CI and the per-image values.
    pub value: MeanWithCi,
}

/// The suite's table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nsd8Metrics {
    /// The protocol (`mindeye2`).
    pub protocol: String,
    /// The eight metrics, in the field's column order.
    pub metrics: Vec<Nsd8Metric>,
}

/// Per prediction j, the fraction of the other ground-truth images i that prediction j correlates with less
/// than with its own (r(real_i, pred_j) < r(real_j, pred_j), strictly): MindEye's / Brain-Diffuser's 2-way
/// identification, whose mean over j is the published number. `reals`, `preds`: [N, D] features, N ≥ 2.
pub fn two_way_identification(reals: &Tensor, preds: &Tensor) -> Result<Vec<f64>> {
    let n = reals.size()[0];
    if n < 2 || preds.size()[0] != n {
        bail!("2-way identification needs at least 2 images and as many predictions as ground truths");
    }
    let z = |x: &Tensor| {
        let x = x.flatten(1, -1).to_kind(Kind::Double);
        let x = &x - x.mean_dim(&[1i64][..], true, Kind::Double);
        &x / x.norm_scalaropt_dim(2, &[1i64][..], true)
    };
    // r[i, j] = corr(real_i, pred_j).
    let r = z(reals).matmul(&z(preds).tr());
    let diag = r.diagonal(0, 0, 1).unsqueeze(0);
    let wins = r
        .lt_tensor(&diag)
        .to_kind(Kind::Double)
        .sum_dim_intlist(&[0i64][..], false, Kind::Double);
    Ok(Vec::<f64>::try_from(wins / (n - 1) as f64)?)
}

/// Per image, scipy's correlation distance 1 − r(real_i, pred_i) over the flattened features.
pub fn correlation_distance(reals: &Tensor, preds: &Tensor) -> Result<Vec<f64>> {
    let r = crate::nn::pearson::row_corr(
        &reals.flatten(1, -1).to_kind(Kind::Double),
        &preds.flatten(1, -1).to_kind(Kind::Double),
    )?;
    Ok(Vec::<f64>::try_from(1.0 - r)?)
}

/// Bilinear resize to `s`×`s` without antialiasing (torchvision's tensor `Resize` before v0.17, as MindEye ran it).
fn resize(x: &Tensor, s: i64) -> Tensor {
    if x.size()[2] == s && x.size()[3] == s {
        return x.shallow_clone();
    }
    x.upsample_bilinear2d([s, s], false, None, None)
}

fn normalise(x: &Tensor, mean: [f64; 3], std: [f64; 3]) -> Tensor {
    let m = Tensor::from_slice(&mean)
        .to_kind(Kind::Float)
        .to_device(x.device())
        .view([1, 3, 1, 1]);
    let s = Tensor::from_slice(&std)
        .to_kind(Kind::Float)
        .to_device(x.device())
        .view([1, 3, 1, 1]);
    (x - m) / s
}

const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

impl Nsd8Suite {
    /// Builds the five networks on `device` and loads `w`.
    pub fn load(w: &SuiteWeights, device: Device) -> Result<Self> {
        let tv = |p: &Path| read_tensor_map(p);
        let alexnet = load_by_name(
            device,
            |p| AlexNetFeatures::with_conv5(p, 1.0),
            tv(&w.alexnet)?,
            &w.alexnet,
            "",
            &["classifier."],
        )?;
        let inception = load_by_name(
            device,
            InceptionV3::new,
            tv(&w.inception)?,
            &w.inception,
            "",
            &["AuxLogits.", "fc."],
        )?;
        let clip_w = read_clip_weights(&w.clip)?;
        let size = ClipVisionSize::of(&clip_w)?;
        let clip = load_by_name(device, |p| ClipVision::new(p, size), clip_w, &w.clip, "", &[])?;
        let efficientnet = load_by_name(
            device,
            EfficientNetB1::new,
            tv(&w.efficientnet)?,
            &w.efficientnet,
            "",
            &["classifier."],
        )?;
        // SwAV's checkpoint was saved from a DataParallel model: its keys start with `module.`.
        let swav_w = tv(&w.swav)?;
        let prefix = if swav_w.keys().any(|k| k.starts_with("module.")) {
            "module."
        } else {
            ""
        };
        let swav = load_by_name(
            device,
            ResNet50::new,
            swav_w,
            &w.swav,
            prefix,
            &["fc.", "projection_head.", "prototypes."],
        )?;
        Ok(Self {
            device,
            alexnet,
            inception,
            clip,
            efficientnet,
            swav,
        })
    }

    /// Builds the suite from already-filled networks (tests build them with known weights).
    pub fn from_parts(
        device: Device,
        alexnet: (VarStore, AlexNetFeatures),
        inception: (VarStore, InceptionV3),
        clip: (VarStore, ClipVision),
        efficientnet: (VarStore, EfficientNetB1),
        swav: (VarStore, ResNet50),
    ) -> Self {
        Self {
            device,
            alexnet,
            inception,
            clip,
            efficientnet,
            swav,
        }
    }

    /// Features of `x` ([N, 3, 256, 256] in [0, 1]) by `f`, `batch` images at a time, on the suite's device.
    fn features(&self, x: &Tensor, batch: i64, f: &dyn Fn(&Tensor) -> Vec<Tensor>) -> Vec<Tensor> {
        let n = x.size()[0];
        let mut parts: Vec<Vec<Tensor>> = Vec::new();
        let mut i = 0;
        while i < n {
            let k = batch.min(n - i);
            let out = tch::no_grad(|| f(&x.narrow(0, i, k).to_device(self.device)));
            parts.push(
                out.into_iter()
                    .map(|t| t.flatten(1, -1).to_device(Device::Cpu))
                    .collect(),
            );
            i += k;
        }
        (0..parts[0].len())
            .map(|j| Tensor::cat(&parts.iter().map(|p| p[j].shallow_clone()).collect::<Vec<_>>(), 0))
            .collect()
    }

    /// The six networks' features of images at MindEye's working size ([N, 3, 256, 256] in [0, 1]), each resized
    /// and normalised as the protocol has it: `alexnet2`, `alexnet5`, `inception`, `clip`, `effnet`, `swav`,
    /// each [N, D] on the CPU.
    pub fn network_features(&self, x256: &Tensor, batch: i64) -> Vec<(&'static str, Tensor)> {
        let alex = |x: &Tensor| -> Vec<Tensor> {
            let t = self
                .alexnet
                .1
                .lpips_taps(&normalise(x, IMAGENET_MEAN, IMAGENET_STD))
                .expect("built with conv5");
            vec![t[1].shallow_clone(), t[4].shallow_clone()]
        };
        let a = self.features(x256, batch, &alex);
        let inc = |x: &Tensor| {
            vec![self
                .inception
                .1
                .avgpool(&normalise(&resize(x, 342), IMAGENET_MEAN, IMAGENET_STD))]
        };
        let s = self.clip.1.size().input_size();
        let clip = |x: &Tensor| vec![self.clip.1.encode_image(&normalise(&resize(x, s), CLIP_MEAN, CLIP_STD))];
        let eff = |x: &Tensor| {
            vec![self
                .efficientnet
                .1
                .avgpool(&normalise(&resize(x, 255), IMAGENET_MEAN, IMAGENET_STD))]
        };
        let swav = |x: &Tensor| {
            vec![self
                .swav
                .1
                .avgpool(&normalise(&resize(x, 224), IMAGENET_MEAN, IMAGENET_STD))]
        };
        let one = |f: &dyn Fn(&Tensor) -> Vec<Tensor>| self.features(x256, batch, f).remove(0);
        vec![
            ("alexnet2", a[0].shallow_clone()),
            ("alexnet5", a[1].shallow_clone()),
            ("inception", one(&inc)),
            ("clip", one(&clip)),
            ("effnet", one(&eff)),
            ("swav", one(&swav)),
        ]
    }

    /// Images brought to MindEye's working size, 256 px (bilinear, no antialias).
    pub fn to_working_size(x: &Tensor) -> Tensor {
        resize(&x.to_kind(Kind::Float), 256)
    }

    /// The eight metrics of `recon` against `gt` (both [N, 3, H, W] in [0, 1], N ≥ 2), means with `bootstrap`-
    /// resample 95 % CIs seeded by `seed`. Images are first brought to 256 px (MindEye's working size).
    pub fn evaluate(
        &self,
        recon: &Tensor,
        gt: &Tensor,
        batch: i64,
        bootstrap: usize,
        seed: u64,
    ) -> Result<Nsd8Metrics> {
        if recon.size() != gt.size() || recon.dim() != 4 || recon.size()[1] != 3 || recon.size()[0] < 2 {
            bail!(
                "NSD suite: reconstructions {:?} and ground truth {:?} must both be [N ≥ 2, 3, H, W]",
                recon.size(),
                gt.size()
            );
        }
        let (r256, g256) = (Self::to_working_size(recon), Self::to_working_size(gt));
        let mut metrics = Vec::new();
        let mut push = |name: &str, how: &str, higher: bool, v: Vec<f64>| {
            metrics.push(Nsd8Metric {
                name: name.into(),
                how: how.into(),
                higher_is_better: higher,
                value: MeanWithCi::of(v, bootstrap, 0.95, seed),
            })
        };
        let (r425, g425) = (resize(&r256, 425), resize(&g256, 425));
        push(
            "pixcorr",
            "Pearson r over pixels at 425 px (bilinear from 256)",
            true,
            Vec::<f64>::try_from(pixcorr(&r425, &g425)?)?,
        );
        push(
            "ssim",
            "SSIM of rgb2gray at 425 px (Gaussian σ 1.5, data range 1)",
            true,
            Vec::<f64>::try_from(ssim(&r425, &g425)?)?,
        );
        drop((r425, g425));

        let (fr, fg) = (self.network_features(&r256, batch), self.network_features(&g256, batch));
        for ((name, r), (_, g)) in fr.iter().zip(&fg) {
            let (how, higher, v) = match *name {
                "alexnet2" => (
                    "AlexNet features.4, 256 px, 2-way identification",
                    true,
                    two_way_identification(g, r)?,
                ),
                "alexnet5" => (
                    "AlexNet features.11, 256 px, 2-way identification",
                    true,
                    two_way_identification(g, r)?,
                ),
                "inception" => (
                    "InceptionV3 avgpool, 342 px, 2-way identification",
                    true,
                    two_way_identification(g, r)?,
                ),
                "clip" => (
                    "CLIP image embedding, 224 px, 2-way identification",
                    true,
                    two_way_identification(g, r)?,
                ),
                "effnet" => (
                    "EfficientNet-B1 avgpool, 255 px, correlation distance",
                    false,
                    correlation_distance(g, r)?,
                ),
                _ => (
                    "SwAV ResNet-50 avgpool, 224 px, correlation distance",
                    false,
                    correlation_distance(g, r)?,
                ),
            };
            push(name, how, higher, v);
        }
        Ok(Nsd8Metrics {
            protocol: "mindeye2".into(),
            metrics,
        })
    }
}
