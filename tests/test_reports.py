"""Every report and sheet a person reads: totals outside Tables, formats, labels, widths.

The reports (forecast, trend, calibration with learned points) and the scored workbook are
written by the command line on sample data and opened with openpyxl: what is checked is
what Excel and LibreOffice display (number formats, widths, row heights, header labels).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import range_boundaries

from chs_excel.io.sample import make_sample
from tests.cli_runner import run

CAP = 40           # the widest a fitted column needs to be (characters)
LABEL = re.compile(r'^;;;"(.*)"$')


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """forecast, trend and calibration (--learn-points) reports, and a scored workbook."""
    folder = tmp_path_factory.mktemp("reports")
    accounts = make_sample(400, seed=1)
    accounts.loc[accounts.index[:3], "owner"] = None
    source = folder / "accounts.csv"
    accounts.to_csv(source, index=False)
    later = accounts.assign(nps=pd.to_numeric(accounts["nps"], errors="coerce") - 3)
    later.to_csv(folder / "later.csv", index=False)
    out = {name: folder / f"{name}.xlsx" for name in ("scored", "forecast", "trend",
                                                      "calibration")}
    store = folder / "h.sqlite"
    steps = [("score", str(source), "-o", str(out["scored"])),
             ("score", str(source), "-o", str(folder / "s1.csv")),
             ("score", str(folder / "later.csv"), "-o", str(folder / "s2.csv")),
             ("snapshot", str(folder / "s1.csv"), "--history", str(store), "--date",
              "2026-01-01"),
             ("snapshot", str(folder / "s2.csv"), "--history", str(store), "--date",
              "2026-02-01"),
             ("forecast", str(out["scored"]), "--by", "quarter", "-o", str(out["forecast"])),
             ("trend", str(store), "-o", str(out["trend"])),
             ("calibrate", str(source), "--learn-points", "-o", str(out["calibration"]),
              "--no-png")]
    for args in steps:
        code, text = run(*args)
        assert code == 0, (args, text)
    return out


REPORTS = ("forecast", "trend", "calibration")


def tables(path: Path):
    """(sheet, table, first row, last row, first col, last col) of every Table (cells as
    their cached values)."""
    book = openpyxl.load_workbook(path, data_only=True)
    for ws in book.worksheets:
        for table in ws.tables.values():
            c0, r0, c1, r1 = range_boundaries(table.ref)
            yield ws, table, r0, r1, c0, c1


def shown_header(cell: openpyxl.cell.Cell) -> str:
    """What a header cell displays: its number format's text section, else its value."""
    found = LABEL.match(cell.number_format or "")
    return found.group(1) if found else str(cell.value)


@pytest.mark.parametrize("name", REPORTS)
def test_no_total_row_inside_any_table(reports: dict[str, Path], name: str) -> None:
    for ws, table, r0, r1, c0, _ in tables(reports[name]):
        firsts = [ws.cell(r, c0).value for r in range(r0 + 1, r1 + 1)]
        assert "Total" not in firsts, (ws.title, table.name)


def test_forecast_total_is_the_row_under_its_table(reports: dict[str, Path]) -> None:
    ws = openpyxl.load_workbook(reports["forecast"], data_only=True)["Forecast"]
    c0, r0, c1, r1 = range_boundaries(ws.tables["Forecast"].ref)
    heads = [ws.cell(r0, c).value for c in range(c0, c1 + 1)]
    arr = heads.index("arr") + c0
    assert ws.cell(r1 + 1, c0).value == "Total"
    assert ws.cell(r1 + 1, arr).value == pytest.approx(
        sum(ws.cell(r, arr).value for r in range(r0 + 1, r1 + 1)))
    assert ws.cell(r1 + 1, arr).font.b


@pytest.mark.parametrize("name", [*REPORTS, "scored"])
def test_every_numeric_column_has_a_number_format(reports: dict[str, Path], name: str) -> None:
    for ws, table, r0, r1, c0, c1 in tables(reports[name]):
        if table.name == "Accounts" or ws.title == "Model":   # inputs, as users type them
            continue
        for c in range(c0, c1 + 1):
            if table.name == "Paths" and str(ws.cell(r0, c).value).startswith(("from", "to")):
                continue    # raw values in each metric's own units, mixed with labels
            cells = [ws.cell(r, c) for r in range(r0 + 1, min(r1, r0 + 200) + 1)]
            numbers = [x for x in cells if isinstance(x.value, (int, float))
                       and not isinstance(x.value, bool)]
            for cell in numbers:
                assert cell.number_format != "General", (ws.title, table.name,
                                                         ws.cell(r0, c).value)


@pytest.mark.parametrize("name", [*REPORTS, "scored"])
def test_headers_show_words_while_tables_keep_the_keys(reports: dict[str, Path],
                                                       name: str) -> None:
    for ws, table, r0, _, c0, c1 in tables(reports[name]):
        if table.name in ("Accounts", "ActionStatus"):   # input: the user's own headers,
            continue                                     # the keys a --statuses file has
        for c in range(c0, c1 + 1):
            cell = ws.cell(r0, c)
            assert cell.value == table.tableColumns[c - c0].name   # the key, unchanged
            assert "_" not in shown_header(cell), (ws.title, table.name, cell.value)


def test_scores_headers_and_freeze(reports: dict[str, Path]) -> None:
    ws = openpyxl.load_workbook(reports["scored"])["Scores"]
    heads = {ws.cell(1, c).value: shown_header(ws.cell(1, c))
             for c in range(1, ws.max_column + 1)}
    assert heads["raw_health"] == "Raw health" and heads["low_data"] == "Low data"
    assert heads["points_at_stake"] == "Points at stake" and heads["arr"] == "ARR"
    assert ws.freeze_panes == "C2"                  # id and name stay in view
    assert [ws.cell(1, c).value for c in (1, 2)] == ["account_id", "account_name"]


@pytest.mark.parametrize(("name", "sheet"), [("scored", "Scores"), ("scored", "Data issues"),
                                             ("scored", "Model"), ("forecast", "By owner"),
                                             ("trend", "Movers"), ("calibration", "AUC")])
def test_widths_fit_the_content_up_to_the_cap(reports: dict[str, Path], name: str,
                                              sheet: str) -> None:
    ws = openpyxl.load_workbook(reports[name], data_only=True)[sheet]
    columns = {c: (d.width, d.outlineLevel) for d in ws.column_dimensions.values()
               for c in range(d.min or 0, (d.max or 0) + 1)}
    for table in ws.tables.values():
        c0, r0, c1, r1 = range_boundaries(table.ref)
        for c in range(c0, c1 + 1):
            width, level = columns.get(c, (None, 0))
            if level:                                   # grouped helper columns
                continue
            texts = [ws.cell(r, c).value for r in range(r0 + 1, r1 + 1)]
            longest = max([len(t) for t in texts if isinstance(t, str)], default=0)
            longest = max(longest, len(shown_header(ws.cell(r0, c))))
            assert width >= min(CAP - 8, longest), (sheet, ws.cell(r0, c).value, width)


def test_wrapped_text_rows_have_heights_that_hold_it(reports: dict[str, Path]) -> None:
    ws = openpyxl.load_workbook(reports["scored"])["Start here"]
    width = ws.column_dimensions["A"].width
    wrapped = [c for c in ws["A"] if c.alignment.wrap_text and isinstance(c.value, str)]
    assert len(wrapped) >= 6
    for cell in wrapped:
        # at most 1.3 characters per width unit fit a line of 11-point text
        lines = math.ceil(len(cell.value) / (width * 1.3))
        height = ws.row_dimensions[cell.row].height
        assert height is not None and height >= 14 * lines, (cell.row, height, lines)


@pytest.mark.parametrize("name", REPORTS)
def test_report_sheets_print_landscape_one_page_wide(reports: dict[str, Path],
                                                     name: str) -> None:
    for ws in openpyxl.load_workbook(reports[name]).worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth in (
            1, None), ws.title


def test_roc_points_on_their_own_hidden_sheet(reports: dict[str, Path]) -> None:
    book = openpyxl.load_workbook(reports["calibration"])
    assert book["ROC points"].sheet_state == "hidden"
    assert "ROC" in book["ROC points"].tables and "ROC" not in book["AUC"].tables
    assert book["AUC"]._charts                          # the chart stays in view


def test_calibration_report_opens_with_a_verdict(reports: dict[str, Path]) -> None:
    ws = openpyxl.load_workbook(reports["calibration"], data_only=True)["Summary"]
    verdict = ws["A2"].value
    shown = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(1, ws.max_row + 1)}
    auc = shown["AUC of health (all rows)"]
    assert re.fullmatch(r"Health ranks renewals (well|fairly well|weakly): a renewing "
                        r"account outscores a churning one \d+% of the time\.", verdict)
    assert f"{round(auc * 100)}% of the time" in verdict
    assert ws["A3"].value.startswith("The suggested weights rank ")
    assert ws["A4"].value.startswith("Churn rate by band: Red ")
    assert ws.row_dimensions[2].height >= 15


def test_calibration_summary_numbers_are_formatted(reports: dict[str, Path]) -> None:
    """The summary's counts (rows, accounts) and rates are numbers with a format, not
    General (3000 shown as 3,000)."""
    ws = openpyxl.load_workbook(reports["calibration"])["Summary"]
    numbers = [c for c in ws["B"] if isinstance(c.value, (int, float))
               and not isinstance(c.value, bool)]
    assert any(isinstance(c.value, int) for c in numbers)
    assert all(c.number_format != "General" for c in numbers), [
        (c.coordinate, c.value) for c in numbers if c.number_format == "General"]
