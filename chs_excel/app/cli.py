"""The `chs` command line: thin wrappers that read, call the engine and write.

Expected problems (`ChsError`) print one line and exit 1, with no traceback.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
import pandas as pd

from chs_excel import __version__
from chs_excel.app.cli_common import DATE, ChsGroup, output_kind, progress
from chs_excel.app.commands_explain import explain_command
from chs_excel.app.commands_forecast import (
    calibrate_command,
    forecast_command,
    snapshot_command,
    trend_command,
)
from chs_excel.app.commands_path import path_command
from chs_excel.app.commands_signals import SOURCE_HELP, add_signals, signals_command
from chs_excel.app.commands_sql import sql_command
from chs_excel.core.engine import Scoring, previous_snapshot, score
from chs_excel.core.errors import ChsError, InputError, MissingColumnError
from chs_excel.core.files import check_output_path, make_folder, write_atomically
from chs_excel.core.limits import MAX_SAMPLE, MAX_SEED, TABLE_ROWS, check_table_rows
from chs_excel.core.model import Model, default_model, default_signals_model, load_model
from chs_excel.core.parents import parent_rollup
from chs_excel.core.vocabulary import BAND_ORDER, SHEET_ORDER, suggest_column
from chs_excel.engines.choose import ENGINES, choose_engine, is_parquet, score_with
from chs_excel.io.accounts import header_row, read_accounts
from chs_excel.io.cells import DATE_FORMATS, DECIMALS
from chs_excel.io.safe_text import write_csv


@click.group(cls=ChsGroup)
@click.version_option(__version__, prog_name="chs")
def main() -> None:
    """Customer health scoring that lives in Excel."""


def _model(path: Path | None) -> Model:
    return default_model() if path is None else load_model(path)


@main.command("score")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--model", "model_path", type=click.Path(path_type=Path),
              help="Scorecard model YAML (default: the built-in SaaS model).")
@click.option("--sheet", help="Sheet to read from an xlsx input.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Output file: .xlsx (formatted workbook) or .csv; '-' writes csv to "
                   "standard output.")
@click.option("--strict", is_flag=True, help="Fail on any data issue instead of listing it.")
@click.option("--as-of", type=DATE,
              help="Day overrides are checked against (default: today).")
@click.option("--decimal", type=click.Choice(DECIMALS), default="auto", show_default=True,
              help="Decimal mark of numbers written as text (docs/input.md).")
@click.option("--date-format", type=click.Choice(DATE_FORMATS), default="auto",
              show_default=True, help="Day/month order of dates written as text.")
@click.option("--replace", is_flag=True,
              help="Overwrite an existing OUT.xlsx even when it holds History snapshots or "
                   "sheets a new scored workbook would not have.")
@click.option("--history", "history_path", type=click.Path(path_type=Path),
              help="Snapshots (SQLite store or a workbook's History) for the playbooks' "
                   "health_change / band_change conditions (docs/playbooks.md).")
@click.option("--engine", type=click.Choice(ENGINES), default="auto", show_default=True,
              help="pandas (the reference), duckdb, or spark; auto: duckdb for Parquet and "
                   "large inputs, else pandas (docs/engines.md).")
@click.option("--spark-master", help="Spark master URL for --engine spark (default "
                                     "local[*], or the active session).")
@click.option("--source", "source_items", multiple=True, metavar="NAME=PATH",
              help=SOURCE_HELP)
@click.option("--statuses", "statuses_path", type=click.Path(path_type=Path),
              help="Action statuses (csv/xlsx: account_id, playbook, status, until, note); "
                   "default: those of an existing -o OUT.xlsx (docs/playbooks.md).")
def score_command(input_path: Path, model_path: Path | None, sheet: str | None,
                  output: Path, strict: bool, as_of: dt.datetime | None, decimal: str,
                  date_format: str, replace: bool, history_path: Path | None,
                  engine: str, spark_master: str | None,
                  source_items: tuple[str, ...], statuses_path: Path | None) -> None:
    """Score the accounts in INPUT (csv or xlsx) and write scores to -o OUT.

    A csv output gets its data issues beside it (OUT.issues.csv); `-o -` writes the
    scores csv to standard output and the summary to standard error. A model with
    sources computes its signals first (docs/signals.md); their data issues are listed
    with the others.
    """
    to_stdout = str(output) == "-"
    kind = "csv" if to_stdout else _output_kind(output, input_path, model_path)
    issues_path = None if to_stdout or kind not in ("csv", "parquet") else issues_file(output)
    if issues_path is not None:
        check_output_path(issues_path, (input_path, model_path))
    parents_path = parents_file(output) if kind == "csv" and not to_stdout else None
    if parents_path is not None:
        check_output_path(parents_path, (input_path, model_path))
    model = _model(model_path)
    engine = choose_engine(engine, input_path)
    parquet_in = is_parquet(input_path)
    if parquet_in and not input_path.is_file():
        raise InputError(f"{input_path}: file not found")
    if parquet_in and engine == "duckdb" and kind == "parquet" and history_path is None \
            and not model.signals:
        _parquet_to_parquet(model, input_path, output, issues_path, as_of, strict)
        return
    if parquet_in and engine != "pandas" and kind != "xlsx" and not model.signals:
        accounts = input_path   # the engine reads the Parquet file itself
    elif parquet_in:
        from chs_excel.engines.choose import read_parquet_accounts
        accounts = read_parquet_accounts(input_path)
    else:
        accounts = read_accounts(input_path, sheet, decimal=decimal, date_format=date_format,
                                 columns=model.columns)
    if kind == "xlsx":
        check_table_rows(len(accounts), output)   # before scoring, not after
    history = _history(history_path)
    statuses = _statuses(statuses_path, output if kind == "xlsx" else None)
    day = as_of.date() if as_of else None
    signal_issues = None
    if model.signals:
        accounts, signals = add_signals(model, model_path, accounts, day or dt.date.today(),
                                        source_items, date_format)
        signal_issues = signals.issues
    elif source_items:
        raise InputError("--source: the model declares no sources (docs/signals.md)")
    try:
        scoring = score_with(engine, model, accounts, as_of=day, strict=strict,
                             previous=previous_snapshot(history, day or dt.date.today()),
                             spark_master=spark_master, statuses=statuses)
    except ChsError as exc:
        attrs = getattr(accounts, "attrs", {})
        raise type(exc)(f"{attrs.get('source', input_path)}: {exc}"
                        f"{_near_miss(exc, attrs.get('headers', []))}") from None
    if signal_issues is not None and len(signal_issues):
        if strict:
            first = signal_issues.iloc[0]
            raise InputError(f"{len(signal_issues)} signal data issue(s) under --strict; "
                             f"first: row {first['row']}, column {first['column']}: "
                             f"{first['problem']}")
        scoring = Scoring(scoring.scores, pd.concat([signal_issues, scoring.issues],
                                                    ignore_index=True), scoring.unread)
    try:
        parents = parent_rollup(model, scoring.scores)  # a parent cycle: before any output
    except ChsError as exc:
        source = getattr(accounts, "attrs", {}).get("source", input_path)
        raise type(exc)(f"{source}: {exc}") from None
    if kind == "xlsx" and not replace:
        refuse_losing_work(output, input_path)  # problems with the input are told first
    if kind == "csv" and engine == "pandas":  # the workbook has them in its Paths Table
        from chs_excel.core.path import path_to_green
        paths = path_to_green(model, accounts, scoring.scores).summary
        scoring = Scoring(pd.concat([scoring.scores, paths], axis=1), scoring.issues,
                          scoring.unread)
    if to_stdout:
        write_csv(scoring.scores, sys.stdout)
    else:
        sources = None
        if kind == "xlsx" and model.sources:   # the workbook's source sheets (live signals)
            from chs_excel.io.sources import load_sources, parse_overrides
            sources = load_sources(model, model_path, parse_overrides(list(source_items),
                                                                      model), date_format)
        write_scores(output, kind, model, accounts, scoring, as_of=day, history=history,
                     sources=sources, statuses=statuses)
    if issues_path is not None:
        issues = scoring.issues_with_unread(
            header_row(accounts) if isinstance(accounts, pd.DataFrame) else 1)
        if len(issues):
            write_atomically(issues_path, lambda tmp: write_csv(issues, tmp))
        elif issues_path.is_file():
            issues_path.unlink()   # an earlier run's list; this run found none
    if parents_path is not None:
        if parents is not None:
            write_atomically(parents_path, lambda tmp: write_csv(parents, tmp))
        elif parents_path.is_file():
            parents_path.unlink()   # an earlier run's roll-up; these accounts have no parents
    _print_summary(scoring, "standard output" if to_stdout else output, issues_path,
                   err=to_stdout)
    if parents is not None and kind in ("csv", "xlsx") and not to_stdout:
        where = parents_path if parents_path is not None else f"{output}, sheet 'Parents'"
        click.echo(f"  Parents: {len(parents):,} (health rolled up by ARR) -> {where}")


def _parquet_to_parquet(model: Model, input_path: Path, output: Path, issues_path: Path,
                        as_of: dt.datetime | None, strict: bool) -> None:
    """Parquet in, Parquet out through DuckDB alone: no pandas frame, any size."""
    from chs_excel.engines.duckdb_engine import parquet_to_parquet
    if strict:
        raise ChsError("--strict with Parquet in and out: score to csv, or drop --strict "
                       "and read the data issues file")
    if issues_path.is_file():
        issues_path.unlink()   # an earlier run's list
    s = parquet_to_parquet(model, input_path, output, issues_path,
                           as_of=as_of.date() if as_of else None)
    click.echo(f"Scored {s['accounts']:,} accounts -> {output}")
    click.echo("  " + "  ".join(f"{band}: {s.get(band, 0):,}" for band in BAND_ORDER))
    issues = s["data issues"]
    click.echo(f"  Data issues: {issues:,}" + (f" ({issues_path})" if issues else ""))


def _history(path: Path | None) -> pd.DataFrame | None:
    """The snapshot rows of `--history` (None without it)."""
    if path is None:
        return None
    if not path.is_file():
        raise InputError(f"{path}: history file not found (give the SQLite store or a "
                         "workbook with a History sheet)")
    from chs_excel.io.history_store import read_history
    return read_history(path).rows


def _statuses(path: Path | None, book: Path | None) -> pd.DataFrame | None:
    """Action statuses from `--statuses`, else those an existing workbook `book` holds
    (re-scoring over a book keeps what its CSMs typed)."""
    from chs_excel.io.statuses import read_statuses, workbook_statuses
    if path is not None:
        return read_statuses(path)
    if book is not None and book.is_file():
        try:
            return workbook_statuses(book)
        except ChsError:
            return None   # not a chs workbook: refuse_losing_work says so
    return None


def _near_miss(exc: ChsError, headers: list[str]) -> str:
    """'; found 'Logins (30d)'; did you mean logins_30d?' for a missing-column error."""
    if not isinstance(exc, MissingColumnError):
        return ""
    found = suggest_column(exc.column, headers)
    return f"; found {found!r}; did you mean {exc.column}?" if found else ""


def parents_file(output: Path) -> Path:
    """Where a csv output's parent roll-up goes: scores.csv -> scores.parents.csv."""
    return output.with_name(f"{output.stem}.parents.csv")


def issues_file(output: Path) -> Path:
    """Where a csv output's data issues go: scores.csv -> scores.issues.csv."""
    return output.with_name(f"{output.stem}.issues.csv")


SCORED_SHEETS = frozenset(SHEET_ORDER) - {"History weights", "Calibration"}


def refuse_losing_work(output: Path, input_path: Path) -> None:
    """Refuse to replace a workbook holding what a new scored workbook would not: History
    snapshots, or sheets the user added (`chs score` writes SCORED_SHEETS, History empty),
    or a workbook that is not a scored one at all. A previous `chs score` output with
    nothing added is replaced, as before."""
    if not output.exists():
        return
    from chs_excel.io.history_store import read_history
    from chs_excel.xlsx.package import Package
    other = "write to another -o, or pass --replace to overwrite it"
    how = (f"{other} (to score new data and keep its History and Model: chs template "
           f"--from {output} --data {input_path} -o NEW.xlsx)")
    try:
        package = Package(output)
        extra = [s for s in package.sheet_names() if s not in SCORED_SHEETS]
        snapshots = len(read_history(output).dates)
    except ChsError:
        raise ChsError(f"{output}: already exists and is not a workbook chs can read; "
                       f"{other}") from None
    if "Scores" not in package.tables():
        raise ChsError(f"{output}: already exists and is not a scored workbook (no Scores "
                       f"Table); {other}")
    kept = [f"History with {snapshots} snapshot(s)"] if snapshots else []
    kept += [f"the sheet {s!r}" for s in extra if not (snapshots and s == "History weights")]
    if kept:
        raise ChsError(f"{output}: already holds {', '.join(kept)}, which the new scored "
                       f"workbook would not keep; {how}")


def _output_kind(output: Path, *inputs: Path | None) -> str:
    return output_kind(output, ("xlsx", "csv", "parquet"), inputs)


def write_scores(output: Path, kind: str, model: Model, accounts: pd.DataFrame,
                 scoring: Scoring, as_of: dt.date | None = None,
                 history: pd.DataFrame | None = None,
                 sources: dict[str, pd.DataFrame] | None = None,
                 statuses: pd.DataFrame | None = None) -> None:
    """Write scores as a formatted workbook or a csv, with a progress bar on big inputs
    (`sources`: the raw exports a workbook holds as source sheets)."""
    if kind == "csv":
        write_atomically(output, lambda tmp: write_csv(scoring.scores, tmp))
        return
    if kind == "parquet":
        write_atomically(output, lambda tmp: scoring.scores.to_parquet(tmp, index=False))
        return
    from chs_excel.sheets.workbook import write_scored_workbook
    total = len(accounts) + len(scoring.scores)
    with progress(total, "Writing") as advance:
        write_scored_workbook(output, model, accounts, scoring, progress=advance, as_of=as_of,
                              history=history, sources=sources, statuses=statuses)


def _print_summary(scoring: Scoring, output: Path | str, issues_path: Path | None = None,
                   *, err: bool = False) -> None:
    s = scoring.summary
    lines = [f"Scored {s['accounts']:,} accounts -> {output}",
             "  " + "  ".join(f"{band}: {s[band]:,}" for band in BAND_ORDER)]
    low = int(scoring.scores["low_data"].sum())
    if low:
        lines.append(f"  Low data coverage: {low:,} accounts")
    issues = s["data issues"]
    where = (" (sheet 'Data issues')" if str(output).lower().endswith(".xlsx")
             else f" ({issues_path})" if issues_path is not None
             else " (listed with -o FILE.csv or FILE.xlsx)")
    lines.append(f"  Data issues: {issues:,}{where if issues else ''}")
    lines += [f"  Not read: {text}" for _, text in scoring.unread]
    for line in lines:
        click.echo(line, err=err)


@main.command("sample")
@click.option("-n", "count", type=click.IntRange(1, MAX_SAMPLE), default=2000,
              show_default=True, help="Number of accounts.")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True)
@click.option("--clean", is_flag=True, help="No dirty cells (text in numbers, odd flags).")
@click.option("--outcome", type=click.Choice(["latent", "curves"]), default="latent",
              show_default=True,
              help="What drives `renewed`: one latent health, or a known curve per metric "
                   "(one of them an inverted U), to try `chs calibrate --learn-points` on.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Output file: .csv or .xlsx.")
def sample_command(count: int, seed: int, clean: bool, outcome: str, output: Path) -> None:
    """Write a realistic synthetic accounts file for the default model."""
    from chs_excel.io.sample import make_sample
    kind = _output_kind(output)
    if kind == "xlsx":
        check_table_rows(count, output)
    frame = make_sample(count, seed, dirty=not clean, outcome=outcome)
    write_accounts(output, kind, frame)
    click.echo(f"Wrote {count:,} sample accounts -> {output}")


def write_accounts(output: Path, kind: str, frame: pd.DataFrame) -> None:
    """An accounts table as csv or as an xlsx with the Table `Accounts`."""
    if kind == "csv":
        write_atomically(output, lambda tmp: write_csv(frame, tmp))
        return
    from chs_excel.sheets.workbook import WorkbookBuilder

    def build(tmp: Path) -> None:
        book = WorkbookBuilder(tmp, default_model())
        book.table_sheet("Accounts", "Accounts", frame)
        book.close()
    write_atomically(output, build)


@main.command("model")
@click.option("--default", "write_default", is_flag=True,
              help="Write the built-in default model.")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Where to write the model YAML.")
@click.option("--check", "check_path", type=click.Path(path_type=Path),
              help="Validate a model YAML file.")
def model_command(write_default: bool, output: Path | None, check_path: Path | None) -> None:
    """Write the default model (--default -o M.yaml) or validate one (--check M.yaml)."""
    if check_path is not None:
        model = load_model(check_path)
        click.echo(f"{check_path}: OK — {model.name!r}: {len(model.components)} components, "
                   f"{len(model.metrics)} metrics, {len(model.rules)} rules")
        return
    if not write_default or output is None:
        raise ChsError("use 'chs model --default -o M.yaml' or 'chs model --check M.yaml'")
    default_model().save(output)
    click.echo(f"Wrote the default model -> {output}")


@main.command("demo")
@click.option("-o", "--output", "folder", type=click.Path(path_type=Path),
              default=Path("chs-demo"), show_default=True, help="Folder for the demo files.")
@click.option("-n", "count", type=click.IntRange(1, TABLE_ROWS), default=2000,
              show_default=True)
@click.option("--signals", "with_signals", is_flag=True,
              help="Start from raw exports (tickets, events, surveys, invoices): the model "
                   "computes logins, tickets, NPS and CSAT from them (docs/signals.md).")
def demo_command(folder: Path, count: int, with_signals: bool) -> None:
    """Sample data -> scored, formatted workbook: the whole job on example data."""
    from chs_excel.io.sample import make_sample, reference_date
    make_folder(folder)
    model = default_signals_model() if with_signals else default_model()
    model.save(folder / "model.yaml")
    accounts_path = folder / "accounts.csv"
    sample = make_sample(count, seed=0)
    exports = ""
    if with_signals:
        from chs_excel.io.sample_signals import SIGNAL_COLUMNS, make_exports
        for name, frame in make_exports(sample, reference_date(0)).items():
            write_atomically(folder / f"{name}.csv",
                             lambda tmp, f=frame: f.to_csv(tmp, index=False))
        sample = sample.drop(columns=list(SIGNAL_COLUMNS))
        exports = ", tickets.csv, events.csv, surveys.csv, invoices.csv"
    write_accounts(accounts_path, "csv", sample)
    accounts = read_accounts(accounts_path)
    signal_issues = None
    if with_signals:
        accounts, signals = add_signals(model, folder / "model.yaml", accounts,
                                        reference_date(0))
        signal_issues = signals.issues
    scoring = score(model, accounts, as_of=reference_date(0))
    if signal_issues is not None:
        scoring = Scoring(scoring.scores, pd.concat([signal_issues, scoring.issues],
                                                    ignore_index=True), scoring.unread)
    book = folder / "scored.xlsx"
    sources = None
    if with_signals:   # the exports as source sheets: the signal columns live formulas
        from chs_excel.io.sources import load_sources
        sources = load_sources(model, folder / "model.yaml")
    write_scores(book, "xlsx", model, accounts, scoring, as_of=reference_date(0),
                 sources=sources)
    click.echo(f"Demo in {folder}/: model.yaml, accounts.csv{exports}, scored.xlsx "
               f"(scored as of {reference_date(0).isoformat()}, the sample's own 'today')")
    _print_summary(scoring, book)


for _command in (snapshot_command, forecast_command, trend_command, calibrate_command,
                 path_command, sql_command, signals_command, explain_command):
    main.add_command(_command)


@main.command("addin")
@click.option("-o", "--output", "folder", required=True, type=click.Path(path_type=Path),
              help="Folder for chs_scorecard.xlsm and chs_scorecard.py.")
@click.option("--model", "model_path", type=click.Path(path_type=Path),
              help="Scorecard model YAML (default: the built-in SaaS model).")
def addin_command(folder: Path, model_path: Path | None) -> None:
    """Write the xlwings template (UDFs + macros) for Excel users with Python."""
    from chs_excel.app.addin import build_addin, starter_accounts
    model = _model(model_path)
    accounts, as_of = starter_accounts(model)
    path = build_addin(folder, model, accounts, as_of=as_of)
    click.echo(f"Wrote {path} and {path.with_suffix('.py').name} "
               f"({len(accounts):,} sample accounts). Next: docs/excel-addin.md")


@main.command("rebuild")
@click.argument("book", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="The rebuilt workbook (a new file; BOOK is never changed).")
@click.option("--as-of", type=DATE,
              help="Day overrides are checked against when BOOK has no fixed one "
                   "(default: TODAY() in the workbook).")
def rebuild_command(book: Path, output: Path, as_of: dt.datetime | None) -> None:
    """Regenerate a workbook's formulas for its Model as it is now, keeping every sheet."""
    from chs_excel.app.macros import rebuild_file
    if output.suffix.lower() != book.suffix.lower():
        raise ChsError(f"{output}: name the rebuilt workbook {book.suffix} like {book.name}")
    check_output_path(output, (book,))
    click.echo(rebuild_file(book, output, as_of=as_of.date() if as_of else None))
    click.echo(f"Wrote {output}")


@main.command("template")
@click.option("--model", "model_path", type=click.Path(path_type=Path),
              help="Scorecard model YAML (default: the built-in model, or --from's).")
@click.option("--data", "data_path", type=click.Path(path_type=Path),
              help="Accounts (csv or xlsx) to put in the Accounts sheet.")
@click.option("--sheet", help="Sheet to read from an xlsx --data file.")
@click.option("--from", "from_path", type=click.Path(path_type=Path),
              help="Rebuild a workbook made by chs, keeping its Model, Accounts and History "
                   "(--model / --data replace them). The file itself is not changed.")
@click.option("--rows", type=click.IntRange(1, TABLE_ROWS), default=2000, show_default=True,
              help="Rows the Scores formulas cover (at least the accounts).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="The workbook to write (.xlsx).")
def template_command(model_path: Path | None, data_path: Path | None, sheet: str | None,
                     from_path: Path | None, rows: int, output: Path) -> None:
    """Write the live scorecard workbook: native formulas, traffic lights, dashboard."""
    from chs_excel.io.workbook import read_workbook
    from chs_excel.sheets.workbook import write_template
    if _output_kind(output, model_path, data_path, from_path) != "xlsx":
        raise ChsError(f"{output}: the template is a workbook; name it .xlsx")
    history = weights = statuses = None
    model = _model(model_path)
    accounts = read_accounts(data_path, sheet) if data_path is not None else None
    if from_path is not None:
        found = read_workbook(from_path)
        model = found.model if model_path is None else model
        accounts = found.accounts if data_path is None else accounts
        history, weights, rows = found.history, found.history_weights, max(rows, found.rows)
        statuses = found.statuses
    sources = None
    if accounts is not None and model.sources and data_path is not None:
        from chs_excel.io.sources import load_sources
        sources = load_sources(model, model_path)   # source sheets, signals live
    try:
        scoring = write_template(output, model, accounts, rows=rows, history=history,
                                 history_weights=weights, sources=sources, statuses=statuses)
    except ChsError as exc:
        source = accounts.attrs.get("source", data_path) if accounts is not None else None
        raise type(exc)(f"{source}: {exc}" if source else str(exc)) from None
    count = 0 if accounts is None else len(accounts)
    click.echo(f"Wrote the live workbook ({max(rows, count):,} formula rows, {count:,} "
               f"accounts) -> {output}")
    if scoring is not None:
        _print_summary(scoring, output)
