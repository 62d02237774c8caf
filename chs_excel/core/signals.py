"""Signals: metric columns computed from raw exports (docs/signals.md, issue 18).

A `Source` is a raw export (tickets, events, surveys, invoices): a file, the column holding
the account key and the column holding each row's time. A `Signal` aggregates one source's
rows per account (`count`, `sum`, `mean`, ...) over an optional window ending on the as-of
day, after filters (`where`). Each signal adds a column to Accounts that metrics, rules and
playbooks read like any other column. This module holds what a signal is, how it reads and
writes (YAML and the Model sheet's Sources, Signals and SignalFilters Tables) and its checks;
the reference computation is `core/signal_engine.py`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chs_excel.core.errors import ModelError, Problem
from chs_excel.core.methods.base import check_keys, plain
from chs_excel.core.vocabulary import (
    IDENTITY_COLUMNS,
    OVERRIDE_COLUMNS,
    RESERVED_COLUMNS,
    SHEET_ORDER,
    header_key,
)

if TYPE_CHECKING:
    from chs_excel.core.model import Model

AGGS = ("count", "sum", "mean", "min", "max", "latest", "days_since_last", "distinct_count")
NO_OF_AGGS = ("count", "days_since_last")         # aggregate no column
ZERO_AGGS = ("count", "sum", "distinct_count")    # 0 when no row matches (others: missing)
SIGNAL_OPS = ("=", "<>", "<", "<=", ">", ">=", "in")
PRESETS = ("zendesk", "stripe", "hubspot", "salesforce", "intercom", "mixpanel", "amplitude")
SOURCE_KEYS = ("file", "key", "time", "preset")
SIGNAL_KEYS = ("name", "source", "agg", "of", "window", "where")
FILTER_KEYS = ("column", "op", "value")
SOURCE_COLUMNS = ["name", "file", "key", "time", "preset"]
SIGNAL_COLUMNS = ["name", "source", "agg", "of", "window"]
FILTER_COLUMNS = ["signal", "column", "op", "value"]
# A source's name is also a sheet and an Excel Table name: a letter or '_' first, then
# letters, digits and '_'; not a cell reference (A1, R1C1); at most 31 characters (sheet).
SOURCE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
CELL_LIKE = re.compile(r"([A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc][0-9]*|[RrCc])\Z")
SOURCE_NAME_CHARS = 31

FilterValue = float | str | tuple[float | str, ...]


@dataclass(frozen=True)
class Source:
    """A raw export: `file` (relative to the model file; "" when the workbook holds it),
    the column `key` holding the account key and the column `time` holding each row's
    time; `preset` names an export format (header aliases, '-' as blank, cents)."""

    name: str
    file: str
    key: str
    time: str
    preset: str | None = None


@dataclass(frozen=True)
class SignalFilter:
    """One `where` test: `column op value`; `value` is a tuple for `in`."""

    column: str
    op: str
    value: FilterValue

    def describe(self) -> str:
        """The filter as a person reads it: `priority in [high, urgent]`."""
        if isinstance(self.value, tuple):
            shown = "[" + ", ".join(str(plain(v)) for v in self.value) + "]"
        else:
            shown = str(plain(self.value))
        return f"{self.column} {self.op} {shown}"


@dataclass(frozen=True)
class Signal:
    """One Accounts column computed from a source: `agg` of column `of` over the rows of
    `source` within `window` days ending on the as-of day (inclusive) that pass `where`."""

    name: str
    source: str
    agg: str
    of: str | None = None
    window: int | None = None
    where: tuple[SignalFilter, ...] = ()


# ---------------------------------------------------------------- validation

def signal_problems(model: Model) -> list[Problem]:
    """Every problem of the model's sources and signals, each naming the part and field."""
    out: list[Problem] = []
    source_names = [s.name for s in model.sources]
    taken_sheets = {header_key(s) for s in SHEET_ORDER}
    for s in model.sources:
        where = f"source {s.name!r}"

        def at(field_name: str, text: str, _where: str = where, _s: Source = s) -> None:
            out.append(Problem(f"{_where}: {text}", "Sources", _s.name, field_name))
        name = str(s.name)
        if not name.strip():
            at("name", "name is empty")
        elif not SOURCE_NAME.match(name) or CELL_LIKE.match(name) \
                or len(name) > SOURCE_NAME_CHARS:
            at("name", f"the name names a sheet and an Excel Table: use letters, digits and "
                       f"'_' (a letter first, not a cell reference such as A1), at most "
                       f"{SOURCE_NAME_CHARS} characters")
        elif header_key(name) in taken_sheets:
            at("name", "the name is taken by one of the workbook's sheets; rename the source")
        elif [header_key(n) for n in source_names].count(header_key(name)) > 1:
            at("name", "two sources share this name (case, spaces and '_' ignored)")
        if not isinstance(s.file, str):
            at("file", f"file must be a path, got {s.file!r}")
        for field_name in ("key", "time"):
            value = getattr(s, field_name)
            if not isinstance(value, str) or not value.strip():
                at(field_name, f"{field_name} is empty (name the export's column)")
        if s.preset is not None and s.preset not in PRESETS:
            at("preset", f"unknown preset {s.preset!r} (use one of {', '.join(PRESETS)})")
    reserved = {header_key(c): c for c in (*RESERVED_COLUMNS, *IDENTITY_COLUMNS,
                                           *OVERRIDE_COLUMNS)}
    names = [header_key(g.name) for g in model.signals]
    for g in model.signals:
        out.extend(_one_signal_problems(g, source_names, reserved, names))
    return out


def _one_signal_problems(g: Signal, source_names: list[str], reserved: dict[str, str],
                         names: list[str]) -> list[Problem]:
    out: list[Problem] = []
    where = f"signal {g.name!r}"

    def at(field_name: str, text: str, table: str = "Signals") -> None:
        out.append(Problem(f"{where}: {text}", table, g.name, field_name))
    if not str(g.name).strip():
        at("name", "name is empty")
    elif header_key(g.name) in reserved:
        at("name", f"the name is taken by the column {reserved[header_key(g.name)]!r}; "
                   "rename the signal")
    elif names.count(header_key(g.name)) > 1:
        at("name", "two signals share this name (case, spaces and '_' ignored)")
    if g.source not in source_names:
        known = ", ".join(source_names) or "none declared"
        at("source", f"unknown source {g.source!r} (sources: {known})")
    if g.agg not in AGGS:
        at("agg", f"unknown agg {g.agg!r} (use one of {', '.join(AGGS)})")
    elif g.agg in NO_OF_AGGS and g.of is not None:
        at("of", f"agg {g.agg} takes no 'of' column (got {g.of!r})")
    elif g.agg not in NO_OF_AGGS and (not isinstance(g.of, str) or not g.of.strip()):
        at("of", f"agg {g.agg} needs 'of': the column it aggregates")
    w = g.window
    if w is not None and (isinstance(w, bool) or not isinstance(w, int) or w < 1):
        at("window", f"window must be a positive whole number of days, got {w!r}")
    for i, f in enumerate(g.where, start=1):
        def bad(field_name: str, text: str, _i: int = i) -> None:
            at(field_name, f"filter {_i}: {text}", "SignalFilters")
        if not isinstance(f.column, str) or not f.column.strip():
            bad("column", "column is empty")
        if f.op not in SIGNAL_OPS:
            bad("op", f"unknown op {f.op!r} (use one of {' '.join(SIGNAL_OPS)})")
        elif f.op == "in":
            if not isinstance(f.value, tuple) or not f.value:
                bad("value", "op in needs a list of values")
            elif any(not _scalar(v) for v in f.value):
                bad("value", "each value of an in list must be a number or a text")
        elif not _scalar(f.value):
            bad("value", f"op {f.op} needs one number or text, got {f.value!r}")
    return out


def _scalar(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (int, str)) and str(value).strip() != ""


# ---------------------------------------------------------------- YAML

def sources_from_dict(data: Any, where: str = "sources") -> tuple[Source, ...]:
    """The YAML `sources` mapping (name -> {file, key, time[, preset]}) as Sources."""
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise ModelError(f"{where}: expected a mapping of source name to "
                         "{file, key, time}")
    out = []
    for name, spec in data.items():
        at = f"{where}.{name}"
        d = check_keys(spec, SOURCE_KEYS, at, "a mapping with file, key and time")
        for key in ("key", "time"):
            if d.get(key) is None or str(d[key]).strip() == "":
                raise ModelError(f"source {name!r}: {key} is missing")
        out.append(Source(name=str(name).strip(), file=_text(d.get("file")) or "",
                          key=str(d["key"]).strip(), time=str(d["time"]).strip(),
                          preset=_lower(d.get("preset"))))
    return tuple(out)


def signals_from_list(data: Any, where: str = "signals") -> tuple[Signal, ...]:
    """The YAML `signals` list as Signals."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise ModelError(f"{where}: expected a list of signals")
    return tuple(_signal_from_dict(item, f"{where} item {i}")
                 for i, item in enumerate(data, start=1))


def _signal_from_dict(data: Any, where: str) -> Signal:
    if isinstance(data, dict) and data.get("name"):
        where = f"signal {data['name']!r}"
    d = check_keys(data, SIGNAL_KEYS, where)
    for key in ("name", "source", "agg"):
        if d.get(key) is None or str(d[key]).strip() == "":
            raise ModelError(f"{where}: {key} is missing")
    filters = d.get("where") or []
    if not isinstance(filters, list):
        raise ModelError(f"{where}: where must be a list of {{column, op, value}}")
    return Signal(name=str(d["name"]).strip(), source=str(d["source"]).strip(),
                  agg=str(d["agg"]).strip().lower(), of=_text(d.get("of")),
                  window=window_value(d.get("window")),
                  where=tuple(_filter_from_dict(f, f"{where}: where item {i}")
                              for i, f in enumerate(filters, start=1)))


def _filter_from_dict(data: Any, where: str) -> SignalFilter:
    d = check_keys(data, FILTER_KEYS, where, "a mapping with column, op and value")
    for key in FILTER_KEYS:
        if d.get(key) is None:
            raise ModelError(f"{where}: {key} is missing")
    op = str(d["op"]).strip().lower()
    value = d["value"]
    if isinstance(value, list):
        value = tuple(filter_value(v) for v in value)
    else:
        value = filter_value(value)
        if op == "in":
            value = (value,)
    return SignalFilter(column=str(d["column"]).strip(), op=op, value=value)


def filter_value(value: Any) -> Any:
    """A filter value as the model holds it: numbers as floats, text as text (stripped);
    anything else is kept for the checks to name."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return value.strip()
    return value


def window_value(value: Any) -> Any:
    """A window as the model holds it: a whole number (30, 30.0 and "30" read as 30);
    None when blank; anything else is kept for the checks to name."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return value
    if isinstance(number, float) and number.is_integer():
        return int(number)
    return number


def sources_dict(sources: tuple[Source, ...]) -> dict[str, dict[str, Any]]:
    """The YAML `sources` mapping."""
    out = {}
    for s in sources:
        spec: dict[str, Any] = {"file": s.file, "key": s.key, "time": s.time}
        if s.preset:
            spec["preset"] = s.preset
        out[s.name] = spec
    return out


def signal_dict(g: Signal) -> dict[str, Any]:
    """One item of the YAML `signals` list (keys as the issue pins them)."""
    out: dict[str, Any] = {"name": g.name, "source": g.source, "agg": g.agg}
    if g.of is not None:
        out["of"] = g.of
    if g.window is not None:
        out["window"] = g.window
    if g.where:
        out["where"] = [{"column": f.column, "op": f.op,
                         "value": [plain(v) for v in f.value] if isinstance(f.value, tuple)
                         else plain(f.value)} for f in g.where]
    return out


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _lower(value: Any) -> str | None:
    text = _text(value)
    return text.lower() if text else None


# ---------------------------------------------------------------- tables

def source_rows(sources: tuple[Source, ...]) -> list[dict[str, Any]]:
    """The Sources Table's rows."""
    return [{"name": s.name, "file": s.file, "key": s.key, "time": s.time,
             "preset": s.preset} for s in sources]


def signal_rows(signals: tuple[Signal, ...]) -> list[dict[str, Any]]:
    """The Signals Table's rows (filters are rows of SignalFilters)."""
    return [{"name": g.name, "source": g.source, "agg": g.agg, "of": g.of,
             "window": g.window} for g in signals]


def filter_rows(signals: tuple[Signal, ...]) -> list[dict[str, Any]]:
    """The SignalFilters Table's rows: one per filter, an `in` filter one per value."""
    rows = []
    for g in signals:
        for f in g.where:
            values = f.value if isinstance(f.value, tuple) else (f.value,)
            rows.extend({"signal": g.name, "column": f.column, "op": f.op, "value": v}
                        for v in values)
    return rows


def sources_from_records(records: list[dict[str, Any]]) -> tuple[Source, ...]:
    """Sources from the Sources Table's rows (blank rows already dropped)."""
    out = []
    for rec in records:
        out.append(Source(name=_text(rec.get("name")) or "", file=_text(rec.get("file")) or "",
                          key=_text(rec.get("key")) or "", time=_text(rec.get("time")) or "",
                          preset=_lower(rec.get("preset"))))
    return tuple(out)


def signals_from_records(signal_recs: list[dict[str, Any]],
                         filter_recs: list[dict[str, Any]], where: str) -> tuple[Signal, ...]:
    """Signals from the Signals and SignalFilters Tables' rows (blank rows dropped).

    Filter rows of one signal with the same column and op `in` make one `in` filter; a
    filter row naming no signal of the Signals Table is an error naming its row.
    """
    filters: dict[str, list[SignalFilter]] = {}
    names = {header_key(_text(r.get("name")) or ""): _text(r.get("name")) or ""
             for r in signal_recs}
    for rec in filter_recs:
        key = header_key(_text(rec.get("signal")) or "")
        if key not in names:
            message = (f"{where}, table SignalFilters, row {rec['_row']}, column signal: "
                       f"{rec.get('signal')!r} is not a signal of the Signals table")
            raise ModelError(message, [Problem(message, "SignalFilters", row=rec["_row"],
                                               field="signal")])
        column = _text(rec.get("column")) or ""
        op = (_text(rec.get("op")) or "").lower()
        value = filter_value(rec.get("value"))
        if isinstance(value, str) and value == "":
            value = None
        group = filters.setdefault(key, [])
        if op == "in":
            for i, f in enumerate(group):
                if f.op == "in" and header_key(f.column) == header_key(column):
                    group[i] = SignalFilter(f.column, "in", (*f.value, value))
                    break
            else:
                group.append(SignalFilter(column, "in", (value,)))
        else:
            group.append(SignalFilter(column, op, value))
    out = []
    for rec in signal_recs:
        name = _text(rec.get("name")) or ""
        out.append(Signal(name=name, source=_text(rec.get("source")) or "",
                          agg=(_text(rec.get("agg")) or "").lower(), of=_text(rec.get("of")),
                          window=window_value(rec.get("window")),
                          where=tuple(filters.get(header_key(name), ()))))
    return tuple(out)
