//! The synthetic world's own backbone (`vox2pix train-backbone`): a narrow VGG16 trained, through its BatchNorm
//! twin, on the world's non-test classes, then folded into plain VGG16 weights with a provenance card.
//! Loading a backbone for the other stages is `model::backbone`'s.
use crate::model::backbone::world_backbone_path;
use crate::nn::backbone::Vgg;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{nn, Device};
use vox2pix_formats::weights::card::{backbone_card_path, BackboneCard};

/// How the synthetic world's backbone is trained (`vox2pix train-backbone`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BackboneTraining {
    /// Width multiplier of the VGG16 channels (default 0.25).
    pub width: f64,
    /// Optimiser steps (default 1,500).
    pub steps: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Learning rate; ×0.1 for the last quarter of the steps.
    pub lr: f64,
    /// Distinct training images per class (rendered on the fly, cycled).
    pub images_per_class: usize,
    /// Held-out images per class for the accuracy check.
    pub held_out_per_class: usize,
    /// Seed of the initialisation and the image draws (mixed with the world's seed).
    pub seed: u64,
}

impl Default for BackboneTraining {
    fn default() -> Self {
        Self {
            width: 0.25,
            steps: 1500,
            batch_size: 64,
            lr: 1e-3,
            images_per_class: 60,
            held_out_per_class: 2,
            seed: 0,
        }
    }
}

/// The backbone's images come from the unpaired stream at instances ≥ this offset, a range no pool or export
/// reaches, of non-test classes only.
pub const BACKBONE_INSTANCE_OFFSET: u32 = 1_000_000;

/// Trains the narrow VGG16 (batch-normalised during training, folded afterwards) as a classifier of the world's non-test classes and writes
/// `DIR/backbone/backbone.safetensors` + its card. Deterministic for a given world and `opts`.
pub fn train_world_backbone(data_dir: &Path, opts: &BackboneTraining, device: Device) -> Result<BackboneCard> {
    use crate::nn::augment::shift_images;
    use crate::train::optim::AmsGrad;
    use rayon::prelude::*;
    use tch::{Kind, Tensor};
    use vox2pix_formats::rng::{mix_key, CounterRng};
    use vox2pix_synth::render::{render, Role};

    let manifest = vox2pix_formats::manifest::read_manifest(data_dir)?.with_context(|| {
        format!(
            "{}: no manifest.json; train-backbone needs a synthetic world (`vox2pix synth`)",
            data_dir.display()
        )
    })?;
    if manifest.source != "synthetic" {
        bail!("{}: train-backbone trains the synthetic world's backbone; for real data use torchvision weights (`vox2pix weights fetch vgg16`)", data_dir.display());
    }
    let world = vox2pix_synth::export::world_from_dir(data_dir)?;
    let seed = world.seed;
    let classes: Vec<u32> = world.splits.non_test_classes.clone();
    let id = |c: u32| c as i64;
    for c in &classes {
        if manifest.test_classes.contains(&id(*c)) {
            bail!("leakage: class {c} is a test class and cannot train the backbone");
        }
    }
    let size = world.config.image_size;
    let n_classes = classes.len() as i64;
    tch::manual_seed(mix_key(opts.seed, &[0xB0, seed]) as i64);
    let train_vs = nn::VarStore::new(device);
    let bn_net = crate::nn::backbone_bn::VggBn::new(&train_vs.root(), opts.width, n_classes);
    let mut opt = AmsGrad::new(&train_vs, opts.lr);
    let batch_of = |items: &[(usize, u32)]| -> Tensor {
        let imgs: Vec<Vec<f32>> = items
            .par_iter()
            .map(|&(k, inst)| {
                render(
                    &world.taxonomy,
                    seed,
                    Role::Unpaired,
                    classes[k],
                    BACKBONE_INSTANCE_OFFSET + inst,
                    size,
                )
                .rgb
            })
            .collect();
        let flat: Vec<f32> = imgs.concat();
        crate::data::rgb_to_tensor(&flat, items.len() as i64, size as i64).to_device(device)
    };
    let bar = crate::train::progress::step_bar("train backbone", opts.steps);
    let mut rng = CounterRng::new(mix_key(opts.seed, &[0xB1, seed]));
    let (mut correct, mut seen) = (0usize, 0usize);
    for step in 0..opts.steps {
        let items: Vec<(usize, u32)> = (0..opts.batch_size)
            .map(|_| {
                (
                    rng.below(n_classes as u64) as usize,
                    rng.below(opts.images_per_class as u64) as u32,
                )
            })
            .collect();
        let x = batch_of(&items);
        let shifts: Vec<(i64, i64)> = (0..items.len())
            .map(|_| (rng.below(7) as i64 - 3, rng.below(7) as i64 - 3))
            .collect();
        let x = shift_images(&x, &shifts);
        let labels = Tensor::from_slice(&items.iter().map(|(k, _)| *k as i64).collect::<Vec<_>>()).to_device(device);
        let logits = bn_net.logits(&x, true);
        let loss = logits.cross_entropy_for_logits(&labels);
        let lv = loss.double_value(&[]);
        crate::train::progress::ensure_finite(lv, "backbone", 0, step, opt.lr, data_dir, 0)?;
        opt.lr = if step < opts.steps * 3 / 4 {
            opts.lr
        } else {
            opts.lr * 0.1
        };
        opt.backward_step(&loss)?;
        if step + 100 >= opts.steps {
            correct += i64::try_from(logits.argmax(-1, false).eq_tensor(&labels).sum(Kind::Int64))? as usize;
            seen += items.len();
        }
        if step % 10 == 0 {
            bar.set_position(step as u64);
            bar.set_message(format!("loss {lv:.3}"));
            bar.check_interrupt()?;
        }
    }
    bar.finish();
    // Fold BN into plain VGG16 weights; everything below (held-out check, saved file) uses the plain network.
    let mut vs = nn::VarStore::new(device);
    let net = Vgg::with_classifier(&vs.root(), opts.width, n_classes);
    let folded = bn_net.folded()?;
    let mut vars = vs.variables();
    for (k, t) in &folded {
        let dst = vars
            .get_mut(k)
            .with_context(|| format!("folded key {k} missing in Vgg"))?;
        tch::no_grad(|| dst.copy_(t));
    }
    vs.freeze();
    // Held-out instances (beyond the training range) of every class.
    let mut hits = 0usize;
    let mut total = 0usize;
    for j in 0..opts.held_out_per_class {
        for chunk in (0..classes.len()).collect::<Vec<_>>().chunks(128) {
            let items: Vec<(usize, u32)> = chunk
                .iter()
                .map(|&k| (k, opts.images_per_class as u32 + j as u32))
                .collect();
            let x = batch_of(&items);
            let pred = tch::no_grad(|| net.logits(&x)).context("classifier")?.argmax(-1, false);
            let labels = Tensor::from_slice(&chunk.iter().map(|&k| k as i64).collect::<Vec<_>>()).to_device(device);
            hits += i64::try_from(pred.eq_tensor(&labels).sum(Kind::Int64))? as usize;
            total += items.len();
        }
    }
    let card = BackboneCard {
        architecture: "vgg16".into(),
        width: opts.width,
        image_size: size,
        source: "world".into(),
        world_seed: Some(seed),
        world_preset: Some(world.config.preset.clone()),
        generator_version: manifest.generator_version.clone(),
        trained_classes: classes.iter().map(|&c| id(c)).collect(),
        steps: opts.steps,
        train_accuracy: Some(correct as f64 / seen.max(1) as f64),
        held_out_accuracy: Some(hits as f64 / total.max(1) as f64),
        command: format!(
            "vox2pix train-backbone --world {} --steps {} --seed {}",
            data_dir.display(),
            opts.steps,
            opts.seed
        ),
    };
    let out = world_backbone_path(data_dir);
    save_backbone(&vs, &out, &card)?;
    Ok(card)
}

/// Writes backbone weights (CPU, f32) and the card beside them, both atomically.
pub fn save_backbone(vs: &nn::VarStore, path: &Path, card: &BackboneCard) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let mut vars: Vec<(String, tch::Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.to_device(Device::Cpu)))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vox2pix_formats::io::write_atomic_path(path, |tmp| {
        tch::Tensor::write_safetensors(&vars, tmp).map_err(|e| anyhow::anyhow!("{e}"))
    })?;
    vox2pix_formats::io::write_bytes_atomic(&backbone_card_path(path), &serde_json::to_vec_pretty(card)?)
}
