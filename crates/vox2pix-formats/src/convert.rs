//! GOD BData + stimulus images → the SelfSuperReconst npz layout (`vox2pix convert god`). The steps, in order,
//! are documented in `docs/real-data.md` §3 and reproduced independently by `tools/make_bdata_fixtures.py`:
//! select the ROI columns (VC) as f32; z-score every voxel within each (DataType, Run); split rows by DataType
//! (1 train, 2 test; imagery dropped); order the images (stimulus table order, else ascending stimulus id) and
//! sort trials stably by image index; average the test repeats; SNR and noise ceiling from the test repeats;
//! load and prepare the images; write the npz files and the manifest.
use crate::bdata::{stimulus_file_name, stimulus_parts, BData, GodTrials, Split};
use crate::dataset::{Dataset, ImageSet, SubjectData};
use crate::images::{cached_unpaired_pool, load_stimuli, PoolSpec, IMAGE_SIZE};
use crate::manifest::{write_manifest, DatasetManifest, MANIFEST_FORMAT_VERSION};
use crate::{layout, preprocess};
use anyhow::{bail, Context, Result};
use ndarray::{Array1, Axis};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Everything `convert god` needs.
#[derive(Clone, Debug)]
pub struct GodConvertOptions {
    /// The subject's BData HDF5 file (`Subject<N>.h5`).
    pub bdata: PathBuf,
    /// Folder of the GOD stimulus images (`n########_#####.JPEG`).
    pub stimuli: PathBuf,
    /// Output dataset folder (`sbj_N.npz`, `images_112.npz`, `manifest.json`).
    pub out: PathBuf,
    /// Subject number for `sbj_N.npz`; default: the digits of the file name (`Subject3.h5` → 3).
    pub subject: Option<u32>,
    /// ROI whose voxels form the dataset (default `VC`, as [NI22] trains on).
    pub roi: String,
    /// `stimulus_ImageNetTraining.tsv` / `imageID_training.csv`: fixes the training image order.
    pub train_table: Option<PathBuf>,
    /// `stimulus_ImageNetTest.tsv` / `imageID_test.csv`: fixes the test image order.
    pub test_table: Option<PathBuf>,
    /// Optional unpaired pool: class-folder tree, images per class, seed.
    pub pool: Option<(PathBuf, usize, u64)>,
}

/// Identity of a GOD image, exact where the float id is not: (WordNet offset, image number).
type StimKey = (u64, u64);

/// The preprocessed fMRI of one subject plus the image order it refers to.
pub struct GodSubject {
    /// The preprocessed fMRI, labels and ROI masks.
    pub data: SubjectData,
    /// The training image of each `train_labels` index, as (WordNet offset, image number).
    pub train_images: Vec<StimKey>,
    /// The test image of each `test_labels` index, as (WordNet offset, image number).
    pub test_images: Vec<StimKey>,
}

/// Steps 2–6 on an extracted trial table.
pub fn preprocess_god(
    trials: &GodTrials,
    train_order: Option<Vec<StimKey>>,
    test_order: Option<Vec<StimKey>>,
) -> Result<GodSubject> {
    let mut y = trials.voxels.mapv(|v| v as f32);
    // Run numbers may restart for each session type, so a run is identified by (DataType, Run).
    let mut run_ids: BTreeMap<(Split, u32), u32> = BTreeMap::new();
    let runs: Vec<u32> = trials
        .split
        .iter()
        .zip(&trials.run)
        .map(|(&s, &r)| {
            let next = run_ids.len() as u32;
            *run_ids.entry((s, r)).or_insert(next)
        })
        .collect();
    preprocess::zscore_per_run(&mut y, &runs);

    // Imagery rows may carry no image id (NaN or a category-level id); only perception rows are mapped.
    let keys: Vec<Option<StimKey>> = trials
        .stimulus_id
        .iter()
        .zip(&trials.split)
        .enumerate()
        .map(|(i, (&id, &split))| match split {
            Split::Imagery => Ok(None),
            _ => stimulus_parts(id).map(Some).with_context(|| format!("sample {i}")),
        })
        .collect::<Result<_>>()?;
    let keys: Vec<StimKey> = keys.into_iter().map(|k| k.unwrap_or((0, 0))).collect();
    let part = |split: Split, order: Option<Vec<StimKey>>, what: &str| -> Result<_> {
        let rows = trials.rows(split);
        if rows.is_empty() {
            bail!(
                "the BData file has no {what} samples (DataType {})",
                if split == Split::Train { 1 } else { 2 }
            );
        }
        let present: BTreeSet<StimKey> = rows.iter().map(|&i| keys[i]).collect();
        let order = match order {
            Some(o) => {
                let listed: BTreeSet<StimKey> = o.iter().copied().collect();
                let absent: Vec<String> = present.difference(&listed).map(|k| key_name(*k)).take(5).collect();
                if !absent.is_empty() {
                    bail!(
                        "{what} stimuli missing from the {what} stimulus table, e.g. {}",
                        absent.join(", ")
                    );
                }
                o
            }
            None => present.iter().copied().collect(),
        };
        let index: BTreeMap<StimKey, i64> = order.iter().enumerate().map(|(i, k)| (*k, i as i64)).collect();
        let mut labelled: Vec<(i64, usize)> = rows.iter().map(|&i| (index[&keys[i]], i)).collect();
        labelled.sort_by_key(|&(l, _)| l); // stable: repeats keep presentation order
        let sel: Vec<usize> = labelled.iter().map(|&(_, i)| i).collect();
        let labels: Vec<i64> = labelled.iter().map(|&(l, _)| l).collect();
        let run: Vec<u32> = sel.iter().map(|&i| trials.run[i]).collect();
        Ok((y.select(Axis(0), &sel), labels, run, order))
    };
    let (y_train, train_labels, train_runs, train_images) = part(Split::Train, train_order, "training")?;
    let (y_test, test_labels, test_runs, test_images) = part(Split::Test, test_order, "test")?;
    let n_test = test_images.len();
    let y_test_avg = preprocess::average_repeats(&y_test, &test_labels, n_test)?;
    let snr = preprocess::calc_snr(&y_test, &test_labels, n_test);
    let n_repeats = ((y_test.nrows() as f64) / n_test as f64).round() as usize;
    let noise_ceiling = preprocess::noise_ceiling(&preprocess::ncsnr(&y_test, &test_labels, n_test), n_repeats);
    let data = SubjectData {
        y_train,
        y_test,
        y_test_avg,
        train_labels: Array1::from(train_labels),
        test_labels: Array1::from(test_labels),
        noise_ceiling,
        snr,
        rois: trials.rois.clone(),
        train_runs: Some(train_runs),
        test_runs: Some(test_runs),
    };
    Ok(GodSubject {
        data,
        train_images,
        test_images,
    })
}

fn key_name((wnid, image): StimKey) -> String {
    format!("n{wnid:08}_{image}")
}

/// Reads a GOD stimulus table (`stimulus_ImageNet*.tsv`: `filename<TAB>stimulus_id<TAB>…`, or the two-column
/// `imageID_*.csv`): the image order is the order of the rows that name a stimulus file.
pub fn read_stimulus_table(path: &Path) -> Result<Vec<StimKey>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read stimulus table {}", path.display()))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let name = line
            .split(['\t', ','])
            .map(str::trim)
            .find(|f| f.starts_with('n') && f.contains('_'));
        if let Some(name) = name {
            let id = crate::bdata::parse_stimulus_file_name(name)
                .with_context(|| format!("{}: bad file name in line '{line}'", path.display()))?;
            out.push(stimulus_parts(id)?);
        }
    }
    if out.is_empty() {
        bail!(
            "{}: no stimulus file names (n########_#####.JPEG) found; is this a GOD stimulus table?",
            path.display()
        );
    }
    let unique: BTreeSet<_> = out.iter().collect();
    if unique.len() != out.len() {
        bail!(
            "{}: a stimulus is listed twice; each image must appear once",
            path.display()
        );
    }
    Ok(out)
}

/// `SubjectN.h5` → N.
fn subject_from_file_name(path: &Path) -> Option<u32> {
    let stem = path.file_stem()?.to_str()?;
    let digits: String = stem
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

/// Converts and writes; returns the dataset written.
pub fn convert_god(opts: &GodConvertOptions) -> Result<Dataset> {
    convert_god_with_warnings(opts).map(|(ds, _)| ds)
}

/// As [`convert_god`], also returning what the user should know about the input (e.g. NaN voxel values, which
/// were treated as missing), for the caller to show.
pub fn convert_god_with_warnings(opts: &GodConvertOptions) -> Result<(Dataset, Vec<String>)> {
    let subject = match opts.subject.or_else(|| subject_from_file_name(&opts.bdata)) {
        Some(s) => s,
        None => bail!(
            "cannot tell the subject number from {}; pass --subject N",
            opts.bdata.display()
        ),
    };
    let b = BData::open(&opts.bdata)?;
    let trials = GodTrials::from_bdata(&b, &opts.roi)?;
    let warnings: Vec<String> = trials
        .missing
        .iter()
        .map(|m| format!("{m}; treated as missing: left out of their run's z-score, then 0"))
        .collect();
    let train_order = opts.train_table.as_deref().map(read_stimulus_table).transpose()?;
    let test_order = opts.test_table.as_deref().map(read_stimulus_table).transpose()?;
    let god = preprocess_god(&trials, train_order, test_order)
        .with_context(|| format!("converting {}", opts.bdata.display()))?;
    let image_set = |keys: &[StimKey]| -> Result<ImageSet> {
        let names: Vec<String> = keys.iter().map(|&k| format!("{}.JPEG", key_name(k))).collect();
        Ok(ImageSet {
            pixels: load_stimuli(&opts.stimuli, &names, IMAGE_SIZE)?,
            class_ids: Some(keys.iter().map(|&(w, _)| w as i64).collect()),
        })
    };
    let ds = Dataset {
        subject: god.data,
        train_images: image_set(&god.train_images)?,
        test_images: image_set(&god.test_images)?,
    };
    let written = [layout::subject_file_name(subject), layout::images_file_name(IMAGE_SIZE)];
    let res = write_god_output(opts, subject, &ds);
    if res.is_err() {
        // A failed write (e.g. a full disk) must not leave a dataset that loads without its other half.
        for f in &written {
            let _ = std::fs::remove_file(opts.out.join(f));
        }
    }
    res.map(|()| (ds, warnings))
}

/// The files of `convert god`: the dataset, the optional unpaired pool cache, then the manifest.
fn write_god_output(opts: &GodConvertOptions, subject: u32, ds: &Dataset) -> Result<()> {
    layout::write_dataset(&opts.out, subject, ds)?;
    let test_classes: Vec<i64> = ds.test_images.class_ids.clone().unwrap_or_default();
    let mut notes = vec![format!(
        "converted by vox2pix convert god from {} (ROI {}); steps: docs/real-data.md §3",
        opts.bdata.display(),
        opts.roi
    )];
    if let Some((root, per_class, seed)) = &opts.pool {
        let spec = PoolSpec {
            per_class: *per_class,
            seed: *seed,
            exclude: test_classes.iter().copied().collect(),
            image_size: IMAGE_SIZE,
        };
        let cache = opts.out.join(format!("pool_{IMAGE_SIZE}.npz"));
        let pool = cached_unpaired_pool(root, &cache, &spec)?;
        notes.push(format!(
            "unpaired pool {}: {} images from {}, {} per class, seed {seed}, {} test classes excluded",
            cache.display(),
            pool.class_ids.len(),
            root.display(),
            per_class,
            spec.exclude.len()
        ));
    }
    let manifest = DatasetManifest {
        format_version: MANIFEST_FORMAT_VERSION,
        source: "god".into(),
        subject,
        n_voxels: ds.subject.n_voxels(),
        image_size: IMAGE_SIZE,
        train_classes: ds.train_images.class_ids.clone().unwrap_or_default(),
        test_classes,
        seed: None,
        generator_version: Some(format!("vox2pix {}", env!("CARGO_PKG_VERSION"))),
        world: None,
        notes,
    };
    write_manifest(&opts.out, &manifest)
}

/// Exports a vox2pix dataset (e.g. the synthetic world) the way GOD is distributed, so that the real-data path
/// can be run end to end on it: `Subject<N>.h5` (BData, [`BData::from_dataset`]), `stimuli/<n########_#>.png`
/// (the 112 px images, lossless) and `stimulus_train.tsv` / `stimulus_test.tsv` in image order.
pub fn export_god(ds: &Dataset, subject: u32, dir: &Path) -> Result<()> {
    ds.validate().context("refusing to export an inconsistent dataset")?;
    let stim_dir = dir.join("stimuli");
    std::fs::create_dir_all(&stim_dir).with_context(|| format!("cannot create {}", stim_dir.display()))?;
    let (train_ids, test_ids) = crate::bdata::export_stimulus_ids(ds)?;
    for (set, ids, table) in [
        (&ds.train_images, &train_ids, "stimulus_train.tsv"),
        (&ds.test_images, &test_ids, "stimulus_test.tsv"),
    ] {
        let mut tsv = String::new();
        for (i, &id) in ids.iter().enumerate() {
            let name = stimulus_file_name(id)?;
            let stem = name.trim_end_matches(".JPEG");
            let img = set.pixels.index_axis(Axis(0), i);
            let (h, w) = (img.shape()[0] as u32, img.shape()[1] as u32);
            let rgb = image::RgbImage::from_raw(w, h, img.iter().copied().collect())
                .context("image buffer does not match its shape")?;
            let mut png = std::io::Cursor::new(Vec::new());
            rgb.write_to(&mut png, image::ImageFormat::Png)
                .context("cannot encode PNG")?;
            crate::io::write_bytes_atomic(&stim_dir.join(format!("{stem}.png")), png.get_ref())?;
            tsv.push_str(&format!(
                "{name}\t{id:.6}\t{}\t{}\n",
                set.class_ids.as_ref().map_or(0, |c| c[i]),
                i + 1
            ));
        }
        crate::io::write_bytes_atomic(&dir.join(table), tsv.as_bytes())?;
    }
    BData::from_dataset(ds)?.save(&dir.join(format!("Subject{subject}.h5")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_number_comes_from_the_file_name() {
        assert_eq!(subject_from_file_name(Path::new("/data/Subject3.h5")), Some(3));
        assert_eq!(subject_from_file_name(Path::new("god.h5")), None);
    }
}
