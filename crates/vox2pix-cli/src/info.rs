//! `vox2pix info PATH`: prints the summary of a dataset or a BData file (`vox2pix_formats::summary`).
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use vox2pix_formats::summary::DatasetSummary;

#[derive(Args, Debug)]
#[command(
    about = "Validate a dataset and print its summary (trials, repeats, ROIs, SNR, noise ceiling, images)",
    long_about = "Validate a dataset and print its summary.\n\n\
PATH is a dataset folder in the SelfSuperReconst layout (sbj_N.npz + images_<size>.npz, optionally \
manifest.json as written by `vox2pix synth`), a single sbj_N.npz, a bdpy BData file (SubjectN.h5, \
summarised as stored; `vox2pix convert` turns it into the npz layout), or a vim-1 MAT-file \
(EstimatedResponses.mat, Stimuli.mat: variables, sizes, value ranges, voxels per ROI, NaN voxels), or a raw NSD / \
MindEye2 file (nsd_expdesign.mat, betas_sessionNN.hdf5, nsd_stimuli.hdf5, betas_all_subj0N_fp32_renorm.hdf5, \
coco_images_224_float16.hdf5) or NIfTI volume (.nii/.nii.gz: dims, type, voxels per label). Every array is checked (keys, dtypes, \
shapes, voxel counts, label ranges, NaN/Inf, image value range); the first problem is reported with the file \
and key. SNR is recomputed from the single test trials (Weizmann calc_snr) and the noise ceiling follows the \
NSD/GLMsingle convention; the values stored in arr_5/arr_6 are shown alongside.",
    after_help = "Examples:\n  vox2pix info data/tiny\n  vox2pix info GOD/sbj_3.npz\n  vox2pix info GOD --subject 3\n  vox2pix info GOD/Subject3.h5\n  vox2pix info vim-1/EstimatedResponses.mat\n  \
vox2pix info NSD/nsddata/experiments/nsd/nsd_expdesign.mat\n  vox2pix info NSD/nsddata/ppdata/subj01/func1pt8mm/roi/nsdgeneral.nii.gz"
)]
pub struct InfoArgs {
    /// Dataset folder, sbj_N.npz file, BData SubjectN.h5 file, vim-1 .mat file, or raw NSD / MindEye2 / NIfTI file.
    pub path: PathBuf,
    /// Subject number, when the folder holds several sbj_N.npz files.
    #[arg(long)]
    pub subject: Option<u32>,
}

pub fn run(args: &InfoArgs) -> Result<()> {
    if let Some(text) = vox2pix_formats::nsd::summarize(&args.path)
        .with_context(|| format!("{}: cannot summarise", args.path.display()))?
    {
        print!("{text}");
        return Ok(());
    }
    if args.path.extension().is_some_and(|e| e == "h5" || e == "hdf5") {
        let text = vox2pix_formats::bdata::summarize(&args.path)
            .with_context(|| format!("{}: cannot summarise as a BData HDF5 file", args.path.display()))?;
        print!("{text}");
        return Ok(());
    }
    if args.path.extension().is_some_and(|e| e == "mat") {
        let text = vox2pix_formats::vim1::summarize(&args.path)
            .with_context(|| format!("{}: cannot summarise as a vim-1 MAT-file", args.path.display()))?;
        print!("{text}");
        return Ok(());
    }
    let summary = DatasetSummary::load(&args.path, args.subject)?;
    print!("{summary}");
    Ok(())
}
