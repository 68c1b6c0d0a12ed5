//! `vox2pix evaluate`, `vox2pix report` and `vox2pix ablation`: argument parsing and a call into the library.
use crate::train::DeviceArgs;
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;
use vox2pix::eval::run_eval::{evaluate_run, metrics_files, EvaluateOptions, LpipsNet, LpipsSpec, PoolChoice};

#[derive(Args, Debug)]
#[command(
    about = "Evaluate a trained decoder run: identification, semantic classification, encoder r, PixCorr, SSIM",
    after_help = "Writes RUN/metrics.json, RUN/metrics.csv and RUN/metrics_per_image.csv.\n\nExamples:\n  \
vox2pix evaluate --run runs/demo/decoder --data runs/demo/data\n  \
vox2pix evaluate --run runs/demo/decoder --data runs/demo/data --pool test --trials 200\n  \
vox2pix evaluate --run runs/god3 --data data/god3 --prototypes protos/god.safetensors\n  \
vox2pix evaluate --run runs/god3 --data data/god3 --lpips lpips/weights/v0.1/alex.pth\n  \
vox2pix evaluate --run runs/nsd1 --data data/nsd-s1 --suite nsd8 --suite-weights weights/nsd8"
)]
pub struct EvaluateArgs {
    /// Decoder run directory (from train-decoder or demo).
    #[arg(long)]
    pub run: PathBuf,
    /// The dataset the run was trained on.
    #[arg(long)]
    pub data: PathBuf,
    /// Random trials per test image for identification and classification.
    #[arg(long, default_value_t = 1000)]
    pub trials: usize,
    /// Identification distractor pool(s): test, external (synthetic world's distractors), or both.
    #[arg(long = "pool", value_delimiter = ',', default_value = "test,external")]
    pub pools: Vec<String>,
    /// At most this many external distractor images (rendered and embedded on the fly).
    #[arg(long, default_value_t = 1000)]
    pub external_cap: usize,
    /// Real data: a folder of distractor images for the external pool (e.g. ImageNet validation images, the
    /// reference's pool; the first --external-cap by path). A synthetic world uses its own distractors.
    #[arg(long, value_name = "DIR")]
    pub external_images: Option<PathBuf>,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sanity check: score the ground-truth test images as if they were the reconstructions.
    #[arg(long)]
    pub recon_from_gt: bool,
    /// Real data: class prototypes from `vox2pix prototypes build`, for semantic classification.
    #[arg(long)]
    pub prototypes: Option<PathBuf>,
    /// AlexNet weights the prototypes were built with [default: the file `vox2pix weights fetch alexnet` writes].
    #[arg(long)]
    pub alexnet: Option<PathBuf>,
    /// Calibrated LPIPS v0.1 as a third identification distance: the lpips package's heads file
    /// (lpips/weights/v0.1/alex.pth or vgg.pth).
    #[arg(long, value_name = "HEADS_PTH")]
    pub lpips: Option<PathBuf>,
    /// LPIPS network: alex or vgg (must match the heads file).
    #[arg(long, default_value = "alex")]
    pub lpips_net: String,
    /// LPIPS backbone weights (torchvision alexnet / vgg16 layout) [default: the file `vox2pix weights fetch alexnet|vgg16` writes].
    #[arg(long)]
    pub lpips_weights: Option<PathBuf>,
    /// Channel width of the LPIPS backbone weights (1.0 = torchvision's).
    #[arg(long, default_value_t = 1.0)]
    pub lpips_width: f64,
    /// An extra metric suite: nsd8 (the NSD 8-metric table: PixCorr, SSIM, AlexNet(2), AlexNet(5), InceptionV3,
    /// CLIP, EffNet-B, SwAV, as MindEye2 computes them; metrics.md §2.1).
    #[arg(long, value_name = "SUITE")]
    pub suite: Option<String>,
    /// Folder of the suite's weight files (alexnet-owt-7be5be79.pth, inception_v3_google-0cc3c7bd.pth,
    /// ViT-L-14.pt, efficientnet_b1-c27df63c.pth, swav_800ep_pretrain.pth.tar); default: torch hub's
    /// ~/.cache/torch/hub/checkpoints.
    #[arg(long, value_name = "DIR")]
    pub suite_weights: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

fn lpips_spec(a: &EvaluateArgs, heads: &std::path::Path) -> Result<LpipsSpec> {
    let (net, name) = match a.lpips_net.as_str() {
        "alex" => (LpipsNet::Alex, "alexnet"),
        "vgg" => (LpipsNet::Vgg, "vgg16"),
        other => bail!("--lpips-net: unknown network '{other}'; use alex or vgg"),
    };
    let weights = a
        .lpips_weights
        .clone()
        .unwrap_or_else(|| vox2pix::model::backbone::torchvision_cache_path(name));
    if !weights.exists() {
        bail!(
            "LPIPS backbone weights {} not found; fetch them with `vox2pix weights fetch {name}` or pass --lpips-weights",
            weights.display()
        );
    }
    Ok(LpipsSpec {
        net,
        heads: heads.to_path_buf(),
        weights,
        width: a.lpips_width,
    })
}

pub fn parse_pools(names: &[String]) -> Result<Vec<PoolChoice>> {
    names
        .iter()
        .map(|p| match p.trim() {
            "test" => Ok(PoolChoice::Test),
            "external" => Ok(PoolChoice::External),
            other => bail!("--pool: unknown pool '{other}'; use test, external or test,external"),
        })
        .collect()
}

pub fn run(a: &EvaluateArgs) -> Result<()> {
    let device = a.device.resolve()?;
    let o = EvaluateOptions {
        trials: a.trials,
        pools: parse_pools(&a.pools)?,
        external_cap: a.external_cap,
        seed: a.seed,
        recon_from_gt: a.recon_from_gt,
        external_images: a.external_images.clone(),
        prototypes: match &a.prototypes {
            Some(p) => Some((p.clone(), crate::prototypes::alexnet_weights(a.alexnet.as_deref())?)),
            None => None,
        },
        lpips: match &a.lpips {
            Some(h) => Some(lpips_spec(a, h)?),
            None => None,
        },
        nsd8_weights: match a.suite.as_deref() {
            None => {
                if a.suite_weights.is_some() {
                    bail!("--suite-weights needs --suite nsd8");
                }
                None
            }
            Some("nsd8") => Some(match &a.suite_weights {
                Some(d) => d.clone(),
                None => std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_default()
                    .join(".cache/torch/hub/checkpoints"),
            }),
            Some(other) => bail!("--suite {other}: unknown suite; the one suite is nsd8"),
        },
        ..Default::default()
    };
    if o.trials == 0 {
        bail!("--trials must be at least 1");
    }
    let m = evaluate_run(&a.run, &a.data, device, &o)?;
    for set in &m.identification {
        for r in &set.results {
            println!(
                "identification {:<17} {:<8} {:>2}-way: {:5.1} % [{:5.1}, {:5.1}]  chance {:4.1} %",
                set.distance,
                set.pool,
                r.n,
                100.0 * r.accuracy,
                100.0 * r.accuracy_ci.lo,
                100.0 * r.accuracy_ci.hi,
                100.0 * r.chance
            );
        }
    }
    for r in &m.classification {
        println!(
            "classification {:>4}-way top-{}: {:5.1} % [{:5.1}, {:5.1}]  chance {:4.1} %",
            r.n,
            r.top_k,
            100.0 * r.accuracy,
            100.0 * r.accuracy_ci.lo,
            100.0 * r.accuracy_ci.hi,
            100.0 * r.chance
        );
    }
    if let Some(e) = &m.encoder {
        for roi in std::iter::once(&e.all_voxels).chain(&e.rois) {
            if let Some(s) = &roi.r {
                println!("encoder r {:<10} median {:.3}  mean {:.3}", roi.roi, s.median, s.mean);
            }
        }
    }
    if let (Some(p), Some(s)) = (&m.pixcorr, &m.ssim) {
        println!(
            "PixCorr {:.3} [{:.3}, {:.3}]   SSIM {:.3} [{:.3}, {:.3}]",
            p.mean, p.ci.lo, p.ci.hi, s.mean, s.ci.lo, s.ci.hi
        );
    }
    if let Some(suite) = &m.nsd8 {
        println!(
            "NSD 8-metric suite ({} protocol; ↑ higher / ↓ lower is better):",
            suite.protocol
        );
        for x in &suite.metrics {
            println!(
                "  {:<10} {} {:.4} [{:.4}, {:.4}]  {}",
                x.name,
                if x.higher_is_better { "↑" } else { "↓" },
                x.value.mean,
                x.value.ci.lo,
                x.value.ci.hi,
                x.how
            );
        }
    }
    for f in metrics_files(&a.run) {
        println!("wrote {}", f.display());
    }
    Ok(())
}
