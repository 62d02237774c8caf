"""Learned points (issue 12): time to learn, and held-out AUC on `chs sample` data; prints tables.

    python benchmarks/bench_learn.py           # 200k account-snapshots x 20 metrics
    python benchmarks/bench_learn.py --quick   # 20k

Target: learning on 200k account-snapshots x 20 metrics under 30 s. The AUC table learns
on 20k sample accounts per seed (70/30 split inside `learn_points`) for both outcomes of
`chs sample`: one latent health, and a known curve per metric (`--outcome curves`).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from bench_engine import accounts, model_with_20_metrics  # the 20-metric setting

from chs_excel.analytics.learn import ADDITIVE, UNCAPPED, learn_points
from chs_excel.core.model import default_model
from chs_excel.io.sample import make_sample

SEEDS = (1, 2, 3)


def bench_learning(n: int) -> list[str]:
    """Wall time and peak memory of `learn_points` on n account-snapshots x 20 metrics."""
    frame = accounts(n)
    renewed = make_sample(n, seed=7, dirty=False, outcome="curves")["renewed"].to_numpy(float)
    model = model_with_20_metrics()
    tracemalloc.start()
    start = time.perf_counter()
    learned = learn_points(model, frame, renewed)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    levels = sum(len(m.points) for m in learned.model.metrics if m.method == "steps")
    return [f"learn_points {n:,} x 20 metrics", f"{seconds:.2f}", f"{n / seconds:,.0f}",
            f"{peak:,.0f}", str(levels)]


def auc_rows(n: int) -> list[list[str]]:
    """Held-out AUC per model, mean (min-max) over SEEDS, for each sample outcome."""
    rows = []
    for outcome in ("latent", "curves"):
        table: dict[str, list[float]] = {}
        for seed in SEEDS:
            frame = make_sample(n, seed=seed, dirty=True, outcome=outcome)
            result = learn_points(default_model(), frame, frame["renewed"].to_numpy(float))
            for _, row in result.evaluation.iterrows():
                table.setdefault(row["model"], []).append(row["held_out_auc"])
        for name in ("current model", "learned points", UNCAPPED, ADDITIVE):
            values = np.array(table[name])
            rows.append([outcome, name, f"{values.mean():.3f}",
                         f"{values.min():.3f}-{values.max():.3f}"])
    return rows


def print_table(columns: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k instead of 200k")
    n = 20_000 if parser.parse_args().quick else 200_000
    print_table(["benchmark", "seconds", "rows/s", "peak MB", "levels learned"],
                [bench_learning(n)])
    print()
    print_table(["sample outcome", "model", "held-out AUC (mean of 3 seeds)", "range"],
                auc_rows(20_000))


if __name__ == "__main__":
    main()
