"""`category`: points[label], the label matched as a text key; unknown labels are missing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from chs_excel.core.errors import ModelError, Problem
from chs_excel.core.formula_text import structured, text_of, wildcard_safe
from chs_excel.core.methods.base import (
    FormulaRefs,
    MetricMethod,
    Report,
    cell_number,
    finite,
    number,
    plain,
)
from chs_excel.core.values import is_blank, map_distinct
from chs_excel.core.vocabulary import text_key

if TYPE_CHECKING:
    from chs_excel.core.model import Metric, Model


class Category(MetricMethod):
    """Points per label; each label is a row of the Levels table."""

    name = "category"
    fields = ("points",)
    level_key = "label"
    kind = "text"

    def problems(self, metric: Metric, model: Model) -> list[Problem]:
        out = []
        if not metric.categories:
            out.append("category needs points, a mapping of label to points")
        labels = [text_key(label) for label, _ in metric.categories]
        if len(set(labels)) != len(labels):
            out.append("two category labels differ only in case or spaces")
        out.extend(f"points for {label!r} must be between 0 and "
                   f"{plain(model.scale)}, got {p!r}"
                   for label, p in metric.categories
                   if not finite(p) or not 0 <= p <= model.scale)
        return [self.problem(metric, text) for text in out]

    def to_dict(self, metric: Metric) -> dict[str, Any]:
        return {"points": {label: plain(p) for label, p in metric.categories}}

    def from_dict(self, data: dict[str, Any], where: str) -> dict[str, Any]:
        points = data.get("points") or {}
        if not isinstance(points, dict):
            raise ModelError(f"{where}: category points must be a mapping of label to points")
        return {"categories": tuple((str(k).strip(), number(v, f"{where}: points.{k}"))
                                    for k, v in points.items())}

    def level_rows(self, metric: Metric) -> list[dict[str, Any]]:
        return [{"column": metric.column, "at_least": None, "label": label, "points": p}
                for label, p in metric.categories]

    def from_record(self, rec: dict[str, Any], levels: list[dict[str, Any]],
                    where: str) -> dict[str, Any]:
        return {"categories": tuple(
            (str(r.get("label") or "").strip(), cell_number(r, "points", where, "Levels"))
            for r in levels)}

    def values(self, metric: Metric, raw: pd.Series, report: Report) -> np.ndarray:
        """Each cell's points (the label looked up once per distinct value)."""
        table = {text_key(k): float(p) for k, p in metric.categories}
        points, bad = map_distinct(
            raw, lambda v: np.nan if is_blank(v) else table.get(text_key(v), np.nan))
        report(metric.column, bad, raw, "unknown category (known: "
               + ", ".join(k for k, _ in metric.categories) + ")")
        return points

    def score(self, x: np.ndarray, metric: Metric, scale: float) -> np.ndarray:
        return x  # `values` already looked the points up

    def level_count(self, metric: Metric) -> int:
        return len(metric.categories)

    def level_key_formula(self, k: int, position: str) -> str | None:
        return text_of(f"INDEX({structured('Levels', 'label')},{position})")

    def formula(self, metric: Metric, refs: FormulaRefs) -> str:
        lv = refs.levels
        return refs.gate(f"IFERROR(INDEX({lv['points']},MATCH({wildcard_safe(text_of(refs.x))},"
                         f'{lv["keys"]},0)),"")')
