//! `vox2pix layers`: which network depth each ROI's voxels rely on, validated against the synthetic world's truth.
use crate::train::DeviceArgs;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use vox2pix::app::layers::{markdown, run_layers};

#[derive(Args, Debug)]
#[command(
    about = "Layer preference of a trained encoder per ROI (and per voxel against the synthetic world's truth)",
    after_help = "Each voxel's depth index is the variance-weighted mean of E's four branches (VGG blocks 1-4: \
0 = all from block 1, 1 = all from block 4), measured on the training images. On a synthetic world the same index \
from the simulator's channel shares is the ground truth: the command reports their per-voxel correlation with a \
95 % bootstrap CI, the ROI ordering it recovers, and the same for the raw branch-mix weights. Writes \
RUN/layer_preference.json and RUN/layer_preference.md.\n\n\
Examples:\n  vox2pix layers --run runs/demo/encoder --data runs/demo/data"
)]
pub struct LayersArgs {
    /// Trained encoder run.
    #[arg(long)]
    pub run: PathBuf,
    /// Dataset folder the encoder was trained on.
    #[arg(long)]
    pub data: PathBuf,
    /// Seed of the bootstrap draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: &LayersArgs) -> Result<()> {
    let device = a.device.resolve()?;
    for (measure, lp) in run_layers(&a.run, &a.data, device, a.seed)? {
        println!("{}", markdown(&measure, &lp));
    }
    println!("wrote {}", a.run.join("layer_preference.{json,md}").display());
    Ok(())
}
