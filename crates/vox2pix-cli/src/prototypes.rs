//! `vox2pix prototypes build`: ImageNet class prototypes for semantic classification on real data; argument
//! parsing and a call into the library (`vox2pix::eval::prototypes`).
use crate::train::DeviceArgs;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use vox2pix::eval::prototypes::{build_prototypes, manifest_path, PrototypeBuild};

#[derive(Args, Debug)]
#[command(
    about = "ImageNet class prototypes (AlexNet features[:10] class means) for semantic classification on real data"
)]
pub struct PrototypesArgs {
    #[command(subcommand)]
    pub action: PrototypesAction,
}

#[derive(Subcommand, Debug)]
pub enum PrototypesAction {
    Build(BuildArgs),
}

#[derive(Args, Debug)]
#[command(
    about = "Build class prototypes from an ImageNet-layout folder (the reference protocol, method.md §6.2)",
    long_about = "Build class prototypes from an ImageNet-layout folder: one subfolder per WordNet id \
(n01443537/…JPEG). For each class, a seeded choice of --per-class images (never a file named in --exclude) is \
centre-cropped, resized to --size, mapped to x/127.5 − 1 and embedded by AlexNet features[:10] (through conv4 + \
ReLU); the prototype is the mean. Writes FILE (safetensors, `prototypes` [C, D]) and FILE.json (wnids, counts, \
every chosen file, the hash of the lists and of the weights). A killed build resumes from FILE.parts/.\n\n\
The paper's class set: GOD's 50 test classes plus the ILSVRC-1k classes that are not test classes (1,030 in \
all), with the test stimuli excluded so a test image never enters its own class prototype. Then \
`vox2pix evaluate --prototypes FILE --alexnet WEIGHTS` reports 50/100/500/1000-way classification.",
    after_help = "Examples:\n  vox2pix weights fetch alexnet\n  \
vox2pix prototypes build --images imagenet/train --exclude GOD/stimulus_ImageNetTest.tsv --out protos/god.safetensors\n  \
vox2pix prototypes build --images imagenet/train --classes classes.txt --per-class 20 --out protos/small.safetensors"
)]
pub struct BuildArgs {
    /// ImageNet-layout folder (one subfolder per wnid).
    #[arg(long)]
    pub images: PathBuf,
    /// Classes to build: a file with one wnid per line (first field), or wnids separated by commas [default: every class folder].
    #[arg(long)]
    pub classes: Option<String>,
    /// Images never used: a GOD stimulus table (stimulus_ImageNetTest.tsv), a folder of stimulus images, or a file of file stems (repeatable).
    #[arg(long)]
    pub exclude: Vec<PathBuf>,
    /// AlexNet weights (.pth or .safetensors) [default: the file `vox2pix weights fetch alexnet` writes].
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Channel width of the weights (1.0 = torchvision's AlexNet).
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    /// Images per class (the reference: 100).
    #[arg(long, default_value_t = 100)]
    pub per_class: usize,
    /// Seed of the per-class choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Image side in pixels (the GOD datasets' 112).
    #[arg(long, default_value_t = 112)]
    pub size: usize,
    /// Output file (.safetensors); FILE.json is written beside it.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// The AlexNet file `--weights` or `--alexnet` names, or the fetched one.
pub fn alexnet_weights(given: Option<&Path>) -> Result<PathBuf> {
    let p = given
        .map(Path::to_path_buf)
        .unwrap_or_else(|| vox2pix::model::backbone::torchvision_cache_path("alexnet"));
    if !p.exists() {
        bail!(
            "AlexNet weights {} not found; fetch them with `vox2pix weights fetch alexnet` or pass the file",
            p.display()
        );
    }
    Ok(p)
}

fn read_classes(spec: &str) -> Result<Vec<String>> {
    let p = Path::new(spec);
    let list: Vec<String> = if p.is_file() {
        std::fs::read_to_string(p)
            .with_context(|| format!("cannot read {}", p.display()))?
            .lines()
            .filter_map(|l| l.split([' ', '\t', ',']).find(|f| !f.is_empty()).map(String::from))
            .filter(|f| !f.starts_with('#'))
            .collect()
    } else {
        spec.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    if let Some(bad) = list.iter().find(|w| vox2pix_formats::images::wnid_offset(w).is_none()) {
        bail!("--classes: '{bad}' is not a WordNet id like n01443537 (give a file of wnids or a comma list)");
    }
    Ok(list)
}

fn read_exclusions(paths: &[PathBuf]) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for p in paths {
        if p.is_dir() {
            for e in walk(p)? {
                if let Some(stem) = e.file_stem().and_then(|s| s.to_str()) {
                    out.insert(stem.to_string());
                }
            }
        } else if let Ok(keys) = vox2pix_formats::convert::read_stimulus_table(p) {
            out.extend(keys.into_iter().map(|(w, i)| format!("n{w:08}_{i}")));
        } else {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("--exclude {}: cannot read it", p.display()))?;
            out.extend(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| {
                Path::new(l)
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or(l)
                    .to_string()
            }));
        }
    }
    Ok(out)
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

pub fn run(a: &PrototypesArgs) -> Result<()> {
    match &a.action {
        PrototypesAction::Build(b) => {
            let device = b.device.resolve()?;
            let m = build_prototypes(&PrototypeBuild {
                images: b.images.clone(),
                classes: b.classes.as_deref().map(read_classes).transpose()?,
                weights: alexnet_weights(b.weights.as_deref())?,
                width: b.width,
                per_class: b.per_class,
                seed: b.seed,
                exclude: read_exclusions(&b.exclude)?,
                size: b.size,
                out: b.out.clone(),
                batch: 32,
                device,
            })?;
            println!(
                "wrote {} ({} classes × {} dims, {} images, {} test stimuli left out) and {}",
                b.out.display(),
                m.wnids.len(),
                m.dim,
                m.counts.iter().sum::<usize>(),
                m.excluded,
                manifest_path(&b.out).display()
            );
            Ok(())
        }
    }
}
