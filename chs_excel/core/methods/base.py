"""What a metric method is: one class holds everything about one way of scoring a metric.

A method knows its YAML fields and the Metrics/Levels table cells it uses, validates a
metric, reads and writes it (YAML dict, table record), scores raw values with numpy
(vectorised, never a loop over accounts) and writes the same rule as an Excel formula from
the references the formula plan (chs_excel.core.formulas.ScoresPlan) gives it.
The registry of methods is chs_excel.core.methods.METHODS.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from chs_excel.core.errors import ModelError, Problem
from chs_excel.core.values import parse_flag_value, parse_numbers

if TYPE_CHECKING:
    from chs_excel.core.model import Metric, Model

# report(column, bad mask, raw cells, problem): how a method lists the cells it could not use
Report = Callable[[str, np.ndarray, pd.Series, str], None]


# ---------------------------------------------------------------- small value helpers

def finite(value: Any) -> bool:
    """A real, finite number (not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def plain(value: Any) -> Any:
    """Whole floats as ints, so saved YAML reads as a person would write it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def number(value: Any, where: str) -> float:
    """`value` as a float; a `ModelError` naming `where` when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            return float(str(value).strip())
        except ValueError:
            raise ModelError(f"{where}: expected a number, got {value!r}") from None
    return float(value)


def optional_number(value: Any, where: str) -> float | None:
    """None stays None; anything else must be a number."""
    return None if value is None else number(value, where)


def boolean(value: Any, where: str) -> bool:
    """A true-ish or false-ish value as a bool; a `ModelError` naming `where` otherwise."""
    parsed = parse_flag_value(value)
    if parsed is None:
        raise ModelError(f"{where}: expected true or false, got {value!r}")
    return parsed


def cell_where(where: str, table: str, rec: dict[str, Any], column: str) -> str:
    """`<where>, table T, row R, column C`: how a Model-table cell is named in errors."""
    return f"{where}, table {table}, row {rec['_row']}, column {column}"


def cell_error(message: str, table: str, rec: dict[str, Any], column: str) -> ModelError:
    """A `ModelError` about one Model-table cell, its place given as a `Problem`."""
    return ModelError(message, [Problem(message, table=table, row=rec["_row"], field=column)])


def cell_number(rec: dict[str, Any], key: str, where: str, table: str) -> float | None:
    """A table record's number cell (None when blank)."""
    value = rec.get(key)
    if value is None:
        return None
    try:
        return number(value, cell_where(where, table, rec, key))
    except ModelError as exc:
        raise cell_error(str(exc), table, rec, key) from None


def cell_boolean(rec: dict[str, Any], key: str, where: str, table: str) -> bool:
    """A table record's true/false cell."""
    try:
        return boolean(rec[key], cell_where(where, table, rec, key))
    except ModelError as exc:
        raise cell_error(str(exc), table, rec, key) from None


# ---------------------------------------------------------------- formula references

@dataclass(frozen=True)
class FormulaRefs:
    """What the formula plan hands a method to write one metric's per-row score formula.

    `x` is this row's Accounts value (x100 when %-formatted, as the reader reads it),
    `stored` the cell as stored (for ranks against `column`, the whole Accounts data range
    of the metric, stored too),
    `live` the condition "this row holds an account", `gate(expr)` blanks `expr` on rows
    without an account, `params` the Calc cells of the method's `calc` parameters (by key),
    `levels` the Calc ranges `keys` and `points` of a Levels method.
    """

    x: str
    column: str
    live: str
    gate: Callable[[str], str]
    stored: str = ""
    params: dict[str, str] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- the method class

class MetricMethod(ABC):
    """One metric method. Subclasses set the class attributes and the abstract methods."""

    name: ClassVar[str]
    # YAML keys the method takes besides column, component, weight and method.
    fields: ClassVar[tuple[str, ...]] = ()
    # Metrics-table columns the method reads (besides column, component, weight, method).
    columns: ClassVar[tuple[str, ...]] = ()
    # The Levels-table column holding the keys of its levels (None: no levels).
    level_key: ClassVar[str | None] = None
    # How its raw values compare in rules: 'number', 'flag' or 'text'.
    kind: ClassVar[str] = "number"
    # Calc-sheet parameter cells: (key, row label), in the Metrics block.
    calc: ClassVar[tuple[tuple[str, str], ...]] = ()

    # ------------------------------------------------------------ model

    def problems(self, metric: Metric, model: Model) -> list[Problem]:
        """The method's own inconsistencies in `metric`, each naming the metric and field."""
        return []

    def problem(self, metric: Metric, text: str, field: str | None = None) -> Problem:
        """`metric <column>: <text>`, placed at the metric's Metrics row and `field`."""
        return Problem(f"metric {metric.column}: {text}", table="Metrics", key=metric.column,
                       field=field)

    @abstractmethod
    def to_dict(self, metric: Metric) -> dict[str, Any]:
        """The method's YAML fields of `metric` (plain Python values)."""

    @abstractmethod
    def from_dict(self, data: dict[str, Any], where: str) -> dict[str, Any]:
        """`Metric` keyword arguments from the method's YAML fields in `data`."""

    def table_row(self, metric: Metric) -> dict[str, Any]:
        """The method's cells of the metric's Metrics-table row, by column."""
        return {}

    def level_rows(self, metric: Metric) -> list[dict[str, Any]]:
        """The metric's rows of the Levels table (column at_least, label, points)."""
        return []

    def from_record(self, rec: dict[str, Any], levels: list[dict[str, Any]],
                    where: str) -> dict[str, Any]:
        """`Metric` keyword arguments from its Metrics record and its Levels records."""
        return {}

    # ------------------------------------------------------------ engine

    def values(self, metric: Metric, raw: pd.Series, report: Report) -> np.ndarray:
        """The raw cells as the floats the method scores (and rules compare); bad cells
        are NaN and reported. Numbers by default."""
        x, bad = parse_numbers(raw)
        report(metric.column, bad, raw, "not a number")
        return x

    @abstractmethod
    def score(self, x: np.ndarray, metric: Metric, scale: float) -> np.ndarray:
        """0..scale points for the values `x` (NaN in, NaN out), over every account."""

    # ------------------------------------------------------------ Excel

    def calc_params(self, metric: Metric, look: Callable[[str], str],
                    column: str) -> dict[str, str]:
        """Formulas of the Calc parameter cells, by key of `calc`: `look(field)` reads
        the metric's Metrics-table cell, `column` is its whole Accounts data range."""
        return {}

    def level_count(self, metric: Metric) -> int:
        """How many Levels rows the metric has."""
        return 0

    def level_key_formula(self, k: int, position: str) -> str | None:
        """The Calc formula of level `k`'s key from Levels row `position` (None: no key)."""
        return None

    @abstractmethod
    def formula(self, metric: Metric, refs: FormulaRefs) -> str:
        """The per-row score formula: 0..Scale, blank when the value is missing."""

    def __repr__(self) -> str:
        return f"<metric method {self.name}>"


def check_keys(data: Any, allowed: tuple[str, ...], where: str,
               expected: str = "a mapping of keys") -> dict[str, Any]:
    """`data` as a YAML mapping whose keys are all `allowed`; else a ModelError at `where`."""
    if not isinstance(data, dict):
        raise ModelError(f"{where}: expected {expected}, got {type(data).__name__}")
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise ModelError(f"{where}: unknown key {unknown[0]!r} "
                         f"(allowed: {', '.join(allowed)})")
    return data
