//! Encoder trainer (`vox2pix train-encoder`): E learns image → fMRI on the paired training data with random
//! ±shift augmentation (edge fill), Adam/AMSGrad with the paper's step schedule. After every epoch the voxel
//! correlation per ROI on the test averages is logged — for monitoring only, never to pick a checkpoint.
use crate::data::TrainingData;
use crate::model::run::RunDir;
use crate::model::{EncoderModel, ENCODER_FILE};
use crate::nn::augment::shift_images;
use crate::nn::device::Autocast;
use crate::nn::losses::mean_cosine;
use crate::nn::pearson::column_corr;
use crate::train::optim::AmsGrad;
use crate::train::progress::{ensure_finite, epoch_bar};
use anyhow::Result;
use serde_json::json;
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};
use vox2pix_formats::config::TrainConfig;
use vox2pix_formats::rng::{mix_key, CounterRng};

/// Median of voxel r within each ROI.
pub fn median_r_per_roi(r: &Tensor, rois: &BTreeMap<String, Vec<bool>>) -> BTreeMap<String, f64> {
    let r: Vec<f32> = Vec::try_from(r.to_device(Device::Cpu).to_kind(Kind::Float)).unwrap_or_default();
    rois.iter()
        .filter_map(|(name, mask)| {
            let mut v: Vec<f32> = r.iter().zip(mask).filter(|(_, m)| **m).map(|(x, _)| *x).collect();
            if v.is_empty() {
                return None;
            }
            v.sort_by(|a, b| a.total_cmp(b));
            Some((name.clone(), v[v.len() / 2] as f64))
        })
        .collect()
}

/// What an encoder training run did.
pub struct EncoderOutcome {
    /// Epochs the run has now completed (the configured total).
    pub epochs: usize,
    /// Mean training loss of the last epoch run here; NaN when none ran (already finished).
    pub last_loss: f64,
    /// Median voxel r per ROI on the test averages after the last epoch run here (monitoring only).
    pub val_median_r: BTreeMap<String, f64>,
}

/// Trains E for `cfg.encoder_training.epochs` epochs into `run` (resuming from its last checkpoint if present).
pub fn train_encoder(cfg: &TrainConfig, data: &TrainingData, run: &RunDir, device: Device) -> Result<EncoderOutcome> {
    let t = &cfg.encoder_training;
    tch::manual_seed(mix_key(cfg.seed, &[0xE0]) as i64);
    let mut model = EncoderModel::build(cfg, data, device)?;
    let mut opt = AmsGrad::new(&model.vs, t.lr_at(1));
    opt.amsgrad = t.amsgrad;
    let (start_epoch, mut records) =
        crate::train::checkpoint::resume(run, &mut model.vs, &mut opt, data.n_voxels, "encoder")?;
    let n_img = data.n_trials();
    let batch = t.batch_size as i64;
    let steps = (n_img / batch).max(1);
    let bar = epoch_bar("train E", t.epochs, start_epoch);
    let mut last_loss = f64::NAN;
    let mut val = BTreeMap::new();
    // Said once the epochs begin, not earlier, so a run refused for bad input prints only its error.
    crate::nn::device::announce_threads();
    let mut watch = crate::nn::cpu_budget::ContentionWatch::start_for(device);
    for epoch in start_epoch..t.epochs {
        // Everything random in an epoch is a pure function of (seed, epoch), so a resumed run repeats it exactly.
        tch::manual_seed(mix_key(cfg.seed, &[0xE1, epoch as u64]) as i64);
        let mut rng = CounterRng::new(mix_key(cfg.seed, &[0xE2, epoch as u64]));
        opt.lr = t.lr_at(epoch + 1);
        let mut order: Vec<i64> = (0..n_img).collect();
        rng.shuffle(&mut order);
        let mut sum = 0.0;
        for s in 0..steps {
            let idx = Tensor::from_slice(&order[(s * batch) as usize..((s + 1) * batch).min(n_img) as usize])
                .to_device(device);
            let y = data.y_train.index_select(0, &idx);
            let img_idx = data.train_labels.index_select(0, &idx);
            let x = data.train_images.index_select(0, &img_idx);
            let shifts: Vec<(i64, i64)> = (0..idx.size()[0])
                .map(|_| {
                    let r = t.shift_px;
                    (
                        rng.below((2 * r + 1) as u64) as i64 - r,
                        rng.below((2 * r + 1) as u64) as i64 - r,
                    )
                })
                .collect();
            let x = shift_images(&x, &shifts);
            let autocast = Autocast::new(cfg.precision, device);
            let (pred, branches) = model.forward_branches_t(&x, true);
            let (pred, branches) = (pred.to_kind(Kind::Float), branches.to_kind(Kind::Float));
            drop(autocast);
            let e = &cfg.encoder;
            let score =
                |p: &Tensor| (p - &y).square().mean(Kind::Float) * e.mse_weight - mean_cosine(p, &y) * e.cos_weight;
            let mut loss = score(&pred) + model.encoder.regularization();
            if e.branch_solo > 0.0 {
                let solo = (0..4).fold(Tensor::zeros([], (Kind::Float, device)), |acc, k| {
                    acc + score(&branches.select(2, k))
                });
                loss += solo * (e.branch_solo / 4.0);
            }
            let lv = loss.double_value(&[]);
            ensure_finite(lv, "encoder", epoch, s as usize, opt.lr, &run.path, epoch)?;
            opt.backward_step(&loss)?;
            model.encoder.apply_constraints();
            sum += lv;
            bar.set_message(format!("loss {lv:.4}"));
            bar.check_interrupt()?;
        }
        last_loss = sum / steps as f64;
        let pred = model.predict(&data.test_images, 64);
        let r = column_corr(&pred, &data.y_test_avg)?;
        val = median_r_per_roi(&r, data.rois());
        records.push(json!({"epoch": epoch + 1, "loss": last_loss, "lr": opt.lr, "val_median_r": val}));
        crate::train::checkpoint::commit_epoch(run, &model.vs, &opt, &records, epoch + 1, data.n_voxels, last_loss)?;
        bar.inc(1);
        watch.check();
        bar.set_message(format!(
            "loss {last_loss:.4}  val r(VC) {:.3}",
            val.get("VC").copied().unwrap_or(f64::NAN)
        ));
    }
    bar.finish();
    run.save_final(&model.vs, ENCODER_FILE)?;
    Ok(EncoderOutcome {
        epochs: t.epochs,
        last_loss,
        val_median_r: val,
    })
}
