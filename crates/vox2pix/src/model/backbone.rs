//! The frozen backbone every stage shares (E's taps, the perceptual loss, the identification metric), loaded by
//! the config's `backbone.weights`, and E's own when `backbone.encoder` names one, with provenance checks: a
//! world backbone must carry its card, and no backbone may have been trained on a test class.
use crate::model::weights::{copy_into, read_tensor_map, KeyMatch, TORCHVISION_VGG16_UNUSED};
use crate::nn::backbone::{InputNorm, Vgg, VggArch, VGG16_BASE_CHANNELS};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use tch::{nn, Device};
use vox2pix_formats::config::BackboneConfig;
use vox2pix_formats::weights::card::{backbone_card_path, BackboneCard};

/// The default location of a world's backbone inside the world's data folder.
pub fn world_backbone_path(data_dir: &Path) -> PathBuf {
    data_dir.join("backbone").join("backbone.safetensors")
}

/// Location of converted torchvision weights (`vox2pix weights fetch vgg16`).
pub fn torchvision_cache_path(name: &str) -> PathBuf {
    let base = std::env::var_os("VOX2PIX_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/vox2pix"));
    base.join("weights").join(format!("{name}.safetensors"))
}

/// A frozen VGG trunk with where it came from (`load_backbone`, `load_encoder_backbone`).
pub struct LoadedBackbone {
    /// Holds the (frozen) weights.
    pub vs: nn::VarStore,
    /// The network.
    pub net: Vgg,
    /// The weights file it was loaded from.
    pub path: PathBuf,
    /// Its model card (provenance), when the file has one.
    pub card: Option<BackboneCard>,
}

/// Resolves `cfg.weights` (`world`, `vgg16`, or a path), loads the VGG16 trunk frozen, and refuses a backbone
/// that was trained on any of `test_classes`: the backbone of the perceptual loss, the identification metric
/// and (with `backbone.encoder = "shared"`) E.
pub fn load_backbone(
    cfg: &BackboneConfig,
    data_dir: &Path,
    test_classes: &[i64],
    device: Device,
) -> Result<LoadedBackbone> {
    load_named(
        &cfg.weights,
        Some(cfg.width),
        "backbone.weights",
        data_dir,
        test_classes,
        device,
    )
}

/// E's own backbone when `cfg.encoder` names one (`vgg19`, `vgg16` or a torchvision-layout file; architecture and
/// width are read from the file: `features.34` means VGG19, `features.0` has 64 · width kernels); `None` for
/// `shared`.
pub fn load_encoder_backbone(
    cfg: &BackboneConfig,
    data_dir: &Path,
    test_classes: &[i64],
    device: Device,
) -> Result<Option<LoadedBackbone>> {
    match cfg.encoder.as_str() {
        "shared" => Ok(None),
        "world" => bail!(
            "backbone.encoder = \"world\": the world backbone is the shared one; use backbone.encoder = \"shared\""
        ),
        name => load_named(name, None, "backbone.encoder", data_dir, test_classes, device).map(Some),
    }
}

/// Loads backbone `name` frozen; `width` None: read from the file.
fn load_named(
    name: &str,
    width: Option<f64>,
    field: &str,
    data_dir: &Path,
    test_classes: &[i64],
    device: Device,
) -> Result<LoadedBackbone> {
    let path = match name {
        "world" => world_backbone_path(data_dir),
        "vgg16" | "vgg19" => torchvision_cache_path(name),
        p => PathBuf::from(p),
    };
    if !path.exists() {
        let hint = match name {
            "world" => format!("train it with `vox2pix train-backbone --world {}`", data_dir.display()),
            "vgg16" | "vgg19" => format!("fetch it with `vox2pix weights fetch {name}`"),
            _ => format!("check {field} in the config"),
        };
        bail!(
            "backbone weights {} not found ({field} = \"{name}\"); {hint}",
            path.display()
        );
    }
    let file = read_tensor_map(&path).with_context(|| format!("cannot read backbone weights {}", path.display()))?;
    let arch = VggArch::from_parameter_names(file.keys().map(String::as_str));
    let width = match width {
        Some(w) => w,
        None => {
            let first = file
                .get("features.0.weight")
                .with_context(|| format!("{}: no features.0.weight; not a torchvision VGG", path.display()))?;
            first.size()[0] as f64 / VGG16_BASE_CHANNELS[0] as f64
        }
    };
    let card: Option<BackboneCard> = match std::fs::read(backbone_card_path(&path)) {
        Ok(b) => Some(
            serde_json::from_slice(&b)
                .with_context(|| format!("{}: corrupt model card", backbone_card_path(&path).display()))?,
        ),
        Err(_) => None,
    };
    if let Some(c) = &card {
        if let Some(t) = c.trained_classes.iter().find(|t| test_classes.contains(t)) {
            bail!(
                "leakage: backbone {} was trained on class {t}, which is a test class of this dataset; \
                 train a backbone for this world (`vox2pix train-backbone`)",
                path.display()
            );
        }
        if (c.width - width).abs() > 1e-9 {
            bail!(
                "backbone {} has width {} but {field} needs width {width} (backbone.width)",
                path.display(),
                c.width,
            );
        }
    } else if name == "world" {
        bail!(
            "{}: the world backbone has no model card ({}); retrain it",
            path.display(),
            backbone_card_path(&path).display()
        );
    }
    let mut vs = nn::VarStore::new(device);
    let net = Vgg::build(&vs.root(), arch, width, InputNorm::Torchvision, None);
    let keys = KeyMatch {
        allowed_unused: TORCHVISION_VGG16_UNUSED,
        ..KeyMatch::default()
    };
    copy_into(&mut vs, &file, &path.display().to_string(), keys)
        .with_context(|| format!("cannot load backbone weights {} ({})", path.display(), arch.name()))?;
    vs.freeze();
    Ok(LoadedBackbone { vs, net, path, card })
}
