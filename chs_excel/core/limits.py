"""Excel's limits and the text an .xlsx part may hold, defined once (docs/limits.md).

Every writer keeps these: a cell holds at most CELL_CHARS characters, a formula
FORMULA_CHARS, a data-validation list VALIDATION_LIST_CHARS, a sheet name
SHEET_NAME_CHARS, a sheet SHEET_ROWS rows. XML 1.0 cannot hold most control characters
at all (one of them makes the whole part unreadable: Excel drops the sheet), so text is
either stripped of them (`xml_legal`) or escaped the way Excel itself stores them
(`ooxml_escaped`: `\\x07` as `_x0007_`).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from chs_excel.core.errors import ChsError

SHEET_ROWS = 1_048_576        # rows a worksheet has (the header takes one)
CELL_CHARS = 32_767           # characters a cell holds
FORMULA_CHARS = 8_192         # characters a formula holds
VALIDATION_LIST_CHARS = 255   # characters of a data-validation list, separators included
SHEET_NAME_CHARS = 31         # characters of a sheet name
COLUMN_NAME_CHARS = 255       # characters of a Table column name
NAME_CHARS = COLUMN_NAME_CHARS - len("_score")  # a model name: NAME_score is a column too
TABLE_ROWS = SHEET_ROWS - 1   # data rows of a Table headed in row 1
# The days the engine holds (pandas datetime64[ns]); every date outside is refused.
FIRST_DATE, LAST_DATE = dt.date(1677, 9, 22), dt.date(2262, 4, 11)
PERCENT_SAMPLE_ROWS = 200     # data rows whose number formats decide a %-formatted column

# Option values: the largest a command accepts (more would exhaust memory or time first).
MAX_SAMPLE = 5_000_000        # chs sample -n (an xlsx holds at most TABLE_ROWS)
MAX_HORIZON = 1_200           # forecast periods (100 years of months)
MAX_TOP = 100_000             # movers listed each way
MAX_WINDOW_DAYS = 36_525      # days a snapshot may precede a renewal (100 years)
MAX_SEED = 2**32 - 1          # numpy's seed range

ILLEGAL_XML = "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"
_ILLEGAL = re.compile(ILLEGAL_XML)
_ESCAPE_LIKE = re.compile(r"(_x[0-9A-Fa-f]{4}_)")
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROLS_AND_BREAKS = re.compile("[\x00-\x1f]")


def has_illegal_xml(text: str) -> bool:
    """Whether `text` holds a character no XML part may hold."""
    return _ILLEGAL.search(text) is not None


def xml_legal(text: str) -> str:
    """`text` without the characters XML 1.0 cannot hold (control characters but tab
    and line breaks, lone surrogates, U+FFFE/U+FFFF)."""
    return _ILLEGAL.sub("", text)


def ooxml_escaped(text: str, *, line_breaks: bool = False) -> str:
    """`text` as Excel stores it in a cell's value or a name: control characters as
    `_xHHHH_`, a literal `_xHHHH_` kept by escaping its underscore (`_x005F_xHHHH_`), the
    rest stripped of what XML cannot hold. With `line_breaks`, tab, CR and LF are
    escaped too (a Table column name must store a line break as `_x000a_`)."""
    text = _ESCAPE_LIKE.sub(r"_x005F\1", text)
    pattern = _CONTROLS_AND_BREAKS if line_breaks else _CONTROLS
    return xml_legal(pattern.sub(lambda m: f"_x{ord(m.group(0)):04X}_", text))


def check_table_rows(rows: int, output: Path | str) -> None:
    """Refuse, before any work, a Table of more data rows than a sheet holds."""
    if rows > TABLE_ROWS:
        raise ChsError(f"{output}: {rows:,} rows do not fit in an Excel sheet (at most "
                       f"{TABLE_ROWS:,} below the header); write a .csv instead")


def check_date(day: dt.date, what: str) -> dt.date:
    """`day` if the engine can hold it (FIRST_DATE..LAST_DATE), else a one-line ChsError."""
    if not FIRST_DATE <= day <= LAST_DATE:
        raise ChsError(f"{what}: {day.isoformat()} is outside the dates chs handles "
                       f"({FIRST_DATE} to {LAST_DATE}); docs/limits.md")
    return day
