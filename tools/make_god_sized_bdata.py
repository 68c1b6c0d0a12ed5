#!/usr/bin/env python3
"""Writes a GOD-sized BData file (3,450 samples × 5,004 f64 columns, ~138 MB, bdpy layout via h5py) and, with
--images, 1,250 random-noise 500×375 JPEG stimuli, for timing `vox2pix info` / `convert god` (docs/real-data.md §6).

    PYTHONPATH=$VOX2PIX_TORCH_DIR:~/.cache/vox2pix/tools python3 tools/make_god_sized_bdata.py OUT_DIR [--images]
"""
import os
import sys

import h5py
import numpy as np


def main(out, images):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    n_vox = 5000
    rows = [(1, 1 + k // 50, 1 + k % 50, 1000000 + k // 8 + (k % 8 + 1) * 1e-3) for k in range(1200)]
    for run in range(35):
        for i in rng.permutation(50):
            rows.append((2, 1 + run, 1 + i, 2000000 + i + 1e-6 * (i + 1)))
    rows += [(3, 1 + k // 25, 1 + k % 25, 2000000 + k % 50 + 1e-6 * (k % 50 + 1)) for k in range(500)]
    labels = np.array(rows)
    data = np.hstack([rng.normal(size=(len(rows), n_vox)), labels])
    keys = ["VoxelData", "DataType", "Run", "Block", "stimulus_id", "ROI_V1", "ROI_VC"]
    values = np.full((len(keys), data.shape[1]), np.nan)
    values[0, :n_vox] = 1
    for i in range(4):
        values[1 + i, n_vox + i] = 1
    values[5, :n_vox] = 0
    values[5, :800] = 1
    values[6, :n_vox] = 0
    values[6, :4600] = 1
    with h5py.File(os.path.join(out, "Subject9.h5"), "w") as f:
        f.create_dataset("/dataset", data=data)
        f.create_dataset("/metadata/key", data=[k.encode() for k in keys])
        f.create_dataset("/metadata/description", data=[k.encode() for k in keys])
        f.create_dataset("/metadata/value", data=values)
    if images:
        from PIL import Image
        stim = os.path.join(out, "stimuli")
        os.makedirs(stim, exist_ok=True)
        base = (rng.random((375, 500, 3)) * 255).astype(np.uint8)
        for sid in sorted(set(labels[labels[:, 0] < 3, 3].tolist())):
            wnid = int(sid)
            img = int(round((sid - wnid) * 1e6))
            Image.fromarray(np.roll(base, img % 97, axis=1)).save(os.path.join(stim, f"n{wnid:08d}_{img}.JPEG"), quality=90)
    print(f"wrote {out}/Subject9.h5 {data.shape}")


if __name__ == "__main__":
    main(sys.argv[1], "--images" in sys.argv[2:])
