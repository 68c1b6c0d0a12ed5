#!/usr/bin/env bash
# The Python package for `make test`: installs its build and test tools once (pinned, into the project's cache,
# beside the torch 2.11.0 of scripts/setup.sh), then builds the package with maturin from the working tree and
# installs it into the cache. Nothing is installed into the user's Python.
#   bash scripts/setup_python.sh               build and install
#   bash scripts/setup_python.sh --pythonpath  print the PYTHONPATH the package's tests run with
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
PYDEPS="$VOX2PIX_CACHE/pydeps"
PYVOX="$VOX2PIX_CACHE/python"
# The package first, then torch (and its numpy), then the tools.
PYPATH="$PYVOX:$VOX2PIX_TORCH_DIR:$PYDEPS"
if [ "${1:-}" = "--pythonpath" ]; then
  echo "$PYPATH"
  exit 0
fi
TOOLS=(maturin==1.16.0 pytest==9.2.0 tqdm==4.70.1 pandas==3.1.1 matplotlib==3.11.2 tensorboard==2.21.0)
STAMP="$PYDEPS/.vox2pix-tools"
if [ "$(cat "$STAMP" 2>/dev/null)" != "${TOOLS[*]}" ]; then
  echo "setup: installing the Python package's build and test tools into $PYDEPS (one time)..." >&2
  rm -rf "$PYDEPS"
  python3 -m pip install -q --disable-pip-version-check --target "$PYDEPS" "${TOOLS[@]}" 2>&1 \
    | grep -v -e "^WARNING: Running pip as" -e "dependency resolver" -e "requires python-dateutil" >&2 || true
  echo "${TOOLS[*]}" > "$STAMP"
fi
WHEELS="$VOX2PIX_CACHE/wheels"
rm -rf "$WHEELS"
echo "setup: building the Python package (maturin, release)..." >&2
PYTHONPATH="$PYDEPS" "$PYDEPS/bin/maturin" build --release -q -m python/Cargo.toml --out "$WHEELS" >&2
rm -rf "$PYVOX"
python3 -m pip install -q --disable-pip-version-check --no-deps --target "$PYVOX" "$WHEELS"/vox2pix-*.whl 2>&1 \
  | grep -v "^WARNING: Running pip as" >&2 || true
test -f "$PYVOX/vox2pix/__init__.py" || { echo "error: the vox2pix wheel did not install into $PYVOX" >&2; exit 1; }
