"""Reading raw exports (signal sources): csv, xlsx or Parquet, times as naive UTC.

A source file is read as it is: headers stripped, index = the row number in the file
(the header is row 1), columns whose every cell is a number become numbers, the key column
stays text. The time column is parsed per docs/signals.md ("Times"): ISO with or without
`T`, fractions of a second, `Z` or an offset (converted to UTC), no offset (taken as
written), Excel serials, and the date forms docs/input.md reads. Cells that are not a time
are listed in `attrs["issues"]` and never count.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import python_calamine as calamine

from chs_excel.core.engine import ISSUE_COLUMNS
from chs_excel.core.errors import InputError
from chs_excel.core.model import Model
from chs_excel.core.signal_engine import column_of
from chs_excel.core.signals import Source
from chs_excel.core.vocabulary import BLANK_WORDS
from chs_excel.io.cells import EXCEL_EPOCH, make_dates, parse_date_text

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_SUFFIXES = (".parquet", ".pq")
# ISO date-times: 2027-02-01, 2027-02-01 13:45, 2027-02-01T13:45:07.250Z, ...+01:00
ISO_TIME = (r"^(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})"
            r"(?:[T ](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d+))?)?)?"
            r"\s*(?P<z>[Zz]|UTC|[+-]\d{2}(?::?\d{2})?)?$")
SERIAL_TEXT = r"^\d+(?:\.\d+)?$"
NS_PER_DAY = 86_400 * 10 ** 9


def source_path(source: Source, model_path: str | Path | None,
                overrides: dict[str, str] | None = None) -> Path:
    """Where a source's file is: `--source NAME=PATH` first, else relative to the model."""
    if overrides and source.name in overrides:
        return Path(overrides[source.name])
    if not source.file:
        raise InputError(f"source {source.name!r}: no file given (give file in the model "
                         f"or --source {source.name}=PATH)")
    path = Path(source.file)
    if not path.is_absolute() and model_path is not None:
        path = Path(model_path).parent / path
    return path


def parse_overrides(items: list[str] | None, model: Model) -> dict[str, str]:
    """`NAME=PATH` items (the --source option) as a mapping; unknown names are errors."""
    out = {}
    names = [s.name for s in model.sources]
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise InputError(f"--source {item!r}: expected NAME=PATH")
        if name.strip() not in names:
            raise InputError(f"--source {item!r}: the model has no source {name.strip()!r} "
                             f"(sources: {', '.join(names) or 'none'})")
        out[name.strip()] = path.strip()
    return out


def load_sources(model: Model, model_path: str | Path | None,
                 overrides: dict[str, str] | None = None,
                 date_format: str = "auto") -> dict[str, pd.DataFrame]:
    """Every source of `model`, read (see `read_source`)."""
    return {s.name: read_source(s, source_path(s, model_path, overrides), date_format)
            for s in model.sources}


def read_source(source: Source, path: str | Path, date_format: str = "auto") -> pd.DataFrame:
    """Read one raw export; errors name the source, file and field. `date_format`
    (auto, dmy, mdy, iso) is the day/month order of times written as d/m/y text
    (docs/input.md; the --date-format option).

    Returns
    -------
    DataFrame
        Index = row number in the file; the time column as datetime64[ns] (naive UTC,
        NaT where unreadable); `attrs["file"]`, `attrs["issues"]` (unreadable times).
    """
    path = Path(path)
    label = f"source {source.name} ({path})"
    if source.preset:
        raise InputError(f"{label}: preset {source.preset!r} is not built yet; map the "
                         "columns in the model instead (docs/signals.md)")
    if not path.is_file():
        raise InputError(f"{label}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
            frame.index = np.arange(2, len(frame) + 2)
        elif suffix in XLSX_SUFFIXES:
            frame = _read_xlsx(path)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                                sep=None, engine="python") if suffix not in CSV_SUFFIXES \
                else pd.read_csv(path, dtype=str, keep_default_na=False,
                                 encoding="utf-8-sig")
            frame.index = np.arange(2, len(frame) + 2)
    except (ValueError, OSError, UnicodeDecodeError, calamine.CalamineError) as exc:
        raise InputError(f"{label}: cannot be read ({exc.__class__.__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    for field, wanted in (("key", source.key), ("time", source.time)):
        if column_of(frame, wanted) is None:
            raise InputError(f"{label}: {field} column {wanted!r} not found (columns: "
                             f"{', '.join(frame.columns)})")
    key_col, time_col = column_of(frame, source.key), column_of(frame, source.time)
    frame = _typed(frame, keep={key_col, time_col})
    times, bad = parse_times(frame[time_col], time_col, label, date_format)
    issues = pd.DataFrame(columns=ISSUE_COLUMNS)
    if bad.any():
        issues = pd.DataFrame({"row": frame.index[bad], "account_id": None,
                               "column": time_col,
                               "value": frame[time_col][bad].astype(str).to_numpy(),
                               "problem": f"source {source.name}: not a time (row not "
                                          "counted)"}, columns=ISSUE_COLUMNS)
    frame[time_col] = times
    frame.attrs["file"] = str(path)
    frame.attrs["issues"] = issues
    return frame


def _read_xlsx(path: Path) -> pd.DataFrame:
    """The first sheet of a workbook: row 1 the headers."""
    book = calamine.CalamineWorkbook.from_path(str(path))
    rows = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    if not rows:
        raise InputError(f"{path}: the first sheet is empty")
    header = [str(h).strip() for h in rows[0]]
    frame = pd.DataFrame(rows[1:], columns=header, dtype=object)
    frame.index = np.arange(2, len(frame) + 2)
    return frame.replace({"": None})


def _typed(frame: pd.DataFrame, keep: set[str]) -> pd.DataFrame:
    """Blank text as None; columns whose every non-blank cell is a number as floats, and
    in the other columns each cell that reads as a finite number as that number (so the
    engines and the workbook's ISNUMBER read it alike); the key and time columns as they
    are."""
    out = {}
    for col in frame.columns:
        series = frame[col]
        # text columns: object, or pandas 3's `str` dtype (what read_csv(dtype=str) gives)
        if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
            text = series.where(series.notna(), "").astype(str).str.strip()
            series = series.astype(object).where(text != "", None)
            if col not in keep:
                numbers = pd.to_numeric(text.where(text != ""), errors="coerce")
                present = text != ""
                if present.any() and numbers[present].notna().all():
                    series = numbers.astype(float)
                else:   # a number written as text (' 10 ') is a number (SPEC, text keys)
                    finite = numbers.notna() & np.isfinite(numbers.astype(float))
                    series = series.where(~finite, numbers.astype(float))
        out[col] = series
    result = pd.DataFrame(out, index=frame.index)
    result.attrs = frame.attrs
    return result


def parse_times(raw: pd.Series, column: str = "time", where: str = "source",
                date_format: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Times as naive UTC datetime64[ns], to the millisecond (`to_milliseconds`), and the
    mask of cells that are not times (`column` and `where` name the column in an error
    about day/month order)."""
    out = np.full(len(raw), np.datetime64("NaT", "ns"))
    if pd.api.types.is_datetime64_any_dtype(raw):
        values = raw.dt.tz_convert("UTC").dt.tz_localize(None) if raw.dt.tz is not None \
            else raw
        return (to_milliseconds(values.to_numpy(dtype="datetime64[ns]")),
                np.zeros(len(raw), dtype=bool))
    cells = raw.astype(object).to_numpy()
    present = pd.notna(cells)
    kinds = pd.Series(cells).map(type).to_numpy()
    is_text = present & np.isin(kinds, (str,))
    is_num = present & np.isin(kinds, (int, float, np.int64, np.float64))
    if is_num.any():
        out[is_num] = _serials(cells[is_num].astype(float))
    stamps = present & ~is_text & ~is_num
    if stamps.any():
        out[np.flatnonzero(stamps)] = pd.to_datetime(
            pd.Series([_utc(v) for v in cells[stamps]]), errors="coerce").to_numpy(
            dtype="datetime64[ns]")
    if is_text.any():
        idx = np.flatnonzero(is_text)
        text = pd.Series(cells[is_text], index=raw.index[is_text], dtype=object).str.strip()
        blank = text.str.lower().isin(BLANK_WORDS).to_numpy()
        present[idx[blank]] = False
        out[idx] = _text_times(text.where(~blank, ""), column, where, date_format)
    bad = present & np.isnat(out)
    return to_milliseconds(out), bad


def to_milliseconds(times: np.ndarray) -> np.ndarray:
    """Times cut to the millisecond (floored), as a workbook cell holds them: a window
    edge is a whole second, so a time is before it exactly when its floor is, and the
    workbook's comparisons (equal within about 10 microseconds) read the same rows."""
    ns = times.astype("datetime64[ns]")
    ok = ~np.isnat(ns)
    floored = (ns.view(np.int64) // 1_000_000) * 1_000_000
    return np.where(ok, floored.view("datetime64[ns]"), np.datetime64("NaT", "ns"))


def _utc(value: object) -> object:
    """A datetime (or date) as naive UTC; anything else as it is."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _serials(serials: np.ndarray) -> np.ndarray:
    """Excel serials (1900 system, from 61 = 1900-03-01) with their time of day."""
    ok = np.isfinite(serials) & (serials >= 61) & (serials < 2958466)
    ns = np.round(np.where(ok, serials, 0) * 86_400 * 10 ** 6).astype(np.int64) * 1000
    out = EXCEL_EPOCH.astype("datetime64[ns]") + ns.astype("timedelta64[ns]")
    return np.where(ok, out, np.datetime64("NaT", "ns"))


def _text_times(text: pd.Series, column: str, where: str,
                date_format: str = "auto") -> np.ndarray:
    out = np.full(len(text), np.datetime64("NaT", "ns"))
    parts = text.str.extract(ISO_TIME)
    iso = parts["y"].notna().to_numpy()
    if iso.any():
        p = parts[iso]
        days = make_dates(*(p[c].astype(int).to_numpy() for c in ("y", "m", "d")))
        secs = sum(p[c].fillna("0").astype(np.int64).to_numpy() * k
                   for c, k in (("H", 3600), ("M", 60), ("S", 1)))
        frac = p["f"].fillna("").str.slice(0, 9).str.ljust(9, "0").replace("", "0")
        ns = secs * 10 ** 9 + frac.astype(np.int64).to_numpy()
        z = p["z"].fillna("")
        sign = np.where(z.str.startswith("-"), -1, 1)
        digits = z.str.replace(r"[^0-9]", "", regex=True)
        hours = pd.to_numeric(digits.str.slice(0, 2), errors="coerce").fillna(0).to_numpy()
        mins = pd.to_numeric(digits.str.slice(2, 4), errors="coerce").fillna(0).to_numpy()
        offset = (sign * (hours * 3600 + mins * 60)).astype(np.int64) * 10 ** 9
        valid = ~np.isnat(days) & (p["H"].fillna("0").astype(int).to_numpy() < 24)
        stamp = days.astype("datetime64[ns]") + (ns - offset).astype("timedelta64[ns]")
        out[iso] = np.where(valid, stamp, np.datetime64("NaT", "ns"))
    rest = ~iso & (text != "").to_numpy()
    serial = rest & text.str.fullmatch(SERIAL_TEXT).to_numpy(dtype=bool)
    if serial.any():
        out[serial] = _serials(pd.to_numeric(text[serial]).to_numpy(dtype=float))
    rest &= ~serial
    if rest.any():
        days = parse_date_text(text[rest], column, date_format, where)   # index: file rows
        out[rest] = days.astype("datetime64[ns]")
    return out
