//! Encoder-side metrics (method.md §6.3, §6.5; metrics.md §4): per-voxel Pearson r on test averages with
//! per-ROI summaries and noise-ceiling normalisation, and the per-ROI branch-weight (layer-to-ROI) summary.
use super::draw::percentile_sorted;
use crate::nn::pearson::{column_corr, to_vec_f64};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tch::Tensor;

/// Summary of per-voxel values over one ROI (NumPy-style linear-interpolation percentiles).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoiStats {
    /// Voxels summarised.
    pub n_voxels: usize,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 90th percentile.
    pub p90: f64,
}

impl RoiStats {
    /// None for an empty set.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        Some(Self {
            n_voxels: v.len(),
            mean: v.iter().sum::<f64>() / v.len() as f64,
            median: percentile_sorted(&v, 0.5),
            p75: percentile_sorted(&v, 0.75),
            p90: percentile_sorted(&v, 0.90),
        })
    }
}

/// Per-ROI voxel correlation summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoiCorrelation {
    /// ROI name (`all` for every voxel).
    pub roi: String,
    /// Pearson r over the ROI's voxels; None for an empty ROI.
    pub r: Option<RoiStats>,
    /// r / sqrt(NC/100) over the ROI's voxels with a positive noise ceiling.
    pub r_over_ceiling: Option<RoiStats>,
}

/// Encoder voxel correlation on the test averages: per voxel, over all voxels and per ROI (`voxel_correlation`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoxelCorrelation {
    /// Pearson r per voxel over the test images (for brain maps).
    pub per_voxel_r: Vec<f64>,
    /// r / sqrt(NC/100) per voxel; None where NC ≤ 0 or no ceiling was given.
    pub per_voxel_r_over_ceiling: Vec<Option<f64>>,
    /// Summary over all voxels.
    pub all_voxels: RoiCorrelation,
    /// Summary per ROI mask, in ROI-name order.
    pub rois: Vec<RoiCorrelation>,
}

fn check_mask(name: &str, mask: &[bool], v: usize) -> Result<()> {
    if mask.len() != v {
        bail!(
            "ROI mask '{name}' has {} entries but there are {v} voxels; use masks from the same dataset",
            mask.len()
        );
    }
    Ok(())
}

/// Per-voxel r between predicted and measured test-average responses ([n_images, V] each), summarised over
/// all voxels and per ROI mask. `noise_ceiling_pct` (NC in %, per voxel, for the test average) is optional.
pub fn voxel_correlation(
    predicted: &Tensor,
    measured: &Tensor,
    noise_ceiling_pct: Option<&[f32]>,
    rois: &BTreeMap<String, Vec<bool>>,
) -> Result<VoxelCorrelation> {
    let r = to_vec_f64(&column_corr(predicted, measured).context("voxel correlation")?)?;
    let v = r.len();
    let normalised: Vec<Option<f64>> = match noise_ceiling_pct {
        Some(nc) if nc.len() != v => bail!("noise ceiling has {} entries but there are {v} voxels", nc.len()),
        Some(nc) => r
            .iter()
            .zip(nc)
            .map(|(&r, &c)| (c > 0.0).then(|| r / (c as f64 / 100.0).sqrt()))
            .collect(),
        None => vec![None; v],
    };
    let summarise = |name: &str, keep: &dyn Fn(usize) -> bool| RoiCorrelation {
        roi: name.to_string(),
        r: RoiStats::of(&(0..v).filter(|&i| keep(i)).map(|i| r[i]).collect::<Vec<_>>()),
        r_over_ceiling: RoiStats::of(
            &(0..v)
                .filter(|&i| keep(i))
                .filter_map(|i| normalised[i])
                .collect::<Vec<_>>(),
        ),
    };
    let mut per_roi = Vec::new();
    for (name, mask) in rois {
        check_mask(name, mask, v)?;
        per_roi.push(summarise(name, &|i| mask[i]));
    }
    Ok(VoxelCorrelation {
        all_voxels: summarise("all", &|_| true),
        rois: per_roi,
        per_voxel_r: r,
        per_voxel_r_over_ceiling: normalised,
    })
}

/// Layer-to-ROI summary of branch weights over the backbone depths for one ROI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoiBranchWeights {
    /// ROI name.
    pub roi: String,
    /// Voxels whose weights could be normalised (non-zero sum).
    pub n_voxels: usize,
    /// Mean over voxels of |w| / Σ|w|, per depth; None when the ROI has no such voxel.
    pub mean_weight: Option<Vec<f64>>,
    /// How many voxels have their largest weight at each depth.
    pub argmax_histogram: Vec<usize>,
}

/// Summarises per-voxel branch weights [V, depths] (used through |·|, as the encoder does) per ROI.
pub fn branch_weight_summary(weights: &Tensor, rois: &BTreeMap<String, Vec<bool>>) -> Result<Vec<RoiBranchWeights>> {
    let (v, depths) = match weights.size().as_slice() {
        [v, d] => (*v as usize, *d as usize),
        s => bail!("branch weights: expected [voxels, depths], got shape {s:?}"),
    };
    let w: Vec<f64> = to_vec_f64(&weights.abs())?;
    let mut out = Vec::new();
    for (name, mask) in rois {
        check_mask(name, mask, v)?;
        let mut sum = vec![0.0; depths];
        let mut hist = vec![0usize; depths];
        let mut n = 0usize;
        for (i, row) in w.chunks(depths).enumerate() {
            let total: f64 = row.iter().sum();
            if !mask[i] || total <= 0.0 || !total.is_finite() {
                continue;
            }
            n += 1;
            for (s, x) in sum.iter_mut().zip(row) {
                *s += x / total;
            }
            // First maximum wins ties, as NumPy's argmax.
            let arg = row
                .iter()
                .enumerate()
                .fold(0, |best, (j, &x)| if x > row[best] { j } else { best });
            hist[arg] += 1;
        }
        out.push(RoiBranchWeights {
            roi: name.clone(),
            n_voxels: n,
            mean_weight: (n > 0).then(|| sum.iter().map(|s| s / n as f64).collect()),
            argmax_histogram: hist,
        });
    }
    Ok(out)
}
