"""Text that would start a formula, made inert before it reaches a csv or a cell."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TextIO

import pandas as pd

from chs_excel.core.vocabulary import FORMULA_START


def formula_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy where text cells starting with = + - @ get a leading apostrophe.

    Excel and LibreOffice then keep them as text. Numbers, and text that reads as a
    number (' -5'), are left alone; `read_accounts` removes the apostrophe again, so the
    project's own files round-trip.
    """
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype != object and not pd.api.types.is_string_dtype(out[col]):
            continue
        cells = out[col].astype(object)
        text = cells.where(cells.map(lambda v: isinstance(v, str)), None).str.strip()
        risky = (text.str.startswith(FORMULA_START).fillna(False)
                 & pd.to_numeric(text, errors="coerce").isna()).to_numpy(dtype=bool)
        if risky.any():
            values = cells.to_numpy(dtype=object).copy()
            values[risky] = "'" + values[risky]
            out[col] = values
    return out


def write_csv(frame: pd.DataFrame, path: Path | TextIO) -> None:
    """Write `frame` as a csv Excel opens safely: formula-like cells and headers as text,
    CRLF line ends, so any field holding a line break (CR or LF) is quoted and cannot
    split a row."""
    safe = formula_safe(frame)
    header = formula_safe(pd.DataFrame([list(map(str, frame.columns))], dtype=object))
    safe.columns = list(header.iloc[0])
    safe.to_csv(path, index=False, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
