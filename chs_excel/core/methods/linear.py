"""`linear`: scale x clamp((x - worst) / (best - worst), 0, 1); best < worst: lower is better."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from chs_excel.core.errors import Problem
from chs_excel.core.methods.base import (
    FormulaRefs,
    MetricMethod,
    cell_number,
    finite,
    optional_number,
    plain,
)

if TYPE_CHECKING:
    from chs_excel.core.model import Metric, Model


class Linear(MetricMethod):
    """Points grow in proportion from `worst` (0) to `best` (full scale)."""

    name = "linear"
    fields = ("worst", "best")
    columns = ("worst", "best")
    calc = (("worst", "worst"), ("best", "best"))

    def problems(self, metric: Metric, model: Model) -> list[Problem]:
        if not (finite(metric.worst) and finite(metric.best)):
            return [self.problem(metric, f"{self.name} needs numbers for worst and best",
                                 "worst")]
        if metric.worst == metric.best:
            return [self.problem(metric, f"worst and best are equal ({plain(metric.worst)})",
                                 "worst")]
        return []

    def to_dict(self, metric: Metric) -> dict[str, Any]:
        return {"worst": plain(metric.worst), "best": plain(metric.best)}

    def from_dict(self, data: dict[str, Any], where: str) -> dict[str, Any]:
        return {"worst": optional_number(data.get("worst"), f"{where}: worst"),
                "best": optional_number(data.get("best"), f"{where}: best")}

    def table_row(self, metric: Metric) -> dict[str, Any]:
        return {"worst": metric.worst, "best": metric.best}

    def from_record(self, rec: dict[str, Any], levels: list[dict[str, Any]],
                    where: str) -> dict[str, Any]:
        return {"worst": cell_number(rec, "worst", where, "Metrics"),
                "best": cell_number(rec, "best", where, "Metrics")}

    def score(self, x: np.ndarray, metric: Metric, scale: float) -> np.ndarray:
        frac = (x - metric.worst) / (metric.best - metric.worst)
        return scale * np.clip(frac, 0.0, 1.0)

    def calc_params(self, metric: Metric, look: Callable[[str], str],
                    column: str) -> dict[str, str]:
        return {"worst": look("worst"), "best": look("best")}

    def formula(self, metric: Metric, refs: FormulaRefs) -> str:
        x, worst, best = refs.x, refs.params["worst"], refs.params["best"]
        return (f"IF(AND({refs.live},ISNUMBER({x})),Scale*MAX(0,MIN(1,({x}-{worst})/"
                f'({best}-{worst}))),"")')
