//! `vox2pix bench decoder-epoch`: one decoder epoch (or its first steps) of the real trainer at the config's
//! settings, with a random-weight E, timed by the trainer itself (tap cache, step loop) and extrapolated to the
//! whole epoch. The PyTorch twin (`tools/bench_torch.py decoder-epoch`) runs the same epoch from the inputs
//! [`dump_epoch_inputs`] writes.
use crate::app::jobs::{tensor_to_npy, unpaired_pool};
use crate::data::pool::{GuardedPool, ImagePool};
use crate::data::TrainingData;
use crate::model::backbone::LoadedBackbone;
use crate::model::run::RunDir;
use crate::model::EncoderModel;
use crate::nn::backbone::Vgg;
use crate::nn::device::synchronize;
use crate::train::decoder::train_decoder;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn::VarStore, Device};
use vox2pix_formats::config::{Precision, TrainConfig};
use vox2pix_formats::npz::{write_npz, Compression};
use vox2pix_formats::rng::CounterRng;

/// What to run.
#[derive(Clone, Debug)]
pub struct DecoderEpochBench {
    /// Dataset folder (SelfSuperReconst layout).
    pub data: PathBuf,
    /// Training config preset or file.
    pub config: String,
    /// Steps to time; 0 = the whole epoch.
    pub steps: usize,
    /// Where to write the twin's inputs, if anywhere.
    pub dump: Option<PathBuf>,
    /// Precision of the forward passes.
    pub precision: Precision,
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct DecoderEpochTiming {
    /// Voxels and paired trials of the dataset.
    pub n_voxels: i64,
    /// Paired training trials.
    pub n_trials: i64,
    /// Steps timed, and steps in a whole epoch.
    pub steps: usize,
    /// Steps of the whole epoch.
    pub epoch_steps: usize,
    /// Seconds to load the data, build E and the pool.
    pub load_s: f64,
    /// Seconds the trainer spent caching the paired targets' taps.
    pub cache_s: f64,
    /// Seconds per step.
    pub step_s: f64,
    /// Seconds of the end-of-epoch writes.
    pub save_s: f64,
    /// The whole epoch, extrapolated from the timed steps.
    pub epoch_s: f64,
    /// The last training loss.
    pub last_loss: f64,
}

/// Runs the trainer for `b.steps` steps of one epoch in a scratch run folder (removed afterwards).
pub fn run_decoder_epoch(b: &DecoderEpochBench, device: Device) -> Result<DecoderEpochTiming> {
    let mut cfg = TrainConfig::load(&b.config, &[]).with_context(|| format!("--config {}", b.config))?;
    let t_load = Instant::now();
    let data = TrainingData::load(&b.data, &cfg.roi, device)?;
    let full_steps = cfg.decoder_training.steps_for(data.n_trials() as usize);
    let steps = if b.steps == 0 {
        full_steps
    } else {
        b.steps.min(full_steps)
    };
    cfg.decoder_training.epochs = 1;
    cfg.precision = b.precision;
    cfg.decoder_training.steps_per_epoch = steps;
    let enc = random_encoder(&cfg, &data, device)?;
    let pool = unpaired_pool(&cfg, &data, None)?;
    let load_s = t_load.elapsed().as_secs_f64();
    if let Some(d) = &b.dump {
        dump_epoch_inputs(d, &data, pool.as_ref(), steps * cfg.decoder_training.unpaired_batch)?;
        eprintln!("wrote {}", d.display());
    }
    let dir = std::env::temp_dir().join(format!("vox2pix-bench-epoch-{}", std::process::id()));
    if dir.exists() {
        bail!("{}: exists (left by an earlier run?); remove it", dir.display());
    }
    let run = RunDir::open(&dir, "decoder", false)?;
    let t_run = Instant::now();
    let outcome = train_decoder(&cfg, &data, &enc, pool.as_ref(), &run, device);
    synchronize(device);
    let run_s = t_run.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    let outcome = outcome?;
    // The trainer times its own tap cache and step loop; the rest of the run is the end-of-epoch writes.
    let cache_s = outcome.cache_seconds;
    let step_s = outcome.step_seconds / steps as f64;
    let save_s = (run_s - cache_s - outcome.step_seconds).max(0.0);
    Ok(DecoderEpochTiming {
        n_voxels: data.n_voxels,
        n_trials: data.n_trials(),
        steps,
        epoch_steps: full_steps,
        load_s,
        cache_s,
        step_s,
        save_s,
        epoch_s: step_s * full_steps as f64 + save_s,
        last_loss: outcome.last_loss,
    })
}

/// Backbone and E with random weights in the shapes `cfg` asks for (E frozen, eval mode in the trainer).
pub fn random_encoder(cfg: &TrainConfig, data: &TrainingData, device: Device) -> Result<EncoderModel> {
    tch::manual_seed(0);
    let mut bvs = VarStore::new(device);
    let net = Vgg::new(&bvs.root(), cfg.backbone.width);
    bvs.freeze();
    let backbone = LoadedBackbone {
        vs: bvs,
        net,
        path: PathBuf::from("(random weights)"),
        card: None,
    };
    let mut model = EncoderModel::with_backbone(backbone, cfg, data, device)?;
    model.vs.freeze();
    Ok(model)
}

/// Writes what the PyTorch twin needs to run the same epoch: paired data as the trainer holds it, and `n`
/// pool images drawn (seeded) from the same guarded pool, rendered here once.
pub fn dump_epoch_inputs(
    path: &Path,
    data: &TrainingData,
    pool: Option<&GuardedPool<Box<dyn ImagePool>>>,
    n: usize,
) -> Result<()> {
    let s = data.image_size;
    let mut pixels = Vec::with_capacity(n * (s * s * 3) as usize);
    if let Some(p) = pool {
        let mut rng = CounterRng::new(0xB3);
        for _ in 0..n {
            let i = rng.below(p.len() as u64) as usize;
            pixels.extend(p.training_image(i)?);
        }
    }
    let count = pixels.len() as i64 / (s * s * 3);
    let pool_t = crate::data::rgb_to_tensor(&pixels, count, s);
    let arrays = [
        ("train_images", tensor_to_npy(&data.train_images)?),
        ("y_train", tensor_to_npy(&data.y_train)?),
        ("train_labels", tensor_to_npy(&data.train_labels)?),
        ("channel_mean_abs", tensor_to_npy(&data.channel_mean_abs)?),
        ("snr_inv_n", tensor_to_npy(&data.snr_inv_n)?),
        ("pool", tensor_to_npy(&pool_t)?),
    ];
    let named: Vec<(&str, &vox2pix_formats::npz::NpyArray)> = arrays.iter().map(|(k, v)| (*k, v)).collect();
    write_npz(path, &named, Compression::Stored).with_context(|| format!("--dump {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Tensor;
    use vox2pix_formats::npz::read_npz;
    use vox2pix_synth::world::{World, WorldConfig};

    #[test]
    fn decoder_epoch_prefix_runs_the_trainer_and_dumps_its_inputs() {
        let dir = std::env::temp_dir().join(format!("vox2pix-bench-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let world_dir = dir.join("world");
        let world = World::new(WorldConfig::resolve("tiny", &[]).unwrap(), 3).unwrap();
        vox2pix_synth::export::export(&world, &world_dir, false).unwrap();
        let dump = dir.join("epoch.npz");
        let bench = DecoderEpochBench {
            data: world_dir.clone(),
            config: "paper".into(),
            steps: 1,
            dump: Some(dump.clone()),
            // The trainer's bf16 autocast path runs here too.
            precision: Precision::Bf16,
        };
        let timing = run_decoder_epoch(&bench, Device::Cpu).unwrap();
        let paper = TrainConfig::load("paper", &[]).unwrap();
        assert_eq!(timing.steps, 1);
        assert_eq!(
            timing.epoch_steps,
            (timing.n_trials as usize / paper.decoder_training.paired_batch).max(1)
        );
        assert!(timing.last_loss.is_finite() && timing.step_s > 0.0);
        // The trainer's scratch run is gone.
        let scratch = std::env::temp_dir().join(format!("vox2pix-bench-epoch-{}", std::process::id()));
        assert!(!scratch.exists());
        // The dump holds the paired data exactly as the trainer loads it, and one step's pool images.
        let npz = read_npz(&dump).unwrap();
        let data = TrainingData::load(&world_dir, &["VC".to_string()], Device::Cpu).unwrap();
        let as_tensor = |k: &str| {
            let a = npz[k].to_f32().unwrap();
            let shape: Vec<i64> = a.shape().iter().map(|&d| d as i64).collect();
            Tensor::from_slice(a.as_slice().unwrap()).view(shape.as_slice())
        };
        assert!(as_tensor("train_images").equal(&data.train_images));
        assert!(as_tensor("y_train").equal(&data.y_train));
        assert!(as_tensor("train_labels").equal(&data.train_labels.to_kind(tch::Kind::Float)));
        assert!(as_tensor("snr_inv_n").equal(&data.snr_inv_n));
        let pool = as_tensor("pool");
        let s = data.image_size;
        assert_eq!(pool.size(), [16, 3, s, s]);
        assert!(pool.min().double_value(&[]) >= 0.0 && pool.max().double_value(&[]) <= 1.0);
        assert!(pool.std(true).double_value(&[]) > 0.01, "pool images are not blank");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
