"""The macros (xlwings scripts): refresh, snapshot, calibrate and rebuild the calling book.

`@xw.script`: Alt+F8 after Import Functions on Windows, `RunPython` on both platforms.
Each acts on the calling workbook through `chs_excel.io.book.XlwingsBook`, running the
same `chs_excel.app.macros` code the tests and the command line run on files. The heavy
modules are imported when a macro runs, not when Excel imports this module.
"""

from __future__ import annotations

from typing import Any

import xlwings as xw


def _run(action_name: str) -> str:
    """Run `macros.<action_name>` on the workbook that called the macro."""
    from chs_excel.app import macros
    from chs_excel.io.book import XlwingsBook
    return macros.run(getattr(macros, action_name), XlwingsBook(_caller()))


def _caller() -> Any:
    """The workbook that ran the macro."""
    return xw.Book.caller()


@xw.script
def chs_refresh() -> str:
    """Score the Accounts table with the Model; rewrite Scores, Actions, Dashboard, Forecast
    and Data issues."""
    return _run("refresh")


@xw.script
def chs_snapshot() -> str:
    """Append today's scores to the History table."""
    return _run("snapshot")


@xw.script
def chs_calibrate() -> str:
    """Check the Model against renewals (History + outcomes); report, never apply."""
    return _run("calibrate")


@xw.script
def chs_rebuild() -> str:
    """Regenerate the native formulas for the Model as it is now (a metric added or
    removed): the saved workbook is rebuilt into '<name> (rebuilt)' and opened."""
    return _run("rebuild_beside")
