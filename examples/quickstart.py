# %% [markdown]
# # vox2pix quickstart: from simulated brain activity to pictures, in Python
#
# This notebook makes a tiny synthetic world (procedural images seen by a simulated visual cortex), trains the
# encoder E (image → fMRI) and the decoder D (fMRI → image, with the self-supervised ED stream on unpaired
# images), reconstructs the test images from their fMRI, and scores the reconstructions. It runs on a laptop CPU
# in about a minute. `examples/quickstart.py` is the same code as a script; `tools/make_notebook.py` makes the
# notebook from it.

# %%
import os
import tempfile

import matplotlib.pyplot as plt
import pandas as pd
import torch

import vox2pix as vp

work = os.environ.get("VOX2PIX_QUICKSTART_DIR") or tempfile.mkdtemp(prefix="vox2pix-quickstart-")
print("working in", work)

# %% [markdown]
# ## 1. A synthetic world
# `tiny` is the smallest preset: 32 px images, 160 voxels. The world is seeded, so the same seed gives the same
# files. Worlds vox2pix ships no backbone for get a small one trained here (a minute for `demo`, seconds here).

# %%
ds = vp.synth("tiny", seed=0, out=os.path.join(work, "data"))
vp.train_backbone(ds, steps=60, progress=False)
ds

# %% [markdown]
# The dataset's arrays are torch tensors over vox2pix's own memory (no copy): single trials `y_train`, the test
# responses averaged over repeats `y_test_avg`, and the images.

# %%
print(ds.y_train.shape, ds.y_test_avg.shape, ds.test_images.shape)

# %% [markdown]
# ## 2. Train E, then D
# The `tiny` preset trains in seconds; `demo` and `paper` are the real schedules. Ctrl-C (or the stop button)
# stops at the next step and the run resumes with `resume=True`.

# %%
enc = vp.train_encoder(ds, os.path.join(work, "enc"), config="tiny")
dec = vp.train_decoder(ds, os.path.join(work, "dec"), encoder=enc, config="tiny")
pd.DataFrame(dec.history())[["epoch", "loss", "loss_paired", "loss_ed"]]

# %% [markdown]
# ## 3. Reconstruct the test images from their fMRI
# At this size and schedule the reconstructions are rough layouts of colour and brightness; the `demo` world
# and config (`make demo`, about 5 minutes on a 2-core CPU) give recognisable ones.

# %%
with torch.no_grad():
    recon = dec.decode(ds.y_test_avg)
n = ds.n_test_images
fig, axes = plt.subplots(2, n, figsize=(1.2 * n, 2.8))
for i in range(n):
    for row, imgs in enumerate((ds.test_images, recon)):
        axes[row, i].imshow(imgs[i].permute(1, 2, 0).clamp(0, 1).numpy())
        axes[row, i].axis("off")
axes[0, 0].set_title("seen", loc="left", fontsize=9)
axes[1, 0].set_title("reconstructed from fMRI", loc="left", fontsize=9)
fig.tight_layout()
fig.savefig(os.path.join(work, "reconstructions.png"), dpi=100)

# %% [markdown]
# ## 4. Score them
# Identification (is the reconstruction closer to its own image than to n−1 others?), classification and the
# pixel metrics, each with a bootstrap 95 % CI. `records()` gives one row per metric and setting.

# %%
metrics = vp.evaluate(dec, ds, trials=200, bootstrap=1000)
table = pd.DataFrame(metrics.records())
table[table.metric.isin(["identification_perceptual", "pixcorr", "ssim"])]
