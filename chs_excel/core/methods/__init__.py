"""The metric methods: one class per method, one module per class, registered here only.

`METHODS` maps a method name to its instance; the model, the engine, the formula plan,
the Model sheet's method list and the UDFs all dispatch through it. To add a method, write
its module (a `base.MetricMethod` subclass) and add the module's name to `MODULES`; the
order is the order of the Model sheet's method list.
"""

from __future__ import annotations

from importlib import import_module

from chs_excel.core.methods.base import FormulaRefs, MetricMethod

MODULES = ("linear", "steps", "percentile", "flag", "category", "log")


def _defined_in(module_name: str) -> MetricMethod:
    """The one MetricMethod subclass a method module defines, as an instance."""
    module = import_module(f"{__name__}.{module_name}")
    found = [cls for cls in vars(module).values()
             if isinstance(cls, type) and issubclass(cls, MetricMethod)
             and cls.__module__ == module.__name__]
    if len(found) != 1:
        raise TypeError(f"{module.__name__} must define exactly one MetricMethod class, "
                        f"found {len(found)}")
    return found[0]()


METHODS: dict[str, MetricMethod] = {m.name: m for m in map(_defined_in, MODULES)}

__all__ = ["METHODS", "MODULES", "FormulaRefs", "MetricMethod"]
