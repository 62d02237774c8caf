"""Reading and writing History: the SQLite file store and a workbook's History Tables.

A snapshot row has the layout of the workbook's `History` Table: date, model, version,
account_id, owner, segment, arr, health, band, quartile, then one column per component;
the weights in force on each date sit beside it (`HistoryWeights`: date, segment,
component, weight). Two stores, chosen by the file name:

- a SQLite file (`.sqlite`/`.db`, standard library, one transaction per snapshot):
  `read_sqlite`, `write_history`;
- a workbook (`.xlsx`/`.xlsm`): the `History` and `HistoryWeights` Tables, read by
  `book_history` and written by `write_book_history`, both through the `Book` interface,
  so the `chs_snapshot` macro (the open workbook or a `FileBook`) and `chs snapshot BOOK`
  share them. On a file the two sheets are spliced into the package
  (`chs_excel.xlsx.package`): every other part is kept byte for byte, cached formula
  values included. See docs/forecast.md.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from chs_excel.core.engine import parse_flags
from chs_excel.core.errors import ChsError, InputError
from chs_excel.core.files import lock_timeout, locked
from chs_excel.core.limits import check_date
from chs_excel.core.vocabulary import HISTORY_COLUMNS, NO_DATA, header_key
from chs_excel.io.accounts import XLSX_SUFFIXES
from chs_excel.io.book import Book, FileBook, report_formats
from chs_excel.io.ranges import table_frame
from chs_excel.xlsx.styles import FORMATS

BASE_COLUMNS = HISTORY_COLUMNS
EXTRA_COLUMNS = ("capped_by", "overridden")  # after the components; older books lack them
WEIGHT_COLUMNS = ("date", "segment", "component", "weight")
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
HISTORY_TABLE, WEIGHTS_TABLE = "History", "HistoryWeights"
HISTORY_SHEET, WEIGHTS_SHEET = "History", "History weights"
EXCEL_MAX_ROWS = 1_048_576
SUMMARY_DATES = 2  # snapshots a workbook keeps when a file store holds the full history
DATE_FORMAT = FORMATS["date"]["num_format"]


@dataclass(frozen=True)
class History:
    """Snapshot rows (History layout) and the weights in force on each date."""

    rows: pd.DataFrame
    weights: pd.DataFrame

    @property
    def components(self) -> list[str]:
        """Component columns, in table order."""
        fixed = {header_key(c) for c in (*BASE_COLUMNS, *EXTRA_COLUMNS)}
        return [c for c in self.rows.columns if header_key(c) not in fixed]

    @property
    def dates(self) -> list[dt.date]:
        """Snapshot dates, oldest first."""
        return sorted({d.date() for d in pd.DatetimeIndex(self.rows["date"]).dropna()})

    def at(self, date: dt.date) -> pd.DataFrame:
        """The rows of one snapshot."""
        return self.rows[self.rows["date"] == pd.Timestamp(date)]

    def latest(self, count: int) -> History:
        """The last `count` snapshots (what a workbook keeps when a file holds them all)."""
        keep = [pd.Timestamp(d) for d in self.dates[-count:]]
        return History(self.rows[self.rows["date"].isin(keep)].reset_index(drop=True),
                       self.weights[self.weights["date"].isin(keep)].reset_index(drop=True))


def empty_history(components: list[str] | None = None) -> History:
    """A history with no snapshot yet."""
    rows = pd.DataFrame({c: pd.Series(dtype=object) for c in (*BASE_COLUMNS,
                                                              *(components or []))})
    rows["date"] = pd.Series(dtype="datetime64[ns]")
    return History(rows, pd.DataFrame({c: pd.Series(dtype=object) for c in WEIGHT_COLUMNS}))


# ---------------------------------------------------------------- either store

def is_sqlite(path: Path) -> bool:
    """A file store (SQLite) rather than a workbook, by its name."""
    return Path(path).suffix.lower() in SQLITE_SUFFIXES


def read_history(path: str | Path, last: int | None = None) -> History:
    """The history in a SQLite file or a workbook's History sheet (empty when none yet).

    `last` keeps only the latest snapshots (read from SQLite without loading the rest).
    """
    path = Path(path)
    if is_sqlite(path):
        return read_sqlite(path, last)
    if path.suffix.lower() in XLSX_SUFFIXES:
        try:
            history = book_history(FileBook(path))
        except ChsError as exc:  # a damaged History Table: say which file
            if str(path) in str(exc):
                raise
            raise type(exc)(f"{path}: {exc}") from None
        return history.latest(last) if last else history
    raise ChsError(f"{path}: a history store is a workbook (.xlsx) or a SQLite file "
                   f"(.sqlite or .db)")


def stored_dates(path: str | Path) -> list[dt.date]:
    """Snapshot dates in a SQLite store, oldest first, without reading the rows."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        with closing(sqlite3.connect(path)) as con:
            found = [r[0] for r in con.execute("SELECT DISTINCT date FROM history")]
    except sqlite3.DatabaseError:
        return read_history(path).dates  # the reader gives the clear message
    return sorted(dt.date.fromisoformat(d) for d in found)


ISO_DAY = r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"


def snapshot_dates(dates: pd.Series, where: str) -> pd.Series:
    """Snapshot dates as days: real dates, or text written YYYY-MM-DD (01/02/2026 could be
    either day first or month first: refused, as the accounts reader refuses it); a day
    outside the engine's range (docs/limits.md) is refused, never shifted. Blank: NaT.
    Each distinct value is read once (a store holds few snapshot dates)."""
    blank = dates.isna() | (dates.astype("string").str.strip() == "").fillna(False)
    present = dates[~blank].astype(object)
    days = {v: _day(v, f"{where}: date {v!r}") for v in pd.unique(present)}
    out = pd.Series(pd.NaT, index=dates.index, dtype="datetime64[ns]")
    out[present.index] = pd.to_datetime(present.map(days))
    return out


def _day(value: object, where: str) -> dt.date:
    """One snapshot date cell as a day (see snapshot_dates)."""
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(ISO_DAY, text):
            raise InputError(f"{where} is not a date or YYYY-MM-DD text: 01/02/2026 could "
                             "be 1 February or 2 January; write it as YYYY-MM-DD")
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise InputError(f"{where} is not a day of the calendar") from None
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        raise InputError(f"{where} is not a date")
    return check_date(value, where)


def _typed(rows: pd.DataFrame) -> pd.DataFrame:
    """Column types as the rest of the code expects them, whichever store they came from."""
    rows = rows.copy()
    rows["date"] = snapshot_dates(rows["date"], "History")
    for c in ("model", "version", "account_id", "owner", "segment", "band"):
        if c in rows.columns:
            text = rows[c].astype("string").str.strip()
            if c == "version":
                text = text.str.replace(r"\.0$", "", regex=True)
            rows[c] = text.astype(object).where(text.notna() & (text != ""), None)
    if "band" in rows.columns:
        rows["band"] = rows["band"].fillna(NO_DATA)
    fixed = {*BASE_COLUMNS, "capped_by", "overridden"}
    for c in rows.columns:
        if c in ("arr", "health") or c not in fixed:
            rows[c] = pd.to_numeric(rows[c], errors="coerce").astype(float)
    rows["quartile"] = pd.to_numeric(rows["quartile"], errors="coerce").astype("Int64")
    if "overridden" in rows.columns:
        rows["overridden"] = parse_flags(rows["overridden"])[0] == 1
    return rows


def read_sqlite(path: Path, last: int | None = None) -> History:
    """The history in a SQLite store; `last` keeps only the latest snapshots."""
    if not path.exists():
        return empty_history()
    try:
        with closing(sqlite3.connect(path)) as con:
            tables = {r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
            if "history" not in tables:
                raise ChsError(f"{path}: is a SQLite file but not a chs history store")
            dates = [r[0] for r in con.execute(
                "SELECT DISTINCT date FROM history ORDER BY date DESC")]
            since = dates[last - 1] if last and len(dates) >= last else ""
            rows = pd.read_sql_query("SELECT * FROM history WHERE date >= ? ORDER BY date",
                                     con, params=(since,))
            weights = pd.read_sql_query("SELECT date, segment, component, weight FROM "
                                        "weights WHERE date >= ? ORDER BY date", con,
                                        params=(since,))
    except sqlite3.DatabaseError as exc:
        raise ChsError(f"{path}: cannot read the history store ({exc})") from None
    weights["date"] = pd.to_datetime(weights["date"])
    return History(_typed(rows), weights)


def write_history(path: str | Path, history: History) -> None:
    """Replace the SQLite store's content for the dates in `history` (one transaction)."""
    path = Path(path)
    rows = history.rows.copy()
    rows["date"] = pd.DatetimeIndex(rows["date"]).strftime("%Y-%m-%d")
    rows["quartile"] = rows["quartile"].astype(object).where(rows["quartile"].notna(), None)
    weights = history.weights.assign(date=pd.DatetimeIndex(
        history.weights["date"]).strftime("%Y-%m-%d"))
    dates = [(d,) for d in sorted(set(rows["date"]))]
    try:  # autocommit mode: the transaction below is ours, begun before the first read
        con = sqlite3.connect(path, timeout=lock_timeout(), isolation_level=None)
    except sqlite3.Error as exc:
        raise ChsError(f"{path}: cannot open the history store ({exc})") from None
    try:
        # BEGIN IMMEDIATE takes SQLite's write lock before the schema is read, so two
        # writers queue (each waits up to the busy timeout) and both snapshots land
        con.execute("BEGIN IMMEDIATE")
        with con:  # one transaction: the dates are replaced completely or not at all
            _ensure_schema(con, rows.columns)
            con.executemany("DELETE FROM history WHERE date = ?", dates)
            con.executemany("DELETE FROM weights WHERE date = ?", dates)
            cols = ", ".join(_quote(c) for c in rows.columns)
            marks = ", ".join("?" for _ in rows.columns)
            con.executemany(f"INSERT INTO history ({cols}) VALUES ({marks})",
                            _records(rows))
            con.executemany("INSERT INTO weights VALUES (?, ?, ?, ?)", _records(weights))
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise ChsError(f"{path}: another writer still holds the history store (waited "
                           f"{lock_timeout():g} s); try again when it has finished") from None
        raise ChsError(f"{path}: cannot write the history store ({exc})") from None
    except sqlite3.DatabaseError as exc:
        raise ChsError(f"{path}: cannot write the history store ({exc})") from None
    finally:
        con.close()


def _ensure_schema(con: sqlite3.Connection, columns: pd.Index) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS history (date TEXT NOT NULL, model TEXT, "
                "version TEXT, account_id TEXT NOT NULL, owner TEXT, segment TEXT, "
                "arr REAL, health REAL, band TEXT, quartile INTEGER, capped_by TEXT, "
                "overridden INTEGER)")
    con.execute("CREATE INDEX IF NOT EXISTS history_date ON history (date)")
    con.execute("CREATE TABLE IF NOT EXISTS weights (date TEXT NOT NULL, segment TEXT, "
                "component TEXT, weight REAL)")
    have = {r[1] for r in con.execute("PRAGMA table_info(history)")}
    for c in columns:
        if c not in have:
            con.execute(f"ALTER TABLE history ADD COLUMN {_quote(c)} REAL")


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _records(frame: pd.DataFrame) -> list[tuple]:
    """Rows as Python values, None for blanks (what sqlite3 takes)."""
    cols = []
    for c in frame.columns:
        s = frame[c]
        if pd.api.types.is_bool_dtype(s):
            cols.append(s.astype(int).tolist())
        else:
            obj = s.astype(object)
            cols.append(obj.where(s.notna(), None).tolist())
    return list(zip(*cols, strict=True)) if cols else []


# ---------------------------------------------------------------- the workbook store

def account_names(path: str | Path) -> dict[str, str]:
    """account_id -> account_name from a workbook's Scores (else Accounts) Table, so a
    trend read from the book's History can name its movers; empty for other stores."""
    if Path(path).suffix.lower() not in XLSX_SUFFIXES:
        return {}
    book = FileBook(Path(path))
    for name in ("Scores", "Accounts"):
        if name not in book.table_names():
            continue
        found = book.table(name)
        frame = table_frame(found.grid, name, first_row=found.first_row, errors="keep")
        keys = {header_key(c): c for c in frame.columns}
        if {"accountid", "accountname"} <= set(keys):
            ids = frame[keys["accountid"]].astype("string").str.strip()
            names = frame[keys["accountname"]].astype("string").str.strip()
            keep = ids.notna() & (ids != "") & names.notna()
            return dict(zip(ids[keep], names[keep], strict=True))
    return {}


def book_history(book: Book) -> History:
    """The History and HistoryWeights Tables of a workbook (empty when it has none)."""
    names = set(book.table_names())
    if HISTORY_TABLE not in names:
        return empty_history()
    keys = {header_key(c): c for c in (*BASE_COLUMNS, *WEIGHT_COLUMNS)}

    def frame(name: str) -> pd.DataFrame:
        found = book.table(name)
        table = table_frame(found.grid, name, first_row=found.first_row, errors="keep")
        return table.rename(columns=lambda c: keys.get(header_key(c), c)).reset_index(
            drop=True)

    rows = frame(HISTORY_TABLE)
    missing = [c for c in BASE_COLUMNS if c not in rows.columns]
    if missing:
        raise InputError(f"table {HISTORY_TABLE}: column {missing[0]!r} is missing")
    rows = rows[rows["account_id"].notna()
                & (rows["account_id"].astype("string").str.strip() != "")]
    weights = frame(WEIGHTS_TABLE) if WEIGHTS_TABLE in names else empty_history().weights
    for c in WEIGHT_COLUMNS:
        if c not in weights.columns:
            raise InputError(f"table {WEIGHTS_TABLE}: column {c!r} is missing")
    weights = weights.dropna(subset=["component"]).assign(
        date=lambda w: pd.to_datetime(w["date"], errors="coerce"),
        segment=lambda w: w["segment"].fillna("").astype(str),
        weight=lambda w: pd.to_numeric(w["weight"], errors="coerce"))
    return History(_typed(rows).reset_index(drop=True),
                   weights[list(WEIGHT_COLUMNS)].reset_index(drop=True))


def write_book_history(book: Book, history: History,
                       place: Callable[[Book, str], str | None] | None = None) -> None:
    """Make the workbook's History and HistoryWeights Tables hold `history`.

    The one workbook writer (`chs_snapshot` and `chs snapshot BOOK`). Each Table is
    rewritten where it stands (on a file, rows above it such as a title are kept); a
    missing one gets its sheet, placed after `place(book, sheet)` (default: at the end, the
    weights after History). `capped_by` and `overridden` come last (a trend names the cap
    or override that moved an account); more rows than a sheet holds is an error pointing
    to the file store.
    """
    rows = history.rows
    if len(rows) + 1 > EXCEL_MAX_ROWS:
        raise ChsError(f"{len(rows):,} History rows do not fit in a sheet (Excel's limit is "
                       f"{EXCEL_MAX_ROWS - 1:,}); keep history in a file store with "
                       "--history H.sqlite")
    for sheet, table, frame in ((HISTORY_SHEET, HISTORY_TABLE, rows),
                                 (WEIGHTS_SHEET, WEIGHTS_TABLE, history.weights)):
        after = place(book, sheet) if place is not None else \
            book.table_sheet(HISTORY_TABLE) if table == WEIGHTS_TABLE else None
        book.write_table(book.table_sheet(table) or sheet, table, frame,
                         formats={**report_formats(frame), "date": DATE_FORMAT}, after=after)


def save_book_history(path: str | Path, history: History, output: str | Path | None = None,
                      place: Callable[[Book, str], str | None] | None = None) -> None:
    """`write_book_history` on a workbook file, saved atomically over it or to `output`.

    Only the History sheets, their Tables and the package's index parts (workbook,
    its relationships, content types, styles) change; every other part is kept byte for
    byte. Refused while the book is open in Excel (its `~$` lock file is there) when it
    would be written in place.
    """
    path = Path(path)
    if output is None or Path(output).resolve() == path.resolve():
        check_not_open(path)
    with locked(output if output is not None else path):
        book = FileBook(path)
        write_book_history(book, history, place)
        book.save(output)


def check_not_open(path: Path) -> None:
    """Refuse to write over a workbook Excel has open (its lock file is there)."""
    if path.with_name("~$" + path.name).exists():
        raise ChsError(f"{path}: is open in Excel (its lock file is there); close it first")
