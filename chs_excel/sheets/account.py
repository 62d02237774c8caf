"""The `Account` sheet: one account's scorecard page, picked from a dropdown of ids.

Live formulas look the account up on Scores (health, band, components, weakest component,
metric scores), Accounts (raw values) and History (trend); the path to Green is looked up
in the `Paths` Table, which holds values: the path search (docs/path-to-green.md) is a
combinatorial search no native formula expresses, so `chs score`/`chs template` write it
when they build the workbook, and the sheet says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from xlsxwriter.utility import xl_rowcol_to_cell

from chs_excel.core.formulas import PARENT_KEY, Grid, ScoresPlan
from chs_excel.core.path import ALREADY_GREEN, Paths
from chs_excel.sheets.parents import parents_range

if TYPE_CHECKING:
    from chs_excel.sheets.workbook import WorkbookBuilder

PATH_ROWS = 8          # changes the Paths Table and the sheet list (paths are rarely longer)
STEP_FIELDS = ("column", "from", "to", "health_after")
PATHS_COLUMNS = ["account_id", "path_to_green", "path_steps",
                 *(f"{name}_{k}" for k in range(1, PATH_ROWS + 1) for name in STEP_FIELDS)]
ID_CELL = (2, 1)       # B3: the selected account


def paths_frame(paths: Paths | None, scores: pd.DataFrame | None) -> pd.DataFrame:
    """The `Paths` Table: one row per account not already Green (so it always fits a
    sheet), its path text, its step count and its first `PATH_ROWS` changes side by side
    (`column_1, from_1, to_1, health_after_1, ...`); the text lists every change.
    Accounts already Green have no row (the Account sheet says so from their band)."""
    if paths is None or scores is None:
        return pd.DataFrame(columns=PATHS_COLUMNS)
    summary = paths.summary
    keep = (summary["path_to_green"] != ALREADY_GREEN).to_numpy()
    ids = scores["account_id"].to_numpy()
    out = {"account_id": ids[keep], "path_to_green": summary["path_to_green"].to_numpy()[keep],
           "path_steps": summary["path_steps"].array[keep]}
    position = pd.Series(np.cumsum(keep) - 1, index=pd.Index(ids)).where(keep)
    steps = paths.steps
    row = position.reindex(steps["account_id"]).to_numpy()
    step = steps["step"].to_numpy()
    for k in range(1, PATH_ROWS + 1):
        at = (step == k) & ~np.isnan(row)
        where = row[at].astype(np.int64)
        for name in STEP_FIELDS:
            values = steps[name].to_numpy()
            column = np.full(int(keep.sum()), np.nan if name == "health_after" else None,
                             dtype=float if name == "health_after" else object)
            column[where] = values[at]
            out[f"{name}_{k}"] = column
    return pd.DataFrame(out, columns=PATHS_COLUMNS)


def selected_id(scores: pd.DataFrame | None, paths: Paths | None) -> str | None:
    """The account the sheet opens on: the first with a path to Green, else the first."""
    if scores is None or not len(scores):
        return None
    if paths is not None:
        has_path = (paths.summary["path_steps"].fillna(0) > 0).to_numpy()
        if has_path.any():
            return str(scores["account_id"].to_numpy()[has_path.argmax()])
    return str(scores["account_id"].iloc[0])


def account_sheet(book: WorkbookBuilder, plan: ScoresPlan, first_id: str | None,
                  parents: int = 0) -> None:
    """Lay out the Account sheet: selector, summary, components, metrics, path, trend;
    with `parents` rows on the Parents sheet, the account's parent and its roll-up."""
    model = book.model
    g = Grid("Account")
    sel = xl_rowcol_to_cell(*ID_CELL, True, True)
    g.put(0, 0, "Account scorecard", kind="title")
    g.put(1, 0, "Pick an account id in the cream cell (a list of the Scores sheet's ids). "
                "Everything but the path to Green is a live formula.", kind="note")
    g.put(2, 0, "Account", kind="bold")
    g.put(2, 1, first_id or "", kind="input")
    ids = plan.scores_range("account_id")
    g.put(2, 6, "row on Scores", kind="helper")
    g.put(2, 7, f'IFERROR(MATCH({sel},{ids},0),"")', formula=True, kind="helper")
    row = xl_rowcol_to_cell(2, 7, True, True)

    def at(name: str) -> str:
        return f'IF({row}="","",INDEX({plan.scores_range(name)},{row}))'

    summary = [("Health", "health", "score"), ("Band", "band", "plain"),
               ("Quartile", "quartile_label", "plain"), ("Coverage", "coverage", "pct"),
               ("Capped by", "capped_by", "plain"),
               ("Weakest component", "weakest_component", "plain"),
               ("Points at stake", "points_at_stake", "score")]
    for k, (label, name, kind) in enumerate(summary):
        g.put(4 + k, 0, label)
        g.put(4 + k, 1, at(name), formula=True, kind=kind)
    for extra, name in ((0, "owner"), (1, "arr"), (2, "renewal_date")):
        if name in plan.position:
            g.put(4 + extra, 3, {"owner": "Owner", "arr": "ARR"}.get(name, "Renewal date"))
            g.put(4 + extra, 4, at(name), formula=True,
                  kind={"arr": "money", "renewal_date": "date"}.get(name, "plain"))

    if parents and PARENT_KEY in plan.position:   # the parent's roll-up (Parents sheet)
        key = f'INDEX({plan.scores_range(PARENT_KEY)},{row})'
        found = f'MATCH({key},{parents_range(PARENT_KEY, parents)},0)'
        for k, (label, name, kind) in enumerate((
                ("Parent", "parent_id", "plain"), ("Parent's health", "health", "score"),
                ("Parent's band", "band", "plain"), ("Parent's accounts", "accounts", "count"))):
            g.put(7 + k, 3, label)
            g.put(7 + k, 4, f'IF({row}="","",IFERROR(INDEX({parents_range(name, parents)},'
                            f'{found}),""))', formula=True, kind=kind)

    top = 4 + len(summary) + 1
    g.put(top, 0, "Components", kind="subtitle")
    g.put(top + 1, 0, "component", kind="header")
    g.put(top + 1, 1, "score", kind="header")
    for k, comp in enumerate(model.components):
        g.put(top + 2 + k, 0, comp)
        g.put(top + 2 + k, 1, at(comp), formula=True, kind="score")
    comp_rows = (top + 2, top + 1 + len(model.components))

    g.put(top, 3, "Metrics", kind="subtitle")
    for c, head in enumerate(("metric", "value", "score")):
        g.put(top + 1, 3 + c, head, kind="header")
    for k, metric in enumerate(model.metrics):
        r = top + 2 + k
        g.put(r, 3, metric.column)
        if plan.has(metric.column):
            raw = plan.acc_range(metric.column)
            g.put(r, 4, f'IF({row}="","",IF(INDEX({raw},{row})="","",INDEX({raw},{row})))',
                  formula=True)
        g.put(r, 5, at(f"{metric.column}_score"), formula=True, kind="score")

    low = top + 2 + max(len(model.components), len(model.metrics)) + 1
    _path_block(g, plan, sel, row, low)
    _trend_block(g, sel, low + PATH_ROWS + 7)
    ws = book.write_grid(g)
    ws.set_column(0, 0, 22)
    ws.set_column(1, 1, 16)
    ws.set_column(2, 2, 18)
    ws.set_column(3, 3, 24)
    ws.set_column(4, 5, 12)
    ws.set_column(6, 6, 14)
    ws.data_validation(*ID_CELL, *ID_CELL, {
        "validate": "list", "source": f"={ids}", "ignore_blank": True,
        "error_message": "Pick an account id from the list (the Scores sheet's ids)."})
    book.traffic_lights(ws, 4, 4, 1, 1)  # health in B5 (the band is B6, below)
    for text, fmt in (("Green", "green"), ("Yellow", "yellow"), ("Red", "red"),
                      ("No data", "nodata")):
        ws.conditional_format("B6", {"type": "cell", "criteria": "==", "value": f'"{text}"',
                                     "format": book.fmt[fmt]})
    for first, last in (comp_rows, (top + 2, top + 1 + len(model.metrics))):
        col = 1 if (first, last) == comp_rows else 5
        book.colour_scale(ws, first, last, col)
    ws.hide_gridlines(2)
    ws.set_landscape()
    ws.fit_to_pages(1, 1)


def _path_block(g: Grid, plan: ScoresPlan, sel: str, row: str, top: int) -> None:
    """Path to Green: the account's text and its changes, looked up in the Paths Table."""
    g.put(top, 0, "Path to Green", kind="subtitle")
    g.put(top + 1, 0, "Values, not formulas: written when chs built the workbook and by "
                      "the refresh macro (chs_refresh). After changing data or the Model, "
                      "refresh or rebuild (chs template --from) to bring them up to date.",
          kind="note")
    first = f"MATCH({sel},Paths[account_id],0)"
    g.put(top + 2, 0, "Fewest changes")
    band = f'INDEX({plan.scores_range("band")},{row})'
    g.put(top + 2, 1, f'IFERROR(INDEX(Paths[path_to_green],{first}),IF({row}="","",'
                      f'IF({band}="Green","{ALREADY_GREEN}","(not computed)")))',
          formula=True)
    g.put(top + 3, 0, "Changes")
    g.put(top + 3, 1, f'IFERROR(INDEX(Paths[path_steps],{first}),IF({row}="","",'
                      f'IF({band}="Green",0,"")))', formula=True, kind="int")
    heads = ("step", "metric", "from", "to", "health after")
    for c, head in enumerate(heads):
        g.put(top + 4, c, head, kind="header")
    count = xl_rowcol_to_cell(top + 3, 1, True, True)
    for k in range(1, PATH_ROWS + 1):
        r = top + 4 + k
        live = f'IFERROR(N({count})>={k},FALSE)'
        g.put(r, 0, f'IF({live},{k},"")', formula=True, kind="int")
        for c, name in enumerate(STEP_FIELDS, start=1):
            g.put(r, c, f'IF({live},INDEX(Paths[{name}_{k}],{first}),"")', formula=True,
                  kind="score" if name == "health_after" else "plain")
    g.put(top + 5 + PATH_ROWS, 0, f"The Paths Table lists the first {PATH_ROWS} changes of "
                                  "a path; its text above lists every change.", kind="note")


def _trend_block(g: Grid, sel: str, top: int) -> None:
    """The account's health at its latest and previous History snapshot, and the change."""
    g.put(top, 0, "Trend (History snapshots)", kind="subtitle")
    latest = f"_xlfn.MAXIFS(History[date],History[account_id],{sel})"
    g.put(top + 1, 0, "Latest snapshot")
    g.put(top + 1, 1, f'IF({latest}=0,"no snapshot yet",{latest})', formula=True,
          kind="date")
    last = xl_rowcol_to_cell(top + 1, 1, True, True)
    before = (f'_xlfn.MAXIFS(History[date],History[account_id],{sel},History[date],'
              f'"<"&N({last}))')
    g.put(top + 2, 0, "Previous snapshot")
    g.put(top + 2, 1, f'IF(OR(N({last})=0,{before}=0),"",{before})', formula=True,
          kind="date")
    prev = xl_rowcol_to_cell(top + 2, 1, True, True)
    for k, (label, day) in enumerate((("Health then", prev), ("Health at latest", last))):
        g.put(top + 3 + k, 0, label)
        g.put(top + 3 + k, 1, f'IF(N({day})=0,"",SUMIFS(History[health],History[account_id],'
                              f'{sel},History[date],N({day})))', formula=True, kind="score")
    then, now = (xl_rowcol_to_cell(top + 3 + k, 1, True, True) for k in (0, 1))
    g.put(top + 5, 0, "Change")
    g.put(top + 5, 1, f'IF(OR({then}="",{now}=""),"",{now}-{then})', formula=True,
          kind="score")
