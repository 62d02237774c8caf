"""The scorecard model as native Excel formulas: the live Scores sheet and its helper cells.

`ScoresPlan` turns a model and the Accounts sheet's headers into
- `calc`: the hidden `Calc` sheet's cells — where each Accounts column the formulas read
  is (found once by its header, matched like the engine's `header_key`), every model
  parameter looked up once from the Model sheet's Tables (weights, worst/best, levels, rule
  thresholds and caps, segment weights, renewal probabilities) and the quartile cut points
  — so the per-row formulas use plain absolute A1 references instead of scanning tables or
  columns;
- `columns`: one formula template per Scores column (`ROW` stands for the row number).

Only functions that Excel 2016+ and LibreOffice 7.4 both compute are used, newer ones with
their `_xlfn.` prefix; no LET, XLOOKUP, FILTER or dynamic arrays, no `Table[@Col]`.
Rules of the engine this mirrors (see chs_excel/engine.py and docs/workbook.md):
numbers count only when the cell holds a number; text keys are matched with `=` or MATCH
(case-insensitive in both programs) after TRIM, with MATCH's wildcards escaped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from chs_excel.core.engine import metric_score_column
from chs_excel.core.errors import ModelError
from chs_excel.core.formula_text import (
    BLANK_ARRAY,
    FALSE_ARRAY,
    TRUE_ARRAY,
    array_constant,
    header_of,
    literal_pattern,
    structured,
    text_literal,
    text_of,
    wildcard_safe,
)
from chs_excel.core.limits import FORMULA_CHARS, PERCENT_SAMPLE_ROWS, SHEET_ROWS
from chs_excel.core.methods import METHODS, FormulaRefs
from chs_excel.core.model import (
    Metric,
    Model,
    Rule,
    header_key,
    rule_kind,
)
from chs_excel.core.playbooks import (
    PRIORITY_SPAN,
    STATUS_TABLE,
    Condition,
    playbook_rows,
    uses_history,
)
from chs_excel.core.vocabulary import (
    BANDS,
    EXPECTED_IDENTITY,
    IDENTITY_COLUMNS,
    NO_DATA,
    OPERATORS,
    OVERRIDE_COLUMNS,
    QUARTILE_LABELS,
    RESULT_COLUMNS,
    percent_scaled,
)

ROW = "§"  # placeholder for the Excel row number in per-row formula templates
ACCOUNTS_WIDTH = 702  # Accounts columns A:ZZ are searched for the headers the model needs
EXPECTED = frozenset(header_key(name) for name in EXPECTED_IDENTITY)
UNREAD = ("Those columns show blank (Dashboard ARR, owners, renewals): rename the header, "
          "or map yours in the model: columns: {arr: \"\"ARR ($)\"\"}.")
MISSING = "no column"  # what a metric's score cells show when Accounts lacks its column
TWICE = "column twice"  # what the results show when a column they need is there twice


OPS = array_constant(OPERATORS)
BAND_RANK_ARRAY = array_constant(BANDS[::-1])        # Red 1, Yellow 2, Green 3
DIRECTION_ARRAY = array_constant(("down", "same", "up"))  # band_change: -1, 0, 1
QUARTILE_NAMES = tuple(QUARTILE_LABELS.values())
CALC = "Calc"
PARENT_KEY = "calc: parent key"   # Scores helper: the account's parent_id as a text key


@dataclass(frozen=True)
class Column:
    """One Scores column: header, formula template, number-format kind and outline level.

    `level` 0 is an output column, 1 a per-metric score (grouped, collapsible), 2 a helper
    the other formulas read (grouped and hidden).
    """

    name: str
    formula: str
    kind: str = "plain"
    level: int = 0


@dataclass
class Cell:
    """A cell of a small sheet (Calc, Dashboard, ...): a label, a constant or a formula."""

    row: int
    col: int
    value: object
    formula: bool = False
    array: bool = False
    kind: str = "plain"


@dataclass
class Grid:
    """A small sheet being laid out (Calc, Dashboard, Forecast): cells and the next row."""

    sheet: str = CALC
    cells: list[Cell] = field(default_factory=list)
    row: int = 0

    def put(self, row: int, col: int, value: object, *, formula: bool = False,
            array: bool = False, kind: str = "plain") -> str:
        """Add a cell; return its absolute reference (`Calc!$B$5`)."""
        self.cells.append(Cell(row, col, value, formula, array, kind))
        return f"{_sheet_ref(self.sheet)}!{xl_rowcol_to_cell(row, col, True, True)}"

    def label(self, text: str, kind: str = "subtitle") -> None:
        """A section title in column A, on the next free row."""
        self.put(self.row, 0, text, kind=kind)
        self.row += 1


def absolute_range(sheet: str, col: int, first: int, last: int) -> str:
    """`Sheet!$E$2:$E$2001` for 0-based column `col` and 1-based rows."""
    letter = xl_col_to_name(col)
    return f"{_sheet_ref(sheet)}!${letter}${first}:${letter}${last}"


def calc_range(row0: int, col0: int, row1: int, col1: int) -> str:
    """An absolute range on the Calc sheet (0-based corners)."""
    return (f"{CALC}!{xl_rowcol_to_cell(row0, col0, True, True)}:"
            f"{xl_rowcol_to_cell(row1, col1, True, True)}")


def _sheet_ref(sheet: str) -> str:
    return f"'{sheet}'" if " " in sheet else sheet


def template_columns(model: Model) -> list[str]:
    """Accounts headers of a blank template: id, identity, metrics, rule inputs, overrides."""
    names = ["account_id", "account_name", "owner", model.segment_column or "segment", "arr",
             "renewal_date", *(m.column for m in model.metrics), model.quartiles_by,
             *(r.column for r in model.rules), *OVERRIDE_COLUMNS]
    out, seen = [], set()
    for name in names:
        if name and header_key(name) not in seen:
            seen.add(header_key(name))
            out.append(model.header_of(name))
    return out


def identity_columns(model: Model, keys: dict[str, int]) -> list[str]:
    """The identity columns the engine copies to its output, in its order."""
    names = list(IDENTITY_COLUMNS) + [c for c in (model.segment_column, model.quartiles_by)
                                      if c]
    out: list[str] = []
    for name in names:
        if header_key(name) in keys and header_key(name) not in {header_key(o) for o in out}:
            out.append(name)
    return out


def accounts_needs(model: Model, keys: dict[str, int]) -> list[tuple[str, str, bool]]:
    """The Accounts columns the formulas read: (name, what reads it, required).

    Required are those the engine cannot score without (id, metrics, segment and group
    columns, rule and playbook-condition columns); identity and override columns are read
    where the headers the workbook was built from have them.
    """
    needs = [("account_id", "every account needs an id", True)]
    needs += [(m.column, f"metric of {m.component}", True) for m in model.metrics]
    needs += [(name, what, True) for name, what in ((model.segment_column, "segments.column"),
                                                     (model.quartiles_by, "quartiles.by"))
              if name]
    needs += [(r.column, f"rule {r.name}", True) for r in model.rules]
    needs += [(c.column, f"playbook {p.name}", True) for p in model.playbooks for c in p.when
              if c.test == "metric"]
    needs += [(name, "shown on Scores", False) for name in IDENTITY_COLUMNS]
    needs += [(name, "manual override", False) for name in OVERRIDE_COLUMNS]
    expected = {header_key(name) for name in EXPECTED_IDENTITY}
    out: dict[str, tuple[str, str, bool]] = {}
    for name, what, required in needs:
        key = header_key(name)
        if key not in out and (required or key in keys or key in expected):
            out[key] = (name, what, required)
    return list(out.values())


def band_formula(h: str) -> str:
    """The band of the health in cell `h` by the Model's limits (`engine.band_of`):
    No data when blank, Red below RedBelow, Green from GreenFrom, else Yellow."""
    return (f'IF({h}="",{text_literal(NO_DATA)},IF({h}<RedBelow,"Red",'
            f'IF({h}>=GreenFrom,"Green","Yellow")))')


def calc_parameter_rows() -> list[tuple[str, str]]:
    """The Calc parameter rows of the Metrics block: every method's `calc`, each key once,
    in registry order."""
    rows: dict[str, str] = {}
    for method in METHODS.values():
        for key, label in method.calc:
            rows.setdefault(key, label)
    return list(rows.items())


def metric_order(model: Model) -> list[Metric]:
    """Metrics grouped by component (model order within), so each component's scores
    are adjacent cells that one SUMPRODUCT can weigh."""
    return [m for comp in model.components for m in model.metrics if m.component == comp]


class ScoresPlan:
    """Formulas for a Scores table of `rows` rows over an Accounts table with `headers`."""

    def __init__(self, model: Model, headers: list[str], rows: int, *,
                 as_of: dt.date | None = None, group_slots: int = 20) -> None:
        self.model = model
        self.headers = headers
        self.keys = {header_key(model.key_of(h)): i for i, h in enumerate(headers)
                     if header_key(h)}
        self.first, self.last = 2, 1 + max(rows, 1)
        self.last_letter = xl_col_to_name(ACCOUNTS_WIDTH - 1)
        self.group_slots = group_slots
        self.calc = Grid()
        self.columns: list[Column] = []
        self.position: dict[str, int] = {}
        self._as_of(as_of)
        self._columns_block()
        self._metrics_block()
        self._levels_block()
        self._weights_block()
        self._rules_block()
        self._playbooks_block()
        self._renewal_block()
        self._build_columns()
        self._header_list()

    # ------------------------------------------------------------ references

    def acc(self, column: str, *, guarded: bool = True) -> str:
        """This row's cell of an Accounts column, wherever its header is: INDEX over the
        row at the position Calc found once; "" when Accounts has no such column (unless
        not `guarded`: for formulas evaluated only when the column was found)."""
        pos = self.found[header_key(column)]
        cell = self.acc_cell(column)
        pct = self.percent.get(header_key(column))
        if pct:  # a %-formatted column reads x100, as the engine's reader reads it
            cell = f"IF(AND({pct},ISNUMBER({cell})),ROUND({cell}*100,10),{cell})"
        return f'IF({pos},{cell},"")' if guarded else cell

    def acc_cell(self, column: str) -> str:
        """This row's Accounts cell of a found column as stored (no % scaling)."""
        pos = self.found[header_key(column)]
        return f"INDEX(Accounts!$A{ROW}:${self.last_letter}{ROW},1,{pos})"

    def acc_range(self, column: str) -> str:
        """The whole data range of an Accounts column, wherever its header is."""
        return (f"INDEX(Accounts!$A${self.first}:${self.last_letter}${self.last},0,"
                f"{self.found[header_key(column)]})")

    def me(self, name: str) -> str:
        """This row's cell of a Scores column already planned."""
        return f"${xl_col_to_name(self.position[name])}{ROW}"

    def span(self, names: list[str]) -> str:
        """This row's cells of adjacent Scores columns `first:last`."""
        return f"{self.me(names[0])}:{self.me(names[-1])}"

    def scores_range(self, name: str) -> str:
        """The whole data range of a Scores column (for cut points, dashboards)."""
        return absolute_range("Scores", self.position[name], self.first, self.last)

    def has(self, column: str | None) -> bool:
        """Whether the Accounts sheet has `column`."""
        return bool(column) and header_key(column) in self.keys

    # ------------------------------------------------------------ Calc sheet

    def _as_of(self, as_of: dt.date | None) -> None:
        c = self.calc
        c.label("Helper cells for the Scores formulas — rewritten by `chs rebuild`; "
                "edit the Model sheet, not this one.", kind="note")
        c.row += 1
        c.put(c.row, 0, "Overrides valid on", kind="bold")
        value = "TODAY()" if as_of is None else as_of
        self.as_of_cell = c.put(c.row, 1, value, formula=as_of is None, kind="date")
        c.row += 2

    def _columns_block(self) -> None:
        """Where each Accounts column the formulas read is: its header looked up once in
        Accounts' header row as matched (the list at the end of this sheet), and whether
        a column the engine needs is missing or repeated (then `problem` says so)."""
        c = self.calc
        c.label("Accounts columns (found by their header in row 1 of Accounts, in any "
                "order; case, spaces and _ ignored)")
        top = c.row
        for j, text in enumerate(("column", "header key", "Accounts column", "times found",
                                  "read for", "problem", "problems so far", "% format: x100",
                                  "% columns so far")):
            c.put(top, j, text, kind="bold")
        self.needs = accounts_needs(self.model, self.keys)
        self.found: dict[str, str] = {}
        self.percent: dict[str, str] = {}
        sample = (f"Accounts!$A${self.first}:${self.last_letter}$"
                  f"{self.first + min(self.last - self.first + 1, PERCENT_SAMPLE_ROWS) - 1}")
        pct_so_far = '""'
        self._lookups: list[tuple[int, str]] = []  # filled in by _header_list
        so_far = '""'
        for i, (name, what, required) in enumerate(self.needs, start=1):
            row = top + i
            key, header = header_key(name), self.model.header_of(name)
            c.put(row, 0, header)  # the header looked for: the model's `columns:` or name
            c.put(row, 1, header_key(header))
            self.found[key] = f"{CALC}!{xl_rowcol_to_cell(row, 2, True, True)}"
            self._lookups.append((row, header_key(header)))
            count = f"{CALC}!{xl_rowcol_to_cell(row, 3, True, True)}"
            c.put(row, 4, what)
            lack = ('"missing"' if required else '"not found"' if key in EXPECTED
                    else '""')
            status = c.put(row, 5, f'IF({count}=0,{lack},IF({count}>1,"repeated",""))',
                           formula=True)
            so_far = c.put(row, 6, f'{so_far}&IF({status}="","",", "&{CALC}!'
                                   f'{xl_rowcol_to_cell(row, 0, True, True)}&" "&{status})',
                           formula=True)
            if percent_scaled(name):  # the reader's rule: the first number cell's format
                pos = self.found[key]
                first = (f"IFERROR(MATCH(TRUE,ISNUMBER(INDEX({sample},0,{pos})),0),1)")
                self.percent[key] = c.put(
                    row, 7, f'IF({pos}=0,FALSE,LEFT(CELL("format",INDEX({sample},{first},'
                            f'{pos})),1)="P")', formula=True, array=True)
                pct_so_far = c.put(row, 8, f'{pct_so_far}&IF({self.percent[key]},", "&{CALC}!'
                                           f'{xl_rowcol_to_cell(row, 0, True, True)},"")',
                                   formula=True)
        listed = top + len(self.needs) + 1
        statuses = calc_range(top + 1, 5, listed - 1, 5)
        c.put(listed, 0, "Problem shown in Scores", kind="bold")
        self.problem = c.put(listed, 1, f'IF(COUNTIF({statuses},"missing"),"{MISSING}",'
                                        f'IF(COUNTIF({statuses},"repeated"),"{TWICE}",""))',
                             formula=True)
        c.put(listed + 1, 0, "Message on Start here", kind="bold")
        advice = ("Columns are found by their header in row 1 (any order; case, spaces and _ "
                  "ignored). Until each column the Model reads is there once, Health, Band "
                  "and the other scores show")
        self.columns_message = c.put(
            listed + 1, 1,
            f'IF({so_far}="","Accounts: every column the Model reads was found by its '
            f'header (any order; case, spaces and _ ignored).","Accounts: "&MID({so_far},3,'
            f'999)&IF({self.problem}="",". {UNREAD}",". {advice} """&{self.problem}&""" '
            f'instead of a number."))', formula=True)
        self.percent_message = c.put(
            listed + 2, 1,
            f'IF({pct_so_far}="","Accounts: no column the Model reads is formatted as %.",'
            f'"Accounts: "&MID({pct_so_far},3,999)&" formatted as %: read as what the cell '
            f'shows (56% as 56), as chs score reads it.")', formula=True)
        c.put(listed + 2, 0, "Percent message", kind="bold")
        self.percent_message_longest = (f"Accounts: {self.needs[-1][0]}, {self.needs[0][0]} "
                                        "formatted as %: read as what the cell shows (56% as "
                                        "56), as chs score reads it.")
        # what the row must have room for on Start here: two columns missing, say
        self.columns_message_longest = (f"Accounts: {self.needs[-1][0]} missing, "
                                        f"{self.needs[0][0]} missing. {advice} "
                                        f'"{TWICE}" instead of a number.')
        c.row = listed + 4

    def _header_list(self) -> None:
        """Accounts' header row as the engine matches headers (`header_key`), one row per
        column A:ZZ, and the position formulas of the columns block that search it."""
        c = self.calc
        c.label(f"Accounts headers as matched (row 1, columns A:{self.last_letter})")
        top = c.row
        headers = f"Accounts!$A$1:${self.last_letter}$1"
        for j in range(ACCOUNTS_WIDTH):
            c.put(top + j, 0, xl_col_to_name(j))
            c.put(top + j, 1, header_of(f"INDEX({headers},1,{j + 1})"), formula=True)
        found = calc_range(top, 1, top + ACCOUNTS_WIDTH - 1, 1)
        for row, key in self._lookups:
            key_cell = xl_rowcol_to_cell(row, 1, True, True)
            c.put(row, 2, f"IFERROR(MATCH({literal_pattern(key)},{found},0),0)", formula=True,
                  kind="int")
            c.put(row, 3, f"SUMPRODUCT(--({found}={key_cell}))", formula=True, kind="int")
        c.row = top + ACCOUNTS_WIDTH + 1

    def _metrics_block(self) -> None:
        """One column per metric (Scores order): its parameters looked up by name."""
        c = self.calc
        c.label("Metrics (looked up by column name in the Metrics table)")
        self.metrics = metric_order(self.model)
        calc_rows = calc_parameter_rows()
        labels = ("column", "component", "method", "Metrics row", "weight",
                  *(label for _, label in calc_rows))
        param_row = {key: 5 + i for i, (key, _) in enumerate(calc_rows)}
        top = c.row
        for i, text in enumerate(labels):
            c.put(top + i, 0, text, kind="bold")
        self.param: dict[tuple[str, str], str] = {}
        self.metric_col: dict[str, int] = {}
        for j, m in enumerate(self.metrics, start=1):
            self.metric_col[m.column] = j
            c.put(top, j, m.column, kind="bold")
            c.put(top + 1, j, m.component)
            c.put(top + 2, j, m.method)
            row_ref = xl_rowcol_to_cell(top + 3, j, True, False)
            c.put(top + 3, j, f"MATCH({literal_pattern(m.column)},"
                              f"{structured('Metrics', 'column')},0)", formula=True)

            def look(field_name: str, _row: str = row_ref) -> str:
                return f"INDEX({structured('Metrics', field_name)},{_row})"
            self.param[m.column, "weight"] = c.put(top + 4, j, look("weight"), formula=True)
            params = METHODS[m.method].calc_params(m, look, self.acc_range(m.column))
            for key, formula in params.items():
                self.param[m.column, key] = c.put(top + param_row[key], j, formula,
                                                  formula=True)
        self.weight_row = top + 4
        c.row = top + len(labels) + 1

    def _levels_block(self) -> None:
        """Steps breaks/points and category labels/points, read from `Levels` by position
        after the metric's first row there (a metric's levels are adjacent rows)."""
        c = self.calc
        c.label("Levels (steps and category metrics, from the Levels table)")
        self.levels: dict[str, dict[str, str]] = {}
        for m in self.metrics:
            method = METHODS[m.method]
            if method.level_key is None:
                continue
            count = method.level_count(m)
            first_row = c.row
            c.put(first_row, 0, m.column, kind="bold")
            first = c.put(first_row, 1, f"MATCH({literal_pattern(m.column)},"
                                        f"{structured('Levels', 'column')},0)", formula=True)
            first = first.split("!")[1]
            keys_row, points_row = first_row + 1, first_row + 2
            c.put(keys_row, 0, method.level_key)
            c.put(points_row, 0, "points")
            start = None
            for k in range(count):
                pos = f"{first}+{k}" if k else first
                key = method.level_key_formula(k, pos)
                if key is not None:
                    start = 2 + k if start is None else start
                    c.put(keys_row, 2 + k, key, formula=True)
                c.put(points_row, 2 + k, f"INDEX({structured('Levels', 'points')},{pos})",
                      formula=True)
            start = 2 + count if start is None else start
            self.levels[m.column] = {
                "keys": calc_range(keys_row, start, keys_row, 1 + count),
                "points": calc_range(points_row, 2, points_row, 1 + count)}
            c.row = points_row + 2

    def _weights_block(self) -> None:
        """Component weights: the default row, then one row per segment of the model."""
        c = self.calc
        c.label("Component weights (row 1: Components table; then one row per Segments row)")
        comps = list(self.model.components)
        top = c.row
        c.put(top, 0, "component", kind="bold")
        for j, comp in enumerate(comps, start=1):
            c.put(top, j, comp, kind="bold")
        self.component_names = calc_range(top, 1, top, len(comps))
        c.put(top + 1, 0, "(default)")
        for j, comp in enumerate(comps, start=1):
            c.put(top + 1, j, f"INDEX({structured('Components', 'weight')},MATCH("
                              f"{literal_pattern(comp)},{structured('Components', 'component')},"
                              "0))", formula=True)
        segments = list(self.model.segment_weights) if self.has(self.model.segment_column) \
            else []
        for i, _seg in enumerate(segments, start=1):
            c.put(top + 1 + i, 0, text_of(f"INDEX({structured('Segments', 'segment')},{i})"),
                  formula=True)
            for j, comp in enumerate(comps, start=1):
                c.put(top + 1 + i, j, f"INDEX({structured('Segments', comp)},{i})",
                      formula=True)
        self.weights = calc_range(top + 1, 1, top + 1 + len(segments), len(comps))
        self.default_weights = calc_range(top + 1, 1, top + 1, len(comps))
        self.segment_keys = calc_range(top + 2, 0, top + 1 + len(segments), 0) \
            if segments else None
        inverse = top + 2 + len(segments)
        c.put(inverse, 0, "1 / metric weight")
        for j, comp in enumerate(comps, start=1):
            cols = [self.metric_col[m.column] for m in self.metrics if m.component == comp]
            total = calc_range(self.weight_row, min(cols), self.weight_row, max(cols))
            c.put(inverse, j, f"1/SUM({total})", formula=True)
        self.inverse_totals = calc_range(inverse, 1, inverse, len(comps))
        c.row = inverse + 2

    def _rules_block(self) -> None:
        """Critical rules by position in the Rules table: name, operator, value, cap."""
        c = self.calc
        c.label("Rules (by position in the Rules table)")
        top = c.row
        for j, text in enumerate(("name", "op (1-6: " + " ".join(OPERATORS) + ")", "value",
                                  "cap", "fires below", "fires equal", "fires above")):
            c.put(top, j, text, kind="bold")
        self.rules: list[dict[str, str]] = []
        for k, rule in enumerate(self.model.rules, start=1):
            row = top + k

            def look(field_name: str, _k: int = k) -> str:
                return f"INDEX({structured('Rules', field_name)},{_k})"
            kind = rule_kind(rule, self.model)
            value = {"number": look("value"), "text": text_of(look("value")),
                     "flag": f"IF(OR({text_of(look('value'))}={TRUE_ARRAY}),1,0)"}[kind]
            op = c.put(row, 1, f"MATCH({text_of(look('op'))},{OPS},0)", formula=True)
            op_cell = op.split("!")[1]
            for j, ops in enumerate(((1, 2, 6), (2, 4, 5), (3, 4, 6)), start=4):
                c.put(row, j, f"IF(OR({','.join(f'{op_cell}={k}' for k in ops)}),1,0)",
                      formula=True)
            self.rules.append({
                "name": c.put(row, 0, text_of(look("name")), formula=True), "op": op,
                "value": c.put(row, 2, value, formula=True),
                "cap": c.put(row, 3, look("cap"), formula=True),
                "fires": calc_range(row, 4, row, 6)})
        c.row = top + len(self.model.rules) + 2

    def _playbooks_block(self) -> None:
        """Playbooks by position in the Playbooks table: one row per playbook (priority,
        action, owner, from its first table row), then one row per condition (operator,
        value and where the operator fires, as for rules)."""
        c = self.calc
        self.playbooks: list[dict[str, object]] = []
        if not self.model.playbooks:
            return
        c.label("Playbooks (by position in the Playbooks table)")
        top = c.row
        for j, text in enumerate(("playbook", "priority", "action", "owner", "due_in_days")):
            c.put(top, j, text, kind="bold")
        rows = playbook_rows(self.model.playbooks)
        first_rows = [i for i, r in enumerate(rows, start=1) if r["priority"] is not None]

        def look(field_name: str, position: int) -> str:
            return f"INDEX({structured('Playbooks', field_name)},{position})"
        count = len(self.model.playbooks)
        self.play_priority = []
        self.play_name_cells = []
        for k, position in enumerate(first_rows, start=1):
            row = top + k
            self.play_name_cells.append(
                c.put(row, 0, text_of(look("playbook", position)), formula=True))
            due = look("due_in_days", position)
            c.put(row, 4, f'IF(ISNUMBER({due}),{due},"")', formula=True)
            self.play_priority.append(c.put(row, 1, look("priority", position), formula=True))
            c.put(row, 2, f'{look("action", position)}&""', formula=True)
            c.put(row, 3, f'{look("owner", position)}&""', formula=True)
        self.play_actions = calc_range(top + 1, 2, top + count, 2)
        self.play_owners = calc_range(top + 1, 3, top + count, 3)
        self.play_names = calc_range(top + 1, 0, top + count, 0)
        self.play_due = calc_range(top + 1, 4, top + count, 4)
        head = top + count + 2
        for j, text in enumerate(("condition of", "op (1-6)", "value", "fires below",
                                  "fires equal", "fires above")):
            c.put(head, j, text, kind="bold")
        position, row = 0, head
        for playbook in self.model.playbooks:
            conditions = []
            for cond in playbook.when:
                position += 1
                row += 1
                c.put(row, 0, playbook.name)
                conditions.append((cond, self._condition_cells(cond, row, position, look)))
            self.playbooks.append({"name": playbook.name, "conditions": conditions})
        c.row = row + 2
        if uses_history(self.model.playbooks):
            c.put(c.row, 0, "Previous snapshot (latest History date before AsOf)",
                  kind="bold")
            dates = structured("History", "date")
            latest = f"MAX(IF(ISNUMBER({dates}),IF({dates}<AsOf,{dates},0),0))"  # no MAXIFS:
            self.last_snapshot = c.put(                                    # Excel 2016
                c.row, 1, f'IF({latest}=0,"",{latest})', formula=True, array=True,
                kind="date")
            c.row += 2

    def _condition_cells(self, cond: Condition, row: int, position: int,
                         look: Callable[[str, int], str]) -> dict[str, str]:
        """A condition's Calc cells: op code, value (as its test compares it), fires."""
        c = self.calc
        raw = look("value", position)
        if cond.test == "metric":
            kind = rule_kind(Rule("", cond.column, cond.op, cond.value, 0.0), self.model)
        else:
            kind = {"band": "band", "band_change": "direction", "low_data": "flag",
                    "weakest_component": "text", "capped_by": "text"}.get(cond.test, "number")
        value = {"number": raw, "text": text_of(raw),
                 "flag": f"IF(OR({text_of(raw)}={TRUE_ARRAY}),1,0)",
                 "band": f"IFERROR(MATCH({text_of(raw)},{BAND_RANK_ARRAY},0),0)",
                 "direction": f"MATCH({text_of(raw)},{DIRECTION_ARRAY},0)-2"}[kind]
        op_formula = "2" if cond.test == "renewal_within" else \
            f"MATCH({text_of(look('op', position))},{OPS},0)"
        op = c.put(row, 1, op_formula, formula=True)
        op_cell = op.split("!")[1]
        for j, ops in enumerate(((1, 2, 6), (2, 4, 5), (3, 4, 6)), start=3):
            c.put(row, j, f"IF(OR({','.join(f'{op_cell}={k}' for k in ops)}),1,0)",
                  formula=True)
        return {"op": op, "value": c.put(row, 2, value, formula=True),
                "fires": calc_range(row, 3, row, 5)}

    def _renewal_block(self) -> None:
        c = self.calc
        c.label("Renewal probability by band (RenewalProbability table; blank if not given)")
        top = c.row
        for i, band in enumerate((*BANDS, NO_DATA)):
            c.put(top + i, 0, band)
            c.put(top + i, 1, f"IFERROR(INDEX({structured('RenewalProbability', 'probability')},"
                              f"MATCH({text_literal(band)},"
                              f"{structured('RenewalProbability', 'band')},0)),\"\")",
                  formula=True, kind="pct")
        self.bands = calc_range(top, 0, top + 3, 0)
        self.probabilities = calc_range(top, 1, top + 3, 1)
        c.row = top + 5
        n = len(self.model.renewal_curve)
        if not n:
            return
        c.label("Renewal curve points (RenewalCurve table: health, probability; "
                "linear between points, flat outside)")
        top = c.row
        for k in range(n):
            for j, field_name in enumerate(("health", "probability")):
                c.put(top + k, j, f"INDEX({structured('RenewalCurve', field_name)},{k + 1})",
                      formula=True, kind="pct" if j else "plain")
        self.curve_health = calc_range(top, 0, top + n - 1, 0)
        self.curve_probability = calc_range(top, 1, top + n - 1, 1)
        c.row = top + n + 1

    def _quartile_block(self) -> None:
        """Cut points: QUARTILE.INC over Health, per group when the model says so."""
        c = self.calc
        health = self.scores_range("health")
        if not self.grouped:
            c.label("Quartile cut points of Health (QUARTILE.INC)")
            self.cuts = [c.put(c.row, k, f'IFERROR(_xlfn.QUARTILE.INC({health},{k}),"")',
                               formula=True, kind="score") for k in (1, 2, 3)]
            c.put(c.row, 0, "Q1 Q2 Q3 →")
            c.row += 2
            return
        c.label(f"Quartile cut points per {self.model.quartiles_by} group (first "
                f"{self.group_slots} groups in order of appearance; more need a rebuild)")
        head = c.row
        for j, text in enumerate(("group key", "Q1", "Q2", "Q3")):
            c.put(head, j, text, kind="bold")
        keys = self.scores_range("calc: group")
        for s in range(1, self.group_slots + 1):
            row = head + s
            above = calc_range(head, 0, row - 1, 0).split("!")[1]
            c.put(row, 0, f'IFERROR(INDEX({keys},MATCH(0,COUNTIF({CALC}!{above},{keys})'
                          f'+({keys}=""),0)),"")', formula=True, array=True)
            key = xl_rowcol_to_cell(row, 0, False, True)
            for k in (1, 2, 3):
                c.put(row, k, f'IF({key}="","",IFERROR(_xlfn.QUARTILE.INC(IF({keys}={key},'
                              f'{health},""),{k}),""))', formula=True, array=True,
                      kind="score")
        self.group_keys = calc_range(head + 1, 0, head + self.group_slots, 0)
        self.cuts = [calc_range(head + 1, k, head + self.group_slots, k) for k in (1, 2, 3)]
        c.row = head + self.group_slots + 2

    # ------------------------------------------------------------ Scores columns

    def _build_columns(self) -> None:
        """Lay out Scores: outputs in the engine's order, metric scores, then helpers.

        Positions are fixed first (formulas refer to columns on either side), then each
        formula is written.
        """
        model = self.model
        comps = list(model.components)
        self.identity = identity_columns(model, self.keys)
        self.grouped = self.has(model.quartiles_by)
        self.segmented = self.has(model.segment_column) and bool(model.segment_weights)
        outputs = ["account_id", *self.identity, *comps, "health", "raw_health", "band",
                   "quartile", "quartile_label", "coverage", "low_data", "capped_by",
                   "overridden", "weakest_component", "points_at_stake",
                   "renewal_probability"]
        if "arr" in self.identity:
            outputs.append("expected_arr")
        outputs += ["next_action", "action_owner", "action_priority", "actions",
                    "action_playbook", "action_due"]
        helpers = [f"calc: {c} weight present" for c in comps] + ["calc: weight present"]
        helpers += [f"calc: rule {r.name}" for r in model.rules]
        helpers += [f"calc: playbook {p.name}" for p in model.playbooks]
        if uses_history(model.playbooks):
            helpers += ["calc: previous health", "calc: previous band"]
        if model.playbooks:
            helpers += ["calc: action arr", "calc: action rank"]
        if model.renewal_curve:
            helpers.append("calc: curve point")
        if "parent_id" in self.identity:
            helpers.append(PARENT_KEY)
        if self.segmented:
            helpers.append("calc: segment row")
        if self.grouped:
            helpers += ["calc: group", "calc: group slot"]
        names = outputs + [metric_score_column(m) for m in self.metrics] + helpers
        self.position = {n: i for i, n in enumerate(names)}
        self._quartile_block()
        formulas = self._formulas(comps)
        levels = {n: 0 for n in outputs}
        levels.update({metric_score_column(m): 1 for m in self.metrics})
        levels.update({h: 2 for h in helpers})
        self.columns = [Column(n, formulas[n], _kind(n, comps), levels[n]) for n in names]
        self._check_lengths()

    def _check_lengths(self) -> None:
        """Refuse, before anything is written, a formula longer than Excel's limit (many
        long category labels or names): Excel would refuse to open the file."""
        for column in self.columns:
            size = len(column.formula.replace(ROW, str(SHEET_ROWS)))
            if size > FORMULA_CHARS:
                hint = "use fewer playbooks or shorter actions" if column.name in (
                    "actions", "next_action", "action_owner") else \
                    "use fewer or shorter category labels or names"
                raise ModelError(f"Scores column {column.name[:60]!r}: its formula would be "
                                 f"{size:,} characters; Excel allows {FORMULA_CHARS:,} "
                                 f"({hint})")

    def _formulas(self, comps: list[str]) -> dict[str, str]:
        """Formula templates keyed by Scores column."""
        f: dict[str, str] = {}
        idc = self.me("account_id")
        live = f'{idc}<>""'

        def gate(expr: str) -> str:
            return f'IF({idc}="","",{expr})'
        f["account_id"] = f'IF({text_of(self.acc("account_id"))}="","",' \
                          f'{text_of(self.acc("account_id"))})'
        for name in self.identity:
            x = self.acc(name)
            f[name] = gate(f'IF(ISNUMBER({x}),{x},"")' if name in ("arr", "renewal_date")
                           else f'IF({x}="","",{x})')
        for m in self.metrics:
            f[metric_score_column(m)] = self._metric(m, live, gate)
        weights = f"INDEX({self.weights},{self.me('calc: segment row')},0)" \
            if self.segmented else self.default_weights
        comp_span = self.span(comps)
        for comp in comps:
            cols = [metric_score_column(m) for m in self.metrics if m.component == comp]
            j0, j1 = self.metric_col[self.metrics_of(comp)[0]], \
                self.metric_col[self.metrics_of(comp)[-1]]
            w = calc_range(self.weight_row, j0, self.weight_row, j1)
            present = self.me(f"calc: {comp} weight present")
            f[f"calc: {comp} weight present"] = gate(
                f"SUMPRODUCT(--ISNUMBER({self.span(cols)}),{w})")
            f[comp] = f'IF(N({present})>0,SUMPRODUCT({self.span(cols)},{w})/{present},"")'
        wp = self.me("calc: weight present")
        f["calc: weight present"] = gate(f"SUMPRODUCT(--ISNUMBER({comp_span}),{weights})")
        f["raw_health"] = f'IF(N({wp})>0,SUMPRODUCT({comp_span},{weights})/{wp},"")'
        if PARENT_KEY in self.position:   # what the Parents Table matches (text keys)
            f[PARENT_KEY] = gate(f'LOWER({text_of(self.me("parent_id"))})')
        if self.segmented:
            seg = wildcard_safe(text_of(self.acc(self.model.segment_column)))
            f["calc: segment row"] = gate(f"IFERROR(MATCH({seg},{self.segment_keys},0),0)+1")
        for rule, calc in zip(self.model.rules, self.rules, strict=True):
            f[f"calc: rule {rule.name}"] = gate(self._rule(rule, calc))
        f.update(self._health(comps, weights, gate))
        f.update(self._actions(gate))
        if self.grouped:
            f["calc: group"] = gate(f'"k"&{text_of(self.acc(self.model.quartiles_by))}')
            f["calc: group slot"] = gate(
                f'IFERROR(MATCH({wildcard_safe(self.me("calc: group"))},{self.group_keys},0),"")')
        # A column the engine needs missing or repeated in Accounts: the results say so
        # (the engine refuses to score such accounts) instead of scoring without it.
        for name in (*comps, *RESULT_COLUMNS):
            if name in f:
                f[name] = f'IF({self.problem}="",{f[name]},IF({idc}="","",{self.problem}))'
        return f

    def metrics_of(self, comp: str) -> list[str]:
        """Metric columns of a component, in Scores order."""
        return [m.column for m in self.metrics if m.component == comp]

    def _metric(self, m: Metric, live: str, gate: Callable[[str], str]) -> str:
        """One metric's 0..Scale score, blank when the value is missing."""
        method = METHODS[m.method]
        refs = FormulaRefs(
            x=self.acc(m.column, guarded=False), column=self.acc_range(m.column), live=live,
            stored=self.acc_cell(m.column),
            gate=gate,
            params={key: self.param[m.column, key] for key, _ in method.calc},
            levels=self.levels.get(m.column, {}))
        found = self.found[header_key(m.column)]
        return f'IF({found},{method.formula(m, refs)},IF({live},"{MISSING}",""))'

    def _rule(self, rule: Rule, calc: dict[str, str]) -> str:
        """TRUE when the rule fires for this row (a missing value never fires)."""
        kind = rule_kind(rule, self.model)
        x = self.acc(rule.column)
        op, v = calc["op"], calc["value"]
        if kind == "text":
            t = text_of(x)
            present = f"NOT(OR({t}={BLANK_ARRAY}))"
            try:
                metric = self.model.metric(rule.column)
            except KeyError:
                metric = None
            if metric is not None:
                present = f"AND({present},ISNUMBER({self.me(metric_score_column(metric))}))"
            return f"AND({present},IF({op}=6,{t}<>{v},{t}={v}))"
        if kind == "flag":
            t = text_of(x)
            present = f"OR({t}={TRUE_ARRAY},{t}={FALSE_ARRAY})"
            return f"AND({present},IF({op}=6,OR({t}={TRUE_ARRAY})*1<>{v}," \
                   f"OR({t}={TRUE_ARRAY})*1={v}))"
        # the Calc row holds whether the operator fires below, at or above the value
        return f"IF(ISNUMBER({x}),INDEX({calc['fires']},SIGN({x}-{v})+2)=1,FALSE)"

    def _health(self, comps: list[str], weights: str,
                gate: Callable[[str], str]) -> dict[str, str]:
        """Health with caps and override, band, quartile and the explanation columns."""
        f: dict[str, str] = {}
        raw, h = self.me("raw_health"), self.me("health")
        caps = "".join(f",IF({self.me(f'calc: rule {r.name}')},{c['cap']},{raw})"
                       for r, c in zip(self.model.rules, self.rules, strict=True))
        capped = f'IF({raw}="","",MIN({raw}{caps}))' if caps else f'IF({raw}="","",{raw})'
        overridden = self.me("overridden")
        if self.has("override_score"):
            score = self.acc("override_score")
            f["health"] = gate(f"IF({overridden},{score},{capped})")
            until = "TRUE"
            if self.has("override_until"):
                u = self.acc("override_until")
                until = f"OR(OR({text_of(u)}={BLANK_ARRAY}),AND(ISNUMBER({u}),{u}>=AsOf))"
            f["overridden"] = gate(f"AND(ISNUMBER({score}),{score}>=0,{score}<=Scale,{until})")
        else:
            f["health"] = gate(capped)
            f["overridden"] = gate("FALSE")
        f["band"] = gate(band_formula(h))
        if self.grouped:
            slot = self.me("calc: group slot")
            q1, q2, q3 = (f"INDEX({cut},{slot})" for cut in self.cuts)
            f["quartile"] = (f'IF(AND(ISNUMBER({h}),ISNUMBER({slot})),1+({h}<{q3})+({h}<{q2})'
                             f'+({h}<{q1}),"")')
        else:
            q1, q2, q3 = self.cuts
            f["quartile"] = f'IF(ISNUMBER({h}),1+({h}<{q3})+({h}<{q2})+({h}<{q1}),"")'
        q = self.me("quartile")
        labels = ",".join(text_literal(t) for t in QUARTILE_NAMES)
        f["quartile_label"] = f'IF({q}="","",CHOOSE({q},{labels}))'
        present = [self.me(f"calc: {c} weight present") for c in comps]
        f["coverage"] = gate(f"SUMPRODUCT({weights},{present[0]}:{present[-1]},"
                             f"{self.inverse_totals})/SUM({weights})")
        f["low_data"] = gate(f"AND(ISNUMBER({h}),{self.me('coverage')}<MinCoverage)")
        names = "&".join(f'IF({self.me(f"calc: rule {r.name}")},"; "&{c["name"]},"")'
                         for r, c in zip(self.model.rules, self.rules, strict=True))
        f["capped_by"] = gate(f'IF({raw}="","",MID({names},3,999))' if names else '""')
        span = self.span(comps)
        weakest = f"MATCH(MIN({span}),{span},0)"
        f["weakest_component"] = gate(
            f'IF(COUNT({span})=0,"",INDEX({self.component_names},{weakest}))')
        wp = self.me("calc: weight present")
        f["points_at_stake"] = gate(
            f'IF(OR(COUNT({span})=0,N({wp})=0),"",INDEX({weights},{weakest})/{wp}'
            f"*(Scale-MIN({span})))")
        band = self.me("band")
        by_band = f"INDEX({self.probabilities},MATCH({band},{self.bands},0))"
        f["renewal_probability"] = gate(by_band)
        if self.model.renewal_curve:
            f.update(self._curve_formulas(gate, by_band))
        if "arr" in self.identity:
            arr, p = self.me("arr"), self.me("renewal_probability")
            f["expected_arr"] = f'IF(AND(ISNUMBER({arr}),ISNUMBER({p})),{arr}*{p},"")'
        return f


    def _curve_formulas(self, gate: Callable[[str], str], by_band: str) -> dict[str, str]:
        """Renewal probability from the model's curve: k = the last point at or below
        health (0 below the first); linear between points k and k+1, flat outside; the
        band map where health is blank (engine.model_renewal_probability)."""
        h, k = self.me("health"), self.me("calc: curve point")
        hs, ps, n = self.curve_health, self.curve_probability, len(self.model.renewal_curve)

        def at(rng: str, i: str) -> str:
            return f"INDEX({rng},{i})"
        between = (f"{at(ps, k)}+({at(ps, f'{k}+1')}-{at(ps, k)})*({h}-{at(hs, k)})"
                   f"/({at(hs, f'{k}+1')}-{at(hs, k)})")
        return {"calc: curve point": gate(f'IF(ISNUMBER({h}),IFERROR(MATCH({h},{hs},1),0),"")'),
                "renewal_probability": gate(
                    f"IF(ISNUMBER({h}),IF({k}=0,{at(ps, 1)},IF({k}>={n},{at(ps, n)},"
                    f"{between})),{by_band})")}

    def _actions(self, gate: Callable[[str], str]) -> dict[str, str]:
        """The playbooks: one helper per playbook holding priority * PRIORITY_SPAN + its
        position where every condition holds, so MIN picks the next action (ties: model
        order) and SMALL lists them all in order; then each account's rank on Actions."""
        f: dict[str, str] = {}
        if not self.model.playbooks:
            for name in ("next_action", "action_owner", "action_priority", "actions",
                         "action_playbook", "action_due"):
                f[name] = gate('""')
            return f
        idc = self.me("account_id")
        if uses_history(self.model.playbooks):
            last = self.last_snapshot
            where = (f"{structured('History', 'account_id')},{idc},"
                     f"{structured('History', 'date')},{last}")
            f["calc: previous health"] = gate(
                f'IF({last}="","",IF(COUNTIFS({where},{structured("History", "health")},'
                f'"<>")=0,"",SUMIFS({structured("History", "health")},{where})))')
            codes = "+".join(f'{k}*COUNTIFS({where},{structured("History", "band")},'
                             f'{text_literal(b)})' for k, b in enumerate(BANDS[::-1], start=1))
            f["calc: previous band"] = gate(f'IF({last}="",0,{codes})')
        for k, (playbook, calc) in enumerate(zip(self.model.playbooks, self.playbooks,
                                                  strict=True), start=1):
            tests = [self._condition(cond, cells) for cond, cells in calc["conditions"]]
            tests.append(self._no_status(self.play_name_cells[k - 1]))
            f[f"calc: playbook {playbook.name}"] = gate(
                f'IF(AND({",".join(tests)}),{self.play_priority[k - 1]}*{PRIORITY_SPAN}'
                f'+{k},"")')
        names = [f"calc: playbook {p.name}" for p in self.model.playbooks]
        span = self.span(names)
        best = f"MOD(MIN({span}),{PRIORITY_SPAN})"
        f["next_action"] = gate(f'IF(COUNT({span})=0,"",INDEX({self.play_actions},{best}))')
        f["action_owner"] = gate(f'IF(COUNT({span})=0,"",INDEX({self.play_owners},{best}))')
        f["action_priority"] = gate(
            f'IF(COUNT({span})=0,"",(MIN({span})-{best})/{PRIORITY_SPAN})')
        parts = "&".join(
            f'IFERROR("; "&INDEX({self.play_actions},MOD(SMALL({span},{r}),{PRIORITY_SPAN})),"")'
            for r in range(1, len(names) + 1))
        f["actions"] = gate(f"MID({parts},3,32767)")
        f["action_playbook"] = gate(f'IF(COUNT({span})=0,"",INDEX({self.play_names},{best}))')
        due = f"INDEX({self.play_due},{best})"
        f["action_due"] = gate(f'IF(COUNT({span})=0,"",IF({due}="","",AsOf+{due}))')
        p = self.me("action_priority")
        arr = f"N({self.me('arr')})" if "arr" in self.identity else "0"
        f["calc: action arr"] = f'IF({p}="","",{arr})'
        a = self.me("calc: action arr")
        prio, arrs = self.scores_range("action_priority"), self.scores_range("calc: action arr")
        here_p = prio.split(":")[0] + ":" + p
        here_a = arrs.split(":")[0] + ":" + a
        f["calc: action rank"] = (
            f'IF({p}="","",COUNTIF({prio},"<"&{p})+COUNTIFS({prio},{p},{arrs},">"&{a})'
            f"+COUNTIFS({here_p},{p},{here_a},{a}))")
        return f

    def _no_status(self, name_cell: str) -> str:
        """TRUE unless an ActionStatus row holds for this account and playbook on AsOf
        (docs/playbooks.md, "Statuses"): done / not relevant with a blank or later
        `until`, snoozed with a later `until`. COUNTIFS ignores case, as the engine."""
        idc = wildcard_safe(self.me("account_id"))
        name = wildcard_safe(name_cell)

        def count(status: str, until: str | None = None) -> str:
            crit = (f"{structured(STATUS_TABLE, 'account_id')},{idc},"
                    f"{structured(STATUS_TABLE, 'playbook')},{name},"
                    f"{structured(STATUS_TABLE, 'status')},{text_literal(status)}")
            if until:
                crit += f",{structured(STATUS_TABLE, 'until')},{until}"
            return f"COUNTIFS({crit})"
        held = [f"{count(s)}-{count(s, chr(34) + '<' + chr(34) + '&AsOf')}"
                for s in ("done", "not relevant")]
        held.append(count("snoozed", '">="&AsOf'))
        return f"({'+'.join(held)})=0"

    def _condition(self, cond: Condition, cells: dict[str, str]) -> str:
        """TRUE where the condition holds for this row (docs/playbooks.md)."""
        op, v, fires = cells["op"], cells["value"], cells["fires"]

        def number(x: str) -> str:
            return f"IF(ISNUMBER({x}),INDEX({fires},SIGN({x}-{v})+2)=1,FALSE)"
        h = self.me("health")
        if cond.test == "metric":
            return self._rule(Rule("", cond.column, cond.op, cond.value, 0.0), cells)
        if cond.test == "component":
            return number(self.me(cond.column))
        if cond.test == "health":
            return number(h)
        if cond.test == "band":
            rank = f"IFERROR(MATCH({self.me('band')},{BAND_RANK_ARRAY},0),0)"
            return (f"IF({op}>=5,IF({op}=6,{rank}<>{v},{rank}={v}),"
                    f"AND({rank}>0,INDEX({fires},SIGN({rank}-{v})+2)=1))")
        if cond.test == "weakest_component":
            w = self.me("weakest_component")
            return f'AND({w}<>"",IF({op}=6,{w}<>{v},{w}={v}))'
        if cond.test == "capped_by":
            found = (f'ISNUMBER(SEARCH({wildcard_safe(chr(34) + "; " + chr(34) + "&" + v)}'
                     f'&";","; "&{self.me("capped_by")}&";"))')
            return f"IF({op}=6,NOT({found}),{found})"
        if cond.test == "low_data":
            low = f"({self.me('low_data')}*1)"
            return f"IF({op}=6,{low}<>{v},{low}={v})"
        if cond.test == "renewal_within":
            if "renewal_date" not in self.identity:
                return "FALSE"
            d = self.me("renewal_date")
            return f"IF(ISNUMBER({d}),AND({d}>=AsOf,{d}<=AsOf+{v}),FALSE)"
        if cond.test == "health_change":
            ph = self.me("calc: previous health")
            return (f"IF(AND(ISNUMBER({h}),ISNUMBER({ph})),"
                    f"INDEX({fires},SIGN(({h}-{ph})-{v})+2)=1,FALSE)")
        rank = f"IFERROR(MATCH({self.me('band')},{BAND_RANK_ARRAY},0),0)"
        pb = self.me("calc: previous band")
        return (f"IF(AND({rank}>0,{pb}>0),IF({op}=6,SIGN({rank}-{pb})<>{v},"
                f"SIGN({rank}-{pb})={v}),FALSE)")


def _kind(name: str, comps: list[str]) -> str:
    """The number-format kind of a Scores column."""
    if name in comps or name.endswith("_score") or name in ("health", "raw_health",
                                                              "points_at_stake"):
        return "score"
    return {"coverage": "pct", "renewal_probability": "pct", "arr": "money",
            "expected_arr": "money", "renewal_date": "date", "quartile": "int",
            "action_priority": "int", "action_due": "date"}.get(
        name, "helper" if name.startswith("calc: ") else "plain")
