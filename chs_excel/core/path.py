"""Path to Green: the fewest metric changes that bring an account's health to `green_from`.

For an account not in Green, every metric it has a value for, that is not `fixed`, can move
towards its best. With the presence of values unchanged, health before caps is linear in
the metric scores: raw health = sum_j a_j * s_j, where a_j is the metric's share of the
account's composite (component weight, segment-aware and renormalised over the components
present, times the metric's weight renormalised over the metrics present). So moving metric
j to score t gains a_j * (t - s_j), and gains add up.

The algorithm (docs/path-to-green.md has it in plain words):

1. Caps. A triggered rule whose cap is below `green_from` must be lifted: its metric is
   *mandatory* and its target must not fire the rule. A rule on a fixed metric or on a
   column no metric scores cannot be lifted: no path.
2. Fewest changes, exactly. Each metric's largest possible gain g_j (at its best allowed
   target) is known. The fewest changes is k* = |mandatory| + e, with e the smallest count
   of other metrics whose largest gains, taken biggest first, close the gap. Any set of k*-1
   metrics gains at most the k*-1 biggest largest gains, which fall short: so k* is the
   minimum, and every change on a path of k* changes is needed.
3. Smallest moves. For k* <= K_EXACT (3) every set of k* metrics holding the mandatory ones
   is searched, vectorised over the accounts that need k* changes. For one set, a move
   costs |target - current| / (the metric's worst->best range); discrete metrics (steps,
   category, flag, percentile) have a few candidate targets, continuous ones (linear, log)
   any value up to best. For a fixed choice of the discrete targets the continuous part is a
   linear programme (cost and gain both linear in a linear metric's score), whose optimum
   has every continuous metric at a bound except at most one: so enumerating the discrete
   targets, the bounds of the continuous metrics, and which continuous metric takes the
   partial move (solved in closed form) finds the cheapest path exactly for linear,
   steps, category, flag and percentile metrics. A log metric's cost is convex in its score,
   so a path with two log metrics is cheapest only among paths with at most one of them
   strictly inside its range. For k* > K_EXACT the k* metrics with the largest gains are
   taken at their best (still the fewest changes; the moves are not minimised).
4. Targets a person can act on. Continuous targets are rounded towards better on a grid
   of whole units for ranges of 10 to 999 (tenths below 10, tens from 1,000 up: a 0..10
   NPS moves in whole points, a 1..5 CSAT in tenths) and never go past best; a steps
   target is the first value of the level (or one unit below the next break when lower
   is better); a percentile target is a value some account has (the population's
   deciles); a flag target is the good value; a category target a label.

Missing values stay missing: the score renormalises over what is present, so filling a
blank is not a lever (the account's coverage is its own story). Overridden accounts have
no path (a person set their health), nor do accounts with no data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from chs_excel.core.engine import membership, metric_score_column, score, score_inputs
from chs_excel.core.methods import METHODS
from chs_excel.core.model import Metric, Model, Rule, header_key, rule_kind
from chs_excel.core.values import parse_flag_value
from chs_excel.core.vocabulary import PATH_COLUMNS, text_key

K_EXACT = 3            # change sets up to this size are searched exhaustively
TOL = 1e-9             # health points: gains are compared with this slack
STEP_COLUMNS = ["account_id", "step", "column", "from", "to", "health_after"]
ALREADY_GREEN = "already Green"


@dataclass(frozen=True)
class Paths:
    """The answer: per account `path_to_green` and `path_steps` (index of the scores),
    and one row per change (`account_id, step, column, from, to, health_after`)."""

    summary: pd.DataFrame
    steps: pd.DataFrame


@dataclass
class _Moves:
    """One metric's candidate targets for every account, (n, L) arrays."""

    metric: Metric
    s: np.ndarray          # current score (n,)
    x: np.ndarray          # current raw value as parsed (n,)
    a: np.ndarray          # the metric's share of raw health (n,)
    score: np.ndarray      # candidate target scores (n, L)
    raw: np.ndarray        # candidate raw targets (category: label index; flag: 0/1)
    cost: np.ndarray       # move as a share of the range (n, L)
    ok: np.ndarray         # usable candidates (n, L)
    scale: float = 100.0
    continuous: bool = False
    lb: np.ndarray | None = None   # continuous: the raw value a mandatory lift needs
    step: float = 1.0
    now: np.ndarray | None = None  # category: the current label as the cell has it

    @property
    def gain(self) -> np.ndarray:
        """Health points each candidate adds (before caps)."""
        return self.a[:, None] * (self.score - self.s[:, None])


def path_to_green(model: Model, accounts: pd.DataFrame, scores: pd.DataFrame | None = None,
                  *, as_of: object = None) -> Paths:
    """The fewest, smallest metric changes that make each non-Green account Green.

    Parameters
    ----------
    model : Model
        The scorecard, as it is (weights, caps, segment weights, overrides).
    accounts : DataFrame
        The raw accounts the scores were made from.
    scores : DataFrame, optional
        `score(model, accounts).scores`; computed when not given.

    Returns
    -------
    Paths
        `summary` (path_to_green text in model order, path_steps count) and `steps`.
    """
    if scores is None:
        scores = score(model, accounts, as_of=as_of).scores
    n, m = len(scores), len(model.metrics)
    values, triggered, comp_weights = score_inputs(model, accounts)
    s = np.column_stack([scores[metric_score_column(mt)].to_numpy(dtype=float)
                         for mt in model.metrics]) if m else np.zeros((n, 0))
    a = _shares(model, s, comp_weights)
    health = scores["health"].to_numpy(dtype=float)
    raw_health = scores["raw_health"].to_numpy(dtype=float)
    overridden = scores["overridden"].to_numpy(dtype=bool)
    green = float(model.green_from)
    need = green - raw_health
    todo = ~np.isnan(health) & (health < green) & ~overridden
    reason = np.full(n, "", dtype=object)
    reason[np.isnan(health)] = "no path: no data"
    reason[overridden & ~np.isnan(health) & (health < green)] = \
        "no path: health is set by an override"

    sub_green = [k for k, r in enumerate(model.rules) if r.cap < green]
    by_metric = _rules_by_metric(model, sub_green)
    mandatory = np.zeros((n, m), dtype=bool)
    for k in sub_green:
        rule, hit = model.rules[k], triggered[:, k] & todo
        j = _metric_index(model, rule.column)
        if j is None or model.metrics[j].fixed:
            why = "is fixed" if j is not None else "is not a metric"
            reason[hit & (reason == "")] = (f"no path: cap '{rule.name}' cannot be lifted "
                                            f"({rule.column} {why})")
            todo &= ~hit
        else:
            mandatory[:, j] |= hit
    moves = [_moves(model, j, mt, values[header_key(mt.column)], s[:, j], a[:, j],
                    scores, accounts, mandatory[:, j], triggered, by_metric.get(j, []))
             for j, mt in enumerate(model.metrics)]
    gains = [mv.gain for mv in moves]
    usable = [np.where(mv.ok, g, -np.inf) for mv, g in zip(moves, gains, strict=True)]
    top = np.column_stack([u.max(axis=1, initial=-np.inf) for u in usable]) if m \
        else np.zeros((n, 0))
    movable = np.isfinite(top) & (todo[:, None])
    stuck = (mandatory & ~movable).any(axis=1) & todo
    reason[stuck & (reason == "")] = "no path: a cap's metric cannot move past its rule"
    todo &= ~stuck
    top = np.where(movable, np.maximum(top, 0.0), 0.0)
    k_star, short = _fewest(top, mandatory, movable & (top > 0), need)
    unreachable = todo & short
    best_health = np.round(raw_health + top.sum(axis=1), 1)
    reason[unreachable] = np.char.mod(
        "no path: with every movable metric at its best, health reaches only %.1f",
        best_health[unreachable]).astype(object)
    todo &= ~unreachable

    target = np.full((n, m), np.nan)        # raw target of each change
    target_score = np.full((n, m), np.nan)
    for k in range(1, min(K_EXACT, m) + 1):
        rows = np.flatnonzero(todo & (k_star == k))
        if len(rows):
            _search(moves, gains, rows, k, need, mandatory, movable, top, target,
                    target_score)
    rows = np.flatnonzero(todo & (k_star > K_EXACT))
    if len(rows):
        _largest(moves, gains, usable, rows, k_star, mandatory, movable, top, target,
                 target_score)
    changed = ~np.isnan(target_score)
    total_gain = np.nansum(a * np.where(changed, target_score - s, 0.0), axis=1)
    final = _capped(model, raw_health + total_gain, triggered, changed, target, moves, m)
    failed = todo & (final < green - 1e-7)
    reason[failed] = "no path: a rule fires on the improved values"
    changed[failed] = False
    todo &= ~failed
    headers = {header_key(c): str(c).strip() for c in accounts.columns}
    names = [headers.get(header_key(m.column), m.column) for m in model.metrics]
    return _result(model, scores, moves, s, a, raw_health, triggered, changed, target,
                   target_score, todo, health >= green, reason, names)


# ---------------------------------------------------------------- the model's shares

def _shares(model: Model, s: np.ndarray, comp_weights: np.ndarray) -> np.ndarray:
    """a[i, j]: how many health points one score point of metric j is worth to account i."""
    comps = list(model.components)
    member = membership(model)
    present = ~np.isnan(s)
    per_comp = present @ member
    comp_on = comp_weights * (per_comp > 0)
    total = comp_on.sum(axis=1, keepdims=True)
    comp_share = np.divide(comp_on, total, out=np.zeros_like(comp_on), where=total > 0)
    of = [comps.index(mt.component) for mt in model.metrics]
    weights = np.array([mt.weight for mt in model.metrics], dtype=float)
    within = np.divide(weights[None, :], per_comp[:, of], out=np.zeros_like(s),
                       where=per_comp[:, of] > 0)
    return comp_share[:, of] * within * present


def _metric_index(model: Model, column: str) -> int | None:
    key = header_key(column)
    return next((j for j, mt in enumerate(model.metrics) if header_key(mt.column) == key),
                None)


def _rules_by_metric(model: Model, which: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for k in which:
        j = _metric_index(model, model.rules[k].column)
        if j is not None:
            out.setdefault(j, []).append(k)
    return out


def _fires(model: Model, rule: Rule, metric: Metric, raw: np.ndarray) -> np.ndarray:
    """Whether `rule` fires on candidate raw targets of its metric (NaN never fires)."""
    kind = rule_kind(rule, model)
    if kind == "text":
        keys = np.array([text_key(label) for label, _ in metric.categories] + [""],
                        dtype=object)
        idx = np.where(np.isnan(raw), len(keys) - 1, raw).astype(int)
        equal = keys[idx] == text_key(rule.value)
        return ~np.isnan(raw) & (equal if rule.op == "=" else ~equal)
    value = float(parse_flag_value(rule.value)) if kind == "flag" else float(rule.value)
    with np.errstate(invalid="ignore"):
        hit = {"<": raw < value, "<=": raw <= value, ">": raw > value, ">=": raw >= value,
               "=": raw == value, "<>": raw != value}[rule.op]
    return ~np.isnan(raw) & hit


# ---------------------------------------------------------------- candidates per metric

def _moves(model: Model, j: int, mt: Metric, x: np.ndarray, s: np.ndarray, a: np.ndarray,
           scores: pd.DataFrame, accounts: pd.DataFrame, mandatory: np.ndarray,
           triggered: np.ndarray, rules: list[int]) -> _Moves:
    """Candidate targets of metric `mt` for every account, checked against its rules."""
    scale = float(model.scale)
    n = len(s)
    method = METHODS[mt.method]
    continuous = mt.method in ("linear", "log")
    lb = None
    step = 1.0
    if continuous:
        span = abs(mt.best - mt.worst)
        e = np.floor(np.log10(span))
        step = 10.0 ** (e - 1 - (e >= 2))
        lb = _lift_bound(model, mt, x, rules, triggered, step)
        raw = np.column_stack([lb, _reach(mt, x, step)])
        cost = np.abs(raw - x[:, None]) / span
    elif mt.method == "steps":
        raw, cost = _steps_targets(mt, x)
    elif mt.method == "category":
        points = np.array([p for _, p in mt.categories], dtype=float)
        raw = np.broadcast_to(np.arange(len(points), dtype=float), (n, len(points)))
        spread = max(points.max() - points.min(), 1e-12)
        cost = np.abs(points[None, :] - np.nan_to_num(s)[:, None]) / spread
    elif mt.method == "flag":
        raw = np.full((n, 1), float(mt.good))
        cost = np.ones((n, 1))
    else:
        raw, cost, target_scores = _percentile_targets(mt, x, scale)
    if mt.method == "percentile":
        tscore = target_scores
    elif mt.method == "category":
        tscore = np.broadcast_to(np.array([p for _, p in mt.categories], dtype=float),
                                 raw.shape)
    else:
        tscore = method.score(raw.ravel(), mt, scale).reshape(raw.shape)
    present = ~np.isnan(s)
    moved = (tscore > s[:, None] + 1e-12)
    if continuous:  # a mandatory lift may add no points and still be a change
        moved[:, 0] |= mandatory & ~np.isnan(lb) & (lb != x)
    ok = present[:, None] & moved & ~np.isnan(raw) & np.isfinite(cost) & (not mt.fixed)
    if mt.max_change is not None and mt.method not in ("flag", "category"):
        with np.errstate(invalid="ignore"):
            ok &= np.abs(raw - x[:, None]) <= mt.max_change + 1e-9
    for k in rules:
        ok &= ~_fires(model, model.rules[k], mt, raw)
    if continuous:
        ok[:, 0] &= mandatory  # the lift bound is a target only where a cap needs it
    now = None
    if mt.method == "category":
        cells = accounts[next(c for c in accounts.columns
                              if header_key(c) == header_key(mt.column))]
        now = cells.astype("string").str.strip().to_numpy(dtype=object, na_value="")
    return _Moves(mt, s, x, a, np.asarray(tscore, dtype=float), np.asarray(raw, dtype=float),
                  np.asarray(cost, dtype=float), ok, scale, continuous, lb, step, now)


def _reach(mt: Metric, x: np.ndarray, step: float) -> np.ndarray:
    """The furthest raw value towards best a continuous metric may move to: best, or
    `max_change` from where it is (on the grid, towards worse, so never past it)."""
    best = np.full(len(x), float(mt.best))
    if mt.max_change is None:
        return best
    d = _direction(mt)
    far = x + d * mt.max_change
    q = far / step
    snapped = np.where(np.abs(q - np.round(q)) < 1e-6, np.round(q),
                       np.floor(q) if d > 0 else np.ceil(q)) * step
    return np.where(d > 0, np.fmin(snapped, best), np.fmax(snapped, best))


def _direction(mt: Metric) -> float:
    return 1.0 if mt.best > mt.worst else -1.0


def _on_grid(raw: np.ndarray, mt: Metric, step: float) -> np.ndarray:
    """Round towards better onto the metric's grid, never past best."""
    d = _direction(mt)
    q = raw / step
    snapped = np.where(np.abs(q - np.round(q)) < 1e-6, np.round(q),
                       np.ceil(q) if d > 0 else np.floor(q))
    out = np.round(snapped * step, 10)
    return np.minimum(out, mt.best) if d > 0 else np.maximum(out, mt.best)


def _lift_bound(model: Model, mt: Metric, x: np.ndarray, rules: list[int],
                triggered: np.ndarray, step: float) -> np.ndarray:
    """The nearest raw value on the grid past every triggered sub-Green rule of `mt`
    (NaN where a rule fires on the good side, so moving towards best never lifts it)."""
    d = _direction(mt)
    bound = x.copy()
    for k in rules:
        rule, hit = model.rules[k], triggered[:, k]
        v = float(rule.value)
        lower_side = rule.op in ("<", "<=")   # fires below v: lifted by going up
        upper_side = rule.op in (">", ">=")
        if (lower_side and d > 0) or (upper_side and d < 0):
            edge = v if rule.op in ("<", ">") else v + d * step
            need = _on_grid(np.full(len(x), edge), mt, step)
        elif rule.op == "=":
            need = _on_grid(x + d * step, mt, step)
        else:
            need = np.full(len(x), np.nan)
        past_best = (need - mt.best) * d > 1e-9
        need = np.where(past_best, np.nan, need)
        further = np.where(d > 0, np.fmax(bound, need), np.fmin(bound, need))
        bound = np.where(hit, np.where(np.isnan(need), np.nan, further), bound)
    return bound


def _steps_targets(mt: Metric, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per level: the nearest raw value inside it (one unit below a break from above)."""
    breaks = np.asarray(mt.breaks, dtype=float)
    whole = bool(np.all(breaks == np.round(breaks)))
    gap = np.diff(breaks).min() if len(breaks) > 1 else max(abs(breaks[0]), 1.0)
    delta = 1.0 if whole else gap / 10
    lo = np.concatenate([[-np.inf], breaks])
    hi = np.concatenate([breaks, [np.inf]])
    xs = x[:, None]
    raw = np.where(xs < lo, lo, np.where(xs >= hi, hi - delta, np.nan))
    raw = np.where(np.isfinite(raw), raw, np.nan)
    span = breaks[-1] - breaks[0] if len(breaks) > 1 else max(abs(breaks[0]), 1.0)
    return raw, np.abs(raw - xs) / span


def _percentile_targets(mt: Metric, x: np.ndarray,
                        scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates at the population's deciles: values some account has."""
    present = np.sort(x[~np.isnan(x)])
    n, count = len(x), len(present)
    if count < 2 or present[0] == present[-1]:
        empty = np.full((n, 1), np.nan)
        return empty, empty, empty
    up = mt.higher_is_better
    qs = np.linspace(0.1, 1.0, 10) if up else np.linspace(0.0, 0.9, 10)
    cand = np.unique(np.quantile(present, qs, method="inverted_cdf"))
    if up:
        beaten = np.searchsorted(present, cand, side="left") - 1.0  # minus the account
        better = x[:, None] < cand[None, :]
    else:
        beaten = count - np.searchsorted(present, cand, side="right") - 1.0
        better = x[:, None] > cand[None, :]
    tscore = np.broadcast_to(scale * beaten / (count - 1), (n, len(cand)))
    raw = np.where(better, cand[None, :], np.nan)
    cost = np.abs(raw - x[:, None]) / (present[-1] - present[0])
    return raw, cost, np.where(better, tscore, np.nan)


# ---------------------------------------------------------------- fewest changes

def _fewest(top: np.ndarray, mandatory: np.ndarray, useful: np.ndarray,
            need: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(k*, unreachable): mandatory changes plus the fewest others, biggest gains first."""
    have = np.where(mandatory, top, 0.0).sum(axis=1)
    extras = -np.sort(-np.where(useful & ~mandatory, top, 0.0), axis=1)
    reach = have[:, None] + np.cumsum(extras, axis=1)
    reach = np.column_stack([have, reach])
    ok = reach >= need[:, None] - TOL
    short = ~ok.any(axis=1)
    return mandatory.sum(axis=1) + np.argmax(ok, axis=1), short


def _search(moves: list[_Moves], gains: list[np.ndarray], rows: np.ndarray, k: int,
            need: np.ndarray, mandatory: np.ndarray, movable: np.ndarray, top: np.ndarray,
            target: np.ndarray, target_score: np.ndarray) -> None:
    """Every k-set of metrics, cheapest moves, for the accounts needing k changes.

    The sets are grown metric by metric in model order, keeping only the accounts for
    which the set can still work: each metric movable, no mandatory metric skipped, and
    the gains so far plus the biggest gains still available able to close the gap."""
    m = len(moves)
    mov = np.asfortranarray(movable[rows])
    mand = np.asfortranarray(mandatory[rows])
    tp = np.asfortranarray(np.where(mov, top[rows], 0.0))
    gap = need[rows]
    # the biggest sum of `r` gains among metrics j.. : reach[r][:, j]
    ordered = -np.sort(-tp, axis=1)
    reach = {r: np.cumsum(ordered[:, :r], axis=1)[:, -1] if r else np.zeros(len(rows))
             for r in range(k + 1)}
    skipped = np.cumsum(mand, axis=1) - mand  # mandatory metrics before each column
    total = mand.sum(axis=1)
    best = np.full(len(rows), np.inf)

    def grow(prefix: list[int], at: np.ndarray, have: np.ndarray) -> None:
        left = k - len(prefix)
        if left == 0:
            done = (have >= gap[at] - TOL) & (mand[at][:, prefix].sum(axis=1) == total[at])
            if not done.any():
                return
            keep = at[done]
            _record(moves, gains, rows, keep, prefix, need, best, target, target_score)
            return
        start = prefix[-1] + 1 if prefix else 0
        before = skipped[at, start] if start < m else np.zeros(len(at))
        for j in range(start, m - left + 1):
            fit = mov[at, j] & (skipped[at, j] - before == 0) \
                & (have + tp[at, j] + reach[left - 1][at] >= gap[at] - TOL)
            if fit.any():
                grow([*prefix, j], at[fit], have[fit] + tp[at[fit], j])
        return

    grow([], np.arange(len(rows)), np.zeros(len(rows)))


def _record(moves: list[_Moves], gains: list[np.ndarray], rows: np.ndarray,
            at: np.ndarray, cols: list[int], need: np.ndarray, best: np.ndarray,
            target: np.ndarray, target_score: np.ndarray) -> None:
    """Solve one set of metrics for the accounts `rows[at]`; keep it where cheapest."""
    cost, raws, tscores = _cheapest(moves, gains, rows[at], cols, need)
    better = cost < best[at] - 1e-12
    if not better.any():
        return
    win = at[better]
    best[win] = cost[better]
    target[rows[win]] = np.nan
    target_score[rows[win]] = np.nan
    for c, j in enumerate(cols):
        target[rows[win], j] = raws[better, c]
        target_score[rows[win], j] = tscores[better, c]


def _cheapest(moves: list[_Moves], gains: list[np.ndarray], rows: np.ndarray,
              cols: list[int], need: np.ndarray) \
        -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cheapest targets for one set of metrics: enumerate the others' candidates, let one
    metric (each continuous one in turn) close the remaining gap."""
    r = len(rows)
    best = np.full(r, np.inf)
    raws = np.full((r, len(cols)), np.nan)
    tscores = np.full((r, len(cols)), np.nan)
    lasts = [c for c, j in enumerate(cols) if moves[j].continuous] or [len(cols) - 1]
    for last in lasts:
        others = [c for c in range(len(cols)) if c != last]
        g = np.zeros((r, 1))
        cost = np.zeros((r, 1))
        shapes = []
        for c in others:
            mv = moves[cols[c]]
            g = (g[:, :, None] + gains[cols[c]][rows][:, None, :]).reshape(r, -1)
            oc = np.where(mv.ok[rows], mv.cost[rows], np.inf)
            cost = (cost[:, :, None] + oc[:, None, :]).reshape(r, -1)
            shapes.append(mv.score.shape[1])
        residual = need[rows][:, None] - g
        mv = moves[cols[last]]
        gl = gains[cols[last]][rows]
        cl = np.where(mv.ok[rows], mv.cost[rows], np.inf)
        total = np.where(gl[:, None, :] >= residual[:, :, None] - TOL,
                         cost[:, :, None] + cl[:, None, :], np.inf)
        options = gl.shape[1]
        if mv.continuous:
            p_raw, p_score, p_cost = _partial(mv, rows, residual)
            total = np.concatenate([total, (cost + p_cost)[:, :, None]], axis=2)
        flat = total.reshape(r, -1)
        arg = np.argmin(flat, axis=1)
        val = flat[np.arange(r), arg]
        better = val < best - 1e-12
        if not better.any():
            continue
        best[better] = val[better]
        q, o = np.divmod(arg, total.shape[2])
        picks = np.unravel_index(q, shapes) if shapes else ()
        rr = np.flatnonzero(better)
        for c, pick in zip(others, picks, strict=True):
            mo = moves[cols[c]]
            raws[rr, c] = mo.raw[rows[rr], pick[rr]]
            tscores[rr, c] = mo.score[rows[rr], pick[rr]]
        is_partial = o[rr] >= options
        disc = rr[~is_partial]
        raws[disc, last] = mv.raw[rows[disc], o[disc]]
        tscores[disc, last] = mv.score[rows[disc], o[disc]]
        if mv.continuous:
            part = rr[is_partial]
            raws[part, last] = p_raw[part, q[part]]
            tscores[part, last] = p_score[part, q[part]]
    return best, raws, tscores


def _partial(mv: _Moves, rows: np.ndarray, residual: np.ndarray) \
        -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The continuous metric's smallest grid target adding `residual` points (r, Q)."""
    mt, scale = mv.metric, mv.scale
    a = mv.a[rows][:, None]
    s = mv.s[rows][:, None]
    x = mv.x[rows][:, None]
    span = mt.best - mt.worst
    with np.errstate(divide="ignore", invalid="ignore"):
        t = s + np.where(a > 0, residual / a, np.inf)
        frac = np.clip(t / scale, 0.0, 1.0)
        if mt.method == "log":
            raw = mt.worst + np.sign(span) * np.expm1(frac * np.log1p(abs(span)))
        else:
            raw = mt.worst + frac * span
    raw = _on_grid(raw, mt, mv.step)
    d = _direction(mt)
    lb = mv.lb[rows][:, None]
    raw = np.where(d > 0, np.fmax(raw, lb), np.fmin(raw, lb))
    raw = np.where(t > scale + 1e-9, np.nan, raw)
    if mt.max_change is not None:
        raw = np.where(np.abs(raw - x) > mt.max_change + 1e-9, np.nan, raw)
    tscore = METHODS[mt.method].score(raw.ravel(), mt, scale).reshape(raw.shape)
    reach = a * (tscore - s) >= residual - TOL
    moves_on = (raw - x) * d > 1e-12
    cost = np.where(reach & moves_on & mv.ok[rows, 1][:, None], np.abs(raw - x) / abs(span),
                    np.inf)
    return raw, tscore, cost


def _largest(moves: list[_Moves], gains: list[np.ndarray], usable: list[np.ndarray],
             rows: np.ndarray, k_star: np.ndarray, mandatory: np.ndarray,
             movable: np.ndarray, top: np.ndarray, target: np.ndarray,
             target_score: np.ndarray) -> None:
    """Beyond K_EXACT: the mandatory metrics and the biggest gains, each at its best."""
    extra = np.where(mandatory[rows], np.inf,
                     np.where(movable[rows] & (top[rows] > 0), top[rows], -np.inf))
    order = np.argsort(-extra, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(order.shape[1])[None, :], axis=1)
    chosen = ranks < k_star[rows][:, None]
    for j, mv in enumerate(moves):
        pick = np.argmax(usable[j][rows], axis=1)
        on = chosen[:, j]
        target[rows[on], j] = mv.raw[rows[on], pick[on]]
        target_score[rows[on], j] = mv.score[rows[on], pick[on]]


# ---------------------------------------------------------------- after the changes

def _capped(model: Model, raw_after: np.ndarray, triggered: np.ndarray, changed: np.ndarray,
            target: np.ndarray, moves: list[_Moves], upto: int) -> np.ndarray:
    """Health after the changes to metrics [0, upto): caps still firing still cap."""
    out = raw_after.copy()
    for k, rule in enumerate(model.rules):
        active = triggered[:, k].copy()
        j = _metric_index(model, rule.column)
        if j is not None and j < upto:
            lifted = changed[:, j] & ~_fires(model, rule, moves[j].metric, target[:, j])
            active &= ~lifted
        out = np.where(active, np.minimum(out, rule.cap), out)
    return out


def _text(values: np.ndarray) -> np.ndarray:
    """Values as the path text shows them: numbers to 6 decimals, no '.0', no '-0'."""
    if values.dtype != object or not len(values) or not isinstance(values[0], float):
        return values.astype(object)
    return np.char.mod("%.10g", np.round(values.astype(float), 6) + 0.0).astype(object)


def _shown(mv: _Moves, raw: np.ndarray) -> np.ndarray:
    """Raw values as a person enters them: labels, yes/no, numbers (exact)."""
    if mv.metric.method == "category":
        labels = np.array([label for label, _ in mv.metric.categories], dtype=object)
        return labels[raw.astype(int)]
    if mv.metric.method == "flag":
        return np.where(raw == 1.0, "yes", "no").astype(object)
    return (raw.astype(float) + 0.0).astype(object)


def _result(model: Model, scores: pd.DataFrame, moves: list[_Moves], s: np.ndarray,
            a: np.ndarray, raw_health: np.ndarray, triggered: np.ndarray,
            changed: np.ndarray, target: np.ndarray, target_score: np.ndarray,
            todo: np.ndarray, green: np.ndarray, reason: np.ndarray,
            names: list[str]) -> Paths:
    """The Paths answer; `names` are the metrics' columns as the accounts spell them."""
    n = len(scores)
    ids = scores["account_id"].to_numpy(dtype=object)
    i_idx, j_idx = np.nonzero(changed)
    cum_gain = np.cumsum(a * np.where(changed, target_score - s, 0.0), axis=1)
    after = np.full(len(i_idx), np.nan)
    frm = np.empty(len(i_idx), dtype=object)
    to = np.empty(len(i_idx), dtype=object)
    text = np.full(n, "", dtype=object)
    for j, mv in enumerate(moves):
        at = j_idx == j
        if not at.any():
            continue
        rows = i_idx[at]
        col = names[j]
        frm[at] = mv.now[rows] if mv.now is not None else _shown(mv, mv.x[rows])
        to[at] = _shown(mv, target[rows, j])
        upto = _capped(model, raw_health[rows] + cum_gain[rows, j], triggered[rows],
                       changed[rows], target[rows], moves, j + 1)
        after[at] = upto
        piece = col + " " + _text(frm[at]) + " \u2192 " + _text(to[at])
        text[rows] = np.where(text[rows] == "", piece, text[rows] + "; " + piece)
    steps = pd.DataFrame({"account_id": ids[i_idx],
                          "step": (np.cumsum(changed, axis=1)[i_idx, j_idx]).astype(int),
                          "column": np.array(names, dtype=object)[j_idx]
                          if len(j_idx) else [],
                          "from": frm, "to": to, "health_after": after},
                         columns=STEP_COLUMNS)
    text = np.where(green, ALREADY_GREEN, np.where(todo, text, reason))
    count = np.where(green, 0, changed.sum(axis=1))
    path_steps = pd.arrays.IntegerArray(count.astype(np.int64), ~(green | todo))
    summary = pd.DataFrame(dict(zip(PATH_COLUMNS, (text, path_steps), strict=True)),
                           index=scores.index)
    return Paths(summary=summary, steps=steps)
