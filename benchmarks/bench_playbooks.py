"""Playbooks benchmark (issue 13, part 2); prints a table.

    python benchmarks/bench_playbooks.py            # engine 100k, LibreOffice recalc 2k
    python benchmarks/bench_playbooks.py --quick    # engine 100k only

Engine: `score()` on 100,000 sample accounts with the default model, without playbooks,
with its 8 playbooks (no history), with them and a previous snapshot of every account
(the `health_change` condition then reads it), and with 24 playbooks (the 8, three
times); best of 3. The playbooks' cost is the difference to the first line.
Workbook: LibreOffice recalculating the live workbook of 2,000 accounts without and with
the playbooks (Scores' playbook and rank helpers and the Actions sheet).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from bench_engine import best_of  # one timing helper for every benchmark

from chs_excel.core.engine import score
from chs_excel.core.model import default_model
from chs_excel.io.sample import make_sample, reference_date
from chs_excel.sheets.workbook import write_template
from chs_excel.xlsx import libreoffice as lo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="engine only")
    args = parser.parse_args()
    n = 100_000
    accounts, as_of = make_sample(n, seed=7), reference_date(7)
    model = default_model()
    bare = model.replace(playbooks=())
    many = model.replace(playbooks=tuple(
        dataclasses.replace(p, name=f"{p.name} {k}") for k in range(3) for p in model.playbooks))
    previous = score(bare, accounts, as_of=as_of).scores[["account_id", "health", "band"]]
    previous = previous.assign(health=previous["health"] + 5)
    rows = []
    base = best_of(lambda: score(bare, accounts, as_of=as_of))
    rows.append((f"engine {n:,}, no playbooks", base))
    for label, m, prev in ((f"engine {n:,}, 8 playbooks, no history", model, None),
                           (f"engine {n:,}, 8 playbooks, previous snapshot", model, previous),
                           (f"engine {n:,}, 24 playbooks, previous snapshot", many, previous)):
        rows.append((label, best_of(lambda m=m, prev=prev: score(m, accounts, as_of=as_of,
                                                                 previous=prev))))
    if not args.quick:
        small = make_sample(2_000, seed=7)
        with tempfile.TemporaryDirectory() as folder:
            for label, m in (("no playbooks", bare), ("8 playbooks + Actions", model)):
                book = Path(folder) / f"{len(label)}.xlsx"
                write_template(book, m, small, rows=len(small), as_of=as_of)
                start = time.perf_counter()
                lo.recalculate(book, Path(folder) / f"lo{len(label)}")
                rows.append((f"LibreOffice recalc 2,000 accounts, {label}",
                             time.perf_counter() - start))
    print("| benchmark | seconds | playbooks' share |")
    print("|---|---|---|")
    for label, seconds in rows:
        extra = f"+{seconds - base:.3f} s" if label.startswith("engine") and seconds != base \
            else ""
        print(f"| {label} | {seconds:.3f} | {extra} |")


if __name__ == "__main__":
    main()
