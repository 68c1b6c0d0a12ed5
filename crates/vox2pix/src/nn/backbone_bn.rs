//! A batch-normalised twin of the narrow VGG16 used only to *train* the synthetic world's backbone: BN makes a
//! 13-layer plain network train in minutes instead of hours. After training every BN is folded into the
//! convolution before it (eval-mode statistics), which yields plain VGG16 weights in torchvision's key layout
//! that compute exactly what the BN network computes in eval mode.
use crate::nn::backbone::{normalize_input, scaled_channels, InputNorm, VGG16_BASE_CHANNELS, VGG16_BLOCKS};
use anyhow::{Context, Result};
use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

const BN_EPS: f64 = 1e-5;

/// The VGG16 trunk with BN after every convolution and a linear classifier head (global average pool → logits).
pub struct VggBn {
    layers: Vec<Vec<(usize, nn::Conv2D, nn::BatchNorm)>>,
    classifier: nn::Linear,
}

impl VggBn {
    /// Width `width` (as `Vgg`), `n_classes` logits; parameters `features.N`, `bn.N`, `classifier`, torchvision
    /// initialisation (Kaiming-normal fan-out convolutions, zero bias).
    pub fn new(p: &nn::Path, width: f64, n_classes: i64) -> Self {
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
        let mut cin = 3;
        let mut layers = vec![];
        for (b, idx) in VGG16_BLOCKS.iter().enumerate() {
            let mut block = vec![];
            for &i in idx.iter() {
                let conv = nn::conv2d(p / "features" / i, cin, channels[b], 3, cfg);
                let bn = nn::batch_norm2d(
                    p / "bn" / i,
                    channels[b],
                    nn::BatchNormConfig {
                        eps: BN_EPS,
                        ..Default::default()
                    },
                );
                block.push((i, conv, bn));
                cin = channels[b];
            }
            layers.push(block);
        }
        let lc = nn::LinearConfig {
            ws_init: nn::Init::Randn { mean: 0.0, stdev: 0.01 },
            bs_init: Some(nn::Init::Const(0.0)),
            bias: true,
        };
        let classifier = nn::linear(p / "classifier", cin, n_classes, lc);
        Self { layers, classifier }
    }

    /// Class logits for RGB input in [0, 1] (same normalisation and pooling as `nn::backbone::Vgg`).
    pub fn logits(&self, x01: &Tensor, train: bool) -> Tensor {
        let mut x = normalize_input(InputNorm::Torchvision, x01);
        for (b, block) in self.layers.iter().enumerate() {
            if b > 0 {
                x = x.max_pool2d_default(2);
            }
            for (_, conv, bn) in block {
                x = bn.forward_t(&conv.forward(&x), train).relu();
            }
        }
        let emb = x.mean_dim(&[2i64, 3][..], false, Kind::Float);
        self.classifier.forward(&emb)
    }

    /// Plain VGG16 weights (`features.N.weight/bias`, `classifier.weight/bias`) with every BN folded in.
    pub fn folded(&self) -> Result<Vec<(String, Tensor)>> {
        tch::no_grad(|| {
            let mut out = vec![];
            for block in &self.layers {
                for (i, conv, bn) in block {
                    let mean = bn.running_mean.shallow_clone();
                    let var = bn.running_var.shallow_clone();
                    let gamma = bn.ws.as_ref().context("bn weight")?;
                    let beta = bn.bs.as_ref().context("bn bias")?;
                    let scale = gamma / (var + BN_EPS).sqrt();
                    let w = &conv.ws * scale.view([-1, 1, 1, 1]);
                    let b = (conv.bs.as_ref().context("conv bias")? - mean) * &scale + beta;
                    out.push((format!("features.{i}.weight"), w.copy()));
                    out.push((format!("features.{i}.bias"), b.copy()));
                }
            }
            out.push(("classifier.weight".into(), self.classifier.ws.copy()));
            out.push((
                "classifier.bias".into(),
                self.classifier.bs.as_ref().context("classifier bias")?.copy(),
            ));
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::backbone::Vgg;
    use tch::Device;

    #[test]
    fn folded_plain_vgg_matches_bn_network_in_eval_mode() {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = VggBn::new(&vs.root(), 0.0625, 7);
        // A few training-mode passes give non-trivial running statistics.
        for _ in 0..3 {
            let _ = net.logits(&Tensor::rand([4, 3, 32, 32], (Kind::Float, Device::Cpu)), true);
        }
        let x = Tensor::rand([3, 3, 32, 32], (Kind::Float, Device::Cpu));
        let want = tch::no_grad(|| net.logits(&x, false));
        let mut plain_vs = nn::VarStore::new(Device::Cpu);
        let plain = Vgg::with_classifier(&plain_vs.root(), 0.0625, 7);
        let folded = net.folded().unwrap();
        let mut vars = plain_vs.variables();
        for (k, t) in &folded {
            tch::no_grad(|| vars.get_mut(k).unwrap_or_else(|| panic!("{k} not in Vgg")).copy_(t));
        }
        plain_vs.freeze();
        let got = tch::no_grad(|| plain.logits(&x).unwrap());
        let err = (&got - &want).abs().max().double_value(&[]);
        let scale = want.abs().max().double_value(&[]);
        assert!(
            err <= 1e-4 * scale.max(1e-3),
            "folding changed the output: max err {err} (scale {scale})"
        );
    }
}
