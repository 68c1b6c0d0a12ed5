//! src/nn against PyTorch: fixtures from tools/make_torch_fixtures.py (torch 2.11 + torchvision 0.26, float64
//! reference) for narrow VGG16/AlexNet weights in both torchvision formats, the encoder, the decoder and every
//! loss; plus the weight loader's error reports and the model save/load round trip.
use crate::helpers::fixture;
use std::collections::HashMap;
use std::path::PathBuf;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use vox2pix::model::weights::{self, TORCHVISION_ALEXNET_UNUSED, TORCHVISION_VGG16_UNUSED};
use vox2pix::nn::backbone::{AlexNetFeatures, Vgg};
use vox2pix::nn::decoder::Decoder;
use vox2pix::nn::encoder::SeparableEncoder;
use vox2pix::nn::losses;
use vox2pix_formats::config::DecoderConfig;
use vox2pix_formats::config::EncoderConfig;
use vox2pix_formats::config::ImageLossConfig;
use vox2pix_formats::weights::card::{self, ModelCard};

const TOL: f64 = 1e-4;
const S: i64 = 32;
const V: i64 = 37;

fn expected() -> HashMap<String, Tensor> {
    fixture_tensors("expected.safetensors")
}

/// Every tensor of the safetensors fixture `tests/fixtures/nn/name`, by name.
fn fixture_tensors(name: &str) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(fixture("nn", name))
        .unwrap()
        .into_iter()
        .collect()
}

fn get(e: &HashMap<String, Tensor>, k: &str) -> Tensor {
    e.get(k).unwrap_or_else(|| panic!("fixture has no {k}")).shallow_clone()
}

/// max|a − b| / max|b|: relative to the tensor's scale, so near-zero entries do not blow up the ratio.
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shape mismatch");
    let a = a.to_kind(Kind::Double);
    let b = b.to_kind(Kind::Double);
    let scale = b.abs().max().double_value(&[]).max(1e-30);
    (a - &b).abs().max().double_value(&[]) / scale
}

fn assert_close(name: &str, a: &Tensor, b: &Tensor) {
    let r = rel_err(a, b);
    eprintln!("{name}: relative error {r:.2e}");
    assert!(r <= TOL, "{name}: relative error {r:.3e} > {TOL:e}");
}

fn narrow_vgg(file: &str) -> (VarStore, Vgg) {
    let mut vs = VarStore::new(Device::Cpu);
    let vgg = Vgg::new(&vs.root(), 0.125);
    let rep = weights::load_weights(&mut vs, &fixture("nn", file), TORCHVISION_VGG16_UNUSED).unwrap();
    assert_eq!(rep.loaded, 26, "13 convolutions × (weight, bias)");
    assert_eq!(rep.ignored, vec!["classifier.0.weight".to_string()]);
    vs.freeze();
    (vs, vgg)
}

#[test]
fn vgg16_taps_and_embedding_match_pytorch_from_pth_and_safetensors() {
    let _torch = crate::helpers::torch_lock();
    let e = expected();
    let x = get(&e, "x");
    for file in ["vgg16_w0125.pth", "vgg16_w0125.safetensors"] {
        let (_vs, vgg) = narrow_vgg(file);
        let taps = vgg.taps(&x);
        for (name, t) in ["relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"]
            .iter()
            .zip(taps.as_array())
        {
            assert_close(&format!("{file} {name}"), t, &get(&e, &format!("vgg.{name}")));
        }
        assert_close(
            &format!("{file} embedding"),
            &vgg.embedding(&x),
            &get(&e, "vgg.embedding"),
        );
    }
}

#[test]
fn alexnet_embedding_matches_pytorch_from_pth_and_safetensors() {
    let _torch = crate::helpers::torch_lock();
    let e = expected();
    for file in ["alexnet_w0125.pth", "alexnet_w0125.safetensors"] {
        let mut vs = VarStore::new(Device::Cpu);
        let alex = AlexNetFeatures::new(&vs.root(), 0.125);
        let rep = weights::load_weights(&mut vs, &fixture("nn", file), TORCHVISION_ALEXNET_UNUSED).unwrap();
        assert_eq!(rep.loaded, 8);
        assert_eq!(
            rep.ignored.len(),
            3,
            "features.10.{{weight,bias}} and classifier.1.weight: {:?}",
            rep.ignored
        );
        let emb = alex.embedding(&get(&e, "alex.input").to_kind(Kind::Float));
        assert_eq!(emb.size(), vec![2, 32 * 3 * 3]);
        assert_close(file, &emb, &get(&e, "alex.embedding"));
    }
}

#[test]
fn losses_match_pytorch() {
    let _torch = crate::helpers::torch_lock();
    let e = expected();
    let (_vs, vgg) = narrow_vgg("vgg16_w0125.safetensors");
    let (x, x2) = (get(&e, "x"), get(&e, "x2"));
    let (ta, tb) = (vgg.taps(&x), vgg.taps(&x2));
    let cfg = ImageLossConfig::default();
    assert_close(
        "perceptual",
        &losses::perceptual_loss(&ta, &tb, &cfg.layer_weights),
        &get(&e, "loss.perceptual"),
    );
    let lw = [0.5, 0.1, 0.0, 0.3, 1.0];
    assert_close(
        "perceptual weighted",
        &losses::perceptual_loss(&ta, &tb, &lw),
        &get(&e, "loss.perceptual_w"),
    );
    let n_c = get(&e, "n_c");
    assert_close(
        "pixel L1",
        &losses::pixel_l1_normalized(&x, &x2, &n_c),
        &get(&e, "loss.pixel_l1"),
    );
    assert_close("TV β=2.5", &losses::total_variation(&x, 2.5), &get(&e, "loss.tv"));
    assert_close("TV β=1", &losses::total_variation(&x, 1.0), &get(&e, "loss.tv_b1"));
    let (yp, yt) = (get(&e, "y_pred"), get(&e, "y_true"));
    assert_close(
        "encoder loss",
        &losses::encoder_loss(&yp, &yt, 0.1),
        &get(&e, "loss.encoder"),
    );
    assert_close(
        "fMRI loss",
        &losses::fmri_loss(&yp, &yt, &get(&e, "snr_n"), 0.1),
        &get(&e, "loss.fmri"),
    );
}

fn fixture_encoder(vgg: &Vgg, cfg: &EncoderConfig) -> (VarStore, SeparableEncoder) {
    let mut vs = VarStore::new(Device::Cpu);
    let c = vgg.channels();
    let enc = SeparableEncoder::new(&vs.root(), cfg, [c[0], c[1], c[2], c[3]], S, V).unwrap();
    weights::load_model(&mut vs, &fixture("nn", "encoder.safetensors")).unwrap();
    (vs, enc)
}

#[test]
fn encoder_forward_and_regularization_match_pytorch() {
    let _torch = crate::helpers::torch_lock();
    let e = expected();
    let (_v, vgg) = narrow_vgg("vgg16_w0125.pth");
    let taps = vgg.taps(&get(&e, "x"));
    let cfg = EncoderConfig {
        head_channels: 8,
        ..Default::default()
    };
    let (_vs, enc) = fixture_encoder(&vgg, &cfg);
    assert_eq!(enc.space_map_sides(), vec![6, 2]);
    assert_close("E eval", &enc.forward_t(&taps, false), &get(&e, "encoder.out_eval"));
    assert_close("E regularization", &enc.regularization(), &get(&e, "encoder.reg"));
    // Train mode with dropout off: BN uses batch statistics.
    let cfg0 = EncoderConfig { dropout: 0.0, ..cfg };
    let (_vs0, enc0) = fixture_encoder(&vgg, &cfg0);
    assert_close(
        "E train (no dropout)",
        &enc0.forward_t(&taps, true),
        &get(&e, "encoder.out_train_nodrop"),
    );
    // The fixture's branch mix has one negative entry; it is read (and projected) as 0.
    let w = enc.branch_weights();
    assert_eq!(w.double_value(&[3, 2]), 0.0);
    assert!(w.min().double_value(&[]) >= 0.0);
}

#[test]
fn decoder_forward_regularization_and_image_loss_match_pytorch() {
    let _torch = crate::helpers::torch_lock();
    let e = expected();
    let (_v, vgg) = narrow_vgg("vgg16_w0125.safetensors");
    let mut vs = VarStore::new(Device::Cpu);
    let cfg = DecoderConfig {
        channels: 16,
        groups: 8,
        ..Default::default()
    };
    let dec = Decoder::new(&vs.root(), &cfg, V, S).unwrap();
    weights::load_model(&mut vs, &fixture("nn", "decoder.safetensors")).unwrap();
    let out = dec.forward(&get(&e, "decoder.y").to_kind(Kind::Float));
    assert_close("D forward", &out, &get(&e, "decoder.out"));
    assert_close(
        "D regularization",
        &dec.regularization(&get(&e, "snr_inv_n")),
        &get(&e, "decoder.reg"),
    );
    let x = get(&e, "x");
    let target_taps = tch::no_grad(|| vgg.taps(&x));
    let (total, parts) = losses::image_loss(
        &vgg,
        &out,
        &x,
        &target_taps,
        &get(&e, "n_c"),
        &ImageLossConfig::default(),
    );
    assert_close("image loss", &total, &get(&e, "image_loss.total"));
    assert_close("image loss percept", &parts.percept, &get(&e, "image_loss.percept"));
    assert_close("image loss mae", &parts.mae, &get(&e, "image_loss.mae"));
    assert_close("image loss tv", &parts.tv, &get(&e, "image_loss.tv"));
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vox2pix_nn_{tag}_{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn bad_weights_are_reported_by_key() {
    let _torch = crate::helpers::torch_lock();
    let d = tmpdir("bad");
    let mut named = weights::read_named_tensors(&fixture("nn", "vgg16_w0125.safetensors")).unwrap();
    named.retain(|(k, _)| k != "features.7.bias" && k != "classifier.0.weight");
    for (k, t) in named.iter_mut() {
        if k == "features.12.weight" {
            *t = t.narrow(0, 0, 16);
        }
    }
    named.push((
        "features.99.weight".into(),
        Tensor::zeros([2], (Kind::Float, Device::Cpu)),
    ));
    let bad = d.join("bad.safetensors");
    Tensor::write_safetensors(&named, &bad).unwrap();
    let mut vs = VarStore::new(Device::Cpu);
    let vgg = Vgg::new(&vs.root(), 0.125);
    let before = vgg
        .taps(&Tensor::ones([1, 3, 32, 32], (Kind::Float, Device::Cpu)))
        .relu1_2
        .sum(Kind::Double);
    let err = format!(
        "{:#}",
        weights::load_weights(&mut vs, &bad, TORCHVISION_VGG16_UNUSED).unwrap_err()
    );
    assert!(err.contains("missing keys (1): features.7.bias"), "{err}");
    assert!(err.contains("unexpected keys (1): features.99.weight"), "{err}");
    assert!(
        err.contains("features.12.weight (file [16, 32, 3, 3], model [32, 32, 3, 3])"),
        "{err}"
    );
    // Nothing was copied: the model is unchanged.
    let after = vgg
        .taps(&Tensor::ones([1, 3, 32, 32], (Kind::Float, Device::Cpu)))
        .relu1_2
        .sum(Kind::Double);
    assert_eq!(before.double_value(&[]), after.double_value(&[]));

    // Wrong width: every conv is mis-shaped and the error says so.
    let mut vs = VarStore::new(Device::Cpu);
    let _wide = Vgg::new(&vs.root(), 0.25);
    let err = format!(
        "{:#}",
        weights::load_weights(&mut vs, &fixture("nn", "vgg16_w0125.pth"), TORCHVISION_VGG16_UNUSED).unwrap_err()
    );
    assert!(err.contains("wrong shapes (26)"), "{err}");
    // Unused torchvision keys are an error unless allowed.
    let mut vs = VarStore::new(Device::Cpu);
    let _v = Vgg::new(&vs.root(), 0.125);
    let err = format!(
        "{:#}",
        weights::load_weights(&mut vs, &fixture("nn", "vgg16_w0125.pth"), &[]).unwrap_err()
    );
    assert!(err.contains("unexpected keys (1): classifier.0.weight"), "{err}");
    // Not a weights file at all, and a missing file.
    let junk = d.join("junk.pth");
    std::fs::write(&junk, b"not a zip").unwrap();
    let err = format!("{:#}", weights::load_weights(&mut vs, &junk, &[]).unwrap_err());
    assert!(err.contains("junk.pth") && err.contains("torch.save"), "{err}");
    let err = format!(
        "{:#}",
        weights::load_weights(&mut vs, &d.join("nope.safetensors"), &[]).unwrap_err()
    );
    assert!(err.contains("does not exist"), "{err}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn model_save_load_round_trip_with_card() {
    let _torch = crate::helpers::torch_lock();
    let d = tmpdir("card");
    let vs = VarStore::new(Device::Cpu);
    let cfg = DecoderConfig {
        channels: 16,
        groups: 8,
        ..Default::default()
    };
    let dec = Decoder::new(&vs.root(), &cfg, V, S).unwrap();
    let card = ModelCard {
        format: card::MODEL_CARD_FORMAT,
        architecture: "decoder".into(),
        image_size: S,
        n_voxels: Some(V),
        roi: Some("VC".into()),
        data_hash: Some("abc123".into()),
        backbone_width: Some(0.125),
        input_norm: None,
        config: serde_json::to_value(&cfg).unwrap(),
        extra: Default::default(),
    };
    let path = d.join("decoder.safetensors");
    weights::save_model(&vs, &path, &card).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(
        leftovers.len(),
        2,
        "only the weights and the card remain: {leftovers:?}"
    );
    let back = card::read_card(&path, "decoder").unwrap();
    assert_eq!(back, card);
    let cfg2: DecoderConfig = serde_json::from_value(back.config).unwrap();
    let mut vs2 = VarStore::new(Device::Cpu);
    let dec2 = Decoder::new(&vs2.root(), &cfg2, V, S).unwrap();
    weights::load_model(&mut vs2, &path).unwrap();
    let y = Tensor::randn([2, V], (Kind::Float, Device::Cpu));
    assert_eq!(rel_err(&dec2.forward(&y), &dec.forward(&y)), 0.0);
    let err = format!("{:#}", card::read_card(&path, "encoder").unwrap_err());
    assert!(err.contains("architecture 'decoder'"), "{err}");
    std::fs::remove_dir_all(&d).ok();
}

/// The LPIPS fixture (`tools/make_lpips_fixtures.py`): (reconstructions, candidates, expected 3 × 4 distances of
/// `key`), images k/255.
fn lpips_fixture(key: &str) -> (Tensor, Tensor, Vec<f64>) {
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("nn", "lpips_expected.json")).unwrap()).unwrap();
    let s = e["size"].as_i64().unwrap();
    let images = |k: &str, n: i64| {
        let v: Vec<f64> = e[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() / 255.0)
            .collect();
        Tensor::from_slice(&v).view([n, 3, s, s])
    };
    let want: Vec<f64> = e[key]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        .collect();
    (images("recon_u8", 3), images("candidates_u8", 4), want)
}

/// The package's heads for `net` ("alex" or "vgg") at the fixture's width, as float64.
fn lpips_heads(net: &str) -> Vec<Tensor> {
    let heads = vox2pix::eval::perceptual::LpipsHeads::load(&fixture("nn", &format!("lpips_{net}_w0125_heads.pth")), 5);
    heads.unwrap().weights.iter().map(|w| w.to_kind(Kind::Double)).collect()
}

fn assert_distances(d: &Tensor, want: &[f64]) {
    let got: Vec<f64> = Vec::try_from(d.flatten(0, -1)).unwrap();
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() < 1e-5, "pair {k}: vox2pix {g} vs lpips {w}");
    }
}

/// Calibrated LPIPS (AlexNet, v0.1) against the `lpips` package's own forward pass
/// (`tools/make_lpips_fixtures.py`: width-0.125 AlexNet with conv5, the package's heads cut to that width).
#[test]
fn calibrated_lpips_matches_the_lpips_package() {
    use vox2pix::eval::perceptual::{weighted_perceptual_distance_matrix, LpipsHeads, PerceptualInput};
    let _torch = crate::helpers::torch_lock();
    let (recon, cand, want) = lpips_fixture("distances");
    let mut vs = VarStore::new(Device::Cpu);
    let alex = AlexNetFeatures::with_conv5(&vs.root(), 0.125);
    // conv5 (`features.10`) is loaded now; only the dummy classifier weight is left over.
    let rep = weights::load_weights(&mut vs, &fixture("nn", "alexnet_w0125.pth"), &["classifier."]).unwrap();
    assert_eq!(rep.loaded, 10);
    vs.double();
    let heads = lpips_heads("alex");
    let mut net = |x: &Tensor| alex.lpips_taps(x);
    let d = weighted_perceptual_distance_matrix(&recon, &cand, PerceptualInput::LpipsV01, 2, &mut net, Some(&heads))
        .unwrap();
    assert_distances(&d, &want);
    // Uncalibrated (all weights 1) is a different number: the heads matter.
    let plain =
        weighted_perceptual_distance_matrix(&recon, &cand, PerceptualInput::LpipsV01, 2, &mut net, None).unwrap();
    assert!((plain.double_value(&[0, 0]) - want[0]).abs() > 1e-3);
    // Heads that do not fit are refused by name.
    let err = LpipsHeads::load(&fixture("nn", "lpips_alex_w0125_heads.pth"), 6)
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("lin5.model.1.weight"), "{err:#}");
    let err = LpipsHeads::load(&fixture("nn", "lpips_alex_w0125_heads.pth"), 4)
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("more heads"), "{err:#}");
}

/// Calibrated LPIPS-VGG against the `lpips` package (net='vgg', the width-0.125 VGG16 fixture, heads cut to that
/// width). vox2pix's VGG16 applies torchvision normalisation itself, which is LPIPS v0.1's scaling of 2x − 1.
#[test]
fn calibrated_lpips_vgg_matches_the_lpips_package() {
    use vox2pix::eval::perceptual::{weighted_perceptual_distance_matrix, PerceptualInput};
    let _torch = crate::helpers::torch_lock();
    let (recon, cand, want) = lpips_fixture("distances_vgg");
    let mut vs = VarStore::new(Device::Cpu);
    let vgg = Vgg::new(&vs.root(), 0.125);
    weights::load_weights(&mut vs, &fixture("nn", "vgg16_w0125.pth"), TORCHVISION_VGG16_UNUSED).unwrap();
    vs.double();
    let heads = lpips_heads("vgg");
    let mut net = |x: &Tensor| Ok(vgg.taps(x).as_array().iter().map(|t| t.shallow_clone()).collect());
    let d = weighted_perceptual_distance_matrix(&recon, &cand, PerceptualInput::Unchanged, 2, &mut net, Some(&heads))
        .unwrap();
    assert_distances(&d, &want);
}

/// `decoder.block = "ssr"` (SelfSuperReconst's blocks) against the PyTorch twin with `block="ssr"`
/// (`tools/make_ssr_fixtures.py`): forward and the gradients of a fixed linear read-out of the images.
#[test]
fn ssr_decoder_blocks_match_pytorch_forward_and_backward() {
    use vox2pix_formats::config::DecoderBlock;
    let _torch = crate::helpers::torch_lock();
    let e = fixture_tensors("decoder_ssr_expected.safetensors");
    let build = |block: DecoderBlock| {
        let mut vs = VarStore::new(Device::Cpu);
        let cfg = DecoderConfig {
            channels: 16,
            groups: 8,
            block,
            ..Default::default()
        };
        let dec = Decoder::new(&vs.root(), &cfg, V, S).unwrap();
        weights::load_model(&mut vs, &fixture("nn", "decoder_ssr.safetensors")).unwrap();
        (vs, dec)
    };
    let (vs, dec) = build(DecoderBlock::Ssr);
    let y = get(&e, "y").set_requires_grad(true);
    let out = dec.forward(&y);
    let r = rel_err(&out, &get(&e, "out"));
    eprintln!("SSR D forward: relative error {r:.2e}");
    assert!(r <= 1e-5, "SSR D forward: relative error {r:.3e} > 1e-5");
    (&out * get(&e, "r")).sum(Kind::Float).backward();
    let vars = vs.variables();
    for (name, grad) in [
        ("y", y.grad()),
        ("fc.weight", vars["fc.weight"].grad()),
        ("up.0.conv.weight", vars["up.0.conv.weight"].grad()),
    ] {
        let r = rel_err(&grad, &get(&e, &format!("grad.{name}")));
        eprintln!("SSR D gradient of {name}: relative error {r:.2e}");
        assert!(r <= 1e-5, "SSR D gradient of {name}: relative error {r:.3e} > 1e-5");
    }
    // The same weights in the Keras blocks give the twin's Keras output, and another image than the SSR blocks.
    let (_vk, keras) = build(DecoderBlock::Keras);
    let out_k = tch::no_grad(|| keras.forward(&get(&e, "y")));
    assert_close("Keras D on the SSR weights", &out_k, &get(&e, "out_keras"));
    assert!(
        rel_err(&out_k, &get(&e, "out")) > 1e-2,
        "the block choice changed nothing"
    );
    // A kernel whose reflection pad does not fit the first block's grid is refused by name.
    let vs2 = VarStore::new(Device::Cpu);
    let cfg = DecoderConfig {
        channels: 16,
        groups: 8,
        kernel_size: 17,
        block: DecoderBlock::Ssr,
        ..Default::default()
    };
    let err = Decoder::new(&vs2.root(), &cfg, V, S).unwrap_err().to_string();
    assert!(
        err.contains("decoder.kernel_size = 17") && err.contains("reflection pad"),
        "{err}"
    );
}

/// `image_loss.taps = "pool"` (SelfSuperReconst's perceptual loss after each block's max-pool, block weights
/// 10, 10, 10, 10, 2) against SSR's formula in PyTorch (`tools/make_ssr_fixtures.py`): value and gradient.
#[test]
fn pooled_perceptual_loss_matches_selfsuperreconst() {
    use vox2pix_formats::config::PerceptualTaps;
    let _torch = crate::helpers::torch_lock();
    let e = fixture_tensors("ssr_perceptual_expected.safetensors");
    let (_v, vgg) = narrow_vgg("vgg16_w0125.pth");
    let w = [10.0, 10.0, 10.0, 10.0, 2.0];
    let p = get(&e, "p").set_requires_grad(true);
    let target = tch::no_grad(|| vgg.taps(&get(&e, "x")));
    let loss = losses::perceptual_loss_at(&vgg.taps(&p), &target, &w, PerceptualTaps::Pool);
    assert_close("pooled perceptual loss", &loss, &get(&e, "loss"));
    loss.backward();
    let r = rel_err(&p.grad(), &get(&e, "grad.p"));
    eprintln!("pooled perceptual loss gradient: relative error {r:.2e}");
    assert!(r <= 1e-5, "pooled perceptual gradient: relative error {r:.3e} > 1e-5");
    // Before the pools it is another loss.
    let relu = tch::no_grad(|| losses::perceptual_loss_at(&vgg.taps(&p), &target, &w, PerceptualTaps::Relu));
    assert!(rel_err(&relu, &get(&e, "loss")) > 1e-3, "taps = pool changed nothing");
}

/// `encoder.space_mom2`: SelfSuperReconst's `calc_mom2` on the squared space maps, against its formula in PyTorch
/// on SSR's [V, H, W] layout (`tools/make_ssr_fixtures.py`); value and gradient, an all-zero voxel included.
#[test]
fn space_map_mom2_matches_selfsuperreconst() {
    let _torch = crate::helpers::torch_lock();
    let e: HashMap<String, Tensor> = Tensor::read_safetensors(fixture("nn", "ssr_mom2_expected.safetensors"))
        .unwrap()
        .into_iter()
        .collect();
    // vox2pix holds a space map as [H, W, V].
    let w = get(&e, "w")
        .permute([1, 2, 0])
        .contiguous()
        .to_kind(Kind::Double)
        .set_requires_grad(true);
    let term = vox2pix::nn::regularizers::space_map_mom2(&w);
    assert_close("space-map mom2", &term, &get(&e, "term"));
    term.backward();
    let grad = w.grad().permute([2, 0, 1]);
    assert!(
        bool::try_from(grad.isfinite().all()).unwrap(),
        "the all-zero voxel made the gradient non-finite"
    );
    assert_close("space-map mom2 gradient", &grad, &get(&e, "grad.w"));
}

/// SelfSuperReconst's encoder augmentation, `RandomCrop(S, padding=p, padding_mode='edge')`, is vox2pix's shift
/// with nearest-edge fill: the crop at offset (i, j) is the shift (p − i, p − j), and offsets uniform in [0, 2p]
/// are shifts uniform in [−p, p], the distribution `shift_px = p` draws (`tools/make_ssr_fixtures.py`).
#[test]
fn edge_padded_random_crop_is_a_shift_with_edge_fill() {
    let _torch = crate::helpers::torch_lock();
    let e = fixture_tensors("ssr_random_crop_expected.safetensors");
    let p = 2;
    let offsets: Vec<i64> = Vec::try_from(get(&e, "offsets").flatten(0, -1)).unwrap();
    let shifts: Vec<(i64, i64)> = offsets.chunks(2).map(|o| (p - o[0], p - o[1])).collect();
    let shifted = vox2pix::nn::augment::shift_images(&get(&e, "x"), &shifts);
    assert_eq!(rel_err(&shifted, &get(&e, "crops")), 0.0);
}

#[test]
fn vgg19_taps_match_torchvision_and_the_loader_reads_architecture_and_width_from_the_file() {
    use vox2pix::model::backbone::{load_backbone, load_encoder_backbone};
    use vox2pix::nn::backbone::VggArch;
    use vox2pix_formats::config::BackboneConfig;
    let _torch = crate::helpers::torch_lock();
    let e = fixture_tensors("ssr_vgg19_expected.safetensors");
    let file = fixture("nn", "vgg19_w0125.safetensors").display().to_string();
    let x = get(&e, "x");
    let here = std::path::Path::new(".");
    // As the shared backbone (width from the config) and as E's own (width from the file): the same network.
    let shared = BackboneConfig {
        width: 0.125,
        weights: file.clone(),
        encoder: "shared".into(),
    };
    let own = BackboneConfig {
        encoder: file.clone(),
        ..BackboneConfig::default()
    };
    let a = load_backbone(&shared, here, &[], Device::Cpu).unwrap();
    let b = load_encoder_backbone(&own, here, &[], Device::Cpu).unwrap().unwrap();
    for (which, net) in [("shared", &a.net), ("encoder", &b.net)] {
        assert_eq!(net.arch(), VggArch::Vgg19, "{which}");
        assert_eq!(net.channels(), [8, 16, 32, 64, 64], "{which}");
        let taps = net.taps(&x);
        for (k, t) in taps.as_array().iter().enumerate() {
            let r = rel_err(t, &get(&e, &format!("tap{k}")));
            eprintln!("{which} VGG19 tap {k}: relative error {r:.2e}");
            assert!(r <= 1e-5, "{which} VGG19 tap {k}: relative error {r:.3e}");
        }
        // E's first four taps are the same tensors.
        let four = net.taps_upto(&x, 4);
        assert_eq!(four.len(), 4);
        assert!(rel_err(&four[3], &get(&e, "tap3")) <= 1e-5);
    }
    // A VGG16 file is read as VGG16; E's backbone `shared` loads nothing of its own.
    let v16 = BackboneConfig {
        width: 0.125,
        weights: fixture("nn", "vgg16_w0125.safetensors").display().to_string(),
        encoder: "shared".into(),
    };
    assert_eq!(
        load_backbone(&v16, here, &[], Device::Cpu).unwrap().net.arch(),
        VggArch::Vgg16
    );
    assert!(load_encoder_backbone(&v16, here, &[], Device::Cpu).unwrap().is_none());
    // The wrong width for the file: a load error naming the file and the architecture.
    let wrong = BackboneConfig { width: 0.25, ..shared };
    let err = format!("{:#}", load_backbone(&wrong, here, &[], Device::Cpu).err().unwrap());
    assert!(
        err.contains("vgg19_w0125.safetensors") && err.contains("vgg19") && err.contains("features.0.weight"),
        "{err}"
    );
    // A missing torchvision file names the fetch command (checked where it has not been fetched).
    if vox2pix::model::backbone::torchvision_cache_path("vgg19").exists() {
        return;
    }
    let missing = BackboneConfig {
        encoder: "vgg19".into(),
        ..BackboneConfig::default()
    };
    let err = format!(
        "{:#}",
        load_encoder_backbone(&missing, here, &[], Device::Cpu).err().unwrap()
    );
    assert!(
        err.contains("vox2pix weights fetch vgg19") && err.contains("backbone.encoder"),
        "{err}"
    );
}

/// Sizes of the tensors of a `{name: shape}` JSON object, sorted.
fn sizes_of(v: &serde_json::Value) -> Vec<i64> {
    let mut s: Vec<i64> = v
        .as_object()
        .unwrap()
        .values()
        .map(|shape| shape.as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).product())
        .collect();
    s.sort();
    s
}

#[test]
fn ssr_preset_models_have_selfsuperreconsts_parameters() {
    // The reference: SSR's own SeparableEncoderVGG19ml and BaseDecoder, built by its code
    // (tools/count_ssr_params.py) at 112 px for 5,355 voxels.
    let _torch = crate::helpers::torch_lock();
    let text = std::fs::read_to_string(fixture("nn", "ssr_reference_shapes.json")).unwrap();
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (v, s) = (r["voxels"].as_i64().unwrap(), r["image_size"].as_i64().unwrap());
    let cfg = vox2pix_formats::config::TrainConfig::load("ssr", &[]).unwrap();
    let vs = VarStore::new(Device::Cpu);
    let _e = SeparableEncoder::new(&(vs.root() / "e"), &cfg.encoder, [64, 128, 256, 512], s, v).unwrap();
    let _d = Decoder::new(&(vs.root() / "d"), &cfg.decoder, v, s).unwrap();
    // BatchNorm running statistics are VarStore variables here and buffers in PyTorch: compared as their own part.
    let mut ours: HashMap<&str, Vec<i64>> = HashMap::new();
    for (k, t) in vs.variables() {
        let part = match (k.starts_with("e."), k.contains(".running_")) {
            (true, false) => "encoder",
            (true, true) => "encoder_buffers",
            (false, _) => "decoder",
        };
        ours.entry(part).or_default().push(t.size().iter().product());
    }
    for part in ["encoder", "encoder_buffers", "decoder"] {
        let mut mine = ours.remove(part).unwrap();
        mine.sort();
        let theirs = sizes_of(&r[part]);
        eprintln!(
            "{part}: vox2pix {} tensors, {} values; SSR {} tensors, {} values",
            mine.len(),
            mine.iter().sum::<i64>(),
            theirs.len(),
            theirs.iter().sum::<i64>()
        );
        assert_eq!(mine, theirs, "{part}: tensor sizes differ from SSR's");
    }
    // E's backbone: VGG19 up to block 4 is what SSR's MultiBranch keeps.
    let bvs = VarStore::new(Device::Cpu);
    let _vgg = Vgg::build(
        &bvs.root(),
        vox2pix::nn::backbone::VggArch::Vgg19,
        1.0,
        vox2pix::nn::backbone::InputNorm::Torchvision,
        None,
    );
    let mut mine: Vec<i64> = bvs
        .variables()
        .into_iter()
        .filter(|(k, _)| {
            k.split('.')
                .nth(1)
                .and_then(|i| i.parse::<usize>().ok())
                .is_some_and(|i| i < 27)
        })
        .map(|(_, t)| t.size().iter().product())
        .collect();
    mine.sort();
    assert_eq!(mine, sizes_of(&r["encoder_backbone"]), "VGG19 blocks 1–4");
}

/// max relative error of the gradient of `name` in `vs` against the fixture's `key`.
fn grad_err(vs: &VarStore, name: &str, e: &HashMap<String, Tensor>, key: &str) -> f64 {
    let vars = vs.variables();
    let v = vars.get(name).unwrap_or_else(|| panic!("no variable {name}"));
    rel_err(&v.grad(), &get(e, key))
}

#[test]
fn ssr_preset_encoder_and_decoder_match_the_twin_forward_and_backward() {
    // The `ssr` preset's E (branch 3 at stride 2, conv L1 1e-4, space_mom2 10, loss MSE − 0.15·cos) on VGG19 taps
    // and its D (SSR blocks, bicubic, fc L1 40, 8-neighbour group term) under the pooled perceptual loss, against
    // the PyTorch twin on the same weights (tools/make_ssr_fixtures.py), 1e-5 relative.
    use vox2pix::nn::backbone::{InputNorm, VggArch};
    const TOL5: f64 = 1e-5;
    let _torch = crate::helpers::torch_lock();
    let e = fixture_tensors("ssr_model_expected.safetensors");
    let ssr = vox2pix_formats::config::TrainConfig::load("ssr", &[]).unwrap();
    let (x, y) = (get(&e, "x"), get(&e, "y"));
    let mut bvs = VarStore::new(Device::Cpu);
    let vgg19 = Vgg::build(&bvs.root(), VggArch::Vgg19, 0.125, InputNorm::Torchvision, None);
    weights::load_weights(
        &mut bvs,
        &fixture("nn", "vgg19_w0125.safetensors"),
        TORCHVISION_VGG16_UNUSED,
    )
    .unwrap();
    bvs.freeze();
    let taps = tch::no_grad(|| vgg19.taps_upto(&x, 4));
    let taps = [&taps[0], &taps[1], &taps[2], &taps[3]];
    let ecfg = EncoderConfig {
        head_channels: 8,
        ..ssr.encoder.clone()
    };
    let check = |what: &str, r: f64| {
        eprintln!("{what}: relative error {r:.2e}");
        assert!(r <= TOL5, "{what}: relative error {r:.3e} > {TOL5:e}");
    };
    let mut evs = VarStore::new(Device::Cpu);
    let enc = SeparableEncoder::new(&evs.root(), &ecfg, [8, 16, 32, 64], S, V).unwrap();
    weights::load_model(&mut evs, &fixture("nn", "encoder_ssr.safetensors")).unwrap();
    check(
        "ssr E eval",
        rel_err(&enc.forward_taps_t(&taps, false), &get(&e, "enc.out_eval")),
    );
    let mut evs0 = VarStore::new(Device::Cpu);
    let enc0 = SeparableEncoder::new(
        &evs0.root(),
        &EncoderConfig { dropout: 0.0, ..ecfg },
        [8, 16, 32, 64],
        S,
        V,
    )
    .unwrap();
    weights::load_model(&mut evs0, &fixture("nn", "encoder_ssr.safetensors")).unwrap();
    let pred = enc0.forward_taps_t(&taps, true);
    let obj = losses::encoder_loss(&pred, &y, ssr.encoder.cos_weight) + enc0.regularization();
    check("ssr E objective", rel_err(&obj, &get(&e, "enc.objective")));
    obj.backward();
    for k in [
        "heads.2.conv.weight",
        "space_maps.1",
        "feature_mix.2.weight",
        "branch_mix",
    ] {
        check(
            &format!("ssr E grad {k}"),
            grad_err(&evs0, k, &e, &format!("enc.grad.{k}")),
        );
    }
    // D, scored by the pooled perceptual loss on the narrow VGG16.
    let (_v16, vgg16) = narrow_vgg("vgg16_w0125.safetensors");
    let dcfg = DecoderConfig {
        channels: 16,
        groups: 8,
        ..ssr.decoder.clone()
    };
    let mut dvs = VarStore::new(Device::Cpu);
    let dec = Decoder::new(&dvs.root(), &dcfg, V, S).unwrap();
    weights::load_model(&mut dvs, &fixture("nn", "decoder_ssr_full.safetensors")).unwrap();
    let out = dec.forward(&y);
    check("ssr D forward", rel_err(&out, &get(&e, "dec.out")));
    let target_taps = tch::no_grad(|| vgg16.taps(&x));
    let (img, _) = losses::image_loss(&vgg16, &out, &x, &target_taps, &get(&e, "n_c"), &ssr.image_loss);
    let obj = img + dec.regularization(&get(&e, "snr_inv_n"));
    check("ssr D objective", rel_err(&obj, &get(&e, "dec.objective")));
    obj.backward();
    for k in ["fc.weight", "up.0.conv.weight", "up.2.norm.weight", "out.weight"] {
        check(
            &format!("ssr D grad {k}"),
            grad_err(&dvs, k, &e, &format!("dec.grad.{k}")),
        );
    }
}
