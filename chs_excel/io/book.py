"""The workbook a macro acts on: read a Table, write the sheets the macro owns, say what is
happening. One small interface, two implementations:

- `FileBook`: an .xlsx/.xlsm file (tests, the command line, `chs addin`). Tables are read
  with calamine (the values Excel last showed, formulas included); written sheets are
  spliced into the package by `chs_excel.xlsx.package`, every other part kept byte for byte.
- `XlwingsBook`: the workbook open in Excel (`xw.Book.caller()`); deliberately thin.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import python_calamine as calamine

from chs_excel.core.errors import InputError
from chs_excel.core.vocabulary import display_header
from chs_excel.io.ranges import Grid, frame_grid
from chs_excel.io.safe_text import formula_safe
from chs_excel.xlsx.package import Block, Package, Rule, Sheet
from chs_excel.xlsx.styles import FORMATS
from chs_excel.xlsx.writer import column_kind


@dataclass(frozen=True)
class TableRange:
    """A Table's cells as Excel hands them over (header row first) and where it sits."""

    sheet: str
    first_row: int          # the sheet row of the header
    grid: Grid


INPUT_TABLES = ("Accounts",)   # Tables whose headers are the user's own, shown as typed


def report_formats(frame: pd.DataFrame) -> dict[str, str]:
    """Number format codes of a values table's columns (money #,##0, dates, shares), by the
    same column rules as the report workbooks."""
    codes = {c: FORMATS.get(column_kind(c, frame[c]) or "", {}).get("num_format")
             for c in frame.columns}
    dates = {c: FORMATS["date"]["num_format"] for c in frame.columns
             if frame[c].map(lambda v: isinstance(v, dt.date)).any()}
    return {str(c): str(code) for c, code in {**codes, **dates}.items() if code}


def report_widths(sections: list[tuple[str, pd.DataFrame]]) -> dict[int, float]:
    """Column widths (1-based) fitting each column's longest header or text, 12 to 40."""
    widths: dict[int, float] = {}
    for _, frame in sections:
        for j, column in enumerate(frame.columns, start=1):
            text = frame[column].astype("string").str.len().max() \
                if not pd.api.types.is_numeric_dtype(frame[column]) and len(frame) else 0
            longest = max(len(str(column)), int(text) if pd.notna(text) else 0)
            widths[j] = max(widths.get(j, 12.0), float(min(40, longest + 2)))
    return widths


class Book(Protocol):
    """What the macros need from a workbook."""

    def sheet_names(self) -> list[str]:
        """Sheet names in tab order."""

    def table_names(self) -> list[str]:
        """Names of the workbook's Excel Tables."""

    def table(self, name: str) -> TableRange:
        """The Table `name` with its header row (InputError when there is none)."""

    def table_headers(self, name: str) -> list[str] | None:
        """The header of Table `name`, or None when the workbook has no such Table."""

    def table_sheet(self, name: str) -> str | None:
        """The sheet holding Table `name`, or None when the workbook has no such Table."""

    def defined_names(self) -> set[str]:
        """Workbook-level defined names (RedBelow, GreenFrom, ...)."""

    def write_table(self, sheet: str, name: str, frame: pd.DataFrame, *,
                    formats: dict[str, str] | None = None, rules: list[Rule] | None = None,
                    freeze: tuple[int, int] = (1, 1), after: str | None = None) -> None:
        """Make `sheet` hold exactly the Table `name` with `frame` (number formats by
        column, conditional formats), creating the sheet after `after` if needed. A Table
        `name` already on `sheet` is rewritten where it stands: rows above it are kept."""

    def write_report(self, sheet: str, sections: list[tuple[str, pd.DataFrame]], *,
                     after: str | None = None) -> None:
        """Make `sheet` hold titled tables of values, one under the other."""

    def status(self, message: str) -> None:
        """Tell the user what is happening (Excel's status bar)."""

    def alert(self, message: str) -> None:
        """Tell the user something went wrong and what to do."""

    def saved_path(self) -> Path:
        """The workbook's file, as saved (InputError when it has unsaved changes)."""

    def open(self, path: Path) -> None:
        """Show the workbook at `path` to the user."""


@dataclass
class FileBook:
    """An .xlsx/.xlsm file: Tables read with calamine, owned sheets spliced in on `save`."""

    path: Path
    messages: list[str] = field(default_factory=list)
    on_status: Callable[[str], None] | None = None   # also shown there (Excel's status bar)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.exists():
            raise InputError(f"{self.path}: file not found")
        self.package = Package(self.path)
        self._written: dict[str, TableRange] = {}
        self._calamine: calamine.CalamineWorkbook | None = None

    def sheet_names(self) -> list[str]:
        """Sheet names in tab order."""
        return self.package.sheet_names()

    def table_names(self) -> list[str]:
        """Names of the workbook's Excel Tables."""
        return list(self.package.tables())

    def defined_names(self) -> set[str]:
        """Workbook-level defined names."""
        return set(self.package.defined_names())

    def table_headers(self, name: str) -> list[str] | None:
        """The header of Table `name` (from the table part), or None."""
        if name in self._written:
            return [str(h) for h in self._written[name].grid[0]]
        info = self.package.tables().get(name)
        if info is None:
            return None
        return re.findall(r'<tableColumn\b[^>]*?\sname="([^"]*)"',
                          self.package.text(info.part))

    def table_sheet(self, name: str) -> str | None:
        """The sheet holding Table `name`, or None."""
        info = self.package.tables().get(name)
        return None if info is None else info.sheet

    def table(self, name: str) -> TableRange:
        """The Table's cells (cached values), header first; InputError when absent."""
        if name in self._written:
            return self._written[name]
        info = self.package.tables().get(name)
        if info is None:
            raise InputError(f"{self.path}: no Excel Table named {name!r} (tables: "
                             f"{', '.join(sorted(self.package.tables())) or 'none'})")
        first_row = int(re.match(r"\$?[A-Z]+\$?(\d+)", info.ref).group(1))
        sheet_part = next(s["part"] for s in self.package.sheets() if s["name"] == info.sheet)
        if b't="e"' in self.package.parts[sheet_part]:
            return TableRange(info.sheet, first_row, self._with_errors(info))
        try:
            if self._calamine is None:
                self._calamine = calamine.CalamineWorkbook.from_path(str(self.path),
                                                                     load_tables=True)
            found = self._calamine.get_table_by_name(name)
            grid = [list(found.columns), *found.to_python()]
        except Exception:  # calamine cannot read this file's tables: read them with openpyxl
            grid = self._with_errors(info)
        return TableRange(info.sheet, first_row, grid)

    def _with_errors(self, info: Any) -> Grid:
        """A Table's cached values read with openpyxl, which keeps error cells ('#N/A')."""
        import openpyxl
        from openpyxl.utils.cell import range_boundaries

        book = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        try:
            min_col, min_row, max_col, max_row = range_boundaries(info.ref)
            return [list(row) for row in book[info.sheet].iter_rows(
                min_row=min_row, max_row=max_row, min_col=min_col, max_col=max_col,
                values_only=True)]
        finally:
            book.close()

    def write_table(self, sheet: str, name: str, frame: pd.DataFrame, *,
                    formats: dict[str, str] | None = None, rules: list[Rule] | None = None,
                    freeze: tuple[int, int] = (1, 1), after: str | None = None) -> None:
        """Replace (or add) `sheet` so that it holds the Table `name` from column A, at the
        row where the sheet has it already (rows above it are kept), else from A1."""
        widths = {c: min(40.0, max(10.0, len(str(h)) + 2.0))
                  for c, h in enumerate(frame.columns, start=1)}
        info = self.package.tables().get(name)
        top = int(re.match(r"\$?[A-Z]+\$?(\d+)", info.ref).group(1)) \
            if info is not None and info.sheet == sheet else 1
        if top > 1:
            freeze = (top, freeze[1])  # the header row stays in view
        labels = {} if name in INPUT_TABLES else {str(c): display_header(c)
                                                  for c in frame.columns}
        self.write_sheet(sheet, Sheet(blocks=[Block(frame, row=top, table=name,
                                                    formats=formats or {}, labels=labels)],
                                      rules=rules or [], freeze=freeze, widths=widths,
                                      landscape=True),
                         after=after, keep_above=top)

    def write_sheet(self, sheet: str, content: Sheet, *, after: str | None = None,
                    keep_above: int = 1) -> None:
        """Replace (or add) `sheet` with `content` (rows above `keep_above` kept); its
        Tables read back from memory."""
        self.package.write_sheet(sheet, content, after=after, keep_above=keep_above)
        for block in content.blocks:
            if block.table:
                self._written[block.table] = TableRange(sheet, block.row, frame_grid(block.frame))

    def write_report(self, sheet: str, sections: list[tuple[str, pd.DataFrame]], *,
                     after: str | None = None) -> None:
        """Replace (or add) `sheet` with titled tables of values, one under the other."""
        blocks, cells, row = [], [], 1
        for title, frame in sections:
            cells.append((row, 1, title, None))
            blocks.append(Block(frame.reset_index(drop=True), row=row + 1,
                                formats=report_formats(frame)))
            row += len(frame) + 3
        self.write_sheet(sheet, Sheet(blocks=blocks, cells=cells, landscape=True,
                                      widths=report_widths(sections)), after=after)

    def status(self, message: str) -> None:
        """Keep the message (the command line prints them)."""
        self.messages.append(message)
        if self.on_status is not None:
            self.on_status(message)

    def alert(self, message: str) -> None:
        """Keep the message (the command line prints them)."""
        self.messages.append(message)

    def saved_path(self) -> Path:
        """The file this book was read from."""
        return self.path

    def open(self, path: Path) -> None:
        """Say where the new workbook is (the command line prints it)."""
        self.messages.append(f"Open {path} to see it.")

    def save(self, path: str | Path | None = None) -> None:
        """Write the workbook (to `path`, else over the file it was read from) atomically."""
        self.package.save(Path(path) if path is not None else self.path)


class XlwingsBook:
    """The workbook open in Excel, through xlwings (Windows and macOS)."""

    def __init__(self, book: Any) -> None:
        self.book = book

    def sheet_names(self) -> list[str]:
        """Sheet names in tab order."""
        return [s.name for s in self.book.sheets]

    def _find(self, name: str) -> tuple[Any, Any] | None:
        for sheet in self.book.sheets:
            for table in sheet.tables:
                if table.name == name:
                    return sheet, table
        return None

    def table_names(self) -> list[str]:
        """Names of the workbook's Excel Tables."""
        return [t.name for s in self.book.sheets for t in s.tables]

    def defined_names(self) -> set[str]:
        """Workbook-level defined names."""
        return {n.name for n in self.book.names}

    def table_headers(self, name: str) -> list[str] | None:
        """The header row of Table `name`, or None."""
        found = self._find(name)
        return None if found is None else list(found[1].header_row_range.value)

    def table_sheet(self, name: str) -> str | None:
        """The sheet holding Table `name`, or None."""
        found = self._find(name)
        return None if found is None else found[0].name

    def table(self, name: str) -> TableRange:
        """The Table's values as the UDFs receive ranges (2-D, errors as text)."""
        found = self._find(name)
        if found is None:
            raise InputError(f"{self.book.name}: no Excel Table named {name!r}")
        rng = found[1].range
        return TableRange(found[0].name, rng.row, rng.options(ndim=2, err_to_str=True).value)

    def write_table(self, sheet: str, name: str, frame: pd.DataFrame, *,
                    formats: dict[str, str] | None = None, rules: list[Rule] | None = None,
                    freeze: tuple[int, int] = (1, 1), after: str | None = None) -> None:
        """Fill the Table `name` on `sheet` (resized to the frame); number formats by column.

        Conditional formats are the sheet's own (the template's) and stay as they are.
        """
        names = self.sheet_names()
        if sheet in names:
            ws = self.book.sheets[sheet]
        else:
            anchor = self.book.sheets[after if after in names else names[-1]]
            ws = self.book.sheets.add(sheet, after=anchor)
        shown = formula_safe(frame)
        found = self._find(name)
        if found is not None and found[0].name == sheet:
            found[1].update(shown, index=False)
        else:
            ws.clear()
            ws.tables.add(source=ws["A1"], name=name).update(shown, index=False)
        last = max(len(frame), 1) + 1
        for col, code in (formats or {}).items():
            j = list(frame.columns).index(col) + 1
            ws.range((2, j), (last, j)).number_format = code

    def write_report(self, sheet: str, sections: list[tuple[str, pd.DataFrame]], *,
                     after: str | None = None) -> None:
        """Clear `sheet` (added if missing) and write titled tables, one under the other."""
        names = self.sheet_names()
        if sheet in names:
            ws = self.book.sheets[sheet]
            ws.clear()
        else:
            ws = self.book.sheets.add(sheet, after=self.book.sheets[
                after if after in names else names[-1]])
        row = 1
        for title, frame in sections:
            ws.range((row, 1)).value = title
            ws.range((row + 1, 1)).options(index=False).value = formula_safe(frame)
            for col, code in report_formats(frame).items():
                j = list(frame.columns).index(col) + 1
                ws.range((row + 2, j), (row + 1 + max(len(frame), 1), j)).number_format = code
            row += len(frame) + 3

    def status(self, message: str) -> None:
        """Show the message in Excel's status bar."""
        self.book.app.status_bar = message

    def alert(self, message: str) -> None:
        """A message box: the macro could not finish, and why."""
        self.book.app.alert(message, title="Customer health")

    def saved_path(self) -> Path:
        """The workbook's file; InputError when it was never saved or has unsaved changes."""
        path = Path(self.book.fullname)
        api = self.book.api
        saved = api.Saved if hasattr(api, "Saved") else api.saved.get()  # Windows / macOS
        if not path.is_file() or not saved:
            raise InputError(f"save {self.book.name} first: the rebuild reads the saved file")
        return path

    def open(self, path: Path) -> None:
        """Open the workbook at `path` in the same Excel."""
        self.book.app.books.open(str(path))
