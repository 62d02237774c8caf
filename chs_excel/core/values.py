"""Reading cell values as the engine scores them: numbers, flags, and distinct values.

Shared by the engine and the metric methods (chs_excel.core.methods); the rules are those
of docs/scoring.md, "Values".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from chs_excel.core.vocabulary import (
    BLANK_WORDS,
    FALSE_WORDS,
    KEY_SPACE_TABLE,
    TRUE_WORDS,
    text_key,
)

NUMBER_TYPES = np.array([float, int, np.float64, np.float32, np.int64, np.int32], dtype=object)
TEXT_TYPES = np.array([str, np.str_], dtype=object)


def parse_flag_value(value: Any) -> bool | None:
    """SPEC's true-ish / false-ish words (any case) and numbers 1/0; None otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return {1: True, 0: False}.get(value) if math.isfinite(value) else None
    word = text_key(value)
    word = {"1.0": "1", "0.0": "0"}.get(word, word)
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def text_keys(text: pd.Series) -> pd.Series:
    """`text_key` over a column of text (None stays missing), vectorised."""
    return (text.astype("string").str.translate(KEY_SPACE_TABLE)
            .str.replace(" {2,}", " ", regex=True).str.strip(" ").str.lower())


_TYPE_OF = np.frompyfunc(type, 1, 1)


def cell_kinds(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the cells holding numbers (not booleans) and holding text (the types
    taken in one numpy ufunc pass: about 3x faster than `Series.map(type)`)."""
    kinds = _TYPE_OF(np.asarray(cells, dtype=object))
    return np.isin(kinds, NUMBER_TYPES), np.isin(kinds, TEXT_TYPES)


def is_blank(value: object) -> bool:
    """A blank cell: None, NaN, NaT, or an NA word ('', 'NA', 'N/A', 'null', ...)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and text_key(value) in BLANK_WORDS


def parse_numbers(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Numbers from a column: (values with NaN for missing, mask of cells that were bad).

    Blank cells (and NA words) are missing; other text, inf, dates and booleans are bad.
    Text that reads as a number (' 12 ') is that number.
    """
    if is_numeric_dtype(raw) and not is_bool_dtype(raw):
        values = raw.to_numpy(dtype=float, na_value=np.nan).copy()
        bad = np.isinf(values)
    else:
        cells = raw.to_numpy(dtype=object)
        is_num, is_text = cell_kinds(cells)
        values = np.full(len(cells), np.nan)
        values[is_num] = cells[is_num].astype(float)
        text = pd.Series(cells[is_text], dtype=object).str.strip()
        blank_text = text_keys(text).isin(BLANK_WORDS).to_numpy()
        values[np.flatnonzero(is_text)] = pd.to_numeric(
            text.where(~blank_text), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        blank = pd.isna(cells)
        blank[np.flatnonzero(is_text)[blank_text]] = True
        bad = (np.isnan(values) & ~blank) | np.isinf(values)
    values[bad] = np.nan
    return values, bad


def map_distinct(raw: pd.Series, parse: Callable[[Any], float]) -> tuple[np.ndarray, np.ndarray]:
    """Parse each distinct value once: (parsed floats with NaN, mask of bad cells)."""
    codes, uniques = pd.factorize(raw.astype(object), use_na_sentinel=True)
    parsed = np.array([parse(u) for u in uniques], dtype=float)
    blank_u = np.array([is_blank(u) for u in uniques], dtype=bool)
    values = np.where(codes >= 0, parsed[codes] if len(parsed) else np.nan, np.nan)
    bad = (codes >= 0) & np.isnan(values)
    if len(blank_u):
        bad &= ~blank_u[codes]
    return values.astype(float), bad


def parse_flags(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Flags as 1.0/0.0 (NaN missing) and the mask of values that are not true/false."""
    def one(value: object) -> float:
        if is_blank(value):
            return np.nan
        flag = parse_flag_value(value)
        return np.nan if flag is None else float(flag)
    return map_distinct(raw, one)
