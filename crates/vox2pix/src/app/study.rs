//! `vox2pix study`: the paper's claims as paired evidence. Trains decoder variants × decoder seeds on one or more
//! synthetic worlds (each world with its own backbone and one encoder shared by all of its decoders), evaluates
//! every run the same way, and estimates each variant's effect against the paired-only baseline on the same test
//! images: per world, a hierarchical bootstrap over decoder seeds and test images; pooled over worlds, one over
//! (world, seed) units and their images. Finished runs are reused, so a killed study continues where it stopped.
//!
//! With `--paired-images N1,N2,…` every world is studied at each paired-set size (a class-balanced, nested subset,
//! `TrainingData::restrict_paired`): one encoder per size, trained for the same number of steps as on the whole set,
//! and the effects per size; the report adds the learning curves (each variant's level against the paired-set
//! size) and how many paired images the ED cycle is worth.
//!
//! Layout of `OUT/`: `world-W/data` and `world-W/encoder` (from the demo's preparation stages), one decoder run per
//! `world-W/seed-S/VARIANT` (with a paired-set size N: `world-W/encoder-nN` and `world-W/nN/seed-S/VARIANT`), and
//! the results: `study_runs.csv` (every run's mean of every metric),
//! `study.csv` / `study.json` (every effect with its CI) and `study.md` / `study.html` (headline table and forest
//! plot, `report::study`).
use crate::app::compare::{read_per_image_csv, PerImageTable, PER_IMAGE_CSV};
use crate::app::demo::prepare_world;
use crate::app::jobs;
use crate::app::variants::Variant;
use crate::data::TrainingData;
use crate::eval::paired::{hierarchical_bootstrap, HierarchicalMean, ImageDraw, PairedOptions};
use crate::eval::run_eval::{evaluate_run, EvaluateOptions};
use crate::report::study::{write_study_report, CurvePoint, RunMean, StudyEffect, HEADLINE};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use tch::Device;
use vox2pix_formats::config::TrainConfig;

/// What to study, and where.
#[derive(Clone, Debug)]
pub struct StudyOptions {
    /// Output folder (see the module docs for its layout).
    pub out: PathBuf,
    /// Built-in world preset (or world TOML path) of every world.
    pub world_preset: String,
    /// Training config (preset name or TOML path) the variants start from.
    pub config: String,
    /// `key.sub=value` overrides applied to the training config.
    pub overrides: Vec<String>,
    /// One world (data, backbone, encoder) per seed.
    pub world_seeds: Vec<u64>,
    /// Decoder seeds: every variant is trained once per seed and world.
    pub seeds: Vec<u64>,
    /// The variants; the first must be `paired`, the baseline.
    pub variants: Vec<Variant>,
    /// Paired-set sizes (0 = the whole paired set); empty = the config's `paired_images` only.
    pub paired_images: Vec<usize>,
    /// Device for training and evaluation.
    pub device: Device,
    /// Steps of a world backbone when none is shipped for a world.
    pub backbone_steps: usize,
    /// How every run is evaluated.
    pub eval: EvaluateOptions,
    /// Bootstrap settings of the effects.
    pub paired: PairedOptions,
}

/// One trained and evaluated decoder run of the study.
#[derive(Clone, Debug)]
pub struct StudyRun {
    /// World seed.
    pub world_seed: u64,
    /// Decoder seed.
    pub seed: u64,
    /// Variant.
    pub variant: Variant,
    /// Paired training images it was trained on.
    pub paired_images: usize,
    /// The run folder.
    pub run: PathBuf,
    /// Its per-image metrics.
    pub table: PerImageTable,
}

/// Everything a study produced.
#[derive(Clone, Debug)]
pub struct StudyOutcome {
    /// Every run, in training order.
    pub runs: Vec<StudyRun>,
    /// Every effect (variant − paired, per metric, per paired-set size, per world and pooled).
    pub effects: Vec<StudyEffect>,
    /// The learning curves (with several paired-set sizes; empty otherwise).
    pub curves: Vec<CurvePoint>,
    /// The HTML report.
    pub report: PathBuf,
}

fn check(o: &StudyOptions) -> Result<()> {
    ensure!(
        !o.world_seeds.is_empty(),
        "study: give at least one world seed (--world-seeds)"
    );
    ensure!(
        o.seeds.len() >= 2,
        "study: give at least 2 decoder seeds (--seeds); effects are estimated across seeds"
    );
    ensure!(
        o.variants.first() == Some(&Variant::Paired) && o.variants.len() >= 2,
        "study: --variants must start with 'paired' (the baseline) and name at least one other variant"
    );
    for (i, v) in o.variants.iter().enumerate() {
        if o.variants[..i].contains(v) {
            bail!("study: variant '{}' is listed twice", v.name());
        }
    }
    for (what, list) in [("--world-seeds", &o.world_seeds), ("--seeds", &o.seeds)] {
        let mut sorted = list.clone();
        sorted.sort_unstable();
        sorted.dedup();
        ensure!(sorted.len() == list.len(), "study: {what} lists a seed twice");
    }
    let mut sizes = o.paired_images.clone();
    sizes.sort_unstable();
    sizes.dedup();
    ensure!(
        sizes.len() == o.paired_images.len(),
        "study: --paired-images lists a size twice"
    );
    Ok(())
}

/// Trains (or reuses) and evaluates one decoder run.
fn train_eval(o: &StudyOptions, data: &Path, enc: &Path, cfg: &TrainConfig, run: &Path) -> Result<PerImageTable> {
    if !run.join(crate::model::DECODER_FILE).exists() {
        jobs::decoder_job(data, enc, cfg, run, o.device, run.join("run.json").exists(), None)
            .with_context(|| format!("study run {}", run.display()))?;
    }
    if !run.join(PER_IMAGE_CSV).exists() {
        evaluate_run(run, data, o.device, &o.eval)?;
    }
    read_per_image_csv(&run.join(PER_IMAGE_CSV))
}

/// The paired-set sizes studied (the config's own when `--paired-images` is not given).
fn sizes(o: &StudyOptions, base: &TrainConfig) -> Vec<usize> {
    if o.paired_images.is_empty() {
        vec![base.paired_images]
    } else {
        o.paired_images.clone()
    }
}

/// `base` restricted to `n` of the `total` paired images, with E's schedule stretched so that it takes as many
/// steps as on the whole set (epochs × ⌈total/batch⌉ / ⌈n/batch⌉, the learning-rate steps moved with them): a
/// smaller paired set means fewer samples, not less training.
pub fn config_for_paired_images(base: &TrainConfig, n: usize, total: usize) -> TrainConfig {
    let mut c = base.clone();
    c.paired_images = n;
    if n == 0 || n >= total {
        return c;
    }
    let t = &mut c.encoder_training;
    let per_epoch = |k: usize| k.div_ceil(t.batch_size.max(1)).max(1) as f64;
    let stretch = per_epoch(total) / per_epoch(n);
    t.epochs = (t.epochs as f64 * stretch).round().max(1.0) as usize;
    for (first, _) in &mut t.lr_steps {
        *first = 1 + ((*first - 1) as f64 * stretch).round() as usize;
    }
    c
}

/// Runs the whole study (reusing finished runs) and writes its tables and report.
pub fn run_study(o: &StudyOptions) -> Result<StudyOutcome> {
    check(o)?;
    // Settings first, so that a misspelt preset leaves no output folder behind.
    let world = vox2pix_synth::world::WorldConfig::resolve(&o.world_preset, &[])?;
    let base = TrainConfig::load(&o.config, &o.overrides)?;
    let n_world = world.paired_classes * world.train_images_per_class;
    if let Some(n) = o.paired_images.iter().find(|&&n| n > n_world) {
        bail!(
            "study: --paired-images {n} is more than the {n_world} paired training images of a '{}' world",
            o.world_preset
        );
    }
    std::fs::create_dir_all(&o.out).with_context(|| format!("cannot create {}", o.out.display()))?;
    let sizes = sizes(o, &base);
    let total = o.world_seeds.len() * sizes.len() * o.seeds.len() * o.variants.len();
    let mut runs = Vec::with_capacity(total);
    // The sizes as image counts (0 = the whole set), for the effects and the curves.
    let mut counts: Vec<usize> = Vec::new();
    for &ws in &o.world_seeds {
        let wdir = o.out.join(format!("world-{ws}"));
        let data = wdir.join("data");
        prepare_world(&data, &o.world_preset, ws, o.backbone_steps, o.device)?;
        let loaded = TrainingData::load(&data, &base.roi, Device::Cpu)?;
        let n_images = loaded.train_images.size()[0] as usize;
        if let Some(n) = sizes.iter().find(|&&n| n > n_images) {
            bail!("study: --paired-images {n} is more than world {ws}'s {n_images} paired training images");
        }
        counts = sizes.iter().map(|&n| if n == 0 { n_images } else { n }).collect();
        for &asked in &sizes {
            // The whole set keeps the study's original layout (and config), so earlier studies are reused.
            let n = if asked == n_images { 0 } else { asked };
            let (enc, runs_dir) = if n == 0 {
                (wdir.join("encoder"), wdir.clone())
            } else {
                (wdir.join(format!("encoder-n{n}")), wdir.join(format!("n{n}")))
            };
            let size_cfg = config_for_paired_images(&base, n, n_images);
            if !enc.join(crate::model::ENCODER_FILE).exists() {
                eprintln!("[study] world {ws}: training the encoder{}", size_label(asked));
                jobs::encoder_job(&data, &size_cfg, &enc, o.device, enc.join("run.json").exists())?;
            }
            let mut restricted = TrainingData::load(&data, &base.roi, Device::Cpu)?;
            restricted.restrict_paired(n)?;
            let steps = base.decoder_training.steps_for(restricted.n_trials() as usize);
            for &seed in &o.seeds {
                for &v in &o.variants {
                    let mut cfg = v.config(&size_cfg, steps);
                    cfg.seed = seed;
                    let run = runs_dir.join(format!("seed-{seed}")).join(v.name());
                    eprintln!(
                        "[study] run {}/{total}: world {ws}{}, seed {seed}, {}",
                        runs.len() + 1,
                        size_label(asked),
                        v.name()
                    );
                    let table = train_eval(o, &data, &enc, &cfg, &run)?;
                    runs.push(StudyRun {
                        world_seed: ws,
                        seed,
                        variant: v,
                        paired_images: if n == 0 { n_images } else { n },
                        run,
                        table,
                    });
                }
            }
        }
    }
    let effects = effects(o, &counts, &runs)?;
    let curves = if counts.len() > 1 {
        learning_curves(o, &counts, &runs)?
    } else {
        Vec::new()
    };
    let report = write_study_report(&o.out, &runs_table(&runs), &effects, &curves)?;
    Ok(StudyOutcome {
        runs,
        effects,
        curves,
        report,
    })
}

fn size_label(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", {n} paired images")
    }
}

/// Every run's mean of every metric over the test images.
fn runs_table(runs: &[StudyRun]) -> Vec<RunMean> {
    let mut rows = Vec::new();
    for r in runs {
        for (metric, v) in &r.table.columns {
            rows.push(RunMean {
                world_seed: r.world_seed,
                paired_images: r.paired_images,
                seed: r.seed,
                variant: r.variant.name().to_string(),
                metric: metric.clone(),
                mean: v.iter().sum::<f64>() / v.len().max(1) as f64,
            });
        }
    }
    rows
}

/// Per-image differences (variant − paired) of `metric` for every seed of world `ws` at paired-set size `n`, or
/// None when a run lacks the metric or has a non-finite value in it.
fn differences(runs: &[StudyRun], ws: u64, n: usize, v: Variant, metric: &str) -> Result<Option<Vec<Vec<f64>>>> {
    let find = |seed: u64, variant: Variant| {
        runs.iter()
            .find(|r| r.world_seed == ws && r.paired_images == n && r.seed == seed && r.variant == variant)
    };
    let mut seeds: Vec<u64> = runs
        .iter()
        .filter(|r| r.world_seed == ws && r.paired_images == n)
        .map(|r| r.seed)
        .collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut out = Vec::new();
    for seed in seeds {
        let (Some(a), Some(b)) = (find(seed, Variant::Paired), find(seed, v)) else {
            return Ok(None);
        };
        ensure!(
            a.table.images == b.table.images,
            "{} and {} list different test images; the study's runs must share their world's test set",
            a.table.path.display(),
            b.table.path.display()
        );
        let col = |t: &PerImageTable| t.columns.iter().find(|(n, _)| n == metric).map(|(_, c)| c.clone());
        let (Some(ca), Some(cb)) = (col(&a.table), col(&b.table)) else {
            return Ok(None);
        };
        if ca.iter().chain(&cb).any(|x| !x.is_finite()) {
            return Ok(None);
        }
        out.push(cb.iter().zip(&ca).map(|(b, a)| b - a).collect());
    }
    Ok(Some(out))
}

fn effect(v: Variant, world: Option<u64>, n: usize, h: HierarchicalMean, per_seed_means: Vec<f64>) -> StudyEffect {
    StudyEffect {
        variant: v.name().to_string(),
        world_seed: world,
        paired_images: n,
        metric: h.metric.clone(),
        n_seeds: h.n_seeds,
        n_images: h.n_images,
        diff: h.mean,
        ci_lo: h.ci_lo,
        ci_hi: h.ci_hi,
        level: h.level,
        per_seed_diff: per_seed_means,
    }
}

/// Every variant's effect against `paired`, per metric: per world (seeds crossed with the world's test images,
/// so one image draw per replicate serves every seed) and, with several worlds, pooled over (world, seed) units
/// (whose images differ, so each unit draws its own).
fn effects(o: &StudyOptions, sizes: &[usize], runs: &[StudyRun]) -> Result<Vec<StudyEffect>> {
    let metrics = metric_names(runs);
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let mut out = Vec::new();
    for &n in sizes {
        for &v in o.variants.iter().skip(1) {
            for metric in &metrics {
                let mut pooled: Vec<Vec<f64>> = Vec::new();
                let mut complete = true;
                for &ws in &o.world_seeds {
                    let Some(per_seed) = differences(runs, ws, n, v, metric)? else {
                        complete = false;
                        break;
                    };
                    let h = hierarchical_bootstrap(metric, &per_seed, &o.paired, ImageDraw::Shared)?;
                    out.push(effect(v, Some(ws), n, h, per_seed.iter().map(mean).collect()));
                    pooled.extend(per_seed);
                }
                if complete && o.world_seeds.len() > 1 {
                    let h = hierarchical_bootstrap(metric, &pooled, &o.paired, ImageDraw::PerSeed)?;
                    out.push(effect(v, None, n, h, pooled.iter().map(mean).collect()));
                }
            }
        }
    }
    Ok(out)
}

fn metric_names(runs: &[StudyRun]) -> Vec<String> {
    runs.first()
        .map(|r| r.table.columns.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default()
}

/// Each variant's level (its own mean, not a difference) of every headline metric at every paired-set size, over
/// all worlds and seeds: a hierarchical bootstrap over (world, seed) units and their test images (one world: its
/// seeds share one image draw per replicate).
fn learning_curves(o: &StudyOptions, sizes: &[usize], runs: &[StudyRun]) -> Result<Vec<CurvePoint>> {
    let draw = if o.world_seeds.len() > 1 {
        ImageDraw::PerSeed
    } else {
        ImageDraw::Shared
    };
    let mut out = Vec::new();
    for (metric, _, _) in HEADLINE {
        for &v in &o.variants {
            for &n in sizes {
                let units: Vec<Vec<f64>> = runs
                    .iter()
                    .filter(|r| r.variant == v && r.paired_images == n)
                    .filter_map(|r| {
                        r.table
                            .columns
                            .iter()
                            .find(|(c, _)| c == metric)
                            .map(|(_, col)| col.clone())
                    })
                    .filter(|col| col.iter().all(|x| x.is_finite()))
                    .collect();
                if units.len() < 2 {
                    continue;
                }
                let h = hierarchical_bootstrap(metric, &units, &o.paired, draw)?;
                out.push(CurvePoint {
                    variant: v.name().to_string(),
                    metric: metric.to_string(),
                    paired_images: n,
                    n_units: h.n_seeds,
                    mean: h.mean,
                    ci_lo: h.ci_lo,
                    ci_hi: h.ci_hi,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quarter of the images at batch 64: ⌈1200/64⌉ = 19 steps an epoch become ⌈300/64⌉ = 5, so 6 epochs
    /// become round(6 · 19/5) = 23 and the learning-rate step at epoch 5 moves to 1 + round(4 · 3.8) = 16.
    #[test]
    fn a_smaller_paired_set_stretches_the_encoder_schedule_to_the_same_steps() {
        let mut base = TrainConfig::load("demo", &[]).unwrap();
        base.encoder_training.epochs = 6;
        base.encoder_training.batch_size = 64;
        base.encoder_training.lr_steps = vec![(1, 1e-3), (5, 3e-4)];
        let c = config_for_paired_images(&base, 300, 1200);
        assert_eq!(c.paired_images, 300);
        assert_eq!(c.encoder_training.epochs, 23);
        assert_eq!(c.encoder_training.lr_steps, vec![(1, 1e-3), (16, 3e-4)]);
        assert_eq!(
            c.decoder_training, base.decoder_training,
            "D's schedule is per step already"
        );
        let steps = |n: usize, epochs: usize| n.div_ceil(64) * epochs;
        assert!(steps(300, 23).abs_diff(steps(1200, 6)) <= 5, "about as many E steps");
        let whole = config_for_paired_images(&base, 1200, 1200);
        assert_eq!(whole.encoder_training, base.encoder_training);
    }
}
