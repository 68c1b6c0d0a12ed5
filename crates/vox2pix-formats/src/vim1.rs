//! vim-1 (Kay, Naselaris, Prenger & Gallant 2008; CRCNS `vc/vim-1`) → the dataset model, from the two files as
//! downloaded: `EstimatedResponses.mat` (MATLAB v7.3, i.e. HDF5) and `Stimuli.mat` (a MATLAB v5/v7 file; a
//! v7.3 re-save reads the same way, [`crate::mat5`]).
//!
//! What the files hold (keys and layout in `docs/data-formats.md` §vim-1):
//! - `dataTrnS<N>` / `dataValS<N>`: per-voxel estimated responses (one beta per image) to the 1,750 training
//!   and 120 validation images, MATLAB `voxels × images`; `roiS<N>`: the ROI code of each voxel (0 none,
//!   1 V1, 2 V2, 3 V3, 4 V3A, 5 V3B, 6 V4, 7 lateral occipital);
//! - `stimTrn` / `stimVal`: the grayscale images, MATLAB `images × 128 × 128`.
//!
//! Conversion decisions, each recorded in the manifest's notes:
//! - **Test set** = the 120 validation images. The responses are already estimates over repeats, so every test
//!   image has one "trial" (`y_test` = `y_test_avg`), and there are no runs. The noise ceiling is unknown
//!   (stored as 0, which the evaluator reads as "no ceiling") and the SNR weights are uniform (1).
//! - **Voxels**: those in one of the seven ROIs (`VoxelSelection::Vc`, the default) or all. A voxel with any
//!   NaN/Inf response (the real files have some) is dropped, and the warning names how many and the first.
//! - **ROI masks**: V1, V2, V3, V4 from their codes; LOC = lateral occipital; FFA and PPA are empty (vim-1 has
//!   no such ROIs); LVC = V1 ∪ V2 ∪ V3; HVC = LOC; VC = all seven; V3A and V3B are kept as extra masks.
//! - **Images**: pixel values are mapped to 0–255 by the range the whole stimulus set spans ([`PixelRange`]);
//!   each gray image is replicated into R, G and B (what E's ImageNet backbone expects) and resized like GOD
//!   stimuli (bicubic, to `size`). The images carry no class labels, so semantic classification does not apply.
use crate::dataset::{Dataset, ImageSet, SubjectData};
use crate::error::{ErrorKind, FormatError};
use crate::mat5::{read_variable, MatVariable};
use anyhow::{Context, Result};
use ndarray::{Array1, Array2, Array4};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// vim-1's ROI codes (`roiS<N>`) and the names vox2pix gives them.
pub const ROI_CODES: [(u8, &str); 7] = [
    (1, "V1"),
    (2, "V2"),
    (3, "V3"),
    (4, "V3A"),
    (5, "V3B"),
    (6, "V4"),
    (7, "LOC"),
];

/// Which voxels a conversion keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoxelSelection {
    /// Voxels in one of the seven ROIs (code 1–7).
    Vc,
    /// Every voxel in the file.
    All,
}

impl std::str::FromStr for VoxelSelection {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "vc" => Ok(Self::Vc),
            "all" => Ok(Self::All),
            other => Err(format!(
                "unknown voxel selection '{other}': use vc (the seven ROIs) or all"
            )),
        }
    }
}

/// What to convert.
#[derive(Clone, Debug)]
pub struct Vim1Options {
    /// `EstimatedResponses.mat`.
    pub responses: PathBuf,
    /// `Stimuli.mat`.
    pub stimuli: PathBuf,
    /// Subject 1 or 2.
    pub subject: u32,
    /// Which voxels to keep.
    pub voxels: VoxelSelection,
    /// Side of the square images written.
    pub size: usize,
}

/// How stored pixel values map to 0–255, chosen from the range the whole stimulus set spans. The vim-1
/// release stores the images zero-centred (roughly −0.5 to 0.5, with a few values just outside, which public
/// loaders clip after adding 0.5), so that is [`PixelRange::Centered`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PixelRange {
    /// Values in [0, 1]: × 255.
    Unit,
    /// Zero-centred values within [−0.6, 0.6], some below 0: + 0.5, × 255, clipped to 0–255.
    Centered,
    /// Values within [−1, 1], some below −0.6 or above 0.6: (v + 1) / 2 × 255.
    Signed,
    /// Values in [0, 255] with some above 1: as they are.
    Byte,
}

impl PixelRange {
    /// The mapping for values spanning `[lo, hi]`, or an error naming the range.
    pub fn of(lo: f64, hi: f64, what: &str) -> Result<Self> {
        const EPS: f64 = 1e-6;
        if !(lo.is_finite() && hi.is_finite()) {
            invalid(format!(
                "{what}: pixel values include NaN or Inf; the stimulus file is damaged"
            ))
        } else if lo >= -EPS && hi <= 1.0 + EPS {
            Ok(Self::Unit)
        } else if lo >= -0.6 && hi <= 0.6 {
            Ok(Self::Centered)
        } else if lo >= -1.0 - EPS && hi <= 1.0 + EPS {
            Ok(Self::Signed)
        } else if lo >= -EPS && hi <= 255.0 + EPS {
            Ok(Self::Byte)
        } else {
            invalid(format!(
                "{what}: pixel values span [{lo}, {hi}], which is none of [0, 1], [−0.6, 0.6], [−1, 1] or \
                 [0, 255]; is this the vim-1 Stimuli.mat?"
            ))
        }
    }

    /// One value before clipping, on the 0–255 scale.
    fn scaled(self, v: f64) -> f64 {
        match self {
            Self::Unit => v * 255.0,
            Self::Centered => (v + 0.5) * 255.0,
            Self::Signed => (v + 1.0) * 127.5,
            Self::Byte => v,
        }
    }

    /// Whether a value falls outside 0–255 under this mapping (and is clipped).
    pub fn clips(self, v: f64) -> bool {
        let x = self.scaled(v).round();
        !(0.0..=255.0).contains(&x)
    }

    /// One value as a byte.
    pub fn to_u8(self, v: f64) -> u8 {
        self.scaled(v).round().clamp(0.0, 255.0) as u8
    }
}

fn invalid<T>(msg: String) -> Result<T> {
    Err(FormatError::new(ErrorKind::Invalid, msg).into())
}

/// The result of reading vim-1: the dataset and what the user should know about the conversion.
#[derive(Clone, Debug)]
pub struct Vim1Conversion {
    /// The converted dataset.
    pub dataset: Dataset,
    /// For the user (e.g. voxels dropped for NaN responses).
    pub warnings: Vec<String>,
    /// The decisions taken, for the manifest's notes.
    pub notes: Vec<String>,
    /// Indices (0-based, in the file's voxel order) of the voxels kept.
    pub kept_voxels: Vec<usize>,
}

/// Responses as `[images, voxels]`, from a MATLAB `voxels × images` (or `images × voxels`) matrix.
fn responses(var: &MatVariable, n_images: usize, path: &Path) -> Result<Array2<f64>> {
    let d = var.squeezed_dims();
    let (n_vox, images_first) = match d.as_slice() {
        [v, n] if *n == n_images => (*v, false),
        [n, v] if *n == n_images => (*v, true),
        _ => {
            return invalid(format!(
                "{}: `{}` has size {d:?}, but the stimulus file has {n_images} images; expected voxels × {n_images} \
                 (are the two files of the same release?)",
                path.display(),
                var.name
            ))
        }
    };
    Ok(Array2::from_shape_fn((n_images, n_vox), |(i, v)| {
        if images_first {
            var.at(&[i, v])
        } else {
            var.at(&[v, i])
        }
    }))
}

/// Gray images as `[n, H, W]` values, from MATLAB `n × H × W` (or `H × W × n`).
fn stimuli(var: &MatVariable, path: &Path) -> Result<(usize, usize, usize, bool)> {
    let d = var.squeezed_dims();
    match d.as_slice() {
        [n, h, w] if h == w && n != h => Ok((*n, *h, *w, true)),
        [h, w, n] if h == w && n != h => Ok((*n, *h, *w, false)),
        [n, h, w] => Ok((*n, *h, *w, true)),
        _ => invalid(format!(
            "{}: `{}` has size {d:?}; expected images × height × width (grayscale)",
            path.display(),
            var.name
        )),
    }
}

/// The images of one stimulus variable, as RGB bytes resized to `size`.
fn image_set(var: &MatVariable, range: PixelRange, size: usize, path: &Path) -> Result<Array4<u8>> {
    let (n, h, w, images_first) = stimuli(var, path)?;
    let mut out = Array4::<u8>::zeros((n, size, size, 3));
    for i in 0..n {
        let gray = image::GrayImage::from_fn(w as u32, h as u32, |x, y| {
            let (r, c) = (y as usize, x as usize);
            let v = if images_first {
                var.at(&[i, r, c])
            } else {
                var.at(&[r, c, i])
            };
            image::Luma([range.to_u8(v)])
        });
        crate::images::prepare_into(&mut out, i, &image::DynamicImage::ImageLuma8(gray));
    }
    Ok(out)
}

/// Reads and converts one subject.
pub fn read_vim1(o: &Vim1Options) -> Result<Vim1Conversion> {
    if !(1..=2).contains(&o.subject) {
        return invalid(format!("--subject {}: vim-1 has subjects 1 and 2", o.subject));
    }
    if !(8..=1024).contains(&o.size) {
        return invalid(format!("--size {}: must be between 8 and 1024 px", o.size));
    }
    let s = o.subject;
    let stim_trn = read_variable(&o.stimuli, "stimTrn")?;
    let stim_val = read_variable(&o.stimuli, "stimVal")?;
    let (n_trn, ..) = stimuli(&stim_trn, &o.stimuli)?;
    let (n_val, ..) = stimuli(&stim_val, &o.stimuli)?;
    let (lo, hi) = stim_trn
        .data
        .iter()
        .chain(&stim_val.data)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let range = PixelRange::of(lo, hi, &o.stimuli.display().to_string())?;
    let n_pixels = stim_trn.data.len() + stim_val.data.len();
    let clipped = stim_trn
        .data
        .iter()
        .chain(&stim_val.data)
        .filter(|&&v| range.clips(v))
        .count();

    let trn = responses(
        &read_variable(&o.responses, &format!("dataTrnS{s}"))?,
        n_trn,
        &o.responses,
    )?;
    let val = responses(
        &read_variable(&o.responses, &format!("dataValS{s}"))?,
        n_val,
        &o.responses,
    )?;
    let roi_var = read_variable(&o.responses, &format!("roiS{s}"))?;
    let n_vox = trn.ncols();
    if val.ncols() != n_vox || roi_var.data.len() != n_vox {
        return invalid(format!(
            "{}: dataTrnS{s} has {n_vox} voxels, dataValS{s} {} and roiS{s} {}; they must agree",
            o.responses.display(),
            val.ncols(),
            roi_var.data.len()
        ));
    }
    let mut roi = Vec::with_capacity(n_vox);
    for (v, &code) in roi_var.data.iter().enumerate() {
        if !(0.0..=7.0).contains(&code) || code.fract() != 0.0 {
            return invalid(format!(
                "{}: roiS{s} voxel {v} has code {code}; vim-1 ROI codes are 0–7",
                o.responses.display()
            ));
        }
        roi.push(code as u8);
    }

    let finite = |v: usize| trn.column(v).iter().chain(val.column(v).iter()).all(|x| x.is_finite());
    let mut warnings = Vec::new();
    let selected: Vec<usize> = (0..n_vox)
        .filter(|&v| o.voxels == VoxelSelection::All || roi[v] > 0)
        .collect();
    let bad: Vec<usize> = selected.iter().copied().filter(|&v| !finite(v)).collect();
    if let Some(&first) = bad.first() {
        let n_bad_values = bad
            .iter()
            .map(|&v| {
                trn.column(v)
                    .iter()
                    .chain(val.column(v).iter())
                    .filter(|x| !x.is_finite())
                    .count()
            })
            .sum::<usize>();
        warnings.push(format!(
            "{}: {} of {} selected voxels have NaN/Inf responses ({n_bad_values} values; first: voxel {first}, \
             ROI code {}); those voxels were dropped",
            o.responses.display(),
            bad.len(),
            selected.len(),
            roi[first]
        ));
    }
    let kept: Vec<usize> = selected.into_iter().filter(|v| !bad.contains(v)).collect();
    if kept.is_empty() {
        return invalid(format!(
            "{}: no voxel of subject {s} is left after the selection and dropping NaN voxels",
            o.responses.display()
        ));
    }
    let pick = |a: &Array2<f64>| a.select(ndarray::Axis(1), &kept).mapv(|x| x as f32);
    let (y_train, y_val) = (pick(&trn), pick(&val));
    let mut rois: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    let mask = |codes: &[u8]| kept.iter().map(|&v| codes.contains(&roi[v])).collect::<Vec<bool>>();
    for (code, name) in ROI_CODES {
        rois.insert(name.to_string(), mask(&[code]));
    }
    rois.insert("FFA".into(), vec![false; kept.len()]);
    rois.insert("PPA".into(), vec![false; kept.len()]);
    rois.insert("LVC".into(), mask(&[1, 2, 3]));
    rois.insert("HVC".into(), mask(&[7]));
    rois.insert("VC".into(), mask(&[1, 2, 3, 4, 5, 6, 7]));
    let v = kept.len();
    let subject = SubjectData {
        y_test: y_val.clone(),
        y_test_avg: y_val,
        y_train,
        train_labels: Array1::from_iter(0..n_trn as i64),
        test_labels: Array1::from_iter(0..n_val as i64),
        noise_ceiling: Array1::zeros(v),
        snr: Array1::ones(v),
        rois,
        train_runs: None,
        test_runs: None,
    };
    let dataset = Dataset {
        subject,
        train_images: ImageSet {
            pixels: image_set(&stim_trn, range, o.size, &o.stimuli)?,
            class_ids: None,
        },
        test_images: ImageSet {
            pixels: image_set(&stim_val, range, o.size, &o.stimuli)?,
            class_ids: None,
        },
    };
    dataset
        .validate()
        .with_context(|| format!("converting {}", o.responses.display()))?;
    let notes = vec![
        format!(
            "converted by vox2pix convert vim1 from {} and {} (subject {s}); steps: docs/data-formats.md §vim-1",
            o.responses.display(),
            o.stimuli.display()
        ),
        format!(
            "voxels: {} ({v} of {n_vox}{}); test set = the {n_val} validation images, one averaged response each",
            match o.voxels {
                VoxelSelection::Vc => "the seven ROIs",
                VoxelSelection::All => "all",
            },
            if bad.is_empty() {
                String::new()
            } else {
                format!(", {} dropped for NaN/Inf", bad.len())
            }
        ),
        format!(
            "images: grayscale, pixel range [{lo}, {hi}] read as {range:?} ({clipped} of {n_pixels} values \
             clipped to 0–255), replicated to RGB, resized to {} px",
            o.size
        ),
        "noise ceiling unknown (stored as 0); SNR weights uniform (1); no class labels".to_string(),
    ];
    Ok(Vim1Conversion {
        dataset,
        warnings,
        notes,
        kept_voxels: kept,
    })
}

/// Converts one subject and writes it to `out` in the SelfSuperReconst layout (`sbj_<N>.npz`,
/// `images_<size>.npz`) with a manifest (`source = "vim1"`). A failed write removes what it wrote, so no
/// half-dataset is left that would load.
pub fn convert_vim1(o: &Vim1Options, out: &Path) -> Result<Vim1Conversion> {
    let c = read_vim1(o)?;
    let written = [
        crate::layout::subject_file_name(o.subject),
        crate::layout::images_file_name(o.size),
    ];
    let res = crate::layout::write_dataset(out, o.subject, &c.dataset).and_then(|()| {
        crate::manifest::write_manifest(
            out,
            &crate::manifest::DatasetManifest::converted("vim1", o.subject, &c.dataset, c.notes.clone()),
        )
    });
    if res.is_err() {
        for f in &written {
            let _ = std::fs::remove_file(out.join(f));
        }
    }
    res.map(|()| c)
}

/// `vox2pix info` on a raw vim-1 file: the variables, their MATLAB sizes, and for a responses file the
/// voxels per ROI and how many have NaN responses, per subject.
pub fn summarize(path: &Path) -> Result<String> {
    use std::fmt::Write as _;
    let names = crate::mat5::list_variables(path)?;
    let mut s = format!("{} (MATLAB MAT-file, vim-1)\n", path.display());
    for name in &names {
        match read_variable(path, name) {
            Ok(v) => {
                let (lo, hi) = v
                    .data
                    .iter()
                    .filter(|x| x.is_finite())
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
                let nan = v.data.iter().filter(|x| !x.is_finite()).count();
                let _ = writeln!(s, "  {name}: {:?}, values [{lo:.4}, {hi:.4}], {nan} NaN/Inf", v.dims);
            }
            Err(e) => {
                let _ = writeln!(s, "  {name}: not read ({e:#})");
            }
        }
    }
    for subject in 1..=2u32 {
        let roi_name = format!("roiS{subject}");
        if !names.contains(&roi_name) {
            continue;
        }
        let roi = read_variable(path, &roi_name)?;
        let trn = read_variable(path, &format!("dataTrnS{subject}")).ok();
        let per: Vec<String> = std::iter::once((0u8, "none"))
            .chain(ROI_CODES)
            .map(|(code, n)| format!("{n} {}", roi.data.iter().filter(|&&c| c == code as f64).count()))
            .collect();
        let _ = writeln!(
            s,
            "subject {subject}: {} voxels; by ROI: {}",
            roi.data.len(),
            per.join(", ")
        );
        if let Some(t) = trn {
            let n_vox = roi.data.len();
            if n_vox > 0 && t.data.len() % n_vox == 0 {
                let n_img = t.data.len() / n_vox;
                let voxels_first = t.squeezed_dims().first() == Some(&n_vox);
                let bad = (0..n_vox)
                    .filter(|&v| {
                        (0..n_img).any(|i| {
                            let x = if voxels_first { t.at(&[v, i]) } else { t.at(&[i, v]) };
                            !x.is_finite()
                        })
                    })
                    .count();
                if bad > 0 {
                    let _ = writeln!(
                        s,
                        "WARNING: subject {subject}: {bad} voxels have NaN/Inf training responses; \
                         `convert vim1` drops them"
                    );
                }
            }
        }
    }
    Ok(s)
}
