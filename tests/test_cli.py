"""The `chs` command line end to end: real files in, real workbooks out, clear errors."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from chs_excel.core.engine import score
from chs_excel.core.model import default_model, load_model
from chs_excel.io.accounts import read_accounts
from chs_excel.io.sample import make_sample, reference_date
from tests.cli_runner import digest, run


@pytest.fixture
def accounts_csv(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.csv"
    code, out = run("sample", "-n", "120", "--seed", "3", "-o", str(path))
    assert code == 0, out
    return path


def test_model_default_and_check(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    assert run("model", "--default", "-o", str(path))[0] == 0
    assert load_model(path) == default_model()
    code, out = run("model", "--check", str(path))
    assert code == 0 and "OK" in out and "13 metrics" in out


def test_model_check_rejects_a_typo_and_reports_yaml_lines(tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text(default_model().to_yaml().replace("min_coverage", "min_coverge"))
    code, out = run("model", "--check", str(typo))
    assert code == 1 and "unknown key 'min_coverge'" in out and str(typo) in out
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ncomponents: {Usage: 1\nmetrics: []\n")
    code, out = run("model", "--check", str(broken))
    assert code == 1 and "line 3" in out and "YAML syntax error" in out
    assert "Traceback" not in out


def test_score_to_xlsx_writes_every_sheet_and_the_engine_values(
        tmp_path: Path, accounts_csv: Path) -> None:
    before = digest(accounts_csv)
    out = tmp_path / "scored.xlsx"
    code, printed = run("score", str(accounts_csv), "-o", str(out),
                        "--as-of", reference_date(3).isoformat())
    assert code == 0, printed
    assert "Scored 120 accounts" in printed and "Green:" in printed
    assert digest(accounts_csv) == before
    book = openpyxl.load_workbook(out)
    assert book.sheetnames[:4] == ["Start here", "Model", "Accounts", "Scores"]
    assert "Scores" in book["Scores"].tables and "Accounts" in book["Accounts"].tables
    assert set(book["Model"].tables) >= {"Components", "Metrics", "Rules", "Segments",
                                         "Settings", "RenewalProbability"}
    written = pd.read_excel(out, sheet_name="Scores", engine="calamine")
    expected = score(default_model(), read_accounts(accounts_csv),
                     as_of=reference_date(3)).scores
    assert written["account_id"].astype(str).tolist() == expected["account_id"].tolist()
    pd.testing.assert_series_equal(written["health"], expected["health"].reset_index(drop=True),
                                   check_names=False, rtol=1e-12)
    assert written["band"].tolist() == expected["band"].tolist()


def test_formula_like_names_land_as_text(tmp_path: Path) -> None:
    frame = make_sample(30, seed=1, dirty=False)
    frame.loc[:3, "account_name"] = ["=1+1", "+SUM(A1:A2)", "-2", "@Home"]
    src = tmp_path / "f.csv"
    frame.to_csv(src, index=False)
    out = tmp_path / "f.xlsx"
    assert run("score", str(src), "-o", str(out))[0] == 0
    ws = openpyxl.load_workbook(out)["Accounts"]
    names = {ws.cell(r, 2).value: ws.cell(r, 2).data_type for r in range(2, 6)}
    assert names == {"=1+1": "s", "+SUM(A1:A2)": "s", "@Home": "s", "-2": "s"}
    scores = openpyxl.load_workbook(out, data_only=True)["Scores"]  # formulas, cached text
    assert [scores.cell(r, 2).value for r in range(2, 6)] == ["=1+1", "+SUM(A1:A2)", "-2",
                                                              "@Home"]
    csv_out = tmp_path / "f_scores.csv"
    assert run("score", str(src), "-o", str(csv_out))[0] == 0
    text = csv_out.read_text()
    assert "'=1+1" in text and "'+SUM(A1:A2)" in text and "'@Home" in text


def test_strict_fails_on_data_issues_and_writes_nothing(
        tmp_path: Path, accounts_csv: Path) -> None:
    out = tmp_path / "strict.xlsx"
    code, printed = run("score", str(accounts_csv), "-o", str(out), "--strict")
    assert code == 1 and "--strict" in printed and str(accounts_csv) in printed
    assert not out.exists() and list(tmp_path.glob(".strict*")) == []


def test_a_failed_run_leaves_an_existing_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "keep.xlsx"
    out.write_bytes(b"previous results")
    bad = tmp_path / "bad.csv"
    bad.write_text("account_id,nps\na,1\na,2\n")
    code, printed = run("score", str(bad), "-o", str(out))
    assert code == 1 and "is missing" in printed
    assert out.read_bytes() == b"previous results"


@pytest.mark.parametrize(("ids", "message"), [
    (["A", "B", "A", "B"], "repeated: A (rows 2, 4); B (rows 3, 5)"),
    (["A", "B", None, "D"], "blank account id in row 4"),
])
def test_bad_account_ids_name_file_and_rows(tmp_path: Path, ids: list[str | None],
                                            message: str) -> None:
    frame = make_sample(4, dirty=False).assign(account_id=ids)
    path = tmp_path / "in.csv"
    frame.to_csv(path, index=False)
    code, printed = run("score", str(path), "-o", str(tmp_path / "o.xlsx"))
    assert code == 1 and message in printed and str(path) in printed
    assert "column 'account_id'" in printed
    assert not (tmp_path / "o.xlsx").exists()


@pytest.mark.parametrize(("content", "message"), [
    ("nps\n1\n", "column 'account_id' is missing"),
    ("account_id,nps\nA,1\n", "column 'licence_utilisation' is missing"),
])
def test_missing_columns_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "in.csv"
    path.write_text(content)
    code, printed = run("score", str(path), "-o", str(tmp_path / "o.xlsx"))
    assert code == 1 and message in printed and str(path) in printed


def test_output_errors(tmp_path: Path, accounts_csv: Path) -> None:
    code, printed = run("score", str(accounts_csv), "-o", str(tmp_path / "no" / "o.xlsx"))
    assert code == 1 and "output folder" in printed and "does not exist" in printed
    code, printed = run("score", str(accounts_csv), "-o", str(tmp_path / "o.pdf"))
    assert code == 1 and ".xlsx or .csv" in printed


def test_sample_xlsx_has_an_accounts_table_the_reader_finds(tmp_path: Path) -> None:
    path = tmp_path / "s.xlsx"
    assert run("sample", "-n", "25", "-o", str(path))[0] == 0
    assert "Accounts" in openpyxl.load_workbook(path)["Accounts"].tables
    assert len(read_accounts(path)) == 25


def test_demo_makes_the_scored_workbook(tmp_path: Path) -> None:
    code, printed = run("demo", "-o", str(tmp_path / "d"), "-n", "200")
    assert code == 0, printed
    assert {p.name for p in (tmp_path / "d").iterdir()} >= {"model.yaml", "accounts.csv",
                                                           "scored.xlsx"}
    assert "Scored 200 accounts" in printed


def test_console_script_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "chs_excel", "score",
                             str(tmp_path / "missing.csv"), "-o", str(tmp_path / "o.xlsx")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'missing.csv'}: file not found"]


def test_csv_output_writes_its_data_issues_beside_it(tmp_path: Path) -> None:
    source = tmp_path / "accounts.csv"
    make_sample(120, seed=4).to_csv(source, index=False)          # dirty: has issues
    out = tmp_path / "scores.csv"
    code, text = run("score", str(source), "-o", str(out))
    issues = pd.read_csv(tmp_path / "scores.issues.csv")
    expected = score(default_model(), read_accounts(source)).issues
    assert code == 0 and f"Data issues: {len(expected)} ({tmp_path / 'scores.issues.csv'})" \
        in text
    assert list(issues.columns) == ["row", "account_id", "column", "value", "problem"]
    assert issues["row"].tolist() == expected["row"].tolist()
    clean = tmp_path / "clean.csv"
    make_sample(50, seed=4, dirty=False).to_csv(clean, index=False)
    code, _ = run("score", str(clean), "--as-of", "2026-01-01", "-o", str(out))
    assert code == 0 and not (tmp_path / "scores.issues.csv").exists()   # stale list gone


def test_dash_writes_the_scores_csv_to_standard_output(tmp_path: Path) -> None:
    source = tmp_path / "accounts.csv"
    make_sample(40, seed=5, dirty=False).to_csv(source, index=False)
    result = subprocess.run([sys.executable, "-m", "chs_excel", "score", str(source),
                             "-o", "-"], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert len(frame) == 40 and "health" in frame.columns
    assert result.stdout.splitlines()[0].startswith("account_id,")   # nothing but the csv
    assert len(result.stdout.splitlines()) == 41
    assert "Scored 40 accounts -> standard output" in result.stderr
