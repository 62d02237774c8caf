"""Cell text as exports write it: numbers with currencies, separators and percent signs,
dates in ISO, US, European or serial form. Every rule is in docs/input.md.

All parsing works on whole columns (pandas string methods and numpy), never cell by cell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from chs_excel.core.errors import InputError

DECIMALS = ("auto", "point", "comma")
DATE_FORMATS = ("auto", "iso", "mdy", "dmy")

CURRENCY = (r"(?:US\$|[$€£¥₹₩₽₺₪]|(?:USD|EUR|GBP|CHF|JPY|CAD|AUD|NZD|SEK|NOK|DKK|PLN|CZK"
            r"|HUF|INR|CNY|BRL|MXN|ZAR|SGD|HKD)(?![A-Za-z]))")
MINUS = "-\u2212"  # hyphen-minus and the typographic minus sign
# A number cell: (  sign  currency  sign  digits  %  currency  trailing-minus  )
NUMBER = (rf"^(?P<open>\()?\s*(?P<s1>[{MINUS}+])?\s*{CURRENCY}?\s*(?P<s2>[{MINUS}+])?\s*"
          r"(?P<num>\d[\d.,'’ \u00a0\u202f]*|[.,]\d+)\s*(?P<pct>%)?\s*"
          rf"{CURRENCY}?\s*(?P<trail>[{MINUS}])?\s*(?P<close>\))?$")
GROUP = "[' \u00a0\u202f’]"  # thousands separators of either convention, besides , and .
VALID = {
    "point": rf"\d{{1,3}}(?P<t>[,]|{GROUP})\d{{3}}(?:(?P=t)\d{{3}})*(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+",
    "comma": rf"\d{{1,3}}(?P<t>[.]|{GROUP})\d{{3}}(?:(?P=t)\d{{3}})*(?:,\d+)?|\d+(?:,\d+)?|,\d+",
}
# Cells that can only be read one way (docs/input.md, "Decimal comma or point").
EVIDENCE = {
    "comma": rf"\d+,(?:\d{{1,2}}|\d{{4,}})|\d{{1,3}}(?:\.\d{{3}})+,\d+|\d{{1,3}}(?:\.\d{{3}}){{2,}}"
             rf"|\d{{1,3}}(?:{GROUP}\d{{3}})+,\d+|,\d+",
    "point": rf"\d+\.(?:\d{{1,2}}|\d{{4,}})|\d{{1,3}}(?:,\d{{3}})+\.\d+|\d{{1,3}}(?:,\d{{3}}){{2,}}"
             rf"|\d{{1,3}}(?:{GROUP}\d{{3}})+\.\d+|\.\d+",
}

TIME = (r"(?:[T ]\s*\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[AaPp][Mm])?"
        r"\s*(?:Z|[+-]\d{2}:?\d{2})?)?")
ISO_DATE = rf"^(?P<y>\d{{4}})[-/](?P<m>\d{{1,2}})[-/](?P<d>\d{{1,2}}){TIME}$"
DMY_DATE = rf"^(?P<a>\d{{1,2}})(?P<sep>[/.\-])(?P<b>\d{{1,2}})(?P=sep)(?P<y>\d{{4}}|\d{{2}}){TIME}$"
SERIAL = r"^\d+(?:\.\d+)?$"
TWO_DIGIT_PIVOT = 30          # Excel: 00-29 -> 2000s, 30-99 -> 1900s
EXCEL_EPOCH = np.datetime64("1899-12-30", "D")  # serials from 61 on (1900 date system)
EXCEL_EPOCH_1904 = np.datetime64("1904-01-01", "D")
MAX_SERIAL = 2_958_465        # 9999-12-31


def number_parts(text: pd.Series) -> pd.DataFrame:
    """The parts of number-like cells (NaN rows where the cell is not number-like)."""
    return text.str.extract(NUMBER)


def evidence(num: pd.Series, convention: str) -> np.ndarray:
    """Mask of number parts that can only be read with `convention` ('point'/'comma')."""
    return num.str.fullmatch(EVIDENCE[convention]).fillna(False).to_numpy(dtype=bool)


def parse_number_parts(parts: pd.DataFrame, convention: str) -> np.ndarray:
    """Floats from `number_parts` (NaN where the cell does not read as a number)."""
    num = parts["num"].str.strip()
    ok = num.str.fullmatch(VALID[convention]).fillna(False).to_numpy(dtype=bool).copy()
    ok &= parts["open"].isna().to_numpy() == parts["close"].isna().to_numpy()
    signs = (parts["s1"].notna() & parts["s2"].notna()).to_numpy()
    ok &= ~signs & ~(parts["trail"].notna().to_numpy() & (parts["s1"].notna()
                                                           | parts["s2"].notna()).to_numpy())
    decimal = "," if convention == "comma" else "."
    digits = num.str.replace(rf"[^\d{decimal}]", "", regex=True)
    if decimal == ",":
        digits = digits.str.replace(",", ".", regex=False)
    values = pd.to_numeric(digits.where(ok), errors="coerce").to_numpy(dtype=float,
                                                                      na_value=np.nan)
    negative = (parts["open"].notna() | parts["s1"].isin(list(MINUS))
                | parts["s2"].isin(list(MINUS)) | parts["trail"].notna()).to_numpy()
    return np.where(negative, -values, values)


def number_convention(leftover: pd.DataFrame, every: callable, where: str) -> str:
    """'point' or 'comma' for a whole file (docs/input.md, "Decimal comma or point").

    `leftover` holds the cells (row, column, text, num) that did not read as plain numbers;
    only they can show a decimal comma. `every()` gives all number-like cells, checked for
    decimal-point evidence only when a comma was seen. Both kinds is an error.
    """
    comma = leftover[evidence(leftover["num"].fillna(""), "comma")]
    if comma.empty:
        return "point"
    cells = every()
    point = cells[evidence(cells["num"].fillna(""), "point")]
    if not point.empty:
        c, p = comma.iloc[0], point.iloc[0]
        raise InputError(f"{where}: numbers are written with a decimal comma and with a "
                         f"decimal point: row {c['row']}, column {c['column']!r} has "
                         f"{c['text']!r} but row {p['row']}, column {p['column']!r} has "
                         f"{p['text']!r}; make them alike, or pass --decimal point|comma")
    return "comma"


# ---------------------------------------------------------------- dates

def _ints(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").fillna(0).to_numpy(dtype=np.int64)


def make_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """datetime64[D] from parts; NaT where the day does not exist or the year is not 1..9999."""
    ok = (year >= 1) & (year <= 9999) & (month >= 1) & (month <= 12) & (day >= 1)
    months = np.where(ok, (year - 1970) * 12 + month - 1, 0).astype("datetime64[M]")
    first = months.astype("datetime64[D]")
    length = ((months + 1).astype("datetime64[D]") - first).astype(np.int64)
    ok &= day <= length
    out = first + np.where(ok, day - 1, 0).astype("timedelta64[D]")
    return np.where(ok, out, np.datetime64("NaT", "D"))


def serial_dates(serials: np.ndarray, date1904: bool = False) -> np.ndarray:
    """datetime64[D] of Excel serials (time of day dropped); NaT outside 1900-03-01..9999."""
    whole = np.floor(np.nan_to_num(serials, nan=-1)).astype(np.int64)
    if date1904:
        ok = (whole >= 0) & (whole <= MAX_SERIAL - 1462)
        out = EXCEL_EPOCH_1904 + whole.astype("timedelta64[D]")
    else:
        ok = (whole >= 61) & (whole <= MAX_SERIAL)
        out = EXCEL_EPOCH + whole.astype("timedelta64[D]")
    return np.where(ok, out, np.datetime64("NaT", "D"))


def parse_date_text(text: pd.Series, column: str, date_format: str, where: str,
                    date1904: bool = False) -> np.ndarray:
    """datetime64[D] of date cells written as text (NaT where a cell is not a date).

    Day/month order of d/m/y cells is decided per column from cells with a part above 12;
    a column with no such cell, or with both kinds, is an error (docs/input.md).
    """
    text = text.str.strip()
    out = np.full(len(text), np.datetime64("NaT", "D"))
    iso = text.str.extract(ISO_DATE)
    is_iso = iso["y"].notna().to_numpy()
    if is_iso.any():
        out[is_iso] = make_dates(_ints(iso["y"][is_iso]), _ints(iso["m"][is_iso]),
                                 _ints(iso["d"][is_iso]))
    if date_format == "iso":
        return out
    rest = ~is_iso
    serial = rest & text.str.fullmatch(SERIAL).fillna(False).to_numpy(dtype=bool)
    if serial.any():
        out[serial] = serial_dates(pd.to_numeric(text[serial]).to_numpy(dtype=float), date1904)
    rest &= ~serial
    if not rest.any():
        return out
    parts = text[rest].str.extract(DMY_DATE)
    found = parts["a"].notna().to_numpy()
    if not found.any():
        return out
    parts = parts[found]
    a, b, y = _ints(parts["a"]), _ints(parts["b"]), _ints(parts["y"])
    y = np.where(parts["y"].str.len().to_numpy() == 2,
                 np.where(y < TWO_DIGIT_PIVOT, 2000 + y, 1900 + y), y)
    dotted = (parts["sep"] == ".").to_numpy()
    order = date_format if date_format != "auto" else _day_month_order(
        parts.index[~dotted], a[~dotted], b[~dotted], column, where)
    day_first = dotted | (order == "dmy")
    day, month = np.where(day_first, a, b), np.where(day_first, b, a)
    out[np.flatnonzero(rest)[found]] = make_dates(y, month, day)
    return out


def _day_month_order(rows: pd.Index, a: np.ndarray, b: np.ndarray, column: str,
                     where: str) -> str:
    """'dmy' or 'mdy' for one column's slashed dates, from the cells that can only be one."""
    dmy, mdy = (a > 12) & (b <= 12), (b > 12) & (a <= 12)
    if dmy.any() and mdy.any():
        raise InputError(f"{where}: column {column!r} has dates day-first (row "
                         f"{rows[dmy][0]}) and month-first (row {rows[mdy][0]}); "
                         "write them one way, or pass --date-format dmy|mdy")
    if dmy.any():
        return "dmy"
    if mdy.any() or not (a != b).any():
        return "mdy"
    raise InputError(f"{where}: column {column!r}: every date could be day/month or "
                     f"month/day (e.g. row {rows[a != b][0]}); pass --date-format dmy or "
                     "--date-format mdy (or write dates as YYYY-MM-DD)")
