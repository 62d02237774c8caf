"""LibreOffice headless as the test's spreadsheet engine: recalculate an xlsx, read it back.

Each run gets a fresh profile whose `OOXMLRecalcMode` is 0 ("always"), so every formula is
recomputed on load instead of trusting the cached values in the file (docs/excel-facts.md),
and whose threaded formula-group calculation is off: LibreOffice 7.4 crashed (signal 11 in
its formula ThreadTask) on about one test run in ten with it on.
The result is a test artefact: LibreOffice rewrites the file, so it is never shipped.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import openpyxl

RECALC_ALWAYS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
 <prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
 <prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Calculation">
 <prop oor:name="UseThreadedCalculationForFormulaGroups" oor:op="fuse"><value>false</value>
 </prop></item>
</oor:items>
"""


def soffice() -> str:
    """The soffice executable; a clear failure (not a skip) when LibreOffice is missing."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        raise RuntimeError("LibreOffice (soffice) is not installed; these tests need it: "
                           "apt-get install -y libreoffice-calc-nogui")
    return found


def convert(src: Path, out_dir: Path, to: str = "xlsx", timeout: float = 600) -> Path:
    """`src` converted by a fresh LibreOffice profile that recalculates everything on load."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:
        user = Path(profile) / "user"
        user.mkdir()
        (user / "registrymodifications.xcu").write_text(RECALC_ALWAYS, "utf-8")
        run = subprocess.run(
            [soffice(), f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
             "--convert-to", to, "--outdir", str(out_dir), str(src)],
            capture_output=True, text=True, timeout=timeout, check=False)
    target = out_dir / f"{Path(src).stem}.{to.split(':')[0]}"
    if run.returncode != 0 or not target.exists():
        raise RuntimeError(f"LibreOffice failed to convert {src}: {run.stdout} {run.stderr}")
    return target


def recalculate(path: Path, out_dir: Path | None = None) -> Path:
    """A LibreOffice-recalculated copy of the workbook `path` (in `out_dir` or a temp dir)."""
    out_dir = out_dir or Path(tempfile.mkdtemp(prefix="lo-out-"))
    if out_dir.resolve() == Path(path).resolve().parent:
        raise ValueError("out_dir must differ from the workbook's folder (same file name)")
    return convert(Path(path), out_dir)


def values(path: Path) -> openpyxl.Workbook:
    """The workbook's computed values (openpyxl, data_only)."""
    return openpyxl.load_workbook(path, data_only=True)


def sheet_rows(path: Path, sheet: str) -> list[list[Any]]:
    """One sheet's computed values, row by row (header first)."""
    book = values(path)
    return [list(row) for row in book[sheet].iter_rows(values_only=True)]
