"""Building the live scorecard workbook (XlsxWriter, chosen on measurement for speed).

One builder serves `chs template`, `chs score -o X.xlsx` and `chs demo`. It reads like the
workbook it makes, sheet by sheet: `Start here`, `Model` (the model's Excel Tables),
`Accounts`, `Scores` (native formulas from `chs_excel.core.formulas`, with the engine's values
cached in each cell), `Dashboard`, `Forecast`, `History`, `Data issues` (when there are
any) and the hidden `Calc` helper sheet. Thresholds reach the conditional formats through
defined names (`RedBelow`, `GreenFrom`), so editing the Model's cells recolours the
traffic lights. `read_workbook` reads a built workbook back for `chs template --from`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from chs_excel.core.engine import Scoring, previous_snapshot, score, typed_as_read
from chs_excel.core.errors import ChsError
from chs_excel.core.files import write_atomically
from chs_excel.core.formulas import Grid, ScoresPlan, template_columns, text_literal
from chs_excel.core.limits import VALIDATION_LIST_CHARS, check_table_rows
from chs_excel.core.methods import METHODS as METHOD_CLASSES
from chs_excel.core.model import (
    METHODS,
    MODEL_TABLES,
    Model,
    default_model,
    renewal_in_force,
)
from chs_excel.core.parents import parent_rollup
from chs_excel.core.path import path_to_green
from chs_excel.core.playbooks import CONDITION_TESTS
from chs_excel.core.vocabulary import (
    BANDS,
    HISTORY_COLUMNS,
    NO_DATA,
    OPERATORS,
    QUARTILE_ROWS,
    SHEET_ORDER,
    display_header,
    header_key,
)
from chs_excel.io.accounts import header_row, read_accounts
from chs_excel.sheets.account import PATH_ROWS, account_sheet, paths_frame, selected_id
from chs_excel.sheets.actions import (
    actions_sheet,
    printed_rows,
    status_sheet,
    this_week_sheet,
)
from chs_excel.sheets.dashboard import (
    FULL_COVERAGE,
    NO_OWNER,
    TOP_RED,
    segment_column,
    top_red_columns,
)
from chs_excel.sheets.forecast import forecast_sheet
from chs_excel.sheets.parents import (
    WEAKEST,
    WEAKEST_BAND,
    WEAKEST_HEALTH,
    parents_sheet,
    weakest_parents_block,
)
from chs_excel.sheets.signals import SIGNAL_TABLES, formula_kind, formula_writer, live_signals
from chs_excel.sheets.traffic_lights import BAND_FORMATS, DEFINED_NAMES, health_rules
from chs_excel.xlsx.styles import BAND_COLOURS, SCALE_COLOURS
from chs_excel.xlsx.writer import (
    Workbook,
    Worksheet,
    cached_column,
    cached_value,
    fitted_width,
    frame_rows,
    wrapped_height,
)

SOURCES_TEXT = (
    "Sources ({names}) — your raw exports, one sheet each (an Excel Table named as the "
    "source, your headers). The Accounts columns named like the Model's Signals are "
    "formulas over them: do not type over them. To update, paste next month's export over "
    "the Table from A2 with the same headers, fill the grey helper columns down to the last "
    "row, sort the Table by its grey _key column, A to Z (Data > Sort: each account's rows "
    "must be together; the 'sorted by _key' cell right of the Table then says TRUE and "
    "lookups stay fast), and recalculate: every signal, score, band and action follows. "
    "Edit a window (Model, Signals) or a filter value (SignalFilters) and the signals "
    "recalculate. A source too "
    "large for a sheet (over 1,048,575 rows) cannot be pasted: paste daily totals per "
    "account instead, or use chs score, which reads any size.")
TEMPLATE_ROWS = 2000
# The Model tables, side by side from row 4 (titles in row 3) so each can grow downwards.
MODEL_HEADER_ROW = 3  # 0-based: Excel row 4
DASHBOARD_SLOTS = 12  # owner / segment rows listed on a workbook without data
START_WIDTH = 110     # Start here's text column (characters)
SCORES_WIDTH_CAP = 32   # Scores columns fitted to their content up to this width
# Dashboard: column widths A.., charts from column G, a tenth of the scale per histogram bar
DASHBOARD_WIDTHS = (30, 18, 13, 13, 21, 13, 15, 20, 24, 9)
DASHBOARD_CHART_COL = 6
CHART_WIDTH, CHART_HEIGHT = 440, 240
HEALTH_BINS = 10
HEADER_KIND = "header:"  # a Grid cell kind "header:KEY": KEY shown as its display words
Progress = Callable[[int], None]
Cached = dict[str, dict[tuple[int, int], Any]]


def write_scored_workbook(path: str | Path, model: Model, accounts: pd.DataFrame,
                          scoring: Scoring, *, progress: Progress | None = None,
                          as_of: dt.date | None = None,
                          history: pd.DataFrame | None = None,
                          sources: dict[str, pd.DataFrame] | None = None,
                          statuses: pd.DataFrame | None = None) -> None:
    """Write the live scored workbook to `path` atomically (no partial file on failure).

    `as_of` is the day the engine checked overrides against: the workbook keeps it
    (None: the workbook uses TODAY(), as the engine's default does). `history` (snapshot
    rows) fills its History Table, which the playbooks' change conditions read. `sources`
    (the model's raw exports as `io.sources.load_sources` reads them) become source sheets
    and the Accounts signal columns formulas over them (docs/signals-workbook.md).
    """
    build_workbook(path, model, accounts, scoring=scoring, progress=progress, as_of=as_of,
                   history=history, sources=sources, statuses=statuses)


def write_template(path: str | Path, model: Model, accounts: pd.DataFrame | None = None, *,
                   rows: int = TEMPLATE_ROWS, as_of: dt.date | None = None,
                   history: pd.DataFrame | None = None,
                   history_weights: pd.DataFrame | None = None,
                   cached: Cached | None = None,
                   sources: dict[str, pd.DataFrame] | None = None,
                   statuses: pd.DataFrame | None = None) -> Scoring | None:
    """Write the template: formulas over at least `rows` rows, scored `accounts` if given.

    Template Accounts get every column the model reads (blank where the data has none),
    so overrides and rule inputs can be typed in later. With `sources` the signals are
    computed first (the reference engine) and written live. Returns the engine's scoring.
    """
    if sources and accounts is not None and model.signals:
        from chs_excel.core.signal_engine import compute_signals
        day = as_of or dt.date.today()
        accounts = pd.concat([accounts, compute_signals(model, accounts, sources,
                                                        day).values], axis=1)
    previous = previous_snapshot(history, as_of or dt.date.today())
    scoring = score(model, accounts, as_of=as_of, previous=previous, statuses=statuses) \
        if accounts is not None else None
    if accounts is not None:
        missing = [c for c in template_columns(model)
                   if header_key(c) not in {header_key(h) for h in accounts.columns}]
        accounts = accounts.assign(**{c: None for c in missing})
    build_workbook(path, model, accounts, scoring=scoring, rows=rows, as_of=as_of,
                   history=history, history_weights=history_weights, cached=cached,
                   sources=sources, statuses=statuses)
    return scoring


def build_workbook(path: str | Path, model: Model, accounts: pd.DataFrame | None = None, *,
                   scoring: Scoring | None = None, rows: int = 0, as_of: dt.date | None = None,
                   history: pd.DataFrame | None = None,
                   history_weights: pd.DataFrame | None = None, cached: Cached | None = None,
                   progress: Progress | None = None,
                   sources: dict[str, pd.DataFrame] | None = None,
                   statuses: pd.DataFrame | None = None) -> None:
    """Write the whole workbook atomically; formulas cover max(rows, accounts) rows.

    `scoring` supplies the Scores cells' cached values (the engine's answer) and the
    Data issues sheet; `cached` supplies cached values for the other sheets' formulas
    (the shipped example gets LibreOffice's); `as_of` fixes the override date (else
    TODAY()). `history` / `history_weights` are snapshot tables kept from a rebuilt book;
    `statuses` the ActionStatus rows (the scoring was made with them).
    """
    frame = _booleans_as_text(typed_as_read(model, accounts), model) if accounts is not None \
        else pd.DataFrame(columns=template_columns(model))
    scores = paths = None
    if scoring is not None and accounts is not None:  # rows with an account only
        scores = scoring.scores[scoring.scores["account_id"].notna()]
        paths = path_to_green(model, accounts.loc[scores.index], scores)
    paths_table = paths_frame(paths, scores)
    size = max(rows, len(frame), 1)
    for sheet, count in (("Accounts", size), ("Scores", size), ("Paths", len(paths_table)),
                         ("History", 0 if history is None else len(history)),
                         ("Data issues", 0 if scoring is None else len(scoring.issues))):
        check_table_rows(count, f"{path}: {sheet}")   # every sheet, before any is written

    issues = None if scoring is None else scoring.issues_with_unread(header_row(accounts))
    parents = parent_rollup(model, scores) if scores is not None else None  # cycles: now

    def build(tmp: Path) -> None:
        book = WorkbookBuilder(tmp, model, cached=cached)
        book.add_sheets(with_issues=issues is not None and len(issues) > 0,
                        with_weights=history_weights is not None,
                        with_parents=parents is not None and len(parents) > 0)
        plan = ScoresPlan(model, [str(c) for c in frame.columns], size, as_of=as_of,
                          group_slots=_slots(frame, model.quartiles_by, 20))
        book.model_sheet()
        live = live_signals(model, sources, book.table_origins)
        accounts_frame, formulas = live.accounts(frame, size) if live else (frame, {})
        book.table_sheet("Accounts", "Accounts", accounts_frame, rows=size, input_cells=True,
                         progress=progress, formulas=formulas)
        book.scores_sheet(plan, scoring.scores if scoring is not None else None, size,
                          progress=progress)
        book.calc_sheet(plan)
        actions_sheet(book, plan, scoring.scores if scoring is not None else None)
        status_sheet(book, statuses)
        this_week_sheet(book, scoring.scores if scoring is not None else None, as_of)
        book.dashboard_sheet(plan, frame, parents)
        if parents is not None and len(parents):
            parents_sheet(book, plan, parents)
        book.forecast_sheet(plan, frame, as_of)
        book.start_here(plan)
        book.history_sheet(history)
        if live:
            live.write(book)
        account_sheet(book, plan, selected_id(scores, paths),
                      0 if parents is None else len(parents))
        book.table_sheet("Paths", "Paths", paths_table,
                         formats={"path_steps": "count", **dict.fromkeys(
                             (f"health_after_{k}" for k in range(1, PATH_ROWS + 1)),
                             "score")})
        if history_weights is not None:
            book.table_sheet("History weights", "HistoryWeights", history_weights)
        if issues is not None and len(issues):
            book.table_sheet("Data issues", "DataIssues", issues,
                             formats={"row": "count", "account_id": "indent",
                                      "problem": "indent"})
        book.close()
    write_atomically(Path(path), build)


EXAMPLE_ACCOUNTS = 500


def example_inputs(folder: Path) -> tuple[Model, pd.DataFrame, dt.date]:
    """What `workbooks/saas_example.xlsx` is built from: the default model, 500 sample
    accounts as `chs sample` writes and `read_accounts` reads them, and their 'today'."""
    from chs_excel.io.sample import make_sample, reference_date
    path = Path(folder) / "example_accounts.csv"
    make_sample(EXAMPLE_ACCOUNTS, seed=0).to_csv(path, index=False)
    return default_model(), read_accounts(path), reference_date(0)


def _booleans_as_text(accounts: pd.DataFrame, model: Model) -> pd.DataFrame:
    """TRUE/FALSE in numeric-metric columns written as text, so both programs skip them.

    The engine reports a boolean in a number column and scores it missing; Excel's
    ISNUMBER agrees, but LibreOffice stores booleans as numbers and would count them.
    """
    numeric = {header_key(m.column) for m in model.metrics
               if METHOD_CLASSES[m.method].kind == "number"}
    out = accounts
    for col in accounts.columns:
        series = accounts[col]
        plain_numbers = pd.api.types.is_numeric_dtype(series) and \
            not pd.api.types.is_bool_dtype(series)
        if header_key(col) not in numeric or plain_numbers:
            continue
        is_bool = series.map(type).isin([bool, np.bool_]).to_numpy()
        if is_bool.any():
            out = out.copy() if out is accounts else out
            text = series.astype(object).copy()
            text[is_bool] = np.where(series[is_bool].astype(bool), "TRUE", "FALSE")
            out[col] = text
    return out


def _slots(frame: pd.DataFrame, column: str | None, minimum: int) -> int:
    """How many distinct-value rows to lay out for `column`: the data's, plus room."""
    cols = {header_key(c): c for c in frame.columns}
    if not column or header_key(column) not in cols:
        return minimum
    values = frame[cols[header_key(column)]].astype("string").str.strip().str.lower()
    return max(minimum, int(values.nunique(dropna=False)) + 5)


class WorkbookBuilder:
    """One XlsxWriter workbook with the project's named formats and Model tables."""

    def __init__(self, path: Path, model: Model, *, cached: Cached | None = None) -> None:
        self.model = model
        self.book = Workbook(path, constant_memory=True,
                             title=f"Customer health scorecard — {model.name}")
        self.fmt = self.book.fmt
        self.sheets: dict[str, Worksheet] = {}
        self.model_cells: dict[str, str] = {}
        self.table_origins: dict[str, tuple[int, int]] = {}  # Model Table -> header cell
        self.cached = cached or {}

    def add_sheets(self, *, with_issues: bool, with_weights: bool = False,
                   with_parents: bool = False) -> None:
        """Create the sheets in the documented order (the hidden Calc sheet last)."""
        optional = {"Data issues": with_issues, "History weights": with_weights,
                    "Calibration": False, "Parents": with_parents}
        for name in SHEET_ORDER:
            if optional.get(name, True):
                self.sheet(name)

    def sheet(self, name: str) -> Worksheet:
        """The worksheet `name`, created on first use."""
        if name not in self.sheets:
            self.sheets[name] = self.book.add_worksheet(name)
        return self.sheets[name]

    def close(self) -> None:
        """Finish the file (XlsxWriter writes it on close)."""
        self.book.close()

    def write_grid(self, grid: Grid) -> Worksheet:
        """Write a small sheet's cells in row order (constant-memory mode needs it)."""
        ws = self.sheet(grid.sheet)
        cached = self.cached.get(grid.sheet, {})
        for cell in sorted(grid.cells, key=lambda c: (c.row, c.col)):
            fmt = self.fmt.get(cell.kind) if not cell.kind.startswith(HEADER_KIND) else \
                self.book.header_format(cell.kind[len(HEADER_KIND):])
            if cell.array:
                ws.write_array_formula(cell.row, cell.col, cell.row, cell.col,
                                       "{=" + str(cell.value) + "}", fmt,
                                       cached_value(cached.get((cell.row, cell.col))))
            elif cell.formula:
                ws.write_formula_cell(cell.row, cell.col, str(cell.value), fmt,
                                      cached_value(cached.get((cell.row, cell.col))))
            else:
                ws.write_value(cell.row, cell.col, cell.value, fmt)
        return ws

    # ------------------------------------------------------------ Start here

    def start_here(self, plan: ScoresPlan) -> None:
        """A plain-words page: what the workbook holds, a live summary, what to do next."""
        m = self.model
        g = Grid("Start here")
        lines = [
            ("title", f"Customer health scorecard — {m.name} (model version {m.version})"),
            ("text", "Paste or type your accounts into the Accounts sheet (one row per "
                     "account, headers in row 1, columns in any order: each is found by its "
                     "header, ignoring case, spaces and _; columns of your own are left "
                     "alone). Scores, Dashboard and Forecast are formulas: they recalculate "
                     "in Excel or LibreOffice, no Python needed."),
            ("subtitle", "Where things are"),
            ("text", "Model — the scorecard: components and weights, metrics and how each raw "
                     "value becomes 0–100 points, critical rules that cap health, band limits "
                     "and renewal probabilities. Cream cells are inputs: change a weight or a "
                     "limit and every score, colour and total moves."),
            ("text", "Accounts — your data (cream: inputs). Blank rows score blank."),
            *([("text", SOURCES_TEXT.format(names=", ".join(s.name for s in m.sources)))]
              if m.sources else []),
            ("text", "Scores — one row per account: component scores, Health (0–100), Band "
                     "(Red / Yellow / Green), Quartile (1 = top 25%), Coverage (share of the "
                     "scorecard that had data), Capped by (critical rules that held health "
                     "down), Weakest component and the points it puts at stake. The grouped "
                     "columns on the right hold each metric's score and the helper cells; "
                     "click + above them to open."),
            ("text", "Account — one account on a page: pick its id in the cream cell; its "
                     "components, metrics, trend and what would make it Green (from Paths)."),
            ("text", "Actions — the to-do list: every account a playbook (Model, Playbooks "
                     "table) says needs something, with its next action, owner, ARR and "
                     "renewal date, most urgent first."),
            ("text", "Dashboard — accounts and ARR by band and quartile, the 10 largest Red "
                     "accounts (when they renew and why they are Red), how health is "
                     "spread, mean health by owner and segment. Forecast — per fiscal quarter "
                     "from AsOf: ARR up for renewal, expected, best and worst case, at risk; "
                     "its total ties to the Dashboard's ARR."),
            ("text", "History — snapshots appended by the add-in or `chs` (date, model, "
                     "health, band, components), for trends. Paths — for each account not "
                     "Green, the fewest metric changes that make it Green (values, written "
                     "with the scores)."),
            ("subtitle", "Live summary"),
        ]
        row = 0
        wrapped: dict[int, str] = {}
        for style, text in lines:
            g.put(row, 0, text, kind=style)
            if style == "text":
                wrapped[row] = text
            row += 1
        g.put(row, 0, plan.columns_message, formula=True, kind="text")
        wrapped[row] = plan.columns_message_longest
        row += 1
        g.put(row, 0, plan.percent_message, formula=True, kind="text")
        wrapped[row] = plan.percent_message_longest
        row += 1
        band = plan.scores_range("band")
        summary = [("Accounts", f'COUNTIF({plan.scores_range("account_id")},"?*")')]
        summary += [(b, f"COUNTIF({band},{text_literal(b)})") for b in (*BANDS, NO_DATA)]
        for label, formula in summary:
            g.put(row, 0, label, kind="label_right")   # beside its number in column B
            g.put(row, 1, formula, formula=True, kind="count")
            row += 1
        row += 1
        for style, text in [
            ("subtitle", "How to read a score"),
            ("text", "Red: health below the Model's red_below. Green: green_from or more. "
                     "Yellow: in between. A critical rule (for example a detractor survey) "
                     "caps health whatever the other signals say; a manual override "
                     "(override_score, until override_until) replaces it."),
            ("text", "Coverage below min_coverage means the score rests on little data "
                     "(Low data is TRUE)."),
            ("subtitle", "Changing the structure"),
            ("text", "New metrics, components, rules, segments, levels or more rows need a "
                     "rebuild that keeps your data and your own sheets: chs rebuild THIS.xlsx "
                     "-o NEW.xlsx, or the chs_rebuild macro (Excel with xlwings)."),
        ]:
            g.put(row, 0, text, kind=style)
            if style == "text":
                wrapped[row] = text
            row += 1
        ws = self.sheet("Start here")
        for r, text in wrapped.items():   # before the rows are written (constant memory)
            ws.set_row(r, wrapped_height(text, START_WIDTH))
        self.write_grid(g)
        ws.set_column(0, 0, START_WIDTH)
        ws.set_column(1, 1, 12)
        ws.fit_to_pages(1, 0)
        ws.activate()

    # ------------------------------------------------------------ Model

    def model_sheet(self) -> None:
        """The model's Tables side by side, with validation; Settings get defined names.

        Cells are collected first and written in row order: in constant-memory mode a
        row cannot be revisited once a later one is written.
        """
        g = Grid("Model")
        g.put(0, 0, f"Scorecard model — {self.model.name}", kind="title")
        g.put(1, 0, "Cream cells are inputs: edit weights, limits, caps and probabilities "
                    "here and the workbook recalculates. New rows (metrics, levels, rules, "
                    "segments) need a rebuild: chs rebuild THIS.xlsx -o NEW.xlsx. "
                    + renewal_in_force(self.model), kind="note")
        ws = self.sheet("Model")
        col = 0
        tables = self.model.to_frame()
        names = (*MODEL_TABLES, *SIGNAL_TABLES) if self.model.sources else MODEL_TABLES
        for name in names:
            frame = tables[name]
            self.table_origins[name] = (MODEL_HEADER_ROW, col)
            self._model_table(ws, g, name, frame, MODEL_HEADER_ROW, col)
            self._validate(ws, name, frame, MODEL_HEADER_ROW + 1, col)
            col += len(frame.columns) + 1
        self.write_grid(g)
        for setting, defined in DEFINED_NAMES.items():
            self.book.define_name(defined, f"=Model!{self.model_cells[setting]}")
        ws.freeze_panes(MODEL_HEADER_ROW + 1, 0)
        ws.set_landscape()
        # printed a Table or two a page, at a readable size (not as one strip)
        ws.set_v_pagebreaks(page_breaks([self.table_origins[n][1] for n in names], col))
        ws.set_print_scale(MODEL_PRINT_SCALE)

    def _model_table(self, ws: Worksheet, g: Grid, name: str, frame: pd.DataFrame,
                     row: int, col: int) -> None:
        g.put(row - 1, col, name, kind="subtitle")
        headers = [str(c) for c in frame.columns]
        ws.add_streamed_table(name, headers, row, col, len(frame), write_headers=False)
        for c, header in enumerate(headers):
            g.put(row, col + c, header, kind=HEADER_KIND + header)
        for r, values in enumerate(frame_rows(frame), start=row + 1):
            for c, value in enumerate(values):
                pct = name in ("RenewalProbability", "RenewalCurve") and c == 1
                g.put(r, col + c, value, kind="input_pct" if pct else "input")
            if name == "Settings":
                self.model_cells[str(values[0])] = xl_rowcol_to_cell(r, col + 1, True, True)
        if frame.empty:
            for c in range(len(frame.columns)):
                g.put(row + 1, col + c, None, kind="input")
        for c, header in enumerate(headers):
            width = fitted_width(display_header(header), frame[frame.columns[c]], minimum=10)
            ws.set_column(col + c, col + c, max(width, len(name) * 1.3 if c == 0 else 0))

    def _validate(self, ws: Worksheet, name: str, frame: pd.DataFrame, first: int,
                  col: int) -> None:
        """Data validation on the Model's inputs (rows below included, for added rows)."""
        last = first + max(len(frame), 1) + 50
        rules = {
            ("Components", "weight"): _non_negative(),
            ("Metrics", "weight"): _non_negative(),
            ("Metrics", "method"): _choice(METHODS),
            ("Metrics", "higher_is_better"): _choice(("TRUE", "FALSE")),
            ("Metrics", "good"): _choice(("TRUE", "FALSE")),
            ("Metrics", "fixed"): _choice(("TRUE", "FALSE")),
            ("Levels", "points"): _non_negative(),
            ("Rules", "op"): _choice(OPERATORS),
            ("Playbooks", "op"): _choice(OPERATORS),
            ("Playbooks", "test"): _choice(CONDITION_TESTS),
            ("Playbooks", "priority"): {
                "validate": "integer", "criteria": "between", "minimum": -999999,
                "maximum": 999999, "error_message": "A whole number: 1 = do first."},
            ("Rules", "cap"): _non_negative(),
            ("Settings", "fiscal_year_start"): {
                "validate": "integer", "criteria": "between", "minimum": 1, "maximum": 12,
                "error_message": "The month the fiscal year starts in: 1 (January) to 12."},
            ("RenewalProbability", "probability"): {
                "validate": "decimal", "criteria": "between", "minimum": 0, "maximum": 1,
                "error_message": "A probability between 0 and 1 (0.95 = 95%)."},
            ("RenewalCurve", "probability"): {
                "validate": "decimal", "criteria": "between", "minimum": 0, "maximum": 1,
                "error_message": "A probability between 0 and 1 (0.95 = 95%)."},
        }
        for c, header in enumerate(frame.columns):
            rule = rules.get((name, header))
            if name == "Segments" and header != "segment":
                rule = _non_negative()
            if rule is not None:
                ws.data_validation(first, col + c, last, col + c, rule)
        if name == "Settings":  # per-row rules: the value cell of a named setting
            for r, setting in enumerate(frame["setting"], start=first):
                rule = rules.get((name, str(setting)))
                if rule is not None:
                    ws.data_validation(r, col + 1, r, col + 1, rule)

    # ------------------------------------------------------------ data tables

    def table_sheet(self, sheet: str, table: str, frame: pd.DataFrame, *,
                    formats: dict[str, str] | None = None, rows: int | None = None,
                    input_cells: bool = False, progress: Progress | None = None,
                    formulas: dict[str, str] | None = None) -> Worksheet:
        """`frame` as an Excel Table filling `sheet` from A1 (text stays text).

        The Table spans `rows` rows (at least the frame's); `input_cells` styles every
        column as user input (cream), dates as dates. `formulas` (header -> per-row
        template) makes those columns formulas, the frame's values their cached values.
        """
        ws = self.sheet(sheet)
        headers = [str(c) for c in frame.columns]
        kinds = [(formats or {}).get(h) for h in headers]
        labels = headers if input_cells else [display_header(h) for h in headers]
        ws.add_streamed_table(table, headers, 0, 0, max(len(frame), rows or 0),
                              header_formats=self.book.header_formats(headers, labels, kinds))
        ws.freeze_panes(1, 1)
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(0)
        cell_formats = [self.fmt.get((formats or {}).get(h, "")) for h in headers]
        writers = [ws.column_writer(frame[c]) for c in frame.columns]
        for c, header in enumerate(headers):
            column_format = None
            if input_cells:
                is_date = pd.api.types.is_datetime64_any_dtype(frame[frame.columns[c]]) or \
                    "date" in header_key(header) or "until" in header_key(header)
                column_format = self.fmt["input_date" if is_date else "input"]
                cell_formats[c] = cell_formats[c] or column_format
            width = fitted_width(labels[c], frame[frame.columns[c]], kinds[c], minimum=10,
                                 cap=60 if header == "problem" else 40)
            ws.set_column(c, c, width, column_format)
        for c, header in enumerate(headers):
            if formulas and header in formulas:
                writers[c] = formula_writer(ws, formulas[header])
                cell_formats[c] = self.fmt[formula_kind(self.model, header)]
                ws.set_column(c, c, max(12, len(header) + 3), cell_formats[c])
        ws.write_rows(frame_rows(frame), writers, cell_formats, progress)
        return ws

    def scores_sheet(self, plan: ScoresPlan, scores: pd.DataFrame | None, rows: int, *,
                     progress: Progress | None = None) -> None:
        """The Scores Table: one formula per cell, caching the engine's value where known."""
        ws = self.sheet("Scores")
        names = [c.name for c in plan.columns]
        kinds = [_scores_kind(c.name, c.kind, c.level) for c in plan.columns]
        ws.add_streamed_table("Scores", names, 0, 0, rows,
                              header_formats=self.book.header_formats(names, kinds=kinds))
        for i, column in enumerate(plan.columns):
            options = {"level": 2, "hidden": True} if column.level == 2 else \
                {"level": 1} if column.level == 1 else {}
            values = scores[column.name] if scores is not None and column.name in scores \
                else None
            width = fitted_width(display_header(column.name), values, kinds[i], minimum=8,
                                 cap=SCORES_WIDTH_CAP)
            ws.set_column(i, i, 12 if column.level else width, None, options)
        ws.freeze_panes(1, 2 if names[1:2] == ["account_name"] else 1)
        fmts = [self.fmt[kind] for kind in kinds]
        values = [cached_column(scores[c.name] if scores is not None and c.name in scores
                                else None, rows) for c in plan.columns]
        ws.stream_formulas(1, [c.formula for c in plan.columns], fmts, values, rows, progress)
        col = plan.position
        last = rows
        self.traffic_lights(ws, 1, last, col["health"], col["band"])
        for name in self.model.components:
            self.colour_scale(ws, 1, last, col[name])
        self.quartile_colours(ws, 1, last, col["quartile"], col["quartile_label"])
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(0)
        built = len(scores) if scores is not None and len(scores) else None
        ws.print_area(0, 0, printed_rows(built, rows), col["points_at_stake"])

    def calc_sheet(self, plan: ScoresPlan) -> None:
        """The hidden helper sheet: model parameters and cut points, computed once."""
        ws = self.write_grid(plan.calc)
        ws.set_column(0, 0, 26)
        ws.set_column(1, 40, 14)
        self.book.define_name("AsOf", f"={plan.as_of_cell}")
        ws.hide()

    def history_sheet(self, history: pd.DataFrame | None) -> None:
        """The `History` Table snapshots are appended to (kept across rebuilds)."""
        columns = [*HISTORY_COLUMNS, *self.model.components]
        frame = history if history is not None and len(history) else pd.DataFrame(
            columns=columns)
        extra = [c for c in columns if c not in frame.columns]
        frame = frame.assign(**{c: None for c in extra})
        ws = self.table_sheet("History", "History", frame)
        ws.set_column(0, 0, 12, self.fmt["date"])

    # ------------------------------------------------------------ Dashboard

    def dashboard_sheet(self, plan: ScoresPlan, frame: pd.DataFrame,
                        parents: pd.DataFrame | None = None) -> None:
        """The first screen: bands (with their chart beside), quartiles, the largest Red
        accounts and why; then the health distribution, coverage, owners and segments,
        each chart beside its table (column G, on a laptop's screen)."""
        g = Grid("Dashboard")
        g.put(0, 0, f"Dashboard — {self.model.name}", kind="title")
        g.put(1, 0, "Formulas over the Scores sheet: they follow every change to the Model "
                    "or the Accounts.", kind="note")
        has_arr = "arr" in plan.identity
        band, health = plan.scores_range("band"), plan.scores_range("health")
        arr = plan.scores_range("arr") if has_arr else None
        charts: list[tuple[str, Any, int]] = []

        top = 3
        heads = ["Band", "Accounts", "Share", "ARR", "Expected renewed ARR"] if has_arr \
            else ["Band", "Accounts", "Share"]
        _header(g, top, heads)
        total = xl_rowcol_to_cell(top + 5, 1, True, True)
        for i, b in enumerate((*BANDS, NO_DATA), start=1):
            r = top + i
            lit = text_literal(b)
            g.put(r, 0, b, kind="bold")
            g.put(r, 1, f"COUNTIF({band},{lit})", formula=True, kind="count")
            g.put(r, 2, f'IF({total}=0,"",{xl_rowcol_to_cell(r, 1)}/{total})', formula=True,
                  kind="pct")
            if has_arr:
                g.put(r, 3, f"SUMIF({band},{lit},{arr})", formula=True, kind="money")
                g.put(r, 4, f"SUMIF({band},{lit},{plan.scores_range('expected_arr')})",
                      formula=True, kind="money")
        g.put(top + 5, 0, "Total", kind="total")
        for c in range(1, len(heads)):
            letter = xl_col_to_name(c)
            g.put(top + 5, c, f"SUM({letter}{top + 2}:{letter}{top + 5})", formula=True,
                  kind="total_pct" if c == 2 else "total_money" if c > 2 else "total_count")
        charts.append(("ARR by band" if has_arr else "Accounts by band",
                       (top + 1, top + 4, 0, 3 if has_arr else 1, "bands"), top))

        top += 8
        quartile = plan.scores_range("quartile")
        heads = ["Quartile", "Label", "Accounts", "Mean health"] + (["ARR"] if has_arr else [])
        _header(g, top, heads)
        for q, label in QUARTILE_ROWS.items():
            r = top + q
            g.put(r, 0, q, kind="int")
            g.put(r, 1, label)
            g.put(r, 2, f"COUNTIF({quartile},{q})", formula=True, kind="count")
            g.put(r, 3, f'IFERROR(AVERAGEIF({quartile},{q},{health}),"")', formula=True,
                  kind="score")
            if has_arr:
                g.put(r, 4, f"SUMIF({quartile},{q},{arr})", formula=True, kind="money")
        top += 7
        if has_arr:
            top = self._top_red(g, plan, top) + 3

        top = self._distribution(g, plan, top, charts)
        _header(g, top, ["Coverage", "Accounts"])
        coverage = plan.scores_range("coverage")
        measures = [
            ("Scored accounts", f'COUNTIF({plan.scores_range("account_id")},"?*")', "count"),
            ("With a health score", f"COUNT({health})", "count"),
            ("No data", f"COUNTIF({band},{text_literal(NO_DATA)})", "count"),
            ("Full data (coverage 100%)", f'COUNTIF({coverage},">="&{FULL_COVERAGE})', "count"),
            ("Low data (below min_coverage)",
             f"COUNTIF({plan.scores_range('low_data')},TRUE)", "count"),
            ("Capped by a critical rule", f'COUNTIF({plan.scores_range("capped_by")},"?*")',
             "count"),
            ("Manual override applied", f"COUNTIF({plan.scores_range('overridden')},TRUE)",
             "count"),
            ("Mean coverage", f'IFERROR(AVERAGE({coverage}),"")', "pct"),
        ]
        for i, (label, formula, kind) in enumerate(measures, start=1):
            g.put(top + i, 0, label)
            g.put(top + i, 1, formula, formula=True, kind=kind)
        top += len(measures) + 3

        segment = segment_column(self.model, pd.Index(plan.identity))
        for title, column in (("Owner", "owner"), ("Segment", segment)):
            if column is None or column not in plan.identity:
                continue
            shown = _distinct(frame, column) + _blank(frame, column)
            slots = shown + 3 if shown else DASHBOARD_SLOTS
            shown = shown or slots
            top = self._group_block(g, plan, top, title, column, slots)
            charts.append((f"Mean health by {title.lower()}",
                           (top + 1, top + shown, 0, 2, "bar"), top - 1))
            top += max(slots + 3, _chart_rows(shown) + 2)
        weakest = weakest_parents_block(g, top, len(parents)) \
            if parents is not None and len(parents) else None
        ws = self.write_grid(g)
        for col, width in enumerate(DASHBOARD_WIDTHS):
            ws.set_column(col, col, width)
        if weakest is not None:
            self.traffic_lights(ws, weakest, weakest + WEAKEST - 1, WEAKEST_HEALTH,
                                WEAKEST_BAND)
        self._dashboard_charts(ws, charts)
        ws.set_landscape()
        ws.fit_to_pages(1, 0)

    def _distribution(self, g: Grid, plan: ScoresPlan, top: int,
                      charts: list[tuple[str, Any, int]]) -> int:
        """Accounts (and ARR) per tenth of the scale of health: the shape of the book,
        which quartiles (always a quarter each) cannot show. Returns the next free row."""
        health = plan.scores_range("health")
        has_arr = "arr" in plan.identity
        g.put(top - 1, 0, "Health distribution", kind="subtitle")
        _header(g, top, ["Health", "Accounts", "Share"] + (["ARR"] if has_arr else []))
        scored = f"COUNT({health})"
        for k in range(HEALTH_BINS):
            r = top + 1 + k
            low, high = f"Scale*{k}/{HEALTH_BINS}", f"Scale*{k + 1}/{HEALTH_BINS}"
            last = k == HEALTH_BINS - 1
            within = f'{health},">="&{low},{health},"{"<=" if last else "<"}"&{high}'
            g.put(r, 0, f'{low}&"–"&{high}', formula=True, kind="plain")
            g.put(r, 1, f"COUNTIFS({within})", formula=True, kind="count")
            g.put(r, 2, f'IF({scored}=0,"",B{r + 1}/{scored})', formula=True, kind="pct")
            if has_arr:
                g.put(r, 3, f"SUMIFS({plan.scores_range('arr')},{within})", formula=True,
                      kind="money")
        charts.append(("Health distribution (accounts)",
                       (top + 1, top + HEALTH_BINS, 0, 1, "histogram"), top - 1))
        return top + max(HEALTH_BINS + 4, _chart_rows(HEALTH_BINS) + 2)

    def _group_block(self, g: Grid, plan: ScoresPlan, top: int, title: str, column: str,
                     slots: int) -> int:
        """Distinct values of `column` (order of appearance) with counts and mean health,
        then a `(no owner)` row for the accounts whose value is blank.

        The list is an array formula per row (the classic INDEX/MATCH/COUNTIF unique
        extraction), so owners pasted into Accounts appear without a rebuild.
        """
        values = plan.scores_range(column)
        ids = plan.scores_range("account_id")
        health, band = plan.scores_range("health"), plan.scores_range("band")
        has_arr = "arr" in plan.identity
        heads = [title, "Accounts", "Mean health", "Red accounts"] + (["ARR"] if has_arr
                                                                     else [])
        _header(g, top, heads)
        g.put(top - 1, 0, f"Mean health by {title.lower()}", kind="subtitle")
        none = text_literal(NO_OWNER)
        blanks = f'SUMPRODUCT(({values}="")*({ids}<>""))'
        for s in range(1, slots + 1):
            r = top + s
            above = f"$A${top + 1}:A{r}"
            g.put(r, 0, f'IFERROR(INDEX({values},MATCH(0,COUNTIF({above},{values})'
                        f'+({values}=""),0)),IF(AND(COUNTIF({above},{none})=0,{blanks}>0),'
                        f'{none},""))', formula=True, array=True)
            key = f"$A{r + 1}"
            match = f'(({values}={key})+({key}={none})*({values}="")*({ids}<>""))'
            g.put(r, 1, f'IF({key}="","",SUMPRODUCT({match}))', formula=True, kind="count")
            g.put(r, 2, f'IF({key}="","",IFERROR(SUMPRODUCT({match},{health})/'
                        f'SUMPRODUCT({match},--ISNUMBER({health})),""))', formula=True,
                  kind="score")
            g.put(r, 3, f'IF({key}="","",SUMPRODUCT({match},--({band}="Red")))', formula=True,
                  kind="count")
            if has_arr:
                g.put(r, 4, f'IF({key}="","",SUMPRODUCT({match},{plan.scores_range("arr")}))',
                      formula=True, kind="money")
        return top

    def _top_red(self, g: Grid, plan: ScoresPlan, top: int) -> int:
        """The TOP_RED largest-ARR Red accounts, with when they renew and why they are Red:
        LARGE over Red ARR, ties in row order. Returns the table's last row."""
        g.put(top, 0, f"The {TOP_RED} largest-ARR accounts in Red", kind="subtitle")
        top += 1
        columns = top_red_columns(plan.identity)
        heads = [*(display_header(c) for c in columns), "Scores row"]
        _header(g, top, heads)
        band, arr = plan.scores_range("band"), plan.scores_range("arr")
        first = plan.first
        at_arr, at_row = columns.index("arr"), len(columns)
        kinds = {"arr": "money", "renewal_date": "date", "health": "score",
                 "points_at_stake": "score", "weakest_component": "indent"}
        for k in range(1, TOP_RED + 1):
            r = top + k
            value = f"${xl_col_to_name(at_arr)}{r + 1}"
            found = f"${xl_col_to_name(at_row)}{r + 1}"
            first_value = f"${xl_col_to_name(at_arr)}${top + 2}"
            g.put(r, at_arr, f'IFERROR(LARGE(IF({band}="Red",IF(ISNUMBER({arr}),{arr},"")),'
                             f'{k}),"")', formula=True, array=True, kind="money")
            g.put(r, at_row, f'IF({value}="","",SMALL(IF({band}="Red",IF({arr}={value},'
                             f'ROW({arr}),"")),COUNTIF({first_value}:{value},{value})))',
                  formula=True, array=True, kind="helper")
            for c, name in enumerate(columns):
                if name != "arr":
                    g.put(r, c, f'IF({found}="","",INDEX({plan.scores_range(name)},'
                                f"{found}-{first - 1}))", formula=True,
                          kind=kinds.get(name, "plain"))
        return top + TOP_RED

    def _dashboard_charts(self, ws: Worksheet, charts: list[tuple[str, Any, int]]) -> None:
        """Native charts beside their tables (column G, the row of the table's title);
        page breaks before a table whose chart would cross a printed page."""
        extents = []
        for title, (r0, r1, cat_col, val_col, style), row in charts:
            kind = "bar" if style == "bar" else "column"
            chart = self.book.add_chart({"type": kind})
            series: dict[str, Any] = {
                "name": title,
                "categories": ["Dashboard", r0, cat_col, r1, cat_col],
                "values": ["Dashboard", r0, val_col, r1, val_col]}
            if style == "bands":
                series["points"] = [{"fill": {"color": BAND_COLOURS[b]}}
                                    for b in (*BANDS, NO_DATA)]
                series["data_labels"] = {"value": True, "num_format": "#,##0"}
            elif style == "histogram":
                series["points"] = [{"fill": {"color": BAND_COLOURS[_bin_band(self.model, k)]}}
                                    for k in range(HEALTH_BINS)]
                series["gap"] = 15
            else:
                series["fill"] = {"color": "#2F75B5"}
            chart.add_series(series)
            chart.set_title({"name": title, "name_font": {"size": 11}})
            chart.set_legend({"none": True})
            rows = r1 - r0 + 1
            height = CHART_HEIGHT if kind == "column" else _chart_rows(rows) * 20
            chart.set_size({"width": CHART_WIDTH, "height": height})
            if kind == "bar":
                chart.set_y_axis({"reverse": True})
                chart.set_x_axis({"min": 0, "max": self.model.scale})
            else:
                chart.set_y_axis({"num_format": "#,##0", "min": 0})
            ws.insert_chart(row, DASHBOARD_CHART_COL, chart, {"x_offset": 8})
            extents.append((row, max(r1, row + math.ceil(height / 20))))
        ws.set_h_pagebreaks(section_breaks(extents, DASHBOARD_PAGE_ROWS))

    # ------------------------------------------------------------ Forecast

    def forecast_sheet(self, plan: ScoresPlan, frame: pd.DataFrame,
                       as_of: dt.date | None) -> None:
        """The renewal forecast by fiscal quarter (`sheets/forecast.py`)."""
        forecast_sheet(self, plan, frame, as_of)

    # ------------------------------------------------------------ conditional formats

    def traffic_lights(self, ws: Worksheet, first: int, last: int, health: int,
                       band: int) -> None:
        """Health filled by the Model's thresholds (defined names), icons, Band by text."""
        rng = _span(first, last, health)
        top = xl_rowcol_to_cell(first, health)
        for fmt, criteria in health_rules(top):
            ws.conditional_format(rng, {"type": "formula", "criteria": "=" + criteria,
                                        "format": self.fmt[fmt]})
        ws.conditional_format(rng, {
            "type": "icon_set", "icon_style": "3_traffic_lights",
            "icons": [{"criteria": ">=", "type": "formula", "value": "GreenFrom"},
                      {"criteria": ">=", "type": "formula", "value": "RedBelow"}]})
        brng = _span(first, last, band)
        for text, fmt in BAND_FORMATS.items():
            ws.conditional_format(brng, {"type": "cell", "criteria": "==",
                                         "value": f'"{text}"', "format": self.fmt[fmt]})

    def colour_scale(self, ws: Worksheet, first: int, last: int, col: int) -> None:
        """Red-yellow-green scale over 0..Scale (the Model's scale) for a component."""
        low, mid, high = SCALE_COLOURS
        ws.conditional_format(_span(first, last, col), {
            "type": "3_color_scale", "min_type": "num", "min_value": 0,
            "mid_type": "formula", "mid_value": "Scale/2", "max_type": "formula",
            "max_value": "Scale", "min_color": low, "mid_color": mid, "max_color": high})

    def quartile_colours(self, ws: Worksheet, first: int, last: int, col: int,
                         label: int) -> None:
        """Each quartile segment its own fill (number and label): top and bottom stand out."""
        for target in (col, label):
            for q in (1, 2, 3, 4):
                anchor = xl_rowcol_to_cell(first, col, False, True)
                ws.conditional_format(_span(first, last, target), {
                    "type": "formula", "criteria": f"={anchor}={q}",
                    "format": self.fmt[f"quartile{q}"]})


# ---------------------------------------------------------------- helpers

# Headers over text after a table's first column (left-aligned like their cells).
TEXT_HEADERS = {"Label", "Account ID", "Owner", "Weakest component", "Capped by"}


MODEL_PAGE_COLUMNS = 12   # Model columns a printed page holds at MODEL_PRINT_SCALE
MODEL_PRINT_SCALE = 70


def page_breaks(starts: list[int], end: int) -> list[int]:
    """Vertical page breaks before Tables starting at `starts` (columns; the last ends
    before `end`) so each page holds whole Tables up to MODEL_PAGE_COLUMNS wide: the
    Model prints at a readable size, not as one strip (`section_breaks` across)."""
    stops = [*starts[1:], end]
    return section_breaks([(a, b - 1) for a, b in zip(starts, stops, strict=True)],
                          MODEL_PAGE_COLUMNS)


def _header(g: Grid, row: int, headers: list[str]) -> None:
    """A Dashboard/Forecast header row: over numbers right-aligned, like the numbers."""
    for c, text in enumerate(headers):
        kind = "header" if c == 0 or text in TEXT_HEADERS else "header_right"
        g.put(row, c, text, kind=kind)


def _non_negative() -> dict[str, Any]:
    return {"validate": "decimal", "criteria": ">=", "value": 0,
            "error_title": "Not a weight", "error_message": "Enter a number >= 0."}


def _choice(values: Iterable[str]) -> dict[str, Any]:
    """A drop-down list; Excel holds at most VALIDATION_LIST_CHARS in one."""
    values = list(values)
    if len(",".join(values)) > VALIDATION_LIST_CHARS:
        raise ChsError(f"a drop-down list of {len(values)} choices is longer than Excel's "
                       f"{VALIDATION_LIST_CHARS} characters")
    return {"validate": "list", "source": values,
            "error_message": "Choose one of: " + ", ".join(values)}


def _distinct(frame: pd.DataFrame, column: str) -> int:
    """Distinct non-blank values of `column` in the data (0 when absent)."""
    cols = {header_key(c): c for c in frame.columns}
    if header_key(column) not in cols or frame.empty:
        return 0
    values = frame[cols[header_key(column)]].astype("string").str.strip()
    return int(values[values.fillna("") != ""].str.lower().nunique())


def _scores_kind(name: str, kind: str, level: int) -> str:
    """The display kind of a Scores column: TRUE/FALSE centred, text set off from the
    number before it (an indent), everything else as the formula plan says."""
    if name in ("low_data", "overridden"):
        return "flag"
    return "plain_indent" if kind == "plain" and level == 0 else kind


def _blank(frame: pd.DataFrame, column: str) -> int:
    """1 when some account has `column` blank (it gets a `(no owner)` row), else 0."""
    cols = {header_key(c): c for c in frame.columns}
    if header_key(column) not in cols or frame.empty:
        return 0
    values = frame[cols[header_key(column)]].astype("string").str.strip().fillna("")
    return int((values == "").any())


DASHBOARD_PAGE_ROWS = 55   # rows a landscape page holds at the Dashboard's fit-to-width scale


def section_breaks(extents: list[tuple[int, int]], page_rows: int) -> list[int]:
    """Rows to break before so no (first row, last row) section crosses a page of
    `page_rows` rows, where one fits on a page."""
    breaks, page = [], 0
    for first, last in sorted(extents):
        if first > page and last - page >= page_rows:
            breaks.append(first)
            page = first
        while last - page >= page_rows * 2:   # a section taller than a page: plain pages
            page += page_rows
    return breaks


def _chart_rows(bars: int) -> int:
    """Rows (20 px) a bar chart of `bars` bars takes."""
    return max(12, math.ceil((70 + 22 * bars) / 20))


def _bin_band(model: Model, k: int) -> str:
    """The band of the middle of histogram bin `k` under the model's limits."""
    middle = model.scale * (k + 0.5) / HEALTH_BINS
    return "Red" if middle < model.red_below else "Green" if middle >= model.green_from \
        else "Yellow"


def _span(first: int, last: int, col: int) -> str:
    letter = xl_col_to_name(col)
    return f"{letter}{first + 1}:{letter}{last + 1}"
