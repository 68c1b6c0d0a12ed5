//! `vox2pix study`: decoder variants × decoder seeds × synthetic worlds, each variant's effect against paired only.
use crate::evaluate::parse_pools;
use crate::train::DeviceArgs;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use vox2pix::app::study::{run_study, StudyOptions};
use vox2pix::app::variants::Variant;
use vox2pix::eval::paired::PairedOptions;
use vox2pix::eval::run_eval::EvaluateOptions;

#[derive(Args, Debug)]
#[command(
    about = "Variants × seeds on synthetic worlds: each variant's paired effect against paired-only training, with CIs",
    after_help = "Trains every variant once per decoder seed on each world (one backbone and one encoder per world), \
evaluates every run the same way, and estimates each variant's effect on every metric as the mean per-image \
difference against the paired-only run of the same seed, with a 95 % hierarchical bootstrap interval over seeds \
and test images (per world, and pooled over worlds). Finished runs are reused: re-running the same command \
continues a killed study.\n\n\
Variants: paired (baseline), paired-equal (paired only at +ED's images per step), ed (paired + ED cycle), ed-de \
(+ DE cycle), ed-pixel (+ ED with pixel losses only).\n\n\
Examples:\n  vox2pix study --out runs/study --seeds 0,1,2,3,4 --world-seeds 0,1 --variants paired,ed\n  \
vox2pix study --out runs/study-all --seeds 0,1,2 --variants paired,paired-equal,ed,ed-de,ed-pixel\n  \
vox2pix study --world tiny --config tiny --out runs/study-tiny --seeds 0,1 --world-seeds 3\n  \
vox2pix study --out runs/curve --seeds 0,1,2 --variants paired,ed --paired-images 150,300,600,1200   # learning curves"
)]
pub struct StudyArgs {
    /// Output folder: world-W/{data,encoder}, world-W/seed-S/VARIANT runs, study.{csv,json,md,html}.
    #[arg(long, default_value = "runs/study")]
    pub out: PathBuf,
    /// Synthetic world preset of every world.
    #[arg(long, default_value = "demo")]
    pub world: String,
    /// Training config preset or file the variants start from.
    #[arg(long, default_value = "demo")]
    pub config: String,
    /// Override a training-config field (repeatable), applied to every variant.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// World seeds (one world, backbone and encoder each).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub world_seeds: Vec<u64>,
    /// Decoder seeds (at least 2).
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,3,4")]
    pub seeds: Vec<u64>,
    /// Variants, the baseline `paired` first.
    #[arg(long, value_delimiter = ',', default_value = "paired,ed")]
    pub variants: Vec<String>,
    /// Paired-set sizes for learning curves (class-balanced, nested subsets of the paired training images; the
    /// whole set by its count, e.g. 1200). Each size trains its own encoder (as many steps as on the whole set) and
    /// every variant × seed; the report adds the curves and what the ED cycle is worth in paired images.
    #[arg(long, value_delimiter = ',')]
    pub paired_images: Vec<usize>,
    /// Backbone training steps for a world with no shipped backbone.
    #[arg(long, default_value_t = 1500)]
    pub backbone_steps: usize,
    /// Random trials per test image in identification and classification.
    #[arg(long, default_value_t = 1000)]
    pub trials: usize,
    /// Identification pool(s): test, external.
    #[arg(long = "pool", value_delimiter = ',', default_value = "test,external")]
    pub pools: Vec<String>,
    /// Bootstrap resamples of the effects.
    #[arg(long, default_value_t = 10_000)]
    pub resamples: usize,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: &StudyArgs) -> Result<()> {
    let device = a.device.resolve()?;
    let variants = a
        .variants
        .iter()
        .map(|v| Variant::parse(v.trim()))
        .collect::<Result<Vec<_>>>()?;
    let o = run_study(&StudyOptions {
        out: a.out.clone(),
        world_preset: a.world.clone(),
        config: a.config.clone(),
        overrides: a.overrides.clone(),
        world_seeds: a.world_seeds.clone(),
        seeds: a.seeds.clone(),
        variants,
        paired_images: a.paired_images.clone(),
        device,
        backbone_steps: a.backbone_steps,
        eval: EvaluateOptions {
            trials: a.trials,
            pools: parse_pools(&a.pools)?,
            ..Default::default()
        },
        paired: PairedOptions {
            resamples: a.resamples,
            ..Default::default()
        },
    })?;
    print!("{}", std::fs::read_to_string(a.out.join("study.md"))?);
    println!("{} runs; wrote {}", o.runs.len(), o.report.display());
    Ok(())
}
