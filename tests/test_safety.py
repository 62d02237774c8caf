"""Your files are safe: no command writes over its inputs, concurrent writers to one file
queue instead of losing a snapshot, a macro-enabled package keeps its .xlsm name, a
re-score does not wipe History, and hostile packages fail as one line, quickly."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from chs_excel.app import macros
from chs_excel.core.errors import ChsError
from chs_excel.core.files import lock_path, locked
from chs_excel.io.history_store import read_history
from chs_excel.io.sample import make_sample
from chs_excel.xlsx import guard
from chs_excel.xlsx.package import WORKBOOK_TYPES, Package
from tests.cli_runner import digest, run

ROOT = Path(__file__).resolve().parents[1]


def chs(*args: str, timeout: float = 120, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`chs ARGS` in a real process (this worktree's package)."""
    return subprocess.run([sys.executable, "-m", "chs_excel", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A scored workbook with two snapshots, its scores csv, a model and outcomes."""
    folder = tmp_path_factory.mktemp("safety")
    accounts = folder / "accounts.csv"
    make_sample(60, seed=3, dirty=False).to_csv(accounts, index=False)
    book, scores = folder / "book.xlsx", folder / "scores.csv"
    for out in (book, scores):
        assert run("score", str(accounts), "-o", str(out))[0] == 0
    for day in ("2026-01-01", "2026-02-01"):
        assert run("snapshot", str(book), "--date", day)[0] == 0
    model, outcomes = folder / "model.yaml", folder / "outcomes.xlsx"
    assert run("model", "--default", "-o", str(model))[0] == 0
    assert run("sample", "-n", "20", "-o", str(outcomes))[0] == 0
    return {"folder": folder, "accounts": accounts, "book": book, "scores": scores,
            "model": model, "outcomes": outcomes}


# ---------------------------------------------------------------- 1. inputs never replaced

def _aliases(path: Path) -> list[Path]:
    """The path itself, the path through `sub/..`, and a symbolic link to it."""
    sub = path.parent / "sub"
    sub.mkdir(exist_ok=True)
    link = path.with_name(f"link-{path.name}")
    if not link.exists():
        link.symlink_to(path)
    return [path, sub / ".." / path.name, link]


@pytest.mark.parametrize("command", [
    "forecast {scores} -o {target}",
    "calibrate {book} -o {target}",
    "calibrate {book} --outcomes {outcomes} -o {target}",
    "calibrate {book} --model {model} -o {folder}/report.xlsx --write-model {target}",
    "calibrate {book} --model {model} -o {folder}/report.xlsx --write-curve {target}",
    "snapshot {book} -o {target}",
    "trend {book} -o {target}",
    "rebuild {book} -o {target}",
])
def test_no_command_writes_over_an_input(files: dict[str, Path], command: str) -> None:
    victim = {"forecast": "scores", "rebuild": "book", "snapshot": "book", "trend": "book"}
    name = victim.get(command.split()[0])
    if name is None:
        name = ("outcomes" if "--outcomes" in command else
                "model" if "--write" in command else "book")
    before = {k: digest(p) for k, p in files.items() if p.is_file()}
    for target in _aliases(files[name]):
        args = command.format(**{k: str(v) for k, v in files.items()}, target=target)
        code, out = run(*args.split())
        assert code == 1 and "is also an input" in out, (args, out)
    assert {k: digest(p) for k, p in files.items() if p.is_file()} == before


def test_write_model_and_write_curve_need_two_files(files: dict[str, Path]) -> None:
    both = files["folder"] / "same.yaml"
    code, out = run("calibrate", str(files["book"]), "-o", str(files["folder"] / "r.xlsx"),
                    "--write-model", str(both), "--write-curve", str(both))
    assert code == 1 and "two files" in out


def test_snapshot_without_o_still_updates_the_book_in_place(files: dict[str, Path]) -> None:
    book = files["folder"] / "inplace.xlsx"
    book.write_bytes(files["book"].read_bytes())
    assert run("snapshot", str(book), "--date", "2026-03-01")[0] == 0
    assert len(read_history(book).dates) == 3


# ---------------------------------------------------------------- 2. concurrent writers

def _together(*commands: list[str], env: dict[str, str] | None = None) \
        -> list[subprocess.CompletedProcess[str]]:
    """Start every command at once and wait for all."""
    procs = [subprocess.Popen([sys.executable, "-m", "chs_excel", *c], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
             for c in commands]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


def test_concurrent_snapshots_into_one_workbook_all_land(tmp_path: Path) -> None:
    """Three `chs snapshot` processes on one workbook at once: each reads History, adds its
    date and replaces the file. Without the lock the last to finish wins and the others'
    snapshots are lost while all three report success."""
    accounts = tmp_path / "accounts.csv"
    make_sample(3000, seed=4, dirty=False).to_csv(accounts, index=False)
    book = tmp_path / "book.xlsx"
    assert run("score", str(accounts), "-o", str(book))[0] == 0
    days = ["2026-01-01", "2026-01-02", "2026-01-03"]
    done = _together(*(["snapshot", str(book), "--date", d] for d in days))
    assert all(p.returncode == 0 for p in done), [p.stderr for p in done]
    assert [d.isoformat() for d in read_history(book).dates] == days
    # no temporary file left; the last writer removed the lock file
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_concurrent_snapshots_into_one_new_sqlite_store_all_land(tmp_path: Path) -> None:
    scores = tmp_path / "scores.csv"
    accounts = tmp_path / "accounts.csv"
    make_sample(2000, seed=5, dirty=False).to_csv(accounts, index=False)
    assert run("score", str(accounts), "-o", str(scores))[0] == 0
    store = tmp_path / "h.sqlite"
    days = ["2026-01-01", "2026-01-02", "2026-01-03"]
    done = _together(*(["snapshot", str(scores), "--history", str(store), "--date", d]
                       for d in days))
    assert all(p.returncode == 0 for p in done), [p.stderr for p in done]
    history = read_history(store)
    assert [d.isoformat() for d in history.dates] == days
    assert len(history.rows) == 3 * 2000


WRITER = """
import datetime as dt, sys
from pathlib import Path
from chs_excel.analytics.history import snapshot
from chs_excel.core.model import default_model
from chs_excel.io.history_store import write_history
from chs_excel.io.scores import read_scores
found = read_scores(Path(sys.argv[2]))
snap = snapshot(found.scores, default_model(), dt.date.fromisoformat(sys.argv[3]), "x")
print("ready", flush=True)
sys.stdin.readline()  # every writer starts writing at once
write_history(Path(sys.argv[1]), snap)
"""


def test_sqlite_writers_without_the_file_lock_all_land(tmp_path: Path) -> None:
    """Six processes write one new SQLite store at the same moment through
    `write_history` alone: BEGIN IMMEDIATE makes each take SQLite's write lock before
    reading the schema, so none fails on a column another just added ("duplicate column
    name", which lost a snapshot in about half the runs before) and all six dates land."""
    accounts, scores = tmp_path / "accounts.csv", tmp_path / "scores.csv"
    make_sample(3000, seed=6, dirty=False).to_csv(accounts, index=False)
    assert run("score", str(accounts), "-o", str(scores))[0] == 0
    store = tmp_path / "h.sqlite"
    days = [f"2026-01-0{d}" for d in range(1, 7)]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(store), str(scores), d],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}) for d in days]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("\n")
        p.stdin.flush()
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    history = read_history(store)
    assert [d.isoformat() for d in history.dates] == days and len(history.rows) == 6 * 3000


HOLD = """
import sys, time
from pathlib import Path
from chs_excel.core.files import locked
with locked(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding `path`'s write lock for `seconds`."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_waits_then_fails_with_one_line(files: dict[str, Path],
                                                       tmp_path: Path) -> None:
    book = tmp_path / "book.xlsx"
    book.write_bytes(files["book"].read_bytes())
    before = digest(book)
    holder = _hold_lock(book, 20)
    try:
        started = time.monotonic()
        done = chs("snapshot", str(book), "--date", "2026-05-01",
                   env={"CHS_LOCK_TIMEOUT": "1"})
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "another chs command or macro is still writing it" in done.stderr
    assert waited >= 1 and digest(book) == before
    # the holder died: its lock went with it, the next writer goes ahead
    assert lock_path(book).exists()  # a killed holder leaves its (empty) lock file
    assert chs("snapshot", str(book), "--date", "2026-05-01").returncode == 0
    assert not lock_path(book).exists()


def test_a_waiting_writer_goes_ahead_when_the_first_finishes(files: dict[str, Path],
                                                             tmp_path: Path) -> None:
    book = tmp_path / "book.xlsx"
    book.write_bytes(files["book"].read_bytes())
    holder = _hold_lock(book, 2)
    done = chs("snapshot", str(book), "--date", "2026-06-01")
    holder.wait()
    assert done.returncode == 0, done.stderr
    assert dt_strings(read_history(book).dates)[-1] == "2026-06-01"


def dt_strings(dates: list) -> list[str]:
    return [d.isoformat() for d in dates]


def test_the_file_macros_hold_the_lock(files: dict[str, Path], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """refresh/snapshot on a file (`macros.on_file`) wait for another writer too."""
    book = tmp_path / "book.xlsx"
    book.write_bytes(files["book"].read_bytes())
    monkeypatch.setenv("CHS_LOCK_TIMEOUT", "0.5")
    holder = _hold_lock(book, 20)
    try:
        for action in (macros.refresh_file, macros.snapshot_file):
            with pytest.raises(ChsError, match="still writing"):
                action(book)
    finally:
        holder.kill()
        holder.wait()
    assert "2026-07-01" in macros.snapshot_file(book, as_of=__import__("datetime").date(
        2026, 7, 1))
    assert dt_strings(read_history(book).dates)[-1] == "2026-07-01"


def test_locks_nest_within_one_process(tmp_path: Path) -> None:
    target = tmp_path / "x.xlsx"
    with locked(target, tmp_path / "sub" / ".." / "x.xlsx"), locked(target):
        pass  # the same file twice, and again inside: no deadlock


# ---------------------------------------------------------------- 3. .xlsm stays .xlsm

def _as_xlsm(book: Path, target: Path) -> Path:
    """`book` turned into a macro-enabled package: the workbook part's content type and a
    VBA project (xlwings' quickstart's), as Excel saves an .xlsm."""
    import xlwings
    quickstart = Path(xlwings.__file__).parent / "quickstart_standalone.xlsm"
    with zipfile.ZipFile(quickstart) as z:
        vba = z.read("xl/vbaProject.bin")
    with zipfile.ZipFile(book) as zin, zipfile.ZipFile(target, "w",
                                                       zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "[Content_Types].xml":
                data = data.replace(WORKBOOK_TYPES[".xlsx"].encode(),
                                    WORKBOOK_TYPES[".xlsm"].encode()).replace(
                    b"<Default ", b'<Default Extension="bin" ContentType="application/'
                    b'vnd.ms-office.vbaProject"/><Default ', 1)
            if info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdVba" Type="'
                                    b"http://schemas.microsoft.com/office/2006/relationships/"
                                    b'vbaProject" Target="vbaProject.bin"/></Relationships>')
            zout.writestr(info, data)
        zout.writestr("xl/vbaProject.bin", vba)
    return target


def test_a_macro_enabled_book_is_never_saved_as_xlsx(files: dict[str, Path],
                                                     tmp_path: Path) -> None:
    xlsm = _as_xlsm(files["book"], tmp_path / "book.xlsm")
    copy = tmp_path / "copy.xlsx"
    code, out = run("snapshot", str(xlsm), "-o", str(copy), "--date", "2026-04-01")
    assert code == 1 and "name the copy .xlsm" in out and not copy.exists()
    assert run("snapshot", str(xlsm), "-o", str(tmp_path / "copy.xlsm"),
               "--date", "2026-04-01")[0] == 0
    package = Package(xlsm)
    with pytest.raises(ChsError, match=r"macro-enabled workbook.*name the output \.xlsm"):
        package.save(copy)
    with pytest.raises(ChsError, match=r"macro-free workbook.*name the output \.xlsx"):
        Package(files["book"]).save(tmp_path / "plain.xlsm")
    assert not copy.exists() and not (tmp_path / "plain.xlsm").exists()


# ---------------------------------------------------------------- 4. re-scoring keeps History

def test_rescoring_into_a_workbook_with_history_is_refused(files: dict[str, Path],
                                                          tmp_path: Path) -> None:
    book = tmp_path / "scored.xlsx"
    book.write_bytes(files["book"].read_bytes())  # two snapshots in History
    before = digest(book)
    code, out = run("score", str(files["accounts"]), "-o", str(book))
    assert code == 1 and "History with 2 snapshot(s)" in out and "--replace" in out
    assert "chs template --from" in out and digest(book) == before
    assert run("score", str(files["accounts"]), "-o", str(book), "--replace")[0] == 0
    assert read_history(book).dates == []
    # a previous `chs score` output with nothing added is replaced, as before
    assert run("score", str(files["accounts"]), "-o", str(book))[0] == 0


def test_rescoring_into_a_workbook_with_an_added_sheet_is_refused(files: dict[str, Path],
                                                                  tmp_path: Path) -> None:
    import openpyxl
    book = tmp_path / "scored.xlsx"
    assert run("score", str(files["accounts"]), "-o", str(book))[0] == 0
    wb = openpyxl.load_workbook(book)
    wb.create_sheet("My notes")["A1"] = "call the top 10 on Monday"
    wb.save(book)
    code, out = run("score", str(files["accounts"]), "-o", str(book))
    assert code == 1 and "'My notes'" in out
    other = tmp_path / "notes.xlsx"
    other.write_bytes(b"not a workbook")
    code, out = run("score", str(files["accounts"]), "-o", str(other))
    assert code == 1 and "--replace" in out and other.read_bytes() == b"not a workbook"


# ---------------------------------------------------------------- 5. hostile packages

def _rewrite(source: Path, target: Path, edit) -> Path:
    with zipfile.ZipFile(source) as zin:
        parts = {i.filename: zin.read(i) for i in zin.infolist()}
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in edit(parts).items():
            zout.writestr(name, data)
    return target


def _history_part(parts: dict[str, bytes]) -> str:
    return next(n for n, b in parts.items()
                if n.startswith("xl/tables/") and b'displayName="History"' in b)


def _without_rels(parts: dict[str, bytes]) -> dict[str, bytes]:
    del parts["_rels/.rels"]
    return parts


def _broken_history(parts: dict[str, bytes]) -> dict[str, bytes]:
    name = _history_part(parts)
    parts[name] = parts[name][:len(parts[name]) // 2]
    return parts


def _history_without_columns(parts: dict[str, bytes]) -> dict[str, bytes]:
    name = _history_part(parts)
    xml = parts[name].decode()
    xml = re.sub(r'<tableColumn id="[3-5]"[^>]*/>', "", xml)
    parts[name] = re.sub(r'(<tableColumns) count="\d+"', r"\1", xml).encode()
    return parts


TINY = {
    "[Content_Types].xml": (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{WORKBOOK_TYPES[".xlsx"]}"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'),
    "_rels/.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        '</Relationships>'),
    "xl/workbook.xml": (
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Accounts" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '</Relationships>'),
}


def _tiny(path: Path, cells: str) -> Path:
    """A minimal workbook whose one sheet holds `cells` (inline strings)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in TINY.items():
            z.writestr(name, text)
        z.writestr("xl/worksheets/sheet1.xml",
                   '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
                   f'main"><sheetData>{cells}</sheetData></worksheet>')
    return path


def _far_cell(path: Path) -> Path:
    """1.5 KB: A1 and XFD1048576, 17 billion cells to calamine (it aborts natively)."""
    return _tiny(path, '<row r="1"><c r="A1" t="inlineStr"><is><t>account_id</t></is></c>'
                       '</row><row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x'
                       '</t></is></c></row>')


def _strings_bomb(path: Path) -> Path:
    """210 MB of shared strings in a 0.2 MB file."""
    _tiny(path, '<row r="1"><c r="A1" t="s"><v>0</v></c></row>')
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as z, \
            z.open("xl/sharedStrings.xml", "w") as part:
        part.write(b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                   b"<si><t>")
        block = b"a" * (1 << 20)
        for _ in range(210):
            part.write(block)
        part.write(b"</t></si></sst>")
    return path


def _ratio_bomb(path: Path) -> Path:
    """A sheet of 60 MB (under every size limit) packed over 200 to 1."""
    _tiny(path, "")
    with zipfile.ZipFile(path) as zin:
        parts = {i.filename: zin.read(i) for i in zin.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, data in parts.items():
            if not name.endswith("sheet1.xml"):
                z.writestr(name, data)
        with z.open("xl/worksheets/sheet1.xml", "w") as part:
            part.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                       b'2006/main"><sheetData>')
            for _ in range(60):
                part.write(b" " * (1 << 20))
            part.write(b"</sheetData></worksheet>")
    return path


def _declared_bomb(path: Path) -> Path:
    """A sheet whose zip entry declares 4 GB unpacked (the central directory's size field;
    the zip reader stops at the declared size, so this is what a reader trusts)."""
    _tiny(path, '<row r="1"><c r="A1" t="inlineStr"><is><t>account_id</t></is></c></row>')
    data = bytearray(path.read_bytes())
    name = b"xl/worksheets/sheet1.xml"
    central = data.rindex(name) - 46  # the central directory entry's fixed 46 bytes
    assert data[central:central + 4] == b"PK\x01\x02"
    data[central + 24:central + 28] = (0xFFFF_FFF0).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


HOSTILE = {
    "no_rels": (lambda book, p: _rewrite(book, p, _without_rels), "_rels/.rels"),
    "broken_history": (lambda book, p: _rewrite(book, p, _broken_history),
                       "is damaged|not a valid xlsx"),
    "history_columns": (lambda book, p: _rewrite(book, p, _history_without_columns),
                        "History"),
    "far_cell": (lambda book, p: _far_cell(p), "spans 16,384 columns x 1,048,576 rows"),
    "strings_bomb": (lambda book, p: _strings_bomb(p), "above the 200 MB"),
    "declared_bomb": (lambda book, p: _declared_bomb(p), "above the 2,048 MB"),
    "ratio_bomb": (lambda book, p: _ratio_bomb(p), "refused as a zip bomb"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_packages_fail_as_one_line(files: dict[str, Path], tmp_path: Path,
                                          kind: str) -> None:
    make, expected = HOSTILE[kind]
    path = make(files["book"], tmp_path / f"{kind}.xlsx")
    commands = [("snapshot", str(path), "--date", "2026-01-03", "-o",
                 str(tmp_path / "out.xlsx")), ("trend", str(path)),
                ("score", str(path), "-o", str(tmp_path / "out.csv"))]
    if kind.startswith("history"):
        commands = commands[:2]  # a damaged History does not stop scoring the Accounts
    for args in commands:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.monotonic()
        done = chs(*args, timeout=60)
        took = time.monotonic() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 1, (args, done.returncode, done.stderr[-500:])
        assert len(lines) == 1 and lines[0].startswith(f"Error: {path}"), (args, lines)
        assert re.search(expected, lines[0]), (args, lines)
        assert took < 20, (args, took)
        assert peak_mb < 400 or peak_mb <= before / 1024, (args, peak_mb)
    assert not (tmp_path / "out.xlsx").exists() and not (tmp_path / "out.csv").exists()


def test_cells_without_references_cannot_hide_a_span(tmp_path: Path) -> None:
    """A cell and a row written without r="" are placed by position (from A1), so they
    count from A1: XFD1 plus a bare cell in row 1048576 spans the whole sheet."""
    hidden = _tiny(tmp_path / "hidden.xlsx",
                   '<row r="1"><c r="XFD1"/></row><row r="1048576"><c/></row>')
    with pytest.raises(ChsError, match="16,384 columns x 1,048,576 rows"):
        guard.check_package(hidden)
    fine = _tiny(tmp_path / "fine.xlsx", '<row r="1"><c r="XFD1"/></row>'
                                         + "<row><c/><c/></row>" * 5)
    guard.check_package(fine)


def test_the_guard_passes_real_workbooks_quickly(files: dict[str, Path]) -> None:
    guard.check_package(files["book"])
    for name in ("customer_health_scorecard.xlsx",):
        template = ROOT / "templates" / name
        if template.exists():
            guard.check_package(template)
