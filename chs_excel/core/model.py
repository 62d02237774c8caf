"""The scorecard model: frozen dataclasses, validation, YAML and table round-trip.

A `Model` is always valid: construction checks every rule of SPEC's model and raises
`ModelError` naming the metric, component or rule and the field at fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from chs_excel.core.bounded_yaml import load_yaml
from chs_excel.core.errors import ModelError, Problem
from chs_excel.core.limits import COLUMN_NAME_CHARS, NAME_CHARS, has_illegal_xml
from chs_excel.core.methods import METHODS as METHOD_CLASSES
from chs_excel.core.methods.base import boolean, cell_boolean, cell_error, check_keys
from chs_excel.core.methods.base import cell_number as _cell_number
from chs_excel.core.methods.base import cell_where as _where
from chs_excel.core.methods.base import finite as _finite
from chs_excel.core.methods.base import number as _number
from chs_excel.core.methods.base import plain as _num
from chs_excel.core.playbooks import (
    PLAYBOOK_COLUMNS,
    Playbook,
    playbook_dict,
    playbook_from_dict,
    playbook_problems,
    playbook_rows,
    playbooks_from_records,
)
from chs_excel.core.signals import (
    FILTER_COLUMNS,
    SIGNAL_COLUMNS,
    SOURCE_COLUMNS,
    Signal,
    Source,
    filter_rows,
    signal_dict,
    signal_problems,
    signal_rows,
    signals_from_list,
    signals_from_records,
    source_rows,
    sources_dict,
    sources_from_dict,
    sources_from_records,
)
from chs_excel.core.values import parse_flag_value
from chs_excel.core.vocabulary import (
    BANDS,
    DEFAULT_RENEWAL_PROBABILITY,
    IDENTITY_COLUMNS,
    NO_DATA,
    OPERATORS,
    RESERVED_COLUMNS,
    header_key,
    text_key,
)

# The method names, in registry order (the Model sheet's list of methods).
METHODS = tuple(METHOD_CLASSES)

# Fields each method takes besides column, component, weight and method.
METHOD_FIELDS = {name: method.fields for name, method in METHOD_CLASSES.items()}
METRIC_KEYS = ("column", "component", "weight", "method", "worst", "best", "breaks",
               "points", "higher_is_better", "good", "fixed", "max_change")
# Keys every metric may take whatever its method (besides column, component, method).
COMMON_METRIC_KEYS = ("column", "component", "weight", "method", "fixed", "max_change")
RULE_KEYS = ("name", "column", "op", "value", "cap")
MODEL_KEYS = ("name", "version", "scale", "bands", "min_coverage", "components", "metrics",
              "rules", "segments", "quartiles", "renewal", "fiscal_year_start", "playbooks",
              "sources", "signals", "columns", "this_week_limit")



@dataclass(frozen=True)
class Metric:
    """One scored input column: how a raw value becomes 0..scale points."""

    column: str
    component: str
    method: str
    weight: float = 1.0
    worst: float | None = None
    best: float | None = None
    breaks: tuple[float, ...] = ()
    points: tuple[float, ...] = ()
    categories: tuple[tuple[str, float], ...] = ()
    higher_is_better: bool = True
    good: bool = True
    fixed: bool = False  # a signal nobody acts on (tenure, plan): never in a path to Green
    max_change: float | None = None  # the most a path to Green moves its raw value


@dataclass(frozen=True)
class Rule:
    """A critical signal: when `column op value` holds, health is capped at `cap`."""

    name: str
    column: str
    op: str
    value: float | str | bool
    cap: float


@dataclass(frozen=True)
class Model:
    """A customer health scorecard: components, metrics, rules, bands and probabilities."""

    name: str
    components: dict[str, float]
    metrics: tuple[Metric, ...]
    rules: tuple[Rule, ...] = ()
    version: str = "1"
    scale: float = 100.0
    red_below: float = 40.0
    green_from: float = 70.0
    min_coverage: float = 0.5
    segment_column: str | None = None
    segment_weights: dict[str, dict[str, float]] = field(default_factory=dict)
    quartiles_by: str | None = None
    renewal_probability: dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_RENEWAL_PROBABILITY))
    # Calibrated health -> renewal probability points (health strictly increasing),
    # read by linear interpolation, flat outside; empty: the band map is in force.
    renewal_curve: tuple[tuple[float, float], ...] = ()
    fiscal_year_start: int = 1  # month 1-12 the fiscal year starts in (forecast quarters)
    playbooks: tuple[Playbook, ...] = ()
    sources: tuple[Source, ...] = ()   # raw exports signals read (core/signals.py)
    signals: tuple[Signal, ...] = ()   # Accounts columns computed from the sources
    # `columns:` key -> the user's header for it ({arr: "ARR ($)"}); docs/input.md
    columns: dict[str, str] = field(default_factory=dict)
    this_week_limit: int = 10  # the most actions per owner on the This week sheet

    def __post_init__(self) -> None:
        problems = [p if isinstance(p, Problem) else Problem(p) for p in _problems(self)]
        if problems:
            raise ModelError("; ".join(p.message for p in problems), problems)

    def metric(self, column: str) -> Metric:
        """The metric scoring `column` (header matching rules apply)."""
        key = header_key(column)
        for metric in self.metrics:
            if header_key(metric.column) == key:
                return metric
        raise KeyError(column)

    def header_of(self, key: str) -> str:
        """The Accounts header the model reads `key` under: its `columns:` entry or `key`."""
        wanted = header_key(key)
        return next((h for k, h in self.columns.items() if header_key(k) == wanted), key)

    def key_of(self, header: str) -> str:
        """The key an Accounts header stands for: the `columns:` key mapped to it, or itself."""
        found = header_key(header)
        return next((k for k, h in self.columns.items() if header_key(h) == found), header)

    def replace(self, **changes: Any) -> Model:
        """A copy with `changes` applied (validated like any model)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The model as the YAML structure of SPEC (plain Python values)."""
        out: dict[str, Any] = {"name": self.name, "version": self.version,
                               "scale": _num(self.scale),
                               "bands": {"red_below": _num(self.red_below),
                                         "green_from": _num(self.green_from)},
                               "min_coverage": _num(self.min_coverage),
                               "components": {c: _num(w) for c, w in self.components.items()},
                               "metrics": [_metric_dict(m) for m in self.metrics],
                               "rules": [{"name": r.name, "column": r.column, "op": r.op,
                                          "value": _num(r.value), "cap": _num(r.cap)}
                                         for r in self.rules]}
        if self.segment_column:
            out["segments"] = {"column": self.segment_column,
                               "weights": {s: {c: _num(w) for c, w in ws.items()}
                                           for s, ws in self.segment_weights.items()}}
        out["quartiles"] = {"by": self.quartiles_by}
        out["renewal"] = {"probability": {b: _num(p)
                                          for b, p in self.renewal_probability.items()}}
        if self.renewal_curve:
            out["renewal"]["curve"] = [{"health": _num(h), "probability": _num(p)}
                                       for h, p in self.renewal_curve]
        out["fiscal_year_start"] = self.fiscal_year_start
        if self.playbooks:
            out["playbooks"] = [playbook_dict(p) for p in self.playbooks]
        if self.sources:
            out["sources"] = sources_dict(self.sources)
        if self.signals:
            out["signals"] = [signal_dict(g) for g in self.signals]
        if self.columns:
            out["columns"] = dict(self.columns)
        if self.this_week_limit != 10:
            out["this_week_limit"] = self.this_week_limit
        return out

    def to_yaml(self) -> str:
        """The model as YAML text, in SPEC's shape."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True,
                              default_flow_style=None, width=100)

    def save(self, path: str | Path) -> None:
        """Write the model as YAML to `path` (atomically)."""
        from chs_excel.core.files import write_atomically
        write_atomically(Path(path), lambda tmp: tmp.write_text(self.to_yaml(), "utf-8"))

    def to_frame(self) -> dict[str, pd.DataFrame]:
        """The model as the Model sheet's tables, keyed by Table name."""
        return model_tables(self)

    @classmethod
    def from_frame(cls, tables: dict[str, pd.DataFrame], where: str = "Model") -> Model:
        """Rebuild a model from the tables `to_frame` gives (as read from a workbook)."""
        return model_from_tables(tables, where)

    @classmethod
    def from_dict(cls, data: Any, where: str = "model") -> Model:
        """Build a model from SPEC's YAML structure, rejecting unknown keys."""
        return model_from_dict(data, where)


def metric_score_column(metric: Metric) -> str:
    """The output column holding one metric's 0..scale score."""
    return f"{metric.column}_score"


def _metric_dict(m: Metric) -> dict[str, Any]:
    out: dict[str, Any] = {"column": m.column, "component": m.component,
                           "weight": _num(m.weight), "method": m.method}
    out.update(METHOD_CLASSES[m.method].to_dict(m))
    if m.fixed:
        out["fixed"] = True
    if m.max_change is not None:
        out["max_change"] = _num(m.max_change)
    return out


# ---------------------------------------------------------------- validation

def _problems(model: Model) -> list[str | Problem]:
    """Every inconsistency in `model`, each naming the part and the field (a `Problem`
    where a Model-table row and column can be named)."""
    out: list[str | Problem] = []
    if not str(model.name).strip():
        out.append("name is empty")
    out.extend(_name_problems(model))
    out.extend(_columns_problems(model.columns))
    if not _finite(model.scale) or model.scale <= 0:
        out.append(f"scale must be a positive number, got {model.scale!r}")
    fy = model.fiscal_year_start
    if isinstance(fy, bool) or not isinstance(fy, int) or not 1 <= fy <= 12:
        out.append(Problem(f"fiscal_year_start must be a month number 1-12, got {fy!r}",
                           "Settings", "fiscal_year_start", "value"))
    limit = model.this_week_limit
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10000:
        out.append(Problem(f"this_week_limit must be a whole number 1-10000, got {limit!r}",
                           "Settings", "this_week_limit", "value"))
    if not model.components:
        out.append("components: none declared")
    for comp, weight in model.components.items():
        if not _finite(weight) or weight < 0:
            out.append(Problem(f"component {comp}: weight must be a number >= 0, got "
                               f"{weight!r}", "Components", comp, "weight"))
        if header_key(comp) in {header_key(c) for c in (*RESERVED_COLUMNS,
                                                        *IDENTITY_COLUMNS)}:
            out.append(Problem(f"component {comp}: the name is taken by the output column "
                               f"{header_key(comp)!r}; rename the component",
                               "Components", comp, "component"))
        if header_key(comp) in {header_key(f"{m.column}_score") for m in model.metrics}:
            out.append(Problem(f"component {comp}: the name is taken by a metric's score "
                               "column; rename the component", "Components", comp,
                               "component"))
    if model.components and all(_finite(w) and w == 0 for w in model.components.values()):
        out.append("components: all weights are zero")
    if len({header_key(c) for c in model.components}) != len(model.components):
        out.append("components: two names differ only in case, spaces or '_'")
    if not model.metrics:
        out.append("metrics: none declared")
    seen: set[str] = set()
    for m in model.metrics:
        out.extend(_metric_problems(m, model))
        key = header_key(m.column)
        if key in seen:
            out.append(f"metric {m.column}: column listed twice")
        seen.add(key)
    for comp in model.components:
        weights = [m.weight for m in model.metrics if m.component == comp and _finite(m.weight)]
        if not weights:
            out.append(f"component {comp}: has no metrics")
        elif all(w == 0 for w in weights):
            out.append(f"component {comp}: all its metric weights are zero")
    for r in model.rules:
        out.extend(_rule_problems(r, model))
    if len({r.name for r in model.rules}) != len(model.rules):
        out.append("rules: two rules share a name")
    for label, value in (("bands.red_below", model.red_below),
                         ("bands.green_from", model.green_from)):
        if not _finite(value):
            out.append(f"{label} must be a number, got {value!r}")
    if _finite(model.red_below) and _finite(model.green_from) \
            and model.red_below > model.green_from:
        out.append(f"bands: red_below ({_num(model.red_below)}) is above green_from "
                   f"({_num(model.green_from)})")
    if not _finite(model.min_coverage) or not 0 <= model.min_coverage <= 1:
        out.append(f"min_coverage must be between 0 and 1, got {model.min_coverage!r}")
    out.extend(_segment_problems(model))
    names = [header_key(c) for c in (*RESERVED_COLUMNS, *IDENTITY_COLUMNS, *model.components,
                                     *(metric_score_column(m) for m in model.metrics))]
    if len(set(names)) != len(names):
        out.append("a component or metric score column has the name of another output "
                   "column; rename the component")
    for band, p in model.renewal_probability.items():
        if band not in (*BANDS, NO_DATA):
            out.append(f"renewal.probability: unknown band {band!r} "
                       f"(use {', '.join(BANDS)} or {NO_DATA})")
        if not _finite(p) or not 0 <= p <= 1:
            out.append(Problem(f"renewal.probability.{band}: must be between 0 and 1, "
                               f"got {p!r}", "RenewalProbability", band, "probability"))
    out.extend(_curve_problems(model.renewal_curve))
    out.extend(playbook_problems(model))
    out.extend(signal_problems(model))
    return out


def _curve_problems(curve: tuple[tuple[float, float], ...]) -> list[str | Problem]:
    """A renewal curve's points: numbers, health strictly increasing, p in 0..1."""
    out: list[str | Problem] = []
    for i, (h, p) in enumerate(curve):
        if not _finite(h) or not _finite(p):
            out.append(Problem(f"renewal.curve point {i + 1}: health and probability must "
                               "be numbers", "RenewalCurve", i + 1, "health"))
        elif not 0 <= p <= 1:
            out.append(Problem(f"renewal.curve point {i + 1}: probability must be between "
                               f"0 and 1, got {p!r}", "RenewalCurve", i + 1, "probability"))
        elif i and _finite(curve[i - 1][0]) and h <= curve[i - 1][0]:
            out.append(Problem(f"renewal.curve point {i + 1}: health must be greater than "
                               f"the point before ({curve[i - 1][0]!r}), got {h!r}",
                               "RenewalCurve", i + 1, "health"))
    return out


def _name_problems(model: Model) -> list[str | Problem]:
    """Names a workbook cannot hold: control characters or line breaks (XML and Table
    headers refuse them), or longer than NAME_CHARS (NAME_score must fit Excel's Table
    column name limit; longer names also push formulas past Excel's FORMULA_CHARS)."""
    named = [("name", str(model.name), None, None),
             *(("component", str(c), "Components", "component") for c in model.components),
             *(("metric", str(m.column), "Metrics", "column") for m in model.metrics),
             *(("rule", str(r.name), "Rules", "name") for r in model.rules),
             *(("segment", str(s), None, None) for s in model.segment_weights)]
    out: list[str | Problem] = []
    for kind, text, table, column in named:
        where = kind if table is None and kind == "name" else f"{kind} {text[:40]!r}"
        if has_illegal_xml(text) or any(ch in text for ch in "\t\r\n"):
            message = f"{where}: name holds a control character or line break"
        elif len(text) > NAME_CHARS:
            message = (f"{where}: name is {len(text):,} characters long; at most "
                       f"{NAME_CHARS} (with '_score' it names an output column, and Excel's "
                       f"Table column names hold {COLUMN_NAME_CHARS})")
        else:
            continue
        out.append(message if table is None else Problem(message, table, text, column))
    return out


def _columns_problems(columns: dict[str, str]) -> list[str | Problem]:
    """`columns:` maps each key once to a header no other key has."""
    out: list[str | Problem] = []
    seen: dict[str, str] = {}
    keys: set[str] = set()
    for key, header in columns.items():
        if not isinstance(header, str) or not header_key(header) or not header_key(key):
            out.append(Problem(f"columns: {key!r}: expected a header text, got {header!r}",
                               "Columns", key, "header"))
            continue
        if header_key(key) in keys:
            out.append(Problem(f"columns: {key!r} is mapped twice", "Columns", key, "key"))
        keys.add(header_key(key))
        other = seen.setdefault(header_key(header), key)
        if other != key:
            out.append(Problem(f"columns: {other!r} and {key!r} both read header {header!r}",
                               "Columns", key, "header"))
    return out


def _metric_problems(m: Metric, model: Model) -> list[str | Problem]:
    where = f"metric {m.column}"
    out: list[str | Problem] = []
    if not str(m.column).strip():
        out.append("metric with an empty column name")
    if header_key(m.column) in {header_key(c) for c in RESERVED_COLUMNS}:
        out.append(f"{where}: column name is reserved for an output column")
    if m.component not in model.components:
        out.append(Problem(f"{where}: component {m.component!r} is not declared in "
                           "components", "Metrics", m.column, "component"))
    if m.max_change is not None and (not _finite(m.max_change) or m.max_change <= 0
                                     or m.method in ("flag", "category")):
        out.append(Problem(f"{where}: max_change must be a positive number of the metric's "
                           f"units (numeric methods only), got {m.max_change!r}",
                           "Metrics", m.column, "max_change"))
    if not _finite(m.weight) or m.weight < 0:
        out.append(Problem(f"{where}: weight must be a number >= 0, got {m.weight!r}",
                           "Metrics", m.column, "weight"))
    if m.method not in METHODS:
        out.append(Problem(f"{where}: unknown method {m.method!r} (use one of "
                           f"{', '.join(METHODS)})", "Metrics", m.column, "method"))
        return out
    out.extend(METHOD_CLASSES[m.method].problems(m, model))
    return out


def _rule_problems(r: Rule, model: Model) -> list[str | Problem]:
    where = f"rule {r.name!r}"
    out: list[str | Problem] = []

    def at(field_name: str, text: str) -> None:
        out.append(Problem(f"{where}: {text}", "Rules", r.name, field_name))
    if not str(r.name).strip():
        out.append(f"rule on {r.column}: name is empty")
    if r.op not in OPERATORS:
        at("op", f"unknown op {r.op!r} (use one of {' '.join(OPERATORS)})")
    if not _finite(r.cap) or not 0 <= r.cap <= model.scale:
        at("cap", f"cap must be between 0 and {_num(model.scale)}, got {r.cap!r}")
    if r.value is None or (isinstance(r.value, float) and math.isnan(r.value)):
        at("value", "value is missing")
    kind = rule_kind(r, model)
    if kind == "number" and not _finite(r.value):
        at("value", f"value must be a number for a numeric column, got {r.value!r}")
    if kind in ("flag", "text") and r.op not in ("=", "<>"):
        at("op", f"op {r.op} cannot compare {kind} values (use = or <>)")
    if kind == "flag" and parse_flag_value(r.value) is None:
        at("value", f"value must be true or false for flag column {r.column}")
    return out


def rule_kind(rule: Rule, model: Model) -> str:
    """How a rule compares: 'number', 'flag' or 'text' (category labels, other text)."""
    try:
        metric = model.metric(rule.column)
    except KeyError:
        return "number" if _finite(rule.value) else "text"
    method = METHOD_CLASSES.get(metric.method)
    return method.kind if method else "number"




def _segment_problems(model: Model) -> list[str]:
    out = []
    if model.segment_weights and not model.segment_column:
        out.append("segments: weights given without a column")
    for seg, weights in model.segment_weights.items():
        where = f"segments.weights.{seg}"
        for comp in weights:
            if comp not in model.components:
                out.append(f"{where}: component {comp!r} is not declared in components")
        for comp in model.components:
            if comp not in weights:
                out.append(f"{where}: weight for component {comp!r} is missing")
            elif not _finite(weights[comp]) or weights[comp] < 0:
                out.append(f"{where}.{comp}: weight must be a number >= 0, "
                           f"got {weights[comp]!r}")
        if weights and all(_finite(w) and w == 0 for w in weights.values()):
            out.append(f"{where}: all weights are zero")
    keys = [text_key(s) for s in model.segment_weights]
    if len(set(keys)) != len(keys):
        out.append("segments.weights: two segments differ only in case or spaces")
    return out


# ---------------------------------------------------------------- YAML

def _metric_from_dict(data: Any, where: str) -> Metric:
    if isinstance(data, dict) and data.get("column"):
        where = f"{where} (metric {data['column']})"
    d = check_keys(data, METRIC_KEYS, where)
    for key in ("column", "component", "method"):
        if d.get(key) in (None, ""):
            raise ModelError(f"{where}: {key} is missing")
    where = f"metric {d['column']}"
    method = str(d["method"]).strip().lower()
    extra = [k for k in d if k not in COMMON_METRIC_KEYS
             and k not in METHOD_FIELDS.get(method, ())]
    if method in METHODS and extra:
        raise ModelError(f"{where}: {extra[0]} is not used by method {method} "
                         f"(it takes {', '.join(METHOD_FIELDS[method])})")
    kwargs: dict[str, Any] = {"column": str(d["column"]).strip(),
                              "component": str(d["component"]).strip(), "method": method,
                              "weight": _number(d.get("weight", 1), f"{where}: weight"),
                              "fixed": boolean(d.get("fixed", False), f"{where}: fixed")}
    if d.get("max_change") is not None:
        kwargs["max_change"] = _number(d["max_change"], f"{where}: max_change")
    if method in METHOD_CLASSES:
        kwargs.update(METHOD_CLASSES[method].from_dict(d, where))
    return Metric(**kwargs)


def _rule_value(value: Any) -> float | str | bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        return text


def _rule_from_dict(data: Any, where: str) -> Rule:
    if isinstance(data, dict) and data.get("name"):
        where = f"{where} (rule {data['name']!r})"
    d = check_keys(data, RULE_KEYS, where)
    for key in RULE_KEYS:
        if d.get(key) is None or d.get(key) == "":
            raise ModelError(f"{where}: {key} is missing")
    where = f"rule {d['name']!r}"
    return Rule(name=str(d["name"]).strip(), column=str(d["column"]).strip(),
                op=str(d["op"]).strip(), value=_rule_value(d["value"]),
                cap=_number(d["cap"], f"{where}: cap"))


def model_from_dict(data: Any, where: str = "model") -> Model:
    """Build a model from SPEC's YAML structure, rejecting unknown keys and bad values."""
    d = check_keys(data, MODEL_KEYS, where)
    bands = check_keys(d.get("bands") or {}, ("red_below", "green_from"), "bands")
    comps = d.get("components") or {}
    if not isinstance(comps, dict):
        raise ModelError("components: expected a mapping of component name to weight")
    metrics = d.get("metrics") or []
    rules = d.get("rules") or []
    playbooks = d.get("playbooks") or []
    if not isinstance(metrics, list) or not isinstance(rules, list):
        raise ModelError("metrics and rules must be lists")
    if not isinstance(playbooks, list):
        raise ModelError("playbooks must be a list")
    segments = check_keys(d.get("segments") or {}, ("column", "weights"), "segments")
    seg_weights = segments.get("weights") or {}
    if not isinstance(seg_weights, dict):
        raise ModelError("segments.weights: expected a mapping of segment to weights")
    quartiles = check_keys(d.get("quartiles") or {}, ("by",), "quartiles")
    renewal = check_keys(d.get("renewal") or {}, ("probability", "curve"), "renewal")
    probability = renewal.get("probability", DEFAULT_RENEWAL_PROBABILITY)
    if not isinstance(probability, dict):
        raise ModelError("renewal.probability: expected a mapping of band to probability")
    curve = _curve_from_yaml(renewal.get("curve") or [])
    seg_parsed = {}
    for seg, ws in seg_weights.items():
        if not isinstance(ws, dict):
            raise ModelError(f"segments.weights.{seg}: expected a mapping of component "
                             "to weight")
        seg_parsed[str(seg).strip()] = {
            str(c).strip(): _number(w, f"segments.weights.{seg}.{c}") for c, w in ws.items()}
    return Model(
        name=str(d.get("name") or "Scorecard"), version=str(d.get("version", "1")),
        scale=_number(d.get("scale", 100), "scale"),
        red_below=_number(bands.get("red_below", 40), "bands.red_below"),
        green_from=_number(bands.get("green_from", 70), "bands.green_from"),
        min_coverage=_number(d.get("min_coverage", 0.5), "min_coverage"),
        components={str(c).strip(): _number(w, f"component {c}: weight")
                    for c, w in comps.items()},
        metrics=tuple(_metric_from_dict(m, f"metrics item {i + 1}")
                      for i, m in enumerate(metrics)),
        rules=tuple(_rule_from_dict(r, f"rules item {i + 1}") for i, r in enumerate(rules)),
        segment_column=(str(segments["column"]).strip() if segments.get("column") else None),
        segment_weights=seg_parsed,
        quartiles_by=(str(quartiles["by"]).strip() if quartiles.get("by") else None),
        renewal_probability={str(b).strip(): _number(p, f"renewal.probability.{b}")
                             for b, p in probability.items()},
        renewal_curve=curve,
        fiscal_year_start=_month(d.get("fiscal_year_start", 1), "fiscal_year_start"),
        playbooks=tuple(playbook_from_dict(p, f"playbooks item {i + 1}")
                        for i, p in enumerate(playbooks)),
        sources=sources_from_dict(d.get("sources")),
        signals=signals_from_list(d.get("signals")),
        columns=_columns_from_dict(d.get("columns") or {}),
        this_week_limit=_whole(d.get("this_week_limit", 10)),
    )


def _columns_from_dict(data: Any) -> dict[str, str]:
    """`columns: {key: header}` as text; a header that is not text is left for the check."""
    if not isinstance(data, dict):
        raise ModelError("columns: expected a mapping of key to the header in your file")
    return {str(k).strip(): v.strip() if isinstance(v, str) else v for k, v in data.items()}
def _curve_from_yaml(points: Any) -> tuple[tuple[float, float], ...]:
    """`renewal.curve`: a list of {health, probability} points."""
    if not isinstance(points, list):
        raise ModelError("renewal.curve: expected a list of points "
                         "({health: H, probability: P})")
    out = []
    for i, point in enumerate(points):
        where = f"renewal.curve point {i + 1}"
        point = check_keys(point, ("health", "probability"), where,
                           "a mapping with health and probability")
        if "health" not in point or "probability" not in point:
            raise ModelError(f"{where}: needs health and probability")
        out.append((_number(point["health"], f"{where}: health"),
                    _number(point["probability"], f"{where}: probability")))
    return tuple(out)


def renewal_in_force(model: Model) -> str:
    """One sentence saying which renewal probability the model uses."""
    if model.renewal_curve:
        return (f"Renewal probability: the calibrated RenewalCurve ({len(model.renewal_curve)} "
                "points, linear between them; RenewalProbability only for accounts "
                "without health).")
    return "Renewal probability: the RenewalProbability band map (no renewal curve)."


def load_model(path: str | Path) -> Model:
    """Read a model YAML file; errors name the file (and line, for YAML syntax)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ModelError(f"{path}: model file not found") from None
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as exc:
        raise ModelError(f"{path}: cannot read the model file ({exc.__class__.__name__})") \
            from None
    data = load_yaml(text, str(path))
    if data is None:
        raise ModelError(f"{path}: the model file is empty")
    try:
        return model_from_dict(data)
    except ModelError as exc:
        raise exc.prefixed(str(path)) from None


def default_model() -> Model:
    """The SaaS scorecard shipped with the package (see README, 'The default model')."""
    text = resources.files("chs_excel.core").joinpath("default_model.yaml").read_text("utf-8")
    return model_from_dict(yaml.safe_load(text))


def default_signals_model() -> Model:
    """The default model with sources and signals: its logins, tickets, NPS and CSAT
    columns computed from raw exports (docs/signals.md; `chs demo --signals`)."""
    text = resources.files("chs_excel.core").joinpath("default_signals_model.yaml") \
        .read_text("utf-8")
    return model_from_dict(yaml.safe_load(text))


# ---------------------------------------------------------------- tables

TABLE_COLUMNS = {
    "Components": ["component", "weight"],
    "Metrics": ["column", "component", "weight", "method", "worst", "best",
                "higher_is_better", "good", "fixed", "max_change"],
    "Levels": ["column", "at_least", "label", "points"],
    "Rules": ["name", "column", "op", "value", "cap"],
    "Settings": ["setting", "value"],
    "RenewalProbability": ["band", "probability"],
    "RenewalCurve": ["health", "probability"],
    "Playbooks": PLAYBOOK_COLUMNS,
    "Sources": SOURCE_COLUMNS,
    "Signals": SIGNAL_COLUMNS,
    "SignalFilters": FILTER_COLUMNS,
    "Columns": ["key", "header"],
}
# Model tables a workbook may lack (built before they existed): read as empty.
OPTIONAL_TABLES = ("Playbooks", "Sources", "Signals", "SignalFilters", "Columns",
                   "RenewalCurve")
# Columns a Model table may lack (an older workbook): they read as blank, which every
# method takes as its default (good and higher_is_better true; a level without a key).
OPTIONAL_COLUMNS = {
    "Metrics": (*(c for c in TABLE_COLUMNS["Metrics"]
                  if any(c in m.columns for m in METHOD_CLASSES.values())), "fixed",
                "max_change"),
    "Levels": ("at_least", "label"),
    "Playbooks": ("due_in_days",),
}
# The Model sheet's Tables, left to right (Segments has one column per component).
MODEL_TABLES = ("Settings", "Components", "Metrics", "Levels", "Rules", "Segments",
                "RenewalProbability", "RenewalCurve", "Playbooks", "Columns")
SETTINGS = ("name", "version", "scale", "red_below", "green_from", "min_coverage",
            "quartiles_by", "segments_by", "fiscal_year_start", "this_week_limit")


def model_tables(model: Model) -> dict[str, pd.DataFrame]:
    """The Model sheet's tables: one DataFrame per Excel Table, keyed by Table name.

    Steps breaks/points and category points are rows of `Levels` (one per level), so a
    spreadsheet formula can read each number from its own cell.
    """
    comps = pd.DataFrame({"component": list(model.components),
                          "weight": [float(w) for w in model.components.values()]})
    blank_row = dict.fromkeys(TABLE_COLUMNS["Metrics"])
    metrics = pd.DataFrame([{
        **blank_row, "column": m.column, "component": m.component,
        "weight": float(m.weight), "method": m.method, "fixed": m.fixed,
        "max_change": m.max_change,
        **METHOD_CLASSES[m.method].table_row(m),
    } for m in model.metrics], columns=TABLE_COLUMNS["Metrics"])
    levels = [row for m in model.metrics for row in METHOD_CLASSES[m.method].level_rows(m)]
    rules = pd.DataFrame([{"name": r.name, "column": r.column, "op": r.op,
                           "value": r.value, "cap": r.cap} for r in model.rules],
                         columns=TABLE_COLUMNS["Rules"], dtype=object)
    segments = pd.DataFrame([{"segment": s, **ws} for s, ws in model.segment_weights.items()],
                            columns=["segment", *model.components])
    settings = pd.DataFrame({"setting": list(SETTINGS), "value": [
        model.name, model.version, model.scale, model.red_below, model.green_from,
        model.min_coverage, model.quartiles_by, model.segment_column,
        model.fiscal_year_start, model.this_week_limit]}, dtype=object)
    renewal = pd.DataFrame({"band": list(model.renewal_probability),
                            "probability": list(model.renewal_probability.values())})
    curve = pd.DataFrame([{"health": float(h), "probability": float(p)}
                          for h, p in model.renewal_curve],
                         columns=TABLE_COLUMNS["RenewalCurve"], dtype=float)
    playbooks = pd.DataFrame(playbook_rows(model.playbooks), columns=PLAYBOOK_COLUMNS,
                             dtype=object)
    signal_tables = {
        name: pd.DataFrame(rows, columns=TABLE_COLUMNS[name], dtype=object)
        for name, rows in (("Sources", source_rows(model.sources)),
                           ("Signals", signal_rows(model.signals)),
                           ("SignalFilters", filter_rows(model.signals)))}
    return {"RenewalCurve": curve, "Components": comps, "Metrics": metrics,
            "Levels": pd.DataFrame(levels, columns=TABLE_COLUMNS["Levels"]),
            "Rules": rules, "Segments": segments, "Settings": settings,
            "RenewalProbability": renewal, "Playbooks": playbooks, **signal_tables,
            "Columns": pd.DataFrame({"key": list(model.columns),
                                     "header": list(model.columns.values())}, dtype=object)}


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _records(table: pd.DataFrame, name: str, where: str) -> list[dict[str, Any]]:
    """Rows of `table` keyed by canonical column names, blank rows dropped."""
    wanted = {header_key(c): c for c in TABLE_COLUMNS.get(name, [])}
    renamed = {}
    for col in table.columns:
        key = header_key(col)
        renamed[col] = wanted.get(key, str(col).strip())
    missing = [c for c in TABLE_COLUMNS.get(name, []) if c not in renamed.values()]
    required = [c for c in missing if c not in OPTIONAL_COLUMNS.get(name, ())]
    if required:
        raise ModelError(f"{where}, table {name}: column {required[0]!r} is missing")
    frame = table.rename(columns=renamed)
    for column in missing:
        frame[column] = None
    rows = []
    for i, rec in enumerate(frame.to_dict("records")):
        if all(_blank(v) for v in rec.values()):
            continue
        rec = {k: (None if _blank(v) else v) for k, v in rec.items()}
        rec["_row"] = i + 1
        rows.append(rec)
    return rows


def model_from_tables(tables: dict[str, pd.DataFrame], where: str = "Model") -> Model:
    """Rebuild a model from the Model sheet's tables; errors name table, row and column."""
    for name in TABLE_COLUMNS:
        if name not in tables and name not in OPTIONAL_TABLES:
            raise ModelError(f"{where}: table {name} is missing")
    known = {header_key(s): s for s in SETTINGS}
    settings = {}
    for rec in _records(tables["Settings"], "Settings", where):
        if rec.get("setting") is None:
            continue
        name = known.get(header_key(rec["setting"]))
        if name is None:
            raise ModelError(f"{where}, table Settings, row {rec['_row']}: unknown setting "
                             f"{rec['setting']!r} (allowed: {', '.join(SETTINGS)})")
        settings[name] = rec.get("value")

    def setting(key: str, default: Any, number: bool = True) -> Any:
        value = settings.get(key)
        if value is None:
            return default
        return _number(value, f"{where}, table Settings, setting {key}") if number else value

    comps = {}
    for rec in _records(tables["Components"], "Components", where):
        comps[str(rec["component"]).strip()] = _cell_number(rec, "weight", where, "Components")
    levels: dict[str, list[dict[str, Any]]] = {}
    for rec in _records(tables["Levels"], "Levels", where):
        levels.setdefault(header_key(rec["column"]), []).append(rec)
    metrics = []
    for rec in _records(tables["Metrics"], "Metrics", where):
        metrics.append(_metric_from_record(rec, levels.get(header_key(rec["column"]), []),
                                           where))
    rules = []
    for rec in _records(tables["Rules"], "Rules", where):
        cap = _cell_number(rec, "cap", where, "Rules")
        rules.append(Rule(name=str(rec["name"] or "").strip(),
                          column=str(rec["column"] or "").strip(),
                          op=str(rec["op"] or "").strip(),
                          value=None if rec["value"] is None else _rule_value(rec["value"]),
                          cap=cap))
    seg_weights = {}
    comp_keys = {header_key(c): c for c in comps}
    seg_table = tables.get("Segments", pd.DataFrame()).rename(
        columns=lambda c: "segment" if header_key(c) == "segment"
        else comp_keys.get(header_key(c), str(c).strip()))
    for rec in _records(seg_table, "Segments", where):
        name = str(rec.pop("segment", "") or "").strip()
        row = {"_row": rec.pop("_row")}
        seg_weights[name] = {str(c).strip(): 0.0 if v is None else _cell_number(
            {**row, c: v}, c, where, "Segments") for c, v in rec.items()}
    probs = {str(r["band"]).strip(): _cell_number(r, "probability", where,
                                                  "RenewalProbability")
             for r in _records(tables["RenewalProbability"], "RenewalProbability", where)}
    curve = tuple((_cell_number(r, "health", where, "RenewalCurve"),
                   _cell_number(r, "probability", where, "RenewalCurve"))
                  for r in _records(tables.get("RenewalCurve", pd.DataFrame(
                      columns=TABLE_COLUMNS["RenewalCurve"])), "RenewalCurve", where))
    playbooks = ()
    if "Playbooks" in tables:
        playbooks = playbooks_from_records(_records(tables["Playbooks"], "Playbooks", where),
                                           where)
    sources = sources_from_records(_records(tables["Sources"], "Sources", where)) \
        if "Sources" in tables else ()
    signals = signals_from_records(
        _records(tables["Signals"], "Signals", where) if "Signals" in tables else [],
        _records(tables["SignalFilters"], "SignalFilters", where)
        if "SignalFilters" in tables else [], where)
    columns = {str(r["key"] or "").strip(): r["header"] if r["header"] is None
               else str(r["header"]).strip()
               for r in _records(tables.get("Columns", pd.DataFrame(columns=["key", "header"])),
                                 "Columns", where)}
    quart = settings.get("quartiles_by")
    seg_col = settings.get("segments_by")
    try:
        return Model(name=str(setting("name", "Scorecard", number=False)),
                     version=_version_text(setting("version", "1", number=False)),
                     scale=setting("scale", 100.0), red_below=setting("red_below", 40.0),
                     green_from=setting("green_from", 70.0),
                     min_coverage=setting("min_coverage", 0.5),
                     components=comps, metrics=tuple(metrics), rules=tuple(rules),
                     segment_column=str(seg_col).strip() if seg_col else None,
                     segment_weights=seg_weights,
                     quartiles_by=str(quart).strip() if quart else None,
                     renewal_probability=probs, playbooks=playbooks,
                     sources=sources, signals=signals, columns=columns,
                     renewal_curve=curve,
                     fiscal_year_start=_month(setting("fiscal_year_start", 1),
                                              f"{where}, table Settings, setting "
                                              "fiscal_year_start"),
                     this_week_limit=_whole(setting("this_week_limit", 10)))
    except ModelError as exc:
        raise exc.prefixed(where) from None


def _whole(value: Any) -> Any:
    """A whole float (4.0 from a cell) as an int; anything else as given (validated)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _month(value: Any, where: str) -> int:
    """A month number 1-12 (a whole float such as 4.0 from a cell reads as 4)."""
    number = _number(value, where)
    if not (isinstance(number, (int, float)) and float(number).is_integer()
            and 1 <= number <= 12):
        raise ModelError(f"{where}: expected a month number 1-12, got {value!r}")
    return int(number)


def _version_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _metric_from_record(rec: dict[str, Any], levels: list[dict[str, Any]],
                        where: str) -> Metric:
    method = str(rec.get("method") or "").strip().lower()
    kwargs: dict[str, Any] = {
        "column": str(rec.get("column") or "").strip(),
        "component": str(rec.get("component") or "").strip(), "method": method,
        "weight": _cell_number(rec, "weight", where, "Metrics")}
    if kwargs["weight"] is None:
        raise cell_error(f"{_where(where, 'Metrics', rec, 'weight')}: weight is blank",
                         "Metrics", rec, "weight")
    if rec.get("fixed") is not None:
        kwargs["fixed"] = cell_boolean(rec, "fixed", where, "Metrics")
    if rec.get("max_change") is not None:
        kwargs["max_change"] = _cell_number(rec, "max_change", where, "Metrics")
    if method in METHOD_CLASSES:
        kwargs.update(METHOD_CLASSES[method].from_record(rec, levels, where))
    return Metric(**kwargs)
