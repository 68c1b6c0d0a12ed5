//! Finite-difference gradient checks (float64, central differences) for the custom pieces of src/nn — patch
//! unfolding, space/feature/branch readout, both group lassos, TV, the cosine-based losses, the perceptual
//! distance and the whole encoder — and the frozen-backbone guarantee (no weight gradients).
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use vox2pix::nn::backbone::Vgg;
use vox2pix::nn::decoder::Decoder;
use vox2pix::nn::encoder::SeparableEncoder;
use vox2pix::nn::{losses, readout, regularizers};
use vox2pix_formats::config::DecoderConfig;
use vox2pix_formats::config::EncoderConfig;

const F64: (Kind, Device) = (Kind::Double, Device::Cpu);

/// Compares autograd's gradient of Σ f(inputs) · r (fixed random r) with central differences on up to 16
/// entries per input (spread over the tensor).
fn check_grad(name: &str, inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Tensor) {
    let vars: Vec<Tensor> = inputs
        .iter()
        .map(|t| t.to_kind(Kind::Double).detach().set_requires_grad(true))
        .collect();
    let out = f(&vars);
    tch::manual_seed(7);
    let r = Tensor::randn(out.size(), F64);
    let scalar = |xs: &[Tensor]| -> f64 { tch::no_grad(|| (f(xs) * &r).sum(Kind::Double).double_value(&[])) };
    (&out * &r).sum(Kind::Double).backward();
    let h = 1e-6;
    for (j, v) in vars.iter().enumerate() {
        let g = v.grad();
        assert!(g.defined(), "{name}: input {j} got no gradient");
        let n = v.numel() as i64;
        let step = (n / 16).max(1);
        let base: Vec<Tensor> = vars.iter().map(|t| t.detach()).collect();
        let mut i = (j as i64 * 7) % step;
        while i < n {
            let bump = |d: f64| {
                let xs: Vec<Tensor> = base.iter().map(|t| t.copy()).collect();
                let flat = xs[j].view(-1);
                let _ = flat.get(i).f_add_(&Tensor::from(d).to_kind(Kind::Double)).unwrap();
                scalar(&xs)
            };
            let num = (bump(h) - bump(-h)) / (2.0 * h);
            let ana = g.view(-1).double_value(&[i]);
            let tol = 1e-5 * (1.0 + num.abs().max(ana.abs()));
            assert!(
                (num - ana).abs() <= tol,
                "{name}: input {j}[{i}] autograd {ana:.9e} vs numeric {num:.9e}"
            );
            i += step;
        }
    }
}

fn randn(shape: &[i64]) -> Tensor {
    Tensor::randn(shape, F64)
}

#[test]
fn patch_unfolding_matches_direct_indexing_and_has_right_gradient() {
    let _torch = crate::helpers::torch_lock();
    tch::manual_seed(1);
    let x = randn(&[2, 3, 5, 6]);
    let p = readout::unfold_patches(&x, 3);
    assert_eq!(p.size(), vec![2, 27, 12]);
    // Feature f = c·9 + ky·3 + kx, position p = y·4 + x: check every entry against direct indexing.
    for b in 0..2 {
        for c in 0..3 {
            for ky in 0..3 {
                for kx in 0..3 {
                    for y in 0..3 {
                        for xx in 0..4 {
                            let a = p.double_value(&[b, c * 9 + ky * 3 + kx, y * 4 + xx]);
                            let e = x.double_value(&[b, c, y + ky, xx + kx]);
                            assert_eq!(a, e);
                        }
                    }
                }
            }
        }
    }
    check_grad("unfold", &[x], |v| readout::unfold_patches(&v[0], 3));
}

#[test]
fn readouts_have_right_values_and_gradients() {
    let _torch = crate::helpers::torch_lock();
    tch::manual_seed(2);
    let (b, f, p, v) = (2, 5, 6, 4);
    let patches = randn(&[b, f, p]);
    let map = randn(&[2, 3, v]);
    let out = readout::space_readout(&patches, &map);
    // out[b, f, v] = Σ_p patches[b, f, p] · map[p, v]
    let m = map.view([p, v]);
    let e = (patches.unsqueeze(-1) * m.unsqueeze(0).unsqueeze(0)).sum_dim_intlist(&[2i64][..], false, Kind::Double);
    assert!((out - e).abs().max().double_value(&[]) < 1e-12);
    check_grad("space readout", &[patches.shallow_clone(), map], |t| {
        readout::space_readout(&t[0], &t[1])
    });

    let x = randn(&[b, f, v]);
    let (w, bias) = (randn(&[v, f]), randn(&[v]));
    let out = readout::feature_readout(&x, &w, &bias);
    let e = x.double_value(&[1, 0, 2]) * w.double_value(&[2, 0])
        + (1..f)
            .map(|k| x.double_value(&[1, k, 2]) * w.double_value(&[2, k]))
            .sum::<f64>()
        + bias.double_value(&[2]);
    assert!((out.double_value(&[1, 2]) - e).abs() < 1e-12);
    check_grad("feature readout", &[x, w, bias], |t| {
        readout::feature_readout(&t[0], &t[1], &t[2])
    });

    let xb = randn(&[b, v, 4]);
    let wb = Tensor::rand([v, 4], F64) + 0.1; // away from the clamp's kink
    check_grad("branch readout", &[xb.shallow_clone(), wb], |t| {
        readout::branch_readout(&t[0], &t[1])
    });
    // Negative branch weights count as zero.
    let wneg = Tensor::from_slice(&[-1.0f64, 2.0, 0.5, 1.0]).view([1, 4]);
    let xs = Tensor::from_slice(&[3.0f64, 1.0, 2.0, 1.0]).view([1, 1, 4]);
    assert_eq!(readout::branch_readout(&xs, &wneg).double_value(&[0, 0]), 4.0);
}

#[test]
fn group_lassos_match_a_loop_reference_and_have_right_gradients() {
    let _torch = crate::helpers::torch_lock();
    tch::manual_seed(3);
    let w = randn(&[4, 5, 3]); // [H, W, V]
    let (l1, g) = (0.3, 0.7);
    let got = regularizers::space_map_group_lasso(&w, l1, g).double_value(&[]);
    // Loop reference: symmetric padding = clamp the neighbour index into range.
    let at = |y: i64, x: i64, v: i64| w.double_value(&[y.clamp(0, 3), x.clamp(0, 4), v]).powi(2);
    let mut e = w.abs().sum(Kind::Double).double_value(&[]) * l1;
    for y in 0..4 {
        for x in 0..5 {
            for v in 0..3 {
                let avg = (at(y - 1, x, v) + at(y + 1, x, v) + at(y, x - 1, v) + at(y, x + 1, v)) / 4.0;
                e += g * (avg + regularizers::SQRT_EPS).sqrt();
            }
        }
    }
    assert!((got - e).abs() < 1e-10 * e.abs(), "space map lasso {got} vs loop {e}");
    check_grad("space map group lasso", &[w], |t| {
        regularizers::space_map_group_lasso(&t[0], l1, g)
    });

    let w = randn(&[3, 4, 4, 5]); // [C, H, W, V]
    let vw = Tensor::rand([5], F64) + 0.5;
    let got = regularizers::fc_group_lasso(&w, &vw, 20.0, 400.0, 0.5, 4).double_value(&[]);
    let sq = |c: i64, y: i64, x: i64, v: i64| w.double_value(&[c, y.clamp(0, 3), x.clamp(0, 3), v]).powi(2);
    let mut l1sum = 0.0;
    let mut group = 0.0;
    for y in 0..4 {
        for x in 0..4 {
            for v in 0..5 {
                let mut m = 0.0;
                for c in 0..3 {
                    l1sum += w.double_value(&[c, y, x, v]).abs() * vw.double_value(&[v]);
                    let avg = (sq(c, y - 1, x, v) + sq(c, y + 1, x, v) + sq(c, y, x - 1, v) + sq(c, y, x + 1, v)) / 4.0;
                    m += (sq(c, y, x, v) + 0.5 * avg) / 1.5 / 3.0;
                }
                group += (m + regularizers::SQRT_EPS).sqrt();
            }
        }
    }
    let e = 20.0 * l1sum / (3.0 * 80.0) + 400.0 * group / 80.0;
    assert!((got - e).abs() < 1e-10 * e.abs(), "FC group lasso {got} vs loop {e}");
    check_grad("FC group lasso", &[w.shallow_clone(), vw.shallow_clone()], |t| {
        regularizers::fc_group_lasso(&t[0], &t[1], 20.0, 400.0, 0.5, 4)
    });

    // SelfSuperReconst's 8-neighbour form with reflect padding (index −1 reads 1, index n reads n − 2).
    let got8 = regularizers::fc_group_lasso(&w, &vw, 20.0, 400.0, 0.5, 8).double_value(&[]);
    let refl = |i: i64, n: i64| {
        if i < 0 {
            -i
        } else if i >= n {
            2 * n - 2 - i
        } else {
            i
        }
    };
    let sq8 = |c: i64, y: i64, x: i64, v: i64| w.double_value(&[c, refl(y, 4), refl(x, 4), v]).powi(2);
    let mut group8 = 0.0;
    for y in 0..4 {
        for x in 0..4 {
            for v in 0..5 {
                let mut m = 0.0;
                for c in 0..3 {
                    let mut nb = 0.0;
                    for (dy, dx) in [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)] {
                        nb += sq8(c, y + dy, x + dx, v);
                    }
                    m += (sq8(c, y, x, v) + 0.5 * nb / 8.0) / 1.5 / 3.0;
                }
                group8 += (m + regularizers::SQRT_EPS).sqrt();
            }
        }
    }
    let e8 = 20.0 * l1sum / (3.0 * 80.0) + 400.0 * group8 / 80.0;
    assert!(
        (got8 - e8).abs() < 1e-10 * e8.abs(),
        "8-neighbour FC group lasso {got8} vs loop {e8}"
    );
    assert!((got8 - got).abs() > 1e-6 * got.abs(), "the neighbourhood must matter");
    check_grad("FC group lasso, 8 neighbours", &[w, vw], |t| {
        regularizers::fc_group_lasso(&t[0], &t[1], 20.0, 400.0, 0.5, 8)
    });
}

#[test]
fn image_and_fmri_losses_have_right_gradients() {
    let _torch = crate::helpers::torch_lock();
    tch::manual_seed(4);
    let x = Tensor::rand([2, 3, 6, 7], F64);
    check_grad("TV β=2.5", &[x.shallow_clone()], |t| {
        losses::total_variation(&t[0], 2.5)
    });
    let t = Tensor::rand([2, 3, 6, 7], F64);
    let n_c = Tensor::from_slice(&[0.4f64, 0.5, 0.3]);
    check_grad("pixel L1", &[x.shallow_clone()], |v| {
        losses::pixel_l1_normalized(&v[0], &t, &n_c)
    });
    let (p, y) = (randn(&[3, 9]), randn(&[3, 9]));
    check_grad("encoder loss", &[p.shallow_clone(), y.shallow_clone()], |v| {
        losses::encoder_loss(&v[0], &v[1], 0.1)
    });
    let snr = Tensor::rand([9], F64) + 0.5;
    check_grad("fMRI loss", &[p.shallow_clone()], |v| {
        losses::fmri_loss(&v[0], &y, &snr, 0.1)
    });
    check_grad("cosine", &[p, y], |v| losses::mean_cosine(&v[0], &v[1]));
    let (a, b) = (Tensor::rand([2, 4, 3, 3], F64), Tensor::rand([2, 4, 3, 3], F64));
    check_grad("perceptual layer distance", &[a, b], |v| {
        losses::layer_cosine_distance(&v[0], &v[1])
    });
}

#[test]
fn whole_encoder_gradients_in_float64() {
    let _torch = crate::helpers::torch_lock();
    tch::manual_seed(5);
    let mut vs = VarStore::new(Device::Cpu);
    let cfg = EncoderConfig {
        head_channels: 4,
        ..Default::default()
    };
    let enc = SeparableEncoder::new(&vs.root(), &cfg, [3, 4, 5, 6], 32, 7).unwrap();
    vs.double();
    let taps = [
        randn(&[2, 3, 32, 32]),
        randn(&[2, 4, 16, 16]),
        randn(&[2, 5, 8, 8]),
        randn(&[2, 6, 4, 4]),
    ];
    // Gradient with respect to the taps through heads (eval-mode BN), patches, maps and mixes.
    check_grad("encoder wrt taps", &taps, |t| {
        enc.forward_taps_t(&[&t[0], &t[1], &t[2], &t[3]], false)
    });
    // And the regulariser with respect to every parameter, via autograd vs numeric on the VarStore tensors.
    for (_, mut v) in vs.variables() {
        v.zero_grad(); // the check above accumulated parameter gradients too
    }
    enc.regularization().backward();
    for (name, var) in vs.variables() {
        if name.contains("bn_") || name.contains("bias") {
            continue; // not regularised
        }
        let g = var.grad();
        assert!(g.defined(), "{name}: no gradient from regularization()");
        let i = var.numel() as i64 / 2;
        let num = tch::no_grad(|| {
            let flat = var.view(-1);
            let x0 = flat.double_value(&[i]);
            let h = 1e-6;
            let _ = flat.get(i).fill_(x0 + h);
            let up = enc.regularization().double_value(&[]);
            let _ = flat.get(i).fill_(x0 - h);
            let dn = enc.regularization().double_value(&[]);
            let _ = flat.get(i).fill_(x0);
            (up - dn) / (2.0 * h)
        });
        let ana = g.view(-1).double_value(&[i]);
        assert!(
            (num - ana).abs() <= 1e-5 * (1.0 + num.abs()),
            "{name}[{i}]: autograd {ana} vs numeric {num}"
        );
    }
}

#[test]
fn frozen_backbone_computes_no_weight_gradients() {
    let _torch = crate::helpers::torch_lock();
    tch::manual_seed(6);
    let mut vgg_vs = VarStore::new(Device::Cpu);
    let vgg = Vgg::new(&vgg_vs.root(), 0.125);
    vgg_vs.freeze();
    let dec_vs = VarStore::new(Device::Cpu);
    let dec = Decoder::new(
        &dec_vs.root(),
        &DecoderConfig {
            channels: 16,
            groups: 8,
            ..Default::default()
        },
        10,
        32,
    )
    .unwrap();
    let target = Tensor::rand([2, 3, 32, 32], (Kind::Float, Device::Cpu));
    let target_taps = tch::no_grad(|| vgg.taps(&target));
    assert!(
        !target_taps.relu3_3.requires_grad(),
        "cached target taps carry no graph"
    );
    let pred = dec.forward(&Tensor::randn([2, 10], (Kind::Float, Device::Cpu)));
    let loss = losses::perceptual_loss(&vgg.taps(&pred), &target_taps, &[0.2; 5]);
    loss.backward();
    for (name, t) in vgg_vs.variables() {
        assert!(!t.requires_grad(), "{name} is trainable after freeze()");
        assert!(!t.grad().defined(), "{name} received a gradient");
    }
    let fc = dec_vs.variables()["fc.weight"].grad();
    assert!(
        fc.defined() && fc.abs().sum(Kind::Float).double_value(&[]) > 0.0,
        "the decoder is trained"
    );
}
