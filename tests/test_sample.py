"""Synthetic sample: reproducible, complete for the default model, realistic and scoreable."""

from __future__ import annotations

import io
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from chs_excel import default_model, score
from chs_excel.io.sample import (
    FORMULA_LIKE_NAMES,
    GENERATING_WEIGHTS,
    make_sample,
    reference_date,
)

MODEL = default_model()
METRICS = [m.column for m in MODEL.metrics]
NUMERIC = [m.column for m in MODEL.metrics if m.method not in ("flag", "category")]


@pytest.fixture(scope="module")
def dirty() -> pd.DataFrame:
    return make_sample(2000, seed=3)


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return make_sample(2000, seed=3, dirty=False)


@pytest.fixture(scope="module")
def large():
    """20,000 clean accounts and their scores: enough for stable statistics."""
    accounts = make_sample(20_000, seed=2, dirty=False)
    return accounts, score(MODEL, accounts, as_of=reference_date(2)).scores


def test_same_seed_same_frame():
    pd.testing.assert_frame_equal(make_sample(500, seed=7), make_sample(500, seed=7))


def test_different_seed_different_frame():
    a, b = make_sample(500, seed=1), make_sample(500, seed=2)
    assert (a["account_name"] != b["account_name"]).mean() > 0.9
    assert not a["arr"].equals(b["arr"])


def test_rows_ids_and_columns(dirty):
    assert len(dirty) == 2000
    assert len(make_sample(0)) == 0
    assert dirty["account_id"].iloc[0] == "ACC-000001"
    assert dirty["account_id"].iloc[-1] == "ACC-002000"
    assert dirty["account_id"].is_unique
    missing = [c for c in METRICS if c not in dirty.columns]
    assert missing == []
    for column in ("account_name", "owner", "plan", "region", "arr", "renewal_date",
                   "override_score", "override_reason", "override_until", "renewed"):
        assert column in dirty.columns


def test_ids_widen_past_a_million_digits():
    from chs_excel.io.sample import _account_ids
    assert list(_account_ids(3)) == ["ACC-000001", "ACC-000002", "ACC-000003"]
    assert _account_ids(1_000_000)[-1] == "ACC-1000000"


def test_negative_n_is_an_error():
    with pytest.raises(ValueError):
        make_sample(-1)


def test_identity_columns_are_plausible(dirty):
    assert set(dirty["plan"]) == {"Starter", "Pro", "Enterprise"}
    shares = dirty["plan"].value_counts(normalize=True)
    assert shares["Starter"] > shares["Pro"] > shares["Enterprise"] > 0.08
    books = dirty["owner"].value_counts()
    assert 8 <= len(books) <= 15
    assert books.max() > 2 * books.min()
    median = dirty.groupby("plan")["arr"].median()
    assert median["Starter"] < median["Pro"] < median["Enterprise"]
    assert (dirty["arr"] > 0).all()
    ref = pd.Timestamp(reference_date(3))
    days = (dirty["renewal_date"] - ref).dt.days
    assert days.min() >= 0
    assert 330 <= days.max() <= 460
    assert set(dirty["renewed"].unique()) == {0, 1}


def test_reference_date_comes_from_the_seed_not_today():
    assert reference_date(0) == reference_date(0)
    assert reference_date(0) != reference_date(1)
    a, b = make_sample(50, seed=5), make_sample(50, seed=5)
    assert a["renewal_date"].equals(b["renewal_date"])


def test_formula_like_names_present(dirty):
    names = dirty["account_name"]
    assert names.str[0].isin(list("=+-@")).sum() >= 3
    assert names.isin(FORMULA_LIKE_NAMES).sum() >= 3
    assert names.nunique() > 1000


def test_metric_ranges(clean):
    x = clean
    assert x["licence_utilisation"].dropna().between(0, 100).all()
    assert x["nps"].dropna().isin(range(11)).all()
    assert x["csat"].dropna().between(1, 5).all()
    assert (x["tickets_30d"].dropna() >= 0).all()
    assert (x["feature_adoption"].dropna() % 1 == 0).all()
    assert x["email_engagement_pct"].dropna().between(0, 100).all()
    assert (x["days_late"].dropna() >= 0).all()
    assert set(x["contract"].dropna()) == {"Monthly", "Annual", "Multi-year"}
    multi = (x["contract"] == "Multi-year").groupby(x["plan"]).mean()
    assert multi["Enterprise"] > multi["Starter"]


def test_flags_come_in_mixed_valid_spellings(clean):
    spellings = set(clean["exec_sponsor"].dropna())
    assert len(spellings) >= 6
    assert spellings <= {"Yes", "No", "yes", "no", "TRUE", "FALSE", "y", "n", "1", "0"}


def test_blank_shares(large):
    accounts, _ = large
    blank = accounts[METRICS].isna().mean()
    assert 0.05 <= blank["nps"] <= 0.11          # surveys go unanswered
    assert 0.03 <= blank["csat"] <= 0.09
    assert 0.02 <= blank["days_since_qbr"] <= 0.08
    for usage in ("licence_utilisation", "logins_30d", "feature_adoption"):
        assert blank[usage] < 0.025
    no_tickets = accounts["tickets_30d"] == 0
    assert accounts.loc[no_tickets, "first_response_hours"].isna().all()


def test_dirty_sample_has_issues_in_metric_columns(dirty):
    result = score(MODEL, dirty, as_of=reference_date(3))
    issues = result.issues
    assert set(result.scores["band"]) >= {"Green", "Yellow", "Red"}
    metric_issues = issues[issues["column"].isin(METRICS)]
    share = len(metric_issues) / (len(dirty) * len(METRICS))
    assert 0.0015 <= share <= 0.006
    assert set(metric_issues["column"]) >= {"contract", "exec_sponsor", "nps", "days_late"}
    bad_words = set(metric_issues["value"].astype(str).str.strip().str.lower())
    assert not bad_words & {"", "na", "n/a", "nan", "null", "none"}
    expired = issues[issues["problem"].str.contains("expired")]
    assert len(expired) > 0
    assert set(issues["column"]) <= set(METRICS) | {"override_until"}


def test_dirty_numeric_columns_are_object(dirty, clean):
    for column in NUMERIC:
        assert dirty[column].dtype == object, column
        assert pd.api.types.is_float_dtype(clean[column]), column
    text = dirty["nps"].map(lambda v: isinstance(v, str))
    assert 0 < text.sum() < 30


def test_clean_sample_has_no_issues_and_all_bands(clean):
    result = score(MODEL, clean, as_of=reference_date(3))
    assert result.issues.empty
    counts = result.scores["band"].value_counts(normalize=True)
    for band in ("Green", "Yellow", "Red"):
        assert counts[band] > 0.05, band


def test_csv_round_trip_scores_the_same(dirty):
    buffer = io.StringIO()
    dirty.to_csv(buffer, index=False)
    buffer.seek(0)
    again = pd.read_csv(buffer)
    as_of = reference_date(3)
    first, second = score(MODEL, dirty, as_of=as_of), score(MODEL, again, as_of=as_of)
    np.testing.assert_allclose(first.scores["health"], second.scores["health"])
    assert len(first.issues) == len(second.issues)


def test_overrides_are_rare_and_some_expired(large, dirty):
    accounts, scores = large
    share = accounts["override_score"].notna().mean()
    assert 0.008 <= share <= 0.025
    assert accounts["override_score"].dropna().between(0, 100).all()
    assert accounts.loc[accounts["override_score"].notna(), "override_reason"].notna().all()
    ref = pd.Timestamp(reference_date(2))
    assert (accounts["override_until"] < ref).sum() == 0   # clean: nothing expired
    assert scores["overridden"].sum() == accounts["override_score"].notna().sum()
    expired = dirty["override_until"] < pd.Timestamp(reference_date(3))
    assert 0 < expired.sum() < dirty["override_score"].notna().sum()


def test_renewal_rate_about_85_percent(large):
    accounts, _ = large
    assert 0.82 <= accounts["renewed"].mean() <= 0.88


def test_health_predicts_renewal(large):
    accounts, scores = large
    has = scores["health"].notna()
    auc = roc_auc_score(accounts.loc[has, "renewed"], scores.loc[has, "health"])
    assert auc > 0.65
    by_band = accounts["renewed"].groupby(scores["band"]).mean()
    assert by_band["Green"] > by_band["Yellow"] > by_band["Red"]


def test_metrics_in_a_component_agree(large):
    accounts, scores = large
    for component in MODEL.components:
        cols = [f"{m.column}_score" for m in MODEL.metrics if m.component == component]
        corr = scores[cols].corr(method="spearman").to_numpy()
        assert corr[np.triu_indices(len(cols), 1)].min() > 0.15, component
    raw = accounts[["nps", "csat", "tickets_30d", "first_response_hours", "days_late",
                    "spend_trend_pct", "email_engagement_pct", "days_since_qbr",
                    "licence_utilisation", "feature_adoption"]].astype(float)
    rho = raw.corr(method="spearman")
    assert rho.loc["nps", "csat"] > 0.3
    assert rho.loc["licence_utilisation", "feature_adoption"] > 0.3
    assert rho.loc["tickets_30d", "first_response_hours"] > 0.2     # both bad when high
    assert rho.loc["days_late", "spend_trend_pct"] < -0.1
    assert rho.loc["email_engagement_pct", "days_since_qbr"] < -0.3


def test_components_correlate_through_shared_health(large):
    _, scores = large
    corr = scores[list(MODEL.components)].corr().to_numpy()
    off = corr[np.triu_indices(len(MODEL.components), 1)]
    assert off.min() > 0.08
    assert off.max() < 0.6


def test_generating_weights_are_recoverable(large):
    assert abs(sum(GENERATING_WEIGHTS.values()) - 1) < 1e-9
    assert set(GENERATING_WEIGHTS) == set(MODEL.components)
    accounts, scores = large
    comps = list(GENERATING_WEIGHTS)
    x = scores[comps].fillna(scores[comps].mean())
    x = (x - x.mean()) / x.std()
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(x.to_numpy(), accounts["renewed"])
    fitted = dict(zip(comps, fit.coef_[0], strict=True))
    assert sorted(comps, key=fitted.get) == sorted(comps, key=GENERATING_WEIGHTS.get)


def test_generation_is_vectorised():
    start = time.perf_counter()
    frame = make_sample(200_000, seed=1)
    assert len(frame) == 200_000
    assert time.perf_counter() - start < 15
