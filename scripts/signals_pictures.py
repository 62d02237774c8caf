"""Render the live signals' sheets to docs/img/signals-*.png (docs/signals-workbook.md):
a source sheet, Accounts with its signal columns, the Model's signal Tables.

    PYTHONPATH=. python scripts/signals_pictures.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chs_excel.sheets.workbook import write_template  # noqa: E402
from scripts.forecast_pictures import render  # noqa: E402
from tests.test_signals_workbook import AS_OF, _inputs, _model  # noqa: E402

IMG = ROOT / "docs" / "img"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="chs-signals-") as folder:
        tmp = Path(folder)
        accounts, sources = _inputs()
        book = tmp / "signals_book.xlsx"
        write_template(book, _model(), accounts, rows=len(accounts), as_of=AS_OF,
                       sources=sources)
        for marker, name in (("_block", "signals-source.png"),
                             ("_tickets_from", "signals-accounts.png"),
                             ("SignalFilters", "signals-model.png")):
            render(book, marker, IMG / name, tmp)
    print("Wrote docs/img/signals-source.png, signals-accounts.png, signals-model.png")


if __name__ == "__main__":
    main()
