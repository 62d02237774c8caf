"""Parent accounts (docs/parents.md): the roll-up, its errors, the csv and the live Table.

Every expected value below is worked out by hand from the accounts written here: one
component, one linear metric `x` from 0 to 100, so an account's health is its x.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest

from chs_excel.core.engine import score
from chs_excel.core.errors import InputError
from chs_excel.core.model import Model
from chs_excel.core.parents import PARENTS_COLUMNS, parent_rollup
from chs_excel.sheets.dashboard import dashboard_sections
from chs_excel.sheets.workbook import write_scored_workbook, write_template
from chs_excel.xlsx import libreoffice as lo
from tests.cli_runner import run
from tests.test_workbook import PLAIN, PREFIXED

NAN = math.nan
MODEL = Model.from_dict({
    "name": "parents test", "components": {"A": 1},
    "bands": {"red_below": 40, "green_from": 70},
    "metrics": [{"column": "x", "component": "A", "weight": 1, "method": "linear",
                 "worst": 0, "best": 100}]})

# account, parent as typed, arr, x (= health)
ACCOUNTS = [
    ("a0", "Acme", 100, 50),
    ("a1", " acme ", 300, 90),         # Acme, as a text key
    ("a2", "Zero\u00a0Co", 0, 30),
    ("a3", "zero  co", None, 60),     # Zero Co: ARR sums to 0 -> the plain mean
    ("a4", "Empty", 500, None),       # no health at all
    ("a5", "Tie", 10, 20),
    ("a6", "TIE", 30, 20),            # tie for the worst: the first (a5)
    ("a7", "a0", 200, 70),            # the parent is an account
    ("a8", None, 50, 10),             # no parent
    ("a9", "Acme", 100, None),        # in Acme, without a health
    ("a10", "Mixed", 0, 100),         # weight 0 beside ARR > 0: drops out of the mean
    ("a11", "Mixed", 50, 40),
]
# parent_id (first spelling, trimmed), accounts, arr, health, band, worst account, health
EXPECTED = [
    ("Acme", 3, 500.0, (100 * 50 + 300 * 90) / 400, "Green", "a0", 50.0),   # 80
    ("Zero\u00a0Co", 2, 0.0, (30 + 60) / 2, "Yellow", "a2", 30.0),           # 45
    ("Empty", 1, 500.0, NAN, "No data", None, NAN),
    ("Tie", 2, 40.0, 20.0, "Red", "a5", 20.0),
    ("a0", 1, 200.0, 70.0, "Green", "a7", 70.0),                             # 70: Green
    ("Mixed", 2, 50.0, 40.0, "Yellow", "a11", 40.0),                         # 40: Yellow
]


def accounts_frame(rows: list[tuple] = ACCOUNTS, header: str = "parent_id") -> pd.DataFrame:
    """The accounts with file rows 2, 3, ... as index (what the readers set)."""
    frame = pd.DataFrame(rows, columns=["account_id", header, "arr", "x"], dtype=object)
    frame.index = range(2, 2 + len(frame))
    return frame


def rollup(frame: pd.DataFrame) -> pd.DataFrame | None:
    return parent_rollup(MODEL, score(MODEL, frame).scores)


def assert_parents(actual: pd.DataFrame, expected: list[tuple]) -> None:
    assert list(actual.columns) == list(PARENTS_COLUMNS)
    assert len(actual) == len(expected)
    for got, want in zip(actual.itertuples(index=False), expected, strict=True):
        for field, g, w in zip(PARENTS_COLUMNS, got, want, strict=True):
            if w is None or (isinstance(w, float) and math.isnan(w)):
                assert g is None or pd.isna(g), (want[0], field, g)
            elif isinstance(w, float):
                assert g == pytest.approx(w, abs=1e-9), (want[0], field, g)
            else:
                assert g == w, (want[0], field, g)


def test_rollup_by_hand() -> None:
    assert_parents(rollup(accounts_frame()), EXPECTED)


def test_header_found_like_the_other_identity_columns() -> None:
    scores = score(MODEL, accounts_frame(header=" Parent ID")).scores
    assert list(scores.columns[:3]) == ["account_id", "parent_id", "arr"]
    assert_parents(parent_rollup(MODEL, scores), EXPECTED)


def test_no_parent_column_no_parents() -> None:
    frame = accounts_frame().drop(columns="parent_id")
    assert rollup(frame) is None


def test_number_parent_ids_match_their_text() -> None:
    rows = [("a0", 7.0, 100, 80), ("a1", " 7", 100, 40), ("a2", None, 1, 1)]
    assert_parents(rollup(accounts_frame(rows)), [("7", 2, 200.0, 60.0, "Yellow", "a1", 40.0)])


def test_band_boundaries_follow_the_model() -> None:
    rows = [("a0", "P", 1, 39.999), ("a1", "Q", 1, 70)]
    out = rollup(accounts_frame(rows))
    assert list(out["band"]) == ["Red", "Green"]
    wider = MODEL.replace(red_below=30, green_from=75)
    assert list(parent_rollup(wider, score(wider, accounts_frame(rows)).scores)["band"]) \
        == ["Yellow", "Yellow"]


def test_own_parent_is_an_error_naming_the_row() -> None:
    rows = [("a0", "G", 1, 50), ("a1", "A1 ", 1, 50)]     # a1's parent is a1 (text key)
    with pytest.raises(InputError, match=r"row 3: account 'a1' is its own parent"):
        rollup(accounts_frame(rows))


def test_cycles_are_errors_naming_the_rows() -> None:
    rows = [("a0", "a1", 1, 50), ("a1", "a0", 1, 50),           # rows 2, 3
            ("b0", "b1", 1, 50), ("b1", "b2", 1, 50), ("b2", "B0", 1, 50),  # rows 4-6
            ("c0", "a0", 1, 50),                                 # into a cycle: not on it
            ("d0", "Group", 1, 50)]
    with pytest.raises(InputError) as err:
        rollup(accounts_frame(rows))
    text = str(err.value)
    assert "rows 2, 3: a cycle (a0 -> a1, a1 -> a0)" in text
    assert "rows 4, 5, 6: a cycle (b0 -> b1, b1 -> b2, b2 -> B0)" in text
    assert "row 7" not in text and "row 8" not in text


def test_a_chain_without_a_cycle_is_fine() -> None:
    rows = [("a0", "a1", 10, 50), ("a1", "a2", 30, 90), ("a2", "Group", 5, 10)]
    out = rollup(accounts_frame(rows))
    assert list(out["parent_id"]) == ["a1", "a2", "Group"]   # one level: direct accounts
    assert list(out["accounts"]) == [1, 1, 1]
    assert list(out["health"]) == [50.0, 90.0, 10.0]


# ---------------------------------------------------------------- csv output

def write_csv_input(path: Path, rows: list[tuple] = ACCOUNTS) -> Path:
    accounts_frame(rows).to_csv(path, index=False)
    return path


def test_csv_output_writes_parents_beside_it(tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    MODEL.save(model)
    src = write_csv_input(tmp_path / "accounts.csv")
    code, out = run("score", str(src), "--model", str(model), "-o", str(tmp_path / "out.csv"))
    assert code == 0, out
    path = tmp_path / "out.parents.csv"
    assert f"Parents: 6 (health rolled up by ARR) -> {path}" in out
    got = pd.read_csv(path, dtype={"worst_account": object}, keep_default_na=False,
                      na_values=[""])
    assert_parents(got.astype(object).where(got.notna(), None), EXPECTED)
    # the same folder without a parent_id column: no parents file (the old one removed)
    accounts_frame().drop(columns="parent_id").to_csv(src, index=False)
    code, out = run("score", str(src), "--model", str(model), "-o", str(tmp_path / "out.csv"))
    assert code == 0, out
    assert not path.exists() and "Parents" not in out


def test_cycle_on_the_command_line_writes_nothing(tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    MODEL.save(model)
    src = write_csv_input(tmp_path / "accounts.csv", [("a0", "a1", 1, 50), ("a1", "a0", 1, 5)])
    code, out = run("score", str(src), "--model", str(model), "-o", str(tmp_path / "o.csv"))
    assert code != 0
    assert "rows 2, 3: a cycle" in out and "Traceback" not in out
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "o.parents.csv").exists()


# ---------------------------------------------------------------- the workbook Table

AS_OF = dt.date(2024, 6, 30)


def parents_table(path: Path, data_only: bool = True) -> tuple[Any, list[list[Any]]]:
    """The Parents Table's sheet and its rows (header first), as openpyxl reads them."""
    book = openpyxl.load_workbook(path, data_only=data_only)
    ws = book["Parents"]
    ref = ws.tables["Parents"].ref
    return ws, [[c.value for c in row] for row in ws[ref]]


def scored_book(tmp_path: Path, rows: list[tuple] = ACCOUNTS, name: str = "p.xlsx") -> Path:
    frame = accounts_frame(rows)
    path = tmp_path / name
    write_scored_workbook(path, MODEL, frame, score(MODEL, frame, as_of=AS_OF), as_of=AS_OF)
    return path


def table_as_expected(rows: list[list[Any]]) -> list[tuple]:
    """The Table's pinned columns as the engine's tuples (blank cells as NaN/None)."""
    header = rows[0]
    assert header[:len(PARENTS_COLUMNS)] == list(PARENTS_COLUMNS)
    out = []
    for row in rows[1:]:
        cells = dict(zip(header, row, strict=True))
        out.append(tuple(NAN if cells[c] in (None, "") and c in ("health", "worst_health")
                         else None if cells[c] in (None, "") else cells[c]
                         for c in PARENTS_COLUMNS))
    return out


def test_scored_workbook_has_the_parents_table(tmp_path: Path) -> None:
    path = scored_book(tmp_path)
    book = openpyxl.load_workbook(path)
    names = book.sheetnames
    assert names.index("Parents") == names.index("Dashboard") + 1
    _, rows = parents_table(path)
    assert_parents(pd.DataFrame(table_as_expected(rows), columns=list(PARENTS_COLUMNS))
                   .astype(object), EXPECTED)   # the cached values: the engine's
    live, formula_rows = parents_table(path, data_only=False)
    for row in formula_rows[1:]:
        assert not str(row[0]).startswith("=")              # parent_id: a value
        for cell in row[1:]:
            text = cell.text if hasattr(cell, "text") else str(cell)
            assert text.startswith("="), cell               # the rest: live formulas
            bare = re.sub(r'"[^"]*"', '""', text)
            assert "Scores!" in bare or "RedBelow" in bare or "LOWER(" in bare
            for prefix, fn in re.findall(r"(_xlfn\.)?([A-Z][A-Z0-9.]*)\(", bare):
                assert fn in (PREFIXED if prefix else PLAIN), (fn, text[:100])
    header = live[1]
    assert header[1].number_format.endswith('"Accounts"')   # shown as words
    assert live["D2"].number_format == "0.0" and live["C2"].number_format == "#,##0"
    assert live["B2"].number_format == "#,##0" and live["G2"].number_format == "0.0"
    assert live.column_dimensions["H"].hidden                # the helper key
    assert live.page_setup.orientation == "landscape" and live.print_title_rows == "$1:$1"


def test_no_parent_column_no_parents_sheet(tmp_path: Path) -> None:
    frame = accounts_frame().drop(columns="parent_id")
    path = tmp_path / "none.xlsx"
    write_scored_workbook(path, MODEL, frame, score(MODEL, frame, as_of=AS_OF), as_of=AS_OF)
    assert "Parents" not in openpyxl.load_workbook(path).sheetnames


def test_libreoffice_recalculates_the_engines_roll_up(tmp_path: Path) -> None:
    """Every cached value of the Table poisoned: LibreOffice's values are its own, and they
    equal the engine's (hand-computed) roll-up."""
    frame = accounts_frame()
    path = tmp_path / "poisoned.xlsx"
    poison = {(r, c): -1.0 for r in range(1, len(EXPECTED) + 1) for c in range(1, 8)}
    write_template(path, MODEL, frame, rows=len(frame), as_of=AS_OF,
                   cached={"Parents": poison})
    _, before = parents_table(path)
    assert before[1][1] == -1
    out = lo.recalculate(path, tmp_path / "lo")
    _, rows = parents_table(out)
    got = pd.DataFrame(table_as_expected(rows), columns=list(PARENTS_COLUMNS)).astype(object)
    assert_parents(got, EXPECTED)
    engine = parent_rollup(MODEL, score(MODEL, frame, as_of=AS_OF).scores)
    for column in ("accounts", "arr", "health", "worst_health"):
        want = pd.to_numeric(engine[column]).to_numpy(dtype=float)
        have = pd.to_numeric(got[column]).to_numpy(dtype=float)
        assert np.allclose(have, want, equal_nan=True, rtol=0, atol=1e-9), column
    assert list(got["band"]) == list(engine["band"])


def test_template_from_data_and_score_to_xlsx_on_the_command_line(tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    MODEL.save(model)
    src = write_csv_input(tmp_path / "accounts.csv")
    out = tmp_path / "scored.xlsx"
    code, text = run("score", str(src), "--model", str(model), "-o", str(out),
                     "--as-of", "2024-06-30")
    assert code == 0, text
    assert f"Parents: 6 (health rolled up by ARR) -> {out}, sheet 'Parents'" in text
    assert len(parents_table(out)[1]) == 1 + len(EXPECTED)
    book = tmp_path / "template.xlsx"
    code, text = run("template", "--model", str(model), "--data", str(src), "-o", str(book),
                     "--rows", "20")
    assert code == 0, text
    assert [r[0] for r in parents_table(book)[1][1:]] == [e[0] for e in EXPECTED]


def dashboard_weakest(path: Path) -> list[list[Any]]:
    """The Dashboard's weakest-parents rows (Parent .. Worst health), listed ones only."""
    rows = lo.sheet_rows(path, "Dashboard")
    top = next(i for i, r in enumerate(rows) if str(r[0]).startswith("The 10 weakest parents"))
    assert rows[top + 1][:8] == ["Parent", "Accounts", "ARR", "Health", "Band",
                                 "Worst account", "Worst health", "Parents row"]
    return [r[:7] for r in rows[top + 2:top + 12] if r[0] not in (None, "")]


def test_dashboard_lists_the_weakest_parents_live(tmp_path: Path) -> None:
    path = tmp_path / "dash.xlsx"
    frame = accounts_frame()
    write_template(path, MODEL, frame, rows=len(frame), as_of=AS_OF)
    out = lo.recalculate(path, tmp_path / "lo")
    got = dashboard_weakest(out)
    # by hand: health 20 (Tie), 40 (Mixed), 45 (Zero Co), 70 (a0), 80 (Acme); Empty has none
    assert [r[0] for r in got] == ["Tie", "Mixed", "Zero\u00a0Co", "a0", "Acme"]
    assert [r[3] for r in got] == pytest.approx([20, 40, 45, 70, 80])
    assert [r[4] for r in got] == ["Red", "Yellow", "Yellow", "Green", "Green"]
    assert [r[1] for r in got] == [2, 2, 2, 1, 3] and [r[5] for r in got] == \
        ["a5", "a11", "a2", "a7", "a0"]
    sections = dict(dashboard_sections(MODEL, score(MODEL, frame, as_of=AS_OF).scores))
    values = sections["The 10 weakest parents (ARR-weighted health)"]
    assert list(values["parent_id"]) == [r[0] for r in got]   # the values sheet agrees
    # the Account sheet: the selected account's parent and its roll-up (D8:E11)
    sheet = lo.values(out)["Account"]
    chosen = sheet["B3"].value
    parent = dict((a, p) for a, p, _, _ in ACCOUNTS)[chosen]
    want = next(e for e in EXPECTED if e[0].lower() == parent.strip().lower())
    assert [sheet[f"D{r}"].value for r in range(8, 12)] == [
        "Parent", "Parent's health", "Parent's band", "Parent's accounts"]
    assert sheet["E8"].value == want[0] and sheet["E10"].value == want[4]
    assert sheet["E9"].value == pytest.approx(want[3]) and sheet["E11"].value == want[1]


def test_duckdb_scores_roll_up_the_same() -> None:
    """The SQL engine carries parent_id like the other identity columns: same roll-up."""
    from chs_excel.engines.choose import score_with
    frame = accounts_frame()
    scores = score_with("duckdb", MODEL, frame, as_of=AS_OF).scores
    assert_parents(parent_rollup(MODEL, scores), EXPECTED)
