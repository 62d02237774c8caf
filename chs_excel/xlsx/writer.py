"""The project's one XlsxWriter wrapper: a `Workbook` whose worksheets stream.

`Workbook` subclasses `xlsxwriter.Workbook` and hands out `Worksheet`s, a subclass of
XlsxWriter's (the documented way: XlsxWriter's `examples/inheritance1.py`). Every book is
opened with `use_zip64` (large books must not fail when the file is closed), text never
turns into a formula, its scratch files go to the process's `scratch_folder` (removed
even after a crash, by the next run), and the named formats of
`chs_excel.xlsx.styles.FORMATS` are made once and looked up by name (`book.fmt["money"]`).

The worksheet adds what the project writes and XlsxWriter has no fast path for:

- `stream_formulas`: columns of formulas from per-row templates, each cell with its cached
  value, written as *shared formulas* (the column's first cell holds the formula and its
  range, the cells below only point at it: what Excel saves for a filled-down column);
- `write_value` / `column_writer` / `write_rows`: typed cells, text always text;
- `add_streamed_table`: an Excel Table in constant-memory mode;
- `write_frame_table`: a DataFrame as a Table, a number format per column;
- `Workbook.header_format`: a header cell that *shows* a display label ("Raw health")
  while it holds the column key (`raw_health`), so Table column names stay the keys;
- `fitted_width` / `wrapped_height`: column widths fitted to content (capped) and row
  heights for wrapped text, so nothing is cut off or overprinted.

It relies on XlsxWriter internals (`_write_cell`, `fh`, `table`, `previous_row`,
`_write_single_row`, `_check_dimensions`, `tables`): pyproject.toml pins the versions it
was tested with.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter
import xlsxwriter.worksheet
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name, xl_range

from chs_excel.core.files import scratch_folder
from chs_excel.core.formulas import ROW
from chs_excel.core.limits import CELL_CHARS, check_table_rows, ooxml_escaped, xml_legal
from chs_excel.core.vocabulary import display_header
from chs_excel.xlsx.serials import to_serial, to_serials
from chs_excel.xlsx.styles import FORMATS, LINE_HEIGHT, WIDTH_CAP, label_format

TABLE_STYLE = "Table Style Light 9"
OPTIONS = {"use_zip64": True, "strings_to_formulas": False, "strings_to_urls": False,
           "strings_to_numbers": False, "nan_inf_to_errors": False,
           "default_date_format": "yyyy-mm-dd"}
Progress = Callable[[int], None]


class RawCell(tuple):
    """A cell whose XML is already made: `Worksheet._write_cell` writes it as it is."""

    __slots__ = ()


class Worksheet(xlsxwriter.worksheet.Worksheet):
    """XlsxWriter's worksheet plus streamed formula columns, typed cells and Tables."""

    def __init__(self) -> None:
        super().__init__()
        self.shared_formulas = 0  # shared-formula groups so far (their `si` numbers)

    def _write_cell(self, row: int, col: int, cell: Any) -> None:
        if type(cell) is RawCell:
            self.fh.write(cell[0])
        else:
            super()._write_cell(row, col, cell)

    # ------------------------------------------------------------ formulas

    def stream_formulas(self, first_row: int, templates: list[str], formats: list[Any],
                        values: list[list[Any]], count: int,
                        progress: Progress | None = None, *, col: int = 0,
                        shared: bool = True) -> None:
        """Write `count` rows of formulas from templates (ROW = the row), with cached values.

        Column c of the block is `templates[c]` with the row number put in; `values[c][i]`
        is row i's cached value ('' = none). With `shared` (and more than one row) each
        column is one shared formula: its first cell stores the formula with `ref` over
        the column's rows, the others `<f t="shared" si="N"/>` only. Excel and LibreOffice
        shift the master's relative references per row, so the templates' row references
        must be relative (`$A§`, never `$A$§`) and every other reference absolute.

        The XML is built here in one string a cell, through XlsxWriter's constant-memory
        row buffer: the public `write_formula` rewrites each formula with ~30 regular
        expressions (about 10 µs a cell); ours are already in the file's form, `_xlfn.`
        prefixes included, and are escaped once. Unshared, it is the XML `write_formula`
        writes (tests/test_workbook.py checks).
        """
        last_col = col + len(templates) - 1
        last_row = first_row + count - 1
        parts = [_escape(t).split(ROW) for t in templates]
        styles = [f' s="{f._get_xf_index()}"' if f is not None else "" for f in formats]
        letters = [xl_col_to_name(col + c) for c in range(len(templates))]
        heads = [f'<c r="{letter}' for letter in letters]
        followers: list[str] = []
        masters: list[str] = []
        for c, letter in enumerate(letters):
            if shared and count > 1:
                si = self.shared_formulas
                self.shared_formulas += 1
                number = str(first_row + 1)
                masters.append(f'<f t="shared" ref="{letter}{number}:{letter}{last_row + 1}"'
                               f' si="{si}">{number.join(parts[c])}</f>')
                followers.append(f'<f t="shared" si="{si}"/>')
        table = self.table
        for i in range(count):
            r = first_row + i
            number = str(r + 1)
            self._check_dimensions(r, col)
            self._check_dimensions(r, last_col)
            if self.constant_memory and r > self.previous_row:
                self._write_single_row(r)
            cells = table[r]
            for c, template in enumerate(parts):
                kind, cached = _formula_value(values[c][i])
                if not followers:
                    formula = f"<f>{number.join(template)}</f>"
                else:
                    formula = masters[c] if i == 0 else followers[c]
                cells[col + c] = RawCell((f'{heads[c]}{number}"{styles[c]}{kind}>'
                                          f"{formula}<v>{cached}</v></c>",))
            if progress is not None and (i + 1) % 5000 == 0:
                progress(5000)

    def shared_row_writer(self, first_row: int, count: int, templates: list[str],
                          formats: list[Any], *, col: int = 0,
                          above: str | None = None) -> Callable[[int], None]:
        """A writer of one row of `count` rows of formula columns, for sheets that write
        other cells of the same rows too (constant memory: rows in order): each column is
        one shared formula as `stream_formulas` writes it (its master in `first_row`),
        without cached values. `above` in a template stands for the row above's number."""
        number = str(first_row + 1)
        texts = [t.replace(above, str(first_row)) if above else t for t in templates]
        parts = [_escape(t).split(ROW) for t in texts]
        styles = [f' s="{f._get_xf_index()}"' if f is not None else "" for f in formats]
        letters = [xl_col_to_name(col + c) for c in range(len(templates))]
        last_col = col + len(templates) - 1
        cells: list[tuple[str, str]] = []   # (master, follower) per column
        for c, letter in enumerate(letters):
            if count > 1:
                si = self.shared_formulas
                self.shared_formulas += 1
                cells.append((f'<f t="shared" ref="{letter}{number}:{letter}'
                              f'{first_row + count}" si="{si}">{number.join(parts[c])}</f>',
                              f'<f t="shared" si="{si}"/>'))
            else:
                cells.append((f"<f>{number.join(parts[c])}</f>",) * 2)

        def write(r: int) -> None:
            self._check_dimensions(r, col)
            self._check_dimensions(r, last_col)
            if self.constant_memory and r > self.previous_row:
                self._write_single_row(r)
            row, at = self.table[r], str(r + 1)
            for c, letter in enumerate(letters):
                formula = cells[c][0 if r == first_row else 1]
                row[col + c] = RawCell((f'<c r="{letter}{at}"{styles[c]}>{formula}'
                                        f"<v></v></c>",))
        return write

    def write_formula_cell(self, row: int, col: int, formula: str, fmt: Any,
                           value: Any) -> None:
        """One formula cell with its cached value (as `stream_formulas` writes it)."""
        self.stream_formulas(row, [formula], [fmt], [[value]], 1, col=col, shared=False)

    # ------------------------------------------------------------ values

    def write_value(self, row: int, col: int, value: Any, fmt: Any = None) -> None:
        """One cell, typed: text is always written as text (never as a formula)."""
        value = plain_value(value)
        if value is None:
            if fmt is not None:
                self.write_blank(row, col, None, fmt)
        elif isinstance(value, bool):
            self.write_boolean(row, col, value, fmt)
        elif isinstance(value, (int, float)):
            self.write_number(row, col, float(value), fmt)
        elif isinstance(value, (dt.datetime, dt.date)):
            self.write_datetime(row, col, value, fmt)
        else:
            self.write_string(row, col, str(value), fmt)

    def column_writer(self, series: pd.Series) -> Callable[..., Any]:
        """The cell writer for a column: typed for uniform columns, checked per cell else."""
        if pd.api.types.is_bool_dtype(series):
            return self.write_boolean
        if pd.api.types.is_numeric_dtype(series):
            return self.write_number
        if pd.api.types.is_datetime64_any_dtype(series):
            return self.write_datetime
        return self.write_value

    def write_rows(self, rows: Iterable[tuple[Any, ...]], writers: list[Callable[..., Any]],
                   formats: list[Any], progress: Progress | None = None, *,
                   first_row: int = 1, first_col: int = 0) -> None:
        """Write rows of values (blanks skipped) from `first_row`; progress every 5,000."""
        columns = range(len(writers))
        for i, values in enumerate(rows, start=1):
            r = first_row + i - 1
            for c in columns:
                value = values[c]
                if value is not None:
                    writers[c](r, first_col + c, value, formats[c])
            if progress is not None and i % 5000 == 0:
                progress(5000)

    # ------------------------------------------------------------ Tables

    def add_streamed_table(self, name: str, headers: list[str], row: int, col: int,
                           rows: int, *, write_headers: bool = True,
                           formats: list[Any] | None = None,
                           header_formats: list[Any] | None = None) -> None:
        """An Excel Table over `rows` data rows (at least one) under its header at (row, col).

        Control characters are dropped from the headers (XML cannot hold them in a name)
        and a line break is stored as `_x000a_`, so each column name equals its header
        cell as Excel reads it.
        XlsxWriter refuses tables in constant-memory mode only because it cannot write a
        table's data for you; the table itself is metadata. So the table is added with
        streaming switched off, over one data row (XlsxWriter's overlap bookkeeping costs
        a dictionary entry per cell: 7 million for 100k accounts), then given its real
        extent. The header cells are written as text, unless the caller writes them in
        row order with the rest of its sheet.
        """
        check_table_rows(row + rows, name)
        headers = [xml_legal(str(h)) for h in headers]
        last_col = col + len(headers) - 1
        streaming = self.constant_memory
        self.constant_memory = False
        columns = [{"header": h} for h in headers]
        for column, fmt in zip(columns, formats or [], strict=False):
            if fmt is not None:
                column["format"] = fmt
        self.add_table(row, col, row + 1, last_col,
                       {"name": name, "style": TABLE_STYLE, "columns": columns})
        self.constant_memory = streaming
        table = self.tables[-1]
        for column in table["columns"]:  # what XML and Excel need of a column name
            column["name"] = ooxml_escaped(str(column["name"]), line_breaks=True)
        table["range"] = table["a_range"] = table["autofilter"] = xl_range(
            row, col, row + max(rows, 1), last_col)
        if write_headers:
            heads = header_formats or [None] * len(headers)
            for c, header in enumerate(headers):
                self.write_string(row, col + c, header, heads[c])

    def write_frame_table(self, name: str, frame: pd.DataFrame, formats: list[Any], *,
                          row: int = 0, col: int = 0,
                          header_formats: list[Any] | None = None) -> None:
        """`frame` as the Excel Table `name` (header on `row`), a format per column."""
        headers = [str(c) for c in frame.columns]
        if not headers:
            headers, frame = ["Column1"], pd.DataFrame({"Column1": []})
            formats, header_formats = [None], None
        self.add_streamed_table(name, headers, row, col, len(frame), formats=formats,
                                header_formats=header_formats)
        writers = [self.column_writer(frame[c]) for c in frame.columns]
        self.write_rows(frame_rows(frame), writers, formats, first_row=row + 1,
                        first_col=col)


class Workbook(xlsxwriter.Workbook):
    """An XlsxWriter workbook of streaming `Worksheet`s with the project's named formats."""

    def __init__(self, path: str | Path, *, constant_memory: bool = False,
                 title: str | None = None) -> None:
        super().__init__(str(path), {**OPTIONS, "constant_memory": constant_memory,
                                     "tmpdir": str(scratch_folder())})
        if title:
            self.set_properties({"title": title})
        self.fmt: dict[str, Format] = {name: self.add_format(props)
                                       for name, props in FORMATS.items()}
        self._headers: dict[tuple[str, str | None], Format] = {}

    def header_format(self, key: Any, label: str | None = None,
                      base: str | None = None) -> Format:
        """A header cell format showing `label` (default: `display_header(key)`).

        The cell keeps the key as its value (a Table's column name must equal its header
        cell); the label is the number format's text section (`;;;"Raw health"`), which
        Excel and LibreOffice display instead of the text. `base` names a FORMATS entry
        to start from (default `header_cell`: bold, top-aligned).
        """
        label = display_header(key) if label is None else label
        cache = (label if label != str(key) else "", base)
        if cache not in self._headers:
            props = dict(FORMATS[base or "header_cell"])
            code = label_format(label) if label != str(key) else None
            if code:
                props["num_format"] = code
            self._headers[cache] = self.add_format(props)
        return self._headers[cache]

    def header_formats(self, keys: Iterable[Any], labels: Iterable[str] | None = None,
                       kinds: Iterable[str | None] | None = None) -> list[Format]:
        """`header_format` for each key (labels: the display words, default from keys);
        headers of numeric columns (a number `kind`) are right-aligned over their numbers."""
        keys = list(keys)
        shown = list(labels) if labels is not None else [display_header(k) for k in keys]
        bases = [HEADER_BASES.get(k, "header_number" if k in _SHOWN else "header_cell")
                 for k in (kinds if kinds is not None else [None] * len(keys))]
        return [self.header_format(k, label, base)
                for k, label, base in zip(keys, shown, bases, strict=True)]

    def add_worksheet(self, name: str | None = None,
                      worksheet_class: Any = None) -> Worksheet:
        """A new `Worksheet` (XlsxWriter's documented subclassing hook)."""
        return super().add_worksheet(name, worksheet_class or Worksheet)


# ---------------------------------------------------------------- values

def plain_value(value: Any) -> Any:
    """A cell value as plain Python: None for every kind of blank, numpy unboxed."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def cached_value(value: Any) -> Any:
    """A formula's cached value as the file stores it ('' = none: the reader computes)."""
    value = plain_value(value)
    if value is None:
        return ""
    if isinstance(value, (dt.datetime, dt.date)):
        return to_serial(value)
    return value


def cached_column(series: pd.Series | None, rows: int) -> list[Any]:
    """A column's values as formula caches (dates as serials), padded with '' to `rows`."""
    if series is None:
        return [""] * rows
    s = series
    if pd.api.types.is_datetime64_any_dtype(s):
        values = pd.Series(to_serials(s.to_numpy()), index=s.index).astype(object)
    elif pd.api.types.is_bool_dtype(s):
        values = s.astype(object)
    elif pd.api.types.is_numeric_dtype(s):
        values = s.astype("float64").astype(object)
    else:
        values = s.astype(object)
    out = values.where(s.notna(), "").tolist()
    if not pd.api.types.is_bool_dtype(s) and pd.api.types.is_numeric_dtype(s):
        out = [v if v == "" or math.isfinite(v) else "" for v in out]
    elif values.dtype == object:
        out = [cached_value(v) if not isinstance(v, str) else v for v in out]
    return out + [""] * (rows - len(out))


def frame_rows(frame: pd.DataFrame) -> Iterable[tuple[Any, ...]]:
    """Rows of Python values ready for a cell writer: None for every kind of blank."""
    columns = []
    for col in frame.columns:
        series = frame[col]
        if pd.api.types.is_datetime64_any_dtype(series):
            values = series.astype(object).where(series.notna(), None)
        elif pd.api.types.is_float_dtype(series):
            values = series.astype(object).where(np.isfinite(series.to_numpy()), None)
        else:
            values = series.astype(object).where(series.notna(), None)
        columns.append(values.tolist())
    return zip(*columns, strict=True)


def column_kind(name: Any, series: pd.Series) -> str | None:
    """The named number format of a report column, from its name and type: every
    numeric column gets one (None only for text and TRUE/FALSE columns)."""
    key = str(name).lower().replace(" ", "_")
    if pd.api.types.is_datetime64_any_dtype(series) or key in ("date", "period_start",
                                                                "period_end", "starts",
                                                                "ends"):
        return "date"
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return None
    if "auc" in key or key == "psi":
        return "decimal3"
    if pd.api.types.is_integer_dtype(series) and "arr" not in key:
        return "count"
    if any(w in key for w in ("rate", "share", "probability", "ci_", "predicted", "actual",
                              "difference")):
        return "pct"
    if "arr" in key or "case" in key or key.startswith("likely_"):
        return "money"
    if key in ("accounts", "rows", "renewed", "churned", "green", "yellow", "red", "no_data",
               "total") or key.endswith("rows") or key.endswith("accounts") \
            or pd.api.types.is_integer_dtype(series):
        return "count"
    return "score"


# The header cell format over each display kind (numbers: right-aligned, like them).
HEADER_BASES = {None: "header_cell", "date": "header_number", "int": "header_center",
                "flag": "header_center", "indent": "header_indent",
                "plain_indent": "header_indent"}
# Characters a number takes when shown in each display kind (see styles.FORMATS).
_SHOWN = {"money": "{:,.0f}", "count": "{:,.0f}", "score": "{:.1f}", "pct": "{:.0%}",
          "decimal3": "{:.3f}", "int": "{:.0f}"}


def content_width(series: pd.Series | None, kind: str | None = None) -> int:
    """Characters the longest cell of `series` shows in display kind `kind`."""
    if series is None or series.empty:
        return 0
    if kind == "date" or pd.api.types.is_datetime64_any_dtype(series):
        return 10
    if pd.api.types.is_bool_dtype(series):
        return 5
    if pd.api.types.is_numeric_dtype(series):
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if not len(values):
            return 0
        shown = _SHOWN.get(kind or "", "{:.10g}")
        return max(len(shown.format(v)) for v in (values.min(), values.max()))
    text = series.dropna().astype(str)
    return int(text.str.len().max()) if len(text) else 0


def fitted_width(label: str, series: pd.Series | None = None, kind: str | None = None, *,
                 cap: float = WIDTH_CAP, minimum: float = 6, table: bool = True) -> float:
    """A column width (characters) that shows the header and the longest cell, capped.

    Header text is bold (a tenth wider) and a Table header carries a filter button."""
    header = len(label) * 1.1 + (4 if table else 2)
    return float(min(cap, max(minimum, header, content_width(series, kind) + 2)))


def wrapped_height(text: str, width: float, *, font_size: float = 11) -> float:
    """The row height (points) that shows `text` wrapped in a column `width` wide.

    Counted conservatively (prose averages about 1.2 characters per width unit in
    Calibri/Carlito 11; 1.1 is assumed, words are not split), so text never overprints
    the row below: LibreOffice and Excel do not grow rows in files they did not lay out."""
    per_line = max(int(width * 1.1 * 11 / font_size) - 1, 1)
    lines = 0
    for paragraph in str(text).split("\n"):
        length, count = 0, 1
        for word in paragraph.split():
            if length and length + 1 + len(word) > per_line:
                count, length = count + 1, 0
            length += (1 if length else 0) + len(word)
            while length > per_line:
                count, length = count + 1, length - per_line
        lines += count
    return round(lines * LINE_HEIGHT * font_size / 11 + 3, 1)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _formula_value(value: Any) -> tuple[str, str]:
    """(type attribute, cached value text) of a formula cell, as XlsxWriter writes them."""
    if isinstance(value, (bool, np.bool_)):
        return ' t="b"', "1" if value else "0"
    if isinstance(value, str):
        return ("", "") if value == "" else (' t="str"',
                                             _escape(ooxml_escaped(value[:CELL_CHARS])))
    return "", str(float(value)) if isinstance(value, np.floating) else str(value)

