//! `vox2pix report`: the HTML page of an evaluated decoder run.
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(
    about = "Write RUN/report.html: reconstruction grid, training curves, metric charts, config and data manifest",
    after_help = "Needs RUN/reconstructions.png (vox2pix reconstruct) and RUN/metrics.json (vox2pix evaluate).\n\n\
Example:\n  vox2pix report --run runs/demo/decoder"
)]
pub struct ReportArgs {
    /// Decoder run directory.
    #[arg(long)]
    pub run: PathBuf,
}

pub fn run(a: &ReportArgs) -> Result<()> {
    let p = vox2pix::report::html::write_report(&a.run)?;
    println!("wrote {}", p.display());
    Ok(())
}
