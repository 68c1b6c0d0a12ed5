"""Training logs for TensorBoard: ``python -m vox2pix.tensorboard RUN [RUN ...] [--logdir DIR]``.

A run's per-epoch log is ``RUN/metrics.jsonl`` (one JSON record per finished epoch). This converter writes every
numeric field of it (nested ones as ``section/key``, e.g. ``val_median_r/VC``) as a TensorBoard scalar at step =
epoch, with PyTorch's own ``torch.utils.tensorboard.SummaryWriter``. vox2pix does not write event files itself:
they are protobuf records in TFRecord framing with CRC32C checksums, protocol code the project would have to
maintain, while SummaryWriter is maintained with TensorBoard and ships in the torch users already have (it needs
the ``tensorboard`` package: ``pip install tensorboard``).

Then ``tensorboard --logdir DIR``. Each run becomes one TensorBoard run named after its folder; converting again
replaces it, so the command can be rerun while training goes on.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from typing import Any, Dict, Iterable, List, Optional, Tuple


def scalars(record: Dict[str, Any], prefix: str = "") -> Iterable[Tuple[str, float]]:
    """The numeric fields of one epoch record as (tag, value); ``epoch`` is the step, not a scalar."""
    for key, value in record.items():
        tag = f"{prefix}{key}"
        if isinstance(value, bool) or tag == "epoch":
            continue
        if isinstance(value, (int, float)):
            yield tag, float(value)
        elif isinstance(value, dict):
            yield from scalars(value, tag + "/")


def read_log(run: str) -> List[Dict[str, Any]]:
    path = os.path.join(run, "metrics.jsonl")
    if not os.path.exists(path):
        from .errors import RunNotFoundError

        raise RunNotFoundError(f"{path}: no such file; give a vox2pix run folder with at least one finished epoch")
    records = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    from .errors import RunError

                    raise RunError(f"{path}, line {n}: not JSON ({e})") from None
    return records


def convert(run: str, logdir: Optional[str] = None) -> str:
    """Writes the TensorBoard events of ``run`` into ``logdir/<run folder name>`` (default ``RUN/tensorboard``)
    and returns that folder."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise ImportError(f"writing TensorBoard logs needs the tensorboard package: pip install tensorboard ({e})")
    records = read_log(run)
    name = os.path.basename(os.path.normpath(run))
    out = os.path.join(logdir, name) if logdir else os.path.join(run, "tensorboard")
    if os.path.isdir(out):
        shutil.rmtree(out)
    writer = SummaryWriter(log_dir=out)
    try:
        for i, rec in enumerate(records):
            step = int(rec.get("epoch", i + 1))
            for tag, value in scalars(rec):
                writer.add_scalar(tag, value, global_step=step)
    finally:
        writer.close()
    return out


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m vox2pix.tensorboard",
        description="Convert vox2pix runs' per-epoch logs (RUN/metrics.jsonl) into TensorBoard event files.",
        epilog="Example:\n  python -m vox2pix.tensorboard runs/enc runs/dec --logdir tb && tensorboard --logdir tb",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="+", help="run folders (encoder or decoder)")
    p.add_argument("--logdir", help="TensorBoard log folder (default: RUN/tensorboard for each run)")
    a = p.parse_args(argv)
    for run in a.runs:
        try:
            out = convert(run, a.logdir)
        except Exception as e:  # noqa: BLE001 - the CLI prints every failure as one error line
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"{run} → {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
