"""Snapshots and the history store; trend, why-it-moved, movers, roll-ups, band migration.

A snapshot is one row per account in the layout of the workbook's `History` Table:
date, model, version, account_id, owner, segment, arr, health, band, quartile, then one
column per component. The weights in force on each date are kept beside it (long form:
date, segment, component, weight) so a later change can be split into each component's
contribution and the effect of weight changes.

Two stores, chosen by the file name: a workbook (`.xlsx`/`.xlsm`: the `History` sheet and a
`History weights` sheet, edited with openpyxl) or a SQLite file (`.sqlite`/`.db`, standard
library, one transaction per snapshot). See docs/forecast.md for why.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sqlite3
import zipfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from chs_excel.core.engine import parse_flags
from chs_excel.core.errors import ChsError, InputError
from chs_excel.core.files import write_atomically
from chs_excel.core.model import Model
from chs_excel.core.vocabulary import BAND_ORDER, HISTORY_COLUMNS, NO_DATA, header_key
from chs_excel.io.accounts import XLSX_SUFFIXES
from chs_excel.io.scores import account_ids, bands, numbers

BASE_COLUMNS = HISTORY_COLUMNS
EXTRA_COLUMNS = ("capped_by", "overridden")  # kept by the SQLite store only
WEIGHT_COLUMNS = ("date", "segment", "component", "weight")
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
HISTORY_TABLE, WEIGHTS_TABLE = "History", "HistoryWeights"
HISTORY_SHEET, WEIGHTS_SHEET = "History", "History weights"
EXCEL_MAX_ROWS = 1_048_576
SUMMARY_DATES = 2  # snapshots a workbook keeps when a file store holds the full history
ABSENT = "(not in snapshot)"
# Zip parts openpyxl cannot keep when it re-saves a workbook: refuse instead of losing them.
FRAGILE_PARTS = {"xl/ctrlProps/": "form controls", "xl/activeX/": "ActiveX controls",
                 "xl/webextensions/": "Office add-ins", "xl/slicers/": "slicers",
                 "xl/timelines/": "timelines", "customUI/": "a custom ribbon"}


# ---------------------------------------------------------------- snapshots

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


def segment_values(scores: pd.DataFrame, model: Model) -> pd.Series:
    """Each account's segment: the model's segment column, else a 'segment' column."""
    for column in (model.segment_column, "segment"):
        if column and header_key(column) in {header_key(c) for c in scores.columns}:
            name = next(c for c in scores.columns if header_key(c) == header_key(column))
            text = scores[name].astype("string").str.strip()
            return text.where(text != "").astype(object).where(text.notna(), None)
    return pd.Series(None, index=scores.index, dtype=object)


def snapshot(scores: pd.DataFrame, model: Model, date: dt.date, where: str = "scores") \
        -> History:
    """One snapshot of `scores` (canonical engine columns) taken with `model` on `date`."""
    missing = [c for c in model.components if c not in scores.columns]
    if missing:
        raise InputError(f"{where}: component column {missing[0]!r} of model "
                         f"{model.name!r} is missing: were these scores made with another "
                         "model? Pass the right one with --model")
    clash = [c for c in model.components if header_key(c) in
             {header_key(b) for b in (*BASE_COLUMNS, *EXTRA_COLUMNS)}]
    if clash:
        raise InputError(f"component {clash[0]!r} has the name of a History column; "
                         "rename the component to keep history")
    n = len(scores)
    quartile = numbers(scores, "quartile", where)
    owner = scores["owner"] if "owner" in scores.columns else pd.Series(None, index=scores.index)
    rows = pd.DataFrame({
        "date": np.full(n, np.datetime64(date, "ns")), "model": model.name,
        "version": str(model.version), "account_id": account_ids(scores, where).to_numpy(),
        "owner": owner.astype(object).where(owner.notna(), None).to_numpy(),
        "segment": segment_values(scores, model).to_numpy(),
        "arr": numbers(scores, "arr", where), "health": numbers(scores, "health", where),
        "band": bands(scores, model, where),
        "quartile": pd.array(np.where(np.isnan(quartile), None, quartile), dtype="Int64")})
    for c in model.components:
        rows[c] = numbers(scores, c, where)
    if "capped_by" in scores.columns:
        rows["capped_by"] = scores["capped_by"].astype("string").fillna("").to_numpy(
            dtype=object)
    if "overridden" in scores.columns:
        rows["overridden"] = parse_flags(scores["overridden"])[0] == 1
    return History(rows.reset_index(drop=True), model_weights(model, date))


def model_weights(model: Model, date: dt.date) -> pd.DataFrame:
    """The component weights in force: default ('' segment) and each segment's."""
    sets = {"": model.components, **model.segment_weights}
    return pd.DataFrame([{"date": pd.Timestamp(date), "segment": seg, "component": c,
                          "weight": float(w)}
                         for seg, weights in sets.items() for c, w in weights.items()],
                        columns=list(WEIGHT_COLUMNS))


def merge(history: History, new: History) -> tuple[History, list[str]]:
    """`history` with `new`'s dates replaced by `new` (never duplicated); components by name.

    Returns the merged history and notes (replaced date, components that came or went).
    """
    notes = []
    new_dates = set(new.dates)
    if new_dates & set(history.dates):
        notes.append("replaced the snapshot of " + ", ".join(
            d.isoformat() for d in sorted(new_dates & set(history.dates))))
    names = {header_key(c): c for c in history.components}
    new_rows = new.rows.rename(columns=lambda c: names.get(header_key(c), c)
                               if c in new.components else c)
    old = history.rows[~pd.DatetimeIndex(history.rows["date"]).normalize().isin(
        [pd.Timestamp(d) for d in new_dates])]
    if len(old):
        gone = [c for c in history.components if c not in new_rows.columns]
        came = [c for c in new_rows.columns if c not in history.rows.columns
                and c not in EXTRA_COLUMNS]
        if gone:
            notes.append(f"components not in this model are kept for older dates: "
                         f"{', '.join(gone)}")
        if came:
            notes.append(f"new components (blank for older dates): {', '.join(came)}")
    order = [*BASE_COLUMNS, *[c for c in new_rows.columns if c not in BASE_COLUMNS
                              and c not in EXTRA_COLUMNS],
             *[c for c in history.components if c not in new_rows.columns],
             *[c for c in EXTRA_COLUMNS if c in new_rows.columns or c in old.columns]]
    frames = [f for f in (old, new_rows) if len(f)]
    rows = pd.concat(frames, ignore_index=True) if frames else new_rows
    rows = rows.reindex(columns=order).sort_values("date", kind="stable", ignore_index=True)
    weights = pd.concat([history.weights[~history.weights["date"].isin(
        [pd.Timestamp(d) for d in new_dates])], new.weights], ignore_index=True)
    return History(rows, weights.sort_values("date", kind="stable", ignore_index=True)), notes


# ---------------------------------------------------------------- stores

def is_sqlite(path: Path) -> bool:
    """A file store (SQLite) rather than a workbook, by its name."""
    return Path(path).suffix.lower() in SQLITE_SUFFIXES


def read_history(path: str | Path, last: int | None = None) -> History:
    """The history in a SQLite file or a workbook's History sheet (empty when none yet).

    `last` keeps only the latest snapshots (read from SQLite without loading the rest).
    """
    path = Path(path)
    if is_sqlite(path):
        return _read_sqlite(path, last)
    if path.suffix.lower() in XLSX_SUFFIXES:
        history = _read_workbook(path)
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


def _typed(rows: pd.DataFrame) -> pd.DataFrame:
    """Column types as the rest of the code expects them, whichever store they came from."""
    rows = rows.copy()
    rows["date"] = pd.to_datetime(rows["date"], errors="coerce").dt.normalize()
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


def _read_sqlite(path: Path, last: int | None = None) -> History:
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


def _read_workbook(path: Path) -> History:
    import python_calamine as calamine
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        book = calamine.CalamineWorkbook.from_path(str(path), load_tables=True)
        names = set(book.table_names)
    except Exception as exc:  # calamine raises several error types for damaged files
        raise InputError(f"{path}: is not a readable xlsx workbook ({exc})") from None
    if HISTORY_TABLE not in names:
        return empty_history()
    rows = _table_frame(book, HISTORY_TABLE)
    missing = [c for c in BASE_COLUMNS if c not in rows.columns]
    if missing:
        raise InputError(f"{path}, table {HISTORY_TABLE}: column {missing[0]!r} is missing")
    rows = rows[rows["account_id"].notna() & (rows["account_id"].astype(str).str.strip()
                                                != "")]
    weights = _table_frame(book, WEIGHTS_TABLE) if WEIGHTS_TABLE in names else \
        empty_history().weights
    weights = weights.dropna(subset=["component"]) if len(weights) else weights
    weights["date"] = pd.to_datetime(weights["date"], errors="coerce")
    weights["segment"] = weights["segment"].fillna("").astype(str)
    weights["weight"] = pd.to_numeric(weights["weight"], errors="coerce")
    return History(_typed(rows).reset_index(drop=True), weights.reset_index(drop=True))


def _table_frame(book: object, name: str) -> pd.DataFrame:
    table = book.get_table_by_name(name)
    keys = {header_key(c): c for c in (*BASE_COLUMNS, *WEIGHT_COLUMNS)}
    columns = [keys.get(header_key(c), str(c).strip()) for c in table.columns]
    return pd.DataFrame(table.to_python(), columns=columns, dtype=object)


def write_history(path: str | Path, history: History) -> None:
    """Replace the SQLite store's content for the dates in `history` (one transaction)."""
    path = Path(path)
    rows = history.rows.copy()
    rows["date"] = pd.DatetimeIndex(rows["date"]).strftime("%Y-%m-%d")
    rows["quartile"] = rows["quartile"].astype(object).where(rows["quartile"].notna(), None)
    weights = history.weights.assign(date=pd.DatetimeIndex(
        history.weights["date"]).strftime("%Y-%m-%d"))
    dates = [(d,) for d in sorted(set(rows["date"]))]
    try:
        con = sqlite3.connect(path)
    except sqlite3.Error as exc:
        raise ChsError(f"{path}: cannot open the history store ({exc})") from None
    try:
        with con:  # one transaction: the dates are replaced completely or not at all
            _ensure_schema(con, rows.columns)
            con.executemany("DELETE FROM history WHERE date = ?", dates)
            con.executemany("DELETE FROM weights WHERE date = ?", dates)
            cols = ", ".join(_quote(c) for c in rows.columns)
            marks = ", ".join("?" for _ in rows.columns)
            con.executemany(f"INSERT INTO history ({cols}) VALUES ({marks})",
                            _records(rows))
            con.executemany("INSERT INTO weights VALUES (?, ?, ?, ?)", _records(weights))
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
    """Rows as Python values, None for blanks (what sqlite3 and openpyxl take)."""
    cols = []
    for c in frame.columns:
        s = frame[c]
        if pd.api.types.is_bool_dtype(s):
            cols.append(s.astype(int).tolist())
        else:
            obj = s.astype(object)
            cols.append(obj.where(s.notna(), None).tolist())
    return list(zip(*cols, strict=True)) if cols else []


def check_workbook_can_be_rewritten(path: Path) -> None:
    """Refuse a workbook holding parts openpyxl would drop (and an open one)."""
    if path.with_name("~$" + path.name).exists():
        raise ChsError(f"{path}: is open in Excel (its lock file is there); close it first")
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        raise InputError(f"{path}: is not a valid xlsx workbook") from None
    found = [what for prefix, what in FRAGILE_PARTS.items()
             if any(n.startswith(prefix) for n in names)]
    if any(n.startswith("xl/media/") for n in names) \
            and importlib.util.find_spec("PIL") is None:
        found.append("pictures")
    if found:
        raise ChsError(f"{path}: holds {', '.join(found)}, which would be lost if chs "
                       "re-saved it; keep history in a file store (--history H.sqlite) or "
                       "write a copy (-o COPY.xlsx)")


def write_workbook_history(book: Path, history: History, output: Path | None = None) -> None:
    """Put `history` in the workbook's History and History weights sheets, atomically.

    Writes into `book` itself unless `output` names a copy; everything else in the
    workbook is kept (openpyxl re-save; formulas are recalculated when it is next opened).
    """
    book = Path(book)
    if len(history.rows) + 1 > EXCEL_MAX_ROWS:
        raise ChsError(f"{book}: {len(history.rows):,} history rows do not fit in a sheet "
                       f"(Excel's limit is {EXCEL_MAX_ROWS - 1:,}); keep history in a file "
                       "store with --history H.sqlite")
    if output is None:
        check_workbook_can_be_rewritten(book)
    import openpyxl
    try:
        wb = openpyxl.load_workbook(book, keep_vba=book.suffix.lower() == ".xlsm")
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise InputError(f"{book}: cannot be opened for editing ({exc})") from None
    rows = history.rows.drop(columns=[c for c in EXTRA_COLUMNS if c in history.rows])
    rows = rows.assign(date=pd.DatetimeIndex(rows["date"]).date)
    weights = history.weights.assign(date=pd.DatetimeIndex(history.weights["date"]).date)
    _put_table(wb, HISTORY_SHEET, HISTORY_TABLE, rows)
    _put_table(wb, WEIGHTS_SHEET, WEIGHTS_TABLE, weights)
    wb.calculation.fullCalcOnLoad = True
    write_atomically(output or book, wb.save)


def _put_table(wb: object, sheet: str, table: str, frame: pd.DataFrame) -> None:
    """Rewrite (or create) the Excel Table `table` from A1 with `frame`, text kept as text."""
    from openpyxl.utils import get_column_letter, range_boundaries
    from openpyxl.worksheet.table import Table, TableStyleInfo
    ws = next((w for w in wb.worksheets if table in w.tables), None)
    if ws is None:
        if sheet in wb.sheetnames:
            ws = wb[sheet]
        else:
            after = wb.sheetnames.index(HISTORY_SHEET) + 1 if HISTORY_SHEET in wb.sheetnames \
                else len(wb.sheetnames)
            ws = wb.create_sheet(sheet, after)
    style, top = TableStyleInfo(name="TableStyleLight9", showRowStripes=True), 1
    if table in ws.tables:  # keep its style and its first row (a title may sit above)
        style = ws.tables[table].tableStyleInfo
        top = range_boundaries(ws.tables[table].ref)[1]
        del ws.tables[table]
    if ws.max_row >= top:
        ws.delete_rows(top, ws.max_row - top + 1)
    for r, values in enumerate([[str(c) for c in frame.columns], *_records(frame)],
                               start=top):
        for c, value in enumerate(values, start=1):
            if value is not None:
                ws.cell(row=r, column=c, value=value)
    width = len(frame.columns)
    for c, name in enumerate(frame.columns, start=1):
        column = ws.column_dimensions[get_column_letter(c)]
        column.width = max(column.width or 0, min(40, len(str(name)) + 4))
        series = frame[name]
        if name == "date":
            for cell in ws.iter_rows(min_row=top + 1, min_col=c, max_col=c):
                cell[0].number_format = "yyyy-mm-dd"
        elif not pd.api.types.is_numeric_dtype(series):
            risky = series.astype("string").str.startswith(("=", "+", "-", "@")).fillna(False)
            for r in np.flatnonzero(risky.to_numpy(dtype=bool)):
                ws.cell(row=int(r) + top + 1, column=c).data_type = "s"
    ref = f"A{top}:{get_column_letter(width)}{top + max(len(frame), 1)}"
    ws.add_table(Table(displayName=table, ref=ref, tableStyleInfo=style))
    ws.freeze_panes = f"A{top + 1}"


# ---------------------------------------------------------------- trend and why it moved

@dataclass(frozen=True)
class Trend:
    """Change between two snapshots, per account, split into its reasons."""

    before: dt.date
    after: dt.date
    accounts: pd.DataFrame
    effects: list[str]
    notes: tuple[str, ...] = ()


def pick_dates(history: History, before: dt.date | None = None,
               after: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The two snapshots to compare: `after` (default latest) and the one before it."""
    dates = history.dates
    if not dates:
        raise ChsError("the history is empty: take a snapshot first (chs snapshot)")
    for d in (before, after):
        if d is not None and d not in dates:
            raise ChsError(f"no snapshot on {d.isoformat()} (snapshots: "
                           f"{', '.join(x.isoformat() for x in dates[-12:])})")
    after = after or dates[-1]
    earlier = [d for d in dates if d < after]
    if before is None:
        if not earlier:
            raise ChsError(f"only one snapshot ({after.isoformat()}) up to that date: take "
                           "another snapshot to see a trend")
        before = earlier[-1]
    if before >= after:
        raise ChsError(f"--from {before.isoformat()} must be before --to {after.isoformat()}")
    return before, after


def weights_matrix(history: History, rows: pd.DataFrame, date: dt.date,
                   components: list[str]) -> tuple[np.ndarray, bool]:
    """Per-row component weights on `date` (segment-aware); (matrix, known?)."""
    table = history.weights[history.weights["date"] == pd.Timestamp(date)]
    if table.empty:
        present = ~rows[components].isna().all().to_numpy()
        return np.broadcast_to(present.astype(float), (len(rows), len(components))), False
    keys = {header_key(c): i for i, c in enumerate(components)}
    seg_keys = segment_keys(table["segment"])
    groups = list(dict.fromkeys(["", *seg_keys]))
    matrix = np.zeros((len(groups), len(components)))
    for (seg, comp), weight in zip(zip(seg_keys, table["component"], strict=True),
                                   table["weight"], strict=True):
        if header_key(comp) in keys:
            matrix[groups.index(seg), keys[header_key(comp)]] = weight
    lookup = {g: i for i, g in enumerate(groups) if g}
    return matrix[segment_keys(rows["segment"]).map(lookup).fillna(0).to_numpy(dtype=int)], \
        True


def segment_keys(values: pd.Series) -> pd.Series:
    """Segment values as matched against the model's segments: trimmed, any case."""
    return values.astype("string").str.strip().str.lower().fillna("")


def composite(weights: np.ndarray, present: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Weighted mean of the present component scores (the engine's raw health)."""
    w = weights * present
    total = w.sum(axis=1)
    return np.divide((w * np.nan_to_num(scores)).sum(axis=1), total,
                     out=np.full(len(scores), np.nan), where=total > 0)


def trend(history: History, before: dt.date | None = None, after: dt.date | None = None) \
        -> Trend:
    """Why health moved between two snapshots, exactly additive per account.

    change = sum of component contributions + model/weights + data coverage
             + caps and overrides. The path: old health -> raw (before caps) -> new
    weights -> components present both times -> new scores -> new coverage -> new caps.
    Contributions are the new normalised weight (over components present both times)
    times the change of that component's score.
    """
    before, after = pick_dates(history, before, after)
    comps = history.components
    a, b = history.at(before), history.at(after)
    both = pd.merge(a, b, on="account_id", how="outer", suffixes=("_1", "_2"),
                    indicator=True, sort=False)
    r1 = both[[f"{c}_1" for c in ("segment", *comps)]].set_axis(["segment", *comps], axis=1)
    r2 = both[[f"{c}_2" for c in ("segment", *comps)]].set_axis(["segment", *comps], axis=1)
    s1, s2 = r1[comps].to_numpy(dtype=float), r2[comps].to_numpy(dtype=float)
    p1, p2 = ~np.isnan(s1), ~np.isnan(s2)
    w1, known1 = weights_matrix(history, r1, before, comps)
    w2, known2 = weights_matrix(history, r2, after, comps)
    h1, h2 = both["health_1"].to_numpy(float), both["health_2"].to_numpy(float)
    raw1, raw2 = composite(w1, p1, s1), composite(w2, p2, s2)
    common = p1 & p2
    raw_a = composite(w2, p1, s1)
    raw_b, raw_c = composite(w2, common, s1), composite(w2, common, s2)
    shared = (w2 * common).sum(axis=1, keepdims=True)
    contrib = np.divide(w2 * common, shared, out=np.zeros_like(s1), where=shared > 0) \
        * np.nan_to_num(s2 - s1)
    has_common = shared[:, 0] > 0
    coverage = np.where(has_common, (raw_b - raw_a) + (raw2 - raw_c), raw2 - raw_a)
    out = pd.DataFrame({
        "account_id": both["account_id"],
        "owner": both["owner_2"].fillna(both["owner_1"]),
        "segment": both["segment_2"].fillna(both["segment_1"]),
        "arr": both["arr_2"].fillna(both["arr_1"]),
        "health_before": h1, "health_after": h2, "change": h2 - h1,
        "band_before": both["band_1"].fillna(ABSENT), "band_after": both["band_2"].fillna(ABSENT)})
    effects = [f"{c} contribution" for c in comps] + ["model and weights", "data coverage",
                                                      "caps and overrides"]
    valid = ~np.isnan(h1) & ~np.isnan(h2) & ~np.isnan(raw1) & ~np.isnan(raw2)
    parts = np.column_stack([contrib, raw_a - raw1, coverage, (h2 - raw2) - (h1 - raw1)])
    parts = np.where(valid[:, None], parts, np.nan)
    for k, name in enumerate(effects):
        out[name] = parts[:, k]
    out["main reason"] = _main_reason(out, both, parts, effects, comps)
    notes = _trend_notes(history, before, after, known1, known2)
    order = np.argsort(np.nan_to_num(out["change"].to_numpy(), nan=0.0), kind="stable")
    return Trend(before, after, out.iloc[order].reset_index(drop=True), effects, notes)


def _main_reason(out: pd.DataFrame, both: pd.DataFrame, parts: np.ndarray,
                 effects: list[str], comps: list[str]) -> np.ndarray:
    """The effect that moved health most in the direction it went, in words."""
    change = out["change"].to_numpy(dtype=float)
    signed = np.where(np.sign(np.nan_to_num(parts)) == np.sign(change)[:, None],
                      np.abs(np.nan_to_num(parts)), -1.0)
    best = np.argmax(signed, axis=1)
    rows = np.arange(len(best))
    size = np.nan_to_num(parts)[rows, best] if len(best) else np.zeros(0)
    names = np.array([*comps, "Model or weights changed", "Data coverage changed",
                      "Caps or overrides"], dtype=object)
    label = names[best] if len(best) else np.zeros(0, dtype=object)
    if "capped_by_2" in both.columns:
        label = _cap_label(both, best == len(effects) - 1, size, label)
    reason = label.astype(object) + " " + np.char.mod("%+.1f", size).astype(object)
    status = np.select(
        [out["band_before"].to_numpy() == ABSENT, out["band_after"].to_numpy() == ABSENT,
         np.isnan(out["health_before"].to_numpy(float)),
         np.isnan(out["health_after"].to_numpy(float)),
         np.nan_to_num(np.abs(change)) < 1e-9],
        ["New account", "Not in the latest snapshot", "No data before", "No data now",
         "No change"], "")
    return np.where(status != "", status, reason)


def _cap_label(both: pd.DataFrame, is_cap: np.ndarray, size: np.ndarray,
               label: np.ndarray) -> np.ndarray:
    """Name the cap or override behind a 'caps and overrides' effect (SQLite store only)."""
    def state(suffix: str) -> tuple[np.ndarray, np.ndarray]:
        capped = both[f"capped_by_{suffix}"].fillna("").astype(str).to_numpy(dtype=object)
        over = both[f"overridden_{suffix}"].astype("boolean").fillna(False).to_numpy(bool)
        return capped, over
    cap2, over2 = state("2")
    cap1, over1 = state("1")
    return np.select(
        [is_cap & over2, is_cap & (cap2 != "") & (size < 0), is_cap & over1,
         is_cap & (cap1 != "")],
        ["Override", "Cap: " + cap2, "Override ended", "Cap lifted: " + cap1], label)


def _trend_notes(history: History, before: dt.date, after: dt.date, known1: bool,
                 known2: bool) -> tuple[str, ...]:
    notes = []
    for d, known in ((before, known1), (after, known2)):
        if not known:
            notes.append(f"weights of the {d.isoformat()} snapshot are not recorded: "
                         "components were taken as equally weighted for it")
    comps1 = [c for c in history.components if history.at(before)[c].notna().any()]
    comps2 = [c for c in history.components if history.at(after)[c].notna().any()]
    gone = [c for c in comps1 if c not in comps2]
    came = [c for c in comps2 if c not in comps1]
    if gone or came:
        notes.append("components differ between the snapshots (aligned by name): "
                     + "; ".join(x for x in (f"only before: {', '.join(gone)}" if gone else "",
                                             f"only after: {', '.join(came)}" if came else "")
                                 if x))
    return tuple(notes)


def movers(result: Trend, top: int = 10) -> pd.DataFrame:
    """The `top` largest drops and rises, each with its main reason."""
    moved = result.accounts[result.accounts["change"].notna()
                            & (result.accounts["change"].abs() > 1e-9)]
    drops = moved[moved["change"] < 0].nsmallest(top, "change")
    rises = moved[moved["change"] > 0].nlargest(top, "change")
    cols = ["account_id", "owner", "segment", "arr", "health_before", "health_after",
            "change", "band_before", "band_after", "main reason"]
    return pd.concat([drops.assign(direction="drop"), rises.assign(direction="rise")],
                     ignore_index=True)[["direction", *cols]]


def rollup(history: History, by: str, before: dt.date | None = None,
           after: dt.date | None = None) -> pd.DataFrame:
    """Each owner's (or segment's) book: accounts, ARR, mean health and its change, bands.

    The change compares the book's mean health now with the same owner's (segment's)
    book at the previous snapshot, as it was then.
    """
    dates = history.dates
    after = after or (dates[-1] if dates else None)
    if after is None:
        raise ChsError("the history is empty: take a snapshot first (chs snapshot)")
    now = history.at(after).assign(key=lambda f: f[by].fillna(f"(no {by})"))
    out = now.groupby("key", sort=True).agg(accounts=("account_id", "size"),
                                            arr=("arr", "sum"),
                                            mean_health=("health", "mean"))
    out["arr_weighted_health"] = (now["health"] * now["arr"]).groupby(now["key"]).sum() \
        / now["arr"].where(now["health"].notna()).groupby(now["key"]).sum()
    earlier = [d for d in dates if d < after]
    prev = before or (earlier[-1] if earlier else None)
    if prev is not None:
        then = history.at(prev).assign(key=lambda f: f[by].fillna(f"(no {by})"))
        out["mean_health_before"] = then.groupby("key")["health"].mean().reindex(out.index)
        out["change"] = out["mean_health"] - out["mean_health_before"]
    counts = pd.crosstab(now["key"], now["band"]).reindex(index=out.index,
                                                          columns=list(BAND_ORDER),
                                                          fill_value=0)
    out = out.join(counts.astype("int64"))
    return out.rename_axis(by).reset_index()


def band_migration(result: Trend) -> pd.DataFrame:
    """How many accounts moved from each band (rows, before) to each band (columns, after)."""
    order = [*BAND_ORDER, ABSENT]
    table = pd.crosstab(result.accounts["band_before"], result.accounts["band_after"])
    table = table.reindex(index=order, columns=order, fill_value=0).astype("int64")
    table.index.name, table.columns.name = f"band on {result.before}", None
    table["total"] = table.sum(axis=1)
    return table.reset_index()
