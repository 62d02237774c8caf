"""`chs addin -o DIR`: the macro-enabled template built from xlwings' own quickstart."""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import python_calamine as calamine
import xlwings
from click.testing import CliRunner
from openpyxl.utils.cell import range_boundaries

from chs_excel.app.addin import CONFIG_SHEET, QUICKSTART
from chs_excel.app.cli import main
from chs_excel.core.engine import score
from chs_excel.core.model import Model, default_model, model_from_dict
from chs_excel.io.accounts import read_accounts
from chs_excel.io.sample import reference_date

QUICKSTART_PATH = Path(xlwings.__file__).parent / QUICKSTART
MODEL_TABLES = {"Settings", "Components", "Metrics", "Levels", "Rules", "Segments",
                "RenewalProbability", "Playbooks"}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("addin") / "excel"     # created by the command
    result = CliRunner().invoke(main, ["addin", "-o", str(folder)])
    assert result.exit_code == 0, result.output
    assert "chs_scorecard.xlsm" in result.output
    return folder / "chs_scorecard.xlsm"


def tables(path: Path) -> dict[str, pd.DataFrame]:
    book = openpyxl.load_workbook(path, data_only=True)
    out = {}
    for ws in book.worksheets:
        for table in ws.tables.values():
            c1, r1, c2, r2 = range_boundaries(table.ref)
            rows = list(ws.iter_rows(min_row=r1, max_row=r2, min_col=c1, max_col=c2,
                                     values_only=True))
            out[table.displayName] = pd.DataFrame(rows[1:], columns=rows[0], dtype=object)
    return out


def test_template_is_xlwings_quickstart_with_our_sheets(template: Path) -> None:
    with zipfile.ZipFile(template) as ours, zipfile.ZipFile(QUICKSTART_PATH) as theirs:
        assert ours.read("xl/vbaProject.bin") == theirs.read("xl/vbaProject.bin")
        assert b"macroEnabled.main+xml" in ours.read("[Content_Types].xml")
    book = openpyxl.load_workbook(template, keep_vba=True)
    assert book.sheetnames == ["Start here", "Model", "Accounts", "Scores", "Actions",
                              "Dashboard", "Forecast", CONFIG_SHEET]
    settings = {row[0]: row[1] for row in book[CONFIG_SHEET].iter_rows(values_only=True)
                if row[0]}
    assert settings["UDF Modules"] == "chs_excel.app.udfs;chs_excel.app.scripts"
    assert settings["Interpreter_Win"] == "python"     # xlwings' own defaults kept
    assert settings["Use UDF Server"] is False
    assert "Sheet1" not in book.sheetnames and "_xlwings.conf" not in book.sheetnames


def test_model_sheet_round_trips_to_the_model(template: Path) -> None:
    found = tables(template)
    assert set(found) >= MODEL_TABLES
    model = Model.from_frame({name: found[name] for name in MODEL_TABLES})
    assert model == default_model()
    names = openpyxl.load_workbook(template).defined_names
    cells = {name: names[name].attr_text for name in ("RedBelow", "GreenFrom", "Scale")}
    model_sheet = openpyxl.load_workbook(template, data_only=True)["Model"]
    values = {name: model_sheet[ref.split("!")[1].replace("$", "")].value
              for name, ref in cells.items()}
    assert values == {"RedBelow": 40, "GreenFrom": 70, "Scale": 100}


def test_scores_are_the_engines_for_the_sample(template: Path) -> None:
    expected = score(default_model(), read_accounts(template), as_of=reference_date(0)).scores
    table = calamine.CalamineWorkbook.from_path(str(template), load_tables=True) \
        .get_table_by_name("Scores")
    got = pd.DataFrame(table.to_python(), columns=table.columns)
    assert len(got) == len(expected) == 25
    assert got["band"].tolist() == expected["band"].tolist()
    assert got["health"].astype(float).round(9).tolist() == \
        expected["health"].round(9).tolist()


def test_run_main_module_refreshes(template: Path) -> None:
    source = template.with_suffix(".py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    main_def = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    assert ast.unparse(main_def.body[-1]) == "chs_refresh()"
    assert "from chs_excel.app.scripts import chs_refresh" in source


def test_custom_model_gets_an_empty_accounts_table(tmp_path: Path) -> None:
    data = default_model().to_dict()
    data["metrics"].append({"column": "seats_used", "component": "Usage", "weight": 1,
                            "method": "linear", "worst": 0, "best": 100})
    path = tmp_path / "m.yaml"
    model_from_dict(data).save(path)
    result = CliRunner().invoke(main, ["addin", "-o", str(tmp_path / "x"), "--model",
                                       str(path)])
    assert result.exit_code == 0, result.output
    assert "0 sample accounts" in result.output
    book = openpyxl.load_workbook(tmp_path / "x" / "chs_scorecard.xlsm")
    assert "Scores" not in book.sheetnames
    header = [c.value for c in book["Accounts"][1]]
    assert header[0] == "account_id" and "seats_used" in header and "nps" in header


def test_bad_model_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("name: x\ncomponents: {A: -1}\nmetrics: []\n")
    result = CliRunner().invoke(main, ["addin", "-o", str(tmp_path / "x"), "--model",
                                       str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert not (tmp_path / "x" / "chs_scorecard.xlsm").exists()
