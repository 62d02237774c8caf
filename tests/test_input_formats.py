"""Real exports read like the plain file: numbers, dates, xlsx cells, structure, headers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from chs_excel.core.engine import score
from chs_excel.core.errors import InputError
from chs_excel.core.model import default_model
from chs_excel.core.vocabulary import suggest_column
from chs_excel.io.accounts import read_accounts
from chs_excel.io.sample import make_sample
from tests.cli_runner import run


def csv(tmp_path: Path, text: str, name: str = "a.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(("cell", "value"), [
    ("$12,000", 12000.0), ("USD 1,200.00", 1200.0), ("12 000 EUR", 12000.0),
    ("1\u00a0234", 1234.0), ("1\u202f234", 1234.0), ("1'234", 1234.0),
    ("(1,200)", -1200.0), ("1200-", -1200.0), ("45%", 45.0), ("-5", -5.0), ("€12", 12.0),
])
def test_export_numbers_in_point_files(tmp_path: Path, cell: str, value: float) -> None:
    path = csv(tmp_path, f'account_id,arr,nps\na,"{cell}",7.5\n')
    assert read_accounts(path)["arr"].tolist() == [value]


def test_semicolon_csv_with_decimal_commas(tmp_path: Path) -> None:
    path = csv(tmp_path, "account_id;arr;nps;csat\na;€ 1.234,50;7,5;4\nb;1.200;8;4,25\n")
    frame = read_accounts(path)
    assert frame["arr"].tolist() == [1234.5, 1200.0]     # '1.200' is 1200 in a comma file
    assert frame["nps"].tolist() == [7.5, 8.0]
    assert frame["csat"].tolist() == [4.0, 4.25]
    # forced: the same file read with --decimal point keeps '7,5' as text
    assert read_accounts(path, decimal="point")["nps"].tolist()[0] == "7,5"


def test_a_file_with_both_decimal_conventions_is_an_error(tmp_path: Path) -> None:
    path = csv(tmp_path, "account_id,arr,nps\na,\"1.234,5\",7.5\n")
    with pytest.raises(InputError, match=r"row 2, column 'arr' has '1.234,5' but row 2, "
                                         r"column 'nps' has '7.5'.*--decimal"):
        read_accounts(path)


def test_ids_and_names_are_never_parsed_as_numbers(tmp_path: Path) -> None:
    path = csv(tmp_path, "account_id,account_name,nps\n00123,\"1,234\",5\n")
    frame = read_accounts(path)
    assert frame["account_id"].tolist() == ["00123"]
    assert frame["account_name"].tolist() == ["1,234"]


@pytest.mark.parametrize("cell", ["2027-02-01", "2/1/2027", "01.02.2027", "46419",
                                  "2027-02-01 13:45", "2027-02-01T13:45:00Z",
                                  "2027-02-01T23:45:00-05:00", "2/1/27"])
def test_date_forms(tmp_path: Path, cell: str) -> None:
    path = csv(tmp_path, f"account_id,renewal_date\na,{cell}\nb,12/31/2027\n")
    assert read_accounts(path)["renewal_date"].iloc[0] == pd.Timestamp("2027-02-01")


def test_day_first_column_and_mixed_timezones(tmp_path: Path) -> None:
    path = csv(tmp_path, "account_id,renewal_date,override_until\n"
                         "a,01/02/2027,2027-02-01T10:00:00+01:00\n"
                         "b,25/12/2027,2027-02-01T10:00:00-08:00\n")
    frame = read_accounts(path)
    assert frame["renewal_date"].tolist() == [pd.Timestamp("2027-02-01"),
                                              pd.Timestamp("2027-12-25")]
    assert frame["override_until"].tolist() == [pd.Timestamp("2027-02-01")] * 2


def test_ambiguous_and_contradicting_date_columns(tmp_path: Path) -> None:
    path = csv(tmp_path, "account_id,renewal_date\na,01/02/2027\nb,03/04/2027\n")
    with pytest.raises(InputError, match=r"renewal_date.*--date-format"):
        read_accounts(path)
    assert read_accounts(path, date_format="dmy")["renewal_date"].iloc[1] == \
        pd.Timestamp("2027-04-03")
    both = csv(tmp_path, "account_id,renewal_date\na,13/02/2027\nb,02/13/2027\n", "b.csv")
    with pytest.raises(InputError, match=r"day-first \(row 2\) and month-first \(row 3\)"):
        read_accounts(both)


def test_dates_outside_the_engine_range_are_refused(tmp_path: Path) -> None:
    path = csv(tmp_path, "account_id,renewal_date\na,2027-01-01\nb,9999-12-31\n")
    with pytest.raises(InputError, match=r"row 3, column 'renewal_date': 9999-12-31"):
        read_accounts(path)


def test_ragged_row_is_an_error(tmp_path: Path) -> None:
    path = csv(tmp_path, "account_id,nps\na,5,\nb,6\n")
    with pytest.raises(InputError, match=r"row 2 has 3 cells but the header has 2"):
        read_accounts(path)
    later = csv(tmp_path, "account_id,nps\na,5\nb,6,7\n", "later.csv")
    with pytest.raises(InputError, match=r"row 3"):
        read_accounts(later)


def test_duplicate_header_keys_and_whitespace_in_headers(tmp_path: Path) -> None:
    path = csv(tmp_path, "account_id,nps,NPS \na,5,6\n")
    with pytest.raises(InputError, match=r"'nps' and 'NPS'"):
        read_accounts(path)
    wrapped = csv(tmp_path, 'account_id,"Logins\n30d",nps\ta\na,5,6\n', "w.csv")
    assert read_accounts(wrapped).columns.tolist()[:2] == ["account_id", "Logins 30d"]


def test_utf8_with_a_bad_byte_is_an_error_not_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes("account_id,account_name\n1,Café\n2,Müller\n".encode() + b"3,X\xff\n")
    with pytest.raises(InputError, match="line 4 is not valid UTF-8"):
        read_accounts(path)


def test_big_numeric_ids_from_xlsx_keep_their_digits(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.append(["account_id", "nps"])
    book.active.append([12345678901234567890, 5])
    book.active.append(["12345678901234567890", 6])
    book.active.append([1001, 7])
    book.save(tmp_path / "ids.xlsx")
    ids = read_accounts(tmp_path / "ids.xlsx")["account_id"].tolist()
    # the file stores the number as 1.234567890123457e+19: its digits, not an overflow
    assert ids == ["12345678901234570000", "12345678901234567890", "1001"]


def test_xlsx_percent_cells_errors_and_uncalculated_formulas(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["account_id", "email_engagement_pct", "nps"])
    ws.append(["a", 0.45, "=1/0"])
    ws.append(["b", 0.5, 7])
    ws["C3"] = "#N/A"
    ws["C3"].data_type = "e"
    ws["B2"].number_format = ws["B3"].number_format = "0%"
    book.save(tmp_path / "p.xlsx")
    frame = read_accounts(tmp_path / "p.xlsx")
    assert frame["email_engagement_pct"].tolist() == [45.0, 50.0]
    assert frame["nps"].tolist() == ["=1/0", "#N/A"]
    problems = frame.attrs["cell_problems"]
    assert problems[["row", "column", "value"]].values.tolist() == [
        [3, "nps", "#N/A"], [2, "nps", "=1/0"]]


def test_suggest_column() -> None:
    assert suggest_column("logins_30d", ["account_id", "Logins (30d)", "NPS"]) == \
        "Logins (30d)"
    assert suggest_column("logins_30d", ["account_id", "region"]) is None


def test_cli_missing_column_names_the_near_miss(tmp_path: Path) -> None:
    frame = make_sample(20, dirty=False).rename(columns={"logins_30d": "Logins (30d)"})
    frame.to_csv(tmp_path / "a.csv", index=False)
    code, out = run("score", str(tmp_path / "a.csv"), "-o", str(tmp_path / "o.csv"))
    assert code == 1
    assert "found 'Logins (30d)'; did you mean logins_30d?" in out


def test_european_export_scores_exactly_like_the_plain_file(tmp_path: Path) -> None:
    plain = make_sample(300, dirty=False)
    plain.to_csv(tmp_path / "plain.csv", index=False)
    euro = plain.copy()
    euro["arr"] = [f"€ {v:,.2f}".replace(",", " ").replace(".", ",") for v in euro["arr"]]
    for col in ("renewal_date", "override_until"):
        euro[col] = pd.to_datetime(euro[col]).dt.strftime("%d.%m.%Y")
    euro.to_csv(tmp_path / "euro.csv", index=False, sep=";", decimal=",")
    code, out = run("score", str(tmp_path / "euro.csv"), "-o", str(tmp_path / "e.csv"),
                    "--as-of", "2026-01-01", "--decimal", "comma")
    assert code == 0, out
    run("score", str(tmp_path / "plain.csv"), "-o", str(tmp_path / "p.csv"),
        "--as-of", "2026-01-01")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "e.csv"),
                                  pd.read_csv(tmp_path / "p.csv"))
    scored = score(default_model(), read_accounts(tmp_path / "euro.csv"),
                   as_of=dt.date(2026, 1, 1))
    assert np.isfinite(scored.scores["health"]).any()
