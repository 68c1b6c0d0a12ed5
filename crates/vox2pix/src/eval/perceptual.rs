//! LPIPS-style perceptual distance from backbone taps (method.md §6.1 (a)): uncalibrated (every channel counts
//! the same) or calibrated with the `lpips` package's learned per-channel weights ([`LpipsHeads`]).
//!
//! Per layer l with taps f [C, H, W]: unit-normalise the channel vector at every position (x / (‖x‖ + 1e-10),
//! as the `lpips` package), then d_l = mean_hw Σ_c w_c (f̂_a − f̂_b)² (w_c = 1 uncalibrated); the distance is Σ_l d_l. The backbone is
//! whatever the caller supplies (`&[Tensor]` taps), so any network works.
//!
//! All-pairs distances use d = |F_a|² + |F_b|² − 2 F_a·F_b with F = the concatenation over layers of
//! f̂ / √(H·W): one matrix product per candidate batch instead of an [n, m, C, H, W] difference tensor.
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{Kind, Tensor};

/// `lpips.normalize_tensor`'s epsilon.
const EPS: f64 = 1e-10;

/// How images in [0, 1] are mapped before the backbone. Metrics keep their published convention; the
/// choice is written next to the numbers.
///
/// LPIPS v0.1's scaling of [−1, 1] input equals torchvision's ImageNet mean/std on [0, 1] input
/// ((2x − 1 − shift) / scale = (x − 0.485) / 0.229 for red, and likewise for green and blue). A backbone that
/// already applies torchvision normalisation itself (as `nn::backbone` does for torchvision weights) therefore
/// gets the LPIPS v0.1 convention with `Unchanged`; do not normalise twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PerceptualInput {
    /// LPIPS v0.1: x ↦ 2x − 1, then the scaling layer (x − shift) / scale (the paper's metric).
    LpipsV01,
    /// x ↦ 2x − 1 only (LPIPS v0.0 / the classification embedding's x/127.5 − 1).
    MinusOneToOne,
    /// torchvision ImageNet mean/std.
    ImageNet,
    /// Images go in unchanged.
    Unchanged,
}

const LPIPS_SHIFT: [f64; 3] = [-0.030, -0.088, -0.188];
const LPIPS_SCALE: [f64; 3] = [0.458, 0.448, 0.450];
const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

impl PerceptualInput {
    /// Maps images [N, 3, H, W] in [0, 1] to the backbone's input convention.
    pub fn apply(self, images: &Tensor) -> Result<Tensor> {
        let channel = |v: [f64; 3]| {
            Tensor::from_slice(&v)
                .to_kind(images.kind())
                .to_device(images.device())
                .view([1, 3, 1, 1])
        };
        if self != PerceptualInput::Unchanged && (images.dim() != 4 || images.size()[1] != 3) {
            bail!(
                "perceptual input: expected RGB images [N, 3, H, W] in [0, 1], got shape {:?}",
                images.size()
            );
        }
        Ok(match self {
            PerceptualInput::LpipsV01 => (images * 2.0 - 1.0 - channel(LPIPS_SHIFT)) / channel(LPIPS_SCALE),
            PerceptualInput::MinusOneToOne => images * 2.0 - 1.0,
            PerceptualInput::ImageNet => (images - channel(IMAGENET_MEAN)) / channel(IMAGENET_STD),
            PerceptualInput::Unchanged => images.shallow_clone(),
        })
    }
}

/// Channel-unit-normalised taps of a batch, flattened and scaled by 1/√(H·W) per layer: `flat` [N, F] and
/// `self_term` [N] = |F|² (≈ number of layers; less where a position's channel vector is 0).
pub struct UnitTaps {
    /// [N, F] concatenated scaled unit taps.
    pub flat: Tensor,
    /// [N] squared norm of each `flat` row.
    pub self_term: Tensor,
}

fn unit_normalise(tap: &Tensor, layer: usize) -> Result<Tensor> {
    if tap.dim() != 4 {
        bail!(
            "perceptual distance: tap {layer} must be [N, C, H, W], got shape {:?}",
            tap.size()
        );
    }
    let kind = if tap.kind() == Kind::Double {
        Kind::Double
    } else {
        Kind::Float
    };
    let t = tap.to_kind(kind);
    let norm = t.square().sum_dim_intlist(&[1i64][..], true, kind).sqrt();
    Ok(t / (norm + EPS))
}

impl UnitTaps {
    /// From a batch's taps, each [N, C, H, W] (same N); errors on no taps or mismatched batch sizes.
    pub fn new(taps: &[Tensor]) -> Result<Self> {
        Self::weighted(taps, None)
    }

    /// As [`UnitTaps::new`], each layer's unit channel vectors scaled by √w_c (`weights[l]`, [C_l], ≥ 0), so
    /// that squared distances are Σ_c w_c Δ_c², the calibrated LPIPS.
    pub fn weighted(taps: &[Tensor], weights: Option<&[Tensor]>) -> Result<Self> {
        if taps.is_empty() {
            bail!("perceptual distance: no backbone taps given");
        }
        if let Some(w) = weights {
            if w.len() != taps.len() {
                bail!(
                    "perceptual distance: {} channel weight vectors for {} taps",
                    w.len(),
                    taps.len()
                );
            }
        }
        let n = taps[0].size()[0];
        let mut parts = Vec::with_capacity(taps.len());
        for (l, tap) in taps.iter().enumerate() {
            let mut u = unit_normalise(tap, l)?;
            let s = u.size();
            if s[0] != n {
                bail!("perceptual distance: tap {l} has {} images but tap 0 has {n}", s[0]);
            }
            if let Some(w) = weights {
                if w[l].size() != [s[1]] {
                    bail!(
                        "perceptual distance: tap {l} has {} channels but its weights have shape {:?}",
                        s[1],
                        w[l].size()
                    );
                }
                let scale = w[l]
                    .to_kind(u.kind())
                    .to_device(u.device())
                    .clamp_min(0.0)
                    .sqrt()
                    .view([1, s[1], 1, 1]);
                u *= scale;
            }
            parts.push(u.flatten(1, -1) / ((s[2] * s[3]) as f64).sqrt());
        }
        let flat = Tensor::cat(&parts, 1);
        let self_term = flat.square().sum_dim_intlist(&[1i64][..], false, flat.kind());
        Ok(Self { flat, self_term })
    }

    /// Number of images N.
    pub fn len(&self) -> usize {
        self.flat.size()[0] as usize
    }

    /// Whether there is no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All-pairs distances [self.len(), other.len()].
    pub fn distances_to(&self, other: &UnitTaps) -> Result<Tensor> {
        let (fa, fb) = (self.flat.size()[1], other.flat.size()[1]);
        if fa != fb {
            bail!("perceptual distance: tap sizes differ ({fa} vs {fb} features); both sides need the same backbone and image size");
        }
        let kind = if self.flat.kind() == Kind::Double || other.flat.kind() == Kind::Double {
            Kind::Double
        } else {
            Kind::Float
        };
        let (a, b) = (
            self.flat.to_kind(kind),
            other.flat.to_kind(kind).to_device(self.flat.device()),
        );
        let cross = a.matmul(&b.tr());
        let d = self.self_term.to_kind(kind).unsqueeze(1)
            + other.self_term.to_kind(kind).to_device(a.device()).unsqueeze(0)
            - cross * 2.0;
        Ok(d.clamp_min(0.0))
    }
}

/// Distance between image i of `a` and image i of `b`, for paired taps, computed directly as in the definition
/// (difference of normalised maps); [N].
pub fn paired_perceptual_distance(a: &[Tensor], b: &[Tensor]) -> Result<Tensor> {
    if a.len() != b.len() || a.is_empty() {
        bail!(
            "perceptual distance: {} taps vs {} taps; both sides need the same backbone layers",
            a.len(),
            b.len()
        );
    }
    let mut total: Option<Tensor> = None;
    for (l, (ta, tb)) in a.iter().zip(b).enumerate() {
        if ta.size() != tb.size() {
            bail!(
                "perceptual distance: tap {l} shapes differ ({:?} vs {:?})",
                ta.size(),
                tb.size()
            );
        }
        let diff = (unit_normalise(ta, l)? - unit_normalise(tb, l)?).square();
        let kind = diff.kind();
        let d = diff
            .sum_dim_intlist(&[1i64][..], false, kind)
            .mean_dim(&[1i64, 2][..], false, kind);
        total = Some(match total {
            None => d,
            Some(t) => t + d,
        });
    }
    total.context("no taps")
}

/// All-pairs perceptual distances [n_recon, n_candidates] between images in [0, 1] (RGB [N, 3, H, W]),
/// running `backbone` (input → taps) on batches of `batch` images. Only the reconstructions' taps and one
/// candidate batch are held at a time.
pub fn perceptual_distance_matrix(
    recon: &Tensor,
    candidates: &Tensor,
    input: PerceptualInput,
    batch: usize,
    backbone: &mut dyn FnMut(&Tensor) -> Result<Vec<Tensor>>,
) -> Result<Tensor> {
    weighted_perceptual_distance_matrix(recon, candidates, input, batch, backbone, None)
}

/// As [`perceptual_distance_matrix`] with per-channel weights per tap (calibrated LPIPS: [`LpipsHeads`]).
pub fn weighted_perceptual_distance_matrix(
    recon: &Tensor,
    candidates: &Tensor,
    input: PerceptualInput,
    batch: usize,
    backbone: &mut dyn FnMut(&Tensor) -> Result<Vec<Tensor>>,
    weights: Option<&[Tensor]>,
) -> Result<Tensor> {
    if batch == 0 {
        bail!("perceptual distance: batch size must be at least 1");
    }
    let mut taps_of = |images: &Tensor| -> Result<UnitTaps> {
        let mut parts: Vec<Tensor> = Vec::new();
        let n = images.size()[0];
        for start in (0..n).step_by(batch) {
            let len = (n - start).min(batch as i64);
            let x = input.apply(&images.narrow(0, start, len))?;
            let taps = tch::no_grad(|| backbone(&x)).context("perceptual distance: running the backbone")?;
            parts.push(UnitTaps::weighted(&taps, weights)?.flat);
        }
        let flat = Tensor::cat(&parts, 0);
        let self_term = flat.square().sum_dim_intlist(&[1i64][..], false, flat.kind());
        Ok(UnitTaps { flat, self_term })
    };
    let r = taps_of(recon)?;
    let mut blocks = Vec::new();
    let m = candidates.size()[0];
    for start in (0..m).step_by(batch) {
        let len = (m - start).min(batch as i64);
        let c = taps_of(&candidates.narrow(0, start, len))?;
        blocks.push(r.distances_to(&c)?);
    }
    if blocks.is_empty() {
        bail!("perceptual distance: no candidate images");
    }
    Ok(Tensor::cat(&blocks, 1))
}

/// Pixel correlation distance 1 − r over all pixels and channels, all pairs: [n_recon, n_candidates].
pub fn pixel_correlation_distance_matrix(recon: &Tensor, candidates: &Tensor) -> Result<Tensor> {
    let r = crate::nn::pearson::corr_matrix(&recon.flatten(1, -1), &candidates.flatten(1, -1))
        .context("pixel correlation distance: images must have the same size")?;
    Ok(1.0 - r)
}

/// The `lpips` package's learned linear heads (`lin{l}.model.1.weight`, [1, C_l, 1, 1], one per tap) read from
/// the `.pth` file it ships (`lpips/weights/v0.1/alex.pth` for AlexNet), as per-channel weights [C_l].
pub struct LpipsHeads {
    /// One weight vector per tap.
    pub weights: Vec<Tensor>,
}

impl LpipsHeads {
    /// Reads `path`; the heads must be `lin0` … `lin{n_layers−1}` with non-negative weights.
    pub fn load(path: &Path, n_layers: usize) -> Result<Self> {
        let map = crate::model::weights::read_tensor_map(path)
            .with_context(|| format!("reading LPIPS heads {}", path.display()))?;
        let mut weights = Vec::with_capacity(n_layers);
        for l in 0..n_layers {
            let key = format!("lin{l}.model.1.weight");
            let w = map.get(&key).with_context(|| {
                format!(
                    "{}: no `{key}`; expected the lpips package's heads (lpips/weights/v0.1/alex.pth)",
                    path.display()
                )
            })?;
            let s = w.size();
            if s.len() != 4 || s[0] != 1 || s[2] != 1 || s[3] != 1 {
                bail!("{}: `{key}` has shape {s:?}, expected [1, C, 1, 1]", path.display());
            }
            if w.lt(0.0).any().int64_value(&[]) != 0 {
                bail!(
                    "{}: `{key}` has negative weights; LPIPS heads are non-negative",
                    path.display()
                );
            }
            weights.push(w.flatten(0, -1).to_kind(Kind::Float));
        }
        if let Some(extra) = map.keys().find(|k| k.starts_with(&format!("lin{n_layers}."))) {
            bail!(
                "{}: `{extra}`: more heads than the {n_layers} taps of this backbone",
                path.display()
            );
        }
        Ok(Self { weights })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lpips_scaling_equals_imagenet_normalisation() {
        tch::manual_seed(1);
        let x = Tensor::rand([2, 3, 4, 5], (Kind::Double, tch::Device::Cpu));
        let a = PerceptualInput::LpipsV01.apply(&x).unwrap();
        let b = PerceptualInput::ImageNet.apply(&x).unwrap();
        assert!((a - b).abs().max().double_value(&[]) < 1e-12);
        let c = PerceptualInput::MinusOneToOne.apply(&x).unwrap();
        assert!(((c + 1.0) / 2.0 - &x).abs().max().double_value(&[]) < 1e-15);
        assert!(PerceptualInput::LpipsV01.apply(&x.narrow(1, 0, 1)).is_err());
    }
}
