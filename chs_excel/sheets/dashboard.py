"""The Dashboard as values: the same sections, rows and order as the live formula sheet.

`chs_refresh` on a book without native formulas writes these tables; the native-formula
workbook computes the same numbers with formulas over Scores (sheets.workbook). Both show:
accounts, share, ARR and expected ARR by band; quartiles 1-4 with their row names; the
largest-ARR Red accounts with their renewal date and why they are Red; health in ten bins
of the scale; coverage counts; owners and segments in order of first appearance, then
`(no owner)` for the accounts without one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from chs_excel.core.model import Model
from chs_excel.core.parents import parent_rollup
from chs_excel.core.vocabulary import BAND_ORDER, NO_DATA, QUARTILE_ROWS

TOP_RED = 10            # rows of the largest-ARR Red accounts table
WEAKEST_PARENTS = 10    # rows of the weakest parents table (sheets.parents.WEAKEST)
NO_OWNER = "(no owner)"  # the row of accounts whose owner (or segment) is blank
FULL_COVERAGE = 0.999999
HEALTH_BINS = 10         # the health distribution: a tenth of the scale a row
TOP_RED_COLUMNS = ("account_name", "account_id", "owner", "arr", "renewal_date", "health",
                   "points_at_stake", "weakest_component", "capped_by")


def top_red_columns(columns: Sequence[str]) -> list[str]:
    """The columns of the largest-Red table that the scores have, in the Dashboard's order
    (account_id always; arr is the table's key)."""
    have = set(columns) | {"account_id", "arr", "health", "points_at_stake",
                           "weakest_component", "capped_by"}
    return [c for c in TOP_RED_COLUMNS if c in have]


def segment_column(model: Model, columns: pd.Index) -> str | None:
    """The column the Dashboard groups segments by: the model's, else segment/plan/region."""
    for name in (model.segment_column, "segment", "plan", "region"):
        if name and name in columns:
            return name
    return None


def dashboard_sections(model: Model, scores: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The Dashboard's titled tables, computed from the engine's scores."""
    frame = scores.assign(
        arr=pd.to_numeric(scores["arr"], errors="coerce") if "arr" in scores else 0.0,
        expected_arr=scores.get("expected_arr", 0.0), red=scores["band"].eq("Red"), accounts=1)
    by_band = frame.groupby("band").agg(accounts=("accounts", "sum"), arr=("arr", "sum"),
                                        expected_arr=("expected_arr", "sum"))
    by_band = by_band.reindex(BAND_ORDER, fill_value=0).rename_axis("band").reset_index()
    by_band.insert(2, "share", by_band["accounts"] / max(len(frame), 1))
    by_quartile = frame.dropna(subset=["quartile"]).groupby("quartile").agg(
        accounts=("accounts", "sum"), mean_health=("health", "mean"), arr=("arr", "sum"))
    by_quartile = by_quartile.reindex(list(QUARTILE_ROWS), fill_value=0)
    by_quartile.insert(0, "label", list(QUARTILE_ROWS.values()))
    coverage = pd.DataFrame({"measure": [
        "Scored accounts", "With a health score", "No data", "Full data (coverage 100%)",
        "Low data (below min_coverage)", "Capped by a critical rule",
        "Manual override applied", "Mean coverage"], "accounts": [
        len(frame), int(frame["health"].notna().sum()), int(frame["band"].eq(NO_DATA).sum()),
        int((frame["coverage"] >= FULL_COVERAGE).sum()), int(frame["low_data"].sum()),
        int(frame["capped_by"].fillna("").ne("").sum()), int(frame["overridden"].sum()),
        frame["coverage"].mean()]}, dtype=object)
    sections = [("Accounts by band", by_band),
                ("By quartile", by_quartile.rename_axis("quartile").reset_index())]
    if "arr" in scores:
        shown = [c for c in top_red_columns(list(frame.columns)) if c in frame]
        top_red = frame[frame["red"]].sort_values("arr", ascending=False, kind="stable")
        sections.append((f"Largest-ARR Red accounts (top {TOP_RED})",
                         top_red[shown].head(TOP_RED).reset_index(drop=True)))
    sections += [("Health distribution", _distribution(frame, model.scale)),
                 ("Coverage", coverage)]
    for title, column in (("owner", "owner"), ("segment", segment_column(model, frame.columns))):
        if column is not None and column in frame:
            sections.append((f"Mean health by {title}", _group(frame, column)))
    parents = parent_rollup(model, scores)
    if parents is not None and len(parents):
        sections.append((f"The {WEAKEST_PARENTS} weakest parents (ARR-weighted health)",
                         parents.dropna(subset=["health"]).sort_values("health", kind="stable")
                         .head(WEAKEST_PARENTS).reset_index(drop=True)))
    return sections


def _distribution(frame: pd.DataFrame, scale: float) -> pd.DataFrame:
    """Accounts, share and ARR per tenth of the scale (the last bin includes the scale)."""
    health = pd.to_numeric(frame["health"], errors="coerce").to_numpy(dtype=float)
    edges = np.arange(HEALTH_BINS + 1) * scale / HEALTH_BINS
    scored = ~np.isnan(health)
    bins = np.clip(np.searchsorted(edges, health[scored], side="right") - 1, 0,
                   HEALTH_BINS - 1)
    accounts = np.bincount(bins, minlength=HEALTH_BINS)
    arr = np.bincount(bins, weights=frame["arr"].fillna(0).to_numpy(dtype=float)[scored],
                      minlength=HEALTH_BINS)
    labels = [f"{edges[k]:g}–{edges[k + 1]:g}" for k in range(HEALTH_BINS)]
    return pd.DataFrame({"health": labels, "accounts": accounts,
                         "share": accounts / max(int(scored.sum()), 1), "arr": arr})


def _group(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Accounts, mean health, Red accounts and ARR per value, in order of first appearance,
    then `(no owner)` for the blank ones (the live sheet lists them so)."""
    keys = frame[column].astype("string").str.strip().replace("", pd.NA).fillna(NO_OWNER)
    out = frame.assign(**{column: keys}).groupby(column, sort=False).agg(
        accounts=("accounts", "sum"), mean_health=("health", "mean"), red=("red", "sum"),
        arr=("arr", "sum")).reset_index()
    last = out[column].eq(NO_OWNER).to_numpy()
    return pd.concat([out[~last], out[last]], ignore_index=True)
