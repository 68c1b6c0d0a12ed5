//! Encoder trainer (`vox2pix train-encoder`): E learns image → fMRI on the paired training data with random
//! ±shift augmentation (edge fill), Adam/AMSGrad with the paper's step schedule. After every epoch the voxel
//! correlation per ROI on the test averages is logged — for monitoring only, never to pick a checkpoint.
use crate::nn::device::Autocast;
use crate::nn::encoder::SeparableEncoder;
use crate::nn::losses::mean_cosine;
use crate::synth::rng::{mix_key, CounterRng};
use crate::train::augment::shift_images;
use crate::train::backbone::{load_backbone, LoadedBackbone};
use crate::train::config::TrainConfig;
use crate::train::data::TrainingData;
use crate::train::optim::AmsGrad;
use crate::train::progress::{ensure_finite, epoch_bar};
use crate::train::run::RunDir;
use anyhow::{bail, Result};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

pub const ENCODER_FILE: &str = "encoder.safetensors";

/// E with its frozen backbone, ready for training or inference.
pub struct EncoderModel {
    pub backbone: LoadedBackbone,
    pub vs: nn::VarStore,
    pub encoder: SeparableEncoder,
}

impl EncoderModel {
    pub fn build(cfg: &TrainConfig, data: &TrainingData, device: Device) -> Result<Self> {
        let backbone = load_backbone(&cfg.backbone, &data.dir, &data.test_classes, device)?;
        Self::with_backbone(backbone, cfg, data, device)
    }

    /// A fresh E (the shapes `cfg` and `data` ask for) on a given backbone.
    pub fn with_backbone(
        backbone: LoadedBackbone,
        cfg: &TrainConfig,
        data: &TrainingData,
        device: Device,
    ) -> Result<Self> {
        let vs = nn::VarStore::new(device);
        let ch = backbone.net.channels();
        let encoder = SeparableEncoder::new(
            &vs.root(),
            &cfg.encoder,
            [ch[0], ch[1], ch[2], ch[3]],
            data.image_size,
            data.n_voxels,
        )?;
        Ok(Self { backbone, vs, encoder })
    }

    /// E(x) for images in [0,1]; `train` switches dropout and batch-norm statistics.
    /// VGG block 5 is skipped: E reads the first four taps only.
    pub fn forward_t(&self, x01: &Tensor, train: bool) -> Tensor {
        let taps = tch::no_grad(|| self.backbone.net.taps_upto(x01, 4));
        self.encoder
            .forward_taps_t(&[&taps[0], &taps[1], &taps[2], &taps[3]], train)
    }

    /// E(x) in eval mode with gradients flowing to `x01` (not to E's frozen weights): the DE stream's path.
    pub fn forward_through_frozen(&self, x01: &Tensor) -> Tensor {
        let taps = self.backbone.net.taps_upto(x01, 4);
        self.encoder
            .forward_taps_t(&[&taps[0], &taps[1], &taps[2], &taps[3]], false)
    }

    /// E(x) in eval mode, batched, without gradients.
    pub fn predict(&self, x01: &Tensor, batch: i64) -> Tensor {
        tch::no_grad(|| {
            let n = x01.size()[0];
            let outs: Vec<Tensor> = (0..n)
                .step_by(batch as usize)
                .map(|s| self.forward_t(&x01.narrow(0, s, batch.min(n - s)), false))
                .collect();
            Tensor::cat(&outs, 0)
        })
    }

    /// Loads a trained encoder run's final weights.
    pub fn load_run(run_dir: &Path, cfg: &TrainConfig, data: &TrainingData, device: Device) -> Result<Self> {
        let run = RunDir::existing(run_dir, "encoder")?;
        let mut m = Self::build(cfg, data, device)?;
        let file = run.path.join(ENCODER_FILE);
        if !file.exists() {
            bail!(
                "{}: the encoder run has no {ENCODER_FILE} (did training finish?)",
                run_dir.display()
            );
        }
        load_vars(&mut m.vs, &file, data.n_voxels)?;
        m.vs.freeze();
        Ok(m)
    }
}

/// Copies a safetensors file into `vs` with named errors for missing keys and shape mismatches (e.g. a model
/// trained for another voxel count).
pub fn load_vars(vs: &mut nn::VarStore, file: &Path, n_voxels: i64) -> Result<()> {
    let saved = crate::train::run::load_safetensors(file)?;
    copy_into(vs, &saved, "", file, n_voxels)
}

pub(crate) fn copy_into(
    vs: &mut nn::VarStore,
    saved: &std::collections::HashMap<String, Tensor>,
    prefix: &str,
    file: &Path,
    n_voxels: i64,
) -> Result<()> {
    let mut missing = vec![];
    let mut mismatched = vec![];
    for (name, mut var) in vs.variables() {
        match saved.get(&format!("{prefix}{name}")) {
            None => missing.push(name),
            Some(t) if t.size() != var.size() => {
                mismatched.push(format!("{name}: file {:?}, model {:?}", t.size(), var.size()))
            }
            Some(t) => tch::no_grad(|| var.copy_(t)),
        }
    }
    if !mismatched.is_empty() {
        bail!(
            "{}: {} tensors have the wrong shape (the model here has {n_voxels} voxels; was it trained on another dataset or ROI?): {}",
            file.display(),
            mismatched.len(),
            mismatched.join("; ")
        );
    }
    if !missing.is_empty() {
        missing.sort();
        bail!("{}: missing tensors {}", file.display(), missing.join(", "));
    }
    Ok(())
}

/// Per-voxel Pearson r between the columns of `a` and `b` ([n, V] each) → [V].
pub fn voxel_correlation(a: &Tensor, b: &Tensor) -> Tensor {
    let a = a - a.mean_dim(0, true, Kind::Float);
    let b = b - b.mean_dim(0, true, Kind::Float);
    let num = (&a * &b).sum_dim_intlist(0, false, Kind::Float);
    let den = (a.square().sum_dim_intlist(0, false, Kind::Float) * b.square().sum_dim_intlist(0, false, Kind::Float))
        .sqrt()
        .clamp_min(1e-12);
    num / den
}

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

pub struct EncoderOutcome {
    pub epochs: usize,
    pub last_loss: f64,
    pub val_median_r: BTreeMap<String, f64>,
}

/// Trains E for `cfg.encoder_training.epochs` epochs into `run` (resuming from its last checkpoint if present).
pub fn train_encoder(cfg: &TrainConfig, data: &TrainingData, run: &RunDir, device: Device) -> Result<EncoderOutcome> {
    let t = &cfg.encoder_training;
    tch::manual_seed(mix_key(cfg.seed, &[0xE0]) as i64);
    let mut model = EncoderModel::build(cfg, data, device)?;
    let mut opt = AmsGrad::new(&model.vs, t.lr_at(1));
    let (start_epoch, mut records) = run.resume_into(&mut model.vs, &mut opt, data.n_voxels, "encoder")?;
    let n_img = data.n_trials();
    let batch = t.batch_size as i64;
    let steps = (n_img / batch).max(1);
    let bar = epoch_bar("train E", t.epochs, start_epoch);
    let mut last_loss = f64::NAN;
    let mut val = BTreeMap::new();
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
            let pred = model.forward_t(&x, true).to_kind(Kind::Float);
            drop(autocast);
            let e = &cfg.encoder;
            let loss = (&pred - &y).square().mean(Kind::Float) * e.mse_weight - mean_cosine(&pred, &y) * e.cos_weight
                + model.encoder.regularization();
            let lv = loss.double_value(&[]);
            ensure_finite(lv, "encoder", epoch, s as usize, opt.lr, &run.path, epoch)?;
            opt.backward_step(&loss);
            model.encoder.apply_constraints();
            sum += lv;
            bar.set_message(format!("loss {lv:.4}"));
        }
        last_loss = sum / steps as f64;
        let pred = model.predict(&data.test_images, 64);
        let r = voxel_correlation(&pred, &data.y_test_avg);
        val = median_r_per_roi(&r, data.rois());
        records.push(json!({"epoch": epoch + 1, "loss": last_loss, "lr": opt.lr, "val_median_r": val}));
        run.commit_epoch(&model.vs, &opt, &records, epoch + 1, data.n_voxels as usize, last_loss)?;
        bar.inc(1);
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
