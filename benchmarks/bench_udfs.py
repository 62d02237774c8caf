"""UDF and macro benchmarks (issue 4); prints a table.

    python benchmarks/bench_udfs.py            # 10,000 accounts x 20 metrics
    python benchmarks/bench_udfs.py -n 2000

The UDFs get the raw 2-D lists xlwings' COM server passes (read once from the generated
workbook with openpyxl, not timed); times are Python time only (best of 3), without
Excel's own COM transfer. The refresh macro runs through `FileBook` on the file: read
Model and Accounts, score, write Scores and Data issues, save. The rebuild macro
regenerates the native-formula sheets of a live workbook (`chs_excel.sheets.workbook`) into a
new file.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import openpyxl
from bench_engine import accounts, best_of, model_with_20_metrics  # the same 20-metric data
from openpyxl.utils.cell import range_boundaries

from chs_excel.app import macros, udfs
from chs_excel.app.addin import build_addin
from chs_excel.io.sample import reference_date
from chs_excel.sheets.workbook import write_template

ARGS = ("Accounts", "Components", "Metrics", "Rules", "Settings", "Segments", "Levels",
        "RenewalProbability")


def grids(path: Path) -> dict[str, list[list[Any]]]:
    """Every Table as the COM server passes it: rows of cells, numbers as floats."""
    book = openpyxl.load_workbook(path, data_only=True)
    out = {}
    for ws in book.worksheets:
        for table in ws.tables.values():
            c1, r1, c2, r2 = range_boundaries(table.ref)
            out[table.displayName] = [
                [float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                 for v in row]
                for row in ws.iter_rows(min_row=r1, max_row=r2, min_col=c1, max_col=c2,
                                        values_only=True)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="accounts (default 10,000)")
    n = parser.parse_args().n
    model = model_with_20_metrics()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        book = build_addin(Path(tmp), model, accounts(n, dirty=True),
                           as_of=reference_date(7))
        rows.append(("chs addin: template with the accounts, first refresh", n,
                     time.perf_counter() - started))
        tables = grids(book)
        args = [tables[name] for name in ARGS]
        out = udfs.CHS_SCORE(*args)
        assert isinstance(out, list) and len(out) == n + 1, out
        rows.append(("CHS_SCORE (spills the Scores table)", n, best_of(
            lambda: udfs.CHS_SCORE(*args), 3)))
        header = tables["Accounts"][0]
        nps = [[r[header.index("nps")]] for r in tables["Accounts"][1:]]
        logins = [[r[header.index("logins_30d")]] for r in tables["Accounts"][1:]]
        health = [[r[out[0].index("health")]] for r in out[1:]]
        bands = [[r[out[0].index("band")]] for r in out[1:]]
        comps = [[r[out[0].index(c)] for c in model.components] for r in out[1:]]
        weights = [list(model.components.values())]
        calls = [
            ("CHS_LINEAR, one column in, one out", lambda: udfs.CHS_LINEAR(nps, 0, 10)),
            ("CHS_STEPS, one column", lambda: udfs.CHS_STEPS(logins, [[5, 20, 60]],
                                                             [[0, 40, 70, 100]])),
            ("CHS_WEIGHTED, 5 components per row", lambda: udfs.CHS_WEIGHTED(comps, weights)),
            ("CHS_BAND, one column", lambda: udfs.CHS_BAND(health, 40, 70)),
            ("CHS_QUARTILE, column against itself", lambda: udfs.CHS_QUARTILE(health, health)),
            ("CHS_RENEWAL, band column", lambda: udfs.CHS_RENEWAL(bands)),
        ]
        for label, call in calls:
            rows.append((label, n, best_of(call, 3)))
        single = best_of(lambda: [udfs.CHS_LINEAR(5.0, 0.0, 10.0) for _ in range(1000)], 3)
        rows.append(("CHS_LINEAR, one cell (per call)", 1, single / 1000))
        copy = Path(tmp) / "copy.xlsm"

        def refresh() -> None:
            shutil.copyfile(book, copy)
            macros.refresh_file(copy, as_of=reference_date(7))
        rows.append(("chs_refresh macro on the file (FileBook, with save)", n,
                     best_of(refresh, 3)))
        live = Path(tmp) / "live.xlsx"
        write_template(live, model, accounts(n, dirty=True), as_of=reference_date(7))
        rows.append(("chs_rebuild on a live workbook (regenerate formulas, save)", n,
                     best_of(
                         lambda: macros.rebuild_file(live, Path(tmp) / "rebuilt.xlsx"), 3)))
    print(f"{'what':<56} {'accounts':>9} {'seconds':>9}")
    for label, count, seconds in rows:
        shown = f"{seconds * 1000:.2f} ms" if seconds < 0.01 else f"{seconds:.3f}"
        print(f"{label:<56} {count:>9,} {shown:>9}")
    print(f"(20 metrics; {n:,} accounts; Python time, best of 3)")


if __name__ == "__main__":
    main()
