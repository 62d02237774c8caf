"""The XlsxWriter wrapper (chs_excel.xlsx.writer): shared formulas, sizes, text stays text.

Shared formulas are checked three ways: the XML is what Excel saves for a filled-down
column, openpyxl reads each follower back as the per-row formula, and LibreOffice
computes the same values from shared and from per-cell formulas.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from chs_excel.core.engine import score
from chs_excel.core.model import default_model
from chs_excel.io.sample import make_sample, reference_date
from chs_excel.sheets.workbook import write_scored_workbook
from chs_excel.xlsx import libreoffice as lo
from chs_excel.xlsx.writer import Workbook

# Bytes of Scores XML per account. With shared formulas a cell is its reference, style,
# `<f t="shared" si="N"/>` and cached value (about 62 bytes; 47 cells a row on the
# default model): ~2.9 KB, down from ~6.9 KB with a formula per cell. The playbooks
# (issue 13) add 16 cells a row (4 outputs, 8 playbook, 2 History and 2 rank helpers)
# and the cached action texts: ~3.9 KB.
MAX_BYTES_PER_ACCOUNT = 4_400  # 4,084 with the 9 default playbooks, action_playbook, action_due


def sheet_xml(path: Path, name: str) -> str:
    with zipfile.ZipFile(path) as z:
        sheets = re.findall(r'<sheet name="([^"]+)"', z.read("xl/workbook.xml").decode())
        return z.read(f"xl/worksheets/sheet{sheets.index(name) + 1}.xml").decode()


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    accounts = make_sample(1_000, seed=3)
    scoring = score(default_model(), accounts, as_of=reference_date(3))
    path = tmp_path_factory.mktemp("w") / "scored.xlsx"
    write_scored_workbook(path, default_model(), accounts, scoring, as_of=reference_date(3))
    return path


def test_scores_columns_are_shared_formulas_with_cached_values(scored: Path) -> None:
    xml = sheet_xml(scored, "Scores")
    masters = re.findall(r'<c r="([A-Z]+)2"[^>]*><f t="shared" ref="([A-Z]+)2:([A-Z]+)(\d+)" '
                         r'si="(\d+)">[^<]+</f><v>', xml)
    assert len(masters) > 40
    for letter, first, last, end, _ in masters:
        assert letter == first == last and end == "1001"
    assert sorted(int(m[4]) for m in masters) == list(range(len(masters)))
    followers = re.findall(r'<c r="[A-Z]+(\d+)"[^>]*><f t="shared" si="\d+"/><v>', xml)
    assert len(followers) == len(masters) * 999
    assert "<f>" not in xml  # no per-cell formula left on Scores
    assert len(re.findall(r"<f\b", xml)) == len(masters) * 1000


def test_scores_xml_per_account_is_small(scored: Path) -> None:
    assert len(sheet_xml(scored, "Scores").encode()) / 1_000 < MAX_BYTES_PER_ACCOUNT


def test_openpyxl_reads_followers_as_the_per_row_formula(scored: Path) -> None:
    ws = openpyxl.load_workbook(scored)["Scores"]
    for col in range(1, ws.max_column + 1):
        master = ws.cell(2, col).value
        assert isinstance(master, str) and master.startswith("=")
        assert ws.cell(777, col).value == re.sub(r"(?<=[A-Z])2(?![0-9])", "777", master)


def test_text_starting_like_a_formula_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "text.xlsx"
    book = Workbook(path, constant_memory=True)
    ws = book.add_worksheet("T")
    ws.write_value(0, 0, "=1+1")
    ws.write_rows([("+SUM(A1)", "@x", "-2+3")], [ws.write_value] * 3, [None] * 3)
    book.close()
    frame_path = tmp_path / "frame.xlsx"
    book = Workbook(frame_path)
    book.add_worksheet("T").write_frame_table("T", pd.DataFrame(
        {"a": ["=1+1", "ok"], "b": [1.5, None]}), [None, book.fmt["score"]])
    book.close()
    ws = openpyxl.load_workbook(path)["T"]
    assert [ws["A1"].value, ws["A2"].value, ws["B2"].value, ws["C2"].value] == \
        ["=1+1", "+SUM(A1)", "@x", "-2+3"]
    assert all(ws[c].data_type == "s" for c in ("A1", "A2", "B2", "C2"))
    ws = openpyxl.load_workbook(frame_path)["T"]
    assert ws["A2"].value == "=1+1" and ws["A2"].data_type == "s"
    assert ws["B2"].value == 1.5 and ws.tables["T"].ref == "A1:B3"


def test_shared_groups_recalculate_like_per_cell_formulas(tmp_path: Path) -> None:
    lo.soffice()
    path = tmp_path / "shared.xlsx"
    templates = ["IF($A§>5,$A§*$B§,-$A§)", 'IF(ISNUMBER($B§),SUM($A$2:$A§)+$B§,"x")',
                 "$C§+$D§"]
    book = Workbook(path)  # not streaming: the two blocks are written one after the other
    ws = book.add_worksheet("S")
    rows = 30
    for r in range(1, rows + 1):
        ws.write_number(r, 0, r * 1.5)
        ws.write_value(r, 1, None if r % 7 == 0 else r - 10)
    for shared, col in ((True, 2), (False, 5)):
        heads = [t.replace("$C", f"${'CF'[col == 5]}").replace(
            "$D", f"${'DG'[col == 5]}") for t in templates]
        ws.stream_formulas(1, heads, [None] * 3, [[999] * rows] * 3, rows, col=col,
                           shared=shared)
    book.close()
    xml = sheet_xml(path, "S")
    assert xml.count('t="shared" ref=') == 3 and xml.count("<f>") == 3 * rows
    recalculated = lo.values(lo.recalculate(path, tmp_path / "lo"))["S"]
    got = [[recalculated.cell(r, c).value for c in range(3, 9)] for r in range(2, rows + 2)]
    assert all(row[:3] == row[3:] for row in got)
    assert all(999 not in row for row in got)  # recalculated, not the stale cache
    formulas = openpyxl.load_workbook(path)["S"]
    for r in range(2, rows + 2):
        assert formulas.cell(r, 3).value == "=" + templates[0].replace("§", str(r))
        assert formulas.cell(r, 4).value == "=" + templates[1].replace("§", str(r))


# ---------------------------------------------------------------- readable cells

def test_fitted_width_holds_the_longest_cell_as_displayed_up_to_the_cap() -> None:
    from chs_excel.xlsx.writer import fitted_width
    names = pd.Series(["Harbor Light Health Systems", "Ann", None])     # 27 characters
    assert fitted_width("Name", names) == 27 + 2
    money = pd.Series([1234567.0, -5.0])                                # "1,234,567": 9
    assert fitted_width("ARR", money, "money") == 9 + 2
    assert fitted_width("ARR", money) == len("1234567") + 2             # no format: plain
    # a header wider than its cells: 1.1 per bold character and 4 for the filter button
    assert fitted_width("Points at stake", pd.Series([1.5]), "score") == \
        pytest.approx(15 * 1.1 + 4)
    assert fitted_width("x", pd.Series(["y" * 200]), cap=40) == 40


def test_wrapped_height_counts_the_lines_words_make() -> None:
    from chs_excel.xlsx.writer import wrapped_height
    # width 10 -> 10 characters a line: "aaaa bbbb" fits one line, a third word wraps
    assert wrapped_height("aaaa bbbb", 10) == 1 * 15 + 3
    assert wrapped_height("aaaa bbbb cccc", 10) == 2 * 15 + 3
    assert wrapped_height("one\ntwo\nthree", 50) == 3 * 15 + 3          # line breaks count
    assert wrapped_height("w" * 25, 10) == 3 * 15 + 3                   # a long word splits
    assert wrapped_height("short", 110, font_size=12) == pytest.approx(15 * 12 / 11 + 3,
                                                                       abs=0.05)


def test_header_cell_keeps_the_key_and_shows_the_label(tmp_path: Path) -> None:
    path = tmp_path / "h.xlsx"
    book = Workbook(path)
    ws = book.add_worksheet("S")
    ws.add_streamed_table("T", ["raw_health", "Usage", 'a"b'], 0, 0, 1,
                          header_formats=book.header_formats(["raw_health", "Usage", 'a"b']))
    book.close()
    sheet = openpyxl.load_workbook(path)["S"]
    assert [c.value for c in sheet[1]] == ["raw_health", "Usage", 'a"b']
    assert sheet["A1"].number_format == ';;;"Raw health"'
    assert sheet["B1"].number_format == "General"       # already words: nothing to show
    assert sheet["C1"].number_format == "General"       # a quote cannot go in a format
    assert [c.name for c in sheet.tables["T"].tableColumns] == ["raw_health", "Usage", 'a"b']
