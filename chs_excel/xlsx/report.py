"""Report workbooks (forecast, trend, calibration): titled Excel Tables people can read.

Every report goes through `ReportBook`, so every report looks the same: each sheet
landscape and one page wide when printed; each table an Excel Table whose column names
are the keys (what scripts and tests read) and whose header cells show display words
("ARR at risk (Red)"); a number format on every numeric column; totals in a bold row
*under* the Table, never inside it (sorting or filtering a Table must not move its
total); a clear gap between tables; columns fitted to their content, capped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from chs_excel.core.vocabulary import display_header
from chs_excel.xlsx.styles import WIDTH_CAP
from chs_excel.xlsx.writer import (
    Workbook,
    Worksheet,
    column_kind,
    fitted_width,
    plain_value,
    wrapped_height,
)

GAP = 4            # rows from a table's last used row to the next table's header
TOTAL_LABEL = "Total"


class TableAt:
    """Where a written table sits, so charts can point at its columns and the next
    table can leave a gap (`next_row`)."""

    def __init__(self, sheet: str, first_row: int, columns: list[str], rows: int,
                 end: int | None = None, first_col: int = 0) -> None:
        self.sheet, self.first_row, self.columns = sheet, first_row, columns
        self.first_col = first_col
        self.last_row = first_row + max(rows, 1)     # the Table's last row
        self.end = max(end or 0, self.last_row)      # the last row used (totals, notes)

    @property
    def next_row(self) -> int:
        """The header row for a table below this one (title above it, a gap between)."""
        return self.end + GAP

    @property
    def next_col(self) -> int:
        """The first column right of this table with a one-column gap (for a chart)."""
        return self.first_col + len(self.columns) + 1

    def col(self, name: str) -> int:
        """The 0-based column index of `name`."""
        return self.first_col + self.columns.index(name)

    def column(self, name: str, rows: int, skip: int = 0) -> list[Any]:
        """[sheet, first_row, col, last_row, col] of `rows` data cells of column `name`."""
        c = self.col(name)
        return [self.sheet, self.first_row + 1 + skip, c, self.first_row + skip + rows, c]


class ReportBook:
    """A small workbook of titled Excel Tables, typed, formatted and fitted by column."""

    def __init__(self, path: Path, *, title: str | None = None) -> None:
        self.book = Workbook(path, title=title)
        self.fmt = self.book.fmt
        self.sheets: dict[str, Worksheet] = {}
        self.widths: dict[str, dict[int, float]] = {}

    def sheet(self, name: str, *, hidden: bool = False) -> Worksheet:
        """The worksheet `name`, created on first use: landscape, one page wide."""
        if name not in self.sheets:
            ws = self.book.add_worksheet(name)
            ws.set_landscape()
            ws.set_paper(9)                  # A4; Letter readers get the same fit
            ws.fit_to_pages(1, 0)
            ws.set_margins(0.4, 0.4, 0.5, 0.5)
            if hidden:
                ws.hide()
            self.sheets[name] = ws
            self.widths[name] = {}
        return self.sheets[name]

    def widen(self, sheet: str, col: int, width: float) -> None:
        """Make column `col` of `sheet` at least `width` characters wide (set on close)."""
        widths = self.widths[sheet]
        widths[col] = max(widths.get(col, 0.0), width)

    def heading(self, sheet: str, title: str, lines: Iterable[tuple[str, str]] = (), *,
                span: int = 2, width: float = 100) -> int:
        """A sheet title, then (style, text) lines wrapped across the first `span`
        columns (`width` characters in all) with row heights to fit; returns the next
        free row."""
        ws = self.sheet(sheet)
        ws.write_string(0, 0, title, self.fmt["title"])
        row = 1
        for style, text in lines:
            size = 12 if style == "verdict" else 11
            if span > 1:
                ws.merge_range(row, 0, row, span - 1, text, self.fmt[style])
            else:
                ws.write_string(row, 0, text, self.fmt[style])
            ws.set_row(row, wrapped_height(text, width, font_size=size))
            row += 1
        return row + 1

    def table(self, sheet: str, name: str, frame: pd.DataFrame, *, row: int = 0,
              col: int = 0, title: str | None = None,
              notes: tuple[str, ...] | list[str] = (),
              totals: Mapping[str, Any] | None = None,
              labels: Mapping[str, str] | None = None) -> tuple[Worksheet, TableAt]:
        """Write `frame` as the Excel Table `name`, header on `row` and its title above.

        `totals` (column -> value) is written as a bold row under the Table, outside it;
        `labels` overrides the display words of some columns; `notes` follow below.
        """
        ws = self.sheet(sheet)
        if title:
            ws.write_string(max(row - 1, 0), col, title, self.fmt["subtitle"])
        columns = [str(c) for c in frame.columns]
        kinds = [column_kind(c, frame[c]) for c in frame.columns]
        kinds = [("indent" if c and k is None and kinds[c - 1] not in (None, "indent")
                  else k) for c, k in enumerate(kinds)]  # text set off from a number
        shown = [(labels or {}).get(c, display_header(c)) for c in columns]
        heads = self.book.header_formats(columns, shown, kinds)
        ws.write_frame_table(name, frame, [self.fmt.get(k or "") for k in kinds], row=row,
                             col=col, header_formats=heads)
        at = TableAt(sheet, row, columns, len(frame), first_col=col)
        end = at.last_row
        if totals:
            end += 1
            for c, column in enumerate(columns):
                value = TOTAL_LABEL if c == 0 and column not in totals else \
                    plain_value(totals.get(column))
                kind = kinds[c] if isinstance(value, (int, float)) else None
                style = f"total_{kind}" if f"total_{kind}" in self.fmt else "total"
                ws.write_value(end, col + c, value, self.fmt[style])
                if value is None:
                    ws.write_blank(end, col + c, None, self.fmt["total"])
        for k, note in enumerate(notes):
            ws.write_string(end + 2 + k, col, f"Note: {note}", self.fmt["note"])
        if notes:
            end += 1 + len(notes)
        for c, column in enumerate(columns):
            series = frame[column]
            if totals and column in totals:
                series = pd.concat([series, pd.Series([plain_value(totals[column])])],
                                   ignore_index=True)
            self.widen(sheet, col + c, fitted_width(shown[c], series, kinds[c]))
        at.end = end
        return ws, at

    def format_rows(self, at: TableAt, column: str, values: Iterable[Any],
                    kinds: Iterable[str | None]) -> None:
        """Rewrite a written column a format per row: for a (measure, value) table whose
        values are counts, money and rates at once."""
        ws, c = self.sheets[at.sheet], at.col(column)
        for r, (value, kind) in enumerate(zip(values, kinds, strict=True),
                                          start=at.first_row + 1):
            ws.write_value(r, c, value, self.fmt.get(kind or ""))

    def close(self) -> None:
        """Set the fitted column widths and finish the file (XlsxWriter writes on close)."""
        for sheet, widths in self.widths.items():
            for c, width in widths.items():
                self.sheets[sheet].set_column(c, c, min(width, WIDTH_CAP + 20))
        self.book.close()


def write_cell(ws: Worksheet, row: int, col: int, value: Any, fmt: Any) -> None:
    """A loose value: numbers formatted with `fmt`, anything else plain."""
    value = plain_value(value)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ws.write_value(row, col, value, fmt if number else None)
