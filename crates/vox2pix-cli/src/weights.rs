//! `vox2pix weights fetch`: torchvision VGG16 / AlexNet weights → verified `.safetensors` in the weights cache.
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use vox2pix_formats::weights::fetch::{default_cache_dir, fetch, torchvision_source, Checksum};

#[derive(Args, Debug)]
#[command(about = "Manage pretrained backbone weights")]
pub struct WeightsArgs {
    #[command(subcommand)]
    pub action: WeightsAction,
}

#[derive(Subcommand, Debug)]
pub enum WeightsAction {
    Fetch(FetchArgs),
}

#[derive(Args, Debug)]
#[command(
    about = "Download (or take a local copy of) torchvision weights, verify the sha256, convert to safetensors",
    long_about = "Download the torchvision ImageNet weights of MODEL (vgg16: vgg16-397923af.pth, vgg19: \
vgg19-dcbb9e9d.pth, alexnet: alexnet-owt-7be5be79.pth from download.pytorch.org), verify the sha256 and write MODEL.safetensors into the \
weights cache ($VOX2PIX_CACHE/weights, else ~/.cache/vox2pix/weights; where training looks for them).\n\n\
Without --sha256 the 8-hex prefix in the torchvision file name is checked (what torch.hub checks); the full \
digest is recorded in MODEL.sha256. HTTPS downloads use the curl program; without it, download the file \
yourself and pass --from FILE. Nothing is left in the cache when a step fails.",
    after_help = "Examples:\n  vox2pix weights fetch vgg16\n  vox2pix weights fetch vgg19\n  vox2pix weights fetch alexnet --from ~/Downloads/alexnet-owt-7be5be79.pth"
)]
pub struct FetchArgs {
    /// vgg16, vgg19 (E of the `ssr` preset) or alexnet.
    pub model: String,
    /// Use this local .pth instead of downloading.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Download from this address instead (http:// or https://), e.g. a mirror.
    #[arg(long)]
    pub url: Option<String>,
    /// Expected full sha256 (64 hex digits) instead of the file-name prefix.
    #[arg(long)]
    pub sha256: Option<String>,
    /// Cache folder (default: see above).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub fn run(args: &WeightsArgs) -> Result<()> {
    match &args.action {
        WeightsAction::Fetch(a) => {
            let mut src = torchvision_source(&a.model)?;
            if let Some(u) = &a.url {
                src.url = u.clone();
            }
            if let Some(h) = &a.sha256 {
                if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    bail!("--sha256 must be 64 hex digits, got '{h}'");
                }
                src.checksum = Checksum::Full(h.clone());
            }
            let dir = a.dir.clone().unwrap_or_else(default_cache_dir);
            let f = fetch(&src, a.from.as_deref(), &dir)?;
            println!(
                "{} ({} tensors, sha256 {})",
                f.safetensors.display(),
                f.n_tensors,
                f.sha256
            );
            Ok(())
        }
    }
}
