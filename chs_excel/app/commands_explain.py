"""Command `chs explain`: for one account, each signal's value, the source rows behind it
(file and row number) and the metric score it produced."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
import numpy as np
import pandas as pd

from chs_excel.app.cli_common import DATE
from chs_excel.app.commands_signals import SOURCE_HELP
from chs_excel.core.engine import score
from chs_excel.core.errors import InputError
from chs_excel.core.model import Model, load_model, metric_score_column
from chs_excel.core.signal_engine import (
    account_keys,
    compute_signals,
    prepare_source,
    signal_mask,
)
from chs_excel.core.signals import Signal
from chs_excel.core.vocabulary import header_key, text_key
from chs_excel.io.accounts import read_accounts
from chs_excel.io.sources import load_sources, parse_overrides

SHOWN_ROWS = 10  # source rows listed per signal (the count is always given)


@click.command("explain")
@click.argument("account")
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path),
              help="Scorecard model YAML with sources and signals.")
@click.option("--accounts", "accounts_path", required=True, type=click.Path(path_type=Path),
              help="The accounts file (csv or xlsx) the account is in.")
@click.option("--sheet", help="Sheet to read from an xlsx accounts file.")
@click.option("--as-of", type=DATE, help="Day the signals are computed for (default: today).")
@click.option("--source", "source_items", multiple=True, metavar="NAME=PATH", help=SOURCE_HELP)
@click.option("--rows", "shown", type=click.IntRange(0, 10_000), default=SHOWN_ROWS,
              show_default=True, help="Source rows listed per signal.")
def explain_command(account: str, model_path: Path, accounts_path: Path, sheet: str | None,
                    as_of: dt.datetime | None, source_items: tuple[str, ...],
                    shown: int) -> None:
    """What moved ACCOUNT's score: each signal's value, the source rows behind it (file,
    row number, time, value) and the metric score it produced."""
    model = load_model(model_path)
    accounts = read_accounts(accounts_path, sheet)
    day = as_of.date() if as_of else dt.date.today()
    sources = load_sources(model, model_path, parse_overrides(list(source_items), model))
    result = compute_signals(model, accounts, sources, day)
    keyed = pd.concat([accounts, result.values], axis=1)
    codes, uniques = account_keys(model, accounts)
    where = np.flatnonzero(uniques == text_key(account))
    if not len(where):
        raise InputError(f"{accounts_path}: no account {account!r} (account_id)")
    code = int(where[0])
    at = np.flatnonzero(codes == code)[0]
    scores = score(model, keyed, as_of=day).scores.iloc[at]
    click.echo(f"Account {accounts.iloc[at]['account_id']} as of {day.isoformat()}: "
               f"health {_shown(scores.get('health'))}, band {scores.get('band')}")
    prepared = {s.name: prepare_source(s.name, s.key, s.time, sources[s.name], uniques, [])
                for s in model.sources}
    for g in model.signals:
        src = prepared[g.source]
        rows = np.flatnonzero(signal_mask(g, src, day) & (src.account == code))
        click.echo(f"\n{g.name} = {_shown(result.values[g.name].iloc[at])}  "
                   f"({_describe(g)}; {len(rows):,} row(s) of {src.frame.attrs.get('file')})")
        metric = _metric(model, g)
        if metric is not None:
            click.echo(f"  scores metric {metric} -> {metric}_score "
                       f"{_shown(scores.get(f'{metric}_score'))}")
        time_col = next(c for c in src.frame.columns if header_key(c) == header_key(
            next(s.time for s in model.sources if s.name == g.source)))
        for i in rows[:shown]:
            row = src.frame.iloc[i]
            value = "" if g.of is None else f"  {g.of}={row.get(g.of)!s}"
            click.echo(f"  row {src.frame.index[i]}: {time_col}={row[time_col]}{value}")
        if len(rows) > shown:
            click.echo(f"  ... and {len(rows) - shown:,} more row(s)")


def _metric(model: Model, g: Signal) -> str | None:
    found = [m for m in model.metrics if header_key(m.column) == header_key(g.name)]
    return metric_score_column(found[0]).removesuffix("_score") if found else None


def _describe(g: Signal) -> str:
    what = g.agg if g.of is None else f"{g.agg} of {g.of}"
    window = f" over the last {g.window} days" if g.window else ""
    where = "" if not g.where else " where " + " and ".join(f.describe() for f in g.where)
    return f"{what} from {g.source}{window}{where}"


def _shown(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "missing"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value)
