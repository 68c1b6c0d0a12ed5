#!/usr/bin/env python3
"""Writes tests/fixtures/nn/lpips_*: the `lpips` package's calibrated distance (LPIPS v0.1, AlexNet) computed
by the package's own forward pass, for vox2pix's `eval::perceptual::LpipsHeads` + `AlexNetFeatures::lpips_taps`.

    python3 -m pip install --no-deps --target ~/.cache/vox2pix/tools torchvision==0.26.0 lpips==0.1.4
    PYTHONPATH=$VOX2PIX_TORCH_DIR:~/.cache/vox2pix/tools python3 tools/make_lpips_fixtures.py

To keep the fixture small the network is narrow: the package's LPIPS(net='alex') is built with a random
backbone, its five AlexNet slices are replaced by the width-0.125 `features` of tests/fixtures/nn/alexnet_w0125.pth
(written by tools/make_torch_fixtures.py; it has conv5), and each learned head (`lin{l}.model.1.weight`, from
the package's lpips/weights/v0.1/alex.pth) is cut to the first C_l channels of that width. The package's scaling
layer, normalisation, heads and spatial average then run unchanged.

* lpips_alex_w0125_heads.pth / lpips_vgg_w0125_heads.pth: the cut heads, in the package's key layout and in the
  form its own files have: torch.save's legacy stream with Python 2 pickles (SHORT_BINSTRING strings,
  OrderedDict([[k, v], ...]));
  the VGG ones for net='vgg' on the width-0.125 VGG16 of tests/fixtures/nn/vgg16_w0125.pth.
* lpips_expected.json: images (3 "reconstructions", 4 candidates, 48 x 48, 8-bit, used as k/255) and the 3 x 4 distances
  lpips(x, y, normalize=True), float64.
"""
import collections
import io
import json
import os
import pickletools
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_torch as tw  # noqa: E402

import lpips  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
NN = os.path.join(ROOT, "tests", "fixtures", "nn")


class _Py2OrderedDict:
    """Pickles as Python 2 pickled an OrderedDict: OrderedDict([[key, value], ...])."""

    def __init__(self, items):
        self.items = list(items)

    def __reduce__(self):
        return (collections.OrderedDict, ([[k, v] for k, v in self.items],))


def _py2_strings(pickle_bytes):
    """Rewrites BINUNICODE / SHORT_BINUNICODE strings as Python 2's SHORT_BINSTRING / BINSTRING."""
    out, last = bytearray(), 0
    for op, arg, pos in pickletools.genops(pickle_bytes):
        if op.name in ("BINUNICODE", "SHORT_BINUNICODE"):
            end = pos + 1 + (4 if op.name == "BINUNICODE" else 1) + len(arg.encode())
            out += pickle_bytes[last:pos]
            raw = arg.encode("ascii")
            out += (b"U" + bytes([len(raw)]) if len(raw) < 256 else b"T" + struct.pack("<I", len(raw))) + raw
            last = end
    out += pickle_bytes[last:]
    return bytes(out)


def save_like_lpips(heads, path):
    """torch.save in the legacy (non-zip) stream format with Python 2 pickles, as the lpips package's .pth files
    were written: five pickles (magic, protocol, sys info, the OrderedDict, storage keys), then the storages."""
    buf = io.BytesIO()
    torch.save(_Py2OrderedDict(heads.items()), buf, _use_new_zipfile_serialization=False)
    b, pos, parts = buf.getvalue(), 0, []
    for _ in range(5):
        ops = list(pickletools.genops(b[pos:]))
        end = pos + ops[-1][2] + 1  # STOP
        parts.append(_py2_strings(b[pos:end]))
        pos = end
    with open(path, "wb") as f:
        f.write(b"".join(parts) + b[pos:])
    back = torch.load(path, weights_only=False)
    assert list(back.keys()) == list(heads.keys()) and all(torch.equal(back[k], heads[k]) for k in heads)


def narrow_lpips(net, features, weights_file, bounds, conv_idx, heads_file):
    """The package's LPIPS(net) with a random backbone whose five slices are replaced by the narrow `features`
    (loaded from tests/fixtures/nn/`weights_file`; slice k = features[bounds[k]]) and whose heads are cut to the
    narrow widths (the out_channels of features[conv_idx[k]]); the cut heads are saved as `heads_file`."""
    model = lpips.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False).eval()
    sd = torch.load(os.path.join(NN, weights_file), map_location="cpu")
    features.load_state_dict({k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")})
    for i, (a, b) in enumerate(bounds):
        sl = torch.nn.Sequential()
        for x in range(a, b):
            sl.add_module(str(x), features[x])
        setattr(model.net, f"slice{i + 1}", sl)
    heads = {}
    for l, j in enumerate(conv_idx):
        c = features[j].out_channels
        w = model.lins[l].model[-1].weight.data[:, :c].clone()
        new = torch.nn.Conv2d(c, 1, 1, bias=False)
        new.weight.data = w
        model.lins[l].model[-1] = new
        heads[f"lin{l}.model.1.weight"] = w
    save_like_lpips(heads, os.path.join(NN, heads_file))
    return model.double().eval()


def distances(model, recon, cand):
    with torch.no_grad():
        return [[model(recon[i : i + 1], cand[j : j + 1], normalize=True).item() for j in range(cand.shape[0])]
                for i in range(recon.shape[0])]


def main():
    torch.manual_seed(20261202)
    alex = narrow_lpips("alex", tw.alexnet_features(0.125), "alexnet_w0125.pth",
                        [(0, 2), (2, 5), (5, 8), (8, 10), (10, 12)], (0, 3, 6, 8, 10), "lpips_alex_w0125_heads.pth")
    # 8-bit images (stored as integers, used as k/255) keep the JSON small.
    recon = torch.randint(0, 256, (3, 3, 48, 48)).double()
    cand = torch.randint(0, 256, (4, 3, 48, 48)).double()
    cand[0] = (recon[0] * 0.7 + 0.3 * cand[0]).round()  # one near match
    recon8, cand8 = recon.long(), cand.long()
    recon, cand = recon / 255.0, cand / 255.0
    d = distances(alex, recon, cand)
    # VGG: relu1_2 ... relu5_3 are the ends of features[0:4], [4:9], [9:16], [16:23], [23:30].
    torch.manual_seed(20261203)
    vgg = narrow_lpips("vgg", tw.vgg16_features(0.125), "vgg16_w0125.pth",
                       [(0, 4), (4, 9), (9, 16), (16, 23), (23, 30)], (2, 7, 14, 21, 28), "lpips_vgg_w0125_heads.pth")
    d_vgg = distances(vgg, recon, cand)
    with open(os.path.join(NN, "lpips_expected.json"), "w") as f:
        json.dump({"size": 48, "recon_u8": recon8.flatten().tolist(), "candidates_u8": cand8.flatten().tolist(),
                   "distances": d, "distances_vgg": d_vgg}, f)
    print("wrote", os.path.abspath(NN), "distances", d)


if __name__ == "__main__":
    main()
