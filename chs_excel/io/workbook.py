"""The one reader of a built workbook: its Model tables, Accounts, History and AsOf date.

Read-only (calamine, or the package's own XML for one cell): a user's workbook is never
opened for writing here. Errors name the file, sheet, table and cell.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import python_calamine as calamine
from xlsxwriter.utility import xl_rowcol_to_cell

from chs_excel.core.errors import InputError, ModelError
from chs_excel.core.model import (
    MODEL_TABLES,
    OPTIONAL_COLUMNS,
    OPTIONAL_TABLES,
    TABLE_COLUMNS,
    Model,
)
from chs_excel.core.vocabulary import header_key
from chs_excel.io.accounts import read_accounts
from chs_excel.io.statuses import book_status_table, status_rows
from chs_excel.xlsx.guard import check_package
from chs_excel.xlsx.package import Package
from chs_excel.xlsx.serials import excel_date

# Model table columns whose cells must hold numbers (Segments: every column but segment).
NUMBER_COLUMNS = {"Components": ("weight",), "Metrics": ("weight", "worst", "best"),
                  "Levels": ("at_least", "points"), "Rules": ("cap",),
                  "Playbooks": ("priority",),
                  "RenewalProbability": ("probability",),
                  "RenewalCurve": ("health", "probability")}
NUMBER_SETTINGS = ("scale", "red_below", "green_from", "min_coverage", "fiscal_year_start")


@dataclass(frozen=True)
class WorkbookContents:
    """What `chs template --from` keeps: the model, the accounts, history, table size."""

    model: Model
    accounts: pd.DataFrame | None
    history: pd.DataFrame | None
    history_weights: pd.DataFrame | None
    rows: int
    statuses: pd.DataFrame | None = None   # the ActionStatus Table's rows


def read_workbook(path: str | Path) -> WorkbookContents:
    """Read a workbook built by chs back: its Model tables, Accounts and History.

    Read-only (calamine). A damaged Model (a table renamed or deleted, a column
    deleted, text in a number) is a `ModelError` naming the sheet, table and cell.
    """
    path = Path(path)
    book = _open_book(path)
    tables, places = {}, {}
    extra = tuple(t for t in OPTIONAL_TABLES if t not in MODEL_TABLES)  # the signal Tables
    for name in (*MODEL_TABLES, *extra):
        if name in OPTIONAL_TABLES and name not in book.table_names:
            continue  # a workbook built before the table existed: read as empty
        table = _find_table(book, name, path)
        frame = pd.DataFrame(table.to_python(), columns=[str(c) for c in table.columns],
                             dtype=object)
        places[name] = (table.sheet, table.start, [str(c) for c in table.columns])
        _check_model_table(path, name, frame, places[name])
        tables[name] = frame
    try:
        model = Model.from_frame(tables, where=f"{path}, sheet Model")
    except ModelError as exc:
        raise ModelError(_with_cell(exc, tables, places), exc.problems) from None
    accounts_table = _find_table(book, "Accounts", path, kind=InputError)
    rows = len(accounts_table.to_python())
    accounts = read_accounts(path) if _has_data(accounts_table) else None
    history, weights = (_kept_table(book, name) for name in ("History", "HistoryWeights"))
    statuses = status_rows(book_status_table(book), f"{path}, table ActionStatus")
    return WorkbookContents(model, accounts, history, weights, rows, statuses)


def fixed_as_of(package: Package) -> dt.date | None:
    """The day a built workbook checks overrides against (its `AsOf` cell), when that is a
    fixed date rather than TODAY()."""
    refers = package.defined_names().get("AsOf", "").lstrip("=")
    match = re.fullmatch(r"'?([^!']+)'?!\$?([A-Z]+)\$?(\d+)", refers)
    if match is None:
        return None
    formula, value = package.cell(match.group(1), match.group(2) + match.group(3))
    if formula is not None or value is None:
        return None
    try:
        return excel_date(float(value), package.date1904())
    except ValueError:
        return None


def _kept_table(book: calamine.CalamineWorkbook, name: str) -> pd.DataFrame | None:
    """A snapshot table's rows as they are (None when absent or empty)."""
    if name not in book.table_names:
        return None
    table = book.get_table_by_name(name)
    frame = pd.DataFrame(table.to_python(), columns=[str(c) for c in table.columns],
                         dtype=object).replace("", None).dropna(how="all")
    return frame if len(frame) else None


def _open_book(path: Path) -> calamine.CalamineWorkbook:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: is not an xlsx workbook (or it is damaged)")
    check_package(path)
    try:
        return calamine.CalamineWorkbook.from_path(str(path), load_tables=True)
    except Exception as exc:  # calamine raises several error types for damaged files
        raise InputError(f"{path}: cannot read the workbook ({exc})") from None


def _find_table(book: calamine.CalamineWorkbook, name: str, path: Path,
                kind: type[Exception] = ModelError) -> Any:
    names = list(book.table_names)
    if name not in names:
        where = "sheet Model" if name in MODEL_TABLES else "sheet Accounts"
        raise kind(f"{path}, {where}: table {name!r} not found (renamed or deleted?); "
                   f"tables in the workbook: {', '.join(names) or 'none'}. Rebuild needs "
                   "the tables chs made, with their names")
    return book.get_table_by_name(name)


def _has_data(table: Any) -> bool:
    return any(v not in ("", None) for row in table.to_python() for v in row)


def _cell(place: tuple[str, tuple[int, int], list[str]], row: int, column: str) -> str:
    """`Sheet!D7` for data row `row` (1-based) of a table's `column`."""
    sheet, start, columns = place
    keys = [header_key(c) for c in columns]
    col = keys.index(header_key(column)) if header_key(column) in keys else 0
    return f"{sheet}!{xl_rowcol_to_cell(start[0] + row - 1, start[1] + col)}"


def _check_model_table(path: Path, name: str, frame: pd.DataFrame,
                       place: tuple[str, tuple[int, int], list[str]]) -> None:
    """Missing columns and text in number cells, named by cell."""
    sheet, start, columns = place
    keys = {header_key(c) for c in columns}
    where = f"{path}, sheet {sheet}, table {name}"
    for column in TABLE_COLUMNS.get(name, []):
        if header_key(column) not in keys and column not in OPTIONAL_COLUMNS.get(name, ()):
            header = (f"{xl_rowcol_to_cell(start[0] - 1, start[1])}:"
                      f"{xl_rowcol_to_cell(start[0] - 1, start[1] + len(columns) - 1)}")
            raise ModelError(f"{where}: column {column!r} is missing from the header row "
                             f"({sheet}!{header}); put it back or rebuild from a YAML model")
    numeric = [c for c in columns if header_key(c) in
               {header_key(n) for n in NUMBER_COLUMNS.get(name, ())}]
    if name == "Segments":
        numeric = [c for c in columns if header_key(c) != "segment"]
    for column in numeric:
        for i, value in enumerate(frame[column].tolist(), start=1):
            _number_cell(value, f"{where}, cell {_cell(place, i, column)} (column {column})")
    if name == "Settings":
        by_key = {header_key(c): c for c in columns}
        settings = frame[by_key["setting"]].tolist()
        for i, (setting, value) in enumerate(zip(settings, frame[by_key["value"]].tolist(),
                                                 strict=True), start=1):
            if str(setting).strip().lower() in NUMBER_SETTINGS:
                _number_cell(value, f"{where}, cell {_cell(place, i, 'value')} "
                                    f"(setting {setting})")


def _number_cell(value: Any, where: str) -> None:
    """Blank, a number or text that reads as one; anything else names the cell."""
    if value in ("", None) or (isinstance(value, (int, float))
                               and not isinstance(value, bool)):
        return
    if not isinstance(value, bool):
        try:
            float(str(value).strip())
            return
        except ValueError:
            pass
    raise ModelError(f"{where}: expected a number, got {value!r}")


# The column naming each row of a Model table, for problems placed by name.
KEY_COLUMN = {"Metrics": "column", "Components": "component", "Rules": "name",
              "RenewalProbability": "band", "Playbooks": "playbook"}


def _with_cell(error: ModelError, tables: dict[str, pd.DataFrame],
               places: dict[str, tuple[str, tuple[int, int], list[str]]]) -> str:
    """The error's message with the table and cell of its first placed problem: a table
    row and column as read, else a part named in its table (Metrics, Components, Rules,
    RenewalProbability, in that order) and its field."""
    message = str(error)
    for problem in error.problems:
        if problem.table in places and problem.row is not None and problem.field:
            return f"{message} (cell {_cell(places[problem.table], problem.row, problem.field)})"
    for table, key in KEY_COLUMN.items():
        for problem in error.problems:
            if problem.table != table or problem.key is None or not problem.field:
                continue
            frame = tables[table]
            keys = {header_key(c): c for c in frame.columns}
            if header_key(key) not in keys or header_key(problem.field) not in keys:
                continue
            values = frame[keys[header_key(key)]].astype("string").str.strip()
            rows = np.flatnonzero((values == str(problem.key).strip()).fillna(False).to_numpy())
            if len(rows):
                cell = _cell(places[table], int(rows[0]) + 1, problem.field)
                return f"{message} (table {table}, cell {cell})"
    return message


def read_book_model(path: str | Path) -> Model | None:
    """The model of a generated workbook's Model sheet tables; None when it has none."""
    path = Path(path)
    if path.is_file() and zipfile.is_zipfile(path):
        check_package(path)  # before calamine: it aborts the process on some hostile files
    try:
        book = calamine.CalamineWorkbook.from_path(str(path), load_tables=True)
        names = set(book.table_names)
    except Exception:  # calamine: no table support or not a workbook; read_scores reports
        return None
    if not set(TABLE_COLUMNS) - set(OPTIONAL_TABLES) <= names:
        return None
    tables = {}
    for name in (*TABLE_COLUMNS, "Segments"):
        if name in names:
            table = book.get_table_by_name(name)
            tables[name] = pd.DataFrame(table.to_python(), columns=list(table.columns),
                                        dtype=object)
    return Model.from_frame(tables, where=f"{path}, sheet Model")
