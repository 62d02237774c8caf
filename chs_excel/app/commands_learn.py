"""`chs calibrate --learn-points`: the inputs it reads and the report sheets it adds.

Learning needs each account's raw metric values and its outcome. They come from one of:
(a) an accounts file with a `renewed` or `churned` column; (b) a scored workbook, whose
Accounts Table holds the raw values, with `--outcomes`; (c) any input with `--accounts
ACCOUNTS` for the raw values and the outcomes in `--outcomes` or in the accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np
import pandas as pd

from chs_excel.analytics.calibration import (
    CalibrationReport,
    calibrate,
    outcome_column,
    parse_outcome,
)
from chs_excel.analytics.learn import LearnedPoints, learn_points
from chs_excel.core.engine import score
from chs_excel.core.errors import ChsError, InputError
from chs_excel.core.model import Model, default_model
from chs_excel.core.vocabulary import header_key
from chs_excel.io.accounts import XLSX_SUFFIXES, read_accounts
from chs_excel.io.scores import account_ids
from chs_excel.io.workbook import read_workbook

if TYPE_CHECKING:
    from chs_excel.app.commands_forecast import ReportBook

CURVE_HEADERS = {"level": "Level", "accounts": "Accounts", "share": "Share",
                 "churn_rate": "Churn rate", "current_points": "Current points",
                 "learned_points": "Learned points"}


@dataclass
class Learning:
    """The calibration report of the current model and what learning found."""

    report: CalibrationReport
    learned: LearnedPoints
    notes: list[str]


def learn(input_path: Path, accounts_path: Path | None, outcomes_path: Path | None,
          model: Model | None, *, max_levels: int, shape: str) -> Learning:
    """Read the raw values and outcomes, calibrate the weights, then learn the points."""
    accounts, book_model, where = _raw_accounts(input_path, accounts_path)
    model = model or book_model or default_model()
    missing = [m.column for m in model.metrics
               if header_key(m.column) not in {header_key(c) for c in accounts.columns}]
    if len(missing) == len(model.metrics):
        raise InputError(f"{where}: --learn-points needs each account's raw metric values "
                         f"({', '.join(m.column for m in model.metrics[:3])}, ...); pass the "
                         "accounts file with --accounts ACCOUNTS, or a scored workbook")
    renewed, notes = _outcomes(accounts, outcomes_path, where)
    keep = ~np.isnan(renewed)
    if not keep.all():
        notes.append(f"{int((~keep).sum()):,} accounts without an outcome were left out")
    accounts, renewed = accounts[keep], renewed[keep]  # index: the file's rows
    if missing:
        notes.append(f"metrics without a column in {where} (weight 0 in the learned "
                     f"model): {', '.join(missing)}")
    try:
        rows = score(model, accounts).scores.assign(renewed=renewed)
    except ChsError as exc:  # e.g. a repeated id: say which file (rows are the file's)
        raise type(exc)(f"{where}: {exc}") from None
    accounts, rows = accounts.reset_index(drop=True), rows.reset_index(drop=True)
    report = calibrate(rows, model, where=where)
    learned = learn_points(model, accounts, renewed, weights_only=report.suggested_model(),
                           max_levels=max_levels, shape=shape, where=where)
    return Learning(report, learned, [*notes, *(f"weights only: {n}" for n in report.notes),
                                      *(f"learned points: {n}" for n in learned.notes)])


def _raw_accounts(input_path: Path, accounts_path: Path | None) \
        -> tuple[pd.DataFrame, Model | None, str]:
    """The accounts with raw values: --accounts, else a workbook's Accounts, else INPUT."""
    if accounts_path is not None:
        return read_accounts(accounts_path), None, str(accounts_path)
    if input_path.suffix.lower() in XLSX_SUFFIXES:
        try:
            book = read_workbook(input_path)
        except InputError:
            book = None          # not a built workbook: an accounts sheet
        if book is not None and book.accounts is not None:
            return book.accounts, book.model, f"{input_path}, sheet Accounts"
    return read_accounts(input_path), None, str(input_path)


def _outcomes(accounts: pd.DataFrame, outcomes_path: Path | None,
              where: str) -> tuple[np.ndarray, list[str]]:
    """Each account's outcome (1 renewed, 0 churned, NaN unknown), by account id."""
    ids = account_ids(_with_id(accounts, where), where)
    if outcomes_path is None:
        col = outcome_column(accounts, where)
        if col is None:
            raise InputError(f"{where}: no 'renewed' or 'churned' column; add one or pass "
                             "the outcomes with --outcomes FILE")
        return parse_outcome(accounts[col], _name(col), where), []
    table = read_accounts(outcomes_path)
    source = str(outcomes_path)
    col = outcome_column(table, source)
    if col is None:
        raise InputError(f"{source}: needs columns account_id and renewed (or churned)")
    keys = account_ids(_with_id(table, source), source)
    if keys.duplicated().any():
        raise InputError(f"{source}: account {keys[keys.duplicated()].iloc[0]} has more than "
                         "one outcome; --learn-points takes one outcome per account")
    found = pd.Series(parse_outcome(table[col], _name(col), source), index=keys.to_numpy())
    renewed = found.reindex(ids.to_numpy()).to_numpy(dtype=float)
    notes = []
    unmatched = int((~found.index.isin(ids.to_numpy())).sum())
    if unmatched:
        notes.append(f"{unmatched:,} outcomes match no account in {where}")
    if np.isnan(renewed).all():
        raise InputError(f"{source}: no outcome matches an account in {where}")
    return renewed, notes


def _name(column: str) -> str:
    """'renewed' or 'churned', however the header is spelled."""
    return "renewed" if header_key(column) == "renewed" else "churned"


def _with_id(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    found = [c for c in frame.columns if header_key(c) == "accountid"]
    if not found:
        raise InputError(f"{where}: no account_id column")
    return frame.rename(columns={found[0]: "account_id"})


# ---------------------------------------------------------------- report

def learned_sheets(book: ReportBook, learned: LearnedPoints) -> None:
    """Sheets `Learned points` (how well each model ranks) and `Curves` (a table and a
    chart per metric: current and learned points by level, churn rate per level)."""
    evaluation = learned.evaluation.rename(columns={
        "model": "Model", "held_out_auc": "Held-out AUC", "held_out_accounts": "Held-out rows"})
    ws, at = book.table("Learned points", "LearnedAUC", evaluation, row=4,
                        title="Held-out AUC: the chance a renewing account outscores a "
                              "churning one")
    ws.write_string(0, 0, "Learned points: each metric's curve and the weights, fitted "
                          "to past renewals", book.fmt["title"])
    ws.write_string(1, 0, f"{learned.band_changes:.0%} of the accounts change band under "
                          "the learned model. It changes nothing until you adopt it "
                          "(--write-model).", book.fmt["note"])
    check = learned.forecast_check.rename(columns={"measure": "Held-out accounts",
                                                   "value": "Value"})
    _, at = book.table("Learned points", "ForecastCheck", check, row=at.last_row + 4,
                       title="Renewal probabilities from the learned health "
                             "(--write-curve), checked on held-out accounts")
    book.format_rows(at, "Value", check["Value"], [_measure_format(m) for m in
                                                   check["Held-out accounts"]])
    reliability = learned.reliability.rename(columns={
        "decile": "Decile", "accounts": "Accounts", "predicted": "Predicted rate",
        "actual": "Actual rate"})
    _, at = book.table("Learned points", "Reliability", reliability, row=at.last_row + 4,
                       title="Reliability by decile of predicted probability (1 = lowest)")
    for k, note in enumerate(learned.notes):
        ws.write_string(at.last_row + 2 + k, 0, f"Note: {note}", book.fmt["note"])
    book.widen("Learned points", 0, 56)
    for col in (1, 2, 3):
        book.widen("Learned points", col, 16)
    curves = book.sheet("Curves")
    curves.write_string(0, 0, "Each metric's learned curve, the metrics that count most first",
                        book.fmt["title"])
    curves.write_string(1, 0, "Points run 0-100 for every metric; how much a metric counts is "
                              "its share of health. The churn rate per level is the raw rate: "
                              "it also carries other metrics (slow first responses come with "
                              "many tickets), while the learned points are the metric's own "
                              "effect with the others held equal.", book.fmt["note"])
    row = 5
    influence = health_shares(learned.model)
    ordered = sorted(learned.curves.items(), key=lambda item: -influence[item[0]])
    for k, (column, table) in enumerate(ordered):
        table = table.rename(columns=CURVE_HEADERS)
        share = influence[column]
        title = f"{column}: counts for {share:.0%} of health" + (
            " (little: read its curve as noise)" if share < LITTLE else "")
        sheet, at = book.table("Curves", f"Curve{k + 1}", table, row=row, title=title)
        rows = len(table)
        chart = book.book.add_chart({"type": "column"})
        for series, colour in (("Current points", "#A6A6A6"), ("Learned points", "#2E75B6")):
            chart.add_series({"name": series.lower(),
                              "categories": at.column("Level", rows),
                              "values": at.column(series, rows), "fill": {"color": colour}})
        line = book.book.add_chart({"type": "line"})
        line.add_series({"name": "churn rate", "categories": at.column("Level", rows),
                         "values": at.column("Churn rate", rows), "y2_axis": True,
                         "line": {"color": "#C00000"}, "marker": {"type": "circle"}})
        chart.combine(line)
        chart.set_title({"name": column, "name_font": {"size": 11}})
        chart.set_y_axis({"name": "points", "min": 0})
        line.set_y2_axis({"name": "churn rate", "num_format": "0%", "min": 0})
        chart.set_legend({"position": "bottom"})
        chart.set_size({"width": 560, "height": 260})
        sheet.insert_chart(max(row - 2, 0), len(at.columns) + 1, chart)
        row = at.last_row + max(5, 16 - rows)
    for sheet in ("Learned points", "Curves"):
        book.sheet(sheet).set_landscape()
        book.sheet(sheet).fit_to_pages(1, 0)


LITTLE = 0.03   # a metric counting for less than this share of health: its curve is noise


def health_shares(model: Model) -> dict[str, float]:
    """Each metric's share of health when nothing is missing: its component's share times
    its share of the component's metric weights."""
    total = sum(model.components.values()) or 1.0
    within = {c: sum(m.weight for m in model.metrics if m.component == c) or 1.0
              for c in model.components}
    return {m.column: model.components[m.component] / total * m.weight / within[m.component]
            for m in model.metrics}


def echo_learned(learned: LearnedPoints) -> None:
    """The learning's headline numbers on the console, formatted for people."""
    click.echo("  Learned points, on held-out accounts (health as scored, caps included):")
    for _, row in learned.evaluation.iterrows():
        click.echo(f"    AUC, {row['model']}: {row['held_out_auc']:.3f}")
    click.echo(f"    accounts that change band: {learned.band_changes:.1%}")
    for _, row in learned.forecast_check.iterrows():
        click.echo(f"    {row['measure']}: {_measure(row['measure'], row['value'])}")


def _measure_format(measure: str) -> str:
    """The named number format of a forecast-check measure."""
    if "share" in measure:
        return "pct1"
    return "decimal3" if "Brier" in measure else "money" if "ARR" in measure else "count"


MEASURE_TEXT = {  # the console's form of each `_measure_format`
    "pct1": lambda v: f"{v:+.1%}", "decimal3": lambda v: f"{v:.3f}",
    "money": lambda v: f"{v:,.0f}",
    "count": lambda v: f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"}


def _measure(measure: str, value: float) -> str:
    return "n/a" if np.isnan(value) else MEASURE_TEXT[_measure_format(measure)](value)
