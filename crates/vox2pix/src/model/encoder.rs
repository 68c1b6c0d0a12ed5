//! E assembled: the separable encoder on its frozen backbone ([`EncoderModel`]), built fresh from a config and
//! a dataset's shapes, or loaded from a finished encoder run (`RUN/encoder.safetensors`).
use crate::data::TrainingData;
use crate::model::backbone::{load_backbone, load_encoder_backbone, LoadedBackbone};
use crate::model::run::RunDir;
use crate::model::weights::load_run_weights;
use crate::nn::backbone::Vgg;
use crate::nn::encoder::SeparableEncoder;
use anyhow::{bail, Result};
use std::path::Path;
use tch::{nn, Device, Tensor};
use vox2pix_formats::config::TrainConfig;

/// File name of a finished encoder run's weights.
pub const ENCODER_FILE: &str = "encoder.safetensors";

/// E with its frozen backbone, ready for training or inference.
pub struct EncoderModel {
    /// The frozen trunk of the run (`backbone.weights`): E's taps unless `own_backbone` is set, the perceptual
    /// loss, the identification metric and the prototypes.
    pub backbone: LoadedBackbone,
    /// E's own trunk when `backbone.encoder` names one (SelfSuperReconst's VGG19).
    pub own_backbone: Option<LoadedBackbone>,
    /// Holds E's own weights.
    pub vs: nn::VarStore,
    /// The network.
    pub encoder: SeparableEncoder,
}

impl EncoderModel {
    /// A fresh E on the backbone `cfg.backbone` names, checked against `data`'s test classes.
    pub fn build(cfg: &TrainConfig, data: &TrainingData, device: Device) -> Result<Self> {
        let backbone = load_backbone(&cfg.backbone, &data.dir, &data.test_classes, device)?;
        let own = load_encoder_backbone(&cfg.backbone, &data.dir, &data.test_classes, device)?;
        Self::with_backbones(backbone, own, cfg, data, device)
    }

    /// A fresh E (the shapes `cfg` and `data` ask for) on a given backbone, which E reads its taps from.
    pub fn with_backbone(
        backbone: LoadedBackbone,
        cfg: &TrainConfig,
        data: &TrainingData,
        device: Device,
    ) -> Result<Self> {
        Self::with_backbones(backbone, None, cfg, data, device)
    }

    fn with_backbones(
        backbone: LoadedBackbone,
        own_backbone: Option<LoadedBackbone>,
        cfg: &TrainConfig,
        data: &TrainingData,
        device: Device,
    ) -> Result<Self> {
        let vs = nn::VarStore::new(device);
        let ch = own_backbone.as_ref().unwrap_or(&backbone).net.channels();
        let encoder = SeparableEncoder::new(
            &vs.root(),
            &cfg.encoder,
            [ch[0], ch[1], ch[2], ch[3]],
            data.image_size,
            data.n_voxels,
        )?;
        Ok(Self {
            backbone,
            own_backbone,
            vs,
            encoder,
        })
    }

    /// The trunk E reads its taps from.
    pub fn tap_net(&self) -> &Vgg {
        &self.own_backbone.as_ref().unwrap_or(&self.backbone).net
    }

    /// E(x) for images in [0,1]; `train` switches dropout and batch-norm statistics.
    /// VGG block 5 is skipped: E reads the first four taps only.
    pub fn forward_t(&self, x01: &Tensor, train: bool) -> Tensor {
        let taps = tch::no_grad(|| self.tap_net().taps_upto(x01, 4));
        self.encoder
            .forward_taps_t(&[&taps[0], &taps[1], &taps[2], &taps[3]], train)
    }

    /// As [`EncoderModel::forward_t`], also returning the four branch predictions before the mix [B, V, 4].
    pub fn forward_branches_t(&self, x01: &Tensor, train: bool) -> (Tensor, Tensor) {
        let taps = tch::no_grad(|| self.tap_net().taps_upto(x01, 4));
        self.encoder
            .forward_branches_t(&[&taps[0], &taps[1], &taps[2], &taps[3]], train)
    }

    /// E(x) in eval mode with gradients flowing to `x01` (not to E's frozen weights): the DE stream's path.
    pub fn forward_through_frozen(&self, x01: &Tensor) -> Tensor {
        let taps = self.tap_net().taps_upto(x01, 4);
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
        load_run_weights(&mut m.vs, &file, data.n_voxels)?;
        m.vs.freeze();
        Ok(m)
    }
}
