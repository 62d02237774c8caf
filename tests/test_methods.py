"""The metric-method registry and the `log` method, with values worked out by hand."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pandas as pd
import pytest

from chs_excel.core import model as model_module
from chs_excel.core.engine import metric_scores, score
from chs_excel.core.errors import ModelError
from chs_excel.core.methods import METHODS, FormulaRefs, MetricMethod
from chs_excel.core.model import Metric, Model, model_from_dict

LN = math.log


def log_model(worst: float = 0, best: float = 100, **extra: object) -> Model:
    return Model(name="log", components={"Usage": 1.0},
                 metrics=(Metric("visits", "Usage", "log", worst=worst, best=best),),
                 **extra)


def log_scores(values: list[object], worst: float = 0, best: float = 100,
               scale: float = 100.0) -> np.ndarray:
    metric = Metric("visits", "Usage", "log", worst=worst, best=best)
    points, _ = metric_scores(metric, pd.Series(values, dtype=object), scale)
    return points


# ---------------------------------------------------------------- log: engine

def test_log_higher_is_better_by_hand() -> None:
    got = log_scores([9, 0, 100, 1, 50])
    assert got == pytest.approx([100 * LN(10) / LN(101), 0.0, 100.0, 100 * LN(2) / LN(101),
                                 100 * LN(51) / LN(101)])


def test_log_lower_is_better_by_hand() -> None:
    # worst 30, best 2: t = (x - 30) * -1; x 16 -> t 14 -> ln(15) / ln(29)
    got = log_scores([16, 30, 2, 29], worst=30, best=2)
    assert got == pytest.approx([100 * LN(15) / LN(29), 0.0, 100.0, 100 * LN(2) / LN(29)])


def test_log_beyond_best_is_full_and_below_worst_is_zero() -> None:
    assert list(log_scores([150, 1e9, -1, -1e9])) == [100.0, 100.0, 0.0, 0.0]
    assert list(log_scores([0, 40, 1], worst=30, best=2)) == [100.0, 0.0, 100.0]


def test_log_missing_is_nan_and_text_is_reported() -> None:
    metric = Metric("visits", "Usage", "log", worst=0, best=100)
    points, problems = metric_scores(metric, pd.Series([None, "NA", "abc", " 9 "],
                                                       dtype=object))
    assert np.isnan(points[:3]).all() and points[3] == pytest.approx(100 * LN(10) / LN(101))
    assert list(problems) == ["", "", "not a number", ""]


def test_log_scale_and_whole_scoring() -> None:
    assert log_scores([9], scale=10)[0] == pytest.approx(10 * LN(10) / LN(101))
    accounts = pd.DataFrame({"account_id": ["a", "b", "c"], "visits": [9, None, 200]})
    out = score(log_model(), accounts).scores
    assert out["visits_score"].iloc[0] == pytest.approx(100 * LN(10) / LN(101))
    assert np.isnan(out["health"].iloc[1]) and out["health"].iloc[2] == 100.0


def test_log_worst_equal_to_best_is_a_model_error_naming_metric_and_field() -> None:
    with pytest.raises(ModelError, match=r"metric visits: worst and best are equal \(5\)"):
        log_model(worst=5, best=5)


def test_log_needs_numbers_for_worst_and_best() -> None:
    with pytest.raises(ModelError, match="metric visits: log needs numbers for worst and best"):
        Model(name="m", components={"U": 1.0},
              metrics=(Metric("visits", "U", "log", worst=None, best=10),))
    with pytest.raises(ModelError, match="breaks is not used by method log"):
        model_from_dict({"name": "m", "components": {"U": 1}, "metrics": [
            {"column": "v", "component": "U", "method": "log", "worst": 0, "best": 9,
             "breaks": [1]}]})


# ---------------------------------------------------------------- log: round trips

def test_log_yaml_round_trip() -> None:
    model = log_model(worst=30, best=2.5)
    data = model.to_dict()
    assert data["metrics"][0] == {"column": "visits", "component": "Usage", "weight": 1,
                                  "method": "log", "worst": 30, "best": 2.5}
    assert Model.from_dict(data) == model
    import yaml
    assert Model.from_dict(yaml.safe_load(model.to_yaml())) == model


def test_log_model_table_round_trip() -> None:
    model = log_model(worst=30, best=2)
    tables = model.to_frame()
    row = tables["Metrics"].iloc[0]
    assert (row["method"], row["worst"], row["best"]) == ("log", 30, 2)
    assert pd.isna(row["good"]) and pd.isna(row["higher_is_better"])
    assert tables["Levels"].empty
    assert Model.from_frame(tables) == model


def test_log_in_the_model_sheet_method_list() -> None:
    assert "log" in model_module.METHODS
    assert model_module.METHODS[:5] == ("linear", "steps", "percentile", "flag", "category")


# ---------------------------------------------------------------- the registry

INTERFACE = ("problems", "to_dict", "from_dict", "table_row", "level_rows", "from_record",
             "values", "score", "calc_params", "level_count", "level_key_formula", "formula")


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_registered_method_has_the_full_interface(name: str) -> None:
    method = METHODS[name]
    assert isinstance(method, MetricMethod) and method.name == name
    assert not inspect.isabstract(type(method))
    for attribute in INTERFACE:
        assert callable(getattr(method, attribute)), attribute
    assert method.kind in ("number", "flag", "text")
    assert set(method.columns) <= set(model_module.TABLE_COLUMNS["Metrics"])
    assert method.level_key in (None, *model_module.TABLE_COLUMNS["Levels"])
    assert model_module.METHOD_FIELDS[name] == method.fields


def test_registry_names_the_six_methods() -> None:
    assert set(METHODS) == {"linear", "log", "steps", "percentile", "flag", "category"}


def test_log_formula_by_hand() -> None:
    refs = FormulaRefs(x="A2", column="A2:A9", live="TRUE", gate=lambda e: e,
                       params={"worst": "W", "best": "B"})
    metric = Metric("visits", "Usage", "log", worst=0, best=100)
    assert METHODS["log"].formula(metric, refs) == (
        'IF(AND(TRUE,ISNUMBER(A2)),Scale*MAX(0,MIN(1,LN(1+MAX(0,(A2-W)*SIGN(B-W)))/'
        'LN(1+ABS(B-W)))),"")')


# ---------------------------------------------------------------- older Model tables

def test_a_metrics_table_without_columns_that_have_defaults_reads_as_the_defaults() -> None:
    model = Model(name="m", components={"U": 1.0}, metrics=(
        Metric("a", "U", "flag"), Metric("b", "U", "percentile"),
        Metric("c", "U", "linear", worst=0, best=10)))
    tables = model.to_frame()
    tables["Metrics"] = tables["Metrics"].drop(columns=["good", "higher_is_better"])
    back = Model.from_frame(tables)
    assert back == model
    assert back.metric("a").good is True and back.metric("b").higher_is_better is True


def test_a_missing_column_without_a_default_still_fails() -> None:
    tables = log_model().to_frame()
    tables["Metrics"] = tables["Metrics"].drop(columns=["component"])
    with pytest.raises(ModelError, match="table Metrics: column 'component' is missing"):
        Model.from_frame(tables)


# ---------------------------------------------------------------- structured model errors

def test_model_errors_carry_where_each_problem_is() -> None:
    from chs_excel.core.errors import Problem
    with pytest.raises(ModelError) as caught:
        Model(name="m", components={"U": 1.0, "S": -1.0},
              metrics=(Metric("visits", "U", "log", worst=5, best=5),
                       Metric("t", "S", "linear", worst=0, best=1, weight=-2)),
              rules=(model_module.Rule("Cap", "t", "<", 1.0, 500.0),))
    problems = caught.value.problems
    assert Problem("metric visits: worst and best are equal (5)", "Metrics", "visits",
                   "worst") in problems
    assert ("Components", "S", "weight") in {(p.table, p.key, p.field) for p in problems}
    assert ("Metrics", "t", "weight") in {(p.table, p.key, p.field) for p in problems}
    assert ("Rules", "Cap", "cap") in {(p.table, p.key, p.field) for p in problems}
    assert str(caught.value) == "; ".join(p.message for p in problems)


def test_table_errors_carry_the_row_and_column() -> None:
    tables = log_model().to_frame()
    tables["Metrics"] = tables["Metrics"].astype(object)
    tables["Metrics"].loc[0, "best"] = "lots"
    with pytest.raises(ModelError, match="table Metrics, row 1, column best") as caught:
        Model.from_frame(tables, where="book.xlsx, sheet Model")
    (problem,) = caught.value.problems
    assert (problem.table, problem.row, problem.field) == ("Metrics", 1, "best")
    assert str(caught.value).startswith("book.xlsx, sheet Model, table Metrics")


def test_registry_modules_are_named_after_their_methods() -> None:
    from chs_excel.core.methods import MODULES
    assert tuple(METHODS) == MODULES
