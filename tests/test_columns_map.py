"""`columns:` maps model keys to the user's headers; unread identity columns are named.

The pinned example `columns: {arr: "ARR ($)", owner: "Account Owner", renewal_date:
"Renewal Date (UTC)"}` is carried by the YAML, the Model sheet (Table `Columns`), the
reader, the engine, the live formulas (LibreOffice recalculation) and `chs score`.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from chs_excel.core.engine import score
from chs_excel.core.errors import ModelError
from chs_excel.core.model import Model
from chs_excel.io.accounts import read_accounts
from chs_excel.io.safe_text import write_csv
from chs_excel.io.workbook import read_workbook
from chs_excel.xlsx import libreoffice as lo
from tests.cli_runner import run
from tests.test_by_header import blank_template, paste_accounts
from tests.test_formulas import AS_OF, PAD, assert_scores_equal, edge_accounts, edge_model

COLUMNS = {"arr": "ARR ($)", "owner": "Account Owner", "renewal_date": "Renewal Date (UTC)"}


def mapped_model() -> Model:
    return Model.from_dict({**edge_model().to_dict(), "columns": COLUMNS})


def users_accounts() -> pd.DataFrame:
    """The edge accounts with the user's own headers for arr, owner and renewal_date."""
    return edge_accounts().rename(columns=COLUMNS)


def test_columns_round_trip_yaml_and_model_sheet(tmp_path: Path) -> None:
    model = mapped_model()
    assert model.columns == COLUMNS
    assert Model.from_dict(model.to_dict()).columns == COLUMNS
    tables = model.to_frame()
    assert tables["Columns"].to_dict("records") == [
        {"key": "arr", "header": "ARR ($)"}, {"key": "owner", "header": "Account Owner"},
        {"key": "renewal_date", "header": "Renewal Date (UTC)"}]
    assert Model.from_frame(tables).columns == COLUMNS
    # through a built workbook's Model sheet, as `chs rebuild` reads it
    template = blank_template(tmp_path, model, 3)
    assert read_workbook(template).model.columns == COLUMNS


def test_two_keys_for_one_header_are_refused() -> None:
    with pytest.raises(ModelError, match="both read header"):
        Model.from_dict({**edge_model().to_dict(),
                         "columns": {"arr": "ARR", "owner": " arr"}})


def test_engine_reads_the_mapped_headers() -> None:
    accounts = users_accounts()
    scoring = score(mapped_model(), accounts, as_of=AS_OF)
    # independent: the values under the user's headers, by hand
    assert scoring.scores["arr"].tolist()[:3] == [1000.0, 2000.0, 3000.0]
    assert scoring.scores["owner"].tolist() == edge_accounts()["owner"].tolist()
    assert scoring.unread == ()
    unmapped = score(edge_model(), accounts, as_of=AS_OF)
    assert "arr" not in unmapped.scores.columns
    said = dict(unmapped.unread)
    assert set(said) == {"arr", "owner", "renewal_date"}
    assert "found 'ARR ($)': did you mean arr?" in said["arr"]
    assert "found 'Account Owner'" in said["owner"]


def test_cli_names_unread_columns_in_console_and_data_issues(tmp_path: Path) -> None:
    model_path = tmp_path / "model.yaml"
    edge_model().save(model_path)
    data = tmp_path / "accounts.csv"
    write_csv(users_accounts(), data)
    out = tmp_path / "scores.xlsx"
    code, output = run("score", str(data), "--model", str(model_path), "-o", str(out),
                       "--as-of", "2025-01-01")
    assert code == 0, output
    assert "Not read: column 'arr' not found" in output and "'ARR ($)'" in output
    issues = read_accounts(out, "Data issues")
    unread = issues[issues["column"].isin(["arr", "owner", "renewal_date"])]
    assert len(unread) == 3 and (unread["row"] == 1).all()
    # mapped: the scores carry them and nothing is said
    Model.from_dict({**edge_model().to_dict(), "columns": COLUMNS}).save(model_path)
    code, output = run("score", str(data), "--model", str(model_path), "-o", str(out),
                       "--as-of", "2025-01-01")
    assert code == 0 and "Not read" not in output, output
    book = openpyxl.load_workbook(out, read_only=True)
    header = next(book["Scores"].iter_rows(values_only=True))
    assert {"arr", "owner", "renewal_date", "expected_arr"} <= set(header)


def test_live_template_reads_the_mapped_headers_like_the_engine(tmp_path: Path) -> None:
    model = mapped_model()
    accounts = users_accounts()
    accounts["region"] = accounts["region"].where(
        accounts["region"].astype(str).str.strip() != "")
    template = blank_template(tmp_path, model, len(accounts) + PAD)
    head = next(openpyxl.load_workbook(template)["Accounts"].iter_rows(values_only=True))
    assert {"ARR ($)", "Account Owner", "Renewal Date (UTC)"} <= set(head)
    pasted = tmp_path / "pasted.xlsx"
    paste_accounts(template, accounts, pasted, as_of=AS_OF)
    expected = score(model, read_accounts(pasted, "Accounts", columns=model.columns),
                     as_of=AS_OF).scores
    recalculated = lo.recalculate(pasted, tmp_path / "lo")
    assert_scores_equal(recalculated, expected)


def test_live_template_names_an_unmapped_identity_header(tmp_path: Path) -> None:
    model = edge_model()
    accounts = users_accounts()
    template = blank_template(tmp_path, model, len(accounts) + PAD)
    pasted = tmp_path / "pasted.xlsx"
    paste_accounts(template, accounts, pasted, as_of=AS_OF)
    book = lo.values(lo.recalculate(pasted, tmp_path / "lo"))
    start = [r[0] for r in book["Start here"].iter_rows(values_only=True)]
    said = [t for t in start if isinstance(t, str) and "not found" in t]
    assert said, start
    assert all(f"{k} not found" in said[0] for k in COLUMNS), said[0]
    assert "columns: {arr: \"ARR ($)\"}" in said[0]
