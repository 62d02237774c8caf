"""The model's calibrated renewal curve (health -> renewal probability).

Expected probabilities are worked out by hand from the curve's points (linear between
points, flat outside them); the live workbook recalculated by LibreOffice and CHS_SCORE are
compared with the engine, and the band map is checked as the fallback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from chs_excel.analytics.forecast import forecast_accounts
from chs_excel.app import udfs
from chs_excel.core.engine import score
from chs_excel.core.errors import ModelError
from chs_excel.core.model import Model, default_model, renewal_in_force
from chs_excel.io.accounts import read_accounts
from chs_excel.io.sample import make_sample, reference_date
from chs_excel.sheets.workbook import write_template
from chs_excel.xlsx import libreoffice as lo
from tests.test_formulas import PAD, assert_scores_equal
from tests.test_udfs import table_grids

CURVE = ((20.0, 0.30), (60.0, 0.70), (90.0, 0.98))


def curved() -> Model:
    return default_model().replace(renewal_curve=CURVE)


def by_hand(health: float) -> float:
    """The curve read by hand: 0.30 up to 20, +0.01 a point to 60, +0.28/30 to 90, flat."""
    if health <= 20:
        return 0.30
    if health <= 60:
        return 0.30 + (health - 20) * 0.01
    if health <= 90:
        return 0.70 + (health - 60) * 0.28 / 30
    return 0.98


def test_yaml_round_trip_and_shape() -> None:
    text = curved().to_yaml()
    data = yaml.safe_load(text)
    assert data["renewal"]["curve"] == [{"health": 20, "probability": 0.3},
                                        {"health": 60, "probability": 0.7},
                                        {"health": 90, "probability": 0.98}]
    assert data["renewal"]["probability"] == {"Green": 0.95, "Yellow": 0.8, "Red": 0.5}
    assert Model.from_dict(data) == curved()
    assert "curve" not in yaml.safe_load(default_model().to_yaml())["renewal"]


def test_table_round_trip_and_older_books_without_the_table() -> None:
    tables = curved().to_frame()
    assert tables["RenewalCurve"].to_dict("records") == [
        {"health": 20.0, "probability": 0.3}, {"health": 60.0, "probability": 0.7},
        {"health": 90.0, "probability": 0.98}]
    assert Model.from_frame(tables) == curved()
    older = {k: v for k, v in tables.items() if k != "RenewalCurve"}
    assert Model.from_frame(older).renewal_curve == ()


@pytest.mark.parametrize(("curve", "message"), [
    ([{"health": 50, "probability": 0.5}, {"health": 40, "probability": 0.6}],
     "renewal.curve point 2: health must be greater"),
    ([{"health": 50, "probability": 1.5}], "renewal.curve point 1: probability must be"),
    ([{"health": 50}], "renewal.curve point 1: needs health and probability"),
    ({"health": 50}, "renewal.curve: expected a list"),
    ([{"health": 50, "probability": 0.5, "p": 1}], "unknown key 'p'"),
])
def test_bad_curves_are_one_line_errors(curve: object, message: str) -> None:
    data = default_model().to_dict()
    data["renewal"]["curve"] = curve
    with pytest.raises(ModelError, match=message):
        Model.from_dict(data)


def test_engine_uses_the_curve_and_the_band_map_for_blank_health() -> None:
    accounts = make_sample(300, seed=3)
    scores = score(curved(), accounts, as_of=reference_date(3)).scores
    health = scores["health"].to_numpy(dtype=float)
    has = ~np.isnan(health)
    want = np.array([by_hand(h) for h in health[has]])
    assert np.allclose(scores["renewal_probability"].to_numpy(dtype=float)[has], want,
                       atol=1e-12)
    assert np.allclose(scores["expected_arr"].to_numpy(dtype=float)[has],
                       scores["arr"].to_numpy(dtype=float)[has] * want, atol=1e-6)
    # accounts without health: the band map's "No data" (none in the default: blank)
    assert scores.loc[~has, "renewal_probability"].isna().all()
    with_no_data = curved().replace(renewal_probability={
        **default_model().renewal_probability, "No data": 0.4})
    again = score(with_no_data, accounts, as_of=reference_date(3)).scores
    assert (again.loc[~has, "renewal_probability"] == 0.4).all()


def test_without_a_curve_the_band_map_is_in_force() -> None:
    accounts = make_sample(200, seed=4)
    scores = score(default_model(), accounts, as_of=reference_date(4)).scores
    want = scores["band"].map({"Green": 0.95, "Yellow": 0.80, "Red": 0.50})
    pd.testing.assert_series_equal(scores["renewal_probability"], want.astype(float),
                                   check_names=False)
    assert "band map" in renewal_in_force(default_model())
    assert "RenewalCurve (3 points" in renewal_in_force(curved())


def test_forecast_reads_the_models_curve() -> None:
    scores = pd.DataFrame({"account_id": ["a", "b", "c"], "arr": [100.0, 200.0, 300.0],
                           "renewal_date": ["2026-01-10", "2026-02-10", "2026-03-10"],
                           "band": ["Red", "Yellow", "Green"], "health": [40.0, 75.0, 95.0]})
    rows = forecast_accounts(scores, "scores.csv", model=curved())
    assert rows["probability"].tolist() == pytest.approx([0.5, 0.84, 0.98])
    plain = forecast_accounts(scores, "scores.csv", model=default_model())
    assert plain["probability"].tolist() == pytest.approx([0.5, 0.8, 0.95])


def test_live_workbook_and_chs_score_equal_the_engine(tmp_path: Path) -> None:
    model = curved()
    accounts = make_sample(150, seed=5)
    accounts.index = pd.RangeIndex(2, len(accounts) + 2)
    as_of = reference_date(5)
    book = tmp_path / "curve.xlsx"
    write_template(book, model, accounts, rows=len(accounts) + PAD, as_of=as_of)
    expected = score(model, accounts, as_of=as_of).scores
    assert expected["band"].nunique() >= 3
    assert_scores_equal(lo.recalculate(book, tmp_path / "lo"), expected)
    grids = table_grids(book)
    assert grids["RenewalCurve"] == [["health", "probability"], [20.0, 0.3], [60.0, 0.7],
                                     [90.0, 0.98]]
    names = ("Accounts", "Components", "Metrics", "Rules", "Settings", "Segments", "Levels",
             "RenewalProbability", "Playbooks")
    out = udfs.CHS_SCORE(*(grids[n] for n in names), None, grids["RenewalCurve"])
    j = out[0].index("renewal_probability")
    got = np.array([np.nan if r[j] in (None, "") else r[j] for r in out[1:]], dtype=float)
    today = score(model, read_accounts(book)).scores  # CHS_SCORE scores as of today
    want = today["renewal_probability"].to_numpy(dtype=float)
    assert np.allclose(got, want, equal_nan=True, atol=1e-12)
    has = ~np.isnan(got)
    assert np.allclose(got[has], [by_hand(h) for h in today["health"].to_numpy()[has]])
