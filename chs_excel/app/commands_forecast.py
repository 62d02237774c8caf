"""Commands `chs snapshot`, `chs forecast`, `chs trend` and `chs calibrate`, and their reports.

The commands are thin: read, call forecast/history/calibration, write. Reports are
XlsxWriter workbooks of Excel Tables (native charts in the calibration and forecast
reports); calibration PNGs are the same charts rendered by LibreOffice when it is installed.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pandas as pd

from chs_excel.analytics.calibration import COIN_TOSS, CalibrationReport, calibrate, join_outcomes
from chs_excel.analytics.forecast import (
    BAND_ARR,
    DEFAULT_PERIOD,
    FORECAST_COLUMNS,
    HEADINGS,
    PERIODS,
    SCENARIOS,
    Forecast,
    fiscal_year_window,
    forecast_accounts,
    load_curve,
    renewal_forecast,
    total_row,
    whole,
)
from chs_excel.analytics.history import (
    band_migration,
    book_change,
    merge,
    movers,
    rollup,
    snapshot,
    trend,
)
from chs_excel.analytics.learn import MAX_LEVELS, SHAPES
from chs_excel.analytics.stability import stability
from chs_excel.app.cli_common import DATE
from chs_excel.app.cli_common import echo_notes as _echo_notes
from chs_excel.app.cli_common import optional_model as _model
from chs_excel.app.cli_common import output_kind as _output
from chs_excel.app.commands_learn import echo_learned, learn, learned_sheets
from chs_excel.app.macros import sheet_after
from chs_excel.core.engine import score
from chs_excel.core.errors import ChsError
from chs_excel.core.files import locked, write_atomically
from chs_excel.core.limits import MAX_HORIZON, MAX_TOP, MAX_WINDOW_DAYS
from chs_excel.core.model import Model, default_model
from chs_excel.core.vocabulary import BAND_ORDER, header_key
from chs_excel.io.accounts import XLSX_SUFFIXES, read_accounts
from chs_excel.io.book import FileBook
from chs_excel.io.history_store import (
    SUMMARY_DATES,
    History,
    account_names,
    check_not_open,
    is_sqlite,
    read_history,
    save_book_history,
    stored_dates,
    write_history,
)
from chs_excel.io.safe_text import write_csv
from chs_excel.io.scores import read_scores
from chs_excel.io.workbook import fixed_as_of, read_book_model
from chs_excel.xlsx.package import Package
from chs_excel.xlsx.report import ReportBook, TableAt, write_cell
from chs_excel.xlsx.styles import BAND_COLOURS
from chs_excel.xlsx.writer import wrapped_height

__all__ = ["ReportBook", "TableAt"]  # the report writer, re-exported for the commands

PNG_TIMEOUT = 120  # seconds LibreOffice may take to render the charts


# ---------------------------------------------------------------- snapshot

@click.command("snapshot")
@click.argument("input_path", metavar="BOOK.xlsx|SCORES.csv", type=click.Path(path_type=Path))
@click.option("--date", "day", type=DATE, help="Snapshot date, YYYY-MM-DD (default: today).")
@click.option("--history", "store", type=click.Path(path_type=Path),
              help="History store: a SQLite file (.sqlite/.db) or another workbook. "
                   "Default: the History sheet of BOOK itself.")
@click.option("--model", "model_path", type=click.Path(path_type=Path),
              help="Model the scores were made with (default: BOOK's Model sheet, else the "
                   "built-in model).")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write BOOK with its updated History to this copy instead of into BOOK.")
def snapshot_command(input_path: Path, day: dt.datetime | None, store: Path | None,
                     model_path: Path | None, output: Path | None) -> None:
    """Append today's scores (or --date's) to the history; the same date twice is replaced.

    This is the one command that writes into the workbook it is given (its History and
    History weights sheets) unless -o names a copy; scores csv files need --history.
    """
    date = day.date() if day else dt.date.today()
    is_book = input_path.suffix.lower() in XLSX_SUFFIXES
    _output(output, ("xlsx", "xlsm"), (input_path, store, model_path))
    if store is None and not is_book:
        raise ChsError(f"{input_path}: a scores csv has no History sheet; keep history in a "
                       "file store with --history H.sqlite")
    if output is not None and not is_book:
        raise ChsError("-o applies when snapshotting into a workbook")
    if output is not None and output.suffix.lower() != input_path.suffix.lower():
        raise ChsError(f"{output}: name the copy {input_path.suffix} like {input_path.name} "
                       "(Excel opens a macro-enabled workbook only as .xlsm, a plain one "
                       "only as .xlsx)")
    for book in (input_path if is_book and output is None else None,
                 store if store is not None and not is_sqlite(store) else None):
        if book is not None:
            check_not_open(book)  # before anything is written
    # one writer at a time per file, from reading the history to replacing the file
    with locked(store, output if output is not None else input_path if is_book else None):
        _snapshot(input_path, date, store, model_path, output, is_book)


def _snapshot(input_path: Path, date: dt.date, store: Path | None, model_path: Path | None,
              output: Path | None, is_book: bool) -> None:
    found = read_scores(input_path, _model(model_path))
    model = found.model or default_model()
    snap = snapshot(found.scores, model, date, found.where)
    notes = list(found.notes)
    if found.model is None:
        notes.append(f"no model in {input_path}: recorded as the built-in {model.name!r}")
    if store is not None and is_sqlite(store):
        notes += [n for n in merge(read_history(store, last=1), snap)[1]
                  if not n.startswith("replaced")]
        if date in stored_dates(store):
            notes.insert(0, f"replaced the snapshot of {date.isoformat()}")
        write_history(store, snap)
        count = len(stored_dates(store))
        where = f"{store}: {count} snapshot(s)"
        if is_book:
            save_book_history(input_path, read_history(store, last=SUMMARY_DATES), output,
                              place=sheet_after)
            notes.append(f"{output or input_path}: History sheet holds the last "
                         f"{min(SUMMARY_DATES, count)} snapshot(s)")
    else:
        target = store if store is not None else input_path
        full, merged_notes = merge(read_history(target), snap)
        notes += merged_notes
        save_book_history(target, full, output if store is None else None,
                          place=sheet_after)
        where = (f"{output or target}, sheet History: {len(full.dates)} snapshot(s), "
                 f"{len(full.rows):,} rows")
    click.echo(f"Snapshot {date.isoformat()} of {len(snap.rows):,} accounts (model "
               f"{model.name} v{model.version}) -> {where}")
    _echo_notes(notes)


# ---------------------------------------------------------------- forecast

@click.command("forecast")
@click.argument("input_path", metavar="BOOK.xlsx|SCORES.csv", type=click.Path(path_type=Path))
@click.option("--by", type=click.Choice(list(PERIODS)), default=DEFAULT_PERIOD,
              show_default=True, help="Renewal period (quarters of the fiscal year).")
@click.option("--as-of", "as_of", type=DATE,
              help="The day the forecast is made: earlier renewals are 'already past' "
                   "(default: BOOK's fixed AsOf date, else today).")
@click.option("--from", "start", type=DATE,
              help="Show the periods from the one holding this day (the as-of date stays; "
                   "renewals between them are one row).")
@click.option("--to", "end", type=DATE,
              help="Show the periods up to the one holding this day; later renewals are "
                   "one 'After' row.")
@click.option("--fiscal-year", "fiscal_year_name", metavar="FY2028",
              help="Show that fiscal year's periods (as --from its first day --to its "
                   "last).")
@click.option("--horizon", type=click.IntRange(1, MAX_HORIZON),
              help="Number of periods (default: up to the last renewal); later renewals "
                   "are one 'After' row.")
@click.option("--fiscal-year-start", "fiscal_year_start", type=click.IntRange(1, 12),
              help="Month the fiscal year starts in (default: the model's "
                   "fiscal_year_start, else 1).")
@click.option("--model", "model_path", type=click.Path(path_type=Path),
              help="Model whose band probabilities to use (default: BOOK's Model sheet, "
                   "else the scores' renewal_probability column).")
@click.option("--curve", "curve_path", type=click.Path(path_type=Path),
              help="Calibrated curve (chs calibrate --write-curve) instead of band "
                   "probabilities.")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write the forecast: .xlsx (tables and chart) or .csv (the rows).")
def forecast_command(input_path: Path, by: str, as_of: dt.datetime | None,
                     start: dt.datetime | None, end: dt.datetime | None,
                     fiscal_year_name: str | None,
                     horizon: int | None, fiscal_year_start: int | None,
                     model_path: Path | None, curve_path: Path | None,
                     output: Path | None) -> None:
    """Renewal forecast per fiscal quarter (or month) from the as-of date: ARR up for
    renewal, expected, best and worst case, at risk; the total is every account's ARR."""
    kind = _output(output, ("xlsx", "csv"), (input_path, model_path, curve_path))
    curve = load_curve(curve_path) if curve_path else None
    found = read_scores(input_path, _model(model_path), FORECAST_COLUMNS)
    model = found.model
    if model is None and curve is None and "renewal_probability" not in found.scores.columns:
        model = default_model()
    day = as_of.date() if as_of else _book_as_of(input_path) or dt.date.today()
    fiscal = fiscal_year_start or (model.fiscal_year_start if model else 1)
    if fiscal_year_start and found.model is not None and \
            found.model.fiscal_year_start != fiscal_year_start:
        click.echo(f"Note: {input_path}'s Model sets fiscal_year_start "
                   f"{found.model.fiscal_year_start}; this report uses {fiscal_year_start}. "
                   "Change it on the Model sheet (Settings) so the workbook's Forecast "
                   "sheet shows the same quarters.")
    first, last = start.date() if start else None, end.date() if end else None
    if fiscal_year_name:
        if first or last:
            raise ChsError("give --fiscal-year or --from/--to, not both")
        first, last = fiscal_year_window(fiscal_year_name, fiscal)
    accounts = forecast_accounts(found.scores, found.where, model=model, curve=curve)
    result = renewal_forecast(accounts, as_of=day, by=by, fiscal_year_start=fiscal,
                              horizon=horizon, start=first, end=last)
    _print_forecast(result, curve_path, model)
    _echo_notes([*found.notes, *result.notes])
    if output is not None:
        write_atomically(output, lambda tmp: write_forecast(tmp, kind, result))
        click.echo(f"Wrote the forecast -> {output}")


def _book_as_of(path: Path) -> dt.date | None:
    """A workbook's fixed AsOf date (None for a csv or a book on TODAY())."""
    if path.suffix.lower() not in XLSX_SUFFIXES:
        return None
    return fixed_as_of(Package(path))


PRINTED = (("accounts", "accounts"), ("arr", "ARR"), ("expected_arr", "expected"),
           ("likely_low", "likely P10"), ("likely_high", "likely P90"),
           ("best_case", "best case"), ("worst_case", "worst case"),
           ("arr_at_risk", "at risk"))


def _print_forecast(result: Forecast, curve_path: Path | None, model: Model | None) -> None:
    source = f"curve {curve_path}" if curve_path else (
        f"band probabilities of {model.name}" if model else "the scores' probabilities")
    fiscal = f", fiscal year starting in {calendar.month_name[result.fiscal_year_start]}" \
        if result.by == "quarter" else ""
    click.echo(f"Renewal forecast by {result.by} as of {result.as_of.isoformat()}{fiscal} "
               f"({source})")
    rows = [*result.table.to_dict("records"), total_row(result)]
    for row in rows:
        row["period"] = _dated(row)
    years = [{**row, "period": _dated({**row, "period": row["fiscal_year"]})}
             for row in result.by_fiscal_year.to_dict("records")]
    width = max(len(str(r["period"])) for r in [*rows, *years]) + 2
    click.echo("  " + f"{'period':<{width}}" + "".join(f"{h:>13}" for _, h in PRINTED))
    for row in rows:
        click.echo("  " + f"{row['period']:<{width}}" +
                   "".join(f"{whole(row[k]):>13,}" for k, _ in PRINTED))
    if years:
        click.echo("  By fiscal year (the period rows above, summed):")
        for row in years:
            click.echo("  " + f"{row['period']:<{width}}" +
                       "".join(f"{whole(row[k]):>13,}" for k, _ in PRINTED))
    for line in SCENARIOS:
        click.echo(f"  {line}")


def _dated(row: dict) -> str:
    """A row's label with its dates: `FY2026 Q4 (2026-02-10 to 2026-03-31)`."""
    starts, ends = row.get("starts"), row.get("ends")
    if isinstance(starts, dt.date) and isinstance(ends, dt.date):
        return f"{row['period']} ({starts.isoformat()} to {ends.isoformat()})"
    if isinstance(ends, dt.date):
        return f"{row['period']} (to {ends.isoformat()})"
    return str(row["period"])


def write_forecast(path: Path, kind: str | None, result: Forecast) -> None:
    """The forecast as csv (the rows, no total) or a workbook: the rows as a Table with the
    Total under it, the assumptions, a chart of the periods, by band and by owner."""
    table = result.table.drop(columns="kind")
    if kind == "csv":
        write_csv(table, path)
        return
    book = ReportBook(path, title="Renewal forecast")
    fiscal = f"fiscal year starting in {calendar.month_name[result.fiscal_year_start]}, " \
        if result.by == "quarter" else ""
    row = book.heading("Forecast", f"Renewal forecast by {result.by} ({fiscal}as of "
                       f"{result.as_of.isoformat()})",
                       [("wrapped_note", "The total is every account's ARR, so it ties to the "
                                         "Dashboard's ARR. It sits in the row under the table, "
                                         "outside it: sorting or filtering the table leaves it "
                                         "alone.")], span=8, width=120)
    ws, at = book.table("Forecast", "Forecast", table, row=row + 1, title="By period",
                        totals=total_row(result), labels=HEADINGS)
    below = at.end + 2
    ws.write_string(below, 0, "Assumptions", book.fmt["subtitle"])
    lines = [*SCENARIOS, *(f"Note: {n}" for n in result.notes)]
    for k, line in enumerate(lines, start=below + 1):
        ws.write_string(k, 0, line, book.fmt["note"])
    skip = 1  # the chart shows the periods, not the past / after / no date rows
    periods = int((result.table["kind"] == "period").sum())
    chart = book.book.add_chart({"type": "column", "subtype": "stacked"})
    for band in BAND_ARR:
        chart.add_series({"name": HEADINGS[band],
                          "categories": at.column("period", periods, skip),
                          "values": at.column(band, periods, skip),
                          "fill": {"color": _band_colour(band)}})
    line = book.book.add_chart({"type": "line"})
    line.add_series({"name": HEADINGS["expected_arr"],
                     "categories": at.column("period", periods, skip),
                     "values": at.column("expected_arr", periods, skip),
                     "line": {"color": "#1F3864"}, "marker": {"type": "circle"}})
    chart.combine(line)
    chart.set_title({"name": "ARR up for renewal by band, and expected renewed ARR"})
    chart.set_legend({"position": "bottom"})
    chart.set_y_axis({"num_format": "#,##0", "min": 0})
    chart.set_size({"width": 900, "height": 380})
    ws.insert_chart(below + len(lines) + 2, 0, chart)
    for sheet, name, frame, title in (
            ("By fiscal year", "ForecastByFiscalYear", result.by_fiscal_year,
             "The period rows summed per fiscal year, each with its own likely range"),
            ("By band", "ForecastByBand", result.by_band, "Each period split by band"),
            ("By owner", "ForecastByOwner", result.by_owner,
             "Each period split by owner (book of business)"),
            *([("By parent", "ForecastByParent", result.by_parent,
                "Each period split by parent account (parent_id)")]
              if len(result.by_parent) else [])):
        book.heading(sheet, f"Renewal forecast by {result.by}: {title.lower()}")
        book.table(sheet, name, frame, row=3, labels=HEADINGS)
    book.close()


def _band_colour(key: str) -> str:
    return BAND_COLOURS[BAND_ORDER[BAND_ARR.index(key)]]


# ---------------------------------------------------------------- trend

@click.command("trend")
@click.argument("store", metavar="HISTORY", type=click.Path(path_type=Path))
@click.option("--from", "before", type=DATE, help="Earlier snapshot (default: the one "
                                                   "before --to).")
@click.option("--to", "after", type=DATE, help="Later snapshot (default: the latest).")
@click.option("--top", type=click.IntRange(1, MAX_TOP), default=10, show_default=True,
              help="Movers to list each way.")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write the trend: .xlsx (every table) or .csv (per account).")
def trend_command(store: Path, before: dt.datetime | None, after: dt.datetime | None,
                  top: int, output: Path | None) -> None:
    """What changed between two snapshots, and why: movers, owners, band migration."""
    kind = _output(output, ("xlsx", "csv"), (store,))
    history = read_history(store)
    result = trend(history, before.date() if before else None,
                   after.date() if after else None)
    moved = movers(result, top)
    names = account_names(store)
    if names:
        moved.insert(2, "account_name", moved["account_id"].astype(str).map(names))
    click.echo(f"Trend {result.before} -> {result.after}: "
               f"{int(result.accounts['change'].notna().sum()):,} accounts in both")
    for direction in ("drop", "rise"):
        rows = moved[moved["direction"] == direction].head(5)
        if len(rows):
            click.echo(f"  Largest {direction}s:")
        for r in rows.to_dict("records"):
            name = f" {r['account_name']}" if isinstance(r.get("account_name"), str) else ""
            click.echo(f"    {r['account_id'] + name:<40} {r['health_before']:6.1f} -> "
                       f"{r['health_after']:6.1f}  {r['main reason']}")
    migration = band_migration(result)
    click.echo("  Band migration (rows: before, columns: after):")
    click.echo("    " + migration.to_string(index=False).replace("\n", "\n    "))
    stable = stability(history.at(result.before), history.at(result.after),
                       ["health", *history.components])
    _echo_stability(stable)
    _echo_notes(result.notes)
    if output is not None:
        owners = rollup(history, "owner", result.before, result.after)
        segments = rollup(history, "segment", result.before, result.after)
        books = book_change(history, result.before, result.after)
        write_atomically(output, lambda tmp: write_trend(tmp, kind, result.accounts, moved,
                                                         owners, segments, migration,
                                                         result.notes, stable, books))
        click.echo(f"Wrote the trend -> {output}")


def _echo_stability(table: pd.DataFrame) -> None:
    """The health line of the stability table, and every component that shifted."""
    for row in table.to_dict("records"):
        if row["what"] == "health" or row["verdict"] == "shifted":
            click.echo(f"  Stability of {row['what']}: PSI {row['psi']:.3f} "
                       f"({row['verdict']}; mean {row['earlier_mean']:.1f} -> "
                       f"{row['later_mean']:.1f})")


def write_trend(path: Path, kind: str | None, accounts: pd.DataFrame, moved: pd.DataFrame,
                owners: pd.DataFrame, segments: pd.DataFrame, migration: pd.DataFrame,
                notes: tuple[str, ...], stable: pd.DataFrame | None = None,
                books: pd.DataFrame | None = None) -> None:
    """The trend as csv (per account) or a workbook of its tables."""
    if kind == "csv":
        write_csv(accounts, path)
        return
    book = ReportBook(path, title="Trend")
    row = book.heading("Movers", "Largest drops and rises since the previous snapshot, "
                       "with the main reason")
    book.table("Movers", "Movers", moved, row=row, notes=notes)
    for sheet, name, frame, title in (
            ("Owners", "OwnerRollup", owners,
             "Each owner's book of business: mean health and its change"),
            ("Segments", "SegmentRollup", segments, "The same by segment")):
        book.heading(sheet, title)
        book.table(sheet, name, frame, row=2)
    if books is not None:
        _book_sheet(book, books)
    if stable is not None:
        book.heading("Stability", "Score stability between the snapshots (PSI over the "
                                  "earlier snapshot's deciles): stable < 0.10 <= watch < "
                                  "0.25 <= shifted")
        book.table("Stability", "Stability", stable, row=2)
    for sheet, name, frame, title in (
            ("Band migration", "BandMigration", migration,
             "Accounts by band before (rows) and after (columns)"),
            ("Why it moved", "WhyItMoved", accounts,
             "Change per account = component contributions + model and weights + data "
             "coverage + caps and overrides")):
        book.heading(sheet, title)
        book.table(sheet, name, frame, row=2)
    book.close()


def _book_sheet(book: ReportBook, books: pd.DataFrame) -> None:
    """Each owner's book then and now, with a chart of the change in mean health and in
    Red ARR."""
    book.heading("Books", "Each owner's book: mean health and Red ARR at each snapshot, and "
                          "the change (the CSM is managed by the change in the book)")
    ws, at = book.table("Books", "OwnerBooks", books, row=2)
    n = max(len(books), 1)
    ws.set_column(0, 0, 22)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    health = book.book.add_chart({"type": "bar"})
    health.add_series({"name": "Change of mean health", "categories": at.column("owner", n),
                       "values": at.column("health_change", n),
                       "fill": {"color": "#5B9BD5"}, "invert_if_negative": False,
                       "data_labels": {"value": True, "num_format": "+0.0;-0.0"}})
    health.set_title({"name": "Change of mean health per owner"})
    health.set_legend({"none": True})
    health.set_x_axis({"num_format": "+0;-0"})
    health.set_y_axis({"reverse": True, "label_position": "low"})
    red = book.book.add_chart({"type": "bar"})
    red.add_series({"name": "Change of Red ARR", "categories": at.column("owner", n),
                    "values": at.column("red_arr_change", n), "fill": {"color": "#F8696B"}})
    red.set_title({"name": "Change of Red ARR per owner"})
    red.set_legend({"none": True})
    red.set_x_axis({"num_format": "#,##0"})
    red.set_y_axis({"reverse": True, "label_position": "low"})
    height = max(300, 40 + 28 * n)
    for chart in (health, red):
        chart.set_size({"width": 560, "height": height})
    ws.insert_chart(at.last_row + 3, 0, health)
    ws.insert_chart(at.last_row + 3, 6, red)


# ---------------------------------------------------------------- calibrate

@click.command("calibrate")
@click.argument("input_path", metavar="HISTORY_WITH_OUTCOMES",
                type=click.Path(path_type=Path))
@click.option("--outcomes", "outcomes_path", type=click.Path(path_type=Path),
              help="Outcomes file (account_id, renewed or churned, optional renewal_date) "
                   "when the input does not carry them.")
@click.option("--model", "model_path", type=click.Path(path_type=Path),
              help="The model to check (default: the workbook's Model sheet, else built-in).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Report workbook (.xlsx); chart PNGs are written beside it.")
@click.option("--write-model", "model_out", type=click.Path(path_type=Path),
              help="Also write the model with the suggested weights to this YAML file.")
@click.option("--write-curve", "curve_out", type=click.Path(path_type=Path),
              help="Also write the calibrated health->probability curve (for forecast "
                   "--curve).")
@click.option("--window", "window_days", type=click.IntRange(1, MAX_WINDOW_DAYS), default=365,
              show_default=True, help="Days a snapshot may precede the renewal it predicts.")
@click.option("--png/--no-png", default=True, show_default=True,
              help="Render the charts as PNGs beside the report (needs LibreOffice).")
@click.option("--learn-points", "learn_points", is_flag=True,
              help="Also learn each metric's points from the renewals (docs/calibration.md).")
@click.option("--max-levels", type=click.IntRange(2, 50), default=MAX_LEVELS,
              show_default=True, help="Levels of a learned steps curve, at most.")
@click.option("--shape", type=click.Choice(SHAPES), default="free", show_default=True,
              help="declared: keep each curve rising or falling as the metric declares.")
@click.option("--accounts", "accounts_path", type=click.Path(path_type=Path),
              help="Accounts with the raw metric values (for --learn-points).")
def calibrate_command(input_path: Path, outcomes_path: Path | None, model_path: Path | None,
                      output: Path, model_out: Path | None, curve_out: Path | None,
                      window_days: int, png: bool, learn_points: bool, max_levels: int,
                      shape: str, accounts_path: Path | None) -> None:
    """Check the scorecard against real renewals; suggest weights (never applied silently).

    With --learn-points it also learns each metric's curve; --write-model then writes
    the learned model.
    """
    inputs = (input_path, outcomes_path, model_path, accounts_path)
    _output(output, ("xlsx",), inputs)
    for extra in (model_out, curve_out):
        _output(extra, ("yaml", "yml"), (*inputs, output))
    if model_out is not None and curve_out is not None \
            and model_out.resolve() == curve_out.resolve():
        raise ChsError(f"{curve_out}: --write-model and --write-curve need two files")
    learning = None
    if learn_points:
        learning = learn(input_path, accounts_path, outcomes_path, _model(model_path),
                         max_levels=max_levels, shape=shape)
        report, notes = learning.report, learning.notes
    else:
        if accounts_path is not None:
            raise ChsError("--accounts is read by --learn-points; add it or leave it out")
        data, model, components, where = _calibration_rows(input_path, _model(model_path))
        outcomes = read_accounts(outcomes_path) if outcomes_path else None
        joined, notes = join_outcomes(data, outcomes, where=where,
                                      outcomes_where=str(outcomes_path or ""),
                                      window_days=window_days)
        report = calibrate(joined, model, where=where, components=components)
        notes = [*notes, *report.notes]
    extra = (lambda book: learned_sheets(book, learning.learned)) if learning else None
    write_atomically(output, lambda tmp: write_calibration(tmp, report, notes, extra))
    for label, value in report.summary:
        click.echo(f"  {label}: {_show(value)}")
    if learning is not None:
        echo_learned(learning.learned)
    _echo_notes(notes)
    click.echo(f"Wrote the calibration report -> {output}")
    if png:
        written = render_pngs(report, output)
        click.echo(f"Wrote {len(written)} chart PNGs beside it" if written else
                   "  Note: PNGs skipped: LibreOffice (soffice) and pdftoppm are needed; "
                   "the charts are in the report workbook")
    if model_out is not None:
        if learning is not None:
            learning.learned.model.save(model_out)
            click.echo(f"Wrote the model with learned points and weights -> {model_out}")
        else:
            report.suggested_model().save(model_out)
            click.echo(f"Wrote the model with suggested weights -> {model_out}")
    if curve_out is not None:
        (learning.learned.curve if learning is not None else report.curve).save(curve_out)
        click.echo(f"Wrote the calibrated renewal curve -> {curve_out}")


def _calibration_rows(path: Path, model: Model | None) \
        -> tuple[pd.DataFrame, Model, list[str] | None, str]:
    """History rows (a store) or scored rows (a csv/xlsx), with the model to check."""
    history: History | None = None
    if is_sqlite(path):
        history = read_history(path)
    elif path.suffix.lower() in XLSX_SUFFIXES:
        model = model or read_book_model(path)
        history = read_history(path)
        if history.rows.empty:
            history = None
    if history is not None:
        if history.rows.empty:
            raise ChsError(f"{path}: the history is empty; take snapshots first")
        return history.rows, model or default_model(), history.components, str(path)
    accounts = _raw_accounts(path)
    if accounts is not None:
        return _scored_accounts(path, accounts, model or default_model())
    found = read_scores(path, model)
    return found.scores, found.model or default_model(), None, found.where


OUTCOME_COLUMNS = ("renewed", "churned", "outcome_date")


def _raw_accounts(path: Path) -> pd.DataFrame | None:
    """The accounts of a csv/xlsx holding raw accounts; None when it holds scores (a band
    or health column, or a workbook with a Scores sheet, as `chs score` writes it)."""
    if path.suffix.lower() in XLSX_SUFFIXES and "Scores" in FileBook(path).sheet_names():
        return None
    if path.suffix.lower() == ".csv":
        if _has_scores(pd.read_csv(path, nrows=0).columns):
            return None
        return read_accounts(path)
    accounts = read_accounts(path)
    return None if _has_scores(accounts.columns) else accounts


def _has_scores(header: pd.Index) -> bool:
    return bool({"band", "health"} & {header_key(c) for c in header})


def _scored_accounts(path: Path, accounts: pd.DataFrame,
                     model: Model) -> tuple[pd.DataFrame, Model, None, str]:
    """Raw accounts with an outcome column (issue 20: weights-only calibration takes what
    users have): scored with `model` as of today, the outcome columns carried over."""
    scores = score(model, accounts).scores
    keys = {header_key(c): c for c in accounts.columns}
    carried = {c: accounts[keys[header_key(c)]].to_numpy() for c in OUTCOME_COLUMNS
               if header_key(c) in keys}
    return scores.assign(**carried), model, None, f"{path} (scored with {model.name!r})"


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if not math.isnan(value) else "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_calibration(path: Path, report: CalibrationReport, notes: list[str],
                      extra: Callable[[ReportBook], None] | None = None) -> None:
    """The calibration report: a verdict in plain words, the summary, tables and native
    charts (`extra` adds sheets)."""
    book = ReportBook(path, title="Calibration")
    lines = [("verdict", text) for text in verdict(report)] + [
        ("wrapped_note", "AUC: the chance that a renewing account scores above a churning "
                         "one (0.5 = a coin toss, 1 = perfect). Suggested weights are fitted "
                         "on 70% of the accounts and judged on the other 30%; they change "
                         "nothing until you adopt them (chs calibrate --write-model).")]
    row = book.heading("Summary", f"Calibration of {report.model.name} (version "
                       f"{report.model.version}) against real renewals", lines,
                       span=2, width=100)
    ws = book.sheet("Summary")
    book.widen("Summary", 0, 62)
    book.widen("Summary", 1, 38)
    ws.write_string(row, 0, "Measure", book.fmt["header"])
    ws.write_string(row, 1, "Value", book.fmt["header_right"])
    for r, (label, value) in enumerate(report.summary, start=row + 1):
        ws.write_string(r, 0, label)
        if isinstance(value, str):
            ws.write_string(r, 1, value, book.fmt["right"])
        else:
            write_cell(ws, r, 1, value, book.fmt[_summary_kind(label, value)])
    for r, note in enumerate(notes, start=row + len(report.summary) + 2):
        ws.merge_range(r, 0, r, 1, f"Note: {note}", book.fmt["wrapped_note"])
        ws.set_row(r, wrapped_height(f"Note: {note}", 100))
    charts = calibration_tables(book, report)
    for sheet, (chart, r, c) in charts.items():
        book.sheets[sheet].insert_chart(r, c, chart)
    if extra is not None:
        extra(book)
    book.close()


def verdict(report: CalibrationReport) -> list[str]:
    """What the calibration says, in plain words: how well health ranks renewals, whether
    the suggested weights do better, and churn by band."""
    auc = report.measure("AUC of health")
    if not isinstance(auc, float) or math.isnan(auc):
        return ["Too few renewals and churns to judge how well health ranks them."]
    quality = ("ranks renewals well" if auc >= 0.8 else "ranks renewals fairly well"
               if auc >= 0.7 else "ranks renewals weakly" if auc >= 0.6 else
               "barely ranks renewals (50% is a coin toss)" if auc >= 0.5 else
               "ranks renewals backwards")
    lines = [f"Health {quality}: a renewing account outscores a churning one {auc:.0%} of "
             "the time."]
    current = report.measure("Held-out AUC, current weights")
    suggested = report.measure("Held-out AUC, suggested weights")
    if isinstance(current, float) and isinstance(suggested, float) \
            and not math.isnan(current) and not math.isnan(suggested):
        if suggested - current >= 0.01:
            lines.append(f"The suggested weights rank better on accounts they were not "
                         f"fitted on ({suggested:.0%} against {current:.0%}); they change "
                         "nothing until you adopt them.")
        else:
            lines.append(f"The suggested weights rank no better on accounts they were not "
                         f"fitted on ({suggested:.0%} against {current:.0%}): keep the "
                         "current weights.")
    churn = report.churn_by_band.set_index("band")
    rates = [f"{band} {churn.loc[band, 'churn_rate']:.0%}" for band in ("Red", "Yellow", "Green")
             if band in churn.index and not pd.isna(churn.loc[band, "churn_rate"])]
    if rates:
        lines.append("Churn rate by band: " + ", ".join(rates) + ".")
    return lines


def _summary_kind(label: str, value: object) -> str:
    """The display kind of a summary value, from its label."""
    if not isinstance(value, float):
        return "count"
    return "pct" if "rate" in label.lower() else "decimal3"


def calibration_tables(book: ReportBook, report: CalibrationReport) \
        -> dict[str, tuple[Any, int, int]]:
    """Write the report's tables; return its charts and where each belongs."""
    book.heading("Churn", "Churn: the share of accounts that did not renew")
    _, band = book.table("Churn", "ChurnByBand", report.churn_by_band, row=3,
                         title="By band")
    _, quartile = book.table("Churn", "ChurnByQuartile", report.churn_by_quartile,
                             row=band.next_row, title="By quartile")
    book.heading("AUC", "AUC: how well health, each component and each metric rank "
                        "renewals (0.5 = a coin toss)")
    _, auc = book.table("AUC", "AUC", report.auc, row=3, title="AUC")
    roc_sheet = "ROC points"
    book.sheet(roc_sheet, hidden=True)
    book.heading(roc_sheet, "ROC curve points on held-out accounts (the AUC sheet's chart)")
    _, roc = book.table(roc_sheet, "ROC", report.roc, row=3)
    book.heading("Calibration", "Predicted against actual renewal")
    _, cal = book.table("Calibration", "CalibrationByDecile", report.calibration, row=3,
                        title="Predicted (band probability) vs actual renewal, by health "
                              "decile (1 = lowest)")
    _, bp = book.table("Calibration", "BandProbability", report.band_probability,
                       row=cal.next_row,
                       title="Renewal probability per band from the data (95% Wilson "
                             "interval)")
    curve = pd.DataFrame({"health": report.curve.health,
                          "probability": report.curve.probability})
    book.table("Calibration", "RenewalCurve", curve, row=bp.next_row,
               title="Calibrated renewal curve (chs calibrate --write-curve)")
    book.heading("Weights", "Weights: current and suggested")
    _, weights = book.table("Weights", "SuggestedWeights", report.evaluation, row=3,
                            title="Held-out AUC by weights")
    _, comp = book.table("Weights", "ComponentWeights", report.component_weights,
                         row=weights.next_row,
                         title="Component weights: current and suggested")
    if report.metric_weights is not None:
        book.table("Weights", "MetricWeights", report.metric_weights, row=comp.next_row,
                   title="Metric weights: current and suggested")

    churn = book.book.add_chart({"type": "column"})
    churn.add_series({"name": "Churn rate", "categories": band.column("band", 4),
                      "values": band.column("churn_rate", 4),
                      "points": [{"fill": {"color": c}} for c in
                                 ("#63BE7B", "#FFD966", "#F8696B", "#BFBFBF")],
                      "data_labels": {"value": True, "num_format": "0%"}})
    churn.set_title({"name": "Churn rate by band"})
    churn.set_y_axis({"num_format": "0%", "min": 0})
    churn.set_legend({"none": True})

    rocs = book.book.add_chart({"type": "scatter", "subtype": "straight"})
    first = 0
    for name, rows in report.roc.groupby("weights", sort=False):
        series = {"name": str(name),
                  "categories": roc.column("false_positive_rate", len(rows), first),
                  "values": roc.column("true_positive_rate", len(rows), first)}
        if name == COIN_TOSS:
            series["line"] = {"dash_type": "dash", "color": "#A6A6A6"}
        rocs.add_series(series)
        first += len(rows)
    rocs.set_title({"name": "ROC curve (held-out accounts)"})
    rocs.set_x_axis({"name": "False positive rate", "min": 0, "max": 1})
    rocs.set_y_axis({"name": "True positive rate", "min": 0, "max": 1})

    calib = book.book.add_chart({"type": "scatter", "subtype": "straight_with_markers"})
    n = len(report.calibration)
    calib.add_series({"name": "Predicted", "categories": cal.column("decile", n),
                      "values": cal.column("predicted", n)})
    calib.add_series({"name": "Actual", "categories": cal.column("decile", n),
                      "values": cal.column("actual", n)})
    calib.set_title({"name": "Predicted vs actual renewal by health decile"})
    calib.set_x_axis({"name": "Health decile (1 = lowest)", "min": 1, "max": max(n, 1)})
    calib.set_y_axis({"name": "Renewal rate", "num_format": "0%", "min": 0, "max": 1})
    for chart in (churn, rocs, calib):
        chart.set_size({"width": 640, "height": 380})
    return {"Churn": (churn, 2, max(band.next_col, quartile.next_col)),
            "AUC": (rocs, 2, auc.next_col), "Calibration": (calib, 2, cal.next_col)}


def render_pngs(report: CalibrationReport, output: Path) -> list[Path]:
    """The three charts as PNGs beside `output`, rendered by LibreOffice; [] without it."""
    soffice, pdftoppm = shutil.which("soffice"), shutil.which("pdftoppm")
    if not soffice or not pdftoppm:
        return []
    names = {"AUC": "roc", "Churn": "churn-by-band", "Calibration": "calibration"}
    with tempfile.TemporaryDirectory(prefix="chs-png-") as tmp:
        folder = Path(tmp)
        book = ReportBook(folder / "charts.xlsx")
        charts = calibration_tables(book, report)
        for sheet in book.sheets.values():
            sheet.hide()
        for sheet, (chart, _, _) in charts.items():
            page = book.book.add_chartsheet(f"{sheet} chart")
            page.set_chart(chart)
            page.set_landscape()
            page.set_margins(0.2, 0.2, 0.2, 0.2)
        page.activate()
        book.close()
        profile = (folder / "profile").as_uri()
        try:
            subprocess.run([soffice, f"-env:UserInstallation={profile}", "--headless",
                            "--convert-to", "pdf", "--outdir", str(folder),
                            str(folder / "charts.xlsx")], check=True, capture_output=True,
                           timeout=PNG_TIMEOUT)
            subprocess.run([pdftoppm, "-png", "-r", "80", str(folder / "charts.pdf"),
                            str(folder / "page")], check=True, capture_output=True,
                           timeout=PNG_TIMEOUT)
        except (subprocess.SubprocessError, OSError):
            return []
        pages = sorted(folder.glob("page-*.png"))
        written = []
        for page_path, sheet in zip(pages, charts, strict=False):
            target = output.with_name(f"{output.stem}-{names[sheet]}.png")
            shutil.copyfile(page_path, target)
            written.append(target)
    return written
