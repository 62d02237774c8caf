"""Calibration: past scores joined with what happened (renewed or churned), and what to change.

Reports churn by band and quartile, AUC of health (and of each component and metric),
predicted vs actual renewal by health decile, renewal probability per band with a Wilson
interval, a calibrated health -> probability curve, and suggested weights fitted to the
outcomes (non-negative, L2-regularised logistic regression) judged on held-out accounts.
Nothing here changes a model: `CalibrationReport.suggested_model()` returns a new one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from chs_excel.analytics.forecast import RenewalCurve
from chs_excel.analytics.history import composite, segment_keys, segment_values
from chs_excel.analytics.stats import fit_logistic
from chs_excel.core.engine import metric_score_column, parse_flags
from chs_excel.core.errors import ChsError, InputError
from chs_excel.core.model import Model
from chs_excel.core.vocabulary import (
    BAND_ORDER,
    OVERRIDE_COLUMNS,
    PATH_COLUMNS,
    QUARTILE_ROWS,
    SCORE_COLUMNS,
    header_key,
    text_key,
)
from chs_excel.io.history_store import BASE_COLUMNS, EXTRA_COLUMNS
from chs_excel.io.scores import account_ids, bands, dates, numbers

OUTCOME_COLUMNS = ("renewed", "churned")
PENALTY = 1e-3        # L2 penalty on the mean log-loss, features scaled to 0..1
HOLDOUT = 0.3         # share of accounts held out to judge the weights
MIN_ROWS = 200        # training rows a weight group needs to be refitted
MIN_CLASS = 20        # ... with at least this many renewals and churns
CURVE_BINS = 20
ROC_POINTS = 201
COIN_TOSS = "coin toss (AUC 0.5)"
Z95 = 1.959963984540054


# ---------------------------------------------------------------- outcomes and joining

def parse_outcome(raw: pd.Series, column: str, where: str) -> np.ndarray:
    """1.0 renewed / 0.0 not, NaN blank, read as flag words (1/0, yes/no, true/false)."""
    values, bad = parse_flags(raw)
    if bad.any():
        shown = ", ".join(repr(v) for v in pd.unique(raw[bad])[:5])
        raise InputError(f"{where}: column {column} must be 1/0 or yes/no; found {shown} "
                         f"in row {_rows(raw.index[bad])}")
    return values if column == "renewed" else np.where(np.isnan(values), np.nan, 1 - values)


def outcome_column(frame: pd.DataFrame, where: str) -> str | None:
    """Which outcome column a frame has ('renewed' or 'churned'); both is an error."""
    keys = {header_key(c): c for c in frame.columns}
    found = [keys[k] for k in OUTCOME_COLUMNS if k in keys]
    if len(found) > 1:
        raise InputError(f"{where}: has both 'renewed' and 'churned'; keep one")
    return found[0] if found else None


def join_outcomes(rows: pd.DataFrame, outcomes: pd.DataFrame | None, *, where: str,
                  outcomes_where: str = "", window_days: int = 365) \
        -> tuple[pd.DataFrame, list[str]]:
    """Scored rows with a `renewed` column (1/0): from the rows, or joined from `outcomes`.

    With dates on both sides each snapshot takes the account's next renewal on or after
    the snapshot date, at most `window_days` later; otherwise accounts join by id.
    """
    rows = rows.copy()
    rows["account_id"] = account_ids(rows, where).to_numpy()
    notes: list[str] = []
    if outcomes is None:
        col = outcome_column(rows, where)
        if col is None:
            raise InputError(f"{where}: no 'renewed' or 'churned' column; add one or pass "
                             "the outcomes with --outcomes FILE")
        rows["renewed"] = parse_outcome(rows[col], col, where)
        joined = rows
    else:
        col = outcome_column(outcomes, outcomes_where)
        if col is None or "accountid" not in {header_key(c) for c in outcomes.columns}:
            raise InputError(f"{outcomes_where}: needs columns account_id and renewed (or "
                             "churned)")
        outs = outcomes.rename(columns={c: "account_id" for c in outcomes.columns
                                        if header_key(c) == "accountid"})
        outs = outs.rename(columns={c: "renewal_date" for c in outs.columns
                                    if header_key(c) == "renewaldate"})
        table = pd.DataFrame({"account_id": account_ids(outs, outcomes_where).to_numpy(),
                              "renewed": parse_outcome(outs[col], col, outcomes_where)},
                             index=outs.index)
        rows = rows.drop(columns=[c for c in rows.columns if header_key(c) in
                                  ("renewed", "churned")])
        if "renewal_date" in outs.columns and "date" in rows.columns:
            table["outcome_date"] = dates(outs, "renewal_date", outcomes_where)
            joined = _join_by_date(rows, table, window_days, notes)
        else:
            dup = table["account_id"].duplicated(keep=False)
            if dup.any():
                raise InputError(f"{outcomes_where}: account {table['account_id'][dup].iloc[0]}"
                                 " has more than one outcome; add a renewal_date column so "
                                 "each snapshot meets its next renewal")
            joined = rows.merge(table, on="account_id", how="inner")
        if joined.empty:
            raise InputError(
                f"{outcomes_where}: no outcome matches an account in {where} "
                f"({table['account_id'].nunique():,} outcome accounts, e.g. "
                f"{_examples(table['account_id'])}; history accounts e.g. "
                f"{_examples(rows['account_id'])})")
        unmatched = ~table["account_id"].isin(joined["account_id"])
        if unmatched.any():
            notes.append(f"{int(unmatched.sum()):,} outcomes match no scored account")
    blank = joined["renewed"].isna()
    if blank.all():
        raise InputError(f"{where}: every outcome is blank; nothing to calibrate against")
    if blank.any():
        notes.append(f"{int(blank.sum()):,} rows without an outcome were left out")
    joined = joined[~blank].reset_index(drop=True)
    renewed = int(joined["renewed"].sum())
    if renewed in (0, len(joined)):
        word = "renewed" if renewed else "churned"
        raise ChsError(f"{where}: all {len(joined):,} rows with an outcome {word}: "
                       "calibration is impossible without both renewals and churns")
    return joined, notes


def _join_by_date(rows: pd.DataFrame, table: pd.DataFrame, window_days: int,
                  notes: list[str]) -> pd.DataFrame:
    dated = table[~np.isnat(table["outcome_date"].to_numpy())]
    if len(dated) < len(table):
        notes.append(f"{len(table) - len(dated):,} outcomes without a renewal date were "
                     "left out")
    left = rows.assign(_date=pd.to_datetime(rows["date"]).astype("datetime64[ns]"),
                       _order=np.arange(len(rows)))
    left = left[left["_date"].notna()].sort_values("_date", kind="stable")
    right = dated.assign(outcome_date=dated["outcome_date"].astype("datetime64[ns]")) \
        .sort_values("outcome_date", kind="stable")
    joined = pd.merge_asof(left, right, left_on="_date", right_on="outcome_date",
                           by="account_id", direction="forward",
                           tolerance=pd.Timedelta(days=window_days))
    joined = joined[joined["renewed"].notna() | joined["outcome_date"].notna()]
    if len(joined) < len(rows):
        notes.append(f"{len(rows) - len(joined):,} snapshot rows have no renewal outcome "
                     f"within {window_days} days after them and were left out")
    return joined.sort_values("_order").drop(columns=["_date", "_order"])


def _examples(ids: pd.Series) -> str:
    return ", ".join(repr(str(i)) for i in pd.unique(ids)[:3])


def _rows(index: pd.Index, limit: int = 5) -> str:
    items = [str(i) for i in index[:limit]]
    return ", ".join(items) + (f" and {len(index) - limit} more" if len(index) > limit else "")


# ---------------------------------------------------------------- measures

def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (renewed = positive), ties counted half (Mann-Whitney)."""
    y, score = np.asarray(y, float), np.asarray(score, float)
    keep = ~np.isnan(y) & ~np.isnan(score)
    y, score = y[keep], score[keep]
    pos = y.sum()
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def roc_curve(y: np.ndarray, score: np.ndarray, points: int = ROC_POINTS) -> pd.DataFrame:
    """False and true positive rates at each distinct threshold, thinned to `points`."""
    y, score = np.asarray(y, float), np.asarray(score, float)
    keep = ~np.isnan(y) & ~np.isnan(score)
    y, score = y[keep], score[keep]
    order = np.argsort(-score, kind="stable")
    y, score = y[order], score[order]
    last = np.r_[np.flatnonzero(np.diff(score) != 0), len(score) - 1]
    tp, fp = np.cumsum(y)[last], np.cumsum(1 - y)[last]
    tpr = np.r_[0.0, tp / max(tp[-1], 1)]
    fpr = np.r_[0.0, fp / max(fp[-1], 1)]
    pick = np.unique(np.linspace(0, len(tpr) - 1, min(points, len(tpr))).round().astype(int))
    return pd.DataFrame({"false_positive_rate": fpr[pick], "true_positive_rate": tpr[pick]})


def wilson(successes: np.ndarray, n: np.ndarray, z: float = Z95) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """Wilson score interval for a proportion (95% by default)."""
    successes, n = np.asarray(successes, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def churn_table(key: pd.Series, y: np.ndarray, order: list) -> pd.DataFrame:
    """Rows, renewals, churns and churn rate per value of `key`, in `order`."""
    frame = pd.DataFrame({"key": key.to_numpy(), "renewed": y, "rows": 1})
    sums = frame.groupby("key")[["rows", "renewed"]].sum().reindex(order, fill_value=0)
    sums["churned"] = sums["rows"] - sums["renewed"]
    sums["churn_rate"] = np.divide(sums["churned"], sums["rows"],
                                   out=np.full(len(sums), np.nan),
                                   where=sums["rows"].to_numpy() > 0)
    return sums.astype({"rows": "int64", "renewed": "int64", "churned": "int64"})


# ---------------------------------------------------------------- weights

def fit_nonnegative_logistic(x: np.ndarray, y: np.ndarray, penalty: float = PENALTY,
                             max_iter: int = 100) -> tuple[float, np.ndarray]:
    """Minimise mean log-loss + penalty/2 * |b|^2 subject to b >= 0 (intercept free):
    `stats.fit_logistic` on centred columns (the same optimum, better conditioned)."""
    n, k = x.shape
    mean = x.mean(axis=0)
    b0, beta = fit_logistic(x - mean, y, np.ones(k, dtype=bool), ridge=penalty * n,
                            max_iter=max_iter)
    return float(b0 - mean @ beta), beta


def _impute(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Missing scores replaced by the training rows' mean (0 when a column is all blank)."""
    present = train[:, None] & ~np.isnan(x)
    count = present.sum(axis=0)
    means = np.divide(np.where(present, x, 0).sum(axis=0), count,
                      out=np.zeros(x.shape[1]), where=count > 0)
    return np.where(np.isnan(x), means, x)


def rounded_weights(beta: np.ndarray, total: float, digits: int) -> np.ndarray:
    """`beta` rescaled to sum to `total`, rounded; the rounding rest goes to the largest."""
    w = np.round(beta / beta.sum() * total, digits)
    top = np.argmax(w)
    w[top] = round(w[top] + total - w.sum(), digits)
    return w


def group_of(data: pd.DataFrame, model: Model) -> np.ndarray:
    """Each row's weight group: 0 = the default weights, i = the model's i-th segment."""
    keys = {text_key(s): i for i, s in enumerate(model.segment_weights, start=1)}
    seg = segment_keys(segment_values(data, model))
    return seg.map(keys).fillna(0).to_numpy(dtype=int)


def group_weights(model: Model) -> np.ndarray:
    """Component weights per group (rows: default, then each segment), model order."""
    sets = [model.components, *model.segment_weights.values()]
    return np.array([[s[c] for c in model.components] for s in sets], dtype=float)


# ---------------------------------------------------------------- the report

@dataclass(frozen=True)
class CalibrationReport:
    """Everything `chs calibrate` reports; `suggested_model()` builds the new model."""

    model: Model
    summary: list[tuple[str, object]]
    notes: list[str]
    churn_by_band: pd.DataFrame
    churn_by_quartile: pd.DataFrame
    auc: pd.DataFrame
    calibration: pd.DataFrame
    band_probability: pd.DataFrame
    component_weights: pd.DataFrame
    metric_weights: pd.DataFrame | None
    evaluation: pd.DataFrame
    roc: pd.DataFrame
    curve: RenewalCurve
    suggested: np.ndarray = field(repr=False)
    suggested_metrics: np.ndarray | None = field(default=None, repr=False)
    # The renewal curve fitted on health under the suggested weights (before caps): the
    # curve the suggested model carries (`suggested_model`).
    suggested_curve: RenewalCurve | None = field(default=None, repr=False)

    def measure(self, label: str) -> object:
        """The summary value whose label starts with `label` (labels carry explanations
        such as "(before caps)"); None when there is none."""
        return next((value for name, value in self.summary if name.startswith(label)), None)

    def suggested_model(self, on: dt.date | None = None) -> Model:
        """A copy of the model with the suggested weights (the user's model is untouched)."""
        comps = list(self.model.components)
        metrics = self.model.metrics
        if self.suggested_metrics is not None:
            metrics = tuple(replace(m, weight=float(w))
                            for m, w in zip(metrics, self.suggested_metrics, strict=True))
        day = (on or dt.date.today()).strftime("%Y%m%d")
        return self.model.replace(
            version=f"{self.model.version}-calibrated-{day}",
            components=dict(zip(comps, map(float, self.suggested[0]), strict=True)),
            segment_weights={s: dict(zip(comps, map(float, self.suggested[i]), strict=True))
                             for i, s in enumerate(self.model.segment_weights, start=1)},
            metrics=metrics, renewal_curve=curve_points(self.suggested_curve or self.curve))


def curve_points(curve: RenewalCurve) -> tuple[tuple[float, float], ...]:
    """A calibrated curve as a model's `renewal.curve` points (6 decimals, as a curve file
    keeps them, so the model round-trips through YAML and the workbook exactly)."""
    points: dict[float, float] = {}
    for h, p in zip(curve.health, curve.probability, strict=True):
        points.setdefault(round(float(h), 6), round(float(p), 6))
    return tuple(points.items())


def prepare(data: pd.DataFrame, model: Model, where: str,
            components: list[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Component columns aligned with the model by name; what was dropped or absent noted."""
    notes = []
    keys = {header_key(c): c for c in model.components}
    if components is None:
        known = {header_key(c) for c in (*BASE_COLUMNS, *EXTRA_COLUMNS, "date",
                                         *SCORE_COLUMNS, *PATH_COLUMNS, *OVERRIDE_COLUMNS,
                                         "renewed", "churned", "outcome_date",
                                         *(m.column for m in model.metrics))}
        components = [c for c in data.columns if header_key(c) not in known
                      and not str(c).endswith("_score")
                      and pd.api.types.is_numeric_dtype(data[c])]
    dropped = [c for c in components if header_key(c) not in keys]
    data = data.rename(columns={c: keys[header_key(c)] for c in components
                                if header_key(c) in keys}).drop(columns=dropped)
    if dropped:
        notes.append(f"dropped components that are not in model {model.name!r} "
                     f"(version {model.version}): {', '.join(map(str, dropped))}")
    absent = [c for c in model.components if c not in data.columns]
    if len(absent) == len(model.components):
        raise InputError(f"{where}: none of the model's components "
                         f"({', '.join(model.components)}) is in the data; was it scored "
                         "with another model? Pass it with --model")
    for c in absent:
        data[c] = np.nan
    if absent:
        notes.append(f"components of the model with no scores in the data (left out of "
                     f"the fit, weights kept): {', '.join(absent)}")
    if "model" in data.columns and "version" in data.columns:
        versions = data[["model", "version"]].astype(str).drop_duplicates()
        if len(versions) > 1:
            for _, (name, version) in versions.iterrows():
                part = data[(data["model"].astype(str) == name)
                            & (data["version"].astype(str) == version)]
                empty = [c for c in model.components if part[c].isna().all()]
                if empty:
                    notes.append(f"rows of {name} version {version} ({len(part):,}) have "
                                 f"no {', '.join(empty)}")
    for c in model.components:
        data[c] = numbers(data, c, where)
    return data, notes


def calibrate(data: pd.DataFrame, model: Model, *, where: str = "data",
              components: list[str] | None = None, holdout: float = HOLDOUT,
              penalty: float = PENALTY) -> CalibrationReport:
    """Calibrate `model` against rows carrying health, band, components and `renewed`.

    Parameters
    ----------
    data : DataFrame
        Snapshot rows joined with outcomes (`join_outcomes`): health, band, the model's
        component scores and `renewed` (1/0).
    model : Model
        The scorecard being checked; it is never changed.
    where : str, default="data"
        Where the rows came from, for error messages.
    components : list of str, optional
        Component columns to use (default: the model's).
    holdout : float, default=0.3
        Share of accounts held out to judge the suggested weights.
    penalty : float, default=1e-3
        L2 penalty of the non-negative logistic fit.

    Returns
    -------
    CalibrationReport
        Churn by band and quartile, AUC, a calibrated curve and suggested weights;
        `suggested_model()` gives a new Model with them.
    """
    data, notes = prepare(data, model, where, components)
    y = data["renewed"].to_numpy(dtype=float)
    health = numbers(data, "health", where)
    band = bands(data, model, where)
    comps = list(model.components)
    scores = data[comps].to_numpy(dtype=float)
    ids = data["account_id"].astype(str).to_numpy(dtype=object)
    test = (pd.util.hash_array(ids) % 1000) < holdout * 1000
    train = ~test
    if test.sum() < 2 or train.sum() < 2 or len(np.unique(y[test])) < 2 \
            or len(np.unique(y[train])) < 2:
        raise ChsError(f"{where}: too few accounts ({len(np.unique(ids)):,}) to hold some "
                       "out for testing with both renewals and churns on each side")
    scale = float(model.scale)

    metric_cols = [metric_score_column(m) for m in model.metrics]
    has_metrics = all(c in data.columns for c in metric_cols)
    suggested_metrics = None
    comp_scores = scores
    if has_metrics:
        mscores = np.column_stack([numbers(data, c, where) for c in metric_cols])
        suggested_metrics, comp_scores, metric_notes = _fit_metrics(
            model, mscores, y, train, penalty)
        notes += metric_notes
    else:
        notes.append("metric weights not suggested: the data has no <metric>_score columns "
                     "(History snapshots keep component scores only; calibrate a scores csv "
                     "joined with outcomes for metric weights)")
    groups = group_of(data, model)
    current = group_weights(model)
    suggested, group_notes = _fit_groups(model, comp_scores, y, train, groups, current,
                                         penalty, scale)
    notes += group_notes

    present, s_present = ~np.isnan(scores), ~np.isnan(comp_scores)
    ones = np.ones_like(scores)
    composites = {
        "current weights": composite(current[groups], present, scores),
        "suggested weights": composite(suggested[groups], s_present, comp_scores),
        "equal weights": composite(ones, present, scores),
        "health as recorded (with caps)": health}
    evaluation = pd.DataFrame([{
        "weights": name, "held_out_auc": roc_auc(y[test], v[test]),
        "training_auc": roc_auc(y[train], v[train]),
        "held_out_rows": int((test & ~np.isnan(v)).sum())} for name, v in composites.items()])
    roc = _roc_table({k: composites[k] for k in ("current weights", "suggested weights")},
                     y, test)
    report_auc = _auc_table(data, model, y, health, has_metrics)
    quart = pd.to_numeric(data["quartile"], errors="coerce") if "quartile" in data.columns \
        else pd.Series(np.nan, index=data.index)
    by_quartile = churn_table(quart, y, [1, 2, 3, 4]).rename_axis("quartile").reset_index()
    by_quartile.insert(1, "segment", by_quartile["quartile"].map(QUARTILE_ROWS))
    summary = _summary(data, y, health, evaluation, train, test, penalty)
    return CalibrationReport(
        model=model, summary=summary, notes=notes,
        churn_by_band=churn_table(pd.Series(band), y, list(BAND_ORDER))
        .rename_axis("band").reset_index(),
        churn_by_quartile=by_quartile, auc=report_auc,
        calibration=calibration_table(health, band, y, model),
        band_probability=band_probability(band, y, model),
        component_weights=_weights_table(model, current, suggested),
        metric_weights=_metric_table(model, suggested_metrics), evaluation=evaluation,
        roc=roc, curve=fit_curve(health, y, model), suggested=suggested,
        suggested_metrics=suggested_metrics,
        suggested_curve=fit_curve(composites["suggested weights"], y, model))


def _fit_metrics(model: Model, mscores: np.ndarray, y: np.ndarray, train: np.ndarray,
                 penalty: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Metric weights from one joint fit; component scores recomputed with them."""
    notes = []
    scale = float(model.scale)
    x = _impute(mscores, train) / scale
    _, beta = fit_nonnegative_logistic(x[train], y[train], penalty)
    comps = list(model.components)
    current = np.array([m.weight for m in model.metrics], dtype=float)
    weights = current.copy()
    member = np.array([[m.component == c for c in comps] for m in model.metrics], float)
    for j, c in enumerate(comps):
        idx = member[:, j] > 0
        if beta[idx].sum() > 0:
            weights[idx] = rounded_weights(beta[idx], current[idx].sum(), 2)
        else:
            notes.append(f"no metric of {c} predicts renewal in this data: its metric "
                         "weights are kept")
    present = ~np.isnan(mscores)
    wm = weights[:, None] * member
    total = present @ wm
    comp_scores = np.divide(np.nan_to_num(mscores) @ wm, total,
                            out=np.full(total.shape, np.nan), where=total > 0)
    return weights, comp_scores, notes


def _fit_groups(model: Model, comp_scores: np.ndarray, y: np.ndarray, train: np.ndarray,
                groups: np.ndarray, current: np.ndarray, penalty: float,
                scale: float) -> tuple[np.ndarray, list[str]]:
    """Component weights per weight group (default, each segment) where data allows."""
    notes = []
    names = ["default weights", *(f"segment {s}" for s in model.segment_weights)]
    suggested = current.copy()
    x = _impute(comp_scores, train) / scale
    usable = ~np.isnan(comp_scores).all(axis=0)
    for g, name in enumerate(names):
        rows = train & (groups == g)
        renewals = int(y[rows].sum())
        if rows.sum() < MIN_ROWS or min(renewals, rows.sum() - renewals) < MIN_CLASS:
            notes.append(f"{name}: too few training rows ({int(rows.sum()):,}; needs "
                         f"{MIN_ROWS} with {MIN_CLASS} renewals and churns): weights kept")
            continue
        _, beta = fit_nonnegative_logistic(x[rows][:, usable], y[rows], penalty)
        if beta.sum() <= 0:
            notes.append(f"{name}: no component predicts renewal: weights kept")
            continue
        fitted = np.zeros(len(usable))
        fitted[usable] = rounded_weights(beta, current[g][usable].sum(), 1)
        fitted[~usable] = current[g][~usable]
        suggested[g] = fitted
    return suggested, notes


def _roc_table(composites: dict[str, np.ndarray], y: np.ndarray,
               test: np.ndarray) -> pd.DataFrame:
    curves = [roc_curve(y[test], v[test]).assign(weights=name)
              for name, v in composites.items()]
    curves.append(pd.DataFrame({"false_positive_rate": [0.0, 1.0],
                                "true_positive_rate": [0.0, 1.0], "weights": COIN_TOSS}))
    return pd.concat(curves, ignore_index=True)[["weights", "false_positive_rate",
                                                 "true_positive_rate"]]


def _auc_table(data: pd.DataFrame, model: Model, y: np.ndarray, health: np.ndarray,
               has_metrics: bool) -> pd.DataFrame:
    signals = [("health", "health", health)]
    signals += [(c, "component", data[c].to_numpy(dtype=float)) for c in model.components]
    if has_metrics:
        signals += [(m.column, f"metric of {m.component}",
                     numbers(data, metric_score_column(m), "data")) for m in model.metrics]
    return pd.DataFrame([{"signal": name, "kind": kind, "rows": int((~np.isnan(v)).sum()),
                          "auc": roc_auc(y, v)} for name, kind, v in signals])


def calibration_table(health: np.ndarray, band: np.ndarray, y: np.ndarray,
                      model: Model, bins: int = 10) -> pd.DataFrame:
    """Predicted (the model's band probability) vs actual renewal by health decile."""
    keep = ~np.isnan(health)
    predicted = pd.Series(band).map(model.renewal_probability).to_numpy(dtype=float,
                                                                        na_value=np.nan)
    frame = pd.DataFrame({"health": health, "predicted": predicted, "actual": y})[keep]
    rank = frame["health"].rank(method="first")
    frame["decile"] = np.ceil(rank * bins / len(frame)).astype(int) if len(frame) else 0
    out = frame.groupby("decile").agg(rows=("health", "size"), health_min=("health", "min"),
                                      health_max=("health", "max"),
                                      predicted=("predicted", "mean"),
                                      actual=("actual", "mean"))
    out["difference"] = out["actual"] - out["predicted"]
    return out.reset_index()


def band_probability(band: np.ndarray, y: np.ndarray, model: Model) -> pd.DataFrame:
    """Renewal rate per band with a 95% Wilson interval, beside the model's probability."""
    table = churn_table(pd.Series(band), y, list(BAND_ORDER))
    low, high = wilson(table["renewed"], table["rows"])
    out = pd.DataFrame({"band": list(BAND_ORDER), "rows": table["rows"].to_numpy(),
                        "renewed": table["renewed"].to_numpy(),
                        "renewal_rate": 1 - table["churn_rate"].to_numpy(),
                        "ci_low": low, "ci_high": high,
                        "model_probability": [model.renewal_probability.get(b, np.nan)
                                              for b in BAND_ORDER]})
    p = out["model_probability"].to_numpy(dtype=float)
    out["verdict"] = np.select(
        [out["rows"].to_numpy() == 0, np.isnan(p), p > out["ci_high"].to_numpy(),
         p < out["ci_low"].to_numpy()],
        ["no rows", "model has no probability", "model too optimistic",
         "model too pessimistic"], "consistent with the data")
    return out


def fit_curve(health: np.ndarray, y: np.ndarray, model: Model,
              bins: int = CURVE_BINS) -> RenewalCurve:
    """Renewal probability by health: isotonic (never decreasing) fit over health bins."""
    keep = ~np.isnan(health)
    frame = pd.DataFrame({"h": health[keep], "y": y[keep]})
    rank = frame["h"].rank(method="first")
    frame["bin"] = np.ceil(rank * bins / max(len(frame), 1)).astype(int)
    agg = frame.groupby("bin").agg(h=("h", "mean"), y=("y", "sum"), n=("y", "size"))
    agg = agg.groupby("h", as_index=False)[["y", "n"]].sum().sort_values("h")
    level, weight, width = [], [], []
    for rate, n in zip(agg["y"] / agg["n"], agg["n"], strict=True):
        level.append(rate)
        weight.append(n)
        width.append(1)
        while len(level) > 1 and level[-2] > level[-1]:  # pool adjacent violators
            total = weight[-2] + weight[-1]
            level[-2:] = [(level[-2] * weight[-2] + level[-1] * weight[-1]) / total]
            weight[-2:] = [total]
            width[-2:] = [width[-2] + width[-1]]
    p = np.repeat(level, width)
    return RenewalCurve(tuple(agg["h"].astype(float)), tuple(np.round(p, 6)), model.name,
                        str(model.version),
                        {"date": dt.date.today().isoformat(), "rows": int(keep.sum())})


def _weights_table(model: Model, current: np.ndarray, suggested: np.ndarray) -> pd.DataFrame:
    names = ["(default)", *model.segment_weights]
    return pd.DataFrame([{"weights": names[g], "component": c,
                          "current": current[g, j], "suggested": suggested[g, j]}
                         for g in range(len(names)) for j, c in enumerate(model.components)])


def _metric_table(model: Model, suggested: np.ndarray | None) -> pd.DataFrame | None:
    if suggested is None:
        return None
    return pd.DataFrame({"metric": [m.column for m in model.metrics],
                         "component": [m.component for m in model.metrics],
                         "current": [float(m.weight) for m in model.metrics],
                         "suggested": suggested})


def _summary(data: pd.DataFrame, y: np.ndarray, health: np.ndarray, evaluation: pd.DataFrame,
             train: np.ndarray, test: np.ndarray, penalty: float) -> list[tuple[str, object]]:
    auc = dict(zip(evaluation["weights"], evaluation["held_out_auc"], strict=True))
    out: list[tuple[str, object]] = [
        ("Rows (account snapshots with an outcome)", len(data)),
        ("Accounts", int(data["account_id"].nunique())),
        ("Renewal rate", float(y.mean())),
        ("AUC of health (all rows)", roc_auc(y, health)),
        ("Held-out AUC, current weights (weighted mean of components, before caps)",
         auc["current weights"]),
        ("Held-out AUC, suggested weights (before caps)", auc["suggested weights"]),
        ("Held-out AUC, equal weights (before caps)", auc["equal weights"]),
        ("Training rows / held-out rows", f"{int(train.sum()):,} / {int(test.sum()):,}"),
        ("L2 penalty", penalty)]
    if "date" in data.columns:
        days = pd.to_datetime(data["date"], errors="coerce").dropna().dt.date.unique()
        out.insert(2, ("Snapshots", len(days)))
    return out
