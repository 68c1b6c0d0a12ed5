#!/usr/bin/env bash
# The three reference methods side by side on the demo world at demo scale: `paper@demo` (= `demo`),
# `ssr@demo` and `ssrc@demo` (method.md §5, §9), each seed training E and D, then `vox2pix evaluate` on the same
# 50 test images and `vox2pix compare` of ssr and ssrc against paper, pooled over the seeds (hierarchical
# bootstrap: seeds, then images). `ssrc` shares paper's E: its method differs from paper's only in D.
#
#   bash tools/compare_presets.sh [OUT]          # OUT defaults to runs/presets
#   SEEDS="0 1 2 3 4" THREADS=2 bash tools/compare_presets.sh runs/presets
#
# Resumable: finished runs are kept, an interrupted one is resumed. Writes OUT/ssr-vs-paper/compare.md and
# OUT/ssrc-vs-paper/compare.md. One heavy job at a time: run nothing else on a 2-core machine meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
BIN=${VOX2PIX_BIN:-$CARGO_TARGET_DIR/release/vox2pix}
OUT=${1:-runs/presets}
SEEDS=${SEEDS:-"0 1 2"}
THREADS=${THREADS:-2}
DATA=$OUT/data
mkdir -p "$OUT"
[ -f "$DATA/manifest.json" ] || "$BIN" synth --preset demo --seed 0 --out "$DATA" --quiet

train() { # kind run args...: skip a finished run, resume an interrupted one
  local kind=$1 run=$2 file=$1.safetensors
  shift 2
  if [ -f "$run/$file" ]; then return; fi
  local resume=()
  [ -f "$run/state.json" ] && resume=(--resume)
  "$BIN" "train-$kind" --data "$DATA" --out "$run" --threads "$THREADS" "${resume[@]}" "$@"
}

for s in $SEEDS; do
  for m in paper ssr; do
    train encoder "$OUT/$m-seed$s/encoder" --config "$m@demo" --set "seed=$s"
  done
  for m in paper ssr ssrc; do
    e=paper
    [ "$m" = ssr ] && e=ssr
    run=$OUT/$m-seed$s/decoder
    train decoder "$run" --encoder "$OUT/$e-seed$s/encoder" --config "$m@demo" --set "seed=$s"
    [ -f "$run/metrics_per_image.csv" ] || "$BIN" evaluate --run "$run" --data "$DATA" --threads "$THREADS"
  done
done

for m in ssr ssrc; do
  pairs=()
  for s in $SEEDS; do pairs+=("$OUT/paper-seed$s/decoder" "$OUT/$m-seed$s/decoder"); done
  "$BIN" compare "${pairs[@]}" --out "$OUT/$m-vs-paper"
done
