"""The macros end to end on real files through `FileBook` (the same code Excel runs).

The user's workbook is made with openpyxl, as a user's own tool would make it: the Model
and Accounts Tables plus a sheet of their own with formulas over the Scores Table and a
chart. Refresh must leave that sheet (and every part it did not write) byte for byte.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import python_calamine as calamine
from openpyxl.chart import BarChart, Reference
from openpyxl.worksheet.table import Table

from chs_excel.app import macros
from chs_excel.core.engine import score
from chs_excel.core.model import default_model
from chs_excel.io.accounts import read_accounts
from chs_excel.io.book import FileBook
from chs_excel.io.history_store import read_history
from chs_excel.io.sample import make_sample, reference_date
from chs_excel.xlsx.package import Package

AS_OF = reference_date(3)
OWNED_PARTS = ("xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml",
               "xl/styles.xml")


def add_table(ws: openpyxl.worksheet.worksheet.Worksheet, name: str, frame: pd.DataFrame,
              row: int = 1, col: int = 1) -> None:
    """`frame` as an Excel Table with its header at (row, col), blanks left empty."""
    for j, header in enumerate(frame.columns):
        ws.cell(row, col + j, str(header))
    for i, values in enumerate(frame.astype(object).itertuples(index=False), start=1):
        for j, value in enumerate(values):
            if value is not None and not (isinstance(value, float) and np.isnan(value)) \
                    and value is not pd.NaT:
                cell = ws.cell(row + i, col + j, value.to_pydatetime()
                               if isinstance(value, pd.Timestamp) else value)
                if isinstance(value, str) and value.startswith("="):
                    cell.data_type = "s"          # text, as the user typed it
    last = openpyxl.utils.get_column_letter(col + len(frame.columns) - 1)
    first = openpyxl.utils.get_column_letter(col)
    ws.add_table(Table(displayName=name, ref=f"{first}{row}:{last}{row + max(len(frame), 1)}"))


def user_workbook(path: Path, accounts: pd.DataFrame, *, scores_headers: list[str] | None = None,
                  over: str = "Scores") -> Path:
    """A workbook as a user would have it: Model, Accounts and 'My analysis' (formulas over
    the Table `over`, a chart); optionally an old Scores Table with its own header words.
    A book that never gets a Scores Table has its formulas over Accounts, so every
    workbook the tests write passes check_xlsx."""
    book = openpyxl.Workbook()
    model = book.active
    model.title = "Model"
    col = 1
    for name, frame in default_model().to_frame().items():
        model.cell(3, col, name)
        add_table(model, name, frame, row=4, col=col)
        col += len(frame.columns) + 1
    add_table(book.create_sheet("Accounts"), "Accounts", accounts)
    mine = book.create_sheet("My analysis")
    column = "band" if over == "Scores" else "plan"
    mine["A1"], mine["B1"] = "Red accounts", f'=COUNTIF({over}[{column}],"Red")'
    mine["A2"], mine["B2"] = "Accounts", f"=ROWS({over}[account_id])"
    mine["A3"], mine["B3"] = "Budget", 42
    mine["C3"] = "=B3*2"
    chart = BarChart()
    chart.add_data(Reference(mine, min_col=2, min_row=1, max_row=3))
    chart.set_categories(Reference(mine, min_col=1, min_row=1, max_row=3))
    mine.add_chart(chart, "E2")
    if scores_headers:
        add_table(book.create_sheet("Scores"), "Scores",
                  pd.DataFrame([[None] * len(scores_headers)], columns=scores_headers))
        mine["B2"] = f"=ROWS(Scores[{scores_headers[0]}])"
    book.save(path)
    return path


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def sheet_part(path: Path, name: str) -> str:
    return next(s["part"] for s in Package(path).sheets() if s["name"] == name)


def scores_table(path: Path, name: str = "Scores") -> pd.DataFrame:
    table = calamine.CalamineWorkbook.from_path(str(path), load_tables=True) \
        .get_table_by_name(name)
    return pd.DataFrame(table.to_python(), columns=table.columns)


@pytest.fixture(scope="module")
def accounts() -> pd.DataFrame:
    frame = make_sample(150, seed=3)
    frame.loc[4, "account_name"] = "=HYPERLINK(\"http://x\")"   # text, never a formula
    return frame


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory: pytest.TempPathFactory, accounts: pd.DataFrame
              ) -> tuple[Path, Path, str]:
    folder = tmp_path_factory.mktemp("refresh")
    source = user_workbook(folder / "user.xlsx", accounts)
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    message = macros.refresh_file(source, folder / "out.xlsx", as_of=AS_OF)
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before
    return source, folder / "out.xlsx", message


def test_refresh_keeps_the_users_sheet_byte_for_byte(refreshed: tuple[Path, Path, str]) -> None:
    source, out, _ = refreshed
    old, new = parts(source), parts(out)
    mine = sheet_part(source, "My analysis")
    kept = [mine, mine.replace("worksheets/", "worksheets/_rels/") + ".rels",
            *(n for n in old if n.startswith(("xl/drawings/", "xl/charts/")))]
    assert any(n.startswith("xl/charts/") for n in kept)
    for name in kept:
        assert new[name] == old[name], name
    for sheet in ("Model", "Accounts"):
        assert new[sheet_part(source, sheet)] == old[sheet_part(source, sheet)], sheet
    changed = {n for n in old if n in new and new[n] != old[n]}
    assert changed <= set(OWNED_PARTS), changed
    assert set(old) <= set(new)

    book = openpyxl.load_workbook(out)
    ws = book["My analysis"]
    assert [[c.value for c in r] for r in ws.iter_rows()] == [
        ["Red accounts", '=COUNTIF(Scores[band],"Red")', None],
        ["Accounts", "=ROWS(Scores[account_id])", None], ["Budget", 42, "=B3*2"]]
    assert len(ws._charts) == 1
    assert book.sheetnames == ["Model", "Accounts", "Scores", "Actions", "Dashboard",
                              "Forecast", "Data issues", "My analysis"]


def test_refresh_writes_the_engines_scores_and_issues(refreshed: tuple[Path, Path, str],
                                                      accounts: pd.DataFrame) -> None:
    source, out, message = refreshed
    expected = score(default_model(), read_accounts(source), as_of=AS_OF)
    got = scores_table(out)
    assert list(got.columns) == list(expected.scores.columns)
    health = pd.to_numeric(got["health"].replace("", np.nan))
    np.testing.assert_allclose(health, expected.scores["health"], rtol=1e-12)
    assert got["band"].tolist() == expected.scores["band"].tolist()
    assert got["account_id"].tolist() == expected.scores["account_id"].tolist()
    issues = scores_table(out, "DataIssues")
    assert len(issues) == len(expected.issues) > 0
    red = int((expected.scores["band"] == "Red").sum())
    assert f"Red {red:,}" in message and f"{len(expected.issues):,} data issues" in message
    cell = openpyxl.load_workbook(out)["Scores"]["B6"]
    assert cell.value == '=HYPERLINK("http://x")' and cell.data_type == "s"


def test_second_refresh_in_place_is_stable(refreshed: tuple[Path, Path, str],
                                           tmp_path: Path) -> None:
    _, out, _ = refreshed
    again = shutil.copy(out, tmp_path / "again.xlsx")
    macros.refresh_file(again, as_of=AS_OF)
    first, second = parts(out), parts(Path(again))
    assert first == second          # same styles (nothing appended twice), same cells
    ids = [t.id for t in Package(again).tables().values()]
    assert len(ids) == len(set(ids))


def test_refresh_keeps_the_books_own_header_words(tmp_path: Path,
                                                  accounts: pd.DataFrame) -> None:
    headers = ["Account ID", "Health", "Band"]
    source = user_workbook(tmp_path / "user.xlsx", accounts, scores_headers=headers)
    macros.refresh_file(source, as_of=AS_OF)
    got = scores_table(source)
    assert {"Account ID", "Health", "Band"} <= set(got.columns)
    assert "account_id" not in got.columns and "weakest_component" in got.columns
    assert openpyxl.load_workbook(source)["My analysis"]["B2"].value == \
        "=ROWS(Scores[Account ID])"


def test_inserted_sheets_keep_sheet_local_names_and_the_active_tab(
        tmp_path: Path, accounts: pd.DataFrame) -> None:
    """Scores, Dashboard and Forecast go before the user's sheet: its print area (a name
    local to the sheet, by index) and the active tab must still point at it."""
    source = user_workbook(tmp_path / "user.xlsx", accounts)
    book = openpyxl.load_workbook(source)
    book["My analysis"].print_area = "A1:C3"
    book.active = book.sheetnames.index("My analysis")
    book.save(source)
    macros.refresh_file(source, as_of=AS_OF)
    book = openpyxl.load_workbook(source)
    assert book.sheetnames.index("My analysis") == 7  # after Actions, Dashboard, ...
    assert book["My analysis"].print_area == "'My analysis'!$A$1:$C$3"
    assert book.active.title == "My analysis"


def test_excel_error_cells_are_read_as_errors(tmp_path: Path, accounts: pd.DataFrame) -> None:
    frame = accounts.copy()
    frame["nps"] = frame["nps"].astype(object)
    frame.loc[0, "nps"] = "#N/A"          # openpyxl stores it as an error cell
    source = user_workbook(tmp_path / "user.xlsx", frame)
    assert b't="e"' in parts(source)[sheet_part(source, "Accounts")]
    macros.refresh_file(source, as_of=AS_OF)
    issues = scores_table(source, "DataIssues")
    row = issues[(issues["row"] == 2) & (issues["column"] == "nps")]
    assert row["value"].tolist() == ["#N/A"]


def test_problems_become_a_message_and_nothing_is_written(tmp_path: Path,
                                                          accounts: pd.DataFrame) -> None:
    source = user_workbook(tmp_path / "user.xlsx", accounts)
    book = openpyxl.load_workbook(source)
    ws = book["Model"]
    top_left = ws.tables["Components"].ref.split(":")[0]
    ws[top_left].offset(2, 1).value = "heavy"   # the 2nd component's weight: text
    book.save(source)
    before = parts(source)
    file_book = FileBook(source)
    message = macros.run(macros.refresh, file_book)
    assert message.startswith("Customer health: Model") and "'heavy'" in message
    assert file_book.messages[-1] == message and "Traceback" not in message
    assert parts(source) == before
    bare = tmp_path / "bare.xlsx"
    openpyxl.Workbook().save(bare)
    assert "no Table named Components" in macros.run(macros.refresh, FileBook(bare))


def test_snapshot_appends_one_snapshot_per_day(refreshed: tuple[Path, Path, str],
                                               tmp_path: Path) -> None:
    source, out, _ = refreshed
    book_path = Path(shutil.copy(out, tmp_path / "history.xlsx"))
    days = (dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 2, 1))
    for day in days:
        book = FileBook(book_path)
        message = macros.snapshot(book, as_of=day)
        book.save()
    assert "replaced the snapshot of 2026-02-01" in message
    history = read_history(book_path)
    assert history.dates == [dt.date(2026, 1, 1), dt.date(2026, 2, 1)]
    latest = history.at(dt.date(2026, 2, 1)).reset_index(drop=True)
    expected = score(default_model(), read_accounts(source), as_of=days[-1]).scores
    assert latest["account_id"].tolist() == expected["account_id"].tolist()
    np.testing.assert_allclose(latest["health"], expected["health"], rtol=1e-12)
    names = openpyxl.load_workbook(book_path).sheetnames
    assert names.index("History") == names.index("Forecast") + 1     # the documented sheet order
    assert names.index("History weights") + 1 == names.index("Data issues")


def test_calibrate_reports_on_a_sheet_and_changes_no_weight(tmp_path: Path) -> None:
    source = user_workbook(tmp_path / "user.xlsx", make_sample(900, seed=5), over="Accounts")
    for day in (dt.date(2025, 6, 1), dt.date(2025, 10, 1)):
        book = FileBook(source)
        macros.snapshot(book, as_of=day)
        book.save()
    model_part = parts(source)[sheet_part(source, "Model")]
    book = FileBook(source)
    message = macros.run(macros.calibrate, book)
    book.save()
    assert "held-out AUC" in message, message
    sheet = openpyxl.load_workbook(source)["Calibration"]
    titles = [r[0] for r in sheet.iter_rows(values_only=True) if r[0]]
    assert "Suggested component weights (not applied: copy them into the Model sheet if " \
           "you agree)" in titles
    assert parts(source)[sheet_part(source, "Model")] == model_part


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_refreshed_book_opens_and_recalculates_in_libreoffice(
        refreshed: tuple[Path, Path, str], tmp_path: Path) -> None:
    """The spliced parts are valid: LibreOffice opens the file, and the user's formulas
    over the rewritten Scores Table compute the engine's counts."""
    source, out, _ = refreshed
    profile = tmp_path / "profile"
    settings = profile / "user" / "registrymodifications.xcu"
    settings.parent.mkdir(parents=True)
    settings.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><oor:items '
        'xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<item oor:path="/org.openoffice.Office.Calc/Formula/Load">'
        '<prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>'
        "</oor:items>")
    result = subprocess.run(
        ["soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless",
         "--convert-to", "xlsx", "--outdir", str(tmp_path / "lo"), str(out)],
        capture_output=True, text=True, timeout=240, check=False,
        env={**os.environ, "HOME": str(tmp_path)})
    converted = tmp_path / "lo" / out.name
    assert converted.exists(), result.stderr
    values = openpyxl.load_workbook(converted, data_only=True)["My analysis"]
    expected = score(default_model(), read_accounts(source), as_of=AS_OF).scores
    assert values["B1"].value == int((expected["band"] == "Red").sum())
    assert values["B2"].value == len(expected)
    assert values["C3"].value == 84


def test_refresh_drops_what_was_on_the_old_scores_sheet(tmp_path: Path,
                                                        accounts: pd.DataFrame) -> None:
    """Scores is the macro's sheet: a chart left on it goes, with its parts, and nothing
    else; the package stays loadable."""
    source = user_workbook(tmp_path / "user.xlsx", accounts, scores_headers=["account_id"])
    book = openpyxl.load_workbook(source)
    chart = BarChart()
    chart.add_data(Reference(book["Scores"], min_col=1, min_row=1, max_row=2))
    book["Scores"].add_chart(chart, "D2")
    book.save(source)
    charts_before = {n for n in parts(source) if n.startswith("xl/charts/")}
    assert len(charts_before) == 2
    macros.refresh_file(source, as_of=AS_OF)
    after = parts(source)
    assert len({n for n in after if n.startswith("xl/charts/")}) == 1
    for name in after:
        if name.endswith(".rels"):
            for target in Package(source).relationships(
                    name.replace("_rels/", "")[:-len(".rels")]):
                assert target["External"] or target["Target"] in after, target
    overrides = re.findall(r'PartName="/([^"]+)"', after["[Content_Types].xml"].decode())
    assert all(name in after for name in overrides)
    book = openpyxl.load_workbook(source)
    assert len(book["My analysis"]._charts) == 1 and not book["Scores"]._charts


# ---------------------------------------------------------------- the xlwings adapter

class FakeRange:
    """The slice of xlwings' Range the adapter uses."""

    def __init__(self, grid: list[list[object]] | None = None, row: int = 1) -> None:
        self.grid, self.row, self.number_format = grid, row, None

    def options(self, **options: object) -> FakeRange:
        assert options in ({"ndim": 2, "err_to_str": True}, {"index": False})  # read, write
        return self

    @property
    def value(self) -> list[list[object]] | None:
        return self.grid

    @value.setter
    def value(self, value: object) -> None:
        self.grid = value


class FakeTable:
    def __init__(self, name: str, grid: list[list[object]], row: int = 1) -> None:
        self.name, self.range, self.frame = name, FakeRange(grid, row), None

    @property
    def header_row_range(self) -> FakeRange:
        return FakeRange(self.range.grid[0])

    def update(self, frame: pd.DataFrame, index: bool) -> FakeTable:
        assert index is False
        self.frame = frame
        return self


class FakeTables(list):
    def add(self, source: object, name: str) -> FakeTable:
        self.append(FakeTable(name, [[]]))
        return self[-1]


class FakeSheet:
    def __init__(self, name: str, tables: list[FakeTable] | None = None) -> None:
        self.name, self.tables, self.formats = name, FakeTables(tables or []), {}

    def clear(self) -> None:
        self.tables.clear()
        self.formats.clear()

    def __getitem__(self, address: str) -> FakeRange:
        return FakeRange()

    def range(self, first: tuple[int, int], last: tuple[int, int] | None = None) -> FakeRange:
        return self.formats.setdefault((first, last), FakeRange())


class FakeSheets(list):
    def __getitem__(self, key: object) -> FakeSheet:
        if isinstance(key, str):
            return next(s for s in self if s.name == key)
        return super().__getitem__(key)

    def add(self, name: str, after: FakeSheet) -> FakeSheet:
        self.insert(self.index(after) + 1, FakeSheet(name))
        return self[name]


class FakeApp:
    def __init__(self) -> None:
        self.status_bar, self.alerts = None, []

    def alert(self, message: str, title: str) -> None:
        self.alerts.append((title, message))


class FakeBook:
    """What `xw.Book.caller()` offers, for the parts the adapter touches."""

    def __init__(self, sheets: list[FakeSheet]) -> None:
        self.name, self.sheets, self.names, self.app = "book.xlsm", FakeSheets(sheets), [], \
            FakeApp()


def test_xlwings_adapter_runs_refresh_on_a_live_book(refreshed: tuple[Path, Path, str]) -> None:
    from chs_excel.io.book import XlwingsBook
    source, _, _ = refreshed
    book = openpyxl.load_workbook(source, data_only=True)
    grids = {}
    for ws in book.worksheets:        # each Table as xlwings reads it: rows of cells
        for table in ws.tables.values():
            c1, r1, c2, r2 = openpyxl.utils.cell.range_boundaries(table.ref)
            grids[table.displayName] = [list(r) for r in ws.iter_rows(
                min_row=r1, max_row=r2, min_col=c1, max_col=c2, values_only=True)]
    model = FakeSheet("Model", [FakeTable(n, grids[n], row=4)
                                for n in default_model().to_frame()])
    fake = FakeBook([model, FakeSheet("Accounts", [FakeTable("Accounts", grids["Accounts"])])])
    message = macros.run(lambda b: macros.refresh(b, as_of=AS_OF), XlwingsBook(fake))
    assert [s.name for s in fake.sheets] == ["Model", "Accounts", "Scores", "Actions",
                                             "Dashboard", "Forecast", "Data issues"]
    assert fake.app.status_bar == message and not fake.app.alerts
    dashboard = fake.sheets["Dashboard"].formats
    assert dashboard[((1, 1), None)].value == "Accounts by band"
    assert dashboard[((2, 1), None)].value["band"].tolist()[:3] == ["Green", "Yellow", "Red"]
    written = fake.sheets["Scores"].tables[0]
    expected = score(default_model(), read_accounts(source), as_of=AS_OF).scores
    assert written.name == "Scores" and list(written.frame.columns) == list(expected.columns)
    np.testing.assert_allclose(written.frame["health"], expected["health"], rtol=1e-12)
    assert written.frame["account_name"].iloc[4] == "'=HYPERLINK(\"http://x\")"
    health = list(expected.columns).index("health") + 1
    assert fake.sheets["Scores"].formats[((2, health), (151, health))].number_format == "0.0"
    fake.sheets.pop(0)                                   # no Model Tables: one message
    message = macros.run(macros.refresh, XlwingsBook(fake))
    assert fake.app.alerts == [("Customer health", message)] and "Components" in message


def report_table(path: Path, sheet: str, title: str) -> pd.DataFrame:
    """The values table under `title` on a report sheet (header row, rows to a blank)."""
    rows = list(openpyxl.load_workbook(path, data_only=True)[sheet].iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] == title) + 1
    end = next((i for i in range(start, len(rows)) if rows[i][0] is None), len(rows))
    header = [h for h in rows[start] if h is not None]
    return pd.DataFrame([r[:len(header)] for r in rows[start + 1:end]], columns=header)


def test_refresh_writes_dashboard_and_forecast_values(refreshed: tuple[Path, Path, str]
                                                      ) -> None:
    """A book without native formulas gets Dashboard and Forecast as values that add up to
    the engine's scores."""
    source, out, _ = refreshed
    expected = score(default_model(), read_accounts(source), as_of=AS_OF).scores
    bands = report_table(out, "Dashboard", "Accounts by band").set_index("band")
    counts = expected["band"].value_counts()
    for band in ("Green", "Yellow", "Red"):
        assert bands.loc[band, "accounts"] == counts.get(band, 0)
        assert bands.loc[band, "arr"] == pytest.approx(
            expected.loc[expected["band"] == band, "arr"].sum())
    red = report_table(out, "Dashboard", "Largest-ARR Red accounts (top 10)")
    top = expected[expected["band"] == "Red"].nlargest(10, "arr")
    assert red["arr"].tolist() == pytest.approx(top["arr"].tolist())
    rows = report_table(out, "Forecast", "Renewal forecast by fiscal quarter")
    # every account is on one row: the total is the Dashboard's ARR and expected ARR
    assert rows["accounts"].sum() == len(expected)
    assert rows["arr"].sum() == pytest.approx(expected["arr"].sum())
    assert rows["expected_arr"].sum() == pytest.approx(
        (expected["arr"] * expected["renewal_probability"]).sum())
    assert rows["arr"].sum() == pytest.approx(bands["arr"].sum())
    rows = rows.set_index("period")
    when = pd.to_datetime(expected["renewal_date"])
    assert rows.loc["No renewal date", "accounts"] == when.isna().sum()
    assert rows.loc["Already past, not renewed yet", "accounts"] == \
        (when < pd.Timestamp(AS_OF)).sum()
    total = report_table(out, "Forecast", "Total: every account's ARR, as on the Dashboard")
    assert total["arr"].iloc[0] == pytest.approx(expected["arr"].sum())
    ws = openpyxl.load_workbook(out)["Forecast"]
    head = next(r for r in ws.iter_rows() if r[0].value == "period")
    formats = {c.value: ws.cell(c.row + 2, c.column).number_format for c in head if c.value}
    assert formats["arr"] == formats["best_case"] == "#,##0"
    assert formats["starts"] == "yyyy-mm-dd"


def test_refresh_leaves_a_formula_workbooks_dashboard_and_forecast_alone(
        tmp_path: Path, accounts: pd.DataFrame) -> None:
    """In a native-formula workbook Dashboard and Forecast are formulas over Scores:
    refresh keeps them (and their charts) byte for byte."""
    from chs_excel.sheets.workbook import write_template
    write_template(tmp_path / "live.xlsx", default_model(), accounts, rows=200, as_of=AS_OF)
    macros.refresh_file(tmp_path / "live.xlsx", tmp_path / "out.xlsx", as_of=AS_OF)
    before, after = parts(tmp_path / "live.xlsx"), parts(tmp_path / "out.xlsx")
    for sheet in ("Dashboard", "Forecast"):
        part = sheet_part(tmp_path / "live.xlsx", sheet)
        assert sheet_part(tmp_path / "out.xlsx", sheet) == part
        assert after[part] == before[part]
    assert sum(n.startswith("xl/charts/") for n in after) == \
        sum(n.startswith("xl/charts/") for n in before) > 0
