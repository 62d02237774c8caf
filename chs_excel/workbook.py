"""Building scored workbooks (XlsxWriter, chosen on measurement for writing speed).

The builder reads like the workbook it makes, sheet by sheet: `Start here`, `Model`
(the model's Excel Tables), `Accounts`, `Scores` and `Data issues`. Thresholds reach the
conditional formats through defined names (`RedBelow`, `GreenFrom`), so editing the
Model's cells recolours the traffic lights.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell
from xlsxwriter.worksheet import Worksheet

from chs_excel.engine import Scoring
from chs_excel.files import write_atomically
from chs_excel.model import Model
from chs_excel.styles import COLUMN_KINDS, FORMATS

SHEET_ORDER = ("Start here", "Model", "Accounts", "Scores", "Data issues")
TABLE_STYLE = "Table Style Light 9"
# Where each Model table starts (row 3, side by side so every table can grow downwards).
MODEL_TABLE_ORDER = ("Settings", "Components", "Metrics", "Levels", "Rules", "Segments",
                     "RenewalProbability")
DEFINED_NAMES = {"red_below": "RedBelow", "green_from": "GreenFrom",
                 "min_coverage": "MinCoverage", "scale": "Scale"}
Progress = Callable[[int], None]


def write_scored_workbook(path: str | Path, model: Model, accounts: pd.DataFrame,
                          scoring: Scoring, *, progress: Progress | None = None) -> None:
    """Write the scored workbook to `path` atomically (no partial file on failure)."""
    def build(tmp: Path) -> None:
        book = WorkbookBuilder(tmp, model)
        book.start_here(len(scoring.scores), scoring.summary)
        book.model_sheet()
        book.table_sheet("Accounts", "Accounts", accounts, progress=progress)
        book.scores_sheet(scoring.scores, progress=progress)
        if len(scoring.issues):
            book.table_sheet("Data issues", "DataIssues", scoring.issues)
        book.close()
    write_atomically(Path(path), build)


class WorkbookBuilder:
    """One XlsxWriter workbook with the project's named formats and Model tables."""

    def __init__(self, path: Path, model: Model) -> None:
        self.model = model
        self.book = xlsxwriter.Workbook(str(path), {
            "constant_memory": True, "strings_to_formulas": False,
            "strings_to_urls": False, "strings_to_numbers": False, "nan_inf_to_errors": False,
            "default_date_format": "yyyy-mm-dd"})
        self.fmt = {name: self.book.add_format(props) for name, props in FORMATS.items()}
        self.sheets: dict[str, Worksheet] = {}
        self.model_cells: dict[str, str] = {}

    def sheet(self, name: str) -> Worksheet:
        """The worksheet `name`, created on first use."""
        if name not in self.sheets:
            self.sheets[name] = self.book.add_worksheet(name)
        return self.sheets[name]

    def close(self) -> None:
        """Finish the file (XlsxWriter writes it on close)."""
        self.book.close()

    # ------------------------------------------------------------ Start here

    def start_here(self, accounts: int, summary: dict[str, int]) -> None:
        """A plain-words page: what the workbook holds and what to do next."""
        ws = self.sheet("Start here")
        ws.set_column(0, 0, 100)
        lines = [
            ("title", f"Customer health scorecard — {self.model.name}"),
            ("text", f"{accounts:,} accounts scored on "
                     f"{dt.date.today().isoformat()} with model version {self.model.version}."),
            ("text", "  ".join(f"{k}: {v:,}" for k, v in summary.items() if k != "accounts")),
            ("subtitle", "What is where"),
            ("text", "Model — the scorecard: components and their weights, metrics and how "
                     "each raw value becomes 0–100 points, critical rules that cap health, "
                     "band limits and renewal probabilities. Cream cells are yours to edit."),
            ("text", "Accounts — the data that was scored, as it was read."),
            ("text", "Scores — one row per account: each component's score, Health (0–100), "
                     "Band (Red / Yellow / Green), Quartile (1 = top 25%), Coverage (share of "
                     "the scorecard that had data), Capped by (critical rules that held "
                     "health down), Weakest component and the points it puts at stake."),
            ("text", "Data issues — cells that could not be used (text where a number was "
                     "expected, unknown categories, expired overrides): fix them at the source."),
            ("subtitle", "How to read a score"),
            ("text", f"Red: health below {self.model.red_below:g}. Yellow: from "
                     f"{self.model.red_below:g} to below {self.model.green_from:g}. "
                     f"Green: {self.model.green_from:g} or more. A critical rule (for "
                     "example a detractor survey) caps health whatever the other signals say."),
            ("text", "Low coverage (below "
                     f"{self.model.min_coverage:.0%}) means the score rests on little data."),
        ]
        for row, (style, text) in enumerate(lines):
            ws.write_string(row, 0, text, self.fmt[style])

    # ------------------------------------------------------------ Model

    def model_sheet(self) -> None:
        """The model's Tables side by side; the Settings cells get defined names."""
        ws = self.sheet("Model")
        ws.write_string(0, 0, f"Scorecard model — {self.model.name}", self.fmt["title"])
        ws.write_string(1, 0, "Cream cells are inputs: edit weights, limits and "
                              "probabilities here.", self.fmt["note"])
        col = 0
        for name in MODEL_TABLE_ORDER:
            frame = self.model.to_frame()[name]
            self._model_table(ws, name, frame, 3, col)
            col += len(frame.columns) + 1
        for setting, defined in DEFINED_NAMES.items():
            self.book.define_name(defined, f"=Model!{self.model_cells[setting]}")

    def _model_table(self, ws: Worksheet, name: str, frame: pd.DataFrame, row: int,
                     col: int) -> None:
        ws.write_string(row - 1, col, name, self.fmt["subtitle"])
        add_table(ws, name, [str(c) for c in frame.columns], row, col, len(frame))
        for r, values in enumerate(_rows(frame), start=row + 1):
            for c, value in enumerate(values):
                _write(ws, r, col + c, value, self.fmt["input"])
            if name == "Settings":
                self.model_cells[str(values[0])] = xl_rowcol_to_cell(r, col + 1, True, True)
        for c, header in enumerate(frame.columns):
            ws.set_column(col + c, col + c, max(10, len(str(header)) + 2))

    # ------------------------------------------------------------ data tables

    def table_sheet(self, sheet: str, table: str, frame: pd.DataFrame, *,
                    formats: dict[str, str] | None = None,
                    progress: Progress | None = None) -> Worksheet:
        """`frame` as an Excel Table filling `sheet` from A1 (text stays text)."""
        ws = self.sheet(sheet)
        headers = [str(c) for c in frame.columns]
        add_table(ws, table, headers, 0, 0, len(frame))
        ws.freeze_panes(1, 1)
        cell_formats = [self.fmt.get((formats or {}).get(h, "")) for h in headers]
        writers = [_column_writer(ws, frame[c]) for c in frame.columns]
        _write_rows(_rows(frame), writers, cell_formats, progress)
        for c, header in enumerate(headers):
            ws.set_column(c, c, min(40, max(10, len(header) + 2)))
        return ws

    def scores_sheet(self, scores: pd.DataFrame, *, progress: Progress | None = None) -> None:
        """The Scores table with number formats and traffic-light conditional formats."""
        components = list(self.model.components)
        kinds = {c: COLUMN_KINDS.get(c, "plain") for c in scores.columns}
        kinds.update({c: "score" for c in components})
        kinds.update({c: "score" for c in scores.columns if c.endswith("_score")})
        ws = self.table_sheet("Scores", "Scores", scores, formats=kinds, progress=progress)
        last = max(len(scores), 1)
        col = {c: i for i, c in enumerate(scores.columns)}
        self.traffic_lights(ws, 1, last, col["health"], col["band"])
        for name in components:
            self.colour_scale(ws, 1, last, col[name])
        self.quartile_colours(ws, 1, last, col["quartile"])
        ws.freeze_panes(1, 2)

    # ------------------------------------------------------------ conditional formats

    def traffic_lights(self, ws: Worksheet, first: int, last: int, health: int,
                       band: int) -> None:
        """Health filled by the Model's thresholds (defined names), icons, Band by text."""
        rng = _span(first, last, health)
        top = xl_rowcol_to_cell(first, health)
        for criteria, fmt in (("red", f"AND(ISNUMBER({top}),{top}<RedBelow)"),
                              ("green", f"AND(ISNUMBER({top}),{top}>=GreenFrom)"),
                              ("yellow", f"AND(ISNUMBER({top}),{top}>=RedBelow,"
                                         f"{top}<GreenFrom)")):
            ws.conditional_format(rng, {"type": "formula", "criteria": "=" + fmt,
                                        "format": self.fmt[criteria]})
        ws.conditional_format(rng, {
            "type": "icon_set", "icon_style": "3_traffic_lights",
            "icons": [{"criteria": ">=", "type": "formula", "value": "GreenFrom"},
                      {"criteria": ">=", "type": "formula", "value": "RedBelow"}]})
        brng = _span(first, last, band)
        for text, fmt in (("Red", "red"), ("Yellow", "yellow"), ("Green", "green"),
                          ("No data", "nodata")):
            ws.conditional_format(brng, {"type": "cell", "criteria": "==",
                                         "value": f'"{text}"', "format": self.fmt[fmt]})

    def colour_scale(self, ws: Worksheet, first: int, last: int, col: int) -> None:
        """Red-yellow-green scale over 0..scale for a component score column."""
        ws.conditional_format(_span(first, last, col), {
            "type": "3_color_scale", "min_type": "num", "min_value": 0,
            "mid_type": "num", "mid_value": self.model.scale / 2, "max_type": "num",
            "max_value": self.model.scale, "min_color": "#F8696B", "mid_color": "#FFEB84",
            "max_color": "#63BE7B"})

    def quartile_colours(self, ws: Worksheet, first: int, last: int, col: int) -> None:
        """Each quartile segment its own fill: top and bottom stand out."""
        for q in (1, 2, 3, 4):
            ws.conditional_format(_span(first, last, col), {
                "type": "cell", "criteria": "==", "value": q, "format": self.fmt[f"quartile{q}"]})


def _span(first: int, last: int, col: int) -> str:
    letter = xl_col_to_name(col)
    return f"{letter}{first + 1}:{letter}{last + 1}"


def _rows(frame: pd.DataFrame) -> Iterable[tuple[Any, ...]]:
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


def _write(ws: Worksheet, row: int, col: int, value: Any, fmt: Any = None) -> None:
    """One cell, typed: text is always written as text (never as a formula)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        if fmt is not None:
            ws.write_blank(row, col, None, fmt)
    elif isinstance(value, (bool, np.bool_)):
        ws.write_boolean(row, col, bool(value), fmt)
    elif isinstance(value, (int, float, np.number)):
        ws.write_number(row, col, float(value), fmt)
    elif isinstance(value, (dt.datetime, dt.date)):
        ws.write_datetime(row, col, value, fmt)
    else:
        ws.write_string(row, col, str(value), fmt)


def _column_writer(ws: Worksheet, series: pd.Series) -> Callable[..., Any]:
    """The cell writer for a column: typed for uniform columns, checked per cell otherwise."""
    if pd.api.types.is_bool_dtype(series):
        return ws.write_boolean
    if pd.api.types.is_numeric_dtype(series):
        return ws.write_number
    if pd.api.types.is_datetime64_any_dtype(series):
        return ws.write_datetime
    return partial(_write, ws)


def _write_rows(rows: Iterable[tuple[Any, ...]], writers: list[Callable[..., Any]],
                formats: list[Any], progress: Progress | None) -> None:
    """Write data rows under a header row (blanks skipped); progress every 5,000 rows."""
    columns = range(len(writers))
    for r, values in enumerate(rows, start=1):
        for c in columns:
            value = values[c]
            if value is not None:
                writers[c](r, c, value, formats[c])
        if progress is not None and r % 5000 == 0:
            progress(5000)


def add_table(ws: Worksheet, name: str, headers: list[str], row: int, col: int,
              rows: int) -> None:
    """An Excel Table over `rows` data rows (at least one) under its header at (row, col).

    XlsxWriter refuses tables in constant-memory mode only because it cannot write a
    table's data for you; the table itself is metadata, so it is added with streaming
    switched off for the call and the header cells rewritten as streamed text.
    """
    streaming = ws.constant_memory
    ws.constant_memory = False
    ws.add_table(row, col, row + max(rows, 1), col + len(headers) - 1, {
        "name": name, "style": TABLE_STYLE, "columns": [{"header": h} for h in headers]})
    ws.constant_memory = streaming
    for c, header in enumerate(headers):
        ws.write_string(row, col + c, header)
