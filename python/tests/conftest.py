"""Shared fixtures of the Python package's tests: one tiny synthetic world with its backbone, made once per session
through the CLI binary (so every Python-vs-CLI comparison starts from the same files), and the binary itself.

Run with `make test` (which builds the package and the binary), or by hand:
    . scripts/env.sh && bash scripts/setup_python.sh && VOX2PIX_BIN=$CARGO_TARGET_DIR/release/vox2pix \\
    PYTHONPATH=$(bash scripts/setup_python.sh --pythonpath) python3 -m pytest python/tests
"""
import os
import subprocess

import pytest


def _bin() -> str:
    b = os.environ.get("VOX2PIX_BIN")
    if not b or not os.path.exists(b):
        pytest.fail(
            "VOX2PIX_BIN must name the vox2pix binary (make test sets it to $CARGO_TARGET_DIR/release/vox2pix)",
            pytrace=False,
        )
    return b


@pytest.fixture(scope="session")
def cli():
    """Runs the vox2pix binary with one thread; returns its stdout, fails the test with its stderr."""
    binary = _bin()

    def run(*args: str) -> str:
        # One thread like the Python side: on some CPUs libtorch's kernels round differently per thread count.
        single = ("train-backbone", "train-encoder", "train-decoder", "reconstruct")
        extra = ["--threads", "1"] if args[0] in single else []
        p = subprocess.run([binary, *args, *extra], capture_output=True, text=True)
        assert p.returncode == 0, f"vox2pix {' '.join(args)} failed:\n{p.stderr}"
        return p.stdout

    return run


@pytest.fixture(scope="session")
def world(tmp_path_factory, cli):
    """A tiny world (seed 3) and its backbone, made by the CLI."""
    d = tmp_path_factory.mktemp("world") / "data"
    cli("synth", "--preset", "tiny", "--seed", "3", "--out", str(d), "--quiet")
    cli("train-backbone", "--world", str(d), "--steps", "25")
    return d


@pytest.fixture(scope="session")
def runs(tmp_path_factory, world):
    """An encoder and a decoder trained from Python on `world` (tiny config, one thread)."""
    import vox2pix as vp

    root = tmp_path_factory.mktemp("py-runs")
    enc = vp.train_encoder(world, root / "enc", config="tiny", threads=1, progress=False)
    dec = vp.train_decoder(world, root / "dec", encoder=enc, config="tiny", threads=1, progress=False)
    return enc, dec
