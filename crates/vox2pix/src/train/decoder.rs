//! Decoder trainer (`vox2pix train-decoder`): D learns fMRI → image from three streams per step (method.md §5):
//! - paired: y_train → D → x̂ vs its image (L_img);
//! - ED (self-supervised on unpaired images): x (shifted) → E → D → x̂ vs unshifted x (L_img);
//! - DE (optional, unpaired fMRI): y* → D → E → ŷ vs y* (L_fMRI).
//!
//! E and the backbone are frozen (eval mode); only D's parameters train. What is frozen and repeated is
//! computed once: the perceptual taps of the paired targets are cached for the whole run.
use crate::data::pool::{GuardedPool, ImagePool};
use crate::data::TrainingData;
use crate::model::run::RunDir;
use crate::model::EncoderModel;
use crate::model::{DecoderModel, DECODER_FILE};
use crate::nn::augment::shift_images;
use crate::nn::backbone::VggTaps;
use crate::nn::device::{synchronize, Autocast};
use crate::nn::losses::{fmri_loss, perceptual_loss_at, pixel_l1_normalized, total_variation};
use crate::train::optim::AmsGrad;
use crate::train::progress::{ensure_finite, epoch_bar};
use anyhow::{bail, Context, Result};
use serde_json::json;
use tch::{Device, Tensor};
use vox2pix_formats::config::{DeSource, TrainConfig};
use vox2pix_formats::rng::{mix_key, CounterRng};

/// Per-stream loss sums of an epoch, kept on the device so that a step reads back only its total (one sync, for
/// the NaN guard and the progress bar).
struct StreamLossSums {
    paired: Tensor,
    ed: Tensor,
    de: Tensor,
}

impl StreamLossSums {
    fn new(device: Device) -> Self {
        let zero = || Tensor::zeros([], (tch::Kind::Double, device));
        StreamLossSums {
            paired: zero(),
            ed: zero(),
            de: zero(),
        }
    }

    fn add(sum: &mut Tensor, loss: &Tensor) {
        *sum += loss.detach().to_kind(tch::Kind::Double);
    }

    fn mean(sum: &Tensor, steps: f64) -> f64 {
        sum.double_value(&[]) / steps
    }
}

/// What a decoder training run did.
pub struct DecoderOutcome {
    /// Epochs the run has now completed (the configured total).
    pub epochs: usize,
    /// Mean training loss of the last epoch run here; NaN when none ran (already finished).
    pub last_loss: f64,
    /// Time spent caching the paired targets' taps (before the first step).
    pub cache_seconds: f64,
    /// Time spent in training steps (this process's epochs, without checkpoint writes).
    pub step_seconds: f64,
}

/// Image loss of `pred` against `target` whose taps are given; `pred_taps` computed by the caller so one
/// backbone pass can serve several streams.
fn image_loss_from_taps(
    cfg: &TrainConfig,
    pred: &Tensor,
    pred_taps: &VggTaps,
    target: &Tensor,
    target_taps: &VggTaps,
    norm: &Tensor,
) -> Tensor {
    let l = &cfg.image_loss;
    perceptual_loss_at(pred_taps, target_taps, &l.layer_weights, l.taps) * l.percept_weight
        + pixel_l1_normalized(pred, target, norm) * l.mae_weight
        + total_variation(pred, l.tv_exponent) * l.tv_weight
}

/// Unpaired fMRI rows for the DE stream.
fn draw_de_rows(
    cfg: &TrainConfig,
    data: &TrainingData,
    rng: &mut CounterRng,
    n: usize,
    device: Device,
) -> Result<Tensor> {
    let t = &cfg.decoder_training;
    match t.de_source {
        DeSource::Train => {
            let rows: Vec<i64> = (0..n).map(|_| rng.below(data.n_trials() as u64) as i64).collect();
            Ok(data
                .y_train
                .index_select(0, &Tensor::from_slice(&rows).to_device(device)))
        }
        DeSource::TestRepeats => {
            if !t.allow_test_fmri {
                bail!("de_source = \"test-repeats\" needs allow_test_fmri = true");
            }
            let s = &data.dataset.subject;
            let n_img = s.n_test_images();
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let img = rng.below(n_img as u64) as usize;
                let seed = rng.next_u64();
                let row = vox2pix_formats::preprocess::average_random_subset(
                    &s.y_test,
                    s.test_labels.as_slice().context("test labels")?,
                    img,
                    1.0 / 3.0,
                    seed,
                );
                out.push(Tensor::from_slice(row.as_slice().context("row")?));
            }
            Ok(Tensor::stack(&out, 0).to_device(device))
        }
    }
}

/// One ED batch drawn from the unpaired pool: the unshifted images and the shift of each.
struct EdBatch {
    images: EdImages,
    shifts: Vec<(i64, i64)>,
}

/// On an accelerator the prefetch thread delivers a device tensor (the copy happens off the critical path). On the
/// CPU it delivers plain pixels: a libtorch call on that thread would start a second OpenMP team competing with
/// the step's for the same cores (measured: demo epochs 41 s instead of 33 s on 2 cores).
enum EdImages {
    /// [n, 3, S, S] in [0, 1] on the training device.
    Device(Tensor),
    /// NHWC f32 in [0, 1].
    Host(Vec<f32>),
}

impl EdImages {
    fn into_tensor(self, n: i64, size: i64) -> Tensor {
        match self {
            EdImages::Device(t) => t,
            EdImages::Host(pixels) => nhwc_to_nchw(&pixels, n, size, Device::Cpu),
        }
    }
}

fn nhwc_to_nchw(pixels: &[f32], n: i64, size: i64, device: Device) -> Tensor {
    crate::data::rgb_to_tensor(pixels, n, size).to_device(device)
}

/// Draws, renders or decodes the ED stream's images on a background thread, two batches ahead of training (and,
/// on an accelerator, copies them to the device there), so that image preparation is off the step's critical
/// path. Its own random stream (a function of seed and epoch only) keeps runs reproducible whatever the threads'
/// timing.
fn prefetch_ed_batches<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    pool: &'env GuardedPool<Box<dyn ImagePool>>,
    t: &'env vox2pix_formats::config::DecoderTraining,
    steps: usize,
    seed: u64,
    device: Device,
) -> std::sync::mpsc::Receiver<Result<EdBatch>> {
    let (tx, rx) = std::sync::mpsc::sync_channel(2);
    scope.spawn(move || {
        let mut rng = CounterRng::new(seed);
        let r = t.ed_shift_px;
        for _ in 0..steps {
            let batch = (|| -> Result<EdBatch> {
                let mut pixels = Vec::new();
                let mut shifts = Vec::with_capacity(t.unpaired_batch);
                for _ in 0..t.unpaired_batch {
                    let i = rng.below(pool.len() as u64) as usize;
                    pixels.extend(pool.training_image(i)?);
                    let dy = rng.below((2 * r + 1) as u64) as i64 - r;
                    let dx = rng.below((2 * r + 1) as u64) as i64 - r;
                    shifts.push((dy, dx));
                }
                let images = match device {
                    Device::Cpu => EdImages::Host(pixels),
                    _ => {
                        let (n, size) = (shifts.len() as i64, pool.image_size() as i64);
                        EdImages::Device(nhwc_to_nchw(&pixels, n, size, device))
                    }
                };
                Ok(EdBatch { images, shifts })
            })();
            let failed = batch.is_err();
            // A closed channel means training stopped (an error or a NaN guard): nothing left to do.
            if tx.send(batch).is_err() || failed {
                return;
            }
        }
    });
    rx
}

/// Trains D into `run` (resuming from its last checkpoint if present). `pool` feeds the ED stream and must be
/// given when `unpaired_batch > 0` and `weight_ed > 0`.
pub fn train_decoder(
    cfg: &TrainConfig,
    data: &TrainingData,
    enc: &EncoderModel,
    pool: Option<&GuardedPool<Box<dyn ImagePool>>>,
    run: &RunDir,
    device: Device,
) -> Result<DecoderOutcome> {
    let t = &cfg.decoder_training;
    let use_ed = t.unpaired_batch > 0 && t.weight_ed > 0.0;
    let use_de = t.de_batch > 0 && t.weight_de > 0.0;
    if use_ed && pool.is_none() {
        bail!("the ED stream is on (unpaired_batch > 0) but no unpaired image pool is available");
    }
    if let Some(p) = pool {
        if p.image_size() as i64 != data.image_size {
            bail!(
                "unpaired pool images are {} px but the dataset's are {} px",
                p.image_size(),
                data.image_size
            );
        }
    }
    tch::manual_seed(mix_key(cfg.seed, &[0xD0]) as i64);
    let mut model = DecoderModel::build(cfg, data, device)?;
    let mut opt = AmsGrad::new(&model.vs, t.lr_at(0));
    opt.amsgrad = t.amsgrad;
    let (start_epoch, mut records) =
        crate::train::checkpoint::resume(run, &mut model.vs, &mut opt, data.n_voxels, "decoder")?;
    let vgg = &enc.backbone.net;
    // Frozen and repeated: the paired targets' perceptual taps, computed once.
    let t_cache = std::time::Instant::now();
    let cached_targets: Option<VggTaps> = if t.cache_paired_targets && paired_cache_fits(vgg, data) {
        Some(tch::no_grad(|| {
            let n = data.train_images.size()[0];
            let parts: Vec<VggTaps> = (0..n)
                .step_by(64)
                .map(|s| vgg.taps(&data.train_images.narrow(0, s, 64.min(n - s))))
                .collect();
            VggTaps::concat(&parts)
        }))
    } else {
        None
    };
    synchronize(device);
    let cache_seconds = t_cache.elapsed().as_secs_f64();
    let mut step_seconds = 0.0;
    let n_trials = data.n_trials();
    let pb = t.paired_batch as i64;
    let steps = t.steps_for(n_trials as usize) as i64;
    let bar = epoch_bar("train D", t.epochs, start_epoch);
    let mut last_loss = f64::NAN;
    // Said once the epochs begin, not earlier, so a run refused for bad input prints only its error.
    crate::nn::device::announce_threads();
    let mut watch = crate::nn::cpu_budget::ContentionWatch::start_for(device);
    for epoch in start_epoch..t.epochs {
        tch::manual_seed(mix_key(cfg.seed, &[0xD1, epoch as u64]) as i64);
        let mut rng = CounterRng::new(mix_key(cfg.seed, &[0xD2, epoch as u64]));
        opt.lr = t.lr_at(epoch);
        let mut order: Vec<i64> = (0..n_trials).collect();
        rng.shuffle(&mut order);
        // The epoch's paired rows go to the device once, not one small copy per step.
        let epoch_rows: Vec<i64> = (0..steps * pb).map(|k| order[(k % n_trials) as usize]).collect();
        let epoch_rows = Tensor::from_slice(&epoch_rows).to_device(device);
        let mut acc = StreamLossSums::new(device);
        let mut total_sum = 0.0;
        let t_steps = std::time::Instant::now();
        std::thread::scope(|scope| -> Result<()> {
            let ed_batches = match pool {
                Some(p) if use_ed => Some(prefetch_ed_batches(
                    scope,
                    p,
                    t,
                    steps as usize,
                    mix_key(cfg.seed, &[0xD3, epoch as u64]),
                    device,
                )),
                _ => None,
            };
            for s in 0..steps {
                // Forward passes under the configured precision; losses and the update in float32.
                let autocast = Autocast::new(cfg.precision, device);
                // Paired stream.
                let rows = epoch_rows.narrow(0, s * pb, pb);
                let y = data.y_train.index_select(0, &rows);
                let img_idx = data.train_labels.index_select(0, &rows);
                let target = data.train_images.index_select(0, &img_idx);
                let target_taps = match &cached_targets {
                    Some(c) => c.index_select(&img_idx),
                    None => tch::no_grad(|| vgg.taps(&target)),
                };
                let mut inputs = vec![y];
                let mut targets = vec![target];
                let mut tgt_taps = vec![target_taps];
                // ED stream: E is frozen, so its prediction is a constant input to D.
                if let Some(batches) = &ed_batches {
                    let b = batches.recv().context("ED image prefetch thread stopped")??;
                    let x = b.images.into_tensor(b.shifts.len() as i64, data.image_size);
                    inputs.push(tch::no_grad(|| enc.forward_t(&shift_images(&x, &b.shifts), false)));
                    tgt_taps.push(tch::no_grad(|| vgg.taps(&x)).to_float());
                    targets.push(x);
                }
                // One D pass and one backbone pass for both streams (D is per-sample: group norm, no batch
                // statistics), so D's large FC weight gets one gradient, not one per stream.
                let pred_all = model
                    .decoder
                    .forward(&Tensor::cat(&inputs, 0).to_kind(data.y_train.kind()));
                let taps_all = vgg.taps(&pred_all).to_float();
                let pred_all = pred_all.to_kind(tch::Kind::Float);
                let preds: Vec<Tensor> = if inputs.len() > 1 {
                    vec![
                        pred_all.narrow(0, 0, pb),
                        pred_all.narrow(0, pb, pred_all.size()[0] - pb),
                    ]
                } else {
                    vec![pred_all]
                };
                let lp = image_loss_from_taps(
                    cfg,
                    &preds[0],
                    &taps_all.narrow(0, pb),
                    &targets[0],
                    &tgt_taps[0],
                    &data.channel_mean_abs,
                );
                StreamLossSums::add(&mut acc.paired, &lp);
                let mut total = lp * t.weight_paired;
                if use_ed {
                    let nb = t.unpaired_batch as i64;
                    let le = image_loss_from_taps(
                        cfg,
                        &preds[1],
                        &taps_all.narrow(pb, nb),
                        &targets[1],
                        &tgt_taps[1],
                        &data.channel_mean_abs,
                    );
                    StreamLossSums::add(&mut acc.ed, &le);
                    total += le * t.weight_ed;
                }
                if use_de {
                    let y_star = draw_de_rows(cfg, data, &mut rng, t.de_batch, device)?;
                    let y_hat = enc
                        .forward_through_frozen(&model.decoder.forward(&y_star))
                        .to_kind(tch::Kind::Float);
                    let ld = fmri_loss(&y_hat, &y_star, &data.snr_n, t.fmri_cos_weight);
                    StreamLossSums::add(&mut acc.de, &ld);
                    total += ld * t.weight_de;
                }
                drop(autocast);
                let total = total + model.decoder.regularization(&data.snr_inv_n);
                let total_v = total.double_value(&[]);
                ensure_finite(total_v, "decoder", epoch, s as usize, opt.lr, &run.path, epoch)?;
                opt.backward_step(&total)?;
                total_sum += total_v;
                bar.set_message(format!("loss {total_v:.4}"));
                bar.check_interrupt()?;
            }
            Ok(())
        })?;
        synchronize(device);
        step_seconds += t_steps.elapsed().as_secs_f64();
        let k = steps as f64;
        last_loss = total_sum / k;
        let (paired, ed, de) = (
            StreamLossSums::mean(&acc.paired, k),
            StreamLossSums::mean(&acc.ed, k),
            StreamLossSums::mean(&acc.de, k),
        );
        records.push(json!({
            "epoch": epoch + 1, "loss": last_loss, "lr": opt.lr,
            "loss_paired": paired, "loss_ed": ed, "loss_de": de,
        }));
        crate::train::checkpoint::commit_epoch(run, &model.vs, &opt, &records, epoch + 1, data.n_voxels, last_loss)?;
        bar.inc(1);
        watch.check();
        bar.set_message(format!("loss {last_loss:.4} (paired {:.3}, ED {:.3})", paired, ed));
    }
    bar.finish();
    run.save_final(&model.vs, DECODER_FILE)?;
    Ok(DecoderOutcome {
        epochs: t.epochs,
        last_loss,
        cache_seconds,
        step_seconds,
    })
}

/// Mean image loss of the ED cycle x → E → D → x̂ on `images` ([N, 3, S, S], no shift): how well D inverts E
/// on natural images it was not trained on (the quantity the ED stream optimises).
pub fn cycle_image_loss(
    cfg: &TrainConfig,
    data: &TrainingData,
    enc: &EncoderModel,
    dec: &DecoderModel,
    images: &Tensor,
) -> f64 {
    tch::no_grad(|| {
        let vgg = &enc.backbone.net;
        let y_hat = enc.predict(images, 64);
        let pred = dec.reconstruct(&y_hat, 64);
        let loss = image_loss_from_taps(
            cfg,
            &pred,
            &vgg.taps(&pred),
            images,
            &vgg.taps(images),
            &data.channel_mean_abs,
        );
        loss.double_value(&[])
    })
}

/// Host memory in bytes (`MemTotal` of `/proc/meminfo`), `None` where it cannot be read.
fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Whether the paired targets' perceptual taps fit in a quarter of the machine's memory (4 GiB where it is not
/// known). At GOD's or the synthetic worlds' sizes they always do; an NSD subject (9k images) at 112 px needs ~14
/// GB, so there the targets are computed each step instead — the same numbers, more compute — and a note says so.
/// The rule depends on the machine only, not on its load, so a config and seed still give the same run on it.
fn paired_cache_fits(vgg: &crate::nn::backbone::Vgg, data: &TrainingData) -> bool {
    let one = tch::no_grad(|| vgg.taps(&data.train_images.narrow(0, 0, 1)));
    let per_image: i64 = one.as_array().iter().map(|t| t.numel() as i64).sum();
    let need = per_image as u64 * 4 * data.train_images.size()[0] as u64;
    let budget = physical_memory().map_or(4 << 30, |m| m / 4);
    if need <= budget {
        return true;
    }
    eprintln!(
        "note: caching the paired targets' perceptual features would take {:.1} GiB, over {:.1} GiB (a quarter of \
         this machine's memory); they are computed each step instead (decoder_training.cache_paired_targets)",
        need as f64 / (1u64 << 30) as f64,
        budget as f64 / (1u64 << 30) as f64
    );
    false
}
