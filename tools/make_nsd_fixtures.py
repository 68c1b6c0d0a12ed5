#!/usr/bin/env python3
"""Writes tests/fixtures/nsd/: a small subject in the layouts of NSD's release and of MindEye2's preprocessed
files, with h5py / nibabel / scipy as the real files are written, and what a correct conversion must give,
computed here with NumPy independently of vox2pix (the NSD bookkeeping as nsd_access / Brain-Diffuser do it).

The real release (Allen et al. 2022) has, per subject s:
  nsddata/experiments/nsd/nsd_expdesign.mat   MATLAB v5 (scipy.io.loadmat reads it): masterordering 1 x 30000
      (1-based subject-image index of each trial), subjectim 8 x 10000 (1-based NSD image of each subject image),
      sharedix 1 x 1000 (1-based NSD ids of the shared1000), plus basiccnt, stimpattern.
  nsddata_betas/ppdata/subj0s/func1pt8mm/betas_fithrf_GLMdenoise_RR/betas_sessionNN.hdf5
      dataset `betas`, int16 (percent signal change x 300), h5py shape (750, Z, Y, X): MATLAB wrote
      (X, Y, Z, 750), HDF5 reverses it; betas_sessionNN.nii.gz is the same data as a NIfTI (X, Y, Z, 750).
  nsddata/ppdata/subj0s/func1pt8mm/roi/nsdgeneral.nii.gz   int16 (X, Y, Z): -1 outside the brain, 0, 1.
      prf-visualrois.nii.gz (1 V1v .. 7 hV4), floc-faces.nii.gz (1 OFA .. 5 aTL-faces), streams.nii.gz (1 early ..).
  nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5   dataset `imgBrick`, uint8 (73000, 425, 425, 3).
Here: a 6 x 5 x 4 volume, 3 sessions of 20 trials (the design lists 4 sessions' worth, as the public design lists
40 while fewer are released), 8 subjects x 60 subject images, 12 shared images, a 100 x 20 x 20 x 3 brick.

Files:
  nsd_expdesign.mat, nsd_expdesign_short.mat (a design ending before session 3: must be refused)
  betas_h5/betas_session0{1,2,3}.hdf5 (chunks of one voxel's trials; session 3 gzip), betas_nii/betas_session0{1,2,3}.nii.gz (the twins)
  roi/{nsdgeneral,prf-visualrois,floc-faces,streams}.nii.gz, roi_other/nsdgeneral.nii.gz (another volume size)
  nsd_stimuli.hdf5
  expected.npz   what the conversion of subject 1 must give (z-scored within session)

MindEye2's files (HuggingFace pscotti/mindeyev2), for the same subject:
  betas_all_subj01_fp32_renorm.hdf5   dataset `betas`, float32 (trials, voxels), row = global trial
      (session - 1) * trials_per_session + trial, z-scored; here the release's z-scored betas plus a 4th
      session's rows that no shard lists.
  wds/subj01/train/{0,1,2}.tar, wds/subj01/new_test/0.tar   webdataset shards (tarfile, as webdataset's TarWriter
      writes them): per sample `sampleNNNNNNNNN.behav.npy` (1, 17) float64, -1 = missing; column 0 = NSD image
      (0-based), 1 = subject, 2 = session, 5 = global trial, 16 = is_shared1000; plus past_behav / olds_behav.
  wds_table.csv   the same table as CSV (global_trial,nsd_id,session,split)
  coco_images_224_float16.hdf5   dataset `images`, float16 (images, 3, H, W) = brick / 255
  shared1000.npy   bool over the images: the shared ones
  The MindEye2 conversion (no further z-scoring) must equal expected.npz, images included.

Run: python3 tools/make_nsd_fixtures.py   (needs numpy, scipy, h5py, nibabel)
"""
import io
import os
import tarfile

import h5py
import nibabel as nib
import numpy as np
import scipy.io as sio

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "nsd")
X, Y, Z = 6, 5, 4
SESSIONS, PER = 3, 20
DESIGN_TRIALS = 4 * PER
N_SUBJ_IMAGES, N_BRICK, SIDE, N_SHARED = 60, 100, 20, 12
SUBJECT = 1
rng = np.random.default_rng(20261204)


def nifti(path, data, dtype):
    img = nib.Nifti1Image(np.asarray(data, dtype=dtype), affine=np.diag([1.8, 1.8, 1.8, 1.0]))
    nib.save(img, path)


def main():
    for d in ["betas_h5", "betas_nii", "roi", "roi_other"]:
        os.makedirs(os.path.join(OUT, d), exist_ok=True)

    # Design: the shared images are NSD ids every subject has; the rest differ per subject.
    shared = np.sort(rng.choice(N_BRICK, size=N_SHARED, replace=False))
    others = np.setdiff1d(np.arange(N_BRICK), shared)
    subjectim = np.zeros((8, N_SUBJ_IMAGES), dtype=np.float64)
    for s in range(8):
        own = rng.choice(others, size=N_SUBJ_IMAGES - N_SHARED, replace=False)
        ids = np.concatenate([shared, own])
        rng.shuffle(ids)
        subjectim[s] = ids + 1
    # Each subject image up to 3 times; 80 trials over 60 images, so some images are shown once or twice.
    order = np.concatenate([np.arange(N_SUBJ_IMAGES), rng.choice(N_SUBJ_IMAGES, DESIGN_TRIALS - N_SUBJ_IMAGES)])
    rng.shuffle(order)
    masterordering = (order + 1).astype(np.float64)[None, :]
    sharedix = (shared + 1).astype(np.float64)[None, :]
    design = {
        "masterordering": masterordering,
        "subjectim": subjectim,
        "sharedix": sharedix,
        "basiccnt": np.zeros((3, 40)),
        "stimpattern": np.zeros((4, 12, 63), dtype=np.uint8),
    }
    sio.savemat(os.path.join(OUT, "nsd_expdesign.mat"), design, do_compression=True, format="5")
    short = dict(design, masterordering=masterordering[:, : 2 * PER + 5])
    sio.savemat(os.path.join(OUT, "nsd_expdesign_short.mat"), short, do_compression=True, format="5")

    # ROIs: nsdgeneral -1 / 0 / 1 with about a third of the volume inside.
    general = rng.choice([-1, 0, 1], size=(X, Y, Z), p=[0.3, 0.3, 0.4]).astype(np.int16)
    nifti(os.path.join(OUT, "roi", "nsdgeneral.nii.gz"), general, np.int16)
    nifti(os.path.join(OUT, "roi_other", "nsdgeneral.nii.gz"), general[:, :, :3], np.int16)
    prf = np.where(general > 0, rng.integers(-1, 8, size=general.shape), -1).astype(np.int16)
    faces = np.where(general > 0, rng.integers(0, 6, size=general.shape), 0).astype(np.int16)
    streams = np.where(general > 0, rng.integers(0, 8, size=general.shape), 0).astype(np.int16)
    nifti(os.path.join(OUT, "roi", "prf-visualrois.nii.gz"), prf, np.int16)
    nifti(os.path.join(OUT, "roi", "floc-faces.nii.gz"), faces, np.int16)
    nifti(os.path.join(OUT, "roi", "streams.nii.gz"), streams, np.int16)

    # Betas: int16 = round(300 * psc), each session with its own offset and scale (what z-scoring removes).
    vols = []
    for k in range(SESSIONS):
        psc = rng.normal(0.5 * k, 1.0 + 0.5 * k, size=(X, Y, Z, PER))
        b = np.clip(np.round(psc * 300), -32768, 32767).astype(np.int16)
        vols.append(b)
        nifti(os.path.join(OUT, "betas_nii", f"betas_session{k + 1:02d}.nii.gz"), b, np.int16)
        with h5py.File(os.path.join(OUT, "betas_h5", f"betas_session{k + 1:02d}.hdf5"), "w") as f:
            # (X, Y, Z, T) in MATLAB = (T, Z, Y, X) in HDF5; NSD chunks one voxel's trials together, uncompressed
            # (session 3 is gzip-compressed here, to read that form too).
            gz = {"compression": "gzip", "compression_opts": 4} if k == 2 else {}
            f.create_dataset("betas", data=np.ascontiguousarray(b.transpose(3, 2, 1, 0)), chunks=(PER, 1, 1, 1), **gz)

    brick = rng.integers(0, 256, size=(N_BRICK, SIDE, SIDE, 3), dtype=np.uint8)
    with h5py.File(os.path.join(OUT, "nsd_stimuli.hdf5"), "w") as f:
        f.create_dataset("imgBrick", data=brick, chunks=(1, SIDE, SIDE, 3))

    # --- The conversion, independently: nsd_access reads each session as (X, Y, Z, T); beta[mask] is (V, T).
    mask = nib.load(os.path.join(OUT, "roi", "nsdgeneral.nii.gz")).get_fdata() > 0
    rows, sess, imgs = [], [], []
    for k in range(SESSIONS):
        with h5py.File(os.path.join(OUT, "betas_h5", f"betas_session{k + 1:02d}.hdf5"), "r") as f:
            vol = f["betas"][:].transpose(3, 2, 1, 0)
        nii = np.asanyarray(nib.load(os.path.join(OUT, "betas_nii", f"betas_session{k + 1:02d}.nii.gz")).dataobj)
        assert np.array_equal(vol, nii), "the hdf5 and nii.gz twins hold the same betas"
        y = vol[mask].T.astype(np.float64) / 300.0
        y = (y - y.mean(0)) / y.std(0)  # z-score within the session (population SD)
        rows.append(y)
        for i in range(PER):
            t = k * PER + i
            imgs.append(int(subjectim[SUBJECT - 1, int(masterordering[0, t]) - 1]) - 1)
            sess.append(k + 1)
    y = np.concatenate(rows)
    imgs = np.array(imgs)
    sess = np.array(sess)
    is_test = np.isin(imgs, sharedix[0].astype(int) - 1)
    train_ids = np.unique(imgs[~is_test])
    test_ids = np.unique(imgs[is_test])
    train_labels = np.searchsorted(train_ids, imgs[~is_test])
    test_labels = np.searchsorted(test_ids, imgs[is_test])
    y_test = y[is_test]
    y_test_avg = np.stack([y_test[test_labels == j].mean(0) for j in range(len(test_ids))])
    prf_v, faces_v, streams_v = prf[mask], faces[mask], streams[mask]
    np.savez(
        os.path.join(OUT, "expected.npz"),
        y_train=y[~is_test].astype(np.float32),
        y_test=y_test.astype(np.float32),
        y_test_avg=y_test_avg.astype(np.float32),
        train_labels=train_labels.astype(np.int64),
        test_labels=test_labels.astype(np.int64),
        train_sessions=sess[~is_test].astype(np.int64),
        train_nsd_ids=train_ids.astype(np.int64),
        test_nsd_ids=test_ids.astype(np.int64),
        train_images=brick[train_ids],
        test_images=brick[test_ids],
        V1=np.isin(prf_v, [1, 2]),
        V4=prf_v == 7,
        LVC=np.isin(prf_v, [1, 2, 3, 4, 5, 6]),
        FFA=np.isin(faces_v, [2, 3]),
        HVC=np.isin(streams_v, [2, 3, 4, 5, 6, 7]),
        OFA=faces_v == 1,
    )
    # --- MindEye2's form of the same subject.
    extra = rng.normal(size=(PER, y.shape[1]))
    with h5py.File(os.path.join(OUT, "betas_all_subj01_fp32_renorm.hdf5"), "w") as f:
        f.create_dataset("betas", data=np.concatenate([y, extra]).astype(np.float32))
    chw = (brick.transpose(0, 3, 1, 2).astype(np.float32) / 255.0).astype(np.float16)
    with h5py.File(os.path.join(OUT, "coco_images_224_float16.hdf5"), "w") as f:
        f.create_dataset("images", data=chw)
    me2_px = np.round(np.clip(chw.astype(np.float32), 0, 1) * np.float32(255)).astype(np.uint8).transpose(0, 2, 3, 1)
    assert np.array_equal(me2_px, brick), "float16 / 255 round-trips to the brick's bytes"
    wds = os.path.join(OUT, "wds", "subj01")
    csv = ["global_trial,nsd_id,session,split"]

    def npy(a):
        b = io.BytesIO()
        np.save(b, a)
        return b.getvalue()

    def shard(path, trials):
        with tarfile.open(path, "w") as tar:
            for t in trials:
                behav = np.full((1, 17), -1.0)
                behav[0, 0], behav[0, 1], behav[0, 2], behav[0, 5] = imgs[t], SUBJECT, sess[t], t
                behav[0, 16] = float(is_test[t])
                for member, a in [("behav", behav), ("past_behav", np.full((2, 17), -1.0))]:
                    data = npy(a)
                    info = tarfile.TarInfo(f"sample{t:09d}.{member}.npy")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                csv.append(f"{t},{imgs[t]},{sess[t]},{'test' if is_test[t] else 'train'}")

    os.makedirs(os.path.join(wds, "train"), exist_ok=True)
    os.makedirs(os.path.join(wds, "new_test"), exist_ok=True)
    for k in range(SESSIONS):
        shard(os.path.join(wds, "train", f"{k}.tar"), [t for t in range(k * PER, (k + 1) * PER) if not is_test[t]])
    shard(os.path.join(wds, "new_test", "0.tar"), [t for t in range(SESSIONS * PER) if is_test[t]])
    np.save(os.path.join(OUT, "shared1000.npy"), np.isin(np.arange(N_BRICK), shared))
    with open(os.path.join(OUT, "wds_table.csv"), "w") as f:
        f.write("\n".join(csv) + "\n")
    print(f"wrote {OUT}: {mask.sum()} voxels, {len(train_ids)} train / {len(test_ids)} test images, "
          f"{(~is_test).sum()} / {is_test.sum()} trials")


if __name__ == "__main__":
    main()
