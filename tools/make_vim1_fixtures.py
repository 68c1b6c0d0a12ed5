#!/usr/bin/env python3
"""Writes tests/fixtures/vim1/: small files in the layout of the CRCNS vim-1 release, and what a correct
conversion must give, computed here with NumPy independently of vox2pix.

The real release (Kay et al. 2008) has:
  EstimatedResponses.mat  MATLAB v7.3 = HDF5 behind a 512-byte user block; h5py sees dataTrnS1 as
                          (1750, 25915) float (images x voxels; MATLAB voxels x images), dataValS1 (120, 25915),
                          roiS1 / voxIdxS1 as (1, 25915); some voxels hold NaN; ROI codes 0 other, 1 V1, 2 V2,
                          3 V3, 4 V3A, 5 V3B, 6 V4, 7 lateral occipital. The same for S2.
  Stimuli.mat             MATLAB v5/v7 (scipy.io.loadmat reads it): stimTrn (1750, 128, 128), stimVal
                          (120, 128, 128), zero-centred gray values (about -0.5 .. 0.5).
Here: 12 training and 4 validation images of 16 x 16 px, 30 voxels for S1 (two of them with a NaN) and 20 for S2.

Files:
  EstimatedResponses.mat  as above (chunked + gzip datasets, MATLAB_class attributes, the v7.3 text header)
  Stimuli.mat             v5, zlib-compressed (scipy do_compression), float32, plus a char variable
  Stimuli_v73.mat         the same stimuli re-saved as v7.3 (HDF5), which must convert identically
  Stimuli_v5_plain.mat    the same stimuli uncompressed, as float64, plus a uint8 and an int16 array
  expected.json           kept voxels, their ROI codes, responses, and the converted image bytes (16 px)

Run: python3 tools/make_vim1_fixtures.py   (needs numpy, scipy, h5py)
"""
import json
import os

import h5py
import numpy as np
import scipy.io as sio

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "vim1")
N_TRN, N_VAL, SIDE = 12, 4, 16
rng = np.random.default_rng(20260301)


def matlab_header(text):
    """The 116-byte descriptive text + 8-byte subsystem offset + version + endian mark, as MATLAB writes."""
    t = text.encode("ascii")[:116].ljust(116, b" ")
    return t + b"\x00" * 8 + b"\x00\x02" + b"IM"


def write_v73(path, arrays):
    """h5py file with MATLAB's 512-byte user block (its text header first) and MATLAB_class attributes.
    `arrays` hold NumPy arrays in MATLAB's dimension order; HDF5 stores them reversed (h5py sees the transpose)."""
    with h5py.File(path, "w", userblock_size=512, libver="earliest") as f:
        for name, a in arrays.items():
            data = np.ascontiguousarray(a.T)
            kw = {"chunks": True, "compression": "gzip", "compression_opts": 3} if data.size > 64 else {}
            d = f.create_dataset(name, data=data, **kw)
            cls = {np.float64: "double", np.float32: "single", np.uint8: "uint8"}[a.dtype.type]
            d.attrs["MATLAB_class"] = np.bytes_(cls)
    with open(path, "r+b") as fh:
        fh.write(matlab_header("MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Mar  1 00:00:00 2026 HDF5 schema 1.00 ."))


def main():
    os.makedirs(OUT, exist_ok=True)
    # Stimuli: smooth-ish zero-centred gray images; a few values just outside [-0.5, 0.5] as in the release.
    stim = rng.normal(0.0, 0.18, size=(N_TRN + N_VAL, SIDE, SIDE)).astype(np.float32)
    stim = np.clip(stim, -0.53, 0.52).astype(np.float32)
    stim[0, 0, 0], stim[1, 0, 1] = -0.53, 0.52
    stim_trn, stim_val = stim[:N_TRN], stim[N_TRN:]
    sio.savemat(os.path.join(OUT, "Stimuli.mat"), {"stimTrn": stim_trn, "stimVal": stim_val, "note": "vim-1 fixture"},
                do_compression=True, format="5")
    sio.savemat(os.path.join(OUT, "Stimuli_v5_plain.mat"),
                {"stimTrn": stim_trn.astype(np.float64), "stimVal": stim_val.astype(np.float64),
                 "u8": np.arange(6, dtype=np.uint8).reshape(2, 3), "i16": np.array([[-3, 7]], dtype=np.int16)},
                do_compression=False, format="5")
    write_v73(os.path.join(OUT, "Stimuli_v73.mat"), {"stimTrn": stim_trn, "stimVal": stim_val})

    subjects = {}
    arrays = {}
    for s, n_vox in [(1, 30), (2, 20)]:
        roi = np.array([(v % 8) for v in range(n_vox)], dtype=np.float64)  # codes 0..7, each present
        trn = rng.normal(size=(n_vox, N_TRN)).astype(np.float32)  # MATLAB: voxels x images
        val = rng.normal(size=(n_vox, N_VAL)).astype(np.float32)
        if s == 1:
            trn[3, 5] = np.nan  # voxel 3 (V3) has a NaN in training
            val[9, 2] = np.nan  # voxel 9 (V1) has a NaN in validation
            trn[8, 0] = np.nan  # voxel 8 (code 0, not in any ROI) also: dropped only with --voxels all
        arrays[f"dataTrnS{s}"] = trn
        arrays[f"dataValS{s}"] = val
        arrays[f"roiS{s}"] = roi.reshape(n_vox, 1)  # MATLAB column; h5py sees (1, V)
        arrays[f"voxIdxS{s}"] = (np.arange(n_vox, dtype=np.float64) * 7 + 1).reshape(n_vox, 1)
        finite = np.isfinite(trn).all(axis=1) & np.isfinite(val).all(axis=1)
        out = {}
        for sel in ["vc", "all"]:
            chosen = (roi > 0) if sel == "vc" else np.ones(n_vox, bool)
            kept = np.nonzero(chosen & finite)[0]
            out[sel] = {
                "kept": kept.tolist(),
                "roi": roi[kept].astype(int).tolist(),
                "dropped_nan": int((chosen & ~finite).sum()),
                # [images, voxels] as the dataset stores them
                "y_train": trn[kept].T.astype(np.float64).tolist(),
                "y_test": val[kept].T.astype(np.float64).tolist(),
            }
        subjects[str(s)] = out
    write_v73(os.path.join(OUT, "EstimatedResponses.mat"), arrays)

    def to_bytes(a):
        x = np.floor((a.astype(np.float64) + 0.5) * 255.0 + 0.5)  # round half up, as f64::round for x >= 0
        return np.clip(x, 0, 255).astype(np.uint8)

    expected = {
        "n_train_images": N_TRN,
        "n_test_images": N_VAL,
        "side": SIDE,
        "pixel_min": float(stim.min()),
        "pixel_max": float(stim.max()),
        "clipped": int(((np.floor((stim.astype(np.float64) + 0.5) * 255 + 0.5) < 0)
                        | (np.floor((stim.astype(np.float64) + 0.5) * 255 + 0.5) > 255)).sum()),
        "train_bytes": to_bytes(stim_trn).reshape(N_TRN, -1).tolist(),
        "test_bytes": to_bytes(stim_val).reshape(N_VAL, -1).tolist(),
        "subjects": subjects,
        "u8": np.arange(6, dtype=np.uint8).reshape(2, 3).flatten(order="F").tolist(),
        "i16": [-3, 7],
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f)
    print("wrote", os.path.abspath(OUT))


if __name__ == "__main__":
    main()
