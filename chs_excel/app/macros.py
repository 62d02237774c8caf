"""What the Excel macros do, written once against the `Book` interface.

`chs_excel.app.udfs` runs these on the open workbook (xlwings); the tests, the command line
and `chs addin` run them on files (`FileBook`). Each macro writes only the sheets it owns
and leaves everything else in the book as it was.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from chs_excel.core.engine import Scoring, metric_score_column, previous_snapshot, score
from chs_excel.core.errors import ChsError, InputError, ModelError
from chs_excel.core.files import check_output_path, locked
from chs_excel.core.model import Model, header_key
from chs_excel.core.path import path_to_green
from chs_excel.core.playbooks import STATUS_SHEET, STATUS_TABLE
from chs_excel.core.vocabulary import COLUMN_KINDS, SHEET_ORDER
from chs_excel.io import history_store
from chs_excel.io.book import Book, FileBook
from chs_excel.io.ranges import MODEL_TABLES, accounts_frame, model_from_ranges, table_frame
from chs_excel.io.statuses import status_rows
from chs_excel.sheets.account import paths_frame
from chs_excel.sheets.actions import actions_sections, this_week_sections
from chs_excel.sheets.dashboard import dashboard_sections
from chs_excel.sheets.traffic_lights import (
    BAND_FORMATS,
    DEFINED_NAMES,
    QUARTILE_FORMATS,
    health_rules,
)
from chs_excel.xlsx.package import Package, Rule, col_letter
from chs_excel.xlsx.styles import FORMATS

TITLE = "Customer health"
SCORES, ISSUES = "Scores", "Data issues"
SCORES_TABLE, ISSUES_TABLE = "Scores", "DataIssues"
DATE_FORMAT = FORMATS["date"]["num_format"]
FORMULA_SHEET = "Calc"   # the native-formula workbook's hidden helper sheet


XLWINGS_VERSION_NAME = "ChsXlwingsVersion"  # the add-in's defined name: its VBA's xlwings


def check_xlwings(built: str | None, installed: str) -> None:
    """Refuse to run a macro when the workbook's xlwings VBA (the version `chs addin`
    copied it from) is not the installed xlwings: the two talk a private protocol."""
    if built and built != installed:
        raise ChsError(f"this workbook's xlwings VBA is version {built} but Python has "
                       f"xlwings {installed}: rebuild it with 'chs addin -o FOLDER' (then "
                       "copy your Model and Accounts over), or install the matching "
                       f"version with 'pip install xlwings=={built}'")


def run(action: Callable[[Book], str], book: Book) -> str:
    """Run a macro; an expected problem becomes a status message and an alert, not a crash."""
    try:
        message = action(book)
    except ChsError as exc:
        message = f"{TITLE}: {exc}"
        book.status(message)
        book.alert(message)
    return message


# ---------------------------------------------------------------- reading the book

def read_model(book: Book) -> Model:
    """The model from the Model sheet's Tables (Components and Metrics are required)."""
    names = set(book.table_names())
    for required in ("Components", "Metrics"):
        if required not in names:
            raise ModelError(f"the workbook has no Table named {required}: the Model sheet "
                             "must hold the model's Tables (see 'chs addin')")
    return model_from_ranges({name: book.table(name).grid for name in MODEL_TABLES
                              if name in names}, where="Model")


def read_accounts(book: Book) -> pd.DataFrame:
    """The Accounts Table as the engine's input; index = sheet row numbers."""
    found = book.table("Accounts")
    return accounts_frame(found.grid, first_row=found.first_row)


# ---------------------------------------------------------------- refresh

def refresh(book: Book, *, as_of: dt.date | None = None) -> str:
    """Score Accounts with the Model; rewrite Scores, Actions (when the model has
    playbooks) and Data issues, and Dashboard and Forecast as values unless they are the
    native-formula workbook's live sheets."""
    started = time.perf_counter()
    book.status(f"{TITLE}: reading the Model and Accounts...")
    model = read_model(book)
    accounts = read_accounts(book)
    book.status(f"{TITLE}: scoring {len(accounts):,} accounts...")
    scoring = score(model, accounts, as_of=as_of, previous=last_snapshot(book, model, as_of),
                    statuses=book_statuses(book))
    book.status(f"{TITLE}: writing Scores...")
    write_scores(book, model, scoring.scores)
    if model.playbooks:  # Scores now holds values: the live list's rank column is gone
        book.write_report("Actions", actions_sections(scoring.scores),
                          after=sheet_after(book, "Actions"))
        if WEEK in book.sheet_names():
            book.write_report(WEEK, this_week_sections(
                scoring.scores, as_of or dt.date.today(), model.this_week_limit),
                after=sheet_after(book, WEEK))
    if FORMULA_SHEET not in book.sheet_names():  # else Dashboard/Forecast are live formulas
        write_dashboard(book, model, scoring.scores)
        write_forecast(book, model, scoring.scores, as_of=as_of)
    write_issues(book, scoring)
    if PATHS in book.sheet_names():  # the native workbook's Account sheet reads it
        book.status(f"{TITLE}: finding each account's path to Green...")
        paths = path_to_green(model, accounts, scoring.scores)
        book.write_table(PATHS, PATHS, paths_frame(paths, scoring.scores),
                         after=sheet_after(book, PATHS))
    counts = scoring.summary
    message = (f"{TITLE}: scored {counts['accounts']:,} accounts — "
               + ", ".join(f"{b} {counts[b]:,}" for b in ("Green", "Yellow", "Red", "No data"))
               + f"; {counts['data issues']:,} data issues "
               f"({time.perf_counter() - started:.1f} s)")
    book.status(message)
    return message


def book_statuses(book: Book) -> pd.DataFrame | None:
    """The book's ActionStatus Table rows (None without the Table or rows)."""
    if STATUS_TABLE not in book.table_names():
        return None
    found = book.table(STATUS_TABLE)
    return status_rows(table_frame(found.grid, STATUS_TABLE, first_row=found.first_row,
                                   errors="keep"), f"table {STATUS_TABLE}")


def last_snapshot(book: Book, model: Model, as_of: dt.date | None) -> pd.DataFrame | None:
    """The book's latest History snapshot before `as_of` (today), when playbooks compare
    with it (docs/playbooks.md); else None, and History is not read."""
    from chs_excel.core.playbooks import uses_history
    if not uses_history(model.playbooks):
        return None
    return previous_snapshot(history_store.book_history(book).rows, as_of or dt.date.today())


PATHS = "Paths"  # sheet and Table
WEEK = "This week"


def write_scores(book: Book, model: Model, scores: pd.DataFrame) -> None:
    """The Scores Table: number formats, traffic lights, headers spelled as the book has them."""
    kinds = {c: COLUMN_KINDS.get(c, "") for c in scores.columns}
    kinds.update({c: "score" for c in model.components})
    kinds.update({metric_score_column(m): "score" for m in model.metrics})
    formats = {c: FORMATS[k]["num_format"] for c, k in kinds.items()
               if k and "num_format" in FORMATS[k]}
    rules = score_rules(book, model, scores)
    spelled = _book_spelling(book.table_headers(SCORES_TABLE), scores.columns)
    book.write_table(SCORES, SCORES_TABLE, scores.rename(columns=spelled),
                     formats={spelled.get(c, c): f for c, f in formats.items()},
                     rules=rules, freeze=(1, 2), after=sheet_after(book, SCORES))


def _book_spelling(headers: list[str] | None, columns: pd.Index) -> dict[str, str]:
    """Our column -> the book's header for it (`Health` for health), so formulas that
    name the Table's columns keep working."""
    theirs = {header_key(h): h for h in headers or []}
    return {c: theirs[header_key(c)] for c in columns if header_key(c) in theirs}


def score_rules(book: Book, model: Model, scores: pd.DataFrame) -> list[Rule]:
    """Conditional formats: Health by the Model's thresholds, Band by name, component
    colour scales, quartile fills."""
    col = {c: col_letter(i) for i, c in enumerate(scores.columns, start=1)}
    last = max(len(scores), 1) + 1
    names = book.defined_names()
    red, green = (DEFINED_NAMES[k] if DEFINED_NAMES[k] in names else f"{getattr(model, k):g}"
                  for k in ("red_below", "green_from"))

    def span(c: str) -> str:
        return f"{col[c]}2:{col[c]}{last}"

    def look(name: str) -> dict[str, str | bool | None]:
        fmt = FORMATS[name]
        return {"fill": fmt.get("bg_color"), "font": fmt.get("font_color"),
                "bold": bool(fmt.get("bold"))}

    rules = [Rule(span("health"), "expression", criteria, **look(fmt))
             for fmt, criteria in health_rules(f"{col['health']}2", red, green)]
    rules += [Rule(span("band"), "equal", f'"{band}"', **look(fmt))
              for band, fmt in BAND_FORMATS.items()]
    scale = ((0.0, "#F8696B"), (model.scale / 2, "#FFEB84"), (model.scale, "#63BE7B"))
    rules += [Rule(span(c), "scale", scale=scale) for c in model.components]
    rules += [Rule(span("quartile"), "equal", str(q), **look(fmt))
              for q, fmt in QUARTILE_FORMATS.items()]
    return rules


def write_dashboard(book: Book, model: Model, scores: pd.DataFrame) -> None:
    """The Dashboard as values (`sheets.dashboard`: what the formula workbook shows)."""
    book.write_report("Dashboard", dashboard_sections(model, scores),
                      after=sheet_after(book, "Dashboard"))


def write_forecast(book: Book, model: Model, scores: pd.DataFrame, *,
                   as_of: dt.date | None = None) -> None:
    """The Forecast as values: the rows of `chs forecast` (already past, fiscal quarters
    from the as-of date, after, no renewal date), their total, the assumptions, by band."""
    from chs_excel.analytics.forecast import (
        SCENARIOS,
        forecast_accounts,
        renewal_forecast,
        total_row,
    )
    try:
        result = renewal_forecast(forecast_accounts(scores, "Scores", model=model),
                                  as_of=as_of or dt.date.today(),
                                  fiscal_year_start=model.fiscal_year_start)
    except InputError as exc:
        sections = [("Renewal forecast", pd.DataFrame({"note": [
            f"No forecast: {exc}. Accounts needs arr and renewal_date columns."]}))]
    else:
        sections = [("Renewal forecast by fiscal quarter", result.table.drop(columns="kind")),
                    ("Total: every account's ARR, as on the Dashboard",
                     pd.DataFrame([total_row(result)])),
                    ("Assumptions", pd.DataFrame({"assumption": list(SCENARIOS)})),
                    ("By quarter and band", result.by_band)]
        if result.notes:
            sections.append(("Notes", pd.DataFrame({"note": list(result.notes)})))
    book.write_report("Forecast", sections, after=sheet_after(book, "Forecast"))


def write_issues(book: Book, scoring: Scoring) -> None:
    """The Data issues Table (written when there are issues, or to clear an old list)."""
    if len(scoring.issues) or ISSUES in book.sheet_names():
        book.write_table(ISSUES, ISSUES_TABLE, scoring.issues, after=sheet_after(book, ISSUES))


def sheet_after(book: Book, sheet: str) -> str | None:
    """The sheet a new `sheet` goes after: the last of its predecessors the book has."""
    names = book.sheet_names()
    if sheet not in SHEET_ORDER:
        return None
    before = SHEET_ORDER[:SHEET_ORDER.index(sheet)]
    return next((s for s in reversed(before) if s in names), None)


# ---------------------------------------------------------------- snapshot

def snapshot(book: Book, *, as_of: dt.date | None = None) -> str:
    """Score Accounts now and append the snapshot to the History Table (one per day)."""
    from chs_excel.analytics.history import merge
    from chs_excel.analytics.history import snapshot as take
    day = as_of or dt.date.today()
    book.status(f"{TITLE}: reading the Model, Accounts and History...")
    model = read_model(book)
    statuses = book_statuses(book)
    scoring = score(model, read_accounts(book), as_of=day, statuses=statuses)
    merged, notes = merge(history_store.book_history(book),
                          take(scoring.scores, model, day, "Accounts"))
    book.status(f"{TITLE}: writing History...")
    write_history(book, merged)
    if statuses is not None:
        write_status_history(book, statuses, day)
    message = (f"{TITLE}: snapshot of {len(scoring.scores):,} accounts on {day.isoformat()} "
               f"in History ({len(merged.dates)} snapshot(s))"
               + "".join(f"; {note}" for note in notes))
    book.status(message)
    return message


HISTORY_STATUSES = ("History statuses", "HistoryStatuses")   # sheet, Table


def write_status_history(book: Book, statuses: pd.DataFrame, day: dt.date) -> None:
    """List the ActionStatus rows in the `HistoryStatuses` Table, stamped with the
    snapshot date (a second snapshot on one day replaces that day's rows)."""
    sheet, table = HISTORY_STATUSES
    rows = statuses.assign(date=pd.Timestamp(day))[["date", *statuses.columns]]
    if table in book.table_names():
        found = book.table(table)
        kept = table_frame(found.grid, table, first_row=found.first_row, errors="keep")
        if "date" in kept:
            dates = pd.to_datetime(kept["date"], errors="coerce")
            kept = kept[dates != pd.Timestamp(day)].assign(date=dates)
            rows = pd.concat([kept, rows], ignore_index=True)
    rows = rows.assign(until=pd.to_datetime(rows["until"], errors="coerce"))
    book.write_table(sheet, table, rows.reset_index(drop=True),
                     after=sheet_after(book, sheet))


def write_history(book: Book, history: history_store.History) -> None:
    """The History and History weights sheets (`chs_snapshot` and `chs snapshot BOOK`):
    the store's one workbook writer, new sheets placed in SPEC's sheet order."""
    history_store.write_book_history(book, history, place=sheet_after)


def on_file(action: Callable[[Book], str], path: str | Path,
            output: str | Path | None = None) -> str:
    """Run a macro on a workbook file and save it (in place unless `output` is given),
    holding the file's write lock (`core.files.locked`) from reading to replacing, so two
    runs on one file queue instead of one losing the other's changes."""
    if output is not None:
        check_output_path(Path(output), (path,))
    with locked(output if output is not None else path):
        book = FileBook(Path(path))
        message = action(book)
        book.save(output)
    return message


def refresh_file(path: str | Path, output: str | Path | None = None, *,
                 as_of: dt.date | None = None) -> str:
    """Refresh a workbook file (in place unless `output` is given).

    Parameters
    ----------
    path : str or Path
        A workbook with the Model Tables and an Accounts Table.
    output : str or Path, optional
        Where to save (default: `path` itself, replaced atomically).
    as_of : date, optional
        The day overrides are checked against (default: today).

    Returns
    -------
    str
        The message the macro shows (accounts per band, data issues).
    """
    return on_file(lambda book: refresh(book, as_of=as_of), path, output)
def snapshot_file(path: str | Path, output: str | Path | None = None, *,
                  as_of: dt.date | None = None) -> str:
    """The `chs_snapshot` macro on a workbook file (in place unless `output` is given)."""
    return on_file(lambda book: snapshot(book, as_of=as_of), path, output)


# ---------------------------------------------------------------- rebuild

REBUILT_SHEETS = ("Start here", "Scores", "Actions", "This week", "Dashboard", "Forecast",
                  "Calc")


def rebuild(book: FileBook, *, as_of: dt.date | None = None) -> str:
    """Regenerate the native-formula sheets (Start here, Scores, Actions, Dashboard,
    Forecast, the hidden Calc) for the Model as it is now, e.g. after a metric was added or removed.

    Model, Accounts, History and every other sheet stay; Accounts only gains a blank
    column for each column the Model reads that it lacks. The override date is the book's
    own (a fixed AsOf date stays fixed), else `as_of`, else TODAY().
    """
    from chs_excel.core.formulas import template_columns
    from chs_excel.io.workbook import fixed_as_of
    from chs_excel.sheets.workbook import build_workbook
    book.status(f"{TITLE}: reading the Model and Accounts...")
    model = read_model(book)
    found = book.table("Accounts")
    where = book.package.tables()["Accounts"]
    if found.sheet != "Accounts" or not re.match(r"\$?A\$?1:", where.ref):
        raise InputError(f"{book.path}: the Accounts Table is at {found.sheet}!{where.ref}; "
                         "the formulas need it at A1 of a sheet named Accounts")
    have = {header_key(str(h)) for h in found.grid[0]}
    added = [c for c in template_columns(model) if header_key(c) not in have]
    book.package.extend_table("Accounts", added)
    accounts = accounts_frame(found.grid, first_row=1).assign(**{c: None for c in added})
    frame = accounts.reindex(pd.RangeIndex(2, len(found.grid) + 1))  # with its blank rows
    as_of = fixed_as_of(book.package) or as_of
    book.status(f"{TITLE}: scoring {len(accounts):,} accounts...")
    statuses = book_statuses(book)
    scoring = score(model, accounts, as_of=as_of, previous=last_snapshot(book, model, as_of),
                    statuses=statuses)
    cached = Scoring(scoring.scores.reindex(frame.index), scoring.issues)
    book.status(f"{TITLE}: writing the formulas for {len(frame):,} rows...")
    with tempfile.TemporaryDirectory() as folder:
        built = Path(folder) / "built.xlsx"
        build_workbook(built, model, frame, scoring=cached, rows=len(frame), as_of=as_of,
                       statuses=statuses)
        source = Package(built)
        # the formulas read History (the playbooks' change conditions) and ActionStatus:
        # a book without them gets the empty Tables too, so no reference dangles
        names = book.table_names()
        missing = tuple(sheet for sheet, table in (("History", "History"),
                                                   (STATUS_SHEET, STATUS_TABLE))
                        if table not in names)
        for name in (*REBUILT_SHEETS, *missing):
            book.package.copy_sheet(source, name, after=sheet_after(book, name))
    define_settings_names(book, model)
    write_issues(book, scoring)
    message = (f"{TITLE}: rebuilt the formulas for {len(model.metrics)} metrics and "
               f"{len(frame):,} rows ({len(accounts):,} accounts)"
               + (f"; Accounts gained the column(s) {', '.join(added)}" if added else ""))
    book.status(message)
    return message


def define_settings_names(book: FileBook, model: Model) -> None:
    """Give the formulas the names they read (RedBelow, Scale, ...) where the book lacks
    them (a Model made by another tool): each points at its value in the Settings Table,
    or holds the Model's value when Settings has no row for it."""
    have = book.package.defined_names()
    info = book.package.tables().get("Settings")
    rows: dict[str, str] = {}
    if info is not None:
        found = re.match(r"\$?([A-Z]+)\$?(\d+)", info.ref)
        first_col = sum((ord(ch) - 64) * 26 ** i for i, ch in enumerate(found.group(1)[::-1]))
        for i, row in enumerate(book.table("Settings").grid[1:], start=1):
            if row and row[0] is not None:
                rows[header_key(str(row[0]))] = (f"'{info.sheet.replace(chr(39), chr(39) * 2)}'"
                                                 f"!${col_letter(first_col + 1)}$"
                                                 f"{int(found.group(2)) + i}")
    for setting, name in DEFINED_NAMES.items():
        if name not in have:
            value = getattr(model, setting)
            book.package.define_name(name, rows.get(header_key(setting), f"{value:g}"))


def rebuild_file(path: str | Path, output: str | Path, *, as_of: dt.date | None = None,
                 status: Callable[[str], None] | None = None) -> str:
    """Rebuild a workbook file's formula sheets into `output` (never over `path`).

    Parameters
    ----------
    path : str or Path
        A native-formula workbook whose Model gained or lost a metric, rule or level.
    output : str or Path
        The new workbook; every sheet the rebuild does not own is kept byte for byte.
    as_of : date, optional
        The override date when the book has no fixed `AsOf` (default: today).
    status : callable, optional
        Called with progress messages.

    Returns
    -------
    str
        What was rebuilt.
    """
    if Path(output).resolve() == Path(path).resolve():
        raise ChsError(f"{output}: write the rebuilt workbook to a new file; {path} is "
                       "never changed")
    book = FileBook(Path(path), on_status=status)
    try:
        message = rebuild(book, as_of=as_of)
    except ModelError:
        from chs_excel.io.workbook import read_workbook
        read_workbook(path)   # the one workbook reader names the file, table and cell
        raise
    book.save(output)
    return message


def rebuild_beside(book: Book) -> str:
    """The `chs_rebuild` macro: rebuild the saved workbook into '<name> (rebuilt)' beside
    it and open that. Excel cannot swap sheets inside an open workbook without turning the
    references to its other sheets into links, so the open book is left as it is."""
    path = book.saved_path()
    output = path.with_name(f"{path.stem} (rebuilt){path.suffix}")
    message = rebuild_file(path, output, status=book.status)
    book.open(output)
    message += f"; opened {output.name}"
    book.status(message)
    return message


# ---------------------------------------------------------------- calibrate

def calibrate(book: Book) -> str:
    """Check the Model against outcomes: History snapshots joined with the `renewed` (or
    `churned`) column of an Outcomes Table, else of Accounts; report on a Calibration
    sheet. Suggested weights are shown, never applied."""
    from chs_excel.analytics import calibration
    book.status(f"{TITLE}: reading the Model, History and outcomes...")
    model = read_model(book)
    history = history_store.book_history(book)
    if history.rows.empty:
        raise ChsError("the History Table is empty: take snapshots first (chs_snapshot), "
                       "then calibrate once renewals are known")
    source = "Outcomes" if "Outcomes" in book.table_names() else "Accounts"
    found = book.table(source)
    outcomes = table_frame(found.grid, source, first_row=found.first_row, errors="keep")
    joined, notes = calibration.join_outcomes(history.rows, outcomes, where="History",
                                              outcomes_where=source)
    book.status(f"{TITLE}: calibrating on {len(joined):,} account snapshots...")
    report = calibration.calibrate(joined, model, where="History",
                                   components=history.components)
    notes = [*notes, *report.notes]
    sections = [("Summary", pd.DataFrame(report.summary, columns=["measure", "value"])),
                ("Suggested component weights (not applied: copy them into the Model "
                 "sheet if you agree)", report.component_weights),
                ("Held-out evaluation", report.evaluation),
                ("Churn by band", report.churn_by_band),
                ("Churn by quartile", report.churn_by_quartile),
                ("AUC of health, components and metrics", report.auc),
                ("Renewal probability by band", report.band_probability),
                ("Predicted vs actual renewal by health decile", report.calibration)]
    if notes:
        sections.insert(1, ("Notes", pd.DataFrame({"note": notes})))
    book.write_report("Calibration", sections, after=sheet_after(book, "Calibration"))
    message = (f"{TITLE}: calibrated on {len(joined):,} account snapshots; held-out AUC "
               f"{report.measure('Held-out AUC, current weights'):.3f} with the current "
               f"weights, {report.measure('Held-out AUC, suggested weights'):.3f} with the "
               "suggested ones "
               "(see the Calibration sheet)")
    book.status(message)
    return message
