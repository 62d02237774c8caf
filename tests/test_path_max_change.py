"""Issue 22 item 3: a metric's `max_change` bounds its move on a path to Green; paths name
metrics by the accounts' own headers. Expected paths worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from chs_excel.core.errors import ModelError
from chs_excel.core.model import Model, default_model
from chs_excel.core.path import path_to_green

BASE = {"name": "max change", "bands": {"red_below": 40, "green_from": 70},
        "components": {"C": 100},
        "metrics": [{"column": "nps", "component": "C", "method": "linear", "worst": 0,
                     "best": 10},
                    {"column": "usage", "component": "C", "method": "linear", "worst": 0,
                     "best": 100}]}


def model(nps_change: float | None) -> Model:
    data = {**BASE, "metrics": [dict(m) for m in BASE["metrics"]]}
    if nps_change is not None:
        data["metrics"][0]["max_change"] = nps_change
    return Model.from_dict(data)


def test_max_change_bounds_the_move() -> None:
    accounts = pd.DataFrame({"account_id": ["a"], "NPS": [2], "usage": [60]})
    # health = (10 * nps + usage) / 2 = 40; Green at 70 needs +60 on the sum: one change,
    # NPS 2 -> 8 (the user's header NPS, not the model's key nps)
    assert path_to_green(model(None), accounts).summary["path_to_green"].iloc[0] == \
        "NPS 2 → 8"
    # max_change 1: NPS adds at most 10, usage at most 40: no path
    bounded = path_to_green(model(1), accounts)
    assert bounded.steps.empty
    assert pd.isna(bounded.summary["path_steps"].iloc[0])


def test_max_change_three_splits_the_path() -> None:
    accounts = pd.DataFrame({"account_id": ["a"], "nps": [2], "usage": [80]})
    # health 50; +40 on the sum: nps alone would go 2 -> 6 (+4 > 3): two changes,
    # usage to 100 (+20) and nps +2 (2 -> 4)
    text = path_to_green(model(3), accounts).summary["path_to_green"].iloc[0]
    assert text == "nps 2 → 4; usage 80 → 100"
    accounts = pd.DataFrame({"account_id": ["a"], "nps": [0], "usage": [100]})
    # health 50: only nps can move and it would need +4
    assert path_to_green(model(3), accounts).steps.empty


def test_max_change_round_trips_and_is_checked() -> None:
    m = model(3)
    assert Model.from_dict(m.to_dict()) == m
    assert Model.from_frame(m.to_frame()) == m
    older = m.to_frame()
    older["Metrics"] = older["Metrics"].drop(columns="max_change")
    assert Model.from_frame(older).metrics[0].max_change is None
    survey = {mt.column: mt.max_change for mt in default_model().metrics}
    assert survey["nps"] == 3 and survey["csat"] == 1
    with pytest.raises(ModelError, match="max_change must be a positive number"):
        model(0)
