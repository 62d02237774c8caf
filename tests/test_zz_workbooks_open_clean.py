"""Every workbook the test suite wrote passes check_xlsx: no REPAIR or MAYBE finding.

Collected last (file names sort), it checks the copies `core.files.write_atomically`
kept in CHS_KEEP_WRITTEN (tests/conftest.py) and removes the clean ones.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from chs_excel.core.files import KEEP_WRITTEN
from tests.cli_runner import run
from tests.tools.check_xlsx import Checker

SERIOUS = ("REPAIR", "MAYBE")


def serious_findings(path: Path) -> list[str]:
    """check_xlsx's REPAIR and MAYBE findings for one package, one line each."""
    found = Checker(str(path)).run().findings
    return [f"{path.name}: [{f['severity']}] {f['check']} {f['part']}: {f['message'][:300]}"
            for f in found if f["severity"] in SERIOUS]


def test_a_written_workbook_is_kept_for_checking(tmp_path: Path) -> None:
    kept = Path(os.environ[KEEP_WRITTEN])
    before = set(kept.iterdir())
    assert run("template", "-o", str(tmp_path / "kept.xlsx"))[0] == 0
    assert [p.name.endswith("-kept.xlsx") for p in set(kept.iterdir()) - before] == [True]


def test_the_shipped_workbooks_open_clean() -> None:
    root = Path(__file__).parents[1]
    shipped = [*root.glob("templates/*.xlsx"), *root.glob("workbooks/*.xlsx"),
               *root.glob("workbooks/*/*.xlsx")]
    assert len(shipped) >= 2
    assert [line for path in shipped for line in serious_findings(path)] == []


def test_every_workbook_the_tests_wrote_opens_clean() -> None:
    kept = sorted(Path(os.environ[KEEP_WRITTEN]).iterdir())
    assert kept, "no workbook was kept: is CHS_KEEP_WRITTEN set by tests/conftest.py?"
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(serious_findings, kept, chunksize=8))
    problems = [line for lines in results for line in lines]
    for path, lines in zip(kept, results, strict=True):
        if not lines:
            path.unlink()
    assert not problems, f"{len(problems)} findings (files kept in {kept[0].parent}):\n" \
        + "\n".join(problems[:40])
