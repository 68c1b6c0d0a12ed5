//! Decoder D (fMRI → image), [NI22] (method.md §3.1): FC V → (S/8)²×C, three [2× upsample → 5×5 conv, ReLU →
//! GroupNorm] blocks, 5×5 conv → 3, sigmoid. Regularised by the 1/SNR-weighted FC group lasso and conv L1.
//! `decoder.block = "ssr"` gives SelfSuperReconst's blocks instead: [2× upsample → reflection pad → 5×5 conv →
//! GroupNorm → Swish], and a reflection pad before the output conv; the parameters and their names are the same.
use super::encoder::check_image_size;
use super::regularizers::{fc_group_lasso, l1_sum};
use anyhow::{bail, Result};
use tch::nn::{self, Module};
use tch::Tensor;
use vox2pix_formats::config::{DecoderBlock, DecoderConfig, Upsample};

#[derive(Debug)]
struct UpBlock {
    conv: nn::Conv2D,
    norm: nn::GroupNorm,
}

/// The [NI22] decoder. Parameter names: `fc.{weight [C·s·s, V], bias}`, `up.{0,1,2}.{conv,norm}`, `out`.
/// FC output rows are ordered (channel, y, x), i.e. a plain reshape to [B, C, s, s].
#[derive(Debug)]
pub struct Decoder {
    cfg: DecoderConfig,
    fc: nn::Linear,
    blocks: Vec<UpBlock>,
    out: nn::Conv2D,
    grid: i64,
    n_voxels: i64,
}

/// Glorot-uniform (Keras default for Dense and Conv2D): U(±sqrt(6 / (fan_in + fan_out))).
fn glorot_uniform(fan_in: i64, fan_out: i64) -> nn::Init {
    let b = (6.0 / (fan_in + fan_out) as f64).sqrt();
    nn::Init::Uniform { lo: -b, up: b }
}

impl Decoder {
    /// A fresh D for `n_voxels` inputs and images of `image_size` (multiple of 16, ≥ 32), Glorot-uniform initialised.
    pub fn new(p: &nn::Path, cfg: &DecoderConfig, n_voxels: i64, image_size: i64) -> Result<Self> {
        cfg.validate()?;
        check_image_size(image_size)?;
        if n_voxels < 1 {
            bail!("decoder: voxel count {n_voxels} must be ≥ 1");
        }
        let (c, k) = (cfg.channels, cfg.kernel_size);
        let grid = image_size / 8;
        if cfg.block == DecoderBlock::Ssr && k / 2 >= image_size / 4 {
            bail!(
                "decoder.kernel_size = {k} with decoder.block = \"ssr\": the reflection pad ({}) must be smaller than \
                 the first block's {} px grid; use a smaller kernel",
                k / 2,
                image_size / 4
            );
        }
        let units = c * grid * grid;
        let fc = nn::linear(
            p / "fc",
            n_voxels,
            units,
            nn::LinearConfig {
                ws_init: glorot_uniform(n_voxels, units),
                bs_init: Some(nn::Init::Const(0.0)),
                bias: true,
            },
        );
        // Keras pads with zeros inside the convolution; SSR pads by reflection before it.
        let padding = match cfg.block {
            DecoderBlock::Keras => k / 2,
            DecoderBlock::Ssr => 0,
        };
        let conv_cfg = |cin: i64, cout: i64| nn::ConvConfig {
            padding,
            ws_init: glorot_uniform(cin * k * k, cout * k * k),
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        };
        let up = p / "up";
        let blocks = (0..3)
            .map(|i| UpBlock {
                conv: nn::conv2d(&up / i / "conv", c, c, k, conv_cfg(c, c)),
                norm: nn::group_norm(
                    &up / i / "norm",
                    cfg.groups,
                    c,
                    nn::GroupNormConfig {
                        eps: cfg.gn_eps,
                        ..Default::default()
                    },
                ),
            })
            .collect();
        let out = nn::conv2d(p / "out", c, 3, k, conv_cfg(c, 3));
        Ok(Decoder {
            cfg: cfg.clone(),
            fc,
            blocks,
            out,
            grid,
            n_voxels,
        })
    }

    /// Images [B, 3, S, S] in [0, 1] from fMRI [B, V].
    pub fn forward(&self, y: &Tensor) -> Tensor {
        let b = y.size()[0];
        let mut x = self.fc.forward(y).view([b, self.cfg.channels, self.grid, self.grid]);
        for blk in &self.blocks {
            let (h, w) = (x.size()[2] * 2, x.size()[3] * 2);
            x = match self.cfg.upsample {
                Upsample::Bilinear => x.upsample_bilinear2d([h, w], false, None, None),
                Upsample::Nearest => x.upsample_nearest2d([h, w], None, None),
                Upsample::Bicubic => x.upsample_bicubic2d([h, w], false, None, None),
            };
            x = match self.cfg.block {
                DecoderBlock::Keras => blk.norm.forward(&blk.conv.forward(&x).relu()),
                DecoderBlock::Ssr => blk.norm.forward(&blk.conv.forward(&self.reflect(&x))).silu(),
            };
        }
        match self.cfg.block {
            DecoderBlock::Keras => self.out.forward(&x),
            DecoderBlock::Ssr => self.out.forward(&self.reflect(&x)),
        }
        .sigmoid()
    }

    /// Reflection padding by half the kernel (`nn.ReflectionPad2d(k // 2)`).
    fn reflect(&self, x: &Tensor) -> Tensor {
        let p = self.cfg.kernel_size / 2;
        x.reflection_pad2d([p, p, p, p])
    }

    /// FC group lasso (voxel weight `snr_inv_n` [V], mean 1) + conv L1 on the three block convolutions.
    pub fn regularization(&self, snr_inv_n: &Tensor) -> Tensor {
        let c = &self.cfg;
        let w = self.fc.ws.view([c.channels, self.grid, self.grid, self.n_voxels]);
        let convs: Vec<&Tensor> = self.blocks.iter().map(|b| &b.conv.ws).collect();
        fc_group_lasso(&w, snr_inv_n, c.fc_l1, c.fc_group, c.fc_neighbour, c.fc_neighbours) + l1_sum(&convs, c.conv_l1)
    }

    /// Voxel count V D takes.
    pub fn n_voxels(&self) -> i64 {
        self.n_voxels
    }

    /// The config D was built from.
    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }
}
