//! `vox2pix synth`: generates a synthetic-world dataset (images + simulated fMRI) in the SelfSuperReconst
//! layout, with manifest, GOD-style id tables and a contact sheet.
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use vox2pix_synth::export::export;
use vox2pix_synth::world::{World, WorldConfig};

#[derive(Args, Debug)]
#[command(
    about = "Generate a synthetic-world dataset (procedural images + simulated visual cortex)",
    long_about = "Generate a synthetic-world dataset: paired training images (one trial each, in runs), test images \
with repeats, per-run z-scored fMRI from a simulated visual cortex, written as sbj_1.npz + images_<size>.npz \
(SelfSuperReconst layout), manifest.json (classes, splits, seed, preset and full configuration), \
imageID_training.csv / imageID_test.csv and contact_sheet.png. Unpaired images, exemplars and distractors are \
not stored: training regenerates them from the manifest.\n\n\
Presets: tiny (unit tests), demo (CPU demo: 64 px, 2,400 voxels), default (GOD-sized: 112 px, 4,600 voxels), \
or the path of a TOML file that overrides presets/default.toml. Any setting can be overridden with --set.",
    after_help = "Examples:\n  vox2pix synth --preset tiny --seed 1 --out data/tiny\n  vox2pix synth --preset demo --out data/demo\n  \
vox2pix synth --preset default --set cortex.areas.V1.snr_median=0.6 --set image_size=64 --out data/custom"
)]
pub struct SynthArgs {
    /// Preset name (tiny, demo, default) or path of a TOML preset file.
    #[arg(long, default_value = "default")]
    pub preset: String,
    /// World seed: the same preset and seed give the same dataset.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (new, empty, or a previous synth output, which is replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Override one setting, `dotted.key=value` (repeatable), e.g. --set cortex.noise_shared=0.2.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Don't draw the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: &SynthArgs) -> Result<()> {
    let t0 = std::time::Instant::now();
    let config = WorldConfig::resolve(&args.preset, &args.set)?;
    vox2pix_synth::export::prepare_output_dir(&args.out)?;
    let world = World::new(config, args.seed)?;
    let world_s = t0.elapsed().as_secs_f64();
    let summary = export(&world, &args.out, !args.quiet)?;
    println!(
        "wrote {} (preset '{}', seed {}): {} voxels, {} training trials, {} test trials",
        args.out.display(),
        world.config.preset,
        args.seed,
        summary.n_voxels,
        summary.n_train,
        summary.n_test_trials
    );
    println!("files: {}", summary.files.join(", "));
    println!(
        "time: world {world_s:.1} s, render+simulate {:.1} s, write {:.1} s; peak memory {:.0} MiB",
        summary.experiment_seconds,
        summary.write_seconds,
        vox2pix_formats::io::peak_rss_mib()
    );
    Ok(())
}
