//! Export of a synthetic world (`docs/synthetic-world.md` §7.1): the SelfSuperReconst layout
//! (`sbj_1.npz` + `images_<size>.npz`, written by the data module's layout writer), `manifest.json` with the
//! world's classes, splits, seed, preset and full configuration, GOD-style `imageID_training.csv` /
//! `imageID_test.csv`, and a `contact_sheet.png`. The manifest is enough to rebuild the identical [`World`]
//! ([`world_from_dir`]), so training can regenerate unpaired images on demand.
use super::taxonomy::Taxonomy;
use super::world::{Experiment, Splits, World, WorldConfig, GENERATOR_VERSION};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use vox2pix_formats::layout::write_dataset;
use vox2pix_formats::manifest::{
    read_manifest, write_manifest, DatasetManifest, MANIFEST_FILE, MANIFEST_FORMAT_VERSION,
};

/// `manifest.json` → `source` for synthetic exports.
pub use vox2pix_formats::manifest::SYNTHETIC_SOURCE as SOURCE;
/// Subject number of the exported `sbj_N.npz`.
pub const SUBJECT: u32 = 1;

/// The synthetic world's part of `manifest.json` (`world` field).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynthManifest {
    /// [`GENERATOR_VERSION`] of the program that exported the world.
    pub generator_version: String,
    /// The preset the configuration started from.
    pub preset: String,
    /// The world's seed.
    pub seed: u64,
    /// The full world configuration (overrides applied).
    pub config: WorldConfig,
    /// Test, paired and non-test classes.
    pub splits: Splits,
    /// Every class with its wnid, super-category and split.
    pub classes: Vec<ClassEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// One class as listed in the manifest.
pub struct ClassEntry {
    /// Class id.
    pub class: u32,
    /// Synthetic WordNet-style id, `n` + 8 digits of 90,000,000 + class.
    pub wnid: String,
    /// Super-category name (e.g. `face`).
    pub super_category: String,
    /// "test", "paired" or "other".
    pub split: String,
}

impl SynthManifest {
    /// The manifest entry of `world`.
    pub fn of(world: &World) -> SynthManifest {
        let classes = (0..world.config.classes as u32)
            .map(|c| ClassEntry {
                class: c,
                wnid: format!("n{:08}", Taxonomy::wnid(c)),
                super_category: world.taxonomy.super_of(c).name().to_string(),
                split: if world.splits.is_test(c) {
                    "test"
                } else if world.splits.paired_classes.binary_search(&c).is_ok() {
                    "paired"
                } else {
                    "other"
                }
                .to_string(),
            })
            .collect();
        SynthManifest {
            generator_version: GENERATOR_VERSION.to_string(),
            preset: world.config.preset.clone(),
            seed: world.seed,
            config: world.config.clone(),
            splits: world.splits.clone(),
            classes,
        }
    }
}

/// What an export wrote, with timings.
#[derive(Clone, Debug)]
pub struct ExportSummary {
    /// Number of voxels V.
    pub n_voxels: usize,
    /// Training trials written.
    pub n_train: usize,
    /// Test trials written, repeats included.
    pub n_test_trials: usize,
    /// Names of the files written into the output folder.
    pub files: Vec<String>,
    /// Wall time of rendering and simulating, in seconds.
    pub experiment_seconds: f64,
    /// Wall time of writing the files, in seconds.
    pub write_seconds: f64,
}

/// Refuses to write into a non-empty folder unless it holds a previous synthetic export (whose files are then
/// replaced); creates the folder otherwise.
pub fn prepare_output_dir(out: &Path) -> Result<()> {
    if out.exists() {
        if !out.is_dir() {
            bail!(
                "--out {}: exists and is not a folder; choose another path",
                out.display()
            );
        }
        let non_empty = std::fs::read_dir(out)
            .with_context(|| format!("cannot list {}", out.display()))?
            .next()
            .is_some();
        if non_empty {
            let previous = read_manifest(out)
                .ok()
                .flatten()
                .is_some_and(|m| m.is_synthetic_world());
            if !previous {
                bail!(
                    "--out {}: folder is not empty and is not a previous `vox2pix synth` output (no {MANIFEST_FILE} with \
                     source \"{SOURCE}\"); choose an empty or new folder, or delete it first",
                    out.display()
                );
            }
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create output folder {}", out.display()))
}

/// Builds nothing: writes `world`'s experiment into `out` (see module docs). `progress` shows a bar on stderr.
pub fn export(world: &World, out: &Path, progress: bool) -> Result<ExportSummary> {
    prepare_output_dir(out)?;
    let cfg = &world.config;
    let total = (cfg.n_train_images() + cfg.test_classes) as u64;
    let bar = if progress {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} images ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("rendering + simulating");
    let t0 = std::time::Instant::now();
    let exp = world.experiment(&|n| bar.inc(n as u64))?;
    bar.finish_with_message("simulated");
    let experiment_seconds = t0.elapsed().as_secs_f64();

    let t1 = std::time::Instant::now();
    if let Err(e) = write_experiment(world, &exp, out) {
        // A failed write (e.g. a full disk) must not leave a dataset that loads without its other half.
        for f in exported_files(cfg) {
            let _ = std::fs::remove_file(out.join(f));
        }
        return Err(e);
    }
    Ok(ExportSummary {
        n_voxels: exp.dataset.subject.y_train.ncols(),
        n_train: exp.dataset.subject.y_train.nrows(),
        n_test_trials: exp.dataset.subject.y_test.nrows(),
        files: exported_files(cfg),
        experiment_seconds,
        write_seconds: t1.elapsed().as_secs_f64(),
    })
}

fn exported_files(cfg: &WorldConfig) -> Vec<String> {
    vec![
        vox2pix_formats::layout::subject_file_name(SUBJECT),
        vox2pix_formats::layout::images_file_name(cfg.image_size),
        MANIFEST_FILE.to_string(),
        "imageID_training.csv".into(),
        "imageID_test.csv".into(),
        "contact_sheet.png".into(),
    ]
}

fn write_experiment(world: &World, exp: &Experiment, out: &Path) -> Result<()> {
    let cfg = &world.config;
    write_dataset(out, SUBJECT, &exp.dataset)
        .with_context(|| format!("writing the synthetic dataset into {}", out.display()))?;
    let train: Vec<_> = (0..cfg.n_train_images()).map(|i| world.train_image(i)).collect();
    let test: Vec<_> = (0..cfg.test_classes).map(|i| world.test_image(i)).collect();
    for (name, refs) in [("imageID_training.csv", &train), ("imageID_test.csv", &test)] {
        // GOD / ssfmri2im layout: float stimulus id, file name; one line per image, in label order.
        let mut csv = String::new();
        for r in refs.iter() {
            csv.push_str(&format!(
                "{:.6},{}\n",
                Taxonomy::stimulus_id(r.class, r.instance),
                Taxonomy::file_name(r.class, r.instance, "png")
            ));
        }
        vox2pix_formats::io::write_bytes_atomic(&out.join(name), csv.as_bytes())?;
    }
    // Contact sheet: the test images, then the first image of each paired class (up to 40 tiles).
    let per_class = cfg.train_images_per_class;
    let tiles: Vec<_> = test
        .iter()
        .copied()
        .chain(train.iter().copied().step_by(per_class))
        .take(test.len().max(10) + 30)
        .map(|r| world.render(r))
        .collect();
    super::render::write_contact_sheet(&out.join("contact_sheet.png"), &tiles, 10)?;

    // The manifest goes last: a folder with a manifest is a complete export.
    let manifest = DatasetManifest {
        format_version: MANIFEST_FORMAT_VERSION,
        source: SOURCE.into(),
        subject: SUBJECT,
        n_voxels: exp.dataset.subject.y_train.ncols(),
        image_size: cfg.image_size,
        train_classes: train.iter().map(|r| r.class as i64).collect(),
        test_classes: test.iter().map(|r| r.class as i64).collect(),
        seed: Some(world.seed),
        generator_version: Some(GENERATOR_VERSION.into()),
        world: Some(serde_json::to_value(SynthManifest::of(world)).context("serialising the world manifest")?),
        notes: vec![format!(
            "synthetic world, preset '{}', seed {}: fMRI per-run z-scored and ordered by image; raw values are not stored",
            cfg.preset, world.seed
        )],
    };
    write_manifest(out, &manifest)
}

/// Rebuilds the world an export was generated from (same config and seed → same images and cortex); errors
/// when the folder is not a synthetic export or was written by another generator version.
pub fn world_from_dir(dir: &Path) -> Result<World> {
    let m = read_manifest(dir)?
        .with_context(|| format!("{}: no {MANIFEST_FILE}; not a vox2pix synth output", dir.display()))?;
    if !m.is_synthetic_world() {
        bail!(
            "{}: {MANIFEST_FILE} says source \"{}\", not a synthetic world",
            dir.display(),
            m.source
        );
    }
    let value = m.world.with_context(|| {
        format!(
            "{}: {MANIFEST_FILE} has no 'world' section; re-run vox2pix synth",
            dir.display()
        )
    })?;
    let sm: SynthManifest = serde_json::from_value(value).with_context(|| {
        format!(
            "{}: the 'world' section of {MANIFEST_FILE} is not a synthetic-world manifest",
            dir.display()
        )
    })?;
    if sm.generator_version != GENERATOR_VERSION {
        bail!(
            "{}: written by generator {}, this is {GENERATOR_VERSION}; images would differ — regenerate the data with vox2pix synth",
            dir.display(),
            sm.generator_version
        );
    }
    let world = World::new(sm.config, sm.seed)
        .with_context(|| format!("{}: rebuilding the world from {MANIFEST_FILE}", dir.display()))?;
    if world.splits != sm.splits {
        bail!(
            "{}: the rebuilt world's class splits differ from the manifest's; regenerate the data",
            dir.display()
        );
    }
    Ok(world)
}

impl World {
    /// The world a `vox2pix synth` output folder was generated from (see [`world_from_dir`]).
    pub fn from_manifest(dir: &Path) -> Result<World> {
        world_from_dir(dir)
    }
}
