"""Issue 22 item 1: playbooks' due dates, a CSM's action statuses (engine, the live
formulas recalculated by LibreOffice, survival across refresh / rebuild / re-score /
template --from) and the This week view. Expected values are written out by hand."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import pandas as pd

from chs_excel.core.engine import score
from chs_excel.core.model import Model, default_model
from chs_excel.io.statuses import workbook_statuses
from chs_excel.io.workbook import read_workbook
from chs_excel.sheets.actions import this_week
from chs_excel.sheets.workbook import write_template
from chs_excel.xlsx import libreoffice as lo
from tests.test_formulas import PAD, assert_scores_equal

AS_OF = dt.date(2025, 3, 31)
MODEL = Model.from_dict({
    "name": "status tests", "components": {"Usage": 100},
    "metrics": [{"column": "usage", "component": "Usage", "method": "linear", "worst": 0,
                 "best": 100}],
    "playbooks": [
        {"name": "Low", "priority": 1, "action": "Call", "owner": "CSM", "due_in_days": 2,
         "when": [{"test": "health", "op": "<", "value": 50}]},
        {"name": "Any", "priority": 2, "action": "Email", "owner": "CSM",
         "when": [{"test": "health", "op": ">=", "value": 0}]},
    ]})
ACCOUNTS = pd.DataFrame({"account_id": ["a1", "a2", "a3", "a4", "a5", "a6"],
                         "owner": ["Ann", "Ann", "Ann", "Bob", "Bob", "Bob"],
                         "arr": [100, 300, 200, 50, 80, 10],
                         "usage": [10, 20, 30, 40, 90, 5]},
                        index=pd.RangeIndex(2, 8))
STATUSES = pd.DataFrame({
    "account_id": ["a1", "a2", "a3", "a4", "a5", "a6", "a6"],
    "playbook": ["Low", "low", "Low", "Low", "Any", "Nope", "Low"],
    "status": ["done", "Snoozed", "not relevant", "snoozed", "maybe", "done", "done"],
    "until": [None, dt.date(2025, 4, 30), dt.date(2025, 3, 1), None, None, None,
              dt.date(2025, 3, 31)],
    "note": ["called", "", "old", "", "", "", "today still holds"]})


def test_due_in_days_gives_the_due_date_of_the_next_action() -> None:
    s = score(MODEL, ACCOUNTS, as_of=AS_OF).scores
    assert s["next_action"].tolist() == ["Call", "Call", "Call", "Call", "Email", "Call"]
    assert s["action_playbook"].tolist() == ["Low"] * 4 + ["Any", "Low"]
    assert s["action_due"].iloc[0] == pd.Timestamp("2025-04-02")
    assert pd.isna(s["action_due"].iloc[4])       # "Any" has no due_in_days


def test_a_holding_status_takes_the_playbook_off_until_it_expires() -> None:
    result = score(MODEL, ACCOUNTS, as_of=AS_OF, statuses=STATUSES)
    s = result.scores
    # a1 done (no until), a2 snoozed to 30 Apr, a6 done until today: the next playbook;
    # a3's not-relevant expired on 1 Mar, a4's snooze has no date, a5's status is unknown
    assert s["next_action"].tolist() == ["Email", "Email", "Call", "Call", "Email", "Email"]
    problems = result.issues[result.issues["problem"].str.startswith("action status")]
    assert sorted(problems["column"]) == ["playbook", "status", "until"]
    later = score(MODEL, ACCOUNTS, as_of=dt.date(2025, 5, 1), statuses=STATUSES).scores
    assert later["next_action"].tolist() == ["Email", "Call", "Call", "Call", "Email",
                                             "Call"]


def test_due_in_days_round_trips_and_older_tables_read_it_blank() -> None:
    tables = MODEL.to_frame()
    assert Model.from_frame(tables) == MODEL
    assert Model.from_dict(MODEL.to_dict()) == MODEL
    older = {**tables, "Playbooks": tables["Playbooks"].drop(columns="due_in_days")}
    assert [p.due_in_days for p in Model.from_frame(older).playbooks] == [None, None]
    assert default_model().playbooks[0].due_in_days == 2


def test_this_week_is_due_capped_per_owner_by_priority_then_arr() -> None:
    s = score(MODEL, ACCOUNTS, as_of=AS_OF).scores
    week = this_week(s, AS_OF, limit=2)
    # Ann: a1, a2, a3 all priority 1 -> by ARR a2 (300), a3 (200); Bob: a4 (50), a6 (10)
    # (a5's Email has no due date)
    assert week["account_id"].tolist() == ["a2", "a3", "a4", "a6"]


def test_the_workbook_applies_statuses_like_the_engine(tmp_path: Path) -> None:
    expected = score(MODEL, ACCOUNTS, as_of=AS_OF, statuses=STATUSES).scores
    book = tmp_path / "b.xlsx"
    write_template(book, MODEL, ACCOUNTS, rows=len(ACCOUNTS) + PAD, as_of=AS_OF,
                   statuses=STATUSES)
    recalculated = lo.recalculate(book, tmp_path / "lo")
    assert_scores_equal(recalculated, expected[["account_id", "next_action",
                                                "action_playbook", "action_due",
                                                "action_priority", "actions"]])
    assert len(workbook_statuses(book)) == len(STATUSES)


def _typed_status(book: Path, out: Path) -> None:
    """A CSM marks a1's 'Low' done in the ActionStatus Table (openpyxl, as Excel would)."""
    wb = openpyxl.load_workbook(book)
    ws = wb["Action status"]
    for c, value in enumerate(["a1", "Low", "done", None, "called"], start=1):
        ws.cell(row=2, column=c, value=value)
    wb.save(out)


def test_statuses_survive_refresh_rebuild_rescore_and_template_from(tmp_path: Path) -> None:
    from chs_excel.app.macros import rebuild_file, refresh_file
    from tests.cli_runner import run
    book = tmp_path / "b.xlsx"
    write_template(book, MODEL, ACCOUNTS, rows=len(ACCOUNTS) + PAD, as_of=AS_OF)
    typed = tmp_path / "typed.xlsx"
    _typed_status(book, typed)

    def a1_action(path: Path) -> str:
        rows = lo.sheet_rows(path, "Scores")
        header = list(rows[0])
        return rows[1][header.index("next_action")]
    refreshed = tmp_path / "refreshed.xlsx"
    refresh_file(typed, refreshed, as_of=AS_OF)
    assert a1_action(refreshed) == "Email"
    assert workbook_statuses(refreshed)["account_id"].tolist() == ["a1"]
    rebuilt = tmp_path / "rebuilt.xlsx"
    rebuild_file(typed, rebuilt, as_of=AS_OF)
    assert workbook_statuses(rebuilt)["note"].tolist() == ["called"]
    assert a1_action(lo.recalculate(rebuilt, tmp_path / "lo1")) == "Email"
    again = tmp_path / "again.xlsx"
    assert run("template", "--from", str(typed), "-o", str(again))[0] == 0
    assert read_workbook(again).statuses["status"].tolist() == ["done"]
    MODEL.save(tmp_path / "m.yaml")
    ACCOUNTS.to_csv(tmp_path / "a.csv", index=False)
    rescored = tmp_path / "rescored.xlsx"
    shutil.copy(typed, rescored)
    code, text = run("score", str(tmp_path / "a.csv"), "--model", str(tmp_path / "m.yaml"),
                     "-o", str(rescored), "--as-of", "2025-03-31", "--replace")
    assert code == 0, text
    assert workbook_statuses(rescored)["account_id"].tolist() == ["a1"]
    assert a1_action(rescored) == "Email"
    # a --statuses file
    STATUSES.to_csv(tmp_path / "st.csv", index=False)
    code, text = run("score", str(tmp_path / "a.csv"), "--model", str(tmp_path / "m.yaml"),
                     "-o", str(tmp_path / "out.csv"), "--as-of", "2025-03-31",
                     "--statuses", str(tmp_path / "st.csv"))
    assert code == 0, text
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["next_action"].tolist() == ["Email", "Email", "Call", "Call", "Email", "Email"]


def test_a_snapshot_lists_the_statuses_in_history(tmp_path: Path) -> None:
    from chs_excel.app.macros import snapshot_file
    book = tmp_path / "b.xlsx"
    write_template(book, MODEL, ACCOUNTS, rows=len(ACCOUNTS) + PAD, as_of=AS_OF,
                   statuses=STATUSES.head(2))
    once = tmp_path / "once.xlsx"
    snapshot_file(book, once, as_of=AS_OF)
    twice = tmp_path / "twice.xlsx"
    snapshot_file(once, twice, as_of=dt.date(2025, 4, 7))
    listed = pd.read_excel(twice, sheet_name="History statuses", engine="calamine")
    assert listed["account_id"].tolist() == ["a1", "a2", "a1", "a2"]
    assert pd.to_datetime(listed["date"]).dt.date.tolist() == [AS_OF] * 2 + \
        [dt.date(2025, 4, 7)] * 2
    assert listed["status"].tolist() == ["done", "Snoozed"] * 2
