"""Render docs/img/parents.png: the Parents sheet (issue 22, item 4).

    python scripts/parents_pictures.py

300 sample accounts (`chs sample`'s generator, seed 0) at the sample's 'today', grouped
under a few group names and under some of the accounts themselves (`group_parents`);
LibreOffice recalculates and renders, pdftoppm crops.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chs_excel.core.model import default_model  # noqa: E402
from chs_excel.io.sample import make_sample, reference_date  # noqa: E402
from chs_excel.sheets.workbook import write_template  # noqa: E402
from scripts.forecast_pictures import IMG, render  # noqa: E402

GROUPS = ("Globex Group", "Initech Holdings", "Umbrella Corp", "Stark Industries",
          "Wayne Enterprises")


def group_parents(accounts: pd.DataFrame) -> pd.DataFrame:
    """Every third account has no parent (some of them are parents); the others belong to
    a group name or to one of the first parentless accounts."""
    i = np.arange(len(accounts))
    ids = accounts["account_id"].to_numpy(dtype=object)
    parent = np.where(i % 3 == 1, np.array(GROUPS, dtype=object)[i % len(GROUPS)],
                      ids[np.minimum(3 * (i % 7), len(ids) - 1)])
    return accounts.assign(parent_id=np.where(i % 3 == 0, None, parent))


def main() -> None:
    model, as_of = default_model(), reference_date(0)
    accounts = group_parents(make_sample(300, seed=0))
    with tempfile.TemporaryDirectory(prefix="chs-parents-") as folder:
        tmp = Path(folder)
        book = tmp / "book.xlsx"
        write_template(book, model, accounts, rows=300, as_of=as_of)
        render(book, "one level (its own accounts", IMG / "parents.png", tmp)


if __name__ == "__main__":
    main()
