"""Calibration: AUC against scikit-learn, Wilson against SciPy, the fit against SciPy's
optimiser, recovery of the sample's generating weights, joins, bad inputs, the command."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score

from chs_excel.analytics.calibration import (
    calibrate,
    fit_nonnegative_logistic,
    join_outcomes,
    roc_auc,
    roc_curve,
    wilson,
)
from chs_excel.analytics.forecast import load_curve
from chs_excel.analytics.history import merge, snapshot
from chs_excel.core.engine import metric_score_column, score
from chs_excel.core.errors import ChsError, InputError
from chs_excel.core.model import default_model, load_model
from chs_excel.io.sample import GENERATING_WEIGHTS, make_sample, reference_date
from tests.cli_runner import digest, run

MODEL = default_model()
COMPONENTS = list(MODEL.components)
TOP = max(GENERATING_WEIGHTS, key=GENERATING_WEIGHTS.get)      # Usage
BOTTOM = min(GENERATING_WEIGHTS, key=GENERATING_WEIGHTS.get)   # Relationship


@pytest.fixture(scope="module")
def sample() -> tuple[pd.DataFrame, pd.DataFrame]:
    """30,000 sample accounts scored with the default model, and the scores + outcome."""
    accounts = make_sample(30_000, seed=21)
    scores = score(MODEL, accounts, as_of=reference_date(21)).scores
    return accounts, scores.assign(renewed=accounts["renewed"].to_numpy())


@pytest.fixture(scope="module")
def report(sample):
    return calibrate(sample[1], MODEL, where="sample")


# ---------------------------------------------------------------- measures

def test_auc_equals_sklearn_on_the_sample(sample) -> None:
    _, data = sample
    y, health = data["renewed"].to_numpy(float), data["health"].to_numpy(float)
    keep = ~np.isnan(health)
    assert roc_auc(y, health) == pytest.approx(roc_auc_score(y[keep], health[keep]),
                                               abs=1e-12)
    for c in COMPONENTS:
        v = data[c].to_numpy(float)
        k = ~np.isnan(v)
        assert roc_auc(y, v) == pytest.approx(roc_auc_score(y[k], v[k]), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6)), min_size=2, max_size=60))
def test_auc_equals_sklearn_with_ties(pairs: list[tuple[int, int]]) -> None:
    y = np.array([p[0] for p in pairs], dtype=float)
    s = np.array([p[1] for p in pairs], dtype=float)
    if len(np.unique(y)) < 2:
        assert np.isnan(roc_auc(y, s))
        return
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    curve = roc_curve(y, s, points=10_000)
    area = np.trapezoid(curve["true_positive_rate"], curve["false_positive_rate"])
    assert area == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_roc_curve_runs_from_corner_to_corner() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 5000).astype(float)
    s = y + rng.normal(0, 1, 5000)
    curve = roc_curve(y, s, points=201)
    assert len(curve) == 201
    assert tuple(curve.iloc[0]) == (0.0, 0.0) and tuple(curve.iloc[-1]) == (1.0, 1.0)
    assert curve["false_positive_rate"].is_monotonic_increasing
    assert curve["true_positive_rate"].is_monotonic_increasing


@pytest.mark.parametrize("k, n", [(8, 10), (0, 15), (15, 15), (437, 512)])
def test_wilson_interval_matches_scipy(k: int, n: int) -> None:
    low, high = wilson(np.array([k]), np.array([n]))
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert low[0] == pytest.approx(ci.low, abs=1e-9)
    assert high[0] == pytest.approx(ci.high, abs=1e-9)


def test_nonnegative_fit_matches_scipy_optimiser() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (4000, 4))
    x[:, 3] = 0.7 * x[:, 0] + 0.3 * rng.uniform(0, 1, 4000)  # collinear
    z = -1 + 3 * x[:, 0] + 1 * x[:, 1] - 2 * x[:, 2]
    y = (rng.uniform(0, 1, 4000) < 1 / (1 + np.exp(-z))).astype(float)
    penalty = 1e-3
    b0, beta = fit_nonnegative_logistic(x, y, penalty)

    def objective(theta: np.ndarray) -> float:
        zz = theta[0] + x @ theta[1:]
        return np.mean(np.logaddexp(0, zz) - y * zz) + penalty / 2 * theta[1:] @ theta[1:]
    ref = minimize(objective, np.zeros(5), method="L-BFGS-B",
                   bounds=[(None, None)] + [(0, None)] * 4, options={"ftol": 1e-15,
                                                                     "gtol": 1e-10})
    assert objective(np.r_[b0, beta]) <= ref.fun + 1e-9
    np.testing.assert_allclose(np.r_[b0, beta], ref.x, atol=2e-3)
    assert beta[2] == 0 and (beta >= 0).all()


# ---------------------------------------------------------------- the proof on the sample

def test_suggested_weights_recover_the_generating_order(report) -> None:
    table = report.component_weights
    for group, rows in table.groupby("weights"):
        suggested = rows.set_index("component")["suggested"]
        assert suggested.idxmax() == TOP, group
        assert suggested.idxmin() == BOTTOM, group
        current = rows.set_index("component")["current"]
        assert suggested.sum() == pytest.approx(current.sum(), abs=1e-9)
        assert (suggested >= 0).all()
    metrics = report.metric_weights.groupby("component")[["current", "suggested"]].sum()
    np.testing.assert_allclose(metrics["suggested"], metrics["current"], atol=1e-9)


def test_suggested_weights_raise_held_out_auc_over_equal_weights(report) -> None:
    auc = report.evaluation.set_index("weights")["held_out_auc"]
    assert auc["suggested weights"] > auc["equal weights"] + 0.005
    assert auc["suggested weights"] > auc["current weights"]
    rows = report.evaluation.set_index("weights")["held_out_rows"]
    assert 0.25 * 30_000 < rows["suggested weights"] < 0.35 * 30_000


def test_component_level_fit_from_history_without_segments(sample) -> None:
    """History keeps component scores only; a model without segments has one weight set."""
    model = MODEL.replace(segment_column=None, segment_weights={})
    data = sample[1].drop(columns=[metric_score_column(m) for m in MODEL.metrics])
    result = calibrate(data, model, where="history")
    suggested = result.component_weights.set_index("component")["suggested"]
    assert suggested.idxmax() == TOP and suggested.idxmin() == BOTTOM
    assert result.metric_weights is None
    assert any("metric weights not suggested" in n for n in result.notes)
    auc = result.evaluation.set_index("weights")["held_out_auc"]
    assert auc["suggested weights"] > auc["equal weights"]


def test_suggested_model_is_new_and_valid(report, tmp_path: Path) -> None:
    model = report.suggested_model(dt.date(2026, 5, 1))
    assert default_model() == MODEL  # untouched
    assert model.version == "1-calibrated-20260501"
    assert model.components == dict(zip(
        COMPONENTS, report.component_weights.query("weights == '(default)'")["suggested"],
        strict=True))
    assert set(model.segment_weights) == set(MODEL.segment_weights)
    path = tmp_path / "m2.yaml"
    model.save(path)
    assert load_model(path) == model


def test_tables_are_consistent(report, sample) -> None:
    _, data = sample
    by_band = report.churn_by_band.set_index("band")
    counts = data["band"].value_counts()
    for band in ("Green", "Yellow", "Red"):
        rows = data[data["band"] == band]
        assert by_band.loc[band, "rows"] == counts[band]
        assert by_band.loc[band, "churn_rate"] == pytest.approx(1 - rows["renewed"].mean())
    assert report.churn_by_quartile["rows"].sum() == data["quartile"].notna().sum()
    assert report.calibration["rows"].sum() == data["health"].notna().sum()
    assert len(report.calibration) == 10
    assert report.calibration["health_max"].is_monotonic_increasing
    band = report.band_probability.set_index("band")
    assert (band.loc[["Green", "Yellow", "Red"], "ci_low"]
            <= band.loc[["Green", "Yellow", "Red"], "renewal_rate"]).all()
    assert list(band["model_probability"].iloc[:3]) == [0.95, 0.80, 0.50]
    probs = np.asarray(report.curve.probability)
    assert (np.diff(probs) >= 0).all() and probs.min() >= 0 and probs.max() <= 1
    auc = report.auc.set_index("signal")
    assert {"health", *COMPONENTS, "nps"} <= set(auc.index)


def test_calibration_table_by_hand() -> None:
    model = MODEL
    health = np.arange(1.0, 21.0) * 5           # 5..100, two rows per decile
    band = np.where(health < 40, "Red", np.where(health >= 70, "Green", "Yellow"))
    y = (health > 30).astype(float)
    from chs_excel.analytics.calibration import calibration_table
    table = calibration_table(health, band.astype(object), y, model)
    assert list(table["rows"]) == [2] * 10
    first, last = table.iloc[0], table.iloc[-1]
    assert (first["health_min"], first["health_max"]) == (5, 10)
    assert first["predicted"] == 0.5 and first["actual"] == 0
    assert last["predicted"] == 0.95 and last["actual"] == 1
    assert table.iloc[3]["predicted"] == pytest.approx((0.5 + 0.8) / 2)  # 35 and 40


# ---------------------------------------------------------------- joins and bad inputs

def rows(ids: list[str], dates: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"account_id": ids, "date": pd.to_datetime(dates),
                         "health": 50.0, "band": "Yellow"})


def test_each_snapshot_meets_the_next_renewal_within_the_window() -> None:
    history = rows(["A", "A", "A", "B"],
                   ["2026-01-01", "2026-06-01", "2026-10-01", "2026-01-01"])
    outcomes = pd.DataFrame({"account_id": ["A", "A", "B"],
                             "renewed": ["yes", "No", 1],
                             "renewal_date": ["2026-03-01", "2026-09-01", "2027-06-01"]})
    joined, notes = join_outcomes(history, outcomes, where="h", outcomes_where="o",
                                  window_days=365)
    got = joined.set_index(["account_id", "date"])["renewed"]
    assert got[("A", pd.Timestamp("2026-01-01"))] == 1
    assert got[("A", pd.Timestamp("2026-06-01"))] == 0
    assert ("A", pd.Timestamp("2026-10-01")) not in got.index   # no later renewal
    assert ("B", pd.Timestamp("2026-01-01")) not in got.index   # renewal 17 months later
    assert any("2 snapshot rows have no renewal outcome within 365 days" in n for n in notes)


def test_churned_is_the_opposite_of_renewed() -> None:
    data = rows(["A", "B", "C"], ["2026-01-01"] * 3).assign(churned=["1", "0", "no"])
    joined, _ = join_outcomes(data, None, where="h")
    assert list(joined["renewed"]) == [0, 1, 1]


@pytest.mark.parametrize("outcomes, error, message", [
    (pd.DataFrame({"account_id": ["A", "B"], "renewed": ["yes", "maybe"]}), InputError,
     "column renewed must be 1/0 or yes/no; found 'maybe' in row 1"),
    (pd.DataFrame({"account_id": ["A", "B"], "renewed": [1, 1]}), ChsError,
     "all 2 rows with an outcome renewed: calibration is impossible"),
    (pd.DataFrame({"account_id": ["X", "Y"], "renewed": [1, 0]}), InputError,
     "no outcome matches an account in h"),
    (pd.DataFrame({"account_id": ["A", "B"], "renewed": [1, 0],
                   "renewal_date": ["2026-02-01", "someday"]}), InputError,
     "column renewal_date is not a date in row 1"),
    (pd.DataFrame({"account_id": ["A", "B"], "renewed": [1, 0], "churned": [0, 1]}),
     InputError, "both 'renewed' and 'churned'"),
    (pd.DataFrame({"account_id": ["A", "A"], "renewed": [1, 0]}), InputError,
     "more than one outcome"),
    (pd.DataFrame({"id": ["A"], "renewed": [1]}), InputError, "needs columns account_id"),
])
def test_bad_outcomes(outcomes: pd.DataFrame, error: type, message: str) -> None:
    history = pd.DataFrame({"account_id": ["A", "B"], "health": [10.0, 90.0]})
    if "renewal_date" in outcomes.columns:
        history["date"] = pd.Timestamp("2026-01-01")
    with pytest.raises(error, match=message):
        join_outcomes(history, outcomes, where="h", outcomes_where="o")


def test_history_from_an_older_model_is_aligned_and_reported(sample) -> None:
    _, data = sample
    old = data.head(12_000).rename(columns={"Usage": "usage "}).assign(Adoption=50.0)
    old = old.drop(columns=["Relationship", *(metric_score_column(m) for m in MODEL.metrics)])
    result = calibrate(old, MODEL, where="old", components=[
        "usage ", "Support", "Sentiment", "Financial", "Adoption"])
    assert any("dropped components that are not in model 'SaaS default'" in n
               and "Adoption" in n for n in result.notes)
    assert any("no scores in the data" in n and "Relationship" in n for n in result.notes)
    suggested = result.component_weights.query("weights == '(default)'") \
        .set_index("component")["suggested"]
    assert suggested["Relationship"] == MODEL.components["Relationship"]
    assert suggested.idxmax() == "Usage"
    unrelated = data.head(100)[["account_id", "health", "band", "renewed"]].assign(Foo=1.0)
    with pytest.raises(InputError, match="none of the model's components"):
        calibrate(unrelated, MODEL, where="x", components=["Foo"])


def test_model_versions_in_one_history_are_reported(sample) -> None:
    _, data = sample
    part = data.head(4000)
    model2 = MODEL.replace(version="2")
    first = snapshot(part.drop(columns=["Relationship"]).assign(Relationship=np.nan),
                     MODEL, dt.date(2025, 1, 1))
    second = snapshot(part, model2, dt.date(2025, 6, 1))
    history = merge(first, second)[0]
    rows_ = history.rows.merge(part[["account_id", "renewed"]], on="account_id")
    result = calibrate(rows_, model2, where="h", components=history.components)
    assert any("rows of SaaS default version 1 (4,000) have no Relationship" in n
               for n in result.notes)


# ---------------------------------------------------------------- the command

@pytest.fixture(scope="module")
def files(tmp_path_factory, sample) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("calib")
    accounts, data = sample
    scores = folder / "scores.csv"
    data.drop(columns=["renewed"]).head(6000).to_csv(scores, index=False)
    outcomes = folder / "outcomes.csv"
    accounts[["account_id", "renewed"]].head(6000).to_csv(outcomes, index=False)
    return {"scores": scores, "outcomes": outcomes, "folder": folder}


def test_calibrate_command_writes_report_model_and_curve(files) -> None:
    folder = files["folder"]
    before = {k: digest(files[k])
              for k in ("scores", "outcomes")}
    report_path = folder / "report.xlsx"
    code, out = run("calibrate", str(files["scores"]), "--outcomes", str(files["outcomes"]),
                    "-o", str(report_path), "--write-model", str(folder / "m2.yaml"),
                    "--write-curve", str(folder / "curve.yaml"), "--no-png")
    assert code == 0, out
    assert "Held-out AUC, suggested weights" in out
    with zipfile.ZipFile(report_path) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        tables = "".join(z.read(n).decode() for n in z.namelist()
                         if n.startswith("xl/tables/"))
    assert len(charts) == 3
    for name in ("ChurnByBand", "ChurnByQuartile", "AUC", "ROC", "CalibrationByDecile",
                 "BandProbability", "ComponentWeights", "MetricWeights"):
        assert f'name="{name}"' in tables
    model = load_model(folder / "m2.yaml")
    assert model.version.startswith("1-calibrated-")
    assert sum(model.components.values()) == pytest.approx(100)
    curve = load_curve(folder / "curve.yaml")
    code, out = run("forecast", str(files["scores"]), "--curve", str(folder / "curve.yaml"))
    assert code == 0 and "curve" in out
    assert curve.model == "SaaS default"
    after = {k: digest(files[k])
             for k in ("scores", "outcomes")}
    assert after == before


def test_calibrate_command_from_a_history_store(files, sample) -> None:
    folder = files["folder"]
    store = folder / "history.sqlite"
    for day in ("2025-01-01", "2025-07-01"):
        code, out = run("snapshot", str(files["scores"]), "--history", str(store),
                        "--date", day)
        assert code == 0, out
    accounts, _ = sample
    outcomes = folder / "dated.csv"
    accounts[["account_id", "renewed"]].head(6000).assign(
        renewal_date="2025-12-31").to_csv(outcomes, index=False)
    code, out = run("calibrate", str(store), "--outcomes", str(outcomes),
                    "-o", str(folder / "r2.xlsx"), "--no-png")
    assert code == 0, out
    assert "Rows (account snapshots with an outcome): 12,000" in out
    assert "Snapshots: 2" in out


def test_calibrate_command_bad_inputs_are_one_line(files) -> None:
    folder = files["folder"]
    bad = folder / "bad.csv"
    pd.read_csv(files["outcomes"]).assign(renewed="perhaps").to_csv(bad, index=False)
    code, out = run("calibrate", str(files["scores"]), "--outcomes", str(bad),
                    "-o", str(folder / "x.xlsx"), "--no-png")
    assert code == 1 and "must be 1/0 or yes/no" in out and "Traceback" not in out
    assert not (folder / "x.xlsx").exists()
    code, out = run("calibrate", str(files["scores"]), "-o", str(folder / "x.xlsx"))
    assert code == 1 and "--outcomes" in out
    code, out = run("calibrate", str(files["scores"]), "-o", str(folder / "x.csv"))
    assert code == 1 and "must end in .xlsx" in out


def test_calibrate_writes_chart_pngs(files) -> None:
    folder = files["folder"]
    code, out = run("calibrate", str(files["scores"]), "--outcomes", str(files["outcomes"]),
                    "-o", str(folder / "png.xlsx"))
    assert code == 0, out
    for name in ("roc", "churn-by-band", "calibration"):
        png = folder / f"png-{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 5000


def test_a_scores_csvs_action_and_path_columns_are_never_components(tmp_path: Path) -> None:
    """Issue 20: calibrating a `chs score` csv named action_priority and path_steps among
    'dropped components'."""
    from chs_excel.io.sample import make_sample
    from tests.cli_runner import run
    make_sample(300, seed=4).to_csv(tmp_path / "a.csv", index=False)
    assert run("score", str(tmp_path / "a.csv"), "-o", str(tmp_path / "s.csv"))[0] == 0
    header = (tmp_path / "s.csv").read_text().splitlines()[0]
    assert "action_priority" in header and "path_steps" in header
    code, out = run("calibrate", str(tmp_path / "s.csv"), "--outcomes", str(tmp_path / "a.csv"),
                    "-o", str(tmp_path / "c.xlsx"))
    assert code == 0, out
    assert "AUC" in out and "dropped components" not in out


def test_weights_only_calibration_takes_raw_accounts_with_an_outcome(tmp_path: Path) -> None:
    """Issue 20, item 4: `chs calibrate ACCOUNTS --write-model W.yaml` on the accounts file
    itself (a `renewed` column, no scores) gives what scoring first then calibrating with
    --outcomes gives, and writes a model with a renewal curve."""
    import yaml

    from chs_excel.io.sample import make_sample
    from tests.cli_runner import run
    make_sample(400, seed=2).to_csv(tmp_path / "a.csv", index=False)
    code, raw = run("calibrate", str(tmp_path / "a.csv"), "--write-model",
                    str(tmp_path / "w.yaml"), "-o", str(tmp_path / "raw.xlsx"))
    assert code == 0, raw
    assert run("score", str(tmp_path / "a.csv"), "-o", str(tmp_path / "s.csv"))[0] == 0
    code, scored = run("calibrate", str(tmp_path / "s.csv"), "--outcomes",
                       str(tmp_path / "a.csv"), "-o", str(tmp_path / "scored.xlsx"))
    assert code == 0, scored

    def auc_lines(text: str) -> list[str]:
        return [line for line in text.splitlines() if "AUC" in line]
    assert auc_lines(raw) and auc_lines(raw) == auc_lines(scored)
    written = yaml.safe_load((tmp_path / "w.yaml").read_text())
    assert len(written["renewal"]["curve"]) >= 2
    assert "dropped components" not in raw
