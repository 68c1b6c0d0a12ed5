//! EfficientNet-B1 in torchvision's layout (`torchvision.models.efficientnet_b1`: width 1.0, depth 1.1), eval
//! mode, read up to its global average pool: the EffNet-B metric of the NSD suite (`eval::nsd8`). Parameter names:
//! `features.0.{0,1}` (stem conv + BN), `features.{1..7}.{j}.block.{k}` (MBConv: expand 1×1, depthwise, squeeze-
//! excitation `fc1`/`fc2`, project 1×1; stage 1 has no expansion), `features.8.{0,1}` (head 1×1 to 1,280); no
//! `classifier` is built.
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

/// B1's stages: (expand ratio, kernel, stride, input channels, output channels, blocks = ⌈B0's · 1.1⌉).
pub const EFFICIENTNET_B1_STAGES: [(i64, i64, i64, i64, i64, usize); 7] = [
    (1, 3, 1, 32, 16, 2),
    (6, 3, 2, 16, 24, 3),
    (6, 5, 2, 24, 40, 3),
    (6, 3, 2, 40, 80, 4),
    (6, 5, 1, 80, 112, 4),
    (6, 5, 2, 112, 192, 5),
    (6, 3, 1, 192, 320, 2),
];

/// Conv (no bias) + BN, the `Conv2dNormActivation` pair at `p.0` / `p.1`.
struct ConvBn {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

impl ConvBn {
    fn new(p: &nn::Path, cin: i64, cout: i64, k: i64, stride: i64, groups: i64) -> Self {
        let cfg = nn::ConvConfig {
            stride,
            padding: (k - 1) / 2,
            groups,
            bias: false,
            ..Default::default()
        };
        Self {
            conv: nn::conv2d(p / 0, cin, cout, k, cfg),
            bn: nn::batch_norm2d(p / 1, cout, Default::default()),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.bn.forward_t(&self.conv.forward(x), false)
    }
}

struct MbConv {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    se_fc1: nn::Conv2D,
    se_fc2: nn::Conv2D,
    project: ConvBn,
    residual: bool,
}

impl MbConv {
    fn new(p: &nn::Path, expand_ratio: i64, k: i64, stride: i64, cin: i64, cout: i64) -> Self {
        let hidden = cin * expand_ratio;
        let mut i = 0;
        let mut next = || {
            i += 1;
            p / "block" / (i - 1)
        };
        let expand = (expand_ratio != 1).then(|| ConvBn::new(&next(), cin, hidden, 1, 1, 1));
        let depthwise = ConvBn::new(&next(), hidden, hidden, k, stride, hidden);
        let se = next();
        let squeeze = (cin / 4).max(1);
        let se_fc1 = nn::conv2d(&se / "fc1", hidden, squeeze, 1, Default::default());
        let se_fc2 = nn::conv2d(&se / "fc2", squeeze, hidden, 1, Default::default());
        let project = ConvBn::new(&next(), hidden, cout, 1, 1, 1);
        Self {
            expand,
            depthwise,
            se_fc1,
            se_fc2,
            project,
            residual: stride == 1 && cin == cout,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let mut y = match &self.expand {
            Some(e) => e.forward(x).silu(),
            None => x.shallow_clone(),
        };
        y = self.depthwise.forward(&y).silu();
        let s = y.adaptive_avg_pool2d([1, 1]);
        let s = self.se_fc2.forward(&self.se_fc1.forward(&s).silu()).sigmoid();
        y = self.project.forward(&(y * s));
        // Stochastic depth is the identity in eval mode.
        if self.residual {
            y + x
        } else {
            y
        }
    }
}

/// EfficientNet-B1 up to the global average pool.
pub struct EfficientNetB1 {
    stem: ConvBn,
    blocks: Vec<MbConv>,
    head: ConvBn,
}

impl EfficientNetB1 {
    /// The torchvision architecture under `p`.
    pub fn new(p: &nn::Path) -> Self {
        let f = p / "features";
        let mut blocks = Vec::new();
        for (s, &(e, k, stride, cin, cout, n)) in EFFICIENTNET_B1_STAGES.iter().enumerate() {
            for j in 0..n {
                let (ci, st) = if j == 0 { (cin, stride) } else { (cout, 1) };
                blocks.push(MbConv::new(&(&f / (s + 1) / j), e, k, st, ci, cout));
            }
        }
        Self {
            stem: ConvBn::new(&(&f / 0), 3, 32, 3, 2, 1),
            blocks,
            head: ConvBn::new(&(&f / 8), 320, 1280, 1, 1, 1),
        }
    }

    /// `avgpool` features [B, 1280] of normalised images [B, 3, H, W].
    pub fn avgpool(&self, x: &Tensor) -> Tensor {
        let mut y = self.stem.forward(x).silu();
        for b in &self.blocks {
            y = b.forward(&y);
        }
        self.head.forward(&y).silu().adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }
}
