"""Command `chs signals`: the accounts with one column per signal, from the raw exports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
import pandas as pd

from chs_excel.app.cli_common import DATE, output_kind
from chs_excel.core.files import check_output_path, write_atomically
from chs_excel.core.model import Model, load_model
from chs_excel.core.signal_engine import SignalResult
from chs_excel.engines.duckdb_signals import compute_signals_duckdb, load_sources_duckdb
from chs_excel.io.accounts import read_accounts
from chs_excel.io.cells import DATE_FORMATS
from chs_excel.io.safe_text import write_csv
from chs_excel.io.sources import parse_overrides

SOURCE_HELP = "NAME=PATH: read source NAME from PATH instead of the model's file (repeatable)."


def add_signals(model: Model, model_path: Path | None, accounts: pd.DataFrame,
                as_of: dt.date, source_items: list[str] | tuple[str, ...] = (),
                date_format: str = "auto") -> tuple[pd.DataFrame, SignalResult]:
    """The accounts with each signal's column appended (input order and index kept),
    computed by the DuckDB signal engine, and the signal result (values and issues)."""
    overrides = parse_overrides(list(source_items), model)
    sources = load_sources_duckdb(model, model_path, overrides, date_format)
    result = compute_signals_duckdb(model, accounts, sources, as_of)
    out = pd.concat([accounts, result.values], axis=1)
    out.attrs = dict(accounts.attrs)
    out.attrs["headers"] = [*accounts.attrs.get("headers", accounts.columns),
                            *result.values.columns]
    return out, result


@click.command("signals")
@click.argument("input_path", metavar="ACCOUNTS", type=click.Path(path_type=Path))
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path),
              help="Scorecard model YAML with sources and signals (docs/signals.md).")
@click.option("--sheet", help="Sheet to read from an xlsx input.")
@click.option("--as-of", type=DATE, help="Day the signals are computed for (default: today).")
@click.option("--source", "source_items", multiple=True, metavar="NAME=PATH", help=SOURCE_HELP)
@click.option("--date-format", type=click.Choice(DATE_FORMATS), default="auto",
              show_default=True, help="Day/month order of times written as d/m/y text "
                                      "in the sources (docs/input.md).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="OUT.csv or OUT.xlsx: the accounts with one column per signal.")
def signals_command(input_path: Path, model_path: Path, sheet: str | None,
                    as_of: dt.datetime | None, source_items: tuple[str, ...],
                    date_format: str, output: Path) -> None:
    """Compute the model's signals from its raw exports for the accounts in ACCOUNTS.

    A csv output gets the data issues (unmatched keys, unreadable times, text where a
    number was wanted) beside it in OUT.issues.csv; an xlsx output in a Data issues sheet.
    """
    kind = output_kind(output, ("csv", "xlsx"), (input_path, model_path))
    issues_path = output.with_name(f"{output.stem}.issues.csv")
    if kind == "csv":
        check_output_path(issues_path, (input_path, model_path))
    model = load_model(model_path)
    if not model.signals:
        raise click.ClickException(f"{model_path}: the model declares no signals "
                                   "(docs/signals.md)")
    accounts = read_accounts(input_path, sheet)
    day = as_of.date() if as_of else dt.date.today()
    frame, result = add_signals(model, model_path, accounts, day, source_items, date_format)
    frame = frame.reset_index(drop=True)
    if kind == "csv":
        write_atomically(output, lambda tmp: write_csv(frame, tmp))
        if len(result.issues):
            write_atomically(issues_path, lambda tmp: write_csv(result.issues, tmp))
        elif issues_path.is_file():
            issues_path.unlink()
    else:
        write_atomically(output, lambda tmp: _workbook(tmp, frame, result.issues))
    click.echo(f"Signals for {len(frame):,} accounts ({len(model.signals)} signals, as of "
               f"{day.isoformat()}) -> {output}")
    issues = len(result.issues)
    where = f" ({issues_path})" if kind == "csv" else " (sheet 'Data issues')"
    click.echo(f"  Data issues: {issues:,}{where if issues else ''}")


def _workbook(path: Path, frame: pd.DataFrame, issues: pd.DataFrame) -> None:
    from chs_excel.xlsx.report import ReportBook
    book = ReportBook(path, title="Signals")
    book.table("Accounts", "Accounts", frame, row=2,
               title="The accounts with one column per signal (docs/signals.md)")
    book.table("Data issues", "DataIssues", issues.reset_index(drop=True), row=2,
               title="Source rows not counted and cells not read")
    book.close()
