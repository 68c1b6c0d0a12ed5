#!/usr/bin/env python3
"""PyTorch twin of vox2pix's neural core (crates/vox2pix/src/nn/) and of `vox2pix bench step`.

The module part (VGG16 taps, separable encoder, decoder, losses) is written independently of the Rust code from
method.md §2-§4 and is used by tools/make_torch_fixtures.py to produce the equivalence fixtures. Parameter names
match the Rust VarStore names so the same state dict loads on both sides.

As a script it is the twin of `vox2pix bench` (same subcommands, flags and RESULT line):
- step: the decoder training step of a method (--config paper, the default, or ssr; see METHODS); under paper: 16 paired rows (y -> D -> x_hat) + 16 unpaired rows (x_ext shifted ->
  frozen E (eval) -> D -> x_hat), full image loss with a frozen VGG16 perceptual loss, decoder regularisers, AMSGrad;
- encoder-step: batch 64, +-5 px shifts, VGG16 taps 1-4, E in train mode, MSE - 0.1 cos + regularisers, AMSGrad
  (ssr: VGG19 taps, SSR's E and loss, plain Adam);
- decoder-epoch: the decoder trainer's epoch fed from `vox2pix bench decoder-epoch --dump FILE` (optionally
  torch.compile'd).

Run: PYTHONPATH=$VOX2PIX_TORCH_DIR python3 tools/bench_torch.py step --device cpu [--cache-target-taps]
"""
import argparse
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORM_EPS = 1e-12
SQRT_EPS = 1e-12
VGG_BLOCKS = [[0, 2], [5, 7], [10, 12, 14], [17, 19, 21], [24, 26, 28]]
VGG19_BLOCKS = [[0, 2], [5, 7], [10, 12, 14, 16], [19, 21, 23, 25], [28, 30, 32, 34]]
VGG_BASE = [64, 128, 256, 512, 512]


def scaled(c, width):
    return max(1, int(round(c * width)))


def vgg16_features(width, blocks=VGG_BLOCKS):
    """torchvision's VGG16 (or, with blocks=VGG19_BLOCKS, VGG19) `features` Sequential (same module indices and
    names) at a channel width multiplier. Built here rather than with torchvision's make_layers so that a bare
    torch install (a GPU machine) suffices."""
    layers, cin = [], 3
    for b, idx in enumerate(blocks):
        c = scaled(VGG_BASE[b], width)
        for _ in idx:
            layers += [nn.Conv2d(cin, c, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            cin = c
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class VggTaps(nn.Module):
    """relu1_2 ... relu5_3 of a VGG16 `features` stack (the last ReLU of each block of a VGG19 one with
    blocks=VGG19_BLOCKS); ImageNet normalisation applied once, inside."""

    def __init__(self, features, blocks=VGG_BLOCKS):
        super().__init__()
        self.features = features
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        last_relu = [idx[-1] + 1 for idx in blocks]  # ReLU after each block's last conv
        self.ends = last_relu

    def forward(self, x01, n=5):
        x = (x01 - self.mean.to(x01.dtype)) / self.std.to(x01.dtype)
        taps, start = [], 0
        for end in self.ends[:n]:
            for i in range(start, end + 1):
                x = self.features[i](x)
            taps.append(x)
            start = end + 1
        return taps


def alexnet_features(width):
    """torchvision's AlexNet `features` (all 13 modules, same indices) at a channel width multiplier."""
    c = [scaled(v, width) for v in (64, 192, 384, 256, 256)]
    return nn.Sequential(
        nn.Conv2d(3, c[0], 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(c[0], c[1], 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(c[1], c[2], 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(c[2], c[3], 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(c[3], c[4], 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
    )


def alexnet_embedding(features, x):
    return torch.flatten(features[:10](x), 1)


# ---------------------------------------------------------------- encoder E (method.md §2.1)
class Head(nn.Module):
    def __init__(self, cin, c, k, stride, pad, pool, eps, momentum):
        super().__init__()
        self.bn_in = nn.BatchNorm2d(cin, eps=eps, momentum=momentum)
        self.pool = pool
        self.conv = nn.Conv2d(cin, c, k, stride=stride, padding=pad)
        self.bn_out = nn.BatchNorm2d(c, eps=eps, momentum=momentum)
        std = math.sqrt(2.0 / (cin * k * k + c * k * k))
        nn.init.normal_(self.conv.weight, 0.0, std)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x):
        x = self.bn_in(x)
        if self.pool:
            x = F.max_pool2d(x, 2)
        return self.bn_out(F.relu(self.conv(x)))


class Encoder(nn.Module):
    def __init__(self, tap_channels, image_size, n_voxels, head_channels=32, patch=3, dropout=0.5, bn_eps=1e-3,
                 bn_momentum=0.01, conv_l1=1e-5, space_l1=5e-6, space_group=1e-5, feature_l1=5e-6, branch_l1=5e-2,
                 branch3_stride=1, space_mom2=0.0):
        super().__init__()
        # branch3_stride 2 (SelfSuperReconst): branch 3 reads the S/8 map of branch 4; space_mom2: SSR's
        # spatial-compactness term, once per branch that reads a map.
        self.patch, self.dropout = patch, dropout
        self.w = dict(conv_l1=conv_l1, space_l1=space_l1, space_group=space_group, feature_l1=feature_l1,
                      branch_l1=branch_l1, space_mom2=space_mom2)
        specs = [(True, 3, 2, 1), (False, 3, 2, 1), (False, 3, branch3_stride, 1), (False, 1, 1, 0)]
        self.heads = nn.ModuleList(
            [Head(tap_channels[i], head_channels, k, s, p, pool, bn_eps, bn_momentum)
             for i, (pool, k, s, p) in enumerate(specs)])
        sides = [image_size // 4 - patch + 1] * 3 + [image_size // 8 - patch + 1]
        self.map_of_branch = [0, 0, 0, 1] if branch3_stride == 1 else [0, 0, 1, 1]
        self.space_maps = nn.ParameterList(
            [nn.Parameter(torch.full((s, s, n_voxels), 2.0 / (s * s + n_voxels))) for s in (sides[0], sides[3])])
        f = head_channels * patch * patch
        self.feature_mix = nn.ModuleList()
        for _ in range(4):
            m = nn.Module()
            m.weight = nn.Parameter(torch.randn(n_voxels, f) * math.sqrt(2.0 / (n_voxels + f)))
            m.bias = nn.Parameter(torch.zeros(n_voxels))
            self.feature_mix.append(m)
        self.branch_mix = nn.Parameter(torch.ones(n_voxels, 4))

    def forward(self, taps):
        outs = []
        for i in range(4):
            h = self.heads[i](taps[i])
            patches = F.unfold(h, self.patch)  # [B, C*k*k, P], same order as im2col
            m = self.space_maps[self.map_of_branch[i]]
            x = torch.einsum("bfp,pv->bvf", patches, m.reshape(-1, m.shape[-1]))
            x = F.dropout(x, self.dropout, self.training)
            fm = self.feature_mix[i]
            outs.append((x * fm.weight).sum(-1) + fm.bias)
        return (torch.stack(outs, -1) * self.branch_mix.clamp(min=0)).sum(-1)

    def regularization(self):
        w = self.w
        r = w["conv_l1"] * sum(h.conv.weight.abs().sum() for h in self.heads)
        for m in self.space_maps:
            r = r + w["space_l1"] * m.abs().sum() + w["space_group"] * torch.sqrt(avg4(m.square(), 0, 1) + SQRT_EPS).sum()
        r = r + w["feature_l1"] * sum(fm.weight.abs().sum() for fm in self.feature_mix)
        if w["space_mom2"] > 0:
            r = r + w["space_mom2"] * sum(mom2(self.space_maps[j]) for j in self.map_of_branch)
        return r + w["branch_l1"] * self.branch_mix.abs().sum()


def mom2(m):
    """SelfSuperReconst's calc_mom2 on the squared map m [H, W, V], written from its formula."""
    p = m.square()
    h, w, v = p.shape
    ys = torch.arange(h, dtype=p.dtype, device=p.device).view(h, 1, 1)
    xs = torch.arange(w, dtype=p.dtype, device=p.device).view(1, w, 1)
    m00 = p.sum((0, 1), keepdim=True).clamp(min=1e-12)
    cy, cx = (p * ys).sum((0, 1), keepdim=True) / m00, (p * xs).sum((0, 1), keepdim=True) / m00
    return (((ys - cy) ** 2 + (xs - cx) ** 2) * p).sum() / (2 * w * v)


def avg4(x, dy, dx):
    """Mean of the 4 edge neighbours over dims (dy, dx) with symmetric padding, written with F.pad(replicate)."""
    perm = [d for d in range(x.dim()) if d not in (dy, dx)] + [dy, dx]
    xp = x.permute(*perm)
    shp = xp.shape
    xp = xp.reshape(-1, 1, shp[-2], shp[-1])
    p = F.pad(xp, (1, 1, 1, 1), mode="replicate")
    a = (p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]) / 4
    a = a.reshape(shp)
    inv = [0] * len(perm)
    for i, d in enumerate(perm):
        inv[d] = i
    return a.permute(*inv)


def avg8_reflect(x, dy, dx):
    """Mean of the 8 surrounding cells over dims (dy, dx), reflect padding (SelfSuperReconst's decoder group term)."""
    perm = [d for d in range(x.dim()) if d not in (dy, dx)] + [dy, dx]
    xp = x.permute(*perm)
    shp = xp.shape
    p = F.pad(xp.reshape(-1, 1, shp[-2], shp[-1]), (1, 1, 1, 1), mode="reflect")
    h, w = shp[-2], shp[-1]
    a = sum(p[..., oy:oy + h, ox:ox + w] for oy in range(3) for ox in range(3) if (oy, ox) != (1, 1)) / 8
    inv = [0] * len(perm)
    for i, d in enumerate(perm):
        inv[d] = i
    return a.reshape(shp).permute(*inv)


# ---------------------------------------------------------------- decoder D (method.md §3.1)
class Decoder(nn.Module):
    def __init__(self, n_voxels, image_size, channels=64, kernel=5, groups=32, gn_eps=1e-5, fc_l1=20.0,
                 fc_group=400.0, fc_neighbour=0.5, conv_l1=1e-5, block="keras", upsample="bilinear", fc_neighbours=4):
        super().__init__()
        self.upsample, self.fc_neighbours = upsample, fc_neighbours
        # block: "keras" (conv with zero padding → ReLU → GroupNorm) or "ssr" (SelfSuperReconst's BaseDecoder:
        # ReflectionPad2d → conv → GroupNorm → Swish, and a reflection pad before the output conv).
        assert block in ("keras", "ssr"), block
        self.block, self.pad = block, kernel // 2
        self.c, self.g = channels, image_size // 8
        self.w = dict(fc_l1=fc_l1, fc_group=fc_group, fc_neighbour=fc_neighbour, conv_l1=conv_l1)
        units = channels * self.g * self.g
        self.fc = nn.Linear(n_voxels, units)
        b = math.sqrt(6.0 / (n_voxels + units))
        nn.init.uniform_(self.fc.weight, -b, b)
        nn.init.zeros_(self.fc.bias)
        self.up = nn.ModuleList()
        for _ in range(3):
            m = nn.Module()
            m.conv = nn.Conv2d(channels, channels, kernel, padding=kernel // 2 if block == "keras" else 0)
            m.norm = nn.GroupNorm(groups, channels, eps=gn_eps)
            self.up.append(m)
        self.out = nn.Conv2d(channels, 3, kernel, padding=kernel // 2 if block == "keras" else 0)
        for conv, cout in [(m.conv, channels) for m in self.up] + [(self.out, 3)]:
            b = math.sqrt(6.0 / ((channels + cout) * kernel * kernel))
            nn.init.uniform_(conv.weight, -b, b)
            nn.init.zeros_(conv.bias)

    def forward(self, y):
        x = self.fc(y).view(y.shape[0], self.c, self.g, self.g)
        for m in self.up:
            x = F.interpolate(x, scale_factor=2, mode=self.upsample, align_corners=False)
            if self.block == "keras":
                x = m.norm(F.relu(m.conv(x)))
            else:
                x = m.norm(m.conv(nn.functional.pad(x, [self.pad] * 4, mode="reflect")))
                x = x * torch.sigmoid(x)
        if self.block == "ssr":
            x = nn.functional.pad(x, [self.pad] * 4, mode="reflect")
        return torch.sigmoid(self.out(x))

    def regularization(self, snr_inv_n):
        w = self.w
        W = self.fc.weight.view(self.c, self.g, self.g, -1)  # [C, y, x, V]
        sq = W.square()
        n = w["fc_neighbour"]
        sm = (sq + n * (avg8_reflect(sq, 1, 2) if self.fc_neighbours == 8 else avg4(sq, 1, 2))) / (1 + n)
        r = w["fc_l1"] * (W.abs() * snr_inv_n.view(1, 1, 1, -1)).mean()
        r = r + w["fc_group"] * torch.sqrt(sm.mean(0) + SQRT_EPS).mean()
        return r + w["conv_l1"] * sum(m.conv.weight.abs().sum() for m in self.up)


# ---------------------------------------------------------------- losses (method.md §4)
def l2n(x, dim):
    return x / torch.sqrt(torch.clamp((x * x).sum(dim, keepdim=True), min=NORM_EPS))


def perceptual(pred_taps, target_taps, layer_weights=(0.2,) * 5, taps="relu"):
    """taps "relu": each block's last ReLU; "pool": after its 2x2 max-pool (SelfSuperReconst)."""
    total = 0.0
    for a, b, w in zip(pred_taps, target_taps, layer_weights):
        if taps == "pool":
            a, b = F.max_pool2d(a, 2), F.max_pool2d(b, 2)
        total = total + w * (1.0 - (l2n(a, 1) * l2n(b, 1)).sum(1).mean())
    return total


def pixel_l1(pred, target, n_c):
    return ((pred - target).abs() / n_c.view(1, -1, 1, 1)).mean()


def tv(x, beta=2.5):
    a = (x[:, :, :-1, :-1] - x[:, :, 1:, :-1]) ** 2
    b = (x[:, :, :-1, :-1] - x[:, :, :-1, 1:]) ** 2
    return torch.pow(a + b, beta / 2).mean()


def cosine(p, t):
    return (l2n(p, -1) * l2n(t, -1)).sum(-1).mean()


def encoder_loss(p, t, cos_w=0.1):
    return ((p - t) ** 2).mean() - cos_w * cosine(p, t)


def fmri_loss(p, t, snr_n, cos_w=0.1):
    return ((p - t).abs() * snr_n.view(1, -1)).mean() - cos_w * cosine(p, t)


def image_loss(vgg, pred, target, target_taps, n_c, wp=10.0, wm=1.0, wt=0.3, layer_weights=(0.2,) * 5, taps="relu"):
    lp = perceptual(vgg(pred), target_taps, layer_weights, taps)
    lm = pixel_l1(pred, target, n_c)
    lt = tv(pred)
    return wp * lp + wm * lm + wt * lt, (lp, lm, lt)


def shift_replicate(x, dy, dx):
    """Translate by (dy, dx) pixels with nearest-edge fill (the ED stream's input jitter)."""
    p = max(abs(dy), abs(dx))
    h, w = x.shape[-2:]
    xp = F.pad(x, (p, p, p, p), mode="replicate")
    return xp[..., p - dy:p - dy + h, p - dx:p - dx + w]


# ---------------------------------------------------------------- benchmark
# The methods `vox2pix bench --config NAME` times, as the presets configs/paper.toml and configs/ssr.toml set them.
METHODS = {
    "paper": dict(enc_blocks=VGG_BLOCKS, enc={}, dec={}, loss={}, cos_w=0.1, enc_amsgrad=True, dec_amsgrad=True,
                  paired=16, unpaired=16, batch=64, shift=5),
    "ssr": dict(enc_blocks=VGG19_BLOCKS, enc=dict(branch3_stride=2, conv_l1=1e-4, space_mom2=10.0),
                dec=dict(block="ssr", upsample="bicubic", fc_l1=40.0, fc_neighbours=8, conv_l1=1e-4),
                loss=dict(wp=1.0, layer_weights=(10.0, 10.0, 10.0, 10.0, 2.0), taps="pool"), cos_w=0.15,
                enc_amsgrad=False, dec_amsgrad=True, paired=24, unpaired=48, batch=64, shift=3),
}


def peak_rss_mib():
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def common_args(ap):
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast for the forward passes (as vox2pix --bf16)")


def setup(a):
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    return dev


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def random_vgg(dev, blocks=VGG_BLOCKS):
    feats = vgg16_features(1.0, blocks)
    for m in feats.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    vgg = VggTaps(feats, blocks).to(dev).eval()
    for p in vgg.parameters():
        p.requires_grad_(False)
    return vgg


def framework(a):
    return (f"pytorch-{torch.__version__}{'+tf32' if a.tf32 else ''}{'+bf16' if a.bf16 else ''}"
            f"{'+compile' if getattr(a, 'compile', False) else ''}")


def autocast(a, dev):
    """The forward passes' precision region; losses and the update run in float32 as in vox2pix."""
    return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.bf16)


def gpu_mib(dev):
    return torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else 0.0


def bench_step(a):
    dev = setup(a)
    m = METHODS[a.config]
    a.paired = m["paired"] if a.paired is None else a.paired
    a.unpaired = m["unpaired"] if a.unpaired is None else a.unpaired
    S, V = a.image_size, a.voxels
    vgg = random_vgg(dev)
    evgg = vgg if m["enc_blocks"] is VGG_BLOCKS else random_vgg(dev, m["enc_blocks"])
    enc = Encoder([64, 128, 256, 512], S, V, **m["enc"]).to(dev).eval()
    dec = Decoder(V, S, **m["dec"]).to(dev)
    for p in enc.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(dec.parameters(), lr=1e-3, amsgrad=m["dec_amsgrad"])
    x_pair = torch.rand(a.paired, 3, S, S, device=dev)
    y_pair = torch.randn(a.paired, V, device=dev)
    x_ext = torch.rand(a.unpaired, 3, S, S, device=dev)
    n_c = torch.full((3,), 0.45, device=dev)
    snr_inv_n = torch.ones(V, device=dev)
    cached = None
    if a.cache_target_taps:
        with torch.no_grad():
            cached = vgg(x_pair)
    times, loss_v = [], float("nan")
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        with autocast(a, dev):
            with torch.no_grad():
                y_ed = enc(evgg(shift_replicate(x_ext, 3, -2), n=4))
                if cached is not None:
                    tt = [torch.cat([c, e]).float() for c, e in zip(cached, vgg(x_ext))]
                else:
                    tt = [t.float() for t in vgg(torch.cat([x_pair, x_ext]))]
            pred = dec(torch.cat([y_pair, y_ed]))
            loss, _ = image_loss(vgg, pred, torch.cat([x_pair, x_ext]), tt, n_c, **m["loss"])
        loss = loss.float() + dec.regularization(snr_inv_n)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_v = loss.item()
        sync(dev)
        dt = (time.perf_counter() - t0) * 1e3
        if i >= a.warmup:
            times.append(dt)
        print(f"step {i}: {dt:.1f} ms loss {loss_v:.5f}", flush=True)
    mean = sum(times) / max(1, len(times))
    print(f"RESULT bench=step framework={framework(a)} config={a.config} device={a.device} "
          f"paired={a.paired} unpaired={a.unpaired} voxels={V} size={S} cache_target_taps={int(a.cache_target_taps)} "
          f"threads={torch.get_num_threads()} steps={a.steps} ms_per_step={mean:.1f} peak_rss_mib={peak_rss_mib():.0f} "
          f"peak_gpu_mib={gpu_mib(dev):.0f} loss={loss_v:.5f}")


def encoder_shifts(step, batch, r):
    """The same fixed shift pattern as vox2pix::app::bench::encoder_shifts."""
    m = 2 * r + 1
    return [(((step * batch + i) * 7 + 3) % m - r, ((step * batch + i) * 13 + 5) % m - r) for i in range(batch)]


def shift_each(x, shifts):
    return torch.cat([shift_replicate(x[i:i + 1], dy, dx) for i, (dy, dx) in enumerate(shifts)])


def bench_encoder_step(a):
    """Batch of shifted images -> frozen VGG16 taps 1-4 -> E (train mode) -> MSE - 0.1 cos + regularisers -> AMSGrad."""
    dev = setup(a)
    m = METHODS[a.config]
    a.batch = m["batch"] if a.batch is None else a.batch
    a.shift_px = m["shift"] if a.shift_px is None else a.shift_px
    S, V = a.image_size, a.voxels
    vgg = random_vgg(dev, m["enc_blocks"])
    enc = Encoder([64, 128, 256, 512], S, V, **m["enc"]).to(dev).train()
    opt = torch.optim.Adam(enc.parameters(), lr=1e-3, amsgrad=m["enc_amsgrad"])
    x = torch.rand(a.batch, 3, S, S, device=dev)
    y = torch.randn(a.batch, V, device=dev)
    times, loss_v = [], float("nan")
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        xs = shift_each(x, encoder_shifts(i, a.batch, a.shift_px))
        with autocast(a, dev):
            with torch.no_grad():
                taps = vgg(xs, n=4)
            pred = enc(taps).float()
        loss = encoder_loss(pred, y, m["cos_w"]) + enc.regularization()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            enc.branch_mix.clamp_(min=0)
        loss_v = loss.item()
        sync(dev)
        dt = (time.perf_counter() - t0) * 1e3
        if i >= a.warmup:
            times.append(dt)
        print(f"step {i}: {dt:.1f} ms loss {loss_v:.5f}", flush=True)
    mean = sum(times) / max(1, len(times))
    print(f"RESULT bench=encoder-step framework={framework(a)} config={a.config} device={a.device} batch={a.batch} "
          f"voxels={V} size={S} "
          f"shift_px={a.shift_px} threads={torch.get_num_threads()} steps={a.steps} ms_per_step={mean:.1f} "
          f"peak_rss_mib={peak_rss_mib():.0f} peak_gpu_mib={gpu_mib(dev):.0f} loss={loss_v:.5f}")


def bench_decoder_epoch(a):
    """The decoder trainer's epoch (crates/vox2pix/src/train/decoder.rs, paper config: 16 paired + 16 ED rows, DE off, cached
    paired-target taps) in eager PyTorch, fed from `vox2pix bench decoder-epoch --dump FILE`."""
    import numpy as np
    import random
    import tempfile

    dev = setup(a)
    t_load = time.perf_counter()
    d = np.load(a.data)
    images = torch.from_numpy(d["train_images"]).to(dev)
    y_train = torch.from_numpy(d["y_train"]).to(dev)
    labels = torch.from_numpy(d["train_labels"]).long().to(dev)
    n_c = torch.from_numpy(d["channel_mean_abs"]).to(dev)
    snr_inv_n = torch.from_numpy(d["snr_inv_n"]).to(dev)
    pool = torch.from_numpy(d["pool"]).to(dev)
    T, V = y_train.shape
    S = images.shape[-1]
    pb = ub = 16
    full_steps = max(1, T // pb)
    steps = min(a.steps, full_steps) if a.steps > 0 else full_steps
    if pool.shape[0] < ub:
        raise SystemExit(f"{a.data}: the dumped pool has {pool.shape[0]} images, need >= {ub}; dump with --steps >= 1")
    vgg = random_vgg(dev)
    enc = Encoder([64, 128, 256, 512], S, V).to(dev).eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    dec = Decoder(V, S).to(dev)
    opt = torch.optim.Adam(dec.parameters(), lr=1e-3, amsgrad=True)
    vgg_f, dec_f = vgg, dec
    if a.compile:
        vgg_f, dec_f = torch.compile(vgg), torch.compile(dec)
    load_s = time.perf_counter() - t_load
    rng = random.Random(0)
    order = list(range(T))
    rng.shuffle(order)
    # Paired-target taps cached before the first step, as the trainer does. For a prefix only the images its rows
    # use are computed (in 64-image chunks) and the time is scaled to all images, like the Rust side's estimate.
    n_img = images.shape[0]
    used = sorted({int(labels[order[(s * pb + i) % T]]) for s in range(steps) for i in range(pb)})
    need = torch.arange(n_img, device=dev) if steps == full_steps else torch.tensor(used, device=dev)
    t_cache = time.perf_counter()
    with torch.no_grad():
        cached = [torch.zeros((n_img,) + t.shape[1:], device=dev) for t in vgg(images[:1])]
        for s in range(0, len(need), 64):
            rows = need[s:s + 64]
            for c, t in zip(cached, vgg(images[rows])):
                c[rows] = t
    sync(dev)
    cache_s = (time.perf_counter() - t_cache) * n_img / len(need)
    t0 = time.perf_counter()
    total_sum = 0.0
    for s in range(steps):
        rows = torch.tensor([order[(s * pb + i) % T] for i in range(pb)], device=dev)
        y = y_train[rows]
        idx = labels[rows]
        target = images[idx]
        tt = [c[idx] for c in cached]
        x = pool[(torch.arange(ub, device=dev) + s * ub) % pool.shape[0]]
        shifts = [(rng.randint(-5, 5), rng.randint(-5, 5)) for _ in range(ub)]
        with autocast(a, dev):
            with torch.no_grad():
                # As the trainer: E reads VGG blocks 1-4 only.
                y_hat = enc(vgg_f(shift_each(x, shifts), n=4))
            preds = [dec_f(y), dec_f(y_hat)]
            with torch.no_grad():
                tx = [t.float() for t in vgg_f(x)]
            taps_all = [t.float() for t in vgg_f(torch.cat(preds))]
            preds = [p.float() for p in preds]
        lp = 10 * perceptual([t[:pb] for t in taps_all], tt) + pixel_l1(preds[0], target, n_c) + 0.3 * tv(preds[0])
        le = 10 * perceptual([t[pb:] for t in taps_all], tx) + pixel_l1(preds[1], x, n_c) + 0.3 * tv(preds[1])
        _ = lp.item(), le.item()
        total = lp + le + dec.regularization(snr_inv_n)
        total_sum += total.item()
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        print(f"step {s}: loss {total_sum / (s + 1):.5f}", flush=True)
    sync(dev)
    loop_s = time.perf_counter() - t0
    t_save = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        torch.save({"model": dec.state_dict(), "opt": opt.state_dict()}, os.path.join(tmp, "checkpoint.pt"))
        torch.save(dec.state_dict(), os.path.join(tmp, "decoder.pt"))
    save_s = time.perf_counter() - t_save
    step_s = loop_s / steps
    print(f"RESULT bench=decoder-epoch framework={framework(a)} device={a.device} data={a.data} voxels={V} trials={T} "
          f"steps={steps} epoch_steps={full_steps} threads={torch.get_num_threads()} load_s={load_s:.1f} "
          f"cache_s={cache_s:.1f} ms_per_step={step_s * 1e3:.1f} save_s={save_s:.1f} "
          f"epoch_s={step_s * full_steps + save_s:.1f} peak_rss_mib={peak_rss_mib():.0f} peak_gpu_mib={gpu_mib(dev):.0f} "
          f"loss={total_sum / steps:.5f}")


def main():
    import sys

    argv = sys.argv[1:]
    if not argv or argv[0] not in ("step", "encoder-step", "decoder-epoch", "-h", "--help"):
        argv = ["step"] + argv  # the original flag-only form times the decoder step
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    st = sub.add_parser("step", help="one decoder training step (vox2pix bench step)")
    common_args(st)
    st.add_argument("--steps", type=int, default=5)
    st.add_argument("--warmup", type=int, default=1)
    st.add_argument("--voxels", type=int, default=5355)
    st.add_argument("--config", choices=sorted(METHODS), default="paper")
    st.add_argument("--paired", type=int, default=None, help="default: the method's (paper 16, ssr 24)")
    st.add_argument("--unpaired", type=int, default=None, help="default: the method's (paper 16, ssr 48)")
    st.add_argument("--image-size", type=int, default=112)
    st.add_argument("--cache-target-taps", action="store_true")
    es = sub.add_parser("encoder-step", help="one encoder training step (vox2pix bench encoder-step)")
    common_args(es)
    es.add_argument("--steps", type=int, default=5)
    es.add_argument("--warmup", type=int, default=1)
    es.add_argument("--voxels", type=int, default=5355)
    es.add_argument("--config", choices=sorted(METHODS), default="paper")
    es.add_argument("--batch", type=int, default=None, help="default: the method's (64)")
    es.add_argument("--image-size", type=int, default=112)
    es.add_argument("--shift-px", type=int, default=None, help="default: the method's (paper 5, ssr 3)")
    de = sub.add_parser("decoder-epoch", help="a decoder epoch from a `vox2pix bench decoder-epoch --dump` npz")
    common_args(de)
    de.add_argument("--data", required=True, help="npz written by vox2pix bench decoder-epoch --dump")
    de.add_argument("--steps", type=int, default=0, help="first N steps only (0 = the whole epoch)")
    de.add_argument("--compile", action="store_true", help="torch.compile the VGG and decoder modules")
    a = ap.parse_args(argv)
    {"step": bench_step, "encoder-step": bench_encoder_step, "decoder-epoch": bench_decoder_epoch}[a.what](a)


if __name__ == "__main__":
    main()
