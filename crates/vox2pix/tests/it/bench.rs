//! The decoder-step benchmark runs end to end, and caching the paired targets' VGG taps changes the timing only:
//! the loss trajectory is the same to float precision; bf16 autocast follows it to bf16 precision.
use tch::Device;
use vox2pix::app::bench::{run_decoder_step_bench, shift_replicate, StepBenchConfig};
use vox2pix_formats::config::Precision;

#[test]
fn cached_and_uncached_target_taps_give_the_same_losses() {
    let _torch = crate::helpers::torch_lock();
    let base = StepBenchConfig {
        device: Device::Cpu,
        paired: 2,
        unpaired: 2,
        voxels: 30,
        image_size: 32,
        steps: 2,
        warmup: 1,
        cache_target_taps: false,
        tf32: false,
        precision: Precision::F32,
        ..StepBenchConfig::default()
    };
    let mut plain = vec![];
    let r1 = run_decoder_step_bench(&base, |_, _, l| plain.push(l)).unwrap();
    let mut cached = vec![];
    let r2 = run_decoder_step_bench(
        &StepBenchConfig {
            cache_target_taps: true,
            ..base.clone()
        },
        |_, _, l| cached.push(l),
    )
    .unwrap();
    assert_eq!(plain.len(), 3);
    assert_eq!(r1.step_ms.len(), 2);
    assert!(r1.ms_per_step > 0.0 && r1.peak_rss_mib > 0.0);
    for (a, b) in plain.iter().zip(&cached) {
        assert!(a.is_finite() && (a - b).abs() <= 1e-5 * a.abs(), "{a} vs {b}");
    }
    // Training moves the loss (the step really updates D).
    assert_ne!(plain[0], plain[2]);
    assert_eq!(r1.loss, plain[2]);
    assert!((r2.loss - r1.loss).abs() <= 1e-5 * r1.loss.abs());
    // bf16 autocast: the same objective to bf16 precision, but really computed in bf16 (not bit-equal).
    let mut half = vec![];
    run_decoder_step_bench(
        &StepBenchConfig {
            precision: Precision::Bf16,
            ..base.clone()
        },
        |_, _, l| half.push(l),
    )
    .unwrap();
    for (a, b) in plain.iter().zip(&half) {
        assert!(b.is_finite() && (a - b).abs() <= 0.02 * a.abs(), "fp32 {a} vs bf16 {b}");
    }
    assert!(
        plain.iter().zip(&half).any(|(a, b)| a != b),
        "bf16 run is bit-equal to fp32: autocast not engaged"
    );
    // SelfSuperReconst's step (its D blocks and losses, E on VGG19) is another objective on the same inputs.
    let ssr = vox2pix_formats::config::TrainConfig::load("ssr", &[]).unwrap();
    let mut other = vec![];
    run_decoder_step_bench(
        &StepBenchConfig {
            method: ssr.clone(),
            ..base.clone()
        },
        |_, _, l| other.push(l),
    )
    .unwrap();
    assert!(other.iter().all(|l| l.is_finite()) && other[0] != plain[0] && other[0] != other[2]);
    let bad = StepBenchConfig {
        steps: 0,
        ..base.clone()
    };
    assert!(run_decoder_step_bench(&bad, |_, _, _| {}).is_err());
    let mut path = ssr;
    path.backbone.encoder = "/some/file.safetensors".into();
    let err = run_decoder_step_bench(&StepBenchConfig { method: path, ..base }, |_, _, _| {}).unwrap_err();
    assert!(format!("{err}").contains("backbone.encoder"), "{err}");
}

#[test]
fn shift_translates_with_edge_fill() {
    let _torch = crate::helpers::torch_lock();
    let x = tch::Tensor::arange(16, (tch::Kind::Float, Device::Cpu)).view([1, 1, 4, 4]);
    let s = shift_replicate(&x, 1, -1);
    // out[y, x] = in[clamp(y − 1), clamp(x + 1)]
    for y in 0..4i64 {
        for xx in 0..4i64 {
            let e = ((y - 1).clamp(0, 3) * 4 + (xx + 1).clamp(0, 3)) as f64;
            assert_eq!(s.double_value(&[0, 0, y, xx]), e);
        }
    }
}
