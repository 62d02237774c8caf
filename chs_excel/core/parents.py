"""Parent accounts: each parent's accounts rolled up from the engine's scores (docs/parents.md).

An account names its parent in the optional `parent_id` column (a header like the other
identity columns: case, spaces and `_` ignored). Parent ids are text keys (docs/scoring.md,
"Text keys": case, odd spaces and trimming ignored), shown as first spelled. A parent need
not be an account (a group name). The roll-up is one level: a parent's accounts are those
naming it directly; a parent that is itself an account is not part of its own roll-up (it is
part of its own parent's, if it names one). An account that is its own parent, or a cycle
(A -> B -> A, or longer), is an `InputError` naming the rows.

Per parent, in order of first appearance: `parent_id`, `accounts`, `arr` (sum; blank ARR
counts 0), `health` (ARR-weighted mean of its accounts' health over those that have one;
the plain mean when their ARR sums to 0; blank when none has a health), `band` (the model's
bands on that health, `engine.band_of`), `worst_account` and `worst_health` (the lowest
health; ties: the first in input order).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from chs_excel.core.engine import band_of, cell_texts
from chs_excel.core.errors import InputError
from chs_excel.core.model import Model
from chs_excel.core.values import text_keys

PARENT_COLUMN = "parent_id"
PARENTS_COLUMNS = ("parent_id", "accounts", "arr", "health", "band", "worst_account",
                   "worst_health")
CYCLES_SHOWN = 5  # cycles named in the error message


def has_parents(scores: pd.DataFrame) -> bool:
    """Whether the scores carry a parent_id column (the input had one)."""
    return PARENT_COLUMN in scores.columns


def parent_keys(scores: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each account's parent as written (trimmed text, None when blank) and as its text key
    ('' when blank)."""
    text = cell_texts(scores[PARENT_COLUMN])
    keys = text_keys(text).fillna("")
    return text.where(keys != "", None), keys


def parent_rollup(model: Model, scores: pd.DataFrame) -> pd.DataFrame | None:
    """One row per parent (PARENTS_COLUMNS), from the engine's `scores`; None when the
    accounts have no parent_id column.

    Parameters
    ----------
    model : Model
        Gives the bands (`red_below`, `green_from`) the parent's health is banded by.
    scores : DataFrame
        The engine's output (`Scoring.scores`): account_id, parent_id, health and, if the
        input had it, arr; its index labels are the file rows named in errors.

    Returns
    -------
    DataFrame or None
        Parents in order of first appearance, or None without a parent_id column.
    """
    if not has_parents(scores):
        return None
    shown, keys = parent_keys(scores)
    check_no_cycles(scores, keys)
    health = pd.to_numeric(scores["health"], errors="coerce").to_numpy(dtype=float)
    arr = pd.to_numeric(scores["arr"], errors="coerce").fillna(0.0).to_numpy(dtype=float) \
        if "arr" in scores else np.zeros(len(scores))
    has = keys.to_numpy() != ""
    codes, uniques = pd.factorize(keys[has], sort=False)
    groups = len(uniques)
    h, w = health[has], arr[has]
    scored = ~np.isnan(h)
    count = np.bincount(codes, minlength=groups)
    total_arr = np.bincount(codes, weights=w, minlength=groups)
    n_scored = np.bincount(codes, weights=scored.astype(float), minlength=groups)
    plain = np.bincount(codes, weights=np.where(scored, h, 0.0), minlength=groups)
    weight = np.bincount(codes, weights=np.where(scored, w, 0.0), minlength=groups)
    weighted = np.bincount(codes, weights=np.where(scored, w * h, 0.0), minlength=groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(weight != 0, weighted / weight, plain / n_scored)
    mean = np.where(n_scored > 0, mean, np.nan)
    order = pd.DataFrame({"g": codes, "h": np.where(scored, h, np.inf),
                          "i": np.arange(len(h))})
    worst = order[scored].sort_values(["g", "h", "i"], kind="stable") \
        .drop_duplicates("g").set_index("g")
    worst_pos = worst["i"].reindex(range(groups)).to_numpy()
    ids = scores["account_id"].to_numpy(dtype=object)[has]
    found = ~np.isnan(worst_pos)
    worst_account = np.full(groups, None, dtype=object)
    worst_health = np.full(groups, np.nan)
    worst_account[found] = ids[worst_pos[found].astype(int)]
    worst_health[found] = h[worst_pos[found].astype(int)]
    first = pd.Series(shown.to_numpy(dtype=object)[has]).groupby(codes, sort=True).first()
    return pd.DataFrame({
        "parent_id": first.to_numpy(dtype=object), "accounts": count, "arr": total_arr,
        "health": mean, "band": band_of(mean, model.red_below, model.green_from),
        "worst_account": worst_account, "worst_health": worst_health})


def check_no_cycles(scores: pd.DataFrame, keys: pd.Series) -> None:
    """Refuse an account that is its own parent or an ancestor of itself (a cycle),
    naming the rows; parents that are not accounts end a chain (a group name)."""
    ids = text_keys(cell_texts(scores["account_id"])).fillna("")
    position = pd.Series(np.arange(len(ids)), index=ids.to_numpy())
    position = position[~position.index.duplicated()]
    parent = position.reindex(keys.to_numpy()).fillna(-1).to_numpy(dtype=np.int64)
    n = len(parent)
    if not n or not (parent >= 0).any():
        return
    # p applied 2^k >= n times: every chain that ends has ended (-1); the rest sit on a
    # cycle, and p is a rotation of each cycle, so the images are exactly the cycles' nodes.
    step = np.append(parent, -1)            # -1 -> -1 (index n)
    step[step < 0] = n
    reach = step.copy()
    low = np.append(np.arange(n), n)        # least position met on the way (the cycle's id)
    for _ in range(max(1, int(np.ceil(np.log2(n + 1))))):
        low = np.minimum(low, low[reach])
        reach = reach[reach]
    on_cycle = np.zeros(n + 1, dtype=bool)
    on_cycle[reach[:n]] = True
    on_cycle = on_cycle[:n]
    if not on_cycle.any():
        return
    rows = scores.index.to_numpy()
    names = cell_texts(scores["account_id"]).to_numpy(dtype=object)
    shown = cell_texts(scores[PARENT_COLUMN]).to_numpy(dtype=object)
    cycle = pd.DataFrame({"id": low[:n], "row": rows, "name": names,
                          "parent": shown})[on_cycle]
    parts = []
    for _, g in list(cycle.groupby("id", sort=True))[:CYCLES_SHOWN]:
        if len(g) == 1:
            parts.append(f"row {g['row'].iloc[0]}: account {g['name'].iloc[0]!r} is its "
                         "own parent")
        else:
            links = ", ".join(f"{a} -> {b}" for a, b in zip(g["name"], g["parent"],
                                                             strict=True))
            parts.append(f"rows {', '.join(str(r) for r in g['row'])}: a cycle ({links})")
    more = cycle["id"].nunique() - CYCLES_SHOWN
    also = f"; and {more} more" if more > 0 else ""
    raise InputError(f"column {PARENT_COLUMN!r}: {'; '.join(parts)}{also}. An account's "
                     "parent cannot be itself or one of its own accounts: correct the "
                     "parent_id in those rows")
