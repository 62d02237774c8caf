"""Render docs/img/{before,after}-actions.png, after-this-week.png, after-action-status.png
and after-account-path.png (issue 22, item 1).

    python scripts/action_pictures.py            # after (this checkout)
    python scripts/action_pictures.py --before   # run with the old code on PYTHONPATH

300 sample accounts (`chs sample`'s generator, seed 0) at the sample's 'today', three
statuses typed by a CSM; LibreOffice recalculates and renders, pdftoppm crops.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chs_excel.core.engine import score  # noqa: E402
from chs_excel.core.model import default_model  # noqa: E402
from chs_excel.io.sample import make_sample, reference_date  # noqa: E402
from chs_excel.sheets.workbook import write_template  # noqa: E402
from scripts.forecast_pictures import IMG, render  # noqa: E402


def main() -> None:
    before = "--before" in sys.argv
    model, as_of = default_model(), reference_date(0)
    accounts = make_sample(300, seed=0)
    with tempfile.TemporaryDirectory(prefix="chs-actions-") as folder:
        tmp = Path(folder)
        book = tmp / "book.xlsx"
        if before:
            write_template(book, model, accounts, rows=300, as_of=as_of)
            render(book, "Actions — what to do next", IMG / "before-actions.png", tmp)
            return
        scores = score(model, accounts, as_of=as_of).scores
        first = scores[scores["action_priority"] == 1].head(3)
        statuses = pd.DataFrame({
            "account_id": first["account_id"].tolist(),
            "playbook": first["action_playbook"].tolist(),
            "status": ["done", "snoozed", "not relevant"][:len(first)],
            "until": [None, as_of + pd.Timedelta(days=14), None][:len(first)],
            "note": ["Called on Monday", "Customer asked to wait for their budget",
                     "Renewal handled by the partner"][:len(first)]})
        write_template(book, model, accounts, rows=300, as_of=as_of, statuses=statuses)
        render(book, "Actions — what to do next", IMG / "after-actions.png", tmp)
        render(book, "This week — actions due", IMG / "after-this-week.png", tmp)
        render(book, "Customer asked to wait", IMG / "after-action-status.png", tmp)
        render(book, "Path to Green", IMG / "after-account-path.png", tmp)


if __name__ == "__main__":
    main()
