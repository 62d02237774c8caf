"""Formula-like text and line breaks cannot become formulas or new rows in a csv."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from chs_excel.io.accounts import read_accounts
from chs_excel.io.safe_text import formula_safe, write_csv


def test_formula_like_cells_get_an_apostrophe_numbers_do_not() -> None:
    frame = formula_safe(pd.DataFrame({"t": ["=1+1", "+x", "-y", "@z", "ok", None, " -5"],
                                       "n": range(7)}))
    assert frame["t"].tolist()[:5] == ["'=1+1", "'+x", "'-y", "'@z", "ok"]
    assert pd.isna(frame["t"].iloc[5]) and frame["t"].iloc[6] == " -5"
    assert frame["n"].tolist() == list(range(7))


def test_a_carriage_return_cannot_split_a_row(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    write_csv(pd.DataFrame({"account_id": ["A1", "A2"],
                            "account_name": ["Acme\r@SUM(1+1)", "Beta\nCo"],
                            "=Usage": [1.0, 2.0]}), path)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["account_id", "account_name", "'=Usage"],
                    ["A1", "Acme\r@SUM(1+1)", "1.0"], ["A2", "Beta\nCo", "2.0"]]
    back = read_accounts(path)
    assert back["account_name"].tolist() == ["Acme\r@SUM(1+1)", "Beta\nCo"]
