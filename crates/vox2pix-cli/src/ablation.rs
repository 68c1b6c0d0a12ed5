//! `vox2pix ablation`: paired only vs + ED vs + ED + DE on the same data, seed and encoder.
use crate::evaluate::parse_pools;
use crate::train::{ConfigArgs, DeviceArgs};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use vox2pix::app::ablation::{run_ablation, AblationOptions};
use vox2pix::eval::run_eval::EvaluateOptions;
use vox2pix_formats::config::TrainConfig;

#[derive(Args, Debug)]
#[command(
    about = "Train and evaluate D with {paired only, + ED, + ED + DE}; write one table (CSV, markdown, HTML)",
    after_help = "Examples:\n  vox2pix ablation --data runs/demo/data --config demo --encoder runs/demo/encoder --out runs/ablation\n  \
vox2pix ablation --data runs/demo/data --config demo --encoder runs/demo/encoder --rois V1,LVC,HVC"
)]
pub struct AblationArgs {
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Trained encoder run (its backbone, encoder and ROI are used by every variant).
    #[arg(long)]
    pub encoder: PathBuf,
    /// Output folder: one decoder run per variant plus ablation.csv / .md / .html.
    #[arg(long, default_value = "runs/ablation")]
    pub out: PathBuf,
    /// Also ROI-restricted decoders (full method), e.g. V1,LVC,HVC; each trains its own encoder.
    #[arg(long, value_delimiter = ',')]
    pub rois: Vec<String>,
    /// Random trials per test image.
    #[arg(long, default_value_t = 1000)]
    pub trials: usize,
    /// Identification pool(s): test, external.
    #[arg(long = "pool", value_delimiter = ',', default_value = "test,external")]
    pub pools: Vec<String>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: &AblationArgs) -> Result<()> {
    let device = a.device.resolve()?;
    let rows = run_ablation(&AblationOptions {
        data: a.data.clone(),
        config: TrainConfig::load(&a.config.config, &a.config.overrides)?,
        encoder_run: a.encoder.clone(),
        out: a.out.clone(),
        rois: a.rois.clone(),
        eval: EvaluateOptions {
            trials: a.trials,
            pools: parse_pools(&a.pools)?,
            ..Default::default()
        },
        device,
    })?;
    print!("{}", std::fs::read_to_string(a.out.join("ablation.md"))?);
    println!(
        "{} variants; wrote {}/ablation.{{csv,md,html}}",
        rows.len(),
        a.out.display()
    );
    Ok(())
}
