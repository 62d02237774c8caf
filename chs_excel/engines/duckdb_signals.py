"""Signals in DuckDB, in process: the default signal engine (docs/signals.md).

Runs the SQL of `engines/signal_sql.py` over the sources: frames read by
`io/sources.py` (registered without a copy) or Parquet files read by DuckDB itself, so a
50M-row export never becomes a pandas frame. Proven equal to the pandas reference
(`core/signal_engine.py`) in tests/test_duckdb_signals.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from chs_excel.core.engine import ISSUE_COLUMNS
from chs_excel.core.errors import InputError
from chs_excel.core.model import Model
from chs_excel.core.signal_engine import (
    SignalResult,
    account_keys,
    column_of,
    signal_column,
    signal_result,
    unmatched_text,
)
from chs_excel.core.signals import ZERO_AGGS, Source
from chs_excel.core.vocabulary import text_key
from chs_excel.engines.signal_sql import (
    ACCOUNTS_RELATION,
    ROW,
    SourceSchema,
    bad_numbers_query,
    ident,
    latest_query,
    literal,
    one_key_per_account_query,
    source_query,
    unmatched_queries,
)
from chs_excel.io.sources import PARQUET_SUFFIXES, read_source, source_path

SourceData = pd.DataFrame | Path
DISTINCT_INLINE = 1000  # a filter column with at most this many values: tested as a list


def load_sources_duckdb(model: Model, model_path: str | Path | None,
                        overrides: dict[str, str] | None = None,
                        date_format: str = "auto") -> dict[str, SourceData]:
    """Each source as DuckDB reads it: a Parquet file stays a path (DuckDB scans it),
    any other file is read by `io.sources.read_source`."""
    out: dict[str, SourceData] = {}
    for s in model.sources:
        path = source_path(s, model_path, overrides)
        if path.suffix.lower() in PARQUET_SUFFIXES and path.is_file():
            out[s.name] = path
        else:
            out[s.name] = read_source(s, path, date_format)
    return out


def compute_signals_duckdb(model: Model, accounts: pd.DataFrame,
                           sources: dict[str, SourceData], as_of: dt.date, *,
                           memory_limit: str | None = None,
                           threads: int | None = None) -> SignalResult:
    """`core.signal_engine.compute_signals`, computed by DuckDB (same values, issues).

    `sources` maps each source to a frame (as `io.sources.read_source` gives it) or a
    Parquet file whose time column is a timestamp; `memory_limit` (e.g. "1GB") and
    `threads` cap DuckDB.
    """
    account_of_key, uniques = account_keys(model, accounts)
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        if memory_limit:
            con.execute(f"SET memory_limit = {literal(memory_limit)}")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        con.register(ACCOUNTS_RELATION, pd.DataFrame(
            {"key": pd.Series(uniques, dtype=object), "pos": np.arange(len(uniques))}))
        issues: list[pd.DataFrame] = []
        per_key: dict[str, np.ndarray] = {}
        for i, s in enumerate(model.sources):
            if s.name not in sources:
                raise InputError(f"source {s.name!r}: no data given (file {s.file!r})")
            schema, label, file = _relation(con, f"source_{i}", s, sources[s.name], issues)
            _run_source(con, model, s, schema, label, file, as_of, len(uniques), per_key,
                        issues)
        return signal_result(model, accounts, account_of_key, per_key, issues)
    finally:
        con.close()


def _relation(con: duckdb.DuckDBPyConnection, name: str, s: Source, data: SourceData,
              issues: list[pd.DataFrame]) -> tuple[SourceSchema, str, str]:
    """Register one source as relation `name`; its schema, error label and file."""
    if isinstance(data, pd.DataFrame):
        file = data.attrs.get("file", s.name)
        frame = _plain(data)
        frame[ROW] = data.index.to_numpy()
        con.register(name, frame)
        found = data.attrs.get("issues")
        if found is not None and len(found):
            issues.append(found)
        columns = list(data.columns)
        numbers = {c for c in columns if pd.api.types.is_numeric_dtype(data[c])
                   and not pd.api.types.is_bool_dtype(data[c])}
    else:
        file = str(data)
        read = f"read_parquet({literal(file)}, file_row_number = true)"
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {read}").fetchall()}
        columns = [c for c in types if c != "file_row_number"]
        time_col = column_of(pd.DataFrame(columns=columns), s.time)
        replace = ""
        if time_col is not None:   # naive UTC, to the millisecond (io.sources.parse_times)
            t = ident(time_col)
            utc = f"timezone('UTC', {t})" if "TIME ZONE" in types[time_col].upper() else t
            replace = f" REPLACE (date_trunc('millisecond', {utc}) AS {t})"
        con.execute(f"CREATE VIEW {ident(name)} AS SELECT * EXCLUDE (file_row_number)"
                    f"{replace}, file_row_number + 2 AS {ident(ROW)} FROM {read}")
        numbers = {c for c, t in types.items() if c in columns and _numeric_type(t)}
    label = f"source {s.name} ({file})"
    key_col, time_col = column_of(pd.DataFrame(columns=columns), s.key), \
        column_of(pd.DataFrame(columns=columns), s.time)
    for field, wanted, found_col in (("key", s.key, key_col), ("time", s.time, time_col)):
        if found_col is None:
            raise InputError(f"{label}: {field} column {wanted!r} not found (columns: "
                             f"{', '.join(map(str, columns))})")
    return (SourceSchema(relation=name, key=key_col, time=time_col,
                         numbers=frozenset(numbers)), label, file)


def _numeric_type(name: str) -> bool:
    upper = name.upper()
    return any(upper.startswith(t) for t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT",
                                             "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                                             "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL"))


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame DuckDB reads as the reference does: object columns as text (a whole
    float as its digits, as text keys read it), others as they are."""
    out = {}
    for c in frame.columns:
        col = frame[c]
        if col.dtype == object:
            out[c] = col.map(lambda v: v if v is None or isinstance(v, str)
                             else (None if isinstance(v, float) and np.isnan(v)
                                   else text_key(v) if isinstance(v, float) else str(v)))
        else:
            out[c] = col
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


def _run_source(con: duckdb.DuckDBPyConnection, model: Model, s: Source,
                schema: SourceSchema, label: str, file: str, as_of: dt.date, n_keys: int,
                per_key: dict[str, np.ndarray], issues: list[pd.DataFrame]) -> None:
    columns_list = _source_columns(con, schema)
    signals = [g for g in model.signals if g.source == s.name]
    names = {}
    for g in signals:
        names[g.name] = {}
        if g.of is not None:
            names[g.name][g.of] = signal_column(columns_list, label, g, g.of, "of")
        for f in g.where:
            names[g.name][f.column] = signal_column(columns_list, label, g, f.column,
                                                    "where")
    summary, examples_sql = unmatched_queries(schema)
    n, blanks, first = con.execute(summary).fetchone()
    if n:
        examples = [r[0] for r in con.execute(examples_sql).fetchall()]
        issues.append(pd.DataFrame([{
            "row": first, "account_id": None, "column": schema.key,
            "value": ", ".join(examples) or None,
            "problem": unmatched_text(s.name, file, int(n), int(blanks), examples)}],
            columns=ISSUE_COLUMNS))
    for g in signals:
        per_key[g.name] = np.full(n_keys, 0.0 if g.agg in ZERO_AGGS else np.nan)
    matching = _matching(con, schema)
    by_raw = bool(con.execute(one_key_per_account_query(schema)).fetchone()[0])
    sql = source_query(signals, schema, names, as_of, matching=matching, by_raw_key=by_raw)
    if sql is not None:
        got = con.execute(sql).df()
        pos = got["pos"].to_numpy(dtype=np.int64)
        for g in signals:
            if g.agg == "latest":
                continue
            values = got[g.name].to_numpy(dtype=float, na_value=np.nan)
            if g.agg in ZERO_AGGS:
                values = np.nan_to_num(values, nan=0.0)
            per_key[g.name][pos] = values
    for g in signals:
        if g.agg == "latest":
            got = con.execute(latest_query(g, schema, names[g.name], as_of,
                                           matching=matching)).df()
            per_key[g.name][got["pos"].to_numpy(dtype=np.int64)] = got[g.name].to_numpy(
                dtype=float, na_value=np.nan)
        bad = bad_numbers_query(g, schema, names[g.name], as_of)
        if bad is not None:
            rows = con.execute(bad).df()
            if len(rows):
                issues.append(pd.DataFrame({
                    "row": rows["r"].to_numpy(), "account_id": None,
                    "column": names[g.name][g.of], "value": rows["v"].to_numpy(),
                    "problem": f"not a number (signal {g.name} skips it)"},
                    columns=ISSUE_COLUMNS))


def _matching(con: duckdb.DuckDBPyConnection, schema: SourceSchema
              ) -> Callable[[str, str], list[object] | None]:
    """Looks up, once per column and condition, the column's values meeting a filter's
    condition when the column has at most DISTINCT_INLINE distinct values."""
    cache: dict[tuple[str, str], list[object] | None] = {}

    def matching(column: str, cond: str) -> list[object] | None:
        if (column, cond) not in cache:
            rows = con.execute(
                f"SELECT raw, {cond} FROM (SELECT DISTINCT s.{ident(column)} AS raw FROM "
                f"{ident(schema.relation)} AS s) AS d LIMIT {DISTINCT_INLINE + 1}").fetchall()
            cache[(column, cond)] = None if len(rows) > DISTINCT_INLINE else \
                [raw for raw, hit in rows if raw is not None and hit]
        return cache[(column, cond)]
    return matching


def _source_columns(con: duckdb.DuckDBPyConnection, schema: SourceSchema) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {ident(schema.relation)}").fetchall()
            if r[0] != ROW]
