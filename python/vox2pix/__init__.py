"""vox2pix from Python: brain activity (fMRI) to images and back, on the same Rust core as the ``vox2pix`` command.

Quick start (``examples/quickstart.py`` does all of it)::

    import vox2pix as vp
    ds = vp.synth("tiny", seed=0, out="data/tiny")                   # a synthetic world, as a Dataset
    vp.train_backbone(ds, steps=60)                                 # its frozen backbone (demo/default ship one)
    enc = vp.train_encoder(ds, "runs/enc", config="tiny")           # → Run (progress bar; Ctrl-C stops cleanly)
    dec = vp.train_decoder(ds, "runs/dec", encoder=enc, config="tiny")
    images = dec.decode(ds.y_test_avg)                              # torch [N, 3, S, S] in [0, 1]
    metrics = vp.evaluate(dec, ds)                                  # metrics.json as a dict
    rows = metrics.records()                                        # → pandas.DataFrame(rows)

Arrays cross without copies: a float32 NumPy array or torch tensor is read where it lies (DLPack), and dataset
tensors and model outputs come back as torch tensors over vox2pix's memory (NumPy in → NumPy out). vox2pix links
the libtorch of ``torch==2.11.0`` and shares it with the ``torch`` this process imports; another torch version is
refused at import. Errors are :mod:`vox2pix.errors` classes with the command-line tool's messages.
"""
import sys as _sys

#: The torch release whose libtorch this build of vox2pix links.
TORCH_VERSION = "2.11.0"

try:
    import torch as _torch
except ImportError as _e:  # pragma: no cover - exercised by the import test with a stub path
    raise ImportError(
        f"vox2pix needs torch=={TORCH_VERSION} (it runs on that release's libtorch), and this Python "
        f"({_sys.executable}) cannot import torch: {_e}. Install it with: pip install torch=={TORCH_VERSION}"
    ) from _e

if _torch.__version__.split("+")[0] != TORCH_VERSION:
    raise ImportError(
        f"vox2pix is built for torch {TORCH_VERSION} but this Python imports torch {_torch.__version__} "
        f"from {getattr(_torch, '__file__', '?')}; the two must be the same release because vox2pix shares its "
        f"libtorch. Install torch=={TORCH_VERSION}, or rebuild vox2pix against your torch"
    )

from . import errors  # noqa: E402  (after the torch check, which must run first)
from . import _native  # noqa: E402
from ._api import (  # noqa: E402
    BData,
    Dataset,
    Metrics,
    ProgressEvent,
    Run,
    evaluate,
    load_run,
    open_dataset,
    read_bdata,
    reconstruct,
    report,
    synth,
    train_backbone,
    train_decoder,
    train_encoder,
)
from .errors import (  # noqa: E402
    ConfigError,
    DataError,
    DataNotFoundError,
    InputError,
    RunError,
    RunNotFoundError,
    TrainingError,
    Vox2pixError,
)

__version__ = _native.__version__
if _native.LIBTORCH_VERSION != TORCH_VERSION:  # pragma: no cover - a build/packaging mistake
    raise ImportError(
        f"vox2pix's native module links libtorch {_native.LIBTORCH_VERSION}, its Python side expects "
        f"{TORCH_VERSION}; reinstall vox2pix"
    )

__all__ = [
    "BData",
    "ConfigError",
    "DataError",
    "DataNotFoundError",
    "Dataset",
    "InputError",
    "Metrics",
    "ProgressEvent",
    "Run",
    "RunError",
    "RunNotFoundError",
    "TORCH_VERSION",
    "TrainingError",
    "Vox2pixError",
    "errors",
    "evaluate",
    "load_run",
    "open_dataset",
    "read_bdata",
    "reconstruct",
    "report",
    "synth",
    "train_backbone",
    "train_decoder",
    "train_encoder",
]
