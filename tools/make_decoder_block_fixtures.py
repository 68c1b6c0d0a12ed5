#!/usr/bin/env python3
"""Writes the PyTorch reference for `decoder.block = "ssr"` (SelfSuperReconst's decoder blocks: reflection pad →
conv → GroupNorm → Swish, reflection pad before the output conv) under tests/fixtures/nn/ (run from the
repository root; torch only):

    PYTHONPATH=$VOX2PIX_TORCH_DIR python3 tools/make_decoder_block_fixtures.py

* decoder_ssr.safetensors: the twin D of tools/bench_torch.py (`block="ssr"`) at 32 px, 37 voxels, 16 channels,
  8 groups, with randomised GroupNorm affines and FC bias;
* decoder_ssr_expected.safetensors: an input batch y, D(y), and the gradients of sum(D(y) · r) for a fixed r with
  respect to y, the FC weight and the first block's conv weight, computed in float64 from the float32 weights.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_torch as tw  # noqa: E402
from make_torch_fixtures import write_safetensors  # noqa: E402

OUT = os.path.join("tests", "fixtures", "nn")
S, V, B = 32, 37, 2


def main():
    torch.manual_seed(18)
    dec = tw.Decoder(V, S, channels=16, groups=8, block="ssr")
    with torch.no_grad():
        for m in dec.up:
            m.norm.weight.uniform_(0.5, 1.5)
            m.norm.bias.normal_(0.0, 0.1)
        dec.fc.bias.normal_(0.0, 0.1)
    write_safetensors(os.path.join(OUT, "decoder_ssr.safetensors"), dec.state_dict())
    dec = dec.double()
    y = torch.randn(B, V, dtype=torch.float64, requires_grad=True)
    r = torch.randn(B, 3, S, S, dtype=torch.float64)
    out = dec(y)
    (out * r).sum().backward()
    exp = {
        "y": y.detach(), "r": r, "out": out.detach(), "grad.y": y.grad,
        "grad.fc.weight": dec.fc.weight.grad, "grad.up.0.conv.weight": dec.up[0].conv.weight.grad,
        # The Keras blocks on the same weights, so the test also sees that the block choice matters.
        "out_keras": keras_out(dec, y.detach()),
    }
    write_safetensors(os.path.join(OUT, "decoder_ssr_expected.safetensors"),
                      {k: v.to(torch.float32) for k, v in exp.items()})
    print("wrote", OUT + "/decoder_ssr*.safetensors")


def keras_out(dec, y):
    keras = tw.Decoder(V, S, channels=16, groups=8, block="keras").double()
    keras.load_state_dict(dec.state_dict())
    with torch.no_grad():
        return keras(y)


if __name__ == "__main__":
    main()
