"""The scorecard model compiled to one SQL query (docs/engines.md).

Every scoring rule of `core/engine.py` (SPEC, "Metric scoring" to "Composite, rules,
bands, quartiles") is written here once, as SQL, for DuckDB, Spark, Postgres, Snowflake
and BigQuery. What differs between them is one small table, `DIALECTS` (the traps of
docs/engines.md: Spark's exact `percentile`, DOUBLE literals, regular expressions, safe
casts); sqlglot supplies each dialect's identifier quoting and type names, and the tests
parse every emitted query with sqlglot and run the DuckDB and Spark ones against pandas.

The query reads a table `accounts` with one column per input column, named by its key
(`Account ID` -> `account_id`), any of them possibly text, and returns one row per account.
A second query over the same CTEs lists the data issues (text in a numeric column, ...).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from sqlglot import exp

from chs_excel.core.errors import ModelError
from chs_excel.core.model import Metric, Model, Rule, metric_score_column, rule_kind
from chs_excel.core.playbooks import BAND_RANKS, Condition, Playbook
from chs_excel.core.values import parse_flag_value
from chs_excel.core.vocabulary import (
    BANDS,
    BLANK_WORDS,
    FALSE_WORDS,
    IDENTITY_COLUMNS,
    NO_DATA,
    QUARTILE_LABELS,
    TRUE_WORDS,
    text_key,
)
from chs_excel.engines.signal_sql import SIGNALS_RELATION, signal_ctes, sql_column

# A number written as text (after trimming): what pandas' to_numeric reads, no more.
NUMBER_PATTERN = r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?"
DATE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9:.]+)?"
MAX_DOUBLE = 1.7976931348623157e308
# Characters a text key reads as a space (vocabulary.KEY_SPACES) and the spaces a number
# or a date may carry around it.
KEY_SPACE_CODES = (0x20, 0x09, 0x0D, 0x0A, 0xA0, 0x3000)
TRIM_CODES = (*KEY_SPACE_CODES, 0x0B, 0x0C)
OPTIONAL_COLUMNS = ("override_score", "override_until")


@dataclass(frozen=True)
class Dialect:
    """What one SQL engine spells differently (the tested per-dialect table)."""

    name: str                 # the sqlglot dialect
    try_cast: str             # a cast that gives NULL instead of failing
    regex_flags: str          # the extra REGEXP_REPLACE argument for "every match"
    full_match: str           # how `s` fully matching pattern `p` is written: {s}, {p}
    quantile: str             # exact linear quantile (QUARTILE.INC) aggregate: {x}, {p}
    backslash: str            # a regex backslash as written inside a string literal
    unicode: str              # a code point in a regex: {hex} (4 hex digits)

    def type(self, name: str) -> str:
        """The dialect's spelling of a type ('double' -> DOUBLE PRECISION in Postgres)."""
        return exp.DataType.build(name).sql(dialect=self.name)

    def ident(self, name: str) -> str:
        """A quoted identifier."""
        return exp.to_identifier(name, quoted=True).sql(dialect=self.name)


DIALECTS: dict[str, Dialect] = {
    "duckdb": Dialect("duckdb", "TRY_CAST", ", 'g'", "REGEXP_FULL_MATCH({s}, '{p}')",
                      "QUANTILE_CONT({x}, {p})", "\\", "\\x{{{hex}}}"),
    # Spark: `percentile` is exact (PERCENTILE_APPROX is not); literals are DECIMAL unless
    # cast; string literals unescape backslashes; ANSI mode fails a plain bad CAST.
    "spark": Dialect("spark", "TRY_CAST", "", "{s} RLIKE '^({p})$'",
                     "PERCENTILE({x}, {p})", "\\\\", "\\\\x{{{hex}}}"),
    "postgres": Dialect("postgres", "CAST", ", 'g'", "{s} ~ '^({p})$'",
                        "PERCENTILE_CONT({p}) WITHIN GROUP (ORDER BY {x})", "\\",
                        "\\u{hex}"),
    "snowflake": Dialect("snowflake", "TRY_CAST", "", "REGEXP_LIKE({s}, '{p}')",
                         "PERCENTILE_CONT({p}) WITHIN GROUP (ORDER BY {x})", "\\\\",
                         "\\\\x{{{hex}}}"),
    "bigquery": Dialect("bigquery", "SAFE_CAST", "", "REGEXP_CONTAINS({s}, '^({p})$')",
                        "PERCENTILE_CONT({x}, {p}) OVER (PARTITION BY quartile_group)",
                        "\\\\", "\\\\x{{{hex}}}"),
}


def model_hash(model: Model) -> str:
    """A short fingerprint of the model (its YAML): which model a query was compiled from."""
    return hashlib.sha256(model.to_yaml().encode()).hexdigest()[:12]


def lit(value: float) -> str:
    """A number as a DOUBLE-typed literal: whole numbers plain, others cast (in Spark a
    bare `35.5` is a DECIMAL, which drifts in the last bits)."""
    value = float(value)
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return f"CAST({value!r} AS DOUBLE)"


def text_lit(value: str) -> str:
    """A text literal, quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Compiled:
    """The two queries: one row per account, and the data issues."""

    score: str
    issues: str
    columns: tuple[str, ...]   # the accounts columns the queries read


class _Names:
    """Unique, readable internal column names (`v_nps`, `s_nps`, `c_usage`)."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.given: dict[tuple[str, str], str] = {}

    def __call__(self, prefix: str, name: str) -> str:
        if (prefix, name) in self.given:
            return self.given[(prefix, name)]
        base = f"{prefix}_" + (re.sub(r"\W+", "_", name.lower()).strip("_") or "x")
        out, k = base, 2
        while out in self.used:
            out, k = f"{base}_{k}", k + 1
        self.used.add(out)
        self.given[(prefix, name)] = out
        return out


class _Compiler:
    def __init__(self, model: Model, dialect: str, columns: Iterable[str] | None,
                 as_of: dt.date | None, carry: tuple[str, ...], signals: bool) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r} (one of {', '.join(DIALECTS)})")
        self.m, self.d = model, DIALECTS[dialect]
        self.as_of = as_of
        self.name = _Names()
        self.signals = signals
        self.signal_columns = {sql_column(g.name) for g in model.signals} if signals \
            else set()
        if signals and not model.signals:
            raise ModelError("--signals: the model has no signals (its `signals:` list)")
        available = None if columns is None else \
            {sql_column(c) for c in columns} | self.signal_columns
        wanted = ["account_id", *(sql_column(m.column) for m in model.metrics)]
        wanted += [sql_column(r.column) for r in model.rules]
        wanted += [sql_column(c.column) for p in model.playbooks for c in p.when
                   if c.test == "metric"]
        wanted += [sql_column(c) for c in (model.segment_column, model.quartiles_by) if c]
        optional = (*IDENTITY_COLUMNS, *OPTIONAL_COLUMNS)
        wanted += [c for c in optional if (c in OPTIONAL_COLUMNS if available is None
                                           else c in available)]
        self.carry = carry
        self.columns = tuple(dict.fromkeys([*wanted, *carry]))
        self.text_type = self.d.type("varchar" if dialect != "postgres" else "text")
        self.double = self.d.type("double")
        self.timestamp = self.d.type("timestamp")
        self.ctes: list[tuple[str, str, str]] = []   # (name, comment, body)
        if signals:
            self.ctes += signal_ctes(model, dialect, as_of)

    # ------------------------------------------------------------ value expressions

    def text(self, value: str) -> str:
        """A text literal in the dialect (Spark and BigQuery escape quotes with '\\')."""
        if self.d.backslash == "\\":
            return text_lit(value)
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

    def _class(self, codes: tuple[int, ...]) -> str:
        parts = []
        for code in codes:
            if code == 0x20:
                parts.append(" ")
            elif code < 0x80:
                parts.append(self.d.backslash + {9: "t", 10: "n", 13: "r", 11: "v",
                                                 12: "f"}[code])
            else:
                parts.append(self.d.unicode.format(hex=f"{code:04X}"))
        return "[" + "".join(parts) + "]"

    def regex_replace(self, s: str, pattern: str, replacement: str) -> str:
        return f"REGEXP_REPLACE({s}, '{pattern}', '{replacement}'{self.d.regex_flags})"

    def trimmed(self, column: str) -> str:
        """A cell as text, spaces of any kind trimmed from both ends."""
        ws = self._class(TRIM_CODES)
        text = f"CAST({self.d.ident(column)} AS {self.text_type})"
        return self.regex_replace(text, f"^{ws}+|{ws}+$", "")

    def key(self, text: str) -> str:
        """SPEC's text key of a text expression: odd spaces as spaces, runs collapsed,
        trimmed, lower case."""
        spaces = self._class(KEY_SPACE_CODES)
        return f"LOWER(TRIM({self.regex_replace(text, spaces + '+', ' ')}))"

    def blank(self, t: str) -> str:
        words = ", ".join(self.text(w) for w in BLANK_WORDS)
        return f"({t} IS NULL OR {self.key(t)} IN ({words}))"

    def number(self, t: str) -> str:
        """A trimmed cell as a DOUBLE: NULL when blank or not a number (inf included)."""
        cast = f"{self.d.try_cast}({t} AS {self.double})"
        match = self.d.full_match.format(s=t, p=NUMBER_PATTERN)
        return (f"CASE WHEN {match} AND ABS({cast}) <= {lit(MAX_DOUBLE)} THEN {cast} END")

    def date(self, t: str) -> str:
        match = self.d.full_match.format(s=t, p=DATE_PATTERN)
        return f"CASE WHEN {match} THEN {self.d.try_cast}({t} AS TIMESTAMP) END"

    def flag(self, t: str) -> str:
        k = self.key(t)
        true = ", ".join(self.text(w) for w in (*TRUE_WORDS, "1.0"))
        false = ", ".join(self.text(w) for w in (*FALSE_WORDS, "0.0"))
        return f"CASE WHEN {k} IN ({true}) THEN 1 WHEN {k} IN ({false}) THEN 0 END"

    # ------------------------------------------------------------ the CTEs

    def cte(self, name: str, comment: str, body: str) -> None:
        self.ctes.append((name, comment, body))

    def compile(self) -> Compiled:
        m = self.m
        self.t = {c: self.name("t", c) for c in self.columns}
        self.cte("cells", "every cell read, as text trimmed of spaces (any column may be "
                 "text)", "SELECT\n    " + ",\n    ".join(
                     [f"{self.trimmed(c)} AS {self.t[c]}" for c in self.columns]
                     + [f"{self.d.ident(c)} AS {self.name('raw', c)}"
                        for c in self.columns])
                 + f"\n  FROM {SIGNALS_RELATION if self.signals else 'accounts'}")
        self._values()
        self._overrides()
        m_out = {sql_column(c) for c in (*IDENTITY_COLUMNS, m.segment_column, m.quartiles_by)
                 if c} - {"arr", "renewal_date"}
        keep = [*self.keep, "override_usable",
                *(self.name("raw", c) for c in self.columns if c in m_out or c in self.carry)]
        keep = [k for k in dict.fromkeys(keep) if k not in ("override_until_value",
                                                            "override_bad_date")]
        self.cte("scoring_input", "only what scoring reads from here on (a narrow table: "
                 "engines that materialise a CTE keep every column of it)",
                 "SELECT\n    " + ",\n    ".join(keep) + "\n  FROM overrides")
        prev = "scoring_input"
        for metric in m.metrics:
            prev = self._metric(metric, prev)
        prev = self._components(prev)
        prev = self._health(prev)
        prev = self._quartiles(prev)
        prev = self._playbooks(prev)
        score = self._output(prev)
        issues = self._issues()
        return Compiled(score=self._query(score), issues=self._query(issues),
                        columns=self.columns)

    def _values(self) -> None:
        """Parsed values: metric values, rule inputs, segment and group keys, overrides."""
        m, t = self.m, self.t
        cols = [f"{t['account_id']} AS account_id"]
        self.v: dict[str, str] = {}
        self.problems: list[tuple[str, str, str]] = []  # (column, bad condition, problem)
        for metric in m.metrics:
            col = sql_column(metric.column)
            x, name = t[col], self.name("v", metric.column)
            if metric.method == "flag":
                expr, problem = self.flag(x), "not a true/false value"
            elif metric.method == "category":
                cases = " ".join(f"WHEN {self.text(text_key(k))} THEN {lit(p)}"
                                 for k, p in metric.categories)
                expr = f"CASE {self.key(x)} {cases} END"
                problem = "unknown category (known: " + ", ".join(
                    k for k, _ in metric.categories) + ")"
            else:
                expr, problem = self.number(x), "not a number"
            cols.append(f"{expr} AS {name}")
            self.v[col] = name
            self.problems.append((metric.column, f"NOT {self.blank(x)} AND {name} IS NULL",
                                  problem))
        self.rule_values: dict[str, str] = {}
        for rule, who in self._rule_like():
            col = sql_column(rule.column)
            kind = rule_kind(rule, m)
            if kind == "text" and ("text", col) not in self.rule_values:
                name = self.name("tk", rule.column)
                cols.append(f"CASE WHEN {self.blank(t[col])} THEN NULL ELSE "
                            f"{self.key(t[col])} END AS {name}")
                self.rule_values[("text", col)] = name
            if col in self.v or kind == "text" or (kind, col) in self.rule_values:
                continue
            name = self.name("n" if kind == "number" else "f", rule.column)
            x = t[col]
            cols.append(f"{self.number(x) if kind == 'number' else self.flag(x)} AS {name}")
            self.rule_values[(kind, col)] = name
            if kind == "number":
                self.problems.append((rule.column, f"NOT {self.blank(x)} AND {name} IS NULL",
                                      f"not a number ({who})"))
        for what in (m.segment_column, m.quartiles_by):
            if what:
                name = self.name("k", what)
                cols.append(f"COALESCE({self.key(t[sql_column(what)])}, '') AS {name}")
        if "arr" in t:
            cols.append(f"{self.number(t['arr'])} AS v_arr")
            self.problems.append(("arr", f"NOT {self.blank(t['arr'])} AND v_arr IS NULL",
                                  "not a number"))
        if "renewal_date" in t:
            cols.append(f"{self.date(t['renewal_date'])} AS v_renewal_date")
            self.problems.append(("renewal_date", f"NOT {self.blank(t['renewal_date'])} AND "
                                  "v_renewal_date IS NULL", "not a date, use YYYY-MM-DD"))
        self._override_values(cols)
        self.keep = ["account_id"] + [c.rsplit(" AS ", 1)[1] for c in cols[1:]]
        self.cte("values_read", "cells as the engine reads them: numbers, flags, category "
                 "points, text keys", "SELECT\n    *,\n    " + ",\n    ".join(cols)
                 + "\n  FROM cells")

    def _rule_like(self) -> list[tuple[Rule, str]]:
        out = [(r, f"rule {r.name!r}") for r in self.m.rules]
        out += [(Rule(p.name, c.column, c.op, c.value, 0.0), f"playbook {p.name!r}")
                for p in self.m.playbooks for c in p.when if c.test == "metric"]
        return out

    def _override_values(self, cols: list[str]) -> None:
        """The override's value and date; `_overrides` decides where it applies."""
        t = self.t
        if "override_score" not in t:
            cols.append(f"CAST(NULL AS {self.double}) AS override_value")
        else:
            x = t["override_score"]
            cols.append(f"{self.number(x)} AS override_value")
            self.problems.append(("override_score", f"NOT {self.blank(x)} AND override_value "
                                  "IS NULL", "not a number (override ignored)"))
        if "override_until" in t:
            u = t["override_until"]
            cols.append(f"{self.date(u)} AS override_until_value")
            cols.append(f"NOT {self.blank(u)} AND {self.date(u)} IS NULL AS override_bad_date")

    def _overrides(self) -> None:
        scale = lit(self.m.scale)
        usable = f"override_value >= 0 AND override_value <= {scale}"
        if "override_score" not in self.t:
            self.cte("overrides", "no override column: no overrides",
                     "SELECT\n    *,\n    FALSE AS override_usable\n  FROM values_read")
            return
        self.problems.append(("override_score", f"NOT ({usable})",
                              f"outside 0..{self.m.scale:g} (override ignored)"))
        if "override_until" in self.t:
            expired = f"COALESCE(override_until_value < {self._as_of()}, FALSE)"
            self.problems.append(("override_until", f"override_bad_date AND {usable}",
                                  "not a date, use YYYY-MM-DD (override ignored)"))
            when = self.as_of.isoformat() if self.as_of else "the as-of day"
            self.problems.append(("override_until", f"{expired} AND {usable}",
                                  f"override expired before {when} (ignored)"))
            usable = f"{usable} AND NOT override_bad_date AND NOT {expired}"
        self.cte("overrides", "a manual override applies where it is a number in range and "
                 "not expired on the as-of day",
                 f"SELECT\n    *,\n    COALESCE({usable}, FALSE) AS override_usable\n"
                 "  FROM values_read")

    def _as_of(self) -> str:
        if self.as_of is None:
            return "CAST(CURRENT_DATE AS TIMESTAMP)"
        return f"CAST('{self.as_of.isoformat()}' AS TIMESTAMP)"

    def _metric(self, metric: Metric, prev: str) -> str:
        col = sql_column(metric.column)
        v, s = self.v[col], self.name("s", metric.column)
        scale = lit(self.m.scale)
        name = self.name("metric", metric.column)
        join = ""
        if metric.method in ("linear", "log"):
            span = metric.best - metric.worst
            if metric.method == "linear":
                frac = f"({v} - {lit(metric.worst)}) / {lit(span)}"
            else:
                t = f"{v} - {lit(metric.worst)}" if span > 0 else f"{lit(metric.worst)} - {v}"
                frac = f"LN(1 + GREATEST({t}, 0)) / {lit(math.log1p(abs(span)))}"
            expr = (f"CASE WHEN {v} IS NULL THEN NULL ELSE "
                    f"{scale} * GREATEST(0, LEAST(1, {frac})) END")
            how = f"{metric.method} from {metric.worst:g} (worst) to {metric.best:g} (best)"
        elif metric.method == "steps":
            cases = " ".join(f"WHEN {v} >= {lit(b)} THEN {lit(p)}" for b, p in
                             reversed(list(zip(metric.breaks, metric.points[1:], strict=False))))
            expr = (f"CASE WHEN {v} IS NULL THEN NULL {cases} "
                    f"ELSE {lit(metric.points[0])} END")
            how = "steps: points by the number of breaks at or below the value"
        elif metric.method == "percentile":
            expr, join = self._percentile(metric, v, prev)
            how = "percentile among present values (ties share the lower rank)"
        elif metric.method == "flag":
            expr = (f"CASE WHEN {v} IS NULL THEN NULL WHEN {v} = {int(metric.good)} "
                    f"THEN {scale} ELSE 0 END")
            how = f"flag: full points when {'true' if metric.good else 'false'}"
        else:
            expr, how = v, "category points by label"
        self.cte(name, f"metric {metric.column} ({metric.component}): {how}",
                 f"SELECT\n    p.*,\n    {expr} AS {s}\n  FROM {prev} AS p{join}")
        self.s = getattr(self, "s", {})
        self.s[col] = s
        return name

    def _percentile(self, metric: Metric, v: str, prev: str) -> tuple[str, str]:
        # from scoring_input, not the chain so far: engines that inline CTEs (Spark) would
        # copy the whole chain once more per percentile metric
        counts, ranks = self.name("counts", metric.column), self.name("ranks", metric.column)
        self.cte(counts, f"metric {metric.column}: accounts per distinct value",
                 f"SELECT {v} AS value, COUNT(*) AS n_value\n  FROM scoring_input\n  WHERE {v} IS "
                 f"NOT NULL\n  GROUP BY {v}")
        self.cte(ranks, f"metric {metric.column}: values below each distinct value "
                 "(a running sum over distinct values, not a window over accounts)",
                 f"SELECT\n    value,\n    CAST(SUM(n_value) OVER (ORDER BY value ROWS "
                 f"BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - n_value AS {self.double}) "
                 f"AS n_below,\n    CAST(SUM(n_value) OVER () - SUM(n_value) OVER (ORDER BY "
                 f"value ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS {self.double}) "
                 f"AS n_above,\n    CAST(SUM(n_value) OVER () AS {self.double}) AS n_present"
                 f"\n  FROM {counts}")
        beaten = "r.n_below" if metric.higher_is_better else "r.n_above"
        scale = lit(self.m.scale)
        expr = (f"CASE WHEN {v} IS NULL THEN NULL WHEN r.n_present = 1 THEN {scale} "
                f"ELSE {scale} * {beaten} / (r.n_present - 1) END")
        return expr, f"\n  LEFT JOIN {ranks} AS r ON p.{v} = r.value"

    def _components(self, prev: str) -> str:
        m = self.m
        comps = list(m.components)
        seg = self.name("k", m.segment_column) if m.segment_column else None
        self.w = {c: self.name("w", c) for c in comps}
        self.c = {c: self.name("c", c) for c in comps}
        self.sh = {c: self.name("share", c) for c in comps}
        cols = []
        for comp in comps:
            if seg and m.segment_weights:
                cases = " ".join(f"WHEN {self.text(text_key(name))} THEN {lit(ws[comp])}"
                                 for name, ws in m.segment_weights.items())
                weight = f"CASE {seg} {cases} ELSE {lit(m.components[comp])} END"
            else:
                weight = lit(m.components[comp])
            members = [x for x in m.metrics if x.component == comp]
            num = " + ".join(f"CASE WHEN {self.s[sql_column(x.column)]} IS NULL THEN 0 ELSE "
                             f"{lit(x.weight)} * {self.s[sql_column(x.column)]} END"
                             for x in members)
            den = " + ".join(f"CASE WHEN {self.s[sql_column(x.column)]} IS NULL THEN 0 ELSE "
                             f"{lit(x.weight)} END" for x in members)
            total = sum(x.weight for x in members)
            cols += [f"{weight} AS {self.w[comp]}",
                     f"CASE WHEN ({den}) > 0 THEN ({num}) / ({den}) END AS {self.c[comp]}",
                     f"CAST({den} AS {self.double}) / {lit(total)} AS {self.sh[comp]}"]
        self.cte("components", "component scores: weighted means of the present metric "
                 "scores; the weights (segment-aware) and the share of metric weight present",
                 "SELECT\n    *,\n    " + ",\n    ".join(cols) + f"\n  FROM {prev}")
        return "components"

    def _rule(self, rule: Rule) -> str:
        """Where `column op value` holds on the raw value; a missing value never holds."""
        col, kind = sql_column(rule.column), rule_kind(rule, self.m)
        if kind == "text":
            k = self.rule_values[("text", col)]
            present = f"{k} IS NOT NULL"
            if col in self.v:
                present += f" AND {self.v[col]} IS NOT NULL"
            op = "=" if rule.op == "=" else "<>"
            return f"COALESCE({present} AND {k} {op} {self.text(text_key(rule.value))}, FALSE)"
        x = self.v.get(col) or self.rule_values[(kind, col)]
        target = float(parse_flag_value(rule.value)) if kind == "flag" else float(rule.value)
        return f"COALESCE({x} {rule.op} {lit(target)}, FALSE)"

    def _health(self, prev: str) -> str:
        m = self.m
        comps = list(m.components)
        present_w = " + ".join(f"CASE WHEN {self.c[c]} IS NULL THEN 0 ELSE {self.w[c]} END"
                               for c in comps)
        num = " + ".join(f"CASE WHEN {self.c[c]} IS NULL THEN 0 ELSE {self.w[c]} * "
                         f"{self.c[c]} END" for c in comps)
        total_w = " + ".join(self.w[c] for c in comps)
        cover = " + ".join(f"{self.w[c]} * {self.sh[c]}" for c in comps)
        rules = [f"{self._rule(r)} AS {self.name('rule', r.name)}" for r in m.rules]
        self.cte("composite", "raw health (present components, renormalised), coverage, "
                 "critical rules",
                 "SELECT\n    *,\n    " + ",\n    ".join([
                     f"CAST({present_w} AS {self.double}) AS weight_present",
                     f"CASE WHEN ({present_w}) > 0 THEN ({num}) / ({present_w}) END "
                     "AS raw_health",
                     f"({cover}) / ({total_w}) AS coverage", *rules]) + f"\n  FROM {prev}")
        caps = ", ".join(f"CASE WHEN {self.name('rule', r.name)} THEN {lit(r.cap)} "
                         "ELSE raw_health END" for r in m.rules)
        capped = (f"CASE WHEN raw_health IS NULL THEN NULL ELSE LEAST(raw_health, {caps}) END"
                  if m.rules else "raw_health")
        names = " || ".join(f"CASE WHEN {self.name('rule', r.name)} AND raw_health IS NOT "
                            f"NULL THEN {self.text('; ' + r.name)} ELSE '' END"
                            for r in m.rules)
        capped_by = f"SUBSTR({names}, 3)" if m.rules else "''"
        self.cte("capped", "caps of the triggered rules (never on an account without "
                 "health); overrides not expired on the as-of day replace health",
                 f"SELECT\n    *,\n    {capped_by} AS capped_by,\n    CASE WHEN "
                 f"override_usable THEN override_value ELSE {capped} END AS health,\n    "
                 f"override_usable AS overridden\n  FROM composite")
        group = self.name("k", m.quartiles_by) if m.quartiles_by else "''"
        band = (f"CASE WHEN health IS NULL THEN {self.text(NO_DATA)} WHEN health >= "
                f"{lit(m.green_from)} THEN {self.text(BANDS[0])} WHEN health >= "
                f"{lit(m.red_below)} THEN {self.text(BANDS[1])} ELSE {self.text(BANDS[2])} END")
        self.cte("banded", "bands, and the group quartiles are computed in",
                 f"SELECT\n    *,\n    {band} AS band,\n    {group} AS quartile_group\n"
                 f"  FROM capped")
        return "banded"

    def _quartiles(self, prev: str) -> str:
        ps = {"q1": 0.25, "q2": 0.5, "q3": 0.75}
        if self.d.name == "bigquery":   # PERCENTILE_CONT is only a window function there
            body = ("SELECT DISTINCT\n    quartile_group,\n    " + ",\n    ".join(
                f"{self.d.quantile.format(x='health', p=lit(p))} AS {q}"
                for q, p in ps.items()) + f"\n  FROM {prev}\n  WHERE health IS NOT NULL")
        else:
            body = ("SELECT\n    quartile_group,\n    " + ",\n    ".join(
                f"{self.d.quantile.format(x='health', p=lit(p))} AS {q}"
                for q, p in ps.items())
                + f"\n  FROM {prev}\n  WHERE health IS NOT NULL\n  GROUP BY quartile_group")
        self.cte("quartile_cuts", "QUARTILE.INC cut points of health per quartile group "
                 "(exact, linear interpolation)", body)
        comps = list(self.m.components)
        ladder = " + ".join(f"CASE WHEN health < q.{q} THEN 1 ELSE 0 END" for q in
                            ("q3", "q2", "q1"))
        weakest, stake = [], []
        for k, comp in enumerate(comps):
            ck = self.c[comp]
            tests = [f"{ck} IS NOT NULL"]
            tests += [f"({self.c[o]} IS NULL OR {ck} {'<' if j < k else '<='} {self.c[o]})"
                      for j, o in enumerate(comps) if o != comp]
            weakest.append(f"WHEN {' AND '.join(tests)} THEN {self.text(comp)}")
            stake.append(f"WHEN {' AND '.join(tests)} THEN {self.w[comp]} / weight_present "
                         f"* ({lit(self.m.scale)} - {ck})")
        self.cte("explained", "quartile (1 = top), weakest component (ties: model order) "
                 "and the points it would add at full score",
                 f"SELECT\n    p.*,\n    CASE WHEN health IS NULL THEN NULL ELSE 1 + {ladder} "
                 f"END AS quartile,\n    CASE {' '.join(weakest)} END AS weakest_component,"
                 f"\n    CASE {' '.join(stake)} END AS points_at_stake,\n    "
                 f"health IS NOT NULL AND coverage < {lit(self.m.min_coverage)} AS low_data"
                 f"\n  FROM {prev} AS p\n  LEFT JOIN quartile_cuts AS q"
                 " ON p.quartile_group = q.quartile_group")
        return "explained"

    def _condition(self, c: Condition, name: str) -> str:
        """One playbook condition (docs/playbooks.md) as a boolean, never NULL."""
        equal = c.op == "="
        if c.test == "metric":
            return self._rule(Rule(name, c.column, c.op, c.value, 0.0))
        if c.test == "component":
            return f"COALESCE({self.c[c.column]} {c.op} {lit(float(c.value))}, FALSE)"
        if c.test == "health":
            return f"COALESCE(health {c.op} {lit(float(c.value))}, FALSE)"
        code = (f"CASE band WHEN {self.text(BANDS[2])} THEN 1 WHEN {self.text(BANDS[1])} "
                f"THEN 2 WHEN {self.text(BANDS[0])} THEN 3 ELSE 0 END")
        if c.test == "band":
            word = text_key(c.value)
            if c.op in ("=", "<>"):
                return f"({code}) {c.op} {BAND_RANKS.get(word, 0)}"
            return f"({code}) > 0 AND ({code}) {c.op} {BAND_RANKS[word]}"
        if c.test == "weakest_component":
            comp = next(x for x in self.m.components if text_key(x) == text_key(c.value))
            test = f"COALESCE(weakest_component = {self.text(comp)}, FALSE)"
            return test if equal else f"weakest_component IS NOT NULL AND NOT {test}"
        if c.test == "capped_by":
            rule = next(r for r in self.m.rules if text_key(r.name) == text_key(c.value))
            hit = f"({self.name('rule', rule.name)} AND raw_health IS NOT NULL)"
            return hit if equal else f"NOT {hit}"
        if c.test == "low_data":
            want = "TRUE" if parse_flag_value(c.value) else "FALSE"
            return f"(low_data = {want})" if equal else f"(low_data <> {want})"
        if c.test == "renewal_within" and "renewal_date" in self.t:
            seconds = round(float(c.value) * 86400)
            if self.as_of is None:
                end = f"{self._as_of()} + INTERVAL '{seconds}' SECOND"
            else:
                stamp = dt.datetime.combine(self.as_of, dt.time()) + dt.timedelta(
                    seconds=seconds)
                end = f"CAST('{stamp.isoformat(sep=' ')}' AS TIMESTAMP)"
            return (f"COALESCE(v_renewal_date >= {self._as_of()} AND v_renewal_date <= "
                    f"{end}, FALSE)")
        return "FALSE"  # renewal_within without dates; changes need a snapshot (no history)

    def _playbooks(self, prev: str) -> str:
        books = self.m.playbooks
        if not books:
            self.cte("playbooks", "no playbooks", "SELECT\n    *,\n    '' AS next_action,"
                     f"\n    '' AS action_owner,\n    CAST(NULL AS {self.double}) AS "
                     f"action_priority,\n    '' AS actions,\n    '' AS action_playbook,"
                     f"\n    CAST(NULL AS {self.timestamp}) AS action_due\n  FROM {prev}")
            return "playbooks"
        order = sorted(range(len(books)), key=lambda k: (books[k].priority, k))
        names = {k: self.name("playbook", books[k].name) for k in order}
        tests = [f"({' AND '.join(self._condition(c, books[k].name) for c in books[k].when)})"
                 f" AS {names[k]}" for k in range(len(books))]
        self.cte("playbook_matches", "which playbooks' conditions all hold (health_change "
                 "and band_change need a snapshot: never, as with no history)",
                 "SELECT\n    *,\n    " + ",\n    ".join(tests) + f"\n  FROM {prev}")

        def first(field: str, blank: str) -> str:
            cases = " ".join(f"WHEN {names[k]} THEN {field_value(books[k], field)}"
                             for k in order)
            return f"CASE {cases} ELSE {blank} END"

        def field_value(book: Playbook, field: str) -> str:
            if field == "due":
                return "NULL" if book.due_in_days is None else self._due(book.due_in_days)
            return lit(book.priority) if field == "priority" else self.text(
                getattr(book, field))
        joined = " || ".join(f"CASE WHEN {names[k]} THEN {self.text('; ' + books[k].action)} "
                             "ELSE '' END" for k in order)
        self.cte("playbooks", "the next action: the matching playbook with the lowest "
                 "priority number (ties: model order), and all matching actions",
                 "SELECT\n    *,\n    " + ",\n    ".join([
                     f"{first('action', chr(39) * 2)} AS next_action",
                     f"{first('owner', chr(39) * 2)} AS action_owner",
                     f"CAST({first('priority', 'NULL')} AS {self.double}) AS action_priority",
                     f"SUBSTR({joined}, 3) AS actions",
                     f"{first('name', chr(39) * 2)} AS action_playbook",
                     f"CAST({first('due', 'NULL')} AS {self.timestamp}) AS action_due"])
                 + "\n  FROM playbook_matches")
        return "playbooks"

    def _due(self, days: int) -> str:
        """The as-of date plus `days` days (a playbook's due date)."""
        if self.as_of is not None:
            return f"CAST('{(self.as_of + dt.timedelta(days=days)).isoformat()}' AS " \
                f"{self.timestamp})"
        return exp.DateAdd(this=exp.CurrentDate(), expression=exp.Literal.number(days),
                           unit=exp.var("DAY")).sql(dialect=self.d.name)

    def _curve(self, by_band: str) -> str:
        """The renewal curve at `health` as np.interp computes it (the slope of each piece
        worked out here, in the same double arithmetic); no health: the band map."""
        points = self.m.renewal_curve
        cases = [f"WHEN health IS NULL THEN {by_band}",
                 f"WHEN health <= {lit(points[0][0])} THEN {lit(points[0][1])}"]
        for (h0, p0), (h1, p1) in pairwise(points):
            slope = (float(p1) - float(p0)) / (float(h1) - float(h0))
            cases.append(f"WHEN health < {lit(h1)} THEN {lit(slope)} * (health - {lit(h0)})"
                         f" + {lit(p0)}")
        cases.append(f"ELSE {lit(points[-1][1])}")
        return "CASE " + " ".join(cases) + " END"

    def _output(self, prev: str) -> str:
        m, d = self.m, self.d
        out, seen = ["account_id"], {"account_id"}
        for name in (*IDENTITY_COLUMNS, m.segment_column, m.quartiles_by):
            if not name or sql_column(name) not in self.t or sql_column(name) in seen:
                continue
            col = sql_column(name)
            seen.add(col)
            expr = {"arr": "v_arr", "renewal_date": "v_renewal_date"}.get(
                col, self.name("raw", col))
            out.append(f"{expr} AS {d.ident(col)}")
        out += [f"{self.c[c]} AS {d.ident(c)}" for c in m.components]
        labels = " ".join(f"WHEN {q} THEN {self.text(label)}"
                          for q, label in QUARTILE_LABELS.items())
        probability = " ".join(f"WHEN {self.text(b)} THEN {lit(p)}"
                               for b, p in m.renewal_probability.items())
        prob = f"CASE band {probability} END" if probability else "NULL"
        if m.renewal_curve:
            prob = self._curve(prob)
        out += ["health", "raw_health", "band", "quartile",
                f"CASE quartile {labels} END AS quartile_label", "coverage",
                "low_data",
                "capped_by", "overridden", "weakest_component", "points_at_stake",
                f"CAST({prob} AS {self.double}) AS renewal_probability"]
        if "arr" in self.t:
            out.append(f"v_arr * CAST({prob} AS {self.double}) AS expected_arr")
        out += ["next_action", "action_owner", "action_priority", "actions",
                "action_playbook", "action_due"]
        out += [f"{self.s[sql_column(x.column)]} AS {d.ident(metric_score_column(x))}"
                for x in m.metrics]
        out += [f"{self.name('raw', c)} AS {d.ident(c)}" for c in self.carry]
        return "SELECT\n  " + ",\n  ".join(out) + f"\nFROM {prev}"

    def _issues(self) -> str:
        carried = "".join(f"{self.name('raw', c)} AS {self.d.ident(c)}, " for c in self.carry)
        parts = [f"SELECT {carried}account_id, {self.text(col)} AS {self.d.ident('column')}, "
                 f"CAST({self.name('raw', sql_column(col))} AS {self.text_type}) AS "
                 f"{self.d.ident('value')}, {self.text(problem)} AS problem\n"
                 f"FROM overrides\nWHERE {cond}"
                 for col, cond, problem in self.problems]
        if not parts:
            return (f"SELECT {carried}account_id, CAST(NULL AS {self.text_type}) AS "
                    f"{self.d.ident('column')}, CAST(NULL AS {self.text_type}) AS "
                    f"{self.d.ident('value')}, CAST(NULL AS {self.text_type}) AS problem\n"
                    "FROM overrides\nWHERE 1 = 0")
        return "\nUNION ALL\n".join(parts)

    def _query(self, final: str) -> str:
        ctes = ",\n".join(f"-- {comment}\n{name} AS (\n  {body}\n)"
                          for name, comment, body in self.ctes)
        return f"{self.header()}WITH\n{ctes}\n{final}\n"

    def header(self) -> str:
        m = self.m
        day = self.as_of.isoformat() if self.as_of else "CURRENT_DATE"
        sources = ", ".join(f"{s.name} ({sql_column(s.key)}, {sql_column(s.time)})"
                            for s in m.sources)
        return "\n".join([
            f"-- Customer health scores: model {m.name!r} version {m.version}, "
            f"hash {model_hash(m)}",
            f"-- Dialect {self.d.name}; compiled by chs_excel (chs sql); docs/engines.md.",
            "-- Assumes a table `accounts`, one row per account, with the columns: "
            + ", ".join(c for c in self.columns if c not in self.signal_columns) + ".",
            *([f"-- Signals from the source tables {sources}: each holds its export's "
               "columns named by their keys; time columns timestamps (UTC) or text cast "
               "with TRY_CAST."] if self.signals else []),
            "-- Any column may be text: numbers and dates are read from text as the engine "
            "reads them; blanks and NA words are missing.",
            f"-- Overrides are checked against the as-of day {day}.",
            "-- Returns one row per account (SPEC's output columns).", "", ""])


def compile_model(model: Model, dialect: str = "duckdb", *,
                  columns: Iterable[str] | None = None,
                  as_of: dt.date | None = None, carry: tuple[str, ...] = (),
                  signals: bool = False) -> Compiled:
    """The scoring and data-issue queries of `model` in `dialect`.

    `columns` names the accounts table's columns (any spelling; None: the model's columns,
    `account_id` and the override columns); `as_of` is the day overrides expire against
    (None: CURRENT_DATE when the query runs); `carry` names columns passed through to
    both outputs as they are (the engines' input row numbers); `signals` computes the
    model's signal columns first, from tables named as its sources (`signal_sql`).
    """
    return _Compiler(model, dialect, columns, as_of, carry, signals).compile()
