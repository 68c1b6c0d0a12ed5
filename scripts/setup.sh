#!/usr/bin/env bash
# Installs libtorch 2.11.0 (from the PyPI wheel torch==2.11.0) plus numpy into $VOX2PIX_TORCH_DIR, once.
# A fresh machine needs only Rust and Python 3 with pip. Re-running is a no-op when the install is complete.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
. "$here/env.sh"
stamp="$VOX2PIX_TORCH_DIR/.vox2pix-complete"
if [ -f "$stamp" ] && [ -f "$LIBTORCH/lib/libtorch_cpu.so" ]; then
  exit 0
fi
command -v python3 >/dev/null || { echo "setup: python3 with pip is required to install libtorch" >&2; exit 1; }
echo "setup: installing torch==2.11.0 (libtorch for tch 0.24) into $VOX2PIX_TORCH_DIR (one time, ~4.6 GB)..." >&2
mkdir -p "$VOX2PIX_CACHE"
tmp="$VOX2PIX_TORCH_DIR.partial.$$"
rm -rf "$tmp"
# pip's own cache (~/.cache/pip) stays, so a later reinstall does not download again.
python3 -m pip install --quiet --target "$tmp" torch==2.11.0 numpy
rm -rf "$VOX2PIX_TORCH_DIR"
mv "$tmp" "$VOX2PIX_TORCH_DIR"
touch "$stamp"
echo "setup: libtorch ready at $LIBTORCH" >&2
