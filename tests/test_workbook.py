"""The workbook's structure, read back with openpyxl and calamine (no recalculation here).

Layout, formulas that both Excel and LibreOffice compute, traffic lights wired to the
Model's defined names, validation, cached engine values, `--from` rebuilds, damaged
Model tables, and the committed template and example.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from chs_excel.app.cli import main
from chs_excel.core.engine import score
from chs_excel.core.errors import ModelError
from chs_excel.core.model import default_model
from chs_excel.io.accounts import read_accounts
from chs_excel.io.sample import make_sample, reference_date
from chs_excel.io.workbook import read_workbook
from chs_excel.sheets.workbook import (
    TEMPLATE_ROWS,
    example_inputs,
    write_scored_workbook,
    write_template,
)
from chs_excel.xlsx.writer import Workbook
from tests.test_formulas import edge_accounts, edge_model

ROOT = Path(__file__).resolve().parents[1]
SHEETS = ["Start here", "Model", "Accounts", "Scores", "Account", "Actions", "This week",
          "Action status", "Dashboard", "Forecast", "History", "History statuses", "Paths"]
# Functions Excel 2007 already had (no prefix) and that LibreOffice 7.4 computes.
PLAIN = {"IF", "AND", "OR", "NOT", "ISNUMBER", "SUMPRODUCT", "INDEX", "MATCH", "IFERROR",
         "MIN", "MAX", "N", "TRIM", "SUBSTITUTE", "MID", "CHOOSE", "COUNT", "COUNTIF",
         "COUNTIFS", "SUMIF", "SUMIFS", "AVERAGEIF", "AVERAGE", "LARGE", "SMALL", "ROW",
         "DATE", "YEAR", "MONTH", "INT", "MOD", "TODAY", "SUM", "SIGN", "LN", "ABS", "SQRT",
         "SEARCH", "LOWER", "ROUND", "CELL", "LEFT"}
PREFIXED = {"QUARTILE.INC", "RANK.EQ", "UNICHAR", "MAXIFS"}  # newer than Excel 2007: _xlfn.


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("t") / "template.xlsx"
    write_template(path, default_model())
    return path


@pytest.fixture(scope="module")
def edge_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("e") / "edge.xlsx"
    write_template(path, edge_model(), edge_accounts(), rows=100)
    return path


def formulas(path: Path) -> list[tuple[str, str, str]]:
    """(sheet, cell, formula text) of every formula in the workbook."""
    book = openpyxl.load_workbook(path)
    out = []
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                value = cell.value.text if hasattr(cell.value, "text") else cell.value
                if isinstance(value, str) and value.startswith("=") and cell.data_type != "s":
                    out.append((ws.title, cell.coordinate, value))
    return out


def test_template_has_spec_sheets_tables_and_2000_formula_rows(template: Path) -> None:
    book = openpyxl.load_workbook(template)
    assert book.sheetnames == [*SHEETS, "Calc"]
    assert book["Calc"].sheet_state == "hidden"
    assert all(book[s].sheet_state == "visible" for s in SHEETS)
    assert set(book["Model"].tables) == {"Settings", "Components", "Metrics", "Levels",
                                         "Rules", "Segments", "RenewalProbability",
                                         "RenewalCurve", "Playbooks", "Columns"}
    scores = book["Scores"]
    assert scores.tables["Scores"].ref.endswith(str(TEMPLATE_ROWS + 1))
    assert book["Accounts"].tables["Accounts"].ref.endswith(str(TEMPLATE_ROWS + 1))
    last = [c.value for c in scores[TEMPLATE_ROWS + 1]]
    assert len(last) > 40 and all(isinstance(v, str) and v.startswith("=") for v in last)
    history = book["History"].tables["History"]
    header = [c.value for c in book["History"][1]]
    assert history.ref.startswith("A1") and header == [
        "date", "model", "version", "account_id", "owner", "segment", "arr", "health",
        "band", "quartile", *default_model().components]
    names = {n: book.defined_names[n].attr_text for n in
             ("RedBelow", "GreenFrom", "MinCoverage", "Scale", "AsOf")}
    model = book["Model"]
    for name, value in (("RedBelow", 40), ("GreenFrom", 70), ("MinCoverage", 0.5),
                        ("Scale", 100)):
        sheet, cell = names[name].split("!")
        assert sheet == "Model" and model[cell.replace("$", "")].value == value
    assert names["AsOf"].startswith("Calc!")
    assert scores.freeze_panes == "C2" and book["Accounts"].freeze_panes == "B2"  # id, name
    assert scores.page_setup.orientation == "landscape"
    assert scores.print_title_rows == "$1:$1"


def test_formulas_use_only_functions_excel_and_libreoffice_both_compute(
        template: Path, edge_book: Path) -> None:
    for path in (template, edge_book):
        found = formulas(path)
        assert len(found) > 1000
        for sheet, cell, text in found:
            bare = re.sub(r'"[^"]*"', '""', text)  # string literals are not calls
            assert "[@" not in bare and "#This Row" not in bare and "#Data" not in bare
            for prefix, name in re.findall(r"(_xlfn\.)?([A-Z][A-Z0-9.]*)\(", bare):
                if prefix:
                    assert name in PREFIXED, (sheet, cell, name)
                else:
                    assert name in PLAIN, (sheet, cell, name, text[:120])


def test_scores_read_the_model_tables_through_the_calc_sheet(template: Path) -> None:
    found = formulas(template)
    calc = [t for s, _, t in found if s == "Calc"]
    for table in ("Metrics[weight]", "Metrics[worst]", "Metrics[best]", "Levels[points]",
                  "Levels[at_least]", "Levels[label]", "Rules[cap]", "Rules[value]",
                  "Rules[op]", "Components[weight]", "Segments[Usage]",
                  "RenewalProbability[probability]"):
        assert any(table in t for t in calc), table
    ws = openpyxl.load_workbook(template)["Scores"]
    row = {c.value: ws.cell(2, c.column).value for c in ws[1]}
    assert "Calc!" in row["health"]  # rule caps: read from the Rules table via Calc
    assert "RedBelow" in row["band"] and "GreenFrom" in row["band"]
    assert "Calc!" in row["licence_utilisation_score"] and "Scale" in row["nps_score"]


def test_traffic_lights_reference_the_model_through_defined_names(template: Path) -> None:
    ws = openpyxl.load_workbook(template)["Scores"]
    header = [c.value for c in ws[1]]
    column = {h: openpyxl.utils.get_column_letter(i + 1) for i, h in enumerate(header)}
    rules: dict[str, list[Any]] = {}
    for cf in ws.conditional_formatting:
        rules.setdefault(str(cf.sqref).split(":")[0].rstrip("0123456789"), []).extend(
            cf.rules)
    health = rules[column["health"]]
    formulas_ = " ".join(f for r in health if r.type == "expression" for f in r.formula)
    assert "RedBelow" in formulas_ and "GreenFrom" in formulas_
    icons = next(r for r in health if r.type == "iconSet")
    assert icons.iconSet.iconSet in (None, "3TrafficLights1")  # None: the format's default
    assert [v.val for v in icons.iconSet.cfvo[1:]] == ["RedBelow", "GreenFrom"]
    band = rules[column["band"]]
    assert {r.formula[0] for r in band} == {'"Red"', '"Yellow"', '"Green"', '"No data"'}
    scale = next(r for r in rules[column["Usage"]] if r.type == "colorScale")
    assert [v.val for v in scale.colorScale.cfvo][1:] == ["Scale/2", "Scale"]
    assert float(scale.colorScale.cfvo[0].val) == 0
    quartile = rules[column["quartile"]]
    assert len({r.dxfId for r in quartile}) == 4


def test_model_inputs_are_validated(template: Path) -> None:
    ws = openpyxl.load_workbook(template)["Model"]
    found = {}
    for dv in ws.data_validations.dataValidation:
        header = ws.cell(4, next(iter(dv.sqref.ranges)).min_col).value
        found[header, dv.type] = (dv.operator, dv.formula1, dv.formula2)
    assert found["weight", "decimal"] == ("greaterThanOrEqual", "0", None)
    assert "percentile" in found["method", "list"][1]
    assert found["good", "list"][1] == '"TRUE,FALSE"'
    assert found["op", "list"][1] == '"<,<=,>,>=,=,<>"'
    assert found["probability", "decimal"] in (("between", "0", "1"), (None, "0", "1"))
    assert ws["A5"].fill.fgColor.rgb.endswith("FFF9E6")  # inputs are cream


def test_streamed_formulas_are_the_xml_write_formula_writes(tmp_path: Path) -> None:
    cells = [("IF(A2>1,\"a<b\",_xlfn.RANK.EQ(A2,A$2:A$9,1))", 3.5), ("B2&\"x\"", "text"),
             ("A2>0", True), ("A2", "")]
    paths = []
    for how in ("public", "streamed"):
        path = tmp_path / f"{how}.xlsx"
        book = Workbook(path, constant_memory=True)
        ws = book.add_worksheet()
        fmt = book.add_format({"num_format": "0.0"})
        for col, (formula, value) in enumerate(cells):
            if how == "public":
                ws.write_formula(1, col, formula, fmt, value)
            else:
                ws.write_formula_cell(1, col, formula.replace("A2", "A§"), fmt, value)
        book.close()
        paths.append(path)
    xml = [zipfile.ZipFile(p).read("xl/worksheets/sheet1.xml") for p in paths]
    assert xml[0] == xml[1]


def test_scored_workbook_caches_the_engine_values(tmp_path: Path) -> None:
    accounts = make_sample(200, seed=4)
    scoring = score(default_model(), accounts, as_of=reference_date(4))
    path = tmp_path / "scored.xlsx"
    write_scored_workbook(path, default_model(), accounts, scoring, as_of=reference_date(4))
    written = pd.read_excel(path, sheet_name="Scores", engine="calamine")
    expected = scoring.scores.reset_index(drop=True)
    for column in ("health", "raw_health", "coverage", "points_at_stake", "Usage",
                   "nps_score", "expected_arr"):
        pd.testing.assert_series_equal(written[column], expected[column].astype(float),
                                       check_names=False, rtol=1e-12)
    assert written["band"].tolist() == expected["band"].tolist()
    assert written["capped_by"].fillna("").tolist() == expected["capped_by"].tolist()
    assert written["overridden"].tolist() == expected["overridden"].tolist()
    assert written["quartile"].tolist() == expected["quartile"].astype(float).tolist()
    book = openpyxl.load_workbook(path)
    assert book["Scores"]["N2"].value.startswith("=")  # live formulas, not pasted values
    assert book["Calc"]["B3"].value.date() == reference_date(4)  # the engine's as-of day
    assert "Data issues" in book.sheetnames


def test_from_rebuild_keeps_model_accounts_and_history(tmp_path: Path) -> None:
    accounts = edge_accounts()
    first = tmp_path / "first.xlsx"
    history = pd.DataFrame({"date": [pd.Timestamp("2025-01-31")] * 2, "model": "edge cases",
                            "version": "7", "account_id": ["E001", "E002"], "health": [50, 60],
                            "band": ["Yellow", "Yellow"], "Usage": [40.0, 50.0]})
    write_template(first, edge_model(), accounts, rows=80, history=history)
    before = sha(first)
    found = read_workbook(first)
    assert found.model == edge_model()
    assert found.rows == 80
    assert found.history["account_id"].tolist() == ["E001", "E002"]
    second = tmp_path / "second.xlsx"
    result = CliRunner().invoke(main, ["template", "--from", str(first), "-o", str(second)])
    assert result.exit_code == 0, result.output
    assert sha(first) == before  # the user's file is never modified
    again = read_workbook(second)
    assert again.model == edge_model() and again.rows == TEMPLATE_ROWS
    pd.testing.assert_frame_equal(read_accounts(second).reset_index(drop=True),
                                  read_accounts(first).reset_index(drop=True))
    assert again.history.shape == found.history.shape
    same = CliRunner().invoke(main, ["template", "--from", str(first), "-o", str(first)])
    assert same.exit_code == 1 and "never changed" in same.output and sha(first) == before


def damage(path: Path, out: Path, how: str) -> None:
    """Break the Model the way users do: text in a weight, a deleted column, a renamed
    table, worst equal to best."""
    book = openpyxl.load_workbook(path)
    ws = book["Model"]
    if how == "text":
        ws[ws.tables["Components"].ref.split(":")[0]].offset(2, 1).value = "heavy"
    elif how == "column":
        table = ws.tables["Components"]
        start, end = table.ref.split(":")
        for row in ws[table.ref]:
            row[-1].value = None
        table.ref = f"{start}:{ws[end].offset(0, -1).coordinate}"
        table.tableColumns = table.tableColumns[:-1]
        table.autoFilter.ref = table.ref
    elif how == "renamed":
        table = ws.tables["Components"]
        table.name = table.displayName = "Weights"
        ws.tables["Weights"] = ws.tables.pop("Components")
    elif how == "worst":
        metrics = ws.tables["Metrics"]
        first = ws[metrics.ref.split(":")[0]]
        first.offset(1, 5).value = first.offset(1, 4).value  # best := worst
    book.save(out)


@pytest.mark.parametrize("how, expected", [
    ("text", "sheet Model, table Components, cell Model!E6 (column weight): expected a "
             "number, got 'heavy'"),
    ("column", "sheet Model, table Components: column 'weight' is missing from the header "
               "row (Model!D4:D4)"),
    ("renamed", "sheet Model: table 'Components' not found"),
    ("worst", "worst and best are equal (20) (table Metrics, cell Model!K5)"),
])
def test_damaged_model_tables_name_sheet_table_and_cell(template: Path, tmp_path: Path,
                                                        how: str, expected: str) -> None:
    bad = tmp_path / f"{how}.xlsx"
    damage(template, bad, how)
    before = sha(bad)
    with pytest.raises(ModelError) as caught:
        read_workbook(bad)
    assert expected in str(caught.value)
    out = tmp_path / "out.xlsx"
    result = CliRunner().invoke(main, ["template", "--from", str(bad), "-o", str(out)])
    assert result.exit_code == 1 and expected in result.output
    assert "Traceback" not in result.output and not out.exists() and sha(bad) == before


def test_template_command_options(tmp_path: Path) -> None:
    model = tmp_path / "m.yaml"
    edge_model().save(model)
    data = tmp_path / "a.csv"
    make_sample(20, seed=2).to_csv(data, index=False)
    runner = CliRunner()
    out = tmp_path / "t.xlsx"
    result = runner.invoke(main, ["template", "--model", str(model), "--rows", "2500",
                                  "-o", str(out)])
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(out)
    assert book["Scores"].tables["Scores"].ref.endswith("2501")
    assert "pilot_score" in [c.value for c in book["Scores"][1]]
    result = runner.invoke(main, ["template", "--data", str(data), "-o", str(out)])
    assert result.exit_code == 0 and "20 accounts" in result.output
    assert len(read_accounts(out)) == 20
    result = runner.invoke(main, ["template", "-o", str(tmp_path / "t.csv")])
    assert result.exit_code == 1 and ".xlsx" in result.output


def cells(path: Path) -> dict[tuple[str, str], Any]:
    book = openpyxl.load_workbook(path)
    out: dict[tuple[str, str], Any] = {}
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                value = cell.value.text if hasattr(cell.value, "text") else cell.value
                if value is not None:
                    out[ws.title, cell.coordinate] = value
        for table in ws.tables.values():
            out[ws.title, f"table {table.name}"] = table.ref
    out["names", ""] = sorted((n, d.attr_text) for n, d in book.defined_names.items())
    return out


def differences(shipped: Path, built: Path) -> list[str]:
    """The first cells where two workbooks differ, one line each (a short message: pytest's
    own diff of two dictionaries of 100,000 cells takes hours)."""
    a, b = cells(shipped), cells(built)
    keys = sorted({*a, *b} - {k for k in a.keys() & b.keys() if a[k] == b[k]}, key=str)
    return [f"{k}: shipped {str(a.get(k))[:60]!r}, built {str(b.get(k))[:60]!r}"
            for k in keys[:10]] + ([f"... {len(keys)} in all"] if len(keys) > 10 else [])


def test_committed_template_and_example_are_what_the_builder_makes(tmp_path: Path) -> None:
    template = tmp_path / "template.xlsx"
    write_template(template, default_model())
    assert differences(ROOT / "templates" / "customer_health_scorecard.xlsx", template) == [], \
        "run: python scripts/build_workbooks.py"
    model, accounts, as_of = example_inputs(tmp_path)
    example = tmp_path / "example.xlsx"
    write_template(example, model, accounts, rows=len(accounts), as_of=as_of)
    committed = ROOT / "workbooks" / "saas_example.xlsx"
    assert differences(committed, example) == [], "run: python scripts/build_workbooks.py"
    # cached values: the engine's on Scores, LibreOffice's on the Dashboard
    scores = pd.read_excel(committed, sheet_name="Scores", engine="calamine")
    expected = score(model, accounts, as_of=as_of).scores
    pd.testing.assert_series_equal(scores["health"], expected["health"].reset_index(drop=True),
                                   check_names=False, rtol=1e-12)
    dashboard = pd.read_excel(committed, sheet_name="Dashboard", header=None,
                              engine="calamine")
    green = dashboard[dashboard[0] == "Green"].iloc[0]
    assert green[1] == (expected["band"] == "Green").sum()


def test_a_book_of_30_accounts_prints_its_rows_not_2000(tmp_path: Path) -> None:
    """Template-built books printed ~30 blank pages of empty formula rows and the Model as
    one strip: print areas end at the accounts built with, the Model breaks between Tables
    at a readable scale."""
    accounts = make_sample(30, seed=3)
    path = tmp_path / "thirty.xlsx"
    write_template(path, default_model(), accounts, rows=2000, as_of=reference_date(3))
    book = openpyxl.load_workbook(path)
    scores = book["Scores"]
    assert scores.tables["Scores"].ref.endswith("2001")          # rows left for pasting
    assert scores.print_area.endswith("$31")                     # header + 30 accounts
    listed = sum(1 for r in score(default_model(), accounts,
                                  as_of=reference_date(3)).scores["next_action"] if r)
    last = int(re.findall(r"\d+$", book["Actions"].print_area)[0])
    header = next(r for r in range(1, 20) if book["Actions"].cell(r, 1).value == "#")
    assert last == header + listed
    model = book["Model"]
    assert model.page_setup.scale == 70 and not model.sheet_properties.pageSetUpPr.fitToPage
    breaks = [b.id for b in model.col_breaks.brk]
    starts = sorted(int(openpyxl.utils.column_index_from_string(
        re.sub(r"\d", "", t.ref.split(":")[0]))) - 1 for t in model.tables.values())
    assert breaks and set(breaks) <= set(starts)                 # never inside a Table
    dash = book["Dashboard"]
    titles = {dash.cell(r, 1).value: r for r in range(1, dash.max_row + 1)}
    assert [b.id for b in dash.row_breaks.brk] == [titles["Mean health by owner"] - 1]


def test_section_breaks_keep_each_table_and_chart_on_one_page() -> None:
    from chs_excel.sheets.workbook import section_breaks
    assert section_breaks([(0, 20), (22, 40), (42, 60)], 55) == [42]
    assert section_breaks([(0, 20), (22, 40)], 55) == []
    assert section_breaks([(0, 120), (121, 130)], 55) == [121]    # taller than a page
    assert section_breaks([(0, 10), (60, 70), (112, 118)], 55) == [60, 112]
