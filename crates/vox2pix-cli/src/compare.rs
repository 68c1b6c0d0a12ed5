//! `vox2pix compare`: paired comparison of evaluated decoder runs (one pair, or one pair per seed); argument
//! parsing and a call into the library (`vox2pix::app::compare`).
use anyhow::{bail, ensure, Result};
use clap::Args;
use std::path::PathBuf;
use vox2pix::app::compare::{compare_run_pairs, compare_runs, default_out_dir, CompareOptions, PairsCompareOptions};
use vox2pix::eval::paired::PairedOptions;

#[derive(Args, Debug)]
#[command(
    about = "Paired comparison of evaluated decoder runs on the same test images (B − A, CI, p), over one or several seeds",
    after_help = "Reads RUN_A/metrics_per_image.csv and RUN_B/metrics_per_image.csv (written by `vox2pix evaluate`), \
checks that both list the same test images in the same order, and for every metric column both have reports \
mean(A), mean(B), the mean per-image difference B − A, its 95 % paired bootstrap CI (test images resampled with \
replacement) and a two-sided sign-flip permutation p-value (exact for up to 16 images). Unlike two separate \
per-run CIs, this removes the image-to-image spread both runs share. Writes OUT/compare.csv and OUT/compare.md \
and prints the table.\n\n\
With several pairs (RUN_A RUN_B RUN_A2 RUN_B2 …, one pair per training seed, all evaluated on the same test \
images), each pair is compared as above into OUT/pair-K/, and OUT/compare.{csv,md} give, for every metric, the \
mean per-image difference over all pairs with a 95 % hierarchical bootstrap CI (pairs resampled, then images), \
as `vox2pix study` reports it; --out is then required.\n\nExamples:\n  \
vox2pix compare runs/ablation/paired runs/ablation/paired+ED\n  \
vox2pix compare runs/s145-seed0 runs/s170-seed0 runs/s145-seed1 runs/s170-seed1 runs/s145-seed2 runs/s170-seed2 --out runs/steps-compare\n  \
vox2pix compare runs/ablation/paired runs/ablation/paired+ED+DE --out runs/ablation/compare --resamples 20000 --seed 1"
)]
pub struct CompareArgs {
    /// Baseline decoder run A, then the run B compared against it (differences are B − A), both evaluated with
    /// `vox2pix evaluate`; more A B pairs (one per seed) pool the comparison over seeds.
    #[arg(value_name = "RUN_A RUN_B", num_args = 2.., required = true)]
    pub runs: Vec<PathBuf>,
    /// Output folder for compare.csv and compare.md [default with one pair: RUN_B/compare-vs-<name of RUN_A>].
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
    ensure!(
        a.runs.len().is_multiple_of(2),
        "compare takes runs in pairs (RUN_A RUN_B, then one more pair per seed), got {} run folders",
        a.runs.len()
    );
    let paired = PairedOptions {
        resamples: a.resamples,
        seed: a.seed,
        ..Default::default()
    };
    let out = if a.runs.len() == 2 {
        let out = a.out.clone().unwrap_or_else(|| default_out_dir(&a.runs[0], &a.runs[1]));
        compare_runs(&CompareOptions {
            run_a: a.runs[0].clone(),
            run_b: a.runs[1].clone(),
            out: out.clone(),
            paired,
        })?;
        out
    } else {
        let Some(out) = a.out.clone() else {
            bail!(
                "a comparison of {} pairs needs --out DIR for its tables",
                a.runs.len() / 2
            );
        };
        compare_run_pairs(&PairsCompareOptions {
            pairs: a.runs.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect(),
            out: out.clone(),
            paired,
        })?;
        out
    };
    print!("{}", std::fs::read_to_string(out.join("compare.md"))?);
    println!("wrote {}/compare.{{csv,md}}", out.display());
    Ok(())
}
