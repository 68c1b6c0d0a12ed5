"""The quickstart notebook runs top to bottom (through its `.py` twin, whose cells it is made of)."""
import os
import shutil
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def test_notebook_is_its_script():
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_notebook.py"), "--check"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_quickstart_runs_and_draws_its_grid(tmp_path):
    env = dict(os.environ, VOX2PIX_QUICKSTART_DIR=str(tmp_path), MPLBACKEND="Agg")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "quickstart.py")], capture_output=True,
                       text=True, env=env, cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    png = tmp_path / "reconstructions.png"
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.exists(tmp_path / "dec" / "metrics.json")
    # Kept for a person to look at (make test prints where).
    keep = os.environ.get("VOX2PIX_QUICKSTART_PNG")
    if keep:
        shutil.copyfile(png, keep)
