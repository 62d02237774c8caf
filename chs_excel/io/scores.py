"""Reading scores back: a scored workbook's Scores table or a scores csv.

Forecast, history and calibration read the same files through these functions; the
column parsers (ids, bands, numbers, dates) raise errors naming the rows at fault.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import python_calamine as calamine

from chs_excel.core.engine import band_of, metric_score_column, parse_dates, parse_numbers, score
from chs_excel.core.errors import InputError
from chs_excel.core.model import Model
from chs_excel.core.vocabulary import BAND_ORDER, NO_DATA, SCORE_COLUMNS, header_key
from chs_excel.io.accounts import XLSX_SUFFIXES, csv_delimiter, read_accounts
from chs_excel.io.workbook import fixed_as_of, read_book_model
from chs_excel.xlsx.guard import check_package
from chs_excel.xlsx.package import Package


@dataclass(frozen=True)
class ScoresFile:
    """Scores read from a file: canonical column names, the model found in it, notes."""

    scores: pd.DataFrame
    model: Model | None
    where: str
    notes: tuple[str, ...] = ()


def canonical_scores(frame: pd.DataFrame, model: Model | None = None) -> pd.DataFrame:
    """Rename headers written as words ('Health', 'Renewal date') to the engine's names."""
    names = list(SCORE_COLUMNS)
    if model is not None:
        names += list(model.components) + [metric_score_column(m) for m in model.metrics]
    wanted = {header_key(n): n for n in names}
    return frame.rename(columns=lambda c: wanted.get(header_key(c), c))


def read_scores(path: str | Path, model: Model | None = None,
                columns: tuple[str, ...] | None = None) -> ScoresFile:
    """Scores from a scored workbook (its `Scores` table) or a csv written by `chs score`.

    `model` (from --model) wins; otherwise a workbook's Model sheet is used. A workbook
    whose Scores formulas were never calculated (saved by a tool that does not compute)
    is re-scored from its Model and Accounts sheets, and a note says so. `columns` limits
    a csv to the columns a command needs (as text: the callers type them), for speed.

    Parameters
    ----------
    path : str or Path
        A scored workbook (.xlsx/.xlsm) or a scores csv.
    model : Model, optional
        The model the scores were made with (default: the workbook's Model sheet).
    columns : tuple of str, optional
        For a csv: read only these columns.

    Returns
    -------
    ScoresFile
        The scores under the engine's column names, the model found, where, and notes.
    """
    path = Path(path)
    notes: list[str] = []
    if path.suffix.lower() in XLSX_SUFFIXES:
        if path.is_file() and zipfile.is_zipfile(path):
            check_package(path)  # before calamine: it aborts the process on hostile files
        model = model or read_book_model(path)
        try:
            frame = canonical_scores(read_accounts(path, sheet=_scores_sheet(path)), model)
            calculated = "health" not in frame.columns or frame["health"].notna().any()
        except InputError:  # formulas without cached values read as an empty table
            if model is None:
                raise
            calculated = False
        if not calculated and model is not None:
            scored = score(model, read_accounts(path), as_of=fixed_as_of(Package(path))).scores
            header = canonical_scores(pd.DataFrame(columns=_scores_header(path)), model)
            # as the sheet would read: helper columns and empty text blank
            frame = scored.reindex(columns=header.columns).replace("", None)
            text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])]
            frame[text] = frame[text].astype(object).where(frame[text].notna(), None)
            notes.append(f"{path}: the Scores sheet holds no calculated values; scores "
                         "were recomputed from its Model and Accounts sheets")
    else:
        frame = _read_csv_columns(path, columns) if columns else None
        frame = canonical_scores(read_accounts(path) if frame is None else frame, model)
    where = frame.attrs.get("source", str(path))
    if "account_id" not in frame.columns:
        raise InputError(f"{where}: column 'account_id' is missing; pass the Scores of a "
                         "scored workbook or a csv written by 'chs score'")
    if "band" not in frame.columns and "health" not in frame.columns:
        raise InputError(f"{where}: neither 'band' nor 'health' is there; this does not "
                         "look like scores written by 'chs score'")
    frame.attrs["source"] = where
    return ScoresFile(frame, model, where, tuple(notes))


def _scores_header(path: Path) -> list[str]:
    """The header row of a workbook's Scores sheet (readable even without cached values)."""
    import python_calamine

    sheet = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name(
        _scores_sheet(path))
    rows = sheet.to_python(nrows=1)
    return [str(h) for h in rows[0] if str(h)] if rows else []


def _read_csv_columns(path: Path, columns: tuple[str, ...]) -> pd.DataFrame | None:
    """Only `columns` of a plain UTF-8 csv, as text (blank = None), rows numbered as in
    the file; None when the file needs the general reader (other encodings, odd layout)."""
    wanted = {header_key(c) for c in columns}
    try:
        with path.open(encoding="utf-8-sig") as handle:
            first = handle.readline()
        frame = pd.read_csv(path, sep=csv_delimiter(first), dtype=str, keep_default_na=False,
                            encoding="utf-8-sig", skip_blank_lines=False,
                            usecols=lambda c: header_key(c) in wanted)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError):
        return None
    frame = frame.replace("", None)
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    frame = frame.dropna(how="all")
    if frame.empty:
        return None
    frame.attrs["source"] = str(path)
    return frame


def _scores_sheet(path: Path) -> str:
    try:
        book = calamine.CalamineWorkbook.from_path(str(path), load_tables=True)
        if "Scores" in book.table_names:
            return book.get_table_by_name("Scores").sheet
        sheets = book.sheet_names
    except Exception:  # damaged file: read_accounts gives the clear message
        return "Scores"
    if "Scores" not in sheets:
        raise InputError(f"{path}: no Scores sheet (sheets: {', '.join(sheets)}); pass a "
                         "workbook written by 'chs score' or a scores csv")
    return "Scores"


def account_ids(frame: pd.DataFrame, where: str) -> pd.Series:
    """Account ids as text (whole numbers without '.0'); blanks are an input error."""
    raw = frame["account_id"]
    numbers = pd.to_numeric(raw, errors="coerce")
    text = raw.astype("string").str.strip()
    whole = (numbers.notna() & (numbers % 1 == 0)).to_numpy()
    if whole.any():
        text[whole] = numbers[whole].astype("int64").astype("string")
    blank = (text.isna() | (text == "")).to_numpy()
    if blank.any():
        raise InputError(f"{where}: column account_id is blank in row "
                         f"{_rows(frame.index[blank])}")
    return text.astype(object)


def bands(frame: pd.DataFrame, model: Model | None, where: str) -> np.ndarray:
    """Each account's band: the band column (checked), else from health and the model."""
    if "band" not in frame.columns:
        if model is None:
            raise InputError(f"{where}: no 'band' column and no model to band health with")
        health = numbers(frame, "health", where)
        return band_of(health, model.red_below, model.green_from)
    text = frame["band"].astype("string").str.strip()
    canon = {b.lower(): b for b in BAND_ORDER}
    out = text.str.lower().map(canon)
    out = out.where(text.notna() & (text != ""), NO_DATA)
    bad = out.isna().to_numpy()
    if bad.any():
        raise InputError(f"{where}: column band has {text[bad].iloc[0]!r} in row "
                         f"{_rows(frame.index[bad])}; use {', '.join(BAND_ORDER)}")
    return out.to_numpy(dtype=object)


def numbers(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
    """A numeric column (NaN for blanks); text in it is an input error naming the rows."""
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    values, bad = parse_numbers(frame[column])
    if bad.any():
        raise InputError(f"{where}: column {column} is not a number in row "
                         f"{_rows(frame.index[bad])} (e.g. {frame[column][bad].iloc[0]!r})")
    return values


def dates(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
    """A date column as datetime64 (NaT for blanks); cells that are not dates fail."""
    if column not in frame.columns:
        raise InputError(f"{where}: column {column} is missing")
    values, bad = parse_dates(frame[column])
    if bad.any():
        raise InputError(f"{where}: column {column} is not a date in row "
                         f"{_rows(frame.index[bad])} (e.g. {frame[column][bad].iloc[0]!r}); "
                         "use YYYY-MM-DD or an Excel date")
    return values


def _rows(index: pd.Index, limit: int = 5) -> str:
    items = [str(i) for i in index[:limit]]
    more = f" and {len(index) - limit} more" if len(index) > limit else ""
    return ", ".join(items) + more
