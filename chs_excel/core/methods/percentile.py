"""`percentile`: scale x (count of present values strictly below x) / (n - 1); above when
higher_is_better is false; n == 1 scores full scale."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from chs_excel.core.formula_text import FALSE_ARRAY, text_of
from chs_excel.core.methods.base import (
    FormulaRefs,
    MetricMethod,
    boolean,
    cell_boolean,
)

if TYPE_CHECKING:
    from chs_excel.core.model import Metric


def percentile(x: np.ndarray, higher_is_better: bool, scale: float) -> np.ndarray:
    """SPEC percentile: share of the other present values strictly below (or above) x."""
    s = pd.Series(x)
    n = int(s.notna().sum())
    beaten = s.rank(method="min") - 1 if higher_is_better else n - s.rank(method="max")
    if n == 1:
        return np.where(np.isnan(x), np.nan, scale)
    return (scale * beaten / (n - 1)).to_numpy(dtype=float)


class Percentile(MetricMethod):
    """Rank among every account scored together."""

    name = "percentile"
    fields = ("higher_is_better",)
    columns = ("higher_is_better",)
    calc = (("order", "rank order"), ("count", "values present"))

    def to_dict(self, metric: Metric) -> dict[str, Any]:
        return {"higher_is_better": metric.higher_is_better}

    def from_dict(self, data: dict[str, Any], where: str) -> dict[str, Any]:
        return {"higher_is_better": boolean(data.get("higher_is_better", True),
                                            f"{where}: higher_is_better")}

    def table_row(self, metric: Metric) -> dict[str, Any]:
        return {"higher_is_better": metric.higher_is_better}

    def from_record(self, rec: dict[str, Any], levels: list[dict[str, Any]],
                    where: str) -> dict[str, Any]:
        if rec.get("higher_is_better") is None:
            return {}
        return {"higher_is_better": cell_boolean(rec, "higher_is_better", where, "Metrics")}

    def score(self, x: np.ndarray, metric: Metric, scale: float) -> np.ndarray:
        return percentile(x, metric.higher_is_better, scale)

    def calc_params(self, metric: Metric, look: Callable[[str], str],
                    column: str) -> dict[str, str]:
        return {"order": f"IF(OR({text_of(look('higher_is_better'))}={FALSE_ARRAY}),0,1)",
                "count": f"COUNT({column})"}

    def formula(self, metric: Metric, refs: FormulaRefs) -> str:
        # ranks are the same on stored and x100 values: rank the stored cell in its column
        x, n, order = refs.stored or refs.x, refs.params["count"], refs.params["order"]
        return (f"IF(AND({refs.live},ISNUMBER({x})),IF({n}=1,Scale,Scale*(_xlfn.RANK.EQ({x},"
                f'{refs.column},{order})-1)/({n}-1)),"")')
