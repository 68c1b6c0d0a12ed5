//! The training-step benchmarks behind `vox2pix bench step` and `bench encoder-step` (twin: tools/bench_torch.py).
//! One step of the decoder stage: paired rows y → D → x̂ and unpaired rows x_ext (shifted) → frozen E (eval) → D →
//! x̂, the full image loss with a frozen full-width VGG16 perceptual loss, D's regularisers, the Adam update; and
//! one encoder step. The method timed is a config's (`paper`: [NI22]; `ssr`: SelfSuperReconst, E on VGG19):
//! its E, D, image loss and optimiser flags. Weights are random with the same initialisation distributions as the
//! twin (timing does not need trained ones).
use crate::nn::backbone::Vgg;
use crate::nn::backbone::{InputNorm, VggArch};
use crate::nn::decoder::Decoder;
use crate::nn::device::{Autocast, Precision};
use crate::nn::encoder::SeparableEncoder;
use crate::nn::losses::image_loss;
use anyhow::{bail, Result};
use std::time::Instant;
use tch::nn::{self, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};
use vox2pix_formats::config::TrainConfig;

/// The `paper` preset: the method the benchmarks time unless told otherwise.
fn paper() -> TrainConfig {
    TrainConfig::load("paper", &[]).expect("the embedded paper preset parses (tested)")
}

/// The architecture of E's backbone under `method` (random weights: a name, not a file).
pub fn bench_encoder_arch(method: &TrainConfig) -> Result<VggArch> {
    match method.backbone.encoder.as_str() {
        "shared" | "vgg16" => Ok(VggArch::Vgg16),
        "vgg19" => Ok(VggArch::Vgg19),
        other => bail!(
            "bench: backbone.encoder = \"{other}\"; the benchmarks use random weights, so it must be shared, vgg16 \
             or vgg19"
        ),
    }
}

/// Settings of the decoder-step benchmark (random inputs: fMRI [rows, V], images [rows, 3, S, S]).
#[derive(Clone, Debug)]
pub struct StepBenchConfig {
    /// Device to time on.
    pub device: Device,
    /// Paired rows (y → D) per step.
    pub paired: i64,
    /// Unpaired external images (→ E → D) per step; 0 for none.
    pub unpaired: i64,
    /// Voxel count V.
    pub voxels: i64,
    /// Image size S (pixels per side).
    pub image_size: i64,
    /// Timed steps (≥ 1).
    pub steps: usize,
    /// Untimed warm-up steps before them.
    pub warmup: usize,
    /// Compute the paired targets' VGG taps once before timing (the trainer's caching option).
    pub cache_target_taps: bool,
    /// Allow TF32 in cuDNN/cuBLAS (CUDA only).
    pub tf32: bool,
    /// bf16 autocast for the forward passes (the trainers' `precision = "bf16"`).
    pub precision: Precision,
    /// The method: E (`encoder`, `backbone.encoder`), D (`decoder`), `image_loss`, `decoder_training.amsgrad`.
    pub method: TrainConfig,
}

impl Default for StepBenchConfig {
    fn default() -> Self {
        StepBenchConfig {
            device: Device::Cpu,
            paired: 16,
            unpaired: 16,
            voxels: 5355,
            image_size: 112,
            steps: 5,
            warmup: 1,
            cache_target_taps: false,
            tf32: false,
            precision: Precision::F32,
            method: paper(),
        }
    }
}

/// What a step benchmark measured.
#[derive(Clone, Debug)]
pub struct StepBenchResult {
    /// Wall time of each timed step, ms (warm-up excluded).
    pub step_ms: Vec<f64>,
    /// Mean of `step_ms`.
    pub ms_per_step: f64,
    /// Peak resident memory of the process (VmHWM), MiB; 0 where unknown.
    pub peak_rss_mib: f64,
    /// Loss of the last step.
    pub loss: f64,
    /// libtorch CPU threads in use.
    pub threads: i32,
}

/// Translates [B, C, H, W] by (dy, dx) pixels with nearest-edge fill.
pub fn shift_replicate(x: &Tensor, dy: i64, dx: i64) -> Tensor {
    let p = dy.abs().max(dx.abs());
    let (h, w) = (x.size()[2], x.size()[3]);
    x.replication_pad2d([p, p, p, p])
        .narrow(2, p - dy, h)
        .narrow(3, p - dx, w)
}

/// Runs warm-up plus timed steps; `progress(step, ms, loss)` is called after every step.
pub fn run_decoder_step_bench(
    cfg: &StepBenchConfig,
    mut progress: impl FnMut(usize, f64, f64),
) -> Result<StepBenchResult> {
    if cfg.steps == 0 || cfg.paired < 1 || cfg.unpaired < 0 || cfg.voxels < 1 {
        bail!(
            "bench: steps, paired rows and voxels must be ≥ 1 (got {}, {}, {})",
            cfg.steps,
            cfg.paired,
            cfg.voxels
        );
    }
    crate::nn::device::set_tf32(cfg.tf32);
    if let Device::Cuda(_) = cfg.device {
        tch::Cuda::cudnn_set_benchmark(true);
    }
    tch::manual_seed(0);
    let (dev, s, v) = (cfg.device, cfg.image_size, cfg.voxels);
    let m = &cfg.method;
    let mut frozen = VarStore::new(dev);
    let vgg = Vgg::new(&(frozen.root() / "vgg"), 1.0);
    // E's own trunk where the method has one (SSR's VGG19); otherwise E reads the perceptual VGG16.
    let own = match bench_encoder_arch(m)? {
        VggArch::Vgg16 => None,
        arch => Some(Vgg::build(
            &(frozen.root() / "evgg"),
            arch,
            1.0,
            InputNorm::Torchvision,
            None,
        )),
    };
    let evgg = own.as_ref().unwrap_or(&vgg);
    let c = evgg.channels();
    let enc = SeparableEncoder::new(&(frozen.root() / "enc"), &m.encoder, [c[0], c[1], c[2], c[3]], s, v)?;
    frozen.freeze();
    let dec_vs = VarStore::new(dev);
    let dec = Decoder::new(&dec_vs.root(), &m.decoder, v, s)?;
    let mut opt = nn::Adam {
        amsgrad: m.decoder_training.amsgrad,
        ..Default::default()
    }
    .build(&dec_vs, 1e-3)?;
    let f = (Kind::Float, dev);
    let x_pair = Tensor::rand([cfg.paired, 3, s, s], f);
    let y_pair = Tensor::randn([cfg.paired, v], f);
    let x_ext = Tensor::rand([cfg.unpaired, 3, s, s], f);
    let x_all = Tensor::cat(&[&x_pair, &x_ext], 0);
    let n_c = Tensor::full([3], 0.45, f);
    let snr_inv_n = Tensor::ones([v], f);
    let loss_cfg = &m.image_loss;
    let cached = cfg.cache_target_taps.then(|| tch::no_grad(|| vgg.taps(&x_pair)));
    let mut times = Vec::new();
    let mut loss_v = f64::NAN;
    for i in 0..cfg.warmup + cfg.steps {
        let t0 = Instant::now();
        let autocast = Autocast::new(cfg.precision, dev);
        let (y_ed, target_taps) = tch::no_grad(|| {
            let t = evgg.taps_upto(&shift_replicate(&x_ext, 3, -2), 4);
            let y_ed = enc.forward_taps_t(&[&t[0], &t[1], &t[2], &t[3]], false);
            let tt = match &cached {
                Some(c) => c.cat(&vgg.taps(&x_ext)),
                None => vgg.taps(&x_all),
            };
            (y_ed, tt)
        });
        let pred = dec.forward(&Tensor::cat(&[&y_pair, &y_ed], 0));
        let (loss, _) = image_loss(&vgg, &pred, &x_all, &target_taps.to_float(), &n_c, loss_cfg);
        drop(autocast);
        let loss = loss.to_kind(Kind::Float) + dec.regularization(&snr_inv_n);
        opt.backward_step(&loss);
        loss_v = loss.double_value(&[]);
        crate::nn::device::synchronize(dev);
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        if i >= cfg.warmup {
            times.push(ms);
        }
        progress(i, ms, loss_v);
    }
    if !loss_v.is_finite() {
        bail!("bench: the loss became {loss_v}");
    }
    let ms_per_step = times.iter().sum::<f64>() / times.len() as f64;
    Ok(StepBenchResult {
        step_ms: times,
        ms_per_step,
        peak_rss_mib: vox2pix_formats::io::peak_rss_mib(),
        loss: loss_v,
        threads: tch::get_num_threads(),
    })
}

/// One [NI22] encoder training step (`vox2pix bench encoder-step`; twin: `tools/bench_torch.py encoder-step`).
#[derive(Clone, Debug)]
pub struct EncoderStepBenchConfig {
    /// Device to time on.
    pub device: Device,
    /// Images per step (≥ 2, for batch norm).
    pub batch: i64,
    /// Voxel count V.
    pub voxels: i64,
    /// Image size S (multiple of 16, ≥ 32).
    pub image_size: i64,
    /// Maximum shift per axis, pixels (`encoder_shifts` radius).
    pub shift_px: i64,
    /// Timed steps (≥ 1).
    pub steps: usize,
    /// Untimed warm-up steps before them.
    pub warmup: usize,
    /// Allow TF32 in cuDNN/cuBLAS (CUDA only).
    pub tf32: bool,
    /// bf16 autocast for the forward passes.
    pub precision: Precision,
    /// The method: E (`encoder`, its loss weights), E's backbone (`backbone.encoder`), `encoder_training.amsgrad`.
    pub method: TrainConfig,
}

impl Default for EncoderStepBenchConfig {
    fn default() -> Self {
        EncoderStepBenchConfig {
            device: Device::Cpu,
            batch: 64,
            voxels: 5355,
            image_size: 112,
            shift_px: 5,
            steps: 5,
            warmup: 1,
            tf32: false,
            precision: Precision::F32,
            method: paper(),
        }
    }
}

/// The per-image shifts of step `step`: a fixed pseudo-random pattern in ±`r` that the Python twin reproduces
/// exactly (`encoder_shifts` there), so both sides shift the same pixels.
pub fn encoder_shifts(step: usize, batch: i64, r: i64) -> Vec<(i64, i64)> {
    let m = 2 * r + 1;
    (0..batch)
        .map(|i| {
            let k = step as i64 * batch + i;
            ((k * 7 + 3) % m - r, (k * 13 + 5) % m - r)
        })
        .collect()
}

/// Per-image shift with edge fill; the same operation as the trainer's augmentation.
fn shift_each(x: &Tensor, shifts: &[(i64, i64)]) -> Tensor {
    let rows: Vec<Tensor> = shifts
        .iter()
        .enumerate()
        .map(|(i, &(dy, dx))| shift_replicate(&x.narrow(0, i as i64, 1), dy, dx))
        .collect();
    Tensor::cat(&rows, 0)
}

/// Times encoder steps: shifted images → frozen full-width VGG16 (VGG19 under `ssr`) taps 1–4 (no grad) → E
/// (train mode: dropout, BN batch statistics) → MSE − cos_weight·cos + E's regularisers → Adam (AMSGrad under
/// `paper`) → non-negativity of the branch mix. `progress(step, ms, loss)` after every step.
pub fn run_encoder_step_bench(
    cfg: &EncoderStepBenchConfig,
    mut progress: impl FnMut(usize, f64, f64),
) -> Result<StepBenchResult> {
    if cfg.steps == 0 || cfg.batch < 2 || cfg.voxels < 1 || cfg.shift_px < 0 {
        bail!(
            "bench encoder-step: steps ≥ 1, batch ≥ 2 (batch norm), voxels ≥ 1 and shift ≥ 0 are required \
             (got {}, {}, {}, {})",
            cfg.steps,
            cfg.batch,
            cfg.voxels,
            cfg.shift_px
        );
    }
    crate::nn::encoder::check_image_size(cfg.image_size)?;
    crate::nn::device::set_tf32(cfg.tf32);
    if let Device::Cuda(_) = cfg.device {
        tch::Cuda::cudnn_set_benchmark(true);
    }
    tch::manual_seed(0);
    let (dev, s, v) = (cfg.device, cfg.image_size, cfg.voxels);
    let mut frozen = VarStore::new(dev);
    let arch = bench_encoder_arch(&cfg.method)?;
    let vgg = Vgg::build(&(frozen.root() / "vgg"), arch, 1.0, InputNorm::Torchvision, None);
    frozen.freeze();
    let c = vgg.channels();
    let enc_cfg = &cfg.method.encoder;
    let enc_vs = VarStore::new(dev);
    let enc = SeparableEncoder::new(&enc_vs.root(), enc_cfg, [c[0], c[1], c[2], c[3]], s, v)?;
    let mut opt = nn::Adam {
        amsgrad: cfg.method.encoder_training.amsgrad,
        ..Default::default()
    }
    .build(&enc_vs, 1e-3)?;
    let f = (Kind::Float, dev);
    let x = Tensor::rand([cfg.batch, 3, s, s], f);
    let y = Tensor::randn([cfg.batch, v], f);
    let mut times = Vec::new();
    let mut loss_v = f64::NAN;
    for i in 0..cfg.warmup + cfg.steps {
        let t0 = Instant::now();
        let xs = shift_each(&x, &encoder_shifts(i, cfg.batch, cfg.shift_px));
        let autocast = Autocast::new(cfg.precision, dev);
        let taps = tch::no_grad(|| vgg.taps_upto(&xs, 4));
        let pred = enc
            .forward_taps_t(&[&taps[0], &taps[1], &taps[2], &taps[3]], true)
            .to_kind(Kind::Float);
        drop(autocast);
        let loss = (&pred - &y).square().mean(Kind::Float) * enc_cfg.mse_weight
            - crate::nn::losses::mean_cosine(&pred, &y) * enc_cfg.cos_weight
            + enc.regularization();
        opt.backward_step(&loss);
        enc.apply_constraints();
        loss_v = loss.double_value(&[]);
        crate::nn::device::synchronize(dev);
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        if i >= cfg.warmup {
            times.push(ms);
        }
        progress(i, ms, loss_v);
    }
    if !loss_v.is_finite() {
        bail!("bench encoder-step: the loss became {loss_v}");
    }
    Ok(StepBenchResult {
        ms_per_step: times.iter().sum::<f64>() / times.len() as f64,
        step_ms: times,
        peak_rss_mib: vox2pix_formats::io::peak_rss_mib(),
        loss: loss_v,
        threads: tch::get_num_threads(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_shifts_stay_in_range_and_vary() {
        let s = encoder_shifts(3, 64, 5);
        assert_eq!(s.len(), 64);
        assert!(s
            .iter()
            .all(|&(dy, dx)| (-5..=5).contains(&dy) && (-5..=5).contains(&dx)));
        // Every offset in ±5 occurs on both axes within one batch.
        for v in -5..=5 {
            assert!(s.iter().any(|p| p.0 == v) && s.iter().any(|p| p.1 == v), "{v}");
        }
        assert_ne!(encoder_shifts(0, 64, 5), encoder_shifts(1, 64, 5));
    }

    #[test]
    fn per_image_shift_matches_the_trainers_augmentation() {
        // An independent implementation (one padded tensor, per-row windows) must give the same pixels.
        let x = Tensor::rand([6, 3, 16, 16], (Kind::Float, Device::Cpu));
        let s = encoder_shifts(2, 6, 3);
        let a = shift_each(&x, &s);
        let b = crate::nn::augment::shift_images(&x, &s);
        assert!(a.equal(&b));
    }

    #[test]
    fn encoder_step_trains_and_refuses_bad_settings() {
        let cfg = EncoderStepBenchConfig {
            batch: 4,
            voxels: 20,
            image_size: 32,
            steps: 2,
            warmup: 1,
            ..Default::default()
        };
        let mut losses = vec![];
        let r = run_encoder_step_bench(&cfg, |_, _, l| losses.push(l)).unwrap();
        // SelfSuperReconst's encoder step (VGG19 taps, mom2, plain Adam) trains too.
        let ssr = EncoderStepBenchConfig {
            method: TrainConfig::load("ssr", &[]).unwrap(),
            ..cfg.clone()
        };
        let mut ssr_losses = vec![];
        run_encoder_step_bench(&ssr, |_, _, l| ssr_losses.push(l)).unwrap();
        assert!(ssr_losses.iter().all(|l| l.is_finite()) && ssr_losses[0] != ssr_losses[2]);
        assert_eq!(bench_encoder_arch(&ssr.method).unwrap(), VggArch::Vgg19);
        assert_eq!(bench_encoder_arch(&cfg.method).unwrap(), VggArch::Vgg16);
        assert_eq!(losses.len(), 3);
        assert_eq!(r.step_ms.len(), 2);
        assert!(losses.iter().all(|l| l.is_finite()));
        assert_ne!(losses[0], losses[2], "the step must update E");
        assert_eq!(r.loss, losses[2]);
        for bad in [
            EncoderStepBenchConfig {
                steps: 0,
                ..cfg.clone()
            },
            EncoderStepBenchConfig {
                batch: 1,
                ..cfg.clone()
            },
            EncoderStepBenchConfig {
                image_size: 40,
                ..cfg.clone()
            },
        ] {
            assert!(run_encoder_step_bench(&bad, |_, _, _| {}).is_err());
        }
    }
}
