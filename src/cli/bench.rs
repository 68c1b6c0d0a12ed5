//! `vox2pix bench step`: times one decoder training step (see `nn::bench`); the PyTorch twin is
//! tools/bench_torch.py with the same flags.
use crate::nn::bench::{run_decoder_step_bench, StepBenchConfig};
use crate::nn::device::{parse_device, set_cpu_threads, tf32_enabled};
use anyhow::Result;
use clap::{Args, Subcommand};

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
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  vox2pix bench step --device cpu\n  vox2pix bench step --device cuda --steps 20 --cache-target-taps\n\
The PyTorch twin takes the same flags: PYTHONPATH=$VOX2PIX_TORCH_DIR python3 tools/bench_torch.py --device cpu"
)]
pub struct StepArgs {
    /// cpu, cuda, cuda:N or mps.
    #[arg(long, default_value = "cpu")]
    pub device: String,
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
    /// Allow TF32 on CUDA (off by default so that fp32 numbers compare like with like).
    #[arg(long)]
    pub tf32: bool,
    /// CPU threads for libtorch (0 = libtorch's default).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let BenchWhat::Step(a) = &args.what;
    let device = parse_device(&a.device)?;
    set_cpu_threads(a.threads);
    let cfg = StepBenchConfig {
        device,
        paired: a.paired,
        unpaired: a.unpaired,
        voxels: a.voxels,
        image_size: a.image_size,
        steps: a.steps,
        warmup: a.warmup,
        cache_target_taps: a.cache_target_taps,
        tf32: a.tf32,
    };
    let r = run_decoder_step_bench(&cfg, |i, ms, loss| eprintln!("step {i}: {ms:.1} ms loss {loss:.5}"))?;
    println!(
        "RESULT framework=tch-0.24.0/libtorch-2.11.0{} device={} paired={} unpaired={} voxels={} size={} \
         cache_target_taps={} threads={} steps={} ms_per_step={:.1} peak_rss_mib={:.0} loss={:.5}",
        if a.tf32 && tf32_enabled() { "+tf32" } else { "" },
        a.device,
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
