#!/usr/bin/env python3
"""Writes the BData / image / weights fixtures under tests/fixtures/bdata/ and the NumPy reference of
`vox2pix convert god` (docs/real-data.md §3), computed here independently of the Rust code.

Run (h5py, Pillow and, optionally, bdpy + scipy installed into ~/.cache/vox2pix/tools):
    PYTHONPATH=$VOX2PIX_TORCH_DIR:~/.cache/vox2pix/tools python3 tools/make_bdata_fixtures.py

Files:
  god_bdpy.h5        a GOD-like subject written by bdpy's own BData.save (h5py 3: variable-length strings,
                     `dataset`/`metadata`, `stimulus_id`); falls back to the same layout through h5py when bdpy
                     is not installed
  god_old_fixed.h5   the same numbers in the older layout: `dataSet`/`metaData`, fixed-length NUL-padded strings,
                     `Label` instead of `stimulus_id`
  god_gzip.h5        the same numbers with `/dataset` gzip + shuffle chunked, NaN stimulus ids on the imagery rows
                     and one NaN Block (neither may matter to the conversion)
  no_metadata.h5     `/dataset` only
  stimuli/           the 11 stimulus images (PNG, one JPEG), non-square so that the centre crop matters
  stimulus_train.tsv, stimulus_test.tsv   GOD-style tables (filename, stimulus_id, category, image index)
  expected_god.npz   what convert god must produce from god_bdpy.h5 + stimuli + the tables
  pool/<wnid>/       a 3-class unpaired pool tree; one class is a test class
  tiny_weights.pth, tiny_weights_legacy.pth   a model state dict in both torch.save formats (+ .sha256)
"""
import io
import os
import sys
from collections import OrderedDict

import h5py
import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "bdata")
SIZE = 112

# ROI layout over 40 voxel columns; columns 38-39 lie outside VC on purpose.
ROIS = {"V1": range(0, 6), "V2": range(6, 12), "V3": range(12, 18), "V4": range(18, 24),
        "LOC": range(24, 30), "FFA": range(30, 34), "PPA": range(34, 38)}
N_VOX = 40
TRAIN_STIM = ["n01518878_14910", "n01518878_8432", "n01639765_52902", "n01639765_48919",
              "n01645776_9743", "n01645776_12150", "n01664990_7133", "n01664990_16831"]
TEST_STIM = ["n01443537_22563", "n01677366_18182", "n01943899_24131"]
TEST_REPEATS = 4


def stim_id(name):
    wnid, img = name[1:].split("_")
    return int(wnid) + int(img) * 1e-6


def build_table(rng):
    """Rows in presentation order: train (2 runs × 4), test (4 runs × 3 images), imagery (1 run × 2)."""
    rows = []  # (datatype, run, block, stimulus name)
    order = rng.permutation(len(TRAIN_STIM))
    for k, i in enumerate(order):
        rows.append((1, 1 + k // 4, 1 + k % 4, TRAIN_STIM[i]))
    for run in range(1, TEST_REPEATS + 1):
        for b, i in enumerate(rng.permutation(len(TEST_STIM))):
            rows.append((2, run, b + 1, TEST_STIM[i]))
    rows.append((3, 1, 1, TEST_STIM[0]))
    rows.append((3, 1, 2, TEST_STIM[1]))
    n = len(rows)
    image_effect = {s: rng.normal(0, 1, N_VOX) for s in TRAIN_STIM + TEST_STIM}
    run_offset = {(dt, r): rng.normal(0, 3, N_VOX) for dt, r, _, _ in rows}
    vox = np.empty((n, N_VOX))
    for t, (dt, r, _, s) in enumerate(rows):
        vox[t] = 100 + run_offset[(dt, r)] + 2 * image_effect[s] + rng.normal(0, 1, N_VOX)
    vox[5, 3] = np.nan  # one missing value: must become 0 and not poison its run's statistics
    labels = np.array([[dt, r, b, stim_id(s)] for dt, r, b, s in rows])
    return vox, labels, rows


def metadata(n_cols):
    """(key, description, value row) in bdpy's convention: 1 marks a column, NaN = not applicable."""
    md = []

    def row(cols, fill=np.nan):
        v = np.full(n_cols, fill, dtype=np.float64)
        v[list(cols)] = 1
        return v

    md.append(("VoxelData", "1 = voxel data", row(range(N_VOX))))
    for i, key in enumerate(["DataType", "Run", "Block", "stimulus_id"]):
        md.append((key, f"1 = {key}", row([N_VOX + i])))
    vc = set()
    for name, cols in ROIS.items():
        md.append((f"ROI_{name}", f"1 = ROI {name}", row(cols, 0)))
        vc |= set(cols)
    lvc = set(ROIS["V1"]) | set(ROIS["V2"]) | set(ROIS["V3"])
    hvc = set(ROIS["LOC"]) | set(ROIS["FFA"]) | set(ROIS["PPA"])
    md.append(("ROI_LVC", "1 = ROI LVC", row(sorted(lvc), 0)))
    md.append(("ROI_HVC", "1 = ROI HVC", row(sorted(hvc), 0)))
    md.append(("ROI_VC", "1 = ROI VC", row(sorted(vc), 0)))
    for ax in "xyz":
        v = np.full(n_cols, np.nan)
        v[:N_VOX] = np.arange(N_VOX) * 3.0
        md.append((f"voxel_{ax}", f"voxel {ax} coordinate (mm)", v))
    # ROI rows are NaN on label columns, as bdpy's add_metadata(where='VoxelData') leaves them.
    for k, _, v in md:
        if k.startswith("ROI_"):
            v[N_VOX:] = np.nan
    return md


def write_bdpy(path, vox, labels):
    md = metadata(N_VOX + 4)
    try:
        from bdpy import BData
    except ImportError:
        BData = None
    if BData is not None:
        bd = BData()
        bd.add(vox, "VoxelData")
        for i, key in enumerate(["DataType", "Run", "Block", "stimulus_id"]):
            bd.add(labels[:, i:i + 1], key)
        for key, desc, v in md:
            if key in ("VoxelData", "DataType", "Run", "Block", "stimulus_id"):
                continue
            bd.add_metadata(key, v[:N_VOX], desc, where="VoxelData")
        bd.save(path)
        return "bdpy"
    with h5py.File(path, "w") as f:  # bdpy's __save_h5, spelled out
        f.create_dataset("/dataset", data=np.hstack([vox, labels]))
        f.create_group("/metadata")
        f.create_dataset("/metadata/key", data=[k.encode() for k, _, _ in md])
        f.create_dataset("/metadata/description", data=[d.encode() for _, d, _ in md])
        f.create_dataset("/metadata/value", data=np.array([v for _, _, v in md]))
    return "h5py"


def write_old_fixed(path, vox, labels):
    md = [(("Label" if k == "stimulus_id" else k), d, v) for k, d, v in metadata(N_VOX + 4)]
    with h5py.File(path, "w") as f:
        f.create_dataset("/dataSet", data=np.hstack([vox, labels]))
        f.create_group("/metaData")
        f.create_dataset("/metaData/key", data=np.array([k for k, _, _ in md], dtype="S"))
        f.create_dataset("/metaData/description", data=np.array([d for _, d, _ in md], dtype="S"))
        f.create_dataset("/metaData/value", data=np.array([v for _, _, v in md]))


def image_for(k, w, h):
    y, x = np.mgrid[0:h, 0:w].astype(float)
    r = 127 + 120 * np.sin(x / (7 + k) + k)
    g = 127 + 120 * np.cos(y / (5 + k % 3) - k)
    b = 127 + 120 * np.sin((x + y) / (11 + 2 * k))
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def write_stimuli(d):
    os.makedirs(d, exist_ok=True)
    sizes = [(140, 120), (120, 150), (130, 130)]
    for k, name in enumerate(TRAIN_STIM + TEST_STIM):
        w, h = sizes[k % 3]
        img = Image.fromarray(image_for(k, w, h))
        if k == 2:
            img.convert("L").save(os.path.join(d, name + ".png"))  # greyscale input → 3 equal channels
        elif k == 9:
            img.save(os.path.join(d, name + ".JPEG"), quality=95)
        else:
            img.save(os.path.join(d, name + ".png"))


def prepared(path):
    """docs/method.md §1.3: central square crop, bicubic resize to 112, RGB (uint8; the dataset holds /255)."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    img = img.crop((left, top, left + s, top + s)).resize((SIZE, SIZE), Image.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


def zscore_per_run(y, groups):
    out = np.zeros_like(y)
    for g in sorted(set(groups)):
        rows = np.array([i for i, k in enumerate(groups) if k == g])
        block = y[rows].astype(np.float64)
        mean = np.nanmean(block, axis=0)
        sd = np.sqrt(np.nanmean((block - mean) ** 2, axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (block - mean) / sd
        z[~np.isfinite(z)] = 0
        out[rows] = z.astype(np.float32)
    return out


def reference_convert(vox, labels, rows, stim_dir, train_order, test_order):
    """The documented convert steps, written independently of the Rust code."""
    vc = sorted(set().union(*[set(c) for c in ROIS.values()]))
    y = vox[:, vc].astype(np.float32)
    y = zscore_per_run(y, [(dt, r) for dt, r, _, _ in rows])
    out = {}
    runs = labels[:, 1].astype(np.int64)
    names = [s for _, _, _, s in rows]
    dtype = labels[:, 0]
    for split, order, key_y, key_l in [(1, train_order, "arr_0", "arr_3"), (2, test_order, "arr_1", "arr_4")]:
        idx = np.where(dtype == split)[0]
        lab = np.array([order.index(names[i]) for i in idx])
        perm = np.argsort(lab, kind="stable")
        out[key_y] = y[idx[perm]]
        out[key_l] = lab[perm].astype(np.int64)
        out["train_runs" if split == 1 else "test_runs"] = runs[idx[perm]]
    yt, lt = out["arr_1"].astype(np.float64), out["arr_4"]
    n_img = len(test_order)
    means = np.stack([yt[lt == i].mean(0) for i in range(n_img)])
    out["arr_2"] = means.astype(np.float32)
    # calc_snr: variance over images of the averages / mean over test samples of the within-image variance.
    within = np.stack([yt[lt == i].var(0) for i in range(n_img)])
    counts = np.array([(lt == i).sum() for i in range(n_img)])
    noise = (within * counts[:, None]).sum(0) / counts.sum()
    signal = means.var(0)
    out["arr_6"] = np.where(noise > 0, signal / np.where(noise > 0, noise, 1), 0).astype(np.float32)
    # Noise ceiling (NSD/GLMsingle): ncsnr = sqrt(max(0, total var − noise var)) / noise sd, NC = 100 s²/(s² + 1/n).
    noise_var = np.stack([yt[lt == i].var(0, ddof=1) for i in range(n_img)]).mean(0)
    total = yt.var(0)
    ncsnr = np.where(noise_var > 0, np.sqrt(np.maximum(0, total - noise_var)) / np.sqrt(np.where(noise_var > 0, noise_var, 1)), 0)
    n = TEST_REPEATS
    out["arr_5"] = np.where(ncsnr > 0, 100 * ncsnr**2 / (ncsnr**2 + 1.0 / n), 0).astype(np.float32)
    for name, cols in list(ROIS.items()) + [("LVC", [*ROIS["V1"], *ROIS["V2"], *ROIS["V3"]]),
                                            ("HVC", [*ROIS["LOC"], *ROIS["FFA"], *ROIS["PPA"]]), ("VC", vc)]:
        out[name] = np.isin(vc, list(cols))
    files = {os.path.splitext(f)[0]: f for f in os.listdir(stim_dir)}
    # Stored as the uint8 values PIL produces (÷255 gives the [0, 1] floats) to keep the fixture small.
    out["train_images_u8"] = np.stack([prepared(os.path.join(stim_dir, files[s])) for s in train_order])
    out["test_images_u8"] = np.stack([prepared(os.path.join(stim_dir, files[s])) for s in test_order])
    out["train_class_ids"] = np.array([int(s[1:9]) for s in train_order], dtype=np.int64)
    out["test_class_ids"] = np.array([int(s[1:9]) for s in test_order], dtype=np.int64)
    return out


def write_pool(d):
    for wnid, n in [("n01443537", 3), ("n01518878", 5), ("n09999999", 2)]:
        os.makedirs(os.path.join(d, wnid), exist_ok=True)
        for i in range(n):
            Image.fromarray(image_for(i + len(wnid), 20, 16)).save(os.path.join(d, wnid, f"{wnid}_{i}.png"))


def write_weights(path, legacy_path):
    """A model's state_dict (OrderedDict with _metadata, as torchvision saves) in both torch.save formats:
    the zip archive (PyTorch >= 1.6) and the legacy stream older torchvision files such as vgg16-397923af.pth use.
    `extra.view` shares the conv weight's storage at offset 4, so storage offsets are exercised."""
    import hashlib
    import torch
    model = torch.nn.Module()
    model.features = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 2), torch.nn.BatchNorm2d(2))
    with torch.no_grad():
        model.features[0].weight.copy_((torch.arange(24, dtype=torch.float32) * 0.5).reshape(2, 3, 2, 2))
        model.features[0].bias.copy_(torch.tensor([1.0, -2.0]))
        model.features[1].running_mean.copy_(torch.tensor([0.25, -0.75]))
        model.features[1].num_batches_tracked.fill_(7)
    sd = model.state_dict()
    sd["extra.view"] = sd["features.0.weight"].view(-1)[4:10]
    torch.save(sd, path)
    torch.save(sd, legacy_path, _use_new_zipfile_serialization=False)
    for p in [path, legacy_path]:
        with open(p, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        with open(p + ".sha256", "w") as f:
            f.write(digest + "\n")


def main():
    rng = np.random.default_rng(6)
    os.makedirs(OUT, exist_ok=True)
    vox, labels, rows = build_table(rng)
    writer = write_bdpy(os.path.join(OUT, "god_bdpy.h5"), vox, labels)
    write_old_fixed(os.path.join(OUT, "god_old_fixed.h5"), vox, labels)
    gz = np.hstack([vox, labels])
    gz[[i for i, r in enumerate(rows) if r[0] == 3], N_VOX + 3] = np.nan
    gz[0, N_VOX + 2] = np.nan
    md = metadata(N_VOX + 4)
    with h5py.File(os.path.join(OUT, "god_gzip.h5"), "w") as f:
        f.create_dataset("/dataset", data=gz, chunks=(8, 16), compression="gzip", shuffle=True)
        f.create_dataset("/metadata/key", data=[k.encode() for k, _, _ in md])
        f.create_dataset("/metadata/description", data=[d.encode() for _, d, _ in md])
        f.create_dataset("/metadata/value", data=np.array([v for _, _, v in md]))
    with h5py.File(os.path.join(OUT, "no_metadata.h5"), "w") as f:
        f.create_dataset("/dataset", data=np.hstack([vox, labels]))
    stim = os.path.join(OUT, "stimuli")
    write_stimuli(stim)
    # Table order differs from id order, so the test sees that the table is honoured.
    train_order = [TRAIN_STIM[i] for i in [3, 0, 5, 1, 7, 2, 6, 4]]
    test_order = [TEST_STIM[i] for i in [2, 0, 1]]
    for fname, order in [("stimulus_train.tsv", train_order), ("stimulus_test.tsv", test_order)]:
        with open(os.path.join(OUT, fname), "w") as f:
            for k, s in enumerate(order):
                f.write(f"{s}.JPEG\t{stim_id(s):.6f}\t{k // 2 + 1}\t{k + 1}\n")
    ref = reference_convert(vox, labels, rows, stim, train_order, test_order)
    np.savez_compressed(os.path.join(OUT, "expected_god.npz"), **ref)
    write_pool(os.path.join(OUT, "pool"))
    write_weights(os.path.join(OUT, "tiny_weights.pth"), os.path.join(OUT, "tiny_weights_legacy.pth"))
    # Cross-check the fixtures with bdpy's own reader where it is installed.
    try:
        from bdpy import BData
        for name in ["god_bdpy.h5", "god_old_fixed.h5"]:
            bd = BData(os.path.join(OUT, name))
            assert bd.select("ROI_VC").shape == (len(rows), 38), name
            assert bd.select("ROI_V1").shape[1] == 6, name
    except ImportError:
        print("bdpy not installed: fixtures not cross-checked with bdpy", file=sys.stderr)
    print(f"fixtures written to {os.path.normpath(OUT)} (god_bdpy.h5 by {writer})")


if __name__ == "__main__":
    main()
