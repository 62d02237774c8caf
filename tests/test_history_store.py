"""`chs snapshot BOOK` writes History through the package splicer: every part it does not
own is kept byte for byte, cached formula values included (workbooks/saas_example.xlsx)."""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chs_excel.io.history_store import read_history
from chs_excel.xlsx.package import Package
from tests.cli_runner import digest, run

EXAMPLE = Path(__file__).resolve().parent.parent / "workbooks" / "saas_example.xlsx"
# The package's index parts, which any added or replaced sheet changes.
INDEX_PARTS = {"[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
               "xl/styles.xml"}


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def history_parts(path: Path) -> set[str]:
    """The parts History owns in `path`: its sheets, their relationships and Tables."""
    package = Package(path)
    tables = package.tables()
    sheets = {tables[t].sheet for t in ("History", "HistoryWeights") if t in tables}
    owned = set()
    for sheet in package.sheets():
        if sheet["name"] in sheets:
            owned |= {sheet["part"], package._rels_path(sheet["part"])}
            owned |= {r["Target"] for r in package.relationships(sheet["part"])}
    return owned


def scores_sheet(path: Path) -> pd.DataFrame:
    return pd.read_excel(path, sheet_name="Scores", engine="calamine")


@pytest.fixture
def book(tmp_path: Path) -> Path:
    return Path(shutil.copyfile(EXAMPLE, tmp_path / "book.xlsx"))


def test_snapshot_keeps_every_part_it_does_not_own(tmp_path: Path, book: Path) -> None:
    before, scores = parts(book), scores_sheet(book)
    owned_before = history_parts(book)
    out = tmp_path / "out.xlsx"
    code, text = run("snapshot", str(book), "--date", "2026-03-01", "-o", str(out))
    assert code == 0, text
    after = parts(out)
    owned = INDEX_PARTS | owned_before | history_parts(out)
    kept = [n for n in before if n not in owned]
    assert len(kept) >= 38  # of the example's 45 parts
    assert [n for n in kept if after.get(n) != before[n]] == []
    assert set(after) - set(before) <= history_parts(out)
    assert set(before) - set(after) <= owned_before
    # the cached formula values are still there: calamine and pandas read the same Scores
    again = scores_sheet(out)
    assert scores["health"].notna().sum() == len(scores) == 500
    assert int(again.notna().sum().sum()) == int(scores.notna().sum().sum())
    pd.testing.assert_frame_equal(again, scores)
    # the History Table holds the snapshot
    history = read_history(out)
    assert history.dates == [dt.date(2026, 3, 1)] and len(history.rows) == 500
    by_id = scores.set_index("account_id")["health"]
    np.testing.assert_allclose(history.rows["health"].to_numpy(float),
                               by_id.reindex(history.rows["account_id"]).to_numpy(float))
    assert set(history.weights["date"]) == {pd.Timestamp("2026-03-01")}


def test_snapshot_in_place_replaces_a_day_and_appends_a_new_one(book: Path) -> None:
    scores = scores_sheet(book)
    for day in ("2026-03-01", "2026-03-01"):
        code, text = run("snapshot", str(book), "--date", day)
        assert code == 0, text
    assert "replaced the snapshot of 2026-03-01" in text
    assert read_history(book).dates == [dt.date(2026, 3, 1)]
    assert len(read_history(book).rows) == 500
    code, text = run("snapshot", str(book), "--date", "2026-04-01")
    assert code == 0, text
    history = read_history(book)
    assert history.dates == [dt.date(2026, 3, 1), dt.date(2026, 4, 1)]
    assert len(history.rows) == 1000
    assert sorted(set(history.weights["date"])) == [pd.Timestamp("2026-03-01"),
                                                    pd.Timestamp("2026-04-01")]
    pd.testing.assert_frame_equal(scores_sheet(book), scores)
    before = parts(EXAMPLE)
    after = parts(book)
    owned = INDEX_PARTS | history_parts(EXAMPLE) | history_parts(book)
    assert [n for n in before if n not in owned and after.get(n) != before[n]] == []


def test_snapshot_to_a_copy_leaves_the_book_untouched(tmp_path: Path, book: Path) -> None:
    before = digest(book)
    out = tmp_path / "copy.xlsx"
    code, text = run("snapshot", str(book), "--date", "2026-03-01", "-o", str(out))
    assert code == 0, text
    assert digest(book) == before
    assert read_history(book).rows.empty
    assert read_history(out).dates == [dt.date(2026, 3, 1)]


def test_history_after_a_snapshot_is_formatted_and_prints(tmp_path: Path) -> None:
    """chs snapshot rewrote History with key headers, General numbers (49.5590188796711)
    and one tiny printed page: headers now show words, numbers their formats, the sheet
    prints landscape one page wide."""
    import openpyxl

    from chs_excel.io.sample import make_sample
    from tests.cli_runner import run
    make_sample(40, seed=1).to_csv(tmp_path / "a.csv", index=False)
    assert run("score", str(tmp_path / "a.csv"), "-o", str(tmp_path / "b.xlsx"))[0] == 0
    counts = []
    for _ in range(2):                               # twice: the styles do not pile up
        code, out = run("snapshot", str(tmp_path / "b.xlsx"), "--date", "2026-03-01")
        assert code == 0, out
        counts.append(zipfile.ZipFile(tmp_path / "b.xlsx").read("xl/styles.xml")
                      .count(b"<numFmt "))
    assert counts[0] == counts[1]
    ws = openpyxl.load_workbook(tmp_path / "b.xlsx")["History"]
    head = {c.value: c.number_format for c in ws[1]}
    assert head["account_id"] == ';;;"Account ID"' and head["arr"] == ';;;"ARR"'
    row = {ws.cell(1, c.column).value: c for c in ws[2]}
    assert row["arr"].number_format == "#,##0" and row["health"].number_format == "0.0"
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
    assert ws.page_setup.fitToHeight == 0 and ws.sheet_properties.pageSetUpPr.fitToPage
