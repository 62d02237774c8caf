"""The package's layers stay one-way, and the UDF module Excel imports stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    """import-linter's contracts in pyproject.toml: core -> ... -> app, never upwards."""
    probe = ("import sys; from importlinter.cli import lint_imports; "
             f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, "
             "no_cache=True, no_logo=True))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=ROOT, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_importing_the_udf_and_macro_modules_loads_no_workbook_writer() -> None:
    """What Excel's UDF server imports: the engine and the range converters only."""
    probe = ("import sys, chs_excel.app.udfs, chs_excel.app.scripts; "
             "heavy = [m for m in ('xlsxwriter', 'openpyxl', 'chs_excel.sheets', "
             "'chs_excel.xlsx', 'chs_excel.app.macros', 'chs_excel.analytics') "
             "if any(k == m or k.startswith(m + '.') for k in sys.modules)]; print(heavy)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=ROOT, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
