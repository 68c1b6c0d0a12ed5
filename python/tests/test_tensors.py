"""Arrays and tensors cross between Python and vox2pix without copies where the API promises none."""
import numpy as np
import torch

import vox2pix as vp


def test_numpy_and_torch_inputs_are_read_where_they_lie():
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    assert vp._native.native_address(a) == a.ctypes.data
    t = torch.randn(5, 7)
    assert vp._native.native_address(t) == t.data_ptr()
    # A strided view is read in place too (DLPack carries the strides).
    tt = t.t()
    assert vp._native.native_address(tt) == t.data_ptr()
    # Something without __dlpack__ is refused by name, not converted behind the user's back.
    try:
        vp._native.native_address([1.0, 2.0])
    except vp.InputError as e:
        assert "NumPy array or a torch.Tensor" in str(e)
    else:
        raise AssertionError("a list was accepted")


def test_dataset_tensors_are_views_of_vox2pix_memory(world):
    ds = vp.open_dataset(world, roi="VC")
    for name in ("y_train", "train_labels", "train_images", "y_test_avg", "test_images", "snr"):
        t = getattr(ds, name)
        assert t.data_ptr() == ds.native_address(name), name
        assert getattr(ds, name).data_ptr() == t.data_ptr(), f"{name}: a second access copied"
    assert ds.y_train.dtype == torch.float32 and ds.train_labels.dtype == torch.int64
    assert tuple(ds.y_train.shape) == (ds.n_trials, ds.n_voxels)
    assert tuple(ds.test_images.shape) == (ds.n_test_images, 3, ds.image_size, ds.image_size)
    # NumPy views of the same memory, and the values are the files' (images in [0, 1]).
    y = ds.y_test_avg.numpy()
    assert y.ctypes.data == ds.native_address("y_test_avg")
    assert 0.0 <= float(ds.test_images.min()) and float(ds.test_images.max()) <= 1.0
    assert set(ds.rois) >= {"V1", "VC"} and ds.rois["VC"].all()
    assert f"{ds.n_voxels} voxels" in repr(ds) and f"{ds.image_size} px" in repr(ds)


def test_decoder_outputs_follow_the_input_kind(world, runs):
    _, dec = runs
    ds = vp.open_dataset(world)
    out_t = dec.decode(ds.y_test_avg)
    assert isinstance(out_t, torch.Tensor) and not out_t.requires_grad
    out_n = dec.decode(ds.y_test_avg.numpy())
    assert isinstance(out_n, np.ndarray) and out_n.dtype == np.float32
    assert np.array_equal(out_n, out_t.numpy())
    # float64 is accepted (converted) and gives the same images; a tensor that tracks gradients is detached.
    assert torch.equal(dec.decode(ds.y_test_avg.double()), out_t)
    y = ds.y_test_avg.clone().requires_grad_(True)
    assert torch.equal(dec.decode(y), out_t)
