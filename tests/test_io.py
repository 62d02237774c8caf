"""Reading accounts: typing cells as a spreadsheet would, row numbers, and every bad file."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import msoffcrypto
import pandas as pd
import pytest
import xlsxwriter

from chs_excel.core.errors import InputError
from chs_excel.io.accounts import read_accounts


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]],
               table: tuple[str, int, int] | None = None) -> Path:
    """A workbook with rows per sheet; `table` = (sheet, first_row, first_col) of `Accounts`."""
    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False})
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets.items():
        ws = book.add_worksheet(name)
        r0, c0 = (table[1], table[2]) if table and table[0] == name else (0, 0)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, dt.date):
                    ws.write_datetime(r0 + r, c0 + c, value, date_format)
                elif value is not None:
                    ws.write(r0 + r, c0 + c, value)
        if table and table[0] == name:
            ws.add_table(r0, c0, r0 + len(rows) - 1, c0 + len(rows[0]) - 1, {
                "name": "Accounts", "columns": [{"header": h} for h in rows[0]]})
    book.close()
    return path


def test_csv_cells_are_typed_and_rows_numbered_as_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("account_id,nps,name,renewal_date,sponsor\n"
                    "00123,5,=Equals,2027-01-31,yes\n"
                    "\n"
                    "A-2,abc,'+Plus,soon,1\n"
                    "A-3,,,,\n", encoding="utf-8")
    frame = read_accounts(path)
    assert frame.index.tolist() == [2, 4, 5]          # line 3 is blank
    assert frame["account_id"].tolist() == ["00123", "A-2", "A-3"]
    assert frame["nps"].tolist()[:2] == [5.0, "abc"] and frame["nps"].iloc[2] is None
    assert frame["name"].tolist()[:2] == ["=Equals", "+Plus"]   # csv escape removed
    assert frame["renewal_date"].iloc[0] == pd.Timestamp("2027-01-31")
    assert frame["renewal_date"].iloc[1] == "soon"
    assert frame.attrs["source"] == str(path)


def test_csv_all_numbers_give_a_float_column_and_semicolons_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("Account ID;NPS\nx;7\ny;8.5\n", encoding="cp1252")
    frame = read_accounts(path)
    assert frame["NPS"].dtype == "float64"
    assert frame["NPS"].tolist() == [7.0, 8.5]


def test_windows_1252_csv_is_read(tmp_path: Path) -> None:
    path = tmp_path / "win.csv"
    path.write_bytes("account_id,account_name\n1,Café Müller\n".encode("cp1252"))
    assert read_accounts(path)["account_name"].tolist() == ["Café Müller"]


def test_xlsx_accounts_table_is_found_on_any_sheet(tmp_path: Path) -> None:
    rows = [["account_id", "nps", "renewal_date"], [1001.0, 7, dt.date(2027, 3, 1)],
            ["B", "x", None]]
    path = write_xlsx(tmp_path / "t.xlsx", {"Intro": [["hello"]], "Data": rows},
                      table=("Data", 4, 2))
    frame = read_accounts(path)
    assert frame.index.tolist() == [6, 7]              # header on Excel row 5
    assert frame["nps"].tolist() == [7.0, "x"]
    assert frame["renewal_date"].iloc[0] == pd.Timestamp("2027-03-01")
    assert "table Accounts" in frame.attrs["source"]


def test_xlsx_first_sheet_or_named_sheet(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "s.xlsx", {"One": [["account_id"], ["a"]],
                                            "Two": [["account_id"], ["b"], ["c"]]})
    assert read_accounts(path)["account_id"].tolist() == ["a"]
    assert read_accounts(path, "Two")["account_id"].tolist() == ["b", "c"]
    with pytest.raises(InputError, match=r"no sheet named 'Three' \(sheets: One, Two\)"):
        read_accounts(path, "Three")


@pytest.mark.parametrize(("content", "message"), [
    (None, "file not found"),
    (b"", "the file is empty"),
    (b"   \n", "the file is empty"),
    (b"account_id,nps\n", "has a header but no accounts"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "looks binary"),
])
def test_bad_csv_files(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        read_accounts(path)
    assert str(path) in str(err.value)


def test_corrupt_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip file at all" * 10)
    with pytest.raises(InputError, match="not a valid xlsx"):
        read_accounts(path)


def test_xlsx_zip_without_workbook(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    with pytest.raises(InputError, match=str(path)):
        read_accounts(path)


def test_password_protected_xlsx(tmp_path: Path) -> None:
    plain = write_xlsx(tmp_path / "plain.xlsx", {"S": [["account_id"], ["a"]]})
    locked = tmp_path / "locked.xlsx"
    with plain.open("rb") as src, locked.open("wb") as dst:
        msoffcrypto.OfficeFile(src).encrypt("secret", dst)
    with pytest.raises(InputError, match="password-protected"):
        read_accounts(locked)


def test_header_only_xlsx_and_sheet_option_on_csv(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "h.xlsx", {"S": [["account_id", "nps"]]})
    with pytest.raises(InputError, match="header but no accounts"):
        read_accounts(path)
    csv = tmp_path / "a.csv"
    csv.write_text("account_id\na\n")
    with pytest.raises(InputError, match="--sheet applies to xlsx"):
        read_accounts(csv, "Sheet1")


def test_reading_never_modifies_the_file(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "keep.xlsx", {"S": [["account_id", "nps"], ["a", 1]]})
    before = path.read_bytes(), path.stat().st_mtime_ns
    read_accounts(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_plain_numbers_read_as_to_numeric_reads_them() -> None:
    """The Arrow fast path gives to_numeric's answer, cell for cell (NaN where not)."""
    from chs_excel.io.accounts import _plain_numbers
    cells = ["12", "-3.5", "+7", ".25", "1e5", "-1.5E-3", "007", "1e400", "inf", "nan",
             "12a", "1,5", "", "0.1000000000000000055511151231257827", "5."]
    text = pd.Series(cells, index=range(10, 10 + len(cells)), dtype=str)
    got = _plain_numbers(text)
    want = [12.0, -3.5, 7.0, 0.25, 1e5, -0.0015, 7.0, float("inf"), float("inf"),
            float("nan"), float("nan"), float("nan"), float("nan"), 0.1, 5.0]
    assert list(got.index) == list(text.index)
    assert got.tolist() == pytest.approx(want, nan_ok=True, rel=0, abs=0)
