//! Weight files: torchvision checkpoints (`.pth` zip pickles, `.safetensors`) loaded into a VarStore by key name
//! with a full mismatch report, and the project's own models saved as safetensors plus a JSON model card.
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::Tensor;

/// Keys of torchvision's `vgg16` state dict that the convolutional trunk does not use.
pub const TORCHVISION_VGG16_UNUSED: &[&str] = &["classifier."];
/// Keys of torchvision's `alexnet` state dict beyond `features[:10]`.
pub const TORCHVISION_ALEXNET_UNUSED: &[&str] = &["features.10.", "classifier."];

/// Reads every named tensor of a weight file onto the CPU: `.safetensors`, or a `torch.save`d state dict
/// (`.pth`, `.pt`, `.bin`: zip archive with `data.pkl`).
pub fn read_named_tensors(path: &Path) -> Result<Vec<(String, Tensor)>> {
    if !path.is_file() {
        bail!("weights file {} does not exist (or is not a file)", path.display());
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let named = match ext.as_str() {
        "safetensors" => Tensor::read_safetensors(path).with_context(|| {
            format!(
                "cannot read {} as safetensors (corrupt or not a safetensors file)",
                path.display()
            )
        })?,
        "pth" | "pt" | "bin" => Tensor::loadz_multi(path).with_context(|| {
            format!(
                "cannot read {} as a torch.save state dict (expected a zip archive holding a flat dict of tensors; \
                 re-save with torch.save(model.state_dict(), path) or convert to .safetensors)",
                path.display()
            )
        })?,
        _ => bail!(
            "weights file {}: unknown extension '{ext}'; expected .safetensors, .pth, .pt or .bin",
            path.display()
        ),
    };
    Ok(named)
}

/// What a successful load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    pub loaded: usize,
    /// File keys skipped because they matched an allowed-unused prefix.
    pub ignored: Vec<String>,
}

fn list(keys: &[String]) -> String {
    const MAX: usize = 12;
    let mut s = keys.iter().take(MAX).cloned().collect::<Vec<_>>().join(", ");
    if keys.len() > MAX {
        s.push_str(&format!(", … and {} more", keys.len() - MAX));
    }
    s
}

/// Copies `named` into the variables of `vs` by exact key. Every model variable must be present with the same
/// shape; every file key must be used unless it starts with one of `allowed_unused`. On any mismatch nothing is
/// copied and the error lists the missing, unexpected and mis-shaped keys.
pub fn copy_into(
    vs: &mut VarStore,
    named: Vec<(String, Tensor)>,
    source: &str,
    allowed_unused: &[&str],
) -> Result<LoadReport> {
    let file: HashMap<String, Tensor> = named.into_iter().collect();
    let vars = vs.variables();
    let mut missing: Vec<String> = vars.keys().filter(|k| !file.contains_key(*k)).cloned().collect();
    let mut unexpected = Vec::new();
    let mut ignored = Vec::new();
    for k in file.keys() {
        if !vars.contains_key(k) {
            if allowed_unused.iter().any(|p| k.starts_with(p)) {
                ignored.push(k.clone());
            } else {
                unexpected.push(k.clone());
            }
        }
    }
    let mut mis_shaped = Vec::new();
    for (k, v) in &vars {
        if let Some(t) = file.get(k) {
            if t.size() != v.size() {
                mis_shaped.push(format!("{k} (file {:?}, model {:?})", t.size(), v.size()));
            } else if !t.is_floating_point() {
                mis_shaped.push(format!("{k} (file dtype {:?}, model expects floating point)", t.kind()));
            }
        }
    }
    missing.sort();
    unexpected.sort();
    mis_shaped.sort();
    ignored.sort();
    if !missing.is_empty() || !unexpected.is_empty() || !mis_shaped.is_empty() {
        let mut msg = format!("weights in {source} do not match the model");
        if !missing.is_empty() {
            msg.push_str(&format!("; missing keys ({}): {}", missing.len(), list(&missing)));
        }
        if !unexpected.is_empty() {
            msg.push_str(&format!(
                "; unexpected keys ({}): {}",
                unexpected.len(),
                list(&unexpected)
            ));
        }
        if !mis_shaped.is_empty() {
            msg.push_str(&format!("; wrong shapes ({}): {}", mis_shaped.len(), list(&mis_shaped)));
        }
        msg.push_str(". Check that the file was saved from the same architecture and width (torchvision key layout)");
        bail!(msg);
    }
    tch::no_grad(|| -> Result<()> {
        for (k, v) in &vars {
            let src = &file[k];
            let mut dst = v.shallow_clone();
            dst.f_copy_(&src.to_kind(v.kind()).to_device(v.device()))
                .with_context(|| format!("copying {k} from {source}"))?;
        }
        Ok(())
    })?;
    Ok(LoadReport {
        loaded: vars.len(),
        ignored,
    })
}

/// Loads a torchvision-style weight file (`.pth` or `.safetensors`) into `vs`, strictly by key name.
pub fn load_weights(vs: &mut VarStore, path: &Path, allowed_unused: &[&str]) -> Result<LoadReport> {
    let named = read_named_tensors(path)?;
    copy_into(vs, named, &path.display().to_string(), allowed_unused)
}

/// Metadata stored next to a project model (`NAME.json` beside `NAME.safetensors`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    /// Card format version (1).
    pub format: u32,
    /// Model kind, e.g. `encoder`, `decoder`, `vgg16`.
    pub architecture: String,
    pub image_size: i64,
    pub n_voxels: Option<i64>,
    pub roi: Option<String>,
    /// Hash of the training data (whatever the data layer reports), to detect mixing models and datasets.
    pub data_hash: Option<String>,
    /// Backbone width multiplier and input normalisation the model was trained with.
    pub backbone_width: Option<f64>,
    pub input_norm: Option<super::backbone::InputNorm>,
    /// The architecture config (e.g. an `EncoderConfig`) as JSON, to rebuild the exact model.
    pub config: serde_json::Value,
    /// Free-form extras (seed, epoch, vox2pix version …).
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

pub const MODEL_CARD_FORMAT: u32 = 1;

/// `x.safetensors` → `x.json`.
pub fn card_path(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

/// Saves `vs` to `path` (must end in `.safetensors`) and the card beside it, both atomically.
pub fn save_model(vs: &VarStore, path: &Path, card: &ModelCard) -> Result<()> {
    if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        bail!("model path {} must end in .safetensors", path.display());
    }
    let vars = vs.variables();
    let mut named: Vec<(String, Tensor)> = vars
        .into_iter()
        .map(|(k, v)| (k, v.detach().to_device(tch::Device::Cpu)))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    crate::util::write_atomic_path(path, |tmp| {
        // libtorch picks the format from the extension; the temporary name must keep it.
        let tmp_st = tmp.with_extension("tmp.safetensors");
        Tensor::write_safetensors(&named, &tmp_st).with_context(|| format!("cannot write {}", tmp_st.display()))?;
        std::fs::rename(&tmp_st, tmp).with_context(|| format!("cannot move {} to {}", tmp_st.display(), tmp.display()))
    })?;
    let json = serde_json::to_vec_pretty(card)?;
    crate::util::write_bytes_atomic(&card_path(path), &json)
}

/// Reads a model card and checks it is one this build understands and of the expected architecture.
pub fn read_card(weights: &Path, expected_architecture: &str) -> Result<ModelCard> {
    let cp = card_path(weights);
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

/// Loads weights saved by [`save_model`] into `vs` (built from the card's config by the caller), strictly.
pub fn load_model(vs: &mut VarStore, path: &Path) -> Result<LoadReport> {
    let named = read_named_tensors(path)?;
    copy_into(vs, named, &path.display().to_string(), &[])
}
