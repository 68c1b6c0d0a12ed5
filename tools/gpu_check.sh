#!/usr/bin/env bash
# GPU check for vox2pix: CUDA parity tests, then the benchmarks against the PyTorch twin, in about 5 minutes.
# Nothing is built on the GPU machine: the release binaries are built here and carried in an ignored folder; at
# run time they link against the GPU machine's own torch 2.11 libraries (LD_LIBRARY_PATH beats the binaries'
# RUNPATH, which points at this machine's cache).
#
#   tools/gpu_check.sh --prepare        # here: build vox2pix + the gpu_parity test binary into $CARRY
#   tools/gpu_check.sh                  # on the GPU machine (repo root, $CARRY present): results under $OUT
#   DEVICE=cpu tools/gpu_check.sh       # dry run of every stage on the CPU with small shapes (no GPU needed)
#
# Environment: DEVICE (cuda | cuda:N | cpu; default cuda), OUT (default runs/gpu-check), CARRY (default
# runs/gpu-carry), PYTHON (default python3), WORK (scratch; default a temp dir), STEPS_EPOCH (decoder-epoch prefix,
# 0 = whole epoch, the CUDA default; 2 in the CPU dry run), TOTAL_S (overall budget, default 290). Every stage has its own time limit; a failed or timed-out stage is reported and the rest
# still run; the exit status is 1 if any stage failed.
set -euo pipefail

CARRY="${CARRY:-runs/gpu-carry}"
OUT="${OUT:-runs/gpu-check}"
DEVICE="${DEVICE:-cuda}"
PYTHON="${PYTHON:-python3}"

die() { echo "gpu_check: error: $*" >&2; exit 1; }

if [[ "${1:-}" == "--prepare" ]]; then
    [[ -f scripts/env.sh ]] || die "run from the repository root"
    # shellcheck disable=SC1091
    . scripts/env.sh
    cargo build --release --bin vox2pix
    # The parity tests are the `gpu_parity` module of the CLI crate's one test binary.
    exe=$(cargo test --release --no-run -p vox2pix-cli --test it 2>&1 | sed -n 's/.*Executable tests\/it\/main.rs (\(.*\))/\1/p' | tail -1)
    [[ -n "$exe" && -x "$exe" ]] || die "could not find the vox2pix-cli test binary (cargo test --no-run output changed?)"
    mkdir -p "$CARRY"
    cp "$CARGO_TARGET_DIR/release/vox2pix" "$CARRY/vox2pix"
    cp "$exe" "$CARRY/gpu_parity"
    echo "gpu_check: carried binaries ready in $CARRY ($(du -sh "$CARRY" | cut -f1)); pass carry=[\"$CARRY\"]"
    exit 0
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [[ -z "${WORK:-}" ]]; then
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
fi
# The whole check stays within TOTAL_S: each stage gets at most what is left.
TOTAL_S="${TOTAL_S:-290}"
BIN="$CARRY/vox2pix"
PARITY="$CARRY/gpu_parity"
[[ -x "$BIN" ]] || die "$BIN missing or not executable; run 'tools/gpu_check.sh --prepare' on the build machine and carry $CARRY"
[[ -x "$PARITY" ]] || die "$PARITY missing; run 'tools/gpu_check.sh --prepare' and carry $CARRY"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found; set PYTHON to an interpreter with torch 2.11"

TORCH_LIB=$("$PYTHON" -c 'import torch,os;print(os.path.dirname(torch.__file__)+"/lib")') \
    || die "$PYTHON cannot import torch; set PYTHON to an interpreter with torch 2.11"
TORCH_VERSION=$("$PYTHON" -c 'import torch;print(torch.__version__)')
[[ "$TORCH_VERSION" == 2.11.* ]] || die "torch $TORCH_VERSION found, but the binaries are built for libtorch 2.11"
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for exe in "$BIN" "$PARITY"; do
    # grep reads all of ldd's output (no -q), so pipefail cannot turn a hit into a miss.
    if ldd "$exe" 2>&1 | grep "not found" >&2; then
        die "$exe: shared libraries not found with LD_LIBRARY_PATH=$TORCH_LIB"
    fi
done

SUMMARY="$OUT/summary.txt"
RESULTS="$OUT/results.txt"
: >"$RESULTS"
{
    echo "vox2pix GPU check $(date -u +%FT%TZ) device=$DEVICE torch=$TORCH_VERSION torch_lib=$TORCH_LIB"
    echo "host: $(nproc) CPUs, $(uname -m)"
    if [[ "$DEVICE" == cuda* ]]; then
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi unavailable"
    fi
} | tee "$SUMMARY"

FAILED=()
# stage NAME SECONDS CMD...: runs CMD with a time limit, log in $OUT/NAME.log, RESULT lines collected.
stage() {
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS rc=0 left=$((TOTAL_S - SECONDS))
    if ((left < 15)); then
        echo "== $name: SKIPPED, the ${TOTAL_S}s budget is spent" | tee -a "$SUMMARY"
        FAILED+=("$name")
        return
    fi
    ((limit > left)) && limit=$left
    echo "== $name (limit ${limit}s): $*" | tee -a "$SUMMARY"
    timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1 || rc=$?
    grep '^RESULT' "$OUT/$name.log" | sed "s/^RESULT /RESULT stage=$name /" >>"$RESULTS" || true
    if [[ $rc -eq 0 ]]; then
        echo "   ok in $((SECONDS - t0)) s" | tee -a "$SUMMARY"
    else
        [[ $rc -eq 124 || $rc -eq 137 ]] && echo "   TIMED OUT after ${limit}s" | tee -a "$SUMMARY" \
            || echo "   FAILED (exit $rc) after $((SECONDS - t0)) s; last lines of $name.log:" | tee -a "$SUMMARY"
        tail -5 "$OUT/$name.log" | sed 's/^/   | /' | tee -a "$SUMMARY"
        FAILED+=("$name")
    fi
}

TWIN=(env PYTHONPATH="${PYTHONPATH:-}" "$PYTHON" tools/bench_torch.py)
if [[ "$DEVICE" == cuda* ]]; then
    STEP=(--steps 20 --warmup 3)
    SHAPE_D=()
    SHAPE_E=()
    STEPS_EPOCH="${STEPS_EPOCH:-0}" # 0 = the whole epoch (75 steps)
    PRESET=default
else
    # Dry run: the same stages with small shapes so that the whole script finishes in minutes on a CPU.
    STEP=(--steps 1 --warmup 1)
    SHAPE_D=(--voxels 50 --paired 2 --unpaired 2 --image-size 32)
    SHAPE_E=(--voxels 50 --batch 4 --image-size 32)
    STEPS_EPOCH="${STEPS_EPOCH:-2}"
    PRESET=tiny
fi

stage parity 90 "$PARITY" gpu_parity:: --test-threads=1 --nocapture
# Rust and PyTorch alternate so that both see the same machine state.
stage step_tch 60 "$BIN" bench step --device "$DEVICE" "${STEP[@]}" "${SHAPE_D[@]}" --cache-target-taps
stage step_torch 60 "${TWIN[@]}" step --device "$DEVICE" "${STEP[@]}" "${SHAPE_D[@]}" --cache-target-taps
stage step_tch_bf16 40 "$BIN" bench step --device "$DEVICE" "${STEP[@]}" "${SHAPE_D[@]}" --cache-target-taps --bf16
stage step_torch_bf16 40 "${TWIN[@]}" step --device "$DEVICE" "${STEP[@]}" "${SHAPE_D[@]}" --cache-target-taps --bf16
stage encoder_tch 60 "$BIN" bench encoder-step --device "$DEVICE" "${STEP[@]}" "${SHAPE_E[@]}"
stage encoder_torch 60 "${TWIN[@]}" encoder-step --device "$DEVICE" "${STEP[@]}" "${SHAPE_E[@]}"
stage synth 60 "$BIN" synth --preset "$PRESET" --quiet --out "$WORK/world"
if [[ -f "$WORK/world/manifest.json" ]]; then
    stage epoch_tch 120 "$BIN" bench decoder-epoch --device "$DEVICE" --data "$WORK/world" --steps "$STEPS_EPOCH" --dump "$WORK/epoch.npz"
    if [[ -f "$WORK/epoch.npz" ]]; then
        stage epoch_torch 60 "${TWIN[@]}" decoder-epoch --device "$DEVICE" --data "$WORK/epoch.npz" --steps "$STEPS_EPOCH"
        # torch.compile needs a working C++/Triton toolchain there; its failure is reported, not fatal to the rest.
        # Off in the CPU dry run (COMPILE=1 forces it): compiling takes minutes on a small CPU.
        if [[ "$DEVICE" == cuda* || "${COMPILE:-0}" == 1 ]]; then
            stage epoch_torch_compile 90 "${TWIN[@]}" decoder-epoch --device "$DEVICE" --data "$WORK/epoch.npz" --steps "$STEPS_EPOCH" --compile
        fi
    fi
fi

# Ratios vox2pix / PyTorch from the RESULT lines (same machine, same run).
"$PYTHON" - "$RESULTS" <<'EOF' | tee -a "$SUMMARY"
import sys
rows = {}
for line in open(sys.argv[1]):
    kv = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
    rows[kv["stage"]] = kv
def ms(stage):
    return float(rows[stage]["ms_per_step"]) if stage in rows else None
for what, a, b in [("decoder step", "step_tch", "step_torch"), ("decoder step bf16", "step_tch_bf16", "step_torch_bf16"),
                   ("decoder step: bf16 / fp32 (vox2pix)", "step_tch_bf16", "step_tch"),
                   ("encoder step", "encoder_tch", "encoder_torch"),
                   ("decoder epoch (per step)", "epoch_tch", "epoch_torch"),
                   ("decoder epoch (per step) vs torch.compile", "epoch_tch", "epoch_torch_compile")]:
    x, y = ms(a), ms(b)
    print(f"{what}: {a} {x} ms, {b} {y} ms, ratio " + (f"{x / y:.2f}" if x and y else "n/a"))
for s in ("epoch_tch", "epoch_torch", "epoch_torch_compile"):
    if s in rows:
        r = rows[s]
        print(f"{s}: epoch_s={r['epoch_s']} cache_s={r['cache_s']} save_s={r['save_s']} loss={r['loss']}")
EOF

if ((${#FAILED[@]})); then
    echo "gpu_check: FAILED stages: ${FAILED[*]} (logs in $OUT)" | tee -a "$SUMMARY"
    exit 1
fi
echo "gpu_check: all stages passed; results in $OUT" | tee -a "$SUMMARY"
