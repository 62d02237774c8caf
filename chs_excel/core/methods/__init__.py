"""The metric methods: one class per method, registered here and nowhere else.

`METHODS` maps a method name to its instance; the model, the engine, the formula plan,
the Model sheet's method list and the UDFs all dispatch through it. To add a method, write
its module (see base.MetricMethod) and add its class to `_CLASSES`.
"""

from __future__ import annotations

from chs_excel.core.methods.base import FormulaRefs, MetricMethod
from chs_excel.core.methods.category import Category
from chs_excel.core.methods.flag import Flag
from chs_excel.core.methods.linear import Linear
from chs_excel.core.methods.log import Log
from chs_excel.core.methods.percentile import Percentile
from chs_excel.core.methods.steps import Steps

_CLASSES: tuple[type[MetricMethod], ...] = (Linear, Steps, Percentile, Flag, Category, Log)

METHODS: dict[str, MetricMethod] = {cls.name: cls() for cls in _CLASSES}

__all__ = ["METHODS", "FormulaRefs", "MetricMethod"]
