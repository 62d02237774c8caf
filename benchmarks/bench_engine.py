"""Engine and end-to-end benchmarks (issue 2); prints a table.

    python benchmarks/bench_engine.py            # full: 10k/100k/1M engine, 10k/100k end to end
    python benchmarks/bench_engine.py --quick    # 10k/100k engine, 10k end to end

Engine: `score()` on accounts x 20 metrics (all five methods, rules, segments, overrides),
wall time (best of 3), rows/s and peak traced memory (tracemalloc, separate run).
End to end: `chs score accounts.csv -o scored.xlsx` as a subprocess, next to the raw time of
writing the same cells (the Accounts and Scores tables) with openpyxl write-only and with
XlsxWriter constant-memory, no formatting.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from chs_excel.core.engine import score
from chs_excel.core.model import Metric, default_model
from chs_excel.io.accounts import read_accounts
from chs_excel.io.sample import make_sample, reference_date

EXTRA_METRICS = 7  # the default model has 13 metrics; 7 more make 20


def model_with_20_metrics():
    """The default model plus 7 linear usage/support metrics: 20 metrics in all."""
    base = default_model()
    extra = tuple(Metric(column=f"extra_{i}", component=list(base.components)[i % 5],
                         method="linear", weight=1.0, worst=0.0, best=100.0)
                  for i in range(EXTRA_METRICS))
    return base.replace(metrics=base.metrics + extra)


def accounts(n: int, dirty: bool = False) -> pd.DataFrame:
    """Sample accounts plus the extra metric columns (10% blanks).

    Clean: every metric column typed (floats; text only in category/flag columns), as
    `read_accounts` gives for a tidy file. Dirty: 0.3% bad cells in 11 columns, which makes
    those columns mixed text/number.
    """
    frame = make_sample(n, seed=7, dirty=dirty)
    rng = np.random.default_rng(7)
    for i in range(EXTRA_METRICS):
        values = rng.uniform(0, 100, n)
        values[rng.random(n) < 0.1] = np.nan
        frame[f"extra_{i}"] = values
    return frame


def best_of(fn: Callable[[], object], runs: int = 3) -> float:
    """The fastest of `runs` timed calls of `fn`, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_engine(n: int, dirty: bool = False) -> dict[str, object]:
    model, frame = model_with_20_metrics(), accounts(n, dirty)
    as_of = reference_date(7)
    seconds = best_of(lambda: score(model, frame, as_of=as_of), 3 if n <= 100_000 else 2)
    tracemalloc.start()
    score(model, frame, as_of=as_of)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    kind = "dirty" if dirty else "clean"
    return {"benchmark": f"engine {n:,} x 20 metrics, {kind}", "seconds": seconds,
            "rows/s": n / seconds, "peak MB": peak / 2**20}


def raw_writers(frames: list[tuple[str, pd.DataFrame]], folder: Path) -> dict[str, float]:
    """Seconds to write the same cells, unformatted, with each raw writer."""
    import openpyxl
    import xlsxwriter
    rows = {name: list(frame.astype(object).where(frame.notna(), None).itertuples(
        index=False, name=None)) for name, frame in frames}
    headers = {name: [str(c) for c in frame.columns] for name, frame in frames}

    def with_openpyxl() -> None:
        book = openpyxl.Workbook(write_only=True)
        for name in rows:
            ws = book.create_sheet(name)
            ws.append(headers[name])
            for row in rows[name]:
                ws.append(row)
        book.save(folder / "raw_openpyxl.xlsx")

    def with_xlsxwriter() -> None:
        book = xlsxwriter.Workbook(str(folder / "raw_xlsxwriter.xlsx"),
                                   {"constant_memory": True, "strings_to_formulas": False})
        for name in rows:
            ws = book.add_worksheet(name)
            ws.write_row(0, 0, headers[name])
            for r, row in enumerate(rows[name], start=1):
                ws.write_row(r, 0, row)
        book.close()

    return {"openpyxl write-only": best_of(with_openpyxl, 1),
            "XlsxWriter constant-memory": best_of(with_xlsxwriter, 1)}


def bench_end_to_end(n: int, folder: Path) -> list[dict[str, object]]:
    src = folder / f"accounts_{n}.csv"
    make_sample(n, seed=7).to_csv(src, index=False)
    out = folder / f"scored_{n}.xlsx"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "chs_excel", "score", str(src), "-o", str(out),
                    "--as-of", reference_date(7).isoformat()], check=True,
                   capture_output=True)
    e2e = time.perf_counter() - start
    frame = read_accounts(src)
    scores = score(default_model(), frame, as_of=reference_date(7)).scores
    raw = raw_writers([("Accounts", frame), ("Scores", scores)], folder)
    fastest = min(raw.values())
    rows = [{"benchmark": f"chs score csv->xlsx {n:,}", "seconds": e2e, "rows/s": n / e2e,
             "vs fastest raw": e2e / fastest, "MB": out.stat().st_size / 2**20}]
    rows += [{"benchmark": f"  raw {name} {n:,}", "seconds": t, "rows/s": n / t}
             for name, t in raw.items()]
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    columns = ["benchmark", "seconds", "rows/s", "peak MB", "vs fastest raw", "MB"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        cells = []
        for col in columns:
            value = row.get(col, "")
            if isinstance(value, float):
                value = f"{value:,.0f}" if col == "rows/s" else f"{value:,.2f}"
            cells.append(str(value))
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 1M and 100k e2e runs")
    args = parser.parse_args()
    sizes = (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000)
    rows = [bench_engine(n) for n in sizes] + [bench_engine(n, dirty=True) for n in sizes]
    with tempfile.TemporaryDirectory() as tmp:
        for n in (10_000,) if args.quick else (10_000, 100_000):
            rows += bench_end_to_end(n, Path(tmp))
    print_table(rows)


if __name__ == "__main__":
    main()
