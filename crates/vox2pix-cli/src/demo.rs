//! `vox2pix demo`: the whole method on the built-in synthetic world.
use crate::train::DeviceArgs;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use vox2pix::app::demo::{run_demo, DemoOptions};

#[derive(Args, Debug)]
#[command(
    about = "Run everything on the synthetic demo world: synthesize → backbone → train E → train D → evaluate → report",
    after_help = "Examples:\n  vox2pix demo --out runs/demo\n  vox2pix demo --out runs/demo-gpu --device cuda\n  \
vox2pix demo --out runs/quick --set decoder_training.epochs=4\n  vox2pix demo --out runs/demo --no-baseline   # skip the paired-only decoder (~40 % of the time)"
)]
pub struct DemoArgs {
    /// Output folder (data/, encoder/, decoder/, report). Re-running continues an interrupted demo.
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Synthetic world preset.
    #[arg(long, default_value = "demo")]
    pub world: String,
    /// Training config preset or file.
    #[arg(long, default_value = "demo")]
    pub config: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Override a training-config field (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Backbone training steps when no shipped backbone matches the world.
    #[arg(long, default_value_t = 1500)]
    pub backbone_steps: usize,
    /// Skip the paired-only baseline. By default the demo trains it beside the full method and the report opens
    /// with what self-supervision bought over it (paired differences on the same test images, both grids).
    #[arg(long)]
    pub no_baseline: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: &DemoArgs) -> Result<()> {
    let device = a.device.resolve()?;
    let t0 = std::time::Instant::now();
    let o = run_demo(&DemoOptions {
        out: a.out.clone(),
        world_preset: a.world.clone(),
        config: a.config.clone(),
        seed: a.seed,
        overrides: a.overrides.clone(),
        device,
        backbone_steps: a.backbone_steps,
        baseline: !a.no_baseline,
    })?;
    println!("demo finished in {:.1} s", t0.elapsed().as_secs_f64());
    println!("  data:            {}", o.data.display());
    println!("  encoder run:     {}", o.encoder.display());
    println!("  decoder run:     {}", o.decoder.display());
    println!("  reconstructions: {}", o.reconstructions.display());
    println!("  grid:            {}", o.decoder.join("reconstructions.png").display());
    println!("  metrics:         {}", o.decoder.join("metrics.json").display());
    if let Some(r) = &o.report {
        println!("  report:          {}", r.display());
    }
    if let Ok(m) = vox2pix::eval::results::EvalMetrics::read_json(&o.decoder.join("metrics.json")) {
        let headline = m
            .identification
            .iter()
            .filter(|s| s.distance == "perceptual")
            .flat_map(|s| {
                s.results.iter().map(move |r| {
                    (
                        format!("{}-way identification ({} pool)", r.n, s.pool),
                        r.accuracy,
                        r.chance,
                    )
                })
            });
        let classes = m.classification.iter().map(|r| {
            (
                format!("{}-way classification top-{}", r.n, r.top_k),
                r.accuracy,
                r.chance,
            )
        });
        for (what, acc, chance) in headline.chain(classes) {
            println!("  {what:<42} {:5.1} %  (chance {:.1} %)", 100.0 * acc, 100.0 * chance);
        }
    }
    Ok(())
}
