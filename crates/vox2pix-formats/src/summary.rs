//! The dataset summary `vox2pix info` prints: loads and validates a dataset (folder or single `sbj_N.npz`) and
//! computes trials per split, repeats per test image, voxels per ROI, reliability quantiles, images and classes.
use crate::dataset::{Dataset, SubjectData};
use crate::layout;
use crate::manifest::{read_manifest, DatasetManifest};
use crate::preprocess::{calc_snr, ncsnr, noise_ceiling};
use anyhow::{Context, Result};
use std::fmt;
use std::path::PathBuf;

/// Quantile levels reported for per-voxel statistics.
pub const QUANTILES: [f64; 5] = [0.05, 0.25, 0.50, 0.75, 0.95];

/// What `vox2pix info` reports.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetSummary {
    /// The `sbj_N.npz` file summarised.
    pub subject_file: PathBuf,
    /// The images file beside it, if any.
    pub images_file: Option<PathBuf>,
    /// Subject number N.
    pub subject: u32,
    /// Number of voxels V.
    pub n_voxels: usize,
    /// Training trials (rows of `arr_0`).
    pub n_train_trials: usize,
    /// Test trials, repeats included (rows of `arr_1`).
    pub n_test_trials: usize,
    /// Distinct test images (rows of `arr_2`).
    pub n_test_images: usize,
    /// Smallest and largest number of repeats of a test image.
    pub test_repeats: (usize, usize),
    /// (distinct train runs, distinct test runs) when the file carries run ids.
    pub runs: Option<(usize, usize)>,
    /// (ROI name, voxel count), standard ROIs first.
    pub roi_voxels: Vec<(String, usize)>,
    /// Recomputed `calc_snr` quantiles.
    pub snr_q: [f32; 5],
    /// Stored `arr_6` quantiles.
    pub stored_snr_q: [f32; 5],
    /// The n of NC(n) for the test averages: the median repeat count.
    pub nc_n: usize,
    /// NC(nc_n), recomputed, and NC(1), in percent.
    pub nc_avg_q: [f32; 5],
    /// NC(1) quantiles (single trials), recomputed, in percent.
    pub nc_single_q: [f32; 5],
    /// Stored `arr_5` quantiles.
    pub stored_nc_q: [f32; 5],
    /// (train images, test images, height, width) when an images file is present.
    pub images: Option<(usize, usize, usize, usize)>,
    /// (distinct train classes, distinct test classes) when class ids are known.
    pub classes: Option<(usize, usize)>,
    /// The folder's `manifest.json`, if any.
    pub manifest: Option<DatasetManifest>,
}

impl DatasetSummary {
    /// Loads and validates the dataset at `path` and summarises it.
    pub fn load(path: &std::path::Path, subject: Option<u32>) -> Result<Self> {
        let files = layout::locate(path, subject)?;
        let manifest = read_manifest(&files.dir)?;
        let subject_data = layout::load_subject(&files.subject_file)?;
        let images = match &files.images_file {
            Some(f) => {
                let (train_images, test_images) = layout::load_images(f)?;
                let ds = Dataset {
                    subject: subject_data.clone(),
                    train_images,
                    test_images,
                };
                ds.validate()
                    .with_context(|| format!("{} and {} do not match", files.subject_file.display(), f.display()))?;
                Some(ds)
            }
            None => None,
        };
        let s = &subject_data;
        let n_img = s.n_test_images();
        let mut counts = vec![0usize; n_img];
        for &l in s.test_labels.iter() {
            counts[l as usize] += 1; // labels validated to lie in 0..n_img
        }
        let mut sorted_counts = counts.clone();
        sorted_counts.sort_unstable();
        let median_reps = sorted_counts.get(n_img / 2).copied().unwrap_or(1).max(1);
        let labels = s.test_labels.to_vec();
        let snr = calc_snr(&s.y_test, &labels, n_img);
        let nc = ncsnr(&s.y_test, &labels, n_img);
        let classes_of = |ds: &Dataset| -> Option<(usize, usize)> {
            let distinct = |c: &Vec<i64>| c.iter().collect::<std::collections::BTreeSet<_>>().len();
            Some((
                distinct(ds.train_images.class_ids.as_ref()?),
                distinct(ds.test_images.class_ids.as_ref()?),
            ))
        };
        let classes = images.as_ref().and_then(classes_of).or_else(|| {
            manifest.as_ref().map(|m| {
                let distinct = |c: &Vec<i64>| c.iter().collect::<std::collections::BTreeSet<_>>().len();
                (distinct(&m.train_classes), distinct(&m.test_classes))
            })
        });
        Ok(DatasetSummary {
            subject_file: files.subject_file.clone(),
            images_file: files.images_file.clone(),
            subject: files.subject,
            n_voxels: s.n_voxels(),
            n_train_trials: s.y_train.nrows(),
            n_test_trials: s.y_test.nrows(),
            n_test_images: n_img,
            test_repeats: (
                sorted_counts.first().copied().unwrap_or(0),
                sorted_counts.last().copied().unwrap_or(0),
            ),
            runs: distinct_runs(s),
            roi_voxels: s
                .roi_names()
                .into_iter()
                .map(|n| (n.clone(), s.rois[&n].iter().filter(|&&m| m).count()))
                .collect(),
            snr_q: quantiles(snr.as_slice().unwrap_or(&[])),
            stored_snr_q: quantiles(&s.snr.to_vec()),
            nc_n: median_reps,
            nc_avg_q: quantiles(&noise_ceiling(&nc, median_reps).to_vec()),
            nc_single_q: quantiles(&noise_ceiling(&nc, 1).to_vec()),
            stored_nc_q: quantiles(&s.noise_ceiling.to_vec()),
            images: images.as_ref().map(|d| {
                let (tr, te) = (d.train_images.pixels.shape(), d.test_images.pixels.shape());
                (tr[0], te[0], tr[1], tr[2])
            }),
            classes,
            manifest,
        })
    }
}

fn distinct_runs(s: &SubjectData) -> Option<(usize, usize)> {
    let count = |r: &Vec<u32>| r.iter().collect::<std::collections::BTreeSet<_>>().len();
    Some((count(s.train_runs.as_ref()?), count(s.test_runs.as_ref()?)))
}

/// Linear-interpolation quantiles (NumPy's default method) at [`QUANTILES`]; NaN for an empty input.
pub fn quantiles(values: &[f32]) -> [f32; 5] {
    let mut v: Vec<f32> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    QUANTILES.map(|q| {
        if v.is_empty() {
            return f32::NAN;
        }
        let pos = q * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        (v[lo] as f64 + (v[hi] as f64 - v[lo] as f64) * (pos - lo as f64)) as f32
    })
}

fn fmt_q(q: &[f32; 5]) -> String {
    q.iter().map(|x| format!("{x:>9.3}")).collect::<Vec<_>>().join(" ")
}

impl fmt::Display for DatasetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "dataset      {}", self.subject_file.display())?;
        if let Some(m) = &self.manifest {
            write!(f, "source       {} (format {})", m.source, m.format_version)?;
            if let Some(seed) = m.seed {
                write!(f, ", seed {seed}")?;
            }
            if let Some(g) = &m.generator_version {
                write!(f, ", generator {g}")?;
            }
            writeln!(f)?;
        }
        writeln!(f, "subject      {}", self.subject)?;
        writeln!(f, "voxels       {}", self.n_voxels)?;
        writeln!(f, "train        {} single trials", self.n_train_trials)?;
        let (lo, hi) = self.test_repeats;
        let reps = if lo == hi {
            format!("{lo}")
        } else {
            format!("{lo}–{hi}")
        };
        writeln!(
            f,
            "test         {} trials = {} images × {} repeats",
            self.n_test_trials, self.n_test_images, reps
        )?;
        if let Some((tr, te)) = self.runs {
            writeln!(f, "runs         {tr} train, {te} test")?;
        }
        writeln!(f, "ROIs (voxels)")?;
        for (name, n) in &self.roi_voxels {
            writeln!(f, "  {name:<8} {n}")?;
        }
        let n = self.nc_n;
        writeln!(
            f,
            "per-voxel quantiles    {}",
            ["5%", "25%", "50%", "75%", "95%"].map(|s| format!("{s:>9}")).join(" ")
        )?;
        writeln!(f, "  SNR (calc_snr)       {}", fmt_q(&self.snr_q))?;
        writeln!(f, "  SNR stored (arr_6)   {}", fmt_q(&self.stored_snr_q))?;
        // With one repeat per test image the test-average ceiling is NC(1): print it once.
        if n != 1 {
            writeln!(f, "  {:<21}{}", format!("NC({n}) %"), fmt_q(&self.nc_avg_q))?;
        }
        writeln!(f, "  NC(1) %              {}", fmt_q(&self.nc_single_q))?;
        writeln!(f, "  NC stored (arr_5) %  {}", fmt_q(&self.stored_nc_q))?;
        match (&self.images, &self.images_file) {
            (Some((tr, te, h, w)), Some(file)) => {
                writeln!(f, "images       {tr} train + {te} test, {h}×{w}×3 ({})", file.display())?
            }
            _ => writeln!(f, "images       none found beside the subject file (images_<size>.npz)")?,
        }
        match self.classes {
            Some((0, 0)) => writeln!(f, "classes      none (the images carry no class labels, e.g. vim-1)")?,
            Some((tr, te)) => writeln!(f, "classes      {tr} train, {te} test")?,
            None => writeln!(
                f,
                "classes      unknown (no class ids in the images file and no manifest.json)"
            )?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy_linear_method() {
        // np.percentile([4, 1, 3, 2], [5, 25, 50, 75, 95]) = 1.15, 1.75, 2.5, 3.25, 3.85
        let q = quantiles(&[4.0, 1.0, 3.0, 2.0]);
        for (got, want) in q.iter().zip([1.15f32, 1.75, 2.5, 3.25, 3.85]) {
            assert!((got - want).abs() < 1e-6, "{q:?}");
        }
        assert_eq!(quantiles(&[7.0, f32::NAN]), [7.0; 5]);
        assert!(quantiles(&[]).iter().all(|x| x.is_nan()));
    }
}
