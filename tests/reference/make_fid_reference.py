#!/usr/bin/python3
"""Writes tests/data/fid_reference.json: Frechet distances computed by numpy, for
tests/test_feature_metrics.cpp.

Run with Debian's numpy (python3-numpy):  /usr/bin/python3 tests/reference/make_fid_reference.py

Each case is two Gaussians (means, covariances; random symmetric positive semi-definite matrices,
one of them singular) or two sets of float32 features, and their Frechet distance
||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2)). The trace of the root is computed
twice, by two routes that share nothing: numpy's symmetric eigh (the square roots of the
eigenvalues of S_a^(1/2) S_b S_a^(1/2)) and numpy's general eigvals of the product S_a S_b; the
script stops if they disagree.
"""
import json
import pathlib

import numpy as np

rng = np.random.default_rng(15)


def random_covariance(d, rank):
    x = rng.standard_normal((d, rank))
    return x @ x.T / rank


def sqrt_psd(s):
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet(mu_a, s_a, mu_b, s_b):
    root = sqrt_psd(s_a)
    w = np.linalg.eigvalsh(root @ s_b @ root)
    trace_root = np.sqrt(np.clip(w, 0, None)).sum()
    other = np.sqrt(np.clip(np.linalg.eigvals(s_a @ s_b).real, 0, None)).sum()
    assert abs(trace_root - other) < 1e-7 * max(1.0, trace_root), (trace_root, other)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * trace_root)


cases = []
for name, d, rank_a, rank_b in [("d3", 3, 5, 5), ("d16", 16, 40, 40), ("d64", 64, 200, 100),
                                ("d8 singular", 8, 4, 12)]:
    mu_a, mu_b = rng.standard_normal(d), rng.standard_normal(d) * 0.5
    s_a, s_b = random_covariance(d, rank_a), random_covariance(d, rank_b)
    cases.append({"name": name, "dim": d, "mean_a": mu_a.tolist(), "cov_a": s_a.ravel().tolist(),
                  "mean_b": mu_b.tolist(), "cov_b": s_b.ravel().tolist(),
                  "distance": frechet(mu_a, s_a, mu_b, s_b)})

# Features as float32, as the network gives them; statistics in float64 (covariance over n - 1).
n, d = 60, 6
fa = rng.standard_normal((n, d)).astype(np.float32)
fb = (rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.7 + 0.3).astype(np.float32)
stats = [(f.astype(np.float64).mean(0), np.cov(f.astype(np.float64), rowvar=False)) for f in (fa, fb)]
cases.append({"name": "features", "dim": d, "rows": n, "features_a": fa.ravel().tolist(),
              "features_b": fb.ravel().tolist(), "mean_a": stats[0][0].tolist(),
              "cov_a": stats[0][1].ravel().tolist(),
              "distance": frechet(stats[0][0], stats[0][1], stats[1][0], stats[1][1])})

out = pathlib.Path(__file__).resolve().parent.parent / "data" / "fid_reference.json"
out.write_text(json.dumps({"format_version": 1, "numpy": np.__version__, "cases": cases}) + "\n")
for c in cases:
    print(f"{c['name']}: {c['distance']:.10g}")
