//! `train-backbone`, `train-encoder`, `train-decoder`, `reconstruct`: argument parsing over `vox2pix::app::jobs`.
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use vox2pix::app::jobs;
use vox2pix::nn::device::{apply_threads, parse_device, ThreadSetting};
use vox2pix::train::backbone::{train_world_backbone, BackboneTraining};
use vox2pix_formats::config::TrainConfig;

/// Where to compute.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// cpu, cuda, cuda:N or mps.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// CPU threads for libtorch: auto (this process's real CPU budget: affinity mask, cgroup quota,
    /// OMP_NUM_THREADS, SLURM_CPUS_PER_TASK), a number, or 0 for libtorch's default (one per visible core).
    #[arg(long, default_value = "auto")]
    pub threads: ThreadSetting,
}

impl DeviceArgs {
    pub fn resolve(&self) -> Result<vox2pix::nn::device::Device> {
        apply_threads(self.threads);
        parse_device(&self.device)
    }
}

/// A training config: a preset name or a TOML file, plus overrides.
#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// Preset (tiny, demo, paper, ssr, ssrc, nips19), a path to a TOML config, or METHOD@SCALE (e.g. ssr@demo:
    /// the ssr method at the demo sizes and schedule).
    #[arg(long, default_value = "paper")]
    pub config: String,
    /// Override a config field, e.g. --set decoder_training.epochs=10 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

impl ConfigArgs {
    pub fn load(&self) -> Result<TrainConfig> {
        TrainConfig::load(&self.config, &self.overrides)
    }
}

#[derive(Args, Debug)]
#[command(after_help = "Example:\n  vox2pix train-backbone --world data/demo")]
pub struct TrainBackboneArgs {
    /// A synthetic world folder written by `vox2pix synth`; the backbone goes to WORLD/backbone/.
    #[arg(long)]
    pub world: PathBuf,
    #[arg(long, default_value_t = BackboneTraining::default().steps)]
    pub steps: usize,
    #[arg(long, default_value_t = BackboneTraining::default().width)]
    pub width: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn train_backbone(a: &TrainBackboneArgs) -> Result<()> {
    let device = a.device.resolve()?;
    let opts = BackboneTraining {
        steps: a.steps,
        width: a.width,
        seed: a.seed,
        ..Default::default()
    };
    let card = train_world_backbone(&a.world, &opts, device)?;
    println!(
        "backbone trained on {} classes: held-out accuracy {:.1} % (chance {:.2} %) → {}",
        card.trained_classes.len(),
        100.0 * card.held_out_accuracy.unwrap_or(0.0),
        100.0 / card.trained_classes.len() as f64,
        vox2pix::model::backbone::world_backbone_path(&a.world).display()
    );
    Ok(())
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  vox2pix train-encoder --data data/demo --config demo --out runs/enc\n  \
vox2pix train-encoder --data god/sbj3 --config paper --out runs/enc3 --device cuda\n  \
vox2pix train-encoder --data god/sbj3 --config paper --out runs/enc3 --device cuda --set precision=bf16   # bf16 autocast"
)]
pub struct TrainEncoderArgs {
    /// Dataset folder (sbj_N.npz + images_*.npz [+ manifest.json]).
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Run directory to create (or continue with --resume).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue an interrupted run from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn train_encoder(a: &TrainEncoderArgs) -> Result<()> {
    let device = a.device.resolve()?;
    let cfg = a.config.load()?;
    let o = jobs::encoder_job(&a.data, &cfg, &a.out, device, a.resume)?;
    let r: Vec<String> = o.val_median_r.iter().map(|(k, v)| format!("{k} {v:.3}")).collect();
    println!(
        "encoder trained for {} epochs (loss {:.4}); test-average median voxel r: {}",
        o.epochs,
        o.last_loss,
        r.join(", ")
    );
    println!("run: {}", a.out.display());
    Ok(())
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  vox2pix train-decoder --data data/demo --encoder runs/enc --config demo --out runs/dec\n  \
vox2pix train-decoder --data god/sbj3 --encoder runs/enc3 --unpaired imagenet/train --out runs/dec3 --device cuda\n  \
vox2pix train-decoder --data data/demo --encoder runs/enc --config demo --out runs/dec-bf16 --set precision=bf16"
)]
pub struct TrainDecoderArgs {
    #[arg(long)]
    pub data: PathBuf,
    /// A finished encoder run (its backbone, encoder config and ROI are reused).
    #[arg(long)]
    pub encoder: PathBuf,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[arg(long)]
    pub out: PathBuf,
    /// Unpaired natural images for the ED stream (ImageNet-style class folders); synthetic worlds need none.
    #[arg(long)]
    pub unpaired: Option<PathBuf>,
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn train_decoder(a: &TrainDecoderArgs) -> Result<()> {
    let device = a.device.resolve()?;
    let cfg = a.config.load()?;
    let o = jobs::decoder_job(
        &a.data,
        &a.encoder,
        &cfg,
        &a.out,
        device,
        a.resume,
        a.unpaired.as_deref(),
    )?;
    println!(
        "decoder trained for {} epochs (loss {:.4}); run: {}",
        o.epochs,
        o.last_loss,
        a.out.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
#[command(after_help = "Example:\n  vox2pix reconstruct --run runs/dec --data data/demo")]
pub struct ReconstructArgs {
    /// A finished decoder run.
    #[arg(long)]
    pub run: PathBuf,
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn reconstruct(a: &ReconstructArgs) -> Result<()> {
    let device = a.device.resolve()?;
    let p = jobs::reconstruct_job(&a.run, &a.data, device)?;
    println!(
        "reconstructions: {} and {}",
        p.display(),
        a.run.join("reconstructions.png").display()
    );
    Ok(())
}
