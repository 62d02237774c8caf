"""Reading accounts files (csv, xlsx) into a frame whose index is the file's row number.

Every problem a user can cause (missing file, binary csv, corrupt or password-protected
workbook, no sheet, no accounts) is an `InputError` naming the file and sheet.
"""

from __future__ import annotations

import csv
import datetime as dt
import io as _io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import python_calamine as calamine

from chs_excel.core.errors import InputError
from chs_excel.core.limits import FIRST_DATE, LAST_DATE
from chs_excel.core.vocabulary import header_key, input_kind, percent_scaled
from chs_excel.io.cells import (
    DATE_FORMATS,
    DECIMALS,
    number_convention,
    number_parts,
    parse_date_text,
    parse_number_parts,
    serial_dates,
)
from chs_excel.io.xlsx_cells import XlsxCells

try:  # pandas' own string engine when installed: the fast path of `_plain_numbers`
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError:  # pragma: no cover - pandas works without it, only slower here
    pa = pc = None
from chs_excel.xlsx.guard import check_package

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ACCOUNTS_TABLE = "Accounts"
# A csv cell written as text by `formula_safe`: an apostrophe before = + - or @.
ESCAPED_FORMULA = r"'[=+\-@]"
PROBLEM_COLUMNS = ["row", "column", "value", "problem"]
# Text to_numeric and Arrow read alike: sign, digits, one point, exponent.
PLAIN_NUMBER = r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?"
# The dates the engine can hold (it converts to datetime64[ns]); others are refused.
ENGINE_DATES = (np.datetime64(FIRST_DATE, "D"), np.datetime64(LAST_DATE, "D"))
# A UTF-8 multi-byte character: its presence means the file is UTF-8, not Windows-1252.
UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}"
                            rb"|[\xf0-\xf4][\x80-\xbf]{3}")


def read_accounts(path: str | Path, sheet: str | None = None, *, decimal: str = "auto",
                  date_format: str = "auto",
                  columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Read the accounts of a csv or xlsx file; index = the row number in the file.

    Parameters
    ----------
    path : str or Path
        A csv (comma, semicolon or tab; UTF-8 or Windows-1252) or an xlsx/xlsm.
    sheet : str, optional
        For xlsx: the sheet to read; default the Table named `Accounts`, else the first
        sheet.
    decimal : {"auto", "point", "comma"}
        How numbers written as text mark decimals; "auto" decides from the whole file.
    date_format : {"auto", "iso", "mdy", "dmy"}
        Day/month order of dates written as text; "auto" decides per column.
    columns : dict, optional
        The model's `columns:` (key -> the file's header): a mapped header is typed as its
        key is (`Account Owner` for owner: text).

    Returns
    -------
    DataFrame
        Cells typed as a spreadsheet shows them (numbers, dates, text; blanks as None),
        indexed by the row number in the file; `attrs["source"]` names file and sheet,
        `attrs["headers"]` the headers, `attrs["cell_problems"]` the cells the file holds
        as errors (row, column, value, problem). Every rule is in docs/input.md.
    """
    if decimal not in DECIMALS:
        raise InputError(f"decimal must be one of {', '.join(DECIMALS)}, not {decimal!r}")
    if date_format not in DATE_FORMATS:
        raise InputError(f"date format must be one of {', '.join(DATE_FORMATS)}, "
                         f"not {date_format!r}")
    path = Path(path)
    head = _head(path)
    problems: list[tuple[int, str, str, str]] = []
    percent: set[str] = set()
    date1904 = False
    if path.suffix.lower() in CSV_SUFFIXES or not (head.startswith(b"PK")
                                                   or head.startswith(OLE_MAGIC)):
        if sheet:
            raise InputError(f"{path}: --sheet applies to xlsx files; this is a csv")
        frame, where = _read_csv(path, head), str(path)
    else:
        frame, where, problems, percent, date1904 = _read_xlsx(path, head, sheet)
    mapped = {header_key(h): k for k, h in (columns or {}).items()}

    def key(col: str) -> str:
        return mapped.get(header_key(col), col)
    percent = {c for c in percent if percent_scaled(key(c))}
    frame = _typed(frame, where, decimal, date_format, percent, date1904, key)
    frame = frame.dropna(how="all")
    if frame.empty:
        raise InputError(f"{where}: has a header but no accounts")
    frame.attrs["source"] = where
    frame.attrs["headers"] = list(frame.columns)
    frame.attrs["cell_problems"] = pd.DataFrame(problems, columns=PROBLEM_COLUMNS)
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
    """A csv as text columns; blank lines keep their row numbers for messages."""
    if b"\x00" in head or head.startswith(OLE_MAGIC):
        raise InputError(f"{path}: is not a text csv file (it looks binary); "
                         "save the sheet as 'CSV UTF-8' or pass the .xlsx")
    text = _decode(path, path.read_bytes())
    try:
        rows = pd.read_csv(_io.StringIO(text), sep=csv_delimiter(text), header=None,
                           skip_blank_lines=False, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty") from None
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            raise InputError(f"{path}: row {found.group(2)} has {found.group(3)} cells but "
                             f"the header has {found.group(1)} (a stray delimiter?); fix "
                             "that row") from None
        raise InputError(f"{path}: not a readable csv ({exc})") from None
    except ValueError as exc:
        raise InputError(f"{path}: not a readable csv ({exc})") from None
    header = rows.iloc[0].fillna("").tolist()
    width = len(header)
    while width and header[width - 1] == "":
        width -= 1
    data = rows.iloc[1:]
    extra = data.iloc[:, width:].replace("", np.nan).notna().any(axis=1).to_numpy()
    if extra.any():
        row = int(np.flatnonzero(extra)[0]) + 2
        raise InputError(f"{path}: row {row} has more cells than the header "
                         f"({width} columns); a stray delimiter would shift every column; "
                         "fix that row")
    frame = data.iloc[:, :width]
    frame.columns = _headers(header[:width], str(path))
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return frame


def _decode(path: Path, raw: bytes) -> str:
    """UTF-8 strictly; Windows-1252 only for a file with no UTF-8 multi-byte character."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = exc.start
    if UTF8_MULTIBYTE.search(raw):
        line = raw.count(b"\n", 0, bad) + 1
        raise InputError(f"{path}: line {line} is not valid UTF-8 although the file has "
                         "UTF-8 text elsewhere; re-save the file as 'CSV UTF-8'")
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        raise InputError(f"{path}: is neither UTF-8 nor Windows-1252 text") from None


def _headers(header: list[object], where: str) -> list[str]:
    """Headers with whitespace runs (line breaks, tabs) as one space; a repeated key fails."""
    names = [" ".join(("" if h is None else str(h)).split()) for h in header]
    seen: dict[str, str] = {}
    for i, name in enumerate(names):
        key = header_key(name)
        if not key:
            names[i] = f"Unnamed: {i}"
            continue
        if key in seen:
            raise InputError(f"{where}: columns {seen[key]!r} and {name!r} are the same "
                             "column once case, spaces and '_' are ignored; rename one")
        seen[key] = name
    return names


def csv_delimiter(text: str) -> str:
    """The delimiter of a csv (comma, semicolon or tab), sniffed from its header line."""
    try:
        return csv.Sniffer().sniff(text[:8192].split("\n", 1)[0], delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _typed(frame: pd.DataFrame, where: str, decimal: str, date_format: str,
           percent: set[str], date1904: bool,
           key: Callable[[str], str] = str) -> pd.DataFrame:
    """Type cells as a spreadsheet would: numbers, dates and text, blanks as None/NaN.

    Text that reads as a number becomes a number (and dates in date columns become dates),
    except in identity columns, so ids like '00123' keep their zeros. docs/input.md.
    """
    cleaned = {col: _clean(frame[col]) for col in frame.columns}
    kinds = {col: input_kind(key(col)) for col in frame.columns}
    numbers = [c for c in frame.columns if kinds[c] == "number"]
    texts = {c: cleaned[c][0].where(cleaned[c][1]).dropna().astype(str).str.strip()
             for c in numbers if cleaned[c][1].any()}
    plain = {c: _plain_numbers(t) for c, t in texts.items()}
    # Text with no digit never reads as a number (words in category and flag columns):
    # only the rest is split into number parts, once.
    digits = {c: _with_digit(t) for c, t in texts.items()}
    convention = decimal
    if decimal == "auto":
        left = {c: t[plain[c].isna().to_numpy() & t.index.isin(digits[c])]
                for c, t in texts.items()}
        convention = number_convention(_cells(left), lambda: _cells(texts), where)
    out = {}
    for col in frame.columns:
        obj, is_text = cleaned[col]
        if kinds[col] == "text":
            out[col] = _as_text(obj, is_text)
        elif kinds[col] == "date":
            out[col] = _dates(obj, is_text, col, where, date_format, date1904)
        else:
            out[col] = _numbers(obj, is_text, texts.get(col), plain.get(col),
                                digits.get(col), convention, col in percent)
    return pd.DataFrame(out, index=frame.index)


def _clean(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(cells with blanks as None and csv formula escapes removed, mask of text cells)."""
    obj = series.astype(object).where(series.notna(), None)
    is_text = _text_cells(obj).copy()
    if is_text.any():
        text = obj.where(is_text, "").astype(str)
        blank = is_text & (text.str.strip() == "").to_numpy()
        escaped = is_text & text.str.startswith("'").to_numpy(dtype=bool)
        if escaped.any():
            escaped &= text.str.match(ESCAPED_FORMULA).to_numpy(dtype=bool)
            obj = obj.where(~escaped, text.str[1:])
        obj = obj.where(~blank, None)
        is_text &= ~blank
    return obj, is_text


def _cells(texts: dict[str, pd.Series]) -> pd.DataFrame:
    """Text cells of number columns as (row, column, text, num) for the decimal decision."""
    parts = [pd.DataFrame({"row": t.index, "column": c, "text": t.to_numpy(),
                           "num": number_parts(t)["num"].to_numpy()})
             for c, t in texts.items() if len(t)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["row", "column", "text", "num"])


def _plain_numbers(text: pd.Series) -> pd.Series:
    """`pd.to_numeric(text, errors="coerce")`, faster: cells that are plain decimals
    (`PLAIN_NUMBER`) are cast in one Arrow pass when pandas has pyarrow (20x faster than
    to_numeric's per-cell parse, and correctly rounded too); the rest go to to_numeric."""
    if pa is None or not len(text):
        return pd.to_numeric(text, errors="coerce")
    plain = text.str.fullmatch(PLAIN_NUMBER).to_numpy(dtype=bool)
    values = np.full(len(text), np.nan)
    cells = text.to_numpy(dtype=object)
    values[plain] = pc.cast(pa.array(cells[plain], type=pa.string()),
                            pa.float64()).to_numpy(zero_copy_only=False)
    if not plain.all():
        values[~plain] = pd.to_numeric(pd.Series(cells[~plain], dtype=object),
                                       errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return pd.Series(values, index=text.index)


def _with_digit(text: pd.Series) -> pd.Index:
    """The index of the cells of `text` holding a digit (the only ones number-like)."""
    return text.index[text.str.contains(r"\d", regex=True).to_numpy(dtype=bool)]


def _numbers(obj: pd.Series, is_text: np.ndarray, text: pd.Series | None,
             plain: pd.Series | None, digits: pd.Index | None, convention: str,
             percent: bool) -> pd.Series:
    """A number column, typed once: floats, and the text cells that do not read as a
    number (kept as text, for the engine to report) — known from the reader's own masks,
    without scanning the cells' types again."""
    if percent:  # an xlsx column formatted as %: shown as 45% for 0.45
        numeric = ~is_text & obj.notna().to_numpy()
        if numeric.any():
            scaled = np.round(pd.to_numeric(obj[numeric]).to_numpy(dtype=float) * 100, 10)
            obj = obj.where(~numeric, pd.Series(scaled, index=obj.index[numeric]))
    left = is_text
    numbers = np.full(len(obj), np.nan)
    if text is not None and len(text):
        values = (plain.to_numpy(dtype=float, na_value=np.nan).copy()
                  if convention == "point" else np.full(len(text), np.nan))
        rest = np.isnan(values) & text.index.isin(digits)
        if rest.any():
            values[rest] = parse_number_parts(number_parts(text[rest]), convention)
        at = np.flatnonzero(is_text)   # `text` holds the text cells in order
        numbers[at] = values
        left = is_text.copy()
        left[at[~np.isnan(values)]] = False
    other = ~is_text & obj.notna().to_numpy()   # cells already typed (xlsx)
    if not other.any() and not left.any():     # every cell a number or blank: floats
        return pd.Series(numbers, index=obj.index)
    cells = obj.to_numpy(dtype=object).copy()
    done = is_text & ~left
    cells[done] = numbers[done]
    out = pd.Series(cells, index=obj.index, dtype=object)
    return out if left.any() else _uniform(out)


def _dates(obj: pd.Series, is_text: np.ndarray, col: str, where: str, date_format: str,
           date1904: bool) -> pd.Series:
    """A date column as datetime64[s]; cells that are not dates are kept as they are."""
    present = obj.notna().to_numpy()
    values = np.full(len(obj), np.datetime64("NaT", "D"))
    if is_text.any():
        values[is_text] = parse_date_text(obj[is_text].astype(str), col, date_format, where,
                                          date1904)
    other = present & ~is_text
    if other.any():
        cells = obj[other]
        kind = pd.api.types.infer_dtype(cells, skipna=True)
        if kind in ("floating", "integer", "mixed-integer-float", "decimal"):
            values[other] = serial_dates(pd.to_numeric(cells).to_numpy(dtype=float), date1904)
        else:
            stamp = np.fromiter((isinstance(v, dt.date) for v in cells), dtype=bool,
                                count=len(cells))
            idx = np.flatnonzero(other)[stamp]
            values[idx] = np.array(cells[stamp].tolist(), dtype="datetime64[s]").astype(
                "datetime64[D]")
    found = ~np.isnat(values)
    outside = found & ((values < ENGINE_DATES[0]) | (values > ENGINE_DATES[1]))
    if outside.any():
        i = np.flatnonzero(outside)[0]
        raise InputError(f"{where}: row {obj.index[i]}, column {col!r}: {values[i]} is "
                         f"outside the dates the scorer handles ({ENGINE_DATES[0]} to "
                         f"{ENGINE_DATES[1]}); correct the date")
    stamps = values.astype("datetime64[s]")
    if found.sum() == present.sum():
        return pd.Series(stamps, index=obj.index)
    cells = obj.copy()
    cells[found] = pd.Series(stamps[found]).astype(object).to_numpy()
    return cells


def _as_text(obj: pd.Series, is_text: np.ndarray) -> pd.Series:
    """An identity column: numbers become the digits they show (ids are text)."""
    numeric = obj.notna().to_numpy() & ~is_text
    if not numeric.any():
        return obj
    cells = obj[numeric]
    if pd.api.types.infer_dtype(cells, skipna=True) not in ("floating", "integer",
                                                            "mixed-integer-float"):
        return obj
    values = pd.to_numeric(cells).to_numpy(dtype=float)
    whole = np.isfinite(values) & (values == np.floor(values))
    small = whole & (np.abs(values) < 2.0 ** 53)
    shown = cells.astype(str).to_numpy(dtype=object)
    shown[small] = values[small].astype(np.int64).astype(str)
    big = np.flatnonzero(whole & ~small)  # beyond 2**53: the shortest digits of the float
    shown[big] = [np.format_float_positional(v, trim="-") for v in values[big]]
    out = obj.copy()
    out[numeric] = shown
    return out


def _uniform(obj: pd.Series) -> pd.Series:
    """A column without text as its natural dtype: floats, or as it is."""
    kind = pd.api.types.infer_dtype(obj, skipna=True)
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


def _read_xlsx(path: Path, head: bytes, sheet: str | None
               ) -> tuple[pd.DataFrame, str, list, set[str], bool]:
    """One sheet or the `Accounts` Table of a workbook, rows numbered as Excel shows them,
    with the cell problems, percent-formatted columns and date system of its XML."""
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
            first_row, first_col = table.start  # table.start is the first data row (0-based)
            name = table.sheet
            where = f"{path}, sheet {table.sheet}, table {ACCOUNTS_TABLE}"
        else:
            name = sheet if sheet is not None else book.sheet_names[0]
            if name not in book.sheet_names:
                raise InputError(f"{path}: no sheet named {name!r} (sheets: "
                                 f"{', '.join(book.sheet_names)})")
            data = book.get_sheet_by_name(name)
            rows = data.to_python(skip_empty_area=True)
            first_row = (data.start[0] + 1) if data.start else 1
            first_col = data.start[1] if data.start else 0
            where = f"{path}, sheet {name}"
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: cannot read the workbook ({exc})") from None
    if not rows:
        raise InputError(f"{where}: the sheet is empty")
    header = _headers(rows[0], where)
    frame = pd.DataFrame(rows[1:], columns=header, dtype=object)
    frame.index = pd.RangeIndex(first_row + 1, first_row + 1 + len(frame))
    facts = XlsxCells(path, name)
    problems = []
    for row, col, value, problem in facts.errors():
        c = col - first_col
        if row in frame.index and 0 <= c < len(header):
            frame.iloc[frame.index.get_loc(row), c] = value
            problems.append((row, header[c], value, problem))
    percent_cells, other_cells = facts.percent_cells(first_row + 1)
    percent = _percent_columns(percent_cells, other_cells, header, first_col, where)
    keep = [not h.startswith("Unnamed: ") for h in header]
    frame = frame.loc[:, keep] if not all(keep) else frame
    return frame, where, problems, percent, facts.date1904


def _percent_columns(percent_cells: list[tuple[int, int]], other_cells: list[tuple[int, int]],
                     header: list[str], first_col: int, where: str) -> set[str]:
    """Columns whose sampled number cells are all %-formatted; a mix is an error."""
    pct = {c - first_col: r for r, c in reversed(percent_cells)}
    other = {c - first_col: r for r, c in reversed(other_cells)}
    for c in pct.keys() & other.keys():
        if 0 <= c < len(header):
            raise InputError(f"{where}: column {header[c]!r} mixes %-formatted numbers (row "
                             f"{pct[c]}) and plain numbers (row {other[c]}); format the "
                             "column one way")
    return {header[c] for c in pct if 0 <= c < len(header)}
def _table_names(book: calamine.CalamineWorkbook) -> list[str]:
    try:
        return list(book.table_names)
    except Exception:  # calamine: workbook without table support
        return []


def header_row(accounts: pd.DataFrame | None) -> int:
    """The file row of the accounts' header (their index is the file row number)."""
    if accounts is None or not len(accounts) or not pd.api.types.is_integer_dtype(
            accounts.index):
        return 1
    return max(int(accounts.index.min()) - 1, 1)
