//! CLIP's image tower (OpenAI's `VisionTransformer`, as in `ViT-L-14.pt`), eval mode, up to the projected image
//! embedding (`encode_image`): the CLIP metric of the NSD suite (`eval::nsd8`). The size (width, patch, layers,
//! grid, embedding) is read from the weights, so ViT-B/32, B/16, L/14 and a small test ViT are the same code.
//! Parameter names as OpenAI's checkpoint: `visual.conv1`, `visual.class_embedding`, `visual.positional_embedding`,
//! `visual.ln_pre`, `visual.transformer.resblocks.{i}.{ln_1, attn.in_proj_weight, attn.in_proj_bias,
//! attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}`, `visual.ln_post`, `visual.proj`.
//!
//! OpenAI ships `ViT-L-14.pt` as a TorchScript archive whose graph has the device and dtype it was traced on
//! baked in (OpenAI's Python loader patches them); vox2pix therefore reads only its parameters, through
//! libtorch's own archive reader (`model::weights::read_clip_weights`), and runs this implementation on any device.
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// CLIP's image normalisation (OpenAI `clip` preprocessing).
pub const CLIP_MEAN: [f64; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// CLIP's image normalisation standard deviations.
pub const CLIP_STD: [f64; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// The sizes of a CLIP image tower, as its weights give them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClipVisionSize {
    /// Transformer width (1,024 for ViT-L/14).
    pub width: i64,
    /// Patch side (14).
    pub patch: i64,
    /// Residual blocks (24).
    pub layers: i64,
    /// Patches per side (16 at 224 px).
    pub grid: i64,
    /// Embedding size after `proj` (768).
    pub embed: i64,
}

impl ClipVisionSize {
    /// Reads the sizes from a `visual.*` weight map; heads are width / 64, as OpenAI's `build_model` sets them.
    pub fn of(w: &HashMap<String, Tensor>) -> Result<Self> {
        let get = |k: &str| {
            w.get(k)
                .with_context(|| format!("no `{k}`: not a CLIP image tower (OpenAI ViT layout)"))
        };
        let conv = get("visual.conv1.weight")?.size();
        let pos = get("visual.positional_embedding")?.size();
        let proj = get("visual.proj")?.size();
        let layers = (0..)
            .take_while(|i| w.contains_key(&format!("visual.transformer.resblocks.{i}.ln_1.weight")))
            .count() as i64;
        let grid = ((pos[0] - 1) as f64).sqrt().round() as i64;
        if conv.len() != 4 || grid * grid + 1 != pos[0] || layers == 0 || conv[0] % 64 != 0 {
            bail!("CLIP image tower weights of unexpected shapes (conv1 {conv:?}, positional_embedding {pos:?})");
        }
        Ok(Self {
            width: conv[0],
            patch: conv[3],
            layers,
            grid,
            embed: proj[1],
        })
    }

    /// Input side in pixels (grid · patch: 224 for ViT-L/14).
    pub fn input_size(&self) -> i64 {
        self.grid * self.patch
    }
}

struct Block {
    ln_1: nn::LayerNorm,
    in_proj_weight: Tensor,
    in_proj_bias: Tensor,
    out_proj: nn::Linear,
    ln_2: nn::LayerNorm,
    c_fc: nn::Linear,
    c_proj: nn::Linear,
    heads: i64,
}

fn layer_norm(p: nn::Path, w: i64) -> nn::LayerNorm {
    nn::layer_norm(p, vec![w], Default::default())
}

impl Block {
    fn new(p: &nn::Path, w: i64) -> Self {
        let a = p / "attn";
        Self {
            ln_1: layer_norm(p / "ln_1", w),
            in_proj_weight: a.var("in_proj_weight", &[3 * w, w], nn::Init::Const(0.0)),
            in_proj_bias: a.var("in_proj_bias", &[3 * w], nn::Init::Const(0.0)),
            out_proj: nn::linear(&a / "out_proj", w, w, Default::default()),
            ln_2: layer_norm(p / "ln_2", w),
            c_fc: nn::linear(p / "mlp" / "c_fc", w, 4 * w, Default::default()),
            c_proj: nn::linear(p / "mlp" / "c_proj", 4 * w, w, Default::default()),
            heads: w / 64,
        }
    }

    /// x: [B, L, W].
    fn forward(&self, x: &Tensor) -> Tensor {
        let (b, l, w) = x.size3().expect("[B, L, W]");
        let d = w / self.heads;
        let h = self.ln_1.forward(x);
        let qkv = h.matmul(&self.in_proj_weight.tr()) + &self.in_proj_bias;
        let split = |i: i64| qkv.narrow(2, i * w, w).view([b, l, self.heads, d]).transpose(1, 2);
        let (q, k, v) = (split(0), split(1), split(2));
        let att = (q.matmul(&k.transpose(-2, -1)) / (d as f64).sqrt()).softmax(-1, Kind::Float);
        let o = att.matmul(&v).transpose(1, 2).contiguous().view([b, l, w]);
        let x = x + self.out_proj.forward(&o);
        let m = self.c_fc.forward(&self.ln_2.forward(&x));
        let m = &m * (&m * 1.702).sigmoid(); // QuickGELU
        &x + self.c_proj.forward(&m)
    }
}

/// CLIP's image tower.
pub struct ClipVision {
    size: ClipVisionSize,
    conv1: nn::Conv2D,
    class_embedding: Tensor,
    positional_embedding: Tensor,
    ln_pre: nn::LayerNorm,
    blocks: Vec<Block>,
    ln_post: nn::LayerNorm,
    proj: Tensor,
}

impl ClipVision {
    /// The tower of `size` under `p` (which should be the root: names start with `visual.`).
    pub fn new(p: &nn::Path, size: ClipVisionSize) -> Self {
        let v = p / "visual";
        let w = size.width;
        let conv_cfg = nn::ConvConfig {
            stride: size.patch,
            bias: false,
            ..Default::default()
        };
        Self {
            size,
            conv1: nn::conv2d(&v / "conv1", 3, w, size.patch, conv_cfg),
            class_embedding: v.var("class_embedding", &[w], nn::Init::Const(0.0)),
            positional_embedding: v.var(
                "positional_embedding",
                &[size.grid * size.grid + 1, w],
                nn::Init::Const(0.0),
            ),
            ln_pre: layer_norm(&v / "ln_pre", w),
            blocks: (0..size.layers)
                .map(|i| Block::new(&(&v / "transformer" / "resblocks" / i), w))
                .collect(),
            ln_post: layer_norm(&v / "ln_post", w),
            proj: v.var("proj", &[w, size.embed], nn::Init::Const(0.0)),
        }
    }

    /// The sizes.
    pub fn size(&self) -> ClipVisionSize {
        self.size
    }

    /// `encode_image`: embeddings [B, embed] of CLIP-normalised images [B, 3, S, S] (S = `input_size`).
    pub fn encode_image(&self, x: &Tensor) -> Tensor {
        let b = x.size()[0];
        let w = self.size.width;
        let x = self.conv1.forward(x).view([b, w, -1]).transpose(1, 2);
        let cls = self.class_embedding.view([1, 1, w]).expand([b, 1, w], false);
        let x = Tensor::cat(&[cls, x], 1) + &self.positional_embedding;
        let x = self
            .blocks
            .iter()
            .fold(self.ln_pre.forward(&x), |y, blk| blk.forward(&y));
        self.ln_post.forward(&x.select(1, 0)).matmul(&self.proj)
    }
}
