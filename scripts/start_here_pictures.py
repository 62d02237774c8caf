"""Pictures of Start here after a paste: % cells (docs/img/start-here-percent.png) and an
identity header spelled the user's way (docs/img/start-here-unmapped.png).

300 sample accounts are pasted into a blank template as a user would (openpyxl writes the
cells, the Accounts Table is resized), LibreOffice recalculates, and the Start here page is
rendered to PNG with pdftoppm (scripts/forecast_pictures.py's `render`).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openpyxl  # noqa: E402
import pandas as pd  # noqa: E402
from openpyxl.utils import get_column_letter  # noqa: E402

from chs_excel.core.model import default_model  # noqa: E402
from chs_excel.io.sample import make_sample  # noqa: E402
from chs_excel.sheets.workbook import write_template  # noqa: E402
from chs_excel.xlsx import libreoffice as lo  # noqa: E402
from scripts.forecast_pictures import IMG, render  # noqa: E402


def paste(template: Path, accounts: pd.DataFrame, out: Path, percent: set[str]) -> None:
    """Accounts pasted over the template's Accounts sheet; `percent` columns as 0%."""
    book = openpyxl.load_workbook(template)
    ws = book["Accounts"]
    for row in ws.iter_rows(min_row=1, max_row=ws.max_row):
        for cell in row:
            cell.value = None
    for j, header in enumerate(accounts.columns, start=1):
        ws.cell(1, j).value = str(header)
        for i, value in enumerate(accounts[header].tolist(), start=2):
            cell = ws.cell(i, j)
            cell.value = None if pd.isna(value) else (
                value.to_pydatetime() if isinstance(value, pd.Timestamp) else value)
            if header in percent:
                cell.number_format = "0%"
    table = ws.tables["Accounts"]
    table.ref = f"A1:{get_column_letter(len(accounts.columns))}{len(accounts) + 1}"
    table.autoFilter.ref = table.ref
    table.tableColumns = []
    book.save(out)


def main() -> None:
    model = default_model()
    accounts = make_sample(300, seed=0, dirty=False)
    pct = {m.column for m in model.metrics if m.column.endswith("_pct")}
    with tempfile.TemporaryDirectory(prefix="chs-start-") as folder:
        tmp = Path(folder)
        template = tmp / "template.xlsx"
        write_template(template, model, None, rows=len(accounts))
        fractions = accounts.copy()
        for c in pct:
            fractions[c] = pd.to_numeric(fractions[c], errors="coerce") / 100
        for name, frame, percent in (
                ("percent", fractions, pct),
                ("unmapped", accounts.rename(columns={"arr": "ARR ($)",
                                                      "owner": "Account Owner"}), set())):
            pasted = tmp / f"{name}.xlsx"
            paste(template, frame, pasted, percent)
            done = lo.recalculate(pasted, tmp / f"lo-{name}")
            render(done, "Where things are", IMG / f"start-here-{name}.png", tmp)
    print("Wrote docs/img/start-here-percent.png and docs/img/start-here-unmapped.png")


if __name__ == "__main__":
    main()
