#!/bin/bash
# 145 vs 170 decoder steps per epoch, full method (demo config), decoder seeds 0-2, one thread, demo world seed 0.
# Run from the repository root after `vox2pix demo --out runs/demo`; writes runs/steps/s{145,170}-seed{0,1,2}, then:
#   vox2pix compare runs/steps/s145-seed0 runs/steps/s170-seed0 runs/steps/s145-seed1 runs/steps/s170-seed1 \
#     runs/steps/s145-seed2 runs/steps/s170-seed2 --out runs/steps/compare   (docs/science.md, "The demo's schedule")
. scripts/env.sh
B=$CARGO_TARGET_DIR/release/vox2pix
for S in 0 1 2; do for N in 145 170; do
  R=runs/steps/s$N-seed$S
  [ -f $R/metrics_per_image.csv ] && continue
  /usr/bin/time -f "$R %e s" $B train-decoder --data runs/demo/data --encoder runs/demo/encoder --config demo \
     --set seed=$S --set decoder_training.steps_per_epoch=$N --threads 1 --out $R --resume || exit 1
  $B evaluate --run $R --data runs/demo/data --threads 1 > $R.eval.log 2>&1 || exit 1
done; done
echo ALLDONE
