"""Command `chs path`: the path to Green of every account, one row per change."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
import pandas as pd

from chs_excel.app.cli_common import DATE, output_kind
from chs_excel.core.engine import score
from chs_excel.core.errors import ChsError
from chs_excel.core.files import write_atomically
from chs_excel.core.model import Model, default_model, load_model
from chs_excel.core.path import Paths, path_to_green
from chs_excel.io.accounts import XLSX_SUFFIXES, read_accounts
from chs_excel.io.safe_text import write_csv
from chs_excel.io.workbook import read_book_model


@click.command("path")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--model", "model_path", type=click.Path(path_type=Path),
              help="Scorecard model YAML (default: INPUT's Model sheet, else the built-in "
                   "model).")
@click.option("--sheet", help="Sheet to read from an xlsx input.")
@click.option("--as-of", type=DATE, help="Day overrides are checked against (default: today).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="PATHS.csv (one row per change) or PATHS.xlsx (changes and accounts).")
def path_command(input_path: Path, model_path: Path | None, sheet: str | None,
                 as_of: dt.datetime | None, output: Path) -> None:
    """The fewest, smallest metric changes that bring each account to Green.

    Rows: account_id, step, column, from, to, health_after (health after this step and
    the ones before it). See docs/path-to-green.md.
    """
    kind = output_kind(output, ("csv", "xlsx"), (input_path, model_path))
    model = _model(model_path, input_path)
    accounts = read_accounts(input_path, sheet)
    try:
        scores = score(model, accounts, as_of=as_of.date() if as_of else None).scores
    except ChsError as exc:
        raise type(exc)(f"{accounts.attrs.get('source', input_path)}: {exc}") from None
    paths = path_to_green(model, accounts, scores)
    write_atomically(output, lambda tmp: write_paths(tmp, kind, scores, paths))
    summary = paths.summary
    todo = summary["path_steps"].fillna(0) > 0
    none = summary["path_to_green"].str.startswith("no path")
    click.echo(f"Paths to Green for {int(todo.sum()):,} accounts "
               f"({len(paths.steps):,} changes) -> {output}")
    counts = summary.loc[todo, "path_steps"].value_counts().sort_index()
    click.echo("  " + "  ".join(f"{int(k)} change{'s' if k > 1 else ''}: {v:,}"
                                for k, v in counts.items()))
    if none.any():
        click.echo(f"  No path: {int(none.sum()):,} accounts (reason in path_to_green)")


def _model(model_path: Path | None, input_path: Path) -> Model:
    if model_path is not None:
        return load_model(model_path)
    if input_path.suffix.lower() in XLSX_SUFFIXES:
        found = read_book_model(input_path)
        if found is not None:
            return found
    return default_model()


def path_table(scores: pd.DataFrame, paths: Paths) -> pd.DataFrame:
    """One row per account: id, band, health and its path (text and count)."""
    keep = [c for c in ("account_id", "account_name", "owner", "arr", "health", "band")
            if c in scores.columns]
    return pd.concat([scores[keep], paths.summary], axis=1).reset_index(drop=True)


def write_paths(path: Path, kind: str | None, scores: pd.DataFrame, paths: Paths) -> None:
    """The changes as csv, or a workbook with Tables `PathSteps` and `PathToGreen`."""
    if kind == "csv":
        write_csv(paths.steps, path)
        return
    from chs_excel.app.commands_forecast import ReportBook
    book = ReportBook(path)
    ws, _ = book.table("Path to Green", "PathSteps", paths.steps, row=2,
                       title="Each change on each account's path to Green, in model order; "
                             "health_after counts this step and the ones before it")
    ws.set_column(2, 4, 22)
    table = path_table(scores, paths)
    ws, _ = book.table("Accounts", "PathToGreen", table, row=2,
                       title="Every account's path to Green (fewest changes, then smallest "
                             "moves)")
    text = table.columns.get_loc("path_to_green")
    ws.set_column(text, text, 80)
    book.close()
