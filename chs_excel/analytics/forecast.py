"""Renewal forecast: the one definition of its rows, periods, scenarios and rounding.

The live Forecast sheet (`sheets/forecast.py`), the values sheet of `chs_refresh`, the
`chs forecast` report and its printed table all follow what is defined here: rows from the
as-of date ("Already past, not renewed yet", one row per fiscal period up to the last
renewal, "After ...", "No renewal date") so the total is every account's ARR; expected,
best and worst case as `SCENARIOS` says; quarters of the Model's fiscal year; money
rounded once, by `whole`. Probabilities come from the model's band table
(`renewal.probability`) or from a calibrated curve (health -> probability) that
`chs calibrate --write-curve` saves as a small YAML file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from chs_excel.core.bounded_yaml import load_yaml
from chs_excel.core.engine import curve_probability
from chs_excel.core.errors import ChsError, InputError, ModelError
from chs_excel.core.files import write_atomically
from chs_excel.core.limits import FIRST_DATE, LAST_DATE
from chs_excel.core.model import Model
from chs_excel.core.vocabulary import BAND_ORDER, BANDS
from chs_excel.io.scores import account_ids, bands, dates, numbers

PERIODS = ("quarter", "month")
DEFAULT_PERIOD = "quarter"   # the live sheet, the values sheet, the report and the CLI
MAX_PERIODS = 40             # period rows at most; later renewals go to the "After" row
EMPTY_PERIODS = 4            # period rows when no renewal lies ahead (a template: a year)
PAST_ROW = "Already past, not renewed yet"
DUE_ROW = "Due before the as-of date"   # the same row when the as-of date is still ahead
NO_DATE_ROW = "No renewal date"
AFTER_ROW = "After {last}"
BEFORE_ROW = "Between the as-of date and the periods shown"   # --from after the as-of date
CURVE_KIND = "chs renewal curve"
SUMMED = ("accounts", "arr", "expected_arr", "best_case", "worst_case", "arr_at_risk")
# The likely range: P10 and P90 of renewed ARR when accounts renew independently, each with
# its probability (normal approximation: expected -/+ Z standard deviations, the variance
# the sum of ARR^2 x p x (1 - p)), kept within 0 .. the ARR up for renewal.
LIKELY = ("likely_low", "likely_high")
LIKELY_Z = 1.2815515655446004   # the standard normal's 90th percentile
VARIANCE = "renewal_variance"   # summed with SUMMED, then turned into LIKELY
BAND_ARR = tuple(f"{b.lower().replace(' ', '_')}_arr" for b in BAND_ORDER)
# The forecast table's columns (keys) and the words the sheets show for them.
HEADINGS = {"period": "Period", "fiscal_year": "Fiscal year", "starts": "Starts",
            "ends": "Ends",
            "accounts": "Accounts renewing", "arr": "ARR up for renewal",
            "expected_arr": "Expected renewed ARR", "likely_low": "Likely low (P10)",
            "likely_high": "Likely high (P90)", "best_case": "Best case (scenario)",
            "worst_case": "Worst case (scenario)", "arr_at_risk": "ARR at risk (Red)",
            **{k: f"ARR {b}" for k, b in zip(BAND_ARR, BAND_ORDER, strict=True)}}
# Plain words for each figure, shown on the sheet, the report and the command line.
SCENARIOS = (
    "Expected renewed ARR: each account's ARR x its renewal probability (the Model's "
    "RenewalProbability for its band, or a calibrated curve).",
    "Likely range (P10 to P90): renewed ARR lands between Likely low and Likely high 8 "
    "times in 10 if accounts renew independently, each with its probability.",
    "It is expected ARR -/+ 1.28 standard deviations (variance: ARR x ARR x p x (1 - p) "
    "added over the accounts), within 0 and the ARR up for renewal; totals and fiscal "
    "years take their own.",
    "The two scenarios below are bounds to test a plan against, not forecasts.",
    "Best case: every Green and Yellow account renews; Red and No data accounts renew at "
    "their probability.",
    "Worst case: every Red, Yellow and No data account churns; Green accounts renew at "
    "their probability.",
    "ARR at risk: the ARR of Red accounts.",
    "Rows start at the as-of date: renewals dated before it are 'Already past, not renewed "
    "yet' (still expected at their probability); accounts without a renewal date have their "
    "own row, so the total is every account's ARR, as on the Dashboard.",
    "Money is rounded once, to whole units, half away from zero (as Excel shows #,##0).",
)
FORECAST_COLUMNS = ("account_id", "owner", "parent_id", "arr", "renewal_date", "band", "health",
                    "renewal_probability")


# ---------------------------------------------------------------- calibrated curve

@dataclass(frozen=True)
class RenewalCurve:
    """A calibrated health -> renewal probability curve (piecewise linear, flat outside)."""

    health: tuple[float, ...]
    probability: tuple[float, ...]
    model: str = ""
    version: str = ""
    fitted: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        h, p = np.asarray(self.health, float), np.asarray(self.probability, float)
        if len(h) == 0 or len(h) != len(p):
            raise ModelError("renewal curve: needs points with health and probability")
        if not (np.isfinite(h).all() and np.isfinite(p).all()):
            raise ModelError("renewal curve: every point needs a number for health and "
                             "probability")
        if (np.diff(h) <= 0).any():
            raise ModelError("renewal curve: health values must be strictly increasing")
        if ((p < 0) | (p > 1)).any():
            raise ModelError("renewal curve: probabilities must be between 0 and 1")

    def __call__(self, health: np.ndarray) -> np.ndarray:
        """The renewal probability at each health (NaN stays NaN)."""
        health = np.asarray(health, dtype=float)
        p = np.interp(health, self.health, self.probability)
        return np.where(np.isnan(health), np.nan, p)

    def to_dict(self) -> dict[str, Any]:
        """The curve as saved: kind, the model it was fitted for, and its points."""
        return {"kind": CURVE_KIND, "model": self.model, "version": self.version,
                "fitted": self.fitted,
                "points": [{"health": round(float(h), 6), "probability": round(float(p), 6)}
                           for h, p in zip(self.health, self.probability, strict=True)]}

    def save(self, path: str | Path) -> None:
        """Write the curve as YAML (atomically)."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)
        write_atomically(Path(path), lambda tmp: tmp.write_text(text, "utf-8"))


def load_curve(path: str | Path) -> RenewalCurve:
    """Read a curve written by `chs calibrate --write-curve`; errors name the file."""
    path = Path(path)
    try:
        data = load_yaml(path.read_text(encoding="utf-8-sig"), str(path))
    except ModelError as exc:  # YAML syntax or bounds
        told = str(exc).removeprefix(f"{path}:").strip()
        raise ModelError(f"{path}: not a readable curve file ({told})") from None
    except FileNotFoundError:
        raise ModelError(f"{path}: curve file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not a readable curve file ({exc.__class__.__name__})") \
            from None
    if not isinstance(data, dict) or data.get("kind") != CURVE_KIND \
            or not isinstance(data.get("points"), list):
        raise ModelError(f"{path}: not a renewal curve (write one with 'chs calibrate "
                         "--write-curve')")
    try:
        points = [(float(p["health"]), float(p["probability"])) for p in data["points"]]
        return RenewalCurve(tuple(h for h, _ in points), tuple(p for _, p in points),
                            str(data.get("model") or ""), str(data.get("version") or ""),
                            dict(data.get("fitted") or {}))
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"{path}: every point needs health and probability numbers") \
            from None


# ---------------------------------------------------------------- probabilities

def renewal_probabilities(band: np.ndarray, health: np.ndarray | None = None, *,
                          model: Model | None = None, curve: RenewalCurve | None = None,
                          given: np.ndarray | None = None) -> np.ndarray:
    """Per-account renewal probability: the curve given, else the model's own renewal
    curve, else the model's band table, else `given`.

    Accounts without health take the model's "No data" probability when it has one;
    NaN means no probability (such accounts count as not renewing in the forecast).
    """
    table = model.renewal_probability if model is not None else {}
    by_band = pd.Series(band).map(table).to_numpy(dtype=float, na_value=np.nan)
    if curve is not None and health is not None:
        return np.where(np.isnan(health), by_band, curve(health))
    if model is not None and model.renewal_curve and health is not None:
        return np.where(np.isnan(health), by_band,
                        curve_probability(model.renewal_curve, health))
    if model is not None or given is None:
        return by_band
    return np.asarray(given, dtype=float)


# ---------------------------------------------------------------- periods

def fiscal_freq(by: str, fiscal_year_start: int = 1) -> str:
    """The pandas period frequency: months, or quarters of a year starting in that month."""
    if by not in PERIODS:
        raise ChsError(f"--by must be one of {', '.join(PERIODS)}, got {by!r}")
    if by == "month":
        return "M"
    last = pd.Timestamp(2000, (fiscal_year_start - 2) % 12 + 1, 1).strftime("%b").upper()
    return f"Q-{last}"


def period_labels(periods: pd.PeriodIndex, by: str) -> np.ndarray:
    """Labels finance reads: 2026-03 (month), FY2027 Q1 (quarter; the fiscal year is named
    by the calendar year it ends in)."""
    if by == "month":
        return np.asarray(periods.strftime("%Y-%m"), dtype=object)
    return np.asarray([f"FY{y} Q{q}" for y, q in zip(periods.qyear, periods.quarter,
                                                     strict=True)], dtype=object)


def period_count(renewal_dates: pd.Series | pd.DatetimeIndex, as_of: dt.date, *,
                 by: str = DEFAULT_PERIOD, fiscal_year_start: int = 1,
                 horizon: int | None = None) -> int:
    """Period rows: from the period holding `as_of` to the last renewal's (at least one,
    EMPTY_PERIODS when no renewal lies ahead, at most MAX_PERIODS), or `horizon`."""
    if horizon is not None:
        if horizon < 1:
            raise ChsError(f"--horizon must be at least 1, got {horizon}")
        return horizon
    when = pd.DatetimeIndex(pd.to_datetime(pd.Series(renewal_dates), errors="coerce"))
    ahead = when[when.notna() & (when >= pd.Timestamp(as_of))]
    if ahead.empty:
        return EMPTY_PERIODS
    freq = fiscal_freq(by, fiscal_year_start)
    span = (ahead.max().to_period(freq) - pd.Period(as_of, freq)).n + 1
    return int(min(span, MAX_PERIODS))


def whole(value: float) -> int:
    """Money in whole units: to cents (absorbing float noise), then half away from zero,
    as Excel and LibreOffice display #,##0. The one rounding every output uses."""
    if value is None or not np.isfinite(value):
        return 0
    return int(Decimal(f"{value:.2f}").quantize(Decimal(1), rounding=ROUND_HALF_UP))


# ---------------------------------------------------------------- forecast

@dataclass(frozen=True)
class Forecast:
    """The forecast: one row per `table` line (past, periods, after, no date) and totals.

    `table` holds `period, kind, starts, ends`, the SUMMED columns with the LIKELY range
    after `expected_arr`, and the band ARR columns; `kind` is past, before (with a later
    `--from`), period, after or no_date. `by_band` and `by_owner` split the same rows;
    `by_fiscal_year` sums the period rows per fiscal year (the first from the as-of date,
    the last to the last period's end).
    """

    table: pd.DataFrame
    by_band: pd.DataFrame
    by_owner: pd.DataFrame
    totals: dict[str, float]
    as_of: dt.date
    by: str = DEFAULT_PERIOD
    fiscal_year_start: int = 1
    notes: tuple[str, ...] = ()
    by_fiscal_year: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_parent: pd.DataFrame = field(default_factory=pd.DataFrame)   # with parent_id only

    @property
    def periods(self) -> pd.DataFrame:
        """The period rows only (what a chart over time shows)."""
        return self.table[self.table["kind"] == "period"].reset_index(drop=True)


def forecast_accounts(scores: pd.DataFrame, where: str, *, model: Model | None = None,
                      curve: RenewalCurve | None = None) -> pd.DataFrame:
    """The columns the forecast needs, checked: owner, arr, renewal_date, band, probability.

    Parameters
    ----------
    scores : DataFrame
        Engine output or a scores file read by `chs_excel.io.scores.read_scores`.
    where : str
        The file (and sheet) the scores came from, for error messages.
    model : Model, optional
        Bands health without a band column and gives the band -> probability table.
    curve : RenewalCurve, optional
        A calibrated health -> probability curve; wins over the model's table.

    Returns
    -------
    DataFrame
        account_id, owner, arr, renewal_date, band, health and probability per account.
    """
    if "arr" not in scores.columns:
        raise InputError(f"{where}: column arr is missing; the forecast needs each "
                         "account's ARR")
    band = bands(scores, model, where)
    health = numbers(scores, "health", where)
    given = numbers(scores, "renewal_probability", where) \
        if "renewal_probability" in scores.columns else None
    if model is None and curve is None and given is None:
        raise InputError(f"{where}: no renewal probabilities: pass --model or --curve")
    owner = scores["owner"].astype("string").str.strip().fillna("") \
        if "owner" in scores.columns else pd.Series("", index=scores.index, dtype="string")
    parent = {"parent_id": scores["parent_id"].astype("string").str.strip().fillna("")
              .to_numpy(dtype=object)} if "parent_id" in scores.columns else {}
    return pd.DataFrame({
        "account_id": account_ids(scores, where).to_numpy(),
        "owner": owner.where(owner != "", "(no owner)").to_numpy(dtype=object), **parent,
        "arr": numbers(scores, "arr", where),
        "renewal_date": dates(scores, "renewal_date", where),
        "band": band, "health": health,
        "probability": renewal_probabilities(band, health, model=model, curve=curve,
                                             given=given)}, index=scores.index)


def scenario_values(arr: np.ndarray, band: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
    """Per account: expected, best case, worst case and at-risk ARR, as SCENARIOS says.

    A missing probability counts as not renewing (0)."""
    p = np.nan_to_num(np.asarray(p, dtype=float))
    expected = arr * p
    green, yellow, red = (band == b for b in BANDS)
    return {"expected_arr": expected, VARIANCE: arr * arr * p * (1.0 - p),
            "best_case": np.where(green | yellow, arr, expected),
            "worst_case": np.where(green, expected, 0.0),
            "arr_at_risk": np.where(red, arr, 0.0)}


def fiscal_year_window(name: str, fiscal_year_start: int) -> tuple[dt.date, dt.date]:
    """The first and last day of a fiscal year named like `FY2028` (the calendar year it
    ends in), for `chs forecast --fiscal-year`."""
    text = str(name).strip().upper()
    if not (text.startswith("FY") and text[2:].isdigit() and len(text) == 6):
        raise ChsError(f"--fiscal-year: expected a name like FY2028, got {name!r}")
    year = int(text[2:])
    if not FIRST_DATE.year < year < LAST_DATE.year:
        raise ChsError(f"--fiscal-year {text}: outside the dates chs handles ({FIRST_DATE} "
                       f"to {LAST_DATE}; docs/limits.md)")
    first = dt.date(year - (1 if fiscal_year_start > 1 else 0), fiscal_year_start, 1)
    after = dt.date(year + (0 if fiscal_year_start > 1 else 1), fiscal_year_start, 1)
    return first, after - dt.timedelta(days=1)


def _window(as_of: dt.date, start: dt.date | None, end: dt.date | None,
            horizon: int | None, freq: str, when: pd.DatetimeIndex, by: str,
            fiscal_year_start: int) -> tuple[pd.Period, int]:
    """The first period and the number of periods: from the period holding `start` (never
    before the as-of date's) to the one holding `end`, else `horizon` periods, else to the
    last renewal."""
    if start is not None and end is not None and end < start:
        raise ChsError(f"--to {end.isoformat()} is before --from {start.isoformat()}")
    if horizon is not None and end is not None:
        raise ChsError("give --horizon or --to (or --fiscal-year), not both")
    first = pd.Period(max(start or as_of, as_of), freq)
    if end is not None:
        if end < as_of:
            raise ChsError(f"--to {end.isoformat()} is before the as-of date "
                           f"{as_of.isoformat()}: renewals before it are already past")
        return first, int(min((pd.Period(end, freq) - first).n + 1, MAX_PERIODS))
    if horizon is not None:
        return first, period_count(when, as_of, horizon=horizon)
    start_day = first.start_time.date() if start is not None and start > as_of else as_of
    return first, period_count(when, start_day, by=by, fiscal_year_start=fiscal_year_start)


def renewal_forecast(accounts: pd.DataFrame, *, as_of: dt.date, by: str = DEFAULT_PERIOD,
                     fiscal_year_start: int = 1, horizon: int | None = None,
                     start: dt.date | None = None, end: dt.date | None = None,
                     today: dt.date | None = None) -> Forecast:
    """ARR up for renewal per period from `as_of`, expected, best and worst case, at risk.

    Parameters
    ----------
    accounts : DataFrame
        arr, renewal_date, band, owner and probability, as `forecast_accounts` gives.
    as_of : date
        The day the forecast is made (a workbook's fixed `AsOf`): renewals dated before it
        are "already past, not renewed yet"; the first period starts on it.
    by : {"quarter", "month"}, default="quarter"
        The renewal period; quarters follow the fiscal year.
    fiscal_year_start : int, default=1
        Month the fiscal year starts in (the Model's `fiscal_year_start`).
    horizon : int, optional
        Number of periods (default: to the last renewal, see `period_count`); renewals
        after the last period are on the "After ..." row.
    start, end : date, optional
        The periods shown (`chs forecast --from/--to/--fiscal-year`): from the period
        holding `start` to the one holding `end`, without moving the as-of date. Renewals
        from the as-of date to the first period are one "From the as-of date to ..." row,
        so every account is still on exactly one row.
    today : date, optional
        The day the forecast is run (default: today): with an as-of date after it, the
        first row is "Due before the as-of date" rather than "already past".

    Returns
    -------
    Forecast
        Rows past / periods / after / no date (their total is every account's ARR), the
        same rows by band and by owner, and notes.
    """
    freq = fiscal_freq(by, fiscal_year_start)
    when = pd.DatetimeIndex(accounts["renewal_date"])
    first, count = _window(as_of, start, end, horizon, freq, when, by, fiscal_year_start)
    labels = pd.period_range(first, periods=count, freq=freq)
    names = list(period_labels(labels, by))
    after = AFTER_ROW.format(last=names[-1])
    opens = max(first.start_time.date(), as_of)       # the first period's first day
    before = BEFORE_ROW if opens > as_of else None
    # an as-of date still ahead (planning): renewals before it are due by then, not past
    past_row = DUE_ROW if as_of > (today or dt.date.today()) else PAST_ROW
    order = [past_row, *([before] if before else []), *names, after, NO_DATE_ROW]

    arr = np.nan_to_num(accounts["arr"].to_numpy(dtype=float))
    band = accounts["band"].to_numpy(dtype=object)
    p = accounts["probability"].to_numpy(dtype=float)
    dated = np.asarray(when.notna())
    past = dated & np.asarray(when < pd.Timestamp(as_of))
    last_day = labels[-1].end_time.normalize()
    later = dated & np.asarray(when > last_day)
    early = dated & ~past & np.asarray(when < pd.Timestamp(opens))
    inside = dated & ~past & ~later & ~early
    row = np.full(len(accounts), NO_DATE_ROW, dtype=object)
    row[past], row[later] = past_row, after
    if before:
        row[early] = before
    offset = when[inside].to_period(freq).asi8 - first.ordinal
    row[inside] = np.asarray(names, dtype=object)[offset]

    notes: list[str] = []
    _note(notes, accounts["arr"].isna().to_numpy(), arr, "have no ARR (counted with ARR 0)")
    _note(notes, np.isnan(p), arr, "have no renewal probability (No data band) and count "
          "as not renewing")
    _note(notes, past, arr, f"have a renewal date before the as-of date "
          f"{as_of.isoformat()}: row '{past_row}'")
    _note(notes, later, arr, f"renew after {names[-1]}: row '{after}'")
    if before:
        _note(notes, early, arr, f"renew between the as-of date and the first period "
              f"shown: row '{before}'")
    _note(notes, ~dated, arr, f"have no renewal date: row '{NO_DATE_ROW}'")

    frame = pd.DataFrame({"period": row, "owner": accounts["owner"].to_numpy(),
                          "band": band, "accounts": 1, "arr": arr,
                          **scenario_values(arr, band, p)})
    table = _sum_by(frame, ["period"], {"period": order})
    for b, key in zip(BAND_ORDER, BAND_ARR, strict=True):
        table[key] = _sum_by(frame[frame["band"] == b], ["period"],
                             {"period": order})["arr"].to_numpy()
    starts = [None, *([as_of] if before else []), opens, *labels[1:].start_time.date,
              None, None]
    ends = [as_of - dt.timedelta(days=1), *([opens - dt.timedelta(days=1)] if before else []),
            *labels.end_time.date, None, None]
    table.insert(1, "kind", ["past", *(["before"] if before else []), *["period"] * count,
                             "after", "no_date"])
    table.insert(2, "starts", starts)
    table.insert(3, "ends", ends)
    by_band = _sum_by(frame, ["period", "band"], {"period": order, "band": list(BAND_ORDER)})
    owners = sorted(frame["owner"].unique())
    by_owner = _sum_by(frame, ["period", "owner"], {"period": order, "owner": owners})
    by_owner = by_owner[by_owner["accounts"] > 0].reset_index(drop=True)
    by_parent = pd.DataFrame()
    if "parent_id" in accounts.columns:
        parent = accounts["parent_id"].to_numpy(dtype=object)
        frame["parent_id"] = np.where(parent == "", "(no parent)", parent)
        parents = list(dict.fromkeys(frame["parent_id"]))
        by_parent = _sum_by(frame, ["period", "parent_id"],
                            {"period": order, "parent_id": parents})
        by_parent = likely(by_parent[by_parent["accounts"] > 0].reset_index(drop=True))
    sums = {k: float(table[k].sum()) for k in (*SUMMED, VARIANCE, *BAND_ARR)}
    totals = {k: v for k, v in likely(pd.DataFrame([sums])).iloc[0].items()}
    fiscal = _fiscal_years(table, fiscal_year_start)
    return Forecast(likely(table), likely(by_band), likely(by_owner), totals, as_of, by,
                    fiscal_year_start, tuple(notes), likely(fiscal), by_parent)


def fiscal_year(day: pd.DatetimeIndex | pd.Series, fiscal_year_start: int) -> np.ndarray:
    """The fiscal year a day falls in, named by the calendar year it ends in (as the
    quarter labels: a year starting in April 2026 is FY2027)."""
    day = pd.DatetimeIndex(day)
    later = (day.month >= fiscal_year_start) & (fiscal_year_start > 1)
    return np.asarray(day.year + later.astype(int))


def _fiscal_years(table: pd.DataFrame, fiscal_year_start: int) -> pd.DataFrame:
    """The period rows summed per fiscal year (starts: the first period's, ends: the
    last's), the likely range from their own variance."""
    rows = table[table["kind"] == "period"]
    year = fiscal_year(pd.to_datetime(rows["starts"]), fiscal_year_start)
    keep = ["accounts", "arr", "expected_arr", VARIANCE, "best_case", "worst_case",
            "arr_at_risk", *BAND_ARR]
    out = rows.groupby(year, sort=True).agg(
        starts=("starts", "min"), ends=("ends", "max"),
        **{k: (k, "sum") for k in keep})
    out.insert(0, "fiscal_year", [f"FY{y}" for y in out.index])
    out["accounts"] = out["accounts"].astype("int64")
    return out.reset_index(drop=True)


def likely(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with LIKELY after `expected_arr`, from its summed `renewal_variance`
    (which it drops): expected -/+ LIKELY_Z standard deviations, within 0 .. arr."""
    if VARIANCE not in frame.columns:
        return frame
    sd = np.sqrt(np.maximum(frame[VARIANCE].to_numpy(dtype=float), 0.0))
    expected = frame["expected_arr"].to_numpy(dtype=float)
    arr = frame["arr"].to_numpy(dtype=float)
    out = frame.drop(columns=VARIANCE)
    at = list(out.columns).index("expected_arr") + 1
    out.insert(at, "likely_low", np.maximum(expected - LIKELY_Z * sd, 0.0))
    out.insert(at + 1, "likely_high", np.minimum(expected + LIKELY_Z * sd, arr))
    return out


def total_row(result: Forecast) -> dict[str, Any]:
    """The Total line under the forecast table (outside it, so the table stays data)."""
    return {"period": "Total", **result.totals}


def _sum_by(frame: pd.DataFrame, keys: list[str], levels: dict[str, list[str]]) -> pd.DataFrame:
    """Sums of the forecast measures per key combination, every combination listed."""
    full = pd.MultiIndex.from_product([levels[k] for k in keys], names=keys)
    sums = frame.groupby(keys, sort=False)[[*SUMMED, VARIANCE]].sum()
    if len(keys) == 1:
        sums.index = pd.MultiIndex.from_arrays([sums.index], names=keys)
    out = sums.reindex(full, fill_value=0).reset_index()
    out["accounts"] = out["accounts"].astype("int64")
    return out


def _note(notes: list[str], mask: np.ndarray, arr: np.ndarray, text: str) -> None:
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        notes.append(f"{int(mask.sum()):,} accounts (ARR {whole(arr[mask].sum()):,}) {text}")
