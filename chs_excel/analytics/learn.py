"""Learned points: each metric's curve and the weights, fitted to past renewals.

A scorecard is an additive model: health is a weighted mean of per-metric points. This
module fits that additive model to renewals (quantile levels per numeric metric, one
effect per category label or flag value, a ridge-regularised logistic regression) and
turns it back into an ordinary model: a `steps` curve per numeric metric, points per
category label, the flag's good value, and metric and component weights such that the
weighted mean ranks accounts as the fitted model does. Rules and overrides stay as the
user wrote them. `docs/calibration.md` says it in plain words.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from chs_excel.analytics.calibration import HOLDOUT, curve_points, fit_curve, roc_auc
from chs_excel.analytics.forecast import RenewalCurve
from chs_excel.analytics.stats import RIDGE, Levels, fit_logistic
from chs_excel.core.engine import score
from chs_excel.core.errors import ChsError, InputError
from chs_excel.core.methods import METHODS
from chs_excel.core.model import Metric, Model
from chs_excel.core.values import is_blank, map_distinct, parse_flags, parse_numbers
from chs_excel.core.vocabulary import header_key, text_key

MAX_LEVELS = 8          # levels of a learned steps curve (--max-levels)
MIN_LEVEL_SHARE = 0.02  # a level holds at least this share of the training accounts ...
MIN_LEVEL_ROWS = 30     # ... and at least this many
DISTINCT_LEVELS = 40    # up to this many distinct values, every value starts as a level
MIN_CLASS = 30          # training renewals and churns needed to learn anything
SHAPES = ("free", "declared")
NUMERIC = ("linear", "log", "steps", "percentile")


@dataclass(frozen=True)
class _Design:
    """One metric's levels: `codes` per account (-1 missing) and the fit's columns."""

    metric: Metric
    kind: str                      # steps | category | flag
    codes: np.ndarray
    levels: int
    breaks: np.ndarray             # steps: the level boundaries (value >= break: next level)
    labels: tuple[str, ...] = ()   # category: the model's labels, in order
    sign: float = 1.0              # declared direction: +1 points rise with the level
    reference: int = 0             # the level whose effect is 0


@dataclass
class LearnedPoints:
    """What `--learn-points` found: the learned model, each curve, and how well it ranks."""

    model: Model
    curves: dict[str, pd.DataFrame]
    evaluation: pd.DataFrame
    band_changes: float
    curve: RenewalCurve
    forecast_check: pd.DataFrame
    reliability: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def learn_points(model: Model, accounts: pd.DataFrame, renewed: np.ndarray, *,
                 weights_only: Model | None = None, max_levels: int = MAX_LEVELS,
                 shape: str = "free", holdout: float = HOLDOUT, where: str = "data",
                 on: dt.date | None = None) -> LearnedPoints:
    """Learn every metric's points and the weights from `renewed` (1/0 per account row).

    Accounts are split by a hash of their id (the split `calibrate` uses): the curves
    are fitted on 70% and every AUC is measured on the other 30%.

    Parameters
    ----------
    model : Model
        The scorecard to learn from; its components, rules, overrides and settings are
        kept, it is never changed.
    accounts : DataFrame
        One row per account (or account-snapshot) with `account_id` and the raw metric
        columns, as `read_accounts` gives them.
    renewed : array of 1/0
        The outcome of each row.
    weights_only : Model, optional
        The model `calibrate` suggests (weights refitted only), judged on the same
        held-out accounts for comparison.
    max_levels : int, default=8
        Levels of a learned steps curve, at most (2 to 50).
    shape : {"free", "declared"}
        "declared" keeps each curve in the direction the metric declared.
    holdout : float, default=0.3
        Share of accounts held out.
    where : str
        Where the rows came from, for error messages.
    on : date, optional
        The learned model's `updated` date.

    Returns
    -------
    LearnedPoints
        The learned model, a table per metric curve, held-out AUCs, the share of accounts
        changing band, the calibrated renewal curve and its held-out check.
    """
    if shape not in SHAPES:
        raise ChsError(f"--shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    if not 2 <= max_levels <= 50:
        raise ChsError(f"--max-levels must be between 2 and 50, got {max_levels}")
    y = np.asarray(renewed, dtype=float)
    ids = _ids(accounts)
    test = (pd.util.hash_array(ids) % 1000) < holdout * 1000
    train = ~test
    churns, renewals = int((y[train] == 0).sum()), int((y[train] == 1).sum())
    if min(churns, renewals) < MIN_CLASS:
        raise ChsError(f"{where}: too few outcomes to learn points: the training accounts "
                       f"hold {renewals:,} renewals and {churns:,} churns; at least "
                       f"{MIN_CLASS} of each are needed (nothing was learned)")
    columns = {header_key(c): c for c in accounts.columns}
    notes: list[str] = []
    designs = []
    for metric in model.metrics:
        raw = accounts[columns[header_key(metric.column)]] if header_key(
            metric.column) in columns else pd.Series(np.nan, index=accounts.index)
        design = _design(metric, raw, y, train, max_levels, shape)
        if design is None:
            notes.append(f"{metric.column}: no values in the training accounts; its curve "
                         "is kept and its weight set to 0")
        designs.append(design)
    effects, logit = _fit(designs, y, train, shape)
    metrics, curves = [], {}
    scale = float(model.scale)
    for metric, design, theta in zip(model.metrics, designs, effects, strict=True):
        new, note = _learned_metric(metric, design, theta, scale)
        metrics.append(new)
        if note:
            notes.append(note)
        if design is not None:
            curves[metric.column] = _curve_table(metric, new, design, accounts, columns, y,
                                                 scale)
    learned = _with_weights(model, metrics, notes, on)
    evaluation, band_changes, health = _evaluate(model, weights_only, learned, accounts, y,
                                                 test, logit)
    curve = fit_curve(np.where(train, health, np.nan), y, learned)
    arr = _arr(accounts, columns)
    check, reliability = forecast_check(curve(health[test]), y[test],
                                        None if arr is None else arr[test])
    learned = learned.replace(renewal_curve=curve_points(curve))
    return LearnedPoints(learned, curves, evaluation, band_changes, curve, check,
                         reliability, notes)


def forecast_check(p: np.ndarray, y: np.ndarray, arr: np.ndarray | None,
                   bins: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Held-out renewals predicted by the curve vs what happened: totals, Brier score,
    and a reliability table per decile of predicted probability."""
    keep = ~np.isnan(p)
    p, y = p[keep], y[keep]
    rows = [("accounts", float(len(p))), ("renewals predicted", float(p.sum())),
            ("renewals that happened", float(y.sum())),
            ("Brier score (0 = perfect, 0.25 = a coin toss)", float(np.mean((p - y) ** 2)))]
    if arr is not None:
        a = np.nan_to_num(arr[keep])
        expected, actual = float((p * a).sum()), float((y * a).sum())
        chance = float(np.sqrt((p * (1 - p) * a ** 2).sum()))
        rows += [("expected renewed ARR", expected), ("renewed ARR that happened", actual),
                 ("difference, share of actual", (expected - actual) / actual
                  if actual else np.nan),
                 ("typical difference by chance (1 s.d.), share of actual", chance / actual
                  if actual else np.nan)]
    rank = pd.Series(p).rank(method="first").to_numpy()
    decile = np.ceil(rank * bins / max(len(p), 1)).astype(int)
    reliability = pd.DataFrame({"decile": decile, "predicted": p, "actual": y}).groupby(
        "decile").agg(accounts=("actual", "size"), predicted=("predicted", "mean"),
                      actual=("actual", "mean")).reset_index()
    return pd.DataFrame(rows, columns=["measure", "value"]), reliability


def _arr(accounts: pd.DataFrame, columns: dict[str, str]) -> np.ndarray | None:
    """The accounts' ARR as numbers, when they have an arr column."""
    if "arr" not in columns:
        return None
    return parse_numbers(accounts[columns["arr"]])[0]


def _ids(accounts: pd.DataFrame) -> np.ndarray:
    found = [c for c in accounts.columns if header_key(c) == "accountid"]
    if not found:
        raise InputError("the accounts have no account_id column")
    return accounts[found[0]].astype(str).to_numpy(dtype=object)


# ---------------------------------------------------------------- levels

def _design(metric: Metric, raw: pd.Series, y: np.ndarray, train: np.ndarray,
            max_levels: int, shape: str) -> _Design | None:
    """The metric's levels, fixed on the training accounts."""
    if metric.method == "category":
        index = {text_key(label): k for k, (label, _) in enumerate(metric.categories)}
        keys = list(index)
        found, _ = map_distinct(raw, lambda v: np.nan if is_blank(v) else index.get(
            text_key(v), np.nan))
        codes = np.where(np.isnan(found), -1, found).astype(np.int64)
        seen = np.bincount(codes[train & (codes >= 0)], minlength=len(keys))
        if not seen.any():
            return None
        return _Design(metric, "category", codes, len(keys), np.array([]),
                       tuple(label for label, _ in metric.categories),
                       reference=int(seen.argmax()))
    if metric.method == "flag":
        x, _ = parse_flags(raw)
        if np.isnan(x[train]).all():
            return None
        codes = np.where(np.isnan(x), -1, x).astype(np.int64)
        sign = (1.0 if metric.good else -1.0) if shape == "declared" else 0.0
        return _Design(metric, "flag", codes, 2, np.array([0.5]), sign=sign)
    x = METHODS[metric.method].values(metric, raw, _ignore) if metric.method in NUMERIC \
        else parse_numbers(raw)[0]
    seen = train & ~np.isnan(x)
    if not seen.any():
        return None
    breaks = _breaks(x[seen], y[seen], max_levels)
    codes = np.where(np.isnan(x), -1, np.searchsorted(breaks, x, side="right"))
    sign = _direction(metric) if shape == "declared" else 0.0
    return _Design(metric, "steps", codes.astype(np.int64), len(breaks) + 1, breaks,
                   sign=sign)


def _breaks(x: np.ndarray, y: np.ndarray, max_levels: int) -> np.ndarray:
    """Cut points over the training values `x` (outcomes `y`).

    A metric with few distinct values (a count such as support calls) starts from every
    value; levels under the minimum size merge into the neighbour with the closer renewal
    rate, then, while there are more than `max_levels`, the two neighbours whose renewal
    rates differ least (the smallest 2x2 chi-square) merge: the cuts land where renewal
    changes (3 calls vs 4), not only where accounts are dense. A continuous metric is cut
    at `max_levels` quantiles (choosing its cuts by outcome too would fit noise).
    """
    order = np.argsort(x, kind="stable")
    values, renewed = x[order], y[order]
    n = len(values)
    distinct = np.unique(values)
    if len(distinct) <= DISTINCT_LEVELS:
        cuts = distinct[1:]
    else:
        cuts = np.unique(values[(np.arange(1, max_levels) * n) // max_levels])
        cuts = cuts[cuts > values[0]]
    least = max(MIN_LEVEL_ROWS, int(np.ceil(MIN_LEVEL_SHARE * n)))
    total = np.r_[0.0, np.cumsum(renewed)]
    while len(cuts):
        edges = np.r_[0, np.searchsorted(values, cuts, side="left"), n]
        counts, wins = np.diff(edges), np.diff(total[edges])
        small = int(counts.argmin())
        if counts[small] >= least and len(counts) <= max_levels:
            break
        if counts[small] < least:
            rate = wins / counts
            if small == 0:
                drop = 0
            elif small == len(counts) - 1:
                drop = small - 1
            else:   # merge with the neighbour whose renewal rate is closer
                drop = small - 1 if abs(rate[small - 1] - rate[small]) <= abs(
                    rate[small + 1] - rate[small]) else small
        else:
            drop = int(_chi_square(counts[:-1], wins[:-1], counts[1:], wins[1:]).argmin())
        cuts = np.delete(cuts, drop)
    return cuts


def _chi_square(n1: np.ndarray, r1: np.ndarray, n2: np.ndarray,
                r2: np.ndarray) -> np.ndarray:
    """The 2x2 chi-square of renewals in neighbouring levels (0 when all agree)."""
    n, r = n1 + n2, r1 + r2
    denominator = n1 * n2 * r * (n - r)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = n * (r1 * (n2 - r2) - r2 * (n1 - r1)) ** 2 / denominator
    return np.where(denominator > 0, stat, 0.0)


def _direction(metric: Metric) -> float:
    """+1 when the metric as declared gives more points to higher values, else -1."""
    if metric.method in ("linear", "log"):
        return 1.0 if (metric.best or 0) >= (metric.worst or 0) else -1.0
    if metric.method == "steps":
        return 1.0 if metric.points[-1] >= metric.points[0] else -1.0
    return 1.0 if metric.higher_is_better else -1.0


# ---------------------------------------------------------------- fitting

def _columns(design: _Design) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """One metric's fit columns as a `Levels` group: each account's level (missing is
    the last) and the columns' values per level; which columns must be >= 0.

    Numeric levels enter as increments (column j: level >= j), so the ridge penalty
    smooths neighbouring levels and a declared shape is `increment * sign >= 0`.
    """
    levels = design.levels
    codes = np.where(design.codes < 0, levels, design.codes)
    grid = np.arange(levels + 1)[:, None]
    if design.kind == "category":
        kept = [k for k in range(levels) if k != design.reference]
        values = (grid == np.array(kept)[None, :]).astype(float)
        bounded = [False] * len(kept)
    else:
        step = design.sign if design.sign else 1.0
        values = step * ((grid >= np.arange(1, levels)[None, :]) & (grid < levels))
        bounded = [bool(design.sign)] * (levels - 1)
    missing = (grid == levels).astype(float)     # missing: its own effect, not a level
    return codes, np.hstack([values.astype(float), missing]), [*bounded, False]


def _fit(designs: list[_Design | None], y: np.ndarray, train: np.ndarray,
         shape: str) -> tuple[list[np.ndarray | None], np.ndarray]:
    """Level effects per metric (reference level 0) and every account's fitted logit."""
    codes, maps, bounded, owners = [], [], [], []
    for i, design in enumerate(designs):
        if design is None:
            continue
        c, values, bound = _columns(design)
        codes.append(c)
        maps.append(values)
        bounded += bound
        owners += [i] * values.shape[1]
    x = Levels(tuple(codes), tuple(maps))
    if codes:
        b0, beta = fit_logistic(x.rows(train), y[train], np.array(bounded, dtype=bool),
                                RIDGE)
        logit = b0 + x.dot(beta)
    else:
        beta, logit = np.zeros(0), np.zeros(len(y))
    owners_arr = np.array(owners)
    effects: list[np.ndarray | None] = []
    for i, design in enumerate(designs):
        if design is None:
            effects.append(None)
            continue
        coef = beta[owners_arr == i][:-1]          # the missing column is not a level
        if design.kind == "category":
            theta = np.insert(coef, design.reference, 0.0)
        else:
            theta = np.r_[0.0, np.cumsum((design.sign or 1.0) * coef)]
        effects.append(theta)
    return effects, logit


# ---------------------------------------------------------------- back to a scorecard

def _learned_metric(metric: Metric, design: _Design | None, theta: np.ndarray | None,
                    scale: float) -> tuple[Metric, str | None]:
    """The metric with learned points; its weight is the spread of its effects."""
    if design is None or theta is None:
        return replace(metric, weight=0.0), None
    spread = float(theta.max() - theta.min())
    if spread < 1e-6:
        return replace(metric, weight=0.0), (f"{metric.column}: its levels do not tell "
                                             "renewals apart; curve kept, weight set to 0")
    points = np.round(scale * (theta - theta.min()) / spread)
    if design.kind == "flag":
        return replace(metric, method="flag", good=bool(theta[1] >= theta[0]),
                       weight=spread), None
    if design.kind == "category":
        return replace(metric, categories=tuple(
            (label, float(p)) for label, p in zip(design.labels, points, strict=True)),
            weight=spread), None
    keep = np.r_[True, points[1:] != points[:-1]]     # equal neighbours become one level
    breaks = design.breaks[keep[1:]]
    return replace(metric, method="steps", breaks=tuple(float(b) for b in breaks),
                   points=tuple(float(p) for p in points[keep]), worst=None, best=None,
                   weight=spread), None


def _with_weights(model: Model, metrics: list[Metric], notes: list[str],
                  on: dt.date | None) -> Model:
    """Component weight = the summed spread of its metrics; each 0..100, one decimal."""
    spread = {c: sum(m.weight for m in metrics if m.component == c) for c in model.components}
    total = sum(spread.values())
    if total <= 0:
        raise ChsError("no metric tells renewals from churns in this data; nothing to learn")
    comps = {c: round(100 * s / total, 1) for c, s in spread.items()}
    for c in (c for c, s in spread.items() if not s):
        notes.append(f"component {c}: none of its metrics tells renewals from churns "
                     "(in the declared direction, with --shape declared); its weight is 0 "
                     "and its metrics count equally within it")
    metrics = [replace(m, weight=round(100 * m.weight / spread[m.component], 1)
                       if spread[m.component] else 1.0) for m in metrics]
    if model.segment_weights:
        notes.append("segment weights were set to the learned component weights: the "
                     "points are learned across all segments")
    day = (on or dt.date.today()).strftime("%Y%m%d")
    return model.replace(version=f"{model.version}-learned-{day}", components=comps,
                         metrics=tuple(metrics),
                         segment_weights={s: dict(comps) for s in model.segment_weights})


def _curve_table(old: Metric, new: Metric, design: _Design, accounts: pd.DataFrame,
                 columns: dict[str, str], y: np.ndarray, scale: float) -> pd.DataFrame:
    """Per level: its values, share of accounts, churn rate, current and learned points."""
    raw = accounts[columns[header_key(old.column)]]
    current, learned = (_points(m, raw, scale) for m in (old, new))
    if design.kind == "steps":
        lower, upper = np.r_[-np.inf, design.breaks], np.r_[design.breaks, np.inf]
        names = [_level_name(lo, hi) for lo, hi in zip(lower, upper, strict=True)]
    elif design.kind == "category":
        names = list(design.labels)
    else:
        names = ["no", "yes"]
    codes = design.codes
    level = pd.Series(codes).where(codes >= 0)
    table = pd.DataFrame({"level": level, "renewed": y, "current": current,
                          "learned": learned}).groupby("level").agg(
        accounts=("renewed", "size"), renewed=("renewed", "mean"),
        current_points=("current", "mean"), learned_points=("learned", "mean"))
    table = table.reindex(range(len(names)))
    return pd.DataFrame({
        "level": names, "accounts": table["accounts"].fillna(0).astype("int64").to_numpy(),
        "share": table["accounts"].fillna(0).to_numpy() / len(codes),
        "churn_rate": 1 - table["renewed"].to_numpy(),
        "current_points": table["current_points"].to_numpy(),
        "learned_points": table["learned_points"].to_numpy() if new.weight else np.nan})


def _level_name(lower: float, upper: float) -> str:
    if np.isinf(lower):
        return f"below {upper:g}"
    if np.isinf(upper):
        return f"{lower:g} or more"
    return f"{lower:g} to below {upper:g}"


def _points(metric: Metric, raw: pd.Series, scale: float) -> np.ndarray:
    """Each account's points on `metric` (NaN missing), as the engine scores them."""
    method = METHODS[metric.method]
    return method.score(method.values(metric, raw, _ignore), metric, scale)


def _ignore(*_: object) -> None:
    """Bad cells are the engine's Data issues; here they are simply missing."""


# ---------------------------------------------------------------- judging

ADDITIVE = "additive model as fitted (no weighted mean, no caps)"
UNCAPPED = "learned points without your caps (what the caps cost in ranking)"


def _evaluate(current: Model, weights_only: Model | None, learned: Model,
              accounts: pd.DataFrame, y: np.ndarray, test: np.ndarray,
              logit: np.ndarray) -> tuple[pd.DataFrame, float, np.ndarray]:
    """Held-out AUC of each model's health (caps and overrides included), the share of
    accounts whose band changes, and the learned model's health."""
    models = {"current model": current, "weights calibrated": weights_only,
              "learned points": learned}
    healths, bands = {}, {}
    for name, model in models.items():
        if model is None:
            continue
        scores = score(model, accounts).scores
        healths[name] = pd.to_numeric(scores["health"], errors="coerce").to_numpy(float)
        bands[name] = scores["band"].astype(str).to_numpy()
    if learned.rules:
        uncapped = score(learned.replace(rules=()), accounts).scores["health"]
        healths[UNCAPPED] = pd.to_numeric(uncapped, errors="coerce").to_numpy(float)
    rows = [{"model": name, "held_out_auc": roc_auc(y[test], h[test]),
             "held_out_accounts": int((test & ~np.isnan(h)).sum())}
            for name, h in healths.items()]
    rows.append({"model": ADDITIVE,
                 "held_out_auc": roc_auc(y[test], logit[test]),
                 "held_out_accounts": int(test.sum())})
    changed = float(np.mean(bands["current model"] != bands["learned points"]))
    return pd.DataFrame(rows), changed, healths["learned points"]
