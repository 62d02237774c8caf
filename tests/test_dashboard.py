"""The values Dashboard (`chs_refresh`) has the live Dashboard's sections, rows and order."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from chs_excel.core.engine import score
from chs_excel.core.model import default_model
from chs_excel.io.sample import make_sample
from chs_excel.sheets.dashboard import dashboard_sections

MODEL = default_model()


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    accounts = make_sample(300, seed=3)
    accounts.loc[accounts.index[:5], "owner"] = None   # some accounts have no owner
    return score(MODEL, accounts, as_of=dt.date(2026, 6, 1)).scores


def test_sections_in_the_live_sheets_order(scores: pd.DataFrame) -> None:
    titles = [t for t, _ in dashboard_sections(MODEL, scores)]
    assert titles == ["Accounts by band", "By quartile", "Largest-ARR Red accounts (top 10)",
                      "Health distribution", "Coverage", "Mean health by owner",
                      "Mean health by segment"]


def test_four_quartile_rows_with_their_names(scores: pd.DataFrame) -> None:
    table = dict(dashboard_sections(MODEL, scores))["By quartile"]
    assert table["quartile"].tolist() == [1, 2, 3, 4]
    assert table["label"].tolist() == ["Top 25%", "Middle 50% (upper)", "Middle 50% (lower)",
                                       "Bottom 25%"]
    assert table["accounts"].tolist() == [int((scores["quartile"] == q).sum())
                                          for q in (1, 2, 3, 4)]
    assert table["accounts"].sum() == scores["health"].notna().sum()


def test_owners_in_order_of_appearance_then_no_owner(scores: pd.DataFrame) -> None:
    table = dict(dashboard_sections(MODEL, scores))["Mean health by owner"]
    assert table["owner"].iloc[-1] == "(no owner)"         # rows 1-5 have no owner
    assert table["accounts"].iloc[-1] == 5
    named = scores["owner"].dropna().drop_duplicates().tolist()
    assert table["owner"].tolist()[:-1] == named
    assert table["accounts"].sum() == len(scores)           # every account in one row
    ann = table.set_index("owner").loc[named[0]]
    mine = scores[scores["owner"] == named[0]]
    assert ann["mean_health"] == pytest.approx(mine["health"].mean())
    assert ann["red"] == (mine["band"] == "Red").sum()


def test_coverage_counts(scores: pd.DataFrame) -> None:
    table = dict(dashboard_sections(MODEL, scores))["Coverage"].set_index("measure")
    assert table.loc["Scored accounts", "accounts"] == len(scores)
    assert table.loc["Low data (below min_coverage)", "accounts"] == \
        scores["low_data"].sum()
    assert table.loc["Capped by a critical rule", "accounts"] == \
        (scores["capped_by"].fillna("") != "").sum()
    assert table.loc["Mean coverage", "accounts"] == pytest.approx(scores["coverage"].mean())


def test_health_distribution_counts_each_tenth_of_the_scale(scores: pd.DataFrame) -> None:
    table = dict(dashboard_sections(MODEL, scores))["Health distribution"]
    assert table["health"].tolist()[:2] == ["0–10", "10–20"]
    assert table["health"].iloc[-1] == "90–100"
    h = scores["health"]
    assert table["accounts"].iloc[3] == ((h >= 30) & (h < 40)).sum()
    assert table["accounts"].iloc[-1] == ((h >= 90) & (h <= 100)).sum()  # 100 counts
    assert table["accounts"].sum() == h.notna().sum()
    assert table["arr"].iloc[5] == pytest.approx(scores.loc[(h >= 50) & (h < 60), "arr"].sum())
    assert table["share"].sum() == pytest.approx(1)
    assert table["accounts"].nunique() > 2                 # not a quarter each


def test_largest_red_shows_when_they_renew_and_why(scores: pd.DataFrame) -> None:
    table = dict(dashboard_sections(MODEL, scores))["Largest-ARR Red accounts (top 10)"]
    assert list(table.columns) == ["account_name", "account_id", "owner", "arr",
                                   "renewal_date", "health", "points_at_stake",
                                   "weakest_component", "capped_by"]
    red = scores[scores["band"] == "Red"].nlargest(10, "arr")
    assert table["arr"].tolist() == red["arr"].tolist()
    assert table["renewal_date"].tolist() == red["renewal_date"].tolist()
    assert table["points_at_stake"].tolist() == pytest.approx(red["points_at_stake"].tolist())
