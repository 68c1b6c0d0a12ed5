//! Inception v3 in torchvision's layout (`torchvision.models.inception_v3`), eval mode, read up to its global
//! average pool: the InceptionV3 metric of the NSD suite (`eval::nsd8`). As torchvision builds it with
//! pretrained weights, `transform_input` is on: the ImageNet-normalised input is re-mapped to the [−1, 1] scaling
//! the Google weights were trained with. Parameter names: `Conv2d_1a_3x3` … `Conv2d_4a_3x3`, `Mixed_5b` …
//! `Mixed_7c`, each `BasicConv2d` a `conv` (no bias) and a `bn` (eps 0.001); `AuxLogits` and `fc` are not built.
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

const BN_EPS: f64 = 1e-3;
const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

/// Conv (no bias) + BN + ReLU.
struct Basic {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

impl Basic {
    /// Kernel (kh, kw), stride, padding (ph, pw).
    fn new(p: nn::Path, cin: i64, cout: i64, k: (i64, i64), stride: i64, pad: (i64, i64)) -> Self {
        let cfg = nn::ConvConfigND::<[i64; 2]> {
            stride: [stride, stride],
            padding: [pad.0, pad.1],
            dilation: [1, 1],
            groups: 1,
            bias: false,
            ws_init: nn::ConvConfig::default().ws_init,
            bs_init: nn::Init::Const(0.0),
            padding_mode: nn::PaddingMode::Zeros,
        };
        let bn = nn::BatchNormConfig {
            eps: BN_EPS,
            ..Default::default()
        };
        Self {
            conv: nn::conv(&p / "conv", cin, cout, [k.0, k.1], cfg),
            bn: nn::batch_norm2d(&p / "bn", cout, bn),
        }
    }

    fn sq(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64, pad: i64) -> Self {
        Self::new(p, cin, cout, (k, k), stride, (pad, pad))
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.bn.forward_t(&self.conv.forward(x), false).relu()
    }
}

fn chain(layers: &[Basic], x: &Tensor) -> Tensor {
    layers.iter().fold(x.shallow_clone(), |y, l| l.forward(&y))
}

fn avg3(x: &Tensor) -> Tensor {
    x.avg_pool2d([3, 3], [1, 1], [1, 1], false, true, None::<i64>)
}

fn max3s2(x: &Tensor) -> Tensor {
    x.max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], false)
}

/// The five kinds of mixed block. (Eleven are built once per network, so the variants' sizes do not matter.)
#[allow(clippy::large_enum_variant)]
enum Mixed {
    A {
        b1: Basic,
        b5: [Basic; 2],
        b3: [Basic; 3],
        pool: Basic,
    },
    B {
        b3: Basic,
        b3dbl: [Basic; 3],
    },
    C {
        b1: Basic,
        b7: [Basic; 3],
        b7dbl: [Basic; 5],
        pool: Basic,
    },
    D {
        b3: [Basic; 2],
        b7x3: [Basic; 4],
    },
    E {
        b1: Basic,
        b3_1: Basic,
        b3_2a: Basic,
        b3_2b: Basic,
        d1: Basic,
        d2: Basic,
        d3a: Basic,
        d3b: Basic,
        pool: Basic,
    },
}

impl Mixed {
    fn a(p: &nn::Path, cin: i64, pool_features: i64) -> Self {
        Mixed::A {
            b1: Basic::sq(p / "branch1x1", cin, 64, 1, 1, 0),
            b5: [
                Basic::sq(p / "branch5x5_1", cin, 48, 1, 1, 0),
                Basic::sq(p / "branch5x5_2", 48, 64, 5, 1, 2),
            ],
            b3: [
                Basic::sq(p / "branch3x3dbl_1", cin, 64, 1, 1, 0),
                Basic::sq(p / "branch3x3dbl_2", 64, 96, 3, 1, 1),
                Basic::sq(p / "branch3x3dbl_3", 96, 96, 3, 1, 1),
            ],
            pool: Basic::sq(p / "branch_pool", cin, pool_features, 1, 1, 0),
        }
    }

    fn b(p: &nn::Path, cin: i64) -> Self {
        Mixed::B {
            b3: Basic::sq(p / "branch3x3", cin, 384, 3, 2, 0),
            b3dbl: [
                Basic::sq(p / "branch3x3dbl_1", cin, 64, 1, 1, 0),
                Basic::sq(p / "branch3x3dbl_2", 64, 96, 3, 1, 1),
                Basic::sq(p / "branch3x3dbl_3", 96, 96, 3, 2, 0),
            ],
        }
    }

    fn c(p: &nn::Path, cin: i64, c7: i64) -> Self {
        let (k17, p17, k71, p71) = ((1, 7), (0, 3), (7, 1), (3, 0));
        Mixed::C {
            b1: Basic::sq(p / "branch1x1", cin, 192, 1, 1, 0),
            b7: [
                Basic::sq(p / "branch7x7_1", cin, c7, 1, 1, 0),
                Basic::new(p / "branch7x7_2", c7, c7, k17, 1, p17),
                Basic::new(p / "branch7x7_3", c7, 192, k71, 1, p71),
            ],
            b7dbl: [
                Basic::sq(p / "branch7x7dbl_1", cin, c7, 1, 1, 0),
                Basic::new(p / "branch7x7dbl_2", c7, c7, k71, 1, p71),
                Basic::new(p / "branch7x7dbl_3", c7, c7, k17, 1, p17),
                Basic::new(p / "branch7x7dbl_4", c7, c7, k71, 1, p71),
                Basic::new(p / "branch7x7dbl_5", c7, 192, k17, 1, p17),
            ],
            pool: Basic::sq(p / "branch_pool", cin, 192, 1, 1, 0),
        }
    }

    fn d(p: &nn::Path, cin: i64) -> Self {
        Mixed::D {
            b3: [
                Basic::sq(p / "branch3x3_1", cin, 192, 1, 1, 0),
                Basic::sq(p / "branch3x3_2", 192, 320, 3, 2, 0),
            ],
            b7x3: [
                Basic::sq(p / "branch7x7x3_1", cin, 192, 1, 1, 0),
                Basic::new(p / "branch7x7x3_2", 192, 192, (1, 7), 1, (0, 3)),
                Basic::new(p / "branch7x7x3_3", 192, 192, (7, 1), 1, (3, 0)),
                Basic::sq(p / "branch7x7x3_4", 192, 192, 3, 2, 0),
            ],
        }
    }

    fn e(p: &nn::Path, cin: i64) -> Self {
        Mixed::E {
            b1: Basic::sq(p / "branch1x1", cin, 320, 1, 1, 0),
            b3_1: Basic::sq(p / "branch3x3_1", cin, 384, 1, 1, 0),
            b3_2a: Basic::new(p / "branch3x3_2a", 384, 384, (1, 3), 1, (0, 1)),
            b3_2b: Basic::new(p / "branch3x3_2b", 384, 384, (3, 1), 1, (1, 0)),
            d1: Basic::sq(p / "branch3x3dbl_1", cin, 448, 1, 1, 0),
            d2: Basic::sq(p / "branch3x3dbl_2", 448, 384, 3, 1, 1),
            d3a: Basic::new(p / "branch3x3dbl_3a", 384, 384, (1, 3), 1, (0, 1)),
            d3b: Basic::new(p / "branch3x3dbl_3b", 384, 384, (3, 1), 1, (1, 0)),
            pool: Basic::sq(p / "branch_pool", cin, 192, 1, 1, 0),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Mixed::A { b1, b5, b3, pool } => {
                Tensor::cat(&[b1.forward(x), chain(b5, x), chain(b3, x), pool.forward(&avg3(x))], 1)
            }
            Mixed::B { b3, b3dbl } => Tensor::cat(&[b3.forward(x), chain(b3dbl, x), max3s2(x)], 1),
            Mixed::C { b1, b7, b7dbl, pool } => Tensor::cat(
                &[b1.forward(x), chain(b7, x), chain(b7dbl, x), pool.forward(&avg3(x))],
                1,
            ),
            Mixed::D { b3, b7x3 } => Tensor::cat(&[chain(b3, x), chain(b7x3, x), max3s2(x)], 1),
            Mixed::E {
                b1,
                b3_1,
                b3_2a,
                b3_2b,
                d1,
                d2,
                d3a,
                d3b,
                pool,
            } => {
                let t = b3_1.forward(x);
                let b3 = Tensor::cat(&[b3_2a.forward(&t), b3_2b.forward(&t)], 1);
                let u = d2.forward(&d1.forward(x));
                let dbl = Tensor::cat(&[d3a.forward(&u), d3b.forward(&u)], 1);
                Tensor::cat(&[b1.forward(x), b3, dbl, pool.forward(&avg3(x))], 1)
            }
        }
    }
}

/// Inception v3 up to the global average pool.
pub struct InceptionV3 {
    stem: Vec<Basic>,
    mixed: Vec<Mixed>,
}

impl InceptionV3 {
    /// The torchvision architecture under `p`.
    pub fn new(p: &nn::Path) -> Self {
        let stem = vec![
            Basic::sq(p / "Conv2d_1a_3x3", 3, 32, 3, 2, 0),
            Basic::sq(p / "Conv2d_2a_3x3", 32, 32, 3, 1, 0),
            Basic::sq(p / "Conv2d_2b_3x3", 32, 64, 3, 1, 1),
            Basic::sq(p / "Conv2d_3b_1x1", 64, 80, 1, 1, 0),
            Basic::sq(p / "Conv2d_4a_3x3", 80, 192, 3, 1, 0),
        ];
        let mixed = vec![
            Mixed::a(&(p / "Mixed_5b"), 192, 32),
            Mixed::a(&(p / "Mixed_5c"), 256, 64),
            Mixed::a(&(p / "Mixed_5d"), 288, 64),
            Mixed::b(&(p / "Mixed_6a"), 288),
            Mixed::c(&(p / "Mixed_6b"), 768, 128),
            Mixed::c(&(p / "Mixed_6c"), 768, 160),
            Mixed::c(&(p / "Mixed_6d"), 768, 160),
            Mixed::c(&(p / "Mixed_6e"), 768, 192),
            Mixed::d(&(p / "Mixed_7a"), 768),
            Mixed::e(&(p / "Mixed_7b"), 1280),
            Mixed::e(&(p / "Mixed_7c"), 2048),
        ];
        Self { stem, mixed }
    }

    /// `avgpool` features [B, 2048] of ImageNet-normalised images [B, 3, H, W] (`transform_input` applied here).
    pub fn avgpool(&self, x: &Tensor) -> Tensor {
        // transform_input: channel c ↦ x · std_c / 0.5 + (mean_c − 0.5) / 0.5.
        let chans: Vec<Tensor> = (0..3)
            .map(|c| x.narrow(1, c, 1) * (IMAGENET_STD[c as usize] / 0.5) + (IMAGENET_MEAN[c as usize] - 0.5) / 0.5)
            .collect();
        let x = Tensor::cat(&chans, 1);
        let s = &self.stem;
        let y = s[2].forward(&s[1].forward(&s[0].forward(&x)));
        let y = max3s2(&y);
        let y = max3s2(&s[4].forward(&s[3].forward(&y)));
        let y = self.mixed.iter().fold(y, |y, m| m.forward(&y));
        y.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }
}
