"""Path to Green: worked examples by hand, and properties checked against the engine.

The properties re-score one account at a time with its changes applied (percentile scores
depend on the whole population, so each account is changed alone, as a CSM would act).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from chs_excel.core.engine import score
from chs_excel.core.errors import ModelError
from chs_excel.core.model import Model
from chs_excel.core.path import ALREADY_GREEN, path_to_green
from tests.test_properties import ACCOUNTS, AS_OF, MODEL

HAND = Model.from_dict({
    "name": "Hand", "bands": {"red_below": 40, "green_from": 70},
    "components": {"A": 1},
    "metrics": [{"column": "u", "component": "A", "weight": 3, "method": "linear",
                 "worst": 0, "best": 100},
                {"column": "v", "component": "A", "weight": 1, "method": "linear",
                 "worst": 0, "best": 10}],
    "rules": [{"name": "Low v", "column": "v", "op": "<=", "value": 4, "cap": 39}]})


def accounts(rows: dict[str, list[object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.insert(0, "account_id", [f"a{i}" for i in range(len(frame))])
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    return frame


def test_one_change_by_hand() -> None:
    # health = (3 u + 10 v) / 4 in score points. u=50, v=6 (60): (150 + 60)/4 = 52.5.
    # Need 17.5: u alone gains 0.75 (t - 50) -> t = 73.33, on the unit grid 74 (cost
    # 0.24); v alone gains at most 0.25 * 40 = 10: not enough. One change: u 50 -> 74.
    paths = path_to_green(HAND.replace(rules=()), accounts({"u": [50], "v": [6]}))
    assert paths.summary["path_to_green"].tolist() == ["u 50 \u2192 74"]
    assert paths.summary["path_steps"].tolist() == [1]
    assert paths.steps["health_after"].tolist() == pytest.approx([(3 * 74 + 60) / 4])


def test_a_cap_is_lifted_by_hand() -> None:
    # u=50, v=4 (40): raw (150 + 40)/4 = 47.5, capped at 39 by "v <= 4". v must pass 4:
    # v=5 adds 0.25*10 = 2.5; u then needs (70 - 50)/0.75 + 50 = 76.67 -> 77 (cost .27
    # + .1 = .37). v at 10 instead adds 15 and u needs 60 (cost .6 + .1 = .7): dearer.
    paths = path_to_green(HAND, accounts({"u": [50], "v": [4]}))
    assert paths.summary["path_to_green"].tolist() == ["u 50 \u2192 77; v 4 \u2192 5"]
    steps = paths.steps
    assert steps["step"].tolist() == [1, 2]
    assert steps["column"].tolist() == ["u", "v"]
    # After u alone the cap still holds health at 39; after v it is lifted.
    assert steps["health_after"].tolist() == pytest.approx([39, (3 * 77 + 50) / 4])


def test_green_no_data_override_and_fixed() -> None:
    rows = accounts({"u": [95, None, 10, 50], "v": [9, None, 1, 4],
                     "override_score": [None, None, 20, None]})
    fixed_v = HAND.replace(metrics=(HAND.metrics[0],
                                    HAND.metrics[1].__class__(**{
                                        **HAND.metrics[1].__dict__, "fixed": True})))
    summary = path_to_green(fixed_v, rows).summary
    assert summary["path_to_green"].tolist() == [
        ALREADY_GREEN, "no path: no data", "no path: health is set by an override",
        "no path: cap 'Low v' cannot be lifted (v is fixed)"]
    assert summary["path_steps"].tolist()[0] == 0
    assert summary["path_steps"].isna().tolist() == [False, True, True, True]


def test_unreachable_says_how_far() -> None:
    # Only u may move (v fixed): u at 100 gives (300 + 0)/4 = 75 ... with v=0 and no cap
    # Green is reachable; with green_from 80 it is not: 75.0 is the best.
    model = HAND.replace(rules=(), green_from=80.0, metrics=(
        HAND.metrics[0], HAND.metrics[1].__class__(**{**HAND.metrics[1].__dict__,
                                                      "fixed": True})))
    summary = path_to_green(model, accounts({"u": [10], "v": [0]})).summary
    assert summary["path_to_green"].iloc[0] == ("no path: with every movable metric at its "
                                                "best, health reaches only 75.0")


def test_fixed_round_trips_yaml_and_tables() -> None:
    data = HAND.to_dict()
    data["metrics"][1]["fixed"] = True
    model = Model.from_dict(data)
    assert model.metrics[1].fixed and not model.metrics[0].fixed
    assert Model.from_dict(model.to_dict()) == model
    assert Model.from_frame(model.to_frame()) == model
    tables = model.to_frame()
    tables["Metrics"] = tables["Metrics"].drop(columns="fixed")  # an older workbook
    assert not any(m.fixed for m in Model.from_frame(tables).metrics)
    data["metrics"][1]["fixed"] = "perhaps"
    with pytest.raises(ModelError, match="fixed"):
        Model.from_dict(data)


# ---------------------------------------------------------------- properties

def applied(frame: pd.DataFrame, steps: pd.DataFrame, account: str,
            skip: int | None = None) -> pd.DataFrame:
    """`frame` with the account's changes made (all but step `skip`)."""
    out = frame.copy()
    row = out.index[out["account_id"] == account][0]
    for change in steps[steps["account_id"] == account].itertuples():
        if change.step == skip:
            continue
        out.loc[row, change.column] = change.to
    return out


def band_of(model: Model, frame: pd.DataFrame, account: str) -> tuple[str, float]:
    scores = score(model, frame, as_of=AS_OF).scores.set_index("account_id")
    return scores.at[account, "band"], scores.at[account, "health"]


PROPS = settings(max_examples=40, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPS
@given(frame=ACCOUNTS)
def test_every_change_is_needed_and_together_they_make_green(frame: pd.DataFrame) -> None:
    paths = path_to_green(MODEL, frame, as_of=AS_OF)
    for account in paths.steps["account_id"].unique():
        band, health = band_of(MODEL, applied(frame, paths.steps, account), account)
        assert band == "Green", (account, health)
        mine = paths.steps[paths.steps["account_id"] == account]
        assert mine["health_after"].iloc[-1] == pytest.approx(health)
        for step in mine["step"]:
            band, _ = band_of(MODEL, applied(frame, paths.steps, account, skip=step),
                              account)
            assert band != "Green", (account, step)


LINEAR_ONLY = Model.from_dict({
    "name": "Brute", "bands": {"red_below": 40, "green_from": 75},
    "components": {"A": 2, "B": 1},
    "metrics": [
        {"column": "p", "component": "A", "weight": 2, "method": "linear", "worst": 0,
         "best": 50},
        {"column": "q", "component": "A", "method": "steps", "breaks": [5, 20],
         "points": [0, 50, 100]},
        {"column": "r", "component": "B", "method": "flag"},
        {"column": "c", "component": "B", "method": "category",
         "points": {"lo": 0, "mid": 60, "hi": 100}},
        {"column": "w", "component": "B", "method": "log", "worst": 0, "best": 1000}],
    "rules": [{"name": "Few q", "column": "q", "op": "<", "value": 5, "cap": 50}]})


def test_no_smaller_set_of_changes_reaches_green() -> None:
    """Brute force on 300 random accounts: every (k-1)-set of metrics at its best (the
    largest gain a set can have) stays below Green, so k changes are the fewest."""
    rng = np.random.default_rng(7)
    n = 300
    frame = accounts({"p": rng.uniform(-5, 60, n).round(1), "q": rng.integers(0, 30, n),
                      "r": rng.choice(["yes", "no"], n),
                      "c": rng.choice(["lo", "mid", "hi"], n),
                      "w": rng.uniform(0, 1200, n).round()})
    best = {"p": 50.0, "q": 20.0, "r": "yes", "c": "hi", "w": 1000.0}
    paths = path_to_green(LINEAR_ONLY, frame)
    base = score(LINEAR_ONLY, frame).scores
    checked = 0
    for i, steps in paths.summary["path_steps"].items():
        if pd.isna(steps) or steps < 1:
            continue
        for subset in itertools.combinations(best, int(steps) - 1):
            trial = frame.loc[[i]].copy()
            for column in subset:
                trial[column] = best[column]
            assert score(LINEAR_ONLY, trial).scores["health"].iloc[0] < 75
        checked += 1
    assert checked > 50 and (base["band"] != "Green").sum() > 50


# ---------------------------------------------------------------- the command line

def test_chs_path_writes_one_row_per_change(tmp_path) -> None:
    import openpyxl

    from chs_excel.io.sample import make_sample
    from tests.cli_runner import run
    make_sample(200, seed=3).to_csv(tmp_path / "a.csv", index=False)
    code, out = run("path", str(tmp_path / "a.csv"), "-o", str(tmp_path / "p.csv"))
    assert code == 0, out
    assert "Paths to Green for" in out
    steps = pd.read_csv(tmp_path / "p.csv")
    assert list(steps.columns) == ["account_id", "step", "column", "from", "to",
                                   "health_after"]
    assert (steps.groupby("account_id")["health_after"].last() >= 70 - 1e-9).all()
    code, out = run("score", str(tmp_path / "a.csv"), "-o", str(tmp_path / "s.csv"))
    assert code == 0, out
    scores = pd.read_csv(tmp_path / "s.csv")
    counts = steps.groupby("account_id").size()
    with_path = scores.set_index("account_id")["path_steps"]
    assert (with_path.reindex(counts.index) == counts).all()
    code, out = run("path", str(tmp_path / "a.csv"), "-o", str(tmp_path / "p.xlsx"))
    assert code == 0, out
    book = openpyxl.load_workbook(tmp_path / "p.xlsx")
    assert "PathSteps" in book["Path to Green"].tables
    assert "PathToGreen" in book["Accounts"].tables
    code, out = run("path", str(tmp_path / "a.csv"), "-o", str(tmp_path / "a.csv"))
    assert code == 1 and "inputs are never changed" in out
