"""Renewal probabilities `chs score` writes with a model `chs calibrate --learn-points
--write-model` wrote: calibration error (ECE, 10 bins) and expected vs actual renewals on
accounts the learning did not see (`chs sample --outcome curves`, a second seed).

Run: PYTHONPATH=. python benchmarks/bench_renewal_curve.py [N]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from chs_excel.analytics.calibration import roc_auc
from chs_excel.core.engine import score
from chs_excel.core.model import load_model


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |mean p - renewal rate| over 10 equal-count bins."""
    order = np.argsort(p, kind="stable")
    return float(sum(abs(p[i].mean() - y[i].mean()) * len(i)
                     for i in np.array_split(order, bins)) / len(p))


def chs(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "chs_excel", *args], check=True,
                   capture_output=True, text=True)


def main(n: int = 10000) -> None:
    tmp = Path(tempfile.mkdtemp())
    train, test = tmp / "train.csv", tmp / "test.csv"
    chs("sample", "-n", str(n), "--seed", "1", "--clean", "--outcome", "curves", "-o", str(train))
    chs("sample", "-n", str(n), "--seed", "2", "--clean", "--outcome", "curves", "-o", str(test))
    chs("calibrate", str(train), "--learn-points", "--no-png", "-o", str(tmp / "r.xlsx"),
        "--write-model", str(tmp / "learned.yaml"))
    fresh = pd.read_csv(test)
    y = fresh["renewed"].to_numpy(dtype=float)
    model = load_model(tmp / "learned.yaml")
    rows = []
    for name, m in (("band map (before)", model.replace(renewal_curve=())),
                    ("renewal curve in the model (after)", model)):
        s = score(m, fresh.drop(columns=["renewed"])).scores
        p = s["renewal_probability"].to_numpy(dtype=float)
        ok = ~np.isnan(p)
        rows.append((name, roc_auc(y[ok], s["health"].to_numpy(dtype=float)[ok]),
                     ece(p[ok], y[ok]), p[ok].sum() / y[ok].sum() - 1))
    print(f"{'renewal probability':36} {'AUC':>6} {'ECE':>6} {'expected vs actual':>19}")
    for name, auc, e, gap in rows:
        print(f"{name:36} {auc:6.3f} {e:6.3f} {gap:+18.1%}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10000)
