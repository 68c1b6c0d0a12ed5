//! The frozen backbone every stage shares (E's taps, the perceptual loss, the identification metric), loaded by
//! the config's `backbone.weights` with provenance checks: a world backbone must carry its card, and no
//! backbone may have been trained on a test class.
use crate::nn::backbone::Vgg16;
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

/// The frozen VGG16 trunk with where it came from (`load_backbone`).
pub struct LoadedBackbone {
    /// Holds the (frozen) weights.
    pub vs: nn::VarStore,
    /// The network.
    pub net: Vgg16,
    /// The weights file it was loaded from.
    pub path: PathBuf,
    /// Its model card (provenance), when the file has one.
    pub card: Option<BackboneCard>,
}

/// Resolves `cfg.weights` (`world`, `vgg16`, or a path), loads the VGG16 trunk frozen, and refuses a backbone
/// that was trained on any of `test_classes`.
pub fn load_backbone(
    cfg: &BackboneConfig,
    data_dir: &Path,
    test_classes: &[i64],
    device: Device,
) -> Result<LoadedBackbone> {
    let path = match cfg.weights.as_str() {
        "world" => world_backbone_path(data_dir),
        "vgg16" => torchvision_cache_path("vgg16"),
        p => PathBuf::from(p),
    };
    if !path.exists() {
        let hint = match cfg.weights.as_str() {
            "world" => format!("train it with `vox2pix train-backbone --world {}`", data_dir.display()),
            "vgg16" => "fetch it with `vox2pix weights fetch vgg16`".to_string(),
            _ => "check backbone.weights in the config".to_string(),
        };
        bail!("backbone weights {} not found; {hint}", path.display());
    }
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
        if (c.width - cfg.width).abs() > 1e-9 {
            bail!(
                "backbone {} has width {} but the config asks for backbone.width = {}",
                path.display(),
                c.width,
                cfg.width
            );
        }
    } else if cfg.weights == "world" {
        bail!(
            "{}: the world backbone has no model card ({}); retrain it",
            path.display(),
            backbone_card_path(&path).display()
        );
    }
    let mut vs = nn::VarStore::new(device);
    let net = Vgg16::new(&vs.root(), cfg.width);
    crate::model::weights::load_weights(&mut vs, &path, &["classifier.weight", "classifier.bias"])
        .with_context(|| format!("cannot load backbone weights {}", path.display()))?;
    vs.freeze();
    Ok(LoadedBackbone { vs, net, path, card })
}
