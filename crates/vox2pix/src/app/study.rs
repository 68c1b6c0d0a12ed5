//! `vox2pix study`: the paper's claims as paired evidence. Trains decoder variants × decoder seeds on one or more
//! synthetic worlds (each world with its own backbone and one encoder shared by all of its decoders), evaluates
//! every run the same way, and estimates each variant's effect against the paired-only baseline on the same test
//! images: per world, a hierarchical bootstrap over decoder seeds and test images; pooled over worlds, one over
//! (world, seed) units and their images. Finished runs are reused, so a killed study continues where it stopped.
//!
//! Layout of `OUT/`: `world-W/data` and `world-W/encoder` (from the demo's preparation stages), one decoder run per
//! `world-W/seed-S/VARIANT`, and the results: `study_runs.csv` (every run's mean of every metric),
//! `study.csv` / `study.json` (every effect with its CI) and `study.md` / `study.html` (headline table and forest
//! plot, `report::study`).
use crate::app::compare::{read_per_image_csv, PerImageTable, PER_IMAGE_CSV};
use crate::app::demo::prepare_world;
use crate::app::jobs;
use crate::app::variants::Variant;
use crate::data::TrainingData;
use crate::eval::paired::{hierarchical_bootstrap, HierarchicalMean, ImageDraw, PairedOptions};
use crate::eval::run_eval::{evaluate_run, EvaluateOptions};
use crate::report::study::{write_study_report, StudyEffect};
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
    /// Every effect (variant − paired, per metric, per world and pooled).
    pub effects: Vec<StudyEffect>,
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

/// Runs the whole study (reusing finished runs) and writes its tables and report.
pub fn run_study(o: &StudyOptions) -> Result<StudyOutcome> {
    check(o)?;
    // Settings first, so that a misspelt preset leaves no output folder behind.
    vox2pix_synth::world::WorldConfig::resolve(&o.world_preset, &[])?;
    let base = TrainConfig::load(&o.config, &o.overrides)?;
    std::fs::create_dir_all(&o.out).with_context(|| format!("cannot create {}", o.out.display()))?;
    let total = o.world_seeds.len() * o.seeds.len() * o.variants.len();
    let mut runs = Vec::with_capacity(total);
    for &ws in &o.world_seeds {
        let wdir = o.out.join(format!("world-{ws}"));
        let data = wdir.join("data");
        prepare_world(&data, &o.world_preset, ws, o.backbone_steps, o.device)?;
        let enc = wdir.join("encoder");
        if !enc.join(crate::model::ENCODER_FILE).exists() {
            eprintln!("[study] world {ws}: training the encoder");
            jobs::encoder_job(&data, &base, &enc, o.device, enc.join("run.json").exists())?;
        }
        let n_trials = TrainingData::load(&data, &base.roi, Device::Cpu)?.n_trials() as usize;
        let steps = base.decoder_training.steps_for(n_trials);
        for &seed in &o.seeds {
            for &v in &o.variants {
                let mut cfg = v.config(&base, steps);
                cfg.seed = seed;
                let run = wdir.join(format!("seed-{seed}")).join(v.name());
                eprintln!(
                    "[study] run {}/{total}: world {ws}, seed {seed}, {}",
                    runs.len() + 1,
                    v.name()
                );
                let table = train_eval(o, &data, &enc, &cfg, &run)?;
                runs.push(StudyRun {
                    world_seed: ws,
                    seed,
                    variant: v,
                    run,
                    table,
                });
            }
        }
    }
    let effects = effects(o, &runs)?;
    let report = write_study_report(&o.out, &runs_table(&runs), &effects)?;
    Ok(StudyOutcome { runs, effects, report })
}

/// (world seed, decoder seed, variant, metric, mean over images) for every run.
fn runs_table(runs: &[StudyRun]) -> Vec<(u64, u64, String, String, f64)> {
    let mut rows = Vec::new();
    for r in runs {
        for (metric, v) in &r.table.columns {
            rows.push((
                r.world_seed,
                r.seed,
                r.variant.name().to_string(),
                metric.clone(),
                v.iter().sum::<f64>() / v.len().max(1) as f64,
            ));
        }
    }
    rows
}

/// Per-image differences (variant − paired) of `metric` for every seed of world `ws`, or None when a run
/// lacks the metric or has a non-finite value in it.
fn differences(runs: &[StudyRun], ws: u64, v: Variant, metric: &str) -> Result<Option<Vec<Vec<f64>>>> {
    let find = |seed: u64, variant: Variant| {
        runs.iter()
            .find(|r| r.world_seed == ws && r.seed == seed && r.variant == variant)
    };
    let mut seeds: Vec<u64> = runs.iter().filter(|r| r.world_seed == ws).map(|r| r.seed).collect();
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

fn effect(v: Variant, world: Option<u64>, h: HierarchicalMean, per_seed_means: Vec<f64>) -> StudyEffect {
    StudyEffect {
        variant: v.name().to_string(),
        world_seed: world,
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
fn effects(o: &StudyOptions, runs: &[StudyRun]) -> Result<Vec<StudyEffect>> {
    let metrics: Vec<String> = runs
        .first()
        .map(|r| r.table.columns.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let mut out = Vec::new();
    for &v in o.variants.iter().skip(1) {
        for metric in &metrics {
            let mut pooled: Vec<Vec<f64>> = Vec::new();
            let mut complete = true;
            for &ws in &o.world_seeds {
                let Some(per_seed) = differences(runs, ws, v, metric)? else {
                    complete = false;
                    break;
                };
                let h = hierarchical_bootstrap(metric, &per_seed, &o.paired, ImageDraw::Shared)?;
                out.push(effect(v, Some(ws), h, per_seed.iter().map(mean).collect()));
                pooled.extend(per_seed);
            }
            if complete && o.world_seeds.len() > 1 {
                let h = hierarchical_bootstrap(metric, &pooled, &o.paired, ImageDraw::PerSeed)?;
                out.push(effect(v, None, h, pooled.iter().map(mean).collect()));
            }
        }
    }
    Ok(out)
}
