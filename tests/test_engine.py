"""The pandas engine against docs/scoring.md, on cases whose answers are worked out by hand here."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from chs_excel.core.engine import Scoring, score, score_accounts
from chs_excel.core.errors import InputError
from chs_excel.core.model import Model, default_model

AS_OF = dt.date(2024, 6, 30)
NAN = math.nan


def make_model(metrics: list[dict[str, Any]], components: dict[str, float] | None = None,
               **extra: Any) -> Model:
    """A model from the documented YAML structure (one component 'A' unless told otherwise)."""
    return Model.from_dict({"name": "test", "components": components or {"A": 1},
                            "metrics": metrics, **extra})


def linear(column: str = "x", component: str = "A", worst: float = 0, best: float = 100,
           weight: float = 1) -> dict[str, Any]:
    return {"column": column, "component": component, "weight": weight, "method": "linear",
            "worst": worst, "best": best}


def run(model: Model, columns: dict[str, Any], index: Any = None, **kwargs: Any) -> Scoring:
    """Score accounts a0, a1, ... given their columns (lists become object columns)."""
    n = len(next(iter(columns.values())))
    data = {"account_id": [f"a{i}" for i in range(n)]}
    data.update({k: pd.Series(v, dtype=object) if isinstance(v, list) else v
                 for k, v in columns.items()})
    frame = pd.DataFrame({k: (v.to_numpy() if isinstance(v, pd.Series) else v)
                          for k, v in data.items()}, index=index)
    return score(model, frame, as_of=kwargs.pop("as_of", AS_OF), **kwargs)


def values(series: pd.Series) -> list[float]:
    return series.to_numpy(dtype=float, na_value=np.nan).tolist()


def assert_close(actual: pd.Series | list[float], expected: list[float]) -> None:
    got = values(actual) if isinstance(actual, pd.Series) else list(actual)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        if math.isnan(e):
            assert math.isnan(g), (got, expected)
        else:
            assert g == pytest.approx(e, rel=1e-12, abs=1e-12), (got, expected)


def issue_cells(scoring: Scoring) -> list[tuple[Any, str]]:
    return list(zip(scoring.issues["row"], scoring.issues["column"], strict=True))


# ---------------------------------------------------------------- linear

def test_linear_higher_is_better_with_clamping() -> None:
    m = make_model([linear(worst=20, best=90)])
    s = run(m, {"x": [20, 55, 90, 10, 120, 50, 20.7]}).scores
    assert_close(s["x_score"], [0.0, (55 - 20) / 70 * 100, 100.0, 0.0, 100.0,
                                (50 - 20) / 70 * 100, (20.7 - 20) / 70 * 100])
    assert_close(s["health"], values(s["x_score"]))
    assert_close(s["A"], values(s["x_score"]))


def test_linear_lower_is_better_with_clamping() -> None:
    m = make_model([linear(worst=15, best=0)])
    s = run(m, {"x": [0, 3, 15, 20, -1, 7.5]}).scores
    assert_close(s["x_score"], [100.0, (3 - 15) / (0 - 15) * 100, 0.0, 0.0, 100.0, 50.0])


def test_linear_negative_range() -> None:
    m = make_model([linear(worst=-30, best=20)])
    s = run(m, {"x": [-30, -5, 0, 20]}).scores
    assert_close(s["x_score"], [0.0, (-5 + 30) / 50 * 100, (0 + 30) / 50 * 100, 100.0])


def test_scale_other_than_100() -> None:
    m = make_model([linear(worst=0, best=100),
                    {"column": "s", "component": "A", "method": "steps", "breaks": [10],
                     "points": [2, 8]}],
                   scale=10, bands={"red_below": 4, "green_from": 7})
    s = run(m, {"x": [50, 100], "s": [5, 10]}).scores
    assert_close(s["x_score"], [50 / 100 * 10, 10.0])
    assert_close(s["s_score"], [2.0, 8.0])
    assert_close(s["health"], [(5 + 2) / 2, (10 + 8) / 2])
    assert s["band"].tolist() == ["Red", "Green"]
    # points_at_stake counts up to the model's scale, not 100.
    assert_close(s["points_at_stake"], [10 - 3.5, 10 - 9])


# ---------------------------------------------------------------- steps

def test_steps_at_and_around_each_break() -> None:
    m = make_model([{"column": "x", "component": "A", "method": "steps",
                     "breaks": [5, 20, 60], "points": [0, 40, 70, 100]}])
    xs = [-3, 4.999, 5, 5.001, 19.99, 20, 59.9, 60, 60.1, 1e6]
    s = run(m, {"x": xs}).scores
    assert_close(s["x_score"], [0, 0, 40, 40, 40, 70, 70, 100, 100, 100])


def test_steps_lower_is_better() -> None:
    m = make_model([{"column": "x", "component": "A", "method": "steps",
                     "breaks": [4, 24, 72], "points": [100, 70, 40, 0]}])
    s = run(m, {"x": [0, 3.9, 4, 23, 24, 72, 100]}).scores
    assert_close(s["x_score"], [100, 100, 70, 70, 40, 0, 0])


def test_steps_single_break_and_missing() -> None:
    m = make_model([{"column": "x", "component": "A", "method": "steps",
                     "breaks": [0], "points": [25, 75]}])
    s = run(m, {"x": [-0.001, 0, None, "NA"]}).scores
    assert_close(s["x_score"], [25, 75, NAN, NAN])


# ---------------------------------------------------------------- percentile

def percentile_model(higher_is_better: bool = True) -> Model:
    return make_model([{"column": "x", "component": "A", "method": "percentile",
                        "higher_is_better": higher_is_better}])


def test_percentile_with_ties_and_missing_values_excluded() -> None:
    cells = [10, 20, 20, 30, None, "abc", "n/a"]
    s = run(percentile_model(), {"x": cells})
    # n = 4 accounts have a value; the text cell is reported and excluded like a blank.
    assert_close(s.scores["x_score"], [0 / 3 * 100, 1 / 3 * 100, 1 / 3 * 100, 3 / 3 * 100,
                                       NAN, NAN, NAN])
    assert issue_cells(s) == [(5, "x")]


def test_percentile_lower_is_better_counts_values_above() -> None:
    s = run(percentile_model(False), {"x": [10, 20, 20, 30, None]}).scores
    assert_close(s["x_score"], [3 / 3 * 100, 1 / 3 * 100, 1 / 3 * 100, 0 / 3 * 100, NAN])


def test_percentile_all_equal_scores_zero() -> None:
    for better in (True, False):
        s = run(percentile_model(better), {"x": [5, 5, 5]}).scores
        assert_close(s["x_score"], [0.0, 0.0, 0.0])


@pytest.mark.parametrize("better", [True, False])
def test_percentile_single_value_scores_full(better: bool) -> None:
    s = run(percentile_model(better), {"x": [None, 42, "NA", "junk"]}).scores
    assert_close(s["x_score"], [NAN, 100.0, NAN, NAN])


def test_percentile_two_values() -> None:
    s = run(percentile_model(), {"x": [2.5, 1]}).scores
    assert_close(s["x_score"], [100.0, 0.0])


def test_percentile_float_column() -> None:
    s = run(percentile_model(), {"x": np.array([3.0, np.nan, 1.0, 2.0, 4.0])}).scores
    assert_close(s["x_score"], [2 / 3 * 100, NAN, 0.0, 1 / 3 * 100, 100.0])


# ---------------------------------------------------------------- flag

TRUE_CELLS = ["1", "true", "TRUE", "Yes", "y", "Y", "x", "X", " yes ", 1, 1.0, True]
FALSE_CELLS = ["0", "false", "FALSE", "No", "n", "N", " no ", 0, 0.0, False]


@pytest.mark.parametrize("good", [True, False])
def test_flag_true_and_false_words(good: bool) -> None:
    m = make_model([{"column": "f", "component": "A", "method": "flag", "good": good}])
    s = run(m, {"f": TRUE_CELLS + FALSE_CELLS})
    hit, miss = (100.0, 0.0) if good else (0.0, 100.0)
    assert_close(s.scores["f_score"], [hit] * len(TRUE_CELLS) + [miss] * len(FALSE_CELLS))
    assert s.issues.empty


def test_flag_odd_values_are_missing_and_reported() -> None:
    m = make_model([{"column": "f", "component": "A", "method": "flag"}])
    odd = ["maybe", 2, 0.5, "t", "-1", "yes please"]
    blank = [None, "", "NA", "n/a", "null", "none", "nan"]
    s = run(m, {"f": odd + blank})
    assert_close(s.scores["f_score"], [NAN] * (len(odd) + len(blank)))
    assert s.issues["row"].tolist() == list(range(len(odd)))
    assert s.issues["value"].tolist() == odd
    assert set(s.issues["column"]) == {"f"}


def test_flag_boolean_and_float_columns() -> None:
    m = make_model([{"column": "f", "component": "A", "method": "flag"}])
    s = run(m, {"f": np.array([True, False])})
    assert_close(s.scores["f_score"], [100.0, 0.0])
    s = run(m, {"f": np.array([1.0, 0.0, np.nan, 3.0])})
    assert_close(s.scores["f_score"], [100.0, 0.0, NAN, NAN])
    assert issue_cells(s) == [(3, "f")]


# ---------------------------------------------------------------- category

CONTRACT = {"column": "contract", "component": "A", "method": "category",
            "points": {"Monthly": 30, "Annual": 70, "Multi-year": 100}}


def test_category_labels_ignore_case_and_surrounding_spaces() -> None:
    cells = ["Monthly", " annual", "MULTI-YEAR ", "multi-year", "Weekly", "", None, "NA",
             "Multi year"]
    s = run(make_model([CONTRACT]), {"contract": cells})
    assert_close(s.scores["contract_score"], [30, 70, 100, 100, NAN, NAN, NAN, NAN, NAN])
    assert issue_cells(s) == [(4, "contract"), (8, "contract")]
    assert s.issues["value"].tolist() == ["Weekly", "Multi year"]
    assert "unknown category" in s.issues["problem"].iloc[0]


def test_category_with_number_labels() -> None:
    m = make_model([{"column": "tier", "component": "A", "method": "category",
                     "points": {1: 10, 2: 90}}])
    s = run(m, {"tier": [1, 2.0, " 2 ", 3]})
    assert_close(s.scores["tier_score"], [10, 90, 90, NAN])
    assert issue_cells(s) == [(3, "tier")]


# ---------------------------------------------------------------- numbers

def test_numbers_blank_words_are_missing_and_bad_values_reported() -> None:
    m = make_model([linear()])
    cells = ["12", " 7 ", "NA", "n/a", "null", "None", "nan", "", None, "abc", "inf", True,
             "1e1", dt.date(2024, 1, 1), math.inf, "-inf"]
    s = run(m, {"x": cells})
    assert_close(s.scores["x_score"], [12, 7] + [NAN] * 7 + [NAN, NAN, NAN, 10, NAN, NAN,
                                                             NAN])
    assert s.issues["row"].tolist() == [9, 10, 11, 13, 14, 15]
    assert s.issues["value"].tolist()[:3] == ["abc", "inf", True]
    assert set(s.issues["problem"]) == {"not a number"}


def test_numbers_float_column_with_inf() -> None:
    s = run(make_model([linear()]), {"x": np.array([1.0, np.inf, np.nan, -np.inf])})
    assert_close(s.scores["x_score"], [1.0, NAN, NAN, NAN])
    assert issue_cells(s) == [(1, "x"), (3, "x")]


def test_numbers_boolean_and_date_columns_are_reported() -> None:
    m = make_model([linear()])
    s = run(m, {"x": np.array([True, False])})
    assert_close(s.scores["x_score"], [NAN, NAN])
    assert len(s.issues) == 2
    s = run(m, {"x": pd.to_datetime(["2024-01-01", "2024-02-01"]).to_numpy()})
    assert_close(s.scores["x_score"], [NAN, NAN])
    assert len(s.issues) == 2


# ---------------------------------------------------------------- rules

OPS = [("<", [True, False, False, False]), ("<=", [True, True, False, False]),
       (">", [False, False, True, False]), (">=", [False, True, True, False]),
       ("=", [False, True, False, False]), ("<>", [True, False, True, False])]


@pytest.mark.parametrize(("op", "fires"), OPS, ids=[op for op, _ in OPS])
def test_rule_operators_at_the_boundary(op: str, fires: list[bool]) -> None:
    m = make_model([linear()], rules=[{"name": "R", "column": "x", "op": op, "value": 50,
                                       "cap": 10}])
    s = run(m, {"x": [49, 50, 51, None]}).scores
    raw = [49.0, 50.0, 51.0, NAN]
    assert_close(s["raw_health"], raw)
    assert_close(s["health"], [10.0 if f else r for f, r in zip(fires, raw, strict=True)])
    assert s["capped_by"].tolist() == ["R" if f else "" for f in fires]


def test_rule_cap_above_raw_health_keeps_raw_and_is_named() -> None:
    m = make_model([linear()], rules=[{"name": "R", "column": "x", "op": "<", "value": 50,
                                       "cap": 30}])
    s = run(m, {"x": [20, 40]}).scores
    assert_close(s["health"], [20.0, 30.0])
    assert s["capped_by"].tolist() == ["R", "R"]


def test_several_caps_take_the_lowest_and_are_named_in_model_order() -> None:
    rules = [{"name": "Second cap", "column": "x", "op": "<", "value": 90, "cap": 35},
             {"name": "First cap", "column": "x", "op": "<", "value": 80, "cap": 20},
             {"name": "Never", "column": "x", "op": ">", "value": 95, "cap": 0}]
    s = run(make_model([linear()], rules=rules), {"x": [70, 85, 99, 92]}).scores
    assert_close(s["health"], [min(70, 35, 20), min(85, 35), min(99, 0), 92])
    assert s["capped_by"].tolist() == ["Second cap; First cap", "Second cap", "Never", ""]


def test_rule_on_non_metric_columns() -> None:
    rules = [{"name": "Not EU", "column": "Region", "op": "<>", "value": "eu", "cap": 60},
             {"name": "Small", "column": "employees", "op": "<", "value": 10, "cap": 50}]
    m = make_model([linear()], rules=rules)
    s = run(m, {"x": [90] * 6, "region": ["EU", " eu ", "US", None, "n/a", "EU"],
                "employees": [5, 10, 100, "many", None, "9.5"]})
    assert_close(s.scores["health"], [50, 90, 60, 90, 90, 50])
    assert s.scores["capped_by"].tolist() == ["Small", "", "Not EU", "", "", "Small"]
    assert issue_cells(s) == [(3, "employees")]
    assert "rule 'Small'" in s.issues["problem"].iloc[0]


def test_rule_on_flag_metric() -> None:
    flag = {"column": "sponsor", "component": "A", "method": "flag"}
    m = make_model([linear(), flag], rules=[
        {"name": "No sponsor", "column": "sponsor", "op": "=", "value": False, "cap": 25}])
    s = run(m, {"x": [100] * 5, "sponsor": ["no", "Yes", "0", "maybe", None]}).scores
    assert s["capped_by"].tolist() == ["No sponsor", "", "No sponsor", "", ""]
    assert_close(s["health"], [25, (100 + 100) / 2, 25, 100, 100])


def test_rule_on_flag_metric_with_not_equal_and_word_value() -> None:
    flag = {"column": "sponsor", "component": "A", "method": "flag"}
    m = make_model([flag], rules=[
        {"name": "R", "column": "sponsor", "op": "<>", "value": "yes", "cap": 25}])
    s = run(m, {"sponsor": ["no", "Y", None]}).scores
    assert s["capped_by"].tolist() == ["R", "", ""]


def test_rule_on_category_metric() -> None:
    rules = [{"name": "Monthly", "column": "contract", "op": "=", "value": "MONTHLY",
              "cap": 20},
             {"name": "Not annual", "column": "contract", "op": "<>", "value": "annual",
              "cap": 50}]
    s = run(make_model([CONTRACT, linear()], rules=rules),
            {"contract": [" monthly", "Annual", "Multi-year", "Weekly", "N/A", None],
             "x": [100] * 6})
    # Unknown labels and blanks are missing: they never trigger, not even '<>'.
    assert s.scores["capped_by"].tolist() == ["Monthly; Not annual", "", "Not annual", "",
                                              "", ""]
    assert_close(s.scores["raw_health"], [(30 + 100) / 2, (70 + 100) / 2, (100 + 100) / 2,
                                          100, 100, 100])
    assert_close(s.scores["health"], [20, (70 + 100) / 2, 50, 100, 100, 100])


def test_rule_compares_the_raw_value_of_a_percentile_metric() -> None:
    pct = {"column": "x", "component": "A", "method": "percentile"}
    m = make_model([pct], rules=[{"name": "R", "column": "x", "op": ">", "value": 15,
                                  "cap": 5}])
    s = run(m, {"x": [10, 20, 30]}).scores
    assert_close(s["raw_health"], [0, 50, 100])
    assert_close(s["health"], [0, 5, 5])


def test_capped_by_is_blank_for_no_data_accounts() -> None:
    m = make_model([linear()], rules=[{"name": "Small", "column": "employees", "op": "<",
                                       "value": 10, "cap": 50}])
    s = run(m, {"x": [None, 80], "employees": [5, 5]}).scores
    assert s["capped_by"].tolist() == ["", "Small"]
    assert s["band"].tolist() == ["No data", "Yellow"]


# ---------------------------------------------------------------- bands

def test_band_boundaries() -> None:
    m = make_model([linear()], bands={"red_below": 40, "green_from": 70})
    s = run(m, {"x": [0, 39.999, 40, 69.999, 70, 100]}).scores
    assert s["band"].tolist() == ["Red", "Red", "Yellow", "Yellow", "Green", "Green"]


def test_band_with_equal_thresholds_has_no_yellow() -> None:
    m = make_model([linear()], bands={"red_below": 50, "green_from": 50})
    s = run(m, {"x": [49.9, 50]}).scores
    assert s["band"].tolist() == ["Red", "Green"]


# ---------------------------------------------------------------- quartiles

def quartiles_of(healths: list[float | None], **extra: Any) -> pd.DataFrame:
    return run(make_model([linear()], **extra), {"x": healths}).scores


def test_quartiles_with_exact_cut_points() -> None:
    # QUARTILE.INC of 10..50: positions (5-1)*p = 1, 2, 3 -> Q1=20, Q2=30, Q3=40.
    s = quartiles_of([10, 20, 30, 40, 50])
    # quartile = 1 + (h < 40) + (h < 30) + (h < 20)
    assert s["quartile"].tolist() == [1 + 1 + 1 + 1, 1 + 1 + 1, 1 + 1, 1, 1]
    assert s["quartile_label"].tolist() == ["Bottom 25%", "Middle 50%", "Middle 50%",
                                            "Top 25%", "Top 25%"]


def test_quartiles_interpolated() -> None:
    # Sorted [0, 10, 30, 60, 100, 100]; positions 5p = 1.25, 2.5, 3.75:
    # Q1 = 10 + .25*(30-10) = 15, Q2 = 30 + .5*(60-30) = 45, Q3 = 60 + .75*(100-60) = 90.
    s = quartiles_of([60, 0, 100, 10, 30, 100])
    assert s["quartile"].tolist() == [2, 4, 1, 4, 3, 1]


def test_quartiles_with_ties_at_the_cut_points() -> None:
    # Sorted [10, 10, 10, 40]: Q1 = 10, Q2 = 10, Q3 = 10 + .25*(40-10) = 17.5.
    s = quartiles_of([10, 40, 10, 10])
    assert s["quartile"].tolist() == [2, 1, 2, 2]
    # All equal: every cut point equals h, so everyone is quartile 1.
    assert quartiles_of([25, 25, 25])["quartile"].tolist() == [1, 1, 1]


def test_quartiles_ignore_no_data_accounts() -> None:
    # Present [10, 20, 30]: Q1 = 15, Q2 = 20, Q3 = 25.
    s = quartiles_of([10, None, 20, 30])
    assert s["quartile"].tolist() == [4, pd.NA, 2, 1]
    assert str(s["quartile"].dtype) == "Int64"
    assert pd.isna(s["quartile_label"].iloc[1])


def test_single_account_is_top_quartile() -> None:
    assert quartiles_of([3])["quartile"].tolist() == [1]


def test_quartiles_within_groups() -> None:
    regions = ["EU", "US", "eu ", "EU", "", "US", " Eu", None]
    healths = [10, 5, 20, 30, 60, 95, 40, 80]
    s = run(make_model([linear()], quartiles={"by": "region"}),
            {"x": healths, "region": regions}).scores
    # EU group [10, 20, 30, 40]: Q1 = 17.5, Q2 = 25, Q3 = 32.5.
    # US group [5, 95]: Q1 = 27.5, Q2 = 50, Q3 = 72.5.
    # Blank group ('' and None) [60, 80]: Q1 = 65, Q2 = 70, Q3 = 75.
    assert s["quartile"].tolist() == [4, 4, 3, 2, 4, 1, 1, 1]
    assert s["region"].tolist()[:2] == ["EU", "US"]


def test_quartiles_use_overridden_health() -> None:
    s = run(make_model([linear()]), {"x": [10, 20, 30, 40, 50],
                                     "override_score": [None, None, None, None, 0]}).scores
    # Health [10, 20, 30, 40, 0]: sorted [0, 10, 20, 30, 40], Q1=10, Q2=20, Q3=30.
    assert s["quartile"].tolist() == [3, 2, 1, 1, 4]


# ---------------------------------------------------------------- composite and coverage

TWO_COMPONENTS = dict(
    components={"A": 40, "B": 60},
    metrics=[linear("a1", "A", weight=2), linear("a2", "A", 0, 10),
             linear("b1", "B"), {"column": "b2", "component": "B", "weight": 3,
                                 "method": "flag"}])


def test_component_scores_health_and_coverage_with_missing_parts() -> None:
    m = make_model(**TWO_COMPONENTS)
    s = run(m, {"a1": [50, 50, 50, None, None],
                "a2": [8, None, 8, None, None],
                "b1": [20, 20, None, None, None],
                "b2": ["yes", "no", None, "yes", None]}).scores
    a_full = (2 * 50 + 1 * 80) / 3
    b_full = (1 * 20 + 3 * 100) / 4
    b_two = (1 * 20 + 3 * 0) / 4
    assert_close(s["A"], [a_full, 50, a_full, NAN, NAN])
    assert_close(s["B"], [b_full, b_two, NAN, 100, NAN])
    assert_close(s["health"], [(40 * a_full + 60 * b_full) / 100, (40 * 50 + 60 * b_two) / 100,
                               a_full, 100, NAN])
    assert_close(s["coverage"], [1.0, 0.4 * 2 / 3 + 0.6 * 1, 0.4 * 1, 0.6 * 3 / 4, 0.0])
    assert s["band"].tolist() == ["Green", "Red", "Yellow", "Green", "No data"]
    assert s["low_data"].tolist() == [False, False, True, True, False]


def test_account_with_no_data() -> None:
    m = make_model(**TWO_COMPONENTS, rules=[{"name": "R", "column": "a1", "op": "<",
                                             "value": 5, "cap": 1}])
    s = run(m, {"a1": [None, 90], "a2": ["NA", 9], "b1": ["", 90], "b2": [None, "y"],
                "arr": [1000, 1000]}).scores
    row = s.iloc[0]
    assert math.isnan(row["health"]) and math.isnan(row["raw_health"])
    assert row["band"] == "No data" and row["coverage"] == 0.0
    assert pd.isna(row["quartile"]) and row["capped_by"] == ""
    assert row["weakest_component"] is None or pd.isna(row["weakest_component"])
    assert math.isnan(row["points_at_stake"])
    assert math.isnan(row["renewal_probability"]) and math.isnan(row["expected_arr"])
    assert not row["low_data"] and not row["overridden"]
    assert s["quartile"].tolist()[1] == 1


def test_no_data_probability_when_the_model_gives_one() -> None:
    m = make_model([linear()], renewal={"probability": {"Green": 0.9, "Yellow": 0.7,
                                                        "Red": 0.4, "No data": 0.3}})
    s = run(m, {"x": [None, 80, 50, 10], "arr": [1000, 2000, 3000, "4000"]}).scores
    assert_close(s["renewal_probability"], [0.3, 0.9, 0.7, 0.4])
    assert_close(s["expected_arr"], [1000 * 0.3, 2000 * 0.9, 3000 * 0.7, 4000 * 0.4])


@pytest.mark.parametrize(("min_coverage", "low"), [(0.5, [False, True, False]),
                                                   (0.75, [True, True, False]),
                                                   (0.0, [False, False, False])])
def test_low_data_flag_against_min_coverage(min_coverage: float, low: list[bool]) -> None:
    m = make_model([linear("a1", "A"), linear("a2", "A"), linear("b1", "B")],
                   components={"A": 1, "B": 1}, min_coverage=min_coverage)
    s = run(m, {"a1": [10, 10, 10], "a2": [10, None, 10], "b1": [None, None, 10]}).scores
    # Coverage: 1/2 * 1 = 0.5 (exactly at 0.5: not low), 1/2 * 1/2 = 0.25, 1.0.
    assert_close(s["coverage"], [0.5, 0.25, 1.0])
    assert s["low_data"].tolist() == low


def test_metric_with_zero_weight_does_not_make_a_component_present() -> None:
    m = make_model([linear("a1", "A"), linear("a2", "A", weight=0), linear("b1", "B")],
                   components={"A": 1, "B": 3})
    s = run(m, {"a1": [None, 20], "a2": [100, 100], "b1": [60, 60]}).scores
    assert_close(s["A"], [NAN, 20])
    assert_close(s["health"], [60, (1 * 20 + 3 * 60) / 4])
    assert_close(s["coverage"], [3 / 4, 1.0])
    assert_close(s["a2_score"], [100, 100])


def test_present_components_with_zero_weight_give_no_data() -> None:
    m = make_model([linear("a", "A"), linear("b", "B")], components={"A": 1, "B": 0})
    s = run(m, {"a": [None, 50], "b": [90, 90]}).scores
    assert_close(s["B"], [90, 90])
    assert_close(s["health"], [NAN, 50])
    assert s["band"].tolist() == ["No data", "Yellow"]
    assert_close(s["coverage"], [0.0, 1.0])


# ---------------------------------------------------------------- segments

SEGMENTED = dict(
    metrics=[linear("a", "A"), linear("b", "B")], components={"A": 40, "B": 60},
    segments={"column": "plan", "weights": {"Starter": {"A": 9, "B": 1},
                                            "Big Co": {"A": 0, "B": 5}}})


def test_segment_weights_match_ignoring_case_and_spaces() -> None:
    plans = ["Starter", " STARTER ", "big co", "Enterprise", None, ""]
    s = run(make_model(**SEGMENTED), {"a": [80] * 6, "b": [20] * 6, "plan": plans}).scores
    starter = (9 * 80 + 1 * 20) / 10
    big = (0 * 80 + 5 * 20) / 5
    default = (40 * 80 + 60 * 20) / 100
    assert_close(s["health"], [starter, starter, big, default, default, default])
    assert s["plan"].tolist()[:4] == plans[:4]


def test_coverage_uses_segment_weights() -> None:
    plans = ["starter", "starter", "Big Co", "other"]
    s = run(make_model(**SEGMENTED),
            {"a": [80, None, 80, 80], "b": [None, 20, None, None], "plan": plans}).scores
    assert_close(s["coverage"], [9 / 10, 1 / 10, 0 / 5, 40 / 100])
    assert_close(s["health"], [80, 20, NAN, 80])
    assert s["low_data"].tolist() == [False, True, False, True]
    assert s["band"].tolist() == ["Green", "Red", "No data", "Green"]


def test_numeric_segment_values() -> None:
    m = make_model([linear("a", "A"), linear("b", "B")], components={"A": 1, "B": 1},
                   segments={"column": "tier", "weights": {"1": {"A": 3, "B": 1}}})
    s = run(m, {"a": [100, 100, 100], "b": [0, 0, 0], "tier": [1, 1.0, 2]}).scores
    assert_close(s["health"], [75, 75, 50])


# ---------------------------------------------------------------- overrides

def test_overrides() -> None:
    cells = [  # (override_score, override_until)
        (85, "2024-12-31"), (85, "2024-06-30"), (85, "2024-06-29"), (120, None),
        (-1, None), (85, "soon"), ("high", None), (None, "2020-01-01"), (0, None),
        (100, ""), (30, None)]
    s = run(make_model([linear()]), {"x": [50] * len(cells),
                                     "override_score": [c[0] for c in cells],
                                     "override_reason": ["CSM call"] * len(cells),
                                     "override_until": [c[1] for c in cells]})
    applied = [True, True, False, False, False, False, False, False, True, True, True]
    assert s.scores["overridden"].tolist() == applied
    assert_close(s.scores["health"], [85, 85, 50, 50, 50, 50, 50, 50, 0, 100, 30])
    assert_close(s.scores["raw_health"], [50] * len(cells))
    assert s.scores["band"].tolist()[:2] == ["Green", "Green"]
    assert s.scores["band"].tolist()[8:] == ["Red", "Green", "Red"]
    assert issue_cells(s) == [(2, "override_until"), (3, "override_score"),
                              (4, "override_score"), (5, "override_until"),
                              (6, "override_score")]
    problems = s.issues["problem"].tolist()
    assert "expired" in problems[0] and "2024-06-30" in problems[0]
    assert "outside" in problems[1] and "outside" in problems[2]
    assert "not a date" in problems[3] and "not a number" in problems[4]


def test_override_without_until_column_never_expires() -> None:
    s = run(make_model([linear()]), {"x": [50, 50], "override_score": [75, None]},
            as_of=dt.date(2099, 1, 1)).scores
    assert s["overridden"].tolist() == [True, False]
    assert_close(s["health"], [75, 50])


def test_override_until_as_dates() -> None:
    until = pd.to_datetime(["2024-06-30", "2024-06-01"]).to_numpy()
    s = run(make_model([linear()]), {"x": [50, 50], "override_score": [75, 75],
                                     "override_until": until})
    assert s.scores["overridden"].tolist() == [True, False]
    assert issue_cells(s) == [(1, "override_until")]


def test_override_until_as_python_dates() -> None:
    until = [dt.date(2024, 6, 29), dt.datetime(2030, 1, 1, 9, 30), dt.date(2024, 6, 30)]
    s = run(make_model([linear()]), {"x": [50] * 3, "override_score": [75] * 3,
                                     "override_until": until})
    assert s.scores["overridden"].tolist() == [False, True, True]
    assert issue_cells(s) == [(0, "override_until")]


def test_override_applies_to_a_no_data_account_and_beats_caps() -> None:
    m = make_model([linear()], rules=[{"name": "R", "column": "x", "op": "<", "value": 60,
                                       "cap": 10}])
    s = run(m, {"x": [None, 50], "override_score": [65, 65]}).scores
    assert_close(s["health"], [65, 65])
    assert s["band"].tolist() == ["Yellow", "Yellow"]
    assert_close(s["raw_health"], [NAN, 50])
    assert s["overridden"].tolist() == [True, True]


# ---------------------------------------------------------------- explanation

THREE = dict(metrics=[linear("a", "A"), linear("b", "B"), linear("c", "C")],
             components={"A": 50, "B": 30, "C": 20})


def test_weakest_component_and_points_at_stake() -> None:
    m = make_model(**THREE, rules=[{"name": "R", "column": "a", "op": "<", "value": 50,
                                    "cap": 5}])
    s = run(m, {"a": [80, 80, 40, 90, 100, 40], "b": [40, 40, 40, 10, 100, 40],
                "c": [60, None, 60, 10, 100, 60]}).scores
    assert s["weakest_component"].tolist() == ["B", "B", "A", "B", "A", "A"]
    assert_close(s["points_at_stake"], [
        30 / 100 * (100 - 40),         # B at 40
        30 / (50 + 30) * (100 - 40),   # C missing: weights renormalised over A and B
        50 / 100 * (100 - 40),         # A and B tie at 40: model order picks A
        30 / 100 * (100 - 10),         # B and C tie at 10: B comes first
        0.0,                           # all at full score
        50 / 100 * (100 - 40)])        # capped (health 5), but stake is before caps
    assert_close(s["health"].tolist()[-1:], [5])


def test_points_at_stake_uses_segment_weights() -> None:
    m = make_model(**THREE, segments={"column": "plan", "weights": {
        "Small": {"A": 1, "B": 1, "C": 2}}})
    s = run(m, {"a": [80, 80], "b": [40, 40], "c": [60, 60], "plan": ["small", "big"]})
    assert_close(s.scores["points_at_stake"], [1 / 4 * (100 - 40), 30 / 100 * (100 - 40)])


# ---------------------------------------------------------------- renewal

def test_renewal_probability_and_expected_arr() -> None:
    s = run(make_model([linear()]), {"x": [80, 50, 10, None, 90, 90],
                                     "arr": [1000, "2000", 3000, 4000, "lots", "n/a"]})
    assert_close(s.scores["renewal_probability"], [0.95, 0.80, 0.50, NAN, 0.95, 0.95])
    assert_close(s.scores["expected_arr"], [1000 * 0.95, 2000 * 0.80, 3000 * 0.50, NAN, NAN,
                                            NAN])
    assert issue_cells(s) == [(4, "arr")]


def test_no_expected_arr_without_arr() -> None:
    s = run(make_model([linear()]), {"x": [80]}).scores
    assert "expected_arr" not in s.columns and "arr" not in s.columns


# ---------------------------------------------------------------- output shape and issues

def test_output_columns_in_order() -> None:
    m = make_model(**THREE, quartiles={"by": "team"},
                   segments={"column": "tier", "weights": {"x": {"A": 1, "B": 1, "C": 1}}})
    cols = {"renewal_date": ["2024-09-01"], "c": [1], "owner": ["Ann"], "a": [1], "b": [2],
            "arr": [100], "team": ["t"], "tier": ["x"], "account_name": ["Acme"],
            "notes": ["ignored"]}
    s = run(m, cols).scores
    assert list(s.columns) == [
        "account_id", "account_name", "owner", "arr", "renewal_date", "tier", "team",
        "A", "B", "C", "health", "raw_health", "band", "quartile", "quartile_label",
        "coverage", "low_data", "capped_by", "overridden", "weakest_component",
        "points_at_stake", "renewal_probability", "expected_arr", "next_action",
        "action_owner", "action_priority", "actions", "action_playbook", "action_due",
        "a_score", "b_score", "c_score"]
    assert s["renewal_date"].iloc[0] == pd.Timestamp("2024-09-01")


def test_default_model_output_and_input_order() -> None:
    m = default_model()
    frame = pd.DataFrame({"account_id": ["z", "a", "m"]})
    for metric in m.metrics:
        frame[metric.column] = None
    frame["plan"] = "Starter"
    s = score_accounts(m, frame, as_of=AS_OF)
    assert s["account_id"].tolist() == ["z", "a", "m"]
    assert [c for c in s.columns if c in m.components] == list(m.components)
    assert [c for c in s.columns if c.endswith("_score")] == [
        f"{metric.column}_score" for metric in m.metrics]


def test_account_ids_are_text() -> None:
    frame = pd.DataFrame({"account_id": pd.Series([1, 2.0, " A-3 ", 12345678901],
                                                  dtype=object), "x": [1, 2, 3, 4]})
    s = score(make_model([linear()]), frame, as_of=AS_OF).scores
    assert s["account_id"].tolist() == ["1", "2", "A-3", "12345678901"]
    frame = pd.DataFrame({"account_id": [1.0, 2.0], "x": [1, 2]})
    assert score(make_model([linear()]), frame).scores["account_id"].tolist() == ["1", "2"]


def test_data_issues_rows_use_the_frame_index() -> None:
    m = make_model([linear(), {"column": "f", "component": "A", "method": "flag"}])
    s = run(m, {"x": ["abc", 5, "7", "?"], "f": ["y", "sometimes", "n", "x"]},
            index=[12, 2, 7, 3])
    assert list(s.issues.columns) == ["row", "account_id", "column", "value", "problem"]
    assert s.issues.to_dict("records") == [
        {"row": 2, "account_id": "a1", "column": "f", "value": "sometimes",
         "problem": "not a true/false value"},
        {"row": 3, "account_id": "a3", "column": "x", "value": "?", "problem": "not a number"},
        {"row": 12, "account_id": "a0", "column": "x", "value": "abc",
         "problem": "not a number"}]
    assert s.scores.index.tolist() == [12, 2, 7, 3]
    assert s.summary["data issues"] == 3


def test_no_issues_gives_an_empty_frame_with_columns() -> None:
    s = run(make_model([linear()]), {"x": [1, 2]})
    assert s.issues.empty
    assert list(s.issues.columns) == ["row", "account_id", "column", "value", "problem"]


def test_strict_turns_issues_into_an_error() -> None:
    m = make_model([linear()])
    with pytest.raises(InputError) as info:
        run(m, {"x": [1, "abc", "?"]}, index=[4, 5, 6], strict=True)
    message = str(info.value)
    assert "2 data issue" in message and "row 5" in message and "column x" in message
    assert "abc" in message
    s = run(m, {"x": [1, None, "NA"]}, strict=True)
    assert_close(s.scores["health"], [1, NAN, NAN])


def test_summary_counts_bands() -> None:
    s = run(make_model([linear()]), {"x": [90, 50, 10, None, 95]})
    assert s.summary == {"accounts": 5, "Green": 2, "Yellow": 1, "Red": 1, "No data": 1,
                         "data issues": 0}


def test_empty_accounts_frame() -> None:
    m = default_model()
    frame = pd.DataFrame({"account_id": [], "plan": [],
                          **{metric.column: [] for metric in m.metrics}})
    s = score(m, frame, as_of=AS_OF)
    assert len(s.scores) == 0 and len(s.issues) == 0
    assert "health" in s.scores.columns


def test_input_frame_is_not_modified() -> None:
    frame = pd.DataFrame({"account_id": ["a", "b"], "x": ["5", "abc"],
                          "override_score": [None, 40]})
    before = frame.copy()
    score(make_model([linear()]), frame, as_of=AS_OF)
    pd.testing.assert_frame_equal(frame, before)


# ---------------------------------------------------------------- input errors

def input_error(model: Model, frame: pd.DataFrame) -> str:
    with pytest.raises(InputError) as info:
        score(model, frame, as_of=AS_OF)
    return str(info.value)


def test_missing_account_id_column() -> None:
    message = input_error(make_model([linear()]), pd.DataFrame({"id": [1], "x": [1]}))
    assert "account_id" in message and "missing" in message


def test_blank_account_ids_list_their_rows() -> None:
    frame = pd.DataFrame({"account_id": ["a", "", None, " ", "e"], "x": [1] * 5},
                         index=[2, 3, 4, 5, 6])
    message = input_error(make_model([linear()]), frame)
    assert "blank account id" in message and "3, 4, 5" in message and "2" not in message


def test_duplicate_account_ids_list_ids_and_rows() -> None:
    frame = pd.DataFrame({"account_id": ["a", "b", "a", "b", "c", " a"], "x": [1] * 6},
                         index=[2, 3, 4, 5, 6, 7])
    message = input_error(make_model([linear()]), frame)
    assert "unique" in message
    assert "a (rows 2, 4, 7)" in message and "b (rows 3, 5)" in message
    assert "c (" not in message


def test_missing_metric_column_is_named() -> None:
    m = make_model([linear(), linear("logins_30d")])
    message = input_error(m, pd.DataFrame({"account_id": ["a"], "x": [1]}))
    assert "'logins_30d'" in message and "missing" in message and "component A" in message


def test_missing_rule_column_is_named() -> None:
    m = make_model([linear()], rules=[{"name": "Big", "column": "employees", "op": ">",
                                       "value": 5, "cap": 10}])
    message = input_error(m, pd.DataFrame({"account_id": ["a"], "x": [1]}))
    assert "'employees'" in message and "rule 'Big'" in message


def test_missing_segment_and_quartile_columns_are_named() -> None:
    m = make_model(**SEGMENTED)
    assert "'plan'" in input_error(m, pd.DataFrame({"account_id": ["a"], "a": [1],
                                                    "b": [2]}))
    m = make_model([linear()], quartiles={"by": "team"})
    assert "'team'" in input_error(m, pd.DataFrame({"account_id": ["a"], "x": [1]}))


def test_headers_match_ignoring_case_spaces_and_underscores() -> None:
    m = make_model([linear("logins_30d"), CONTRACT], rules=[
        {"name": "R", "column": "days late", "op": ">", "value": 30, "cap": 20}],
        segments={"column": "plan", "weights": {"Starter": {"A": 1}}})
    frame = pd.DataFrame({"Account ID": ["k1", "k2"], "LOGINS 30D": [40, 60],
                          " Contract ": ["annual", "monthly"], "DaysLate": [0, 45],
                          "Plan": ["starter", "x"], "Override_Score": [None, 90]})
    s = score(m, frame, as_of=AS_OF).scores
    assert s["account_id"].tolist() == ["k1", "k2"]
    assert_close(s["logins_30d_score"], [40, 60])
    assert_close(s["contract_score"], [70, 30])
    assert_close(s["raw_health"], [(40 + 70) / 2, (60 + 30) / 2])
    assert_close(s["health"], [(40 + 70) / 2, 90])  # k2: capped at 20, then overridden
    assert s["overridden"].tolist() == [False, True]
    assert s["capped_by"].tolist() == ["", "R"]
    assert s["plan"].tolist() == ["starter", "x"]


def test_two_headers_colliding() -> None:
    frame = pd.DataFrame({"account_id": ["a"], "x": [1], "X ": [2]})
    message = input_error(make_model([linear()]), frame)
    assert "'x'" in message and "'X '" in message and "same column" in message
