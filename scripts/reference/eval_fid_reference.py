#!/usr/bin/env python3
"""Reference Fréchet distances for diffmac-eval's FID statistics (crates/diffmac-eval/tests/fid.rs),
computed by pytorch-fid 0.3.0's own `calculate_frechet_distance` (scipy.linalg.sqrtm) and
`np.cov` on random feature sets: full-rank (200 vectors of 32 features) and rank-deficient
(20 vectors of 64 features, where sqrtm needs its eps retry), plus identical sets.

Pinned environment:
    /tmp/evalref/bin/pip install numpy==2.2.6 scipy==1.16.3 torch==2.15.0
    /tmp/evalref/bin/pip install --no-deps pytorch-fid==0.3.0
Usage:
    /tmp/evalref/bin/python scripts/reference/eval_fid_reference.py
writes crates/diffmac-eval/tests/data/fid_reference.json (features rounded to 6 decimals so
the file stays small; the statistics are computed from the rounded values).
"""
import json
import os

import numpy as np
import scipy
from pytorch_fid.fid_score import calculate_frechet_distance

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "diffmac-eval", "tests", "data", "fid_reference.json")


def main():
    rng = np.random.default_rng(2024)
    cases = []
    for name, n, dim in (("full_rank", 200, 32), ("rank_deficient", 20, 64)):
        mix = rng.standard_normal((dim, dim)) / np.sqrt(dim)
        a = np.round(rng.standard_normal((n, dim)) @ mix, 6)
        b = np.round(rng.standard_normal((n, dim)) @ mix * 1.3 + 0.2, 6)
        mu_a, s_a = a.mean(axis=0), np.cov(a, rowvar=False)
        mu_b, s_b = b.mean(axis=0), np.cov(b, rowvar=False)
        cases.append({
            "name": name,
            "a": a.tolist(),
            "b": b.tolist(),
            "fid": float(calculate_frechet_distance(mu_a, s_a, mu_b, s_b)),
            "fid_self": float(calculate_frechet_distance(mu_a, s_a, mu_a, s_a)),
            "trace_sigma_a": float(np.trace(s_a)),
        })
    out = {
        "generator": "scripts/reference/eval_fid_reference.py",
        "versions": {"pytorch-fid": "0.3.0", "numpy": np.__version__, "scipy": scipy.__version__},
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(out, f)
        f.write("\n")
    for c in cases:
        print(c["name"], c["fid"], c["fid_self"])


if __name__ == "__main__":
    main()
