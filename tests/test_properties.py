"""Properties of the engine that must hold for any accounts (hypothesis).

They use a compact model with every method (including percentile), critical rules on a
numeric, a flag and a category metric, and segment weights, on random accounts with
junk, blanks and odd labels (the health range is also checked on the shipped default
model). The compact model keeps each property to a few seconds.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chs_excel.core.engine import score
from chs_excel.core.model import Metric, Model, default_model

AS_OF = dt.date(2024, 6, 30)
MODEL = Model.from_dict({
    "name": "Properties", "scale": 100, "bands": {"red_below": 40, "green_from": 70},
    "components": {"Usage": 40, "Support": 25, "Money": 35},
    "metrics": [
        {"column": "util", "component": "Usage", "weight": 2, "method": "linear",
         "worst": 20, "best": 90},
        {"column": "logins", "component": "Usage", "method": "steps", "breaks": [5, 20, 60],
         "points": [0, 40, 70, 100]},
        {"column": "adoption", "component": "Usage", "method": "percentile"},
        {"column": "tickets", "component": "Support", "method": "linear", "worst": 15,
         "best": 0},
        {"column": "response", "component": "Support", "weight": 0.5, "method": "steps",
         "breaks": [4, 24, 72], "points": [100, 70, 40, 0]},
        {"column": "sponsor", "component": "Money", "method": "flag", "good": True},
        {"column": "contract", "component": "Money", "weight": 3, "method": "category",
         "points": {"Monthly": 30, "Annual": 70, "Multi-year": 100}}],
    # Every rule fires on a bad value, so moving toward best can only lift a cap.
    "rules": [{"name": "Many tickets", "column": "tickets", "op": ">=", "value": 10,
               "cap": 45},
              {"name": "No sponsor", "column": "sponsor", "op": "=", "value": False,
               "cap": 60},
              {"name": "Monthly", "column": "contract", "op": "=", "value": "monthly",
               "cap": 50}],
    "segments": {"column": "plan", "weights": {
        "Starter": {"Usage": 60, "Support": 10, "Money": 30},
        "Enterprise": {"Usage": 20, "Support": 30, "Money": 50}}},
})
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

JUNK = st.sampled_from([None, "", "NA", "n/a", "abc", "inf"])
NUMBER = st.one_of(st.floats(-100, 300, allow_nan=False, width=32), st.integers(-20, 200))
CONTRACT_LABELS = ["Monthly", " annual", "MULTI-YEAR", "Weekly"]


def cell(metric: Metric) -> st.SearchStrategy[Any]:
    """A cell for `metric`: usually a valid value, sometimes blank or junk."""
    if metric.method == "flag":
        valid: st.SearchStrategy[Any] = st.sampled_from(["yes", "no", "Y", "0", 1, True,
                                                         False, "maybe"])
    elif metric.method == "category":
        valid = st.sampled_from(CONTRACT_LABELS)
    else:
        valid = NUMBER
    return st.one_of(valid, valid, valid, JUNK)


DEFAULT = default_model()
ROW = st.fixed_dictionaries({
    **{m.column: cell(m) for m in MODEL.metrics},
    "plan": st.sampled_from(["Starter", " enterprise", "Other", None]),
    "region": st.sampled_from(["EU", "us", None]),
    "arr": st.one_of(st.none(), st.integers(0, 10**6)),
})


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Accounts acc0, acc1, ... with spreadsheet-like row numbers as the index."""
    data = pd.DataFrame(rows, dtype=object)
    data.insert(0, "account_id", [f"acc{i}" for i in range(len(rows))])
    data.index = pd.RangeIndex(2, 2 + len(rows))
    return data


ACCOUNTS = st.lists(ROW, min_size=1, max_size=20).map(frame)


def run(model: Model, accounts: pd.DataFrame) -> pd.DataFrame:
    return score(model, accounts, as_of=AS_OF).scores


# ---------------------------------------------------------------- health range

@FAST
@given(accounts=ACCOUNTS,
       overrides=st.lists(st.one_of(st.none(), st.floats(-50, 150, allow_nan=False),
                                    st.just("high")), min_size=20, max_size=20))
def test_health_is_blank_or_within_the_scale(accounts: pd.DataFrame,
                                              overrides: list[Any]) -> None:
    accounts = accounts.assign(override_score=overrides[:len(accounts)])
    check_ranges(MODEL, run(MODEL, accounts))


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=st.lists(st.fixed_dictionaries({
    **{m.column: cell(m) for m in DEFAULT.metrics},
    "plan": st.sampled_from(["Starter", "enterprise", None])}), min_size=1, max_size=20))
def test_default_model_health_is_blank_or_within_the_scale(rows: list[dict[str, Any]]) -> None:
    check_ranges(DEFAULT, run(DEFAULT, frame(rows)))


def check_ranges(model: Model, s: pd.DataFrame) -> None:
    """Health, components and metric scores in 0..scale or blank; coverage in 0..1."""
    health = s["health"].to_numpy(dtype=float)
    present = ~np.isnan(health)
    assert ((health[present] >= 0) & (health[present] <= model.scale)).all()
    assert (s["band"].to_numpy()[~present] == "No data").all()
    coverage = s["coverage"].to_numpy(dtype=float)
    assert ((coverage >= 0) & (coverage <= 1 + 1e-12)).all()
    columns = [*model.components, *(f"{m.column}_score" for m in model.metrics)]
    scores = s[columns].to_numpy(dtype=float)
    scores = scores[~np.isnan(scores)]
    assert ((scores >= 0) & (scores <= model.scale)).all()


# ---------------------------------------------------------------- monotonicity

def better_direction(metric: Metric) -> float:
    """+1 when a larger raw value scores at least as well, -1 when a smaller one does."""
    if metric.method == "linear":
        return 1.0 if metric.best > metric.worst else -1.0
    if metric.method == "steps":
        assert list(metric.points) in (sorted(metric.points),
                                       sorted(metric.points, reverse=True))
        return 1.0 if metric.points[-1] >= metric.points[0] else -1.0
    return 1.0 if metric.higher_is_better else -1.0


@st.composite
def improvement(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, int, Metric]:
    """(accounts, the same accounts with one valid value moved toward best, row, metric)."""
    accounts = draw(ACCOUNTS)
    i = draw(st.integers(0, len(accounts) - 1))
    metric = draw(st.sampled_from(MODEL.metrics))
    if metric.method == "flag":
        old: Any = draw(st.sampled_from(["yes", "no", True, False, 1, 0]))
        new: Any = metric.good
    elif metric.method == "category":
        points = dict(metric.categories)
        old = draw(st.sampled_from(list(points)))
        new = draw(st.sampled_from([k for k, p in points.items() if p >= points[old]]))
    else:
        old = draw(st.floats(-100, 300, allow_nan=False))
        new = old + better_direction(metric) * draw(st.floats(0, 400, allow_nan=False))
    before, after = accounts.copy(), accounts.copy()
    before.iloc[i, before.columns.get_loc(metric.column)] = old
    after.iloc[i, after.columns.get_loc(metric.column)] = new
    return before, after, i, metric


@FAST
@given(case=improvement())
def test_moving_a_metric_toward_best_never_lowers_that_accounts_health(
        case: tuple[pd.DataFrame, pd.DataFrame, int, Metric]) -> None:
    """One account's valid value moves toward its metric's best; others' values are fixed.

    Its own health cannot fall: its metric score does not fall (for percentile too, as the
    count of other values beaten can only grow while n stays the same), and the model's
    rules fire on bad values only. With percentile, *other*
    accounts may score lower (population effect), so for a percentile metric only the
    moved account is checked; for every other method the rest are unchanged.
    """
    before, after, i, metric = case
    old, new = run(MODEL, before), run(MODEL, after)
    h_old, h_new = old["health"].iloc[i], new["health"].iloc[i]
    assert not math.isnan(h_new)
    assert math.isnan(h_old) or h_new >= h_old - 1e-9
    col = f"{metric.column}_score"
    assert new[col].iloc[i] >= old[col].iloc[i] - 1e-9
    if metric.method != "percentile":
        others = np.arange(len(before)) != i
        a = old["health"].to_numpy(dtype=float)[others]
        b = new["health"].to_numpy(dtype=float)[others]
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- row order

@FAST
@given(accounts=ACCOUNTS, data=st.data())
def test_shuffling_rows_changes_no_accounts_result(accounts: pd.DataFrame,
                                                  data: st.DataObject) -> None:
    """Percentile ranks and quartile cut points depend on the population, not its order."""
    model = MODEL.replace(quartiles_by="region")
    order = data.draw(st.permutations(range(len(accounts))))
    first = score(model, accounts, as_of=AS_OF)
    second = score(model, accounts.iloc[list(order)], as_of=AS_OF)
    a = first.scores.set_index("account_id").sort_index()
    b = second.scores.set_index("account_id").sort_index()
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, atol=1e-12)
    pd.testing.assert_frame_equal(first.issues, second.issues)


# ---------------------------------------------------------------- weight scale

def scaled(model: Model, factor: float) -> Model:
    """`model` with every component, metric and segment weight multiplied by `factor`."""
    data = model.to_dict()
    data["components"] = {c: w * factor for c, w in data["components"].items()}
    for metric in data["metrics"]:
        metric["weight"] = metric["weight"] * factor
    data["segments"]["weights"] = {s: {c: w * factor for c, w in ws.items()}
                                   for s, ws in data["segments"]["weights"].items()}
    return Model.from_dict(data)


def quartile_cuts(health: np.ndarray) -> np.ndarray:
    present = health[~np.isnan(health)]
    return np.percentile(present, [25, 50, 75]) if len(present) else np.array([])


def clear_of(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Rows whose value is blank or further than 1e-9 from every edge."""
    far = (np.abs(values[:, None] - edges[None, :]) > 1e-9).all(axis=1)
    return np.isnan(values) | far


def clear_minimum(comp_scores: np.ndarray) -> np.ndarray:
    """Rows whose lowest present component beats the runner-up by more than 1e-9."""
    ordered = np.sort(np.where(np.isnan(comp_scores), np.inf, comp_scores), axis=1)
    return (ordered[:, 1] - ordered[:, 0] > 1e-9) | np.isinf(ordered[:, 0])


@FAST
@given(accounts=ACCOUNTS, factor=st.floats(1e-3, 1e3))
def test_scaling_every_weight_changes_nothing(accounts: pd.DataFrame, factor: float) -> None:
    """Weights only matter relative to each other.

    Numbers agree within 1e-9. Outputs that pick one side of a boundary are compared where
    the unscaled result is not within 1e-9 of it (rescaled weights can move a score by an
    ulp): band vs thresholds, quartile vs cut points, low_data vs min_coverage, and the
    weakest component (with its points_at_stake) where two components tie for lowest.
    """
    old, new = run(MODEL, accounts), run(scaled(MODEL, factor), accounts)
    numeric = ["health", "raw_health", "coverage", *MODEL.components,
               *(f"{m.column}_score" for m in MODEL.metrics)]
    for col in numeric:
        np.testing.assert_allclose(new[col].to_numpy(dtype=float),
                                   old[col].to_numpy(dtype=float), rtol=0, atol=1e-9,
                                   err_msg=col)
    health = old["health"].to_numpy(dtype=float)
    clear = clear_of(health, np.array([MODEL.red_below, MODEL.green_from]))
    assert new["band"][clear].tolist() == old["band"][clear].tolist()
    clear = clear_of(health, quartile_cuts(health))
    assert new["quartile"][clear].tolist() == old["quartile"][clear].tolist()
    clear = clear_of(old["coverage"].to_numpy(dtype=float), np.array([MODEL.min_coverage]))
    assert new["low_data"][clear].tolist() == old["low_data"][clear].tolist()
    clear = clear_minimum(old[list(MODEL.components)].to_numpy(dtype=float))
    assert new["weakest_component"][clear].tolist() == old["weakest_component"][clear].tolist()
    np.testing.assert_allclose(new["points_at_stake"][clear].to_numpy(dtype=float),
                               old["points_at_stake"][clear].to_numpy(dtype=float),
                               rtol=0, atol=1e-9)
