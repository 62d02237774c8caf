"""One text-key rule in the engine, the readers and the formulas (docs/scoring.md, "Text
keys"): no-break and ideographic spaces, tabs, line breaks and doubled inner spaces around
flags, categories, segments, quartile groups and rule values, and numbers padded with such
spaces, checked by LibreOffice recalculation against the engine.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd

from chs_excel.core.engine import score
from chs_excel.core.model import Model
from chs_excel.io.accounts import read_accounts
from chs_excel.sheets.workbook import write_template
from chs_excel.xlsx import libreoffice as lo
from tests.test_formulas import PAD, assert_scores_equal

AS_OF = dt.date(2025, 3, 31)
NBSP, IDEO = "\u00a0", "\u3000"


def spaces_model() -> Model:
    """Labels with inner spaces, text rule values spelled with odd spaces, number rules."""
    return Model.from_dict({
        "name": "text keys", "scale": 100, "bands": {"red_below": 40, "green_from": 70},
        "components": {"Usage": 60, "Money": 40},
        "metrics": [
            {"column": "usage_pct", "component": "Usage", "weight": 2, "method": "linear",
             "worst": 0, "best": 100},
            {"column": "days_late", "component": "Money", "weight": 1, "method": "linear",
             "worst": 60, "best": 0},
            {"column": "sponsor", "component": "Usage", "weight": 1, "method": "flag",
             "good": True},
            {"column": "contract", "component": "Money", "weight": 1, "method": "category",
             "points": {"Multi year": 100, "Annual": 60, "Month to month": 20}},
        ],
        "rules": [
            {"name": "Very late", "column": "days_late", "op": ">=", "value": 90, "cap": 39},
            {"name": "Short contract", "column": "contract", "op": "=",
             "value": f"month{NBSP}to  month", "cap": 55},
            {"name": "Outside north", "column": "region", "op": "<>",
             "value": f"North{IDEO}EU ", "cap": 85},
            {"name": "Big spend", "column": "spend", "op": ">", "value": 1000, "cap": 80},
        ],
        "segments": {"column": "tier", "weights": {"Big Co": {"Usage": 10, "Money": 90}}},
        "quartiles": {"by": "region"},
    })


def spaced_accounts() -> pd.DataFrame:
    """Each value spelled with the spaces an export or a web paste leaves."""
    rows: list[dict[str, Any]] = [
        dict(usage_pct=f"95{NBSP}", days_late=f"{IDEO}95\t", contract="Multi  year",
             tier="Big Co", region="North EU", spend=f"1500{NBSP}", arr=f"12000{NBSP}"),
        dict(usage_pct="\n60\r\n", days_late=" 10 ", contract=f"multi{NBSP}{NBSP}year",
             tier=f"big{IDEO}{IDEO}co", region=f"north{NBSP}eu", sponsor=f"yes{NBSP}"),
        dict(usage_pct="40", days_late="90", contract="Month\tto\tmonth", tier="BIG CO\n",
             region="North\n\nEU", sponsor=f"{IDEO}NO", spend="999"),
        dict(usage_pct=70, days_late=0, contract=f"{NBSP}Month  To Month{IDEO}",
             tier="Gold", region="South  EU", sponsor="\tY\t"),
        dict(usage_pct=f"{NBSP}80{NBSP}", days_late=5, contract=f"Annual{IDEO}",
             region="south eu", sponsor="N\r\n", override_score=f"85{NBSP}",
             override_reason="trust", override_until=f"n/a{NBSP}"),
        dict(usage_pct=30, days_late=f"\t100{IDEO}", contract="annual", region="SOUTH EU",
             sponsor="x", override_score="\t20 ", override_until=f"{IDEO}NULL"),
        dict(usage_pct=50, days_late=20, contract="Multi year", region=f"north{IDEO}eu",
             sponsor=f"{NBSP}true{NBSP}", spend=f"{IDEO}1200"),
        dict(usage_pct=55, days_late=30, contract="Multi-year", region="north-eu",
             override_score=90, override_until=f" 2025-06-01{NBSP}",
             renewal_date="2025-05-01\t"),
    ]
    columns = ["account_id", "usage_pct", "days_late", "sponsor", "contract", "tier",
               "region", "spend", "arr", "renewal_date", "override_score",
               "override_reason", "override_until"]
    frame = pd.DataFrame(rows).reindex(columns=columns).astype(object)
    frame = frame.where(frame.notna(), None)
    frame["account_id"] = [f"{NBSP}T{i}\t" if i % 2 else f"T{i}" for i in range(len(frame))]
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return frame


def accounts_cells(path: Path) -> list[tuple[Any, ...]]:
    ws = openpyxl.load_workbook(path)["Accounts"]
    return list(ws.iter_rows(min_row=2, max_row=9, values_only=True))


def test_the_engine_reads_the_spaced_values_as_their_keys() -> None:
    """The engine side of the cases (independent arithmetic written out)."""
    s = score(spaces_model(), spaced_accounts(), as_of=AS_OF).scores
    assert list(s["account_id"]) == [f"T{i}" for i in range(8)]
    assert list(s["contract_score"])[:7] == [100, 100, 20, 20, 60, 60, 100]
    assert pd.isna(s["contract_score"].iloc[7])  # 'Multi-year' is another label
    assert list(s["usage_pct_score"])[:3] == [95, 60, 40]
    assert s["capped_by"].iloc[0] == "Very late; Big spend"
    assert s["capped_by"].iloc[2] == "Very late; Short contract"  # north eu: no third
    assert s["capped_by"].iloc[3] == "Short contract; Outside north"
    assert s["arr"].iloc[0] == 12000
    assert list(s["overridden"])[4:] == [True, True, False, True]
    assert s["renewal_date"].iloc[7] == pd.Timestamp("2025-05-01")
    assert s["quartile"].notna().all()


def test_spaced_values_score_alike_in_the_workbook(tmp_path: Path) -> None:
    """Written from a frame (the API) and read from a csv and an xlsx export (the readers):
    numbers padded with spaces are stored as numbers, and every Scores cell equals the
    engine after LibreOffice recalculates."""
    model, accounts = spaces_model(), spaced_accounts()
    expected = score(model, accounts, as_of=AS_OF).scores
    csv, xlsx = tmp_path / "accounts.csv", tmp_path / "accounts.xlsx"
    accounts.to_csv(csv, index=False)
    export = openpyxl.Workbook()
    export.active.append(list(accounts.columns))
    for values in accounts.itertuples(index=False):
        export.active.append(list(values))  # text cells, as an export writes them
    export.save(xlsx)
    books = []
    for name, frame in (("frame", accounts), ("csv", read_accounts(csv)),
                        ("xlsx", read_accounts(xlsx))):
        frame.index = pd.RangeIndex(2, len(frame) + 2)
        book = tmp_path / f"{name}.xlsx"
        write_template(book, model, frame, rows=len(frame) + PAD, as_of=AS_OF)
        books.append(book)
    for book in books:
        cells = accounts_cells(book)
        header = [c.value for c in openpyxl.load_workbook(book)["Accounts"][1]]
        for column, want in (("usage_pct", [95, 60, 40]), ("days_late", [95, 10, 90]),
                             ("spend", [1500, None, 999]), ("arr", [12000, None, None])):
            got = [row[header.index(column)] for row in cells[:3]]
            assert got == want, (book.name, column, got)
        assert cells[4][header.index("override_score")] == 85
        assert cells[7][header.index("override_until")] == dt.datetime(2025, 6, 1)
        assert cells[7][header.index("renewal_date")] == dt.datetime(2025, 5, 1)
    for book in books:
        assert_scores_equal(lo.recalculate(book, tmp_path / f"lo-{book.stem}"), expected)
