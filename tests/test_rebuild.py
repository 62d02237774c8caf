"""`chs_rebuild` / `chs rebuild` end to end: a live workbook whose Model gained or lost a
metric gets new native formulas, proven by LibreOffice recalculating them to the engine's
values, while the user's own sheet, the Model and Accounts stay as they were.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import python_calamine as calamine
from openpyxl.chart import BarChart, Reference
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import range_boundaries
from openpyxl.worksheet.table import TableColumn

from chs_excel.app import macros
from chs_excel.core.engine import score
from chs_excel.core.errors import ChsError, InputError
from chs_excel.core.model import Metric, Model, default_model
from chs_excel.io.book import FileBook, XlwingsBook
from chs_excel.io.sample import make_sample, reference_date
from chs_excel.io.workbook import fixed_as_of
from chs_excel.sheets.workbook import write_template
from chs_excel.xlsx.libreoffice import recalculate
from chs_excel.xlsx.package import Package
from tests.cli_runner import run
from tests.test_macros import parts, user_workbook
from tests.test_macros import scores_table as cached_scores

AS_OF = reference_date(3)
N = 60
LOGINS = Metric(column="logins", component="Usage", method="linear", weight=2.0, worst=0.0,
                best=50.0)
SEATS = Metric(column="seats_used", component="Usage", method="linear", weight=1.0,
               worst=0.0, best=100.0)
COMPARED = ["health", "raw_health", "band", "quartile", "coverage", "capped_by",
            "weakest_component", "points_at_stake", "Usage", "Support"]


def with_metric(model: Model, metric: Metric) -> Model:
    return model.replace(metrics=(*model.metrics, metric))


def without_metric(model: Model, column: str) -> Model:
    return model.replace(metrics=tuple(m for m in model.metrics if m.column != column))


def sample(n: int = N) -> pd.DataFrame:
    frame = make_sample(n, seed=3)
    frame["logins"] = np.where(np.arange(n) % 7 == 0, np.nan, (np.arange(n) * 37) % 61)
    return frame


def table_rows(ws: openpyxl.worksheet.worksheet.Worksheet, name: str) -> tuple[int, ...]:
    return range_boundaries(ws.tables[name].ref)


def add_metric_row(book: openpyxl.Workbook, metric: Metric) -> None:
    """Type a metric into the row under the Metrics Table and grow the Table, as in Excel."""
    ws = book["Model"]
    c1, r1, c2, r2 = table_rows(ws, "Metrics")
    values = {"column": metric.column, "component": metric.component, "method": metric.method,
              "weight": metric.weight, "worst": metric.worst, "best": metric.best}
    for c in range(c1, c2 + 1):
        if ws.cell(r1, c).value in values:
            ws.cell(r2 + 1, c, values[ws.cell(r1, c).value])
    ws.tables["Metrics"].ref = f"{get_column_letter(c1)}{r1}:{get_column_letter(c2)}{r2 + 1}"
    ws.tables["Metrics"].autoFilter.ref = ws.tables["Metrics"].ref  # as Excel keeps it


def delete_metric_row(book: openpyxl.Workbook, column: str) -> None:
    """Delete a metric's row from the Metrics Table (rows below move up)."""
    ws = book["Model"]
    c1, r1, c2, r2 = table_rows(ws, "Metrics")
    rows = [[ws.cell(r, c).value for c in range(c1, c2 + 1)] for r in range(r1 + 1, r2 + 1)]
    rows = [r for r in rows if r[0] != column]
    for i, r in enumerate([*rows, [None] * (c2 - c1 + 1)]):
        for j, value in enumerate(r):
            ws.cell(r1 + 1 + i, c1 + j, value)
    ws.tables["Metrics"].ref = f"{get_column_letter(c1)}{r1}:{get_column_letter(c2)}{r2 - 1}"
    ws.tables["Metrics"].autoFilter.ref = ws.tables["Metrics"].ref  # as Excel keeps it


def add_my_sheet(book: openpyxl.Workbook) -> None:
    mine = book.create_sheet("My analysis")
    mine["A1"], mine["B1"] = "Red accounts", '=COUNTIF(Scores[band],"Red")'
    mine["A2"], mine["B2"] = "Budget", 42
    mine["C2"] = "=B2*2"
    chart = BarChart()
    chart.add_data(Reference(mine, min_col=2, min_row=1, max_row=2))
    mine.add_chart(chart, "E2")


def sheet_parts(path: Path, name: str) -> dict[str, bytes]:
    """A sheet's part and every part it relates to (drawing, chart, Tables), by role."""
    package = Package(path)
    part = next(s["part"] for s in package.sheets() if s["name"] == name)
    out, todo = {"sheet": package.parts[part]}, [(part, "sheet")]
    while todo:
        owner, role = todo.pop()
        for rel in package.relationships(owner):
            if not rel["External"]:
                key = f"{role}/{rel['Id']}"
                out[key] = package.parts[rel["Target"]]
                todo.append((rel["Target"], key))
    return out


def assert_scores_equal(got: pd.DataFrame, expected: pd.DataFrame,
                        columns: list[str]) -> None:
    """The workbook's Scores rows (blanks as '' or None) equal the engine's."""
    got = got.iloc[:len(expected)].replace("", np.nan)
    for column in columns:
        mine, theirs = got[column].to_numpy(dtype=object), expected[column].to_numpy(
            dtype=object)
        if pd.api.types.is_numeric_dtype(expected[column]):
            np.testing.assert_allclose(pd.to_numeric(pd.Series(mine)).to_numpy(dtype=float),
                                       expected[column].to_numpy(dtype=float, na_value=np.nan),
                                       rtol=1e-9, atol=1e-9, err_msg=column)
        else:
            norm = [None if pd.isna(v) or v == "" else v for v in mine]
            want = [None if pd.isna(v) or v == "" else v for v in theirs]
            assert norm == want, column


@pytest.fixture(scope="module")
def added(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A live workbook (default model) where the user added the metric `logins` to the
    Model, a `logins` column to Accounts and a sheet of their own; then rebuilt."""
    folder = tmp_path_factory.mktemp("rebuild")
    accounts = sample()
    write_template(folder / "built.xlsx", default_model(), accounts.drop(columns="logins"),
                   rows=N + 20, as_of=AS_OF)
    book = openpyxl.load_workbook(folder / "built.xlsx")
    add_metric_row(book, LOGINS)
    ws = book["Accounts"]
    _, r1, c2, r2 = table_rows(ws, "Accounts")
    ws.cell(r1, c2 + 1, "logins")
    for i, value in enumerate(accounts["logins"], start=r1 + 1):
        if not np.isnan(value):
            ws.cell(i, c2 + 1, float(value))
    table = ws.tables["Accounts"]
    table.ref = table.autoFilter.ref = f"A{r1}:{get_column_letter(c2 + 1)}{r2}"
    table.tableColumns.append(TableColumn(id=c2 + 1, name="logins"))
    add_my_sheet(book)
    book.save(folder / "user.xlsx")
    before = hashlib.sha256((folder / "user.xlsx").read_bytes()).hexdigest()
    message = macros.rebuild_file(folder / "user.xlsx", folder / "out.xlsx")
    assert hashlib.sha256((folder / "user.xlsx").read_bytes()).hexdigest() == before
    return folder / "user.xlsx", folder / "out.xlsx", message


def test_rebuild_keeps_the_users_sheets_model_and_accounts(added: tuple[Path, Path, str]
                                                          ) -> None:
    source, out, message = added
    assert "15 metrics" not in message and "14 metrics" in message and "gained" not in message
    for sheet in ("My analysis", "Model", "Accounts", "History"):
        assert sheet_parts(out, sheet) == sheet_parts(source, sheet), sheet
    assert len(sheet_parts(out, "My analysis")) == 3          # sheet, drawing, chart
    assert Package(out).sheet_names() == Package(source).sheet_names()


def test_rebuilt_formulas_cache_the_engines_values_for_the_new_metric(
        added: tuple[Path, Path, str]) -> None:
    source, out, _ = added
    expected = score(with_metric(default_model(), LOGINS), sample(), as_of=AS_OF).scores
    got = cached_scores(out)
    assert "logins_score" in got.columns and "logins_score" not in cached_scores(source)
    assert_scores_equal(got, expected, [*COMPARED, "logins_score"])
    assert got["account_id"].iloc[N:].eq("").all() and len(got) == N + 20


def test_rebuilt_formulas_recalculate_to_the_engines_values_in_libreoffice(
        added: tuple[Path, Path, str], tmp_path: Path) -> None:
    """LibreOffice recomputes every formula: Scores equals the engine with the new metric,
    the user's formula over Scores follows, and no rebuilt sheet shows an error."""
    _, out, _ = added
    expected = score(with_metric(default_model(), LOGINS), sample(), as_of=AS_OF).scores
    recalculated = recalculate(out, tmp_path)
    book = openpyxl.load_workbook(recalculated, data_only=True)
    rows = list(book["Scores"].iter_rows(values_only=True))
    got = pd.DataFrame(rows[1:], columns=rows[0])
    assert_scores_equal(got, expected, [*COMPARED, "logins_score"])
    assert book["My analysis"]["B1"].value == int((expected["band"] == "Red").sum())
    assert book["My analysis"]["C2"].value == 84
    for sheet in (*macros.REBUILT_SHEETS, "My analysis"):
        errors = [c.coordinate for row in book[sheet].iter_rows() for c in row
                  if isinstance(c.value, str) and c.value.startswith("#")
                  and c.value.rstrip("!?0/").upper() in ("#N/A", "#REF", "#VALUE", "#NAME",
                                                         "#DIV", "#NUM", "#NULL")]
        assert not errors, (sheet, errors[:5])
    start = [v for row in book["Start here"].iter_rows(values_only=True) for v in row]
    red = start.index("Red") if "Red" in start else None
    assert red is not None and start[red + 1] == int((expected["band"] == "Red").sum())


def test_rebuilt_package_is_consistent(added: tuple[Path, Path, str]) -> None:
    """One selected tab, unique Table ids and names, every relationship and content type
    resolves, Calc still hidden, the book's fixed override date kept, styles imported."""
    _, out, _ = added
    found = parts(out)
    selected = [n for n, data in found.items()
                if n.startswith("xl/worksheets/sheet") and b'tabSelected="1"' in data]
    assert len(selected) == 1
    package = Package(out)
    tables = package.tables()
    assert len({t.id for t in tables.values()}) == len(tables)
    assert {"Scores", "Accounts", "Metrics", "History"} <= set(tables)
    for name in found:
        if name.endswith(".rels"):
            owner = name.replace("_rels/", "")[:-len(".rels")]
            for rel in package.relationships(owner):
                assert rel["External"] or rel["Target"] in found, (name, rel)
    overrides = re.findall(r'PartName="/([^"]+)"', found["[Content_Types].xml"].decode())
    assert all(name in found for name in overrides)
    assert re.search(r'<sheet name="Calc"[^>]*state="hidden"', found["xl/workbook.xml"].decode())
    assert fixed_as_of(package) == AS_OF
    assert health_fills(out) == health_fills(out.with_name("built.xlsx"))
    assert len(health_fills(out)) == 3                          # red, yellow, green


def health_fills(path: Path) -> set[str]:
    """The fill colours of the conditional formats on Scores' health column."""
    book = openpyxl.load_workbook(path)
    health = next(c.column_letter for c in book["Scores"][1] if c.value == "health")
    return {str(r.dxf.fill.bgColor.rgb) for cf in book["Scores"].conditional_formatting
            if str(cf.sqref).startswith(health) for r in cf.rules if r.dxf and r.dxf.fill}


def test_rebuild_after_a_metric_is_deleted_and_another_added(tmp_path: Path) -> None:
    """The Model lost `logins` and gained `seats_used`, which Accounts lacks: the formulas
    drop one column and gain the other, Accounts gains a blank `seats_used` column."""
    accounts = sample()
    write_template(tmp_path / "built.xlsx", with_metric(default_model(), LOGINS), accounts,
                   rows=N, as_of=AS_OF)
    book = openpyxl.load_workbook(tmp_path / "built.xlsx")
    delete_metric_row(book, "logins")
    add_metric_row(book, SEATS)
    book.save(tmp_path / "user.xlsx")
    message = macros.rebuild_file(tmp_path / "user.xlsx", tmp_path / "out.xlsx")
    assert "gained the column(s) seats_used" in message
    model = with_metric(without_metric(default_model(), "logins"), SEATS)
    expected = score(model, accounts.assign(seats_used=None), as_of=AS_OF).scores
    got = cached_scores(tmp_path / "out.xlsx")
    assert "logins_score" not in got.columns and "seats_used_score" in got.columns
    headers = calamine.CalamineWorkbook.from_path(str(tmp_path / "out.xlsx"), load_tables=True
                                                  ).get_table_by_name("Accounts").columns
    assert headers[-1] == "seats_used" and "logins" in headers
    assert_scores_equal(got, expected, COMPARED)
    recalculated = openpyxl.load_workbook(recalculate(tmp_path / "out.xlsx", tmp_path / "lo"),
                                          data_only=True)
    rows = list(recalculated["Scores"].iter_rows(values_only=True))
    assert_scores_equal(pd.DataFrame(rows[1:], columns=rows[0]), expected,
                        [*COMPARED, "seats_used_score"])


def test_rebuild_gives_a_plain_book_its_formula_sheets(tmp_path: Path) -> None:
    """A book with only the Model and Accounts Tables (made by another tool) gets Start
    here, Scores, Dashboard, Forecast and the hidden Calc, in the documented sheet order."""
    accounts = sample().drop(columns="logins")
    user_workbook(tmp_path / "plain.xlsx", accounts)
    macros.rebuild_file(tmp_path / "plain.xlsx", tmp_path / "out.xlsx", as_of=AS_OF)
    names = Package(tmp_path / "out.xlsx").sheet_names()
    assert names[:3] == ["Model", "Accounts", "Scores"]
    assert names.index("Dashboard") < names.index("Forecast") < names.index("My analysis")
    assert "Start here" in names and "Calc" in names
    assert "History" in names       # the playbooks' formulas read it: it must exist
    defined = Package(tmp_path / "out.xlsx").defined_names()   # the formulas read these
    model_sheet = openpyxl.load_workbook(tmp_path / "out.xlsx")["Model"]
    settings = model_sheet.tables["Settings"]
    cells = model_sheet[settings.ref]
    keys = [str(c.value) for c in cells[0]]
    where = {str(row[keys.index("setting")].value): row[keys.index("value")].coordinate
             for row in cells[1:]}
    for name, setting in (("Scale", "scale"), ("RedBelow", "red_below")):
        column = "".join(ch for ch in where[setting] if ch.isalpha())
        row = where[setting][len(column):]
        assert defined[name] == f"'Model'!${column}${row}"
    expected = score(default_model(), accounts, as_of=AS_OF).scores
    assert_scores_equal(cached_scores(tmp_path / "out.xlsx"), expected, COMPARED)


def test_rebuild_problems_are_one_message_and_nothing_is_written(tmp_path: Path) -> None:
    write_template(tmp_path / "built.xlsx", default_model(), sample(20).drop(columns="logins"),
                   rows=20, as_of=AS_OF)
    with pytest.raises(ChsError, match="new file"):
        macros.rebuild_file(tmp_path / "built.xlsx", tmp_path / "built.xlsx")
    book = openpyxl.load_workbook(tmp_path / "built.xlsx")
    add_metric_row(book, SEATS)
    c2 = table_rows(book["Accounts"], "Accounts")[2]
    book["Accounts"].cell(5, c2 + 1, "my note")                # where seats_used would go
    book.save(tmp_path / "blocked.xlsx")
    with pytest.raises(InputError, match=rf"cell {get_column_letter(c2 + 1)}5 is in the way"):
        macros.rebuild_file(tmp_path / "blocked.xlsx", tmp_path / "out.xlsx")
    assert not (tmp_path / "out.xlsx").exists()
    book = openpyxl.load_workbook(tmp_path / "built.xlsx")
    book["Accounts"].tables["Accounts"].ref = "A1:B3"
    book["Accounts"].move_range("A1:B3", rows=2)
    book["Accounts"].tables["Accounts"].ref = "A3:B5"
    book.save(tmp_path / "moved.xlsx")
    with pytest.raises(InputError, match="at A1 of a sheet named Accounts"):
        macros.rebuild_file(tmp_path / "moved.xlsx", tmp_path / "out.xlsx")
    book = openpyxl.load_workbook(tmp_path / "built.xlsx")
    del book["Model"].tables["Components"]
    book.save(tmp_path / "nomodel.xlsx")
    message = macros.run(macros.rebuild, FileBook(tmp_path / "nomodel.xlsx"))
    assert "no Table named Components" in message
    code, output = run("rebuild", str(tmp_path / "missing.xlsx"), "-o",
                        str(tmp_path / "x.xlsx"))
    assert code == 1 and "file not found" in output and "Traceback" not in output
    code, output = run("rebuild", str(tmp_path / "built.xlsx"), "-o",
                        str(tmp_path / "rebuilt.xlsx"))
    assert code == 0 and "rebuilt the formulas for 13 metrics" in output
    assert (tmp_path / "rebuilt.xlsx").exists()


class Api:
    def __init__(self, saved: bool) -> None:
        self.Saved = saved


class Books:
    def __init__(self) -> None:
        self.opened: list[str] = []

    def open(self, path: str) -> None:
        self.opened.append(path)


class App:
    def __init__(self) -> None:
        self.status_bar, self.alerts, self.books = None, [], Books()

    def alert(self, message: str, title: str) -> None:
        self.alerts.append(message)


class Caller:
    """What `xw.Book.caller()` offers to the rebuild glue (Windows COM attributes)."""

    def __init__(self, path: Path, saved: bool) -> None:
        self.fullname, self.name, self.api, self.app = str(path), path.name, Api(saved), App()


def test_chs_rebuild_macro_rebuilds_the_saved_book_beside_it_and_opens_it(
        tmp_path: Path) -> None:
    write_template(tmp_path / "book.xlsx", default_model(), sample(20).drop(columns="logins"),
                   rows=20, as_of=AS_OF)
    unsaved = Caller(tmp_path / "book.xlsx", saved=False)
    message = macros.run(macros.rebuild_beside, XlwingsBook(unsaved))
    assert unsaved.app.alerts == [message] and "save book.xlsx first" in message
    assert not (tmp_path / "book (rebuilt).xlsx").exists()
    caller = Caller(tmp_path / "book.xlsx", saved=True)
    message = macros.run(macros.rebuild_beside, XlwingsBook(caller))
    assert caller.app.books.opened == [str(tmp_path / "book (rebuilt).xlsx")]
    assert caller.app.status_bar == message and "opened book (rebuilt).xlsx" in message
    assert not caller.app.alerts
