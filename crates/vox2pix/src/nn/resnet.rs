//! ResNet-50 in torchvision's layout (v1.5: the stride sits on each bottleneck's 3×3 convolution), eval mode,
//! read up to its global average pool: the SwAV metric of the NSD suite (`eval::nsd8`) runs SwAV's ResNet-50,
//! whose checkpoint uses these names (after dropping its `module.` prefix). Parameter names: `conv1`, `bn1`,
//! `layer{1..4}.{i}.{conv1,bn1,conv2,bn2,conv3,bn3}`, `layer{k}.0.downsample.{0,1}`; no `fc` is built.
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

/// Bottleneck blocks per stage of ResNet-50.
pub const RESNET50_BLOCKS: [usize; 4] = [3, 4, 6, 3];

struct Bottleneck {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    conv3: nn::Conv2D,
    bn3: nn::BatchNorm,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

fn conv(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64, padding: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding,
        bias: false,
        ..Default::default()
    };
    nn::conv2d(p, cin, cout, k, cfg)
}

fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, c, Default::default())
}

impl Bottleneck {
    fn new(p: &nn::Path, cin: i64, planes: i64, stride: i64) -> Self {
        let out = planes * 4;
        let downsample = (stride != 1 || cin != out).then(|| {
            (
                conv(p / "downsample" / 0, cin, out, 1, stride, 0),
                bn(p / "downsample" / 1, out),
            )
        });
        Self {
            conv1: conv(p / "conv1", cin, planes, 1, 1, 0),
            bn1: bn(p / "bn1", planes),
            conv2: conv(p / "conv2", planes, planes, 3, stride, 1),
            bn2: bn(p / "bn2", planes),
            conv3: conv(p / "conv3", planes, out, 1, 1, 0),
            bn3: bn(p / "bn3", out),
            downsample,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let y = self.bn1.forward_t(&self.conv1.forward(x), false).relu();
        let y = self.bn2.forward_t(&self.conv2.forward(&y), false).relu();
        let y = self.bn3.forward_t(&self.conv3.forward(&y), false);
        let skip = match &self.downsample {
            Some((c, b)) => b.forward_t(&c.forward(x), false),
            None => x.shallow_clone(),
        };
        (y + skip).relu()
    }
}

/// ResNet-50 up to the global average pool.
pub struct ResNet50 {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    layers: Vec<Bottleneck>,
}

impl ResNet50 {
    /// The torchvision architecture under `p`.
    pub fn new(p: &nn::Path) -> Self {
        let mut layers = Vec::new();
        let mut cin = 64;
        for (stage, &n) in RESNET50_BLOCKS.iter().enumerate() {
            let planes = 64 << stage;
            for i in 0..n {
                let stride = if i == 0 && stage > 0 { 2 } else { 1 };
                layers.push(Bottleneck::new(
                    &(p / format!("layer{}", stage + 1) / i),
                    cin,
                    planes,
                    stride,
                ));
                cin = planes * 4;
            }
        }
        Self {
            conv1: conv(p / "conv1", 3, 64, 7, 2, 3),
            bn1: bn(p / "bn1", 64),
            layers,
        }
    }

    /// `avgpool` features [B, 2048] of normalised images [B, 3, H, W].
    pub fn avgpool(&self, x: &Tensor) -> Tensor {
        let mut y =
            self.bn1
                .forward_t(&self.conv1.forward(x), false)
                .relu()
                .max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        for b in &self.layers {
            y = b.forward(&y);
        }
        y.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }
}
