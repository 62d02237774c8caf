"""The UDFs called as xlwings' COM server would call them (no Excel here).

Inputs are the raw shapes the server passes with `ndim=2`: lists of rows read from a real
generated workbook's Tables with openpyxl (None for blanks, floats, datetimes, bools,
errors as text or as COM error codes). Answers are compared with the engine run on the
same file through the command line's reader, and with values worked out by hand.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
from openpyxl.utils.cell import range_boundaries

from chs_excel.app import scripts, udfs
from chs_excel.app.addin import build_addin
from chs_excel.core.engine import score
from chs_excel.core.model import default_model
from chs_excel.io.accounts import read_accounts
from chs_excel.io.ranges import ERROR_CODES, as_grid, clean, error_text, frame_grid, table_frame
from chs_excel.io.sample import make_sample, reference_date

NA, DIV0 = -2146826246, -2146826281   # #N/A and #DIV/0! as pywin32 hands them over
ARGS = ("Accounts", "Components", "Metrics", "Rules", "Settings", "Segments", "Levels",
        "RenewalProbability", "Playbooks")


def com(value: Any) -> Any:
    """A cell as the COM server passes it: numbers as floats (Excel has no ints)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def table_grids(path: Path) -> dict[str, list[list[Any]]]:
    """Every Table of the workbook as the raw 2-D list xlwings passes (header row first)."""
    book = openpyxl.load_workbook(path, data_only=True)
    out = {}
    for ws in book.worksheets:
        for table in ws.tables.values():
            c1, r1, c2, r2 = range_boundaries(table.ref)
            out[table.displayName] = [[com(v) for v in row] for row in ws.iter_rows(
                min_row=r1, max_row=r2, min_col=c1, max_col=c2, values_only=True)]
    return out


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated template: default model, 400 sample accounts with dirty cells."""
    folder = tmp_path_factory.mktemp("book")
    return build_addin(folder, default_model(), make_sample(400, seed=11),
                       as_of=reference_date(11))


@pytest.fixture(scope="module")
def grids(workbook: Path) -> dict[str, list[list[Any]]]:
    return table_grids(workbook)


@pytest.fixture(scope="module")
def engine_scores(workbook: Path) -> pd.DataFrame:
    return score(default_model(), read_accounts(workbook)).scores


def spilled(grids: dict[str, list[list[Any]]]) -> list[list[Any]]:
    return udfs.CHS_SCORE(*(grids[name] for name in ARGS))


def column(grid: list[list[Any]], name: str) -> list[Any]:
    j = grid[0].index(name)
    return [row[j] for row in grid[1:]]


def same(a: Any, b: Any) -> bool:
    """Cell equality with the engine's blanks (NaN, NaT, None) as the UDFs' None."""
    if b is None or (isinstance(b, float) and math.isnan(b)) or b is pd.NaT:
        return a is None
    if isinstance(b, (float, np.floating)) and not isinstance(b, bool):
        return isinstance(a, float) and a == pytest.approx(float(b), rel=1e-12, abs=1e-12)
    if isinstance(b, pd.Timestamp):
        return a == b.to_pydatetime()
    return a == b


# ---------------------------------------------------------------- CHS_SCORE

def test_score_spills_the_engines_table(grids: dict, engine_scores: pd.DataFrame) -> None:
    out = spilled(grids)
    assert out[0] == list(engine_scores.columns)
    assert len(out) == len(engine_scores) + 1
    for j, name in enumerate(engine_scores.columns):
        expected = engine_scores[name].astype(object).tolist()
        got = [row[j] for row in out[1:]]
        bad = [(i, g, e) for i, (g, e) in enumerate(zip(got, expected, strict=True))
               if not same(g, e)]
        assert not bad, (name, bad[:3])
    assert {type(v) for row in out for v in row} <= {str, float, int, bool, dt.datetime,
                                                      type(None)}


def test_score_with_only_the_required_tables(grids: dict) -> None:
    """No Levels for a model with steps metrics: a readable message; a linear-only model
    scores with three arguments (no rules, segments or settings: defaults)."""
    out = udfs.CHS_SCORE(grids["Accounts"], grids["Components"], grids["Metrics"])
    assert out.startswith("#CHS! ") and "Levels" in out
    linear = [grids["Metrics"][0]] + [r for r in grids["Metrics"][1:] if r[3] == "linear"]
    out = udfs.CHS_SCORE(grids["Accounts"], grids["Components"], linear)
    assert isinstance(out, list) and out[0][0] == "account_id"
    assert "capped_by" in out[0] and set(column(out, "capped_by")) == {""}


def test_score_by_hand_on_a_tiny_table() -> None:
    accounts = [["Account ID", "NPS", "tickets"], ["a", 10.0, 0.0], ["b", 5.0, None],
                ["c", None, None]]
    components = [["component", "weight"], ["Sentiment", 3.0], ["Support", 1.0]]
    metrics = [["column", "component", "weight", "method", "worst", "best",
                "higher_is_better", "good"],
               ["nps", "Sentiment", 1.0, "linear", 0.0, 10.0, None, None],
               ["tickets", "Support", 1.0, "linear", 10.0, 0.0, None, None]]
    out = udfs.CHS_SCORE(accounts, components, metrics)
    health = column(out, "health")
    assert health[0] == pytest.approx(100.0)
    assert health[1] == pytest.approx(50.0)          # Support missing: Sentiment alone
    assert health[2] is None and column(out, "band")[2] == "No data"
    assert column(out, "band")[:2] == ["Green", "Yellow"]
    assert column(out, "coverage")[1] == pytest.approx(0.75)


# ---------------------------------------------------------------- one rule at a time

def test_linear_matches_the_engine_cell_by_cell(grids: dict, engine_scores: pd.DataFrame,
                                                workbook: Path) -> None:
    """nps holds blanks and dirty text: numbers agree, reported cells say why."""
    nps = [[row[grids["Accounts"][0].index("nps")]] for row in grids["Accounts"][1:]]
    out = udfs.CHS_LINEAR(nps, 0.0, 10.0)
    expected = engine_scores["nps_score"].tolist()
    issues = score(default_model(), read_accounts(workbook)).issues
    reported = set(issues.loc[issues["column"] == "nps", "row"] - 2)
    assert reported, "the sample should hold a dirty nps cell"
    for i, (got, want) in enumerate(zip((r[0] for r in out), expected, strict=True)):
        if i in reported:
            assert got.startswith("#CHS! not a number"), got
        else:
            assert same(got, want), (i, got, want)


def test_steps_from_the_levels_table(grids: dict, engine_scores: pd.DataFrame) -> None:
    levels = [r for r in grids["Levels"][1:] if r[0] == "logins_30d"]
    breaks = [[r[1]] for r in levels]          # first at_least is blank: skipped
    points = [[r[3]] for r in levels]
    x = [[row[grids["Accounts"][0].index("logins_30d")]] for row in grids["Accounts"][1:]]
    out = udfs.CHS_STEPS(x, breaks, points)
    for got, want in zip((r[0] for r in out), engine_scores["logins_30d_score"], strict=True):
        assert got.startswith("#CHS!") if isinstance(got, str) else same(got, want)


def test_weighted_rebuilds_a_component_and_health(grids: dict) -> None:
    """Usage = weighted mean of its metric scores; raw health = weighted mean of the
    components (accounts on default weights), both from the spilled table."""
    out = spilled(grids)
    usage_metrics = [r for r in grids["Metrics"][1:] if r[1] == "Usage"]
    scores = [[row[out[0].index(f"{m[0]}_score")] for m in usage_metrics] for row in out[1:]]
    weights = [[m[2] for m in usage_metrics]]
    got = udfs.CHS_WEIGHTED(scores, weights)
    for g, want in zip((r[0] for r in got), column(out, "Usage"), strict=True):
        assert same(g, want)
    comps = [r[0] for r in grids["Components"][1:]]
    default = [i for i, p in enumerate(column(out, "plan")) if p == "Pro"]
    rows = [[out[i + 1][out[0].index(c)] for c in comps] for i in default]
    got = udfs.CHS_WEIGHTED(rows, [[r[1] for r in grids["Components"][1:]]])
    for g, i in zip((r[0] for r in got), default, strict=True):
        assert same(g, column(out, "raw_health")[i])


def test_band_quartile_renewal_match_the_engine(grids: dict) -> None:
    out = spilled(grids)
    health = [[h] for h in column(out, "health")]
    bands = udfs.CHS_BAND(health, 40.0, 70.0)
    assert [r[0] for r in bands] == column(out, "band")
    quart = udfs.CHS_QUARTILE(health, health)
    assert [r[0] for r in quart] == column(out, "quartile")
    by_band = udfs.CHS_RENEWAL([[b] for b in column(out, "band")],
                               grids["RenewalProbability"])
    by_health = udfs.CHS_RENEWAL(health, grids["RenewalProbability"], 40.0, 70.0)
    for a, b, want in zip(by_band, by_health, column(out, "renewal_probability"),
                          strict=True):
        assert same(a[0], want) and same(b[0], want)


def test_single_values_by_hand() -> None:
    assert udfs.CHS_LINEAR(55.0, 20.0, 90.0) == pytest.approx(50.0)
    assert udfs.CHS_LINEAR(3.0, 15.0, 0.0) == pytest.approx(80.0)   # lower is better
    assert udfs.CHS_LINEAR(120.0, 20.0, 90.0) == 100.0 and udfs.CHS_LINEAR(None, 0, 1) is None
    assert udfs.CHS_LINEAR(5.0, 0.0, 10.0, 10.0) == pytest.approx(5.0)  # scale 10
    assert udfs.CHS_STEPS(20.0, [[5, 20, 60]], [[0, 40, 70, 100]]) == 70.0  # 2 breaks <= 20
    assert udfs.CHS_STEPS(4.99, [[5, 20, 60]], [[0, 40, 70, 100]]) == 0.0
    assert udfs.CHS_WEIGHTED([[50.0, None, 100.0]], [[1, 2, 3]]) == pytest.approx(87.5)
    assert udfs.CHS_WEIGHTED([[50.0], [70.0]], [[1], [3]]) == pytest.approx(65.0)
    assert udfs.CHS_WEIGHTED([[None, None]], [[1, 1]]) is None
    assert udfs.CHS_BAND([[39.99, 40.0, 69.99, 70.0, None]], 40, 70) == [
        ["Red", "Yellow", "Yellow", "Green", "No data"]]
    # QUARTILE.INC of 10, 30, 50, 90: Q1 25, Q2 40, Q3 60
    assert udfs.CHS_QUARTILE([[10.0, 25.0, 40.0, 59.0, 60.0, None]],
                             [[10.0], [50.0], [90.0], [30.0], [None]]) == [
        [4, 3, 2, 2, 1, None]]
    assert udfs.CHS_RENEWAL([["Green", " red ", 55.0, None]]) == [[0.95, 0.5, 0.8, None]]
    probs = [["band", "probability"], ["Green", 0.9], ["Yellow", 0.7], ["Red", 0.3],
             ["No data", 0.6]]
    assert udfs.CHS_RENEWAL([[None, 75.0]], probs, 50.0, 80.0) == [[0.6, 0.7]]


# ---------------------------------------------------------------- bad input

def chs_text(value: Any) -> str:
    assert isinstance(value, str) and value.startswith("#CHS! "), value
    assert "Traceback" not in value
    return value


@pytest.mark.parametrize("case", ["wrong header", "header missing", "merged header",
                                  "error text", "error code", "text weight", "negative",
                                  "empty accounts", "blank accounts", "id error", "scalar",
                                  "no accounts range"])
def test_bad_tables_give_a_chs_message(grids: dict, case: str) -> None:
    args = {name: [list(r) for r in grids[name]] for name in ARGS}
    if case == "wrong header":
        args["Metrics"][0][2] = "wieght"
        expect = "weight"
    elif case == "header missing":
        args["Components"] = args["Components"][1:]
        expect = "header"
    elif case == "merged header":   # Excel passes a merged header as value + blank
        args["Components"][0][1] = None
        expect = "header cell 2 is blank"
    elif case == "error text":
        args["Components"][2][1] = "#N/A"
        expect = "Components row 2, column weight: the cell is the Excel error #N/A"
    elif case == "error code":
        args["Metrics"][3][2] = DIV0
        expect = "#DIV/0!"
    elif case == "text weight":
        args["Components"][1][1] = "forty"
        expect = "'forty'"
    elif case == "negative":
        args["Metrics"][4][2] = -1.0
        expect = "weight must be a number >= 0"
    elif case == "empty accounts":
        args["Accounts"] = args["Accounts"][:1]
        expect = "no accounts"
    elif case == "blank accounts":  # an empty Excel Table still has one blank row
        args["Accounts"] = [args["Accounts"][0], [None] * len(args["Accounts"][0])]
        expect = "no accounts"
    elif case == "id error":
        args["Accounts"][5][0] = NA
        expect = "account id is the Excel error #N/A"
    elif case == "scalar":
        args["Metrics"] = 5.0
        expect = "header"
    else:
        args["Accounts"] = None
        expect = "empty"
    out = chs_text(udfs.CHS_SCORE(*(args[name] for name in ARGS)))
    assert expect in out, out


def test_merged_cells_read_from_a_real_sheet(grids: dict, tmp_path: Path) -> None:
    """Merged cells as Excel passes them (value in the first cell, blanks after), read
    with openpyxl from a sheet where they are really merged."""
    book = openpyxl.Workbook()
    ws = book.active
    for row in grids["Components"]:
        ws.append(row)
    ws.merge_cells("A1:B1")                           # a merged header
    accounts = book.create_sheet("Accounts")
    for row in grids["Accounts"][:6]:
        accounts.append(row)
    accounts.merge_cells("A3:A4")                     # two accounts share a merged id
    book.save(tmp_path / "merged.xlsx")
    read = openpyxl.load_workbook(tmp_path / "merged.xlsx")
    components = [list(r) for r in read.active.iter_rows(values_only=True)]
    rows = [list(r) for r in read["Accounts"].iter_rows(values_only=True)]
    rest = [grids[name] for name in ARGS[2:]]
    out = chs_text(udfs.CHS_SCORE(grids["Accounts"], components, *rest))
    assert "Components: header cell 2 is blank" in out and "merged" in out
    out = chs_text(udfs.CHS_SCORE(rows, grids["Components"], *rest))
    assert "blank account id in row 4" in out


def test_errors_and_text_in_account_cells_are_scored_as_missing(grids: dict) -> None:
    """An Excel error in a metric cell is missing (the engine reports it), not a crash."""
    accounts = [list(r) for r in grids["Accounts"]]
    j = accounts[0].index("nps")
    accounts[1][j], accounts[2][j] = NA, "#DIV/0!"
    out = udfs.CHS_SCORE(accounts, *(grids[name] for name in ARGS[1:]))
    assert column(out, "nps_score")[:2] == [None, None]


@pytest.mark.parametrize(("call", "expect"), [
    (lambda: udfs.CHS_LINEAR(5.0, 3.0, 3.0), "worst and best are equal"),
    (lambda: udfs.CHS_LINEAR(5.0, "#N/A", 3.0), "worst is the Excel error #N/A"),
    (lambda: udfs.CHS_LINEAR(5.0, None, 3.0), "worst is blank"),
    (lambda: udfs.CHS_LINEAR(5.0, [[1.0, 2.0]], 3.0), "single cell"),
    (lambda: udfs.CHS_STEPS(1.0, [[5, 2]], [[0, 1, 2]]), "strictly increasing"),
    (lambda: udfs.CHS_STEPS(1.0, [[5]], [[0, 1, 2]]), "one more entry"),
    (lambda: udfs.CHS_STEPS(1.0, [[5]], [[0, 150]]), "between 0 and 100"),
    (lambda: udfs.CHS_STEPS(1.0, [["x"]], [[0, 1]]), "must be a number"),
    (lambda: udfs.CHS_WEIGHTED([[1.0, 2.0]], [[1.0, "abc"]]), "'abc'"),
    (lambda: udfs.CHS_WEIGHTED([[1.0, 2.0]], [[1.0, -1.0]]), "negative"),
    (lambda: udfs.CHS_WEIGHTED([[1.0, 2.0]], [[1.0, None]]), "blank weights"),
    (lambda: udfs.CHS_WEIGHTED([[1.0, 2.0, 3.0]], [[1.0, 1.0]]), "2 weights for 3"),
    (lambda: udfs.CHS_BAND(50.0, 70.0, 40.0), "red_below (70) is above green_from (40)"),
    (lambda: udfs.CHS_BAND(50.0, -2146826259, 40.0), "#NAME?"),
    (lambda: udfs.CHS_QUARTILE(50.0, [[None], [None]]), "no health scores"),
    (lambda: udfs.CHS_QUARTILE(50.0, [[1.0], ["abc"]]), "'abc'"),
    (lambda: udfs.CHS_RENEWAL("Green", [["Green", 1.5]]), "between 0 and 1"),
    (lambda: udfs.CHS_RENEWAL("Green", [["Amber", 0.5]]), "unknown band 'Amber'"),
    (lambda: udfs.CHS_RENEWAL("Green", [["a", "b", "c"]]), "two columns"),
])
def test_bad_arguments_give_a_chs_message(call: Any, expect: str) -> None:
    assert expect in chs_text(call())


def test_bad_cells_answer_in_place_and_the_rest_still_scores() -> None:
    out = udfs.CHS_LINEAR([[5.0, None, "abc", "#N/A", NA, DIV0, True, " ", "n/a", "7"]],
                          0.0, 10.0)
    assert out == [[50.0, None, "#CHS! not a number: 'abc'",
                    "#CHS! x is the Excel error #N/A", "#CHS! x is the Excel error #N/A",
                    "#CHS! x is the Excel error #DIV/0!", "#CHS! not a number: True", None,
                    None, 70.0]]
    assert udfs.CHS_BAND([["x", 50.0]], 40, 70) == [
        ["#CHS! health is not a number: 'x'", "Yellow"]]
    assert udfs.CHS_WEIGHTED([[1.0, "x"], [2.0, NA], [3.0, 5.0]], [[1, 1]]) == [
        ["#CHS! scores hold text, not a number: 'x'"],
        ["#CHS! a score is the Excel error #N/A"], [4.0]]
    assert udfs.CHS_RENEWAL([["Amber", True]])[0][0].startswith("#CHS! unknown band")


def test_an_unexpected_failure_is_cell_text_not_an_exception(
        grids: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")
    monkeypatch.setattr(udfs.engine, "score", broken)
    out = chs_text(spilled(grids))
    assert "unexpected error RuntimeError: boom" in out and "please report it" in out


# ---------------------------------------------------------------- the converters

def test_converters_on_excel_shapes() -> None:
    assert as_grid(5.0) == [[5.0]] and as_grid([1, 2]) == [[1, 2]]
    assert as_grid([[1], [2, 3]]) == [[1, None], [2, 3]] and as_grid([]) == []
    assert [error_text(v) for v in (NA, DIV0, "#N/A", " #div/0! ", "N/A", 3, True)] == [
        "#N/A", "#DIV/0!", "#N/A", "#DIV/0!", None, None, None]
    cells, errors, _ = clean(np.array([1.0, None, "", "  ", NA, "#REF!", "x"], dtype=object))
    assert cells.tolist() == [1.0, None, None, None, NA, "#REF!", "x"]
    assert errors.tolist() == [None, None, None, None, "#N/A", "#REF!", None]
    assert len(ERROR_CODES) == 7
    frame = table_frame([["id", "x", "when", "ok"], [1.0, 2.5, dt.datetime(2024, 1, 2), True],
                         [2.0, None, None, None]], "T", first_row=4)
    assert list(frame.index) == [5, 6]
    assert frame["x"].dtype == float and pd.api.types.is_datetime64_any_dtype(frame["when"])
    grid = frame_grid(pd.DataFrame({"a": [1.5, np.nan], "b": pd.array([1, None], "Int64"),
                                    "c": pd.to_datetime(["2024-01-02", None]),
                                    "d": [True, False], "e": ["x", None]}))
    assert grid == [["a", "b", "c", "d", "e"], [1.5, 1, dt.datetime(2024, 1, 2), True, "x"],
                    [None, None, None, False, None]]


# ---------------------------------------------------------------- the decorators

SOURCE = Path(udfs.__file__).read_text(encoding="utf-8")
SCRIPTS_SOURCE = Path(scripts.__file__).read_text(encoding="utf-8")


def decorators(node: ast.FunctionDef) -> list[str]:
    return [ast.unparse(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list]


def test_every_public_function_is_a_decorated_udf_or_macro() -> None:
    public = [n for source in (SOURCE, SCRIPTS_SOURCE) for n in ast.parse(source).body
              if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
    udf_names = {n.name for n in public if n.name.startswith("CHS_")}
    macro_names = {n.name for n in public if n.name.startswith("chs_")}
    assert udf_names == {"CHS_SCORE", "CHS_SCORE_TABLE", "CHS_PATH",
                         "CHS_LINEAR", "CHS_LOG", "CHS_STEPS", "CHS_WEIGHTED",
                         "CHS_BAND", "CHS_QUARTILE", "CHS_RENEWAL"}
    assert macro_names == {"chs_refresh", "chs_snapshot", "chs_calibrate", "chs_rebuild"}
    assert {n.name for n in public} == udf_names | macro_names
    for node in public:
        found = decorators(node)
        if node.name in udf_names:
            assert found[0] == "xw.func" and "xw.ret" in found, node.name
            declared = {ast.literal_eval(d.args[0]) for d in node.decorator_list
                        if isinstance(d, ast.Call) and ast.unparse(d.func) == "xw.arg"}
            if "_scorecard_args" in found:
                declared |= {name for name, _ in udfs.SCORECARD_ARGS}
            assert declared == {a.arg for a in node.args.args}, node.name
        else:
            assert found == ["xw.script"], node.name   # not the deprecated xw.sub


def test_xlwings_windows_decorators_accept_the_module() -> None:
    """Run xlwings' own Windows decorator code (win32 modules stubbed) over the module:
    the metadata it records, the VBA 'Import Functions' would write, converters it uses."""
    script = textwrap.dedent('''
        import io, sys, types
        for name in ("pythoncom", "pywintypes", "win32com", "win32com.client"):
            sys.modules[name] = types.ModuleType(name)
        sys.modules["pythoncom"].CoInitialize = lambda: None
        sys.modules["win32com.client"].Dispatch = lambda *a, **k: None
        import xlwings
        import xlwings.udfs as xu
        from xlwings import conversion
        xlwings.func, xlwings.arg, xlwings.ret, xlwings.script = (
            xu.xlfunc, xu.xlarg, xu.xlret, xu.xlsub)
        import chs_excel.app.udfs as m
        import chs_excel.app.scripts as s
        for udf in (m.CHS_SCORE, m.CHS_SCORE_TABLE):
            score = udf.__xlfunc__
            assert [a["name"] for a in score["args"]] == [
                "accounts", "components", "metrics", "rules", "settings", "segments",
                "levels", "renewal_probability", "playbooks", "history", "renewal_curve"], \
                score["args"]
            assert all(a["options"]["ndim"] == 2 and a["options"]["err_to_str"]
                       for a in score["args"]), score["args"]
        assert m.CHS_SCORE_TABLE.__xlfunc__["ret"]["options"]["expand"] == "table"
        assert "expand" not in m.CHS_SCORE.__xlfunc__["ret"]["options"]
        for name in dir(m):
            f = getattr(m, name)
            if hasattr(f, "__xlfunc__"):
                convert = f.__xlfunc__["ret"]["options"].get("convert")
                assert hasattr(conversion.accessors.get(convert, convert), "router"), name
        class Book:
            Name = "chs_scorecard.xlsm"
        vba = io.StringIO()
        xu.generate_vba_wrapper("chs_excel.app.udfs", m, vba, Book())
        xu.generate_vba_wrapper("chs_excel.app.scripts", s, vba, Book())
        print(vba.getvalue())
    ''')
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    vba = result.stdout
    assert ("Function CHS_SCORE(accounts, components, metrics, Optional rules, Optional "
            "settings, Optional segments, Optional levels, Optional renewal_probability, "
            "Optional playbooks, Optional history, Optional renewal_curve)"
            in vba)
    assert ("Function CHS_SCORE_TABLE(accounts, components, metrics, Optional rules, "
            "Optional settings" in vba)
    for name in ("CHS_LINEAR(x, worst, best, Optional scale)",
                 "CHS_LOG(x, worst, best, Optional scale)", "CHS_WEIGHTED(scores, weights)",
                 "CHS_BAND(health, red_below, green_from)", "Sub chs_refresh()",
                 "Sub chs_snapshot()", "Sub chs_calibrate()", "Sub chs_rebuild()"):
        assert name in vba, name


def test_chs_log_with_the_cells_xlwings_passes() -> None:
    """CHS_LOG on a 2-D list of floats, blanks (None), text and an Excel error code."""
    full = 100 * math.log(10) / math.log(101)  # worst 0, best 100, x 9
    assert udfs.CHS_LOG(9.0, 0.0, 100.0) == pytest.approx(full)
    assert udfs.CHS_LOG([[9.0]], 0.0, 100.0) == pytest.approx(full)
    out = udfs.CHS_LOG([[9.0, None], [150.0, -3.0], ["abc", NA]], 0.0, 100.0)
    assert out[0][0] == pytest.approx(full) and out[0][1] is None
    assert out[1] == [100.0, 0.0]
    assert out[2][0].startswith("#CHS! not a number") and "#N/A" in out[2][1]
    # lower is better: worst 30, best 2, x 16: t = 14, ln(15) / ln(29); scale 10
    assert udfs.CHS_LOG([[16.0], [2.0]], 30.0, 2.0, 10.0) == [
        [pytest.approx(10 * math.log(15) / math.log(29))], [10.0]]
    assert udfs.CHS_LOG(5.0, 3.0, 3.0).startswith("#CHS! ") \
        and "worst and best are equal" in udfs.CHS_LOG(5.0, 3.0, 3.0)
    assert "best is blank" in udfs.CHS_LOG(5.0, 0.0, None)


# ---------------------------------------------------------------- CHS_PATH

def test_path_for_one_row_and_many_matches_the_engine(grids: dict, workbook: Path) -> None:
    from chs_excel.core.path import path_to_green
    accounts = read_accounts(workbook)
    expected = path_to_green(default_model(), accounts).summary["path_to_green"].tolist()
    model = [grids[name] for name in ARGS[1:7]]
    header, rows = grids["Accounts"][0], grids["Accounts"][1:]
    # Each account alone, ranked against the whole Accounts table (the percentile metric).
    for k in (0, 1, 5, 17):
        got = udfs.CHS_PATH([header, rows[k]], *model, grids["Accounts"])
        assert got == expected[k]
    spilled_paths = udfs.CHS_PATH(grids["Accounts"], *model)
    assert [row[0] for row in spilled_paths] == expected
    assert any(text.startswith("licence_utilisation") for text in expected)


def test_path_by_hand_and_errors_as_cell_text() -> None:
    # One linear metric 0..10 in one component, Green from 70: 4 -> 7 (score 70).
    components = [["component", "weight"], ["A", 1.0]]
    metrics = [["column", "component", "weight", "method", "worst", "best"],
               ["nps", "A", 1.0, "linear", 0.0, 10.0]]
    row = [["account_id", "nps"], ["x1", 4.0]]
    assert udfs.CHS_PATH(row, components, metrics) == "nps 4 \u2192 7"
    fixed = [[*metrics[0], "fixed"], [*metrics[1], True]]
    assert udfs.CHS_PATH(row, components, fixed).startswith("no path: with every movable")
    bad = udfs.CHS_PATH([["id", "nps"], ["x1", 4.0]], components, metrics)
    assert bad.startswith("#CHS! ") and "account_id" in bad


def test_score_table_for_excel_2016_gives_the_same_table(grids: dict) -> None:
    """CHS_SCORE_TABLE (xlwings writes the table out: Excel 2016/2019 have no spilling)
    returns what CHS_SCORE spills, from the same xlwings-shaped ranges."""
    args = [grids[name] for name in ARGS]
    table = udfs.CHS_SCORE_TABLE(*args)
    assert table == udfs.CHS_SCORE(*args)
    assert len(table) == len(grids["Accounts"]) and table[0][0] == "account_id"
    broken = [row[:] for row in grids["Components"]]
    broken[1][1] = "#N/A"
    assert str(udfs.CHS_SCORE_TABLE(grids["Accounts"], broken, grids["Metrics"])
               ).startswith("#CHS! ")
