"""Reading accounts files (csv, xlsx) into a frame whose index is the file's row number.

Every problem a user can cause (missing file, binary csv, corrupt or password-protected
workbook, no sheet, no accounts) is an `InputError` naming the file and sheet.
"""

from __future__ import annotations

import csv
import io as _io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import python_calamine as calamine

from chs_excel.core.errors import InputError
from chs_excel.core.model import header_key
from chs_excel.xlsx.guard import check_package

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ACCOUNTS_TABLE = "Accounts"
# A csv cell written as text by `formula_safe`: an apostrophe before = + - or @.
ESCAPED_FORMULA = r"'[=+\-@]"
# Columns that are always text, whatever their cells look like (compared by header_key).
TEXT_COLUMNS = frozenset({"accountid", "accountname", "owner", "segment", "plan", "region",
                          "overridereason"})


def read_accounts(path: str | Path, sheet: str | None = None) -> pd.DataFrame:
    """Read the accounts of a csv or xlsx file; index = the row number in the file.

    Parameters
    ----------
    path : str or Path
        A csv (comma, semicolon or tab; UTF-8 or Windows-1252) or an xlsx/xlsm.
    sheet : str, optional
        For xlsx: the sheet to read; default the Table named `Accounts`, else the first
        sheet.

    Returns
    -------
    DataFrame
        Cells typed as a spreadsheet shows them (numbers, dates, text; blanks as None),
        indexed by the row number in the file; `attrs["source"]` names file and sheet.
    """
    path = Path(path)
    head = _head(path)
    if path.suffix.lower() in CSV_SUFFIXES or not (head.startswith(b"PK")
                                                   or head.startswith(OLE_MAGIC)):
        if sheet:
            raise InputError(f"{path}: --sheet applies to xlsx files; this is a csv")
        frame, where = _read_csv(path, head), str(path)
    else:
        frame, where = _read_xlsx(path, head, sheet)
    frame = frame.dropna(how="all")
    if frame.empty:
        raise InputError(f"{where}: has a header but no accounts")
    frame.attrs["source"] = where
    return frame


def _head(path: Path) -> bytes:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an accounts file")
    try:
        with path.open("rb") as handle:
            head = handle.read(65536)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    if not head.strip():
        raise InputError(f"{path}: the file is empty")
    return head


def _read_csv(path: Path, head: bytes) -> pd.DataFrame:
    """A csv as typed columns; blank lines keep their row numbers for messages."""
    if b"\x00" in head or head.startswith(OLE_MAGIC):
        raise InputError(f"{path}: is not a text csv file (it looks binary); "
                         "save the sheet as 'CSV UTF-8' or pass the .xlsx")
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError(f"{path}: is neither UTF-8 nor Windows-1252 text")
    try:
        frame = pd.read_csv(_io.StringIO(text), sep=csv_delimiter(text),
                            skip_blank_lines=False, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"{path}: not a readable csv ({exc})") from None
    frame = _numpy_dtypes(frame)
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return frame


def csv_delimiter(text: str) -> str:
    """The delimiter of a csv (comma, semicolon or tab), sniffed from its header line."""
    try:
        return csv.Sniffer().sniff(text[:8192].split("\n", 1)[0], delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _numpy_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Type cells as a spreadsheet would: numbers, dates and text, blanks as None/NaN.

    Text that reads as a number becomes a number (and ISO dates in date columns become
    dates), except in identity columns, so ids like '00123' keep their zeros.
    """
    out = {}
    for col in frame.columns:
        series = frame[col]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            out[col] = series.astype("float64")
            continue
        obj = series.astype(object).where(series.notna(), None)
        is_text = _text_cells(obj).copy()
        if is_text.any():
            text = obj.where(is_text, "").astype(str)
            blank = is_text & (text.str.strip() == "").to_numpy()
            escaped = is_text & text.str.match(ESCAPED_FORMULA).to_numpy(dtype=bool)
            obj = obj.where(~escaped, text.str[1:]).where(~blank, None)
            is_text &= ~blank
        key = header_key(col)
        if key in TEXT_COLUMNS:
            out[col] = obj
            continue
        dates = "date" in key or "until" in key
        if is_text.any():
            cells = obj.where(is_text)
            parsed = (pd.to_datetime(cells, errors="coerce", format="ISO8601") if dates
                      else pd.to_numeric(cells, errors="coerce"))
            found = is_text & parsed.notna().to_numpy()
            obj = obj.where(~found, parsed.astype(object))
            is_text &= ~found
        out[col] = obj if is_text.any() else _uniform(obj)
    return pd.DataFrame(out, index=frame.index)


def _uniform(obj: pd.Series) -> pd.Series:
    """A column without text as its natural dtype: dates, floats, or as it is."""
    kind = pd.api.types.infer_dtype(obj, skipna=True)
    if kind in ("date", "datetime", "datetime64"):
        return pd.to_datetime(obj)
    if kind in ("floating", "integer", "mixed-integer-float", "empty", "decimal"):
        return obj.astype("float64")
    return obj


def _text_cells(obj: pd.Series) -> np.ndarray:
    """Mask of the cells holding text (columns of one type are decided without a scan)."""
    kind = pd.api.types.infer_dtype(obj, skipna=True)
    if kind in ("string", "empty"):
        return obj.notna().to_numpy(dtype=bool)
    if kind in ("mixed", "mixed-integer"):
        return np.fromiter((isinstance(v, str) for v in obj), dtype=bool, count=len(obj))
    return np.zeros(len(obj), dtype=bool)


def _read_xlsx(path: Path, head: bytes, sheet: str | None) -> tuple[pd.DataFrame, str]:
    """One sheet or the `Accounts` Table of a workbook, rows numbered as Excel shows them."""
    if head.startswith(OLE_MAGIC):
        raise InputError(f"{path}: is password-protected (encrypted) or an old .xls "
                         "workbook; open it in Excel, remove the password (File > Info > "
                         "Protect Workbook) and save it as .xlsx")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: is not a valid xlsx workbook (the file is damaged)")
    check_package(path)  # zip bombs and absurd used ranges are refused before calamine
    try:
        book = calamine.CalamineWorkbook.from_path(str(path), load_tables=True)
    except Exception as exc:  # calamine raises several error types for damaged files
        raise InputError(f"{path}: is not a valid xlsx workbook ({exc})") from None
    try:
        if sheet is None and ACCOUNTS_TABLE in _table_names(book):
            table = book.get_table_by_name(ACCOUNTS_TABLE)
            rows = [list(table.columns), *table.to_python()]
            first_row = table.start[0]  # table.start is the first data row (0-based)
            where = f"{path}, sheet {table.sheet}, table {ACCOUNTS_TABLE}"
        else:
            name = sheet if sheet is not None else book.sheet_names[0]
            if name not in book.sheet_names:
                raise InputError(f"{path}: no sheet named {name!r} (sheets: "
                                 f"{', '.join(book.sheet_names)})")
            data = book.get_sheet_by_name(name)
            rows = data.to_python(skip_empty_area=True)
            first_row = (data.start[0] + 1) if data.start else 1
            where = f"{path}, sheet {name}"
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: cannot read the workbook ({exc})") from None
    if not rows:
        raise InputError(f"{where}: the sheet is empty")
    header = [("" if h is None else str(h)).strip() for h in rows[0]]
    frame = pd.DataFrame(rows[1:], columns=header, dtype=object)
    frame.index = pd.RangeIndex(first_row + 1, first_row + 1 + len(frame))
    frame = frame.loc[:, [h != "" for h in header]] if "" in header else frame
    return _numpy_dtypes(frame), where


def _table_names(book: calamine.CalamineWorkbook) -> list[str]:
    try:
        return list(book.table_names)
    except Exception:  # calamine: workbook without table support
        return []
