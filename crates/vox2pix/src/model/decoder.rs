//! D assembled ([`DecoderModel`]): the decoder built fresh from a config and a dataset's shapes, or loaded from a
//! finished decoder run (`RUN/decoder.safetensors`).
use crate::data::TrainingData;
use crate::model::run::RunDir;
use crate::model::weights::load_run_weights;
use crate::nn::decoder::Decoder;
use anyhow::{bail, Result};
use std::path::Path;
use tch::{nn, Device, Tensor};
use vox2pix_formats::config::TrainConfig;

/// File name of a finished decoder run's weights.
pub const DECODER_FILE: &str = "decoder.safetensors";

/// D with its variables, ready for training or inference.
pub struct DecoderModel {
    /// Holds D's weights.
    pub vs: nn::VarStore,
    /// The network.
    pub decoder: Decoder,
    /// The dataset's images are grayscale: [`DecoderModel::reconstruct`] returns the channel mean in R, G, B.
    pub grayscale: bool,
}

impl DecoderModel {
    /// A fresh D for `cfg.decoder` and `data`'s voxel count and image size.
    pub fn build(cfg: &TrainConfig, data: &TrainingData, device: Device) -> Result<Self> {
        let vs = nn::VarStore::new(device);
        let decoder = Decoder::new(&vs.root(), &cfg.decoder, data.n_voxels, data.image_size)?;
        Ok(Self {
            vs,
            decoder,
            grayscale: data.grayscale,
        })
    }

    /// Loads a finished decoder run's final weights (`RUN/decoder.safetensors`), frozen.
    pub fn load_run(run_dir: &Path, cfg: &TrainConfig, data: &TrainingData, device: Device) -> Result<Self> {
        RunDir::existing(run_dir, "decoder")?;
        let mut m = Self::build(cfg, data, device)?;
        let file = run_dir.join(DECODER_FILE);
        if !file.exists() {
            bail!(
                "{}: the decoder run has no {DECODER_FILE} (did training finish?)",
                run_dir.display()
            );
        }
        load_run_weights(&mut m.vs, &file, data.n_voxels)?;
        m.vs.freeze();
        Ok(m)
    }

    /// D(y) batched without gradients (as gray in R, G, B when the dataset is grayscale).
    pub fn reconstruct(&self, y: &Tensor, batch: i64) -> Tensor {
        tch::no_grad(|| {
            let n = y.size()[0];
            let outs: Vec<Tensor> = (0..n)
                .step_by(batch as usize)
                .map(|s| self.decoder.forward(&y.narrow(0, s, batch.min(n - s))))
                .collect();
            let out = Tensor::cat(&outs, 0);
            // D always has three output channels; on a grayscale dataset only their mean (luminance) is
            // meaningful, and the metrics compare it with the gray ground truth in all three channels.
            if self.grayscale {
                out.mean_dim([1i64].as_slice(), true, out.kind())
                    .expand_as(&out)
                    .contiguous()
            } else {
                out
            }
        })
    }
}
