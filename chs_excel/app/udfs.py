"""Excel worksheet functions (xlwings UDFs): thin wrappers around the engine.

Set `UDF Modules` to `chs_excel.app.udfs` in the `xlwings.conf` sheet and click Import
Functions. Every range argument arrives as xlwings' raw 2-D list (`ndim=2`, errors as
text); `chs_excel.io.ranges` converts it, the engine scores it, and a problem comes back as
cell text starting with `#CHS!`, never as a traceback. Single-value functions take a
cell or a range and answer in the same shape.

This module is what Excel's UDF server imports: it loads the engine and the range
converters only (an import-linter contract keeps it so). The macros live in
`chs_excel.app.scripts`.
"""

from __future__ import annotations

import datetime as dt
import functools
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xlwings as xw

from chs_excel.core import engine
from chs_excel.core.errors import ChsError
from chs_excel.core.model import BANDS, NO_DATA, Metric, Model, default_model, header_key
from chs_excel.io.ranges import (
    accounts_frame,
    as_series,
    cell_number,
    cells,
    frame_grid,
    model_from_ranges,
    number_list,
    shaped,
    table_frame,
)

CATEGORY = "Customer health"
PREFIX = "#CHS! "


def _cell_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """Turn any failure into readable cell text: the UDF server never sees an exception."""
    @functools.wraps(function)
    def wrapper(*args: Any) -> Any:
        try:
            return function(*args)
        except ChsError as exc:
            return PREFIX + str(exc)
        except Exception as exc:  # a bug: say so in the cell, keep Excel and the server alive
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return (f"{PREFIX}unexpected error {type(exc).__name__}: {exc} "
                    f"({where.name}, line {where.lineno}); please report it")
    return wrapper


# ---------------------------------------------------------------- the whole scorecard

def _scorecard_args(function: Callable[..., Any]) -> Callable[..., Any]:
    """The Model's and Accounts' Tables as xlwings hands them over (raw 2-D lists)."""
    for name, doc in reversed(SCORECARD_ARGS):
        function = xw.arg(name, ndim=2, err_to_str=True, doc=doc)(function)
    return function


SCORECARD_ARGS = (
    ("accounts", "Accounts table with header: Accounts[#All]"),
    ("components", "Components[#All]"), ("metrics", "Metrics[#All]"),
    ("rules", "Rules[#All] (optional)"), ("settings", "Settings[#All] (optional)"),
    ("segments", "Segments[#All] (optional)"),
    ("levels", "Levels[#All] (needed for steps and category metrics)"),
    ("renewal_probability", "RenewalProbability[#All] (optional)"),
    ("playbooks", "Playbooks[#All] (optional: next_action, action_owner, actions)"),
    ("history", "History[#All] (optional: for health_change and band_change conditions)"),
    ("renewal_curve", "RenewalCurve[#All] (optional: health -> renewal probability)"))


def _score_grid(accounts: Any, components: Any, metrics: Any, rules: Any, settings: Any,
                segments: Any, levels: Any, renewal_probability: Any, playbooks: Any,
                history: Any, renewal_curve: Any = None) -> list[list[Any]]:
    """The Scores table (header + one row per account) for the Tables given, with each
    account's next action when the Playbooks range is given."""
    model = model_from_ranges({
        "Components": components, "Metrics": metrics, "Rules": rules, "Settings": settings,
        "Segments": segments, "Levels": levels, "RenewalProbability": renewal_probability,
        "Playbooks": playbooks, "RenewalCurve": renewal_curve})
    frame = accounts_frame(accounts)
    previous = None
    if history is not None:
        previous = engine.previous_snapshot(table_frame(history, "History", errors="keep"),
                                            dt.date.today())
    try:
        scoring = engine.score(model, frame, previous=previous)
    except ChsError as exc:
        raise type(exc)(f"Accounts: {exc}") from None
    return frame_grid(scoring.scores)


@xw.func(category=CATEGORY)
@_scorecard_args
@xw.ret(transpose=False)
@_cell_errors
def CHS_SCORE(accounts: Any, components: Any, metrics: Any, rules: Any = None,
              settings: Any = None, segments: Any = None, levels: Any = None,
              renewal_probability: Any = None, playbooks: Any = None,
              history: Any = None, renewal_curve: Any = None) -> Any:
    """Score every account: spills the Scores table (header + one row per account), with
    each account's next action when the Playbooks range is given."""
    return _score_grid(accounts, components, metrics, rules, settings, segments, levels,
                       renewal_probability, playbooks, history, renewal_curve)


@xw.func(category=CATEGORY)
@_scorecard_args
@xw.ret(expand="table", transpose=False)
@_cell_errors
def CHS_SCORE_TABLE(accounts: Any, components: Any, metrics: Any, rules: Any = None,
                    settings: Any = None, segments: Any = None, levels: Any = None,
                    renewal_probability: Any = None, playbooks: Any = None,
                    history: Any = None, renewal_curve: Any = None) -> Any:
    """CHS_SCORE for Excel 2016/2019 (no dynamic arrays): xlwings writes the table out
    from the formula's cell (`expand="table"`) instead of Excel spilling it."""
    return _score_grid(accounts, components, metrics, rules, settings, segments, levels,
                       renewal_probability, playbooks, history, renewal_curve)


@xw.func(category=CATEGORY)
@xw.arg("account_row", ndim=2, err_to_str=True,
        doc="The Accounts header and the account's row (or several rows)")
@xw.arg("components", ndim=2, err_to_str=True, doc="Components[#All]")
@xw.arg("metrics", ndim=2, err_to_str=True, doc="Metrics[#All]")
@xw.arg("rules", ndim=2, err_to_str=True, doc="Rules[#All] (optional)")
@xw.arg("settings", ndim=2, err_to_str=True, doc="Settings[#All] (optional)")
@xw.arg("segments", ndim=2, err_to_str=True, doc="Segments[#All] (optional)")
@xw.arg("levels", ndim=2, err_to_str=True,
        doc="Levels[#All] (needed for steps and category metrics)")
@xw.arg("population", ndim=2, err_to_str=True,
        doc="Accounts[#All] (optional): the accounts percentile metrics rank against")
@xw.ret(transpose=False)
@_cell_errors
def CHS_PATH(account_row: Any, components: Any, metrics: Any, rules: Any = None,
             settings: Any = None, segments: Any = None, levels: Any = None,
             population: Any = None) -> Any:
    """The path to Green of the account(s): 'licence_utilisation 45 → 63; nps 6 → 9'.

    One text per account row (a single cell for one row). Percentile metrics rank the
    account among `population` when it is given (else among the rows themselves).
    """
    from chs_excel.core.path import path_to_green
    model = model_from_ranges({
        "Components": components, "Metrics": metrics, "Rules": rules, "Settings": settings,
        "Segments": segments, "Levels": levels})
    rows = accounts_frame(account_row)
    frame = rows
    if population is not None:
        everyone = accounts_frame(population)
        others = everyone[~_ids(everyone).isin(_ids(rows))]
        frame = pd.concat([rows, others.reindex(columns=rows.columns)])
    try:
        paths = path_to_green(model, frame.reset_index(drop=True))
    except ChsError as exc:
        raise type(exc)(f"account_row: {exc}") from None
    text = paths.summary["path_to_green"].to_numpy(dtype=object)[:len(rows)]
    return text[0] if len(text) == 1 else [[t] for t in text]


def _ids(frame: pd.DataFrame) -> pd.Series:
    """The account ids of a converted range, as trimmed text (to match rows by id)."""
    column = next((c for c in frame.columns if header_key(c) == "accountid"), None)
    if column is None:
        raise ChsError("column 'account_id' is missing (every account needs an id)")
    return frame[column].astype(str).str.strip()


# ---------------------------------------------------------------- one rule at a time

def _one_metric(method: str, scale: Any, **fields: Any) -> tuple[Metric, float]:
    """A metric validated as the model validates it (named after the function)."""
    size = 100.0 if scale is None else cell_number(scale, "scale")
    metric = Metric(column=f"CHS_{method.upper()}", component="score", method=method,
                    **fields)
    Model(name=metric.column, components={"score": 1.0}, metrics=(metric,), scale=size)
    return metric, size


def _numbers(values: np.ndarray) -> np.ndarray:
    """Floats as cells: None where NaN."""
    return np.where(np.isnan(values), None, values.astype(object))


def _explain(out: np.ndarray, mask: np.ndarray, text: str, cells: np.ndarray) -> np.ndarray:
    """`out` with the masked cells replaced by '#CHS! <text>: <the cell as typed>'."""
    if mask.any():
        shown = pd.Series(cells[mask], dtype=object).map(repr)
        out = out.copy()
        out[mask] = (PREFIX + text + ": " + shown).to_numpy(dtype=object)
    return out


def _excel_errors(out: np.ndarray, errors: np.ndarray, name: str) -> np.ndarray:
    """`out` with each Excel error cell replaced by '#CHS! <name> is the Excel error #N/A'."""
    found = pd.notna(errors)
    if found.any():
        out = out.copy()
        out[found] = (f"{PREFIX}{name} is the Excel error "
                      + pd.Series(errors[found], dtype=object)).to_numpy(dtype=object)
    return out


def _metric_cells(x: Any, metric: Metric, scale: float) -> Any:
    """Score each cell of `x` with `metric`; a cell the engine reports becomes #CHS! text."""
    flat, shape, errors = cells(x)
    points, problems = engine.metric_scores(
        metric, as_series(np.where(pd.notna(errors), None, flat)), scale)
    out = _numbers(points)
    for problem in pd.unique(problems[problems != ""]):
        out = _explain(out, problems == problem, problem, flat)
    return shaped(_excel_errors(out, errors, "x"), shape)


@xw.func(category=CATEGORY)
@xw.arg("x", ndim=2, err_to_str=True, doc="Raw value(s): a cell or a range")
@xw.arg("worst", doc="Value that scores 0")
@xw.arg("best", doc="Value that scores the full scale")
@xw.arg("scale", doc="Full score (optional, default 100)")
@xw.ret(transpose=False)
@_cell_errors
def CHS_LINEAR(x: Any, worst: Any, best: Any, scale: Any = None) -> Any:
    """Linear points: scale x clamp((x - worst) / (best - worst), 0, 1); blank stays blank."""
    metric, size = _one_metric("linear", scale, worst=cell_number(worst, "worst"),
                               best=cell_number(best, "best"))
    return _metric_cells(x, metric, size)


@xw.func(category=CATEGORY)
@xw.arg("x", ndim=2, err_to_str=True, doc="Raw value(s): a cell or a range")
@xw.arg("worst", doc="Value that scores 0")
@xw.arg("best", doc="Value that scores the full scale")
@xw.arg("scale", doc="Full score (optional, default 100)")
@xw.ret(transpose=False)
@_cell_errors
def CHS_LOG(x: Any, worst: Any, best: Any, scale: Any = None) -> Any:
    """Diminishing-returns points: scale x clamp(ln(1 + max(t, 0)) / ln(1 + |best - worst|),
    0, 1), t = (x - worst) x sign(best - worst); blank stays blank."""
    metric, size = _one_metric("log", scale, worst=cell_number(worst, "worst"),
                               best=cell_number(best, "best"))
    return _metric_cells(x, metric, size)


@xw.func(category=CATEGORY)
@xw.arg("x", ndim=2, err_to_str=True, doc="Raw value(s): a cell or a range")
@xw.arg("breaks", ndim=2, err_to_str=True, doc="Strictly increasing break points")
@xw.arg("points", ndim=2, err_to_str=True, doc="Points: one more than breaks")
@xw.arg("scale", doc="Full score (optional, default 100)")
@xw.ret(transpose=False)
@_cell_errors
def CHS_STEPS(x: Any, breaks: Any, points: Any, scale: Any = None) -> Any:
    """Step points: points[i], i = how many breaks are <= x; blank stays blank."""
    metric, size = _one_metric("steps", scale, breaks=tuple(number_list(breaks, "breaks")),
                               points=tuple(number_list(points, "points")))
    return _metric_cells(x, metric, size)


@xw.func(category=CATEGORY)
@xw.arg("scores", ndim=2, err_to_str=True, doc="Scores: one row per result (blanks ignored)")
@xw.arg("weights", ndim=2, err_to_str=True, doc="One weight per score column")
@xw.ret(transpose=False)
@_cell_errors
def CHS_WEIGHTED(scores: Any, weights: Any) -> Any:
    """Weighted mean ignoring blanks, per row of `scores` (a column with a column of weights
    gives one value); blank when no weighted score is present."""
    flat, (rows, width), errors = cells(scores)
    w_flat, w_shape, _ = cells(weights)
    w = np.array(number_list(weights, "weights"), dtype=float)
    if len(w) != w_flat.size:
        raise ChsError("weights: every weight must be a number (blank weights are not "
                       "allowed)")
    if (w < 0).any():
        raise ChsError(f"weights: weight {w[w < 0][0]:g} is negative; weights must be >= 0")
    if width == 1 and rows > 1 and len(w) == rows:
        rows, width = 1, rows
    if w_shape == (rows, width) and rows > 1:
        w = w.reshape(rows, width)
    elif len(w) != width:
        raise ChsError(f"weights: {len(w)} weights for {width} scores per row; give one "
                       "weight per score column")
    values, bad = engine.parse_numbers(as_series(np.where(pd.notna(errors), None, flat)))
    out = _numbers(engine.weighted_mean(values.reshape(rows, width), w))
    # A row with a cell the engine would report answers with that cell, not a number.
    first = np.argmax((bad | pd.notna(errors)).reshape(rows, width), axis=1)
    picked = np.arange(rows) * width + first
    out = _explain(out, bad[picked], "scores hold text, not a number", flat[picked])
    return shaped(_excel_errors(out, errors[picked], "a score"), (rows, 1))


def _health(value: Any, name: str) -> tuple[np.ndarray, tuple[int, int], np.ndarray]:
    """Health cells as numbers (NaN blank) and the #CHS! text for cells that are not."""
    flat, shape, errors = cells(value)
    health, bad = engine.parse_numbers(as_series(np.where(pd.notna(errors), None, flat)))
    text = _explain(np.full(len(flat), None, dtype=object), bad,
                    f"{name} is not a number", flat)
    return health, shape, _excel_errors(text, errors, name)


@functools.lru_cache(maxsize=1)
def _default_model() -> Model:
    return default_model()


def _bands_model(red_below: Any = None, green_from: Any = None,
                 probabilities: dict[str, float] | None = None) -> Model:
    """The default model with the given limits and probabilities, validated as a model."""
    base = _default_model()
    changes: dict[str, Any] = {}
    if red_below is not None:
        changes["red_below"] = cell_number(red_below, "red_below")
    if green_from is not None:
        changes["green_from"] = cell_number(green_from, "green_from")
    if probabilities is not None:
        changes["renewal_probability"] = probabilities
    return base.replace(**changes) if changes else base


@xw.func(category=CATEGORY)
@xw.arg("health", ndim=2, err_to_str=True, doc="Health score(s)")
@xw.arg("red_below", doc="Red below this score")
@xw.arg("green_from", doc="Green from this score")
@xw.ret(transpose=False)
@_cell_errors
def CHS_BAND(health: Any, red_below: Any, green_from: Any) -> Any:
    """Band: Red below red_below, Green from green_from, else Yellow; No data when blank."""
    model = _bands_model(red_below, green_from)
    values, shape, text = _health(health, "health")
    out = engine.band_of(values, model.red_below, model.green_from)
    return shaped(np.where(pd.notna(text), text, out), shape)


@xw.func(category=CATEGORY)
@xw.arg("health", ndim=2, err_to_str=True, doc="Health score(s) to place")
@xw.arg("all_health", ndim=2, err_to_str=True, doc="Every account's health (blanks ignored)")
@xw.ret(transpose=False)
@_cell_errors
def CHS_QUARTILE(health: Any, all_health: Any) -> Any:
    """Quartile 1 (top) .. 4 against QUARTILE.INC cut points of all_health; blank stays blank."""
    population, _, text = _health(all_health, "all_health")
    problems = text[pd.notna(text)]
    if len(problems):
        raise ChsError(problems[0].removeprefix(PREFIX))
    if np.isnan(population).all():
        raise ChsError("all_health holds no health scores")
    q1, q2, q3 = (cut[0] for cut in engine.quartile_cuts(population,
                                                          np.zeros(len(population))))
    values, shape, text = _health(health, "health")
    quartile = engine.quartile_of(values, q1, q2, q3)
    out = pd.array(np.where(np.isnan(quartile), None, quartile), dtype="Int64")
    return shaped(np.where(pd.notna(text), text, out.to_numpy(dtype=object, na_value=None)),
                  shape)


def _probabilities(table: Any) -> dict[str, float] | None:
    """A band -> probability table (header row optional) as a dict; None when omitted."""
    if table is None:
        return None
    flat, (rows, width), errors = cells(table)
    if width != 2:
        raise ChsError("probabilities must be two columns: band and probability")
    grid = flat.reshape(rows, width)
    start = 1 if isinstance(grid[0, 1], str) and pd.isna(errors[1]) else 0
    out = {}
    for r in range(start, rows):
        if grid[r, 0] is None and grid[r, 1] is None:
            continue
        out[str(grid[r, 0]).strip()] = cell_number(grid[r, 1], f"probability of {grid[r, 0]}")
    return out


@xw.func(category=CATEGORY)
@xw.arg("band_or_health", ndim=2, err_to_str=True, doc="Band name(s) or health score(s)")
@xw.arg("probabilities", ndim=2, err_to_str=True,
        doc="RenewalProbability[#All] (optional: the model's default)")
@xw.arg("red_below", doc="For health scores: Red below (optional, default 40)")
@xw.arg("green_from", doc="For health scores: Green from (optional, default 70)")
@xw.ret(transpose=False)
@_cell_errors
def CHS_RENEWAL(band_or_health: Any, probabilities: Any = None, red_below: Any = None,
                green_from: Any = None) -> Any:
    """Renewal probability of a band (or of the band a health score falls in)."""
    model = _bands_model(red_below, green_from, _probabilities(probabilities))
    flat, shape, errors = cells(band_or_health)
    known = {name.lower(): name for name in (*BANDS, NO_DATA)}
    is_text = pd.Series(flat, dtype=object).map(lambda v: isinstance(v, str)).to_numpy(
        dtype=bool) & pd.isna(errors)
    health, bad = engine.parse_numbers(as_series(np.where(is_text | pd.notna(errors), None,
                                                          flat)))
    band = engine.band_of(health, model.red_below, model.green_from)
    labels = pd.Series(flat[is_text], dtype=object).str.strip().str.lower().map(known)
    band[is_text] = labels.to_numpy(dtype=object)
    out = _numbers(engine.renewal_probability(model.renewal_probability, band))
    out = _explain(out, is_text & pd.isna(band),
                   f"unknown band (use {', '.join(BANDS)}, {NO_DATA} or a health score)", flat)
    out = _explain(out, bad & ~is_text, "not a band or a health score", flat)
    return shaped(_excel_errors(out, errors, "band_or_health"), shape)
