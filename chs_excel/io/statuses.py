"""A CSM's action statuses (done / snoozed / not relevant per account and playbook): read
from a `--statuses` file (csv or xlsx) or a built workbook's `ActionStatus` Table, kept as
`STATUS_COLUMNS` rows (docs/playbooks.md, "Statuses")."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import python_calamine as calamine

from chs_excel.core.errors import InputError
from chs_excel.core.playbooks import STATUS_COLUMNS, STATUS_TABLE
from chs_excel.core.vocabulary import header_key
from chs_excel.xlsx.guard import check_package

REQUIRED = ("account_id", "playbook", "status")


def status_rows(frame: pd.DataFrame | None, where: str) -> pd.DataFrame | None:
    """`frame` with STATUS_COLUMNS (headers matched as header keys; `until`, `note` may be
    missing), blank rows dropped; None when it holds no row. A missing required column is
    an `InputError` naming `where`."""
    if frame is None:
        return None
    keys = {header_key(c): c for c in frame.columns}
    missing = [c for c in REQUIRED if header_key(c) not in keys]
    if missing:
        raise InputError(f"{where}: action statuses need the column(s) "
                         f"{', '.join(missing)} (columns: {', '.join(STATUS_COLUMNS)})")
    out = pd.DataFrame({c: frame[keys[header_key(c)]] if header_key(c) in keys
                        else None for c in STATUS_COLUMNS}, dtype=object)
    out = out.replace("", None).dropna(how="all").reset_index(drop=True)
    return out if len(out) else None


def read_statuses(path: str | Path) -> pd.DataFrame | None:
    """Statuses from a csv, or an xlsx (its ActionStatus Table, else its first sheet)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: statuses file not found")
    if path.suffix.lower() == ".csv":
        try:
            frame = pd.read_csv(path, dtype=object, keep_default_na=False,
                                encoding="utf-8-sig")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot read the statuses csv ({exc})") from None
        return status_rows(frame, str(path))
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        raise InputError(f"{path}: statuses are a .csv or .xlsx file")
    check_package(path)
    book = calamine.CalamineWorkbook.from_path(str(path), load_tables=True)
    frame = book_status_table(book)
    if frame is None:
        rows = book.get_sheet_by_index(0).to_python()
        frame = pd.DataFrame(rows[1:], columns=[str(c) for c in rows[0]], dtype=object) \
            if rows else pd.DataFrame()
        if frame.empty:
            return None
        return status_rows(frame, f"{path}, sheet {book.sheet_names[0]}")
    return status_rows(frame, f"{path}, table {STATUS_TABLE}")


def workbook_statuses(path: str | Path) -> pd.DataFrame | None:
    """The ActionStatus rows of a built workbook (None when it has none)."""
    path = Path(path)
    check_package(path)
    try:
        book = calamine.CalamineWorkbook.from_path(str(path), load_tables=True)
    except Exception as exc:  # calamine raises several error types for damaged files
        raise InputError(f"{path}: cannot read the workbook ({exc})") from None
    return status_rows(book_status_table(book), f"{path}, table {STATUS_TABLE}")


def book_status_table(book: calamine.CalamineWorkbook) -> pd.DataFrame | None:
    """A built workbook's ActionStatus Table as it is (None when it has none)."""
    if STATUS_TABLE not in book.table_names:
        return None
    table = book.get_table_by_name(STATUS_TABLE)
    return pd.DataFrame(table.to_python(), columns=[str(c) for c in table.columns],
                        dtype=object)
