//! Which network depth each voxel's prediction relies on (method.md §6.5), measured from what a trained encoder
//! actually uses rather than from its raw branch-mix weights (which barely leave their initial value).
//!
//! For voxel v and branch k (VGG blocks 1–4), the branch's contribution to E's prediction over a set of images is
//! c_k(x)[v] = max(w[v, k], 0) · branch_k(x)[v]; its **variance share** is Var_x(c_k)[v] / Σ_j Var_x(c_j)[v], and
//! the voxel's **depth index** is Σ_k k · share_k / 3, from 0 (all variance from block 1) to 1 (all from block 4).
//! On the synthetic world the same index computed from the simulator's channel shares (Gabor, texture/colour,
//! shape, semantic: `vox2pix_synth::cortex::Voxel::shares`) is the ground truth, so the measure is validated voxel
//! by voxel ([`validate_against_truth`]).
use crate::eval::draw::bootstrap_mean_ci;
use crate::model::EncoderModel;
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

/// Per-voxel variance share of each of E's four branches over `images` ([N, 3, S, S] in [0, 1]), as rows of
/// four shares summing to 1 (a voxel whose prediction does not vary gets equal shares), computed in batches.
pub fn branch_variance_shares(enc: &EncoderModel, images: &Tensor, batch: i64) -> Result<Vec<[f64; 4]>> {
    let n = images.size()[0];
    ensure!(n >= 2, "branch variance shares need at least 2 images, got {n}");
    let w = enc.encoder.branch_weights().to_kind(Kind::Double); // [V, 4]
    let v = w.size()[0];
    let dev = w.device();
    let (mut sum, mut sumsq) = (
        Tensor::zeros([v, 4], (Kind::Double, dev)),
        Tensor::zeros([v, 4], (Kind::Double, dev)),
    );
    tch::no_grad(|| {
        for start in (0..n).step_by(batch.max(1) as usize) {
            let len = batch.min(n - start);
            let x = images.narrow(0, start, len).to_device(dev);
            let taps = enc.tap_net().taps_upto(&x, 4);
            let outs: Vec<Tensor> = (0..4).map(|k| enc.encoder.branch_t(k, &taps[k], false)).collect();
            let c = Tensor::stack(&outs, 2).to_kind(Kind::Double) * w.unsqueeze(0); // [B, V, 4]
            sum += c.sum_dim_intlist(&[0i64][..], false, Kind::Double);
            sumsq += c.square().sum_dim_intlist(&[0i64][..], false, Kind::Double);
        }
    });
    let nf = n as f64;
    let var = (sumsq / nf - (&sum / nf).square()).clamp_min(0.0);
    let total = var.sum_dim_intlist(&[1i64][..], true, Kind::Double);
    let flat: Vec<f64> = Vec::try_from(var.to_device(tch::Device::Cpu).flatten(0, -1))?;
    let tot: Vec<f64> = Vec::try_from(total.to_device(tch::Device::Cpu).flatten(0, -1))?;
    Ok((0..v as usize)
        .map(|i| {
            let t = tot[i];
            let row = [flat[4 * i], flat[4 * i + 1], flat[4 * i + 2], flat[4 * i + 3]];
            if t > 0.0 && t.is_finite() {
                row.map(|x| x / t)
            } else {
                [0.25; 4]
            }
        })
        .collect())
}

/// The four branch predictions of E over `images` before the mix, [N, V, 4] in double precision; with `weighted`,
/// each times its (non-negative) mix weight, i.e. the branch's contribution to the mixed prediction.
fn branch_outputs(enc: &EncoderModel, images: &Tensor, batch: i64, weighted: bool) -> Tensor {
    let w = enc.encoder.branch_weights();
    let dev = w.device();
    let n = images.size()[0];
    tch::no_grad(|| {
        let mut parts: Vec<Tensor> = Vec::new();
        for start in (0..n).step_by(batch.max(1) as usize) {
            let len = batch.min(n - start);
            let x = images.narrow(0, start, len).to_device(dev);
            let (_, b) = enc.forward_branches_t(&x, false);
            parts.push(if weighted { b * w.unsqueeze(0) } else { b });
        }
        Tensor::cat(&parts, 0).to_kind(Kind::Double)
    })
}

/// Rows of four per-voxel numbers [V, 4] as arrays.
fn rows4(t: &Tensor) -> Result<Vec<[f64; 4]>> {
    let flat: Vec<f64> = Vec::try_from(t.to_device(tch::Device::Cpu).to_kind(Kind::Double).flatten(0, -1))?;
    Ok(flat.chunks(4).map(|c| [c[0], c[1], c[2], c[3]]).collect())
}

/// Per-voxel correlation of each branch's prediction alone (before the mix) with the measured responses over
/// `images`: r(branch_k(x)[v], y[v]), [V] rows of four. With `encoder.branch_solo` > 0 every branch is trained to
/// predict the voxel on its own, so this is a layer-wise encoding model per VGG block; the voxel's preferred depth
/// is the branch that predicts it best ([`best_branch_shares`]).
pub fn branch_solo_r(enc: &EncoderModel, images: &Tensor, measured: &Tensor, batch: i64) -> Result<Vec<[f64; 4]>> {
    let n = images.size()[0];
    ensure!(
        measured.size().first() == Some(&n),
        "branch solo r: {} images but {:?} measured rows",
        n,
        measured.size()
    );
    ensure!(n >= 3, "branch solo r needs at least 3 images, got {n}");
    let c = branch_outputs(enc, images, batch, false);
    let y = measured.to_device(c.device()).to_kind(Kind::Double);
    let rs: Vec<Tensor> = (0..4)
        .map(|k| crate::nn::pearson::column_corr(&c.select(2, k), &y))
        .collect::<Result<_>>()?;
    rows4(&Tensor::stack(&rs, 1).nan_to_num(0.0, None, None))
}

/// One-hot shares at each voxel's best-predicting branch (ties: the shallowest); a voxel no branch predicts
/// (every r ≤ 0) gets equal shares.
pub fn best_branch_shares(r: &[[f64; 4]]) -> Vec<[f64; 4]> {
    r.iter()
        .map(|row| {
            let (best, top) =
                row.iter().enumerate().fold(
                    (0, f64::NEG_INFINITY),
                    |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) },
                );
            if top > 0.0 {
                let mut s = [0.0; 4];
                s[best] = 1.0;
                s
            } else {
                [0.25; 4]
            }
        })
        .collect()
}

/// Per-voxel unique contribution of each branch: how much the voxel's prediction–measurement correlation over
/// `images` drops when that branch's contribution is removed, r(ŷ, y) − r(ŷ − c_k, y), floored at 0 and
/// normalised to sum to 1 (equal shares where no branch matters). `measured` is [N, V], row i for image i.
pub fn branch_ablation_shares(
    enc: &EncoderModel,
    images: &Tensor,
    measured: &Tensor,
    batch: i64,
) -> Result<Vec<[f64; 4]>> {
    let n = images.size()[0];
    ensure!(
        measured.size().first() == Some(&n),
        "branch ablation: {} images but {:?} measured rows",
        n,
        measured.size()
    );
    ensure!(n >= 3, "branch ablation needs at least 3 images, got {n}");
    let c = branch_outputs(enc, images, batch, true); // [N, V, 4]
    let dev = c.device();
    let y = measured.to_device(dev).to_kind(Kind::Double);
    let full = c.sum_dim_intlist(&[2i64][..], false, Kind::Double);
    let r_full = crate::nn::pearson::column_corr(&full, &y)?;
    let mut drops = Vec::new();
    for k in 0..4 {
        let without = &full - c.select(2, k);
        let r = crate::nn::pearson::column_corr(&without, &y)?;
        drops.push((&r_full - r).clamp_min(0.0));
    }
    let d = Tensor::stack(&drops, 1); // [V, 4]
    let total = d.sum_dim_intlist(&[1i64][..], true, Kind::Double);
    let flat: Vec<f64> = Vec::try_from(d.to_device(tch::Device::Cpu).flatten(0, -1))?;
    let tot: Vec<f64> = Vec::try_from(total.to_device(tch::Device::Cpu).flatten(0, -1))?;
    Ok((0..tot.len())
        .map(|i| {
            let row = [flat[4 * i], flat[4 * i + 1], flat[4 * i + 2], flat[4 * i + 3]];
            if tot[i] > 0.0 && tot[i].is_finite() {
                row.map(|x| x / tot[i])
            } else {
                [0.25; 4]
            }
        })
        .collect())
}

/// Depth index of four shares: Σ_k k · share_k / 3, in [0, 1].
pub fn depth_index(shares: &[f64; 4]) -> f64 {
    let total: f64 = shares.iter().sum();
    if total <= 0.0 {
        return f64::NAN;
    }
    shares.iter().enumerate().map(|(k, s)| k as f64 * s).sum::<f64>() / (3.0 * total)
}

/// Mean depth of one ROI, with its bootstrap CI over the ROI's voxels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoiDepth {
    /// ROI name.
    pub roi: String,
    /// Voxels in the ROI.
    pub n_voxels: usize,
    /// Mean depth index of the model's measure.
    pub model: f64,
    /// 95 % CI of `model`.
    pub model_ci: (f64, f64),
    /// Mean depth index of the ground truth (None without one).
    pub truth: Option<f64>,
    /// Mean depth index of the raw branch-mix weights (the measure this one replaces).
    pub raw_weights: f64,
}

/// The layer-preference result of one encoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerPreference {
    /// Per ROI, in the order given.
    pub rois: Vec<RoiDepth>,
    /// Voxels compared with the truth.
    pub n_voxels: usize,
    /// Pearson r between model and truth depth per voxel, with a 95 % bootstrap CI over voxels.
    pub voxel_r: Option<(f64, f64, f64)>,
    /// The same r for the raw branch-mix weights.
    pub raw_weights_voxel_r: Option<f64>,
    /// Spearman correlation between the ROI orderings by model and by truth depth.
    pub roi_order_spearman: Option<f64>,
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut num, mut da, mut db) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        num += (x - ma) * (y - mb);
        da += (x - ma).powi(2);
        db += (y - mb).powi(2);
    }
    if da <= 0.0 || db <= 0.0 {
        0.0
    } else {
        num / (da * db).sqrt()
    }
}

fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            r[k] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

/// Spearman rank correlation (ties get their mean rank).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

/// Summarises `model` shares per voxel (and `truth` shares where known, same voxel order) over `rois` (boolean
/// masks over the same voxels). `raw` are the raw branch-mix weights [V, 4]. Voxels outside every ROI in `rois`
/// and voxels with an undefined truth index are left out of the voxel-level correlation.
pub fn validate_against_truth(
    model: &[[f64; 4]],
    raw: &[[f64; 4]],
    truth: Option<&[[f64; 4]]>,
    rois: &BTreeMap<String, Vec<bool>>,
    roi_order: &[&str],
    seed: u64,
) -> Result<LayerPreference> {
    let v = model.len();
    ensure!(
        raw.len() == v,
        "raw branch weights cover {} voxels, the model {v}",
        raw.len()
    );
    if let Some(t) = truth {
        ensure!(
            t.len() == v,
            "the ground truth covers {} voxels, the model {v}",
            t.len()
        );
    }
    let md: Vec<f64> = model.iter().map(depth_index).collect();
    let rd: Vec<f64> = raw.iter().map(depth_index).collect();
    let td: Option<Vec<f64>> = truth.map(|t| t.iter().map(depth_index).collect());
    let mut out = Vec::new();
    let mut used = vec![false; v];
    for &name in roi_order {
        let Some(mask) = rois.get(name) else { continue };
        ensure!(
            mask.len() == v,
            "ROI mask '{name}' has {} entries for {v} voxels",
            mask.len()
        );
        let ids: Vec<usize> = (0..v).filter(|&i| mask[i] && md[i].is_finite()).collect();
        if ids.is_empty() {
            continue;
        }
        ids.iter().for_each(|&i| used[i] = true);
        let vals: Vec<f64> = ids.iter().map(|&i| md[i]).collect();
        let ci = bootstrap_mean_ci(&vals, 2000, 0.95, seed);
        let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
        out.push(RoiDepth {
            roi: name.to_string(),
            n_voxels: ids.len(),
            model: mean(&vals),
            model_ci: (ci.lo, ci.hi),
            truth: td
                .as_ref()
                .map(|t| mean(&ids.iter().map(|&i| t[i]).collect::<Vec<_>>())),
            raw_weights: mean(&ids.iter().map(|&i| rd[i]).collect::<Vec<_>>()),
        });
    }
    let (mut voxel_r, mut raw_r, mut order) = (None, None, None);
    if let Some(t) = &td {
        let ids: Vec<usize> = (0..v).filter(|&i| used[i] && t[i].is_finite()).collect();
        if ids.len() >= 3 {
            let (a, b, c): (Vec<f64>, Vec<f64>, Vec<f64>) = (
                ids.iter().map(|&i| md[i]).collect(),
                ids.iter().map(|&i| t[i]).collect(),
                ids.iter().map(|&i| rd[i]).collect(),
            );
            let r = pearson(&a, &b);
            // Bootstrap over voxels, seeded, for the CI of r.
            let mut rng = vox2pix_formats::rng::CounterRng::new(vox2pix_formats::rng::mix_key(seed, &[0x1A7E]));
            let mut rs: Vec<f64> = (0..1000)
                .map(|_| {
                    let pick: Vec<usize> = (0..ids.len()).map(|_| rng.below(ids.len() as u64) as usize).collect();
                    let x: Vec<f64> = pick.iter().map(|&k| a[k]).collect();
                    let y: Vec<f64> = pick.iter().map(|&k| b[k]).collect();
                    pearson(&x, &y)
                })
                .collect();
            rs.sort_by(f64::total_cmp);
            voxel_r = Some((
                r,
                crate::eval::draw::percentile_sorted(&rs, 0.025),
                crate::eval::draw::percentile_sorted(&rs, 0.975),
            ));
            raw_r = Some(pearson(&c, &b));
        }
        let with_truth: Vec<&RoiDepth> = out.iter().filter(|r| r.truth.is_some()).collect();
        if with_truth.len() >= 3 {
            let m: Vec<f64> = with_truth.iter().map(|r| r.model).collect();
            let t: Vec<f64> = with_truth.iter().map(|r| r.truth.unwrap_or(f64::NAN)).collect();
            order = Some(spearman(&m, &t));
        }
    }
    Ok(LayerPreference {
        rois: out,
        n_voxels: used.iter().filter(|&&u| u).count(),
        voxel_r,
        raw_weights_voxel_r: raw_r,
        roi_order_spearman: order,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_index_spans_block_one_to_four() {
        assert_eq!(depth_index(&[1.0, 0.0, 0.0, 0.0]), 0.0);
        assert_eq!(depth_index(&[0.0, 0.0, 0.0, 2.0]), 1.0);
        assert!((depth_index(&[0.25; 4]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn best_branch_is_one_hot_at_the_highest_r_and_equal_when_no_branch_predicts() {
        let r = [
            [0.1, 0.5, 0.2, 0.4],
            [0.3, 0.3, -0.1, 0.0],
            [-0.2, -0.1, 0.0, -0.3],
            [0.0, 0.0, 0.0, 0.7],
        ];
        let s = best_branch_shares(&r);
        assert_eq!(s[0], [0.0, 1.0, 0.0, 0.0]);
        assert_eq!(s[1], [1.0, 0.0, 0.0, 0.0], "a tie goes to the shallowest branch");
        assert_eq!(s[2], [0.25; 4]);
        assert_eq!(depth_index(&s[3]), 1.0);
    }

    #[test]
    fn spearman_matches_hand_ranks() {
        // ranks a: 0 1 2 3, b: 0 2 1 3 → d² = 0 1 1 0 → ρ = 1 − 6·2 / (4·15) = 0.8
        let rho = spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 30.0, 20.0, 40.0]);
        assert!((rho - 0.8).abs() < 1e-12, "{rho}");
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_measure_that_tracks_the_truth_is_recognised_and_one_that_does_not_is_not() {
        // 6 voxels, two ROIs: a shallow and a deep one. The model follows the truth; the raw weights are flat.
        let truth = [
            [0.7, 0.2, 0.1, 0.0],
            [0.6, 0.3, 0.1, 0.0],
            [0.8, 0.1, 0.1, 0.0],
            [0.0, 0.1, 0.3, 0.6],
            [0.0, 0.0, 0.4, 0.6],
            [0.1, 0.1, 0.2, 0.6],
        ];
        let model: Vec<[f64; 4]> = truth
            .iter()
            .map(|t| {
                [
                    t[0] * 0.9 + 0.025,
                    t[1] * 0.9 + 0.025,
                    t[2] * 0.9 + 0.025,
                    t[3] * 0.9 + 0.025,
                ]
            })
            .collect();
        let raw = vec![[0.25; 4]; 6];
        let mut rois = BTreeMap::new();
        rois.insert("V1".to_string(), vec![true, true, true, false, false, false]);
        rois.insert("LOC".to_string(), vec![false, false, false, true, true, true]);
        let lp = validate_against_truth(&model, &raw, Some(&truth), &rois, &["V1", "LOC"], 0).unwrap();
        let (r, lo, _) = lp.voxel_r.unwrap();
        assert!(r > 0.99 && lo > 0.9, "{lp:?}");
        assert_eq!(lp.raw_weights_voxel_r, Some(0.0));
        assert!(lp.rois[0].model < lp.rois[1].model);
        assert!(lp.rois[0].truth.unwrap() < lp.rois[1].truth.unwrap());
        // A mask of the wrong length is an error, not a silent misalignment.
        rois.insert("V2".to_string(), vec![true; 5]);
        assert!(validate_against_truth(&model, &raw, Some(&truth), &rois, &["V2"], 0).is_err());
    }
}
