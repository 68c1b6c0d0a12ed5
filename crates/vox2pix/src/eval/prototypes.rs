//! ImageNet class prototypes for semantic classification on real data (method.md §6.2, the reference's
//! `Class_similarity_calc.py` protocol): for every class folder `<wnid>/` of an ImageNet-layout tree, a seeded
//! choice of up to `per_class` images (never a test stimulus), each centre-cropped and resized to `size` like the
//! GOD stimuli, mapped to x/127.5 − 1 and embedded by AlexNet `features[:10]`; the prototype is the mean
//! embedding. Written as `FILE` (safetensors, `prototypes` [C, D] f32) and `FILE.json` ([`PrototypeManifest`]:
//! wnids, counts, every chosen file, the hash of the lists and of the weights), so `evaluate --prototypes`
//! can check it was made with the same AlexNet.
//!
//! Long builds are resumable: each class's mean is kept in `FILE.parts/<wnid>.safetensors` (keyed by the
//! weights, the list of files and the size), so a killed build continues where it stopped.
use crate::model::weights::{load_weights, TORCHVISION_ALEXNET_UNUSED};
use crate::nn::backbone::AlexNetFeatures;
use crate::train::progress::step_bar;
use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Device, Kind, Tensor};
use vox2pix_formats::images::{class_image_files, draw_per_class, load_image, wnid_offset};
use vox2pix_formats::io::write_bytes_atomic;
use vox2pix_formats::weights::fetch::sha256_file;

/// What to build.
#[derive(Clone, Debug)]
pub struct PrototypeBuild {
    /// ImageNet-layout folder: one subfolder per WordNet id (`n01443537/…JPEG`).
    pub images: PathBuf,
    /// The classes to build, as wnids; `None` = every class folder.
    pub classes: Option<Vec<String>>,
    /// AlexNet weights (torchvision `.pth` or converted `.safetensors`, `vox2pix weights fetch alexnet`).
    pub weights: PathBuf,
    /// Channel width of those weights (1.0 = torchvision's AlexNet).
    pub width: f64,
    /// Images per class (the reference: 100); a class with fewer is an error naming it.
    pub per_class: usize,
    /// Seed of the per-class choice.
    pub seed: u64,
    /// File stems that never enter a prototype (the test stimuli, e.g. `n01443537_22563`).
    pub exclude: BTreeSet<String>,
    /// Side the images are resized to (112 for GOD).
    pub size: usize,
    /// Output safetensors file.
    pub out: PathBuf,
    /// Embedding batch size.
    pub batch: usize,
    /// Device to embed on.
    pub device: Device,
}

/// `FILE.json`: how the prototypes were made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrototypeManifest {
    /// Class folders in row order of `prototypes`.
    pub wnids: Vec<String>,
    /// Images averaged per class.
    pub counts: Vec<usize>,
    /// The files of each class, as `<wnid>/<file>`, in the order drawn.
    pub files: Vec<Vec<String>>,
    /// sha256 of all file lists (one line per file, class by class).
    pub files_sha256: String,
    /// sha256 of the weights file.
    pub weights_sha256: String,
    /// Channel width of the weights.
    pub width: f64,
    /// Images per class asked for, and the seed of the choice.
    pub per_class: usize,
    /// Seed of the per-class choice.
    pub seed: u64,
    /// Image side the images were resized to.
    pub size: usize,
    /// Embedding length D.
    pub dim: usize,
    /// How many files were left out because they are test stimuli.
    pub excluded: usize,
}

/// The manifest path of a prototype file.
pub fn manifest_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_os_string();
    s.push(".json");
    PathBuf::from(s)
}

/// AlexNet `features[:10]` with the given weights, frozen.
pub fn load_alexnet(weights: &Path, width: f64, device: Device) -> Result<(VarStore, AlexNetFeatures)> {
    let mut vs = VarStore::new(device);
    let net = AlexNetFeatures::new(&vs.root(), width);
    load_weights(&mut vs, weights, TORCHVISION_ALEXNET_UNUSED)
        .with_context(|| format!("loading AlexNet weights {} (width {width})", weights.display()))?;
    vs.freeze();
    Ok((vs, net))
}

/// Images in [0, 1], `[n, 3, S, S]` → the AlexNet input of the protocol, (255·x)/127.5 − 1 = 2x − 1.
pub fn alexnet_input_from_unit(x01: &Tensor) -> Tensor {
    x01 * 2.0 - 1.0
}

/// Builds (or resumes) the prototypes and writes `o.out` and its manifest; returns the manifest.
pub fn build_prototypes(o: &PrototypeBuild) -> Result<PrototypeManifest> {
    ensure!(o.per_class >= 1, "--per-class must be at least 1");
    ensure!(
        (16..=1024).contains(&o.size),
        "--size {}: must be between 16 and 1024 px",
        o.size
    );
    let root = &o.images;
    ensure!(
        root.is_dir(),
        "image folder {} does not exist or is not a folder",
        root.display()
    );
    let mut available: Vec<String> = std::fs::read_dir(root)
        .with_context(|| format!("cannot list {}", root.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|n| wnid_offset(n).is_some())
        .collect();
    available.sort();
    let wnids: Vec<String> = match &o.classes {
        None => available.clone(),
        Some(list) => {
            let missing: Vec<&String> = list.iter().filter(|w| !available.contains(w)).collect();
            if !missing.is_empty() {
                let first: Vec<&str> = missing.iter().take(5).map(|s| s.as_str()).collect();
                bail!(
                    "{} of {} classes have no folder under {} (first: {}); download those ImageNet classes or \
                     leave them out of --classes",
                    missing.len(),
                    list.len(),
                    root.display(),
                    first.join(", ")
                );
            }
            list.clone()
        }
    };
    ensure!(
        !wnids.is_empty(),
        "{} has no class folders named like n01443537; expected an ImageNet-style <wnid>/<image>.JPEG tree",
        root.display()
    );
    // Choose every class's files first, so a too-small class fails before hours of embedding.
    let mut files = Vec::with_capacity(wnids.len());
    let mut excluded = 0;
    for w in &wnids {
        let all = class_image_files(&root.join(w))?;
        let n_all = all.len();
        let kept: Vec<String> = all
            .into_iter()
            .filter(|f| {
                let stem = Path::new(f).file_stem().and_then(|s| s.to_str()).unwrap_or(f);
                !o.exclude.contains(stem)
            })
            .collect();
        excluded += n_all - kept.len();
        if kept.len() < o.per_class {
            bail!(
                "class {w} has {} usable images under {} ({} test stimuli left out), fewer than --per-class {}; \
                 add images or lower --per-class",
                kept.len(),
                root.join(w).display(),
                n_all - kept.len(),
                o.per_class
            );
        }
        let id = wnid_offset(w).unwrap_or(0);
        files.push(draw_per_class(kept, o.per_class, o.seed, id));
    }
    let mut h = Sha256::new();
    for (w, list) in wnids.iter().zip(&files) {
        for f in list {
            h.update(format!("{w}/{f}\n").as_bytes());
        }
    }
    let files_sha256 = format!("{:x}", h.finalize());
    let weights_sha256 = sha256_file(&o.weights)?;
    let (_vs, net) = load_alexnet(&o.weights, o.width, o.device)?;

    let parts = {
        let mut s = o.out.as_os_str().to_os_string();
        s.push(".parts");
        PathBuf::from(s)
    };
    std::fs::create_dir_all(&parts).with_context(|| format!("cannot create {}", parts.display()))?;
    let bar = step_bar("prototypes", wnids.len());
    let mut rows = Vec::with_capacity(wnids.len());
    for (w, list) in wnids.iter().zip(&files) {
        let mut key = Sha256::new();
        key.update(format!("{weights_sha256}|{}|{}|", o.width, o.size).as_bytes());
        for f in list {
            key.update(f.as_bytes());
            key.update(b"\n");
        }
        let key = format!("{:x}", key.finalize());
        let part = parts.join(format!("{w}.safetensors"));
        let cached = Tensor::read_safetensors(&part)
            .ok()
            .and_then(|t| t.into_iter().find(|(n, _)| n == &format!("mean-{key}")).map(|(_, t)| t));
        let mean = match cached {
            Some(t) => t,
            None => {
                let mut sum: Option<Tensor> = None;
                for chunk in list.chunks(o.batch.max(1)) {
                    let mut pix = Vec::with_capacity(chunk.len() * o.size * o.size * 3);
                    for f in chunk {
                        pix.extend(load_image(&root.join(w).join(f), o.size)?.into_raw());
                    }
                    let x = Tensor::from_slice(&pix)
                        .view([chunk.len() as i64, o.size as i64, o.size as i64, 3])
                        .permute([0, 3, 1, 2])
                        .to_kind(Kind::Float)
                        .to_device(o.device)
                        / 127.5
                        - 1.0;
                    let e = tch::no_grad(|| net.embedding(&x))
                        .to_kind(Kind::Double)
                        .sum_dim_intlist([0i64].as_slice(), false, Kind::Double);
                    sum = Some(match sum {
                        Some(s) => s + e,
                        None => e,
                    });
                }
                let mean = (sum.context("empty class")? / list.len() as f64)
                    .to_kind(Kind::Float)
                    .to_device(Device::Cpu);
                let tmp = parts.join(format!(".{w}.tmp.safetensors"));
                Tensor::write_safetensors(&[(format!("mean-{key}").as_str(), &mean)], &tmp)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
                std::fs::rename(&tmp, &part).with_context(|| format!("cannot write {}", part.display()))?;
                mean
            }
        };
        rows.push(mean);
        bar.inc(1);
    }
    bar.finish();
    let protos = Tensor::stack(&rows, 0);
    let manifest = PrototypeManifest {
        counts: files.iter().map(|f| f.len()).collect(),
        files: wnids
            .iter()
            .zip(&files)
            .map(|(w, l)| l.iter().map(|f| format!("{w}/{f}")).collect())
            .collect(),
        wnids,
        files_sha256,
        weights_sha256,
        width: o.width,
        per_class: o.per_class,
        seed: o.seed,
        size: o.size,
        dim: protos.size()[1] as usize,
        excluded,
    };
    let tmp = {
        let mut s = o.out.as_os_str().to_os_string();
        s.push(".tmp");
        PathBuf::from(s)
    };
    Tensor::write_safetensors(&[("prototypes", &protos)], &tmp)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &o.out).with_context(|| format!("cannot write {}", o.out.display()))?;
    write_bytes_atomic(&manifest_path(&o.out), &serde_json::to_vec_pretty(&manifest)?)?;
    let _ = std::fs::remove_dir_all(&parts);
    Ok(manifest)
}

/// Prototypes read back with their manifest.
pub struct Prototypes {
    /// [C, D] f32.
    pub matrix: Tensor,
    /// How they were made.
    pub manifest: PrototypeManifest,
}

/// Reads `file` and `file.json`, checking that they agree.
pub fn read_prototypes(file: &Path) -> Result<Prototypes> {
    let mp = manifest_path(file);
    let manifest: PrototypeManifest = serde_json::from_slice(
        &std::fs::read(&mp).with_context(|| format!("cannot read {} (written beside the prototypes)", mp.display()))?,
    )
    .with_context(|| format!("{}: not a vox2pix prototype manifest", mp.display()))?;
    let t = Tensor::read_safetensors(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let matrix = t
        .into_iter()
        .find(|(n, _)| n == "prototypes")
        .map(|(_, t)| t)
        .with_context(|| format!("{}: no `prototypes` tensor", file.display()))?;
    let want = [manifest.wnids.len() as i64, manifest.dim as i64];
    ensure!(
        matrix.size() == want,
        "{}: prototypes are {:?} but {} lists {} classes of dimension {}; rebuild them",
        file.display(),
        matrix.size(),
        mp.display(),
        want[0],
        want[1]
    );
    Ok(Prototypes { matrix, manifest })
}
