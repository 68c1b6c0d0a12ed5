#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures for the layers (crates/vox2pix/src/nn/) under tests/fixtures/nn/ (run from the repository root):

    PYTHONPATH=$VOX2PIX_TORCH_DIR:~/.cache/vox2pix/tools python3 tools/make_torch_fixtures.py

(torch 2.11 + torchvision 0.26; `python3 -m pip install --no-deps --target ~/.cache/vox2pix/tools torchvision==0.26.0`.)

* vgg16_w0125.{pth,safetensors}: a width-0.125 VGG16 `features` stack built by torchvision's own
  `vgg.make_layers` (torchvision key layout) plus a dummy `classifier.0.weight` that loaders must skip.
* alexnet_w0125.{pth,safetensors}: width-0.125 AlexNet `features` (all 13 modules, so `features.10.*` exists and
  must be skipped) plus a dummy `classifier.1.weight`.
* encoder.safetensors / decoder.safetensors: the twin E and D of tools/bench_torch.py at 32 px, 37 voxels, with
  randomised BN statistics, space maps and branch mix (one negative entry, clamped), so eval-mode outputs test
  every part of the readout.
* expected.safetensors: inputs, VGG taps and embedding, AlexNet embedding, E and D outputs and regularisers,
  and every loss, computed in float64 from the float32 weights and stored rounded to float32.

torch.save writes the .pth files (zip + pickle); .safetensors files are written by a small writer below
(the safetensors package is not part of the torch install). Fixed seed; < 3 MB together.
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_torch as tw  # noqa: E402

OUT = os.path.join("tests", "fixtures", "nn")
S, V, B = 32, 37, 2


def write_safetensors(path, tensors):
    """Minimal safetensors writer: u64 header length, JSON header, raw little-endian data."""
    header, blobs, off = {}, [], 0
    dt = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": dt[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def randomise_encoder(enc):
    """Random BN statistics and affines, map noise, feature-mix biases and branch mix, so that eval-mode outputs
    test every part of the readout (in place; returns enc)."""
    with torch.no_grad():
        for h in enc.heads:
            for bn in (h.bn_in, h.bn_out):
                bn.running_mean.copy_(torch.randn_like(bn.running_mean) * 0.3)
                bn.running_var.uniform_(0.5, 1.5)
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.normal_(0.0, 0.1)
        for m in enc.space_maps:
            m.add_(torch.randn_like(m) * 0.02)
        for fm in enc.feature_mix:
            fm.bias.normal_(0.0, 0.1)
        enc.branch_mix.uniform_(0.2, 1.5)
    return enc


def randomise_decoder(dec):
    """Random GroupNorm affines and FC bias (in place; returns dec)."""
    with torch.no_grad():
        for m in dec.up:
            m.norm.weight.uniform_(0.5, 1.5)
            m.norm.bias.normal_(0.0, 0.1)
        dec.fc.bias.normal_(0.0, 0.1)
    return dec


def save_both(stem, sd):
    torch.save(sd, os.path.join(OUT, stem + ".pth"))
    write_safetensors(os.path.join(OUT, stem + ".safetensors"), sd)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(1234)
    exp = {}

    # ---- VGG16, width 0.125 (8/16/32/64/64 channels), torchvision layout
    feats = tw.vgg16_features(0.125)
    for m in feats.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, 0.0, (2.0 / (m.in_channels * 9)) ** 0.5)
            torch.nn.init.normal_(m.bias, 0.0, 0.05)
    sd = {"features." + k: v.clone() for k, v in feats.state_dict().items()}
    sd["classifier.0.weight"] = torch.randn(2, 2)
    save_both("vgg16_w0125", sd)
    vgg = tw.VggTaps(feats).double().eval()

    x = torch.rand(B, 3, S, S, dtype=torch.float64)
    x2 = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    exp["x"], exp["x2"] = x, x2
    with torch.no_grad():
        taps = vgg(x)
        taps2 = vgg(x2)
    names = ["relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"]
    for n, t in zip(names, taps):
        exp["vgg." + n] = t
    exp["vgg.embedding"] = taps[4].mean((2, 3))

    # ---- AlexNet features, width 0.125, 64 px input in [-1, 1]
    alex = tw.alexnet_features(0.125)
    sd = {"features." + k: v.clone() for k, v in alex.state_dict().items()}
    sd["classifier.1.weight"] = torch.randn(3, 2)
    save_both("alexnet_w0125", sd)
    xa = torch.rand(B, 3, 64, 64, dtype=torch.float64) * 2 - 1
    exp["alex.input"] = xa
    with torch.no_grad():
        exp["alex.embedding"] = tw.alexnet_embedding(alex.double(), xa)

    # ---- losses
    n_c = torch.tensor([0.41, 0.37, 0.33], dtype=torch.float64)
    lw = (0.5, 0.1, 0.0, 0.3, 1.0)
    exp["n_c"] = n_c
    exp["loss.perceptual"] = tw.perceptual(taps, taps2)
    exp["loss.perceptual_w"] = tw.perceptual(taps, taps2, lw)
    exp["loss.pixel_l1"] = tw.pixel_l1(x, x2, n_c)
    exp["loss.tv"] = tw.tv(x, 2.5)
    exp["loss.tv_b1"] = tw.tv(x, 1.0)
    yp = torch.randn(4, V, dtype=torch.float64)
    yt = 0.5 * yp + torch.randn(4, V, dtype=torch.float64)
    snr = torch.rand(V, dtype=torch.float64) + 0.2
    snr_n = snr / snr.mean()
    snr_inv_n = (1 / snr) / (1 / snr).mean()
    exp["y_pred"], exp["y_true"], exp["snr_n"], exp["snr_inv_n"] = yp, yt, snr_n, snr_inv_n
    exp["loss.encoder"] = tw.encoder_loss(yp, yt, 0.1)
    exp["loss.fmri"] = tw.fmri_loss(yp, yt, snr_n, 0.1)

    # ---- encoder E (head 8 channels) on the narrow taps
    enc = randomise_encoder(tw.Encoder([8, 16, 32, 64], S, V, head_channels=8))
    with torch.no_grad():
        enc.branch_mix[3, 2] = -0.7
    write_safetensors(os.path.join(OUT, "encoder.safetensors"),
                      {k: v for k, v in enc.state_dict().items() if not k.endswith("num_batches_tracked")})
    enc = enc.double()
    with torch.no_grad():
        enc.eval()
        exp["encoder.out_eval"] = enc(taps)
        exp["encoder.reg"] = enc.regularization()
        enc.train()
        enc.dropout = 0.0
        exp["encoder.out_train_nodrop"] = enc(taps)

    # ---- decoder D (16 channels, 8 groups) and the full image loss on its output
    dec = randomise_decoder(tw.Decoder(V, S, channels=16, groups=8))
    write_safetensors(os.path.join(OUT, "decoder.safetensors"), dec.state_dict())
    dec = dec.double()
    y_in = torch.randn(B, V, dtype=torch.float64)
    exp["decoder.y"] = y_in
    with torch.no_grad():
        out = dec(y_in)
        exp["decoder.out"] = out
        exp["decoder.reg"] = dec.regularization(snr_inv_n)
        total, (lp, lm, lt) = tw.image_loss(vgg, out, x, taps, n_c)
    exp["image_loss.total"], exp["image_loss.percept"], exp["image_loss.mae"], exp["image_loss.tv"] = total, lp, lm, lt

    # Stored as float32 (rounding a float64 reference costs ~6e-8 relative; keeps the fixtures small).
    exp = {k: torch.as_tensor(v).to(torch.float32) for k, v in exp.items()}
    write_safetensors(os.path.join(OUT, "expected.safetensors"), exp)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files to {OUT}, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
