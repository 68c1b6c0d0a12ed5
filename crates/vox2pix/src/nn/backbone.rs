//! Frozen ImageNet backbones in torchvision's parameter layout: VGG16 (perceptual loss, encoder taps, the
//! synthetic world's classifier), VGG19 (SelfSuperReconst's encoder taps) and AlexNet `features[:10]` (semantic
//! classification embedding, method.md §6.2).
use tch::nn::{self, Module};
use tch::Tensor;
pub use vox2pix_formats::config::InputNorm;

const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];
const CAFFE_MEAN_BGR: [f64; 3] = [103.939, 116.779, 123.68];

/// Maps RGB in [0,1] ([B,3,H,W]) to what the backbone's first convolution expects under `norm`.
pub fn normalize_input(norm: InputNorm, x01: &Tensor) -> Tensor {
    let (kind, dev) = (x01.kind(), x01.device());
    let col = |v: [f64; 3]| Tensor::from_slice(&v).to_kind(kind).to_device(dev).view([1, 3, 1, 1]);
    match norm {
        InputNorm::Torchvision => (x01 - col(IMAGENET_MEAN)) / col(IMAGENET_STD),
        InputNorm::Caffe => x01.flip([1]) * 255.0 - col(CAFFE_MEAN_BGR),
    }
}

/// Channel count for a width multiplier; at least 1 so that tiny widths still form a network.
pub fn scaled_channels(base: i64, width: f64) -> i64 {
    ((base as f64 * width).round() as i64).max(1)
}

/// The five post-ReLU VGG activations that feed the perceptual loss (all five) and the encoder (first four): the
/// last ReLU of each block, named as in VGG16 (in VGG19 they are relu3_4, relu4_4, relu5_4).
/// Spatial sizes at input S: S, S/2, S/4, S/8, S/16.
#[derive(Debug)]
pub struct VggTaps {
    /// Block 1, [B, 64·w, S, S].
    pub relu1_2: Tensor,
    /// Block 2, [B, 128·w, S/2, S/2].
    pub relu2_2: Tensor,
    /// Block 3, [B, 256·w, S/4, S/4].
    pub relu3_3: Tensor,
    /// Block 4, [B, 512·w, S/8, S/8].
    pub relu4_3: Tensor,
    /// Block 5, [B, 512·w, S/16, S/16].
    pub relu5_3: Tensor,
}

impl VggTaps {
    /// The taps in depth order.
    pub fn as_array(&self) -> [&Tensor; 5] {
        [
            &self.relu1_2,
            &self.relu2_2,
            &self.relu3_3,
            &self.relu4_3,
            &self.relu5_3,
        ]
    }

    /// Rows `start..start+len` of every tap (e.g. one mini-batch out of cached target taps).
    pub fn narrow(&self, start: i64, len: i64) -> VggTaps {
        self.map(|t| t.narrow(0, start, len))
    }

    /// Row selection along the batch axis (e.g. cached taps of the images in a shuffled batch).
    pub fn index_select(&self, rows: &Tensor) -> VggTaps {
        self.map(|t| t.index_select(0, rows))
    }

    /// Batch-axis concatenation of two tap sets (paired and unpaired rows of one step).
    pub fn cat(&self, other: &VggTaps) -> VggTaps {
        let (a, b) = (self.as_array(), other.as_array());
        let c: Vec<Tensor> = a.iter().zip(b.iter()).map(|(x, y)| Tensor::cat(&[*x, *y], 0)).collect();
        Self::from_vec(c)
    }

    /// Batch-axis concatenation of many tap sets in one copy per tap (building a cache chunk by chunk with
    /// [`VggTaps::cat`] would copy the growing cache once per chunk).
    pub fn concat(parts: &[VggTaps]) -> VggTaps {
        Self::from_vec(
            (0..5)
                .map(|i| Tensor::cat(&parts.iter().map(|p| p.as_array()[i]).collect::<Vec<_>>(), 0))
                .collect(),
        )
    }

    /// Detached copies (cached targets carry no graph).
    pub fn detach(&self) -> VggTaps {
        self.map(|t| t.detach())
    }

    /// Moves every tap to `device` (e.g. cached on the CPU, used on the GPU).
    pub fn to_device(&self, device: tch::Device) -> VggTaps {
        self.map(|t| t.to_device(device))
    }

    /// Every tap as float32 (differentiable): losses on autocast (bf16) taps are computed in full precision.
    pub fn to_float(&self) -> VggTaps {
        self.map(|t| t.to_kind(tch::Kind::Float))
    }

    fn map(&self, f: impl Fn(&Tensor) -> Tensor) -> VggTaps {
        Self::from_vec(self.as_array().iter().map(|t| f(t)).collect())
    }

    fn from_vec(mut v: Vec<Tensor>) -> VggTaps {
        let relu5_3 = v.pop().unwrap_or_default();
        let relu4_3 = v.pop().unwrap_or_default();
        let relu3_3 = v.pop().unwrap_or_default();
        let relu2_2 = v.pop().unwrap_or_default();
        let relu1_2 = v.pop().unwrap_or_default();
        VggTaps {
            relu1_2,
            relu2_2,
            relu3_3,
            relu4_3,
            relu5_3,
        }
    }
}

/// torchvision `vgg16().features` indices of the 13 convolutions, grouped into the five blocks.
pub const VGG16_BLOCKS: [&[usize]; 5] = [&[0, 2], &[5, 7], &[10, 12, 14], &[17, 19, 21], &[24, 26, 28]];
/// torchvision `vgg19().features` indices of the 16 convolutions (blocks 3–5 have four each).
pub const VGG19_BLOCKS: [&[usize]; 5] = [
    &[0, 2],
    &[5, 7],
    &[10, 12, 14, 16],
    &[19, 21, 23, 25],
    &[28, 30, 32, 34],
];
/// Output channels of the five blocks at width 1.0 (torchvision, VGG16 and VGG19 alike); width w scales them
/// (`scaled_channels`).
pub const VGG16_BASE_CHANNELS: [i64; 5] = [64, 128, 256, 512, 512];

/// Which VGG: the two differ only in the number of convolutions in blocks 3–5 (3 or 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VggArch {
    /// torchvision `vgg16` (the perceptual loss, the paper's E, the synthetic world's backbone).
    Vgg16,
    /// torchvision `vgg19` (SelfSuperReconst's E: its taps are `features.3/8/17/26`, the last ReLU of blocks 1–4).
    Vgg19,
}

impl VggArch {
    /// `features.N` indices of the convolutions of each block.
    pub fn blocks(self) -> [&'static [usize]; 5] {
        match self {
            VggArch::Vgg16 => VGG16_BLOCKS,
            VggArch::Vgg19 => VGG19_BLOCKS,
        }
    }

    /// The architecture a torchvision-layout parameter list belongs to: VGG19 has `features.34` (its last
    /// convolution), VGG16 ends at `features.28`.
    pub fn from_parameter_names<'a>(names: impl IntoIterator<Item = &'a str>) -> VggArch {
        if names.into_iter().any(|n| n.starts_with("features.34.")) {
            VggArch::Vgg19
        } else {
            VggArch::Vgg16
        }
    }

    /// torchvision's name of the network.
    pub fn name(self) -> &'static str {
        match self {
            VggArch::Vgg16 => "vgg16",
            VggArch::Vgg19 => "vgg19",
        }
    }
}

/// VGG16 or VGG19 convolutional trunk (`features.N.weight/bias`, torchvision layout) with an optional classifier
/// head (`classifier.weight/bias`: global average pool of the last tap → linear) used only to train the synthetic
/// world's own narrow backbone. Width 1.0 is torchvision's network; width w scales every channel count.
#[derive(Debug)]
pub struct Vgg {
    arch: VggArch,
    blocks: Vec<Vec<nn::Conv2D>>,
    channels: [i64; 5],
    norm: InputNorm,
    classifier: Option<nn::Linear>,
}

impl Vgg {
    /// VGG16 trunk only, torchvision input normalisation. Initialisation is torchvision's (Kaiming-normal
    /// fan-out, zero bias), which matters only when the backbone is trained from scratch.
    pub fn new(p: &nn::Path, width: f64) -> Self {
        Self::build(p, VggArch::Vgg16, width, InputNorm::Torchvision, None)
    }

    /// VGG16 trunk plus a `n_classes` linear classifier on the globally pooled relu5_3.
    pub fn with_classifier(p: &nn::Path, width: f64, n_classes: i64) -> Self {
        Self::build(p, VggArch::Vgg16, width, InputNorm::Torchvision, Some(n_classes))
    }

    /// Full control: the architecture, the input normalisation (e.g. caffe weights) and the classifier head.
    pub fn build(p: &nn::Path, arch: VggArch, width: f64, norm: InputNorm, n_classes: Option<i64>) -> Self {
        let channels = VGG16_BASE_CHANNELS.map(|c| scaled_channels(c, width));
        let init = nn::Init::Kaiming {
            dist: nn::init::NormalOrUniform::Normal,
            fan: nn::init::FanInOut::FanOut,
            non_linearity: nn::init::NonLinearity::ReLU,
        };
        let cfg = nn::ConvConfig {
            padding: 1,
            ws_init: init,
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        };
        let features = p / "features";
        let mut cin = 3;
        let mut blocks = Vec::new();
        for (b, idx) in arch.blocks().iter().enumerate() {
            let mut convs = Vec::new();
            for &i in idx.iter() {
                convs.push(nn::conv2d(&features / i, cin, channels[b], 3, cfg));
                cin = channels[b];
            }
            blocks.push(convs);
        }
        let classifier = n_classes.map(|n| {
            let lc = nn::LinearConfig {
                ws_init: nn::Init::Randn { mean: 0.0, stdev: 0.01 },
                bs_init: Some(nn::Init::Const(0.0)),
                bias: true,
            };
            nn::linear(p / "classifier", channels[4], n, lc)
        });
        Vgg {
            arch,
            blocks,
            channels,
            norm,
            classifier,
        }
    }

    /// VGG16 or VGG19.
    pub fn arch(&self) -> VggArch {
        self.arch
    }

    /// Channel counts of relu1_2 … relu5_3.
    pub fn channels(&self) -> [i64; 5] {
        self.channels
    }

    /// The input normalisation applied inside [`Vgg::taps`].
    pub fn input_norm(&self) -> InputNorm {
        self.norm
    }

    /// The five taps for RGB input in [0,1] ([B,3,H,W], H and W multiples of 16).
    pub fn taps(&self, x01: &Tensor) -> VggTaps {
        VggTaps::from_vec(self.forward_blocks(x01, 5))
    }

    /// The first `n` taps only (the encoder needs four; skipping block 5 saves its cost).
    pub fn taps_upto(&self, x01: &Tensor, n: usize) -> Vec<Tensor> {
        self.forward_blocks(x01, n.min(5))
    }

    fn forward_blocks(&self, x01: &Tensor, n: usize) -> Vec<Tensor> {
        let mut x = normalize_input(self.norm, x01);
        let mut taps = Vec::with_capacity(n);
        for (b, convs) in self.blocks.iter().take(n).enumerate() {
            if b > 0 {
                x = x.max_pool2d_default(2);
            }
            for c in convs {
                x = c.forward(&x).relu();
            }
            taps.push(x.shallow_clone());
        }
        taps
    }

    /// Classification embedding for the synthetic world: global average pool of relu5_3, [B, channels[4]].
    pub fn embedding(&self, x01: &Tensor) -> Tensor {
        let last = self.forward_blocks(x01, 5).pop().unwrap_or_default();
        let kind = last.kind();
        last.mean_dim(&[2i64, 3][..], false, kind)
    }

    /// Class logits from the classifier head; `None` when the backbone was built without one.
    pub fn logits(&self, x01: &Tensor) -> Option<Tensor> {
        self.classifier.as_ref().map(|c| c.forward(&self.embedding(x01)))
    }
}

/// AlexNet `features[:10]` (conv1 … ReLU after conv4) in torchvision's layout (`features.{0,3,6,8}`), and with
/// [`AlexNetFeatures::with_conv5`] also `features.10`, for the five LPIPS taps.
#[derive(Debug)]
pub struct AlexNetFeatures {
    convs: Vec<nn::Conv2D>,
}

impl AlexNetFeatures {
    /// Width 1.0 = torchvision (64/192/384/256 channels). PyTorch's default conv initialisation.
    pub fn new(p: &nn::Path, width: f64) -> Self {
        Self::build(p, width, false)
    }

    /// As [`AlexNetFeatures::new`] plus conv5 (`features.10`, 256 channels at width 1), which LPIPS taps.
    pub fn with_conv5(p: &nn::Path, width: f64) -> Self {
        Self::build(p, width, true)
    }

    fn build(p: &nn::Path, width: f64, conv5: bool) -> Self {
        let f = p / "features";
        let ch = [64, 192, 384, 256, 256].map(|c| scaled_channels(c, width));
        let conv = |i: i64, cin: i64, cout: i64, k: i64, stride: i64, pad: i64| {
            let bound = 1.0 / ((cin * k * k) as f64).sqrt();
            let u = nn::Init::Uniform { lo: -bound, up: bound };
            let cfg = nn::ConvConfig {
                stride,
                padding: pad,
                ws_init: u,
                bs_init: u,
                ..Default::default()
            };
            nn::conv2d(&f / i, cin, cout, k, cfg)
        };
        let mut convs = vec![
            conv(0, 3, ch[0], 11, 4, 2),
            conv(3, ch[0], ch[1], 5, 1, 2),
            conv(6, ch[1], ch[2], 3, 1, 1),
            conv(8, ch[2], ch[3], 3, 1, 1),
        ];
        if conv5 {
            convs.push(conv(10, ch[3], ch[4], 3, 1, 1));
        }
        AlexNetFeatures { convs }
    }

    /// The five ReLU outputs LPIPS compares (after conv1 … conv5, before pooling; the `lpips` package's
    /// `alexnet` slices `features[0:2]`, `[2:5]`, `[5:8]`, `[8:10]`, `[10:12]`). Needs [`AlexNetFeatures::with_conv5`].
    pub fn lpips_taps(&self, x: &Tensor) -> anyhow::Result<Vec<Tensor>> {
        anyhow::ensure!(
            self.convs.len() == 5,
            "LPIPS taps need AlexNet conv5 (build with_conv5)"
        );
        let c = &self.convs;
        let r1 = c[0].forward(x).relu();
        let r2 = c[1]
            .forward(&r1.max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], false))
            .relu();
        let r3 = c[2]
            .forward(&r2.max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], false))
            .relu();
        let r4 = c[3].forward(&r3).relu();
        let r5 = c[4].forward(&r4).relu();
        Ok(vec![r1, r2, r3, r4, r5])
    }

    /// Flattened ReLU(conv4) activations, [B, C·h·w] (256·6·6 = 9,216 at 112 px). The input must already be
    /// mapped to [−1, 1] as x/127.5 − 1 (method.md §6.2: no ImageNet mean/std, replicated on purpose).
    pub fn embedding(&self, x: &Tensor) -> Tensor {
        let c = &self.convs;
        let x = c[0].forward(x).relu().max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], false);
        let x = c[1]
            .forward(&x)
            .relu()
            .max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], false);
        let x = c[2].forward(&x).relu();
        let x = c[3].forward(&x).relu();
        x.flatten(1, -1)
    }
}
