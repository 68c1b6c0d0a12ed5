//! The `vox2pix` binary: argument parsing and dispatch only; every command calls into the library crates
//! (`vox2pix::app` for whole jobs, `vox2pix_formats` and `vox2pix_synth` for the data commands).
use clap::{Parser, Subcommand};

mod ablation;
mod bench;
mod compare;
mod convert;
mod demo;
mod evaluate;
mod info;
mod layers;
mod prototypes;
mod rating;
mod report;
mod study;
mod synth;
mod train;
mod weights;

#[derive(Parser, Debug)]
#[command(
    name = "vox2pix",
    version,
    about = "Reconstruct images and semantic classes from fMRI (Gaziv et al. 2022), on libtorch",
    long_about = "vox2pix trains an image→fMRI encoder and a self-supervised fMRI→image decoder, and evaluates \
reconstructions by n-way identification and large-scale semantic classification.\n\n\
The built-in synthetic world (procedural images + simulated visual cortex) is the default dataset.",
    after_help = "Examples:\n  vox2pix demo --out runs/demo\n  vox2pix synth --preset tiny --seed 1 --out data/tiny\n  vox2pix info data/tiny"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Demo(demo::DemoArgs),
    /// Generate a synthetic-world dataset (images + simulated fMRI).
    Synth(synth::SynthArgs),
    Info(info::InfoArgs),
    Convert(convert::ConvertArgs),
    Weights(weights::WeightsArgs),
    /// Train the synthetic world's own narrow VGG16 on its non-test classes.
    TrainBackbone(train::TrainBackboneArgs),
    /// Train the encoder E (image → fMRI) on paired data.
    TrainEncoder(train::TrainEncoderArgs),
    /// Train the decoder D (fMRI → image) on paired data plus self-supervision.
    TrainDecoder(train::TrainDecoderArgs),
    /// Reconstruct the test images from their averaged fMRI with a trained decoder.
    Reconstruct(train::ReconstructArgs),
    Evaluate(evaluate::EvaluateArgs),
    Report(report::ReportArgs),
    Ablation(ablation::AblationArgs),
    /// Paired comparison of two evaluated decoder runs on the same test images (B − A, CI, p).
    Compare(compare::CompareArgs),
    /// Variants × seeds on synthetic worlds: paired effects against paired-only training, with CIs.
    Study(study::StudyArgs),
    /// Layer preference of a trained encoder per ROI, validated against the synthetic world.
    Layers(layers::LayersArgs),
    Prototypes(prototypes::PrototypesArgs),
    Rating(rating::RatingArgs),
    /// Benchmarks against the PyTorch twin: decoder step, encoder step, decoder epoch (ms/step, peak memory).
    Bench(bench::BenchArgs),
}

fn main() {
    std::process::exit(run_cli());
}

/// Runs the CLI and returns the process exit code (0 ok, 1 error, 2 usage error).
fn run_cli() -> i32 {
    vox2pix_formats::hdf5::silence_contained_panics();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Info(a) => info::run(&a),
        Command::Convert(a) => convert::run(&a),
        Command::Weights(a) => weights::run(&a),
        Command::Synth(a) => synth::run(&a),
        Command::Demo(a) => demo::run(&a),
        Command::TrainBackbone(a) => train::train_backbone(&a),
        Command::TrainEncoder(a) => train::train_encoder(&a),
        Command::TrainDecoder(a) => train::train_decoder(&a),
        Command::Reconstruct(a) => train::reconstruct(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Evaluate(a) => evaluate::run(&a),
        Command::Report(a) => report::run(&a),
        Command::Ablation(a) => ablation::run(&a),
        Command::Compare(a) => compare::run(&a),
        Command::Study(a) => study::run(&a),
        Command::Layers(a) => layers::run(&a),
        Command::Prototypes(a) => prototypes::run(&a),
        Command::Rating(a) => rating::run(&a),
    }
}
