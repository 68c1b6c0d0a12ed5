#!/usr/bin/env python3
"""Writes the NumPy reference fixtures under tests/fixtures/npz/ (run from the repository root):

    PYTHONPATH=$VOX2PIX_TORCH_DIR python3 tools/make_npz_fixtures.py

* dtypes_savez.npz / dtypes_savez_compressed.npz: one array per supported dtype and layout (C and Fortran order,
  big-endian, 0-d), written by np.savez and np.savez_compressed; dtypes.json lists every array's dtype, shape
  and C-order values, so the Rust reader is checked against NumPy's own view of the data.
* sbj_dataset/: a SelfSuperReconst-shaped folder (sbj_3.npz with arr_0..arr_6 and bool ROI masks, images_8.npz
  with float64 images in [0, 1]) plus sbj_dataset.json with the expected values.
* preprocess.npz: raw responses with run ids and test labels (with a NaN, a run-constant voxel and unequal
  repeat counts) and the expected outputs of per-run z-scoring, repeat averaging, calc_snr, ncsnr and NC(n),
  computed here with vectorised NumPy, independently of the Rust code.

Deterministic (fixed seed); the files are small (< 200 KB together).
"""
import json
import os

import numpy as np

OUT = os.path.join("tests", "fixtures", "npz")


def dtype_arrays():
    return {
        "f4_c": (np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5 - 1.0),
        "f8_c": np.linspace(-1.0, 1.0, 10).reshape(2, 5),
        "i8": np.array([-3, 0, 7, 2**40], dtype=np.int64),
        "i4": np.array([-2147483648, -1, 0, 2147483647], dtype=np.int32),
        "b1": np.array([True, False, False, True, True]),
        "u1": np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10,
        "f2": np.array([1.0, -2.5, 65504.0, 0.0009765625], dtype=np.float16),
        "f4_fortran": np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4) * 0.25),
        "i8_fortran3": np.asfortranarray(np.arange(24, dtype=np.int64).reshape(2, 3, 4)),
        "b1_fortran": np.asfortranarray(np.array([[True, False, True], [False, False, True]])),
        "f8_big": (np.arange(6).reshape(2, 3) / 8.0).astype(">f8"),
        "i4_big": np.array([1, -2, 300000], dtype=">i4"),
        "scalar_f8": np.array(3.25),
        "empty_f4": np.zeros((0, 3), dtype=np.float32),
    }


def sidecar_entry(a):
    values = a.ravel(order="C").tolist()
    return {"dtype": a.dtype.str, "fortran_order": bool(a.flags.f_contiguous and not a.flags.c_contiguous),
            "shape": list(a.shape), "values": values}


def write_dtypes():
    arrays = dtype_arrays()
    np.savez(os.path.join(OUT, "dtypes_savez.npz"), **arrays)
    np.savez_compressed(os.path.join(OUT, "dtypes_savez_compressed.npz"), **arrays)
    with open(os.path.join(OUT, "dtypes.json"), "w") as f:
        json.dump({k: sidecar_entry(v) for k, v in arrays.items()}, f, indent=1)


def write_sbj_dataset(rng):
    d = os.path.join(OUT, "sbj_dataset")
    os.makedirs(d, exist_ok=True)
    n_train_images, n_test_images, reps, v, size = 4, 3, 4, 12, 8
    y_train = rng.standard_normal((8, v)).astype(np.float32)
    train_labels = np.array([0, 1, 2, 3, 3, 2, 1, 0], dtype=np.int64)
    test_labels = np.tile(np.arange(n_test_images, dtype=np.int64), reps)
    y_test = rng.standard_normal((n_test_images * reps, v)).astype(np.float32)
    y_test_avg = np.stack([y_test[test_labels == i].mean(0) for i in range(n_test_images)]).astype(np.float32)
    nc = rng.uniform(0, 100, v).astype(np.float32)
    snr = rng.uniform(0, 2, v).astype(np.float32)
    idx = np.arange(v)
    masks = {
        "V1": idx < 3, "V2": (idx >= 3) & (idx < 5), "V3": (idx >= 5) & (idx < 6), "V4": idx == 6,
        "LOC": idx == 7, "FFA": idx == 8, "PPA": np.zeros(v, dtype=bool), "LVC": idx < 6, "HVC": idx >= 7,
        "VC": idx < 11,
    }
    np.savez(os.path.join(d, "sbj_3.npz"), y_train, y_test, y_test_avg, train_labels, test_labels, nc, snr, **masks)
    # float64 like the upstream release; values are k/255 so they map back to exact uint8.
    train_u8 = rng.integers(0, 256, (n_train_images, size, size, 3))
    test_u8 = rng.integers(0, 256, (n_test_images, size, size, 3))
    np.savez(os.path.join(d, "images_8.npz"), train_images=train_u8 / 255.0, test_images=test_u8 / 255.0)
    expected = {
        "arr_0": y_train.ravel().tolist(), "arr_1": y_test.ravel().tolist(), "arr_2": y_test_avg.ravel().tolist(),
        "arr_3": train_labels.tolist(), "arr_4": test_labels.tolist(), "arr_5": nc.tolist(), "arr_6": snr.tolist(),
        "masks": {k: m.tolist() for k, m in masks.items()},
        "train_images_u8": train_u8.ravel().tolist(), "test_images_u8": test_u8.ravel().tolist(),
        "n_voxels": v, "image_size": size,
    }
    with open(os.path.join(OUT, "sbj_dataset.json"), "w") as f:
        json.dump(expected, f)


def zscore_np(y, runs):
    out = np.zeros_like(y, dtype=np.float64)
    for r in np.unique(runs):
        m = runs == r
        block = y[m].astype(np.float64)
        mu = np.nanmean(block, axis=0)
        sd = np.nanstd(block, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (block - mu) / sd
        z[:, sd == 0] = 0.0
        out[m] = np.nan_to_num(z, nan=0.0)
    return out


def calc_snr_np(y, labels, n_images):
    # SSRC Utils/gen_functions.py calc_snr: var over images of the averages / mean over test samples of the
    # within-image variance of that sample's image.
    y = y.astype(np.float64)
    avg = np.stack([y[labels == i].mean(0) for i in range(n_images)])
    sig = avg.var(axis=0)
    noise = np.mean(np.stack([y[labels == l].var(axis=0) for l in labels]), axis=0)
    return np.where(noise > 0, sig / np.where(noise > 0, noise, 1), 0.0)


def ncsnr_np(y, labels, n_images):
    y = y.astype(np.float64)
    groups = [y[labels == i] for i in range(n_images)]
    noise_var = np.mean(np.stack([g.var(axis=0, ddof=1) for g in groups if len(g) >= 2]), axis=0)
    total_var = y.var(axis=0)
    signal = np.sqrt(np.maximum(0.0, total_var - noise_var))
    return np.where(noise_var > 0, signal / np.sqrt(np.where(noise_var > 0, noise_var, 1)), 0.0)


def write_preprocess(rng):
    n_images, v = 5, 7
    # Unequal repeats: images 0..3 have 4 repeats, image 4 has 2 (calc_snr weighs by samples).
    labels = np.concatenate([np.tile(np.arange(4), 4), [4, 4]]).astype(np.int64)
    rng.shuffle(labels)
    n = len(labels)
    runs = np.repeat(np.arange(3), [6, 6, n - 12]).astype(np.int64)
    signal = rng.standard_normal((n_images, v)) * np.linspace(0.2, 2.0, v)
    offsets = rng.normal(0, 5, (3, v))
    gains = rng.uniform(0.5, 2.0, (3, 1))
    y = (signal[labels] + rng.standard_normal((n, v)) + offsets[runs]) * gains[runs]
    y = y.astype(np.float32)
    y[2, 1] = np.nan  # ignored by the run statistics, becomes 0
    y[runs == 1, 5] = 4.0  # constant voxel within run 1 → 0
    z = zscore_np(y, runs)
    z32 = z.astype(np.float32)  # the Rust code z-scores in place into f32; later stages start from that
    avg = np.stack([z32[labels == i].astype(np.float64).mean(0) for i in range(n_images)])
    snr = calc_snr_np(z32, labels, n_images)
    nc_snr = ncsnr_np(z32, labels, n_images)
    nc1 = 100 * nc_snr**2 / (nc_snr**2 + 1.0)
    nc4 = 100 * nc_snr**2 / (nc_snr**2 + 1.0 / 4)
    np.savez(os.path.join(OUT, "preprocess.npz"), y_raw=y, runs=runs, labels=labels,
             n_images=np.array(n_images, dtype=np.int64), zscored=z, avg=avg, calc_snr=snr, ncsnr=nc_snr,
             nc1=nc1, nc4=nc4)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20221)
    write_dtypes()
    write_sbj_dataset(rng)
    write_preprocess(rng)
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote fixtures under {OUT} ({total / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
