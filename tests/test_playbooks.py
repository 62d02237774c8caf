"""Playbooks: precedence, every condition kind, YAML and Model-sheet round trip, validation,
and the live workbook (Scores columns and the Actions sheet) recalculated by LibreOffice.

Expected matches are written out by hand or computed here from the raw inputs and the
engine's health/band columns with plain pandas, never by the playbook code under test.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest

from chs_excel.app import udfs
from chs_excel.core.engine import previous_snapshot, score
from chs_excel.core.errors import ModelError
from chs_excel.core.model import Model, default_model, load_model
from chs_excel.io.workbook import read_workbook
from chs_excel.sheets.actions import HEADER_ROW, action_list
from chs_excel.sheets.workbook import write_template
from chs_excel.xlsx import libreoffice as lo
from tests.test_formulas import PAD, assert_scores_equal, is_blank

AS_OF = dt.date(2025, 3, 31)
NAN = math.nan


def day(offset: int) -> pd.Timestamp:
    return pd.Timestamp(AS_OF) + pd.Timedelta(days=offset)


BASE: dict[str, Any] = {
    "name": "playbook tests", "min_coverage": 0.6,
    "components": {"Usage": 60, "Care": 40},
    "metrics": [
        {"column": "usage_pct", "component": "Usage", "method": "linear", "worst": 0,
         "best": 100},
        {"column": "plan_type", "component": "Usage", "method": "category",
         "points": {"Monthly": 20, "Annual": 100}},
        {"column": "tickets", "component": "Care", "method": "linear", "worst": 10,
         "best": 0},
        {"column": "sponsor", "component": "Care", "method": "flag", "good": True},
    ],
    "rules": [{"name": "Low usage", "column": "usage_pct", "op": "<", "value": 10,
               "cap": 30}],
}


def model_with(*playbooks: dict[str, Any]) -> Model:
    return Model.from_dict({**BASE, "playbooks": list(playbooks)})


def one(*when: dict[str, Any]) -> Model:
    """A model with a single playbook 'P' whose conditions are `when`."""
    return model_with({"name": "P", "action": "Do P", "owner": "me", "priority": 1,
                       "when": list(when)})


ACCOUNTS = pd.DataFrame({
    "account_id": [f"a{i}" for i in range(8)],
    "usage_pct": [5, 90, 50, NAN, 70, "abc", 30, 100],
    "plan_type": ["Annual", "annual ", "Monthly", None, None, "Annual", "Monthly", "Annual"],
    "tickets": [0, 1, 9, NAN, NAN, 2, 5, 0],
    "sponsor": ["yes", "no", "yes", None, None, "yes", "n", "yes"],
    "region": ["EU", "eu", "US", None, "EU", "US", "APAC", "EU"],
    "arr": [100, 500, 300, 50, 400, 200, 300, NAN],
    "renewal_date": [day(10), day(45), day(-1), pd.NaT, day(0), day(30), day(31), pd.NaT],
}, index=pd.RangeIndex(2, 10))

PREVIOUS = pd.DataFrame({"account_id": ["a0", "a1", "a2", "a4", "a7", "zz"],
                         "health": [50.0, 100.0, 10.0, None, 95.0, 40.0],
                         "band": ["Yellow", "Green", "Red", "No data", "Green", "Red"]})


def matched(model: Model, previous: pd.DataFrame | None = None) -> set[str]:
    s = score(model, ACCOUNTS, as_of=AS_OF, previous=previous).scores
    return set(s.loc[s["next_action"] != "", "account_id"])


def base_scores() -> pd.DataFrame:
    return score(model_with(), ACCOUNTS, as_of=AS_OF).scores


def ids_where(mask: pd.Series) -> set[str]:
    return set(base_scores().loc[mask.to_numpy(dtype=bool), "account_id"])


# ---------------------------------------------------------------- precedence

def test_next_action_is_the_lowest_priority_number_and_ties_go_to_model_order() -> None:
    model = model_with(
        {"name": "P1", "priority": 2, "action": "one", "owner": "o1",
         "when": [{"column": "usage_pct", "op": "<", "value": 50}]},
        {"name": "P2", "priority": 1, "action": "two", "owner": "o2",
         "when": [{"column": "usage_pct", "op": "<", "value": 30}]},
        {"name": "P3", "priority": 1, "action": "three", "owner": "o3",
         "when": [{"column": "usage_pct", "op": "<", "value": 40}]},
        {"name": "P4", "priority": 3, "action": "four", "owner": "",
         "when": [{"column": "usage_pct", "op": ">=", "value": 0}]},
        {"name": "P5", "priority": -1, "action": "five", "owner": "o5",
         "when": [{"column": "usage_pct", "op": "=", "value": 100}]})
    s = score(model, ACCOUNTS, as_of=AS_OF).scores.set_index("account_id")
    # a0 = 5 matches P1..P4: P2 and P3 share priority 1, P2 is first in the model
    assert s.loc["a0", "next_action"] == "two" and s.loc["a0", "action_owner"] == "o2"
    assert s.loc["a0", "action_priority"] == 1
    assert s.loc["a0", "actions"] == "two; three; one; four"
    assert s.loc["a6", "actions"] == "three; one; four"  # 30: not < 30
    assert s.loc["a2", "actions"] == "four" and s.loc["a2", "action_owner"] == ""
    assert s.loc["a7", "actions"] == "five; four" and s.loc["a7", "action_priority"] == -1
    for blank in ("a3", "a5"):  # usage missing or text: no condition holds
        assert s.loc[blank, "next_action"] == "" and s.loc[blank, "actions"] == ""
        assert math.isnan(s.loc[blank, "action_priority"])


def test_all_conditions_of_a_playbook_must_hold() -> None:
    model = one({"column": "usage_pct", "op": ">=", "value": 50},
                {"column": "region", "op": "=", "value": "eu"})
    assert matched(model) == {"a4", "a7", "a1"}
    assert matched(one({"column": "usage_pct", "op": ">=", "value": 50})) == \
        {"a1", "a2", "a4", "a7"}


def test_a_model_without_playbooks_gives_blank_action_columns() -> None:
    s = base_scores()
    assert (s["next_action"] == "").all() and (s["actions"] == "").all()
    assert s["action_priority"].isna().all()


# ---------------------------------------------------------------- every condition kind

def test_metric_conditions_compare_raw_values_like_rules() -> None:
    assert matched(one({"column": "usage_pct", "op": "<", "value": 30})) == {"a0"}
    assert matched(one({"column": "usage_pct", "op": "<=", "value": 30})) == {"a0", "a6"}
    assert matched(one({"column": "sponsor", "op": "=", "value": False})) == {"a1", "a6"}
    assert matched(one({"column": "sponsor", "op": "<>", "value": "yes"})) == {"a1", "a6"}
    # an input column that is no metric: text, case and spaces ignored, blanks never match
    assert matched(one({"column": "region", "op": "=", "value": "EU"})) == \
        {"a0", "a1", "a4", "a7"}
    assert matched(one({"column": "region", "op": "<>", "value": "EU"})) == {"a2", "a5", "a6"}
    # a category metric by label
    assert matched(one({"column": "plan_type", "op": "=", "value": "annual"})) == \
        {"a0", "a1", "a5", "a7"}
    assert matched(one({"column": "arr", "op": ">=", "value": 300})) == {"a1", "a2", "a4", "a6"}


def test_component_health_and_band_conditions() -> None:
    s = base_scores()
    assert matched(one({"test": "component", "column": "Care", "op": ">=", "value": 50})) \
        == ids_where(s["Care"] >= 50)
    assert matched(one({"test": "health", "op": "<", "value": 40})) == \
        ids_where(s["health"] < 40)
    assert matched(one({"test": "band", "op": "<=", "value": "Yellow"})) == \
        ids_where(s["band"].isin(["Red", "Yellow"]))
    assert matched(one({"test": "band", "op": ">", "value": "red"})) == \
        ids_where(s["band"].isin(["Yellow", "Green"]))
    assert matched(one({"test": "band", "value": "No data"})) == {"a3"}
    assert matched(one({"test": "band", "op": "<>", "value": "Green"})) == \
        ids_where(s["band"] != "Green")
    # the data walks the bands it claims to
    assert {"Red", "Yellow", "Green", "No data"} <= set(s["band"])


def test_weakest_component_capped_by_and_low_data_conditions() -> None:
    s = base_scores()
    assert matched(one({"test": "weakest_component", "value": "care"})) == \
        ids_where(s["weakest_component"] == "Care")
    assert matched(one({"test": "weakest_component", "op": "<>", "value": "Care"})) == \
        ids_where(s["weakest_component"].notna() & (s["weakest_component"] != "Care"))
    assert matched(one({"test": "capped_by", "value": "Low usage"})) == {"a0"}
    assert matched(one({"test": "capped_by", "op": "<>", "value": "low usage"})) == \
        {f"a{i}" for i in range(1, 8)}
    assert matched(one({"test": "low_data", "value": True})) == ids_where(s["low_data"])
    assert ids_where(s["low_data"])  # someone is low on data
    assert matched(one({"test": "low_data", "value": "no"})) == ids_where(~s["low_data"])


def test_renewal_within_counts_days_from_the_as_of_date() -> None:
    # +10, +0 and +30 are within 30 days; -1 (past), +31 and +45 are not
    assert matched(one({"test": "renewal_within", "value": 30})) == {"a0", "a4", "a5"}
    assert matched(one({"test": "renewal_within", "value": 0})) == {"a4"}
    without = ACCOUNTS.drop(columns="renewal_date")
    s = score(one({"test": "renewal_within", "value": 30}), without, as_of=AS_OF).scores
    assert (s["next_action"] == "").all()


def test_history_conditions_compare_with_the_previous_snapshot() -> None:
    s = base_scores().set_index("account_id")
    prev = PREVIOUS.set_index("account_id")
    change = s["health"] - prev["health"].reindex(s.index)
    want = set(change.index[(change <= -10).fillna(False)])
    assert want  # a0 fell from 50 to its cap of 30
    assert matched(one({"test": "health_change", "op": "<=", "value": -10}), PREVIOUS) == want
    rank = {"Red": 1, "Yellow": 2, "Green": 3}
    now = s["band"].map(rank)
    before = prev["band"].map(rank).reindex(s.index)
    down = set(s.index[(now < before).fillna(False)])
    up = set(s.index[(now > before).fillna(False)])
    same = set(s.index[(now == before).fillna(False)])
    assert matched(one({"test": "band_change", "value": "down"}), PREVIOUS) == down
    assert matched(one({"test": "band_change", "value": "up"}), PREVIOUS) == up
    assert matched(one({"test": "band_change", "value": "same"}), PREVIOUS) == same
    assert matched(one({"test": "band_change", "op": "<>", "value": "down"}), PREVIOUS) == \
        up | same
    # without history the change conditions never hold
    assert matched(one({"test": "health_change", "op": "<=", "value": 100})) == set()
    assert matched(one({"test": "band_change", "value": "same"})) == set()


def test_previous_snapshot_is_the_latest_dated_before_the_as_of_date() -> None:
    history = pd.concat([PREVIOUS.assign(date=day(-30)), PREVIOUS.assign(date=day(-7),
                                                                          health=1.0),
                         PREVIOUS.assign(date=day(0), health=2.0)])
    chosen = previous_snapshot(history, AS_OF)
    assert (chosen["health"] == 1.0).all() and len(chosen) == len(PREVIOUS)
    assert previous_snapshot(history, (day(-30) + pd.Timedelta(days=0)).date()) is None
    assert previous_snapshot(None, AS_OF) is None


# ---------------------------------------------------------------- round trips

def test_default_model_ships_risk_and_opportunity_playbooks() -> None:
    model = default_model()
    assert 6 <= len(model.playbooks) <= 10
    columns = {c.column for p in model.playbooks for c in p.when if c.test == "metric"}
    assert columns <= {m.column for m in model.metrics}
    greens = [p for p in model.playbooks
              if any(c.test == "band" and c.value == "Green" and c.op == "=" for c in p.when)]
    assert len(greens) >= 2  # opportunity, not only risk


def test_yaml_and_model_tables_round_trip(tmp_path: Path) -> None:
    model = default_model()
    path = tmp_path / "m.yaml"
    model.save(path)
    assert load_model(path) == model
    assert "playbooks:" in path.read_text()
    assert Model.from_frame(model.to_frame()) == model
    table = model.to_frame()["Playbooks"]
    assert list(table.columns) == ["playbook", "priority", "action", "owner", "test",
                                   "column", "op", "value", "due_in_days"]
    assert len(table) == sum(len(p.when) for p in model.playbooks)


def test_the_model_sheet_round_trips_and_older_workbooks_read(tmp_path: Path) -> None:
    book = tmp_path / "t.xlsx"
    write_template(book, default_model(), rows=5)
    assert read_workbook(book).model == default_model()
    wb = openpyxl.load_workbook(book)
    del wb["Model"].tables["Playbooks"]
    older = tmp_path / "older.xlsx"
    wb.save(older)
    assert read_workbook(older).model.playbooks == ()
    tables = default_model().to_frame()
    del tables["Playbooks"]
    assert Model.from_frame(tables).playbooks == ()


def test_a_blank_playbook_name_continues_the_playbook_above() -> None:
    tables = default_model().to_frame()
    table = tables["Playbooks"].copy()
    table.loc[table.index[2], "playbook"] = None  # second condition of 'Renewal at risk'
    tables["Playbooks"] = table
    assert Model.from_frame(tables) == default_model()


# ---------------------------------------------------------------- validation

BAD = [
    ({"test": "nope", "value": 1}, "(nope 1): unknown test 'nope' (use one of metric,"),
    ({"column": "usage_pct", "op": "~", "value": 1}, "unknown op '~'"),
    ({"test": "band", "value": "Purple"}, "value must be a band"),
    ({"test": "band", "op": "<", "value": "No data"}, "band No data compares with = or <>"),
    ({"test": "capped_by", "value": "Nothing"}, "must be the name of a rule (Low usage)"),
    ({"test": "weakest_component", "value": "Money"}, "must be a component (Usage, Care)"),
    ({"test": "component", "column": "Money", "op": "<", "value": 1},
     "component 'Money' is not declared"),
    ({"test": "component", "op": "<", "value": 1}, "test component needs a column"),
    ({"test": "health", "op": "<", "value": "low"}, "value must be a number"),
    ({"test": "health", "column": "x", "op": "<", "value": 3}, "test health takes no column"),
    ({"test": "low_data", "value": "maybe"}, "value must be true or false"),
    ({"test": "low_data", "op": "<", "value": True}, "compares with = or <> only"),
    ({"test": "band_change", "value": "sideways"}, "one of up, down, same"),
    ({"test": "renewal_within", "op": ">", "value": 9}, "renewal_within takes no op"),
    ({"test": "renewal_within", "value": -1}, "number of days >= 0"),
    ({"column": "region", "op": "<", "value": "EU"}, "op < cannot compare text values"),
    ({"column": "sponsor", "op": "=", "value": "perhaps"}, "must be true or false"),
    ({"column": "usage_pct", "op": "<"}, "value is missing"),
]


@pytest.mark.parametrize(("condition", "message"), BAD)
def test_bad_conditions_name_the_playbook_and_condition(condition: dict[str, Any],
                                                        message: str) -> None:
    with pytest.raises(ModelError) as found:
        one({"column": "usage_pct", "op": "<", "value": 5}, condition)
    text = str(found.value)
    assert "playbook 'P': condition 2" in text and message in text, text


@pytest.mark.parametrize(("playbook", "message"), [
    ({"name": "P", "action": "", "when": [{"test": "health", "op": "<", "value": 1}]},
     "playbook 'P': action is empty"),
    ({"name": "P", "action": "a", "priority": 1.5,
      "when": [{"test": "health", "op": "<", "value": 1}]},
     "playbook 'P': priority must be a whole number"),
    ({"name": "P", "action": "a", "priority": "first",
      "when": [{"test": "health", "op": "<", "value": 1}]},
     "priority must be a whole number, got 'first'"),
    ({"name": "P", "action": "a", "when": []}, "playbook 'P': has no conditions"),
    ({"name": "P", "action": "a", "then": 1}, "unknown key 'then'"),
    ({"name": "P", "action": "a", "when": [{"colum": "x"}]}, "unknown key 'colum'"),
])
def test_bad_playbooks_are_model_errors(playbook: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelError, match="playbook") as found:
        model_with(playbook)
    assert message in str(found.value)


def test_two_playbooks_with_one_name_are_refused() -> None:
    p = {"name": "Same", "action": "a", "when": [{"test": "health", "op": "<", "value": 1}]}
    with pytest.raises(ModelError, match="two playbooks share this name"):
        model_with(p, {**p, "name": "same "})


def test_model_sheet_errors_name_the_table_row_and_cell(tmp_path: Path) -> None:
    tables = default_model().to_frame()
    table = tables["Playbooks"].copy()
    table.loc[table.index[2], "action"] = "Another action"
    with pytest.raises(ModelError, match=r"table Playbooks, row 3, column action: playbook "
                                         r"'Renewal at risk' already has action"):
        Model.from_frame({**tables, "Playbooks": table})
    book = tmp_path / "t.xlsx"
    write_template(book, default_model(), rows=5)
    wb = openpyxl.load_workbook(book)
    ws = wb["Model"]
    cells = list(ws[ws.tables["Playbooks"].ref])
    header = [c.value for c in cells[0]]
    cells[3][header.index("value")].value = "Purple"   # Renewal at risk: band = Purple
    cells[1][header.index("priority")].value = "soon"  # Detractor survey
    wb.save(tmp_path / "bad.xlsx")
    with pytest.raises(ModelError) as found:
        read_workbook(tmp_path / "bad.xlsx")
    assert "table Playbooks, cell Model!" in str(found.value)
    assert "(column priority): expected a number, got 'soon'" in str(found.value)
    cells[1][header.index("priority")].value = 1
    wb.save(tmp_path / "bad2.xlsx")
    with pytest.raises(ModelError) as found:
        read_workbook(tmp_path / "bad2.xlsx")
    text = str(found.value)
    assert "playbook 'Renewal at risk': condition 2 (band = Purple): value must be a band" \
        in text and f"(cell Model!{cells[3][header.index('value')].coordinate})" in text, text


# ---------------------------------------------------------------- UDF

def test_chs_score_udf_takes_playbooks_and_history_ranges() -> None:
    model = one({"test": "health_change", "op": "<=", "value": -10})
    tables = model.to_frame()

    def grid(frame: pd.DataFrame) -> list[list[Any]]:
        """A Table range as xlwings passes it: header row, None for blanks, floats."""
        rows = [[None if is_blank(v) else float(v) if isinstance(v, int)
                 and not isinstance(v, bool) else v for v in row]
                for row in frame.astype(object).itertuples(index=False)]
        return [list(frame.columns), *rows]
    accounts = ACCOUNTS.assign(renewal_date=ACCOUNTS["renewal_date"].map(
        lambda d: None if pd.isna(d) else d.to_pydatetime()))
    history = PREVIOUS.assign(date=dt.datetime.combine(dt.date.today(), dt.time())
                              - dt.timedelta(days=3))
    out = udfs.CHS_SCORE(grid(accounts), grid(tables["Components"]),
                         grid(tables["Metrics"]), grid(tables["Rules"]), None, None,
                         grid(tables["Levels"]), None, grid(tables["Playbooks"]),
                         grid(history))
    header = out[0]
    assert {"next_action", "action_owner", "action_priority", "actions"} <= set(header)
    got = {row[0] for row in out[1:] if row[header.index("next_action")] == "Do P"}
    expected = score(model, ACCOUNTS, previous=PREVIOUS).scores
    assert got == set(expected.loc[expected["next_action"] == "Do P", "account_id"])
    assert got == {"a0", "a1"}  # 50 -> 30 (capped), 100 -> 75
    no_history = udfs.CHS_SCORE(grid(accounts), grid(tables["Components"]),
                                grid(tables["Metrics"]), grid(tables["Rules"]), None, None,
                                grid(tables["Levels"]), None, grid(tables["Playbooks"]))
    assert all(row[header.index("next_action")] in ("", None) for row in no_history[1:])


# ---------------------------------------------------------------- the live workbook

def every_kind_model() -> Model:
    """One playbook per condition kind (and both sides of =/<>), priorities with ties."""
    conditions = [
        {"column": "usage_pct", "op": "<", "value": 30},
        {"column": "sponsor", "op": "=", "value": False},
        {"column": "region", "op": "<>", "value": "EU"},
        {"column": "plan_type", "op": "=", "value": "annual"},
        {"column": "arr", "op": ">=", "value": 300},
        {"test": "component", "column": "Care", "op": ">=", "value": 50},
        {"test": "health", "op": "<", "value": 40},
        {"test": "band", "op": "<=", "value": "Yellow"},
        {"test": "band", "value": "No data"},
        {"test": "band", "op": "<>", "value": "Green"},
        {"test": "weakest_component", "value": "Care"},
        {"test": "weakest_component", "op": "<>", "value": "Care"},
        {"test": "capped_by", "value": "Low usage"},
        {"test": "capped_by", "op": "<>", "value": "Low usage"},
        {"test": "low_data", "value": True},
        {"test": "renewal_within", "value": 30},
        {"test": "health_change", "op": "<=", "value": -10},
        {"test": "band_change", "value": "down"},
        {"test": "band_change", "op": "<>", "value": "same"},
    ]
    playbooks = [{"name": f"K{i:02d}", "priority": [3, 1, 2, 1][i % 4], "owner": f"o{i % 3}",
                  "action": f"act {i:02d}", "when": [c]} for i, c in enumerate(conditions)]
    playbooks.append({"name": "Both", "priority": -2, "action": "both", "owner": "x",
                      "when": [{"test": "band", "value": "Green"},
                               {"column": "usage_pct", "op": ">=", "value": 95}]})
    return model_with(*playbooks)


def more_accounts(n: int = 40) -> pd.DataFrame:
    """ACCOUNTS plus seeded rows that spread over every band, blank and tie."""
    rng = np.random.default_rng(5)
    extra = pd.DataFrame({
        "account_id": [f"r{i}" for i in range(n)],
        "usage_pct": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 101, n)),
        "plan_type": rng.choice(["Annual", "Monthly", None], n),
        "tickets": np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 11, n)),
        "sponsor": rng.choice(["yes", "no", None], n),
        "region": rng.choice(["EU", "US", None], n),
        "arr": rng.choice([100.0, 250.0, 300.0, np.nan], n),
        "renewal_date": [day(int(d)) for d in rng.integers(-5, 60, n)],
    })
    out = pd.concat([ACCOUNTS, extra], ignore_index=True)
    out.index = pd.RangeIndex(2, len(out) + 2)
    return out


def history_for(accounts: pd.DataFrame) -> pd.DataFrame:
    """Three snapshots: 30 and 7 days before the as-of date, and one on it (not 'before')."""
    rng = np.random.default_rng(9)
    ids = accounts["account_id"].iloc[::2].tolist()  # half the accounts were there
    frames = []
    for offset in (-30, -7, 0):
        health = rng.uniform(0, 100, len(ids))
        health[::7] = np.nan
        band = np.where(np.isnan(health), "No data", np.where(
            health < 40, "Red", np.where(health >= 70, "Green", "Yellow")))
        frames.append(pd.DataFrame({"date": day(offset), "model": "m", "version": "1",
                                    "account_id": ids, "owner": None, "segment": None,
                                    "arr": None, "health": health, "band": band,
                                    "quartile": None, "Usage": None, "Care": None}))
    return pd.concat(frames, ignore_index=True)


def test_the_workbook_recalculates_playbooks_and_actions_like_the_engine(
        tmp_path: Path) -> None:
    model, accounts = every_kind_model(), more_accounts()
    history = history_for(accounts)
    expected = score(model, accounts, as_of=AS_OF,
                     previous=previous_snapshot(history, AS_OF)).scores
    # every condition kind matches somebody and misses somebody
    for i in range(len(model.playbooks) - 1):
        hits = expected["actions"].str.contains(f"act {i:02d}", regex=False)
        assert 0 < hits.sum() < len(expected), model.playbooks[i].when
    assert expected["actions"].str.contains("both").any()
    book = tmp_path / "every.xlsx"
    write_template(book, model, accounts, rows=len(accounts) + PAD, as_of=AS_OF,
                   history=history)
    recalculated = lo.recalculate(book, tmp_path / "lo")
    assert_scores_equal(recalculated, expected)
    listed = action_list(expected)
    rows = lo.sheet_rows(recalculated, "Actions")
    header = list(rows[HEADER_ROW])
    body = [r for r in rows[HEADER_ROW + 1:] if not is_blank(r[header.index("Account")])]
    assert len(body) == len(listed) == (expected["next_action"] != "").sum()
    assert rows[2][0] == len(listed)
    for name, column in (("account_id", "Account"), ("next_action", "Action"),
                         ("action_owner", "Action owner"), ("band", "Band"),
                         ("actions", "All matching actions")):
        assert [r[header.index(column)] for r in body] == listed[name].tolist(), name
    assert [r[header.index("Priority")] for r in body] == listed["action_priority"].tolist()
    arr = [0 if is_blank(r[header.index("ARR")]) else r[header.index("ARR")] for r in body]
    prio = [r[header.index("Priority")] for r in body]
    assert list(zip(prio, [-a for a in arr], strict=True)) == sorted(
        zip(prio, [-a for a in arr], strict=True))  # priority, then ARR largest first
    blank_slots = rows[HEADER_ROW + 1 + len(body):]
    assert all(is_blank(v) for r in blank_slots for v in r[1:])


def test_editing_the_playbooks_table_moves_the_actions(tmp_path: Path) -> None:
    from chs_excel.io.sample import make_sample, reference_date
    model, accounts, as_of = default_model(), make_sample(120, seed=3), reference_date(3)
    accounts.index = pd.RangeIndex(2, len(accounts) + 2)
    book = tmp_path / "book.xlsx"
    write_template(book, model, accounts, rows=len(accounts) + PAD, as_of=as_of)
    wb = openpyxl.load_workbook(book)
    ws = wb["Model"]
    cells = list(ws[ws.tables["Playbooks"].ref])
    header = [c.value for c in cells[0]]
    detractor = cells[1]
    detractor[header.index("value")].value = 8                # nps <= 6 -> nps <= 8
    detractor[header.index("priority")].value = 9             # do it last
    detractor[header.index("action")].value = "Call them"
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    changed = read_workbook(edited).model
    assert changed != model and changed.playbooks[0].action == "Call them"
    expected = score(changed, accounts, as_of=as_of).scores
    before = score(model, accounts, as_of=as_of).scores
    assert (expected["next_action"] != before["next_action"]).sum() > 5
    recalculated = lo.recalculate(edited, tmp_path / "lo")
    assert_scores_equal(recalculated, expected[["account_id", "next_action", "action_owner",
                                                "action_priority", "actions"]])



def test_refresh_writes_the_actions_list_as_values(tmp_path: Path) -> None:
    from chs_excel.app.macros import refresh_file
    from chs_excel.io.sample import make_sample, reference_date
    accounts, as_of = make_sample(60, seed=4), reference_date(4)
    book = tmp_path / "book.xlsx"
    write_template(book, default_model(), accounts, rows=60, as_of=as_of)
    refresh_file(book, tmp_path / "refreshed.xlsx", as_of=as_of)
    rows = lo.sheet_rows(tmp_path / "refreshed.xlsx", "Actions")
    header = rows[1]
    expected = score(default_model(), accounts, as_of=as_of).scores
    s = expected.set_index("account_id")
    got = [r[header.index("Account")] for r in rows[2:] if not is_blank(r[0])]
    assert got == action_list(expected)["account_id"].tolist()
    assert len(got) == (expected["next_action"] != "").sum() > 20
    # priority, then ARR largest first, worked out here
    keys = [(s.loc[i, "action_priority"], -s.loc[i, "arr"]) for i in got]
    assert keys == sorted(keys)
    assert f"({len(got)} accounts)" in rows[0][0]


def test_chs_score_takes_history_for_the_change_conditions(tmp_path: Path) -> None:
    from tests.cli_runner import run
    model = one({"test": "health_change", "op": "<=", "value": -10})
    model.save(tmp_path / "m.yaml")
    ACCOUNTS.to_csv(tmp_path / "a.csv", index=False)
    book = tmp_path / "history.xlsx"
    write_template(book, model, rows=3, history=history_for(ACCOUNTS))
    args = ("score", str(tmp_path / "a.csv"), "--model", str(tmp_path / "m.yaml"),
            "--as-of", AS_OF.isoformat(), "-o")
    code, out = run(*args, str(tmp_path / "s.csv"), "--history", str(book))
    assert code == 0, out
    got = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    accounts = pd.read_csv(tmp_path / "a.csv")
    expected = score(model, accounts, as_of=AS_OF,
                     previous=previous_snapshot(history_for(ACCOUNTS), AS_OF)).scores
    assert (expected["next_action"] == "Do P").any()
    assert got["next_action"].tolist() == expected["next_action"].tolist()
    code, out = run(*args, str(tmp_path / "none.csv"))
    assert code == 0 and (pd.read_csv(tmp_path / "none.csv", keep_default_na=False)
                          ["next_action"] == "").all()
    code, out = run(*args, str(tmp_path / "x.csv"), "--history", str(tmp_path / "no.db"))
    assert code == 1 and "history file not found" in out


def test_the_documented_playbook_limit_is_the_real_one(tmp_path: Path) -> None:
    """docs/playbooks.md: the `actions` formula holds about 96 playbooks like the
    default's; one more is refused before writing, saying what to change."""
    import dataclasses
    base = default_model().playbooks

    def model(n: int) -> Model:
        return default_model().replace(playbooks=tuple(
            dataclasses.replace(base[k % len(base)], name=f"P{k}") for k in range(n)))
    write_template(tmp_path / "ok.xlsx", model(96), rows=2)
    with pytest.raises(ModelError, match="use fewer playbooks or shorter actions"):
        write_template(tmp_path / "no.xlsx", model(97), rows=2)
    assert not (tmp_path / "no.xlsx").exists()
