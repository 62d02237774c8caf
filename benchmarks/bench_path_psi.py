"""Path to Green and score stability (issue 13); prints a table.

    python benchmarks/bench_path_psi.py           # 10k and 100k accounts
    python benchmarks/bench_path_psi.py --quick   # 10k only

Path: `path_to_green()` on accounts x 20 metrics (the engine benchmark's model: the
default model plus 7 linear metrics; all six methods, two caps, segments), scores given.
PSI: `stability()` of two snapshots (health and five components) of the same size.
Best of 3, wall time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from bench_engine import accounts, best_of, model_with_20_metrics

from chs_excel.analytics.stability import stability
from chs_excel.core.engine import score
from chs_excel.core.path import path_to_green
from chs_excel.io.sample import reference_date


def bench_path(n: int) -> dict[str, object]:
    model, frame = model_with_20_metrics(), accounts(n)
    scores = score(model, frame, as_of=reference_date(7)).scores
    seconds = best_of(lambda: path_to_green(model, frame, scores))
    paths = path_to_green(model, frame, scores)
    steps = paths.summary["path_steps"]
    return {"benchmark": f"path to Green {n:,} x 20 metrics", "seconds": seconds,
            "rows/s": n / seconds,
            "note": f"{int((steps > 0).sum()):,} paths, {len(paths.steps):,} changes, "
                    f"{int((steps > 3).sum()):,} beyond the exact search"}


def bench_psi(n: int) -> dict[str, object]:
    model = model_with_20_metrics()
    before = score(model, accounts(n), as_of=reference_date(7)).scores
    later = accounts(n)
    later["licence_utilisation"] = later["licence_utilisation"] * 0.9
    after = score(model, later, as_of=reference_date(7)).scores
    columns = ["health", *model.components]
    seconds = best_of(lambda: stability(before, after, columns))
    table = stability(before, after, columns)
    return {"benchmark": f"PSI two snapshots of {n:,}, {len(columns)} columns",
            "seconds": seconds, "rows/s": n / seconds,
            "note": f"health PSI {table.at[0, 'psi']:.3f} ({table.at[0, 'verdict']})"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    sizes = [10_000] if parser.parse_args().quick else [10_000, 100_000]
    rows = [bench(n) for n in sizes for bench in (bench_path, bench_psi)]
    table = pd.DataFrame(rows)
    table["seconds"] = table["seconds"].map("{:.2f}".format)
    table["rows/s"] = table["rows/s"].map("{:,.0f}".format)
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "---|" * len(table.columns))
    for row in table.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
