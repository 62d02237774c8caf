"""The template reads Accounts by header: any column order, extra columns, headers spelled
the user's way, a column the Model needs missing (LibreOffice recalculation vs the engine).

Accounts are pasted into a blank template written by `chs template`, as a user would: the
header row and the data replaced, the Accounts Table resized to them (Excel renames a
Table's columns after its header cells), then LibreOffice recalculates every formula.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import get_column_letter

from chs_excel.core.engine import score
from chs_excel.core.formula_text import HEADER_SPACE_CODES
from chs_excel.core.model import Model
from chs_excel.core.vocabulary import header_key
from chs_excel.sheets.workbook import write_template
from chs_excel.xlsx import libreoffice as lo
from tests.cli_runner import run
from tests.test_formulas import AS_OF, PAD, assert_scores_equal, edge_accounts, edge_model

# header_key spellings a user's export might carry (each matches its column, none equal)
RENAMED = {
    "account_id": "Account ID", "account_name": "ACCOUNT NAME", "usage_pct": "Usage\u00a0Pct",
    "logins": "LOGINS", "plan_type": "Plan Type", "delay_days": "delay days",
    "wait_hours": "Wait  Hours", "override_until": "Override\u3000Until", "tier": " Tier ",
    "churn_flag": "Churn_Flag", "renewal_date": "Renewal date", "arr": "ARR",
}


def blank_template(tmp_path: Path, model: Model, rows: int) -> Path:
    """`chs template --model M --rows N -o T.xlsx`: the blank live template."""
    model_path = tmp_path / "model.yaml"
    model.save(model_path)
    out = tmp_path / "template.xlsx"
    code, output = run("template", "--model", str(model_path), "--rows", str(rows),
                       "-o", str(out))
    assert code == 0, output
    return out


def cell_value(value: Any) -> Any:
    """A frame value as a user's paste leaves it in a cell (booleans as words: LibreOffice
    counts TRUE as a number where Excel does not, see docs/excel-facts.md)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def paste_accounts(template: Path, accounts: pd.DataFrame, out: Path,
                   as_of: dt.date | None = None) -> None:
    """Replace the Accounts sheet's header row and data with `accounts`, resize the Table;
    `as_of` typed into Calc's "Overrides valid on" cell (the template has TODAY())."""
    book = openpyxl.load_workbook(template)
    if as_of is not None:
        sheet, cell = book.defined_names["AsOf"].attr_text.split("!")
        book[sheet][cell.replace("$", "")].value = as_of
    ws = book["Accounts"]
    table = ws.tables["Accounts"]
    for row in ws.iter_rows(min_row=1, max_row=ws.max_row):
        for cell in row:
            cell.value = None
    for j, header in enumerate(accounts.columns, start=1):
        ws.cell(1, j).value = str(header)
    for i, values in enumerate(accounts.itertuples(index=False), start=2):
        for j, value in enumerate(values, start=1):
            cell = ws.cell(i, j)
            cell.value = cell_value(value)
            if isinstance(cell.value, str):
                cell.data_type = "s"  # pasted text stays text ('=Name 0')
    last = max(len(accounts), 1) + 1
    table.ref = f"A1:{get_column_letter(len(accounts.columns))}{last}"
    table.autoFilter.ref = table.ref
    table.tableColumns = []  # openpyxl names them after the new header cells
    book.save(out)


def pasted_frame(accounts: pd.DataFrame) -> pd.DataFrame:
    """The edge accounts reversed, renamed the user's way, with a column of the user's own
    in the middle, and booleans as the words the paste leaves."""
    frame = accounts.map(cell_value).astype(object)
    frame = frame[list(reversed(frame.columns))].rename(columns=RENAMED)
    middle = len(frame.columns) // 2
    frame.insert(middle, "My notes", [f"note {i}" if i % 3 else None
                                      for i in range(len(frame))])
    frame.insert(1, "nps", 0)  # a column the edge model does not read, named like a metric
    return frame


def test_header_spellings_match_as_the_engine_matches_them() -> None:
    assert all(header_key(new) == header_key(old) for old, new in RENAMED.items())
    assert all(new != old for old, new in RENAMED.items())
    spaces = tuple(i for i in range(sys.maxunicode + 1) if chr(i).isspace())
    assert spaces == HEADER_SPACE_CODES  # what str.split(), so header_key, drops


def test_pasted_in_another_order_with_own_columns_and_spellings_equals_the_engine(
        tmp_path: Path) -> None:
    model = edge_model()
    accounts = pasted_frame(edge_accounts())
    assert list(accounts.columns)[-1] == "Account ID"  # really reversed
    expected = score(model, accounts, as_of=AS_OF).scores
    template = blank_template(tmp_path, model, len(accounts) + PAD)
    pasted = tmp_path / "pasted.xlsx"
    paste_accounts(template, accounts, pasted, as_of=AS_OF)
    recalculated = lo.recalculate(pasted, tmp_path / "lo")
    assert_scores_equal(recalculated, expected)  # the engine names its outputs canonically
    start = [r[0] for r in lo.values(recalculated)["Start here"].iter_rows(values_only=True)]
    assert any(str(t).startswith("Accounts: every column the Model reads was found")
               for t in start)


def test_a_missing_metric_column_is_told_on_start_here_and_in_the_scores(
        tmp_path: Path) -> None:
    model = edge_model()
    accounts = edge_accounts().drop(columns=["tickets"]).head(8)
    accounts = accounts.map(cell_value).astype(object)
    template = blank_template(tmp_path, model, len(accounts) + 2)
    pasted = tmp_path / "pasted.xlsx"
    paste_accounts(template, accounts, pasted)
    book = lo.values(lo.recalculate(pasted, tmp_path / "lo"))
    start = [str(r[0]) for r in book["Start here"].iter_rows(values_only=True) if r[0]]
    told = [t for t in start if t.startswith("Accounts: tickets missing")]
    assert told, start[:12]
    rows = list(book["Scores"].iter_rows(values_only=True))
    header = list(rows[0])
    data = [dict(zip(header, r, strict=True)) for r in rows[1:1 + len(accounts)]]
    assert [r["account_id"] for r in data] == list(accounts["account_id"])
    for r in data:
        assert r["tickets_score"] == "no column"
        for column in ("health", "band", "Support", "Usage", "coverage", "capped_by"):
            assert r[column] == "no column", (column, r[column])
        assert isinstance(r["usage_pct_score"], (int, float))  # other metrics still score
    for blank in rows[1 + len(accounts):]:  # rows without an account stay blank
        assert all(v is None or v == "" for v in blank)
    summary = {r[0]: r[1] for r in book["Start here"].iter_rows(values_only=True)}
    assert summary["Green"] == summary["Yellow"] == summary["Red"] == 0


def test_a_repeated_column_is_told_like_a_missing_one(tmp_path: Path) -> None:
    model = edge_model()
    accounts = edge_accounts().map(cell_value).astype(object).head(4)
    accounts.insert(3, "Usage_Pct", 5)
    template = blank_template(tmp_path, model, len(accounts) + 2)
    pasted = tmp_path / "pasted.xlsx"
    paste_accounts(template, accounts, pasted)
    book = lo.values(lo.recalculate(pasted, tmp_path / "lo"))
    rows = list(book["Scores"].iter_rows(values_only=True))
    health = list(rows[0]).index("health")
    assert {r[health] for r in rows[1:5]} == {"column twice"}
    start = [str(r[0]) for r in book["Start here"].iter_rows(values_only=True) if r[0]]
    assert [t for t in start if t.startswith("Accounts: usage_pct repeated. ")]


def system_python_with_uno() -> str | None:
    """The system Python when it has LibreOffice's `uno` module (python3-uno)."""
    for python in ("/usr/bin/python3", "python3"):
        found = subprocess.run([python, "-c", "import uno"], capture_output=True, check=False)
        if found.returncode == 0:
            return python
    return None


def test_columns_inserted_later_keep_the_scores(tmp_path: Path) -> None:
    """Columns inserted into Accounts by LibreOffice itself (references adjusted as for a
    user): the formulas follow the headers and still equal the engine."""
    python = system_python_with_uno()
    if python is None:
        pytest.skip("LibreOffice's Python (python3-uno) is not installed")
    model, accounts = edge_model(), edge_accounts()
    expected = score(model, accounts, as_of=AS_OF).scores
    book = tmp_path / "book.xlsx"
    write_template(book, model, accounts, rows=len(accounts) + PAD, as_of=AS_OF)
    out = tmp_path / "inserted.xlsx"
    script = Path(__file__).with_name("uno_insert_columns.py")
    subprocess.run([python, str(script), str(book), str(out), "1", "5", "12"], check=True,
                   capture_output=True, timeout=600)
    header = [c.value for c in openpyxl.load_workbook(out)["Accounts"][1]]
    assert header[1] is None and header[5] is None and header[12] is None  # really inserted
    assert_scores_equal(out, expected)
