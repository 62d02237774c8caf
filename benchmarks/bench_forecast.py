"""Forecast, history and calibration benchmarks (issue 5); prints a table.

    python benchmarks/bench_forecast.py           # 100k forecast, 200k calibration
    python benchmarks/bench_forecast.py --quick   # a tenth of the sizes

Targets: forecast over 100k accounts < 2 s; calibration on 200k account-snapshots < 30 s.
Wall times, best of 3 for the in-process steps (one run for subprocesses).
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_engine import best_of  # one timing helper for every benchmark

from chs_excel.analytics.calibration import calibrate, join_outcomes
from chs_excel.analytics.forecast import (
    FORECAST_COLUMNS,
    forecast_accounts,
    renewal_forecast,
)
from chs_excel.analytics.history import merge, snapshot, trend
from chs_excel.core.engine import score
from chs_excel.core.model import default_model
from chs_excel.io.history_store import read_history, write_history
from chs_excel.io.sample import make_sample, reference_date
from chs_excel.io.scores import read_scores

MODEL = default_model()
AS_OF = reference_date(0)




def once(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - start


def scored(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    accounts = make_sample(n, seed=seed)
    return accounts, score(MODEL, accounts, as_of=reference_date(seed)).scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    n_forecast = 10_000 if quick else 100_000
    n_calib = 20_000 if quick else 200_000
    rows: list[tuple[str, int, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _, scores = scored(n_forecast, 1)
        csv = folder / "scores.csv"
        scores.to_csv(csv, index=False)

        def forecast() -> object:
            accounts = forecast_accounts(scores, "scores", model=MODEL)
            return renewal_forecast(accounts, by="month", as_of=AS_OF)
        rows.append(("forecast (scores frame -> tables)", n_forecast, best_of(forecast),
                     "< 2 s"))

        def forecast_csv() -> object:
            found = read_scores(csv, MODEL, FORECAST_COLUMNS)
            return renewal_forecast(forecast_accounts(found.scores, found.where,
                                                      model=MODEL), as_of=AS_OF)
        rows.append(("forecast incl. reading the scores csv", n_forecast,
                     best_of(forecast_csv), "< 2 s"))
        rows.append(("chs forecast scores.csv -o f.xlsx (process)", n_forecast,
                     once([sys.executable, "-m", "chs_excel", "forecast", str(csv), "-o",
                           str(folder / "f.xlsx")]), ""))

        store = folder / "history.sqlite"
        snap = snapshot(scores, MODEL, dt.date(2026, 1, 1))
        rows.append(("snapshot into SQLite", n_forecast,
                     best_of(lambda: write_history(store, snap)), ""))
        later = scores.assign(Usage=scores["Usage"] - 5, health=scores["health"] - 2)
        write_history(store, snapshot(later, MODEL, dt.date(2026, 2, 1)))
        history = read_history(store)
        rows.append(("read SQLite history (2 snapshots)", 2 * n_forecast,
                     best_of(lambda: read_history(store)), ""))
        rows.append(("trend / why it moved", n_forecast, best_of(lambda: trend(history)), ""))

        accounts, big = scored(n_calib, 2)
        data = big.assign(renewed=accounts["renewed"].to_numpy())
        rows.append(("calibrate (metric + component fits, AUCs)", n_calib,
                     best_of(lambda: calibrate(data, MODEL, where="bench")), "< 30 s"))

        per = n_calib // 4
        acc, base = scored(per, 3)
        hist = None
        rng = np.random.default_rng(3)
        for k in range(4):
            noisy = base.assign(**{c: base[c] + rng.normal(0, 3, per)
                                   for c in MODEL.components})
            snap = snapshot(noisy, MODEL, dt.date(2025, 1 + 3 * k, 1))
            hist = snap if hist is None else merge(hist, snap)[0]
        outcomes = pd.DataFrame({"account_id": acc["account_id"], "renewed": acc["renewed"],
                                 "renewal_date": pd.Timestamp("2026-01-15")})

        def from_history() -> object:
            joined, _ = join_outcomes(hist.rows, outcomes, where="history",
                                      outcomes_where="outcomes")
            return calibrate(joined, MODEL, where="history", components=hist.components)
        rows.append(("join outcomes + calibrate (4 snapshots)", 4 * per,
                     best_of(from_history), "< 30 s"))
        data_csv = folder / "calib.csv"
        data.to_csv(data_csv, index=False)
        rows.append(("chs calibrate scores.csv -o r.xlsx --no-png (process)", n_calib,
                     once([sys.executable, "-m", "chs_excel", "calibrate", str(data_csv),
                           "-o", str(folder / "r.xlsx"), "--no-png"]), "< 30 s"))

    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  {'rows':>9}  {'seconds':>8}  target")
    for name, n, seconds, target in rows:
        print(f"{name:<{width}}  {n:>9,}  {seconds:>8.2f}  {target}")


if __name__ == "__main__":
    main()
