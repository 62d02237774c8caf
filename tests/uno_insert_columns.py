"""Insert columns into a workbook's Accounts sheet through LibreOffice, as a user would.

Run by the system Python (the one with LibreOffice's `uno` module), not by the project's:

    python3 tests/uno_insert_columns.py IN.xlsx OUT.xlsx 1 4

inserts an empty column before each given 0-based Accounts column (in the order given),
lets LibreOffice adjust every reference as it does for a user, recalculates everything
and saves OUT.xlsx. Used by tests/test_by_header.py.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uno  # type: ignore[import-not-found]
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]


def prop(name: str, value: object) -> PropertyValue:
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def main(src: str, out: str, columns: list[int]) -> None:
    pipe = f"chs-uno-{time.time_ns()}"
    with tempfile.TemporaryDirectory(prefix="lo-uno-") as profile:
        office = subprocess.Popen(
            ["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
             "--nologo", f"--accept=pipe,name={pipe};urp;"])
        try:
            local = uno.getComponentContext()
            resolver = local.ServiceManager.createInstanceWithContext(
                "com.sun.star.bridge.UnoUrlResolver", local)
            for _ in range(120):
                try:
                    ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
                    break
                except Exception:  # not listening yet
                    time.sleep(0.5)
            else:
                raise RuntimeError("LibreOffice did not start")
            desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop",
                                                                   ctx)
            doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(str(Path(src).resolve())),
                                               "_blank", 0, (prop("Hidden", True),))
            sheet = doc.Sheets.getByName("Accounts")
            for col in columns:
                sheet.Columns.insertByIndex(col, 1)
            doc.calculateAll()
            doc.storeToURL(uno.systemPathToFileUrl(str(Path(out).resolve())),
                           (prop("FilterName", "Calc MS Excel 2007 XML"),))
            doc.close(True)
        finally:
            office.terminate()
            office.wait(60)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [int(c) for c in sys.argv[3:]])
