"""Test-suite setup: every workbook the tests write is kept for check_xlsx.

`core.files.write_atomically` copies each .xlsx/.xlsm it writes into the folder named by
CHS_KEEP_WRITTEN (subprocesses inherit it), so the workbooks of temporary test folders
survive until `tests/test_zz_workbooks_open_clean.py`, collected last, checks them all.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import pytest

from chs_excel.core.files import KEEP_WRITTEN

if not os.environ.get(KEEP_WRITTEN):
    os.environ[KEEP_WRITTEN] = tempfile.mkdtemp(prefix="chs-tests-written-")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the folder of kept workbooks once every one was checked clean (removed)."""
    with contextlib.suppress(OSError):
        Path(os.environ[KEEP_WRITTEN]).rmdir()   # only when empty
