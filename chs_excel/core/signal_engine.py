"""The reference computation of signals (pandas): every rule of docs/signals.md.

`compute_signals` turns raw exports into one column per signal, aligned to the accounts.
Vectorised: each signal is boolean masks over its source's rows and one groupby on the
account each row belongs to; never a loop over accounts or rows. The DuckDB engine
(`engines/duckdb_signals.py`) and the workbook's formulas are proven equal to this.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from chs_excel.core.engine import ISSUE_COLUMNS
from chs_excel.core.errors import InputError
from chs_excel.core.model import Model
from chs_excel.core.signals import NO_OF_AGGS, ZERO_AGGS, Signal, SignalFilter
from chs_excel.core.values import cell_kinds, parse_numbers, text_keys
from chs_excel.core.vocabulary import BLANK_WORDS, header_key, text_key

EXAMPLES = 3  # unmatched keys shown per source in Data issues
DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class SignalResult:
    """Signal values (one column per signal, the accounts' index) and the data issues."""

    values: pd.DataFrame
    issues: pd.DataFrame


@dataclass(frozen=True)
class Prepared:
    """One source ready for masks: each row's account position (-1: none), its time."""

    frame: pd.DataFrame
    account: np.ndarray      # int64 position into the accounts, -1 when the key matches none
    time: np.ndarray         # datetime64[ns], NaT when the time could not be read
    label: str               # how errors name the source: "source tickets (tickets.csv)"


def window_bounds(as_of: dt.date, window: int | None) -> tuple[np.datetime64 | None,
                                                                np.datetime64]:
    """[start, end) of a window: N calendar days ending on the as-of day, inclusive;
    without a window no start, and always nothing after the as-of day."""
    end = np.datetime64(as_of, "D") + DAY
    start = None if window is None else end - np.timedelta64(int(window), "D")
    return (None if start is None else start.astype("datetime64[ns]"),
            end.astype("datetime64[ns]"))


def compute_signals(model: Model, accounts: pd.DataFrame, sources: dict[str, pd.DataFrame],
                    as_of: dt.date) -> SignalResult:
    """Compute every signal of `model` for `accounts` from the raw `sources`.

    Parameters
    ----------
    model : Model
        Its `sources` and `signals` say what to compute.
    accounts : DataFrame
        Must hold `account_id`; source keys match it as text keys.
    sources : dict of str to DataFrame
        Each source's rows as `io.sources.read_source` gives them: the time column as
        naive UTC datetimes (NaT where unreadable), index = row number in the file,
        `attrs["file"]` the file and `attrs["issues"]` the cells it could not read.
    as_of : date
        The day signals are computed for; rows after it never count.

    Returns
    -------
    SignalResult
        `.values`: one float column per signal (count, sum and distinct_count 0 when no
        row matches; the others missing); `.issues`: rows in the engine's issue shape.
    """
    account_of_key, uniques = account_keys(model, accounts)
    issues: list[pd.DataFrame] = []
    prepared = {}
    for s in model.sources:
        if s.name not in sources:
            raise InputError(f"source {s.name!r}: no data given (file {s.file!r})")
        prepared[s.name] = prepare_source(s.name, s.key, s.time, sources[s.name], uniques, issues)
    per_key = {g.name: _signal_values(g, prepared[g.source], as_of, len(uniques), issues)
               for g in model.signals}
    return signal_result(model, accounts, account_of_key, per_key, issues)


def account_keys(model: Model, accounts: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    """Each account's key code (-1 for a blank id) and the distinct keys (text keys);
    an InputError when a signal is named like one of the accounts' columns."""
    taken = {header_key(c): c for c in accounts.columns}
    for g in model.signals:
        if header_key(g.name) in taken:
            raise InputError(f"signal {g.name!r}: the accounts already have a column "
                             f"{taken[header_key(g.name)]!r}; rename the signal or drop the "
                             "column")
    if "account_id" not in accounts.columns:
        raise InputError("accounts: column 'account_id' is missing (source keys match it)")
    keys = cell_keys(accounts["account_id"])
    uniques = pd.Index(keys.dropna().unique())
    return uniques.get_indexer(keys), uniques


def signal_result(model: Model, accounts: pd.DataFrame, account_of_key: np.ndarray,
                  per_key: dict[str, np.ndarray], issues: list[pd.DataFrame]) -> SignalResult:
    """Values per account key spread to the accounts (in their order), and the issues."""
    values = {}
    has = account_of_key >= 0
    for g in model.signals:
        out = np.full(len(accounts), 0.0 if g.agg in ZERO_AGGS else np.nan)  # blank id: no rows
        out[has] = per_key[g.name][account_of_key[has]]
        values[g.name] = out
    found = pd.concat(issues, ignore_index=True) if issues else pd.DataFrame(
        columns=ISSUE_COLUMNS)
    return SignalResult(values=pd.DataFrame(values, index=accounts.index,
                                            columns=[g.name for g in model.signals]),
                        issues=found)


def column_of(frame: pd.DataFrame, name: str) -> str | None:
    """The frame's column for `name` (exact, else matched as a header key)."""
    if name in frame.columns:
        return name
    key = header_key(name)
    return next((c for c in frame.columns if header_key(c) == key), None)


def prepare_source(name: str, key: str, time: str, frame: pd.DataFrame, uniques: pd.Index,
                   issues: list[pd.DataFrame]) -> Prepared:
    """A source's rows with each row's account position (into `uniques`) and time;
    the rows matching no account are added to `issues`."""
    file = frame.attrs.get("file", name)
    label = f"source {name} ({file})"
    key_col, time_col = column_of(frame, key), column_of(frame, time)
    for field, wanted, found in (("key", key, key_col), ("time", time, time_col)):
        if found is None:
            raise InputError(f"{label}: {field} column {wanted!r} not found (columns: "
                             f"{', '.join(map(str, frame.columns))})")
    raw_keys = frame[key_col].astype(object)
    row_keys = cell_keys(raw_keys)
    account = uniques.get_indexer(row_keys).astype(np.int64)
    times = frame[time_col].to_numpy(dtype="datetime64[ns]")
    issues.extend(i for i in [frame.attrs.get("issues")] if i is not None and len(i))
    unmatched = account < 0
    if unmatched.any():
        blank = row_keys.isna().to_numpy() | row_keys.isin(BLANK_WORDS).to_numpy()
        shown = raw_keys[unmatched & ~blank].astype(str).drop_duplicates().head(EXAMPLES)
        first = int(np.flatnonzero(unmatched)[0])
        issues.append(pd.DataFrame([{
            "row": frame.index[first], "account_id": None, "column": key_col,
            "value": ", ".join(shown) or None,
            "problem": unmatched_text(name, file, int(unmatched.sum()),
                                      int((unmatched & blank).sum()), list(shown))}],
            columns=ISSUE_COLUMNS))
    return Prepared(frame=frame, account=account, time=times, label=label)


def _signal_values(g: Signal, src: Prepared, as_of: dt.date, n_keys: int,
                   issues: list[pd.DataFrame]) -> np.ndarray:
    """One value per account key for signal `g` (NaN where missing)."""
    mask = signal_mask(g, src, as_of)
    zero = 0.0 if g.agg in ZERO_AGGS else np.nan
    out = np.full(n_keys, zero)
    if g.agg in NO_OF_AGGS:
        acc, t = src.account[mask], src.time[mask]
        if g.agg == "count":
            out += np.bincount(acc, minlength=n_keys)
        else:
            last = pd.Series(t).groupby(acc).max()
            day = np.datetime64(as_of, "D")
            days = (day - last.to_numpy().astype("datetime64[D]")) / DAY
            out[last.index.to_numpy()] = days
        return out
    of_col = _column(src, g, g.of, "of")
    raw = src.frame[of_col]
    if g.agg == "distinct_count":
        cells = raw[mask].astype(object)
        k = text_keys(cells.map(_text_of).where(cells.notna(), None))
        ok = k.notna().to_numpy() & ~k.isin(BLANK_WORDS).to_numpy()
        counts = pd.Series(k[ok].to_numpy()).groupby(src.account[mask][ok]).nunique()
        out[counts.index.to_numpy()] = counts.to_numpy(dtype=float)
        return out
    numbers, bad = parse_numbers(raw[mask])
    if bad.any():
        rows = raw[mask].index[bad]
        issues.append(pd.DataFrame({
            "row": rows, "account_id": None, "column": of_col,
            "value": raw[mask][bad].astype(str).to_numpy(),
            "problem": f"not a number (signal {g.name} skips it)"}, columns=ISSUE_COLUMNS))
    ok = ~np.isnan(numbers)
    acc, vals, t = src.account[mask][ok], numbers[ok], src.time[mask][ok]
    if g.agg == "latest":
        frame = pd.DataFrame({"acc": acc, "v": vals, "t": t})
        last = frame.groupby("acc")["t"].transform("max")
        got = frame[frame["t"] == last].groupby("acc")["v"].mean()
    else:
        got = pd.Series(vals).groupby(acc).agg(g.agg)
    out[got.index.to_numpy()] = got.to_numpy(dtype=float)
    return out


def signal_mask(g: Signal, src: Prepared, as_of: dt.date) -> np.ndarray:
    """The rows of `src` signal `g` counts: matched, in the window, passing every filter."""
    start, end = window_bounds(as_of, g.window)
    t = src.time
    mask = (src.account >= 0) & ~np.isnat(t) & (t < end)
    if start is not None:
        mask &= t >= start
    for f in g.where:
        mask &= filter_mask(src.frame[_column(src, g, f.column, "where")], f)
    return mask


def _column(src: Prepared, g: Signal, name: str | None, field: str) -> str:
    return signal_column(list(src.frame.columns), src.label, g, name, field)


def signal_column(columns: list[str], label: str, g: Signal, name: str | None,
                  field: str) -> str:
    """The source column a signal's `of` or filter names; an InputError naming the
    source, the signal and the field when the source has no such column."""
    found = column_of(pd.DataFrame(columns=columns), str(name))
    if found is None:
        raise InputError(f"{label}, signal {g.name}, {field}: column {name!r} not found "
                         f"(columns: {', '.join(map(str, columns))})")
    return found


def unmatched_text(name: str, file: str, n: int, blanks: int, examples: list[str]) -> str:
    """The Data issues text for a source's rows whose key matches no account."""
    text = f"{n:,} row(s) of source {name} ({file}) match no account_id"
    if blanks:
        text += f" ({blanks:,} with a blank key)"
    if examples:
        text += "; e.g. " + ", ".join(repr(v) for v in examples)
    return text + " (not counted)"


def cell_keys(raw: pd.Series) -> pd.Series:
    """Cells as text keys (None where blank): a whole number cell (an xlsx key 1001.0)
    reads as its digits, as `text_key` reads it."""
    cells = raw.astype(object).where(raw.notna(), None)
    is_num, _ = cell_kinds(cells.to_numpy())
    if is_num.any():   # only the number cells go through Python (a key column is text)
        cells = cells.where(~is_num, cells[is_num].map(_text_of))
    return text_keys(cells)


def _text_of(value: object) -> object:
    """A cell as text for text keys (a whole float reads as its integer)."""
    return text_key(value) if not isinstance(value, str) and value is not None \
        and not (isinstance(value, float) and np.isnan(value)) else value


def filter_mask(raw: pd.Series, f: SignalFilter) -> np.ndarray:
    """Rows where `raw op value` holds, as COUNTIFS reads it: numbers compare as numbers,
    text (and `in` lists) as text keys; a blank satisfies only `<>`."""
    values = f.value if isinstance(f.value, tuple) else (f.value,)
    if f.op == "in":
        return np.logical_or.reduce([_one(raw, "=", v) for v in values])
    return _one(raw, f.op, values[0])


def _one(raw: pd.Series, op: str, value: float | str) -> np.ndarray:
    if isinstance(value, float):
        numbers, _ = parse_numbers(raw)
        with np.errstate(invalid="ignore"):
            hit = {"=": numbers == value, "<>": numbers != value, "<": numbers < value,
                   "<=": numbers <= value, ">": numbers > value,
                   ">=": numbers >= value}[op]
        return hit | np.isnan(numbers) if op == "<>" else hit
    cells = raw.astype(object)
    keys = text_keys(cells.map(_text_of).where(cells.notna(), None))
    blank = keys.isna().to_numpy() | (keys == "").fillna(True).to_numpy(dtype=bool)
    k = keys.fillna("").to_numpy(dtype=object)
    want = text_key(value)
    if op == "=":
        return ~blank & (k == want)
    if op == "<>":
        return blank | (k != want)
    numeric, _ = parse_numbers(raw)
    text = ~blank & np.isnan(numeric)
    compare = {"<": k < want, "<=": k <= want, ">": k > want, ">=": k >= want}[op]
    return text & np.asarray(compare, dtype=bool)
