"""Excel date serials, both calendars: 1900 (day 1 = 1900-01-01) and 1904 (day 0 = 1904-01-01).

Serials from 61 on in the 1900 system count Excel's phantom 1900-02-29, so the epoch is
1899-12-30; a workbook saved with `<workbookPr date1904="1"/>` counts from 1904-01-01.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

EPOCH_1900 = np.datetime64("1899-12-30", "us")
EPOCH_1904 = np.datetime64("1904-01-01", "us")
DAY = np.timedelta64(1, "D")


def epoch(date1904: bool = False) -> np.datetime64:
    """Day zero of the workbook's date system."""
    return EPOCH_1904 if date1904 else EPOCH_1900


def to_serials(stamps: np.ndarray, date1904: bool = False) -> np.ndarray:
    """datetime64 values as Excel serials (float days; NaN for NaT)."""
    return (np.asarray(stamps, dtype="datetime64[us]") - epoch(date1904)) / DAY


def to_serial(value: dt.date | dt.datetime, date1904: bool = False) -> float:
    """One date or datetime as an Excel serial."""
    return float(to_serials(np.array([np.datetime64(value, "us")]), date1904)[0])


def excel_date(serial: float, date1904: bool = False) -> dt.date:
    """The calendar day of an Excel serial (the time of day dropped)."""
    stamp = epoch(date1904) + np.timedelta64(round(float(serial) * 86_400_000_000), "us")
    return stamp.astype("datetime64[D]").item()
