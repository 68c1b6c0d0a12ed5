#!/usr/bin/env python3
"""Counts the parameters of SelfSuperReconst's own E and D by importing its code, and writes their names and shapes
to tests/fixtures/nn/ssr_reference_shapes.json (run from the repository root):

    git -C SSR_CHECKOUT archive HEAD self_super_reconst | tar -x -C /tmp/ssr
    PYTHONPATH=$VOX2PIX_TORCH_DIR:TOOLS_DIR python3 tools/count_ssr_params.py --ssr /tmp/ssr

TOOLS_DIR holds torchvision 0.26 (+ pillow), numpy and absl-py (`pip install --no-deps --target TOOLS_DIR ...`).
The models are SSR's `SeparableEncoderVGG19ml(5355, 3)` (`utils/models.py`, the `--separable 1` encoder of
scripts/train_enc_rgb.sh; subject 3's VC has 5,355 voxels) and `BaseDecoder(5355, 112, start_CHW=(64, 14, 14),
n_conv_layers_ramp=3, n_chan=64)` (train_decoder.py), built by SSR's own classes. Imports SSR needs only for
training, plotting or logging (matplotlib, seaborn, tensorboardX, ...) are replaced by empty stand-ins, and
`pretrainedmodels.vgg19` by torchvision's `vgg19` under its `_features` name: neither changes a layer of E or D.
Nothing of SSR is copied into vox2pix; the JSON holds names and shapes only.
"""
import argparse
import importlib.abc
import importlib.machinery
import json
import os
import sys
import types

STUBBED = ("matplotlib", "seaborn", "tensorboardX", "natsort", "termcolor", "pandas", "pretrainedmodels", "scipy",
           "cv2", "timm", "h5py", "sklearn", "tqdm", "imageio", "skimage")


class _Anything(types.ModuleType):
    def __getattr__(self, k):
        if k.startswith("__"):
            raise AttributeError(k)
        if k[0].isupper():  # a class SSR may subclass
            return type(k, (object,), {"__init__": lambda s, *a, **kw: None})
        return _Anything(self.__name__ + "." + k)

    def __call__(self, *a, **kw):
        return _Anything("call")


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in STUBBED:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return _Anything(spec.name)

    def exec_module(self, m):
        m.__path__ = []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ssr", required=True, help="folder holding SSR's self_super_reconst package")
    ap.add_argument("--voxels", type=int, default=5355)
    ap.add_argument("--out", default=os.path.join("tests", "fixtures", "nn", "ssr_reference_shapes.json"))
    a = ap.parse_args()
    sys.meta_path.insert(0, _StubFinder())
    sys.path.insert(0, a.ssr)
    import torch
    import torchvision
    import self_super_reconst.utils.models as M
    import self_super_reconst.config_dec  # noqa: F401  defines the decoder flags (interp_mode)

    class PmVgg19(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self._features = torchvision.models.vgg19().features

    M.pm = types.SimpleNamespace(vgg19=lambda num_classes, pretrained: PmVgg19())
    M.FLAGS(["count_ssr_params"])
    enc = M.SeparableEncoderVGG19ml(a.voxels, 3, drop_rate=0.5)
    trainable = {id(p) for m in enc.trainable for p in (m.parameters() if isinstance(m, torch.nn.Module) else [m])}
    e = {n: list(p.shape) for n, p in enc.named_parameters() if id(p) in trainable}
    e_buffers = {n: list(b.shape) for n, b in enc.named_buffers()
                 if not n.startswith("multi_branch_bbn") and not n.endswith("num_batches_tracked")}
    bbn = {n: list(p.shape) for n, p in enc.multi_branch_bbn.named_parameters()}
    dec = M.BaseDecoder(a.voxels, 112, start_CHW=(64, 14, 14), n_conv_layers_ramp=3, n_chan=64)
    d = {n: list(p.shape) for n, p in dec.named_parameters()}
    out = {"voxels": a.voxels, "image_size": 112, "encoder": e, "encoder_buffers": e_buffers,
           "encoder_backbone": bbn, "decoder": d}
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    count = lambda m: sum(int(torch.tensor(s).prod()) for s in m.values())  # noqa: E731
    print(f"E trainable {count(e):,} (+ {count(e_buffers):,} BN statistics), E backbone {count(bbn):,}, "
          f"D {count(d):,} -> {a.out}")


if __name__ == "__main__":
    main()
