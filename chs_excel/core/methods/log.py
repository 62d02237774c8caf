"""`log`: diminishing returns, scale x clamp(ln(1 + max(t, 0)) / ln(1 + |best - worst|), 0, 1)
with t = (x - worst) x sign(best - worst). Takes worst and best like `linear`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from chs_excel.core.methods.base import FormulaRefs
from chs_excel.core.methods.linear import Linear

if TYPE_CHECKING:
    from chs_excel.core.model import Metric


class Log(Linear):
    """The first units above `worst` count more than the last ones before `best`."""

    name = "log"

    def score(self, x: np.ndarray, metric: Metric, scale: float) -> np.ndarray:
        span = metric.best - metric.worst
        t = (x - metric.worst) * np.sign(span)
        frac = np.log1p(np.maximum(t, 0.0)) / np.log1p(abs(span))
        return scale * np.clip(frac, 0.0, 1.0)  # NaN stays NaN through maximum and clip

    def formula(self, metric: Metric, refs: FormulaRefs) -> str:
        x, worst, best = refs.x, refs.params["worst"], refs.params["best"]
        t = f"({x}-{worst})*SIGN({best}-{worst})"
        return (f"IF(AND({refs.live},ISNUMBER({x})),Scale*MAX(0,MIN(1,LN(1+MAX(0,{t}))/"
                f'LN(1+ABS({best}-{worst})))),"")')
