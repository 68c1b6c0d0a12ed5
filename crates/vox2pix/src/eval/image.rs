//! Low-level image metrics between reconstructions and ground truth: PixCorr and SSIM (metrics.md §2).
//!
//! SSIM follows scikit-image `structural_similarity(gaussian_weights=True, sigma=1.5,
//! use_sample_covariance=False, data_range=1)` on `rgb2gray` images: an 11-tap Gaussian (truncate 3.5), and the
//! mean of the SSIM map over the interior that the window fits in (skimage crops 5 px per side, where its
//! boundary mode has no effect, so a valid convolution computes exactly that region).
use crate::nn::pearson::row_corr;
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

const SIGMA: f64 = 1.5;
const TRUNCATE: f64 = 3.5;
const K1: f64 = 0.01;
const K2: f64 = 0.03;
/// skimage `rgb2gray` (ITU-R BT.709 luma) weights.
const GREY: [f64; 3] = [0.2125, 0.7154, 0.0721];

fn check_pair(what: &str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.size() != b.size() {
        bail!(
            "{what}: reconstructions {:?} and ground truth {:?} differ in shape; resize both to the same size first",
            a.size(),
            b.size()
        );
    }
    if a.dim() != 4 {
        bail!("{what}: expected images [N, C, H, W], got shape {:?}", a.size());
    }
    Ok(())
}

/// PixCorr: Pearson r per image over all pixels and channels; [N].
pub fn pixcorr(recon: &Tensor, gt: &Tensor) -> Result<Tensor> {
    check_pair("PixCorr", recon, gt)?;
    row_corr(&recon.flatten(1, -1), &gt.flatten(1, -1))
}

/// Greyscale [N, 1, H, W] via skimage `rgb2gray` weights from RGB [N, 3, H, W]; greyscale input passes through.
pub fn rgb_to_grey(images: &Tensor) -> Result<Tensor> {
    let x = images.to_kind(Kind::Double);
    match x.size().as_slice() {
        [_, 1, _, _] => Ok(x),
        [_, 3, _, _] => {
            let w = Tensor::from_slice(&GREY).to_device(x.device()).view([1, 3, 1, 1]);
            Ok((x * w).sum_dim_intlist(&[1i64][..], true, Kind::Double))
        }
        s => bail!("greyscale conversion: expected [N, 1 or 3, H, W], got {s:?}"),
    }
}

fn gaussian_taps() -> Vec<f64> {
    let radius = (TRUNCATE * SIGMA + 0.5) as i64;
    let w: Vec<f64> = (-radius..=radius)
        .map(|x| (-0.5 * (x as f64 / SIGMA).powi(2)).exp())
        .collect();
    let s: f64 = w.iter().sum();
    w.into_iter().map(|v| v / s).collect()
}

/// SSIM per image ([N]) of images in [0, 1] (data range 1), RGB converted to grey first.
pub fn ssim(recon: &Tensor, gt: &Tensor) -> Result<Tensor> {
    check_pair("SSIM", recon, gt)?;
    let (x, y) = (rgb_to_grey(recon)?, rgb_to_grey(gt)?);
    let taps = gaussian_taps();
    let win = taps.len() as i64;
    let s = x.size();
    if s[2] < win || s[3] < win {
        bail!(
            "SSIM: images must be at least {win}×{win} pixels for the Gaussian window, got {}×{}",
            s[2],
            s[3]
        );
    }
    let g = Tensor::from_slice(&taps).to_device(x.device());
    let (gv, gh) = (g.view([1, 1, win, 1]), g.view([1, 1, 1, win]));
    let filt = |t: &Tensor| {
        t.conv2d::<&Tensor>(&gv, None, [1, 1], [0, 0], [1, 1], 1)
            .conv2d::<&Tensor>(&gh, None, [1, 1], [0, 0], [1, 1], 1)
    };
    let (ux, uy) = (filt(&x), filt(&y));
    let vx = filt(&(&x * &x)) - &ux * &ux;
    let vy = filt(&(&y * &y)) - &uy * &uy;
    let vxy = filt(&(&x * &y)) - &ux * &uy;
    let (c1, c2) = (K1 * K1, K2 * K2);
    let num = (&ux * &uy * 2.0 + c1) * (vxy * 2.0 + c2);
    let den = (ux.square() + uy.square() + c1) * (vx + vy + c2);
    Ok((num / den).mean_dim(&[1i64, 2, 3][..], false, Kind::Double))
}
