//! The demo pipeline (`vox2pix demo`): synthesize → backbone → train E → train D → reconstruct → evaluate →
//! report, on a built-in synthetic world. Each stage that already finished in `out` is reused, so an
//! interrupted demo continues where it stopped.
use crate::app::compare::{compare_runs, default_out_dir, CompareOptions};
use crate::app::jobs;
use crate::app::variants::Variant;
use crate::eval::paired::PairedOptions;
use crate::model::backbone::world_backbone_path;
use crate::train::backbone::{train_world_backbone, BackboneTraining};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::Device;
use vox2pix_formats::config::TrainConfig;
use vox2pix_formats::weights::card::{backbone_card_path, BackboneCard};
use vox2pix_synth::export::{export, prepare_output_dir};
use vox2pix_synth::world::{World, WorldConfig};

/// Where the demo put things, and how long each stage took.
#[derive(Debug, Default)]
pub struct DemoOutcome {
    /// The synthetic dataset directory (`out/data`).
    pub data: PathBuf,
    /// The encoder run (`out/encoder`).
    pub encoder: PathBuf,
    /// The decoder run (`out/decoder`), also evaluated and reported.
    pub decoder: PathBuf,
    /// The reconstructions written by `reconstruct_job`.
    pub reconstructions: PathBuf,
    /// The HTML report, once written.
    pub report: Option<PathBuf>,
    /// (stage name, seconds) in run order.
    pub stage_seconds: Vec<(String, f64)>,
}

/// Settings of `vox2pix demo`.
pub struct DemoOptions {
    /// Output directory; finished stages in it are reused.
    pub out: PathBuf,
    /// Built-in world preset name (or world TOML path) for the synthetic data.
    pub world_preset: String,
    /// Training config: preset name or TOML path.
    pub config: String,
    /// World seed.
    pub seed: u64,
    /// `key.sub=value` overrides applied to the training config.
    pub overrides: Vec<String>,
    /// Device for all stages.
    pub device: Device,
    /// Steps for the world backbone when no shipped one matches the world.
    pub backbone_steps: usize,
    /// Also train the paired-only baseline (`out/decoder-paired`) and open the report with what
    /// self-supervision bought over it (paired differences on the same test images, both reconstructions).
    pub baseline: bool,
}

/// A backbone shipped inside the binary for a built-in world (so an installed or copied binary has it too).
struct ShippedBackbone {
    preset: &'static str,
    seed: u64,
    weights: &'static [u8],
    card: &'static [u8],
}

/// `assets/backbones/<preset>-seed<seed>.safetensors` (+ `.json` card); the README there has the command that
/// regenerates each.
const SHIPPED_BACKBONES: &[ShippedBackbone] = &[ShippedBackbone {
    preset: "demo",
    seed: 0,
    weights: include_bytes!("../../../../assets/backbones/demo-seed0.safetensors"),
    card: include_bytes!("../../../../assets/backbones/demo-seed0.safetensors.json"),
}];

/// Why a backbone card does not fit `world`, if it does not. Provenance that matters: same world (preset, seed,
/// image size) and no test class among its training classes. A newer generator version only means slightly
/// different renders of the same classes, so it is a note, not a mismatch.
fn shipped_card_mismatch(card: &BackboneCard, world: &World) -> Option<String> {
    let test: std::collections::BTreeSet<i64> = world.splits.test_classes.iter().map(|&c| c as i64).collect();
    if card.world_seed != Some(world.seed) {
        Some(format!("world seed {:?} ≠ {}", card.world_seed, world.seed))
    } else if card.world_preset.as_deref() != Some(world.config.preset.as_str()) {
        Some(format!(
            "world preset {:?} ≠ {:?}",
            card.world_preset, world.config.preset
        ))
    } else if card.image_size != world.config.image_size {
        Some(format!("image size {} ≠ {}", card.image_size, world.config.image_size))
    } else if card.trained_classes.iter().any(|c| test.contains(c)) {
        Some("it was trained on a test class of this world (leakage)".to_string())
    } else {
        None
    }
}

/// Copies the backbone shipped for exactly this world (preset, seed, image size, no test class) into
/// `data/backbone/`, unless one is there already. Returns how the world got its backbone, or None when nothing
/// shipped fits (the caller trains one, or says how to).
pub fn install_shipped_backbone(data: &Path, world: &World) -> Result<Option<String>> {
    let target = world_backbone_path(data);
    if target.exists() && backbone_card_path(&target).exists() {
        return Ok(Some("reused".into()));
    }
    let name = format!("{}-seed{}", world.config.preset, world.seed);
    let Some(shipped) = SHIPPED_BACKBONES
        .iter()
        .find(|b| b.preset == world.config.preset && b.seed == world.seed)
    else {
        eprintln!("[world {}] no backbone shipped for world {name}", world.seed);
        return Ok(None);
    };
    let card: BackboneCard = serde_json::from_slice(shipped.card).context("shipped backbone card")?;
    if let Some(why) = shipped_card_mismatch(&card, world) {
        eprintln!("[world {}] shipped backbone {name} not used: {why}", world.seed);
        return Ok(None);
    }
    let gen = vox2pix_synth::world::GENERATOR_VERSION;
    if card.generator_version.as_deref() != Some(gen) {
        eprintln!(
            "[world {}] note: shipped backbone made with generator {:?}, world is {gen}",
            world.seed, card.generator_version
        );
    }
    std::fs::create_dir_all(target.parent().context("backbone dir")?)?;
    vox2pix_formats::io::write_bytes_atomic(&target, shipped.weights)?;
    vox2pix_formats::io::write_bytes_atomic(&backbone_card_path(&target), shipped.card)?;
    Ok(Some(format!(
        "shipped ({name}, held-out accuracy {:.1} %)",
        100.0 * card.held_out_accuracy.unwrap_or(0.0)
    )))
}

/// Puts a backbone for the world in `data/backbone/`: the shipped one when it was made for exactly this world
/// ([`install_shipped_backbone`]), else trains one.
fn ensure_backbone(data: &Path, world: &World, steps: usize, device: Device) -> Result<String> {
    if let Some(how) = install_shipped_backbone(data, world)? {
        return Ok(how);
    }
    let opts = BackboneTraining {
        steps,
        ..Default::default()
    };
    let card = train_world_backbone(data, &opts, device)?;
    Ok(format!(
        "trained, held-out accuracy {:.1} %",
        100.0 * card.held_out_accuracy.unwrap_or(0.0)
    ))
}

/// The world of `data`: read back when the folder holds one, else generated from `preset` and `seed` and exported.
fn synthesize(data: &Path, preset: &str, seed: u64) -> Result<World> {
    if vox2pix_formats::manifest::read_manifest(data).ok().flatten().is_some() {
        return vox2pix_synth::export::world_from_dir(data);
    }
    prepare_output_dir(data)?;
    let world = World::new(WorldConfig::resolve(preset, &[])?, seed)?;
    export(&world, data, true)?;
    Ok(world)
}

/// The demo's first two stages for a data folder of its own: the world (generated or reused) and its backbone
/// (shipped, reused or trained). Other pipelines over synthetic worlds (`app::study`) start here.
pub fn prepare_world(data: &Path, preset: &str, seed: u64, backbone_steps: usize, device: Device) -> Result<World> {
    let world = synthesize(data, preset, seed)?;
    let how = ensure_backbone(data, &world, backbone_steps, device)?;
    eprintln!("[world {seed}] backbone: {how}");
    Ok(world)
}

/// Runs every stage (reusing those already done in `out`) and returns where they wrote and how long each took.
pub fn run_demo(o: &DemoOptions) -> Result<DemoOutcome> {
    let mut out = DemoOutcome::default();
    // Settings first, so that a misspelt preset or override leaves no output folder behind.
    WorldConfig::resolve(&o.world_preset, &[])?;
    TrainConfig::load(&o.config, &o.overrides)?;
    std::fs::create_dir_all(&o.out).with_context(|| format!("cannot create {}", o.out.display()))?;
    let data = o.out.join("data");
    let mut stage = |name: &str, t0: Instant| {
        let s = t0.elapsed().as_secs_f64();
        eprintln!("[demo] {name}: {s:.1} s");
        out.stage_seconds.push((name.to_string(), s));
    };

    let t0 = Instant::now();
    let world = synthesize(&data, &o.world_preset, o.seed)?;
    stage("synthesize", t0);

    let t0 = Instant::now();
    let how = ensure_backbone(&data, &world, o.backbone_steps, o.device)?;
    eprintln!("[demo] backbone: {how}");
    stage("backbone", t0);

    let cfg = TrainConfig::load(&o.config, &o.overrides)?;
    let enc = o.out.join("encoder");
    let t0 = Instant::now();
    if !enc.join(crate::model::ENCODER_FILE).exists() {
        jobs::encoder_job(&data, &cfg, &enc, o.device, enc.join("run.json").exists())?;
    }
    stage("train encoder", t0);

    let dec = o.out.join("decoder");
    let t0 = Instant::now();
    if !dec.join(crate::model::DECODER_FILE).exists() {
        jobs::decoder_job(&data, &enc, &cfg, &dec, o.device, dec.join("run.json").exists(), None)?;
    }
    stage("train decoder", t0);

    let t0 = Instant::now();
    out.reconstructions = jobs::reconstruct_job(&dec, &data, o.device)?;
    stage("reconstruct", t0);

    let t0 = Instant::now();
    let eval = crate::eval::run_eval::EvaluateOptions::default();
    crate::eval::run_eval::evaluate_run(&dec, &data, o.device, &eval)?;
    stage("evaluate", t0);

    let mut diffs = None;
    if o.baseline {
        let base = o.out.join("decoder-paired");
        let t0 = Instant::now();
        if !base.join(crate::model::DECODER_FILE).exists() {
            let n_trials = crate::data::TrainingData::load(&data, &cfg.roi, Device::Cpu)?.n_trials() as usize;
            let paired = Variant::Paired.config(&cfg, cfg.decoder_training.steps_for(n_trials));
            jobs::decoder_job(
                &data,
                &enc,
                &paired,
                &base,
                o.device,
                base.join("run.json").exists(),
                None,
            )?;
        }
        jobs::reconstruct_job(&base, &data, o.device)?;
        crate::eval::run_eval::evaluate_run(&base, &data, o.device, &eval)?;
        stage("train + evaluate paired-only baseline", t0);
        let c = compare_runs(&CompareOptions {
            run_a: base.clone(),
            run_b: dec.clone(),
            out: default_out_dir(&base, &dec),
            paired: PairedOptions::default(),
        })?;
        diffs = Some((base, c.rows));
    }

    let t0 = Instant::now();
    let baseline = diffs.as_ref().map(|(b, d)| (b.as_path(), d.as_slice()));
    out.report = Some(crate::report::html::write_report_with_baseline(&dec, baseline)?);
    stage("report", t0);

    out.data = data;
    out.encoder = enc;
    out.decoder = dec;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped demo backbone fits the world it was made for and is refused for a leaking card.
    #[test]
    fn shipped_demo_backbone_matches_its_world_only() {
        let world = World::new(WorldConfig::resolve("demo", &[]).unwrap(), 0).unwrap();
        let shipped = SHIPPED_BACKBONES
            .iter()
            .find(|b| b.preset == "demo" && b.seed == 0)
            .unwrap();
        let card: BackboneCard = serde_json::from_slice(shipped.card).unwrap();
        assert_eq!(shipped_card_mismatch(&card, &world), None);
        // The embedded weights are a safetensors file in torchvision's VGG16 key layout.
        let n = u64::from_le_bytes(shipped.weights[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&shipped.weights[8..8 + n]).unwrap();
        assert!(header.get("features.0.weight").is_some() && header.get("features.28.bias").is_some());
        let mut leaky = card.clone();
        leaky.trained_classes.push(world.splits.test_classes[0] as i64);
        assert!(shipped_card_mismatch(&leaky, &world).unwrap().contains("test class"));
        let mut other = card;
        other.world_seed = Some(1);
        assert!(shipped_card_mismatch(&other, &world).unwrap().contains("seed"));
    }

    /// `train-encoder` on a world exported by `synth` gets the shipped backbone, byte for byte, once; a world
    /// with none shipped gets nothing (and the caller's "train one" hint).
    #[test]
    fn shipped_backbone_is_installed_for_its_world_only() {
        let dir = std::env::temp_dir().join(format!("vox2pix-install-backbone-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let world = World::new(WorldConfig::resolve("demo", &[]).unwrap(), 0).unwrap();
        let how = install_shipped_backbone(&dir, &world).unwrap().unwrap();
        assert!(how.starts_with("shipped (demo-seed0"), "{how}");
        let target = world_backbone_path(&dir);
        assert_eq!(std::fs::read(&target).unwrap(), SHIPPED_BACKBONES[0].weights);
        assert_eq!(
            std::fs::read(backbone_card_path(&target)).unwrap(),
            SHIPPED_BACKBONES[0].card
        );
        assert_eq!(
            install_shipped_backbone(&dir, &world).unwrap().as_deref(),
            Some("reused")
        );
        let other_dir = dir.join("other");
        let other = World::new(WorldConfig::resolve("demo", &[]).unwrap(), 1).unwrap();
        assert_eq!(install_shipped_backbone(&other_dir, &other).unwrap(), None);
        assert!(!world_backbone_path(&other_dir).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
