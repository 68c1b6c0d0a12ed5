//! Losses of method.md §4: the image loss (multi-layer perceptual cosine distance on VGG16 taps, normalised pixel
//! L1, exponent-β total variation), the encoder loss and the fMRI-space loss.
use super::backbone::{Vgg, VggTaps};
use tch::Tensor;
use vox2pix_formats::config::{ImageLossConfig, PerceptualTaps};

/// Keras `l2_normalize` floor on the squared norm.
const NORM_EPS: f64 = 1e-12;

/// Unit-normalises the channel vector at every position of [B, C, H, W].
fn channel_normalize(x: &Tensor) -> Tensor {
    x / x
        .square()
        .sum_dim_intlist(&[1i64][..], true, x.kind())
        .clamp_min(NORM_EPS)
        .sqrt()
}

/// One layer's distance: 1 − mean over batch and positions of ⟨â, b̂⟩ (channel-normalised maps).
pub fn layer_cosine_distance(a: &Tensor, b: &Tensor) -> Tensor {
    let dot = (channel_normalize(a) * channel_normalize(b)).sum_dim_intlist(&[1i64][..], false, a.kind());
    1.0 - dot.mean(a.kind())
}

/// Σ_k w_k · d_k over the five relu taps. Pass precomputed (cached, detached) target taps as `target`.
pub fn perceptual_loss(pred: &VggTaps, target: &VggTaps, layer_weights: &[f64; 5]) -> Tensor {
    perceptual_loss_at(pred, target, layer_weights, PerceptualTaps::Relu)
}

/// Σ_k w_k · d_k over the five relu taps or, with [`PerceptualTaps::Pool`], over each block's output after its
/// 2×2 max-pool (computed here from the relu taps, so cached target taps serve both).
pub fn perceptual_loss_at(pred: &VggTaps, target: &VggTaps, layer_weights: &[f64; 5], at: PerceptualTaps) -> Tensor {
    let (a, b) = (pred.as_array(), target.as_array());
    let read = |t: &Tensor| match at {
        PerceptualTaps::Relu => t.shallow_clone(),
        PerceptualTaps::Pool => t.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false),
    };
    let zero = Tensor::zeros([], (a[0].kind(), a[0].device()));
    (0..5).filter(|&k| layer_weights[k] != 0.0).fold(zero, |total, k| {
        total + layer_cosine_distance(&read(a[k]), &read(b[k])) * layer_weights[k]
    })
}

/// mean |pred/n_c − target/n_c| with n_c [3] the per-channel mean |pixel| of the training images.
pub fn pixel_l1_normalized(pred: &Tensor, target: &Tensor, channel_mean_abs: &Tensor) -> Tensor {
    let n = channel_mean_abs
        .to_kind(pred.kind())
        .to_device(pred.device())
        .view([1, -1, 1, 1]);
    ((pred - target).abs() / n).mean(pred.kind())
}

/// mean over [B, C, H−1, W−1] of (Δy² + Δx²)^(β/2), forward differences from the [:-1, :-1] crop.
pub fn total_variation(x: &Tensor, exponent: f64) -> Tensor {
    let (h, w) = (x.size()[2], x.size()[3]);
    let base = x.narrow(2, 0, h - 1).narrow(3, 0, w - 1);
    let dy = (&base - x.narrow(2, 1, h - 1).narrow(3, 0, w - 1)).square();
    let dx = (&base - x.narrow(2, 0, h - 1).narrow(3, 1, w - 1)).square();
    (dy + dx).pow_tensor_scalar(exponent / 2.0).mean(x.kind())
}

/// The terms of one image-loss evaluation (detached, unweighted), for logging.
#[derive(Debug)]
pub struct ImageLossBreakdown {
    /// Perceptual term (weighted sum over the taps).
    pub percept: Tensor,
    /// Normalised pixel L1 term.
    pub mae: Tensor,
    /// Total-variation term.
    pub tv: Tensor,
}

/// L_img for `pred` [B,3,S,S] against `target` whose VGG taps (`target_taps`) are precomputed.
pub fn image_loss(
    vgg: &Vgg,
    pred: &Tensor,
    target: &Tensor,
    target_taps: &VggTaps,
    channel_mean_abs: &Tensor,
    cfg: &ImageLossConfig,
) -> (Tensor, ImageLossBreakdown) {
    let percept = perceptual_loss_at(&vgg.taps(pred), target_taps, &cfg.layer_weights, cfg.taps);
    let mae = pixel_l1_normalized(pred, target, channel_mean_abs);
    let tv = total_variation(pred, cfg.tv_exponent);
    let total = &percept * cfg.percept_weight + &mae * cfg.mae_weight + &tv * cfg.tv_weight;
    (
        total,
        ImageLossBreakdown {
            percept: percept.detach(),
            mae: mae.detach(),
            tv: tv.detach(),
        },
    )
}

/// Mean over the batch of cos(pred_b, target_b) over the voxel vector (Keras `cosine_proximity` negated).
pub fn mean_cosine(pred: &Tensor, target: &Tensor) -> Tensor {
    let unit = |t: &Tensor| {
        t / t
            .square()
            .sum_dim_intlist(&[-1i64][..], true, t.kind())
            .clamp_min(NORM_EPS)
            .sqrt()
    };
    (unit(pred) * unit(target))
        .sum_dim_intlist(&[-1i64][..], false, pred.kind())
        .mean(pred.kind())
}

/// L_E = MSE(y, ŷ) + cos_weight · (−cos(y, ŷ)).
pub fn encoder_loss(pred: &Tensor, target: &Tensor, cos_weight: f64) -> Tensor {
    (pred - target).square().mean(pred.kind()) - mean_cosine(pred, target) * cos_weight
}

/// L_fMRI = mean(snr_n[v] · |y − ŷ|) + cos_weight · (−cos(y, ŷ)), snr_n [V] with mean 1.
pub fn fmri_loss(pred: &Tensor, target: &Tensor, snr_n: &Tensor, cos_weight: f64) -> Tensor {
    let w = snr_n.to_kind(pred.kind()).to_device(pred.device()).unsqueeze(0);
    ((pred - target).abs() * w).mean(pred.kind()) - mean_cosine(pred, target) * cos_weight
}
