//! CPU vs CUDA parity of the neural core on small shapes: the same weights (copied by name) and inputs must give
//! the same forward outputs and gradients within 1e-3 relative, with TF32 off. Without a CUDA GPU the CUDA
//! comparison is skipped with a printed reason, and the same harness runs CPU vs CPU so that its weight copying
//! and comparisons are still exercised (they must then agree exactly).
//! Also: asking a compute command for `--device cuda` where there is no GPU is a clear error, exit code 1.
use std::process::Command;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use vox2pix::nn::backbone::Vgg;
use vox2pix::nn::decoder::Decoder;
use vox2pix::nn::encoder::SeparableEncoder;
use vox2pix::nn::losses::image_loss;
use vox2pix_formats::config::DecoderConfig;
use vox2pix_formats::config::EncoderConfig;
use vox2pix_formats::config::ImageLossConfig;

const REL_TOL: f64 = 1e-3;
const SIZE: i64 = 32;
const VOXELS: i64 = 40;
const WIDTH: f64 = 0.125;

/// The device to compare against the CPU, and the tolerance that applies.
fn other_device(test: &str) -> (Device, f64) {
    if tch::Cuda::is_available() {
        vox2pix::nn::device::set_tf32(false);
        (Device::Cuda(0), REL_TOL)
    } else {
        eprintln!("{test}: SKIPPED the CUDA comparison: tch::Cuda::is_available() is false (no GPU/driver here); running the harness CPU vs CPU");
        (Device::Cpu, 0.0)
    }
}

/// max |a − b| / max |a|, both brought to the CPU.
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_device(Device::Cpu).to_kind(Kind::Double);
    let b = b.to_device(Device::Cpu).to_kind(Kind::Double);
    assert_eq!(a.size(), b.size());
    let scale = a.abs().max().double_value(&[]).max(1e-12);
    (&a - &b).abs().max().double_value(&[]) / scale
}

fn assert_close(what: &str, a: &Tensor, b: &Tensor, tol: f64) {
    let e = rel_err(a, b);
    eprintln!("{what}: rel err {e:.3e}");
    assert!(e <= tol, "{what}: CPU vs other device rel err {e:.3e} > {tol:.0e}");
}

/// Every variable's gradient in `a` and `b`, compared by name.
fn assert_grads_close(what: &str, a: &VarStore, b: &VarStore, tol: f64) {
    let bv = b.variables();
    let mut n = 0;
    for (name, va) in a.variables() {
        let ga = va.grad();
        if !ga.defined() {
            continue;
        }
        assert_close(&format!("{what} grad {name}"), &ga, &bv[&name].grad(), tol);
        n += 1;
    }
    assert!(n > 0, "{what}: no gradients were computed");
}

/// A VarStore on `dev` holding a copy of `src`'s variables.
fn copy_to(src: &VarStore, dev: Device, build: impl FnOnce(&VarStore)) -> VarStore {
    let mut vs = VarStore::new(dev);
    build(&vs);
    vs.copy(src).expect("copy weights by name");
    vs
}

fn input(shape: &[i64], seed: i64) -> Tensor {
    tch::manual_seed(seed);
    Tensor::rand(shape, (Kind::Float, Device::Cpu))
}

#[test]
fn vgg_taps_forward_and_input_gradient_match() {
    let _torch = crate::helpers::torch_lock();
    let (dev, tol) = other_device("vgg");
    tch::manual_seed(1);
    let vs_c = VarStore::new(Device::Cpu);
    let net_c = Vgg::new(&vs_c.root(), WIDTH);
    let mut net_d = None;
    let _vs_d = copy_to(&vs_c, dev, |vs| net_d = Some(Vgg::new(&vs.root(), WIDTH)));
    let net_d = net_d.unwrap();
    let x = input(&[2, 3, SIZE, SIZE], 2);
    let xc = x.copy().set_requires_grad(true);
    let xd = x.to_device(dev).set_requires_grad(true);
    let (tc, td) = (net_c.taps(&xc), net_d.taps(&xd));
    let mut sum_c = Tensor::zeros([], (Kind::Float, Device::Cpu));
    let mut sum_d = Tensor::zeros([], (Kind::Float, dev));
    for (k, (a, b)) in tc.as_array().iter().zip(td.as_array()).enumerate() {
        assert_close(&format!("vgg tap {k}"), a, b, tol);
        sum_c += a.square().mean(Kind::Float);
        sum_d += b.square().mean(Kind::Float);
    }
    sum_c.backward();
    sum_d.backward();
    assert_close("vgg d/dx", &xc.grad(), &xd.grad(), tol);
}

#[test]
fn encoder_forward_and_weight_gradients_match() {
    let _torch = crate::helpers::torch_lock();
    let (dev, tol) = other_device("encoder");
    let ch = [8, 16, 32, 64];
    let cfg = EncoderConfig::default();
    tch::manual_seed(3);
    let vs_c = VarStore::new(Device::Cpu);
    let enc_c = SeparableEncoder::new(&vs_c.root(), &cfg, ch, SIZE, VOXELS).unwrap();
    let mut enc_d = None;
    let vs_d = copy_to(&vs_c, dev, |vs| {
        enc_d = Some(SeparableEncoder::new(&vs.root(), &cfg, ch, SIZE, VOXELS).unwrap())
    });
    let enc_d = enc_d.unwrap();
    // Taps of a 32 px image: 32, 16, 8, 4 px sides.
    let taps: Vec<Tensor> = (0..4)
        .map(|i| input(&[3, ch[i], SIZE >> i, SIZE >> i], 10 + i as i64))
        .collect();
    let taps_d: Vec<Tensor> = taps.iter().map(|t| t.to_device(dev)).collect();
    // Eval mode: dropout off, so both sides compute the same function.
    let yc = enc_c.forward_taps_t(&[&taps[0], &taps[1], &taps[2], &taps[3]], false);
    let yd = enc_d.forward_taps_t(&[&taps_d[0], &taps_d[1], &taps_d[2], &taps_d[3]], false);
    assert_close("encoder forward", &yc, &yd, tol);
    let target = input(&[3, VOXELS], 20);
    let lc = (&yc - &target).square().mean(Kind::Float) + enc_c.regularization();
    let ld = (&yd - target.to_device(dev)).square().mean(Kind::Float) + enc_d.regularization();
    assert_close("encoder loss", &lc, &ld, tol);
    lc.backward();
    ld.backward();
    assert_grads_close("encoder", &vs_c, &vs_d, tol);
}

#[test]
fn decoder_forward_and_weight_gradients_match() {
    let _torch = crate::helpers::torch_lock();
    let (dev, tol) = other_device("decoder");
    let cfg = DecoderConfig::default();
    tch::manual_seed(4);
    let vs_c = VarStore::new(Device::Cpu);
    let dec_c = Decoder::new(&vs_c.root(), &cfg, VOXELS, SIZE).unwrap();
    let mut dec_d = None;
    let vs_d = copy_to(&vs_c, dev, |vs| {
        dec_d = Some(Decoder::new(&vs.root(), &cfg, VOXELS, SIZE).unwrap())
    });
    let dec_d = dec_d.unwrap();
    tch::manual_seed(5);
    let y = Tensor::randn([3, VOXELS], (Kind::Float, Device::Cpu));
    let (xc, xd) = (dec_c.forward(&y), dec_d.forward(&y.to_device(dev)));
    assert_eq!(xc.size(), [3, 3, SIZE, SIZE]);
    assert_close("decoder forward", &xc, &xd, tol);
    let snr = Tensor::ones([VOXELS], (Kind::Float, Device::Cpu));
    let lc = xc.mean(Kind::Float) + dec_c.regularization(&snr);
    let ld = xd.mean(Kind::Float) + dec_d.regularization(&snr.to_device(dev));
    assert_close("decoder loss", &lc, &ld, tol);
    lc.backward();
    ld.backward();
    assert_grads_close("decoder", &vs_c, &vs_d, tol);
}

#[test]
fn image_loss_and_its_gradient_match() {
    let _torch = crate::helpers::torch_lock();
    let (dev, tol) = other_device("image loss");
    tch::manual_seed(6);
    let vs_c = VarStore::new(Device::Cpu);
    let net_c = Vgg::new(&vs_c.root(), WIDTH);
    let mut net_d = None;
    let _vs_d = copy_to(&vs_c, dev, |vs| net_d = Some(Vgg::new(&vs.root(), WIDTH)));
    let net_d = net_d.unwrap();
    let cfg = ImageLossConfig::default();
    let target = input(&[2, 3, SIZE, SIZE], 7);
    let pred = input(&[2, 3, SIZE, SIZE], 8);
    let n_c = Tensor::from_slice(&[0.4f32, 0.45, 0.5]);
    let pc = pred.copy().set_requires_grad(true);
    let pd = pred.to_device(dev).set_requires_grad(true);
    let td = target.to_device(dev);
    let (lc, _) = image_loss(&net_c, &pc, &target, &net_c.taps(&target), &n_c, &cfg);
    let (ld, _) = image_loss(&net_d, &pd, &td, &net_d.taps(&td), &n_c.to_device(dev), &cfg);
    assert!(lc.double_value(&[]) > 0.0);
    assert_close("image loss", &lc, &ld, tol);
    lc.backward();
    ld.backward();
    assert_close("image loss d/dpred", &pc.grad(), &pd.grad(), tol);
}

#[test]
fn cuda_requested_without_a_gpu_is_a_clear_error() {
    let _torch = crate::helpers::torch_lock();
    if tch::Cuda::is_available() {
        eprintln!("SKIPPED: this machine has a CUDA GPU, so --device cuda is valid here");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_vox2pix");
    for args in [
        &["bench", "encoder-step", "--device", "cuda", "--steps", "1"][..],
        &["bench", "decoder-epoch", "--device", "cuda:1", "--data", "/nonexistent"][..],
    ] {
        let out = Command::new(bin).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing may be printed as a result");
        assert!(
            err.starts_with("error: device 'cuda") && err.contains("no CUDA GPU") && err.contains("--device cpu"),
            "{args:?}: {err}"
        );
    }
}
