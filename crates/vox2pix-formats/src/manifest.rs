//! `manifest.json` beside a dataset's npz files: where the data came from (synthetic world, GOD, plain npz),
//! the class ids of the train/test images, and the generator's full configuration, so that every result can
//! name exactly the data it was computed on.
use crate::error::{ErrorKind, FormatError};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Current manifest format; bump when a field changes meaning.
pub const MANIFEST_FORMAT_VERSION: u32 = 1;

/// File name of the manifest inside a dataset folder.
pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// The contents of `manifest.json`: the data's origin, its sizes, the class ids of the images and how to
/// regenerate it.
pub struct DatasetManifest {
    /// Manifest format ([`MANIFEST_FORMAT_VERSION`] when written by this vox2pix); newer versions are refused.
    pub format_version: u32,
    /// `"synthetic"`, `"god"` or `"npz"`.
    pub source: String,
    /// Subject number N of `sbj_N.npz`.
    pub subject: u32,
    /// Number of voxels V in the subject file.
    pub n_voxels: usize,
    /// Side of the square images (`images_<size>.npz`).
    pub image_size: usize,
    /// Class id of each training image, in image order.
    pub train_classes: Vec<i64>,
    /// Class id of each test image, in image order.
    pub test_classes: Vec<i64>,
    /// Seed of the generator (synthetic world), if any.
    pub seed: Option<u64>,
    /// Version of the program that wrote the data, if recorded.
    pub generator_version: Option<String>,
    /// The synthetic world's full configuration (opaque here; owned by `synth`).
    pub world: Option<serde_json::Value>,
    #[serde(default)]
    /// Free-text notes (e.g. conversion steps); may be absent.
    pub notes: Vec<String>,
}

/// Where a dataset came from: the one place that tells a synthetic world from real data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatasetSource {
    /// Exported by `vox2pix synth`: the world can be rebuilt from the manifest (unpaired images on demand,
    /// ground truth for the evaluators).
    SyntheticWorld,
    /// Converted from GOD BData by `vox2pix convert god`.
    God,
    /// Any other recorded source (e.g. `"npz"`).
    Other(String),
}

/// The manifest `source` of a synthetic world.
pub const SYNTHETIC_SOURCE: &str = "synthetic";

impl DatasetSource {
    /// The source of a dataset with manifest `m` (`None`: a folder without one, e.g. a SelfSuperReconst release).
    pub fn of(m: Option<&DatasetManifest>) -> Option<DatasetSource> {
        m.map(|m| match m.source.as_str() {
            SYNTHETIC_SOURCE => DatasetSource::SyntheticWorld,
            "god" => DatasetSource::God,
            other => DatasetSource::Other(other.to_string()),
        })
    }
}

impl DatasetManifest {
    /// The manifest of a dataset converted from `source` (e.g. `"vim1"`, `"nsd"`) by this vox2pix: sizes and
    /// class ids from the dataset, the conversion's decisions as `notes`.
    pub fn converted(source: &str, subject: u32, ds: &crate::dataset::Dataset, notes: Vec<String>) -> Self {
        Self {
            format_version: MANIFEST_FORMAT_VERSION,
            source: source.into(),
            subject,
            n_voxels: ds.subject.n_voxels(),
            image_size: ds.train_images.pixels.shape()[1],
            train_classes: ds.train_images.class_ids.clone().unwrap_or_default(),
            test_classes: ds.test_images.class_ids.clone().unwrap_or_default(),
            seed: None,
            generator_version: Some(format!("vox2pix {}", env!("CARGO_PKG_VERSION"))),
            world: None,
            notes,
        }
    }

    /// Whether this dataset is a synthetic world.
    pub fn is_synthetic_world(&self) -> bool {
        DatasetSource::of(Some(self)) == Some(DatasetSource::SyntheticWorld)
    }
}

/// Path of the manifest inside `dir`.
pub fn manifest_path(dir: &Path) -> PathBuf {
    dir.join(MANIFEST_FILE)
}

/// Reads `dir/manifest.json`; `Ok(None)` when the folder has none (e.g. a downloaded SelfSuperReconst release).
pub fn read_manifest(dir: &Path) -> Result<Option<DatasetManifest>> {
    let path = manifest_path(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FormatError::io_context(format!("cannot read {}", path.display()), e).into()),
    };
    let m: DatasetManifest = serde_json::from_str(&text).map_err(|e| {
        // Broken JSON is a damaged file; well-formed JSON with a wrong or unknown field is invalid content.
        let kind = match e.classify() {
            serde_json::error::Category::Data => ErrorKind::Invalid,
            serde_json::error::Category::Io => ErrorKind::Unreadable,
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => ErrorKind::Corrupt,
        };
        FormatError::caused_by(
            kind,
            format!(
                "{}: not a valid vox2pix dataset manifest (fix the field named above or delete the file)",
                path.display()
            ),
            e,
        )
    })?;
    if m.format_version > MANIFEST_FORMAT_VERSION {
        return Err(FormatError::unsupported(
            path.display().to_string(),
            format!(
                "format_version {} is newer than this vox2pix supports ({MANIFEST_FORMAT_VERSION}); upgrade vox2pix",
                m.format_version
            ),
        )
        .into());
    }
    Ok(Some(m))
}

/// Writes `dir/manifest.json` atomically (pretty JSON).
pub fn write_manifest(dir: &Path, manifest: &DatasetManifest) -> Result<()> {
    let path = manifest_path(dir);
    let mut json = serde_json::to_string_pretty(manifest).context("cannot serialise the dataset manifest")?;
    json.push('\n');
    crate::io::write_bytes_atomic(&path, json.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> DatasetManifest {
        DatasetManifest {
            format_version: MANIFEST_FORMAT_VERSION,
            source: "synthetic".into(),
            subject: 3,
            n_voxels: 160,
            image_size: 32,
            train_classes: vec![0, 0, 1],
            test_classes: vec![5],
            seed: Some(1),
            generator_version: Some("0.1.0".into()),
            world: Some(serde_json::json!({"preset": "tiny"})),
            notes: vec!["hello".into()],
        }
    }

    #[test]
    fn round_trip_absent_and_unknown_field() {
        let dir = std::env::temp_dir().join(format!("vox2pix_manifest_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(manifest_path(&dir));
        assert_eq!(read_manifest(&dir).unwrap(), None);
        write_manifest(&dir, &example()).unwrap();
        assert_eq!(read_manifest(&dir).unwrap(), Some(example()));
        let text = std::fs::read_to_string(manifest_path(&dir))
            .unwrap()
            .replacen("\"subject\"", "\"subjet\"", 1);
        std::fs::write(manifest_path(&dir), text).unwrap();
        let err = format!("{:#}", read_manifest(&dir).unwrap_err());
        assert!(err.contains("manifest.json") && err.contains("subjet"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
