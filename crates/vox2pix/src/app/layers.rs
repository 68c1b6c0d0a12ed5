//! `vox2pix layers`: biological consistency of a trained encoder (method.md §6.5). Measures each voxel's depth
//! index from what its branches contribute (`eval::layers`: variance, ablation on training, test and — for an E
//! trained on part of the paired set — held-out trials, best single branch), summarises it per ROI, and — on a
//! synthetic world — validates it voxel by voxel against the simulator's ground truth (each voxel's channel
//! shares), next to the raw branch-mix weights it replaces. Writes `RUN/layer_preference.json` and `.md`.
use crate::data::TrainingData;
use crate::eval::layers::{
    best_branch_shares, branch_ablation_shares, branch_solo_r, branch_variance_shares, validate_against_truth,
    LayerPreference,
};
use crate::model::run::run_config;
use crate::model::EncoderModel;
use anyhow::{ensure, Result};
use std::fmt::Write as _;
use std::path::Path;
use tch::Device;
use vox2pix_formats::io::write_bytes_atomic;
use vox2pix_formats::layout::load_dataset;

/// The ROIs whose order the measure should recover (the union ROIs LVC, HVC and VC are reported, not ranked).
pub const ORDERED_ROIS: [&str; 7] = ["V1", "V2", "V3", "V4", "LOC", "FFA", "PPA"];

/// The simulator's channel shares of the voxels `data` selects with `roi`, when `data` is a synthetic world.
fn world_truth(data: &TrainingData, roi: &[String]) -> Result<Option<Vec<[f64; 4]>>> {
    if !data.manifest.as_ref().is_some_and(|m| m.is_synthetic_world()) {
        return Ok(None);
    }
    let world = vox2pix_synth::export::world_from_dir(&data.dir)?;
    let voxels = world.cortex().voxels();
    let full = load_dataset(&data.dir, None)?;
    ensure!(
        voxels.len() == full.subject.n_voxels(),
        "{}: the world has {} voxels but the dataset {}; was the data exported by another world?",
        data.dir.display(),
        voxels.len(),
        full.subject.n_voxels()
    );
    let keep: Vec<usize> = (0..voxels.len())
        .filter(|&i| roi.iter().any(|r| full.subject.rois.get(r).is_some_and(|m| m[i])))
        .collect();
    ensure!(
        keep.len() as i64 == data.n_voxels,
        "ROI selection {roi:?} keeps {} voxels of the world but the dataset {}",
        keep.len(),
        data.n_voxels
    );
    Ok(Some(keep.iter().map(|&i| voxels[i].shares).collect()))
}

/// The measures `run_layers` computes, in report order: (name, what it is). `ablation-heldout` only for an
/// encoder trained on part of the paired set (`paired_images`), on the trials of the images it did not see.
pub const MEASURES: [(&str, &str); 5] = [
    (
        "variance",
        "each branch's share of the prediction's variance over the training images",
    ),
    (
        "ablation-train",
        "drop in voxel r (prediction vs single training trials) when the branch is removed",
    ),
    (
        "ablation-test",
        "drop in voxel r (prediction vs test averages) when the branch is removed",
    ),
    (
        "best-branch",
        "the branch whose prediction alone correlates best with the test averages (a layer-wise encoding model \
         per VGG block; meaningful when E was trained with `encoder.branch_solo` > 0)",
    ),
    (
        "ablation-heldout",
        "drop in voxel r (prediction vs single trials of held-out training-class images, which E was not fitted \
         to: `paired_images` below the dataset's) when the branch is removed",
    ),
];

/// Measures, validates and writes the layer preference of `encoder_run` on `data_dir`, once per measure of
/// [`MEASURES`].
pub fn run_layers(
    encoder_run: &Path,
    data_dir: &Path,
    device: Device,
    seed: u64,
) -> Result<Vec<(String, LayerPreference)>> {
    let cfg = run_config(encoder_run)?;
    let mut data = TrainingData::load(data_dir, &cfg.roi, device)?;
    let enc = EncoderModel::load_run(encoder_run, &cfg, &data, device)?;
    // When E saw only part of the paired set, the trials of the other images are held out; the training-set
    // measures then use the images E was fitted to.
    let held_out = held_out_trials(&data, &data.paired_subset(cfg.paired_images))?;
    data.restrict_paired(cfg.paired_images)?;
    let trial_images = data.train_images.index_select(0, &data.train_labels);
    let mut shares = vec![
        branch_variance_shares(&enc, &data.train_images, 64)?,
        branch_ablation_shares(&enc, &trial_images, &data.y_train, 64)?,
        branch_ablation_shares(&enc, &data.test_images, &data.y_test_avg, 64)?,
        best_branch_shares(&branch_solo_r(&enc, &data.test_images, &data.y_test_avg, 64)?),
    ];
    if let Some((images, y)) = &held_out {
        shares.push(branch_ablation_shares(&enc, images, y, 64)?);
    }
    let w: Vec<f64> = Vec::try_from(
        enc.encoder
            .branch_weights()
            .to_kind(tch::Kind::Double)
            .to_device(Device::Cpu)
            .flatten(0, -1),
    )?;
    let raw: Vec<[f64; 4]> = w.chunks(4).map(|c| [c[0], c[1], c[2], c[3]]).collect();
    let truth = world_truth(&data, &cfg.roi)?;
    let mut order: Vec<&str> = ORDERED_ROIS.to_vec();
    order.extend(["LVC", "HVC", "VC"]);
    let mut out = Vec::new();
    for ((name, _), model) in MEASURES.iter().zip(&shares) {
        let lp = validate_against_truth(model, &raw, truth.as_deref(), data.rois(), &order, seed)?;
        out.push((name.to_string(), lp));
    }
    let json: serde_json::Map<String, serde_json::Value> = out
        .iter()
        .map(|(n, lp)| Ok((n.clone(), serde_json::to_value(lp)?)))
        .collect::<Result<_>>()?;
    write_bytes_atomic(
        &encoder_run.join("layer_preference.json"),
        &serde_json::to_vec_pretty(&json)?,
    )?;
    let md: String = out.iter().map(|(n, lp)| markdown(n, lp)).collect::<Vec<_>>().join("\n");
    write_bytes_atomic(&encoder_run.join("layer_preference.md"), md.as_bytes())?;
    Ok(out)
}

/// The single trials of the paired images outside `kept` (their images, one per trial, and their responses), or
/// `None` when every image was kept.
fn held_out_trials(data: &TrainingData, kept: &[usize]) -> Result<Option<(tch::Tensor, tch::Tensor)>> {
    let labels: Vec<i64> = Vec::try_from(data.train_labels.to_device(Device::Cpu))?;
    let total = data.train_images.size()[0] as usize;
    let mut is_kept = vec![false; total];
    for &i in kept {
        is_kept[i] = true;
    }
    let rows: Vec<i64> = (0..labels.len() as i64)
        .filter(|&t| !is_kept[labels[t as usize] as usize])
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let device = data.y_train.device();
    let rows = tch::Tensor::from_slice(&rows).to_device(device);
    let images = data
        .train_images
        .index_select(0, &data.train_labels.index_select(0, &rows));
    Ok(Some((images, data.y_train.index_select(0, &rows))))
}

/// The result as a markdown table plus the validation lines.
pub fn markdown(measure: &str, lp: &LayerPreference) -> String {
    let what = MEASURES.iter().find(|(n, _)| *n == measure).map_or("", |m| m.1);
    let mut s = format!("### Measure `{measure}`: {what}\n\n");
    s.push_str(
        "Depth index per ROI (0 = VGG block 1 … 1 = block 4): the measure's mean, 95 % CI over voxels; the simulator's truth; the raw branch-mix weights.\n\n| ROI | voxels | model | 95 % CI | truth | raw weights |\n|---|---|---|---|---|---|\n",
    );
    for r in &lp.rois {
        let truth = r.truth.map_or("—".to_string(), |t| format!("{t:.3}"));
        let _ = writeln!(
            s,
            "| {} | {} | {:.3} | [{:.3}, {:.3}] | {truth} | {:.3} |",
            r.roi, r.n_voxels, r.model, r.model_ci.0, r.model_ci.1, r.raw_weights
        );
    }
    if let Some((r, lo, hi)) = lp.voxel_r {
        let _ = writeln!(
            s,
            "\nPer voxel (n = {}): r(model, truth) = {r:.3} [{lo:.3}, {hi:.3}]; r(raw weights, truth) = {:.3}.",
            lp.n_voxels,
            lp.raw_weights_voxel_r.unwrap_or(f64::NAN)
        );
    }
    if let Some(rho) = lp.roi_order_spearman {
        let _ = writeln!(s, "ROI order (V1 … PPA): Spearman ρ(model, truth) = {rho:.3}.");
    }
    s
}
