//! `vox2pix convert god|vim1|nsd|to-god`: GOD BData HDF5 + stimulus images, the vim-1 MAT-files, or NSD (its
//! release or MindEye2's files) → the SelfSuperReconst npz layout (and a dataset back to GOD's form).
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use vox2pix_formats::convert::{convert_god_with_warnings, export_god, GodConvertOptions};
use vox2pix_formats::layout;
use vox2pix_formats::nsd::{read_mindeye2, read_nsd_release, write_nsd, MindEye2Files, NsdOptions, NsdRelease};
use vox2pix_formats::vim1::{convert_vim1, Vim1Options, VoxelSelection};

#[derive(Args, Debug)]
#[command(about = "Convert a dataset held in another format to the vox2pix (SelfSuperReconst npz) layout")]
pub struct ConvertArgs {
    #[command(subcommand)]
    pub source: ConvertSource,
}

#[derive(Subcommand, Debug)]
pub enum ConvertSource {
    God(GodArgs),
    Vim1(Vim1Args),
    Nsd(NsdArgs),
    ToGod(ToGodArgs),
}

#[derive(Args, Debug)]
#[command(
    about = "NSD (Allen et al. 2022): NSD's release or MindEye2's preprocessed files → sbj_N.npz + images_<size>.npz",
    long_about = "Convert one NSD subject, from either form users hold (docs/data-formats.md §NSD).\n\n\
NSD's release (--root: a local copy of s3://natural-scenes-dataset): nsd_expdesign.mat (masterordering, subjectim, \
sharedix), the session betas betas_sessionNN.hdf5 (or the .nii.gz twins: int16 = percent signal change × 300), \
roi/nsdgeneral.nii.gz (the voxels: value > 0, in NumPy's C order over x, y, z like Brain-Diffuser and MindEye) \
and nsd_stimuli.hdf5 (imgBrick, read one image at a time). Betas stream session by session; every voxel is z-scored \
within each session (--zscore none keeps percent signal change).\n\n\
MindEye2's files (--mindeye2: the pscotti/mindeyev2 download): betas_all_subj0N_fp32_renorm.hdf5 (already \
z-scored), the webdataset shards wds/subj0N/{train,new_test}/*.tar (each sample's behav.npy: NSD image, session, \
global trial) or a CSV of them (--table), and coco_images_224_float16.hdf5.\n\n\
Test = the shared1000 images the subject saw, averaged over their repeats; train = every other trial (single \
trials). SNR and the noise ceiling come from the training repeats, so no test trial informs training. ROI masks \
V1–V4, FFA, PPA, LVC, HVC and NSD's own labels (V1v, FFA-1, OPA, …) come from the ROI files present \
(prf-visualrois, floc-*, streams); VC is all of nsdgeneral. nsd_images.csv names the NSD id of every image. \
--unpaired N draws N more NSD images (never a shared1000 image nor one of the subject's; MindEye2: shared1000.npy \
beside the files) into unpaired_<size>.npz, the ED stream's pool for train-decoder.",
    after_help = "Examples:\n  vox2pix info NSD/nsddata/experiments/nsd/nsd_expdesign.mat\n  \
vox2pix convert nsd --root NSD --subject 1 --out data/nsd-s1\n  \
vox2pix convert nsd --root NSD --subject 1 --sessions 1-37 --size 224 --out data/nsd-s1-224\n  \
vox2pix convert nsd --root NSD --subject 1 --unpaired 20000 --out data/nsd-s1\n  \
vox2pix convert nsd --mindeye2 mindeyev2 --subject 1 --rois NSD/nsddata/ppdata/subj01/func1pt8mm/roi --out data/nsd-me2-s1"
)]
pub struct NsdArgs {
    /// NSD release root (holding nsddata/, nsddata_betas/, nsddata_stimuli/).
    #[arg(long, conflicts_with = "mindeye2", required_unless_present = "mindeye2")]
    pub root: Option<PathBuf>,
    /// MindEye2 download folder (holding betas_all_subj0N_fp32_renorm.hdf5, wds/, coco_images_224_float16.hdf5).
    #[arg(long)]
    pub mindeye2: Option<PathBuf>,
    /// Subject (1–8).
    #[arg(long)]
    pub subject: u32,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Side of the square images written, in pixels.
    #[arg(long, default_value_t = 112)]
    pub size: usize,
    /// Sessions to read (release only), e.g. 1-37 or 1,2,5 (default: every session file present).
    #[arg(long)]
    pub sessions: Option<String>,
    /// Beta version folder (release only).
    #[arg(long, default_value = "betas_fithrf_GLMdenoise_RR")]
    pub betas: String,
    /// Per-voxel z-scoring: session (within each session) or none. Default: session for the release, none for
    /// MindEye2 (its betas are z-scored already).
    #[arg(long)]
    pub zscore: Option<String>,
    /// Override: nsd_expdesign.mat.
    #[arg(long)]
    pub expdesign: Option<PathBuf>,
    /// Override: the folder of betas_sessionNN files.
    #[arg(long)]
    pub betas_dir: Option<PathBuf>,
    /// ROI folder (func1pt8mm/roi). Release: overrides the default; MindEye2: optional, for ROI masks.
    #[arg(long)]
    pub rois: Option<PathBuf>,
    /// Override: nsd_stimuli.hdf5 (release) or coco_images_224_float16.hdf5 (MindEye2).
    #[arg(long)]
    pub stimuli: Option<PathBuf>,
    /// MindEye2: the trial table, wds/subj0N or a CSV (global_trial,nsd_id,session,split).
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// MindEye2: override betas_all_subj0N_fp32_renorm.hdf5.
    #[arg(long)]
    pub me2_betas: Option<PathBuf>,
    /// Unpaired images for the ED stream, drawn from the NSD images that are neither shared1000 nor this
    /// subject's, written as OUT/unpaired_<size>.npz (train-decoder uses it); 0: none.
    #[arg(long, default_value_t = 0)]
    pub unpaired: usize,
    /// Seed of the unpaired draw.
    #[arg(long, default_value_t = 0)]
    pub unpaired_seed: u64,
    /// Don't draw progress bars.
    #[arg(long)]
    pub no_progress: bool,
}

/// `1-37`, `1,2,5` or a mix (`1-3,7`).
fn parse_sessions(spec: &str) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || anyhow::anyhow!("--sessions {spec}: '{part}' is not a session number or range such as 1-37");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                );
                if a == 0 || b < a {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => {
                let s: u32 = part.parse().map_err(|_| bad())?;
                if s == 0 {
                    return Err(bad());
                }
                out.push(s);
            }
        }
    }
    if out.is_empty() {
        anyhow::bail!("--sessions {spec}: no session given");
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn convert_nsd(a: &NsdArgs) -> Result<()> {
    let zscore = match a.zscore.as_deref() {
        None => a.mindeye2.is_none(),
        Some("session") => true,
        Some("none") => false,
        Some(other) => anyhow::bail!("--zscore {other}: use session or none"),
    };
    let o = NsdOptions {
        subject: a.subject,
        sessions: a.sessions.as_deref().map(parse_sessions).transpose()?,
        size: a.size,
        zscore,
        progress: !a.no_progress,
        unpaired: a.unpaired,
        unpaired_seed: a.unpaired_seed,
    };
    let c = if let Some(me2) = &a.mindeye2 {
        if a.sessions.is_some() {
            anyhow::bail!("--sessions applies to NSD's release (--root); MindEye2's table decides the trials");
        }
        let subj = format!("subj{:02}", a.subject);
        let files = MindEye2Files {
            betas: a
                .me2_betas
                .clone()
                .unwrap_or_else(|| me2.join(format!("betas_all_{subj}_fp32_renorm.hdf5"))),
            table: a.table.clone().unwrap_or_else(|| me2.join("wds").join(&subj)),
            images: a
                .stimuli
                .clone()
                .unwrap_or_else(|| me2.join("coco_images_224_float16.hdf5")),
            rois: a.rois.clone(),
            shared1000: Some(me2.join("shared1000.npy")).filter(|p| p.exists()),
        };
        read_mindeye2(&files, &o)?
    } else {
        let root = a.root.as_ref().expect("clap requires --root or --mindeye2");
        let mut src = NsdRelease::under(root, a.subject, &a.betas);
        if let Some(p) = &a.expdesign {
            src.expdesign = p.clone();
        }
        if let Some(p) = &a.betas_dir {
            src.betas = p.clone();
        }
        if let Some(p) = &a.rois {
            src.rois = p.clone();
        }
        if let Some(p) = &a.stimuli {
            src.stimuli = p.clone();
        }
        read_nsd_release(&src, &o)?
    };
    for w in &c.warnings {
        eprintln!("warning: {w}");
    }
    write_nsd(&c, a.subject, a.size, &a.out)?;
    let s = &c.dataset.subject;
    println!(
        "wrote {}: {} voxels, {} train trials / {} images, {} test trials / {} images, {} px; peak memory {:.0} MiB",
        a.out.display(),
        s.n_voxels(),
        s.y_train.nrows(),
        c.train_nsd_ids.len(),
        s.y_test.nrows(),
        s.n_test_images(),
        a.size,
        vox2pix_formats::io::peak_rss_mib()
    );
    Ok(())
}

#[derive(Args, Debug)]
#[command(
    about = "vim-1 (Kay et al. 2008, CRCNS vc/vim-1): EstimatedResponses.mat + Stimuli.mat → sbj_N.npz + images_<size>.npz",
    long_about = "Convert one vim-1 subject from the two files of the CRCNS release, as downloaded.\n\n\
EstimatedResponses.mat (MATLAB v7.3 = HDF5) holds dataTrnS<N> / dataValS<N> (voxels × 1,750 training and × 120 \
validation images, one estimated response each) and roiS<N> (0 none, 1 V1, 2 V2, 3 V3, 4 V3A, 5 V3B, 6 V4, \
7 lateral occipital). Stimuli.mat (MATLAB v5/v7, or a v7.3 re-save) holds stimTrn / stimVal (images × 128 × 128, \
zero-centred grayscale).\n\n\
The 120 validation images are the test set (one averaged response each; no noise ceiling, uniform SNR \
weights). Voxels with any NaN response are dropped (the count is printed). ROI masks: V1, V2, V3, V4, LOC (lateral \
occipital), LVC = V1–V3, HVC = LOC, VC = all seven, V3A and V3B as extra masks; FFA and PPA are empty. Gray \
images are shifted by +0.5, scaled to 0–255, replicated to RGB and resized (bicubic) to --size. The images have \
no class labels, so evaluation reports identification, not semantic classification (docs/data-formats.md).",
    after_help = "Examples:\n  vox2pix info vim-1/EstimatedResponses.mat\n  \
vox2pix convert vim1 --responses vim-1/EstimatedResponses.mat --stimuli vim-1/Stimuli.mat --subject 1 --out data/vim1-s1\n  \
vox2pix convert vim1 --responses vim-1/EstimatedResponses.mat --stimuli vim-1/Stimuli.mat --subject 2 --voxels all --size 128 --out data/vim1-s2-all"
)]
pub struct Vim1Args {
    /// EstimatedResponses.mat.
    #[arg(long)]
    pub responses: PathBuf,
    /// Stimuli.mat.
    #[arg(long)]
    pub stimuli: PathBuf,
    /// Subject (1 or 2).
    #[arg(long)]
    pub subject: u32,
    /// Voxels to keep: vc (in one of the seven ROIs) or all.
    #[arg(long, default_value = "vc")]
    pub voxels: VoxelSelection,
    /// Side of the square images written, in pixels (112 fits the GOD presets; the files hold 128).
    #[arg(long, default_value_t = 112)]
    pub size: usize,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
#[command(
    about = "Export a vox2pix dataset (e.g. a synthetic world) in GOD's distributed form: SubjectN.h5 + stimuli + tables",
    long_about = "Export a dataset folder (sbj_N.npz + images_<size>.npz) the way GOD is distributed: a bdpy BData \
HDF5 file SubjectN.h5 (DataType/Run/Block/stimulus_id columns, ROI_* metadata), the images as \
stimuli/n########_#.png and stimulus_train.tsv / stimulus_test.tsv. `convert god` reads it back; stimulus ids \
use the image's class id as WordNet offset.",
    after_help = "Example:\n  vox2pix convert to-god --dataset data/tiny --out data/tiny_god\n  \
vox2pix convert god --bdata data/tiny_god/Subject1.h5 --stimuli data/tiny_god/stimuli --out data/tiny_rt \\\n    \
--train-table data/tiny_god/stimulus_train.tsv --test-table data/tiny_god/stimulus_test.tsv"
)]
pub struct ToGodArgs {
    /// Dataset folder or sbj_N.npz.
    #[arg(long)]
    pub dataset: PathBuf,
    /// Subject number, when the folder holds several.
    #[arg(long)]
    pub subject: Option<u32>,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
#[command(
    about = "GOD (Horikawa & Kamitani 2017): bdpy BData SubjectN.h5 + stimulus images → sbj_N.npz + images_112.npz",
    long_about = "Convert one GOD subject from its bdpy BData HDF5 file and a folder of stimulus images.\n\n\
Steps (docs/real-data.md §3): select the ROI's voxels (default VC); z-score every voxel within each \
(DataType, Run); split DataType 1 (train) / 2 (test), dropping 3 (imagery); order the images by the stimulus \
tables (else by stimulus id) and sort trials by image; average the test repeats; compute SNR (calc_snr) and \
the noise ceiling; centre-crop and bicubic-resize the images to 112 px; write the npz files and manifest.json.\n\n\
Images are looked up by stimulus file name (n01443537_22563.JPEG; any of .JPEG/.jpg/.png, anywhere under \
--stimuli).",
    after_help = "Example:\n  vox2pix convert god --bdata GOD/Subject3.h5 --stimuli GOD/images --out data/god3 \\\n    \
--train-table GOD/stimulus_ImageNetTraining.tsv --test-table GOD/stimulus_ImageNetTest.tsv"
)]
pub struct GodArgs {
    /// BData HDF5 file (Subject1.h5 … Subject5.h5 from figshare).
    #[arg(long)]
    pub bdata: PathBuf,
    /// Folder holding the stimulus images.
    #[arg(long)]
    pub stimuli: PathBuf,
    /// Output dataset folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Subject number (default: the digits in the BData file name).
    #[arg(long)]
    pub subject: Option<u32>,
    /// ROI whose voxels form the dataset.
    #[arg(long, default_value = "VC")]
    pub roi: String,
    /// stimulus_ImageNetTraining.tsv or imageID_training.csv: training image order (default: by stimulus id).
    #[arg(long)]
    pub train_table: Option<PathBuf>,
    /// stimulus_ImageNetTest.tsv or imageID_test.csv: test image order (default: by stimulus id).
    #[arg(long)]
    pub test_table: Option<PathBuf>,
    /// ImageNet-style class-folder tree for the unpaired pool (test classes are excluded); decoded once into
    /// OUT/pool_112.npz.
    #[arg(long)]
    pub pool: Option<PathBuf>,
    /// Images drawn per pool class.
    #[arg(long, default_value_t = 50)]
    pub per_class: usize,
    /// Seed of the per-class pool draw.
    #[arg(long, default_value_t = 0)]
    pub pool_seed: u64,
}

pub fn run(args: &ConvertArgs) -> Result<()> {
    match &args.source {
        ConvertSource::God(a) => {
            let opts = GodConvertOptions {
                bdata: a.bdata.clone(),
                stimuli: a.stimuli.clone(),
                out: a.out.clone(),
                subject: a.subject,
                roi: a.roi.clone(),
                train_table: a.train_table.clone(),
                test_table: a.test_table.clone(),
                pool: a.pool.clone().map(|p| (p, a.per_class, a.pool_seed)),
            };
            let (ds, warnings) = convert_god_with_warnings(&opts)?;
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            let s = &ds.subject;
            println!(
                "wrote {}: {} voxels, {} train trials / {} images, {} test trials / {} images",
                a.out.display(),
                s.n_voxels(),
                s.y_train.nrows(),
                ds.train_images.pixels.shape()[0],
                s.y_test.nrows(),
                s.n_test_images()
            );
            Ok(())
        }
        ConvertSource::Vim1(a) => {
            let c = convert_vim1(
                &Vim1Options {
                    responses: a.responses.clone(),
                    stimuli: a.stimuli.clone(),
                    subject: a.subject,
                    voxels: a.voxels,
                    size: a.size,
                },
                &a.out,
            )?;
            for w in &c.warnings {
                eprintln!("warning: {w}");
            }
            let s = &c.dataset.subject;
            println!(
                "wrote {}: {} voxels, {} train images, {} test images ({} px, grayscale as RGB)",
                a.out.display(),
                s.n_voxels(),
                s.y_train.nrows(),
                s.n_test_images(),
                a.size
            );
            Ok(())
        }
        ConvertSource::Nsd(a) => convert_nsd(a),
        ConvertSource::ToGod(a) => {
            let files = layout::locate(&a.dataset, a.subject)?;
            let ds = layout::load_dataset(&a.dataset, Some(files.subject))?;
            export_god(&ds, files.subject, &a.out)?;
            println!(
                "wrote {}/Subject{}.h5, stimuli/ and stimulus tables",
                a.out.display(),
                files.subject
            );
            Ok(())
        }
    }
}
