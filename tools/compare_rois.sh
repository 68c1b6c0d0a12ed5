#!/usr/bin/env bash
# ROI-restricted decoders on the demo world (issue 13, part 3): E and D trained on the voxels of one ROI only
# (V1, LVC = V1–V3, HVC = LOC + FFA + PPA + other higher cortex; V4 is in neither) against the same method on all of visual cortex (VC), each seed
# training its own E and D on the ROI's voxels, then `vox2pix evaluate` on the same 50 test images and
# `vox2pix compare` of each ROI against VC, pooled over the seeds (hierarchical bootstrap: seeds, then images).
# Which metrics each ROI wins or loses says what the early and the higher areas carry.
#
#   bash tools/compare_rois.sh [OUT]               # OUT defaults to runs/rois
#   SEEDS="0 1 2" THREADS=2 ROIS="V1 LVC HVC" bash tools/compare_rois.sh runs/rois
#
# Resumable: finished runs are kept, an interrupted one is resumed. Writes OUT/ROI-vs-VC/compare.md. One heavy
# job at a time: run nothing else on a 2-core machine meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
BIN=${VOX2PIX_BIN:-$CARGO_TARGET_DIR/release/vox2pix}
OUT=${1:-runs/rois}
SEEDS=${SEEDS:-"0 1"}
THREADS=${THREADS:-2}
ROIS=${ROIS:-"V1 LVC HVC"}
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
  for roi in VC $ROIS; do
    dir=$OUT/$roi-seed$s
    train encoder "$dir/encoder" --config demo --set "seed=$s" --set "roi=[\"$roi\"]"
    train decoder "$dir/decoder" --encoder "$dir/encoder" --config demo --set "seed=$s" --set "roi=[\"$roi\"]"
    [ -f "$dir/decoder/metrics_per_image.csv" ] || "$BIN" evaluate --run "$dir/decoder" --data "$DATA" --threads "$THREADS"
  done
done

for roi in $ROIS; do
  pairs=()
  for s in $SEEDS; do pairs+=("$OUT/VC-seed$s/decoder" "$OUT/$roi-seed$s/decoder"); done
  "$BIN" compare "${pairs[@]}" --out "$OUT/$roi-vs-VC"
done
