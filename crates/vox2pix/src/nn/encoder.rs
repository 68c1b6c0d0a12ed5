//! Encoder E (image → fMRI): the [NI22] multi-layer space × feature separable readout on four frozen VGG16 taps
//! (method.md §2.1). Spatial sizes derive from the image size S: heads end at S/4 (branches 1–3) and S/8
//! (branch 4; branch 3 too with the SSR stride-2 variant), patches shrink each side by `patch_size − 1`.
use super::backbone::VggTaps;
use super::readout::{branch_readout, feature_readout, space_readout, unfold_patches};
use super::regularizers::{l1_sum, space_map_group_lasso, space_map_mom2};
use anyhow::{bail, Result};
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;
use vox2pix_formats::config::EncoderConfig;

/// Checks an image size against what the VGG taps and heads need.
pub fn check_image_size(image_size: i64) -> Result<()> {
    if image_size < 32 || image_size % 16 != 0 {
        bail!("image size {image_size}: must be a multiple of 16 and ≥ 32 (paper: 112)");
    }
    Ok(())
}

/// One branch head: BN on the tap → [max-pool 2×2] → conv, ReLU → BN.
#[derive(Debug)]
struct Head {
    bn_in: nn::BatchNorm,
    pool: bool,
    conv: nn::Conv2D,
    bn_out: nn::BatchNorm,
}

impl Head {
    fn forward_t(&self, tap: &Tensor, train: bool) -> Tensor {
        let mut x = self.bn_in.forward_t(tap, train);
        if self.pool {
            x = x.max_pool2d_default(2);
        }
        self.bn_out.forward_t(&self.conv.forward(&x).relu(), train)
    }
}

/// The [NI22] separable encoder. Parameter names (for checkpoints): `heads.{i}.{bn_in,conv,bn_out}`,
/// `space_maps.{j}` [H', W', V], `feature_mix.{i}.{weight [V, F], bias [V]}`, `branch_mix` [V, 4].
#[derive(Debug)]
pub struct SeparableEncoder {
    cfg: EncoderConfig,
    heads: Vec<Head>,
    /// Which space map each branch reads through.
    map_of_branch: Vec<usize>,
    space_maps: Vec<Tensor>,
    feature_w: Vec<Tensor>,
    feature_b: Vec<Tensor>,
    branch_mix: Tensor,
    n_voxels: i64,
}

/// Glorot-normal initialisation (Keras `glorot_normal`, untruncated): std = sqrt(2 / (fan_in + fan_out)).
pub(crate) fn glorot_normal(fan_in: i64, fan_out: i64) -> nn::Init {
    nn::Init::Randn {
        mean: 0.0,
        stdev: (2.0 / (fan_in + fan_out) as f64).sqrt(),
    }
}

impl SeparableEncoder {
    /// `backbone_channels`: channels of relu1_2, relu2_2, relu3_3, relu4_3 (`Vgg::channels()[..4]`).
    pub fn new(
        p: &nn::Path,
        cfg: &EncoderConfig,
        backbone_channels: [i64; 4],
        image_size: i64,
        n_voxels: i64,
    ) -> Result<Self> {
        cfg.validate()?;
        check_image_size(image_size)?;
        if n_voxels < 1 {
            bail!("encoder: voxel count {n_voxels} must be ≥ 1");
        }
        let c = cfg.head_channels;
        let k = cfg.patch_size;
        let bn = nn::BatchNormConfig {
            eps: cfg.bn_eps,
            momentum: cfg.bn_momentum,
            ws_init: nn::Init::Const(1.0),
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        };
        // (pool, kernel, stride, padding) per branch; head output sides: S/4, S/4, S/4 or S/8, S/8.
        let specs = [
            (true, 3, 2, 1),
            (false, 3, 2, 1),
            (false, 3, cfg.branch3_stride, 1),
            (false, 1, 1, 0),
        ];
        let tap_sides = [image_size, image_size / 2, image_size / 4, image_size / 8];
        let hp = p / "heads";
        let mut heads = Vec::new();
        let mut sides = Vec::new();
        for (i, &(pool, ks, stride, pad)) in specs.iter().enumerate() {
            let hi = &hp / i;
            let cin = backbone_channels[i];
            let conv_cfg = nn::ConvConfig {
                stride,
                padding: pad,
                ws_init: glorot_normal(cin * ks * ks, c * ks * ks),
                bs_init: nn::Init::Const(0.0),
                ..Default::default()
            };
            heads.push(Head {
                bn_in: nn::batch_norm2d(&hi / "bn_in", cin, bn),
                pool,
                conv: nn::conv2d(&hi / "conv", cin, c, ks, conv_cfg),
                bn_out: nn::batch_norm2d(&hi / "bn_out", c, bn),
            });
            let mut side = tap_sides[i];
            if pool {
                side /= 2;
            }
            side = (side + 2 * pad - ks) / stride + 1;
            if side < k {
                bail!("encoder: branch {} head output is {side}×{side}, smaller than patch_size {k}; use a larger image size", i + 1);
            }
            sides.push(side - k + 1);
        }
        // Space maps: one per distinct patch-grid side (shared, paper) or one per branch.
        let mp = p / "space_maps";
        let mut map_sides: Vec<i64> = Vec::new();
        let mut map_of_branch = Vec::new();
        for &s in &sides {
            let j = match map_sides.iter().position(|&m| m == s && cfg.share_space_maps) {
                Some(j) => j,
                None => {
                    map_sides.push(s);
                    map_sides.len() - 1
                }
            };
            map_of_branch.push(j);
        }
        let space_maps = map_sides
            .iter()
            .enumerate()
            .map(|(j, &s)| {
                let init = 2.0 / ((s * s + n_voxels) as f64);
                mp.var(&j.to_string(), &[s, s, n_voxels], nn::Init::Const(init))
            })
            .collect();
        let f = c * k * k;
        let fp = p / "feature_mix";
        let (mut feature_w, mut feature_b) = (Vec::new(), Vec::new());
        for i in 0..4 {
            let fi = &fp / i;
            feature_w.push(fi.var("weight", &[n_voxels, f], glorot_normal(n_voxels, f)));
            feature_b.push(fi.var("bias", &[n_voxels], nn::Init::Const(0.0)));
        }
        let branch_mix = p.var("branch_mix", &[n_voxels, 4], nn::Init::Const(1.0));
        Ok(SeparableEncoder {
            cfg: cfg.clone(),
            heads,
            map_of_branch,
            space_maps,
            feature_w,
            feature_b,
            branch_mix,
            n_voxels,
        })
    }

    /// Predicted fMRI [B, V] from the first four VGG taps. `train` switches dropout and BN batch statistics.
    pub fn forward_t(&self, taps: &VggTaps, train: bool) -> Tensor {
        let t = taps.as_array();
        self.forward_taps_t(&[t[0], t[1], t[2], t[3]], train)
    }

    /// As [`SeparableEncoder::forward_t`] from the first four taps only (e.g. `Vgg::taps_upto(x, 4)`, which skips
    /// VGG block 5).
    pub fn forward_taps_t(&self, taps: &[&Tensor; 4], train: bool) -> Tensor {
        self.forward_branches_t(taps, train).0
    }

    /// The mixed prediction [B, V] and the four branch predictions before the mix, stacked [B, V, 4] (what the
    /// per-branch `branch_solo` loss and the layer-preference measures read).
    pub fn forward_branches_t(&self, taps: &[&Tensor; 4], train: bool) -> (Tensor, Tensor) {
        let outs: Vec<Tensor> = (0..4).map(|i| self.branch_t(i, taps[i], train)).collect();
        let stacked = Tensor::stack(&outs, 2);
        (branch_readout(&stacked, &self.branch_mix), stacked)
    }

    /// One branch's per-voxel prediction [B, V] (before the branch mix).
    pub fn branch_t(&self, i: usize, tap: &Tensor, train: bool) -> Tensor {
        let h = self.heads[i].forward_t(tap, train);
        let patches = unfold_patches(&h, self.cfg.patch_size);
        let x = space_readout(&patches, &self.space_maps[self.map_of_branch[i]]);
        let x = x.dropout(self.cfg.dropout, train);
        feature_readout(&x, &self.feature_w[i], &self.feature_b[i])
    }

    /// All E penalties, weighted per config (each shared space map counted once, as a shared Keras layer is).
    pub fn regularization(&self) -> Tensor {
        let c = &self.cfg;
        let convs: Vec<&Tensor> = self.heads.iter().map(|h| &h.conv.ws).collect();
        let r = self.space_maps.iter().fold(l1_sum(&convs, c.conv_l1), |r, m| {
            r + space_map_group_lasso(m, c.space_l1, c.space_group)
        });
        let fw: Vec<&Tensor> = self.feature_w.iter().collect();
        let r = r + l1_sum(&fw, c.feature_l1) + l1_sum(&[&self.branch_mix], c.branch_l1);
        if c.space_mom2 > 0.0 {
            // Per branch, as SelfSuperReconst loops over its branches: a shared map counts once per reader.
            self.map_of_branch
                .iter()
                .fold(r, |r, &j| r + space_map_mom2(&self.space_maps[j]) * c.space_mom2)
        } else {
            r
        }
    }

    /// Per-voxel branch-mix weights [V, 4], non-negative (drives the layer-to-ROI analysis, method.md §6.5).
    pub fn branch_weights(&self) -> Tensor {
        self.branch_mix.clamp_min(0.0)
    }

    /// Projects the branch mix onto w ≥ 0 in place (Keras `NonNeg` constraint); call after every optimiser step.
    pub fn apply_constraints(&self) {
        tch::no_grad(|| {
            let mut w = self.branch_mix.shallow_clone();
            let _ = w.clamp_min_(0.0);
        });
    }

    /// Voxel count V E predicts.
    pub fn n_voxels(&self) -> i64 {
        self.n_voxels
    }

    /// The config E was built from.
    pub fn config(&self) -> &EncoderConfig {
        &self.cfg
    }

    /// Patch-grid side of each space map (e.g. [26, 12] at 112 px).
    pub fn space_map_sides(&self) -> Vec<i64> {
        self.space_maps.iter().map(|m| m.size()[0]).collect()
    }
}
