#!/usr/bin/env python3
"""Writes the PyTorch references for vox2pix's SelfSuperReconst (SSR) options under tests/fixtures/nn/ (run from
the repository root; torch only):

    PYTHONPATH=$VOX2PIX_TORCH_DIR python3 tools/make_ssr_fixtures.py

`decoder.block = "ssr"` (SSR's decoder blocks: reflection pad → conv → GroupNorm → Swish, reflection pad before the
output conv):

* decoder_ssr.safetensors: the twin D of tools/bench_torch.py (`block="ssr"`) at 32 px, 37 voxels, 16 channels,
  8 groups, with randomised GroupNorm affines and FC bias;
* decoder_ssr_expected.safetensors: an input batch y, D(y), and the gradients of sum(D(y) · r) for a fixed r with
  respect to y, the FC weight and the first block's conv weight, computed in float64 from the float32 weights.

`image_loss.taps = "pool"` (SSR's `ImageLoss`: VGG16 `features[:5]`, `[:10]`, `[:17]`, `[:24]`, `[:31]`, i.e. each
block after its max-pool, and SSR's `perceptual_loss_layer` with its own epsilons), on the width-0.125 VGG16 of
tools/make_torch_fixtures.py (`vgg16_w0125.pth`), block weights 10, 10, 10, 10, 2 (`scripts/train_dec_rgb.sh`):
* ssr_perceptual_expected.safetensors: target x, prediction p, the loss and its gradient with respect to p.

`encoder.space_mom2` (SSR's `calc_mom2` on the squared space maps, `train_encoder.py`), written out here from its
formula on SSR's [V, H, W] layout:
* ssr_mom2_expected.safetensors: a map W [V, 6, 6] (one voxel all zeros), the term and its gradient.

`backbone.encoder = "vgg19"` (SSR's E reads torchvision VGG19 `features.3`, `.8`, `.17`, `.26`, the last ReLU of
blocks 1-4; vox2pix also exposes block 5's `features.35`), built by torchvision's own `vgg.make_layers` from its
configuration "E" at width 0.125 (needs torchvision 0.26: `pip install --no-deps --target DIR torchvision==0.26.0`
and DIR on PYTHONPATH):
* vgg19_w0125.safetensors: its parameters in torchvision's key layout, plus a dummy `classifier.0.weight`;
* ssr_vgg19_expected.safetensors: an input x [2, 3, 32, 32] in [0, 1] and the five taps, ImageNet mean/std applied
  first, computed in float64.

The `ssr` preset's E and D together, forward and backward (the twin E with `branch3_stride=2`, conv L1 1e-4 and
`space_mom2=10` on the VGG19 taps above; the twin D with SSR's blocks, bicubic upsampling, fc L1 40 and the
8-neighbour group term, scored by the pooled perceptual loss with weights 10, 10, 10, 10, 2 on the width-0.125 VGG16):
* encoder_ssr.safetensors, decoder_ssr_full.safetensors: their weights (randomised BN statistics and affines);
* ssr_model_expected.safetensors: E(x) in eval mode; the encoder objective (MSE − 0.15·cos + regularisers, train
  mode without dropout) and its gradients; D(y), the decoder objective (image loss + D's regularisers) and its
  gradients, in float64.

SSR's encoder augmentation, torchvision's `RandomCrop(S, padding=p, padding_mode='edge')`, written out as its
definition (replicate-pad by p, crop S × S at offset (i, j)):
* ssr_random_crop_expected.safetensors: images x [2, 3, 8, 8], p = 2, offsets (0, 4) and (3, 1), the crops.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_torch as tw  # noqa: E402
from make_torch_fixtures import randomise_decoder, randomise_encoder, write_safetensors  # noqa: E402

OUT = os.path.join("tests", "fixtures", "nn")
S, V, B = 32, 37, 2


def main():
    torch.manual_seed(18)
    dec = randomise_decoder(tw.Decoder(V, S, channels=16, groups=8, block="ssr"))
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
    write_perceptual()
    write_mom2()
    write_random_crop()
    write_vgg19()
    write_ssr_model()
    print("wrote", OUT + "/decoder_ssr*.safetensors and ssr_perceptual_expected.safetensors")


def write_vgg19():
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(20)
    cfg = [v if v == "M" else max(1, round(v * 0.125)) for v in cfgs["E"]]
    feats = make_layers(cfg, batch_norm=False)
    for m in feats.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, 0.0, (2.0 / (m.in_channels * 9)) ** 0.5)
            torch.nn.init.normal_(m.bias, 0.0, 0.05)
    sd = {"features." + k: v.clone() for k, v in feats.state_dict().items()}
    assert "features.34.weight" in sd and "features.28.weight" in sd
    sd["classifier.0.weight"] = torch.randn(2, 2)
    write_safetensors(os.path.join(OUT, "vgg19_w0125.safetensors"), sd)
    feats = feats.double().eval()
    x = torch.rand(B, 3, S, S, dtype=torch.float64)
    mean = torch.tensor((0.485, 0.456, 0.406), dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor((0.229, 0.224, 0.225), dtype=torch.float64).view(1, 3, 1, 1)
    exp = {"x": x}
    with torch.no_grad():
        for k, end in enumerate((3, 8, 17, 26, 35)):
            exp[f"tap{k}"] = feats[: end + 1]((x - mean) / std)
    write_safetensors(os.path.join(OUT, "ssr_vgg19_expected.safetensors"),
                      {k: v.to(torch.float32) for k, v in exp.items()})


def write_ssr_model():
    torch.manual_seed(21)
    sd19 = read_safetensors(os.path.join(OUT, "vgg19_w0125.safetensors"))
    feats19 = tw.vgg16_features(0.125, tw.VGG19_BLOCKS)
    feats19.load_state_dict({k[len("features."):]: v for k, v in sd19.items() if k.startswith("features.")})
    vgg19 = tw.VggTaps(feats19, tw.VGG19_BLOCKS).double().eval()
    feats16 = tw.vgg16_features(0.125)
    sd16 = torch.load(os.path.join(OUT, "vgg16_w0125.pth"))
    feats16.load_state_dict({k[len("features."):]: v for k, v in sd16.items() if k.startswith("features.")})
    vgg16 = tw.VggTaps(feats16).double().eval()
    for p in list(vgg19.parameters()) + list(vgg16.parameters()):
        p.requires_grad_(False)
    x = torch.rand(B, 3, S, S, dtype=torch.float64)
    y = torch.randn(B, V, dtype=torch.float64)
    enc = randomise_encoder(
        tw.Encoder([8, 16, 32, 64], S, V, head_channels=8, branch3_stride=2, conv_l1=1e-4, space_mom2=10.0))
    write_safetensors(os.path.join(OUT, "encoder_ssr.safetensors"),
                      {k: v for k, v in enc.state_dict().items() if not k.endswith("num_batches_tracked")})
    enc = enc.double()
    taps = vgg19(x, n=4)
    exp = {"x": x, "y": y}
    with torch.no_grad():
        enc.eval()
        exp["enc.out_eval"] = enc(taps)
    enc.train()
    enc.dropout = 0.0
    loss = tw.encoder_loss(enc(taps), y, 0.15) + enc.regularization()
    loss.backward()
    exp["enc.objective"] = loss.detach()
    for k in ("heads.2.conv.weight", "space_maps.1", "feature_mix.2.weight", "branch_mix"):
        exp["enc.grad." + k] = dict(enc.named_parameters())[k].grad
    dec = randomise_decoder(tw.Decoder(V, S, channels=16, groups=8, block="ssr", upsample="bicubic", fc_l1=40.0,
                                       fc_neighbours=8, conv_l1=1e-4))
    write_safetensors(os.path.join(OUT, "decoder_ssr_full.safetensors"), dec.state_dict())
    dec = dec.double()
    n_c = torch.tensor([0.4, 0.45, 0.5], dtype=torch.float64)
    snr_inv_n = torch.rand(V, dtype=torch.float64) + 0.5
    snr_inv_n = snr_inv_n / snr_inv_n.mean()
    exp["n_c"], exp["snr_inv_n"] = n_c, snr_inv_n
    pred = dec(y)
    with torch.no_grad():
        target_taps = vgg16(x)
    loss, _ = tw.image_loss(vgg16, pred, x, target_taps, n_c, wp=1.0, wm=1.0, wt=0.3,
                            layer_weights=(10.0, 10.0, 10.0, 10.0, 2.0), taps="pool")
    loss = loss + dec.regularization(snr_inv_n)
    loss.backward()
    exp["dec.out"] = pred.detach()
    exp["dec.objective"] = loss.detach()
    for k in ("fc.weight", "up.0.conv.weight", "up.2.norm.weight", "out.weight"):
        exp["dec.grad." + k] = dict(dec.named_parameters())[k].grad
    write_safetensors(os.path.join(OUT, "ssr_model_expected.safetensors"),
                      {k: v.to(torch.float32) for k, v in exp.items()})


def read_safetensors(path):
    import json
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dt = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
    out = {}
    for k, h in header.items():
        if k == "__metadata__":
            continue
        a, b = h["data_offsets"]
        out[k] = torch.frombuffer(bytearray(data[a:b]), dtype=dt[h["dtype"]]).reshape(h["shape"]).clone()
    return out


def write_perceptual():
    torch.manual_seed(19)
    feats = tw.vgg16_features(0.125)
    sd = torch.load(os.path.join(OUT, "vgg16_w0125.pth"))
    feats.load_state_dict({k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")})
    feats = feats.double().eval()
    mean = torch.tensor(tw.IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(tw.IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)

    def after_pools(img):
        x, out = (img - mean) / std, []
        for i, m in enumerate(feats):
            x = m(x)
            if i in (4, 9, 16, 23, 30):
                out.append(x)
        return out

    def normalize_channel(f, eps=1e-10):  # SSR's, epsilons included
        return f / (torch.sqrt((f ** 2).sum(1, keepdim=True) + eps) + eps)

    x = torch.rand(B, 3, S, S, dtype=torch.float64)
    p = (x + 0.2 * torch.randn_like(x)).clamp(0, 1).requires_grad_(True)
    with torch.no_grad():
        target = after_pools(x)
    loss = sum(w * (1 - (normalize_channel(a) * normalize_channel(b)).sum(1)).mean()
               for w, a, b in zip((10, 10, 10, 10, 2), after_pools(p), target))
    loss.backward()
    exp = {"x": x, "p": p.detach(), "loss": loss.detach(), "grad.p": p.grad}
    write_safetensors(os.path.join(OUT, "ssr_perceptual_expected.safetensors"),
                      {k: v.to(torch.float32) for k, v in exp.items()})


def keras_out(dec, y):
    keras = tw.Decoder(V, S, channels=16, groups=8, block="keras").double()
    keras.load_state_dict(dec.state_dict())
    with torch.no_grad():
        return keras(y)




def write_mom2():
    torch.manual_seed(20)
    n_vox, dd = 5, 6
    w = torch.randn(n_vox, dd, dd, dtype=torch.float64)
    w[2] = 0.0  # an all-zero voxel: 0, not NaN
    w.requires_grad_(True)
    xx, yy = (g.to(torch.float64) for g in torch.meshgrid(torch.arange(dd), torch.arange(dd), indexing="ij"))
    p = w ** 2
    m00 = p.sum((1, 2)).clamp(min=1e-12)
    m10 = (xx * p).sum((1, 2))
    m01 = (yy * p).sum((1, 2))
    m02 = ((yy - (m01 / m00).view(-1, 1, 1)) ** 2 * p).sum((1, 2))
    m20 = ((xx - (m10 / m00).view(-1, 1, 1)) ** 2 * p).sum((1, 2))
    term = (m02 + m20).sum() / (2 * dd * n_vox)
    term.backward()
    write_safetensors(os.path.join(OUT, "ssr_mom2_expected.safetensors"),
                      {"w": w.detach().float(), "term": term.detach().float(), "grad.w": w.grad.float()})


def write_random_crop():
    torch.manual_seed(21)
    x = torch.rand(2, 3, 8, 8)
    p, offsets = 2, [(0, 4), (3, 1)]
    padded = torch.nn.functional.pad(x, [p] * 4, mode="replicate")
    crops = torch.stack([padded[b, :, i:i + 8, j:j + 8] for b, (i, j) in enumerate(offsets)])
    write_safetensors(os.path.join(OUT, "ssr_random_crop_expected.safetensors"),
                      {"x": x, "crops": crops, "offsets": torch.tensor(offsets, dtype=torch.int64)})


if __name__ == "__main__":
    main()
