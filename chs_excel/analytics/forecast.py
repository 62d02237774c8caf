"""Renewal forecast: ARR up for renewal by period, weighted by the renewal probability.

Probabilities come from the model's band table (`renewal.probability`) or from a calibrated
curve (health -> probability) that `chs calibrate --write-curve` saves as a small YAML file.
Scores are read by `chs_excel.io.scores`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from chs_excel.core.bounded_yaml import load_yaml
from chs_excel.core.errors import ChsError, InputError, ModelError
from chs_excel.core.files import write_atomically
from chs_excel.core.model import Model
from chs_excel.core.vocabulary import BAND_ORDER
from chs_excel.io.scores import account_ids, bands, dates, numbers

PERIODS = {"month": "M", "quarter": "Q"}
CURVE_KIND = "chs renewal curve"
SUMMED = ("accounts", "arr", "expected_arr", "arr_at_risk", "best_case", "worst_case")
FORECAST_COLUMNS = ("account_id", "owner", "arr", "renewal_date", "band", "health",
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
    """Per-account renewal probability: the curve, else the model's band table, else `given`.

    Accounts without health take the model's "No data" probability when it has one;
    NaN means no probability (such accounts count as not renewing in the forecast).
    """
    table = model.renewal_probability if model is not None else {}
    by_band = pd.Series(band).map(table).to_numpy(dtype=float, na_value=np.nan)
    if curve is not None and health is not None:
        return np.where(np.isnan(health), by_band, curve(health))
    if model is not None or given is None:
        return by_band
    return np.asarray(given, dtype=float)


# ---------------------------------------------------------------- forecast

@dataclass(frozen=True)
class Forecast:
    """The forecast tables: per period, per period and band, per period and owner."""

    periods: pd.DataFrame
    by_band: pd.DataFrame
    by_owner: pd.DataFrame
    totals: dict[str, float]
    notes: tuple[str, ...] = ()


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
    return pd.DataFrame({
        "account_id": account_ids(scores, where).to_numpy(),
        "owner": owner.where(owner != "", "(no owner)").to_numpy(dtype=object),
        "arr": numbers(scores, "arr", where),
        "renewal_date": dates(scores, "renewal_date", where),
        "band": band, "health": health,
        "probability": renewal_probabilities(band, health, model=model, curve=curve,
                                             given=given)}, index=scores.index)


def renewal_forecast(accounts: pd.DataFrame, *, by: str = "month",
                     start: dt.date | None = None, horizon: int | None = None) -> Forecast:
    """ARR up for renewal per period, expected renewed ARR, ARR at risk, best/worst case.

    Parameters
    ----------
    accounts : DataFrame
        arr, renewal_date, band, owner and probability, as `forecast_accounts` gives.
    by : {"month", "quarter"}, default="month"
        The renewal period.
    start : date, optional
        First period (default: the earliest renewal).
    horizon : int, optional
        Number of periods (default: to the last renewal); renewals outside are left out
        and counted in the notes.

    Returns
    -------
    Forecast
        Per period, per period and band, per owner, and notes.
    """
    if by not in PERIODS:
        raise ChsError(f"--by must be one of {', '.join(PERIODS)}, got {by!r}")
    if horizon is not None and horizon < 1:
        raise ChsError(f"--horizon must be at least 1, got {horizon}")
    freq = PERIODS[by]
    arr = np.nan_to_num(accounts["arr"].to_numpy(dtype=float))
    p = accounts["probability"].to_numpy(dtype=float)
    band = accounts["band"].to_numpy(dtype=object)
    when = pd.DatetimeIndex(accounts["renewal_date"])
    notes = []
    _note(notes, ~when.notna(), arr, "have no renewal date and are not in the forecast")
    _note(notes, accounts["arr"].isna().to_numpy() & when.notna(), arr,
          "have no ARR (counted with ARR 0)")
    period = when.to_period(freq)
    dated = when.notna()
    first = pd.Period(start, freq) if start else (period[dated].min() if dated.any() else None)
    if first is None:
        raise InputError("no account has a renewal date: nothing to forecast")
    last = first + (horizon - 1) if horizon else max(period[dated].max(), first)
    before = np.asarray(dated & (period < first))
    after = np.asarray(dated & (period > last))
    _note(notes, before, arr, f"renew before {first} and are not in the forecast")
    _note(notes, after, arr, f"renew after {last} and are not in the forecast")
    inside = np.asarray(dated) & ~before & ~after
    _note(notes, inside & np.isnan(p), arr,
          "have no renewal probability (No data band) and count as not renewing")
    p = np.nan_to_num(p)
    labels = pd.period_range(first, last, freq=freq)
    frame = pd.DataFrame({
        "period": _labels(period, by), "owner": accounts["owner"],
        "band": band, "accounts": 1, "arr": arr, "expected_arr": arr * p,
        "arr_at_risk": np.where(band == "Red", arr, 0.0),
        "best_case": arr * np.where(band == "Yellow", 1.0, p),
        "worst_case": arr * np.where(band == "Yellow", 0.0, p)})[inside]
    order = list(_labels(labels, by))
    periods = _sum_by(frame, ["period"], {"period": order})
    for b in BAND_ORDER:
        periods[f"{_slug(b)}_arr"] = _sum_by(frame[frame["band"] == b], ["period"],
                                             {"period": order})["arr"].to_numpy()
    periods.insert(1, "period_start", labels.start_time.date)
    periods["expected_share"] = np.divide(
        periods["expected_arr"], periods["arr"], out=np.full(len(periods), np.nan),
        where=periods["arr"].to_numpy() > 0)
    by_band = _sum_by(frame, ["period", "band"], {"period": order, "band": list(BAND_ORDER)})
    owners = sorted(frame["owner"].unique())
    by_owner = _sum_by(frame, ["period", "owner"], {"period": order, "owner": owners})
    by_owner = by_owner[by_owner["accounts"] > 0].reset_index(drop=True)
    totals = {k: float(frame[k].sum()) for k in SUMMED}
    return Forecast(periods, by_band, by_owner, totals, tuple(notes))


def _sum_by(frame: pd.DataFrame, keys: list[str], levels: dict[str, list[str]]) -> pd.DataFrame:
    """Sums of the forecast measures per key combination, every combination listed."""
    full = pd.MultiIndex.from_product([levels[k] for k in keys], names=keys)
    sums = frame.groupby(keys, sort=False)[list(SUMMED)].sum()
    if len(keys) == 1:
        sums.index = pd.MultiIndex.from_arrays([sums.index], names=keys)
    out = sums.reindex(full, fill_value=0).reset_index()
    out["accounts"] = out["accounts"].astype("int64")
    return out


def _labels(periods: pd.PeriodIndex, by: str) -> np.ndarray:
    """Period labels as finance writes them: 2026-03 (month) or 2026-Q1 (quarter)."""
    return np.asarray(periods.strftime("%Y-%m" if by == "month" else "%Y-Q%q"), dtype=object)


def _slug(band: str) -> str:
    return band.lower().replace(" ", "_")


def _note(notes: list[str], mask: np.ndarray, arr: np.ndarray, text: str) -> None:
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        notes.append(f"{int(mask.sum()):,} accounts (ARR {arr[mask].sum():,.0f}) {text}")

