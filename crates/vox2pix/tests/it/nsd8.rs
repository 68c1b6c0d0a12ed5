//! The NSD 8-metric suite against `tests/fixtures/nsd8/`, computed by `tools/make_nsd8_fixtures.py` with PyTorch,
//! torchvision, scikit-image and SciPy the way MindEye2 does it: the same architectures with the same weights
//! (the formula `fill` below, bit for bit as the script's; CLIP a scripted random ViT read from its TorchScript
//! archive), the same resizes and normalisations, the same scores.
use serde_json::Value;
use std::collections::HashMap;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use vox2pix::eval::nsd8::{correlation_distance, two_way_identification, Nsd8Suite, SuiteWeights};
use vox2pix::model::weights::read_clip_weights;
use vox2pix::model::weights::{copy_into, KeyMatch};
use vox2pix::nn::backbone::AlexNetFeatures;
use vox2pix::nn::clip::{ClipVision, ClipVisionSize};
use vox2pix::nn::efficientnet::EfficientNetB1;
use vox2pix::nn::inception::InceptionV3;
use vox2pix::nn::resnet::ResNet50;
use vox2pix_formats::rng::splitmix64;

fn fx(name: &str) -> std::path::PathBuf {
    crate::helpers::fixture("nsd8", name)
}

/// The script's `fill_values`: FNV-1a of the name keys a splitmix stream; the tensor's role picks the scale.
fn fill_values(name: &str, shape: &[i64]) -> Vec<f32> {
    let mut key: u64 = 0xCBF2_9CE4_8422_2325;
    for b in name.bytes() {
        key = (key ^ b as u64).wrapping_mul(0x0100_0000_01B3);
    }
    let n: i64 = shape.iter().product();
    (1..=n as u64)
        .map(|k| {
            let u = (splitmix64(key.wrapping_add(k.wrapping_mul(0x9E37_79B9_7F4A_7C15))) >> 11) as f64;
            let s = 2.0 * (u * 2f64.powi(-53)) - 1.0;
            let v = if shape.len() >= 2 {
                s * (6.0 / (n / shape[0]) as f64).sqrt()
            } else if name.ends_with(".weight") {
                1.0 + 0.1 * s
            } else if name.ends_with("running_var") {
                1.0 + 0.1 * s.abs()
            } else {
                0.01 * s
            };
            v as f32
        })
        .collect()
}

fn fill(vs: &mut VarStore) {
    let file: HashMap<String, Tensor> = vs
        .variables()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Tensor::from_slice(&fill_values(k, &v.size())).view(v.size().as_slice()),
            )
        })
        .collect();
    copy_into(vs, &file, "formula", KeyMatch::default()).unwrap();
    vs.freeze();
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fx("expected.json")).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn suite() -> Nsd8Suite {
    let d = Device::Cpu;
    let mut a = VarStore::new(d);
    let alex = AlexNetFeatures::with_conv5(&a.root(), 1.0);
    fill(&mut a);
    let mut i = VarStore::new(d);
    let inc = InceptionV3::new(&i.root());
    fill(&mut i);
    let w = read_clip_weights(&fx("tiny_clip.pt")).unwrap();
    let size = ClipVisionSize::of(&w).unwrap();
    assert_eq!(
        size,
        ClipVisionSize {
            width: 64,
            patch: 14,
            layers: 2,
            grid: 16,
            embed: 32
        },
        "sizes read from the TorchScript archive"
    );
    let mut c = VarStore::new(d);
    let clip = ClipVision::new(&c.root(), size);
    copy_into(&mut c, &w, "tiny_clip.pt", KeyMatch::default()).unwrap();
    let mut e = VarStore::new(d);
    let eff = EfficientNetB1::new(&e.root());
    fill(&mut e);
    let mut r = VarStore::new(d);
    let res = ResNet50::new(&r.root());
    fill(&mut r);
    Nsd8Suite::from_parts(d, (a, alex), (i, inc), (c, clip), (e, eff), (r, res))
}

fn inputs() -> (Tensor, Tensor) {
    let m = vox2pix_formats::npz::read_npz(&fx("inputs.npz")).unwrap();
    let t = |k: &str| {
        let a = m[k].to_f32().unwrap();
        let shape: Vec<i64> = a.shape().iter().map(|&d| d as i64).collect();
        Tensor::from_slice(a.as_slice().unwrap()).view(shape.as_slice())
    };
    (t("recon"), t("gt"))
}

#[test]
fn the_eight_metrics_equal_the_pytorch_scikit_image_scipy_computation() {
    let _g = crate::helpers::torch_lock();
    let e = expected();
    let (recon, gt) = inputs();
    let m = suite().evaluate(&recon, &gt, 4, 200, 0).unwrap();
    let names: Vec<&str> = m.metrics.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "pixcorr",
            "ssim",
            "alexnet2",
            "alexnet5",
            "inception",
            "clip",
            "effnet",
            "swav"
        ]
    );
    for metric in &m.metrics {
        let want = floats(&e[&metric.name]["per_image"]);
        let got = &metric.value.per_image;
        for (g, w) in got.iter().zip(&want) {
            let ok = match metric.name.as_str() {
                // 2-way identification counts wins: exactly the reference's fractions.
                "alexnet2" | "alexnet5" | "inception" | "clip" => g == w,
                // Correlation distances of near-collinear random-network features: relative.
                "effnet" | "swav" => (g - w).abs() <= 1e-4 * w.abs().max(1e-3) + 1e-7,
                _ => (g - w).abs() <= 1e-4,
            };
            assert!(ok, "{}: vox2pix {got:?} vs reference {want:?}", metric.name);
        }
        let mean = e[&metric.name]["mean"].as_f64().unwrap();
        assert!(
            (metric.value.mean - mean).abs() <= 1e-4,
            "{}: mean {} vs {mean}",
            metric.name,
            metric.value.mean
        );
        assert!(metric.value.ci.lo <= metric.value.mean && metric.value.mean <= metric.value.ci.hi);
    }
}

#[test]
fn each_network_computes_torchvisions_and_openais_features() {
    let _g = crate::helpers::torch_lock();
    let e = &expected()["features_gt0"];
    let (_, gt) = inputs();
    let feats = suite().network_features(&Nsd8Suite::to_working_size(&gt), 4);
    for (name, f) in feats.into_iter().filter(|(n, _)| *n != "alexnet2") {
        let row = f.get(0).to_kind(Kind::Double);
        let got: Vec<f64> = Vec::try_from(row.narrow(0, 0, row.size()[0].min(64))).unwrap();
        let want = floats(&e[name]);
        let scale = want.iter().fold(0f64, |a, &b| a.max(b.abs()));
        let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f64, f64::max);
        assert!(worst <= 1e-5 * scale + 1e-7, "{name}: max |Δ| {worst} (scale {scale})");
    }
}

#[test]
fn two_way_identification_is_the_reference_formula_with_ties_counted_as_losses() {
    // Features chosen so that every correlation is known: pred j = real j, except pred 2 = real 0.
    let reals = Tensor::from_slice(&[1.0f64, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]).view([3, 3]);
    let preds = Tensor::from_slice(&[1.0f64, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0]).view([3, 3]);
    // r(real_i, pred_j) for these one-hot rows: 1 on a match, −0.5 otherwise. Pred 0: beats reals 1 and 2 → 1.
    // Pred 1: 1. Pred 2 (= real 0): r(real_2, pred_2) = −0.5, r(real_0, pred_2) = 1 (not <), r(real_1, pred_2) =
    // −0.5 (a tie, not <) → 0.
    assert_eq!(two_way_identification(&reals, &preds).unwrap(), [1.0, 1.0, 0.0]);
    // Constant predictions have no correlation with anything (NumPy's corrcoef gives NaN), so every comparison
    // fails and they score 0, not chance.
    let same = Tensor::ones([3, 3], (Kind::Double, Device::Cpu));
    assert_eq!(two_way_identification(&reals, &same).unwrap(), [0.0, 0.0, 0.0]);
    // Correlation distance: 0 for identical rows, 2 for negated ones.
    let d = correlation_distance(&reals, &(-&reals)).unwrap();
    assert!(d.iter().all(|&x| (x - 2.0).abs() < 1e-12), "{d:?}");
    assert!(correlation_distance(&reals, &reals)
        .unwrap()
        .iter()
        .all(|&x| x.abs() < 1e-12));
}

#[test]
fn missing_weight_files_are_named_with_where_to_get_them() {
    let dir = temp_dir!("weights");
    std::fs::write(dir.join("alexnet-owt-7be5be79.pth"), b"x").unwrap();
    let err = format!("{:#}", SuiteWeights::locate(&dir).unwrap_err());
    assert!(!err.contains("AlexNet:"), "AlexNet is present: {err}");
    for needle in [
        "inception_v3_google-0cc3c7bd.pth",
        "ViT-L-14.pt",
        "efficientnet_b1-c27df63c.pth",
        "swav_800ep_pretrain.pth.tar",
        "https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar",
    ] {
        assert!(err.contains(needle), "{needle} in: {err}");
    }
}
