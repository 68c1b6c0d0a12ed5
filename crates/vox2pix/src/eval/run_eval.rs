//! `vox2pix evaluate`: all metrics of one trained decoder run against its dataset, written to
//! `RUN/metrics.json`, `RUN/metrics.csv` and `RUN/metrics_per_image.csv` (module docs of `eval` list the steps).
//!
//! The reconstructions are recomputed from the decoder (D(y_test_avg)), so the numbers never depend on a stale
//! `reconstructions.npz`. On a synthetic world the external identification pool is the world's distractor
//! stream and classification prototypes come from its exemplar stream; the prototype embeddings are cached under
//! `DATA/cache/` keyed by the backbone file and the world, so an ablation embeds the exemplars once.
use super::classification::{PrototypeAccumulator, SemanticClassification};
use super::encoder::{branch_weight_summary, voxel_correlation};
use super::identification::{DistractorPool, NWayIdentification};
use super::image::{pixcorr, ssim};
use super::perceptual::{perceptual_distance_matrix, pixel_correlation_distance_matrix, PerceptualInput};
use super::results::{EvalMetrics, IdentificationSet, MeanWithCi};
use crate::data::TrainingData;
use crate::model::run::{encoder_of, run_config};
use crate::model::DecoderModel;
use crate::model::EncoderModel;
use crate::nn::pearson::{corr_matrix, to_vec_f64};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};
use vox2pix_formats::config::TrainConfig;
use vox2pix_synth::world::World;

/// Which distractor pools identification uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolChoice {
    /// The other test images.
    Test,
    /// The synthetic world's distractor images (skipped on real data).
    External,
}

/// The network of calibrated LPIPS (the `lpips` package's `net`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LpipsNet {
    /// AlexNet conv1–conv5 ReLU taps (`lpips/weights/v0.1/alex.pth`).
    Alex,
    /// VGG16 relu1_2 … relu5_3 (`lpips/weights/v0.1/vgg.pth`).
    Vgg,
}

/// Calibrated LPIPS: the network, the package's heads file, the backbone's torchvision weights and width.
#[derive(Clone, Debug)]
pub struct LpipsSpec {
    /// Which network.
    pub net: LpipsNet,
    /// The `lpips` package's heads (`lin{l}.model.1.weight`).
    pub heads: PathBuf,
    /// The backbone's weights (torchvision `alexnet` / `vgg16` layout).
    pub weights: PathBuf,
    /// Channel width of those weights (1.0 = torchvision's).
    pub width: f64,
}

/// A backbone as a function from images to taps.
type TapsFn<'a> = dyn FnMut(&Tensor) -> Result<Vec<Tensor>> + 'a;

/// The LPIPS backbone, loaded.
enum LpipsBackbone {
    Alex(crate::nn::backbone::AlexNetFeatures),
    Vgg(crate::nn::backbone::Vgg),
}

/// Settings of one evaluation; `Default` is the paper's protocol with a CPU-sized external pool.
#[derive(Clone, Debug)]
pub struct EvaluateOptions {
    /// Random trials per image (identification and classification).
    pub trials: usize,
    /// Identification distractor pools to evaluate.
    pub pools: Vec<PoolChoice>,
    /// At most this many external distractors (each is rendered and run through the backbone).
    pub external_cap: usize,
    /// Seed of every random draw.
    pub seed: u64,
    /// Bootstrap resamples for every CI.
    pub bootstrap: usize,
    /// Sanity check: use the ground-truth test images as the reconstructions (identification must be 100 %).
    pub recon_from_gt: bool,
    /// Images per backbone batch.
    pub batch: i64,
    /// Real data: ImageNet class prototypes (`vox2pix prototypes build`) and the AlexNet weights they were made
    /// with, for semantic classification (method.md §6.2).
    pub prototypes: Option<(PathBuf, PathBuf)>,
    /// Calibrated LPIPS as a third identification distance.
    pub lpips: Option<LpipsSpec>,
    /// Real data: a folder of distractor images for the `external` identification pool (e.g. ImageNet
    /// validation images; at most `external_cap`, the first by path).
    pub external_images: Option<PathBuf>,
    /// The NSD 8-metric suite (`eval::nsd8`), with the folder holding its five weight files.
    pub nsd8_weights: Option<PathBuf>,
}

impl Default for EvaluateOptions {
    fn default() -> Self {
        Self {
            trials: 1000,
            pools: vec![PoolChoice::Test, PoolChoice::External],
            external_cap: 1000,
            seed: 0,
            bootstrap: 10_000,
            recon_from_gt: false,
            batch: 64,
            prototypes: None,
            lpips: None,
            external_images: None,
            nsd8_weights: None,
        }
    }
}

/// Refuses a dataset that is not the one the run was trained on (voxel count, image size, test classes, world).
fn check_same_dataset(run: &Path, data: &TrainingData) -> Result<()> {
    let p = run.join("data.json");
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&p).with_context(|| format!("{}: missing; is {} a decoder run?", p.display(), run.display()))?,
    )
    .with_context(|| format!("{}: corrupt", p.display()))?;
    let trained_on = v["data"].as_str().unwrap_or("?");
    let hint = format!("evaluate with the dataset the run was trained on ({trained_on})");
    if v["n_voxels"].as_i64() != Some(data.n_voxels) {
        bail!(
            "{}: the run was trained on {} voxels but {} has {} (ROI {:?}); {hint}",
            run.display(),
            v["n_voxels"],
            data.dir.display(),
            data.n_voxels,
            data.roi
        );
    }
    if v["image_size"].as_i64() != Some(data.image_size) {
        bail!(
            "{}: the run was trained on {} px images but {} has {} px; {hint}",
            run.display(),
            v["image_size"],
            data.dir.display(),
            data.image_size
        );
    }
    let classes: Option<Vec<i64>> = serde_json::from_value(v["test_classes"].clone()).ok();
    if classes.as_ref() != Some(&data.test_classes) {
        bail!(
            "{}: the run's test set (classes {:?}) differs from the test set of {} (classes {:?}); {hint}",
            run.display(),
            classes.unwrap_or_default(),
            data.dir.display(),
            data.test_classes
        );
    }
    if let Some(m) = &data.manifest {
        let now = serde_json::to_value(m)?;
        if !v["manifest"].is_null() && v["manifest"] != now {
            bail!(
                "{}: the run was trained on another dataset (its manifest differs from {}'s); {hint}",
                run.display(),
                data.dir.display()
            );
        }
    }
    Ok(())
}

/// The synthetic world behind a data folder, or None for other datasets.
fn world_of(data: &TrainingData) -> Result<Option<World>> {
    match &data.manifest {
        Some(m) if m.is_synthetic_world() => Ok(Some(vox2pix_synth::export::world_from_dir(&data.dir)?)),
        _ => Ok(None),
    }
}

/// Renders world images in parallel into [n, 3, S, S] f32 in [0, 1].
fn render_batch(world: &World, refs: &[vox2pix_synth::world::ImageRef]) -> Tensor {
    let s = world.config.image_size as i64;
    let imgs: Vec<Vec<f32>> = refs.par_iter().map(|r| world.render(*r).rgb).collect();
    let flat: Vec<f32> = imgs.concat();
    crate::data::rgb_to_tensor(&flat, refs.len() as i64, s)
}

/// Class prototypes [C, D] of the world backbone's embedding: mean over the exemplar stream of every class.
/// Cached in `DATA/cache/prototypes-<key>.safetensors`; the key covers the backbone weights and the world.
pub fn world_prototypes(
    enc: &EncoderModel,
    world: &World,
    data_dir: &Path,
    batch: i64,
    device: Device,
) -> Result<Tensor> {
    let mut h = Sha256::new();
    h.update(
        std::fs::read(&enc.backbone.path)
            .with_context(|| format!("cannot read backbone {}", enc.backbone.path.display()))?,
    );
    h.update(
        format!(
            "{}|{}|{}|{}|{}|{}",
            vox2pix_synth::world::GENERATOR_VERSION,
            world.config.preset,
            world.seed,
            world.config.classes,
            world.config.exemplars_per_class,
            world.config.image_size
        )
        .as_bytes(),
    );
    let key: String = h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    let path = data_dir.join("cache").join(format!("prototypes-{key}.safetensors"));
    if path.exists() {
        let t = crate::model::weights::read_tensor_map(&path)?;
        if let Some(p) = t.get("prototypes") {
            if p.size().first() == Some(&(world.config.classes as i64)) {
                return Ok(p.to_device(device));
            }
        }
        eprintln!("note: ignoring unusable prototype cache {}", path.display());
    }
    let refs: Vec<_> = (0..world.config.classes as u32)
        .flat_map(|c| (0..world.config.exemplars_per_class).map(move |k| (c, k)))
        .map(|(c, k)| world.exemplar_ref(c, k))
        .collect();
    let dim = enc.backbone.net.channels()[4] as usize;
    let mut acc = PrototypeAccumulator::new(world.config.classes, dim, device);
    let t0 = std::time::Instant::now();
    for (i, chunk) in refs.chunks(batch.max(1) as usize).enumerate() {
        let x = render_batch(world, chunk).to_device(device);
        let e = tch::no_grad(|| enc.backbone.net.embedding(&x));
        let classes: Vec<usize> = chunk.iter().map(|r| r.class as usize).collect();
        acc.add(&e, &classes)?;
        if i % 50 == 0 {
            eprintln!(
                "[evaluate] prototypes: {}/{} exemplars embedded ({:.0} s)",
                (i + 1) * chunk.len(),
                refs.len(),
                t0.elapsed().as_secs_f64()
            );
        }
    }
    let protos = acc.finish()?;
    std::fs::create_dir_all(path.parent().context("cache dir")?)
        .with_context(|| format!("cannot create {}", data_dir.join("cache").display()))?;
    let cpu = protos.to_device(Device::Cpu);
    vox2pix_formats::io::write_atomic_path(&path, |tmp| {
        Tensor::write_safetensors(&[("prototypes", &cpu)], tmp).map_err(|e| anyhow::anyhow!("{e}"))
    })?;
    Ok(protos)
}

/// Keeps the candidate-set sizes a pool of `pool_size` distractors can serve.
fn feasible(ns: &[usize], pool_size: usize) -> Vec<usize> {
    ns.iter().copied().filter(|&n| n >= 2 && n <= pool_size + 1).collect()
}

/// Evaluates the decoder run `run` on `data_dir` and writes the metrics files into `run`.
pub fn evaluate_run(run: &Path, data_dir: &Path, device: Device, o: &EvaluateOptions) -> Result<EvalMetrics> {
    let cfg: TrainConfig = run_config(run)?;
    let data = TrainingData::load(data_dir, &cfg.roi, device)?;
    check_same_dataset(run, &data)?;
    let lpips = match &o.lpips {
        Some(l) => {
            let mut vs = tch::nn::VarStore::new(device);
            let (net, unused): (LpipsBackbone, &[&str]) = match l.net {
                LpipsNet::Alex => (
                    LpipsBackbone::Alex(crate::nn::backbone::AlexNetFeatures::with_conv5(&vs.root(), l.width)),
                    &["classifier."],
                ),
                LpipsNet::Vgg => (
                    LpipsBackbone::Vgg(crate::nn::backbone::Vgg::new(&vs.root(), l.width)),
                    crate::model::weights::TORCHVISION_VGG16_UNUSED,
                ),
            };
            crate::model::weights::load_weights(&mut vs, &l.weights, unused)
                .with_context(|| format!("loading the LPIPS backbone {} ({:?})", l.weights.display(), l.net))?;
            vs.freeze();
            let heads = super::perceptual::LpipsHeads::load(&l.heads, 5)?;
            Some((vs, net, heads))
        }
        None => None,
    };
    // The NSD suite's weights are located and loaded first, so a missing file fails before any other work.
    let nsd8 = match &o.nsd8_weights {
        Some(dir) => Some(super::nsd8::Nsd8Suite::load(
            &super::nsd8::SuiteWeights::locate(dir)?,
            device,
        )?),
        None => None,
    };
    let real_classification = match &o.prototypes {
        Some((file, weights)) => Some(prepare_real_classification(&data, file, weights)?),
        None => None,
    };
    let enc_run = encoder_of(run)?;
    let enc = EncoderModel::load_run(&enc_run, &cfg, &data, device)
        .with_context(|| format!("loading the encoder run {} of {}", enc_run.display(), run.display()))?;
    let gt = data.test_images.shallow_clone();
    let recon = if o.recon_from_gt {
        gt.shallow_clone()
    } else {
        DecoderModel::load_run(run, &cfg, &data, device)?
            .reconstruct(&data.y_test_avg, o.batch)
            .clamp(0.0, 1.0)
    };
    let n_test = gt.size()[0] as usize;
    let world = world_of(&data)?;
    let mut m = EvalMetrics {
        n_test_images: n_test,
        seed: o.seed,
        ..Default::default()
    };

    // Identification: perceptual distance on the backbone taps (it normalises its input itself) and pixel r.
    let mut taps = |x: &Tensor| -> Result<Vec<Tensor>> {
        Ok(enc
            .backbone
            .net
            .taps(x)
            .as_array()
            .iter()
            .map(|t| t.shallow_clone())
            .collect())
    };
    let ident = |ns: Vec<usize>| NWayIdentification {
        ns,
        trials_per_image: o.trials,
        seed: o.seed,
        bootstrap: o.bootstrap,
        ci_level: 0.95,
    };
    let gt_index: Vec<usize> = (0..n_test).collect();
    let default_ns = NWayIdentification::default().ns;
    for pool in &o.pools {
        let (candidates, distractors) = match pool {
            PoolChoice::Test => (gt.shallow_clone(), DistractorPool::OtherColumns),
            PoolChoice::External => {
                let ext = if let Some(w) = &world {
                    let n_ext = w.config.distractors.min(o.external_cap);
                    let refs: Vec<_> = (0..n_ext).map(|i| w.distractor_ref(i)).collect();
                    render_batch(w, &refs).to_device(device)
                } else if let Some(dir) = &o.external_images {
                    external_folder(dir, o.external_cap, &gt, device)?
                } else {
                    eprintln!(
                        "note: external identification pool skipped: on real data give a folder of distractor \
                         images (--external-images DIR, e.g. ImageNet validation images)"
                    );
                    continue;
                };
                let n_ext = ext.size()[0] as usize;
                (
                    Tensor::cat(&[&gt, &ext], 0),
                    DistractorPool::Columns((n_test..n_test + n_ext).collect()),
                )
            }
        };
        let pool_size = match &distractors {
            DistractorPool::OtherColumns => n_test - 1,
            DistractorPool::Columns(c) => c.len(),
        };
        let ns = feasible(&default_ns, pool_size);
        if ns.is_empty() {
            eprintln!("note: {} pool too small for identification", distractors.name());
            continue;
        }
        let perceptual = perceptual_distance_matrix(
            &recon,
            &candidates,
            PerceptualInput::Unchanged,
            o.batch as usize,
            &mut taps,
        )?;
        let pixel = pixel_correlation_distance_matrix(&recon, &candidates)?;
        let mut sets = vec![
            ("perceptual", perceptual, Some(PerceptualInput::Unchanged)),
            ("pixel_correlation", pixel, None),
        ];
        if let Some((_, net, heads)) = &lpips {
            // VGG16 normalises its input itself, which equals LPIPS v0.1's scaling (see `PerceptualInput`).
            let (name, input, mut taps): (&str, PerceptualInput, Box<TapsFn>) = match net {
                LpipsBackbone::Alex(a) => (
                    "lpips_alex",
                    PerceptualInput::LpipsV01,
                    Box::new(|x: &Tensor| a.lpips_taps(x)),
                ),
                LpipsBackbone::Vgg(v) => (
                    "lpips_vgg",
                    PerceptualInput::Unchanged,
                    Box::new(|x: &Tensor| Ok(v.taps(x).as_array().iter().map(|t| t.shallow_clone()).collect())),
                ),
            };
            let d = super::perceptual::weighted_perceptual_distance_matrix(
                &recon,
                &candidates,
                input,
                o.batch as usize,
                &mut *taps,
                Some(&heads.weights),
            )?;
            sets.push((name, d, Some(input)));
        }
        for (name, dist, input) in sets {
            m.identification.push(IdentificationSet {
                distance: name.into(),
                input,
                pool: distractors.name().into(),
                results: ident(ns.clone()).evaluate(&dist, &gt_index, &distractors)?,
            });
        }
    }

    // Semantic classification of the test classes against all class prototypes.
    if let Some(w) = &world {
        let protos = world_prototypes(&enc, w, data_dir, o.batch, device)?;
        let emb = tch::no_grad(|| enc.backbone.net.embedding(&recon));
        let truth: Vec<usize> = (0..n_test).map(|i| w.test_image(i).class as usize).collect();
        let dist: Tensor = 1.0 - corr_matrix(&emb, &protos)?;
        let c = w.config.classes;
        let base = SemanticClassification {
            ns: w.config.classification_n.iter().copied().filter(|&n| n <= c).collect(),
            top_ks: vec![1],
            trials_per_image: o.trials,
            seed: o.seed,
            bootstrap: o.bootstrap,
            ci_level: 0.95,
        };
        m.classification = base.evaluate_distances(&dist, &truth)?;
        if c >= 1000 {
            let top5 = SemanticClassification {
                ns: vec![1000],
                top_ks: vec![5],
                ..base
            };
            m.classification.extend(top5.evaluate_distances(&dist, &truth)?);
        }
    } else if let Some(r) = &real_classification {
        m.classification = classify_with_prototypes(&recon, r, o, device)?;
    } else {
        eprintln!(
            "note: semantic classification skipped: real data needs ImageNet class prototypes \
             (`vox2pix prototypes build`, then `evaluate --prototypes FILE --alexnet WEIGHTS`; method.md §6.2)"
        );
    }

    // Encoder: voxel r on the test images vs the measured test averages, and the layer-to-ROI weights.
    let pred = enc.predict(&gt, o.batch);
    let nc: Vec<f32> = data.dataset.subject.noise_ceiling.to_vec();
    m.encoder = Some(voxel_correlation(&pred, &data.y_test_avg, Some(&nc), data.rois())?);
    m.branch_weights = branch_weight_summary(&enc.encoder.branch_weights(), data.rois())?;

    let per_image = |t: Tensor| to_vec_f64(&t.to_kind(Kind::Double));
    m.pixcorr = Some(MeanWithCi::of(
        per_image(pixcorr(&recon, &gt)?)?,
        o.bootstrap,
        0.95,
        o.seed ^ 0x5C,
    ));
    m.ssim = Some(MeanWithCi::of(
        per_image(ssim(&recon, &gt)?)?,
        o.bootstrap,
        0.95,
        o.seed ^ 0x55,
    ));

    if let Some(suite) = &nsd8 {
        m.nsd8 = Some(suite.evaluate(&recon, &gt, o.batch.min(16), o.bootstrap, o.seed ^ 0x8D)?);
    }

    m.write_json(&run.join("metrics.json"))?;
    m.write_csv(&run.join("metrics.csv"))?;
    m.write_per_image_csv(&run.join("metrics_per_image.csv"))?;
    Ok(m)
}

/// Paths of the files `evaluate_run` writes.
pub fn metrics_files(run: &Path) -> [PathBuf; 3] {
    [
        run.join("metrics.json"),
        run.join("metrics.csv"),
        run.join("metrics_per_image.csv"),
    ]
}

/// Prototypes checked against a real dataset: the same AlexNet, the same image size, a prototype for every
/// test image's class. Done before any other evaluation work, so a bad `--prototypes` fails at once.
struct RealClassification {
    prototypes: crate::eval::prototypes::Prototypes,
    weights: PathBuf,
    truth: Vec<usize>,
}

fn prepare_real_classification(data: &TrainingData, file: &Path, weights: &Path) -> Result<RealClassification> {
    let p = crate::eval::prototypes::read_prototypes(file)?;
    let sha = vox2pix_formats::weights::fetch::sha256_file(weights)?;
    if sha != p.manifest.weights_sha256 {
        bail!(
            "{} were built with AlexNet weights of sha256 {} but {} has {sha}; pass the same --alexnet file",
            file.display(),
            p.manifest.weights_sha256,
            weights.display()
        );
    }
    let size = data.image_size as usize;
    if size != p.manifest.size {
        bail!(
            "{} were built from {} px images but the reconstructions are {size} px; rebuild with --size {size}",
            file.display(),
            p.manifest.size
        );
    }
    let n_test = data.test_images.size()[0] as usize;
    let ids = data.dataset.test_images.class_ids.clone().unwrap_or_default();
    if ids.len() != n_test {
        bail!(
            "semantic classification needs the class (WordNet id) of every test image; {} has none",
            data.dir.display()
        );
    }
    let rows: std::collections::HashMap<i64, usize> = p
        .manifest
        .wnids
        .iter()
        .enumerate()
        .filter_map(|(i, w)| vox2pix_formats::images::wnid_offset(w).map(|id| (id, i)))
        .collect();
    let mut truth = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        match rows.get(id) {
            Some(&r) => truth.push(r),
            None => bail!(
                "test image {i} is of class n{id:08} but {} has no prototype for it; build the prototypes with \
                 the test classes included (their test images are left out with --exclude)",
                file.display()
            ),
        }
    }
    Ok(RealClassification {
        prototypes: p,
        weights: weights.to_path_buf(),
        truth,
    })
}

/// Semantic classification on real data: the reconstructions embedded by the AlexNet the prototypes were made
/// with, against every prototype (method.md §6.2).
fn classify_with_prototypes(
    recon: &Tensor,
    r: &RealClassification,
    o: &EvaluateOptions,
    device: Device,
) -> Result<Vec<crate::eval::ClassificationResult>> {
    use crate::eval::prototypes::{alexnet_input_from_unit, load_alexnet};
    let p = &r.prototypes;
    let (_vs, net) = load_alexnet(&r.weights, p.manifest.width, device)?;
    let emb = tch::no_grad(|| net.embedding(&alexnet_input_from_unit(recon)));
    let dist: Tensor = 1.0 - corr_matrix(&emb, &p.matrix.to_device(device))?;
    let c = p.manifest.wnids.len();
    // The paper's N that the class set allows; a set of fewer than 50 classes (a subset, a test) gets C-way.
    let mut ns: Vec<usize> = [50usize, 100, 500, 1000].into_iter().filter(|&n| n <= c).collect();
    if ns.is_empty() {
        eprintln!("note: {c} prototype classes, fewer than the paper's 50: reporting {c}-way classification");
        ns.push(c);
    }
    let base = SemanticClassification {
        ns,
        top_ks: vec![1],
        trials_per_image: o.trials,
        seed: o.seed,
        bootstrap: o.bootstrap,
        ci_level: 0.95,
    };
    let mut out = base.evaluate_distances(&dist, &r.truth)?;
    if c >= 1000 {
        let top5 = SemanticClassification {
            ns: vec![1000],
            top_ks: vec![5],
            ..base
        };
        out.extend(top5.evaluate_distances(&dist, &r.truth)?);
    }
    Ok(out)
}

/// The external distractor pool on real data: images of `dir` at the test images' size, in [0, 1]. A distractor
/// identical to a test image would make identification trivially ambiguous (and would mean the folder holds the
/// test set), so it is refused.
fn external_folder(dir: &Path, cap: usize, gt: &Tensor, device: Device) -> Result<Tensor> {
    let size = gt.size()[2] as usize;
    let (names, pixels) = vox2pix_formats::images::load_image_folder(dir, cap, size)?;
    let ext = crate::data::images_to_tensor(&pixels).to_device(device);
    let gt8 = (gt * 255.0).round();
    let ext8 = (&ext * 255.0).round();
    for i in 0..ext8.size()[0] {
        let same = gt8
            .eq_tensor(&ext8.get(i).unsqueeze(0))
            .flatten(1, -1)
            .all_dim(1, false);
        if let Some(t) = Vec::<bool>::try_from(same)?.iter().position(|&b| b) {
            bail!(
                "external distractor {} is test image {t}; the distractor pool must not hold test images",
                dir.join(&names[i as usize]).display()
            );
        }
    }
    eprintln!(
        "[evaluate] external pool: {} images from {}",
        names.len(),
        dir.display()
    );
    Ok(ext)
}
