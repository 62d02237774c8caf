"""Score stability: the population stability index (PSI) between two snapshots.

Credit scorecards are watched with the PSI; a health score drifts too (a new data source,
a pricing change) and nobody notices. For each score column (health, each component, each
metric score a snapshot carries):

    PSI = sum over 10 bins of (a - e) * ln(a / e)

with e and a the earlier and later snapshot's share of accounts in each bin. The bins' 9
inner edges are the earlier snapshot's deciles (numpy `quantile`, linear, as Excel's
PERCENTILE.INC); the outer bins are open, and a value equal to an edge falls in the bin
above it. A share below 0.0001 counts as 0.0001 (an empty bin would make ln(a/e)
infinite). Blank scores are left out. Values are binned rounded to PRECISION (9) decimals,
so float noise (4e-14 from a different summation order) never moves an account across an
edge: equal scores fall in the same bin in both snapshots. Verdict: `stable` below 0.10,
`watch` from 0.10, `shifted` from 0.25.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BINS = 10
FLOOR = 0.0001
PRECISION = 9  # decimals scores are binned at: noise below 5e-10 never moves a bin
WATCH, SHIFTED = 0.10, 0.25
STABILITY_COLUMNS = ["what", "psi", "verdict", "earlier_mean", "later_mean", "earlier_n",
                     "later_n"]


def decile_edges(earlier: np.ndarray) -> np.ndarray:
    """The 9 inner bin edges: the earlier values' deciles (linear interpolation)."""
    return np.quantile(earlier, np.arange(1, BINS) / BINS, method="linear")


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of `values` in each of the 10 bins (edge values go to the bin above),
    floored at FLOOR."""
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=BINS)
    return np.maximum(counts / max(len(values), 1), FLOOR)


def psi(earlier: np.ndarray, later: np.ndarray) -> float:
    """The PSI of `later` against `earlier` (NaN ignored; NaN when either is empty)."""
    e_values = np.asarray(earlier, dtype=float)
    a_values = np.asarray(later, dtype=float)
    e_values = np.round(e_values[~np.isnan(e_values)], PRECISION)
    a_values = np.round(a_values[~np.isnan(a_values)], PRECISION)
    if not len(e_values) or not len(a_values):
        return float("nan")
    edges = np.round(decile_edges(e_values), PRECISION)
    e, a = bin_shares(e_values, edges), bin_shares(a_values, edges)
    return float(np.sum((a - e) * np.log(a / e)))


def verdict(value: float | np.ndarray) -> np.ndarray:
    """'stable' < 0.10 <= 'watch' < 0.25 <= 'shifted' ('' when the PSI is blank)."""
    v = np.asarray(value, dtype=float)
    return np.select([np.isnan(v), v < WATCH, v < SHIFTED], ["", "stable", "watch"],
                     "shifted").astype(object)


def stability(earlier: pd.DataFrame, later: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """One row per score column: what, psi, verdict, earlier and later mean and count.

    Parameters
    ----------
    earlier, later : DataFrame
        Two snapshots (or two scores tables) holding `columns`.
    columns : list of str
        The score columns compared, in the order the table lists them.
    """
    rows = []
    for column in columns:
        e = pd.to_numeric(earlier[column], errors="coerce").to_numpy(dtype=float)
        a = pd.to_numeric(later[column], errors="coerce").to_numpy(dtype=float)
        rows.append({"what": column, "psi": psi(e, a),
                     "earlier_mean": np.nanmean(e) if (~np.isnan(e)).any() else np.nan,
                     "later_mean": np.nanmean(a) if (~np.isnan(a)).any() else np.nan,
                     "earlier_n": int((~np.isnan(e)).sum()),
                     "later_n": int((~np.isnan(a)).sum())})
    out = pd.DataFrame(rows, columns=[c for c in STABILITY_COLUMNS if c != "verdict"])
    out.insert(2, "verdict", verdict(out["psi"].to_numpy(dtype=float)))
    return out
