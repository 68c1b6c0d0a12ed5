//! bdpy BData HDF5 files (GOD `Subject1.h5` … `Subject5.h5`; `docs/data-formats.md` §1.3): the raw table
//! ([`BData`]), column selection by metadata key, the GOD trial view ([`GodTrials`]) and the stimulus id ↔
//! `n########_#####.JPEG` mapping (§1.2).
use crate::error::{ErrorKind, FormatError};
use crate::hdf5::{self, Hdf5Source};
use crate::ROI_NAMES;
use anyhow::Result;
use ndarray::Array2;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `bail!` with an [`ErrorKind::Invalid`] [`FormatError`] holding the same message: the file is valid HDF5 but
/// not usable BData (a missing key, mismatched counts, a label out of range).
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err(FormatError::new(ErrorKind::Invalid, format!($($arg)*)).into())
    };
}

/// An [`ErrorKind::Invalid`] [`FormatError`] with the message `format!(...)`.
macro_rules! invalid_err {
    ($($arg:tt)*) => {
        FormatError::new(ErrorKind::Invalid, format!($($arg)*))
    };
}

/// A BData file as stored: one float table plus per-column metadata rows.
#[derive(Clone, Debug)]
pub struct BData {
    /// The file this table was read from (`<in memory>` for one built by [`BData::from_dataset`]).
    pub path: PathBuf,
    /// `/dataset` (older files: `/dataSet`), `[n_samples, n_columns]`.
    pub dataset: Array2<f64>,
    /// `/metadata/key`, one name per metadata row.
    pub keys: Vec<String>,
    /// `/metadata/description`, free text per key (empty strings where the file has none).
    pub descriptions: Vec<String>,
    /// `/metadata/value`, `[n_keys, n_columns]`; NaN = not applicable.
    pub values: Array2<f64>,
}

impl BData {
    /// Reads a BData HDF5 file, accepting both the `dataset`/`metadata` and the older `dataSet`/`metaData`
    /// spellings and both string kinds (variable- and fixed-length).
    pub fn open(path: &Path) -> Result<BData> {
        let h5 = hdf5::open(path)?;
        Self::from_source(h5.as_ref())
    }

    fn from_source(h5: &dyn Hdf5Source) -> Result<BData> {
        let file = h5.path().display().to_string();
        let data_name = ["/dataset", "/dataSet"]
            .into_iter()
            .find(|n| h5.has_dataset(n))
            .ok_or_else(|| {
                invalid_err!("{file}: no /dataset (or older /dataSet) table; this is not a bdpy BData file")
            })?;
        let meta = ["/metadata", "/metaData"]
            .into_iter()
            .find(|n| h5.has_group(n))
            .ok_or_else(|| {
                invalid_err!(
                    "{file}: no /metadata (or older /metaData) group; a BData file needs metadata/key and \
                 metadata/value to know which columns hold voxels and labels — re-export it with bdpy"
                )
            })?;
        for part in ["key", "value"] {
            if !h5.has_dataset(&format!("{meta}/{part}")) {
                invalid!("{file}: {meta}/{part} is missing; a BData file needs both {meta}/key and {meta}/value");
            }
        }
        let dataset = read_matrix(h5, data_name)?;
        let keys = h5.read_strings(&format!("{meta}/key"))?;
        let values = read_matrix(h5, &format!("{meta}/value"))?;
        let descriptions = if h5.has_dataset(&format!("{meta}/description")) {
            h5.read_strings(&format!("{meta}/description"))?
        } else {
            vec![String::new(); keys.len()]
        };
        if values.nrows() != keys.len() {
            invalid!(
                "{file}: {meta}/value has {} rows but {meta}/key names {} keys; they must match",
                values.nrows(),
                keys.len()
            );
        }
        if values.ncols() != dataset.ncols() {
            invalid!(
                "{file}: {meta}/value has {} columns but {data_name} has {}; every data column needs its metadata",
                values.ncols(),
                dataset.ncols()
            );
        }
        if descriptions.len() != keys.len() {
            invalid!(
                "{file}: {meta}/description has {} entries for {} keys",
                descriptions.len(),
                keys.len()
            );
        }
        Ok(BData {
            path: h5.path().to_path_buf(),
            dataset,
            keys,
            descriptions,
            values,
        })
    }

    /// Number of samples (rows of the table).
    pub fn n_samples(&self) -> usize {
        self.dataset.nrows()
    }

    /// The metadata row of `key`, or an error that lists the keys the file has.
    pub fn metadata_row(&self, key: &str) -> Result<ndarray::ArrayView1<'_, f64>> {
        match self.keys.iter().position(|k| k == key) {
            Some(i) => Ok(self.values.row(i)),
            None => invalid!(
                "{}: metadata key '{key}' does not exist; the file has: {}",
                self.path.display(),
                self.keys.join(", ")
            ),
        }
    }

    /// Whether the metadata has a row named `key`.
    pub fn has_key(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k == key)
    }

    /// Columns whose `key` metadata value is 1 (bdpy `select(key)` for a plain key).
    pub fn select(&self, key: &str) -> Result<Vec<usize>> {
        let row = self.metadata_row(key)?;
        Ok(row
            .iter()
            .enumerate()
            .filter(|(_, &v)| v == 1.0)
            .map(|(j, _)| j)
            .collect())
    }

    /// The single column marked by `key` (a per-sample label such as `DataType` or `Run`).
    pub fn label(&self, key: &str) -> Result<Vec<f64>> {
        let cols = self.select(key)?;
        match cols.as_slice() {
            [j] => Ok(self.dataset.column(*j).to_vec()),
            _ => invalid!(
                "{}: metadata key '{key}' marks {} columns; a per-sample label must mark exactly one",
                self.path.display(),
                cols.len()
            ),
        }
    }

    /// The first of `keys` that exists, as a label column (e.g. `stimulus_id`, else the older `Label`).
    pub fn label_any(&self, keys: &[&str]) -> Result<(String, Vec<f64>)> {
        match keys.iter().find(|k| self.has_key(k)) {
            Some(k) => Ok((k.to_string(), self.label(k)?)),
            None => invalid!(
                "{}: none of the label keys {} exists; the file has: {}",
                self.path.display(),
                keys.join(" / "),
                self.keys.join(", ")
            ),
        }
    }

    /// Metadata keys that name ROIs (`ROI_*`).
    pub fn roi_keys(&self) -> Vec<&str> {
        self.keys
            .iter()
            .filter(|k| k.starts_with("ROI_"))
            .map(|k| k.as_str())
            .collect()
    }
}

impl BData {
    /// Writes this table as a BData HDF5 file (`dataset`/`metadata`, variable-length strings), atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        hdf5::write_bdata_file(path, &self.dataset, &self.keys, &self.descriptions, &self.values)
    }

    /// A GOD-shaped BData table from a vox2pix dataset (e.g. the synthetic world), so real-data tooling can be
    /// exercised on it: voxel columns carry the dataset's fMRI and `ROI_*` masks (`ROI_VC` = all voxels when the
    /// dataset has no VC mask); label columns are `DataType` (1 train, 2 test), `Run` (the dataset's runs, else
    /// 1), `Block` (position within the run, from 1) and `stimulus_id` from [`export_stimulus_ids`]. Training
    /// trials come first, then test trials, each in the dataset's order.
    pub fn from_dataset(ds: &crate::Dataset) -> Result<BData> {
        let s = &ds.subject;
        let (train_ids, test_ids) = export_stimulus_ids(ds)?;
        let v = s.n_voxels();
        let n_train = s.y_train.nrows();
        let n = n_train + s.y_test.nrows();
        let n_cols = v + 4;
        let mut dataset = Array2::<f64>::zeros((n, n_cols));
        let mut blocks: BTreeMap<(u32, u32), u32> = BTreeMap::new();
        for i in 0..n {
            let (dt, row, run, id) = if i < n_train {
                let l = s.train_labels[i] as usize;
                (
                    1u32,
                    s.y_train.row(i),
                    s.train_runs.as_ref().map_or(1, |r| r[i]),
                    train_ids[l],
                )
            } else {
                let t = i - n_train;
                let l = s.test_labels[t] as usize;
                (
                    2,
                    s.y_test.row(t),
                    s.test_runs.as_ref().map_or(1, |r| r[t]),
                    test_ids[l],
                )
            };
            for (j, &x) in row.iter().enumerate() {
                dataset[[i, j]] = x as f64;
            }
            let block = blocks.entry((dt, run)).or_default();
            *block += 1;
            for (k, x) in [dt as f64, run as f64, *block as f64, id].into_iter().enumerate() {
                dataset[[i, v + k]] = x;
            }
        }
        let mut keys = Vec::new();
        let mut rows: Vec<Vec<f64>> = Vec::new();
        let marker = |cols: std::ops::Range<usize>| {
            (0..n_cols)
                .map(|j| if cols.contains(&j) { 1.0 } else { f64::NAN })
                .collect::<Vec<f64>>()
        };
        keys.push("VoxelData".to_string());
        rows.push(marker(0..v));
        for (k, name) in ["DataType", "Run", "Block", "stimulus_id"].iter().enumerate() {
            keys.push(name.to_string());
            rows.push(marker(v + k..v + k + 1));
        }
        let mut rois = s.rois.clone();
        rois.entry("VC".into()).or_insert_with(|| vec![true; v]);
        for (name, mask) in &rois {
            keys.push(format!("ROI_{name}"));
            rows.push(
                (0..n_cols)
                    .map(|j| {
                        if j < v {
                            if mask[j] {
                                1.0
                            } else {
                                0.0
                            }
                        } else {
                            f64::NAN
                        }
                    })
                    .collect(),
            );
        }
        let descriptions = keys.iter().map(|k| format!("1 = {k}")).collect();
        let values = Array2::from_shape_vec((keys.len(), n_cols), rows.concat()).expect("rows of n_cols values");
        Ok(BData {
            path: PathBuf::from("<in memory>"),
            dataset,
            keys,
            descriptions,
            values,
        })
    }
}

/// GOD-style stimulus ids for a dataset's images: WordNet offset = the image's class id; image number = index + 1
/// for training images and 500,001 + index for test images, so the two sets never collide.
pub fn export_stimulus_ids(ds: &crate::Dataset) -> Result<(Vec<f64>, Vec<f64>)> {
    let ids = |set: &crate::ImageSet, first: u64, what: &str| -> Result<Vec<f64>> {
        let classes = set
            .class_ids
            .as_ref()
            .ok_or_else(|| invalid_err!("the {what} images have no class ids; GOD stimulus ids are built from them"))?;
        if classes.len() >= 500_000 {
            invalid!(
                "{} {what} images; stimulus ids hold at most 499,999 per set",
                classes.len()
            );
        }
        classes
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                if !(0..100_000_000).contains(&c) {
                    invalid!("{what} image {i} has class id {c}; a stimulus id needs a class in 0..1e8");
                }
                Ok(c as f64 + (first + i as u64) as f64 * 1e-6)
            })
            .collect()
    };
    Ok((
        ids(&ds.train_images, 1, "training")?,
        ids(&ds.test_images, 500_001, "test")?,
    ))
}

fn read_matrix(h5: &dyn Hdf5Source, name: &str) -> Result<Array2<f64>> {
    let shape = h5.shape(name)?;
    let (r, c) = match shape.as_slice() {
        [r, c] => (*r, *c),
        [n] => (1, *n),
        _ => invalid!(
            "{}: {name} has shape {shape:?}; expected a 2-D table",
            h5.path().display()
        ),
    };
    let data = h5.read_f64(name)?;
    Array2::from_shape_vec((r, c), data).map_err(|e| {
        FormatError::caused_by(
            ErrorKind::Corrupt,
            format!(
                "{}: {name} holds fewer values than its shape {shape:?} says",
                h5.path().display()
            ),
            e,
        )
        .into()
    })
}

/// GOD sample types (`DataType` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Split {
    /// DataType 1: training perception, each image once.
    Train,
    /// DataType 2: test perception, each image repeated (35× in GOD).
    Test,
    /// DataType 3: imagery; kept, never used for training or evaluation.
    Imagery,
}

impl Split {
    fn from_code(code: f64) -> Option<Split> {
        match code {
            1.0 => Some(Split::Train),
            2.0 => Some(Split::Test),
            3.0 => Some(Split::Imagery),
            _ => None,
        }
    }
}

/// The GOD trial table: voxel responses of one ROI (normally VC) plus the per-sample labels, in the file's
/// (presentation) order.
#[derive(Clone, Debug)]
pub struct GodTrials {
    /// `[n_samples, V]` raw voxel values of the selected ROI.
    pub voxels: Array2<f64>,
    /// Masks of [`ROI_NAMES`] over the V selected voxels; sub-ROIs the file lacks are absent.
    pub rois: BTreeMap<String, Vec<bool>>,
    /// Sample type of each row (`DataType`).
    pub split: Vec<Split>,
    /// Run number of each row (`Run`).
    pub run: Vec<u32>,
    /// Block number of each row (`Block`); `None` when the file has no integral Block column.
    pub block: Option<Vec<u32>>,
    /// `stimulus_id` (or `Label`) per sample.
    pub stimulus_id: Vec<f64>,
    /// Where the selected voxel data holds NaN/Inf, which samples and data columns (None when it holds none).
    /// `convert god` treats them as missing: left out of their run's mean and SD, then 0.
    pub missing: Option<String>,
}

impl GodTrials {
    /// Selects the voxels of `roi` (`VC` or `ROI_VC`; any `ROI_*` key works) and the GOD labels.
    pub fn from_bdata(b: &BData, roi: &str) -> Result<GodTrials> {
        let file = b.path.display();
        let roi_key = if roi.starts_with("ROI_") {
            roi.to_string()
        } else {
            format!("ROI_{roi}")
        };
        if !b.has_key(&roi_key) {
            invalid!(
                "{file}: ROI key '{roi_key}' does not exist; the ROI keys in this file are: {}",
                if b.roi_keys().is_empty() {
                    "(none)".to_string()
                } else {
                    b.roi_keys().join(", ")
                }
            );
        }
        let cols = b.select(&roi_key)?;
        if cols.is_empty() {
            invalid!("{file}: ROI '{roi_key}' selects no column (no metadata value equals 1)");
        }
        if b.has_key("VoxelData") {
            let voxel_row = b.metadata_row("VoxelData")?;
            if let Some(&j) = cols.iter().find(|&&j| voxel_row[j] != 1.0) {
                invalid!("{file}: ROI '{roi_key}' marks column {j}, which is not a VoxelData column");
            }
        }
        let voxels = b.dataset.select(ndarray::Axis(1), &cols);
        let missing = crate::dataset::NonFinite::find(voxels.view()).map(|nf| {
            let (r, c) = nf.first;
            format!(
                "{file}: the {roi_key} voxel data holds {} NaN/Inf values in {} voxels (first at sample {r}, \
                 voxel {c} = data column {}; data columns {})",
                nf.count,
                nf.voxels.len(),
                cols[c],
                nf.voxel_list(|v| cols[v])
            )
        });
        let mut rois = BTreeMap::new();
        for name in ROI_NAMES {
            let key = format!("ROI_{name}");
            if b.has_key(&key) {
                let row = b.metadata_row(&key)?;
                rois.insert(name.to_string(), cols.iter().map(|&j| row[j] == 1.0).collect());
            }
        }
        let data_type = b.label("DataType")?;
        let split = data_type
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                Split::from_code(c).ok_or_else(|| {
                    invalid_err!("{file}: sample {i} has DataType {c}; expected 1 (train), 2 (test) or 3 (imagery)")
                        .into()
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let run = to_ids(&b.label("Run")?, "Run", &b.path)?;
        // Block is informational only: a file whose Block column is not integral is read without it.
        let block = if b.has_key("Block") {
            to_ids(&b.label("Block")?, "Block", &b.path).ok()
        } else {
            None
        };
        let (_, stimulus_id) = b.label_any(&["stimulus_id", "Label"])?;
        Ok(GodTrials {
            voxels,
            rois,
            split,
            run,
            block,
            stimulus_id,
            missing,
        })
    }

    /// Row indices of one split, in file order.
    pub fn rows(&self, split: Split) -> Vec<usize> {
        (0..self.split.len()).filter(|&i| self.split[i] == split).collect()
    }

    /// Number of selected voxels V.
    pub fn n_voxels(&self) -> usize {
        self.voxels.ncols()
    }
}

fn to_ids(v: &[f64], key: &str, path: &Path) -> Result<Vec<u32>> {
    v.iter()
        .enumerate()
        .map(|(i, &x)| {
            if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= u32::MAX as f64 {
                Ok(x as u32)
            } else {
                invalid!(
                    "{}: sample {i} has {key} = {x}; expected a non-negative integer",
                    path.display()
                )
            }
        })
        .collect()
}

/// GOD stimulus id → image file name: `1443537.022563` → `n01443537_22563.JPEG`. The fractional part is
/// rounded, never truncated, because float storage loses trailing digits (`1518878.01491` → `_14910`).
pub fn stimulus_file_name(id: f64) -> Result<String> {
    let (wnid, image) = stimulus_parts(id)?;
    Ok(format!("n{wnid:08}_{image}.JPEG"))
}

/// The WordNet offset and the image number of a stimulus id.
pub fn stimulus_parts(id: f64) -> Result<(u64, u64)> {
    if !(0.0..1e8).contains(&id) {
        invalid!("stimulus id {id} is not of the form <wordnet offset>.<image number × 1e-6>");
    }
    let wnid = id.trunc();
    let image = ((id - wnid) * 1e6).round();
    if image >= 1e6 {
        invalid!("stimulus id {id} has an image number that rounds to 1000000; ids hold at most 6 fractional digits");
    }
    Ok((wnid as u64, image as u64))
}

/// Image file name → stimulus id: `n01443537_22563.JPEG` → `1443537.022563` (any extension).
pub fn parse_stimulus_file_name(name: &str) -> Result<f64> {
    let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name);
    let parsed = stem
        .strip_prefix('n')
        .and_then(|s| s.split_once('_'))
        .and_then(|(w, i)| {
            let wnid: u64 = w.parse().ok()?;
            let image: u64 = i.parse().ok()?;
            (image < 1_000_000).then_some((wnid, image))
        });
    match parsed {
        Some((wnid, image)) => Ok(wnid as f64 + image as f64 * 1e-6),
        None => invalid!("'{name}' is not a GOD stimulus file name like n01443537_22563.JPEG"),
    }
}

/// The `vox2pix info` text for a BData file: voxels per ROI, samples per split, runs, test images and repeats.
pub fn summarize(path: &Path) -> Result<String> {
    let b = BData::open(path)?;
    let mut s = String::new();
    let n_voxel_cols = if b.has_key("VoxelData") {
        b.select("VoxelData")?.len()
    } else {
        0
    };
    writeln!(s, "BData file {}", path.display())?;
    writeln!(
        s,
        "  table: {} samples × {} columns ({} voxel columns), {} metadata keys",
        b.n_samples(),
        b.dataset.ncols(),
        n_voxel_cols,
        b.keys.len()
    )?;
    let mut roi_line = String::from("  voxels per ROI:");
    for key in b.roi_keys() {
        write!(roi_line, " {}={}", key.trim_start_matches("ROI_"), b.select(key)?.len())?;
    }
    writeln!(s, "{roi_line}")?;
    let roi = if b.has_key("ROI_VC") {
        "ROI_VC"
    } else {
        b.roi_keys().first().copied().unwrap_or("ROI_VC")
    };
    let trials = GodTrials::from_bdata(&b, roi)?;
    if let Some(m) = &trials.missing {
        writeln!(
            s,
            "  WARNING {m}; `convert god` treats them as missing (left out of their run's z-score, then 0); \
             replace them (e.g. np.nan_to_num) to keep other values"
        )?;
    }
    for (split, name) in [
        (Split::Train, "train"),
        (Split::Test, "test"),
        (Split::Imagery, "imagery"),
    ] {
        let rows = trials.rows(split);
        if rows.is_empty() {
            writeln!(s, "  {name:<8} none")?;
            continue;
        }
        let mut runs: Vec<u32> = rows.iter().map(|&i| trials.run[i]).collect();
        runs.sort_unstable();
        runs.dedup();
        let mut per_image: BTreeMap<u64, usize> = BTreeMap::new();
        for &i in &rows {
            *per_image.entry(trials.stimulus_id[i].to_bits()).or_default() += 1;
        }
        let (lo, hi) = (
            per_image.values().min().copied().unwrap_or(0),
            per_image.values().max().copied().unwrap_or(0),
        );
        let repeats = if lo == hi {
            format!("{lo}")
        } else {
            format!("{lo}–{hi}")
        };
        writeln!(
            s,
            "  {name:<8} {} samples, {} runs, {} distinct stimuli, {repeats} repeats each",
            rows.len(),
            runs.len(),
            per_image.len()
        )?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stimulus_ids_round_trip_through_file_names() {
        assert_eq!(stimulus_file_name(1443537.022563).unwrap(), "n01443537_22563.JPEG");
        // Trailing zero lost in float storage: must round, not truncate.
        assert_eq!(stimulus_file_name(1518878.01491).unwrap(), "n01518878_14910.JPEG");
        // A value just below the exact decimal (float error) still maps to the right image.
        assert_eq!(
            stimulus_file_name(1443537.022563 - 1e-9).unwrap(),
            "n01443537_22563.JPEG"
        );
        for name in [
            "n01443537_22563.JPEG",
            "n01518878_14910.JPEG",
            "n13054560_1.JPEG",
            "n02071294_999999.png",
        ] {
            let id = parse_stimulus_file_name(name).unwrap();
            let stem = name.rsplit_once('.').unwrap().0;
            assert_eq!(stimulus_file_name(id).unwrap().rsplit_once('.').unwrap().0, stem);
        }
        assert!(stimulus_file_name(f64::NAN).is_err());
        assert!(stimulus_file_name(1443537.9999996).is_err());
        assert!(parse_stimulus_file_name("cat.jpg").is_err());
    }
}
