#!/usr/bin/env python3
"""Reference fixture for the paired statistics of `vox2pix compare` (crates/vox2pix/src/eval/paired.rs), checked by
crates/vox2pix/tests/it/paired.rs. Independent implementation in NumPy (SciPy is used for a cross-check only if it
is importable; nothing in the fixture depends on it).

tests/fixtures/eval/paired.json holds
* "exact"        - n <= 16: the two-sided sign-flip p-value by full enumeration of the 2^n sign patterns
                   (p = #{|sum(s*d)| >= |sum(d)|} / 2^n, ties within TIE_RTOL * sum|d| count as extreme), with the
                   count under a strict ">" too so that the tie cases are known to discriminate.
* "bootstrap"    - larger n: mean difference, a large-B NumPy paired bootstrap percentile CI (np.percentile, linear
                   interpolation), the t interval mean +- t_{0.975,n-1} s/sqrt(n) (t quantile by numerical
                   integration of the Student density plus bisection), a large-B Monte Carlo sign-flip p-value
                   (and the exact one for n = 17 by enumeration), and each run's own (unpaired) bootstrap CI.
* "hierarchical" - several seeds x the same images: the two-level bootstrap with the images drawn per drawn seed
                   ("per_seed") or once per replicate for all drawn seeds ("shared").

Values carry at most 6 decimals, like metrics_per_image.csv.

Run:  PYTHONPATH=$VOX2PIX_TORCH_DIR python3 tools/make_paired_fixtures.py
"""
import json
import math
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "eval", "paired.json")
TIE_RTOL = 1e-9  # same rule as paired.rs
BOOT_B = 200_000
FLIP_B = 400_000
HIER_B = 100_000


def r6(x):
    return np.round(np.asarray(x, dtype=np.float64), 6)


def all_signs(n):
    """[2^n, n] matrix of +-1: row m flips element i when bit i of m is set (the order does not matter)."""
    m = np.arange(2**n, dtype=np.int64)[:, None]
    return np.where((m >> np.arange(n)) & 1, -1.0, 1.0)


def exact_sign_flip(d):
    d = np.asarray(d, dtype=np.float64)
    stat = np.abs(all_signs(len(d)) @ d)
    obs = abs(d.sum())
    tol = TIE_RTOL * np.abs(d).sum()
    count = int((stat >= obs - tol).sum())
    strict = int((stat > obs + tol).sum())
    return count, strict, 2 ** len(d)


def mc_sign_flip(rng, d, b):
    d = np.asarray(d, dtype=np.float64)
    obs = abs(d.sum())
    tol = TIE_RTOL * np.abs(d).sum()
    count = 0
    for chunk in range(0, b, 50_000):
        k = min(50_000, b - chunk)
        s = rng.choice([-1.0, 1.0], size=(k, len(d)))
        count += int((np.abs(s @ d) >= obs - tol).sum())
    return (1 + count) / (1 + b)


def bootstrap_ci(rng, d, b, level=0.95):
    d = np.asarray(d, dtype=np.float64)
    means = np.empty(b)
    for chunk in range(0, b, 50_000):
        k = min(50_000, b - chunk)
        means[chunk:chunk + k] = d[rng.integers(0, len(d), size=(k, len(d)))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return [float(lo), float(hi)], float(means.std())


def t_quantile(q, df):
    """Student t quantile by bisection on the CDF, the CDF by composite Simpson integration of the density."""
    logc = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(x):  # x >= 0
        k = 20_000
        t = np.linspace(0.0, x, 2 * k + 1)
        f = np.exp(logc - (df + 1) / 2 * np.log1p(t * t / df))
        h = x / (2 * k)
        return 0.5 + h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())

    lo, hi = 0.0, 50.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < q else (lo, mid)
    return (lo + hi) / 2


def exact_case(name, a, b):
    a, b = r6(a), r6(b)
    d = b - a
    count, strict, patterns = exact_sign_flip(d)
    return {
        "name": name,
        "a": a.tolist(),
        "b": b.tolist(),
        "mean_a": float(a.mean()),
        "mean_b": float(b.mean()),
        "diff": float(d.mean()),
        "count": count,
        "count_strict": strict,
        "patterns": patterns,
        "p": count / patterns,
    }


def bootstrap_case(rng, name, a, b, true_shift, with_exact=False):
    a, b = r6(a), r6(b)
    d = b - a
    n = len(d)
    ci, boot_sd = bootstrap_ci(rng, d, BOOT_B)
    tq = t_quantile(0.975, n - 1)
    sd = float(d.std(ddof=1))
    half = tq * sd / math.sqrt(n)
    case = {
        "name": name,
        "a": a.tolist(),
        "b": b.tolist(),
        "true_shift": true_shift,
        "mean_a": float(a.mean()),
        "mean_b": float(b.mean()),
        "diff": float(d.mean()),
        "sd_diff": sd,
        "boot_resamples": BOOT_B,
        "boot_ci": ci,
        "boot_sd": boot_sd,
        "t_quantile": tq,
        "t_ci": [float(d.mean() - half), float(d.mean() + half)],
        "p_mc": mc_sign_flip(rng, d, FLIP_B),
        "p_mc_resamples": FLIP_B,
        "marginal_ci_a": bootstrap_ci(rng, a, BOOT_B)[0],
        "marginal_ci_b": bootstrap_ci(rng, b, BOOT_B)[0],
    }
    if with_exact:
        count, _, patterns = exact_sign_flip(d)
        case["p_exact"] = count / patterns
    return case


def hierarchical_case(rng, name, per_seed):
    x = r6(per_seed)
    s, n = x.shape
    out = {"name": name, "per_seed": x.tolist(), "mean": float(x.mean()), "resamples": HIER_B}
    for mode in ("per_seed", "shared"):
        seeds = rng.integers(0, s, size=(HIER_B, s))
        if mode == "per_seed":
            imgs = rng.integers(0, n, size=(HIER_B, s, n))
        else:
            imgs = np.broadcast_to(rng.integers(0, n, size=(HIER_B, 1, n)), (HIER_B, s, n))
        means = x[seeds[:, :, None], imgs].mean(axis=(1, 2))
        lo, hi = np.percentile(means, [2.5, 97.5])
        out[f"ci_{mode}"] = [float(lo), float(hi)]
        out[f"sd_{mode}"] = float(means.std())
    return out


def main():
    rng = np.random.default_rng(20220601)
    exact = []
    # Continuous values, a modest gain: p well inside (0, 1).
    a = rng.uniform(0.2, 0.8, 8)
    exact.append(exact_case("n8_continuous", a, a + 0.03 + rng.normal(0, 0.05, 8)))
    # 0/1 correctness (classification top-1): d in {-1, 0, 1}, most patterns tie the observed |sum|.
    a = (rng.uniform(size=12) < 0.5).astype(float)
    b = a.copy()
    b[[1, 4, 7, 9]] = 1.0 - b[[1, 4, 7, 9]]
    b[[2, 5]] = 1.0
    exact.append(exact_case("n12_binary_ties", a, b))
    # Trial fractions (k / 1000, identification accuracy per image) at the largest enumerated n.
    a = rng.integers(500, 1000, 16) / 1000
    exact.append(exact_case("n16_fractions", a, np.clip(a + rng.integers(-60, 90, 16) / 1000, 0, 1)))
    # A clear shift: every image improves, p = 2 / 2^n.
    a = rng.uniform(0.1, 0.5, 10)
    exact.append(exact_case("n10_all_better", a, a + rng.uniform(0.05, 0.1, 10)))
    # Zero difference with a non-zero spread: d = (+x, -x) pairs, mean 0, so every pattern ties: p = 1.
    a = r6(rng.uniform(0.2, 0.8, 14))
    x = r6(rng.uniform(0.01, 0.1, 7))
    exact.append(exact_case("n14_symmetric_zero", a, a + np.concatenate([x, -x])))
    for c in exact:
        assert c["patterns"] <= 2**16
    assert exact[1]["count_strict"] < exact[1]["count"] < exact[1]["patterns"], "the tie case must discriminate"
    assert exact[3]["p"] == 2 / 2**10 and exact[4]["p"] == 1.0

    boot = []
    # Between-image spread (sd 0.15) >> the paired noise (sd 0.03): both runs' own CIs overlap, the paired CI
    # excludes 0.
    base = rng.uniform(0.2, 0.9, 50)
    a = base + rng.normal(0, 0.02, 50)
    boot.append(bootstrap_case(rng, "n50_shift", a, base + 0.02 + rng.normal(0, 0.02, 50), 0.02))
    # A weak gain: p around 0.1, to check the Monte Carlo p-value against NumPy's.
    base = rng.uniform(0.3, 0.7, 50)
    a = base + rng.normal(0, 0.05, 50)
    boot.append(bootstrap_case(rng, "n50_weak", a, base + 0.005 + rng.normal(0, 0.05, 50), 0.005))
    # The smallest n on the random sign-flip path, with its exact p by enumeration (2^17 patterns).
    a = rng.uniform(0.2, 0.8, 17)
    boot.append(bootstrap_case(rng, "n17_random_path", a, a + 0.02 + rng.normal(0, 0.06, 17), 0.02, True))
    # Zero mean difference at n = 40: d = (+x, -x) pairs; every random pattern ties the observed 0, p = 1.
    a = r6(rng.uniform(0.2, 0.8, 40))
    x = r6(rng.uniform(0.01, 0.1, 20))
    boot.append(bootstrap_case(rng, "n40_symmetric_zero", a, a + np.concatenate([x, -x]), 0.0))

    c = boot[0]
    assert c["boot_ci"][0] > 0 and c["marginal_ci_a"][1] > c["marginal_ci_b"][0], "n50_shift must show the point"
    for c in boot:
        assert c["boot_ci"][0] <= c["true_shift"] <= c["boot_ci"][1], c["name"]
    assert 0.005 < boot[1]["p_mc"] < 0.95, boot[1]["p_mc"]
    assert 0.005 < boot[2]["p_exact"] < 0.95, boot[2]["p_exact"]
    assert boot[3]["p_mc"] == 1.0

    # Self-checks of the t quantile against table values (and SciPy where present).
    assert abs(t_quantile(0.975, 49) - 2.009575) < 1e-5 and abs(t_quantile(0.975, 16) - 2.119905) < 1e-5
    try:
        from scipy import stats  # noqa: PLC0415

        for c in boot:
            assert abs(stats.t.ppf(0.975, len(c["a"]) - 1) - c["t_quantile"]) < 1e-8
    except ImportError:
        pass

    hier = []
    # 5 seeds x 50 images: a strong image effect shared by all seeds (sd 0.05), a seed effect (sd 0.01) and
    # noise (sd 0.01); the shared image draw keeps the image effect, the per-seed draw averages it away.
    img = rng.normal(0, 0.05, 50)
    seed = rng.normal(0, 0.01, 5)
    hier.append(hierarchical_case(rng, "s5_n50_image_effect", 0.01 + seed[:, None] + img[None, :] + rng.normal(0, 0.01, (5, 50))))
    h = hier[0]
    assert h["sd_shared"] > 1.4 * h["sd_per_seed"], "the two image draws must be told apart"

    fixture = {
        "generator": "tools/make_paired_fixtures.py",
        "numpy": np.__version__,
        "tie_rtol": TIE_RTOL,
        "exact": exact,
        "bootstrap": boot,
        "hierarchical": hier,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    for c in exact:
        print(f"{c['name']:22s} n={len(c['a']):2d} diff={c['diff']:+.6f} p={c['p']:.6f} ({c['count']}/{c['patterns']}, strict {c['count_strict']})")
    for c in boot:
        print(
            f"{c['name']:22s} n={len(c['a']):2d} diff={c['diff']:+.6f} boot={c['boot_ci']} t={c['t_ci']} "
            f"p_mc={c['p_mc']:.5f}" + (f" p_exact={c['p_exact']:.5f}" if "p_exact" in c else "")
        )
    for c in hier:
        print(f"{c['name']:22s} mean={c['mean']:+.6f} per_seed={c['ci_per_seed']} shared={c['ci_shared']}")
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
