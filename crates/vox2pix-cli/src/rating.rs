//! `vox2pix rating export|analyze`: the human evaluation of reconstructions; argument parsing and calls into
//! the library (`vox2pix::report::rating`, `vox2pix::eval::rating`).
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use vox2pix::eval::rating::{analyze, read_key};
use vox2pix::report::rating::{export_rating, RatingExport};
use vox2pix_formats::io::write_bytes_atomic;

#[derive(Args, Debug)]
#[command(about = "Human rating of reconstructions, as in the paper: a self-contained web experiment and its analysis")]
pub struct RatingArgs {
    #[command(subcommand)]
    pub action: RatingAction,
}

#[derive(Subcommand, Debug)]
pub enum RatingAction {
    Export(ExportArgs),
    Analyze(AnalyzeArgs),
}

#[derive(Args, Debug)]
#[command(
    about = "Write OUT/rating.html (one reconstruction, n candidate originals per trial) and OUT/key.json",
    long_about = "Write a self-contained web page for raters: an intro and consent screen, then one trial per test \
image and n: the reconstruction above n candidate photographs (the original and n − 1 other test images, in random \
order), answered by click or number key, with a progress line; at the end the answers are offered as a CSV \
download (and as text to copy). The page holds no answer key: OUT/key.json does, and `rating analyze` reads it. \
Images are inlined, so the page works offline; send it to raters as one file.",
    after_help = "Examples:\n  vox2pix reconstruct --run runs/demo/decoder --data runs/demo/data\n  \
vox2pix rating export --run runs/demo/decoder --n 2,5,10 --out runs/demo/rating\n  \
vox2pix rating analyze --key runs/demo/rating/key.json answers/*.csv"
)]
pub struct ExportArgs {
    /// Decoder run with reconstructions.npz (`vox2pix reconstruct`).
    #[arg(long)]
    pub run: PathBuf,
    /// Candidate counts; every test image gets one trial per n.
    #[arg(long, value_delimiter = ',', default_value = "2,5,10")]
    pub n: Vec<usize>,
    /// Seed of the candidates and the trial order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Title shown on the first screen.
    #[arg(long, default_value = "Which photograph was this image reconstructed from?")]
    pub title: String,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
#[command(
    about = "Score rater CSVs: accuracy per n (per rater and pooled, Wilson 95 % CIs) and inter-rater agreement",
    after_help = "Example:\n  vox2pix rating analyze --key runs/demo/rating/key.json rating-*.csv --out runs/demo/rating/analysis.csv"
)]
pub struct AnalyzeArgs {
    /// key.json written by `rating export` with the page the raters used.
    #[arg(long)]
    pub key: PathBuf,
    /// The CSV files the raters downloaded.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Also write the accuracy table as CSV.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(a: &RatingArgs) -> Result<()> {
    match &a.action {
        RatingAction::Export(e) => {
            let key = export_rating(&RatingExport {
                run: e.run.clone(),
                ns: e.n.clone(),
                seed: e.seed,
                out: e.out.clone(),
                title: e.title.clone(),
            })?;
            println!(
                "wrote {}/rating.html ({} trials, page {}) and {}/key.json",
                e.out.display(),
                key.trials.len(),
                key.page_id,
                e.out.display()
            );
            Ok(())
        }
        RatingAction::Analyze(z) => {
            let key = read_key(&z.key)?;
            let r = analyze(&key, &z.files)?;
            print!("{}", r.markdown());
            if let Some(out) = &z.out {
                write_bytes_atomic(out, r.csv().as_bytes())?;
                println!("wrote {}", out.display());
            }
            Ok(())
        }
    }
}
