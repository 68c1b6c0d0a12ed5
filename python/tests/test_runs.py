"""Runs made from Python are the CLI's runs: same files byte for byte, same reconstructions; Ctrl-C stops a run
so that resuming it ends with the weights of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import vox2pix as vp


def read(p):
    with open(p, "rb") as f:
        return f.read()


def test_synth_from_python_writes_the_cli_files(tmp_path, cli):
    cli("synth", "--preset", "tiny", "--seed", "5", "--out", str(tmp_path / "cli"), "--quiet")
    ds = vp.synth("tiny", seed=5, out=tmp_path / "py")
    assert isinstance(ds, vp.Dataset)
    for f in ("sbj_1.npz", "images_32.npz", "manifest.json"):
        assert read(tmp_path / "cli" / f) == read(tmp_path / "py" / f), f


def test_training_from_python_gives_the_cli_weights_byte_for_byte(tmp_path, world, runs, cli):
    enc_py, dec_py = runs
    cli("train-encoder", "--data", str(world), "--config", "tiny", "--out", str(tmp_path / "enc"))
    cli(
        "train-decoder", "--data", str(world), "--encoder", str(tmp_path / "enc"), "--config", "tiny",
        "--out", str(tmp_path / "dec"),
    )
    assert read(tmp_path / "enc" / "encoder.safetensors") == read(os.path.join(enc_py.path, "encoder.safetensors"))
    assert read(tmp_path / "dec" / "decoder.safetensors") == read(os.path.join(dec_py.path, "decoder.safetensors"))
    assert [r["loss"] for r in dec_py.history()] == [
        json.loads(line)["loss"] for line in open(tmp_path / "dec" / "metrics.jsonl")
    ]


def test_decode_equals_the_cli_reconstruction(world, runs, cli):
    _, dec = runs
    cli("reconstruct", "--run", dec.path, "--data", str(world))
    with np.load(os.path.join(dec.path, "reconstructions.npz")) as z:
        recon = z["recon"]
    ds = vp.open_dataset(world)
    ours = dec.decode(ds.y_test_avg).permute(0, 2, 3, 1).numpy()
    assert ours.shape == recon.shape
    assert np.array_equal(ours, recon)
    # Another batch size changes only the rounding (libtorch picks kernels by batch shape).
    other = dec.decode(ds.y_test_avg.numpy(), batch=3).transpose(0, 2, 3, 1)
    assert np.abs(other - recon).max() < 1e-5


def test_encoder_predicts_as_its_own_validation(world, runs):
    enc, _ = runs
    ds = vp.open_dataset(world)
    pred = enc.encode(ds.test_images)
    assert tuple(pred.shape) == (ds.n_test_images, ds.n_voxels)
    # The median voxel correlation on the test images is what the trainer logged for its last epoch.
    p, y = pred - pred.mean(0), ds.y_test_avg - ds.y_test_avg.mean(0)
    r = (p * y).sum(0) / (p.norm(dim=0) * y.norm(dim=0))
    logged = enc.history()[-1]["val_median_r"]["VC"]
    assert abs(float(r.median()) - logged) < 0.02, (float(r.median()), logged)


def test_evaluate_returns_the_metrics_and_a_report(world, runs):
    _, dec = runs
    m = vp.evaluate(dec, world, trials=40, bootstrap=200)
    assert m["n_test_images"] == 10
    with open(os.path.join(dec.path, "metrics.json")) as f:
        assert json.load(f) == dict(m)
    rows = m.records()
    pix = [r for r in rows if r["metric"] == "pixcorr"]
    assert len(pix) == 1 and abs(pix[0]["value"] - m["pixcorr"]["mean"]) < 1e-6
    assert pix[0]["ci_lo"] <= pix[0]["value"] <= pix[0]["ci_hi"]
    html = vp.report(dec, world)
    assert html.endswith(".html") and os.path.getsize(html) > 10_000


def test_the_nsd_suite_names_its_missing_weight_files(world, runs, tmp_path):
    _, dec = runs
    (tmp_path / "alexnet-owt-7be5be79.pth").write_bytes(b"x")
    with pytest.raises(vp.Vox2pixError) as e:
        vp.evaluate(dec, world, trials=10, bootstrap=10, suite="nsd8", suite_weights=tmp_path)
    msg = str(e.value)
    assert "ViT-L-14.pt" in msg and "swav_800ep_pretrain.pth.tar" in msg and "AlexNet:" not in msg
    with pytest.raises(ValueError):
        vp.evaluate(dec, world, suite="nsd9")


CHILD = textwrap.dedent(
    """
    import sys, vox2pix as vp
    def show(e):
        print(f"EPOCH {e.done}", flush=True)
    try:
        vp.train_decoder(sys.argv[1], sys.argv[2], encoder=sys.argv[3], config="tiny",
                         overrides={"decoder_training.epochs": 3}, threads=1, progress=show)
    except KeyboardInterrupt as e:
        print("INTERRUPTED", e, flush=True)
        sys.exit(3)
    print("FINISHED", flush=True)
    """
)


def test_ctrl_c_stops_at_a_step_and_the_run_resumes_to_the_same_weights(tmp_path, world, runs):
    enc, dec = runs
    out = tmp_path / "dec"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(world), str(out), enc.path],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines = []
    for line in child.stdout:
        lines.append(line.strip())
        if line.strip() == "EPOCH 1":
            child.send_signal(signal.SIGINT)
            break
    rest, err = child.communicate(timeout=120)
    lines += rest.split("\n")
    assert child.returncode == 3, (lines, err)
    said = next(x for x in lines if x.startswith("INTERRUPTED"))
    assert "interrupted after 1 of 3 epochs" in said and "keeps epoch 1" in said, said
    state = json.load(open(out / "state.json"))
    assert state["epoch"] == 1
    assert not (out / "decoder.safetensors").exists()
    # Resumed from Python, the run ends where an uninterrupted one does.
    resumed = vp.train_decoder(world, out, encoder=enc, config="tiny", overrides={"decoder_training.epochs": 3},
                               resume=True, threads=1, progress=False)
    assert read(out / "decoder.safetensors") == read(os.path.join(dec.path, "decoder.safetensors"))
    assert len(resumed.history()) == 3


def test_a_progress_callback_sees_every_epoch_and_can_stop_the_run(tmp_path, world, runs):
    enc, _ = runs
    seen = []

    def stop_after_two(e):
        seen.append(e)
        return e.done < 2

    try:
        vp.train_decoder(world, tmp_path / "dec", encoder=enc, config="tiny", threads=1, progress=stop_after_two)
    except KeyboardInterrupt as e:
        assert "after 2 of" in str(e)
    else:
        raise AssertionError("the callback's False did not stop the run")
    assert {e.stage for e in seen} == {"train D"}
    assert [e.done for e in seen][0] == 0 and max(e.done for e in seen) == 2
    assert all(e.total == seen[0].total for e in seen) and "loss" in seen[-1].message
    # An exception raised by the callback reaches the caller as raised.
    def broken(e):
        raise ZeroDivisionError("callback bug")

    try:
        vp.train_decoder(world, tmp_path / "dec2", encoder=enc, config="tiny", threads=1, progress=broken)
    except ZeroDivisionError as e:
        assert "callback bug" in str(e)
    else:
        raise AssertionError("the callback's exception was swallowed")
