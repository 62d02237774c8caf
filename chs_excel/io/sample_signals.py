"""Raw exports for the sample accounts: tickets, events, surveys and invoices.

`make_exports` writes, for accounts from `io.sample.make_sample`, the exports the default
signals model (core/default_signals_model.yaml) reads, so that its signals give back the
sample's logins_30d, tickets_30d, nps and csat (and a little dirt a real export has:
padded and differently-cased keys, keys of no account, rows after the as-of day, offsets,
blank priorities). Vectorised: rows are made with np.repeat, never a loop over accounts.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

DAY_S = 86_400


def _stamps(end: np.datetime64, seconds_back: np.ndarray) -> np.ndarray:
    return (end - seconds_back.astype("timedelta64[s]")).astype("datetime64[s]")


def make_exports(accounts: pd.DataFrame, as_of: dt.date, seed: int = 0
                 ) -> dict[str, pd.DataFrame]:
    """The four exports (name -> frame) for `accounts` as of `as_of`."""
    rng = np.random.default_rng(seed)
    ids = accounts["account_id"].astype(str).to_numpy()
    end = np.datetime64(as_of, "s") + np.timedelta64(DAY_S - 1, "s")  # 23:59:59
    return {"tickets": _tickets(rng, ids, accounts, end),
            "events": _events(rng, ids, accounts, end),
            "surveys": _surveys(rng, ids, accounts, end),
            "invoices": _invoices(rng, ids, end)}


def _counts(accounts: pd.DataFrame, column: str) -> np.ndarray:
    return np.nan_to_num(pd.to_numeric(accounts[column], errors="coerce").to_numpy(),
                         nan=0).clip(0).round().astype(int)


def _dirty_keys(rng: np.random.Generator, keys: np.ndarray) -> np.ndarray:
    """A few keys padded or in lower case, as exports from other systems write them."""
    out = keys.astype(object)
    pick = rng.random(len(out))
    out[pick < 0.03] = [f" {k} " for k in out[pick < 0.03]]
    low = (pick >= 0.03) & (pick < 0.06)
    out[low] = [k.lower() for k in out[low]]
    return out


def _tickets(rng: np.random.Generator, ids: np.ndarray, accounts: pd.DataFrame,
             end: np.datetime64) -> pd.DataFrame:
    recent = _counts(accounts, "tickets_30d")
    older = rng.poisson(recent + 1)
    keys = np.concatenate([np.repeat(ids, recent), np.repeat(ids, older), ["ACC-UNKNOWN"] * 3])
    back = np.concatenate([rng.integers(0, 30 * DAY_S, recent.sum()),
                           rng.integers(30 * DAY_S, 200 * DAY_S, older.sum()),
                           rng.integers(0, 30 * DAY_S, 3)])
    n = len(keys)
    frame = pd.DataFrame({
        "ticket_id": np.arange(10_001, 10_001 + n),
        "organization_id": _dirty_keys(rng, keys),
        "created_at": pd.Series(_stamps(end, back)).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "priority": rng.choice(["low", "normal", "high", "urgent", ""], n,
                               p=[0.35, 0.4, 0.15, 0.05, 0.05]),
        "status": rng.choice(["open", "pending", "solved", "closed"], n)})
    return frame.sort_values("created_at", kind="stable").reset_index(drop=True)


def _events(rng: np.random.Generator, ids: np.ndarray, accounts: pd.DataFrame,
            end: np.datetime64) -> pd.DataFrame:
    logins = _counts(accounts, "logins_30d")
    other = rng.poisson(logins // 2 + 2)
    old = rng.poisson(logins // 3 + 1)
    keys = np.concatenate([np.repeat(ids, logins), np.repeat(ids, other), np.repeat(ids, old)])
    kinds = np.concatenate([np.full(logins.sum(), "login"),
                            rng.choice(["view", "export", "invite"], other.sum()),
                            np.full(old.sum(), "login")])
    back = np.concatenate([rng.integers(0, 30 * DAY_S, logins.sum()),
                           rng.integers(0, 30 * DAY_S, other.sum()),
                           rng.integers(30 * DAY_S, 120 * DAY_S, old.sum())])
    n = len(keys)
    late = rng.random(n) < 0.01   # rows after the as-of day (not logins): never counted
    late[:logins.sum()] = False
    back = np.where(late, -rng.integers(1, 5 * DAY_S, n), back)
    kinds = np.where(late, "view", kinds)
    frame = pd.DataFrame({"account": keys, "event_time": pd.Series(_stamps(end, back))
                          .dt.strftime("%Y-%m-%d %H:%M:%S"),
                          "event_type": kinds, "user_id": rng.integers(1, 40, n)})
    return frame.sort_values("event_time", kind="stable").reset_index(drop=True)


def _surveys(rng: np.random.Generator, ids: np.ndarray, accounts: pd.DataFrame,
             end: np.datetime64) -> pd.DataFrame:
    nps = pd.to_numeric(accounts["nps"], errors="coerce").to_numpy()
    csat = pd.to_numeric(accounts["csat"], errors="coerce").to_numpy()
    has_nps, has_csat = ~np.isnan(nps), ~np.isnan(csat)
    nps_ids, nps_scores = ids[has_nps], nps[has_nps].round()
    # an older NPS answer, then the latest one (the sample's value)
    old_scores = rng.integers(0, 11, len(nps_ids)).astype(float)
    csat_ids, csat_scores = ids[has_csat], csat[has_csat]
    keys = np.concatenate([nps_ids, nps_ids, csat_ids])
    back = np.concatenate([rng.integers(120 * DAY_S, 300 * DAY_S, len(nps_ids)),
                           rng.integers(0, 90 * DAY_S, len(nps_ids)),
                           rng.integers(0, 90 * DAY_S, len(csat_ids))])
    stamps = _stamps(end, back)
    zoned = pd.Series(stamps + np.timedelta64(2, "h")).dt.strftime("%Y-%m-%dT%H:%M:%S+02:00")
    frame = pd.DataFrame({
        "response_id": np.arange(1, len(keys) + 1), "company": keys,
        "created_at": zoned,
        "survey_type": np.concatenate([np.full(2 * len(nps_ids), "nps"),
                                       np.full(len(csat_ids), "csat")]),
        "score": np.concatenate([old_scores, nps_scores, csat_scores])})
    return frame.sort_values("created_at", kind="stable").reset_index(drop=True)


def _invoices(rng: np.random.Generator, ids: np.ndarray, end: np.datetime64) -> pd.DataFrame:
    per = rng.integers(1, 4, len(ids))
    keys = np.repeat(ids, per)
    n = len(keys)
    back = rng.integers(-20 * DAY_S, 120 * DAY_S, n)
    return pd.DataFrame({
        "invoice_id": [f"in_{i:06d}" for i in range(1, n + 1)], "customer_id": keys,
        "due_date": pd.Series(_stamps(end, back)).dt.strftime("%Y-%m-%d"),
        "amount_due": rng.integers(50_00, 2_000_00, n),
        "status": rng.choice(["paid", "open", "uncollectible", "void"], n,
                             p=[0.75, 0.18, 0.03, 0.04])})


SIGNAL_COLUMNS = ("logins_30d", "tickets_30d", "nps", "csat")  # computed, not in accounts
