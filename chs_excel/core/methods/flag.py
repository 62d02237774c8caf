"""`flag`: full scale when a true-ish/false-ish value equals `good` (default true), else 0."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from chs_excel.core.formula_text import FALSE_ARRAY, TRUE_ARRAY, text_of
from chs_excel.core.methods.base import (
    FormulaRefs,
    MetricMethod,
    Report,
    boolean,
    cell_boolean,
)
from chs_excel.core.values import parse_flags

if TYPE_CHECKING:
    from chs_excel.core.model import Metric


class Flag(MetricMethod):
    """A yes/no signal."""

    name = "flag"
    fields = ("good",)
    columns = ("good",)
    kind = "flag"
    calc = (("good", "good"),)

    def to_dict(self, metric: Metric) -> dict[str, Any]:
        return {"good": metric.good}

    def from_dict(self, data: dict[str, Any], where: str) -> dict[str, Any]:
        return {"good": boolean(data.get("good", True), f"{where}: good")}

    def table_row(self, metric: Metric) -> dict[str, Any]:
        return {"good": metric.good}

    def from_record(self, rec: dict[str, Any], levels: list[dict[str, Any]],
                    where: str) -> dict[str, Any]:
        if rec.get("good") is None:
            return {}
        return {"good": cell_boolean(rec, "good", where, "Metrics")}

    def values(self, metric: Metric, raw: pd.Series, report: Report) -> np.ndarray:
        flags, bad = parse_flags(raw)
        report(metric.column, bad, raw, "not a true/false value")
        return flags

    def score(self, x: np.ndarray, metric: Metric, scale: float) -> np.ndarray:
        return np.where(np.isnan(x), np.nan, (x == float(metric.good)) * scale)

    def calc_params(self, metric: Metric, look: Callable[[str], str],
                    column: str) -> dict[str, str]:
        return {"good": f"IF(OR({text_of(look('good'))}={FALSE_ARRAY}),0,1)"}

    def formula(self, metric: Metric, refs: FormulaRefs) -> str:
        t, good = text_of(refs.x), refs.params["good"]
        return refs.gate(f"IF(OR({t}={TRUE_ARRAY}),Scale*{good},IF(OR({t}={FALSE_ARRAY}),"
                         f'Scale*(1-{good}),""))')
