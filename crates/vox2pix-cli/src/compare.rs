//! `vox2pix compare`: paired comparison of two evaluated decoder runs; argument parsing and a call into the
//! library (`vox2pix::app::compare`).
use anyhow::{ensure, Result};
use clap::Args;
use std::path::PathBuf;
use vox2pix::app::compare::{compare_runs, default_out_dir, CompareOptions};
use vox2pix::eval::paired::PairedOptions;

#[derive(Args, Debug)]
#[command(
    about = "Paired comparison of two evaluated decoder runs on the same test images (B − A, CI, p)",
    after_help = "Reads RUN_A/metrics_per_image.csv and RUN_B/metrics_per_image.csv (written by `vox2pix evaluate`), \
checks that both list the same test images in the same order, and for every metric column both have reports \
mean(A), mean(B), the mean per-image difference B − A, its 95 % paired bootstrap CI (test images resampled with \
replacement) and a two-sided sign-flip permutation p-value (exact for up to 16 images). Unlike two separate \
per-run CIs, this removes the image-to-image spread both runs share. Writes OUT/compare.csv and OUT/compare.md \
and prints the table.\n\nExamples:\n  \
vox2pix compare runs/ablation/paired runs/ablation/paired+ED\n  \
vox2pix compare runs/ablation/paired runs/ablation/paired+ED+DE --out runs/ablation/compare --resamples 20000 --seed 1"
)]
pub struct CompareArgs {
    /// Baseline decoder run (A), evaluated with `vox2pix evaluate`.
    #[arg(value_name = "RUN_A")]
    pub run_a: PathBuf,
    /// Decoder run compared against the baseline (B); differences are B − A.
    #[arg(value_name = "RUN_B")]
    pub run_b: PathBuf,
    /// Output folder for compare.csv and compare.md [default: RUN_B/compare-vs-<name of RUN_A>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Bootstrap resamples of the test images (and random sign flips when there are more than 16 images).
    #[arg(long, default_value_t = 10_000)]
    pub resamples: usize,
    /// Seed of the bootstrap and sign-flip draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(a: &CompareArgs) -> Result<()> {
    ensure!(a.resamples >= 1, "--resamples must be at least 1");
    let out = a.out.clone().unwrap_or_else(|| default_out_dir(&a.run_a, &a.run_b));
    compare_runs(&CompareOptions {
        run_a: a.run_a.clone(),
        run_b: a.run_b.clone(),
        out: out.clone(),
        paired: PairedOptions {
            resamples: a.resamples,
            seed: a.seed,
            ..Default::default()
        },
    })?;
    print!("{}", std::fs::read_to_string(out.join("compare.md"))?);
    println!("wrote {}/compare.{{csv,md}}", out.display());
    Ok(())
}
