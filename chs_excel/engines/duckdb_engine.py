"""The DuckDB engine: the compiled model (`sql_compiler`) run in process (docs/engines.md).

Accounts come as a pandas frame (any reader's output) or as a Parquet file that DuckDB
reads itself; the answer is the pandas engine's `Scoring` (scores in input order, data
issues with their rows), so every writer and command works on it unchanged.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from chs_excel.core.engine import ISSUE_COLUMNS, Scoring
from chs_excel.core.errors import InputError, MissingColumnError
from chs_excel.core.model import Model, header_key
from chs_excel.engines.sql_compiler import Compiled, compile_model, sql_column


def text_frame(accounts: pd.DataFrame) -> pd.DataFrame:
    """`accounts` with every cell as the text the engine reads it as (whole numbers
    without '.0', dates as `YYYY-MM-DD HH:MM:SS`, blanks as None), columns renamed to the
    compiler's names: what the SQL engines are handed from a pandas reader."""
    out = {}
    for col in accounts.columns:
        out[sql_column_of(col)] = _as_text(accounts[col])
    return pd.DataFrame(out, index=accounts.index)


def sql_column_of(header: object) -> str:
    """An input header as the compiler's column name ('Account ID' -> account_id)."""
    key = header_key(header)
    return "account_id" if key == "accountid" else sql_column(str(header))


def _as_text(raw: pd.Series) -> pd.Series:
    """Cells as text, vectorised: numbers as Python writes them (whole ones as integers)."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        text = raw.dt.strftime("%Y-%m-%d %H:%M:%S")
        return text.where(raw.notna(), None).astype(object)
    cells = raw.to_numpy(dtype=object)
    out = np.full(len(cells), None, dtype=object)
    present = ~pd.isna(cells)
    kinds = pd.Series(cells).map(type).to_numpy()
    is_str = present & np.isin(kinds, np.array([str, np.str_], dtype=object))
    out[is_str] = cells[is_str]
    other = present & ~is_str
    if other.any():
        values = pd.Series(cells[other], dtype=object)
        numbers = pd.to_numeric(values.where(~values.map(lambda v: isinstance(v, bool))),
                                errors="coerce")
        finite = numbers.notna() & np.isfinite(numbers.fillna(0))
        whole = finite & (numbers.fillna(0) % 1 == 0) & (numbers.abs() < 2**53)
        text = values.astype(str)
        text[whole] = numbers[whole].astype("int64").astype(str)
        stamps = values.map(lambda v: isinstance(v, (dt.date, pd.Timestamp)))
        text[stamps] = pd.to_datetime(values[stamps]).dt.strftime("%Y-%m-%d %H:%M:%S")
        out[np.flatnonzero(other)] = text.to_numpy(dtype=object)
    return pd.Series(out, index=raw.index, dtype=object)


def check_columns(model: Model, columns: list[str]) -> None:
    """The model's columns are in the table (the pandas engine's message otherwise)."""
    have = {header_key(c) for c in columns}
    if "accountid" not in have:
        raise MissingColumnError("column 'account_id' is missing (every account needs an id)",
                                 "account_id")
    for metric in model.metrics:
        if header_key(metric.column) not in have:
            raise MissingColumnError(f"column {metric.column!r} is missing: the model scores "
                                     f"it (metric of component {metric.component})",
                                     metric.column)
    for rule in model.rules:
        if header_key(rule.column) not in have:
            raise MissingColumnError(f"column {rule.column!r} is missing: rule {rule.name!r} "
                                     "reads it", rule.column)


# DuckDB's own default is 80% of the machine's memory: on 10M accounts it took 11.8 GB
# for no gain (62.5 s; 64.9 s within 2 GB, docs/benchmarks.md), so the engine asks less.
DEFAULT_MEMORY_LIMIT = "4GB"


def score(model: Model, accounts: pd.DataFrame | str | Path, *, as_of: dt.date | None = None,
          strict: bool = False, memory_limit: str | None = None,
          threads: int | None = None) -> Scoring:
    """Score `accounts` (a frame, or a Parquet path read by DuckDB) with DuckDB."""
    import duckdb
    as_of = as_of or dt.date.today()
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit or DEFAULT_MEMORY_LIMIT}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if isinstance(accounts, pd.DataFrame):
        frame = text_frame(accounts)
        frame["_row"] = accounts.index.to_numpy()
        check_columns(model, list(frame.columns))
        con.register("accounts_input", frame)
        con.execute("CREATE TEMP VIEW accounts AS SELECT * FROM accounts_input")
        columns = list(frame.columns)
    else:
        path = str(accounts).replace("'", "''")
        names = [r[0] for r in con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()]
        check_columns(model, names)
        select = ", ".join(f'"{n.replace(chr(34), chr(34) * 2)}" AS "{sql_column_of(n)}"'
                           for n in names)
        con.execute(f"CREATE TEMP VIEW accounts AS SELECT {select}, "
                    f"CAST(file_row_number + 2 AS BIGINT) AS _row FROM read_parquet('{path}', "
                    "file_row_number = true)")
        columns = [sql_column_of(n) for n in names]
    compiled = compile_model(model, "duckdb", columns=columns, as_of=as_of,
                             carry=("_row",))
    check_ids(con)
    return run(con, compiled, strict)


def check_ids(con: object) -> None:
    """Blank or repeated account ids fail, as in the pandas engine."""
    blank, dup = con.execute(
        "SELECT COUNT(*) FILTER (WHERE NULLIF(TRIM(CAST(account_id AS VARCHAR)), '') IS NULL),"
        " COUNT(*) - COUNT(DISTINCT TRIM(CAST(account_id AS VARCHAR))) FROM accounts"
    ).fetchone()
    if blank:
        raise InputError(f"column 'account_id': {blank} blank account id(s); every account "
                         "needs an id")
    if dup:
        raise InputError(f"column 'account_id': account ids must be unique ({dup} repeated)")


def run(con: object, compiled: Compiled, strict: bool) -> Scoring:
    """Run both queries on a connection whose `accounts` view carries `_row`."""
    scores = con.execute(f"SELECT * FROM ({compiled.score}) ORDER BY _row").df()
    issues = con.execute(f"SELECT _row AS row, * FROM ({compiled.issues})").df()
    return finish(scores, issues, strict)


def finish(scores: pd.DataFrame, issues: pd.DataFrame, strict: bool) -> Scoring:
    """Index by input row, the engine's dtypes and issue order."""
    scores = scores.set_index("_row")
    scores.index.name = None
    scores["quartile"] = scores["quartile"].astype("Int64")
    issues = issues[ISSUE_COLUMNS].sort_values(["row", "column"], kind="stable",
                                               ignore_index=True)
    if strict and len(issues):
        first = issues.iloc[0]
        raise InputError(f"{len(issues)} data issue(s) under --strict; first: row "
                         f"{first['row']}, column {first['column']}: {first['problem']} "
                         f"({first['value']!r})")
    return Scoring(scores=scores, issues=issues)


def parquet_to_parquet(model: Model, source: str | Path, output: Path, issues: Path, *,
                       as_of: dt.date | None = None, memory_limit: str | None = None
                       ) -> dict[str, int]:
    """Score a Parquet file into a Parquet file without pandas (DuckDB streams both; the
    data issues go to a csv): the path for inputs too large for memory. Returns the
    summary counts (accounts per band, data issues)."""
    import duckdb

    from chs_excel.core.files import write_atomically
    as_of = as_of or dt.date.today()
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit or DEFAULT_MEMORY_LIMIT}'")
    con.execute("SET preserve_insertion_order = false")
    path = str(source).replace("'", "''")
    names = [r[0] for r in con.execute(
        f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()]
    check_columns(model, names)
    select = ", ".join(f'"{n.replace(chr(34), chr(34) * 2)}" AS "{sql_column_of(n)}"'
                       for n in names)
    con.execute(f"CREATE TEMP VIEW accounts AS SELECT {select}, CAST(file_row_number + 2 "
                f"AS BIGINT) AS _row FROM read_parquet('{path}', file_row_number = true)")
    check_ids(con)
    compiled = compile_model(model, "duckdb", columns=[sql_column_of(n) for n in names],
                             as_of=as_of, carry=("_row",))

    def copy(query: str, options: str) -> object:
        return lambda tmp: con.execute(f"COPY ({query}) TO '{str(tmp).replace(chr(39), '')}'"
                                       f" ({options})")
    write_atomically(output, copy(f"SELECT * EXCLUDE (_row) FROM ({compiled.score}) ORDER "
                                  "BY _row", "FORMAT parquet"))
    found = con.execute(f"SELECT COUNT(*) FROM ({compiled.issues})").fetchone()[0]
    if found:
        write_atomically(issues, copy(f"SELECT _row AS row, * EXCLUDE (_row) FROM "
                                      f"({compiled.issues}) ORDER BY row", "HEADER, "
                                      "FORMAT csv"))
    out = str(output).replace("'", "''")
    counts = dict(con.execute(f"SELECT band, COUNT(*) FROM read_parquet('{out}') GROUP BY "
                              "band").fetchall())
    return {"accounts": sum(counts.values()), **counts, "data issues": found}
