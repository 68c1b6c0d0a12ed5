# Source this file (or let the Makefile do it) to point cargo and the binary at the project's libtorch.
# Everything heavy lives outside the clone so that fresh clones (CI) reuse it:
#   VOX2PIX_CACHE   default ~/.cache/vox2pix
#   libtorch        $VOX2PIX_CACHE/torch-2.11.0/torch   (PyPI wheel torch==2.11.0, installed by scripts/setup.sh)
#   cargo target    $VOX2PIX_CACHE/target               (unless CARGO_TARGET_DIR is already set)
export VOX2PIX_CACHE="${VOX2PIX_CACHE:-$HOME/.cache/vox2pix}"
export VOX2PIX_TORCH_DIR="${VOX2PIX_TORCH_DIR:-$VOX2PIX_CACHE/torch-2.11.0}"
export LIBTORCH="${LIBTORCH:-$VOX2PIX_TORCH_DIR/torch}"
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$VOX2PIX_CACHE/target}"
