"""Live signals in the workbook: LibreOffice's full recalculation of a template whose
Accounts signal columns are formulas over a source sheet (docs/signals-workbook.md).

    PYTHONPATH=. flock /tmp/chs-heavy.lock python benchmarks/bench_signal_workbook.py \
        [ACCOUNTS ROWS ...]   (pairs; default 2000 50000 10000 200000)

Prints a table: accounts, source rows, signals, build seconds, LibreOffice recalculation
seconds (load + recalculate everything + save, one fresh profile: wall clock, and the CPU
seconds LibreOffice used, which a loaded shared machine inflates less), file size.
"""

from __future__ import annotations

import datetime as dt
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from chs_excel.core.bounded_yaml import load_yaml
from chs_excel.core.model import model_from_dict
from chs_excel.sheets.workbook import write_template
from chs_excel.xlsx.libreoffice import recalculate

AS_OF = dt.date(2026, 3, 31)
MODEL = """
name: signal workbook benchmark
components: {usage: 1}
metrics:
  - {column: logins_30d, component: usage, weight: 1, method: linear, worst: 0, best: 20}
  - {column: days_since_login, component: usage, weight: 1, method: linear, worst: 30,
     best: 0}
sources:
  events: {file: events.csv, key: account, time: event_time}
signals:
  - {name: logins_30d, source: events, agg: count, window: 30,
     where: [{column: event_type, op: "=", value: login}]}
  - {name: days_since_login, source: events, agg: days_since_last,
     where: [{column: event_type, op: "=", value: login}]}
  - {name: active_users_30d, source: events, agg: distinct_count, of: user_id, window: 30}
  - {name: minutes_90d, source: events, agg: mean, of: minutes, window: 90}
"""


def inputs(accounts: int, rows: int) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """`accounts` accounts and `rows` events over the year before AS_OF (keys padded
    and upper-cased now and then, a few unmatched)."""
    rng = np.random.default_rng(0)
    ids = np.array([f"ACC-{i:06d}" for i in range(accounts)], dtype=object)
    acc = pd.DataFrame({"account_id": ids})
    which = rng.integers(0, accounts, rows)
    keys = ids[which].copy()
    odd = rng.random(rows) < 0.1
    keys[odd] = [f" {k.lower()} " for k in keys[odd]]
    keys[rng.random(rows) < 0.001] = "UNKNOWN"
    end = np.datetime64(AS_OF, "s") + np.timedelta64(86399, "s")
    times = end - rng.integers(0, 365 * 86400, rows).astype("timedelta64[s]")
    events = pd.DataFrame({
        "account": keys,
        "event_time": pd.to_datetime(times),
        "event_type": rng.choice(np.array(["login", "view", "export"], dtype=object), rows),
        "user_id": rng.integers(0, 8, rows).astype(float),
        "minutes": np.round(rng.gamma(2, 5, rows), 1)})
    return acc, {"events": events}


def _children_cpu() -> float:
    """CPU seconds (user + system) used so far by finished child processes."""
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def run(accounts: int, rows: int) -> dict[str, object]:
    model = model_from_dict(load_yaml(MODEL, "benchmark model"))
    acc, sources = inputs(accounts, rows)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.xlsx"
        t0 = time.perf_counter()
        write_template(path, model, acc, rows=accounts, as_of=AS_OF, sources=sources)
        built = time.perf_counter() - t0
        t0, used = time.perf_counter(), _children_cpu()
        recalculate(path, Path(folder) / "lo")
        recalc, cpu = time.perf_counter() - t0, _children_cpu() - used
        size = path.stat().st_size / 1e6
    return {"accounts": accounts, "rows": rows, "signals": len(model.signals),
            "build_s": round(built, 1), "libreoffice_s": round(recalc, 1),
            "libreoffice_cpu_s": round(cpu, 1),
            "file_mb": round(size, 1)}


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [2000, 50000, 10000, 200000]
    table = pd.DataFrame([run(a, r) for a, r in zip(sizes[::2], sizes[1::2], strict=True)])
    print(table.to_string(index=False))


if __name__ == "__main__":
    main(sys.argv[1:])
