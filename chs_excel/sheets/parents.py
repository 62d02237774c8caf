"""The Parents sheet: the Excel Table `Parents`, each parent's accounts rolled up live.

One row per parent that the accounts named when the book was built (`core.parents`, first
spelling, order of first appearance). `parent_id` is a value; every other column is a
formula over the Scores columns, matching the Scores helper `calc: parent key` (each
account's parent_id as a text key) against the row's key, so a changed weight, threshold,
ARR or parent_id moves them on the next recalculation: accounts, ARR, health
(ARR-weighted mean over the accounts with a health, the plain mean when their ARR sums to
0), band (the Model's limits), the worst account and its health (ties: the first in
Scores). The engine's roll-up is each cell's cached value. A parent named for the first
time after the build is listed by the next rebuild (docs/parents.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from xlsxwriter.utility import xl_col_to_name

from chs_excel.core.formula_text import text_of
from chs_excel.core.formulas import PARENT_KEY, Grid, ScoresPlan, band_formula
from chs_excel.core.parents import PARENTS_COLUMNS
from chs_excel.core.vocabulary import display_header, text_key
from chs_excel.sheets.dashboard import WEAKEST_PARENTS
from chs_excel.xlsx.writer import cached_value, fitted_width

if TYPE_CHECKING:
    from chs_excel.sheets.workbook import WorkbookBuilder

SHEET = TABLE = "Parents"
COLUMNS = (*PARENTS_COLUMNS, PARENT_KEY)   # the key: a hidden helper, last
KINDS = {"parent_id": None, "accounts": "count", "arr": "money", "health": "score",
         "band": "indent", "worst_account": "indent", "worst_health": "score",
         PARENT_KEY: None}   # text after a number: indented, so the two do not touch
CELL_KINDS = {"parent_id": "plain", "accounts": "count", "arr": "money", "health": "score",
              "band": "plain_indent", "worst_account": "plain_indent", "worst_health": "score",
              PARENT_KEY: "helper"}
NOTES = (  # one line each, no wider than the Table (a printed page keeps them whole)
    "A parent's accounts are those whose parent_id names it: one level (its own accounts,",
    "not their accounts), parent ids compared ignoring case and spaces. Health = the",
    "ARR-weighted mean of their health, over those that have one (the plain mean when",
    "their ARR adds up to 0); Band = the Model's limits on it. Formulas over Scores: they",
    "follow every change; a parent first named after this book was built is listed by",
    "the next rebuild (chs rebuild THIS.xlsx -o NEW.xlsx).",
)
MIN_WIDTHS = {"health": 12, "band": 11, "worst_health": 14}


def parents_range(name: str, rows: int) -> str:
    """The data range of a Parents Table column of `rows` rows (A1, as the other sheets'
    formulas refer to Scores)."""
    letter = xl_col_to_name(COLUMNS.index(name))
    return f"{SHEET}!${letter}$2:${letter}${rows + 1}"


def parents_formulas(plan: ScoresPlan, row: int) -> dict[str, tuple[str, bool]]:
    """Each formula column of the Parents row at 0-based `row`: (formula, is array)."""
    r = row + 1
    col = {name: xl_col_to_name(i) for i, name in enumerate(COLUMNS)}
    key, health = f"${col[PARENT_KEY]}{r}", f"${col['health']}{r}"
    worst = f"${col['worst_health']}{r}"
    keys, h = plan.scores_range(PARENT_KEY), plan.scores_range("health")
    ids = plan.scores_range("account_id")
    mine = f"--({keys}={key})"
    scored = f"SUMPRODUCT({mine},--ISNUMBER({h}))"
    plain = f"SUMPRODUCT({mine},{h})/{scored}"
    out = {PARENT_KEY: (f"LOWER({text_of(f'$A{r}')})", False),
           "accounts": (f"SUMPRODUCT({mine})", False),
           "band": (band_formula(health), False),
           "worst_health": (f'IF({health}="","",MIN(IF({keys}={key},IF(ISNUMBER({h}),{h}))))',
                            True),
           "worst_account": (f'IF({worst}="","",INDEX({ids},MATCH(1,({keys}={key})*'
                             f'({h}={worst}),0)))', True)}
    if "arr" in plan.identity:
        arr = plan.scores_range("arr")
        weight = f"SUMPRODUCT({mine},--ISNUMBER({h}),{arr})"
        out["arr"] = (f"SUMPRODUCT({mine},{arr})", False)
        out["health"] = (f'IF({scored}=0,"",IF({weight}=0,{plain},'
                         f"SUMPRODUCT({mine},{h},{arr})/{weight}))", False)
    else:
        out["arr"] = ("0", False)
        out["health"] = (f'IF({scored}=0,"",{plain})', False)
    return out


def parents_sheet(builder: WorkbookBuilder, plan: ScoresPlan, parents: pd.DataFrame) -> None:
    """Write the Parents Table from A1 (header words, number formats, traffic lights),
    then what it means in plain words below it."""
    ws = builder.sheet(SHEET)
    rows = len(parents)
    kinds = [KINDS[c] for c in COLUMNS]
    ws.add_streamed_table(TABLE, list(COLUMNS), 0, 0, rows,
                          header_formats=builder.book.header_formats(COLUMNS, kinds=kinds))
    g = Grid(SHEET)
    cached: dict[tuple[int, int], Any] = builder.cached.get(SHEET) or {}
    keep = not cached
    frame = parents.assign(**{PARENT_KEY: parents["parent_id"].map(text_key)})
    for i, values in enumerate(frame[list(COLUMNS)].itertuples(index=False), start=1):
        formulas = parents_formulas(plan, i)
        for c, name in enumerate(COLUMNS):
            if name == "parent_id":
                g.put(i, c, values[c], kind="plain")
                continue
            formula, array = formulas[name]
            g.put(i, c, formula, formula=True, array=array, kind=CELL_KINDS[name])
            if keep:
                cached[(i, c)] = cached_value(values[c])
    builder.cached[SHEET] = cached
    for k, text in enumerate(NOTES):
        g.put(rows + 2 + k, 0, text, kind="note")
    builder.write_grid(g)
    for c, name in enumerate(COLUMNS):
        width = fitted_width(display_header(name), frame[name], KINDS[name],
                             minimum=MIN_WIDTHS.get(name, 10), cap=40)
        options = {"hidden": True} if name == PARENT_KEY else {}
        ws.set_column(c, c, width, None, options)
    col = {name: c for c, name in enumerate(COLUMNS)}
    builder.traffic_lights(ws, 1, rows, col["health"], col["band"])
    ws.freeze_panes(1, 1)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0)
    ws.print_area(0, 0, rows + 1 + len(NOTES), len(PARENTS_COLUMNS) - 1)


# ---------------------------------------------------------------- on the Dashboard

NUMBER_KINDS = ("score", "count", "money", "int")
WEAKEST = WEAKEST_PARENTS   # parents listed on the Dashboard, weakest health first
WEAKEST_COLUMNS = (("parent_id", "Parent", "bold"), ("accounts", "Accounts", "count"),
                   ("arr", "ARR", "money"), ("health", "Health", "score"),
                   ("band", "Band", "plain_indent"),
                   ("worst_account", "Worst account", "plain_indent"),
                   ("worst_health", "Worst health", "score"))
WEAKEST_HEALTH, WEAKEST_BAND = 3, 4   # their columns (the traffic lights')


def weakest_parents_block(g: Grid, top: int, rows: int) -> int:
    """The Dashboard's weakest parents: SMALL over the Parents Table's health (ties in
    its order), each row's other cells looked up there. Returns the first listed row."""
    g.put(top, 0, f"The {WEAKEST} weakest parents (ARR-weighted health, sheet Parents)",
          kind="subtitle")
    header = top + 1
    heads = [(text, kind) for _, text, kind in WEAKEST_COLUMNS] + [("Parents row", "int")]
    for c, (text, kind) in enumerate(heads):   # over numbers right-aligned, like them
        g.put(header, c, text, kind="header_right" if kind in NUMBER_KINDS else "header")
    health = parents_range("health", rows)
    for k in range(1, WEAKEST + 1):
        r = header + k
        letter = xl_col_to_name(WEAKEST_HEALTH)
        value, found = f"${letter}{r + 1}", f"$H{r + 1}"
        first = f"${letter}${header + 2}"
        g.put(r, WEAKEST_HEALTH, f'IFERROR(SMALL({health},{k}),"")', formula=True,
              kind="score")
        g.put(r, 7, f'IF({value}="","",SMALL(IF({health}={value},ROW({health})),'
                    f"COUNTIF({first}:{value},{value})))", formula=True, array=True,
              kind="helper")
        for c, (name, _, kind) in enumerate(WEAKEST_COLUMNS):
            if name != "health":
                g.put(r, c, f'IF({found}="","",INDEX({parents_range(name, rows)},{found}-1))',
                      formula=True, kind=kind)
    return header + 1
