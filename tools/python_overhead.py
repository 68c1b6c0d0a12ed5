"""What calling vox2pix from Python costs: the decoder on a run's test patterns, called from Python
(`Run.decode`: argument checks, DLPack in and out) against the same decode timed inside Rust (`Run.time_decode`,
the loop the CLI's `reconstruct` runs). Prints both and the difference per call; not a test (timings are noisy).

    . scripts/env.sh && PYTHONPATH=$(bash scripts/setup_python.sh --pythonpath) \
        python3 tools/python_overhead.py runs/demo/decoder [--repeats 50] [--threads 1]
"""
import argparse
import statistics
import time

import torch

import vox2pix as vp


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a decoder run")
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    run = vp.load_run(a.run)
    y = vp.open_dataset(run.data_path, roi=run.roi).y_test_avg
    run.decode(y)  # warm-up: first-call allocations and kernel selection
    rust, python = [], []
    for _ in range(5):
        rust.append(run.time_decode(y, repeats=a.repeats))
        t0 = time.perf_counter()
        for _ in range(a.repeats):
            run.decode(y)
        python.append((time.perf_counter() - t0) / a.repeats)
    r, q = statistics.median(rust), statistics.median(python)
    print(f"run {a.run}: {y.shape[0]} test patterns × {y.shape[1]} voxels, {a.threads} thread(s), "
          f"median of 5 × {a.repeats} calls")
    print(f"  inside Rust (CLI path): {r * 1e3:8.3f} ms per decode")
    print(f"  from Python:            {q * 1e3:8.3f} ms per decode")
    print(f"  overhead:               {(q - r) * 1e6:8.1f} µs per call ({100 * (q - r) / r:+.2f} %)")


if __name__ == "__main__":
    main()
