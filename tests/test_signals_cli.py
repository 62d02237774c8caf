"""`chs signals`, `chs score` with sources, `chs explain` and `chs demo --signals`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from chs_excel.core.model import default_model
from chs_excel.io.sample import make_sample, reference_date
from chs_excel.io.sample_signals import SIGNAL_COLUMNS, make_exports
from tests.cli_runner import run

TICKETS = """organization_id,created_at,priority
 acc-1 ,2027-03-31T23:59:59Z,high
ACC-1,2027-04-01T00:00:00Z,high
ACC-2,2027-03-02T00:00:00Z,Urgent
ACC-2,2027-03-01T23:59:59Z,urgent
NOPE,2027-03-30,high
ACC-3,2027-03-30,
"""


def folder_with_model(tmp_path: Path) -> Path:
    data = default_model().to_dict()
    data["sources"] = {"tickets": {"file": "exports/tickets.csv", "key": "organization_id",
                                   "time": "created_at"}}
    data["signals"] = [{"name": "tickets_30d", "source": "tickets", "agg": "count",
                        "window": 30},
                       {"name": "urgent_30d", "source": "tickets", "agg": "count",
                        "window": 30, "where": [{"column": "priority", "op": "in",
                                                 "value": ["high", "urgent"]}]}]
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "tickets.csv").write_text(TICKETS, "utf-8")
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    accounts = make_sample(3, seed=0, dirty=False).drop(columns=["tickets_30d"])
    accounts["account_id"] = ["ACC-3", "ACC-1", "ACC-2"]
    accounts.to_csv(tmp_path / "accounts.csv", index=False)
    return tmp_path


def test_signals_command_appends_columns_in_input_order(tmp_path: Path) -> None:
    folder_with_model(tmp_path)
    code, out = run("signals", str(tmp_path / "accounts.csv"), "--model",
                    str(tmp_path / "model.yaml"), "--as-of", "2027-03-31",
                    "-o", str(tmp_path / "out.csv"))
    assert code == 0, out
    got = pd.read_csv(tmp_path / "out.csv")
    assert got["account_id"].tolist() == ["ACC-3", "ACC-1", "ACC-2"]
    assert got["tickets_30d"].tolist() == [1, 1, 1]   # 04-01 00:00 and 03-01 23:59:59 out
    assert got["urgent_30d"].tolist() == [0, 1, 1]    # ACC-3's blank priority never = high
    issues = pd.read_csv(tmp_path / "out.issues.csv")
    assert issues["problem"].str.contains("1 row\\(s\\) of source tickets").any()
    assert "Data issues: 1" in out


def test_signals_xlsx_output_and_source_override(tmp_path: Path) -> None:
    folder_with_model(tmp_path)
    other = tmp_path / "other.csv"
    other.write_text("organization_id,created_at,priority\nACC-3,2027-03-31,urgent\n", "utf-8")
    code, out = run("signals", str(tmp_path / "accounts.csv"), "--model",
                    str(tmp_path / "model.yaml"), "--as-of", "2027-03-31",
                    "--source", f"tickets={other}", "-o", str(tmp_path / "out.xlsx"))
    assert code == 0, out
    got = pd.read_excel(tmp_path / "out.xlsx", sheet_name="Accounts", header=2,
                        engine="calamine")
    assert got["urgent_30d"].tolist() == [1, 0, 0]


def test_signals_errors_are_one_line(tmp_path: Path) -> None:
    folder_with_model(tmp_path)
    (tmp_path / "exports" / "tickets.csv").unlink()
    code, out = run("signals", str(tmp_path / "accounts.csv"), "--model",
                    str(tmp_path / "model.yaml"), "-o", str(tmp_path / "out.csv"))
    assert code == 1
    assert "source tickets (" in out and "tickets.csv): file not found" in out
    assert "Traceback" not in out
    code, out = run("signals", str(tmp_path / "accounts.csv"), "--model",
                    str(tmp_path / "model.yaml"), "--source", "bogus",
                    "-o", str(tmp_path / "out.csv"))
    assert code == 1 and "expected NAME=PATH" in out


def test_score_computes_signals_first(tmp_path: Path) -> None:
    folder_with_model(tmp_path)
    code, out = run("score", str(tmp_path / "accounts.csv"), "--model",
                    str(tmp_path / "model.yaml"), "--as-of", "2027-03-31",
                    "-o", str(tmp_path / "scores.csv"))
    assert code == 0, out
    scores = pd.read_csv(tmp_path / "scores.csv")
    # tickets_30d is scored linearly, worst 15, best 0: one ticket scores 100 - 100/15
    assert scores["tickets_30d_score"].round(6).tolist() == [round(100 - 100 / 15, 6)] * 3
    issues = pd.read_csv(tmp_path / "scores.issues.csv")
    assert issues["problem"].str.contains("match no account_id").any()


def test_explain_lists_the_rows_behind_each_signal(tmp_path: Path) -> None:
    folder_with_model(tmp_path)
    code, out = run("explain", "acc-2", "--model", str(tmp_path / "model.yaml"),
                    "--accounts", str(tmp_path / "accounts.csv"), "--as-of", "2027-03-31")
    assert code == 0, out
    assert "Account ACC-2 as of 2027-03-31" in out
    assert "urgent_30d = 1  (count from tickets over the last 30 days where priority in " \
           "[high, urgent]; 1 row(s) of" in out
    assert "  row 4: created_at=2027-03-02 00:00:00" in out   # file row 4: the header is 1
    assert "scores metric tickets_30d -> tickets_30d_score 93.33" in out


def test_demo_with_signals_gives_back_the_sample(tmp_path: Path) -> None:
    code, out = run("demo", "--signals", "-o", str(tmp_path / "d"), "-n", "150")
    assert code == 0, out
    for name in ("tickets", "events", "surveys", "invoices"):
        assert (tmp_path / "d" / f"{name}.csv").is_file()
    accounts = pd.read_csv(tmp_path / "d" / "accounts.csv")
    assert not set(SIGNAL_COLUMNS) & set(accounts.columns)
    code, out = run("signals", str(tmp_path / "d" / "accounts.csv"), "--model",
                    str(tmp_path / "d" / "model.yaml"), "--as-of",
                    reference_date(0).isoformat(), "-o", str(tmp_path / "s.csv"))
    assert code == 0, out
    got = pd.read_csv(tmp_path / "s.csv")
    sample = make_sample(150, seed=0).apply(pd.to_numeric, errors="coerce")  # text: none
    for column in ("logins_30d", "tickets_30d"):
        assert got[column].tolist() == sample[column].fillna(0).clip(0).round().tolist()
    pd.testing.assert_series_equal(got["nps"], sample["nps"].round(), check_names=False)
    pd.testing.assert_series_equal(got["csat"], sample["csat"], check_names=False)


def test_exports_are_made_without_a_loop_and_have_dirt() -> None:
    exports = make_exports(make_sample(50, seed=0), reference_date(0))
    keys = exports["tickets"]["organization_id"]
    assert (keys == "ACC-UNKNOWN").sum() == 3
    assert keys.str.startswith(" ").any()
    assert exports["surveys"]["created_at"].str.endswith("+02:00").all()


def test_demo_with_signals_writes_the_exports_as_live_source_sheets(tmp_path: Path) -> None:
    import openpyxl
    code, out = run("demo", "--signals", "-n", "40", "-o", str(tmp_path / "d"))
    assert code == 0, out
    book = openpyxl.load_workbook(tmp_path / "d" / "scored.xlsx")
    assert {"tickets", "events", "surveys", "invoices"} <= set(book.sheetnames)
    ws = book["Accounts"]
    header = [c.value for c in ws[1]]
    for signal in ("logins_30d", "tickets_30d", "nps", "csat"):
        cell = ws.cell(2, header.index(signal) + 1).value
        text = cell.text if hasattr(cell, "text") else cell
        assert isinstance(text, str) and text.startswith("="), (signal, text)
