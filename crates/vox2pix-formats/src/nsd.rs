//! The Natural Scenes Dataset (NSD; Allen et al. 2022) → the dataset model, from the two forms users hold:
//! NSD's own release ([`NsdRelease`]: per-session single-trial betas, the `nsdgeneral` ROI, the experiment design
//! and the stimulus brick) and MindEye2's preprocessed files ([`MindEye2Files`]). Keys, dtypes and layouts are in
//! `docs/data-formats.md` §NSD; `tools/make_nsd_fixtures.py` writes both forms with h5py / nibabel / scipy and
//! recomputes the bookkeeping with NumPy.
//!
//! The bookkeeping (one subject s):
//! - trial t (0-based, over the whole experiment: session k's trial i is t = (k−1)·750 + i) showed the subject's
//!   image `masterordering[t]` (1-based, 1…10,000), which is NSD image `subjectim[s, masterordering[t]] − 1`
//!   (0-based, 0…72,999);
//! - the test set is the images in `sharedix` (the `shared1000`, seen by every subject) that the subject saw,
//!   their trials averaged over the repeats present; every other trial is a training trial;
//! - voxels are the `nsdgeneral` voxels (value > 0), in the order NumPy's boolean indexing of the nibabel
//!   `(X, Y, Z)` array gives (C order: z fastest), the order of Brain-Diffuser's and MindEye's matrices.
//!
//! Nothing is held that scales with the 73k stimuli: betas stream in windows of trials and images are read
//! one by one from the HDF5 brick by index.
use crate::dataset::{Dataset, ImageSet, SubjectData};
use crate::error::FormatError;
use crate::hdf5::Hdf5Rows;
use crate::mat5::read_variable;
use crate::nifti::{read_nifti, NiftiReader};
use crate::preprocess::{average_repeats, calc_snr, ncsnr, noise_ceiling, zscore_per_run};
use anyhow::{Context, Result};
use ndarray::{Array1, Array2, Array4};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// NSD stores betas as int16 percent signal change × 300.
pub const BETA_SCALE: f32 = 300.0;

/// Number of NSD images (`nsd_stimuli.hdf5`, `subjectim` values).
pub const N_NSD_IMAGES: usize = 73_000;

/// NSD's ROI files in `func1pt8mm/roi/`, with their label values (`*.mgz.ctab` of the release).
pub const ROI_FILES: [(&str, &[(u32, &str)]); 6] = [
    (
        "prf-visualrois",
        &[
            (1, "V1v"),
            (2, "V1d"),
            (3, "V2v"),
            (4, "V2d"),
            (5, "V3v"),
            (6, "V3d"),
            (7, "hV4"),
        ],
    ),
    (
        "floc-faces",
        &[
            (1, "OFA"),
            (2, "FFA-1"),
            (3, "FFA-2"),
            (4, "mTL-faces"),
            (5, "aTL-faces"),
        ],
    ),
    ("floc-places", &[(1, "OPA"), (2, "PPA"), (3, "RSC")]),
    (
        "floc-bodies",
        &[(1, "EBA"), (2, "FBA-1"), (3, "FBA-2"), (4, "mTL-bodies")],
    ),
    (
        "floc-words",
        &[
            (1, "OWFA"),
            (2, "VWFA-1"),
            (3, "VWFA-2"),
            (4, "mfs-words"),
            (5, "mTL-words"),
        ],
    ),
    (
        "streams",
        &[
            (1, "early"),
            (2, "midventral"),
            (3, "midlateral"),
            (4, "midparietal"),
            (5, "ventral"),
            (6, "lateral"),
            (7, "parietal"),
        ],
    ),
];

/// The standard masks built from NSD's labels: name, and the NSD labels whose union it is.
const STANDARD_ROIS: [(&str, &[&str]); 8] = [
    ("V1", &["V1v", "V1d"]),
    ("V2", &["V2v", "V2d"]),
    ("V3", &["V3v", "V3d"]),
    ("V4", &["hV4"]),
    ("FFA", &["FFA-1", "FFA-2"]),
    ("PPA", &["PPA"]),
    ("LVC", &["V1v", "V1d", "V2v", "V2d", "V3v", "V3d"]),
    (
        "HVC",
        &[
            "midventral",
            "midlateral",
            "midparietal",
            "ventral",
            "lateral",
            "parietal",
        ],
    ),
];

/// NSD's own release, as the AWS bucket (`s3://natural-scenes-dataset/`) lays it out.
#[derive(Clone, Debug)]
pub struct NsdRelease {
    /// `nsddata/experiments/nsd/nsd_expdesign.mat`.
    pub expdesign: PathBuf,
    /// The folder of `betas_sessionNN.hdf5` (or `.nii.gz`), e.g.
    /// `nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR`.
    pub betas: PathBuf,
    /// The folder of `nsdgeneral.nii.gz` and the other ROI files: `nsddata/ppdata/subj01/func1pt8mm/roi`.
    pub rois: PathBuf,
    /// `nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5`.
    pub stimuli: PathBuf,
}

impl NsdRelease {
    /// The paths under an NSD root (a local copy of the bucket) for `subject`, with betas of `betas_version`
    /// (e.g. `betas_fithrf_GLMdenoise_RR`).
    pub fn under(root: &Path, subject: u32, betas_version: &str) -> Self {
        let subj = format!("subj{subject:02}");
        Self {
            expdesign: root.join("nsddata/experiments/nsd/nsd_expdesign.mat"),
            betas: root
                .join("nsddata_betas/ppdata")
                .join(&subj)
                .join("func1pt8mm")
                .join(betas_version),
            rois: root.join("nsddata/ppdata").join(&subj).join("func1pt8mm/roi"),
            stimuli: root.join("nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"),
        }
    }
}

/// The experiment design of `nsd_expdesign.mat`, 0-based.
#[derive(Clone, Debug, PartialEq)]
pub struct NsdDesign {
    /// `masterordering − 1`: the subject-image index (0…9,999) of each trial.
    pub masterordering: Vec<usize>,
    /// `subjectim − 1`: per subject (row), the NSD image (0…72,999) of each subject-image index.
    pub subjectim: Vec<Vec<usize>>,
    /// `sharedix − 1`: the shared NSD images, ascending.
    pub sharedix: Vec<usize>,
}

impl NsdDesign {
    /// Reads `nsd_expdesign.mat` (MATLAB v5/v7, or v7.3), checking every index is in range.
    pub fn read(path: &Path) -> Result<Self> {
        let ordering = read_variable(path, "masterordering")?;
        let subjectim = read_variable(path, "subjectim")?;
        let shared = read_variable(path, "sharedix")?;
        let one_based = |name: &str, v: &[f64], max: usize| -> Result<Vec<usize>> {
            v.iter()
                .enumerate()
                .map(|(i, &x)| {
                    if x.fract() == 0.0 && x >= 1.0 && x <= max as f64 {
                        Ok(x as usize - 1)
                    } else {
                        Err(FormatError::invalid(
                            path.display().to_string(),
                            format!(
                                "`{name}` entry {} is {x}, not a 1-based index in 1…{max}; is this NSD's \
                                 nsd_expdesign.mat?",
                                i + 1
                            ),
                        )
                        .into())
                    }
                })
                .collect()
        };
        let sd = subjectim.squeezed_dims();
        let [n_subjects, n_per] = match sd.as_slice() {
            [a, b] => [*a, *b],
            _ => {
                return Err(FormatError::invalid(
                    path.display().to_string(),
                    format!(
                        "`subjectim` has size {:?}; expected subjects × images (8 × 10000)",
                        subjectim.dims
                    ),
                )
                .into())
            }
        };
        let masterordering = one_based("masterordering", &ordering.data, n_per)?;
        let mut rows = Vec::with_capacity(n_subjects);
        for s in 0..n_subjects {
            let row: Vec<f64> = (0..n_per).map(|k| subjectim.at(&[s, k])).collect();
            rows.push(one_based("subjectim", &row, N_NSD_IMAGES)?);
        }
        let mut sharedix = one_based("sharedix", &shared.data, N_NSD_IMAGES)?;
        sharedix.sort_unstable();
        sharedix.dedup();
        Ok(Self {
            masterordering,
            subjectim: rows,
            sharedix,
        })
    }

    /// The NSD image (0-based) of trial `t` (0-based over the experiment) for `subject` (1-based).
    pub fn image_of_trial(&self, subject: u32, t: usize) -> Option<usize> {
        let k = *self.masterordering.get(t)?;
        self.subjectim.get(subject as usize - 1)?.get(k).copied()
    }
}

/// The voxels of a mask volume: flat offsets (x-fastest, the files' order) of the voxels with value > 0, listed in
/// C order over (x, y, z) — NumPy's `beta[mask]` order on nibabel arrays.
pub fn mask_offsets(dims: [usize; 3], values: &[f32]) -> Vec<usize> {
    let [nx, ny, nz] = dims;
    let mut out = Vec::new();
    for x in 0..nx {
        for y in 0..ny {
            for z in 0..nz {
                let off = x + nx * (y + ny * z);
                if values[off] > 0.0 {
                    out.push(off);
                }
            }
        }
    }
    out
}

/// One session's betas file.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionFile {
    /// Session number (1-based, from the file name).
    pub session: u32,
    /// The file.
    pub path: PathBuf,
}

/// The `betas_sessionNN.hdf5` (preferred) or `.nii.gz` / `.nii` files of a betas folder, by session.
pub fn session_files(dir: &Path) -> Result<Vec<SessionFile>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::Error::from(FormatError::Missing {
                path: dir.to_path_buf(),
                hint:
                    "expected the betas folder, e.g. nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR"
                        .into(),
            })
        } else {
            FormatError::io(dir, e).into()
        }
    })?;
    let mut by_session: BTreeMap<u32, (u8, PathBuf)> = BTreeMap::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix("betas_session") else {
            continue;
        };
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let ext = &rest[digits.len()..];
        let rank = match ext {
            ".hdf5" | ".h5" => 0,
            ".nii.gz" => 1,
            ".nii" => 2,
            _ => continue,
        };
        let Ok(session) = digits.parse::<u32>() else { continue };
        let slot = by_session.entry(session).or_insert((rank, e.path()));
        if rank < slot.0 {
            *slot = (rank, e.path());
        }
    }
    Ok(by_session
        .into_iter()
        .map(|(session, (_, path))| SessionFile { session, path })
        .collect())
}

/// One session's betas, read a window of trials at a time, whichever twin holds them.
enum SessionBetas {
    Hdf5(Hdf5Rows),
    Nifti(NiftiReader),
}

impl SessionBetas {
    /// Opens `file` and returns it with its trial count, checking its volume is `dims` (the mask's).
    fn open(file: &SessionFile, dims: [usize; 3], mask_path: &Path) -> Result<(Self, usize)> {
        let p = &file.path;
        let is_h5 = p.extension().is_some_and(|e| e == "hdf5" || e == "h5");
        let mismatch = |got: String| -> anyhow::Error {
            FormatError::invalid(
                p.display().to_string(),
                format!(
                    "its volume is {got} but the mask {} is {}×{}×{}; use the ROI files of the same subject and \
                     space (func1pt8mm) as the betas",
                    mask_path.display(),
                    dims[0],
                    dims[1],
                    dims[2]
                ),
            )
            .into()
        };
        if is_h5 {
            let rows = Hdf5Rows::open(p, "betas", "an NSD betas_sessionNN.hdf5 file (dataset `betas`)")?;
            // MATLAB wrote (X, Y, Z, trials); HDF5 holds the dimensions reversed.
            let s = rows.shape().to_vec();
            if s.len() != 4 || [s[3], s[2], s[1]] != dims {
                return Err(mismatch(format!("{s:?} (trials × Z × Y × X)")));
            }
            Ok((Self::Hdf5(rows), s[0]))
        } else {
            let r = NiftiReader::open(p)?;
            let h = r.header();
            if h.volume_dims() != dims {
                return Err(mismatch(format!("{:?}", h.dims)));
            }
            let n = h.n_volumes();
            Ok((Self::Nifti(r), n))
        }
    }

    /// Calls `each(trial, volume)` for every trial in order, volumes x-fastest with raw stored values.
    ///
    /// NSD's HDF5 betas are chunked one voxel per chunk (all 750 trials of a voxel together, uncompressed), so
    /// any window of trials touches every chunk: the session is read whole, as int16 (~1 GB for a 1.8 mm
    /// session), and handed out trial by trial. The NIfTI twin is streamed one volume at a time.
    fn for_each_trial(&mut self, n: usize, vol_len: usize, mut each: impl FnMut(usize, &[f32])) -> Result<()> {
        match self {
            Self::Hdf5(r) => {
                let all = r.read_i16(0, n)?;
                let mut vol = vec![0f32; vol_len];
                for (t, raw) in all.chunks_exact(vol_len).enumerate() {
                    for (v, &x) in vol.iter_mut().zip(raw) {
                        *v = x as f32;
                    }
                    each(t, &vol);
                }
                Ok(())
            }
            Self::Nifti(r) => {
                let mut vol = Vec::with_capacity(vol_len);
                for t in 0..n {
                    if !r.read_volume(&mut vol)? {
                        return Err(FormatError::corrupt(
                            r.path(),
                            format!("truncated: it ends after trial {t} of {n} — re-download it"),
                        )
                        .into());
                    }
                    each(t, &vol);
                }
                Ok(())
            }
        }
    }
}

/// What to convert.
#[derive(Clone, Debug)]
pub struct NsdOptions {
    /// The subject (1–8).
    pub subject: u32,
    /// Sessions to read (1-based); `None`: every session file in the betas folder.
    pub sessions: Option<Vec<u32>>,
    /// Side of the square images written.
    pub size: usize,
    /// Z-score every voxel within each session (the usual NSD practice; MindEye2's files are z-scored already).
    pub zscore: bool,
    /// Draw progress bars on stderr.
    pub progress: bool,
    /// Unpaired images for the ED stream, drawn from the NSD images that are neither shared1000 images nor
    /// this subject's (written as [`unpaired_file_name`]); 0: none.
    pub unpaired: usize,
    /// Seed of that draw.
    pub unpaired_seed: u64,
}

/// A converted subject.
#[derive(Debug)]
pub struct NsdConversion {
    /// The converted dataset.
    pub dataset: Dataset,
    /// The NSD image (0-based) of each training image, in image order.
    pub train_nsd_ids: Vec<usize>,
    /// The NSD image (0-based) of each test image.
    pub test_nsd_ids: Vec<usize>,
    /// For the user.
    pub warnings: Vec<String>,
    /// The decisions taken, for the manifest's notes.
    pub notes: Vec<String>,
    /// The unpaired pool (class id = NSD id), when asked for.
    pub unpaired: Option<crate::images::UnpairedPool>,
}

/// File name of the NSD unpaired pool of images of side `size` in a converted dataset folder.
pub fn unpaired_file_name(size: usize) -> String {
    format!("unpaired_{size}.npz")
}

/// Draws `n` NSD ids (ascending) from `0..n_images` outside `exclude`, seeded.
fn draw_unpaired(n_images: usize, exclude: &BTreeSet<usize>, n: usize, seed: u64) -> Result<Vec<usize>> {
    let mut free: Vec<usize> = (0..n_images).filter(|i| !exclude.contains(i)).collect();
    if n > free.len() {
        return Err(FormatError::invalid(
            "--unpaired",
            format!(
                "{n} images asked for, but only {} NSD images are neither shared1000 nor this subject's",
                free.len()
            ),
        )
        .into());
    }
    crate::rng::CounterRng::new(crate::rng::mix_key(seed, &[0x004e_5344])).shuffle(&mut free);
    free.truncate(n);
    free.sort_unstable();
    Ok(free)
}

fn bar(progress: bool, total: usize, what: &str) -> indicatif::ProgressBar {
    let b = if progress {
        indicatif::ProgressBar::new(total as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    b.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({elapsed}, eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    b.set_message(what.to_string());
    b
}

fn invalid<T>(what: &Path, detail: String) -> Result<T> {
    Err(FormatError::invalid(what.display().to_string(), detail).into())
}

/// Trials with their NSD image, session and responses, before the split.
///
/// Trials are split into train and test as they are read, each session z-scored on its own when asked (the same
/// as z-scoring the whole matrix per session), so the fMRI is held once, in its final two matrices.
struct Trials {
    v: usize,
    zscore: bool,
    train: SplitRows,
    test: SplitRows,
    /// Rows pushed so far (for messages).
    seen: usize,
}

/// One split's rows, row-major, with each row's NSD image and session.
#[derive(Default)]
struct SplitRows {
    y: Vec<f32>,
    images: Vec<usize>,
    sessions: Vec<u32>,
}

impl SplitRows {
    fn with_capacity(n: usize, v: usize) -> Self {
        Self {
            y: Vec::with_capacity(n * v),
            images: Vec::with_capacity(n),
            sessions: Vec::with_capacity(n),
        }
    }

    fn into_array(self, v: usize) -> (Array2<f32>, Vec<usize>, Vec<u32>) {
        let n = self.images.len();
        let y = Array2::from_shape_vec((n, v), self.y).expect("rows of v values");
        (y, self.images, self.sessions)
    }
}

impl Trials {
    /// Room for exactly `n_train` + `n_test` rows of `v` voxels.
    fn new(v: usize, n_train: usize, n_test: usize, zscore: bool) -> Self {
        Self {
            v,
            zscore,
            train: SplitRows::with_capacity(n_train, v),
            test: SplitRows::with_capacity(n_test, v),
            seen: 0,
        }
    }

    /// One session's rows `[n, v]` (trial order) and their NSD images; `test` says which images are test images.
    fn push_session(
        &mut self,
        mut block: Array2<f32>,
        images: &[usize],
        session: u32,
        test: &BTreeSet<usize>,
        source: &Path,
    ) -> Result<()> {
        if let Some(bad) = crate::dataset::NonFinite::find(block.view()) {
            return invalid(
                source,
                format!(
                    "holds {} NaN/Inf values in {} nsdgeneral voxels (first at trial {} of session {session}, voxel \
                     {}; voxels {}); NSD's betas have none — re-download the file",
                    bad.count,
                    bad.voxels.len(),
                    bad.first.0 + 1,
                    bad.first.1,
                    bad.voxel_list(|v| v)
                ),
            );
        }
        if self.zscore {
            let runs = vec![session; block.nrows()];
            zscore_per_run(&mut block, &runs);
        }
        for (row, &img) in block.rows().into_iter().zip(images) {
            let split = if test.contains(&img) {
                &mut self.test
            } else {
                &mut self.train
            };
            split.y.extend(row.iter());
            split.images.push(img);
            split.sessions.push(session);
        }
        self.seen += images.len();
        Ok(())
    }
}

/// Reads one subject of NSD's release.
pub fn read_nsd_release(src: &NsdRelease, o: &NsdOptions) -> Result<NsdConversion> {
    check_common(o)?;
    let design = NsdDesign::read(&src.expdesign)?;
    // Opened first so that a missing or damaged brick fails before the long read of the betas.
    let n_images = image_rows(&src.stimuli, "imgBrick", "NSD's nsd_stimuli.hdf5 (dataset `imgBrick`)")?;
    if o.subject as usize > design.subjectim.len() {
        return invalid(
            &src.expdesign,
            format!(
                "has {} subjects in `subjectim`; --subject {} is not one",
                design.subjectim.len(),
                o.subject
            ),
        );
    }
    let mask_path = src.rois.join("nsdgeneral.nii.gz");
    let mask = read_nifti(&mask_path).with_context(|| "reading the nsdgeneral ROI (the voxels converted)")?;
    let dims = mask.header.volume_dims();
    if mask.header.n_volumes() != 1 {
        return invalid(
            &mask_path,
            format!("has {} volumes; an ROI mask has one", mask.header.n_volumes()),
        );
    }
    let offsets = mask_offsets(dims, &mask.data);
    if offsets.is_empty() {
        return invalid(
            &mask_path,
            "has no voxel > 0; is it the nsdgeneral mask of this subject?".into(),
        );
    }
    let available = session_files(&src.betas)?;
    let files: Vec<SessionFile> = match &o.sessions {
        None => {
            if available.is_empty() {
                return invalid(
                    &src.betas,
                    "holds no betas_sessionNN.hdf5 / .nii.gz file; download the subject's betas first".into(),
                );
            }
            available
        }
        Some(wanted) => wanted
            .iter()
            .map(|&s| {
                available.iter().find(|f| f.session == s).cloned().ok_or_else(|| {
                    anyhow::Error::from(FormatError::Missing {
                        path: src.betas.join(format!("betas_session{s:02}.hdf5")),
                        hint: format!(
                            "session {s} was asked for (--sessions) but its betas file is not in the folder; \
                             found sessions {}",
                            available
                                .iter()
                                .map(|f| f.session.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })
                })
            })
            .collect::<Result<_>>()?,
    };
    let mut notes = vec![
        format!("NSD release, subject {}: {} session(s)", o.subject, files.len()),
        format!(
            "voxels: nsdgeneral > 0 ({} voxels of a {}×{}×{} volume), C order over (x, y, z)",
            offsets.len(),
            dims[0],
            dims[1],
            dims[2]
        ),
        format!("betas: int16 / {BETA_SCALE} (percent signal change)"),
    ];

    let shared: BTreeSet<usize> = design.sharedix.iter().copied().collect();
    let trials = read_release_trials(src, o, &design, &files, dims, &offsets, &mask_path)?;
    if o.zscore {
        notes.push("every voxel z-scored within each session".into());
    }
    let rois = release_rois(&src.rois, dims, &offsets, &mut notes)?;
    // Never unpaired: any subject's test images, and this subject's own.
    let mut exclude = shared.clone();
    exclude.extend(design.subjectim[o.subject as usize - 1].iter().copied());
    finish(
        trials,
        &shared,
        &exclude,
        n_images,
        rois,
        o,
        notes,
        Vec::new(),
        &mut |ids, size, progress| read_brick_images(&src.stimuli, ids, size, progress),
    )
}

fn check_common(o: &NsdOptions) -> Result<()> {
    if !(1..=8).contains(&o.subject) {
        return Err(FormatError::invalid("--subject", format!("{}: NSD has subjects 1–8", o.subject)).into());
    }
    if !(8..=1024).contains(&o.size) {
        return Err(FormatError::invalid("--size", format!("{}: must be between 8 and 1024 px", o.size)).into());
    }
    Ok(())
}

/// Streams every session's betas, keeping the mask's voxels.
fn read_release_trials(
    src: &NsdRelease,
    o: &NsdOptions,
    design: &NsdDesign,
    files: &[SessionFile],
    dims: [usize; 3],
    offsets: &[usize],
    mask_path: &Path,
) -> Result<Trials> {
    let shared: BTreeSet<usize> = design.sharedix.iter().copied().collect();
    let vol_len: usize = dims.iter().product();
    let mut per_session: Option<usize> = None;
    let mut opened = Vec::with_capacity(files.len());
    for f in files {
        let (betas, n) = SessionBetas::open(f, dims, mask_path)?;
        match per_session {
            None => per_session = Some(n),
            Some(m) if m != n => {
                return invalid(
                    &f.path,
                    format!("has {n} trials, the first session file has {m}; every NSD session has the same count"),
                )
            }
            _ => {}
        }
        drop(betas);
        opened.push(n);
    }
    let per = per_session.unwrap_or(0);
    let total: usize = opened.iter().sum();
    let last_trial = files.iter().map(|f| f.session as usize * per).max().unwrap_or(0);
    if last_trial > design.masterordering.len() {
        return invalid(
            &src.expdesign,
            format!(
                "`masterordering` lists {} trials, but session {} of {per} trials per session ends at trial \
                 {last_trial}; the design file does not match these betas (another release, or the wrong folder)",
                design.masterordering.len(),
                files.iter().map(|f| f.session).max().unwrap_or(0)
            ),
        );
    }
    // Every trial's image, before any betas are read: a design that does not cover them fails at once, and the
    // split sizes are known.
    let mut images_of = Vec::with_capacity(files.len());
    let (mut n_train, mut n_test) = (0, 0);
    for f in files {
        let first = (f.session as usize - 1) * per;
        let imgs: Vec<usize> = (0..per)
            .map(|i| {
                design.image_of_trial(o.subject, first + i).ok_or_else(|| {
                    anyhow::Error::from(FormatError::invalid(
                        src.expdesign.display().to_string(),
                        format!(
                            "has no image for trial {}; the design does not match the betas",
                            first + i + 1
                        ),
                    ))
                })
            })
            .collect::<Result<_>>()?;
        let k = imgs.iter().filter(|i| shared.contains(i)).count();
        (n_test, n_train) = (n_test + k, n_train + per - k);
        images_of.push(imgs);
    }
    let v = offsets.len();
    let mut trials = Trials::new(v, n_train, n_test, o.zscore);
    let b = bar(o.progress, total, "reading betas");
    for (f, imgs) in files.iter().zip(&images_of) {
        let (mut betas, n) = SessionBetas::open(f, dims, mask_path)?;
        let mut block = Array2::<f32>::zeros((n, v));
        betas.for_each_trial(n, vol_len, |i, vol| {
            for (o_, &off) in block.row_mut(i).iter_mut().zip(offsets) {
                *o_ = vol[off] / BETA_SCALE;
            }
            b.inc(1);
        })?;
        trials.push_session(block, imgs, f.session, &shared, &f.path)?;
    }
    b.finish_and_clear();
    Ok(trials)
}

/// The standard masks and NSD's own labels, from the ROI files that are present.
fn release_rois(
    dir: &Path,
    dims: [usize; 3],
    offsets: &[usize],
    notes: &mut Vec<String>,
) -> Result<BTreeMap<String, Vec<bool>>> {
    let mut labels: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    let mut found = Vec::new();
    for (file, table) in ROI_FILES {
        let path = dir.join(format!("{file}.nii.gz"));
        if !path.exists() {
            continue;
        }
        let vol = read_nifti(&path)?;
        if vol.header.volume_dims() != dims || vol.header.n_volumes() != 1 {
            return invalid(
                &path,
                format!(
                    "is {:?} but nsdgeneral is {}×{}×{}; ROI files must be of the same subject and space",
                    vol.header.dims, dims[0], dims[1], dims[2]
                ),
            );
        }
        for (code, name) in table {
            labels.insert(
                name.to_string(),
                offsets.iter().map(|&o| vol.data[o] == *code as f32).collect(),
            );
        }
        found.push(file);
    }
    let mut rois = BTreeMap::new();
    for (name, parts) in STANDARD_ROIS {
        if parts.iter().all(|p| labels.contains_key(*p)) {
            let mut m = vec![false; offsets.len()];
            for p in parts {
                for (a, &b) in m.iter_mut().zip(&labels[*p]) {
                    *a |= b;
                }
            }
            rois.insert(name.to_string(), m);
        }
    }
    rois.insert("VC".to_string(), vec![true; offsets.len()]);
    notes.push(format!(
        "ROI files read: {}; VC = nsdgeneral; LVC = V1–V3 (prf-visualrois); HVC = the streams beyond 'early'; \
         NSD's own labels kept as extra masks",
        if found.is_empty() {
            "none".to_string()
        } else {
            found.join(", ")
        }
    ));
    for (name, m) in labels {
        rois.entry(name).or_insert(m);
    }
    Ok(rois)
}

/// The number of images (rows) of an image file, opening it as a check.
fn image_rows(path: &Path, key: &str, what: &str) -> Result<usize> {
    Ok(Hdf5Rows::open(path, key, what)?.shape().first().copied().unwrap_or(0))
}

/// Reads NSD images (0-based ids) from `nsd_stimuli.hdf5` (`imgBrick`, `[73000, 425, 425, 3]` uint8), one at a
/// time, prepared like every other dataset's images (square, bicubic to `size`).
fn read_brick_images(path: &Path, ids: &[usize], size: usize, progress: bool) -> Result<Array4<u8>> {
    let brick = Hdf5Rows::open(path, "imgBrick", "NSD's nsd_stimuli.hdf5 (dataset `imgBrick`)")?;
    let s = brick.shape().to_vec();
    if s.len() != 4 || s[3] != 3 || s[1] != s[2] {
        return invalid(
            path,
            format!("`imgBrick` has shape {s:?}; expected images × H × W × 3 (73000 × 425 × 425 × 3)"),
        );
    }
    if let Some(&max) = ids.iter().max() {
        if max >= s[0] {
            return invalid(
                path,
                format!(
                    "has {} images but the design refers to image {} (0-based); is it the full brick?",
                    s[0], max
                ),
            );
        }
    }
    let side = s[1];
    let mut out = Array4::<u8>::zeros((ids.len(), size, size, 3));
    let b = bar(progress, ids.len(), "reading images");
    for (i, &id) in ids.iter().enumerate() {
        let px = brick.read_u8(id, 1)?;
        let img = image::RgbImage::from_raw(side as u32, side as u32, px)
            .ok_or_else(|| FormatError::corrupt(path, format!("image {id} has the wrong number of bytes")))?;
        crate::images::prepare_into(&mut out, i, &image::DynamicImage::ImageRgb8(img));
        b.inc(1);
    }
    b.finish_and_clear();
    Ok(out)
}

type ImageLoader<'a> = dyn FnMut(&[usize], usize, bool) -> Result<Array4<u8>> + 'a;

/// The split, averages, reliability and images, common to both forms.
#[allow(clippy::too_many_arguments)]
fn finish(
    trials: Trials,
    shared: &BTreeSet<usize>,
    never_unpaired: &BTreeSet<usize>,
    n_images: usize,
    rois: BTreeMap<String, Vec<bool>>,
    o: &NsdOptions,
    mut notes: Vec<String>,
    mut warnings: Vec<String>,
    load_images: &mut ImageLoader<'_>,
) -> Result<NsdConversion> {
    let v = trials.v;
    let (y_train, train_images, train_sessions) = trials.train.into_array(v);
    let (y_test, test_images, test_sessions) = trials.test.into_array(v);
    let sorted_ids =
        |imgs: &[usize]| -> Vec<usize> { imgs.iter().copied().collect::<BTreeSet<_>>().into_iter().collect() };
    let (train_ids, test_ids) = (sorted_ids(&train_images), sorted_ids(&test_images));
    debug_assert!(test_images.iter().all(|i| shared.contains(i)));
    if test_ids.is_empty() {
        return Err(FormatError::invalid(
            "NSD conversion",
            "no trial shows a shared1000 image (sharedix), so there is no test set; read more sessions".to_string(),
        )
        .into());
    }
    if train_ids.is_empty() {
        return Err(FormatError::invalid(
            "NSD conversion",
            "every trial shows a shared image; no training set".to_string(),
        )
        .into());
    }
    let index =
        |ids: &[usize]| -> BTreeMap<usize, i64> { ids.iter().enumerate().map(|(k, &i)| (i, k as i64)).collect() };
    let (train_index, test_index) = (index(&train_ids), index(&test_ids));
    let train_labels: Vec<i64> = train_images.iter().map(|i| train_index[i]).collect();
    let test_labels: Vec<i64> = test_images.iter().map(|i| test_index[i]).collect();
    let y_test_avg = average_repeats(&y_test, &test_labels, test_ids.len())?;
    // Reliability from the training repeats (each training image is shown up to 3 times): the test trials never
    // inform anything that training reads.
    let snr = calc_snr(&y_train, &train_labels, train_ids.len());
    let mut reps = vec![0usize; test_ids.len()];
    for &l in &test_labels {
        reps[l as usize] += 1;
    }
    let mut sorted = reps.clone();
    sorted.sort_unstable();
    let n_avg = sorted[sorted.len() / 2].max(1);
    let nc = noise_ceiling(&ncsnr(&y_train, &train_labels, train_ids.len()), n_avg);
    let few = reps.iter().filter(|&&r| r < n_avg).count();
    if few > 0 {
        warnings.push(format!(
            "{few} of {} test images have fewer than {n_avg} repeats in these sessions; their averages are noisier",
            test_ids.len()
        ));
    }
    notes.push(format!(
        "test = the {} shared1000 images shown ({} trials, averaged over their repeats); train = {} images ({} trials, single trials)",
        test_ids.len(),
        test_images.len(),
        train_ids.len(),
        train_images.len()
    ));
    notes.push(format!(
        "SNR (calc_snr) and noise ceiling (NC for a {n_avg}-trial average) from the training repeats, not the test set"
    ));
    let subject = SubjectData {
        y_train,
        y_test,
        y_test_avg,
        train_labels: Array1::from(train_labels),
        test_labels: Array1::from(test_labels),
        noise_ceiling: nc,
        snr,
        rois,
        train_runs: Some(train_sessions),
        test_runs: Some(test_sessions),
    };
    subject.validate(Some(train_ids.len()))?;
    // Each split read on its own (ascending ids): no third copy of the pixels is made to split them.
    let train_pixels = load_images(&train_ids, o.size, o.progress)?;
    let test_pixels = load_images(&test_ids, o.size, o.progress)?;
    let all: BTreeSet<usize> = train_ids.iter().chain(&test_ids).copied().collect();
    notes.push(format!(
        "images: square, bicubic to {} px; train/test image k = the k-th NSD id ascending",
        o.size
    ));
    let unpaired = if o.unpaired > 0 {
        let mut exclude = never_unpaired.clone();
        exclude.extend(all.iter().copied());
        let ids = draw_unpaired(n_images, &exclude, o.unpaired, o.unpaired_seed)?;
        let pixels = load_images(&ids, o.size, o.progress)?;
        notes.push(format!(
            "unpaired pool: {} NSD images (seed {}) that are neither shared1000 nor this subject's",
            ids.len(),
            o.unpaired_seed
        ));
        Some(crate::images::UnpairedPool {
            pixels,
            class_ids: ids.iter().map(|&i| i as i64).collect(),
            files: ids.iter().map(|i| format!("nsd:{i}")).collect(),
            spec: crate::images::PoolSpec {
                per_class: 0,
                seed: o.unpaired_seed,
                exclude: never_unpaired.iter().map(|&i| i as i64).collect(),
                image_size: o.size,
            },
        })
    } else {
        None
    };
    let dataset = Dataset {
        subject,
        train_images: ImageSet {
            pixels: train_pixels,
            class_ids: None,
        },
        test_images: ImageSet {
            pixels: test_pixels,
            class_ids: None,
        },
    };
    Ok(NsdConversion {
        dataset,
        train_nsd_ids: train_ids,
        test_nsd_ids: test_ids,
        warnings,
        notes,
        unpaired,
    })
}

/// File (beside the npz files) listing the NSD image of every train and test image: `split,index,nsd_id`.
pub const NSD_IDS_FILE: &str = "nsd_images.csv";

/// Writes a converted subject to `out` (SelfSuperReconst layout + manifest with `source = "nsd"` +
/// [`NSD_IDS_FILE`]); a failed write removes what it wrote.
pub fn write_nsd(c: &NsdConversion, subject: u32, size: usize, out: &Path) -> Result<()> {
    let written = [
        crate::layout::subject_file_name(subject),
        crate::layout::images_file_name(size),
        NSD_IDS_FILE.to_string(),
        unpaired_file_name(size),
    ];
    let res = crate::layout::write_dataset(out, subject, &c.dataset)
        .and_then(|()| {
            let mut csv = String::from("split,index,nsd_id\n");
            for (split, ids) in [("train", &c.train_nsd_ids), ("test", &c.test_nsd_ids)] {
                for (k, id) in ids.iter().enumerate() {
                    csv.push_str(&format!("{split},{k},{id}\n"));
                }
            }
            crate::io::write_bytes_atomic(&out.join(NSD_IDS_FILE), csv.as_bytes())
        })
        .and_then(|()| match &c.unpaired {
            Some(pool) => crate::images::write_pool_cache(&out.join(unpaired_file_name(size)), pool),
            None => Ok(()),
        })
        .and_then(|()| {
            crate::manifest::write_manifest(
                out,
                &crate::manifest::DatasetManifest::converted("nsd", subject, &c.dataset, c.notes.clone()),
            )
        });
    if res.is_err() {
        for f in &written {
            let _ = std::fs::remove_file(out.join(f));
        }
    }
    res
}

/// MindEye2's preprocessed files (HuggingFace `pscotti/mindeyev2`).
#[derive(Clone, Debug)]
pub struct MindEye2Files {
    /// `betas_all_subj0N_fp32_renorm.hdf5`: dataset `betas`, float32 `[trials, nsdgeneral voxels]`, row = global
    /// trial (session − 1)·750 + trial, z-scored voxel-wise already.
    pub betas: PathBuf,
    /// The trial table: the subject's webdataset folder (`wds/subj0N`, holding `train/*.tar` and `new_test/*.tar`,
    /// each sample's `behav.npy` giving the NSD image in column 0, the session in 2 and the global trial in 5), or
    /// a CSV export of it with columns `global_trial,nsd_id,session,split` (`split` = train | test).
    pub table: PathBuf,
    /// `coco_images_224_float16.hdf5`: dataset `images`, float16 `[73000, 3, 224, 224]` in [0, 1].
    pub images: PathBuf,
    /// Optional: the release's `func1pt8mm/roi` folder of the same subject, for ROI masks (its nsdgeneral must
    /// have as many voxels as `betas` has columns).
    pub rois: Option<PathBuf>,
    /// Optional: MindEye2's `shared1000.npy` (bool over the 73k images), kept out of the unpaired pool.
    pub shared1000: Option<PathBuf>,
}

/// The NSD ids marked in MindEye2's `shared1000.npy` (a bool array over the 73,000 images).
pub fn read_shared1000(path: &Path) -> Result<Vec<usize>> {
    let bytes = std::fs::read(path).map_err(|e| FormatError::io(path, e))?;
    let a = crate::npz::parse_npy(&bytes).with_context(|| format!("reading {}", path.display()))?;
    match &a.data {
        crate::npz::NpyData::Bool(v) => Ok(v.iter().enumerate().filter(|(_, &b)| b).map(|(i, _)| i).collect()),
        _ => invalid(
            path,
            format!(
                "holds {:?} values; expected MindEye2's bool array over the 73,000 images",
                a.dtype
            ),
        ),
    }
}

/// nsdgeneral voxel counts of subjects 1–8 (the column counts of MindEye2's `betas_all_subj0N` files).
pub const NSDGENERAL_VOXELS: [usize; 8] = [15724, 14278, 15226, 13153, 13039, 17907, 12682, 14386];

/// One trial of the MindEye2 table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TableTrial {
    /// Row of `betas_all` (0-based).
    pub global_trial: usize,
    /// NSD image (0-based).
    pub nsd_id: usize,
    /// Session (1-based).
    pub session: u32,
    /// Whether the trial is in the test split (`new_test`).
    pub test: bool,
}

/// The files of a (ustar / GNU / pax) tar archive, as (name, bytes) in archive order: webdataset shards are plain
/// tars of small files. A damaged or truncated archive is an error naming it.
pub fn read_tar(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let bytes = std::fs::read(path).map_err(|e| FormatError::io(path, e))?;
    let bad = |detail: String| -> anyhow::Error {
        FormatError::corrupt(path, format!("{detail}; is it a complete .tar?")).into()
    };
    let mut out = Vec::new();
    let mut at = 0usize;
    let mut long_name: Option<String> = None;
    while at + 512 <= bytes.len() {
        let h = &bytes[at..at + 512];
        if h.iter().all(|&b| b == 0) {
            return Ok(out);
        }
        let stored: u32 = h[148..156]
            .iter()
            .filter(|b| **b != 0 && **b != b' ')
            .map(|&b| b.wrapping_sub(b'0') as u32)
            .fold(0, |a, d| a * 8 + d);
        let sum: u32 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| if (148..156).contains(&i) { b' ' as u32 } else { b as u32 })
            .sum();
        if stored != sum {
            return Err(bad(format!("the tar header at byte {at} fails its checksum")));
        }
        let field = |r: std::ops::Range<usize>| String::from_utf8_lossy(&h[r]).trim_end_matches('\0').to_string();
        let size = if h[124] & 0x80 != 0 {
            h[125..136]
                .iter()
                .fold(0usize, |a, &b| a.saturating_mul(256).saturating_add(b as usize))
        } else {
            let s = field(124..136);
            usize::from_str_radix(s.trim(), 8)
                .map_err(|_| bad(format!("the tar header at byte {at} has size '{s}'")))?
        };
        let data_at = at + 512;
        let end = data_at.checked_add(size).filter(|&e| e <= bytes.len()).ok_or_else(|| {
            bad(format!(
                "truncated: an entry of {size} bytes at byte {data_at} runs past the end ({} bytes)",
                bytes.len()
            ))
        })?;
        let data = &bytes[data_at..end];
        let mut name = field(0..100);
        if &h[257..262] == b"ustar" {
            let prefix = field(345..500);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        match h[156] {
            b'L' => long_name = Some(String::from_utf8_lossy(data).trim_end_matches('\0').to_string()),
            b'x' => {
                // pax: a `path=` record replaces the next entry's name.
                let text = String::from_utf8_lossy(data);
                for rec in text.lines() {
                    if let Some(p) = rec.split_once(' ').and_then(|(_, kv)| kv.strip_prefix("path=")) {
                        long_name = Some(p.to_string());
                    }
                }
            }
            b'0' | 0 => out.push((long_name.take().unwrap_or(name), data.to_vec())),
            _ => {
                long_name = None;
            }
        }
        at = data_at + size.div_ceil(512) * 512;
    }
    if at == bytes.len() {
        // Some writers omit the two zero blocks.
        return Ok(out);
    }
    Err(bad(format!(
        "truncated: {} bytes after the last whole entry",
        bytes.len() - at
    )))
}

/// The trials of one webdataset folder of shards (`*.tar`), from each sample's `behav.npy`.
fn shard_trials(dir: &Path, test: bool) -> Result<Vec<TableTrial>> {
    let mut tars: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| FormatError::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tar"))
        .collect();
    tars.sort();
    if tars.is_empty() {
        return invalid(
            dir,
            "holds no .tar shard; expected MindEye2's wds/subj0N/{train,new_test}/N.tar".into(),
        );
    }
    let mut out = Vec::new();
    for tar in &tars {
        for (name, data) in read_tar(tar)? {
            if !name.ends_with(".behav.npy") {
                continue;
            }
            let a = crate::npz::parse_npy(&data).with_context(|| format!("{}: sample {name}", tar.display()))?;
            let v: Vec<f64> = match &a.data {
                crate::npz::NpyData::F64(v) => v.clone(),
                crate::npz::NpyData::F32(v) => v.iter().map(|&x| x as f64).collect(),
                crate::npz::NpyData::I64(v) => v.iter().map(|&x| x as f64).collect(),
                crate::npz::NpyData::I32(v) => v.iter().map(|&x| x as f64).collect(),
                _ => return invalid(tar, format!("{name} is not numeric")),
            };
            if v.len() < 17 {
                return invalid(
                    tar,
                    format!(
                        "{name} has {} values; MindEye2's behav rows have 17 (shape (1, 17))",
                        v.len()
                    ),
                );
            }
            let whole = |x: f64, what: &str| -> Result<usize> {
                if x >= 0.0 && x.fract() == 0.0 {
                    Ok(x as usize)
                } else {
                    invalid(tar, format!("{name}: {what} is {x}, not a 0-based index"))
                }
            };
            out.push(TableTrial {
                nsd_id: whole(v[0], "column 0 (NSD image)")?,
                session: whole(v[2], "column 2 (session)")? as u32,
                global_trial: whole(v[5], "column 5 (global trial)")?,
                test,
            });
        }
    }
    Ok(out)
}

/// The trial table of MindEye2 files: shards (train + new_test) or the CSV export.
pub fn read_trial_table(path: &Path) -> Result<Vec<TableTrial>> {
    if path.is_dir() {
        let (train, test) = (path.join("train"), path.join("new_test"));
        for d in [&train, &test] {
            if !d.is_dir() {
                return Err(FormatError::Missing {
                    path: d.clone(),
                    hint: "expected MindEye2's wds/subj0N folder with train/ and new_test/ shards (old test/ is the \
                           37-session split: use new_test)"
                        .into(),
                }
                .into());
            }
        }
        let mut t = shard_trials(&train, false)?;
        t.extend(shard_trials(&test, true)?);
        return Ok(t);
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::Error::from(FormatError::Missing {
                path: path.to_path_buf(),
                hint: "expected the wds/subj0N folder or a CSV with global_trial,nsd_id,session,split".into(),
            })
        } else {
            FormatError::io(path, e).into()
        }
    })?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').map(str::trim).collect();
    let col = |name: &str| -> Result<usize> {
        header.iter().position(|h| *h == name).ok_or_else(|| {
            FormatError::invalid(
                path.display().to_string(),
                format!(
                    "has no column `{name}` (header: {}); expected global_trial,nsd_id,session,split",
                    header.join(",")
                ),
            )
            .into()
        })
    };
    let (cg, ci, cs, cp) = (col("global_trial")?, col("nsd_id")?, col("session")?, col("split")?);
    let mut out = Vec::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let at = |c: usize| -> Result<usize> {
            f.get(c).and_then(|s| s.parse::<usize>().ok()).ok_or_else(|| {
                FormatError::invalid(
                    format!("{} line {}", path.display(), n + 2),
                    format!(
                        "`{}` is '{}', not a non-negative integer",
                        header[c],
                        f.get(c).unwrap_or(&"")
                    ),
                )
                .into()
            })
        };
        let test = match f.get(cp).copied() {
            Some("test") => true,
            Some("train") => false,
            other => {
                return Err(FormatError::invalid(
                    format!("{} line {}", path.display(), n + 2),
                    format!("split is '{}'; use train or test", other.unwrap_or("")),
                )
                .into())
            }
        };
        out.push(TableTrial {
            global_trial: at(cg)?,
            nsd_id: at(ci)?,
            session: at(cs)? as u32,
            test,
        });
    }
    Ok(out)
}

/// Reads one subject from MindEye2's files.
pub fn read_mindeye2(src: &MindEye2Files, o: &NsdOptions) -> Result<NsdConversion> {
    check_common(o)?;
    let mut table = read_trial_table(&src.table)?;
    if table.is_empty() {
        return invalid(&src.table, "lists no trial".into());
    }
    table.sort_by_key(|t| t.global_trial);
    if let Some(w) = table.windows(2).find(|w| w[0].global_trial == w[1].global_trial) {
        return invalid(&src.table, format!("lists global trial {} twice", w[0].global_trial));
    }
    // No leakage: an image of the test split never appears among the training trials.
    let test_ids: BTreeSet<usize> = table.iter().filter(|t| t.test).map(|t| t.nsd_id).collect();
    if let Some(t) = table.iter().find(|t| !t.test && test_ids.contains(&t.nsd_id)) {
        return invalid(
            &src.table,
            format!(
                "training trial {} shows NSD image {}, which is in the test split; the table mixes splits",
                t.global_trial, t.nsd_id
            ),
        );
    }
    let n_images = image_rows(
        &src.images,
        "images",
        "MindEye2's coco_images_224_float16.hdf5 (dataset `images`)",
    )?;
    let betas = Hdf5Rows::open(
        &src.betas,
        "betas",
        "MindEye2's betas_all_subj0N_fp32_renorm.hdf5 (dataset `betas`)",
    )?;
    let shape = betas.shape().to_vec();
    if shape.len() != 2 {
        return invalid(
            &src.betas,
            format!("`betas` has shape {shape:?}; expected trials × voxels"),
        );
    }
    let (n_rows, v) = (shape[0], shape[1]);
    if let Some(k) = NSDGENERAL_VOXELS.iter().position(|&n| n == v) {
        if k + 1 != o.subject as usize && NSDGENERAL_VOXELS[o.subject as usize - 1] != v {
            return invalid(
                &src.betas,
                format!(
                    "has {v} voxels, subject {}'s nsdgeneral count, but --subject is {} ({} voxels); is it the \
                     file of another subject?",
                    k + 1,
                    o.subject,
                    NSDGENERAL_VOXELS[o.subject as usize - 1]
                ),
            );
        }
    }
    let last = table.last().map(|t| t.global_trial).unwrap_or(0);
    if last >= n_rows {
        return invalid(
            &src.betas,
            format!(
                "has {n_rows} trials but the table refers to global trial {last}; the table and the betas are of \
                 different subjects or releases"
            ),
        );
    }
    let mut notes = vec![
        format!(
            "MindEye2 files, subject {}: {} trials of {n_rows}, {v} voxels",
            o.subject,
            table.len()
        ),
        "split as MindEye2's shards give it: new_test = test (shared1000), train = train".into(),
    ];
    let n_test = table.iter().filter(|t| t.test).count();
    let mut trials = Trials::new(v, table.len() - n_test, n_test, o.zscore);
    let b = bar(o.progress, table.len(), "reading betas");
    // Session by session (the table is in global-trial order, so each session is one run of rows, ≤ 750).
    let mut k = 0;
    while k < table.len() {
        let session = table[k].session;
        let end = k + table[k..].iter().take_while(|t| t.session == session).count();
        let (lo, hi) = (table[k].global_trial, table[end - 1].global_trial);
        let rows = betas.read_f32(lo, hi - lo + 1)?;
        let mut block = Array2::<f32>::zeros((end - k, v));
        for (i, t) in table[k..end].iter().enumerate() {
            let r = t.global_trial - lo;
            block
                .row_mut(i)
                .assign(&ndarray::ArrayView1::from(&rows[r * v..(r + 1) * v]));
        }
        let imgs: Vec<usize> = table[k..end].iter().map(|t| t.nsd_id).collect();
        trials.push_session(block, &imgs, session, &test_ids, &src.betas)?;
        b.inc((end - k) as u64);
        k = end;
    }
    b.finish_and_clear();
    if o.zscore {
        notes.push("every voxel z-scored again within each session (--zscore)".into());
    } else {
        notes.push("betas as MindEye2 normalised them (voxel-wise z-scores)".into());
    }
    let rois = match &src.rois {
        None => {
            notes.push("ROI masks: VC = all voxels (give the release's roi folder for V1–V4, FFA, PPA, …)".into());
            BTreeMap::from([("VC".to_string(), vec![true; v])])
        }
        Some(dir) => {
            let mask_path = dir.join("nsdgeneral.nii.gz");
            let mask = read_nifti(&mask_path)?;
            let offsets = mask_offsets(mask.header.volume_dims(), &mask.data);
            if offsets.len() != v {
                return invalid(
                    &mask_path,
                    format!(
                        "has {} voxels but {} has {v} columns; give the roi folder of the same subject",
                        offsets.len(),
                        src.betas.display()
                    ),
                );
            }
            release_rois(dir, mask.header.volume_dims(), &offsets, &mut notes)?
        }
    };
    let mut warnings = Vec::new();
    let mut never_unpaired = test_ids.clone();
    if o.unpaired > 0 {
        match &src.shared1000 {
            Some(p) => never_unpaired.extend(read_shared1000(p)?),
            None => warnings.push(
                "no shared1000.npy beside the MindEye2 files: the unpaired pool excludes this subject's test images \
                 only, not every shared1000 image"
                    .to_string(),
            ),
        }
    }
    let images_path = src.images.clone();
    finish(
        trials,
        &test_ids,
        &never_unpaired,
        n_images,
        rois,
        o,
        notes,
        warnings,
        &mut |ids, size, progress| read_chw_images(&images_path, ids, size, progress),
    )
}

/// Reads NSD images (0-based ids) from MindEye2's `coco_images_224_float16.hdf5` (`images`, float16
/// `[73000, 3, H, W]` in [0, 1]), one at a time, to bytes (round(255·v)) prepared like every other dataset's.
fn read_chw_images(path: &Path, ids: &[usize], size: usize, progress: bool) -> Result<Array4<u8>> {
    let images = Hdf5Rows::open(
        path,
        "images",
        "MindEye2's coco_images_224_float16.hdf5 (dataset `images`)",
    )?;
    let s = images.shape().to_vec();
    if s.len() != 4 || s[1] != 3 || s[2] != s[3] {
        return invalid(
            path,
            format!("`images` has shape {s:?}; expected images × 3 × H × W (73000 × 3 × 224 × 224)"),
        );
    }
    if let Some(&max) = ids.iter().max() {
        if max >= s[0] {
            return invalid(
                path,
                format!("has {} images but the table refers to NSD image {max}", s[0]),
            );
        }
    }
    let side = s[2];
    let mut out = Array4::<u8>::zeros((ids.len(), size, size, 3));
    let b = bar(progress, ids.len(), "reading images");
    for (i, &id) in ids.iter().enumerate() {
        let v = images.read_f32(id, 1)?;
        let plane = side * side;
        let img = image::RgbImage::from_fn(side as u32, side as u32, |x, y| {
            let p = y as usize * side + x as usize;
            let q = |c: usize| (v[c * plane + p].clamp(0.0, 1.0) * 255.0).round() as u8;
            image::Rgb([q(0), q(1), q(2)])
        });
        crate::images::prepare_into(&mut out, i, &image::DynamicImage::ImageRgb8(img));
        b.inc(1);
    }
    b.finish_and_clear();
    Ok(out)
}

/// `vox2pix info` on a raw NSD or MindEye2 file: what it holds in NSD's terms, or `None` when it is not one of
/// them (the caller then tries its other readers). NIfTI volumes of any origin are summarised here too.
pub fn summarize(path: &Path) -> Result<Option<String>> {
    use std::fmt::Write as _;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut s = String::new();
    if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        let r = NiftiReader::open(path)?;
        let h = r.header().clone();
        let _ = writeln!(s, "{} (NIfTI-1, {:?}, dims {:?})", path.display(), h.datatype, h.dims);
        if h.n_volumes() == 1 {
            let v = read_nifti(path)?;
            let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
            let integral = v.data.iter().all(|x| x.fract() == 0.0);
            if integral {
                for &x in &v.data {
                    *counts.entry(x as i64).or_default() += 1;
                }
            }
            if integral && counts.len() <= 64 {
                let table = ROI_FILES
                    .iter()
                    .find(|(f, _)| name.starts_with(&format!("{f}.")) || name.contains(&format!(".{f}.")));
                let label = |c: i64| -> String {
                    match (c, table) {
                        (-1, _) => "outside cortex".into(),
                        (0, _) => "unlabelled".into(),
                        (c, Some((_, t))) => t
                            .iter()
                            .find(|(k, _)| *k as i64 == c)
                            .map(|(_, n)| n.to_string())
                            .unwrap_or_default(),
                        (1, None) if name.starts_with("nsdgeneral") => "nsdgeneral".into(),
                        _ => String::new(),
                    }
                };
                for (c, n) in counts {
                    let _ = writeln!(s, "  value {c:>4}: {n:>8} voxels  {}", label(c));
                }
            }
        } else {
            let _ = writeln!(
                s,
                "  {} volumes of {}×{}×{} (NSD betas: one per trial; values are int16 = percent signal change × 300)",
                h.n_volumes(),
                h.volume_dims()[0],
                h.volume_dims()[1],
                h.volume_dims()[2]
            );
        }
        return Ok(Some(s));
    }
    if name.ends_with(".mat") {
        if !crate::mat5::list_variables(path)?.iter().any(|v| v == "masterordering") {
            return Ok(None);
        }
        let d = NsdDesign::read(path)?;
        let _ = writeln!(s, "{} (NSD experiment design)", path.display());
        let _ = writeln!(
            s,
            "  masterordering: {} trials{}; subjectim: {} subjects × {} images; sharedix: {} shared images",
            d.masterordering.len(),
            if d.masterordering.len() % 750 == 0 {
                format!(" ({} sessions of 750)", d.masterordering.len() / 750)
            } else {
                String::new()
            },
            d.subjectim.len(),
            d.subjectim.first().map_or(0, |r| r.len()),
            d.sharedix.len()
        );
        let shared: BTreeSet<usize> = d.sharedix.iter().copied().collect();
        for subj in 1..=d.subjectim.len() as u32 {
            let n_shared = (0..d.masterordering.len())
                .filter(|&t| d.image_of_trial(subj, t).is_some_and(|i| shared.contains(&i)))
                .count();
            let _ = writeln!(
                s,
                "  subject {subj}: {} shared-image trials, {} others",
                n_shared,
                d.masterordering.len() - n_shared
            );
        }
        return Ok(Some(s));
    }
    if !(name.ends_with(".hdf5") || name.ends_with(".h5")) {
        return Ok(None);
    }
    for (key, what) in [
        ("betas", "NSD betas or MindEye2 betas_all"),
        ("imgBrick", "NSD stimuli"),
        ("images", "MindEye2 images"),
    ] {
        let Ok(r) = Hdf5Rows::open(path, key, what) else {
            continue;
        };
        let sh = r.shape().to_vec();
        let text = match (key, sh.len()) {
            ("betas", 4) => format!(
                "NSD single-trial betas: {} trials of a {}×{}×{} volume (h5py order trials × Z × Y × X), {}; \
                 values are percent signal change × 300",
                sh[0],
                sh[3],
                sh[2],
                sh[1],
                r.dtype_name()
            ),
            ("betas", 2) => format!(
                "MindEye2 betas: {} global trials × {} voxels, {}{}",
                sh[0],
                sh[1],
                r.dtype_name(),
                NSDGENERAL_VOXELS
                    .iter()
                    .position(|&n| n == sh[1])
                    .map(|k| format!(" (subject {}'s nsdgeneral count)", k + 1))
                    .unwrap_or_default()
            ),
            ("imgBrick", 4) => format!(
                "NSD stimulus brick: {} images of {}×{}×{}, {}",
                sh[0],
                sh[1],
                sh[2],
                sh[3],
                r.dtype_name()
            ),
            ("images", 4) => format!(
                "MindEye2 images: {} images of {}×{}×{} (CHW), {}",
                sh[0],
                sh[1],
                sh[2],
                sh[3],
                r.dtype_name()
            ),
            _ => continue,
        };
        let _ = writeln!(s, "{}\n  {text}", path.display());
        return Ok(Some(s));
    }
    Ok(None)
}

/// The NSD unpaired pool of a converted dataset folder, for the ED stream: `unpaired_<size>.npz` when present,
/// after checking that none of its images is a test image of the folder's `nsd_images.csv` (the leakage guard
/// for pools that were copied between folders).
pub fn read_unpaired_pool(dir: &Path, size: usize) -> Result<Option<crate::images::UnpairedPool>> {
    let path = dir.join(unpaired_file_name(size));
    if !path.exists() {
        return Ok(None);
    }
    let pool = crate::images::read_pool_cache(&path)?;
    let ids_path = dir.join(NSD_IDS_FILE);
    let text = std::fs::read_to_string(&ids_path).map_err(|e| FormatError::io(&ids_path, e))?;
    let test: BTreeSet<i64> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.strip_prefix("test,"))
        .filter_map(|l| l.split(',').nth(1)?.trim().parse().ok())
        .collect();
    if let Some(id) = pool.class_ids.iter().find(|i| test.contains(i)) {
        return invalid(
            &path,
            format!(
                "holds NSD image {id}, a test image of this dataset; rebuild it with `vox2pix convert nsd --unpaired`"
            ),
        );
    }
    if pool.pixels.shape()[1] != size {
        return invalid(
            &path,
            format!(
                "holds {} px images; the dataset's are {size} px",
                pool.pixels.shape()[1]
            ),
        );
    }
    Ok(Some(pool))
}
