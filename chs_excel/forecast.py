"""Renewal forecast: ARR up for renewal by period, weighted by the renewal probability.

Probabilities come from the model's band table (`renewal.probability`) or from a calibrated
curve (health -> probability) that `chs calibrate --write-curve` saves as a small YAML file.
Reading scores (a scored workbook or a scores csv) also lives here, since the history and
calibration modules read the same files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import python_calamine as calamine
import yaml

from chs_excel.engine import metric_score_column, parse_dates, parse_numbers, score
from chs_excel.errors import ChsError, InputError, ModelError
from chs_excel.files import write_atomically
from chs_excel.io import XLSX_SUFFIXES, read_accounts
from chs_excel.model import BANDS, NO_DATA, TABLE_COLUMNS, Model, header_key
from chs_excel.package import Package
from chs_excel.workbook import fixed_as_of

BAND_ORDER = (*BANDS, NO_DATA)
PERIODS = {"month": "M", "quarter": "Q"}
# Engine output columns a scores file may carry (matched by header_key).
SCORE_COLUMNS = ("account_id", "account_name", "owner", "segment", "plan", "region", "arr",
                 "renewal_date", "health", "raw_health", "band", "quartile", "quartile_label",
                 "coverage", "low_data", "capped_by", "overridden", "weakest_component",
                 "points_at_stake", "renewal_probability", "expected_arr")
CURVE_KIND = "chs renewal curve"
SUMMED = ("accounts", "arr", "expected_arr", "arr_at_risk", "best_case", "worst_case")
FORECAST_COLUMNS = ("account_id", "owner", "arr", "renewal_date", "band", "health",
                    "renewal_probability")


# ---------------------------------------------------------------- reading scores

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


def read_book_model(path: str | Path) -> Model | None:
    """The model of a generated workbook's Model sheet tables; None when it has none."""
    path = Path(path)
    try:
        book = calamine.CalamineWorkbook.from_path(str(path), load_tables=True)
        names = set(book.table_names)
    except Exception:  # calamine: no table support or not a workbook; read_scores reports
        return None
    if not set(TABLE_COLUMNS) <= names:
        return None
    tables = {}
    for name in (*TABLE_COLUMNS, "Segments"):
        if name in names:
            table = book.get_table_by_name(name)
            tables[name] = pd.DataFrame(table.to_python(), columns=list(table.columns),
                                        dtype=object)
    return Model.from_frame(tables, where=f"{path}, sheet Model")


def read_scores(path: str | Path, model: Model | None = None,
                columns: tuple[str, ...] | None = None) -> ScoresFile:
    """Scores from a scored workbook (its `Scores` table) or a csv written by `chs score`.

    `model` (from --model) wins; otherwise a workbook's Model sheet is used. A workbook
    whose Scores formulas were never calculated (saved by a tool that does not compute)
    is re-scored from its Model and Accounts sheets, and a note says so. `columns` limits
    a csv to the columns a command needs (as text: the callers type them), for speed.
    """
    path = Path(path)
    notes: list[str] = []
    if path.suffix.lower() in XLSX_SUFFIXES:
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
        sep = max(",;\t", key=first.count)
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False,
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
        return np.select([np.isnan(health), health < model.red_below,
                          health >= model.green_from], [NO_DATA, "Red", "Green"],
                         "Yellow").astype(object)
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
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ModelError(f"{path}: curve file not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
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
    """The columns the forecast needs, checked: owner, arr, renewal_date, band, probability."""
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

    `accounts` has arr, renewal_date, band, owner and probability (see forecast_accounts).
    Periods run from `start` (default: the earliest renewal) for `horizon` periods
    (default: to the last renewal); renewals outside are left out and counted in notes.
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

