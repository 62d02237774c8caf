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
from collections.abc import Callable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from chs_excel.core.model import Model
from chs_excel.core.signal_engine import EXAMPLES, window_bounds
from chs_excel.core.signals import NO_OF_AGGS, ZERO_AGGS, Signal, SignalFilter
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
    return key_expr(f"s.{ident(column)}", column in schema.numbers)


def key_expr(c: str, numeric: bool) -> str:
    """`key_sql` of an expression (`numeric`: it holds numbers)."""
    if numeric:
        return (f"CASE WHEN {c} = ROUND({c}) AND ABS({c}) < 1e15 THEN "
                f"CAST(CAST({c} AS BIGINT) AS VARCHAR) ELSE CAST({c} AS VARCHAR) END")
    spaces = literal("".join(KEY_SPACES))
    return (f"LOWER(TRIM(REGEXP_REPLACE(TRANSLATE(CAST({c} AS VARCHAR), {spaces}, "
            f"{literal(' ' * len(KEY_SPACES))}), ' {{2,}}', ' ', 'g')))")


def value_key_expr(c: str, numeric: bool) -> str:
    """A cell's text key in a filter or distinct_count: text that reads as a finite
    number is that number (as io.sources reads a csv: ' 7.0 ' is 7, key '7'), so a
    Parquet text column reads as a csv one does."""
    if numeric:
        return key_expr(c, True)
    n = number_expr(c, False)
    return f"CASE WHEN ({n}) IS NOT NULL THEN {key_expr(n, True)} ELSE {key_expr(c, False)} END"


def number_expr(c: str, numeric: bool) -> str:
    """The expression as a finite number, NULL where the cell is not one."""
    n = c if numeric else f"TRY_CAST(TRIM(CAST({c} AS VARCHAR)) AS DOUBLE)"
    return f"CASE WHEN ABS({n}) <= {MAX_DOUBLE} THEN {n} END"


def number_sql(column: str, schema: SourceSchema) -> str:
    """The column as a finite number, NULL where the cell is not one."""
    return number_expr(f"s.{ident(column)}", column in schema.numbers)


# matching(column, condition over `raw`): the column's values meeting the condition, when
# an engine has looked them up (few distinct values), else None. Lets DuckDB test a row
# against a short list of constants instead of joining a table of flags.
Matching = Callable[[str, str], "list[object] | None"]


class Flags:
    """Filters decided once per distinct value of a text column: each column's distinct
    values joined once to the rows, one boolean flag per filter (a text key costs a
    regular expression; computing it per row of a 50M-row export would dominate).
    With `matching`, a filter whose values are known becomes a list of constants."""

    def __init__(self, schema: SourceSchema, matching: Matching | None = None) -> None:
        self.schema = schema
        self.matching = matching
        self.columns: dict[str, list[str]] = {}

    def test(self, column: str, cond: str, null: str) -> str:
        """A row's `cond` (over `raw`) for `column`; `null` for a blank (NULL) cell."""
        found = self.matching(column, cond) if self.matching else None
        if found is None:
            return f"COALESCE({self.flag(column, cond)}, {null})"
        c = f"s.{ident(column)}"
        if not found:
            return f"({c} IS NULL AND {null})"
        values = ", ".join(literal(v) if isinstance(v, str) else repr(float(v))
                           for v in found)
        return f"COALESCE({c} IN ({values}), {null})"

    def flag(self, column: str, cond: str) -> str:
        """The name of the flag holding `cond` (over `raw`) for `column`'s values."""
        conds = self.columns.setdefault(column, [])
        if cond not in conds:
            conds.append(cond)
        i, j = list(self.columns).index(column), conds.index(cond)
        return f"v{i}.f{j}"

    def joins(self) -> str:
        """The LEFT JOINs bringing every flag to the rows."""
        out = []
        for i, (column, conds) in enumerate(self.columns.items()):
            flags = ", ".join(f"{c} AS f{j}" for j, c in enumerate(conds))
            out.append(f" LEFT JOIN (SELECT raw, {flags} FROM (SELECT DISTINCT "
                       f"{ident(column)} AS raw FROM {ident(self.schema.relation)}) AS d) "
                       f"AS v{i} ON s.{ident(column)} = v{i}.raw")
        return "".join(out)


def filter_sql(f: SignalFilter, column: str, schema: SourceSchema, flags: Flags) -> str:
    """One filter as COUNTIFS reads it (see core.signal_engine.filter_mask).

    A number compared with a number column is compared row by row; any other filter is
    decided once per distinct value of the column (`Flags`).
    """
    values = f.value if isinstance(f.value, tuple) else (f.value,)
    numeric = column in schema.numbers
    if numeric and all(isinstance(v, float) for v in values):
        return value_condition(f.op, values, f"s.{ident(column)}", True)
    null = "TRUE" if f.op == "<>" else "FALSE"  # a blank cell satisfies only <>
    return flags.test(column, value_condition(f.op, values, "raw", numeric), null)


def value_condition(op: str, values: tuple[float | str, ...], c: str, numeric: bool) -> str:
    """`c op value` (`in`: any of `values`) as SQL over expression `c`."""
    if op == "in":
        return "(" + " OR ".join(_one_sql("=", v, c, numeric) for v in values) + ")"
    return _one_sql(op, values[0], c, numeric)


def _one_sql(op: str, value: float | str, c: str, numeric: bool) -> str:
    if isinstance(value, float):
        n = number_expr(c, numeric)
        if op == "<>":
            return f"(({n}) IS NULL OR ({n}) <> {value!r})"
        return f"COALESCE(({n}) {op} {value!r}, FALSE)"
    k, want = value_key_expr(c, numeric), literal(text_key(value))
    if op == "=":
        return f"COALESCE(({k}) = {want}, FALSE)"
    if op == "<>":
        return f"(({k}) IS NULL OR ({k}) <> {want})"
    return (f"COALESCE(({k}) <> '' AND ({number_expr(c, numeric)}) IS NULL "
            f"AND ({k}) {op} {want}, FALSE)")


def _ts(value: object) -> str:
    return f"TIMESTAMP '{value.astype('datetime64[s]').item():%Y-%m-%d %H:%M:%S}'"


def _start(as_of: dt.date | None, window: int) -> str:
    """The first instant of an N-day window (None: the window ends on CURRENT_DATE)."""
    if as_of is None:
        return f"CAST(CURRENT_DATE AS TIMESTAMP) - INTERVAL {int(window) - 1} DAY"
    return _ts(window_bounds(as_of, window)[0])


def _end(as_of: dt.date | None) -> str:
    """The instant after the as-of day: rows from then on never count."""
    if as_of is None:
        return "CAST(CURRENT_DATE AS TIMESTAMP) + INTERVAL 1 DAY"
    return _ts(window_bounds(as_of, None)[1])


def _day(as_of: dt.date | None) -> str:
    return "CURRENT_DATE" if as_of is None else f"DATE '{as_of:%Y-%m-%d}'"


def _condition(g: Signal, schema: SourceSchema, columns: dict[str, str],
               as_of: dt.date | None, flags: Flags) -> str:
    parts = [] if g.window is None else [f"s.{ident(schema.time)} >= {_start(as_of, g.window)}"]
    parts += [filter_sql(f, columns[f.column], schema, flags) for f in g.where]
    return " AND ".join(parts) or "TRUE"


def _blank_words() -> str:
    return ", ".join(literal(w) for w in BLANK_WORDS)


def _keymap(schema: SourceSchema) -> str:
    """Each distinct raw key of the source that matches an account, and its position
    (the text key is computed once per distinct key, not once per row)."""
    return (f"(SELECT d.raw AS raw, a.pos AS pos FROM (SELECT DISTINCT {ident(schema.key)} "
            f"AS raw FROM {ident(schema.relation)}) AS d JOIN {ACCOUNTS_RELATION} AS a "
            f"ON a.key = {key_expr('d.raw', schema.key in schema.numbers)})")


def _from(schema: SourceSchema, as_of: dt.date | None, flags: Flags) -> str:
    return (f"FROM {ident(schema.relation)} AS s JOIN {_keymap(schema)} AS a "
            f"ON s.{ident(schema.key)} = a.raw{flags.joins()} "
            f"WHERE s.{ident(schema.time)} < {_end(as_of)}")


def source_query(signals: list[Signal], schema: SourceSchema,
                 columns: dict[str, dict[str, str]], as_of: dt.date | None,
                 dialect: str = "duckdb", matching: Matching | None = None,
                 by_raw_key: bool = False) -> str | None:
    """One scan of `source` giving `pos` and one column per signal (but `latest`).

    `columns[signal][name]` is the source column each name of the signal reads.
    NULL means no row matched (the caller fills 0 for count, sum and distinct_count).
    `by_raw_key`: group the rows by their key as written and join the groups to the
    accounts (faster: no join of every row); only right when no two spellings of a key
    belong to one account, which the caller checks.
    """
    items = []
    flags = Flags(schema, matching)
    for g in signals:
        if g.agg == "latest":
            continue
        cond = _condition(g, schema, columns[g.name], as_of, flags)
        if g.agg == "count":
            value = f"COUNT(*) FILTER (WHERE {cond})"
        elif g.agg == "days_since_last":
            value = (f"DATE_DIFF('day', CAST(MAX(s.{ident(schema.time)}) FILTER (WHERE {cond}) "
                     f"AS DATE), {_day(as_of)})")
        elif g.agg == "distinct_count":
            of = columns[g.name][g.of]
            if of in schema.numbers:   # distinct numbers are distinct text keys
                k = number_sql(of, schema)
                value = f"COUNT(DISTINCT {k}) FILTER (WHERE {cond} AND ({k}) IS NOT NULL)"
            else:
                k = flags.flag(of, value_key_expr("raw", False))
                value = (f"COUNT(DISTINCT {k}) FILTER (WHERE {cond} AND ({k}) IS NOT NULL "
                         f"AND ({k}) NOT IN ({_blank_words()}))")
        else:
            fn = {"sum": "SUM", "mean": "AVG", "min": "MIN", "max": "MAX"}[g.agg]
            value = f"{fn}({number_sql(columns[g.name][g.of], schema)}) FILTER (WHERE {cond})"
        items.append(f"{value} AS {ident(g.name)}")
    if not items:
        return None
    if by_raw_key:
        key = f"s.{ident(schema.key)}"
        names = ", ".join(f"g.{ident(g.name)}" for g in signals if g.agg != "latest")
        sql = (f"SELECT a.pos AS pos, {names} FROM (SELECT {key} AS raw, {', '.join(items)} "
               f"FROM {ident(schema.relation)} AS s{flags.joins()} WHERE "
               f"s.{ident(schema.time)} < {_end(as_of)} GROUP BY {key}) AS g "
               f"JOIN {_keymap(schema)} AS a ON g.raw = a.raw")
    else:
        sql = (f"SELECT a.pos AS pos, {', '.join(items)} {_from(schema, as_of, flags)} "
               f"GROUP BY a.pos")
    return transpile(sql, dialect)


def one_key_per_account_query(schema: SourceSchema, dialect: str = "duckdb") -> str:
    """True when no two spellings of the source's keys belong to one account."""
    return transpile(f"SELECT COUNT(*) = COUNT(DISTINCT pos) FROM {_keymap(schema)} AS k",
                     dialect)


def latest_query(g: Signal, schema: SourceSchema, columns: dict[str, str],
                 as_of: dt.date | None, dialect: str = "duckdb",
                 matching: Matching | None = None) -> str:
    """`pos` and the value of `g.of` at each account's latest matching time (ties
    averaged), among the rows whose value is a number."""
    n = number_sql(columns[g.of], schema)
    t = f"s.{ident(schema.time)}"
    flags = Flags(schema, matching)
    cond = _condition(g, schema, columns, as_of, flags)
    sql = (f"SELECT pos, AVG(v) AS {ident(g.name)} FROM (SELECT a.pos AS pos, {n} AS v, "
           f"{t} AS t, MAX({t}) OVER (PARTITION BY a.pos) AS last_t "
           f"{_from(schema, as_of, flags)} AND {cond} "
           f"AND ({n}) IS NOT NULL) AS m WHERE t = last_t GROUP BY pos")
    return transpile(sql, dialect)


def unmatched_queries(schema: SourceSchema, dialect: str = "duckdb") -> tuple[str, str]:
    """Per source, the rows whose key matches no account: (how many, how many with a blank
    key, the first row) and the first few distinct non-blank keys among them, in file
    order."""
    k = key_sql(schema.key, schema)
    key = ident(schema.key)
    blank = f"(({k}) IS NULL OR ({k}) IN ({_blank_words()}))"
    unmatched = (f"SELECT s.{ident(ROW)} AS r, CAST(s.{key} AS VARCHAR) AS raw, "
                 f"{blank} AS blank FROM {ident(schema.relation)} AS s WHERE s.{key} IS NULL "
                 f"OR s.{key} NOT IN (SELECT raw FROM {_keymap(schema)} AS m)")
    summary = (f"SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE blank) AS blanks, "
               f"MIN(r) AS first_row FROM ({unmatched}) AS u")
    examples = (f"SELECT raw, MIN(r) AS first_at FROM ({unmatched}) AS u WHERE NOT blank "
                f"GROUP BY raw ORDER BY first_at LIMIT {EXAMPLES}")
    return transpile(summary, dialect), transpile(examples, dialect)


def bad_numbers_query(g: Signal, schema: SourceSchema,
                      columns: dict[str, str], as_of: dt.date,
                      dialect: str = "duckdb") -> str | None:
    """Rows a numeric signal counts whose `of` cell is text that is not a number."""
    if g.agg in NO_OF_AGGS or g.agg == "distinct_count" or columns[g.of] in schema.numbers:
        return None
    c = f"s.{ident(columns[g.of])}"
    k = key_sql(columns[g.of], schema)
    flags = Flags(schema)
    cond = _condition(g, schema, columns, as_of, flags)
    sql = (f"SELECT s.{ident(ROW)} AS r, CAST({c} AS VARCHAR) AS v "
           f"{_from(schema, as_of, flags)} AND {cond} "
           f"AND ({k}) IS NOT NULL AND ({k}) NOT IN ({_blank_words()}) "
           f"AND ({number_sql(columns[g.of], schema)}) IS NULL ORDER BY r")
    return transpile(sql, dialect)


def transpile(sql: str, dialect: str) -> str:
    """DuckDB SQL in `dialect` (sqlglot)."""
    return sqlglot.transpile(sql, read="duckdb", write=dialect)[0]


# ---------------------------------------------------------------- `chs sql --signals`

SIGNALS_RELATION = "accounts_signals"
TIME = "_chs_time"


def sql_column(name: str) -> str:
    """The pinned column name of an input column (accounts or a source table, as a
    warehouse holds it): its key, lower case, spaces as `_`."""
    return "_".join(str(name).split()).lower()


def signal_ctes(model: Model, dialect: str,
                as_of: dt.date | None) -> list[tuple[str, str, str]]:
    """(name, comment, body) CTEs computing the model's signals from tables named as its
    sources, ending in `accounts_signals`: the `accounts` table with one column per signal.

    Each source table holds the export's columns named by their keys; its time column is a
    timestamp in UTC or text the engine casts (TRY_CAST); every value is read as text or a
    number from text, as `core.signal_engine` reads an export. `as_of` None: the as-of
    day is CURRENT_DATE when the query runs.
    """
    account = key_expr("account_id", False)
    ctes = [(ACCOUNTS_RELATION, "each account's id as a text key (case, odd spaces and "
             "padding ignored)", transpile(
                 f"SELECT DISTINCT {account} AS key, {account} AS pos FROM accounts "
                 "WHERE account_id IS NOT NULL", dialect))]
    joins, outputs = [], []
    for i, s in enumerate(model.sources):
        relation = f"source_{i}"
        ctes.append((relation, f"source {s.name}: table {s.name}, time column "
                     f"{sql_column(s.time)} as a timestamp", transpile(
                         f"SELECT s.*, TRY_CAST(s.{ident(sql_column(s.time))} AS TIMESTAMP)"
                         f" AS {ident(TIME)} FROM {ident(s.name)} AS s", dialect)))
        schema = SourceSchema(relation=relation, key=sql_column(s.key), time=TIME,
                              numbers=frozenset())
        signals = [g for g in model.signals if g.source == s.name]
        names = {g.name: {c: sql_column(c) for c in
                          ([g.of] if g.of else []) + [f.column for f in g.where]}
                 for g in signals}
        query = source_query(signals, schema, names, as_of, dialect)
        if query is not None:
            ctes.append((f"signals_{i}", f"the signals of source {s.name} but latest, "
                         "in one scan (rows after the as-of day never count)", query))
            joins.append(f"signals_{i}")
        for g in signals:
            alias = f"signals_{i}" if g.agg != "latest" else f"latest_{len(ctes)}"
            if g.agg == "latest":
                ctes.append((alias, f"signal {g.name}: the value at the latest matching time "
                             "(ties averaged)", latest_query(g, schema, names[g.name], as_of,
                                                             dialect)))
                joins.append(alias)
            value = f"{alias}.{ident(g.name)}"
            if g.agg in ZERO_AGGS:
                value = f"COALESCE({value}, 0)"
            outputs.append(f"CAST({value} AS DOUBLE) AS {ident(sql_column(g.name))}")
    on = " ".join(f"LEFT JOIN {j} ON {key_expr('a.account_id', False)} = {j}.pos"
                  for j in joins)
    ctes.append((SIGNALS_RELATION, "the accounts with one column per signal (no matching "
                 "row: count, sum and distinct_count 0, the others missing)", transpile(
                     f"SELECT a.*, {', '.join(outputs)} FROM accounts AS a {on}", dialect)))
    return ctes
