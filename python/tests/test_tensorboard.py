"""`python -m vox2pix.tensorboard`: a run's epoch log as TensorBoard scalars, read back with TensorBoard's reader."""
import json
import os
import subprocess
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def test_epoch_logs_become_tensorboard_scalars(tmp_path, runs):
    enc, dec = runs
    p = subprocess.run(
        [sys.executable, "-m", "vox2pix.tensorboard", enc.path, dec.path, "--logdir", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert p.returncode == 0, p.stderr
    for run in (enc, dec):
        acc = EventAccumulator(str(tmp_path / os.path.basename(run.path)))
        acc.Reload()
        log = [json.loads(line) for line in open(os.path.join(run.path, "metrics.jsonl"))]
        loss = acc.Scalars("loss")
        assert [e.step for e in loss] == [r["epoch"] for r in log]
        assert all(abs(e.value - r["loss"]) < 1e-5 * max(1, abs(r["loss"])) for e, r in zip(loss, log))
    tags = EventAccumulator(str(tmp_path / "enc")).Reload().Tags()["scalars"]
    assert "val_median_r/VC" in tags and "lr" in tags and "epoch" not in tags


def test_a_folder_without_a_log_is_one_error_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "vox2pix.tensorboard", str(tmp_path)], capture_output=True, text=True)
    assert p.returncode == 1
    assert p.stderr.startswith("error: ") and "metrics.jsonl: no such file" in p.stderr
