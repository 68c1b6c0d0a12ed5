#!/usr/bin/env python3
"""Writes tests/fixtures/protos/: a small ImageNet-layout folder and the reference AlexNet embeddings of its
images, computed with PyTorch independently of vox2pix (the SSRC `Class_similarity_calc.py` protocol of
method.md §6.2: image → x/127.5 − 1 → AlexNet features[:10] → flatten; prototype = mean over a class).

    PYTHONPATH=$VOX2PIX_TORCH_DIR python3 tools/make_prototype_fixtures.py   (torch 2.11; no torchvision needed)

* imagenet/<wnid>/<wnid>_<k>.png: 3 classes × 3 RGB images of 112 × 112 px (so no resize is involved: the
  comparison is of the embedding and the averaging, not of two bicubic filters), written by a minimal PNG writer.
* exclude.txt: one file stem, n00000002_1, that stands for a test stimulus and must never enter a prototype.
* expected.json: the embedding of every image (width-0.125 AlexNet of tests/fixtures/nn/alexnet_w0125.pth, the
  weights tools/make_torch_fixtures.py wrote), in float64 from the float32 weights.
"""
import json
import os
import struct
import sys
import zlib

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_torch as tw  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "protos")
S = 112
WNIDS = ["n00000001", "n00000002", "n00000003"]


def write_png(path, rgb):
    """8-bit RGB PNG, no filtering."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + bytes(rgb[y].flatten().tolist()) for y in range(h))

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def main():
    g = torch.Generator().manual_seed(20261202)
    sd = torch.load(os.path.join(ROOT, "tests", "fixtures", "nn", "alexnet_w0125.pth"), map_location="cpu")
    alex = tw.alexnet_features(0.125)
    alex.load_state_dict({k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")})
    alex = alex.double().eval()
    embeddings = {}
    for c, w in enumerate(WNIDS):
        d = os.path.join(OUT, "imagenet", w)
        os.makedirs(d, exist_ok=True)
        for k in range(3):
            # Class-coloured smooth images plus noise, so the classes differ.
            base = torch.rand(3, 8, 8, generator=g) * 0.6 + 0.2 * c
            img = torch.nn.functional.interpolate(base[None], size=(S, S), mode="bilinear", align_corners=False)[0]
            img = (img + 0.15 * torch.rand(3, S, S, generator=g)).clamp(0, 1)
            u8 = (img * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous()
            name = f"{w}_{k}"
            write_png(os.path.join(d, name + ".png"), u8.numpy())
            x = u8.permute(2, 0, 1)[None].double() / 127.5 - 1.0
            with torch.no_grad():
                embeddings[f"{w}/{name}.png"] = tw.alexnet_embedding(alex, x)[0].tolist()
    with open(os.path.join(OUT, "exclude.txt"), "w") as f:
        f.write("n00000002_1\n")
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"width": 0.125, "size": S, "embeddings": embeddings}, f)
    print("wrote", os.path.abspath(OUT))


if __name__ == "__main__":
    main()
