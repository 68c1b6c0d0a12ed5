//! Shapes of E and D with the GOD subjects' VC voxel counts at 112 px (full-width VGG16) and with the synthetic
//! world's narrow backbone at 64 px; configuration errors.
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use vox2pix::nn::backbone::{AlexNetFeatures, Vgg};
use vox2pix::nn::decoder::Decoder;
use vox2pix::nn::encoder::SeparableEncoder;
use vox2pix_formats::config::DecoderConfig;
use vox2pix_formats::config::EncoderConfig;

/// VC voxel counts of GOD subjects 1–5 (method.md §1.1).
const GOD_VC: [i64; 5] = [3444, 4979, 5355, 4656, 6237];
const CPU: (Kind, Device) = (Kind::Float, Device::Cpu);

fn four(c: [i64; 5]) -> [i64; 4] {
    [c[0], c[1], c[2], c[3]]
}

#[test]
fn encoder_and_decoder_shapes_with_god_voxel_counts_at_112px() {
    let _torch = crate::helpers::torch_lock();
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let vgg = Vgg::new(&(vs.root() / "vgg"), 1.0);
    assert_eq!(vgg.channels(), [64, 128, 256, 512, 512]);
    let x = Tensor::rand([2, 3, 112, 112], CPU);
    let taps = tch::no_grad(|| vgg.taps(&x));
    let sizes: Vec<Vec<i64>> = taps.as_array().iter().map(|t| t.size()).collect();
    assert_eq!(
        sizes,
        vec![
            vec![2, 64, 112, 112],
            vec![2, 128, 56, 56],
            vec![2, 256, 28, 28],
            vec![2, 512, 14, 14],
            vec![2, 512, 7, 7]
        ]
    );
    for (i, &v) in GOD_VC.iter().enumerate() {
        let p = vs.root() / format!("s{i}");
        let enc =
            SeparableEncoder::new(&(&p / "enc"), &EncoderConfig::default(), four(vgg.channels()), 112, v).unwrap();
        assert_eq!(
            enc.space_map_sides(),
            vec![26, 12],
            "one 26×26 map for branches 1–3, one 12×12 for branch 4"
        );
        let y = tch::no_grad(|| enc.forward_t(&taps, false));
        assert_eq!(y.size(), vec![2, v]);
        assert_eq!(enc.branch_weights().size(), vec![v, 4]);
        assert!(enc.regularization().double_value(&[]).is_finite());
        let dec = Decoder::new(&(&p / "dec"), &DecoderConfig::default(), v, 112).unwrap();
        let img = tch::no_grad(|| dec.forward(&y));
        assert_eq!(img.size(), vec![2, 3, 112, 112]);
        assert!(img.min().double_value(&[]) >= 0.0 && img.max().double_value(&[]) <= 1.0);
        assert!(dec
            .regularization(&Tensor::ones([v], CPU))
            .double_value(&[])
            .is_finite());
    }
    // Parameter shapes of the paper's E and D for one subject.
    let named = vs.variables();
    assert_eq!(named["s0.enc.space_maps.0"].size(), vec![26, 26, 3444]);
    assert_eq!(named["s0.enc.space_maps.1"].size(), vec![12, 12, 3444]);
    assert_eq!(named["s0.enc.feature_mix.2.weight"].size(), vec![3444, 288]);
    assert_eq!(named["s0.enc.branch_mix"].size(), vec![3444, 4]);
    assert_eq!(named["s0.dec.fc.weight"].size(), vec![14 * 14 * 64, 3444]);
    // Init values the paper specifies: space maps constant 2/((H'−2)² + V), branch mix 1.
    let m = &named["s0.enc.space_maps.0"];
    assert!((m.double_value(&[3, 4, 5]) - 2.0 / (676.0 + 3444.0)).abs() < 1e-9);
    assert_eq!(named["s0.enc.branch_mix"].min().double_value(&[]), 1.0);
}

#[test]
fn narrow_backbone_shapes_at_64px_and_ssr_variant() {
    let _torch = crate::helpers::torch_lock();
    let vs = VarStore::new(Device::Cpu);
    let vgg = Vgg::with_classifier(&(vs.root() / "vgg"), 0.25, 10);
    assert_eq!(vgg.channels(), [16, 32, 64, 128, 128]);
    let x = Tensor::rand([3, 3, 64, 64], CPU);
    let taps = vgg.taps(&x);
    assert_eq!(taps.relu1_2.size(), vec![3, 16, 64, 64]);
    assert_eq!(taps.relu5_3.size(), vec![3, 128, 4, 4]);
    assert_eq!(vgg.embedding(&x).size(), vec![3, 128]);
    assert_eq!(vgg.logits(&x).unwrap().size(), vec![3, 10]);
    let enc = SeparableEncoder::new(
        &(vs.root() / "e"),
        &EncoderConfig::default(),
        four(vgg.channels()),
        64,
        500,
    )
    .unwrap();
    assert_eq!(enc.space_map_sides(), vec![14, 6]);
    assert_eq!(enc.forward_t(&taps, true).size(), vec![3, 500]);
    let ssr = EncoderConfig {
        branch3_stride: 2,
        ..Default::default()
    };
    let enc2 = SeparableEncoder::new(&(vs.root() / "e2"), &ssr, four(vgg.channels()), 64, 500).unwrap();
    assert_eq!(enc2.space_map_sides(), vec![14, 6], "branch 3 joins branch 4's 6×6 map");
    assert_eq!(enc2.forward_t(&taps, false).size(), vec![3, 500]);
    let unshared = EncoderConfig {
        share_space_maps: false,
        ..Default::default()
    };
    let enc3 = SeparableEncoder::new(&(vs.root() / "e3"), &unshared, four(vgg.channels()), 64, 50).unwrap();
    assert_eq!(enc3.space_map_sides(), vec![14, 14, 14, 6]);
    let dec = Decoder::new(&(vs.root() / "d"), &DecoderConfig::default(), 500, 64).unwrap();
    assert_eq!(dec.forward(&Tensor::randn([3, 500], CPU)).size(), vec![3, 3, 64, 64]);
    // AlexNet at 112 px gives the 9,216-d classification embedding.
    let alex = AlexNetFeatures::new(&(vs.root() / "alex"), 1.0);
    assert_eq!(
        alex.embedding(&Tensor::rand([1, 3, 112, 112], CPU)).size(),
        vec![1, 9216]
    );
}

#[test]
fn bad_configs_and_sizes_are_named_errors() {
    let _torch = crate::helpers::torch_lock();
    let vs = VarStore::new(Device::Cpu);
    let ch = [16, 32, 64, 128];
    let e = |cfg: EncoderConfig, s: i64, v: i64| {
        format!("{:#}", SeparableEncoder::new(&vs.root(), &cfg, ch, s, v).unwrap_err())
    };
    assert!(e(EncoderConfig::default(), 100, 10).contains("image size 100"));
    assert!(e(EncoderConfig::default(), 64, 0).contains("voxel count 0"));
    assert!(e(
        EncoderConfig {
            dropout: 1.5,
            ..Default::default()
        },
        64,
        10
    )
    .contains("encoder.dropout"));
    assert!(e(
        EncoderConfig {
            patch_size: 2,
            ..Default::default()
        },
        64,
        10
    )
    .contains("encoder.patch_size"));
    assert!(e(
        EncoderConfig {
            space_group: -1.0,
            ..Default::default()
        },
        64,
        10
    )
    .contains("encoder.space_group"));
    assert!(e(
        EncoderConfig {
            patch_size: 9,
            ..Default::default()
        },
        32,
        10
    )
    .contains("smaller than patch_size"));
    let d = format!(
        "{:#}",
        Decoder::new(
            &vs.root(),
            &DecoderConfig {
                groups: 5,
                ..Default::default()
            },
            10,
            64
        )
        .unwrap_err()
    );
    assert!(d.contains("decoder.groups"), "{d}");
    // Unknown config keys are rejected with the key's name; omitted keys take the documented defaults.
    let err = toml::from_str::<EncoderConfig>("dropot = 0.2").unwrap_err().to_string();
    assert!(err.contains("dropot"), "{err}");
    let cfg: EncoderConfig = toml::from_str("dropout = 0.25").unwrap();
    assert_eq!(
        cfg,
        EncoderConfig {
            dropout: 0.25,
            ..Default::default()
        }
    );
    assert!(toml::from_str::<DecoderConfig>("upsample = \"trilinear\"").is_err());
}

/// The decoder trainer sends the paired rows and the ED predictions through D in one pass
/// (`train::decoder`). That is only the same function if D treats every sample on its own: each row's image
/// from the joint pass must equal its image from a pass of its own half, for both block types (Keras group norm,
/// SSR's reflection pad). A batch-statistics layer added to D would fail this.
#[test]
fn decoder_output_of_a_row_does_not_depend_on_the_other_rows_of_its_batch() {
    use vox2pix_formats::config::DecoderBlock;
    for block in [DecoderBlock::Keras, DecoderBlock::Ssr] {
        let vs = VarStore::new(Device::Cpu);
        let cfg = DecoderConfig {
            block,
            ..DecoderConfig::default()
        };
        let dec = Decoder::new(&(vs.root() / "d"), &cfg, 40, 32).unwrap();
        tch::manual_seed(5);
        let (a, b) = (Tensor::randn([3, 40], CPU), Tensor::randn([5, 40], CPU) * 3.0);
        let joint = tch::no_grad(|| dec.forward(&Tensor::cat(&[&a, &b], 0)));
        let apart = tch::no_grad(|| Tensor::cat(&[dec.forward(&a), dec.forward(&b)], 0));
        let diff = (&joint - &apart).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "{block:?}: joint and separate passes differ by {diff}");
    }
}
