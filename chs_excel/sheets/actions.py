"""The Actions sheet: the CSM's to-do list, every account with a next action, live.

Each account appears once, under its `next_action` (the matching playbook with the lowest
priority number), sorted by priority, then ARR (largest first), then Scores order. The
sheet is formulas: slot k finds the Scores row whose `calc: action rank` is k
(`core/formulas.py` computes the rank), so editing a playbook, a threshold or an account
reorders it on the next recalculation. `action_list` is the same list from the engine's
scores: the cached values, what `chs_refresh` writes as values (`actions_sections`) once
Scores holds values, and what the tests compare the recalculated sheet with.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from chs_excel.core.formulas import Grid, ScoresPlan
from chs_excel.core.playbooks import STATUS_COLUMNS, STATUS_SHEET, STATUS_TABLE, STATUSES
from chs_excel.xlsx.writer import cached_value

if TYPE_CHECKING:
    from chs_excel.sheets.workbook import WorkbookBuilder

ACTION_ROWS = 5000     # the most accounts the live list holds (each slot scans Scores)
HEADER_ROW = 4         # 0-based: Excel row 5
# (Scores column, header, display kind) of the list, in order; absent columns are left out.
LIST_COLUMNS = (("action_priority", "Priority", "int"), ("action_due", "Due", "date"),
                ("next_action", "Action", "plain"),
                ("action_owner", "Action owner", "plain"), ("account_id", "Account", "plain"),
                ("account_name", "Account name", "plain"), ("owner", "Account owner", "plain"),
                ("arr", "ARR", "money"), ("renewal_date", "Renewal date", "date"),
                ("health", "Health", "score"), ("band", "Band", "plain"),
                ("actions", "All matching actions", "plain"))
WIDTHS = {"action_due": 12, "next_action": 36, "actions": 100, "action_priority": 9,
          "account_name": 26, "action_owner": 18, "owner": 16, "renewal_date": 13, "arr": 12}


def action_list(scores: pd.DataFrame) -> pd.DataFrame:
    """Accounts with a next action in to-do order: priority (lowest number first), then
    ARR (largest first; blank counts as 0), then their order in Scores."""
    return scores.iloc[_to_do_order(scores)].reset_index(drop=True)


def actions_sections(scores: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The Actions sheet as values (what `chs_refresh` writes): the same columns and
    order as the live sheet, every account with a next action."""
    listed = action_list(scores)
    columns = {name: header for name, header, _ in LIST_COLUMNS if name in listed}
    return [(f"Actions — what to do next ({len(listed):,} accounts)",
             listed[list(columns)].rename(columns=columns))]


PRINTED_BLANK_ROWS = 40   # formula rows a book without accounts prints (a page, not 2,000)


def printed_rows(built: int | None, rows: int) -> int:
    """The last row a sheet of `rows` formula rows prints: the `built` rows it was built
    with, so the empty rows left for pasting more do not print as blank pages (a refresh
    or rebuild sets it again); a page's worth when built without accounts."""
    return min(built, rows) if built else min(rows, PRINTED_BLANK_ROWS)


def _has_action(scores: pd.DataFrame) -> np.ndarray:
    """Which accounts (Scores order) have a next action."""
    return scores["next_action"].fillna("").astype(str).to_numpy() != ""


def _to_do_order(scores: pd.DataFrame) -> np.ndarray:
    """Positions (0-based, in Scores) of the accounts with a next action, in to-do order."""
    has = _has_action(scores)
    arr = pd.to_numeric(scores["arr"], errors="coerce").fillna(0.0) if "arr" in scores \
        else pd.Series(0.0, index=scores.index)
    order = pd.DataFrame({"p": scores["action_priority"].to_numpy(dtype=float),
                          "a": -arr.to_numpy(dtype=float),
                          "i": np.arange(len(scores))})[has]
    return order.sort_values(["p", "a", "i"], kind="stable")["i"].to_numpy()


def actions_sheet(builder: WorkbookBuilder, plan: ScoresPlan,
                  scores: pd.DataFrame | None) -> None:
    """Write the Actions sheet: a title, the count, then one formula row per slot."""
    g = Grid("Actions")
    g.put(0, 0, f"Actions — what to do next ({builder.model.name})", kind="title")
    shown = [c for c in LIST_COLUMNS if c[0] in plan.position]
    slots = min(plan.last - plan.first + 1, ACTION_ROWS)
    if not builder.model.playbooks:
        g.put(1, 0, "The model has no playbooks: add rows to the Playbooks table on the "
                    "Model sheet, then rebuild (chs rebuild THIS.xlsx -o NEW.xlsx).",
              kind="note")
        ws = builder.write_grid(g)
        ws.set_column(0, 0, 100)
        return
    g.put(1, 0, "Every account with a next action (the matching playbook with the lowest "
                "priority number, from the Playbooks table on the Model sheet), sorted by "
                "priority, then ARR, largest first. Formulas over Scores: they follow every "
                "change.", kind="note")
    rank = plan.scores_range("calc: action rank")
    g.put(2, 0, f"COUNT({plan.scores_range('action_priority')})", formula=True, kind="count")
    g.put(2, 1, "accounts have an action", kind="bold")
    if plan.last - plan.first + 1 > ACTION_ROWS:
        g.put(2, 4, f"(the first {ACTION_ROWS:,} are listed; filter Scores by next_action "
                    "for the rest)", kind="note")
    heads = ["#", "Scores row", *(h for _, h, _ in shown)]
    for c, text in enumerate(heads):
        g.put(HEADER_ROW, c, text, kind="header")
    for k in range(1, slots + 1):
        r = HEADER_ROW + k
        found = f"$B{r + 1}"
        g.put(r, 0, k, kind="int")
        g.put(r, 1, f'IFERROR(MATCH({k},{rank},0),"")', formula=True, kind="helper")
        for c, (name, _, kind) in enumerate(shown, start=2):
            g.put(r, c, f'IF({found}="","",INDEX({plan.scores_range(name)},{found}))',
                  formula=True, kind=kind)
    if scores is not None and "Actions" not in builder.cached:
        builder.cached["Actions"] = _cached(scores, shown, slots)
    ws = builder.write_grid(g)
    ws.set_column(0, 0, 7)
    ws.set_column(1, 1, 11)
    for c, (name, header, _) in enumerate(shown, start=2):
        ws.set_column(c, c, WIDTHS.get(name, max(10, len(header) + 2)))
    ws.freeze_panes(HEADER_ROW + 1, 2)
    columns = {name: c for c, (name, _, _) in enumerate(shown, start=2)}
    builder.traffic_lights(ws, HEADER_ROW + 1, HEADER_ROW + slots, columns["health"],
                           columns["band"])
    ws.autofilter(HEADER_ROW, 0, HEADER_ROW + slots, len(heads) - 1)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(HEADER_ROW)
    listed = max(int(_has_action(scores).sum()), 1) \
        if scores is not None and "next_action" in scores else None
    ws.print_area(0, 0, HEADER_ROW + printed_rows(listed, slots), len(heads) - 1)
    ws.hide_gridlines(2)


def _cached(scores: pd.DataFrame, shown: list[tuple[str, str, str]],
            slots: int) -> dict[tuple[int, int], Any]:
    """The engine's answer as the slots' cached values (what a reader sees unrecalculated)."""
    positions = _to_do_order(scores)
    out: dict[tuple[int, int], Any] = {(2, 0): float(len(positions))}
    listed = positions[:slots]
    rows = range(HEADER_ROW + 1, HEADER_ROW + 1 + len(listed))
    out.update(((r, 1), float(position + 1)) for r, position in zip(rows, listed, strict=True))
    for c, (name, _, _) in enumerate(shown, start=2):  # one column at a time, not a cell
        values = scores[name].to_numpy(dtype=object)[listed] if name in scores \
            else [""] * len(listed)
        out.update(((r, c), cached_value(v)) for r, v in zip(rows, values, strict=True))
    return out


# ---------------------------------------------------------------- statuses

STATUS_ROWS = 200      # blank input rows the ActionStatus Table offers beyond its rows


def status_sheet(builder: WorkbookBuilder, statuses: pd.DataFrame | None) -> None:
    """The `Action status` sheet: the ActionStatus Table a CSM types done / snoozed /
    not relevant into (kept by refresh, rebuild, re-scoring and template --from)."""
    frame = statuses[STATUS_COLUMNS] if statuses is not None else pd.DataFrame(
        columns=STATUS_COLUMNS)
    frame = frame.assign(until=pd.to_datetime(frame["until"], errors="coerce",
                                              format="mixed").dt.date
                         if len(frame) else frame["until"])
    frame = frame.assign(until=frame["until"].astype(object).where(frame["until"].notna(),
                                                                   None))
    rows = len(frame) + STATUS_ROWS
    ws = builder.table_sheet(STATUS_SHEET, STATUS_TABLE, frame, rows=rows, input_cells=True)
    ws.data_validation(1, 2, rows, 2, {"validate": "list", "source": list(STATUSES),
                                       "error_message": "done, snoozed or not relevant"})
    ws.data_validation(1, 3, rows, 3, {"validate": "date", "criteria": ">=",
                                       "minimum": dt.date(1900, 1, 2),
                                       "error_message": "A date (YYYY-MM-DD)."})
    for c, width in enumerate((14, 26, 14, 12, 50)):
        ws.set_column(c, c, width, builder.fmt["input_date" if c == 3 else "input"])
    ws.print_area(0, 0, max(len(frame), 1), len(STATUS_COLUMNS) - 1)


# ---------------------------------------------------------------- this week

WEEK_DAYS = 7
WEEK_COLUMNS = (("owner", "Account owner"), ("action_due", "Due"),
                ("action_priority", "Priority"), ("next_action", "Action"),
                ("account_id", "Account"), ("account_name", "Account name"), ("arr", "ARR"),
                ("health", "Health"), ("band", "Band"))


def this_week(scores: pd.DataFrame, as_of: dt.date, limit: int) -> pd.DataFrame:
    """Per account owner, the next actions due on or before as-of + 7 days (a due date is
    as-of + the playbook's due_in_days, so one due today is due now), at most `limit` per
    owner, ordered by priority then ARR (largest first), then Scores order."""
    if "action_due" not in scores or not len(scores):
        return pd.DataFrame(columns=[c for c, _ in WEEK_COLUMNS if c in scores])
    due = pd.to_datetime(scores["action_due"], errors="coerce")
    end = pd.Timestamp(as_of) + pd.Timedelta(days=WEEK_DAYS)
    owner = scores["owner"].fillna("").astype(str) if "owner" in scores \
        else pd.Series("", index=scores.index)
    arr = pd.to_numeric(scores["arr"], errors="coerce").fillna(0.0) if "arr" in scores \
        else pd.Series(0.0, index=scores.index)
    keep = due.notna() & (due <= end) & (scores["next_action"].fillna("") != "")
    order = pd.DataFrame({"o": owner, "p": scores["action_priority"], "a": -arr,
                          "i": np.arange(len(scores))})[keep.to_numpy()]
    order = order.sort_values(["o", "p", "a", "i"], kind="stable")
    order = order[order.groupby("o", sort=False).cumcount() < limit]
    listed = scores.iloc[order["i"].to_numpy()].reset_index(drop=True)
    return listed.assign(owner=owner.iloc[order["i"].to_numpy()].to_numpy()) \
        [[c for c, _ in WEEK_COLUMNS if c in listed or c == "owner"]]


def this_week_sections(scores: pd.DataFrame, as_of: dt.date,
                       limit: int) -> list[tuple[str, pd.DataFrame]]:
    """The This week sheet as report sections: one per account owner."""
    listed = this_week(scores, as_of, limit)
    names = dict(WEEK_COLUMNS)
    if listed.empty:
        return [(f"This week — nothing due by {as_of + dt.timedelta(days=WEEK_DAYS)}",
                 listed.rename(columns=names))]
    out = []
    for owner, rows in listed.groupby("owner", sort=False):
        title = f"{owner or '(no owner)'} — {len(rows)} due by " \
                f"{as_of + dt.timedelta(days=WEEK_DAYS):%Y-%m-%d} (at most {limit})"
        out.append((title, rows.drop(columns="owner").rename(columns=names)
                    .reset_index(drop=True)))
    return out


WEEK_KINDS = {"action_due": "date", "action_priority": "int", "arr": "money",
              "health": "score"}
WEEK_WIDTHS = (12, 9, 36, 13, 26, 12, 9, 9)   # the columns after the owner (a title)


def this_week_sheet(builder: WorkbookBuilder, scores: pd.DataFrame | None,
                    as_of: dt.date | None) -> None:
    """The `This week` sheet as values (rewritten by `chs_refresh` and every rebuild):
    per account owner, what is due by as-of + 7 days, capped at the Settings'
    `this_week_limit`, by priority then ARR."""
    g = Grid("This week")
    day = as_of or dt.date.today()
    limit = builder.model.this_week_limit
    g.put(0, 0, f"This week — actions due by {day + dt.timedelta(days=WEEK_DAYS):%Y-%m-%d}",
          kind="title")
    g.put(1, 0, f"Per account owner, at most {limit} (Model, Settings: this_week_limit), "
                "by priority then ARR; due = as-of date + the playbook's due_in_days.",
          kind="note")
    g.put(2, 0, "Values from the last build or refresh. A status on the Action status "
                "sheet (done, snoozed, not relevant) takes an action off.", kind="note")
    sections = this_week_sections(scores, day, limit) if scores is not None and \
        builder.model.playbooks else [("No playbook actions (score accounts first)",
                                       pd.DataFrame(columns=[h for _, h in WEEK_COLUMNS]))]
    row = 4
    for title, frame in sections:
        g.put(row, 0, title, kind="subtitle")
        for c, header in enumerate(frame.columns):
            g.put(row + 1, c, header, kind="header")
        kinds = {h: WEEK_KINDS.get(k, "plain") for k, h in WEEK_COLUMNS}
        for r, values in enumerate(frame.itertuples(index=False), start=row + 2):
            for c, value in enumerate(values):
                g.put(r, c, cached_value(value), kind=kinds.get(frame.columns[c], "plain"))
        row += len(frame) + 3
    ws = builder.write_grid(g)
    for c, width in enumerate(WEEK_WIDTHS):
        ws.set_column(c, c, width)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.print_area(0, 0, max(row - 2, 2), len(WEEK_WIDTHS) - 1)
    ws.hide_gridlines(2)
