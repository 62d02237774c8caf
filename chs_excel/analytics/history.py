"""Snapshots; trend and why-it-moved, movers, roll-ups, band migration.

A snapshot is one row per account in the layout of the workbook's `History` Table:
date, model, version, account_id, owner, segment, arr, health, band, quartile, then one
column per component. The weights in force on each date are kept beside it (long form:
date, segment, component, weight) so a later change can be split into each component's
contribution and the effect of weight changes.

Storing history (the SQLite file store, the workbook's History Tables) is
`chs_excel.io.history_store`; see docs/forecast.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from chs_excel.core.engine import parse_flags
from chs_excel.core.errors import ChsError, InputError
from chs_excel.core.limits import check_date
from chs_excel.core.model import Model
from chs_excel.core.vocabulary import BAND_ORDER, header_key
from chs_excel.io.history_store import (
    BASE_COLUMNS,
    EXTRA_COLUMNS,
    WEIGHT_COLUMNS,
    History,
)
from chs_excel.io.scores import account_ids, bands, numbers

ABSENT = "(not in snapshot)"


# ---------------------------------------------------------------- snapshots

def segment_values(scores: pd.DataFrame, model: Model) -> pd.Series:
    """Each account's segment: the model's segment column, else a 'segment' column."""
    for column in (model.segment_column, "segment"):
        if column and header_key(column) in {header_key(c) for c in scores.columns}:
            name = next(c for c in scores.columns if header_key(c) == header_key(column))
            text = scores[name].astype("string").str.strip()
            return text.where(text != "").astype(object).where(text.notna(), None)
    return pd.Series(None, index=scores.index, dtype=object)


def snapshot(scores: pd.DataFrame, model: Model, date: dt.date, where: str = "scores") \
        -> History:
    """One snapshot of `scores` (canonical engine columns) taken with `model` on `date`.

    Parameters
    ----------
    scores : DataFrame
        Engine output, or scores read back by `chs_excel.io.scores.read_scores`.
    model : Model
        The model the scores were made with (its name, version and weights are kept).
    date : date
        The snapshot's date.
    where : str, default="scores"
        Where the scores came from, for error messages.

    Returns
    -------
    History
        One row per account (date, model, version, account_id, owner, segment, arr,
        health, band, quartile, components) and the weights in force.
    """
    check_date(date, f"{where}: snapshot date")
    missing = [c for c in model.components if c not in scores.columns]
    if missing:
        raise InputError(f"{where}: component column {missing[0]!r} of model "
                         f"{model.name!r} is missing: were these scores made with another "
                         "model? Pass the right one with --model")
    clash = [c for c in model.components if header_key(c) in
             {header_key(b) for b in (*BASE_COLUMNS, *EXTRA_COLUMNS)}]
    if clash:
        raise InputError(f"component {clash[0]!r} has the name of a History column; "
                         "rename the component to keep history")
    n = len(scores)
    quartile = numbers(scores, "quartile", where)
    owner = scores["owner"] if "owner" in scores.columns else pd.Series(None, index=scores.index)
    rows = pd.DataFrame({
        "date": np.full(n, np.datetime64(date, "ns")), "model": model.name,
        "version": str(model.version), "account_id": account_ids(scores, where).to_numpy(),
        "owner": owner.astype(object).where(owner.notna(), None).to_numpy(),
        "segment": segment_values(scores, model).to_numpy(),
        "arr": numbers(scores, "arr", where), "health": numbers(scores, "health", where),
        "band": bands(scores, model, where),
        "quartile": pd.array(np.where(np.isnan(quartile), None, quartile), dtype="Int64")})
    for c in model.components:
        rows[c] = numbers(scores, c, where)
    if "capped_by" in scores.columns:
        rows["capped_by"] = scores["capped_by"].astype("string").fillna("").to_numpy(
            dtype=object)
    if "overridden" in scores.columns:
        rows["overridden"] = parse_flags(scores["overridden"])[0] == 1
    return History(rows.reset_index(drop=True), model_weights(model, date))


def model_weights(model: Model, date: dt.date) -> pd.DataFrame:
    """The component weights in force: default ('' segment) and each segment's."""
    sets = {"": model.components, **model.segment_weights}
    return pd.DataFrame([{"date": pd.Timestamp(date), "segment": seg, "component": c,
                          "weight": float(w)}
                         for seg, weights in sets.items() for c, w in weights.items()],
                        columns=list(WEIGHT_COLUMNS))


def merge(history: History, new: History) -> tuple[History, list[str]]:
    """`history` with `new`'s dates replaced by `new` (never duplicated); components by name.

    Returns the merged history and notes (replaced date, components that came or went).
    """
    notes = []
    new_dates = set(new.dates)
    if new_dates & set(history.dates):
        notes.append("replaced the snapshot of " + ", ".join(
            d.isoformat() for d in sorted(new_dates & set(history.dates))))
    names = {header_key(c): c for c in history.components}
    new_rows = new.rows.rename(columns=lambda c: names.get(header_key(c), c)
                               if c in new.components else c)
    old = history.rows[~pd.DatetimeIndex(history.rows["date"]).normalize().isin(
        [pd.Timestamp(d) for d in new_dates])]
    if len(old):
        gone = [c for c in history.components if c not in new_rows.columns]
        came = [c for c in new_rows.columns if c not in history.rows.columns
                and c not in EXTRA_COLUMNS]
        if gone:
            notes.append(f"components not in this model are kept for older dates: "
                         f"{', '.join(gone)}")
        if came:
            notes.append(f"new components (blank for older dates): {', '.join(came)}")
    order = [*BASE_COLUMNS, *[c for c in new_rows.columns if c not in BASE_COLUMNS
                              and c not in EXTRA_COLUMNS],
             *[c for c in history.components if c not in new_rows.columns],
             *[c for c in EXTRA_COLUMNS if c in new_rows.columns or c in old.columns]]
    frames = [f for f in (old, new_rows) if len(f)]
    rows = pd.concat(frames, ignore_index=True) if frames else new_rows
    rows = rows.reindex(columns=order).sort_values("date", kind="stable", ignore_index=True)
    weights = pd.concat([history.weights[~history.weights["date"].isin(
        [pd.Timestamp(d) for d in new_dates])], new.weights], ignore_index=True)
    return History(rows, weights.sort_values("date", kind="stable", ignore_index=True)), notes


# ---------------------------------------------------------------- trend and why it moved

@dataclass(frozen=True)
class Trend:
    """Change between two snapshots, per account, split into its reasons."""

    before: dt.date
    after: dt.date
    accounts: pd.DataFrame
    effects: list[str]
    notes: tuple[str, ...] = ()


def pick_dates(history: History, before: dt.date | None = None,
               after: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The two snapshots to compare: `after` (default latest) and the one before it."""
    dates = history.dates
    if not dates:
        raise ChsError("the history is empty: take a snapshot first (chs snapshot)")
    for d in (before, after):
        if d is not None and d not in dates:
            raise ChsError(f"no snapshot on {d.isoformat()} (snapshots: "
                           f"{', '.join(x.isoformat() for x in dates[-12:])})")
    after = after or dates[-1]
    earlier = [d for d in dates if d < after]
    if before is None:
        if not earlier:
            raise ChsError(f"only one snapshot ({after.isoformat()}) up to that date: take "
                           "another snapshot to see a trend")
        before = earlier[-1]
    if before >= after:
        raise ChsError(f"--from {before.isoformat()} must be before --to {after.isoformat()}")
    return before, after


def weights_matrix(history: History, rows: pd.DataFrame, date: dt.date,
                   components: list[str]) -> tuple[np.ndarray, bool]:
    """Per-row component weights on `date` (segment-aware); (matrix, known?)."""
    table = history.weights[history.weights["date"] == pd.Timestamp(date)]
    if table.empty:
        present = ~rows[components].isna().all().to_numpy()
        return np.broadcast_to(present.astype(float), (len(rows), len(components))), False
    keys = {header_key(c): i for i, c in enumerate(components)}
    seg_keys = segment_keys(table["segment"])
    groups = list(dict.fromkeys(["", *seg_keys]))
    matrix = np.zeros((len(groups), len(components)))
    for (seg, comp), weight in zip(zip(seg_keys, table["component"], strict=True),
                                   table["weight"], strict=True):
        if header_key(comp) in keys:
            matrix[groups.index(seg), keys[header_key(comp)]] = weight
    lookup = {g: i for i, g in enumerate(groups) if g}
    return matrix[segment_keys(rows["segment"]).map(lookup).fillna(0).to_numpy(dtype=int)], \
        True


def segment_keys(values: pd.Series) -> pd.Series:
    """Segment values as matched against the model's segments: trimmed, any case."""
    return values.astype("string").str.strip().str.lower().fillna("")


def composite(weights: np.ndarray, present: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Weighted mean of the present component scores (the engine's raw health)."""
    w = weights * present
    total = w.sum(axis=1)
    return np.divide((w * np.nan_to_num(scores)).sum(axis=1), total,
                     out=np.full(len(scores), np.nan), where=total > 0)


def trend(history: History, before: dt.date | None = None, after: dt.date | None = None) \
        -> Trend:
    """Why health moved between two snapshots, exactly additive per account.

    Parameters
    ----------
    history : History
        Snapshots as `chs_excel.io.history_store.read_history` returns them.
    before, after : date, optional
        The snapshots compared (default: the last two).

    Returns
    -------
    Trend
        Per account: old and new health, the change and its parts, the main reason.

    change = sum of component contributions + model/weights + data coverage
             + caps and overrides. The path: old health -> raw (before caps) -> new
    weights -> components present both times -> new scores -> new coverage -> new caps.
    Contributions are the new normalised weight (over components present both times)
    times the change of that component's score.
    """
    before, after = pick_dates(history, before, after)
    comps = history.components
    a, b = history.at(before), history.at(after)
    both = pd.merge(a, b, on="account_id", how="outer", suffixes=("_1", "_2"),
                    indicator=True, sort=False)
    r1 = both[[f"{c}_1" for c in ("segment", *comps)]].set_axis(["segment", *comps], axis=1)
    r2 = both[[f"{c}_2" for c in ("segment", *comps)]].set_axis(["segment", *comps], axis=1)
    s1, s2 = r1[comps].to_numpy(dtype=float), r2[comps].to_numpy(dtype=float)
    p1, p2 = ~np.isnan(s1), ~np.isnan(s2)
    w1, known1 = weights_matrix(history, r1, before, comps)
    w2, known2 = weights_matrix(history, r2, after, comps)
    h1, h2 = both["health_1"].to_numpy(float), both["health_2"].to_numpy(float)
    raw1, raw2 = composite(w1, p1, s1), composite(w2, p2, s2)
    common = p1 & p2
    raw_a = composite(w2, p1, s1)
    raw_b, raw_c = composite(w2, common, s1), composite(w2, common, s2)
    shared = (w2 * common).sum(axis=1, keepdims=True)
    contrib = np.divide(w2 * common, shared, out=np.zeros_like(s1), where=shared > 0) \
        * np.nan_to_num(s2 - s1)
    has_common = shared[:, 0] > 0
    coverage = np.where(has_common, (raw_b - raw_a) + (raw2 - raw_c), raw2 - raw_a)
    out = pd.DataFrame({
        "account_id": both["account_id"],
        "owner": both["owner_2"].fillna(both["owner_1"]),
        "segment": both["segment_2"].fillna(both["segment_1"]),
        "arr": both["arr_2"].fillna(both["arr_1"]),
        "health_before": h1, "health_after": h2, "change": h2 - h1,
        "band_before": both["band_1"].fillna(ABSENT), "band_after": both["band_2"].fillna(ABSENT)})
    effects = [f"{c} contribution" for c in comps] + ["model and weights", "data coverage",
                                                      "caps and overrides"]
    valid = ~np.isnan(h1) & ~np.isnan(h2) & ~np.isnan(raw1) & ~np.isnan(raw2)
    parts = np.column_stack([contrib, raw_a - raw1, coverage, (h2 - raw2) - (h1 - raw1)])
    parts = np.where(valid[:, None], parts, np.nan)
    for k, name in enumerate(effects):
        out[name] = parts[:, k]
    out["main reason"] = _main_reason(out, both, parts, effects, comps)
    notes = _trend_notes(history, before, after, known1, known2)
    order = np.argsort(np.nan_to_num(out["change"].to_numpy(), nan=0.0), kind="stable")
    return Trend(before, after, out.iloc[order].reset_index(drop=True), effects, notes)


def _main_reason(out: pd.DataFrame, both: pd.DataFrame, parts: np.ndarray,
                 effects: list[str], comps: list[str]) -> np.ndarray:
    """The effect that moved health most in the direction it went, in words."""
    change = out["change"].to_numpy(dtype=float)
    signed = np.where(np.sign(np.nan_to_num(parts)) == np.sign(change)[:, None],
                      np.abs(np.nan_to_num(parts)), -1.0)
    best = np.argmax(signed, axis=1)
    rows = np.arange(len(best))
    size = np.nan_to_num(parts)[rows, best] if len(best) else np.zeros(0)
    names = np.array([*comps, "Model or weights changed", "Data coverage changed",
                      "Caps or overrides"], dtype=object)
    label = names[best] if len(best) else np.zeros(0, dtype=object)
    if "capped_by_2" in both.columns:
        label = _cap_label(both, best == len(effects) - 1, size, label)
    reason = label.astype(object) + " " + np.char.mod("%+.1f", size).astype(object)
    status = np.select(
        [out["band_before"].to_numpy() == ABSENT, out["band_after"].to_numpy() == ABSENT,
         np.isnan(out["health_before"].to_numpy(float)),
         np.isnan(out["health_after"].to_numpy(float)),
         np.nan_to_num(np.abs(change)) < 1e-9],
        ["New account", "Not in the latest snapshot", "No data before", "No data now",
         "No change"], "")
    return np.where(status != "", status, reason)


def _cap_label(both: pd.DataFrame, is_cap: np.ndarray, size: np.ndarray,
               label: np.ndarray) -> np.ndarray:
    """Name the cap or override behind a 'caps and overrides' effect (SQLite store only)."""
    def state(suffix: str) -> tuple[np.ndarray, np.ndarray]:
        capped = both[f"capped_by_{suffix}"].fillna("").astype(str).to_numpy(dtype=object)
        over = both[f"overridden_{suffix}"].astype("boolean").fillna(False).to_numpy(bool)
        return capped, over
    cap2, over2 = state("2")
    cap1, over1 = state("1")
    return np.select(
        [is_cap & over2, is_cap & (cap2 != "") & (size < 0), is_cap & over1,
         is_cap & (cap1 != "")],
        ["Override", "Cap: " + cap2, "Override ended", "Cap lifted: " + cap1], label)


def _trend_notes(history: History, before: dt.date, after: dt.date, known1: bool,
                 known2: bool) -> tuple[str, ...]:
    notes = []
    for d, known in ((before, known1), (after, known2)):
        if not known:
            notes.append(f"weights of the {d.isoformat()} snapshot are not recorded: "
                         "components were taken as equally weighted for it")
    comps1 = [c for c in history.components if history.at(before)[c].notna().any()]
    comps2 = [c for c in history.components if history.at(after)[c].notna().any()]
    gone = [c for c in comps1 if c not in comps2]
    came = [c for c in comps2 if c not in comps1]
    if gone or came:
        notes.append("components differ between the snapshots (aligned by name): "
                     + "; ".join(x for x in (f"only before: {', '.join(gone)}" if gone else "",
                                             f"only after: {', '.join(came)}" if came else "")
                                 if x))
    return tuple(notes)


def movers(result: Trend, top: int = 10) -> pd.DataFrame:
    """The `top` largest drops and rises, each with its main reason."""
    moved = result.accounts[result.accounts["change"].notna()
                            & (result.accounts["change"].abs() > 1e-9)]
    drops = moved[moved["change"] < 0].nsmallest(top, "change")
    rises = moved[moved["change"] > 0].nlargest(top, "change")
    cols = ["account_id", "owner", "segment", "arr", "health_before", "health_after",
            "change", "band_before", "band_after", "main reason"]
    return pd.concat([drops.assign(direction="drop"), rises.assign(direction="rise")],
                     ignore_index=True)[["direction", *cols]]


def rollup(history: History, by: str, before: dt.date | None = None,
           after: dt.date | None = None) -> pd.DataFrame:
    """Each owner's (or segment's) book: accounts, ARR, mean health and its change, bands.

    The change compares the book's mean health now with the same owner's (segment's)
    book at the previous snapshot, as it was then.
    """
    dates = history.dates
    after = after or (dates[-1] if dates else None)
    if after is None:
        raise ChsError("the history is empty: take a snapshot first (chs snapshot)")
    now = history.at(after).assign(key=lambda f: f[by].fillna(f"(no {by})"))
    out = now.groupby("key", sort=True).agg(accounts=("account_id", "size"),
                                            arr=("arr", "sum"),
                                            mean_health=("health", "mean"))
    out["arr_weighted_health"] = (now["health"] * now["arr"]).groupby(now["key"]).sum() \
        / now["arr"].where(now["health"].notna()).groupby(now["key"]).sum()
    earlier = [d for d in dates if d < after]
    prev = before or (earlier[-1] if earlier else None)
    if prev is not None:
        then = history.at(prev).assign(key=lambda f: f[by].fillna(f"(no {by})"))
        out["mean_health_before"] = then.groupby("key")["health"].mean().reindex(out.index)
        out["change"] = out["mean_health"] - out["mean_health_before"]
    counts = pd.crosstab(now["key"], now["band"]).reindex(index=out.index,
                                                          columns=list(BAND_ORDER),
                                                          fill_value=0)
    out = out.join(counts.astype("int64"))
    return out.rename_axis(by).reset_index()


def band_migration(result: Trend) -> pd.DataFrame:
    """How many accounts moved from each band (rows, before) to each band (columns, after)."""
    order = [*BAND_ORDER, ABSENT]
    table = pd.crosstab(result.accounts["band_before"], result.accounts["band_after"])
    table = table.reindex(index=order, columns=order, fill_value=0).astype("int64")
    table.index.name, table.columns.name = f"band on {result.before}", None
    table["total"] = table.sum(axis=1)
    return table.reset_index()


def book_change(history: History, before: dt.date, after: dt.date,
                by: str = "owner") -> pd.DataFrame:
    """Each owner's book, then and now: accounts, mean health and Red ARR, and their change.

    A CSM is managed by the change in their book: the book is the accounts the owner held
    on each date (an account that changed hands counts in each owner's book of its day).
    """
    def book(date: dt.date) -> pd.DataFrame:
        rows = history.at(date).assign(key=lambda f: f[by].fillna(f"(no {by})"))
        red = rows["arr"].where(rows["band"] == "Red", 0.0).fillna(0.0)
        return rows.assign(red_arr=red).groupby("key").agg(
            accounts=("account_id", "size"), mean_health=("health", "mean"),
            red_arr=("red_arr", "sum"))
    then, now = book(before), book(after)
    out = then.merge(now, how="outer", left_index=True, right_index=True,
                     suffixes=("_before", "_after"))
    out[["accounts_before", "accounts_after", "red_arr_before", "red_arr_after"]] = \
        out[["accounts_before", "accounts_after", "red_arr_before",
             "red_arr_after"]].fillna(0)
    out["health_change"] = out["mean_health_after"] - out["mean_health_before"]
    out["red_arr_change"] = out["red_arr_after"] - out["red_arr_before"]
    out = out.astype({"accounts_before": "int64", "accounts_after": "int64"})
    columns = ["accounts_before", "accounts_after", "mean_health_before",
               "mean_health_after", "health_change", "red_arr_before", "red_arr_after",
               "red_arr_change"]
    return out[columns].rename_axis(by).reset_index().sort_values(
        "health_change", kind="stable", na_position="last", ignore_index=True)
