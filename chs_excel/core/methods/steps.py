"""`steps`: points[i], i = the number of breaks <= x (breaks strictly increasing)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from chs_excel.core.errors import ModelError, Problem
from chs_excel.core.formula_text import structured
from chs_excel.core.methods.base import (
    FormulaRefs,
    MetricMethod,
    cell_error,
    cell_number,
    cell_where,
    finite,
    number,
    plain,
)

if TYPE_CHECKING:
    from chs_excel.core.model import Metric, Model


class Steps(MetricMethod):
    """Fixed points per band of values; each level is a row of the Levels table."""

    name = "steps"
    fields = ("breaks", "points")
    level_key = "at_least"

    def problems(self, metric: Metric, model: Model) -> list[Problem]:
        out = []
        if not metric.breaks or not all(finite(b) for b in metric.breaks):
            out.append("breaks must be a list of numbers")
        elif any(b >= a for a, b in zip(metric.breaks[1:], metric.breaks, strict=False)):
            out.append(f"breaks must be strictly increasing, got {list(metric.breaks)}")
        if len(metric.points) != len(metric.breaks) + 1:
            out.append(f"points must have one more entry than breaks "
                       f"({len(metric.breaks) + 1}), got {len(metric.points)}")
        out.extend(f"points must be between 0 and {plain(model.scale)}, got {p!r}"
                   for p in metric.points if not finite(p) or not 0 <= p <= model.scale)
        return [self.problem(metric, text) for text in out]

    def to_dict(self, metric: Metric) -> dict[str, Any]:
        return {"breaks": [plain(b) for b in metric.breaks],
                "points": [plain(p) for p in metric.points]}

    def from_dict(self, data: dict[str, Any], where: str) -> dict[str, Any]:
        breaks, points = data.get("breaks") or [], data.get("points") or []
        if not isinstance(breaks, list) or not isinstance(points, list):
            raise ModelError(f"{where}: breaks and points must be lists")
        return {"breaks": tuple(number(b, f"{where}: breaks") for b in breaks),
                "points": tuple(number(p, f"{where}: points") for p in points)}

    def level_rows(self, metric: Metric) -> list[dict[str, Any]]:
        return [{"column": metric.column, "at_least": at, "label": None, "points": p}
                for at, p in zip((None, *metric.breaks), metric.points, strict=True)]

    def from_record(self, rec: dict[str, Any], levels: list[dict[str, Any]],
                    where: str) -> dict[str, Any]:
        column = str(rec.get("column") or "").strip()
        if levels and levels[0].get("at_least") is not None:
            raise cell_error(f"{cell_where(where, 'Levels', levels[0], 'at_least')}: the "
                             f"first level of {column} must have a blank at_least",
                             "Levels", levels[0], "at_least")
        breaks = tuple(cell_number(r, "at_least", where, "Levels") for r in levels[1:])
        if any(b is None for b in breaks):
            raise ModelError(f"{where}, table Levels: metric {column} has a blank "
                             "at_least after its first level")
        return {"breaks": breaks,
                "points": tuple(cell_number(r, "points", where, "Levels") for r in levels)}

    def score(self, x: np.ndarray, metric: Metric, scale: float) -> np.ndarray:
        idx = np.searchsorted(np.asarray(metric.breaks), x, side="right")
        points = np.asarray(metric.points, dtype=float)
        return np.where(np.isnan(x), np.nan, points[np.minimum(idx, len(points) - 1)])

    def level_count(self, metric: Metric) -> int:
        return len(metric.points)

    def level_key_formula(self, k: int, position: str) -> str | None:
        return f"INDEX({structured('Levels', 'at_least')},{position})" if k else None

    def formula(self, metric: Metric, refs: FormulaRefs) -> str:
        x, lv = refs.x, refs.levels
        return (f"IF(AND({refs.live},ISNUMBER({x})),INDEX({lv['points']},"
                f'IFERROR(MATCH({x},{lv["keys"]},1),0)+1),"")')
