"""Bad input raises the vox2pix.errors class for its cause, with the file or field named; nothing aborts."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import vox2pix as vp


def test_wrong_voxel_count_dtype_shape_and_nans_are_input_errors(world, runs):
    enc, dec = runs
    ds = vp.open_dataset(world)
    v = ds.n_voxels
    with pytest.raises(vp.InputError, match=rf"fmri: shape \[2, 5\]; expected \[N, {v}\] \({v} voxels of ROI VC"):
        dec.decode(np.zeros((2, 5), np.float32))
    with pytest.raises(vp.InputError, match="fmri: dtype Int64; give float32"):
        dec.decode(np.zeros((2, v), np.int64))
    with pytest.raises(vp.InputError, match=r"fmri: shape \[160\]"):
        dec.decode(torch.zeros(v))
    y = ds.y_test_avg.clone()
    y[1, 3] = float("nan")
    y[4, 0] = float("inf")
    with pytest.raises(vp.InputError, match=r"fmri: 2 values are NaN or infinite \(the first at index \[1, 3\]\)"):
        dec.decode(y)
    with pytest.raises(vp.InputError, match=r"images: shape \[2, 3, 16, 16\]; expected \[N, 3, 32, 32\]"):
        enc.encode(torch.zeros(2, 3, 16, 16))
    with pytest.raises(vp.InputError, match="decode needs a decoder run"):
        enc.decode(ds.y_test_avg)
    with pytest.raises(vp.InputError, match="device"):
        vp.open_dataset(world, device="tpu")
    # Every one is also the built-in a Python user would catch.
    assert issubclass(vp.InputError, ValueError) and issubclass(vp.InputError, vp.Vox2pixError)


def test_missing_and_broken_files_name_the_file(tmp_path, world):
    with pytest.raises(vp.RunNotFoundError, match="no-such-run: no such file or folder") as e:
        vp.load_run(tmp_path / "no-such-run")
    assert isinstance(e.value, FileNotFoundError)
    (tmp_path / "empty").mkdir()
    with pytest.raises(vp.RunNotFoundError, match=r"empty: not a vox2pix run \(no run.json\)"):
        vp.load_run(tmp_path / "empty")
    with pytest.raises(vp.DataNotFoundError, match="nowhere"):
        vp.open_dataset(tmp_path / "nowhere")
    # A truncated subject file: a DataError naming it, not a crash.
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in os.listdir(world):
        if f.endswith(".npz"):
            data = open(os.path.join(world, f), "rb").read()
            open(broken / f, "wb").write(data[: len(data) // 2] if f.startswith("sbj_") else data)
    with pytest.raises(vp.DataError, match="sbj_1.npz"):
        vp.open_dataset(broken)
    with pytest.raises(vp.DataError, match="ROI"):
        vp.open_dataset(world, roi="V9")


def test_config_errors_name_the_key(tmp_path, world):
    with pytest.raises(vp.ConfigError, match="bogus"):
        vp.train_encoder(world, tmp_path / "enc", config="tiny", overrides={"encoder_training": {"bogus": 1}})
    with pytest.raises(vp.ConfigError, match="neither a preset"):
        vp.train_encoder(world, tmp_path / "enc", config="no-such-preset")
    assert not (tmp_path / "enc").exists(), "a refused run left a folder behind"


def test_training_into_another_run_is_refused(world, runs):
    enc, _ = runs
    with pytest.raises(vp.TrainingError, match="already holds a 'encoder' run; pass --resume"):
        vp.train_encoder(world, enc.path, config="tiny", threads=1, progress=False)


def test_another_torch_version_is_refused_at_import(tmp_path):
    fake = tmp_path / "torch"
    fake.mkdir()
    (fake / "__init__.py").write_text("__version__ = '2.10.0+cpu'\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([sys.executable, "-c", "import vox2pix"], capture_output=True, text=True, env=env)
    assert p.returncode != 0
    assert "ImportError: vox2pix is built for torch 2.11.0 but this Python imports torch 2.10.0+cpu" in p.stderr, p.stderr


def test_bdata_reads_both_layouts_alike():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "bdata")
    new = vp.read_bdata(os.path.join(root, "god_bdpy.h5"))
    old = vp.read_bdata(os.path.join(root, "god_old_fixed.h5"))
    a, b = new.dataset(), old.dataset()
    assert a.dtype == torch.float64 and tuple(a.shape) == (22, 44) and new.n_samples == 22
    # The fixture's one missing voxel value, and otherwise the same numbers in both layouts.
    assert torch.isnan(a[5, 3]) and torch.equal(torch.nan_to_num(a), torch.nan_to_num(b))
    assert new.select("ROI_V1") == list(range(6)) and new.select("VoxelData") == list(range(40))
    assert "ROI_VC" in new.roi_keys()
    assert sorted(set(new.label("DataType"))) == [1.0, 2.0, 3.0]
    with pytest.raises(vp.DataError, match="no_such_key"):
        new.select("no_such_key")
    with pytest.raises(vp.DataError, match="no_metadata.h5"):
        vp.read_bdata(os.path.join(root, "no_metadata.h5"))
