"""Live-workbook benchmarks (issue 3); prints a table.

    python benchmarks/bench_workbook.py           # build 1k/10k/50k, LibreOffice recalc 10k
    python benchmarks/bench_workbook.py --quick   # build 1k/10k, recalc 1k

Build: `write_scored_workbook` (the workbook `chs score -o X.xlsx` writes: Scores as native
formulas with the engine's values cached) on the default model and `make_sample` accounts,
wall time (engine excluded), file size and the Scores sheet's XML bytes per account
(uncompressed; its formulas are shared, one per column). Recalculation: LibreOffice headless, fresh
profile set to recalculate every formula on load (`chs_excel.xlsx.libreoffice`),
converting xlsx -> xlsx; its CPU seconds are printed too (wall time on a shared machine
moves with the load, CPU time much less).
Targets on these 2-core machines: 10k accounts built in under 10 s, recalculated in
under 60 s.
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chs_excel.core.engine import score
from chs_excel.core.model import default_model
from chs_excel.io.sample import make_sample, reference_date
from chs_excel.sheets.workbook import write_scored_workbook
from chs_excel.xlsx import libreoffice as lo

TARGETS = {"build": (10_000, 10.0), "recalc": (10_000, 60.0)}


def build(n: int, folder: Path) -> tuple[Path, float]:
    """Seconds to write the scored workbook of n sample accounts (engine excluded)."""
    accounts = make_sample(n, seed=1)
    scoring = score(default_model(), accounts, as_of=reference_date(1))
    path = folder / f"scored_{n}.xlsx"
    start = time.perf_counter()
    write_scored_workbook(path, default_model(), accounts, scoring, as_of=reference_date(1))
    return path, time.perf_counter() - start


def scores_bytes(path: Path) -> int:
    """Uncompressed size of the Scores sheet's XML part."""
    with zipfile.ZipFile(path) as z:
        names = re.findall(r'<sheet name="([^"]+)"', z.read("xl/workbook.xml").decode())
        return z.getinfo(f"xl/worksheets/sheet{names.index('Scores') + 1}.xml").file_size


def recalc(path: Path, folder: Path) -> tuple[float, float]:
    """Wall and CPU seconds (LibreOffice's processes) to recalculate the workbook."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    lo.recalculate(path, folder / f"lo_{path.stem}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return time.perf_counter() - start, cpu


def verdict(kind: str, n: int, seconds: float) -> str:
    size, limit = TARGETS[kind]
    return f"< {limit:.0f} s: {'met' if seconds < limit else 'MISSED'}" if n == size else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k and 10k builds, 1k recalc")
    args = parser.parse_args()
    sizes = (1_000, 10_000) if args.quick else (1_000, 10_000, 50_000)
    recalc_at = 1_000 if args.quick else 10_000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in sizes:
            path, seconds = build(n, folder)
            rows.append((f"build {n:,} accounts", seconds, n / seconds,
                         path.stat().st_size / 2**20, scores_bytes(path) / n,
                         verdict("build", n, seconds)))
            if n == recalc_at:
                seconds, cpu = recalc(path, folder)
                rows.append((f"LibreOffice recalc {n:,} (CPU {cpu:,.1f} s)", seconds,
                             n / seconds, None, None, verdict("recalc", n, seconds)))
    print("| benchmark | seconds | accounts/s | file MB | Scores XML bytes/account | target |")
    print("|---|---|---|---|---|---|")
    for name, seconds, rate, size, per_account, target in rows:
        mb = "" if size is None else f"{size:,.1f}"
        xml = "" if per_account is None else f"{per_account:,.0f}"
        print(f"| {name} | {seconds:,.2f} | {rate:,.0f} | {mb} | {xml} | {target} |")


if __name__ == "__main__":
    main()
