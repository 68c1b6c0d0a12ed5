"""The public API of the package (re-exported by ``vox2pix``): datasets, runs, training, evaluation.

Each function calls the same Rust job as the command of the same name (``vox2pix synth``, ``train-encoder``,
``train-decoder``, ``evaluate``, ``reconstruct``, ``report``), so a run made here is the run the CLI makes, byte
for byte; this module converts arguments, wraps results and shows progress.
"""
from __future__ import annotations

import csv
import json
import os
import sys
from typing import Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Union

import torch

from . import _native

PathLike = Union[str, "os.PathLike[str]"]
Overrides = Union[None, Mapping[str, Any], Sequence[str]]


class ProgressEvent(NamedTuple):
    """What a progress callback receives: the work (``"train E"``, ``"train D"``), epochs done and in all, and the
    bar's text (the last loss)."""

    stage: str
    done: int
    total: int
    message: str


#: ``progress=`` of the training functions: ``True`` (a tqdm bar, notebook-aware, or plain lines without tqdm),
#: ``False`` (silent), or a callable taking a :class:`ProgressEvent`; a callable returning ``False`` stops the run
#: like Ctrl-C does.
Progress = Union[bool, Callable[[ProgressEvent], Optional[bool]]]


def _path(p: Any) -> str:
    if isinstance(p, (Dataset, Run)):
        return p.path
    return os.fspath(p)


def _toml_value(v: Any) -> str:
    # JSON spells booleans, numbers, strings and lists the way TOML does.
    if isinstance(v, (bool, int, float, str, list, tuple)):
        return json.dumps(v)
    raise _native_error("InputError", f"override value {v!r}: use a bool, number, string or list")


def _native_error(cls: str, msg: str) -> Exception:
    from . import errors

    return getattr(errors, cls)(msg)


def _overrides(overrides: Overrides) -> List[str]:
    """``{"decoder_training.epochs": 2}``, ``{"decoder_training": {"epochs": 2}}`` or ``["decoder_training.epochs=2"]``
    → the CLI's ``--set`` strings."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        out: List[str] = []

        def walk(prefix: str, m: Mapping[str, Any]) -> None:
            for k, v in m.items():
                key = f"{prefix}{k}"
                if isinstance(v, Mapping):
                    walk(key + ".", v)
                else:
                    out.append(f"{key}={_toml_value(v)}")

        walk("", overrides)
        return out
    if isinstance(overrides, str):
        return [overrides]
    return [str(o) for o in overrides]


def _threads(threads: Union[None, int, str]) -> Optional[str]:
    return None if threads is None else str(threads)


def _callback(progress: Progress, unit: str = "epoch"):
    """The native callback ``(stage, done, total, message) -> bool | None`` for ``progress=``, and a closer."""
    if progress is False or progress is None:
        return None, lambda: None
    if callable(progress):
        return (lambda s, d, t, m: progress(ProgressEvent(s, d, t, m))), lambda: None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    bars: Dict[str, Any] = {}
    last: Dict[str, int] = {}

    def show(stage: str, done: int, total: int, message: str) -> None:
        if tqdm is not None:
            bar = bars.get(stage)
            if bar is None:
                bar = bars[stage] = tqdm(total=total, initial=done, desc=stage, unit=unit)
            bar.set_postfix_str(message, refresh=False)
            if done != bar.n:
                bar.update(done - bar.n)
        elif last.get(stage) != done:
            last[stage] = done
            print(f"{stage}: {done}/{total} {unit}s {message}", file=sys.stderr, flush=True)

    def close() -> None:
        for bar in bars.values():
            bar.close()

    return show, close


def _same_kind(like: Any, t: torch.Tensor) -> Any:
    """An output for an input: NumPy in → NumPy out (a view when on the CPU), else the torch tensor."""
    if isinstance(like, torch.Tensor):
        return t
    return t.cpu().numpy()


def _array_in(x: Any) -> Any:
    """What the native side reads through DLPack: torch tensors detached (DLPack refuses grad-tracking tensors),
    NumPy arrays as they are, anything else array-like through NumPy (a copy)."""
    if isinstance(x, torch.Tensor):
        return x.detach()
    if hasattr(x, "__dlpack__"):
        return x
    import numpy as np

    return np.asarray(x)


# ---- datasets ----


class Dataset:
    """A dataset on a device: training trials and images, test responses averaged over repeats, SNR, ROI masks.

    Open one with :func:`open_dataset` or make a synthetic one with :func:`synth`. The tensor attributes are torch
    views of vox2pix's own memory (no copy; treat them as read-only, ``.clone()`` before changing them):

    - ``y_train`` [trials, V] float32, ``train_labels`` [trials] int64 (row of ``train_images`` per trial),
      ``train_images`` [N, 3, S, S] float32 in [0, 1];
    - ``y_test_avg`` [test images, V], ``test_images`` [test images, 3, S, S]; ``snr`` [V] (mean 1).
    """

    def __init__(self, native: Any):
        self._n = native

    @property
    def path(self) -> str:
        """The dataset folder (or sbj_N.npz file)."""
        return self._n.path

    @property
    def roi(self) -> List[str]:
        return list(self._n.roi)

    @property
    def device(self) -> str:
        return self._n.device

    @property
    def n_voxels(self) -> int:
        return self._n.n_voxels

    @property
    def image_size(self) -> int:
        return self._n.image_size

    @property
    def n_trials(self) -> int:
        return self._n.n_trials

    @property
    def n_test_images(self) -> int:
        return self._n.n_test_images

    @property
    def grayscale(self) -> bool:
        return self._n.grayscale

    @property
    def test_classes(self) -> List[int]:
        return list(self._n.test_classes)

    @property
    def train_classes(self) -> List[int]:
        return list(self._n.train_classes)

    @property
    def rois(self) -> Dict[str, torch.Tensor]:
        """ROI name → bool mask [V] over the selected voxels."""
        return {k: torch.tensor(v, dtype=torch.bool) for k, v in self._n.rois}

    y_train = property(lambda self: self._n.tensor("y_train"), doc="[trials, V] float32 single trials")
    train_labels = property(lambda self: self._n.tensor("train_labels"), doc="[trials] int64 image index")
    train_images = property(lambda self: self._n.tensor("train_images"), doc="[N, 3, S, S] float32 in [0, 1]")
    y_test_avg = property(lambda self: self._n.tensor("y_test_avg"), doc="[test, V] float32 repeat averages")
    test_images = property(lambda self: self._n.tensor("test_images"), doc="[test, 3, S, S] float32 in [0, 1]")
    snr = property(lambda self: self._n.tensor("snr"), doc="[V] float32 per-voxel SNR normalised to mean 1")

    def native_address(self, name: str) -> int:
        """Where vox2pix holds the tensor ``name``: equal to ``getattr(ds, name).data_ptr()`` (no copy made)."""
        return self._n.address(name)

    def __repr__(self) -> str:
        return (
            f"vox2pix.Dataset({self.path!r}, roi={'+'.join(self.roi)}, {self.n_trials} training trials, "
            f"{self.n_test_images} test images, {self.n_voxels} voxels, {self.image_size} px"
            f"{', grayscale' if self.grayscale else ''}, device={self.device})"
        )


def open_dataset(path: PathLike, roi: Union[str, Sequence[str]] = "VC", device: str = "cpu") -> Dataset:
    """Opens a dataset folder in the SelfSuperReconst layout (``sbj_N.npz`` + ``images_<S>.npz``, as written by
    ``vox2pix synth`` and ``vox2pix convert``) or one ``sbj_N.npz``, keeping the voxels of the ROI union ``roi``
    (``"VC"``, ``"V1"``, ``["V1", "V2"]``…) on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).

    Raises :class:`~vox2pix.errors.DataNotFoundError` / :class:`~vox2pix.errors.DataError` naming the file and key.
    """
    rois = [roi] if isinstance(roi, str) else list(roi)
    return Dataset(_native.Dataset(os.fspath(path), rois, device))


class BData:
    """A bdpy BData file (e.g. GOD's ``Subject3.h5``) as stored: ``dataset()`` [samples, columns] float64, the
    metadata ``keys``/``descriptions``, ``select(key)`` → column indices, ``label(key)`` → one value per sample.
    ``vox2pix convert god`` turns it into a dataset folder."""

    def __init__(self, native: Any):
        self._n = native

    path = property(lambda self: self._n.path)
    keys = property(lambda self: list(self._n.keys))
    descriptions = property(lambda self: list(self._n.descriptions))
    n_samples = property(lambda self: self._n.n_samples)

    def dataset(self) -> torch.Tensor:
        return self._n.dataset()

    def select(self, key: str) -> List[int]:
        return list(self._n.select(key))

    def label(self, key: str) -> List[float]:
        return list(self._n.label(key))

    def roi_keys(self) -> List[str]:
        return list(self._n.roi_keys())

    def __repr__(self) -> str:
        d = self.dataset()
        return f"vox2pix.BData({self.path!r}, {d.shape[0]} samples × {d.shape[1]} columns, {len(self.keys)} keys)"


def read_bdata(path: PathLike) -> BData:
    """Reads a bdpy BData HDF5 file (both the ``dataset``/``metadata`` and older ``dataSet``/``metaData`` names)."""
    return BData(_native.BDataFile(os.fspath(path)))


def synth(
    preset: str = "demo",
    seed: int = 0,
    out: Optional[PathLike] = None,
    overrides: Overrides = None,
    roi: Union[str, Sequence[str]] = "VC",
    device: str = "cpu",
    progress: bool = False,
) -> Dataset:
    """Generates a synthetic world (``vox2pix synth``: procedural images and a simulated visual cortex) into the
    empty or new folder ``out`` (default ``data/<preset>-<seed>``) and opens it. Presets: ``tiny``, ``demo``,
    ``default``, or a world TOML path; ``overrides`` as in :func:`train_encoder`."""
    out = os.fspath(out) if out is not None else os.path.join("data", f"{preset}-{seed}")
    _native.synth(preset, int(seed), out, _overrides(overrides), bool(progress))
    return open_dataset(out, roi=roi, device=device)


# ---- runs ----


class Run:
    """A trained run with its model loaded and frozen: an encoder run (``encode``) or a decoder run (``decode``).
    ``history()`` is its per-epoch log, ``config`` its config, ``path`` its folder (``vox2pix`` CLI runs load too).
    """

    def __init__(self, native: Any):
        self._n = native

    path = property(lambda self: self._n.path, doc="The run folder.")
    kind = property(lambda self: self._n.kind, doc="'encoder' or 'decoder'.")
    device = property(lambda self: self._n.device)
    data_path = property(lambda self: self._n.data_path, doc="The dataset the model was loaded for.")
    n_voxels = property(lambda self: self._n.n_voxels)
    image_size = property(lambda self: self._n.image_size)
    roi = property(lambda self: list(self._n.roi))

    @property
    def config(self) -> Dict[str, Any]:
        """The run's training config (``RUN/config.toml``) as a dict."""
        try:
            import tomllib
        except ImportError:  # Python < 3.11
            import tomli as tomllib  # type: ignore[no-redef]
        return tomllib.loads(self._n.config_toml())

    def history(self) -> List[Dict[str, Any]]:
        """One record per finished epoch (``RUN/metrics.jsonl``): loss, learning rate, per-stream losses…"""
        return self._n.history()

    @property
    def encoder_run(self) -> str:
        """The encoder run a decoder run was trained with."""
        return self._n.encoder_run()

    def decode(self, fmri: Any, batch: int = 64) -> Any:
        """D(fmri): responses [N, V] (float32; float64 is converted) → images [N, 3, S, S] in [0, 1], without
        gradients, on the run's device. NumPy in → NumPy out; torch in → torch out."""
        return _same_kind(fmri, self._n.decode(_array_in(fmri), batch))

    def encode(self, images: Any, batch: int = 64) -> Any:
        """E(images): [N, 3, S, S] float32 in [0, 1] → predicted responses [N, V], without gradients."""
        return _same_kind(images, self._n.encode(_array_in(images), batch))

    def time_decode(self, fmri: Any, repeats: int = 10, batch: int = 64) -> float:
        """Seconds per decode of ``fmri``, timed inside Rust (the reference for the Python-call overhead)."""
        return self._n.time_decode(_array_in(fmri), repeats, batch)

    def __repr__(self) -> str:
        return (
            f"vox2pix.Run({self.path!r}, {self.kind}, roi={'+'.join(self.roi)}, {self.n_voxels} voxels, "
            f"{self.image_size} px, {len(self.history())} epochs, device={self.device})"
        )


def load_run(path: PathLike, data: Union[None, PathLike, Dataset] = None, device: str = "cpu") -> Run:
    """Loads a finished encoder or decoder run for inference. ``data`` defaults to the dataset the run was trained
    on (``RUN/data.json``). Raises :class:`~vox2pix.errors.RunNotFoundError` for a folder that is not a run."""
    return Run(_native.Run(os.fspath(path), None if data is None else _path(data), device))


def train_backbone(
    world: Union[PathLike, Dataset],
    steps: int = 1500,
    width: float = 0.25,
    seed: int = 0,
    device: str = "cpu",
    threads: Union[None, int, str] = None,
    progress: Progress = True,
) -> Dict[str, Any]:
    """Trains a synthetic world's own frozen backbone (``vox2pix train-backbone``) into ``WORLD/backbone``, for
    worlds vox2pix ships no backbone for (the ``demo`` and ``default`` worlds of seed 0 have one). Returns the
    file, the class count and the held-out accuracy."""
    cb, close = _callback(progress, unit="step")
    try:
        return _native.train_backbone(_path(world), int(steps), float(width), int(seed), device, _threads(threads), cb)
    finally:
        close()


def train_encoder(
    data: Union[PathLike, Dataset],
    out: PathLike,
    config: str = "paper",
    overrides: Overrides = None,
    device: str = "cpu",
    resume: bool = False,
    threads: Union[None, int, str] = None,
    progress: Progress = True,
) -> Run:
    """Trains the encoder E (``vox2pix train-encoder``) into the new folder ``out`` and returns the loaded run.

    ``config`` is a preset (``tiny``, ``demo``, ``paper``…) or a TOML path; ``overrides`` changes single keys,
    e.g. ``{"encoder_training": {"epochs": 2}}`` or ``{"seed": 3}``. ``threads``: libtorch's CPU threads for this
    process (``"auto"``, a number; ``None`` leaves them as they are). Ctrl-C stops at the next step and raises
    ``KeyboardInterrupt``; the run keeps its last finished epoch and ``resume=True`` continues it.
    """
    cb, close = _callback(progress)
    try:
        _native.train_encoder(
            _path(data), config, _overrides(overrides), os.fspath(out), device, resume, _threads(threads), cb
        )
    finally:
        close()
    return load_run(out, data=_path(data), device=device)


def train_decoder(
    data: Union[PathLike, Dataset],
    out: PathLike,
    encoder: Union[PathLike, Run],
    config: str = "paper",
    overrides: Overrides = None,
    unpaired: Optional[PathLike] = None,
    device: str = "cpu",
    resume: bool = False,
    threads: Union[None, int, str] = None,
    progress: Progress = True,
) -> Run:
    """Trains the decoder D (``vox2pix train-decoder``) with the frozen encoder run ``encoder`` and returns the
    loaded run. ``unpaired``: a class-folder tree of images for the ED stream (synthetic worlds bring their own).
    Other arguments as in :func:`train_encoder`."""
    cb, close = _callback(progress)
    try:
        _native.train_decoder(
            _path(data),
            _path(encoder),
            config,
            _overrides(overrides),
            os.fspath(out),
            device,
            resume,
            None if unpaired is None else os.fspath(unpaired),
            _threads(threads),
            cb,
        )
    finally:
        close()
    return load_run(out, data=_path(data), device=device)


# ---- evaluation ----


class Metrics(dict):
    """``RUN/metrics.json`` as a dict (identification, classification, pixcorr, ssim, encoder…), plus
    :meth:`records`: one row per metric and setting with its 95 % CI, ready for ``pandas.DataFrame``."""

    def __init__(self, content: Mapping[str, Any], run: str):
        super().__init__(content)
        self.run = run

    def records(self) -> List[Dict[str, Any]]:
        """The rows of ``RUN/metrics.csv`` (metric, setting, value, ci_lo, ci_hi, chance), numbers as floats."""
        with open(os.path.join(self.run, "metrics.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        for r in rows:
            for k in ("value", "ci_lo", "ci_hi", "chance"):
                r[k] = float(r[k]) if r.get(k) not in (None, "") else None
        return rows

    def __repr__(self) -> str:
        return f"vox2pix.Metrics({self.run!r}, {self.get('n_test_images')} test images, sections {sorted(self)})"


def evaluate(
    run: Union[PathLike, Run],
    data: Union[None, PathLike, Dataset] = None,
    device: str = "cpu",
    trials: int = 1000,
    bootstrap: int = 10_000,
    seed: int = 0,
    external_cap: int = 1000,
    suite: Optional[str] = None,
    suite_weights: Optional[PathLike] = None,
) -> Metrics:
    """Evaluates a decoder run (``vox2pix evaluate``): identification, classification, PixCorr, SSIM and the
    encoder's voxel correlations, each with a bootstrap CI; writes ``metrics.json``/``.csv`` into the run.

    ``suite="nsd8"`` adds the NSD 8-metric table (``metrics["nsd8"]``, docs/metrics.md §2.1), its five weight files
    read from ``suite_weights`` (default: torch hub's ``~/.cache/torch/hub/checkpoints``)."""
    r = _path(run)
    d = _path(data) if data is not None else (run.data_path if isinstance(run, Run) else _run_data(r))
    if suite is None:
        if suite_weights is not None:
            raise ValueError("suite_weights needs suite='nsd8'")
        weights = None
    elif suite == "nsd8":
        weights = _path(suite_weights) if suite_weights is not None else os.path.expanduser("~/.cache/torch/hub/checkpoints")
    else:
        raise ValueError(f"suite={suite!r}: unknown suite; the one suite is 'nsd8'")
    return Metrics(_native.evaluate(r, d, device, trials, bootstrap, seed, external_cap, False, weights), r)


def _run_data(run: str) -> str:
    try:
        with open(os.path.join(run, "data.json")) as f:
            return json.load(f)["data"]
    except FileNotFoundError:
        raise _native_error("RunNotFoundError", f"{run}: not a vox2pix run (no data.json)") from None


def reconstruct(run: Union[PathLike, Run], data: Union[None, PathLike, Dataset] = None, device: str = "cpu") -> str:
    """``vox2pix reconstruct``: writes ``RUN/reconstructions.npz`` (``recon``, ``gt``: [N, S, S, 3]) and the
    ground-truth/reconstruction grid ``RUN/reconstructions.png``; returns the npz path."""
    r = _path(run)
    d = _path(data) if data is not None else (run.data_path if isinstance(run, Run) else _run_data(r))
    return _native.reconstruct(r, d, device)


def report(run: Union[PathLike, Run], data: Union[None, PathLike, Dataset] = None, device: str = "cpu") -> str:
    """``vox2pix report``: writes the run's HTML report and returns its path. Call :func:`evaluate` first; the
    reconstruction grid is made here (:func:`reconstruct`) when the run has none yet."""
    r = _path(run)
    if not os.path.exists(os.path.join(r, "reconstructions.png")) and os.path.exists(os.path.join(r, "run.json")):
        reconstruct(run, data, device)
    return _native.report(r)

