//! The JSON cards stored beside weight files: [`ModelCard`] beside vox2pix's own models (`NAME.json` next to
//! `NAME.safetensors`: architecture, sizes and the config to rebuild it) and [`BackboneCard`] beside a backbone
//! (`NAME.safetensors.json`: where its weights came from and which classes it saw, for the leakage check).
use crate::config::InputNorm;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Metadata stored next to a project model (`NAME.json` beside `NAME.safetensors`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    /// Card format version (1).
    pub format: u32,
    /// Model kind, e.g. `encoder`, `decoder`, `vgg16`.
    pub architecture: String,
    /// Side of the square input images, in pixels.
    pub image_size: i64,
    /// Number of voxels the model maps to or from (encoder, decoder).
    pub n_voxels: Option<i64>,
    /// The ROI selection the model was trained on (e.g. `VC`).
    pub roi: Option<String>,
    /// Hash of the training data (whatever the data layer reports), to detect mixing models and datasets.
    pub data_hash: Option<String>,
    /// Backbone width multiplier and input normalisation the model was trained with.
    pub backbone_width: Option<f64>,
    /// Input normalisation of the backbone the model was trained with.
    pub input_norm: Option<InputNorm>,
    /// The architecture config (e.g. an `EncoderConfig`) as JSON, to rebuild the exact model.
    pub config: serde_json::Value,
    /// Free-form extras (seed, epoch, vox2pix version …).
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

/// The [`ModelCard::format`] this build writes and reads.
pub const MODEL_CARD_FORMAT: u32 = 1;

/// `x.safetensors` → `x.json`: where a model's card sits.
pub fn model_card_path(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

/// Reads a model card and checks it is one this build understands and of the expected architecture.
pub fn read_card(weights: &Path, expected_architecture: &str) -> Result<ModelCard> {
    let cp = model_card_path(weights);
    let text = std::fs::read_to_string(&cp).with_context(|| {
        format!(
            "cannot read model card {} (it must sit beside {})",
            cp.display(),
            weights.display()
        )
    })?;
    let card: ModelCard =
        serde_json::from_str(&text).with_context(|| format!("model card {} is not valid", cp.display()))?;
    if card.format != MODEL_CARD_FORMAT {
        bail!(
            "model card {}: format {} is not supported (this build reads {MODEL_CARD_FORMAT})",
            cp.display(),
            card.format
        );
    }
    if card.architecture != expected_architecture {
        bail!(
            "model card {}: architecture '{}' but a '{expected_architecture}' was expected; pass the right model file",
            cp.display(),
            card.architecture
        );
    }
    Ok(card)
}

/// Provenance of a backbone weight file, stored next to it as `<file>.json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BackboneCard {
    /// Network kind (`vgg16`).
    pub architecture: String,
    /// Channel width multiplier (1.0 = torchvision).
    pub width: f64,
    /// Side of the square training images, in pixels.
    pub image_size: usize,
    /// "world" (trained by vox2pix on a synthetic world) or "torchvision".
    pub source: String,
    /// Seed of the synthetic world it was trained on (source `world`).
    pub world_seed: Option<u64>,
    /// Preset of that world.
    pub world_preset: Option<String>,
    /// Version of the generator that wrote the world's data.
    pub generator_version: Option<String>,
    /// Every class whose images the backbone was trained on (leakage check against test classes).
    pub trained_classes: Vec<i64>,
    /// Optimiser steps of the training run.
    pub steps: usize,
    /// Classification accuracy (0–1) on the training images, during training.
    pub train_accuracy: Option<f64>,
    /// Classification accuracy (0–1) on held-out images of the trained classes.
    pub held_out_accuracy: Option<f64>,
    /// The command line that reproduces the file.
    pub command: String,
}

/// `x.safetensors` → `x.safetensors.json`: where a backbone's card sits.
pub fn backbone_card_path(weights: &Path) -> PathBuf {
    let mut s = weights.as_os_str().to_owned();
    s.push(".json");
    PathBuf::from(s)
}
