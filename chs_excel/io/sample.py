"""Synthetic accounts for the default model: seeded, vectorised, realistic enough to test with.

Generating story:
- one latent "account health" H ~ N(0, 1) per account; each component factor is
  ``f_c = 0.6 * H + 0.8 * e_c`` (standard normal, factors correlate 0.36 with each other);
- every metric is a noisy monotone transform of its component's factor (loading about 0.85),
  plus a modest plan effect where it is natural (seats drive logins, Enterprise has sponsors);
- ``latent_health = sum(GENERATING_WEIGHTS[c] * f_c)``; ``renewed ~ Bernoulli(sigmoid(a + b *
  latent_health))`` with ``b`` chosen so that ``b * sd(latent_health) = 2`` and ``a`` so that
  about 85% of accounts renew;
- blanks: surveys go unanswered (nps 8%, csat 6%), relationship data is patchy (3-5%),
  usage/billing data is nearly complete (0.5-2%); unhealthy accounts answer a little less;
  first_response_hours is blank when there were no tickets;
- ``outcome="curves"`` draws ``renewed`` from the raw metric values instead, through a known
  curve per metric (`TRUE_CURVES`, in log-odds): utilisation and nps rise and saturate,
  late invoices fall, tickets are an inverted U (no tickets = disengaged, many = trouble),
  contract and sponsor are fixed effects, the other metrics carry no signal. This is the
  ground truth `chs calibrate --learn-points` is tested against;
- ``dirty=True`` adds about 0.3% bad cells per metric column (text in numbers, unknown
  contract labels, odd flags) and lets some overrides expire, so the engine reports issues.

Dates are relative to `reference_date(seed)`, never to today: score the sample with
``score(default_model(), make_sample(n, seed), as_of=reference_date(seed))``.

>>> import time; t = time.perf_counter(); df = make_sample(1_000_000)  # doctest: +SKIP
>>> print(f"{time.perf_counter() - t:.1f} s")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from statistics import NormalDist

import numpy as np
import pandas as pd

GENERATING_WEIGHTS: dict[str, float] = {
    "Usage": 0.35, "Sentiment": 0.25, "Support": 0.18, "Financial": 0.14, "Relationship": 0.08,
}
SHARED_LOADING = 0.6          # corr(f_c, H); factors correlate SHARED_LOADING ** 2
METRIC_LOADING = 0.85         # corr(metric signal, its component factor)
RENEWAL_RATE = 0.85           # about this share of accounts renews
RENEWAL_SPREAD = 2.0          # b * sd(latent_health): how strongly health drives renewal
DIRTY_SHARE = 0.003           # share of bad cells per metric column when dirty=True
OVERRIDE_SHARE = 0.015        # share of accounts with a manual override

PLANS = {"Starter": 0.45, "Pro": 0.38, "Enterprise": 0.17}
REGIONS = {"North America": 0.45, "EMEA": 0.30, "APAC": 0.17, "LATAM": 0.08}
OWNERS = {  # uneven books of business
    "Priya Shah": 0.16, "Tom Becker": 0.13, "Ana Lima": 0.12, "Kenji Watanabe": 0.10,
    "Sofia Rossi": 0.09, "Marcus Green": 0.08, "Aisha Bello": 0.07, "Liam O'Connor": 0.06,
    "Chloe Martin": 0.06, "Diego Alvarez": 0.05, "Hannah Weiss": 0.05, "Noah Kim": 0.03,
}
ARR_MEDIAN = {"Starter": 6_000.0, "Pro": 30_000.0, "Enterprise": 150_000.0}
ARR_SIGMA = {"Starter": 0.5, "Pro": 0.55, "Enterprise": 0.65}
CONTRACT_SHARES = {  # Monthly, Annual, Multi-year per plan
    "Starter": (0.55, 0.40, 0.05), "Pro": (0.20, 0.65, 0.15), "Enterprise": (0.05, 0.55, 0.40),
}
CONTRACTS = ("Monthly", "Annual", "Multi-year")
ENTERPRISE = list(PLANS).index("Enterprise")
SEATS = {"Starter": 12.0, "Pro": 35.0, "Enterprise": 90.0}  # drive logins_30d
TICKET_RATE = {"Starter": 2.0, "Pro": 3.0, "Enterprise": 4.5}  # tickets a month at average
KEY_FEATURES = 12  # feature_adoption counts how many of these an account uses
SPONSOR_SHARE = {"Starter": 0.30, "Pro": 0.50, "Enterprise": 0.75}
OUTCOMES = ("latent", "curves")
CURVES_INTERCEPT = 2.0        # about 78% renew under outcome="curves"
TRUE_CURVES: dict[str, Callable[[np.ndarray], np.ndarray]] = {  # log-odds of renewal
    "licence_utilisation": lambda u: 1.4 * np.tanh((u.astype(float) - 55.0) / 20.0),
    "tickets_30d": lambda t: -0.45 * np.minimum(((t.astype(float) - 3.0) / 2.0) ** 2, 6.0),
    "nps": lambda v: 0.35 * (v.astype(float) - 7.0),
    "days_late": lambda d: -0.6 * np.log1p(d.astype(float)) / np.log(31.0) * 2.0,
    "contract": lambda c: pd.Series(c).map(
        {"Monthly": -0.7, "Annual": 0.0, "Multi-year": 0.6}).to_numpy(float),
    "exec_sponsor": lambda f: np.where(pd.Series(f).astype(str).str.lower().isin(
        ["yes", "y", "true", "1"]), 0.5, 0.0),
}
BLANK_SHARE = {
    "licence_utilisation": 0.01, "logins_30d": 0.005, "feature_adoption": 0.01,
    "tickets_30d": 0.005, "first_response_hours": 0.01, "nps": 0.08, "csat": 0.06,
    "days_late": 0.005, "spend_trend_pct": 0.02, "contract": 0.005, "exec_sponsor": 0.03,
    "email_engagement_pct": 0.03, "days_since_qbr": 0.05,
}
FLAG_SPELLINGS = (  # (true, false, share): the mix a real sheet has, all valid
    ("Yes", "No", 0.70), ("yes", "no", 0.10), ("TRUE", "FALSE", 0.08), ("y", "n", 0.06),
    ("1", "0", 0.06),
)
BAD_NUMBERS = ("abc", "12 users", "?", "tbd", "see notes", "approx 40", "ten")
BAD_CONTRACTS = ("Weekly", "Quarterly", "Annaul", "Pilot")
BAD_FLAGS = ("maybe", "unknown", "TBC", "?")
FORMULA_LIKE_NAMES = ("=Equals Ltd", "+Plus Labs", "@Home Corp", "-Minus Media",
                      "=1+1 Consulting", "+44 Telecom", "@Risk Analytics", "-Dash Logistics")
FORMULA_LIKE_SHARE = 0.006
NAME_FIRST = ("Blue", "Bright", "North", "Silver", "Red", "Green", "Summit", "Atlas", "Nova",
              "Pioneer", "Granite", "Harbor", "Cedar", "Iron", "Golden", "Clear", "Swift",
              "Quantum", "Urban", "Coastal", "Evergreen", "Apex", "Lunar", "Polar", "Crimson",
              "Oak", "Maple", "River", "Stone", "Falcon")
NAME_SECOND = ("Harbor", "River", "Peak", "Bridge", "Field", "Wave", "Ridge", "Point", "Forge",
               "Works", "Leaf", "Path", "Gate", "Stream", "Valley", "Light", "Line", "Rock",
               "Wind", "Star", "Crest", "Hill", "Bay", "Grove", "Spring")
NAME_SUFFIX = ("Ltd", "Inc", "GmbH", "Labs", "Systems", "Group", "Corp", "LLC", "Analytics",
               "Health", "Logistics", "Media", "Software", "Partners", "Foods", "Energy",
               "Retail", "Capital", "Robotics", "Studio")
OVERRIDE_REASONS = (  # (reason, low score?): CSM judgement calls
    ("Champion left, at risk", True), ("Escalation open with exec", True),
    ("Migration to competitor rumoured", True), ("Strategic logo, expansion signed", False),
    ("Usage dip explained: seasonal", False), ("Data gap: new tenant not synced", False),
)


def reference_date(seed: int = 0) -> dt.date:
    """The sample's 'today' for `seed`: renewals and override expiry are relative to it."""
    return dt.date(2026, 1, 1) + dt.timedelta(days=seed % 365)


def make_sample(n: int, seed: int = 0, *, dirty: bool = True,
                outcome: str = "latent") -> pd.DataFrame:
    """A seeded synthetic accounts table for the default model, with a `renewed` outcome
    driven by the latent health (`outcome="latent"`) or by `TRUE_CURVES` ("curves")."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    rng = np.random.default_rng(seed)
    ref = np.datetime64(reference_date(seed), "D")
    health = rng.standard_normal(n)
    factors = {c: SHARED_LOADING * health + np.sqrt(1 - SHARED_LOADING ** 2)
               * rng.standard_normal(n) for c in GENERATING_WEIGHTS}
    plan = rng.choice(len(PLANS), size=n, p=_shares(PLANS))

    def signal(component: str) -> np.ndarray:
        """A metric's standard-normal signal: its factor plus metric-specific noise."""
        return (METRIC_LOADING * factors[component]
                + np.sqrt(1 - METRIC_LOADING ** 2) * rng.standard_normal(n))

    out = {
        "account_id": _account_ids(n),
        "account_name": _account_names(rng, n),
        "owner": _choice(rng, OWNERS, n),
        "plan": np.array(list(PLANS), dtype=object)[plan],
        "region": _choice(rng, REGIONS, n),
        "arr": np.round(_per_plan(ARR_MEDIAN, plan)
                        * np.exp(_per_plan(ARR_SIGMA, plan) * rng.standard_normal(n)), -1),
        "renewal_date": (ref + rng.integers(1, 396, n).astype("timedelta64[D]")).astype(
            "datetime64[s]"),
    }
    out.update(_metrics(rng, plan, signal))
    _blank_out(rng, out, health)
    out["exec_sponsor"] = _flag_text(rng, out["exec_sponsor"])
    out.update(_overrides(rng, n, ref, dirty))
    out["renewed"] = _renewed(rng, factors)
    if outcome == "curves":
        out["renewed"] = _renewed_by_curves(rng, out)
    if dirty:
        _dirty(rng, out)
    return pd.DataFrame(out)


def latent_sd() -> float:
    """sd of latent_health = sum w_c f_c under the factor model (factors share H)."""
    w = np.array(list(GENERATING_WEIGHTS.values()))
    return float(np.sqrt((1 - SHARED_LOADING ** 2) * (w ** 2).sum()
                         + SHARED_LOADING ** 2 * w.sum() ** 2))


def renewal_coefficients() -> tuple[float, float]:
    """(a, b) of P(renewed) = sigmoid(a + b * latent_health), giving about RENEWAL_RATE."""
    b = RENEWAL_SPREAD / latent_sd()
    # probit approximation: E[sigmoid(a + s Z)] ~ sigmoid(a / sqrt(1 + pi s^2 / 8))
    logit = np.log(RENEWAL_RATE / (1 - RENEWAL_RATE))
    return float(logit * np.sqrt(1 + np.pi * RENEWAL_SPREAD ** 2 / 8)), float(b)


# ---------------------------------------------------------------- identity columns

def _shares(shares: dict[str, float]) -> np.ndarray:
    p = np.array(list(shares.values()))
    return p / p.sum()


def _choice(rng: np.random.Generator, shares: dict[str, float], n: int) -> np.ndarray:
    return np.array(list(shares), dtype=object)[rng.choice(len(shares), size=n,
                                                           p=_shares(shares))]


def _per_plan(values: dict[str, float], plan: np.ndarray) -> np.ndarray:
    """A per-plan parameter for every account (`plan` holds indices into PLANS)."""
    return np.array([values[p] for p in PLANS], dtype=float)[plan]


def _account_ids(n: int) -> np.ndarray:
    """'ACC-000001', ...: digits by arithmetic, so a million ids take a fraction of a second."""
    width = max(6, len(str(n)))
    chars = np.empty((n, 4 + width), dtype=np.uint8)
    chars[:, :4] = np.frombuffer(b"ACC-", dtype=np.uint8)
    chars[:, 4:] = np.arange(1, n + 1)[:, None] // 10 ** np.arange(width - 1, -1, -1) % 10 + 48
    return chars.view(f"S{4 + width}").ravel().astype(f"U{4 + width}").astype(object)


def _account_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """'Bright River Labs' or 'Harbor Systems', and a few names that look like formulas."""
    first = np.array(NAME_FIRST, dtype=object)[:, None, None]
    second = np.array(NAME_SECOND, dtype=object)[None, :, None]
    suffix = np.array(NAME_SUFFIX, dtype=object)[None, None, :]
    long = (first + " " + second + " " + suffix).ravel()
    short = (second + " " + suffix).ravel()
    names = np.where(rng.random(n) < 0.7, long[rng.integers(0, len(long), n)],
                     short[rng.integers(0, len(short), n)])
    odd = rng.random(n) < FORMULA_LIKE_SHARE
    odd_names = np.array(FORMULA_LIKE_NAMES, dtype=object)
    names[odd] = odd_names[rng.integers(0, len(odd_names), odd.sum())]
    return names


# ---------------------------------------------------------------- metrics

def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _metrics(rng: np.random.Generator, plan: np.ndarray,
             signal: Callable[[str], np.ndarray]) -> dict:
    """Every default-model metric as a noisy monotone transform of its factor."""
    n = len(plan)
    usage, support = signal("Usage"), signal("Support")
    tickets = rng.poisson(_per_plan(TICKET_RATE, plan) * np.exp(-0.6 * support)).astype(float)
    response = np.round(np.exp(np.log(10.0) - 1.1 * signal("Support")), 1)
    late_signal = signal("Financial")
    days_late = np.where(late_signal < -0.6, np.round(np.exp(
        2.5 + 1.2 * (-late_signal - 0.6) + 0.5 * rng.standard_normal(n))), 0.0)
    return {
        "licence_utilisation": np.round(100 * _sigmoid(0.9 + 0.9 * usage), 1),
        "logins_30d": rng.poisson(_per_plan(SEATS, plan) * np.exp(0.8 * signal("Usage") - 0.3)
                                  ).astype(float),
        "feature_adoption": rng.binomial(KEY_FEATURES, _sigmoid(0.1 + 1.0 * signal("Usage"))
                                         ).astype(float),
        "tickets_30d": tickets,
        "first_response_hours": np.where(tickets > 0, response, np.nan),  # no ticket, no wait
        "nps": np.clip(np.round(7.0 + 2.4 * signal("Sentiment")), 0, 10),
        "csat": np.clip(np.round(3.9 + 0.85 * signal("Sentiment"), 1), 1, 5),
        "days_late": np.minimum(days_late, 365.0),
        "spend_trend_pct": np.round(3.0 + 12.0 * signal("Financial"), 1),
        "contract": _contract(plan, signal("Financial")),
        "exec_sponsor": _sponsor(plan, signal("Relationship")),
        "email_engagement_pct": np.round(100 * _sigmoid(-0.6 + signal("Relationship")), 1),
        "days_since_qbr": np.clip(np.round(np.exp(
            np.log(75.0) - 0.1 * (plan == ENTERPRISE) - 0.6 * signal("Relationship"))), 0, 720),
    }


def _cut_points(shares: tuple[float, ...]) -> list[float]:
    """Standard-normal thresholds splitting N(0, 1) into the given shares."""
    return [NormalDist().inv_cdf(float(c)) for c in np.cumsum(shares)[:-1]]


def _contract(plan: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Monthly / Annual / Multi-year: healthier finances sign longer, shares set by plan."""
    cuts = np.array([_cut_points(CONTRACT_SHARES[p]) for p in PLANS])[plan]
    return np.array(CONTRACTS, dtype=object)[(s[:, None] > cuts).sum(axis=1)]


def _sponsor(plan: np.ndarray, s: np.ndarray) -> np.ndarray:
    """1.0 where the relationship signal clears the plan's sponsor threshold, else 0.0."""
    cut = {p: NormalDist().inv_cdf(1 - share) for p, share in SPONSOR_SHARE.items()}
    return (s > _per_plan(cut, plan)).astype(float)


def _flag_text(rng: np.random.Generator, flags: np.ndarray) -> np.ndarray:
    """Sponsor flags (1.0/0.0/NaN) written the many ways people type them; blanks stay blank."""
    spell = np.array([(t, f) for t, f, _ in FLAG_SPELLINGS], dtype=object)
    style = rng.choice(len(spell), size=len(flags), p=_shares(
        {t: share for t, _, share in FLAG_SPELLINGS}))
    text = spell[style, (flags != 1.0).astype(int)]
    text[np.isnan(flags)] = np.nan
    return text


def _blank_out(rng: np.random.Generator, out: dict, health: np.ndarray) -> None:
    """Blank each metric at its share; less healthy accounts answer a little less often."""
    tilt = np.exp(-0.3 * health - 0.045)  # E[tilt] = 1 for standard-normal health
    for column, share in BLANK_SHARE.items():
        values = out[column].copy()
        values[rng.random(len(health)) < share * tilt] = np.nan
        out[column] = values


# ---------------------------------------------------------------- overrides and outcome

def _overrides(rng: np.random.Generator, n: int, ref: np.datetime64, dirty: bool) -> dict:
    """A CSM override on ~1.5% of accounts; some expired only when `dirty` (they are issues)."""
    has = rng.random(n) < OVERRIDE_SHARE
    k = int(has.sum())
    pick = rng.integers(0, len(OVERRIDE_REASONS), k)
    low = np.array([lo for _, lo in OVERRIDE_REASONS], dtype=bool)[pick]
    days = rng.integers(14, 180, k)
    if dirty:
        days = np.where(rng.random(k) < 0.3, -rng.integers(1, 120, k), days)
    until = (ref + days.astype("timedelta64[D]")).astype("datetime64[s]")
    until[rng.random(k) < 0.2] = np.datetime64("NaT")  # no end date: never expires
    out = {"override_score": np.full(n, np.nan),
           "override_reason": np.full(n, np.nan, dtype=object),
           "override_until": np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")}
    out["override_score"][has] = np.where(low, rng.integers(3, 8, k), rng.integers(15, 19, k)) * 5
    out["override_reason"][has] = np.array([r for r, _ in OVERRIDE_REASONS], dtype=object)[pick]
    out["override_until"][has] = until
    return out


def _renewed(rng: np.random.Generator, factors: dict[str, np.ndarray]) -> np.ndarray:
    """1/0 outcome: Bernoulli(sigmoid(a + b * latent_health))."""
    latent = sum(w * factors[c] for c, w in GENERATING_WEIGHTS.items())
    a, b = renewal_coefficients()
    return (rng.random(len(latent)) < _sigmoid(a + b * latent)).astype("int64")


def true_curve_effects(frame: pd.DataFrame | dict) -> dict[str, np.ndarray]:
    """Each metric's contribution to the log-odds of renewal under `outcome="curves"`
    (blank values contribute 0)."""
    return {column: np.nan_to_num(curve(np.asarray(frame[column])))
            for column, curve in TRUE_CURVES.items()}


def _renewed_by_curves(rng: np.random.Generator, out: dict) -> np.ndarray:
    """1/0 outcome: Bernoulli(sigmoid(intercept + sum of the true curves))."""
    z = CURVES_INTERCEPT + sum(true_curve_effects(out).values())
    return (rng.random(len(z)) < _sigmoid(z)).astype("int64")


def _dirty(rng: np.random.Generator, out: dict) -> None:
    """Put ~DIRTY_SHARE bad cells in each metric column (numbers become object columns)."""
    for column in BLANK_SHARE:
        bad = rng.random(len(out[column])) < DIRTY_SHARE
        if not bad.any():
            continue
        words = (BAD_CONTRACTS if column == "contract" else
                 BAD_FLAGS if column == "exec_sponsor" else BAD_NUMBERS)
        values = out[column].astype(object)
        values[bad] = np.array(words, dtype=object)[rng.integers(0, len(words), bad.sum())]
        out[column] = values
