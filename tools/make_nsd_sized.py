#!/usr/bin/env python3
"""Writes a synthetic NSD-sized subject in the release's layout (for measuring `vox2pix convert nsd` and one
epoch of training at NSD's real size; not committed):

  OUT/nsddata/experiments/nsd/nsd_expdesign.mat
      masterordering 1 x 30000 (each of the subject's 10,000 images 3 times, in random order), subjectim 8 x 10000
      (the first 1,000 = sharedix, ascending, then 9,000 own images), sharedix 1 x 1000 — NSD's real sizes
  OUT/nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR/betas_sessionSS.hdf5, SS = 1..SESSIONS
      `betas` int16 (750, Z, Y, X), chunked one voxel's 750 trials per chunk, uncompressed — NSD's layout
  OUT/nsddata/ppdata/subj01/func1pt8mm/roi/nsdgeneral.nii.gz   with exactly 15,724 voxels (subject 1's count)
  OUT/nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5   `imgBrick` uint8 (N, 425, 425, 3): only the first N ids
      (the subject's images and some more for an unpaired pool), not all 73,000 (39.6 GB)

The volume is smaller than subject 1's 81 x 104 x 83 (30 x 28 x 26), so a session file is ~33 MB instead of ~1 GB;
the voxel, trial and image counts are NSD's. Betas carry a weak linear signal of the image's mean colour so
training has something to find. Images are smooth random colour fields.

Run: python3 tools/make_nsd_sized.py OUT [SESSIONS=37] [BRICK=12000]   (needs numpy, scipy, h5py, nibabel)
"""
import os
import sys

import h5py
import nibabel as nib
import numpy as np
import scipy.io as sio

X, Y, Z = 30, 28, 26
N_VOX, PER, N_SUBJ_IMAGES, N_SHARED = 15724, 750, 10000, 1000


def main():
    out = sys.argv[1]
    sessions = int(sys.argv[2]) if len(sys.argv) > 2 else 37
    n_brick = int(sys.argv[3]) if len(sys.argv) > 3 else 12000
    rng = np.random.default_rng(0)
    d = lambda *p: os.makedirs(os.path.join(out, *p), exist_ok=True) or os.path.join(out, *p)

    shared = np.sort(rng.choice(n_brick, N_SHARED, replace=False))
    others = np.setdiff1d(np.arange(n_brick), shared)
    subjectim = np.zeros((8, N_SUBJ_IMAGES))
    for s in range(8):
        subjectim[s] = np.concatenate([shared, rng.choice(others, N_SUBJ_IMAGES - N_SHARED, replace=False)]) + 1
    order = np.repeat(np.arange(N_SUBJ_IMAGES), 3)
    rng.shuffle(order)
    sio.savemat(os.path.join(d("nsddata/experiments/nsd"), "nsd_expdesign.mat"),
                {"masterordering": (order + 1.0)[None, :], "subjectim": subjectim, "sharedix": (shared + 1.0)[None, :]},
                do_compression=True)

    mask = np.full(X * Y * Z, -1, dtype=np.int16)
    mask[rng.choice(X * Y * Z, N_VOX, replace=False)] = 1
    mask = mask.reshape(X, Y, Z)
    nib.save(nib.Nifti1Image(mask, np.eye(4)), os.path.join(d("nsddata/ppdata/subj01/func1pt8mm/roi"), "nsdgeneral.nii.gz"))

    # Images: smooth colour fields (a few low-frequency cosines per channel), written in blocks.
    yy, xx = np.mgrid[0:425, 0:425] / 425.0
    colour = np.zeros((n_brick, 3), dtype=np.float32)
    with h5py.File(os.path.join(d("nsddata_stimuli/stimuli/nsd"), "nsd_stimuli.hdf5"), "w") as f:
        brick = f.create_dataset("imgBrick", shape=(n_brick, 425, 425, 3), dtype=np.uint8, chunks=(1, 425, 425, 3))
        for start in range(0, n_brick, 500):
            n = min(500, n_brick - start)
            block = np.empty((n, 425, 425, 3), dtype=np.uint8)
            for i in range(n):
                a = rng.uniform(0.2, 0.8, 3)
                fx, fy, ph = rng.uniform(0.5, 3, (2, 3)), rng.uniform(0.5, 3, 3), rng.uniform(0, 6.3, 3)
                img = a + 0.2 * np.cos(2 * np.pi * (fx[0] * xx[..., None] + fy * yy[..., None]) + ph)
                block[i] = np.clip(img * 255, 0, 255).astype(np.uint8)
                colour[start + i] = a
            brick[start:start + n] = block
            print(f"images {start + n}/{n_brick}", flush=True)

    vox = np.flatnonzero(mask.reshape(-1, order="F") > 0)  # x-fastest offsets of the nsdgeneral voxels
    w = rng.normal(size=(3, N_VOX)).astype(np.float32)
    bdir = d("nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR")
    for s in range(sessions):
        ids = subjectim[0, order[s * PER:(s + 1) * PER]].astype(int) - 1
        vol = np.zeros((PER, X * Y * Z), dtype=np.float32)
        vol[:, vox] = (colour[ids] - 0.5) @ w * 2 + rng.normal(size=(PER, N_VOX)).astype(np.float32)
        b = np.clip(np.round(vol * 300), -32768, 32767).astype(np.int16)
        # (trials, x-fastest volume) = (750, Z, Y, X) in C order.
        with h5py.File(os.path.join(bdir, f"betas_session{s + 1:02d}.hdf5"), "w") as f:
            f.create_dataset("betas", data=b.reshape(PER, Z, Y, X), chunks=(PER, 1, 1, 1))
        print(f"session {s + 1}/{sessions}", flush=True)


if __name__ == "__main__":
    main()
