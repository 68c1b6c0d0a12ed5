//! `vox2pix convert god|vim1|to-god`: GOD BData HDF5 + stimulus images, or the vim-1 MAT-files → the
//! SelfSuperReconst npz layout (and a dataset back to GOD's form).
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use vox2pix_formats::convert::{convert_god_with_warnings, export_god, GodConvertOptions};
use vox2pix_formats::layout;
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
    ToGod(ToGodArgs),
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
