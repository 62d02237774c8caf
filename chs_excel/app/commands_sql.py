"""`chs sql`: the model compiled to one SQL query for a data team (docs/engines.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from chs_excel.core.files import check_output_path, write_atomically
from chs_excel.core.model import default_model, load_model
from chs_excel.engines.sql_compiler import DIALECTS, compile_model


@click.command("sql")
@click.option("--model", "model_path", type=click.Path(path_type=Path),
              help="Scorecard model YAML (default: the built-in SaaS model).")
@click.option("--dialect", type=click.Choice(list(DIALECTS)), default="duckdb",
              show_default=True, help="The SQL engine the query is written for.")
@click.option("--columns", help="The accounts table's columns, comma-separated (default: "
                                "the model's columns, account_id, override_score, "
                                "override_until).")
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Day overrides expire against (default: CURRENT_DATE when it runs).")
@click.option("--issues", "issues_path", type=click.Path(path_type=Path),
              help="Also write the data-issues query (text in numeric columns, ...) here.")
@click.option("--signals", is_flag=True, help="Compute the model's signals first, from "
                                              "tables named as its sources.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="The .sql file to write ('-' for standard output).")
def sql_command(model_path: Path | None, dialect: str, columns: str | None,
                as_of: dt.datetime | None, issues_path: Path | None, signals: bool,
                output: Path) -> None:
    """Write the scoring query: reads table `accounts`, one row per account out."""
    model = default_model() if model_path is None else load_model(model_path)
    names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    compiled = compile_model(model, dialect, columns=names,
                             as_of=as_of.date() if as_of else None, signals=signals)
    if str(output) == "-":
        click.echo(compiled.score, nl=False)
    else:
        check_output_path(output, (model_path,))
        write_atomically(output, lambda tmp: Path(tmp).write_text(compiled.score,
                                                                  encoding="utf-8"))
        click.echo(f"Wrote the {dialect} scoring query for {model.name!r} -> {output}",
                   err=False)
    if issues_path is not None:
        check_output_path(issues_path, (model_path,))
        write_atomically(issues_path, lambda tmp: Path(tmp).write_text(compiled.issues,
                                                                       encoding="utf-8"))
