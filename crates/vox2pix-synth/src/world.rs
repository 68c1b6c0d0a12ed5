//! The synthetic world (`docs/synthetic-world.md` §2, §5): a [`WorldConfig`] (presets `tiny`, `demo`,
//! `default`, every quantity overridable), the class splits, the simulated cortex, and the GOD-design
//! experiment: paired training trials in runs, test trials with repeats, preprocessed into a
//! [`vox2pix_formats::Dataset`]. Images are rendered lazily from (seed, role, class, instance), so the unpaired pool,
//! exemplars and distractors are unlimited and never stored.
use super::cortex::{CategoryPreferences, Cortex, CortexConfig, ReferenceSet, Stimulus, Trial, MIN_REFERENCE_IMAGES};
use super::render::{render, to_u8, Rendered, Role};
use super::taxonomy::{SuperCategory, Taxonomy};
use anyhow::{bail, Context, Result};
use ndarray::{Array1, Array2, Array4};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use vox2pix_formats::preprocess::{average_repeats, calc_snr, ncsnr, noise_ceiling, zscore_per_run};
use vox2pix_formats::rng::{mix_key, CounterRng};
use vox2pix_formats::{Dataset, ImageSet, SubjectData};

/// Version of the generator (images + cortex + design); bump when the same (config, seed) gives new data.
pub const GENERATOR_VERSION: &str = concat!("vox2pix-synth/1 (crate ", env!("CARGO_PKG_VERSION"), ")");

/// Built-in presets (also shipped as `presets/*.toml`). `default.toml` lists every quantity; the others
/// override parts of it.
pub const PRESETS: [(&str, &str); 3] = [
    ("default", include_str!("../../../presets/default.toml")),
    ("demo", include_str!("../../../presets/demo.toml")),
    ("tiny", include_str!("../../../presets/tiny.toml")),
];

/// Everything that defines a synthetic world besides the seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldConfig {
    /// Name of the preset this configuration started from (recorded in exports).
    pub preset: String,
    /// Total classes (10 super-categories, spread evenly).
    pub classes: usize,
    /// Classes with paired training images (fMRI + image).
    pub paired_classes: usize,
    /// Test classes, one test image each; never in the paired set, the unpaired pool or the distractors.
    pub test_classes: usize,
    /// Paired training images per paired class (one trial each).
    pub train_images_per_class: usize,
    /// Presentations of every test image (spread evenly over the test runs).
    pub test_repeats: usize,
    /// Image side in pixels.
    pub image_size: usize,
    /// Size of the finite unpaired pool exported/used by default (unpaired images are unlimited on the fly).
    pub unpaired_images: usize,
    /// Also remove the paired-training classes from the unpaired pool (stricter than [NI22]).
    pub unpaired_excludes_paired: bool,
    /// Exemplar images per class (averaged into class prototypes for N-way classification).
    pub exemplars_per_class: usize,
    /// Identification distractor pool size.
    pub distractors: usize,
    /// N-way classification settings evaluated on this world.
    pub classification_n: Vec<usize>,
    /// Runs the training trials are spread over (responses are z-scored per run).
    pub train_runs: usize,
    /// Runs the test trials are spread over; must divide `test_repeats`.
    pub test_runs: usize,
    /// The simulated visual cortex (`[cortex]`).
    pub cortex: CortexConfig,
}

impl WorldConfig {
    /// A built-in preset by name.
    pub fn preset(name: &str) -> Result<WorldConfig> {
        Self::resolve(name, &[])
    }

    /// A preset (built-in name, or a path to a TOML file that overrides `default`) with `key=value` overrides
    /// (dotted keys, TOML values, e.g. `cortex.areas.V1.voxels=500`, `image_size=64`).
    pub fn resolve(preset: &str, overrides: &[String]) -> Result<WorldConfig> {
        let mut table = parse_toml(PRESETS[0].1, "built-in preset 'default'")?;
        if preset != "default" {
            let layer = match PRESETS.iter().find(|(n, _)| *n == preset) {
                Some((n, text)) => parse_toml(text, &format!("built-in preset '{n}'"))?,
                None => {
                    let path = std::path::Path::new(preset);
                    if !path.is_file() {
                        bail!(
                            "unknown preset '{preset}': use one of {} or the path of a TOML file",
                            PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
                        );
                    }
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read preset file {}", path.display()))?;
                    parse_toml(&text, &path.display().to_string())?
                }
            };
            merge(&mut table, layer, preset)?;
        }
        for item in overrides {
            apply_override(&mut table, item)?;
        }
        let cfg: WorldConfig = toml::Value::Table(table).try_into().with_context(|| {
            format!("preset '{preset}' with overrides {overrides:?} is not a valid world configuration")
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the design is realisable; errors name the field and the fix.
    pub fn validate(&self) -> Result<()> {
        if self.classes < 2 {
            bail!("classes = {}: need at least 2 classes", self.classes);
        }
        if self.test_classes == 0 || self.paired_classes == 0 {
            bail!(
                "test_classes and paired_classes must be ≥ 1 (got {} and {})",
                self.test_classes,
                self.paired_classes
            );
        }
        if self.test_classes + self.paired_classes > self.classes {
            bail!(
                "test_classes + paired_classes = {} exceeds classes = {}; raise classes or lower the split sizes",
                self.test_classes + self.paired_classes,
                self.classes
            );
        }
        if self.unpaired_excludes_paired && self.test_classes + self.paired_classes == self.classes {
            bail!("unpaired_excludes_paired = true leaves no class for the unpaired pool; raise classes or set it to false");
        }
        if self.train_images_per_class == 0 || self.test_repeats == 0 {
            bail!("train_images_per_class and test_repeats must be ≥ 1");
        }
        let n_train = self.paired_classes * self.train_images_per_class;
        if self.train_runs == 0 || self.train_runs > n_train {
            bail!(
                "train_runs = {}: must be between 1 and the number of training images ({n_train})",
                self.train_runs
            );
        }
        if self.test_runs == 0 || !self.test_repeats.is_multiple_of(self.test_runs) {
            bail!(
                "test_repeats = {} is not a multiple of test_runs = {}: every test run shows each test image equally often",
                self.test_repeats,
                self.test_runs
            );
        }
        if self.image_size < 8 || self.image_size > 1024 {
            bail!("image_size = {}: must be between 8 and 1024 px", self.image_size);
        }
        if self.classes >= 10_000_000 {
            bail!(
                "classes = {}: synthetic wnids 90000000 + class need fewer than 10,000,000 classes",
                self.classes
            );
        }
        if self.cortex.reference_set == ReferenceSet::Test && self.test_classes < MIN_REFERENCE_IMAGES {
            bail!(
                "cortex.reference_set = \"test\" needs ≥ {MIN_REFERENCE_IMAGES} test images (test_classes = {}); use reference_set = \"pool\"",
                self.test_classes
            );
        }
        self.cortex.validate()
    }

    /// Number of training images: `paired_classes × train_images_per_class`.
    pub fn n_train_images(&self) -> usize {
        self.paired_classes * self.train_images_per_class
    }
}

fn parse_toml(text: &str, what: &str) -> Result<toml::Table> {
    toml::from_str(text).with_context(|| format!("{what}: invalid TOML"))
}

/// Deep-merges `layer` into `base`; keys must already exist in `base` (a typo is an error, not a new key).
fn merge(base: &mut toml::Table, layer: toml::Table, origin: &str) -> Result<()> {
    fn go(base: &mut toml::Table, layer: toml::Table, path: &str, origin: &str) -> Result<()> {
        for (k, v) in layer {
            let full = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            match (base.get_mut(&k), v) {
                (Some(toml::Value::Table(b)), toml::Value::Table(l)) => go(b, l, &full, origin)?,
                (Some(slot), v) => *slot = v,
                (None, _) => bail!("{origin}: unknown setting '{full}' (see presets/default.toml for every setting)"),
            }
        }
        Ok(())
    }
    go(base, layer, "", origin)
}

/// Applies one `dotted.key=value` override (value parsed as TOML, else taken as a string).
fn apply_override(table: &mut toml::Table, item: &str) -> Result<()> {
    let (key, raw) = item
        .split_once('=')
        .with_context(|| format!("override '{item}' is not key=value (e.g. --set image_size=64)"))?;
    let key = key.trim();
    let value: toml::Value = match toml::from_str::<toml::Table>(&format!("v = {}", raw.trim())) {
        Ok(mut t) => t.remove("v").unwrap_or(toml::Value::String(raw.trim().to_string())),
        Err(_) => toml::Value::String(raw.trim().to_string()),
    };
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = table;
    for (i, part) in parts.iter().enumerate() {
        let here = parts[..=i].join(".");
        if i + 1 == parts.len() {
            let known: Vec<String> = cur.keys().cloned().collect();
            let slot = cur.get_mut(*part).with_context(|| {
                format!(
                    "override '{item}': unknown setting '{here}' (known here: {})",
                    known.join(", ")
                )
            })?;
            if matches!(slot, toml::Value::Table(_)) {
                bail!("override '{item}': '{here}' is a section; set one of its fields instead");
            }
            *slot = value;
            return Ok(());
        }
        let known: Vec<String> = cur.keys().cloned().collect();
        cur = match cur.get_mut(*part) {
            Some(toml::Value::Table(t)) => t,
            _ => bail!(
                "override '{item}': unknown section '{here}' (known here: {})",
                known.join(", ")
            ),
        };
    }
    bail!("override '{item}': empty key")
}

/// One image of the world, by identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageRef {
    /// The stream the image belongs to.
    pub role: Role,
    /// Class id.
    pub class: u32,
    /// Instance number within (role, class).
    pub instance: u32,
}

impl ImageRef {
    fn role_code(self) -> u64 {
        match self.role {
            Role::Train => 1,
            Role::Test => 2,
            Role::Unpaired => 3,
            Role::Exemplar => 4,
            Role::Distractor => 5,
        }
    }
}

/// Class roles, fixed by (config, seed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Splits {
    /// Sorted; test image i shows `test_classes[i]`.
    pub test_classes: Vec<u32>,
    /// Sorted; train images `k·per_class .. (k+1)·per_class` show `paired_classes[k]`.
    pub paired_classes: Vec<u32>,
    /// Every class that is not a test class, sorted (the backbone / unpaired / distractor classes).
    pub non_test_classes: Vec<u32>,
}

impl Splits {
    /// Test then paired classes, picked round-robin over the super-categories (in a seeded order, each
    /// super-category's classes seeded-shuffled), so both splits spread as evenly as possible.
    pub fn new(tax: &Taxonomy, seed: u64, n_test: usize, n_paired: usize) -> Splits {
        let mut per_super: Vec<Vec<u32>> = vec![Vec::new(); super::taxonomy::N_SUPER];
        for c in 0..tax.len() as u32 {
            per_super[tax.super_of(c).index()].push(c);
        }
        for (s, list) in per_super.iter_mut().enumerate() {
            CounterRng::new(mix_key(seed, &[0x5B_117, s as u64])).shuffle(list);
            list.reverse(); // pop() takes from the shuffled front
        }
        let mut order: Vec<usize> = (0..per_super.len()).collect();
        CounterRng::new(mix_key(seed, &[0x5B_118])).shuffle(&mut order);
        let mut cursor = 0usize;
        let mut take = |n: usize, per_super: &mut Vec<Vec<u32>>| {
            let mut out = Vec::with_capacity(n);
            while out.len() < n {
                let s = order[cursor % order.len()];
                cursor += 1;
                if let Some(c) = per_super[s].pop() {
                    out.push(c);
                }
            }
            out.sort_unstable();
            out
        };
        let test_classes = take(n_test, &mut per_super);
        let paired_classes = take(n_paired, &mut per_super);
        let non_test_classes = (0..tax.len() as u32)
            .filter(|c| test_classes.binary_search(c).is_err())
            .collect();
        Splits {
            test_classes,
            paired_classes,
            non_test_classes,
        }
    }

    /// Whether `class` is a test class.
    pub fn is_test(&self, class: u32) -> bool {
        self.test_classes.binary_search(&class).is_ok()
    }
}

/// The simulated experiment: raw responses in presentation order plus the preprocessed dataset.
pub struct Experiment {
    /// Preprocessed (per-run z-scored, ordered by image) dataset with test averages, SNR and NC.
    pub dataset: Dataset,
    /// Raw (not z-scored) single trials in presentation order, with their trials.
    pub raw_train: Array2<f32>,
    /// Raw single test trials in presentation order `[test trials, V]`.
    pub raw_test: Array2<f32>,
    /// The training trials, in presentation order (one per row of `raw_train`).
    pub train_trials: Vec<Trial>,
    /// The test trials, in presentation order (one per row of `raw_test`).
    pub test_trials: Vec<Trial>,
    /// Noiseless standardised responses s̃ of the train / test images `[images, V]`.
    pub noiseless_train: Array2<f32>,
    /// Noiseless standardised responses of the test images `[test images, V]`.
    pub noiseless_test: Array2<f32>,
    /// NSD/GLMsingle ncsnr estimated from the test repeats.
    pub ncsnr: Array1<f32>,
}

/// A synthetic world: configuration, seed, taxonomy, splits and cortex.
pub struct World {
    /// The configuration the world was built from.
    pub config: WorldConfig,
    /// The seed of every random draw.
    pub seed: u64,
    /// The classes.
    pub taxonomy: Taxonomy,
    /// Which classes are test, paired and non-test.
    pub splits: Splits,
    cortex: Cortex,
    unpaired_classes: Vec<u32>,
}

/// Images in the cortex's reference set come from the distractor stream at instances above any pool size.
const REFERENCE_INSTANCE_OFFSET: u32 = 900_000;

impl World {
    /// Builds the world: validates `config`, draws the taxonomy and splits, renders the cortex's reference images and
    /// builds the cortex.
    pub fn new(config: WorldConfig, seed: u64) -> Result<World> {
        config.validate()?;
        let taxonomy = Taxonomy::new(seed, config.classes);
        let splits = Splits::new(&taxonomy, seed, config.test_classes, config.paired_classes);
        let unpaired_classes: Vec<u32> = splits
            .non_test_classes
            .iter()
            .copied()
            .filter(|c| !(config.unpaired_excludes_paired && splits.paired_classes.binary_search(c).is_ok()))
            .collect();
        let class_super: Vec<usize> = (0..config.classes as u32)
            .map(|c| taxonomy.super_of(c).index())
            .collect();
        let prefs = CategoryPreferences {
            face: SuperCategory::Face.index(),
            scene: SuperCategory::Scene.index(),
            building: SuperCategory::Building.index(),
        };
        // Reference set: the test images, or non-test classes round-robin from a stream no exported role uses.
        let refs: Vec<ImageRef> = match config.cortex.reference_set {
            ReferenceSet::Test => (0..config.test_classes)
                .map(|i| ImageRef {
                    role: Role::Test,
                    class: splits.test_classes[i],
                    instance: 0,
                })
                .collect(),
            ReferenceSet::Pool => (0..config.cortex.reference_images)
                .map(|i| ImageRef {
                    role: Role::Distractor,
                    class: splits.non_test_classes[i % splits.non_test_classes.len()],
                    instance: REFERENCE_INSTANCE_OFFSET + (i / splits.non_test_classes.len()) as u32,
                })
                .collect(),
        };
        let rendered: Vec<Rendered> = refs
            .par_iter()
            .map(|r| render(&taxonomy, seed, r.role, r.class, r.instance, config.image_size))
            .collect();
        let stimuli = stimuli_of(seed, &refs, &rendered);
        let cortex = Cortex::build(&config.cortex, seed, config.image_size, &class_super, prefs, &stimuli)?;
        Ok(World {
            config,
            seed,
            taxonomy,
            splits,
            cortex,
            unpaired_classes,
        })
    }

    /// A world from a built-in preset name.
    pub fn from_preset(name: &str, seed: u64) -> Result<World> {
        World::new(WorldConfig::preset(name)?, seed)
    }

    /// The simulated cortex.
    pub fn cortex(&self) -> &Cortex {
        &self.cortex
    }

    /// Renders one image at the world's image size.
    pub fn render(&self, image: ImageRef) -> Rendered {
        render(
            &self.taxonomy,
            self.seed,
            image.role,
            image.class,
            image.instance,
            self.config.image_size,
        )
    }

    /// Key of an image's semantic jitter (and its identity in the cortex).
    pub fn image_key(&self, image: ImageRef) -> u64 {
        mix_key(
            self.seed,
            &[image.role_code(), image.class as u64, image.instance as u64],
        )
    }

    /// Train image `i` (paired class `i / per_class`, instance `i % per_class`).
    pub fn train_image(&self, i: usize) -> ImageRef {
        let k = self.config.train_images_per_class;
        ImageRef {
            role: Role::Train,
            class: self.splits.paired_classes[i / k],
            instance: (i % k) as u32,
        }
    }

    /// Test image `i` (one per test class, instance 0 of the test stream).
    pub fn test_image(&self, i: usize) -> ImageRef {
        ImageRef {
            role: Role::Test,
            class: self.splits.test_classes[i],
            instance: 0,
        }
    }

    /// Classes the unpaired pool draws from (never a test class; without paired classes if so configured).
    pub fn unpaired_classes(&self) -> &[u32] {
        &self.unpaired_classes
    }

    /// Finite unpaired pool size from the config (any index is valid: the pool is unlimited on the fly).
    pub fn unpaired_len(&self) -> usize {
        self.config.unpaired_images
    }

    /// Unpaired image `i`: classes cycle through [`Self::unpaired_classes`], instances count up per class.
    pub fn unpaired_ref(&self, i: usize) -> ImageRef {
        let n = self.unpaired_classes.len();
        let r = ImageRef {
            role: Role::Unpaired,
            class: self.unpaired_classes[i % n],
            instance: (i / n) as u32,
        };
        // Enforced, not conventional: the pool list is built without test classes, and checked again here.
        assert!(
            !self.splits.is_test(r.class),
            "leakage: unpaired image {i} would be of test class {}",
            r.class
        );
        r
    }

    /// Renders unpaired image `i` ([`Self::unpaired_ref`]).
    pub fn unpaired_image(&self, i: usize) -> Rendered {
        self.render(self.unpaired_ref(i))
    }

    /// Exemplar `k` of `class` (exemplar stream: never the test or a training image, also for test classes).
    pub fn exemplar_ref(&self, class: u32, k: usize) -> ImageRef {
        ImageRef {
            role: Role::Exemplar,
            class,
            instance: k as u32,
        }
    }

    /// Renders exemplar `k` of `class` ([`Self::exemplar_ref`]).
    pub fn exemplar(&self, class: u32, k: usize) -> Rendered {
        self.render(self.exemplar_ref(class, k))
    }

    /// Identification distractor `i`, from the non-test classes.
    pub fn distractor_ref(&self, i: usize) -> ImageRef {
        let n = self.splits.non_test_classes.len();
        let r = ImageRef {
            role: Role::Distractor,
            class: self.splits.non_test_classes[i % n],
            instance: (i / n) as u32,
        };
        assert!(
            !self.splits.is_test(r.class) && r.instance < REFERENCE_INSTANCE_OFFSET,
            "distractor {i} out of range"
        );
        r
    }

    /// Renders distractor `i` ([`Self::distractor_ref`]).
    pub fn distractor(&self, i: usize) -> Rendered {
        self.render(self.distractor_ref(i))
    }

    /// Noiseless standardised responses s̃ `[images, V]` for any images (ground truth, e.g. an oracle encoder).
    pub fn noiseless(&self, images: &[ImageRef]) -> Array2<f32> {
        self.render_and_respond(images, &|_| {}).1
    }

    /// Renders `images` (parallel, in batches to bound memory) and computes their s̃; returns u8 pixels.
    fn render_and_respond(
        &self,
        images: &[ImageRef],
        progress: &(dyn Fn(usize) + Sync),
    ) -> (Vec<Vec<u8>>, Array2<f32>) {
        const BATCH: usize = 256;
        let mut pixels = Vec::with_capacity(images.len());
        let mut rows = Vec::new();
        for batch in images.chunks(BATCH) {
            let rendered: Vec<Rendered> = batch.par_iter().map(|&r| self.render(r)).collect();
            let stimuli = stimuli_of(self.seed, batch, &rendered);
            // Keys depend on the world seed through image_key; stimuli_of uses the same formula.
            rows.push(self.cortex.noiseless(&stimuli));
            pixels.extend(rendered.iter().map(|r| to_u8(&r.rgb)));
            progress(batch.len());
        }
        let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
        let s = if views.is_empty() {
            Array2::zeros((0, self.cortex.n_voxels()))
        } else {
            ndarray::concatenate(ndarray::Axis(0), &views)
                .unwrap_or_else(|_| unreachable!("batches share the voxel axis"))
        };
        (pixels, s)
    }

    /// The GOD-design experiment (§4.4): each training image once, in `train_runs` runs; each test image
    /// `test_repeats` times over `test_runs` runs; trial order shuffled within runs. `progress` is called with
    /// the number of images processed so far in each step.
    pub fn experiment(&self, progress: &(dyn Fn(usize) + Sync)) -> Result<Experiment> {
        let cfg = &self.config;
        let n_train = cfg.n_train_images();
        let n_test = cfg.test_classes;
        let train_refs: Vec<ImageRef> = (0..n_train).map(|i| self.train_image(i)).collect();
        let test_refs: Vec<ImageRef> = (0..n_test).map(|i| self.test_image(i)).collect();
        let (train_px, noiseless_train) = self.render_and_respond(&train_refs, progress);
        let (test_px, noiseless_test) = self.render_and_respond(&test_refs, progress);

        let train_trials = self.train_design(n_train);
        let test_trials = self.test_design(n_test);
        let raw_train = self.cortex.simulate(noiseless_train.view(), &train_trials, 1);
        let raw_test = self.cortex.simulate(noiseless_test.view(), &test_trials, 2);

        // Preprocess like the loaders do: per-run z-score, then order rows by image.
        let mut z_train = raw_train.clone();
        zscore_per_run(&mut z_train, &train_trials.iter().map(|t| t.run).collect::<Vec<_>>());
        let mut z_test = raw_test.clone();
        zscore_per_run(&mut z_test, &test_trials.iter().map(|t| t.run).collect::<Vec<_>>());
        let mut train_order: Vec<usize> = (0..train_trials.len()).collect();
        train_order.sort_by_key(|&t| (train_trials[t].image, t));
        let mut test_order: Vec<usize> = (0..test_trials.len()).collect();
        test_order.sort_by_key(|&t| (test_trials[t].image, t));
        let y_train = z_train.select(ndarray::Axis(0), &train_order);
        let y_test = z_test.select(ndarray::Axis(0), &test_order);
        let train_labels: Vec<i64> = train_order.iter().map(|&t| train_trials[t].image as i64).collect();
        let test_labels: Vec<i64> = test_order.iter().map(|&t| test_trials[t].image as i64).collect();
        let y_test_avg =
            average_repeats(&y_test, &test_labels, n_test).context("averaging the simulated test repeats")?;
        let snr = calc_snr(&y_test, &test_labels, n_test);
        let nc_snr = ncsnr(&y_test, &test_labels, n_test);
        let nc = noise_ceiling(&nc_snr, cfg.test_repeats);

        let images = |px: Vec<Vec<u8>>, refs: &[ImageRef]| -> Result<ImageSet> {
            let s = cfg.image_size;
            let flat: Vec<u8> = px.into_iter().flatten().collect();
            Ok(ImageSet {
                pixels: Array4::from_shape_vec((refs.len(), s, s, 3), flat)
                    .context("rendered image buffer has the wrong size")?,
                class_ids: Some(refs.iter().map(|r| r.class as i64).collect()),
            })
        };
        let dataset = Dataset {
            subject: SubjectData {
                y_train,
                y_test,
                y_test_avg,
                train_labels: Array1::from(train_labels),
                test_labels: Array1::from(test_labels),
                noise_ceiling: nc,
                snr,
                rois: self.cortex.roi_masks(),
                train_runs: Some(train_order.iter().map(|&t| train_trials[t].run).collect()),
                test_runs: Some(test_order.iter().map(|&t| test_trials[t].run).collect()),
            },
            train_images: images(train_px, &train_refs)?,
            test_images: images(test_px, &test_refs)?,
        };
        Ok(Experiment {
            dataset,
            raw_train,
            raw_test,
            train_trials,
            test_trials,
            noiseless_train,
            noiseless_test,
            ncsnr: nc_snr,
        })
    }

    /// Training trials in presentation order: images randomly assigned to `train_runs` near-equal runs
    /// (run ids from 1), shuffled within each run.
    fn train_design(&self, n_train: usize) -> Vec<Trial> {
        let mut perm: Vec<usize> = (0..n_train).collect();
        CounterRng::new(mix_key(self.seed, &[0xDE_5160, 1])).shuffle(&mut perm);
        let runs = self.config.train_runs;
        let mut trials = Vec::with_capacity(n_train);
        let mut start = 0;
        for r in 0..runs {
            let len = n_train / runs + usize::from(r < n_train % runs);
            for (k, &image) in perm[start..start + len].iter().enumerate() {
                trials.push(Trial {
                    image,
                    run: r as u32 + 1,
                    position: position(k, len),
                });
            }
            start += len;
        }
        trials
    }

    /// Test trials in presentation order: every run shows each test image `repeats / runs` times, shuffled.
    fn test_design(&self, n_test: usize) -> Vec<Trial> {
        let runs = self.config.test_runs;
        let per_run = self.config.test_repeats / runs;
        let mut trials = Vec::with_capacity(n_test * self.config.test_repeats);
        for r in 0..runs {
            let mut order: Vec<usize> = (0..n_test).flat_map(|i| std::iter::repeat_n(i, per_run)).collect();
            CounterRng::new(mix_key(self.seed, &[0xDE_5160, 2, r as u64])).shuffle(&mut order);
            let len = order.len();
            for (k, &image) in order.iter().enumerate() {
                trials.push(Trial {
                    image,
                    run: r as u32 + 1,
                    position: position(k, len),
                });
            }
        }
        trials
    }
}

fn position(k: usize, len: usize) -> f32 {
    if len > 1 {
        k as f32 / (len - 1) as f32
    } else {
        0.5
    }
}

fn stimuli_of<'a>(seed: u64, refs: &[ImageRef], rendered: &'a [Rendered]) -> Vec<Stimulus<'a>> {
    refs.iter()
        .zip(rendered)
        .map(|(r, img)| Stimulus {
            rgb: &img.rgb,
            mask: &img.mask,
            class: r.class as usize,
            key: mix_key(seed, &[r.role_code(), r.class as u64, r.instance as u64]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_match_the_spec_sizes() {
        let tiny = WorldConfig::preset("tiny").unwrap();
        assert_eq!(
            (tiny.classes, tiny.paired_classes, tiny.test_classes, tiny.image_size),
            (64, 12, 10, 32)
        );
        assert_eq!((tiny.test_repeats, tiny.train_runs, tiny.test_runs), (6, 2, 6));
        let demo = WorldConfig::preset("demo").unwrap();
        assert_eq!(
            (demo.classes, demo.paired_classes, demo.test_classes, demo.image_size),
            (1030, 150, 50, 48)
        );
        assert_eq!(
            (demo.test_repeats, demo.train_runs, demo.test_runs, demo.unpaired_images),
            (35, 24, 35, 5000)
        );
        let def = WorldConfig::preset("default").unwrap();
        assert_eq!(
            (def.classes, def.n_train_images(), def.image_size, def.unpaired_images),
            (1030, 1200, 112, 49_000)
        );
        let voxels = |c: &WorldConfig| {
            super::super::cortex::Area::ALL
                .iter()
                .map(|&a| c.cortex.areas.get(a).voxels)
                .sum::<usize>()
        };
        assert_eq!((voxels(&tiny), voxels(&demo), voxels(&def)), (160, 2400, 4600));
    }

    #[test]
    fn overrides_apply_and_typos_are_named() {
        let c = WorldConfig::resolve(
            "tiny",
            &["image_size=16".into(), "cortex.areas.HVC-other.voxels=5".into()],
        )
        .unwrap();
        assert_eq!((c.image_size, c.cortex.areas.hvc_other.voxels), (16, 5));
        let e = format!(
            "{:#}",
            WorldConfig::resolve("tiny", &["cortex.areas.V1.voxel=3".into()]).unwrap_err()
        );
        assert!(e.contains("cortex.areas.V1.voxel") && e.contains("voxels"), "{e}");
        let e = format!(
            "{:#}",
            WorldConfig::resolve("tiny", &["test_classes=60".into()]).unwrap_err()
        );
        assert!(e.contains("exceeds classes"), "{e}");
        let e = format!("{:#}", WorldConfig::resolve("nope", &[]).unwrap_err());
        assert!(e.contains("unknown preset 'nope'"), "{e}");
    }

    #[test]
    fn splits_are_disjoint_spread_and_deterministic() {
        let tax = Taxonomy::new(3, 1030);
        let s = Splits::new(&tax, 3, 50, 150);
        assert_eq!(s, Splits::new(&tax, 3, 50, 150));
        assert_ne!(s.test_classes, Splits::new(&tax, 4, 50, 150).test_classes);
        let mut per_super_test = [0usize; 10];
        let mut per_super_paired = [0usize; 10];
        for &c in &s.test_classes {
            per_super_test[tax.super_of(c).index()] += 1;
            assert!(s.paired_classes.binary_search(&c).is_err());
            assert!(s.non_test_classes.binary_search(&c).is_err());
        }
        for &c in &s.paired_classes {
            per_super_paired[tax.super_of(c).index()] += 1;
        }
        assert_eq!(per_super_test, [5; 10]);
        assert_eq!(per_super_paired, [15; 10]);
        assert_eq!(s.non_test_classes.len(), 980);
    }

    #[test]
    fn worlds_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<World>();
    }

    #[test]
    fn god_design_shows_train_images_once_and_every_test_image_in_every_run() {
        let w = World::from_preset("tiny", 5).unwrap();
        let train = w.train_design(96);
        let mut seen: Vec<usize> = train.iter().map(|t| t.image).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..96).collect::<Vec<_>>());
        for r in 1..=2u32 {
            let run: Vec<&Trial> = train.iter().filter(|t| t.run == r).collect();
            assert_eq!(run.len(), 48);
            assert!(run.windows(2).all(|p| p[0].position < p[1].position));
        }
        let test = w.test_design(10);
        assert_eq!(test.len(), 60);
        let orders: Vec<Vec<usize>> = (1..=6u32)
            .map(|r| test.iter().filter(|t| t.run == r).map(|t| t.image).collect())
            .collect();
        for o in &orders {
            let mut sorted = o.clone();
            sorted.sort_unstable();
            assert_eq!(
                sorted,
                (0..10).collect::<Vec<_>>(),
                "each test run shows every test image once"
            );
        }
        assert!(
            orders.windows(2).any(|p| p[0] != p[1]),
            "trial order is shuffled within runs"
        );
        // The training order is not the image order either.
        assert_ne!(
            train.iter().map(|t| t.image).collect::<Vec<_>>(),
            (0..96).collect::<Vec<_>>()
        );
    }
}
