//! `vox2pix layers`: which network depth each ROI's voxels rely on, validated against the synthetic world's truth.
use crate::train::DeviceArgs;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use vox2pix::app::layers::{markdown, run_layers};

#[derive(Args, Debug)]
#[command(
    about = "Layer preference of a trained encoder per ROI (and per voxel against the synthetic world's truth)",
    after_help = "Each voxel's depth index is the share-weighted mean of E's four branches (VGG blocks 1-4: \
0 = all from block 1, 1 = all from block 4), with one share per measure: `variance` (each branch's share of the \
prediction's variance over the training images), `ablation-train` / `ablation-test` (the drop in voxel r when the \
branch is removed, against the training trials / the test averages), `best-branch` (the best single branch on the \
test averages) and, for an encoder trained with `paired_images` below the dataset's, `ablation-heldout` (the drop \
on the trials of the paired images it never saw). On a synthetic world the same index from the simulator's channel \
shares is the ground truth: the command reports each measure's per-voxel correlation with it (95 % bootstrap CI), \
the ROI ordering it recovers, and the same for the raw branch-mix weights. Writes RUN/layer_preference.json and \
RUN/layer_preference.md.\n\n\
Examples:\n  vox2pix layers --run runs/demo/encoder --data runs/demo/data\n  \
vox2pix train-encoder --data runs/demo/data --config demo --set paired_images=1050 --out runs/enc-1050\n  \
vox2pix layers --run runs/enc-1050 --data runs/demo/data      # adds ablation-heldout (150 held-out images)"
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
