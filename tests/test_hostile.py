"""Hostile input fails cleanly and fast; every file written stays valid (issue: "Every file
valid", "Hostile input fails cleanly and fast", "Broken files", "Crashes and runaways").

Each test is a case from the issue's list that used to give a traceback, an invalid file
or an unbounded run; the arithmetic of the limits is written out, never taken from the
code under test.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from chs_excel.core import limits
from chs_excel.core.errors import ChsError, ModelError
from chs_excel.core.model import default_model, load_model
from chs_excel.io.sample import make_sample
from chs_excel.xlsx.libreoffice import recalculate, sheet_rows
from tests.cli_runner import digest, run
from tests.test_zz_workbooks_open_clean import serious_findings

CONTROL_NAME = "Bell\x07and\x0bvertical tab"


def chs(*args: str, env: dict[str, str] | None = None, timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    """`chs ARGS` in its own process (what a user sees: exit code, stderr, no traceback)."""
    return subprocess.run([sys.executable, "-m", "chs_excel", *args], capture_output=True,
                          text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})


def one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The single error line of a failed command, checked for each needle."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def free_metric(data: dict) -> dict:
    """A metric of the model dict that no rule or playbook reads (safe to rename)."""
    import json
    others = json.dumps({k: v for k, v in data.items() if k != "metrics"})
    return next(m for m in data["metrics"] if f'"{m["column"]}"' not in others)


@pytest.fixture
def accounts(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.csv"
    make_sample(40, seed=2, dirty=False).to_csv(path, index=False)
    return path


# ------------------------------------------------------------------ every file valid

def test_control_characters_in_names_and_headers_keep_every_row(tmp_path: Path) -> None:
    """One \\x07 in an account name made Scores invalid XML (Excel dropped the sheet,
    LibreOffice kept 1 row of 200); a line break in a header broke the Accounts Table."""
    frame = make_sample(40, seed=2, dirty=False)
    frame.loc[3, "account_name"] = CONTROL_NAME
    frame["My\nnotes\x07"] = "x\x0c"
    source = tmp_path / "accounts.csv"
    frame.to_csv(source, index=False)
    out = tmp_path / "scored.xlsx"
    code, output = run("score", str(source), "-o", str(out))
    assert code == 0, output
    assert serious_findings(out) == []
    scores = openpyxl.load_workbook(out)["Scores"]
    assert scores.max_row == 41
    recalculated = recalculate(out, tmp_path / "lo")
    rows = sheet_rows(recalculated, "Scores")
    assert len([r for r in rows[1:] if r[0]]) == 40          # every account, in LibreOffice
    assert rows[4][1].startswith("Bell")


def test_cached_text_is_escaped_like_excel_stores_it(tmp_path: Path) -> None:
    frame = make_sample(5, seed=1, dirty=False)
    frame.loc[0, "account_name"] = "A\x07B"
    source = tmp_path / "a.csv"
    frame.to_csv(source, index=False)
    out = tmp_path / "a.xlsx"
    assert run("score", str(source), "-o", str(out))[0] == 0
    with zipfile.ZipFile(out) as z:
        names = {n for n in z.namelist() if n.startswith("xl/worksheets/")}
        xml = b"".join(z.read(n) for n in names)
    assert b"A\x07B" not in xml and b"A_x0007_B" in xml


@pytest.mark.parametrize(("name", "needle"), [
    ("m" * 9_001, "9,001 characters long; at most 249"),
    ("m" * 250, "250 characters long; at most 249"),
    ("logins\n30d", "control character or line break"),
    ("nps\x07", "control character or line break"),
])
def test_model_names_a_workbook_cannot_hold_are_model_errors(name: str, needle: str) -> None:
    """A 9,001-character metric name produced a formula above Excel's 8,192 limit."""
    data = default_model().to_dict()
    data["metrics"][0]["column"] = name
    with pytest.raises(ModelError, match=needle):
        default_model().from_dict(data)


def test_a_249_character_metric_name_still_fits_every_formula(tmp_path: Path) -> None:
    """249 + len('_score') = 255, Excel's limit for a Table column name."""
    data = default_model().to_dict()
    free_metric(data)["column"] = "m" * 249
    model = default_model().from_dict(data)
    path = tmp_path / "m.yaml"
    model.save(path)
    out = tmp_path / "t.xlsx"
    assert run("template", "--model", str(path), "-o", str(out))[0] == 0
    assert serious_findings(out) == []   # check_xlsx counts formulas above 8,192 characters


def test_more_rows_than_a_sheet_holds_fail_before_the_work(tmp_path: Path, accounts: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """Beyond 1,048,575 accounts an xlsx output used to die after minutes of work; the
    limit is told first (here lowered to 10 rows, for speed)."""
    assert limits.TABLE_ROWS == 1_048_576 - 1
    monkeypatch.setattr(limits, "TABLE_ROWS", 10)
    code, out = run("score", str(accounts), "-o", str(tmp_path / "s.xlsx"))
    assert code == 1 and "40 rows do not fit in an Excel sheet" in out and "csv" in out
    assert not (tmp_path / "s.xlsx").exists()
    code, out = run("sample", "-n", "11", "-o", str(tmp_path / "x.xlsx"))
    assert code == 1 and "11 rows do not fit" in out
    assert run("score", str(accounts), "-o", str(tmp_path / "s.csv"))[0] == 0


# ------------------------------------------------------------------ YAML and options

DEEP = "[" * 100_000 + "]" * 100_000
BOMB = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize(("text", "needle"), [
    (DEEP, "nested more than 64 levels"),
    (BOMB, "aliases expand to more than 200,000 values"),
    ("name: a\nname: b\n", "line 2: YAML refused: key 'name' appears twice"),
    ("#" * 1_000_001, "at most 1,000,000"),
])
def test_hostile_yaml_is_refused_fast_as_one_line(tmp_path: Path, text: str, needle: str
                                                  ) -> None:
    """Deep nesting was a RecursionError traceback; a 600-byte alias bomb took 6 GB;
    duplicate keys passed silently."""
    path = tmp_path / "m.yaml"
    path.write_text(text, "utf-8")
    start = time.perf_counter()
    with pytest.raises(ModelError, match=needle):
        load_model(path)
    assert time.perf_counter() - start < 5


def test_the_alias_bomb_is_what_it_claims() -> None:
    """9 ** 9 = 387,420,489 strings when expanded; under 400 bytes of text."""
    assert len(BOMB) < 400 and BOMB.count("&") == 9 and BOMB.count("*") == 8 * 9


def test_model_check_and_score_agree(tmp_path: Path, accounts: Path) -> None:
    """`model --check` said OK for a model `score` rejected (a component named like a
    metric's score column)."""
    data = default_model().to_dict()
    component = data["metrics"][0]["component"]
    renamed = f"{data['metrics'][1]['column']}_score"
    data["components"] = {renamed if k == component else k: v
                          for k, v in data["components"].items()}
    for metric in data["metrics"]:
        if metric["component"] == component:
            metric["component"] = renamed
    import yaml
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data), "utf-8")
    checked, scored = run("model", "--check", str(path)), \
        run("score", str(accounts), "--model", str(path), "-o", str(tmp_path / "o.csv"))
    assert checked[0] == scored[0] == 1
    assert "score column has the name of another output column" in checked[1]
    assert "score column has the name of another output column" in scored[1]


@pytest.mark.parametrize("args", [
    ("forecast", "X.csv", "--horizon", "100000000", "-o", "f.csv"),
    ("template", "--rows", "100000000", "-o", "t.xlsx"),
    ("sample", "-n", "100000000", "-o", "s.csv"),
    ("sample", "--seed", "-1", "-o", "s.csv"),
    ("demo", "-n", "2000000"),
    ("trend", "X.csv", "--top", "100000000"),
])
def test_option_values_are_bounded_before_any_work(args: tuple[str, ...]) -> None:
    """`--horizon 100000000` and `template --rows 100000000` ate all memory."""
    start = time.perf_counter()
    code, out = run(*args)
    assert code == 2 and "is not in the range" in out, out
    assert time.perf_counter() - start < 2


# ------------------------------------------------------------------ operating-system errors

@pytest.mark.parametrize("command", ["score", "template", "demo", "addin"])
def test_a_300_character_name_is_one_line(tmp_path: Path, accounts: Path, command: str
                                          ) -> None:
    long = str(tmp_path / ("n" * 300))
    args = {"score": ("score", str(accounts), "-o", long + ".xlsx"),
            "template": ("template", "-o", long + ".xlsx"),
            "demo": ("demo", "-o", long), "addin": ("addin", "-o", long)}[command]
    one_line_error(chs(*args), "n" * 50)


@pytest.mark.parametrize("command", ["demo", "addin"])
def test_demo_and_addin_onto_a_file_are_one_line(tmp_path: Path, command: str) -> None:
    """`chs demo -o FILE` and `chs addin -o FILE` were FileExistsError tracebacks."""
    target = tmp_path / "FILE"
    target.write_text("mine", "utf-8")
    one_line_error(chs(command, "-o", str(target)), str(target), "is a file")
    assert target.read_text("utf-8") == "mine"


def test_an_unwritable_folder_is_one_line(tmp_path: Path, accounts: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The system refuses every file made in `locked` (as chmod 555 does for a user who is
    not root): os.open, the one call that creates files, raises EACCES there."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_open = os.open

    def refusing_open(path, flags, *args, **kwargs):
        if Path(path).parent == locked and flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)
    monkeypatch.setattr(os, "open", refusing_open)
    for output in ("s.xlsx", "s.csv"):
        code, out = run("score", str(accounts), "-o", str(locked / output))
        assert code == 1 and "Permission denied" in out and str(locked) in out, out
        assert len(out.strip().splitlines()) == 1
    assert list(locked.iterdir()) == []


FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
from chs_excel.app.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize("args", [("template", "-o", "t.xlsx"), ("sample", "-o", "s.csv")])
def test_a_full_disk_is_one_line_naming_the_file(tmp_path: Path, args: tuple[str, ...]
                                                 ) -> None:
    """The system refuses to grow any file past 20 KB (RLIMIT_FSIZE: the write fails as on
    a full disk); XlsxWriter's wrapped error and its half-closed zip used to print
    tracebacks."""
    target = str(tmp_path / args[-1])
    done = subprocess.run([sys.executable, "-c", FULL_DISK, *args[:-1], target],
                          capture_output=True, text=True, timeout=120, check=False)
    line = one_line_error(done, target)
    assert "File too large" in line or "No space" in line
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ crashes

def test_mixed_timezone_dates_score_and_forecast(tmp_path: Path) -> None:
    frame = make_sample(12, seed=4, dirty=False)
    zones = ["2026-06-17T10:00:00+02:00", "2026-06-17T10:00:00-05:00", "2026-06-17 10:00Z",
             "2026-06-17"]
    frame["renewal_date"] = [zones[i % 4] for i in range(len(frame))]
    source = tmp_path / "tz.csv"
    frame.to_csv(source, index=False)
    code, out = run("score", str(source), "-o", str(tmp_path / "s.csv"))
    assert code == 0, out
    code, out = run("forecast", str(tmp_path / "s.csv"), "-o", str(tmp_path / "f.csv"))
    assert code == 0, out
    periods = pd.read_csv(tmp_path / "f.csv")
    assert periods["accounts"].sum() == 12          # every renewal is in a period


# ------------------------------------------------------------------ csv formula injection

def test_csv_names_with_carriage_returns_and_formula_headers_stay_one_cell(
        tmp_path: Path) -> None:
    """A CR inside a name was written unquoted (Excel split the row and `@SUM(…)` began a
    new cell); metric names reached csv headers unescaped."""
    frame = make_sample(6, seed=1, dirty=False)
    frame.loc[0, "account_name"] = "Acme\r@SUM(1+1)"
    source = tmp_path / "a.csv"
    model = default_model().to_dict()
    metric = free_metric(model)
    data_col = metric["column"]
    metric["column"] = "=HYPERLINK(x)"
    frame.rename(columns={data_col: "=HYPERLINK(x)"}).to_csv(source, index=False,
                                                              quoting=csv.QUOTE_ALL)
    import yaml
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(model), "utf-8")
    out = tmp_path / "s.csv"
    code, text = run("score", str(source), "--model", str(tmp_path / "m.yaml"), "-o", str(out))
    assert code == 0, text
    raw = out.read_bytes().decode("utf-8")
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    assert len(rows) == 7                          # the CR did not split a row
    assert rows[1][1] == "Acme\r@SUM(1+1)"
    assert '"Acme\r@SUM(1+1)"' in raw              # quoted in the file
    assert "'=HYPERLINK(x)_score" in rows[0]       # a header is text, not a formula
    code, text = run("forecast", str(out), "-o", str(tmp_path / "f.csv"))
    assert code == 0, text


# ------------------------------------------------------------------ kill -9

def test_kill_9_mid_write_keeps_the_previous_output_and_leaves_nothing(tmp_path: Path
                                                                        ) -> None:
    """Killed while XlsxWriter writes its part files, `chs template` left a hidden partial
    output beside the target and up to 1.7 GB of scratch files in the temp folder; the
    previous output stays whole and the next run removes both."""
    system_tmp = tmp_path / "tmp"
    system_tmp.mkdir()
    env = {"TMPDIR": str(system_tmp)}
    out = tmp_path / "out.xlsx"
    assert chs("template", "-o", str(out), env=env).returncode == 0
    before = digest(out)
    writer = subprocess.Popen([sys.executable, "-m", "chs_excel", "template", "--rows",
                               "400000", "-o", str(out)], env={**os.environ, **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    scratch: list[Path] = []
    while time.monotonic() < deadline and writer.poll() is None:
        scratch = [p for p in system_tmp.glob("chs-excel-*") if any(p.iterdir())]
        if scratch and any(f.stat().st_size > 1_000_000 for f in scratch[0].iterdir()):
            break
        time.sleep(0.05)
    assert writer.poll() is None, "the writer finished before it could be killed"
    writer.send_signal(signal.SIGKILL)
    writer.wait(30)
    assert digest(out) == before
    assert scratch, "no scratch folder seen"
    assert chs("template", "-o", str(tmp_path / "next.xlsx"), env=env).returncode == 0
    assert digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["next.xlsx", "out.xlsx", "tmp"]
    assert list(system_tmp.iterdir()) == []


def test_text_beyond_a_cells_limit_is_cut_to_it_and_kept_whole_in_csv(tmp_path: Path
                                                                       ) -> None:
    """Excel holds 32,767 characters a cell: a 40,000-character name is cut to that in the
    workbook (Accounts and the Scores cache alike) and kept whole in a csv."""
    frame = make_sample(4, seed=1, dirty=False)
    frame.loc[0, "account_name"] = "x" * 40_000
    source = tmp_path / "a.csv"
    frame.to_csv(source, index=False)
    assert run("score", str(source), "-o", str(tmp_path / "s.xlsx"))[0] == 0
    assert serious_findings(tmp_path / "s.xlsx") == []
    book = openpyxl.load_workbook(tmp_path / "s.xlsx", data_only=True)
    assert len(book["Accounts"]["B2"].value) == len(book["Scores"]["B2"].value) == 32_767
    assert run("score", str(source), "-o", str(tmp_path / "s.csv"))[0] == 0
    assert len(pd.read_csv(tmp_path / "s.csv")["account_name"][0]) == 40_000


def test_parts_beyond_the_zip_limit_are_written_as_zip64(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """Outputs above ~580k accounts died with "Filesize would require ZIP64 extensions"
    after minutes of work: a Scores part passed zipfile's 2 GiB limit. The limit lowered
    to 50 KB shows every part beyond it is written (as ZIP64) and reads back."""
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 50_000)
    out = tmp_path / "t.xlsx"
    code, text = run("template", "--rows", "300", "-o", str(out))
    assert code == 0, text
    with zipfile.ZipFile(out) as z:
        assert max(i.file_size for i in z.infolist()) > 50_000
    assert openpyxl.load_workbook(out)["Scores"].max_row == 301


def test_rebuild_errors_name_the_file_and_cell_as_template_from_does(tmp_path: Path) -> None:
    """`rebuild` said "Model, table Components, row 1" where `template --from` names the
    file and the cell."""
    book = tmp_path / "book.xlsx"
    assert run("template", "-o", str(book))[0] == 0
    edited = openpyxl.load_workbook(book)
    model = edited["Model"]
    weight = next(c for row in model.iter_rows() for c in row if c.value == "weight")
    model.cell(weight.row + 1, weight.column).value = "heavy"
    edited.save(book)
    cell = f"Model!{model.cell(weight.row + 1, weight.column).coordinate}"
    told = [run(*args)[1] for args in (("rebuild", str(book), "-o", str(tmp_path / "r.xlsx")),
                                       ("template", "--from", str(book), "-o",
                                        str(tmp_path / "t.xlsx")))]
    for text in told:
        assert str(book) in text and cell in text and "'heavy'" in text, text
    assert told[0] == told[1]


def test_a_formula_beyond_excels_limit_is_refused_before_writing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Excel refuses a file with a formula above 8,192 characters. The model's bounds keep
    ours under it (400 category labels are looked up on the Levels Table, not spelled in
    the formula); the check behind them refuses before writing (shown with the limit
    lowered to 300 characters)."""
    import yaml

    from chs_excel.core import formulas
    data = default_model().to_dict()
    metric = next(m for m in data["metrics"] if m["method"] == "category")
    metric["points"] = {f"label {i:03d} " + "x" * 20: 50 for i in range(400)}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data), "utf-8")
    code, text = run("template", "--model", str(path), "-o", str(tmp_path / "t.xlsx"))
    assert code == 0 and serious_findings(tmp_path / "t.xlsx") == [], text
    assert formulas.FORMULA_CHARS == 8_192
    monkeypatch.setattr(formulas, "FORMULA_CHARS", 300)
    code, text = run("template", "-o", str(tmp_path / "short.xlsx"))
    assert code == 1 and "characters; Excel allows 300" in text and "Scores column" in text
    assert not (tmp_path / "short.xlsx").exists()


def test_drop_down_lists_keep_excels_255_characters() -> None:
    from chs_excel.sheets.workbook import _choice
    assert _choice(["a" * 127, "b" * 127])["source"] == ["a" * 127, "b" * 127]   # 255
    with pytest.raises(ChsError, match="longer than Excel's 255"):
        _choice(["a" * 128, "b" * 127])


@pytest.mark.parametrize("args", [("model", "--check", "{file}/m.yaml"),
                                  ("template", "--model", "{file}/m.yaml", "-o", "t.xlsx"),
                                  ("score", "{file}", "--model", "{long}.yaml", "-o", "o.csv")])
def test_any_os_error_reading_a_file_is_one_line_naming_it(tmp_path: Path, accounts: Path,
                                                          args: tuple[str, ...]) -> None:
    """A path through a file (Not a directory) or a name too long, wherever the file is
    opened, is one line naming the path (the command group's last resort)."""
    filled = [a.format(file=accounts, long=tmp_path / ("n" * 300)) for a in args]
    code, out = run(*(str(tmp_path / a) if a.endswith(".xlsx") else a for a in filled))
    assert code == 1 and len(out.strip().splitlines()) == 1, out
    named = next(a for a in filled if str(accounts) in a and a != str(accounts)) \
        if "{file}/" in " ".join(args) else str(tmp_path / ("n" * 300))
    assert out.startswith(f"Error: {named}"), out


def test_only_errors_caused_by_the_system_become_its_one_line(tmp_path: Path) -> None:
    """A wrapped OSError (XlsxWriter's FileCreateError(e)) or one raised from is the
    system's; a bug raised while handling one stays a bug, and a ChsError stays itself."""
    from xlsxwriter.exceptions import FileCreateError

    from chs_excel.core.files import os_error, write_atomically
    full = OSError(28, "No space left on device", "x.xlsx")
    assert os_error(FileCreateError(full)) is full
    try:
        try:
            raise full
        except OSError as exc:
            raise KeyError("bug") from exc
    except KeyError as caused:
        assert os_error(caused) is full
    try:
        try:
            raise full
        except OSError:
            raise KeyError("bug")  # noqa: B904 - a bug while handling it
    except KeyError as bug:
        assert os_error(bug) is None

    def fails(_tmp: Path) -> None:
        try:
            raise full
        except OSError:
            raise ChsError("x.csv: the model is wrong") from None
    with pytest.raises(ChsError, match="the model is wrong"):
        write_atomically(tmp_path / "o.csv", fails)


def test_values_sheets_of_the_macros_escape_and_cut_text_too() -> None:
    """The macros' values sheets (xlsx/package.py) keep the same rules as XlsxWriter."""
    import numpy as np

    from chs_excel.xlsx.package import _text_cells
    cells = _text_cells(np.array(["A1", "A2"], dtype=object),
                        pd.Series(["x" * 40_000, "a\x07<b"]), "")
    assert cells[1].endswith('preserve">a_x0007_&lt;b</t></is></c>')
    assert "x" * 32_767 + "<" in cells[0] and "x" * 32_768 not in cells[0]


# ------------------------------------------------------------------ dates past pandas' range

@pytest.mark.parametrize("args", [("--from", "9999-12-01"),
                                  ("--as-of", "9999-12-31", "-o", "f.xlsx")])
def test_forecast_far_future_dates_are_refused_without_a_traceback(
        tmp_path: Path, accounts: Path, args: tuple[str, ...]) -> None:
    scores = tmp_path / "scores.csv"
    assert chs("score", str(accounts), "-o", str(scores)).returncode == 0
    done = chs("forecast", str(scores), *(str(tmp_path / a) if a.endswith(".xlsx") else a
                                          for a in args))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "is outside the dates chs handles (1677-09-22 to 2262-04-11" in done.stderr
    assert not (tmp_path / "f.xlsx").exists()


def test_a_snapshot_dated_2620_is_refused_not_shifted(tmp_path: Path, accounts: Path) -> None:
    scores = tmp_path / "scores.csv"
    assert chs("score", str(accounts), "-o", str(scores)).returncode == 0
    store = tmp_path / "h.sqlite"
    done = chs("snapshot", str(scores), "--date", "2620-01-01", "--history", str(store))
    assert done.returncode == 2 and "2620-01-01 is outside the dates" in done.stderr
    assert not store.exists()


def test_history_dates_typed_as_text_are_iso_or_refused() -> None:
    from chs_excel.core.errors import InputError
    from chs_excel.io.history_store import snapshot_dates
    got = snapshot_dates(pd.Series(["2026-02-01", None, pd.Timestamp("2026-03-05 00:00")]),
                         "History")
    assert got.tolist()[0] == pd.Timestamp("2026-02-01") and pd.isna(got.tolist()[1])
    assert got.tolist()[2] == pd.Timestamp("2026-03-05")
    with pytest.raises(InputError, match=r"01/02/2026.*1 February or 2 January"):
        snapshot_dates(pd.Series(["2026-01-01", "01/02/2026"]), "History")
    with pytest.raises(ChsError, match="2620-01-01 is outside the dates chs handles"):
        snapshot_dates(pd.Series([pd.Timestamp("2026-01-01").to_pydatetime().replace(
            year=2620)], dtype=object), "History")


def test_a_name_longer_than_a_cell_is_a_data_issue(tmp_path: Path) -> None:
    frame = make_sample(5, seed=1, dirty=False)
    frame.loc[frame.index[0], "account_name"] = "x" * 40_000  # 32,767 is Excel's cell limit
    data = tmp_path / "long.csv"
    frame.to_csv(data, index=False)
    done = chs("score", str(data), "-o", str(tmp_path / "long.xlsx"))
    assert done.returncode == 0 and "Data issues: 1" in done.stdout, done.stdout
    book = openpyxl.load_workbook(tmp_path / "long.xlsx", read_only=True)
    rows = list(book["Data issues"].iter_rows(values_only=True))
    assert any("longer than an Excel cell holds (32,767 characters)" in str(r) for r in rows)


def test_non_ascii_digits_in_a_metric_are_a_data_issue() -> None:
    from chs_excel.core.engine import score
    frame = make_sample(3, seed=1, dirty=False)
    metric = default_model().metrics[0].column
    frame[metric] = frame[metric].astype(object)
    frame.loc[frame.index[0], metric] = "\u0665\u0660"  # Arabic-Indic 50
    frame.loc[frame.index[1], metric] = "\uff15\uff10"  # full-width 50
    issues = score(default_model(), frame).issues
    assert (issues["column"] == metric).sum() == 2
    assert set(issues["problem"]) == {"not a number"}


def test_calibrate_on_repeated_ids_names_the_file_and_its_rows(tmp_path: Path) -> None:
    frame = make_sample(40, seed=2, dirty=False)
    frame["renewed"] = [1, 0] * 20
    frame.loc[frame.index[3], "account_id"] = frame.loc[frame.index[1], "account_id"]
    data = tmp_path / "accounts.csv"
    frame.to_csv(data, index=False)
    done = chs("calibrate", str(data), "--learn-points", "-o", str(tmp_path / "c.xlsx"))
    # data rows 2 and 4 of the frame are file rows 3 and 5 (the header is row 1)
    one_line_error(done, f"{data}: ", "account ids must be unique", "(rows 3, 5)")
