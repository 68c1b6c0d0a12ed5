#!/usr/bin/env python3
"""Writes tests/fixtures/nsd8/: the NSD 8-metric suite computed independently with PyTorch, torchvision,
scikit-image and SciPy as MindEye2's final_evaluations does it, on networks of the real architectures with
known weights, for `crates/vox2pix/tests/it/nsd8.rs` to match.

Weights. Pretrained files cannot be downloaded here, and full-size random networks are too large to commit, so
the torchvision networks (AlexNet, Inception v3, EfficientNet-B1, ResNet-50) get weights from a formula both
sides compute bit for bit (`fill`): per tensor, key = FNV-1a-64(name); element k (C order) draws
u = splitmix64(key + (k + 1) * 0x9E3779B97F4A7C15) >> 11, s = 2 u 2^-53 - 1 (exact in f64); then
  >= 2-D tensors   s * sqrt(6 / fan_in)      (fan_in = numel / shape[0])
  1-D ".weight"    1 + 0.1 s                 (BatchNorm / LayerNorm scale)
  "running_var"    1 + 0.1 |s|
  anything else    0.01 s                    (biases, running means; small, so that the features depend on the
                                              image rather than on the offsets)
and is rounded once to float32. CLIP's tower is a small ViT in OpenAI's layout (width 64, patch 14, 2 blocks,
224 px), random-initialised, scripted with torch.jit and saved as tiny_clip.pt: the TorchScript path vox2pix
reads OpenAI's ViT-L-14.pt through.

Protocol (MindEye2 final_evaluations; torchvision < 0.17 tensor Resize = bilinear, no antialias): every image to
256 px first; PixCorr and SSIM at 425 px (SSIM: skimage rgb2gray, gaussian_weights, sigma 1.5,
use_sample_covariance False, data_range 1); AlexNet features.4 / features.11 at 256 px, Inception v3 avgpool at
342 px (transform_input=True), CLIP encode_image at 224 px (CLIP mean/std), all 2-way identification
(np.corrcoef(reals, preds)[:n, n:] < diagonal, summed over reals, / (n - 1)); EfficientNet-B1 avgpool at 255 px
and ResNet-50 avgpool at 224 px as scipy correlation distance per image.

Files: inputs.npz (recon, gt: float32 [4, 3, 48, 48] in [0, 1]), tiny_clip.pt, expected.json (per metric the
mean and per-image values; plus each network's features of gt image 0 for a direct check).

Run: python3 tools/make_nsd8_fixtures.py   (needs torch 2.11, torchvision 0.26, scikit-image, scipy, numpy)
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from scipy.spatial.distance import correlation
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity
from torchvision.models.feature_extraction import create_feature_extractor

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "nsd8")
MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
CLIP = ([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711])


def fnv1a(name):
    h = 0xCBF29CE484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def splitmix(z):
    z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9))
    z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB))
    return z ^ (z >> np.uint64(31))


def fill_values(name, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    with np.errstate(over="ignore"):
        k = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(fnv1a(name)) + k * np.uint64(GAMMA)
        u = (splitmix(z) >> np.uint64(11)).astype(np.float64)
    s = 2.0 * (u * 2.0 ** -53) - 1.0
    if len(shape) >= 2:
        v = s * np.sqrt(6.0 / (n // shape[0]))
    elif name.endswith(".weight"):
        v = 1.0 + 0.1 * s
    elif name.endswith("running_var"):
        v = 1.0 + 0.1 * np.abs(s)
    else:
        v = 0.01 * s
    return v.astype(np.float32).reshape(shape)


def fill(model):
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            t.copy_(torch.from_numpy(fill_values(name, tuple(t.shape))))
    return model.eval()


def resize(x, s):
    return x if x.shape[-1] == s else F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=False)


def norm(x, ms):
    m, s = (torch.tensor(v).view(1, 3, 1, 1) for v in ms)
    return (x - m) / s


def two_way(reals, preds):
    n = len(reals)
    r = np.corrcoef(reals.reshape(n, -1), preds.reshape(n, -1))[:n, n:]
    success = r < np.diag(r)
    return (success.sum(0) / (n - 1)).tolist()


class Block(nn.Module):
    """OpenAI CLIP's ResidualAttentionBlock (nn.MultiheadAttention, QuickGELU MLP)."""

    def __init__(self, w, heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(w, heads)
        self.ln_1 = nn.LayerNorm(w)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(w, 4 * w))
        self.mlp.add_module("c_proj", nn.Linear(4 * w, w))
        self.ln_2 = nn.LayerNorm(w)

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        m = self.mlp.c_fc(self.ln_2(x))
        return x + self.mlp.c_proj(m * torch.sigmoid(1.702 * m))


class Transformer(nn.Module):
    def __init__(self, w, layers, heads):
        super().__init__()
        self.resblocks = nn.Sequential(*[Block(w, heads) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    """OpenAI CLIP's VisionTransformer (model.py), same parameter names."""

    def __init__(self, res, patch, w, layers, heads, out):
        super().__init__()
        scale = w ** -0.5
        self.conv1 = nn.Conv2d(3, w, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(w))
        self.positional_embedding = nn.Parameter(scale * torch.randn((res // patch) ** 2 + 1, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = Transformer(w, layers, heads)
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(scale * torch.randn(w, out))

    def forward(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class TinyClip(nn.Module):
    def __init__(self):
        super().__init__()
        self.visual = VisionTransformer(224, 14, 64, 2, 1, 32)

    @torch.jit.export
    def encode_image(self, image):
        return self.visual(image)

    def forward(self, image):
        return self.encode_image(image)


def smooth_images(rng, n, s):
    yy, xx = np.mgrid[0:s, 0:s] / s
    out = np.empty((n, 3, s, s), dtype=np.float32)
    for i in range(n):
        for c in range(3):
            a, fx, fy, ph = rng.uniform(0.3, 0.7), rng.uniform(0.5, 3), rng.uniform(0.5, 3), rng.uniform(0, 6.3)
            out[i, c] = np.clip(a + 0.25 * np.cos(2 * np.pi * (fx * xx + fy * yy) + ph) + 0.05 * rng.normal(size=(s, s)), 0, 1)
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    rng = np.random.default_rng(20261204)
    gt = smooth_images(rng, 4, 48)
    recon = np.clip(gt + 0.15 * rng.normal(size=gt.shape), 0, 1).astype(np.float32)
    recon[3] = recon[2]  # a tie between two predictions, as identical reconstructions give
    np.savez(os.path.join(OUT, "inputs.npz"), recon=recon, gt=gt)
    r256, g256 = resize(torch.from_numpy(recon), 256), resize(torch.from_numpy(gt), 256)
    exp = {}

    r425, g425 = resize(r256, 425).numpy(), resize(g256, 425).numpy()
    exp["pixcorr"] = [float(np.corrcoef(a.reshape(-1), b.reshape(-1))[0, 1]) for a, b in zip(r425, g425)]
    gray = lambda x: rgb2gray(x.transpose(1, 2, 0))
    exp["ssim"] = [float(structural_similarity(gray(a), gray(b), gaussian_weights=True, sigma=1.5,
                                               use_sample_covariance=False, data_range=1.0)) for a, b in zip(r425, g425)]

    feats = {}
    with torch.no_grad():
        alex = fill(torchvision.models.alexnet())
        ext = create_feature_extractor(alex, return_nodes=["features.4", "features.11"])
        fr, fg = ext(norm(r256, IMAGENET)), ext(norm(g256, IMAGENET))
        exp["alexnet2"] = two_way(fg["features.4"].flatten(1).numpy(), fr["features.4"].flatten(1).numpy())
        exp["alexnet5"] = two_way(fg["features.11"].flatten(1).numpy(), fr["features.11"].flatten(1).numpy())
        feats["alexnet5"] = fg["features.11"][0].flatten()[:64].tolist()

        inc = fill(torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, transform_input=True))
        ext = create_feature_extractor(inc, return_nodes=["avgpool"])
        fr, fg = (ext(norm(resize(x, 342), IMAGENET))["avgpool"].flatten(1).numpy() for x in (r256, g256))
        exp["inception"] = two_way(fg, fr)
        feats["inception"] = fg[0][:64].tolist()

        clip = TinyClip().eval()
        scripted = torch.jit.script(clip)
        scripted.save(os.path.join(OUT, "tiny_clip.pt"))
        fr, fg = (scripted.encode_image(norm(resize(x, 224), CLIP)).numpy() for x in (r256, g256))
        exp["clip"] = two_way(fg, fr)
        feats["clip"] = fg[0].tolist()

        eff = fill(torchvision.models.efficientnet_b1())
        ext = create_feature_extractor(eff, return_nodes=["avgpool"])
        fr, fg = (ext(norm(resize(x, 255), IMAGENET))["avgpool"].flatten(1).numpy() for x in (r256, g256))
        exp["effnet"] = [float(correlation(g.astype(np.float64), r.astype(np.float64))) for g, r in zip(fg, fr)]
        feats["effnet"] = fg[0][:64].tolist()

        res = fill(torchvision.models.resnet50())
        ext = create_feature_extractor(res, return_nodes=["avgpool"])
        fr, fg = (ext(norm(resize(x, 224), IMAGENET))["avgpool"].flatten(1).numpy() for x in (r256, g256))
        exp["swav"] = [float(correlation(g.astype(np.float64), r.astype(np.float64))) for g, r in zip(fg, fr)]
        feats["swav"] = fg[0][:64].tolist()

    out = {k: {"per_image": v, "mean": float(np.mean(v))} for k, v in exp.items()}
    out["features_gt0"] = feats
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(out, f, indent=1)
    for k, v in exp.items():
        print(f"{k:10s} {np.mean(v):.6f}  {np.round(v, 4).tolist()}")


if __name__ == "__main__":
    main()
