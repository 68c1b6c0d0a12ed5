//! End-to-end training jobs as the CLI and the demo run them: load config and data, open the run directory,
//! train, write the final model. Each returns a summary; the CLI only parses arguments and prints.
use crate::data::pool::{GuardedPool, ImagePool};
use crate::data::TrainingData;
use crate::model::run::run_config;
use crate::model::run::RunDir;
use crate::model::{DecoderModel, EncoderModel};
use crate::train::decoder::{train_decoder, DecoderOutcome};
use crate::train::encoder::{train_encoder, EncoderOutcome};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};
use vox2pix_formats::config::TrainConfig;
use vox2pix_formats::npz::{write_npz, Compression, NpyArray};

/// Opens the run, checks that a resumed run keeps its config, and records config and data provenance.
fn open_run(out: &Path, kind: &str, resume: bool, cfg: &TrainConfig, data: &TrainingData) -> Result<RunDir> {
    let run = RunDir::open(out, kind, resume)?;
    let text = cfg.to_toml()?;
    let cfg_path = run.path.join("config.toml");
    if resume && cfg_path.exists() {
        let old = std::fs::read_to_string(&cfg_path)?;
        if old != text {
            bail!(
                "{}: the config differs from the one this run was started with; resume with the same config \
                 (see {}) or start a new run",
                out.display(),
                cfg_path.display()
            );
        }
    }
    // Check the checkpoint against the data before rewriting anything, so a refused resume leaves the run as it was.
    if let Some(state) = run.read_state()? {
        if state.n_voxels != data.n_voxels {
            bail!(
                "{}: checkpoint was trained for {} voxels but the data has {}; use the matching dataset/ROI",
                out.display(),
                state.n_voxels,
                data.n_voxels
            );
        }
    }
    run.write_text("config.toml", &text)?;
    let data_json = json!({
        "data": data.dir.display().to_string(),
        "roi": data.roi,
        "n_voxels": data.n_voxels,
        "image_size": data.image_size,
        "n_train_trials": data.n_trials(),
        "test_classes": data.test_classes,
        "manifest": data.manifest,
    });
    run.write_text("data.json", &serde_json::to_string_pretty(&data_json)?)?;
    Ok(run)
}

/// `vox2pix train-encoder`.
pub fn encoder_job(
    data_dir: &Path,
    cfg: &TrainConfig,
    out: &Path,
    device: Device,
    resume: bool,
) -> Result<EncoderOutcome> {
    let mut data = TrainingData::load(data_dir, &cfg.roi, device)?;
    data.restrict_paired(cfg.paired_images)?;
    install_world_backbone_if_shipped(cfg, &data.dir)?;
    without_half_made_run(out, || {
        let run = open_run(out, "encoder", resume, cfg, &data)?;
        train_encoder(cfg, &data, &run, device)
    })
}

/// A synthetic world exported by `vox2pix synth` has no backbone yet; when its config asks for the world's
/// backbone and vox2pix ships one made for exactly this world, it is installed (as `vox2pix demo` does), so
/// `train-encoder` does not send the user off to train one.
fn install_world_backbone_if_shipped(cfg: &TrainConfig, data_dir: &Path) -> Result<()> {
    let is_world = vox2pix_formats::manifest::read_manifest(data_dir)
        .ok()
        .flatten()
        .is_some();
    if cfg.backbone.weights != "world" || !is_world || crate::model::backbone::world_backbone_path(data_dir).exists() {
        return Ok(());
    }
    let world = vox2pix_synth::export::world_from_dir(data_dir)?;
    if let Some(how) = crate::app::demo::install_shipped_backbone(data_dir, &world)? {
        eprintln!("backbone: {how}, installed in {}", data_dir.join("backbone").display());
    }
    Ok(())
}

/// Runs `job`, which creates a run in `out`. When `out` was missing or empty and the job fails before it
/// commits a first checkpoint (e.g. the backbone weights do not load), `out` is returned to how it was found:
/// a failed start leaves no half-made run that a later call would refuse or mistake for a real one.
fn without_half_made_run<T>(out: &Path, job: impl FnOnce() -> Result<T>) -> Result<T> {
    let existed = out.exists();
    let was_empty = !existed || std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_none());
    let res = job();
    if res.is_err() && was_empty && !out.join("state.json").exists() {
        if existed {
            for e in std::fs::read_dir(out).into_iter().flatten().flatten() {
                let p = e.path();
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        } else {
            let _ = std::fs::remove_dir_all(out);
        }
    }
    res
}

/// The unpaired pool for the ED stream: a class-folder tree given by the user (decoded once into a cache), else
/// the synthetic world's own (rendered on demand) for a synthetic world, else an NSD dataset's
/// `unpaired_<size>.npz` (NSD images written by `convert nsd --unpaired`, checked against its test images).
pub fn unpaired_pool(
    cfg: &TrainConfig,
    data: &TrainingData,
    unpaired_dir: Option<&Path>,
) -> Result<Option<GuardedPool<Box<dyn ImagePool>>>> {
    let t = &cfg.decoder_training;
    if t.unpaired_batch == 0 || t.weight_ed <= 0.0 {
        return Ok(None);
    }
    let pool: Box<dyn ImagePool> = if let Some(dir) = unpaired_dir {
        let spec = vox2pix_formats::images::PoolSpec {
            per_class: t.unpaired_per_class,
            seed: cfg.seed,
            exclude: data.test_classes.iter().copied().collect(),
            image_size: data.image_size as usize,
        };
        let cache = dir.join(format!(
            ".vox2pix-pool-{}px-{}pc-seed{}.npz",
            data.image_size, t.unpaired_per_class, cfg.seed
        ));
        Box::new(vox2pix_formats::images::cached_unpaired_pool(dir, &cache, &spec)?)
    } else if data.manifest.as_ref().is_some_and(|m| m.is_synthetic_world()) {
        Box::new(crate::data::world_pool::WorldPool::new(
            &data.dir,
            t.unpaired_per_class,
            t.unpaired_exclude_paired_classes,
        )?)
    } else if let Some(pool) = data
        .manifest
        .as_ref()
        .filter(|m| m.source == "nsd")
        .map(|_| vox2pix_formats::nsd::read_unpaired_pool(&data.dir, data.image_size as usize))
        .transpose()?
        .flatten()
    {
        Box::new(pool)
    } else {
        bail!(
            "the ED stream needs unpaired natural images: pass --unpaired DIR (an ImageNet-style class-folder tree; \
             for NSD, `vox2pix convert nsd --unpaired N` writes a pool of NSD images into the dataset), or set \
             decoder_training.unpaired_batch = 0 to train on paired data only"
        );
    };
    Ok(Some(GuardedPool::new(pool, &data.test_classes)?))
}

/// `vox2pix train-decoder`. The backbone, encoder and ROI come from the encoder run, so E is rebuilt exactly.
pub fn decoder_job(
    data_dir: &Path,
    encoder_run: &Path,
    cfg: &TrainConfig,
    out: &Path,
    device: Device,
    resume: bool,
    unpaired_dir: Option<&Path>,
) -> Result<DecoderOutcome> {
    let enc_cfg = run_config(encoder_run)?;
    let mut cfg = cfg.clone();
    if cfg.roi != enc_cfg.roi {
        bail!(
            "the encoder run {} was trained on ROI {:?} but this config asks for {:?}; use the same roi",
            encoder_run.display(),
            enc_cfg.roi,
            cfg.roi
        );
    }
    if cfg.paired_images != enc_cfg.paired_images {
        bail!(
            "the encoder run {} was trained on paired_images = {} but this config asks for {}: the paired set is \
             one choice for E and D (0 = all); train the encoder with the same paired_images",
            encoder_run.display(),
            enc_cfg.paired_images,
            cfg.paired_images
        );
    }
    cfg.backbone = enc_cfg.backbone.clone();
    cfg.encoder = enc_cfg.encoder.clone();
    let mut data = TrainingData::load(data_dir, &cfg.roi, device)?;
    data.restrict_paired(cfg.paired_images)?;
    let enc = EncoderModel::load_run(encoder_run, &cfg, &data, device)?;
    let pool = unpaired_pool(&cfg, &data, unpaired_dir)?;
    without_half_made_run(out, || {
        let run = open_run(out, "decoder", resume, &cfg, &data)?;
        let abs = std::fs::canonicalize(encoder_run).unwrap_or_else(|_| encoder_run.to_path_buf());
        run.write_text(
            "encoder.json",
            &serde_json::to_string_pretty(&json!({"encoder_run": abs, "pool": pool.as_ref().map(|p| p.describe())}))?,
        )?;
        train_decoder(&cfg, &data, &enc, pool.as_ref(), &run, device)
    })
}

/// `vox2pix reconstruct`: D(y_test_avg) → `RUN/reconstructions.npz` (`recon`, `gt`: [N, S, S, 3] f32 in [0,1])
/// and `RUN/reconstructions.png` (ground truth above reconstruction, test-image order).
pub fn reconstruct_job(run_dir: &Path, data_dir: &Path, device: Device) -> Result<PathBuf> {
    let cfg = run_config(run_dir)?;
    let data = TrainingData::load(data_dir, &cfg.roi, device)?;
    let dec = DecoderModel::load_run(run_dir, &cfg, &data, device)?;
    let recon = dec.reconstruct(&data.y_test_avg, 64);
    let to_hwc = |t: &Tensor| {
        t.permute([0, 2, 3, 1])
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous()
    };
    let path = run_dir.join("reconstructions.npz");
    let (r, g) = (
        tensor_to_npy(&to_hwc(&recon))?,
        tensor_to_npy(&to_hwc(&data.test_images))?,
    );
    // Both files or neither: a failed write must not leave a new grid next to an old npz (or the reverse).
    let png = run_dir.join("reconstructions.png");
    let (tmp_npz, tmp_png) = (
        run_dir.join("reconstructions.tmp.npz"),
        run_dir.join("reconstructions.tmp.png"),
    );
    let written = write_npz(&tmp_npz, &[("recon", &r), ("gt", &g)], Compression::Deflated)
        .and_then(|()| crate::report::grid::write_pair_grid(&tmp_png, &data.test_images, &recon, 10))
        .and_then(|()| {
            std::fs::rename(&tmp_npz, &path).with_context(|| format!("cannot write {}", path.display()))?;
            std::fs::rename(&tmp_png, &png).with_context(|| format!("cannot write {}", png.display()))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp_npz);
        let _ = std::fs::remove_file(&tmp_png);
    }
    written?;
    Ok(path)
}

/// A CPU f32 tensor as an npy array of the same shape.
pub fn tensor_to_npy(t: &Tensor) -> Result<NpyArray> {
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let data: Vec<f32> = Vec::try_from(
        t.to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous()
            .flatten(0, -1),
    )?;
    let a = ndarray::ArrayD::from_shape_vec(shape, data)?;
    Ok(NpyArray::new(a.view()))
}
