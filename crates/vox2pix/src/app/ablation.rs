//! `vox2pix ablation`: the paper's central claim as a table. Trains D on the same data, seed and encoder with
//! {paired only, + ED, + ED + DE}, evaluates each the same way, and writes the table (`report::ablation`) with
//! every variant's paired difference to paired only (`app::compare`).
//! Optionally adds ROI-restricted decoders (full method, one encoder per ROI). Finished variants are reused, so
//! an interrupted ablation continues.
use crate::app::compare::{compare_tables, read_per_image_csv, PER_IMAGE_CSV};
use crate::app::jobs;
use crate::app::variants::Variant;
use crate::eval::paired::PairedOptions;
use crate::eval::run_eval::{evaluate_run, EvaluateOptions};
use crate::model::run::run_config;
use crate::report::ablation::{write_tables, AblationRow};
use crate::report::html::write_report;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use tch::Device;
use vox2pix_formats::config::TrainConfig;

/// What to ablate, and where.
pub struct AblationOptions {
    /// Dataset directory (`vox2pix_formats` layout).
    pub data: PathBuf,
    /// Base training config; each variant changes only the stream settings.
    pub config: TrainConfig,
    /// The trained encoder run shared by the stream variants.
    pub encoder_run: PathBuf,
    /// Output directory: one decoder run per variant, plus the tables.
    pub out: PathBuf,
    /// ROI-restricted decoders to add (e.g. V1, LVC, HVC); each gets its own encoder run under `out`.
    pub rois: Vec<String>,
    /// How each variant is evaluated.
    pub eval: EvaluateOptions,
    /// Device for training and evaluation.
    pub device: Device,
}

/// The three stream variants on top of `cfg` (`app::variants`), under the ablation table's names; the ED and DE
/// batches keep the config's sizes when it sets them.
pub fn variants(cfg: &TrainConfig) -> Vec<(&'static str, TrainConfig)> {
    [
        ("paired", Variant::Paired),
        ("paired+ED", Variant::Ed),
        ("paired+ED+DE", Variant::EdDe),
    ]
    .into_iter()
    .map(|(name, v)| (name, v.config(cfg, 0)))
    .collect()
}

fn train_eval(o: &AblationOptions, name: &str, cfg: &TrainConfig, enc: &Path) -> Result<AblationRow> {
    let run = o.out.join(name);
    if !run.join(crate::model::DECODER_FILE).exists() {
        eprintln!("[ablation] training decoder '{name}'");
        jobs::decoder_job(&o.data, enc, cfg, &run, o.device, run.join("run.json").exists(), None)?;
    }
    jobs::reconstruct_job(&run, &o.data, o.device)?;
    eprintln!("[ablation] evaluating '{name}'");
    let metrics = evaluate_run(&run, &o.data, o.device, &o.eval)?;
    write_report(&run)?;
    Ok(AblationRow {
        name: name.to_string(),
        run,
        metrics,
    })
}

/// Trains (or reuses), reconstructs, evaluates and reports each variant, then the ROI decoders, and writes the
/// tables to `out`. Fails when the encoder run's ROI differs from the config's.
pub fn run_ablation(o: &AblationOptions) -> Result<Vec<AblationRow>> {
    std::fs::create_dir_all(&o.out)?;
    let enc_cfg = run_config(&o.encoder_run)?;
    if enc_cfg.roi != o.config.roi {
        bail!(
            "the encoder run {} was trained on ROI {:?} but the config asks for {:?}; use the same roi",
            o.encoder_run.display(),
            enc_cfg.roi,
            o.config.roi
        );
    }
    let mut rows = Vec::new();
    for (name, cfg) in variants(&o.config) {
        rows.push(train_eval(o, name, &cfg, &o.encoder_run)?);
    }
    let full = variants(&o.config)
        .pop()
        .map(|v| v.1)
        .unwrap_or_else(|| o.config.clone());
    for roi in &o.rois {
        let mut cfg = full.clone();
        cfg.roi = vec![roi.clone()];
        let enc = o.out.join(format!("encoder-{roi}"));
        if !enc.join(crate::model::ENCODER_FILE).exists() {
            eprintln!("[ablation] training the {roi} encoder");
            jobs::encoder_job(&o.data, &cfg, &enc, o.device, enc.join("run.json").exists())?;
        }
        rows.push(train_eval(o, &format!("roi-{roi}"), &cfg, &enc)?);
    }
    // Every variant against the first (paired only) on the same test images: the paired difference and its CI,
    // which the variants' own CIs cannot show (they share the image-to-image spread).
    let base = read_per_image_csv(&rows[0].run.join(PER_IMAGE_CSV))?;
    let mut vs_paired = Vec::new();
    for r in rows.iter().skip(1) {
        let table = read_per_image_csv(&r.run.join(PER_IMAGE_CSV))?;
        vs_paired.push((
            r.name.clone(),
            compare_tables(&base, &table, &PairedOptions::default())?.rows,
        ));
    }
    write_tables(&o.out, &rows, &vs_paired)?;
    Ok(rows)
}
