//! `vox2pix bench step | encoder-step | decoder-epoch`: timings of the training work at paper settings (see
//! `vox2pix::app::bench` and `vox2pix::app::bench_epoch`); the PyTorch twin is tools/bench_torch.py with the
//! same subcommands and flags.
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use vox2pix::app::bench::{run_decoder_step_bench, run_encoder_step_bench, EncoderStepBenchConfig, StepBenchConfig};
use vox2pix::app::bench_epoch::{run_decoder_epoch, DecoderEpochBench};
use vox2pix::nn::device::{parse_device, set_cpu_threads, set_tf32, tf32_enabled, Device};
use vox2pix_formats::config::{Precision, TrainConfig};

#[derive(Args, Debug)]
#[command(about = "Benchmarks (ms per step, peak memory)")]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Subcommand, Debug)]
pub enum BenchWhat {
    /// One decoder training step of a method (`paper`, `ssr`): paired + unpaired rows, frozen E, full-width VGG16
    /// perceptual loss.
    Step(StepArgs),
    /// One encoder training step of a method: [NI22] batch 64, ±5 px shifts, VGG16 taps 1–4, separable readout,
    /// AMSGrad; `ssr`: VGG19 taps, SSR's E, plain Adam.
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
    after_help = "Example:\n  vox2pix bench step --device cpu\n  vox2pix bench step --device cuda --steps 20 --cache-target-taps\n  \
vox2pix bench step --config ssr --threads 2      # SelfSuperReconst's D step (24 + 48 rows, E on VGG19)\n\
The PyTorch twin takes the same flags: PYTHONPATH=$VOX2PIX_TORCH_DIR python3 tools/bench_torch.py step --device cpu"
)]
pub struct StepArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The method timed: `paper` ([NI22]) or `ssr` (SelfSuperReconst), or any config; its E, D, image loss,
    /// optimiser flags and batch sizes.
    #[arg(long, default_value = "paper")]
    pub config: String,
    /// Timed steps (after the warm-up).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Voxel count (default: GOD subject 3, VC).
    #[arg(long, default_value_t = 5355)]
    pub voxels: i64,
    /// Paired rows per step (default: the config's, paper 16, ssr 24).
    #[arg(long)]
    pub paired: Option<i64>,
    /// Unpaired (encoder–decoder) rows per step (default: the config's, paper 16, ssr 48).
    #[arg(long)]
    pub unpaired: Option<i64>,
    #[arg(long, default_value_t = 112)]
    pub image_size: i64,
    /// Compute the paired targets' VGG taps once instead of every step.
    #[arg(long)]
    pub cache_target_taps: bool,
}

#[derive(Args, Debug)]
#[command(after_help = "Example:\n  vox2pix bench encoder-step --device cuda --steps 20\n  \
vox2pix bench encoder-step --config ssr --threads 2\n\
Twin: PYTHONPATH=$VOX2PIX_TORCH_DIR python3 tools/bench_torch.py encoder-step --device cuda --steps 20")]
pub struct EncoderStepArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The method timed: `paper` or `ssr`, or any config; its E, E's backbone, loss and optimiser flags.
    #[arg(long, default_value = "paper")]
    pub config: String,
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Voxel count (default: GOD subject 3, VC).
    #[arg(long, default_value_t = 5355)]
    pub voxels: i64,
    /// Images per step (default: the config's, 64).
    #[arg(long)]
    pub batch: Option<i64>,
    #[arg(long, default_value_t = 112)]
    pub image_size: i64,
    /// Random translation range in pixels (default: the config's, paper 5, ssr 3).
    #[arg(long)]
    pub shift_px: Option<i64>,
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
        BenchWhat::DecoderEpoch(a) => run_decoder_epoch_cmd(a),
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
    let method = TrainConfig::load(&a.config, &[])?;
    let paired = a.paired.unwrap_or(method.decoder_training.paired_batch as i64);
    let unpaired = a.unpaired.unwrap_or(method.decoder_training.unpaired_batch as i64);
    let cfg = StepBenchConfig {
        device,
        paired,
        unpaired,
        voxels: a.voxels,
        image_size: a.image_size,
        steps: a.steps,
        warmup: a.warmup,
        cache_target_taps: a.cache_target_taps,
        tf32: a.common.tf32,
        precision: a.common.precision(),
        method,
    };
    let r = run_decoder_step_bench(&cfg, |i, ms, loss| eprintln!("step {i}: {ms:.1} ms loss {loss:.5}"))?;
    println!(
        "RESULT bench=step framework={tag} config={} device={} paired={paired} unpaired={unpaired} voxels={} \
         size={} cache_target_taps={} threads={} steps={} ms_per_step={:.1} peak_rss_mib={:.0} loss={:.5}",
        a.config,
        a.common.device,
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
    let method = TrainConfig::load(&a.config, &[])?;
    let batch = a.batch.unwrap_or(method.encoder_training.batch_size as i64);
    let shift_px = a.shift_px.unwrap_or(method.encoder_training.shift_px);
    let cfg = EncoderStepBenchConfig {
        device,
        batch,
        voxels: a.voxels,
        image_size: a.image_size,
        shift_px,
        steps: a.steps,
        warmup: a.warmup,
        tf32: a.common.tf32,
        precision: a.common.precision(),
        method,
    };
    let r = run_encoder_step_bench(&cfg, |i, ms, loss| eprintln!("step {i}: {ms:.1} ms loss {loss:.5}"))?;
    println!(
        "RESULT bench=encoder-step framework={tag} config={} device={} batch={batch} voxels={} size={} \
         shift_px={shift_px} threads={} steps={} ms_per_step={:.1} peak_rss_mib={:.0} loss={:.5}",
        a.config, a.common.device, a.voxels, a.image_size, r.threads, a.steps, r.ms_per_step, r.peak_rss_mib, r.loss
    );
    Ok(())
}

fn run_decoder_epoch_cmd(a: &EpochArgs) -> Result<()> {
    let (device, tag) = setup(&a.common)?;
    let bench = DecoderEpochBench {
        data: a.data.clone(),
        config: a.config.clone(),
        steps: a.steps,
        dump: a.dump.clone(),
        precision: a.common.precision(),
    };
    let t = run_decoder_epoch(&bench, device)?;
    println!(
        "RESULT bench=decoder-epoch framework={tag} device={} data={} voxels={} trials={} steps={} \
         epoch_steps={} threads={} load_s={:.1} cache_s={:.1} ms_per_step={:.1} save_s={:.1} \
         epoch_s={:.1} peak_rss_mib={:.0} loss={:.5}",
        a.common.device,
        a.data.display(),
        t.n_voxels,
        t.n_trials,
        t.steps,
        t.epoch_steps,
        vox2pix::nn::device::cpu_threads(),
        t.load_s,
        t.cache_s,
        t.step_s * 1e3,
        t.save_s,
        t.epoch_s,
        vox2pix_formats::io::peak_rss_mib(),
        t.last_loss
    );
    Ok(())
}
