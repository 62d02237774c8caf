"""Which engine scores an input (docs/engines.md): pandas, the reference, unless told
otherwise; DuckDB for Parquet and for inputs past `DUCKDB_FROM_BYTES`; Spark on request."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from chs_excel.core.engine import Scoring, score
from chs_excel.core.errors import InputError
from chs_excel.core.model import Model

ENGINES = ("auto", "pandas", "duckdb", "spark")
# Inputs this large (bytes on disk) are scored by DuckDB when no engine is named: about
# 1M accounts x 20 metrics as csv; pandas needs several times the file size in memory.
DUCKDB_FROM_BYTES = 200_000_000


def is_parquet(path: Path) -> bool:
    """A Parquet input (by its suffix)."""
    return path.suffix.lower() in (".parquet", ".pq")


def choose_engine(engine: str, input_path: Path) -> str:
    """The engine that scores `input_path` when `--engine` is `engine`."""
    if engine not in ENGINES:
        raise InputError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine != "auto":
        return engine
    if is_parquet(input_path):
        return "duckdb"
    size = input_path.stat().st_size if input_path.is_file() else 0
    return "duckdb" if size >= DUCKDB_FROM_BYTES else "pandas"


def read_parquet_accounts(path: Path) -> pd.DataFrame:
    """A Parquet file of accounts as the readers give them (index = row number + 1, as a
    file with a header row)."""
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the Parquet file ({exc})") from None
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    frame.attrs["source"] = str(path)
    return frame


def score_with(engine: str, model: Model, accounts: pd.DataFrame | Path, *,
               as_of: dt.date | None, strict: bool = False,
               previous: pd.DataFrame | None = None,
               spark_master: str | None = None,
               statuses: pd.DataFrame | None = None) -> Scoring:
    """Score with the named engine (not `auto`); a Path is read by the engine itself.

    Action statuses (docs/playbooks.md) are applied by the pandas engine only: with
    another engine they are refused rather than silently ignored."""
    if engine == "pandas":
        frame = read_parquet_accounts(accounts) if isinstance(accounts, Path) else accounts
        return score(model, frame, as_of=as_of, strict=strict, previous=previous,
                     statuses=statuses)
    if statuses is not None and len(statuses):
        raise InputError(f"action statuses are applied by --engine pandas only (this run: "
                         f"{engine}); score with --engine pandas to keep them")
    if engine == "duckdb":
        from chs_excel.engines import duckdb_engine
        return duckdb_engine.score(model, accounts, as_of=as_of, strict=strict)
    from chs_excel.engines import spark_engine
    return spark_engine.score(model, str(accounts) if isinstance(accounts, Path) else accounts,
                              as_of=as_of, strict=strict, master=spark_master)
