"""The Account sheet, recalculated by LibreOffice, equals the engine for the account picked;
the Paths Table holds the engine's paths; the trend reads History."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from chs_excel.core.engine import score
from chs_excel.core.model import default_model
from chs_excel.core.path import path_to_green
from chs_excel.io.sample import make_sample, reference_date
from chs_excel.sheets.workbook import write_template
from chs_excel.xlsx import libreoffice as lo

MODEL = default_model()
AS_OF = reference_date(4)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("account")
    accounts = make_sample(120, seed=4)
    scores = score(MODEL, accounts, as_of=AS_OF).scores
    ids = scores["account_id"].tolist()
    # Two snapshots of the third account (50 then 61.5): the trend block reads them.
    history = pd.DataFrame({
        "date": pd.to_datetime(["2025-11-01", "2025-12-01", "2025-12-01"]),
        "model": "SaaS default", "version": "1", "account_id": [ids[2], ids[2], ids[3]],
        "owner": None, "segment": None, "arr": 1000.0, "health": [50.0, 61.5, 10.0],
        "band": ["Yellow", "Yellow", "Red"], "quartile": [2, 2, 4],
        **{c: [50.0, 60.0, 10.0] for c in MODEL.components}})
    book = folder / "book.xlsx"
    write_template(book, MODEL, accounts, rows=150, as_of=AS_OF, history=history)
    return book, accounts, scores


def account_values(path: Path) -> dict[str, object]:
    """Label -> value (column B) of the recalculated Account sheet, and its component,
    metric and path rows."""
    rows = lo.sheet_rows(path, "Account")
    return {str(r[0]): r[1] for r in rows if r and r[0] is not None}


def pick(book: Path, account: str, out: Path) -> Path:
    """The workbook with another account picked (the cream cell B3), recalculated."""
    wb = openpyxl.load_workbook(book)
    wb["Account"]["B3"] = account
    out.mkdir(exist_ok=True)
    wb.save(out / "picked.xlsx")
    return lo.recalculate(out / "picked.xlsx", out / "lo")


def test_account_sheet_equals_the_engine(built, tmp_path: Path) -> None:
    book, accounts, scores = built
    paths = path_to_green(MODEL, accounts, scores).summary
    wb = openpyxl.load_workbook(book)
    assert "Paths" in wb["Paths"].tables
    validation = wb["Account"].data_validations.dataValidation[0]
    assert validation.type == "list" and "Scores!$A$2" in validation.formula1
    default = wb["Account"]["B3"].value
    first_with_path = scores["account_id"][(paths["path_steps"].fillna(0) > 0)].iloc[0]
    assert default == first_with_path
    for account, folder in ((default, None), (scores["account_id"].iloc[2], "two")):
        path = lo.recalculate(book, tmp_path / "lo") if folder is None \
            else pick(book, account, tmp_path / folder)
        got = account_values(path)
        row = scores.set_index("account_id").loc[account]
        assert got["Health"] == pytest.approx(row["health"])
        assert got["Band"] == row["band"]
        assert got["Weakest component"] == row["weakest_component"]
        assert got["Points at stake"] == pytest.approx(row["points_at_stake"])
        for comp in MODEL.components:
            assert got[comp] == pytest.approx(row[comp])
        i = scores.index[scores["account_id"] == account][0]
        assert got["Fewest changes"] == paths.at[i, "path_to_green"]
        assert got["Changes"] == paths.at[i, "path_steps"]
        changes = [r for r in lo.sheet_rows(path, "Account")
                   if isinstance(r[0], (int, float)) and r[1] not in (None, "")]
        assert len(changes) == paths.at[i, "path_steps"]
    got = account_values(path)  # the third account: two snapshots in History
    assert got["Latest snapshot"] == dt.datetime(2025, 12, 1)
    assert got["Previous snapshot"] == dt.datetime(2025, 11, 1)
    assert got["Health then"] == 50 and got["Health at latest"] == 61.5
    assert got["Change"] == pytest.approx(11.5)


def test_refresh_rewrites_the_paths_table(built, tmp_path: Path) -> None:
    """The refresh macro on the file: the Paths Table follows a changed account."""
    from chs_excel.app.macros import refresh_file
    book, accounts, scores = built
    wb = openpyxl.load_workbook(book)
    ws = wb["Accounts"]
    header = [c.value for c in ws[1]]
    nps = header.index("nps") + 1
    ws.cell(row=2, column=nps, value=3)  # the first account's NPS drops to 3: capped
    # (3, not 0: nps moves at most 3 on a path, and the cap needs it at 5)
    wb.save(tmp_path / "changed.xlsx")
    refresh_file(tmp_path / "changed.xlsx", tmp_path / "refreshed.xlsx", as_of=AS_OF)
    got = pd.read_excel(tmp_path / "refreshed.xlsx", sheet_name="Paths", engine="calamine")
    changed = accounts.copy()
    changed.loc[changed.index[0], "nps"] = 3
    rescored = score(MODEL, changed, as_of=AS_OF).scores
    expected = path_to_green(MODEL, changed, rescored).summary["path_to_green"].iloc[0]
    first = scores["account_id"].iloc[0]
    assert got.loc[got["account_id"] == first, "path_to_green"].iloc[0] == expected
    assert "nps 3" in expected


def test_paths_table_has_one_row_per_account_not_green() -> None:
    """Steps side by side, one row an account: the Table never outgrows the accounts."""
    from chs_excel.core.path import ALREADY_GREEN, STEP_COLUMNS, Paths
    from chs_excel.sheets.account import PATH_ROWS, paths_frame
    scores = pd.DataFrame({"account_id": ["g", "p", "n"]}, index=[2, 3, 4])
    summary = pd.DataFrame({"path_to_green": [ALREADY_GREEN, "nps 3 → 9; csat 2 → 4",
                                              "no path (capped)"],
                            "path_steps": pd.array([0, 2, None], dtype="Int64")},
                           index=scores.index)
    steps = pd.DataFrame([["p", 1, "nps", 3, 9, 61.0], ["p", 2, "csat", 2, 4, 72.5]],
                         columns=STEP_COLUMNS)
    got = paths_frame(Paths(summary=summary, steps=steps), scores)
    assert got["account_id"].tolist() == ["p", "n"]
    assert got["path_to_green"].tolist() == ["nps 3 → 9; csat 2 → 4", "no path (capped)"]
    assert got["path_steps"].iloc[0] == 2 and pd.isna(got["path_steps"].iloc[1])
    assert got.iloc[0][["column_1", "from_1", "to_1", "health_after_1"]].tolist() == \
        ["nps", 3, 9, 61.0]
    assert got.iloc[0][["column_2", "from_2", "to_2", "health_after_2"]].tolist() == \
        ["csat", 2, 4, 72.5]
    assert got[["column_1", "column_3"]].iloc[1].isna().all()
    assert pd.isna(got.at[0, "column_3"]) and f"health_after_{PATH_ROWS}" in got
