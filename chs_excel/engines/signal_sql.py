"""SQL for signals, generated from the model with sqlglot (DuckDB, Spark, Postgres, ...).

The SQL reads the same rules as `core/signal_engine.py`: it is written once in DuckDB's
dialect and transpiled by sqlglot to the dialect asked for. Each source becomes one query
that scans its rows once and computes all of that source's signals with `FILTER` clauses
(`latest` needs its own query: the value at each account's latest time, ties averaged).

The relations the SQL reads:
- `accounts_keys(key, pos)`: each account key (as a text key) and its position;
- one relation per source, named by `SourceSchema.relation`, holding the export's columns,
  `_row` (the row number in the file) and the time column as a naive UTC timestamp.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from chs_excel.core.signal_engine import EXAMPLES, window_bounds
from chs_excel.core.signals import NO_OF_AGGS, Signal, SignalFilter, Source
from chs_excel.core.vocabulary import BLANK_WORDS, KEY_SPACES, text_key

ACCOUNTS_RELATION = "accounts_keys"
ROW = "_row"
# The largest finite double: NaN and infinities are not numbers (as core.values reads them).
MAX_DOUBLE = "1.7976931348623157e308"


@dataclass(frozen=True)
class SourceSchema:
    """A source's relation: its name, the key and time columns, and which columns hold
    numbers (the others hold text)."""

    relation: str
    key: str
    time: str
    numbers: frozenset[str]


def ident(name: str) -> str:
    """A quoted identifier (DuckDB dialect)."""
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def literal(value: str) -> str:
    """A SQL text literal (DuckDB dialect)."""
    return exp.Literal.string(value).sql("duckdb")


def key_sql(column: str, schema: SourceSchema) -> str:
    """The column as a text key: odd spaces as spaces, runs collapsed, trimmed, lower
    case; a whole number reads as its digits (core.vocabulary.text_key)."""
    c = ident(column)
    if column in schema.numbers:
        return (f"CASE WHEN {c} = ROUND({c}) AND ABS({c}) < 1e15 THEN "
                f"CAST(CAST({c} AS BIGINT) AS VARCHAR) ELSE CAST({c} AS VARCHAR) END")
    spaces = literal("".join(KEY_SPACES))
    return (f"LOWER(TRIM(REGEXP_REPLACE(TRANSLATE(CAST({c} AS VARCHAR), {spaces}, "
            f"{literal(' ' * len(KEY_SPACES))}), ' {{2,}}', ' ', 'g')))")


def number_sql(column: str, schema: SourceSchema) -> str:
    """The column as a finite number, NULL where the cell is not one."""
    c = ident(column)
    n = c if column in schema.numbers else f"TRY_CAST(TRIM(CAST({c} AS VARCHAR)) AS DOUBLE)"
    return f"CASE WHEN ABS({n}) <= {MAX_DOUBLE} THEN {n} END"


def filter_sql(f: SignalFilter, column: str, schema: SourceSchema) -> str:
    """One filter as COUNTIFS reads it (see core.signal_engine.filter_mask)."""
    values = f.value if isinstance(f.value, tuple) else (f.value,)
    if f.op == "in":
        return "(" + " OR ".join(_one_sql("=", v, column, schema) for v in values) + ")"
    return _one_sql(f.op, values[0], column, schema)


def _one_sql(op: str, value: float | str, column: str, schema: SourceSchema) -> str:
    if isinstance(value, float):
        n = number_sql(column, schema)
        if op == "<>":
            return f"(({n}) IS NULL OR ({n}) <> {value!r})"
        return f"COALESCE(({n}) {op} {value!r}, FALSE)"
    k, want = key_sql(column, schema), literal(text_key(value))
    if op == "=":
        return f"COALESCE(({k}) = {want}, FALSE)"
    if op == "<>":
        return f"(({k}) IS NULL OR ({k}) <> {want})"
    return (f"COALESCE(({k}) <> '' AND ({number_sql(column, schema)}) IS NULL "
            f"AND ({k}) {op} {want}, FALSE)")


def _ts(value: object) -> str:
    return f"TIMESTAMP '{value.astype('datetime64[s]').item():%Y-%m-%d %H:%M:%S}'"


def _condition(g: Signal, schema: SourceSchema, columns: dict[str, str],
               as_of: dt.date) -> str:
    start, _ = window_bounds(as_of, g.window)
    parts = [] if start is None else [f"{ident(schema.time)} >= {_ts(start)}"]
    parts += [filter_sql(f, columns[f.column], schema) for f in g.where]
    return " AND ".join(parts) or "TRUE"


def _blank_words() -> str:
    return ", ".join(literal(w) for w in BLANK_WORDS)


def _from(source: Source, schema: SourceSchema, as_of: dt.date) -> str:
    _, end = window_bounds(as_of, None)
    return (f"FROM {ident(schema.relation)} AS s JOIN {ACCOUNTS_RELATION} AS a "
            f"ON a.key = {key_sql(schema.key, schema)} "
            f"WHERE {ident(schema.time)} < {_ts(end)}")


def source_query(source: Source, signals: list[Signal], schema: SourceSchema,
                 columns: dict[str, dict[str, str]], as_of: dt.date,
                 dialect: str = "duckdb") -> str | None:
    """One scan of `source` giving `pos` and one column per signal (but `latest`).

    `columns[signal][name]` is the source column each name of the signal reads.
    NULL means no row matched (the caller fills 0 for count, sum and distinct_count).
    """
    items = []
    for g in signals:
        if g.agg == "latest":
            continue
        cond = _condition(g, schema, columns[g.name], as_of)
        if g.agg == "count":
            value = f"COUNT(*) FILTER (WHERE {cond})"
        elif g.agg == "days_since_last":
            value = (f"DATE_DIFF('day', CAST(MAX({ident(schema.time)}) FILTER (WHERE {cond}) "
                     f"AS DATE), DATE '{as_of:%Y-%m-%d}')")
        elif g.agg == "distinct_count":
            k = key_sql(columns[g.name][g.of], schema)
            value = (f"COUNT(DISTINCT {k}) FILTER (WHERE {cond} AND ({k}) IS NOT NULL AND "
                     f"({k}) NOT IN ({_blank_words()}))")
        else:
            fn = {"sum": "SUM", "mean": "AVG", "min": "MIN", "max": "MAX"}[g.agg]
            value = f"{fn}({number_sql(columns[g.name][g.of], schema)}) FILTER (WHERE {cond})"
        items.append(f"{value} AS {ident(g.name)}")
    if not items:
        return None
    sql = f"SELECT a.pos AS pos, {', '.join(items)} {_from(source, schema, as_of)} GROUP BY a.pos"
    return transpile(sql, dialect)


def latest_query(source: Source, g: Signal, schema: SourceSchema, columns: dict[str, str],
                 as_of: dt.date, dialect: str = "duckdb") -> str:
    """`pos` and the value of `g.of` at each account's latest matching time (ties
    averaged), among the rows whose value is a number."""
    n = number_sql(columns[g.of], schema)
    t = ident(schema.time)
    sql = (f"SELECT pos, AVG(v) AS {ident(g.name)} FROM (SELECT a.pos AS pos, {n} AS v, "
           f"{t} AS t, MAX({t}) OVER (PARTITION BY a.pos) AS last_t "
           f"{_from(source, schema, as_of)} AND {_condition(g, schema, columns, as_of)} "
           f"AND ({n}) IS NOT NULL) AS m WHERE t = last_t GROUP BY pos")
    return transpile(sql, dialect)


def unmatched_queries(schema: SourceSchema, dialect: str = "duckdb") -> tuple[str, str]:
    """Per source, the rows whose key matches no account: (how many, how many with a blank
    key, the first row) and the first few distinct non-blank keys among them, in file
    order."""
    k = key_sql(schema.key, schema)
    blank = f"(({k}) IS NULL OR ({k}) IN ({_blank_words()}))"
    unmatched = (f"SELECT {ident(ROW)} AS r, CAST({ident(schema.key)} AS VARCHAR) AS raw, "
                 f"{blank} AS blank FROM {ident(schema.relation)} AS s WHERE ({k}) IS NULL "
                 f"OR ({k}) NOT IN (SELECT key FROM {ACCOUNTS_RELATION})")
    summary = (f"SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE blank) AS blanks, "
               f"MIN(r) AS first_row FROM ({unmatched}) AS u")
    examples = (f"SELECT raw, MIN(r) AS first_at FROM ({unmatched}) AS u WHERE NOT blank "
                f"GROUP BY raw ORDER BY first_at LIMIT {EXAMPLES}")
    return transpile(summary, dialect), transpile(examples, dialect)


def bad_numbers_query(source: Source, g: Signal, schema: SourceSchema,
                      columns: dict[str, str], as_of: dt.date,
                      dialect: str = "duckdb") -> str | None:
    """Rows a numeric signal counts whose `of` cell is text that is not a number."""
    if g.agg in NO_OF_AGGS or g.agg == "distinct_count" or columns[g.of] in schema.numbers:
        return None
    c = ident(columns[g.of])
    k = key_sql(columns[g.of], schema)
    sql = (f"SELECT {ident(ROW)} AS r, CAST({c} AS VARCHAR) AS v "
           f"{_from(source, schema, as_of)} AND {_condition(g, schema, columns, as_of)} "
           f"AND ({k}) IS NOT NULL AND ({k}) NOT IN ({_blank_words()}) "
           f"AND ({number_sql(columns[g.of], schema)}) IS NULL ORDER BY r")
    return transpile(sql, dialect)


def transpile(sql: str, dialect: str) -> str:
    """DuckDB SQL in `dialect` (sqlglot)."""
    return sqlglot.transpile(sql, read="duckdb", write=dialect)[0]
