//! `vox2pix bench step | encoder-step | decoder-epoch`: timings of the training work at paper settings (see
//! `nn::bench`); the PyTorch twin is tools/bench_torch.py with the same subcommands and flags.
use crate::data::npz::{write_npz, Compression};
use crate::nn::backbone::Vgg16;
use crate::nn::bench::{run_decoder_step_bench, run_encoder_step_bench, EncoderStepBenchConfig, StepBenchConfig};
use crate::nn::device::{parse_device, set_cpu_threads, set_tf32, synchronize, tf32_enabled, Precision};
use crate::synth::rng::CounterRng;
use crate::train::backbone::LoadedBackbone;
use crate::train::config::TrainConfig;
use crate::train::data::TrainingData;
use crate::train::decoder::train_decoder;
use crate::train::encoder::EncoderModel;
use crate::train::jobs::{tensor_to_npy, unpaired_pool};
use crate::train::pool::{GuardedPool, ImagePool};
use crate::train::run::RunDir;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn::VarStore, Device, Tensor};

#[derive(Args, Debug)]
#[command(about = "Benchmarks (ms per step, peak memory)")]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Subcommand, Debug)]
pub enum BenchWhat {
    /// One [NI22] decoder training step: paired + unpaired rows, frozen E, full-width VGG16 perceptual loss.
    Step(StepArgs),
    /// One [NI22] encoder training step: batch 64, ±5 px shifts, VGG16 taps 1–4, separable readout, AMSGrad.
    EncoderStep(EncoderStepArgs),
    /// A decoder epoch of a training config on a synthetic world through the real trainer (or its first N steps).
    DecoderEpoch(EpochArgs),
}

/// Flags every benchmark shares.
#[derive(Args, Debug)]
pub struct CommonArgs {
    /// cpu, cuda, cuda:N or mps.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Allow TF32 on CUDA (off by default so that fp32 numbers compare like with like).
    #[arg(long)]
    pub tf32: bool,
    /// CPU threads for libtorch (0 = libtorch's default).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// bf16 autocast for the forward passes (weights, optimizer and losses stay float32).
    #[arg(long)]
    pub bf16: bool,
}

impl CommonArgs {
    fn precision(&self) -> Precision {
        if self.bf16 {
            Precision::Bf16
        } else {
            Precision::F32
        }
    }
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  vox2pix bench step --device cpu\n  vox2pix bench step --device cuda --steps 20 --cache-target-taps\n\
The PyTorch twin takes the same flags: PYTHONPATH=$VOX2PIX_TORCH_DIR python3 tools/bench_torch.py step --device cpu"
)]
pub struct StepArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Timed steps (after the warm-up).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Voxel count (default: GOD subject 3, VC).
    #[arg(long, default_value_t = 5355)]
    pub voxels: i64,
    /// Paired rows per step (paper: 16).
    #[arg(long, default_value_t = 16)]
    pub paired: i64,
    /// Unpaired (encoder–decoder) rows per step (paper: 16).
    #[arg(long, default_value_t = 16)]
    pub unpaired: i64,
    #[arg(long, default_value_t = 112)]
    pub image_size: i64,
    /// Compute the paired targets' VGG taps once instead of every step.
    #[arg(long)]
    pub cache_target_taps: bool,
}

#[derive(Args, Debug)]
#[command(after_help = "Example:\n  vox2pix bench encoder-step --device cuda --steps 20\n\
Twin: PYTHONPATH=$VOX2PIX_TORCH_DIR python3 tools/bench_torch.py encoder-step --device cuda --steps 20")]
pub struct EncoderStepArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Voxel count (default: GOD subject 3, VC).
    #[arg(long, default_value_t = 5355)]
    pub voxels: i64,
    /// Images per step (paper: 64).
    #[arg(long, default_value_t = 64)]
    pub batch: i64,
    #[arg(long, default_value_t = 112)]
    pub image_size: i64,
    /// Random translation range in pixels (paper: 5).
    #[arg(long, default_value_t = 5)]
    pub shift_px: i64,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  vox2pix synth --preset default --out data/default\n  \
vox2pix bench decoder-epoch --data data/default --steps 3            # a prefix, extrapolated to the epoch\n  \
vox2pix bench decoder-epoch --data data/default --device cuda         # the whole epoch\n  \
vox2pix bench decoder-epoch --data data/default --steps 3 --dump /tmp/epoch.npz   # inputs for the PyTorch twin\n\
Backbone and E have random weights (the timing does not depend on trained weights, and the paper's VGG16 need not \
be fetched).")]
pub struct EpochArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// A synthetic world (`vox2pix synth --preset default`): its own pool feeds the ED stream.
    #[arg(long)]
    pub data: PathBuf,
    /// Training config (preset name or TOML path); its decoder_training section is what runs.
    #[arg(long, default_value = "paper")]
    pub config: String,
    /// Run only the first N steps of the epoch and extrapolate (0 = the whole epoch).
    #[arg(long, default_value_t = 0)]
    pub steps: usize,
    /// Also write the epoch's inputs (paired data, a pool sample of steps × unpaired_batch images) to this npz for
    /// `tools/bench_torch.py decoder-epoch --data FILE`.
    #[arg(long)]
    pub dump: Option<PathBuf>,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    match &args.what {
        BenchWhat::Step(a) => run_step(a),
        BenchWhat::EncoderStep(a) => run_encoder_step(a),
        BenchWhat::DecoderEpoch(a) => run_decoder_epoch(a),
    }
}

/// Parses the device and applies thread and TF32 settings; returns the device and the framework tag.
fn setup(c: &CommonArgs) -> Result<(Device, String)> {
    let device = parse_device(&c.device)?;
    set_cpu_threads(c.threads);
    set_tf32(c.tf32);
    let tag = format!(
        "tch-0.24.0/libtorch-2.11.0{}{}",
        if c.tf32 && tf32_enabled() { "+tf32" } else { "" },
        if c.bf16 { "+bf16" } else { "" }
    );
    Ok((device, tag))
}

fn run_step(a: &StepArgs) -> Result<()> {
    let (device, tag) = setup(&a.common)?;
    let cfg = StepBenchConfig {
        device,
        paired: a.paired,
        unpaired: a.unpaired,
        voxels: a.voxels,
        image_size: a.image_size,
        steps: a.steps,
        warmup: a.warmup,
        cache_target_taps: a.cache_target_taps,
        tf32: a.common.tf32,
        precision: a.common.precision(),
    };
    let r = run_decoder_step_bench(&cfg, |i, ms, loss| eprintln!("step {i}: {ms:.1} ms loss {loss:.5}"))?;
    println!(
        "RESULT bench=step framework={tag} device={} paired={} unpaired={} voxels={} size={} \
         cache_target_taps={} threads={} steps={} ms_per_step={:.1} peak_rss_mib={:.0} loss={:.5}",
        a.common.device,
        a.paired,
        a.unpaired,
        a.voxels,
        a.image_size,
        u8::from(a.cache_target_taps),
        r.threads,
        a.steps,
        r.ms_per_step,
        r.peak_rss_mib,
        r.loss
    );
    Ok(())
}

fn run_encoder_step(a: &EncoderStepArgs) -> Result<()> {
    let (device, tag) = setup(&a.common)?;
    let cfg = EncoderStepBenchConfig {
        device,
        batch: a.batch,
        voxels: a.voxels,
        image_size: a.image_size,
        shift_px: a.shift_px,
        steps: a.steps,
        warmup: a.warmup,
        tf32: a.common.tf32,
        precision: a.common.precision(),
    };
    let r = run_encoder_step_bench(&cfg, |i, ms, loss| eprintln!("step {i}: {ms:.1} ms loss {loss:.5}"))?;
    println!(
        "RESULT bench=encoder-step framework={tag} device={} batch={} voxels={} size={} shift_px={} threads={} \
         steps={} ms_per_step={:.1} peak_rss_mib={:.0} loss={:.5}",
        a.common.device,
        a.batch,
        a.voxels,
        a.image_size,
        a.shift_px,
        r.threads,
        a.steps,
        r.ms_per_step,
        r.peak_rss_mib,
        r.loss
    );
    Ok(())
}

/// Backbone and E with random weights in the shapes `cfg` asks for (E frozen, eval mode in the trainer).
fn random_encoder(cfg: &TrainConfig, data: &TrainingData, device: Device) -> Result<EncoderModel> {
    tch::manual_seed(0);
    let mut bvs = VarStore::new(device);
    let net = Vgg16::new(&bvs.root(), cfg.backbone.width);
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
fn dump_epoch_inputs(
    path: &Path,
    data: &TrainingData,
    pool: Option<&GuardedPool<Box<dyn ImagePool>>>,
    n: usize,
) -> Result<()> {
    let s = data.image_size;
    let mut imgs = Vec::with_capacity(n);
    if let Some(p) = pool {
        let mut rng = CounterRng::new(0xB3);
        for _ in 0..n {
            let i = rng.below(p.len() as u64) as usize;
            imgs.push(
                Tensor::from_slice(&p.training_image(i)?)
                    .view([s, s, 3])
                    .permute([2, 0, 1]),
            );
        }
    }
    let pool_t = if imgs.is_empty() {
        Tensor::zeros([0, 3, s, s], (tch::Kind::Float, Device::Cpu))
    } else {
        Tensor::stack(&imgs, 0)
    };
    let arrays = [
        ("train_images", tensor_to_npy(&data.train_images)?),
        ("y_train", tensor_to_npy(&data.y_train)?),
        ("train_labels", tensor_to_npy(&data.train_labels)?),
        ("channel_mean_abs", tensor_to_npy(&data.channel_mean_abs)?),
        ("snr_inv_n", tensor_to_npy(&data.snr_inv_n)?),
        ("pool", tensor_to_npy(&pool_t)?),
    ];
    let named: Vec<(&str, &crate::data::npz::NpyArray)> = arrays.iter().map(|(k, v)| (*k, v)).collect();
    write_npz(path, &named, Compression::Stored).with_context(|| format!("--dump {}", path.display()))
}

fn run_decoder_epoch(a: &EpochArgs) -> Result<()> {
    let (device, tag) = setup(&a.common)?;
    let mut cfg = TrainConfig::load(&a.config, &[]).with_context(|| format!("--config {}", a.config))?;
    let t_load = Instant::now();
    let data = TrainingData::load(&a.data, &cfg.roi, device)?;
    let t = &cfg.decoder_training;
    let full_steps = if t.steps_per_epoch > 0 {
        t.steps_per_epoch
    } else {
        (data.n_trials() as usize / t.paired_batch).max(1)
    };
    let steps = if a.steps == 0 {
        full_steps
    } else {
        a.steps.min(full_steps)
    };
    cfg.decoder_training.epochs = 1;
    cfg.precision = a.common.precision();
    cfg.decoder_training.steps_per_epoch = steps;
    let enc = random_encoder(&cfg, &data, device)?;
    let pool = unpaired_pool(&cfg, &data, None)?;
    let load_s = t_load.elapsed().as_secs_f64();
    if let Some(d) = &a.dump {
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
    let epoch_s = step_s * full_steps as f64 + save_s;
    println!(
        "RESULT bench=decoder-epoch framework={tag} device={} data={} voxels={} trials={} steps={steps} \
         epoch_steps={full_steps} threads={} load_s={load_s:.1} cache_s={cache_s:.1} ms_per_step={:.1} save_s={save_s:.1} \
         epoch_s={epoch_s:.1} peak_rss_mib={:.0} loss={:.5}",
        a.common.device,
        a.data.display(),
        data.n_voxels,
        data.n_trials(),
        tch::get_num_threads(),
        step_s * 1e3,
        crate::util::peak_rss_mib(),
        outcome.last_loss
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::npz::read_npz;
    use crate::synth::world::{World, WorldConfig};

    #[test]
    fn decoder_epoch_prefix_runs_the_trainer_and_dumps_its_inputs() {
        let dir = std::env::temp_dir().join(format!("vox2pix-bench-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let world_dir = dir.join("world");
        let world = World::new(WorldConfig::resolve("tiny", &[]).unwrap(), 3).unwrap();
        crate::synth::export::export(&world, &world_dir, false).unwrap();
        let dump = dir.join("epoch.npz");
        let args = EpochArgs {
            common: CommonArgs {
                device: "cpu".into(),
                tf32: false,
                threads: 0,
                // The trainer's bf16 autocast path runs here too.
                bf16: true,
            },
            data: world_dir.clone(),
            config: "paper".into(),
            steps: 1,
            dump: Some(dump.clone()),
        };
        run_decoder_epoch(&args).unwrap();
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
        // A bad device is refused before any work.
        let bad = EpochArgs {
            common: CommonArgs {
                device: "gpu".into(),
                tf32: false,
                threads: 0,
                bf16: false,
            },
            data: world_dir,
            config: "paper".into(),
            steps: 1,
            dump: None,
        };
        let err = format!("{:#}", run_decoder_epoch(&bad).unwrap_err());
        assert!(err.contains("unknown device 'gpu'"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
