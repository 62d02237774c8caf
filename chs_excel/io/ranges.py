"""Excel ranges <-> the engine's frames: the raw shapes Excel hands over, converted once.

xlwings' COM server passes a UDF argument declared with `ndim=2` as a list of rows:
`None` for blank cells, floats for numbers, `datetime` for dates, `bool`, and Excel errors
as error text ('#N/A', with `err_to_str=True`) or, without it, as the COM error code (an
int such as -2146826246). The macros' book adapters read Tables into the same shape, so
one tested converter serves the UDFs, the macros and the tests.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from chs_excel.core.errors import ChsError, InputError, ModelError
from chs_excel.core.methods import METHODS
from chs_excel.core.model import MODEL_TABLES, TABLE_COLUMNS, Model, header_key, model_from_tables

Grid = list[list[Any]]

# Excel's error values as COM error codes (what pywin32 hands over) and as text.
ERROR_CODES = {-2146826281: "#DIV/0!", -2146826246: "#N/A", -2146826259: "#NAME?",
               -2146826288: "#NULL!", -2146826252: "#NUM!", -2146826265: "#REF!",
               -2146826273: "#VALUE!"}
ERROR_TEXTS = frozenset({*ERROR_CODES.values(), "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!",
                         "#CONNECT!", "#BUSY!", "#UNKNOWN!", "#GETTING_DATA", "#PYTHON!"})
# Methods whose points live in the Levels table.
LEVEL_METHODS = tuple(name for name, m in METHODS.items() if m.level_key)
# What pandas' infer_dtype calls a column of numbers (blanks skipped).
NUMBER_KINDS = ("floating", "integer", "mixed-integer-float", "decimal")


def as_grid(value: Any) -> Grid:
    """Any argument as a list of rows: a single value is 1x1, a flat list one row."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        return [[value]]
    if not value:
        return []
    if not isinstance(value[0], (list, tuple)):
        return [list(value)]
    width = max(len(row) for row in value)
    return [list(row) + [None] * (width - len(row)) for row in value]


def error_text(value: Any) -> str | None:
    """The Excel error a cell holds ('#N/A', '#DIV/0!'), or None when it holds a value."""
    if isinstance(value, int) and not isinstance(value, bool):
        return ERROR_CODES.get(value)
    if isinstance(value, str):
        text = value.strip().upper()
        return text if text in ERROR_TEXTS else None
    return None


def is_blank(value: Any) -> bool:
    """A cell Excel shows as empty: None, '' or only spaces (NaN from pandas too)."""
    if value is None:
        return True
    if isinstance(value, float):
        return bool(np.isnan(value))
    return isinstance(value, str) and not value.strip()


def _body(grid: Grid) -> np.ndarray:
    """The rows under the header as a 2-D object array (cells kept as they came)."""
    body = np.empty((len(grid) - 1, len(grid[0])), dtype=object)
    if len(grid) > 1:
        body[:] = grid[1:]
    return body


def clean(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Cells with every blank as None, each cell's Excel error text (None if none), and
    the kind of the values (pandas' `infer_dtype`); columns of one type are not scanned."""
    cells = np.asarray(cells, dtype=object)
    none = np.full(len(cells), None, dtype=object)
    kind = pd.api.types.infer_dtype(cells, skipna=True)
    if kind == "empty":
        return none, none, kind
    series = pd.Series(cells, dtype=object)
    if kind in NUMBER_KINDS:
        numbers = pd.Series(cells, dtype=float)
        codes = numbers.isin(list(ERROR_CODES)).to_numpy()
        errors = none.copy()
        if codes.any():
            errors[codes] = numbers[codes].astype(int).map(ERROR_CODES).to_numpy(dtype=object)
        return np.where(numbers.isna().to_numpy(), None, cells), errors, kind
    types = series.map(type)
    blank = np.array(series.isna(), dtype=bool)
    errors = none.copy()
    is_text = types.isin([str]).to_numpy()
    if is_text.any():
        text = series[is_text].str.strip()
        blank[is_text] = (text == "").to_numpy(dtype=bool)
        upper = text.str.upper()
        errors[is_text] = upper.where(upper.isin(ERROR_TEXTS), None).to_numpy(dtype=object)
    is_int = types.isin([int]).to_numpy()
    if is_int.any():
        codes = series[is_int].map(ERROR_CODES)
        errors[is_int] = codes.where(codes.notna(), None).to_numpy(dtype=object)
    return np.where(blank, None, cells), errors, kind


def _column(cells: np.ndarray, kind: str) -> pd.Series | np.ndarray:
    """One cleaned column typed as a sheet would be: numbers, dates, or cells as they are."""
    if kind == "empty":
        return np.full(len(cells), np.nan)
    if kind in NUMBER_KINDS:
        return pd.Series(cells, dtype=float).to_numpy()
    if kind in ("datetime", "date", "datetime64"):
        return pd.to_datetime(pd.Series(cells, dtype=object)).to_numpy()
    return cells


def header_names(grid: Grid, table: str) -> list[str]:
    """The header row's names; a missing, blank, merged or repeated header is an error."""
    if not grid or all(is_blank(v) for row in grid for v in row):
        raise InputError(f"{table}: the range is empty (select the table with its header "
                         f"row, e.g. {table}[#All])")
    header = grid[0]
    names = []
    for c, value in enumerate(header, start=1):
        err = error_text(value)
        if err:
            raise InputError(f"{table}: header cell {c} is the Excel error {err}")
        if not isinstance(value, str) or is_blank(value):
            if not is_blank(value):
                raise InputError(f"{table}: the first row must be the header row (column "
                                 f"names), but cell {c} holds {value!r}; include the header "
                                 f"in the range, e.g. {table}[#All]")
            names.append("")
            continue
        names.append(value.strip())
    blank = [c for c, n in enumerate(names) if not n]
    body = _body(grid)
    used = [c for c in blank if not all(is_blank(v) for v in body[:, c])]
    if used:
        raise InputError(f"{table}: header cell {used[0] + 1} is blank but its column has "
                         "values (merged header cells, or a missing column name?)")
    if not any(names):
        raise InputError(f"{table}: the header row is blank; include the header in the range")
    seen: dict[str, str] = {}
    for name in filter(None, names):
        if header_key(name) in seen:
            raise InputError(f"{table}: columns {seen[header_key(name)]!r} and {name!r} are "
                             "the same column once case, spaces and '_' are ignored")
        seen[header_key(name)] = name
    return names


def table_frame(value: Any, table: str, *, first_row: int = 1,
                errors: str = "raise") -> pd.DataFrame:
    """A Table range (header row + rows) as typed columns; index = sheet row numbers.

    `first_row` is the sheet row of the header. Excel errors in the body raise a
    `ModelError` naming table, row and column (`errors="raise"`), or stay as their text
    (`errors="keep"`), which the engine then reports like any other bad cell.
    """
    grid = as_grid(value)
    names = header_names(grid, table)
    body = _body(grid)
    columns = {}
    for c, name in enumerate(names):
        if not name:
            continue
        cells, found, kind = clean(body[:, c])
        bad = np.flatnonzero(pd.notna(found))
        if len(bad) and errors == "raise":
            raise ModelError(f"{table} row {bad[0] + 1}, column {name}: the cell is the "
                             f"Excel error {found[bad[0]]}; fix the cell or its formula")
        if len(bad):
            cells, _, kind = clean(np.where(pd.notna(found), found, cells))
        columns[name] = _column(cells, kind)
    index = pd.RangeIndex(first_row + 1, first_row + 1 + len(body))
    return pd.DataFrame(columns, index=index)


def accounts_frame(value: Any, *, first_row: int = 1, table: str = "Accounts") -> pd.DataFrame:
    """The Accounts range as the engine's input: blank rows dropped, errors kept as text."""
    frame = table_frame(value, table, first_row=first_row, errors="keep")
    frame = frame.loc[frame.notna().any(axis=1)]
    if frame.empty:
        raise InputError(f"{table}: no accounts (the table has a header row but no rows)")
    ids = [c for c in frame.columns if header_key(c) == "accountid"]
    if ids:
        cells = frame[ids[0]]
        err = cells.isin(list(ERROR_TEXTS)).to_numpy(dtype=bool)
        if err.any():
            raise InputError(f"{table} row {frame.index[err][0]}, column {ids[0]}: the "
                             f"account id is the Excel error {cells[err].iloc[0]}")
    return frame


def model_from_ranges(ranges: dict[str, Any], where: str = "Model") -> Model:
    """A model from the Model sheet's Table ranges (header rows included).

    Omitted tables (None) mean: no rules, no segments, default settings, the model's
    default renewal probabilities; Levels may be left out only when no metric needs it.
    """
    tables = {}
    for name in MODEL_TABLES:
        value = ranges.get(name)
        if value is None:
            tables[name] = _omitted(name)
        else:
            tables[name] = table_frame(value, name).reset_index(drop=True)
    if ranges.get("Levels") is None:
        methods = tables["Metrics"].get("method", pd.Series(dtype=object))
        needs = [str(m).strip().lower() for m in methods.dropna()
                 if str(m).strip().lower() in LEVEL_METHODS]
        if needs:
            raise ModelError(f"{where}: a metric is scored by {needs[0]}, whose points are "
                             "in the Levels table: pass the Levels range too")
    return model_from_tables(tables, where)


def _omitted(name: str) -> pd.DataFrame:
    """The table an omitted argument stands for."""
    if name == "RenewalProbability":
        fields = {f.name: f for f in dataclasses.fields(Model)}
        probability = fields["renewal_probability"].default_factory()
        return pd.DataFrame({"band": list(probability),
                             "probability": list(probability.values())})
    return pd.DataFrame(columns=TABLE_COLUMNS.get(name, ["segment"]))


# ---------------------------------------------------------------- single cells and lists

def cell_number(value: Any, name: str) -> float:
    """One cell that must hold a number (a 1x1 range is unwrapped); else a clear error."""
    grid = as_grid(value)
    cells = [v for row in grid for v in row]
    if len(cells) != 1:
        raise ChsError(f"{name} must be a single cell, got {len(grid)}x{len(grid[0])} cells")
    cell = cells[0]
    err = error_text(cell)
    if err:
        raise ChsError(f"{name} is the Excel error {err}")
    if is_blank(cell):
        raise ChsError(f"{name} is blank; it must be a number")
    if isinstance(cell, (bool, dt.date, dt.datetime)):
        raise ChsError(f"{name} must be a number, got {cell!r}")
    try:
        number = float(cell)
    except (TypeError, ValueError):
        raise ChsError(f"{name} must be a number, got {cell!r}") from None
    if not np.isfinite(number):
        raise ChsError(f"{name} must be a finite number, got {cell!r}")
    return number


def number_list(value: Any, name: str) -> list[float]:
    """The numbers of a row, column or array constant, blanks skipped; else a clear error."""
    out = []
    for i, cell in enumerate((v for row in as_grid(value) for v in row), start=1):
        if is_blank(cell):
            continue
        out.append(cell_number(cell, f"{name} (item {i})"))
    return out


def cells(value: Any) -> tuple[np.ndarray, tuple[int, int], np.ndarray]:
    """A range's cells as a flat object array, its shape, and each cell's error text."""
    grid = as_grid(value)
    shape = (len(grid), len(grid[0]) if grid else 0)
    flat = np.empty(shape[0] * shape[1], dtype=object)
    flat[:] = [v for row in grid for v in row]
    flat, errors, _ = clean(flat)
    return flat, shape, errors


def as_series(flat: np.ndarray) -> pd.Series:
    """Cells as the engine's input column: float when every cell is a number or blank."""
    kind = pd.api.types.infer_dtype(flat, skipna=True)
    if kind in (*NUMBER_KINDS, "empty"):
        return pd.Series(flat, dtype=float)
    return pd.Series(flat, dtype=object)


# ---------------------------------------------------------------- back to Excel

def frame_grid(frame: pd.DataFrame, *, header: bool = True) -> Grid:
    """A frame as rows of plain Python cells for Excel to spill: None for every blank."""
    columns = []
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_datetime64_any_dtype(series):
            values = series.to_numpy(dtype="datetime64[us]").astype(object)
        elif pd.api.types.is_float_dtype(series):
            numbers = series.to_numpy(dtype=float, na_value=np.nan)
            values = np.where(np.isfinite(numbers), numbers.astype(object), None)
        else:
            values = series.to_numpy(dtype=object, na_value=None)
            values = np.where(pd.isna(values), None, values)
        columns.append(values.tolist())
    rows = list(map(list, zip(*columns, strict=True))) if columns else []
    return [[str(c) for c in frame.columns], *rows] if header else rows


def shaped(values: np.ndarray, shape: tuple[int, int]) -> Grid | Any:
    """Flat results back in the caller's shape; one cell comes back as a plain value."""
    if shape == (1, 1):
        return values[0]
    return np.asarray(values, dtype=object).reshape(shape).tolist()
