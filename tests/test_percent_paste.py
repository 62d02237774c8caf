"""Percent-formatted cells pasted into the live template read as the engine reads them.

Excel stores a cell shown as `56%` as 0.56. chs's reader reads such a column as 56 (what the
person sees; docs/input.md), so the live formulas do too: Calc finds each column's format
with CELL("format") on its first number cell (the reader's rule) and scales by 100. The
pasted workbook is recalculated by LibreOffice and compared with `chs score` of the same
file, cell by cell.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd

from chs_excel.core.engine import score
from chs_excel.io.accounts import read_accounts
from chs_excel.xlsx import libreoffice as lo
from tests.test_by_header import blank_template, paste_accounts
from tests.test_formulas import AS_OF, PAD, assert_scores_equal, edge_accounts, edge_model

# columns pasted as fractions with a percent format (linear + rule, percentile + rule,
# a number read by an override)
PERCENT = {"usage_pct": "0%", "adoption": "0.00%", "override_score": "0.0%"}


def percent_accounts() -> pd.DataFrame:
    """The edge accounts with the PERCENT columns' numbers stored as fractions."""
    frame = edge_accounts()
    # a region of spaces reads blank from an xlsx but Scores copies it: not this test's point
    frame["region"] = frame["region"].where(frame["region"].astype(str).str.strip() != "")
    for column in PERCENT:
        values = frame[column]
        numeric = values.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
                             and v == v)
        frame[column] = values.where(~numeric, values[numeric].astype(float) / 100)
    return frame


def format_percent(path: Path, rows: int) -> None:
    """Give the PERCENT columns of Accounts their percent formats, as a paste leaves them."""
    book = openpyxl.load_workbook(path)
    ws = book["Accounts"]
    header = [c.value for c in ws[1]]
    for column, code in PERCENT.items():
        j = header.index(column) + 1
        for i in range(2, rows + 2):
            ws.cell(i, j).number_format = code
    book.save(path)


def test_percent_cells_pasted_equal_the_engine_in_every_cell(tmp_path: Path) -> None:
    model = edge_model()
    accounts = percent_accounts()
    template = blank_template(tmp_path, model, len(accounts) + PAD)
    pasted = tmp_path / "pasted.xlsx"
    paste_accounts(template, accounts, pasted, as_of=AS_OF)
    format_percent(pasted, len(accounts))
    read = read_accounts(pasted, "Accounts")
    # the reader reads what the cell shows: 0.555 shown as 55.5% reads 55.5 (hand-written)
    shown = edge_accounts()["usage_pct"]
    assert read["usage_pct"].iloc[5] == 55.5 and shown.iloc[5] == 55.5
    assert 85 in read["override_score"].tolist() and 150 in read["override_score"].tolist()
    expected = score(model, read, as_of=AS_OF).scores
    recalculated = lo.recalculate(pasted, tmp_path / "lo")
    assert_scores_equal(recalculated, expected)
    start = [r[0] for r in lo.values(recalculated)["Start here"].iter_rows(values_only=True)]
    said = [t for t in start if isinstance(t, str) and "formatted as %" in t]
    assert said and all(c in said[0] for c in PERCENT), start


def test_no_percent_column_is_said_too(tmp_path: Path) -> None:
    model = edge_model()
    accounts = edge_accounts()
    template = blank_template(tmp_path, model, len(accounts) + PAD)
    pasted = tmp_path / "pasted.xlsx"
    paste_accounts(template, accounts, pasted, as_of=AS_OF)
    book = lo.values(lo.recalculate(pasted, tmp_path / "lo"))
    start = [r[0] for r in book["Start here"].iter_rows(values_only=True)]
    assert "Accounts: no column the Model reads is formatted as %." in start
