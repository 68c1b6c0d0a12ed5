#!/usr/bin/env python3
"""Each variant's level of each headline metric in a `vox2pix study` folder, with a 95 % hierarchical bootstrap
interval over decoder seeds and test images (seeds resampled, then one draw of the test images shared by the
drawn seeds, as `vox2pix study` does for differences). Prints a markdown table per world.

Usage: python3 tools/study_levels.py runs/study [--resamples 10000]   (NumPy only)"""
import argparse
import csv
import pathlib

import numpy as np

HEADLINE = [
    ("identification_perceptual_test_50way", "50-way identification, perceptual (%)", 100),
    ("identification_pixel_correlation_test_50way", "50-way identification, pixel corr. (%)", 100),
    ("classification_100way_top1", "100-way classification top-1 (%)", 100),
    ("classification_1000way_top1", "1000-way classification top-1 (%)", 100),
    ("classification_1000way_top5", "1000-way classification top-5 (%)", 100),
    ("pixcorr", "PixCorr", 1),
    ("ssim", "SSIM", 1),
]


def table(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0] if k != "image"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("study")
    ap.add_argument("--resamples", type=int, default=10000)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    root = pathlib.Path(a.study)
    for world in sorted(root.glob("world-*")):
        seeds = sorted(world.glob("seed-*"), key=lambda p: int(p.name.split("-")[1]))
        variants = sorted({v.name for s in seeds for v in s.iterdir() if (v / "metrics_per_image.csv").exists()})
        print(f"\n{world.name}: {len(seeds)} decoder seeds\n")
        print("| metric | " + " | ".join(f"{v}: mean [95 % CI] (per-seed range)" for v in variants) + " |")
        print("|---|" + "---|" * len(variants))
        tabs = {(s.name, v): table(s / v / "metrics_per_image.csv") for s in seeds for v in variants
                if (s / v / "metrics_per_image.csv").exists()}
        for metric, label, scale in HEADLINE:
            cells = []
            for v in variants:
                m = np.array([tabs[(s.name, v)][metric] for s in seeds if (s.name, v) in tabs])  # [S, N]
                if m.size == 0:
                    cells.append("—")
                    continue
                S, N = m.shape
                si = rng.integers(0, S, size=(a.resamples, S))
                ii = rng.integers(0, N, size=(a.resamples, N))
                boot = np.array([m[si[b]][:, ii[b]].mean() for b in range(a.resamples)])
                lo, hi = np.percentile(boot, [2.5, 97.5])
                per_seed = m.mean(1) * scale
                cells.append(f"{m.mean() * scale:.2f} [{lo * scale:.2f}, {hi * scale:.2f}] "
                             f"({per_seed.min():.2f}–{per_seed.max():.2f})")
            print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
