#!/usr/bin/env bash
# The layer-preference measure on held-out trials (issue 13, part 3): E is trained on 7 of the 8 paired images of
# every class (`paired_images = 1050` on the demo world), so the 150 others are training-class images E was never
# fitted to; `vox2pix layers` then adds the measure `ablation-heldout` (drop in voxel r on their single trials
# when a branch is removed) next to `ablation-train`, each validated voxel by voxel against the simulator's truth.
# Once with the paper's encoder (branch_solo 0) and once with the fix (branch_solo 4), per encoder seed.
#
#   bash tools/layers_heldout.sh [OUT]                 # OUT defaults to runs/layers-heldout
#   SEEDS="0 1 2" SOLO="0 4" THREADS=1 bash tools/layers_heldout.sh runs/layers-heldout
#
# Finished encoders are kept. Prints one line per run: measure, per-voxel r [CI], ROI-order ρ.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
BIN=${VOX2PIX_BIN:-$CARGO_TARGET_DIR/release/vox2pix}
OUT=${1:-runs/layers-heldout}
SEEDS=${SEEDS:-"0 1 2"}
SOLO=${SOLO:-"0 4"}
THREADS=${THREADS:-2}
DATA=$OUT/data
mkdir -p "$OUT"
[ -f "$DATA/manifest.json" ] || "$BIN" synth --preset demo --seed 0 --out "$DATA" --quiet
for solo in $SOLO; do
  for s in $SEEDS; do
    run=$OUT/solo$solo-seed$s
    if [ ! -f "$run/encoder.safetensors" ]; then
      resume=()
      [ -f "$run/state.json" ] && resume=(--resume)
      "$BIN" train-encoder --data "$DATA" --out "$run" --config demo --threads "$THREADS" "${resume[@]}" \
        --set "seed=$s" --set paired_images=1050 --set "encoder.branch_solo=$solo"
    fi
    [ -f "$run/layer_preference.json" ] || "$BIN" layers --run "$run" --data "$DATA" --threads "$THREADS" > /dev/null
    python3 - "$run" "$solo" "$s" <<'PY'
import json, sys
lp = json.load(open(sys.argv[1] + "/layer_preference.json"))
for m in ("ablation-train", "ablation-heldout"):
    r = lp[m]["voxel_r"]
    depth = {x["roi"]: x["model"] for x in lp[m]["rois"]}
    print(f"branch_solo {sys.argv[2]} seed {sys.argv[3]} {m:17s} r {r[0]:.3f} [{r[1]:.3f}, {r[2]:.3f}]  "
          f"rho {lp[m]['roi_order_spearman']:.2f}  V1 {depth['V1']:.3f} LOC {depth['LOC']:.3f} FFA {depth['FFA']:.3f}")
PY
  done
done
