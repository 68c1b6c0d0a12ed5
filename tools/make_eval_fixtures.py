#!/usr/bin/env python3
"""Reference fixtures for the eval metrics (tests/eval_*.rs), from independent implementations.

* pearson_trials.npz - NumPy: np.corrcoef correlation matrices; identification / classification trials on
  candidate sets drawn here by NumPy (ranks by argsort position), exact expected accuracies with math.comb.
* encoder.npz        - NumPy: per-voxel r, per-ROI mean/median/75th/90th percentile, r / sqrt(NC/100), and the
  branch-weight summary (mean of |w| / sum |w| per depth, argmax histogram).
* ssim.npz           - scikit-image structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1) on skimage.color.rgb2gray images; PixCorr by np.corrcoef.
* lpips.npz          - the `lpips` package (uncalibrated: lpips=False, v0.1 scaling layer, normalize=True for
  [0, 1] inputs) with its VGG16 trunk replaced by a narrow random VGG16-shaped network (same 13 convs, 5 taps,
  4/8/8/16/16 channels) whose weights are saved here so that the Rust test runs the same backbone.

Run:  python3 -m pip install --target ~/.cache/vox2pix/tools scikit-image lpips tqdm (+ torchvision, --no-deps)
      PYTHONPATH=$VOX2PIX_TORCH_DIR:~/.cache/vox2pix/tools python3 tools/make_eval_fixtures.py
"""
import math
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "eval")
TRIALS = 30


def corr_block(a, b):
    """r[i, j] = corr(a_i, b_j) from np.corrcoef of the stacked rows."""
    return np.corrcoef(np.vstack([a, b]))[: len(a), len(a):]


def exact_topk(pool, better, n_draw, k):
    """P(fewer than k of the n_draw drawn pool elements beat the truth), by counting subsets."""
    total = math.comb(pool, n_draw)
    return sum(math.comb(better, r) * math.comb(pool - better, n_draw - r) for r in range(min(k, better + 1))) / total


def rank_by_sort(dist_row, truth, distractors):
    """Position of the truth after a stable sort of [distractors..., truth] (ties put the truth last)."""
    cands = np.concatenate([distractors, [truth]])
    order = np.argsort(dist_row[cands], kind="stable")
    return int(np.nonzero(cands[order] == truth)[0][0])


def trials_fixture(rng, prefix, dist, truth, pool_of, ns, ks, out):
    out[prefix + "dist"] = dist
    out[prefix + "truth"] = np.asarray(truth, dtype=np.int64)
    for n in ns:
        cands = np.zeros((len(truth), TRIALS, n - 1), dtype=np.int64)
        ranks = np.zeros((len(truth), TRIALS), dtype=np.int64)
        exact = np.zeros((len(truth), len(ks)))
        for i, t in enumerate(truth):
            pool = np.array([c for c in pool_of(i) if c != t])
            better = int((dist[i, pool] <= dist[i, t]).sum())
            for j, k in enumerate(ks):
                exact[i, j] = exact_topk(len(pool), better, n - 1, k)
            for tr in range(TRIALS):
                cands[i, tr] = rng.choice(pool, size=n - 1, replace=False)
                ranks[i, tr] = rank_by_sort(dist[i], t, cands[i, tr])
        out[f"{prefix}cands_{n}"] = cands
        out[f"{prefix}ranks_{n}"] = ranks
        out[f"{prefix}exact_{n}"] = exact
        for j, k in enumerate(ks):
            out[f"{prefix}acc_top{k}_{n}"] = (ranks < k).mean(axis=1)
        out[f"{prefix}rankscore_{n}"] = (ranks / (n - 1)).mean(axis=1)


def make_pearson_trials():
    rng = np.random.default_rng(5)
    out = {}
    a = rng.normal(size=(6, 40))
    b = rng.normal(size=(9, 40)) + 0.6 * np.vstack([a, a[:3]])
    out["a"], out["b"] = a, b
    out["corr"] = corr_block(a, b)
    out["row_corr"] = np.array([np.corrcoef(a[i], b[i])[0, 1] for i in range(6)])
    # per column (voxel): 40 columns over 6 samples
    out["col_corr"] = np.array([np.corrcoef(a[:, v], b[:6, v])[0, 1] for v in range(40)])

    # Identification: 8 reconstructions vs 30 candidates (8 test GT + 22 external); continuous distances.
    feats_gt = rng.normal(size=(30, 50))
    recon = feats_gt[:8] + rng.normal(scale=4.0, size=(8, 50))
    ident = 1.0 - corr_block(recon, feats_gt)
    trials_fixture(rng, "test_", ident[:, :8].copy(), range(8), lambda i: range(8), [2, 5], [1], out)
    trials_fixture(rng, "ext_", ident, range(8), lambda i: range(8, 30), [2, 5, 10], [1], out)

    # Classification: 7 embeddings vs 40 prototypes, true classes scattered.
    protos = rng.normal(size=(40, 64))
    truth = [3, 0, 17, 39, 22, 8, 30]
    emb = protos[truth] + rng.normal(scale=5.0, size=(7, 64))
    out["cls_emb"], out["cls_protos"] = emb, protos
    cls = 1.0 - corr_block(emb, protos)
    trials_fixture(rng, "cls_", cls, truth, lambda i: range(40), [10, 40], [1, 5], out)
    return out


def make_ssim():
    from skimage.color import rgb2gray
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(11)
    base = rng.uniform(size=(4, 24, 28, 3))
    # smooth structure plus noise at different levels, clipped to [0, 1]
    yy, xx = np.mgrid[0:24, 0:28]
    pattern = 0.5 + 0.4 * np.sin(xx / 3.0)[..., None] * np.cos(yy / 4.0)[..., None]
    gt = np.clip(0.5 * base + 0.5 * pattern, 0, 1)
    recon = np.clip(gt + rng.normal(scale=[[[[s]]] for s in (0.02, 0.1, 0.3, 0.6)], size=gt.shape), 0, 1)
    ssim = [structural_similarity(rgb2gray(gt[i]), rgb2gray(recon[i]), gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False, data_range=1.0) for i in range(4)]
    pixcorr = [np.corrcoef(gt[i].ravel(), recon[i].ravel())[0, 1] for i in range(4)]
    return {
        "gt": gt.transpose(0, 3, 1, 2).copy(),  # NCHW for the Rust side
        "recon": recon.transpose(0, 3, 1, 2).copy(),
        "ssim": np.array(ssim),
        "pixcorr": np.array(pixcorr),
    }


def make_encoder():
    """Per-voxel r, per-ROI percentiles (np.percentile, linear), NC-normalised r, branch-weight summaries."""
    rng = np.random.default_rng(17)
    n, v = 12, 30
    meas = rng.normal(size=(n, v))
    pred = meas * rng.uniform(0, 2, size=v) + rng.normal(size=(n, v))
    nc = rng.uniform(5, 90, size=v)
    nc[[2, 7]] = 0.0  # no ceiling: excluded from the normalised summaries
    rois = {"A": np.arange(v) < 18, "B": (np.arange(v) % 3) == 0}
    r = np.array([np.corrcoef(pred[:, i], meas[:, i])[0, 1] for i in range(v)])
    out = {"pred": pred, "meas": meas, "nc": nc.astype(np.float32), "r": r}
    for name, mask in rois.items():
        out["mask_" + name] = mask
        rn = r[mask & (nc > 0)] / np.sqrt(nc[mask & (nc > 0)].astype(np.float32).astype(np.float64) / 100)
        for key, vals in (("r", r[mask]), ("rnc", rn)):
            out[f"{key}_{name}"] = np.array([vals.mean(), np.median(vals), np.percentile(vals, 75), np.percentile(vals, 90)])
    w = rng.normal(size=(v, 4))
    w[4] = 0.0  # a voxel with no weight: skipped
    out["branch"] = w
    for name, mask in rois.items():
        a = np.abs(w[mask])
        keep = a.sum(axis=1) > 0
        norm = a[keep] / a[keep].sum(axis=1, keepdims=True)
        out["bw_mean_" + name] = norm.mean(axis=0)
        out["bw_hist_" + name] = np.bincount(np.argmax(a[keep], axis=1), minlength=4).astype(np.int64)
    return out


SLICES = [2, 2, 3, 3, 3]
WIDTHS = [4, 8, 8, 16, 16]


class NarrowVgg(torch.nn.Module):
    """VGG16 layout (conv3x3 + ReLU, 2x2 max-pool between slices), narrow channels; returns the 5 LPIPS taps."""

    def __init__(self):
        super().__init__()
        convs, c_in = [], 3
        for n, w in zip(SLICES, WIDTHS):
            for _ in range(n):
                convs.append(torch.nn.Conv2d(c_in, w, 3, padding=1))
                c_in = w
        self.convs = torch.nn.ModuleList(convs)

    def forward(self, x):
        taps, i = [], 0
        for s, n in enumerate(SLICES):
            if s > 0:
                x = torch.nn.functional.max_pool2d(x, 2, 2)
            for _ in range(n):
                x = torch.relu(self.convs[i](x))
                i += 1
            taps.append(x)
        return taps


def make_lpips():
    import lpips

    torch.manual_seed(2)
    net = NarrowVgg()
    with torch.no_grad():  # He-style scale so that the taps stay informative through 13 random layers
        for conv in net.convs:
            conv.weight.normal_(0.0, math.sqrt(2.0 / (9 * conv.in_channels)))
            conv.bias.uniform_(-0.05, 0.05)
    weights = {}
    for i, conv in enumerate(net.convs):  # stored as f32; the reference runs in f64 on exactly these values
        weights[f"conv{i:02d}_w"] = conv.weight.detach().numpy().copy()
        weights[f"conv{i:02d}_b"] = conv.bias.detach().numpy().copy()
    net = net.double()
    model = lpips.LPIPS(net="vgg", lpips=False, pretrained=False, pnet_rand=True, verbose=False)
    model.net = net  # the package's distance code, our backbone
    model = model.double().eval()
    # The package keeps the v0.1 shift/scale as float32 buffers; restore the exact decimals so that the f64
    # comparison is limited by arithmetic, not by the constants' storage (they differ by ~3e-8 relative).
    model.scaling_layer.shift.copy_(torch.tensor([-.030, -.088, -.188], dtype=torch.float64).view(1, 3, 1, 1))
    model.scaling_layer.scale.copy_(torch.tensor([.458, .448, .450], dtype=torch.float64).view(1, 3, 1, 1))
    rng = np.random.default_rng(3)
    imgs = rng.uniform(size=(6, 3, 32, 32)).astype(np.float32)
    imgs[1] = np.clip(imgs[0] + 0.05 * rng.normal(size=imgs[0].shape), 0, 1).astype(np.float32)  # near-duplicate
    x = torch.from_numpy(imgs.astype(np.float64))
    d = np.zeros((6, 6))
    with torch.no_grad():
        for i in range(6):
            d[i] = model(x[i: i + 1].expand(6, -1, -1, -1), x, normalize=True).flatten().numpy()
    out = {"images": imgs, "dist": d, **weights}
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, make in [("pearson_trials", make_pearson_trials), ("encoder", make_encoder), ("ssim", make_ssim), ("lpips", make_lpips)]:
        arrays = make()
        path = os.path.join(OUT, name + ".npz")
        np.savez(path, **arrays)
        print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
