//! Weights into models: any weight file `vox2pix_formats::weights` reads (torchvision `.pth`, safetensors)
//! becomes tensors and is loaded into a VarStore strictly by key name, all or nothing, with a full mismatch
//! report ([`copy_into`]); the project's own models are saved as safetensors plus a JSON model card.
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::Path;
use tch::nn::VarStore;
use tch::{Kind, Tensor};
use vox2pix_formats::weights::card::{model_card_path, ModelCard};
use vox2pix_formats::weights::pth::read_pth;
use vox2pix_formats::weights::{read_safetensors, DType, NamedArray};

/// Keys of torchvision's `vgg16` state dict that the convolutional trunk does not use.
pub const TORCHVISION_VGG16_UNUSED: &[&str] = &["classifier."];
/// Keys of torchvision's `alexnet` state dict beyond `features[:10]`.
pub const TORCHVISION_ALEXNET_UNUSED: &[&str] = &["features.10.", "classifier."];

/// A stored array as a CPU tensor of the same dtype and shape.
pub fn tensor_of(a: &NamedArray) -> Result<Tensor> {
    let kind = match a.dtype {
        DType::F32 => Kind::Float,
        DType::F64 => Kind::Double,
        DType::F16 => Kind::Half,
        DType::BF16 => Kind::BFloat16,
        DType::I64 => Kind::Int64,
        DType::I32 => Kind::Int,
        DType::I16 => Kind::Int16,
        DType::I8 => Kind::Int8,
        DType::U8 => Kind::Uint8,
        DType::Bool => Kind::Bool,
    };
    let shape: Vec<i64> = a.shape.iter().map(|&s| s as i64).collect();
    Tensor::f_from_data_size(&a.bytes, &shape, kind).with_context(|| format!("tensor '{}'", a.name))
}

/// Reads every named tensor of a weight file onto the CPU, by extension: `.safetensors`, or a `torch.save`d
/// state dict (`.pth`, `.pt`, `.bin`: zip archive or the legacy format). The parsing is
/// `vox2pix_formats::weights`'; this turns its arrays into tensors.
pub fn read_named_tensors(path: &Path) -> Result<Vec<(String, Tensor)>> {
    if !path.is_file() {
        bail!("weights file {} does not exist (or is not a file)", path.display());
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let arrays = match ext.as_str() {
        "safetensors" => read_safetensors(path)?,
        "pth" | "pt" | "bin" => read_pth(path)?,
        _ => bail!(
            "weights file {}: unknown extension '{ext}'; expected .safetensors, .pth, .pt or .bin",
            path.display()
        ),
    };
    arrays.iter().map(|a| Ok((a.name.clone(), tensor_of(a)?))).collect()
}

/// [`read_named_tensors`] as a name → tensor map.
pub fn read_tensor_map(path: &Path) -> Result<HashMap<String, Tensor>> {
    Ok(read_named_tensors(path)?.into_iter().collect())
}

/// What a successful load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Model variables filled (all of them).
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

/// Which file keys a load reads, and what a mismatch error says.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyMatch<'a> {
    /// Only file keys under this prefix are the model's (stripped before matching), e.g. `model.` in a
    /// checkpoint that also holds `opt.*`; other keys are left alone.
    pub prefix: &'a str,
    /// File keys (after the prefix) that may be left unused, by prefix (e.g. torchvision's `classifier.`).
    pub allowed_unused: &'a [&'a str],
    /// The last sentence of a mismatch error: what probably went wrong. Empty: the torchvision key-layout hint.
    pub hint: &'a str,
}

/// Copies `file` tensors into the variables of `vs` by exact key, all or nothing. Every model variable must be
/// present with the same shape and a floating-point dtype; every file key must be used unless it is allowed
/// unused. Everything is checked before the first copy, so on any mismatch the model is untouched and the error
/// lists the missing, unexpected and mis-shaped keys.
pub fn copy_into(
    vs: &mut VarStore,
    file: &HashMap<String, Tensor>,
    source: &str,
    keys: KeyMatch,
) -> Result<LoadReport> {
    let file: HashMap<&str, &Tensor> = file
        .iter()
        .filter_map(|(k, t)| k.strip_prefix(keys.prefix).map(|k| (k, t)))
        .collect();
    let vars = vs.variables();
    let mut missing: Vec<String> = vars
        .keys()
        .filter(|k| !file.contains_key(k.as_str()))
        .cloned()
        .collect();
    let mut unexpected = Vec::new();
    let mut ignored = Vec::new();
    for &k in file.keys() {
        if !vars.contains_key(k) {
            if keys.allowed_unused.iter().any(|p| k.starts_with(p)) {
                ignored.push(k.to_string());
            } else {
                unexpected.push(k.to_string());
            }
        }
    }
    let mut mis_shaped = Vec::new();
    for (k, v) in &vars {
        if let Some(t) = file.get(k.as_str()) {
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
        if keys.hint.is_empty() {
            msg.push_str(
                ". Check that the file was saved from the same architecture and width (torchvision key layout)",
            );
        } else {
            msg.push_str(&format!(". {}", keys.hint));
        }
        bail!(msg);
    }
    tch::no_grad(|| -> Result<()> {
        for (k, v) in &vars {
            let src = file[k.as_str()];
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
    let file = read_tensor_map(path)?;
    let keys = KeyMatch {
        allowed_unused,
        ..KeyMatch::default()
    };
    copy_into(vs, &file, &path.display().to_string(), keys)
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
    vox2pix_formats::io::write_atomic_path(path, |tmp| {
        // libtorch picks the format from the extension; the temporary name must keep it.
        let tmp_st = tmp.with_extension("tmp.safetensors");
        Tensor::write_safetensors(&named, &tmp_st).with_context(|| format!("cannot write {}", tmp_st.display()))?;
        std::fs::rename(&tmp_st, tmp).with_context(|| format!("cannot move {} to {}", tmp_st.display(), tmp.display()))
    })?;
    let json = serde_json::to_vec_pretty(card)?;
    vox2pix_formats::io::write_bytes_atomic(&model_card_path(path), &json)
}

/// Loads weights saved by [`save_model`] into `vs` (built from the card's config by the caller), strictly.
pub fn load_model(vs: &mut VarStore, path: &Path) -> Result<LoadReport> {
    let file = read_tensor_map(path)?;
    copy_into(vs, &file, &path.display().to_string(), KeyMatch::default())
}

/// Loads a run's saved model weights (`encoder.safetensors`, `decoder.safetensors`) into `vs`, strictly; a
/// mismatch names the voxel count, the usual cause (a model trained on another dataset or ROI).
pub fn load_run_weights(vs: &mut VarStore, file: &Path, n_voxels: i64) -> Result<()> {
    let saved = read_tensor_map(file)?;
    let hint = format!("The model here has {n_voxels} voxels; was it trained on another dataset or ROI?");
    let keys = KeyMatch {
        hint: &hint,
        ..KeyMatch::default()
    };
    copy_into(vs, &saved, &file.display().to_string(), keys)?;
    Ok(())
}

/// The `visual.*` parameters of a CLIP checkpoint: OpenAI's TorchScript archive (`ViT-L-14.pt`, read with
/// libtorch's archive reader on the CPU), or a plain state dict (`.pth` / `.pt` / `.safetensors`).
pub fn read_clip_weights(path: &std::path::Path) -> Result<HashMap<String, Tensor>> {
    let mut map = HashMap::new();
    match tch::CModule::load_on_device(path, tch::Device::Cpu) {
        Ok(m) => {
            for (k, t) in m
                .named_parameters()
                .context("reading the TorchScript archive's parameters")?
            {
                if k.starts_with("visual.") {
                    map.insert(k, t.to_kind(Kind::Float));
                }
            }
        }
        Err(_) => {
            for (k, t) in read_named_tensors(path)? {
                if k.starts_with("visual.") {
                    map.insert(k, t.to_kind(Kind::Float));
                }
            }
        }
    }
    if map.is_empty() {
        bail!(
            "{}: no `visual.*` parameters; expected OpenAI's CLIP checkpoint (ViT-L-14.pt, a TorchScript archive) or \
             a state dict in its layout",
            path.display()
        );
    }
    Ok(map)
}
