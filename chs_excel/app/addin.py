"""`chs addin -o DIR`: a macro-enabled scorecard template for Excel users with xlwings.

The workbook is the installed xlwings' own standalone quickstart (`quickstart_standalone
.xlsm`, which carries the xlwings VBA module), copied at build time, never committed: its
config sheet is activated as `xlwings.conf` with `UDF Modules` = `chs_excel.app.udfs`, its
first sheet becomes `Start here`, and the Model, Accounts (sample accounts), Scores and
Data issues sheets are added. Every other part of xlwings' file (the VBA project
included) is kept byte for byte. Beside it, `chs_scorecard.py` lets the xlwings ribbon's
`Run main` button refresh the scores (Windows and macOS).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import python_calamine as calamine
import xlwings

from chs_excel.app.macros import XLWINGS_VERSION_NAME, refresh
from chs_excel.core.errors import ChsError
from chs_excel.core.files import make_folder, write_atomically
from chs_excel.core.model import Model
from chs_excel.io.book import FileBook, report_formats
from chs_excel.sheets.workbook import build_workbook
from chs_excel.xlsx.package import Block, Package, Sheet

QUICKSTART = "quickstart_standalone.xlsm"
CONFIG_SHEET, CONFIG_DRAFT = "xlwings.conf", "_xlwings.conf"
UDF_MODULES = "chs_excel.app.udfs;chs_excel.app.scripts"
TEMPLATE = "chs_scorecard"
SAMPLE_ACCOUNTS = 25
START_HERE = (
    "Customer health scorecard — xlwings template",
    "",
    "1. Model: the scorecard (components, metrics, levels, rules, segments, renewal "
    "probabilities). Edit the cells; keep the Table names.",
    "2. Accounts: paste your accounts into the Accounts Table (one row per account, "
    "headers as in the sample).",
    "3. Refresh: Alt+F8 > chs_refresh (after xlwings > Import Functions, Windows), or the "
    "xlwings ribbon's Run main (chs_scorecard.py beside this file, Windows and macOS).",
    "4. Scores, Actions, Dashboard, Forecast and Data issues are rewritten by chs_refresh; "
    "other sheets are yours.",
    "5. Added or removed a metric? Save, then Alt+F8 > chs_rebuild: it writes "
    "'<this name> (rebuilt)' with native formulas for the new Model (your sheets kept) "
    "and opens it.",
    "",
    "Worksheet functions (Windows, after Import Functions):",
    "  =CHS_SCORE(Accounts[#All], Components[#All], Metrics[#All], Rules[#All], "
    "Settings[#All],",
    "      Segments[#All], Levels[#All], RenewalProbability[#All]) spills the Scores table.",
    "  Excel 2016/2019 (no spilling): =CHS_SCORE_TABLE(...), same arguments, writes the "
    "table out from its cell.",
    "  CHS_LINEAR, CHS_STEPS, CHS_WEIGHTED, CHS_BAND, CHS_QUARTILE, CHS_RENEWAL score "
    "single values or ranges.",
    "Macros: chs_refresh, chs_snapshot (appends to History), chs_calibrate, chs_rebuild "
    "(native formulas). Help: docs/excel-addin.md in the chs-excel project.",
)
RUN_MAIN = '''"""xlwings' Run main button runs main() from the module named like the workbook."""

from chs_excel.app.scripts import chs_refresh


def main() -> None:
    """Refresh Scores, Dashboard, Forecast and Data issues from the Model and Accounts."""
    chs_refresh()
'''


def quickstart_workbook() -> Path:
    """The standalone quickstart workbook shipped inside the installed xlwings."""
    path = Path(xlwings.__file__).parent / QUICKSTART
    if not path.exists():
        raise ChsError(f"xlwings {xlwings.__version__} has no {QUICKSTART}; install an "
                       "xlwings version that ships it (pip install -U xlwings)")
    return path


def build_addin(folder: str | Path, model: Model, accounts: pd.DataFrame, *,
                as_of: dt.date | None = None) -> Path:
    """Write `chs_scorecard.xlsm` (and its `Run main` module) into `folder`.

    Parameters
    ----------
    folder : str or Path
        Created if needed.
    model : Model
        Written to the Model sheet's Tables.
    accounts : DataFrame
        Starter rows for the Accounts Table.
    as_of : date, optional
        The day overrides are checked against (default: today).

    Returns
    -------
    Path
        The written workbook.
    """
    folder = make_folder(Path(folder))
    target = folder / f"{TEMPLATE}.xlsm"
    with tempfile.TemporaryDirectory() as tmp:
        draft = Path(tmp) / QUICKSTART
        shutil.copyfile(quickstart_workbook(), draft)
        book = FileBook(draft)
        names = book.sheet_names()
        if CONFIG_DRAFT not in names:
            raise ChsError(f"{QUICKSTART} of xlwings {xlwings.__version__} has no "
                           f"{CONFIG_DRAFT} sheet")
        _configure(book, draft)
        book.package.define_name(XLWINGS_VERSION_NAME, f'"{xlwings.__version__}"')
        first = names[0]
        book.package.rename_sheet(first, "Start here")
        book.write_sheet("Start here", _start_here())
        _copy_model_sheet(book, model, Path(tmp) / "model.xlsx")
        book.write_table("Accounts", "Accounts", accounts, after="Model",
                         formats={**report_formats(accounts),
                                  **{c: "yyyy-mm-dd" for c in accounts.columns
                                     if pd.api.types.is_datetime64_any_dtype(accounts[c])}})
        if len(accounts):
            book.save()
            book = FileBook(draft)   # reads the spliced Model like any saved workbook
            refresh(book, as_of=as_of)
        book.save(target)
    write_atomically(folder / f"{TEMPLATE}.py",
                     lambda tmp: tmp.write_text(RUN_MAIN, encoding="utf-8"))
    return target


def _configure(book: FileBook, path: Path) -> None:
    """Activate xlwings' config sheet with UDF Modules pointing at the UDF and macro modules."""
    rows = calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name(
        CONFIG_DRAFT).to_python()
    cells = [[None if v == "" else v for v in row] for row in rows]
    keys = [row[0] for row in cells]
    if "UDF Modules" not in keys:
        raise ChsError(f"{CONFIG_DRAFT} of xlwings {xlwings.__version__} has no "
                       "'UDF Modules' setting")
    cells[keys.index("UDF Modules")][1] = UDF_MODULES
    frame = pd.DataFrame(cells, dtype=object)
    book.package.rename_sheet(CONFIG_DRAFT, CONFIG_SHEET)
    book.write_sheet(CONFIG_SHEET, Sheet(blocks=[Block(frame, header=False)],
                                         widths={1: 18.0, 2: 24.0}))


def _start_here() -> Sheet:
    frame = pd.DataFrame({"text": list(START_HERE)}, dtype=object)
    return Sheet(blocks=[Block(frame, header=False)], widths={1: 120.0})


def _copy_model_sheet(book: FileBook, model: Model, scratch: Path) -> None:
    """The Model sheet exactly as the native-formula template has it (Tables, validation,
    the Settings' defined names), rendered by the one workbook builder and spliced in."""
    build_workbook(scratch, model)
    book.package.copy_sheet(Package(scratch), "Model", after="Start here")


def starter_accounts(model: Model) -> tuple[pd.DataFrame, dt.date | None]:
    """Sample accounts when the model scores the sample's columns, else an empty Table
    with the columns the model reads; and the day to score them as of."""
    from chs_excel.core.model import header_key
    from chs_excel.core.vocabulary import IDENTITY_COLUMNS
    from chs_excel.io.sample import make_sample, reference_date
    sample = make_sample(SAMPLE_ACCOUNTS, dirty=False)
    have = {header_key(c) for c in sample.columns}
    needs = [m.column for m in model.metrics] + [r.column for r in model.rules] + [
        c for c in (model.segment_column, model.quartiles_by) if c]
    if all(header_key(c) in have for c in needs):
        return sample, reference_date(0)
    columns = ["account_id", *IDENTITY_COLUMNS, *dict.fromkeys(needs)]
    return pd.DataFrame(columns=list(dict.fromkeys(columns)), dtype=object), None
