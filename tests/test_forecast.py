"""Renewal forecast: totals reconcile, hand-computed cases, curves, bad inputs, the command."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import python_calamine as calamine
import xlsxwriter

from chs_excel.analytics.forecast import (
    RenewalCurve,
    fiscal_year_window,
    forecast_accounts,
    load_curve,
    renewal_forecast,
    whole,
)
from chs_excel.core.engine import score
from chs_excel.core.errors import ChsError, InputError, ModelError
from chs_excel.core.model import default_model
from chs_excel.io.sample import make_sample, reference_date
from chs_excel.io.scores import read_scores
from chs_excel.io.workbook import read_book_model
from tests.cli_runner import digest, run

MODEL = default_model()


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    accounts = make_sample(1500, seed=11)
    accounts.loc[accounts.index[::37], "renewal_date"] = pd.NaT   # some without a date
    return score(MODEL, accounts, as_of=reference_date(11)).scores


def tiny() -> pd.DataFrame:
    """Six accounts over two months, every number easy to check by hand."""
    return pd.DataFrame({
        "account_id": ["a", "b", "c", "d", "e", "f"],
        "owner": ["Ann", "Ann", "Bob", "Bob", None, "Ann"],
        "arr": [1000.0, 2000.0, 4000.0, 8000.0, 500.0, 300.0],
        "renewal_date": pd.to_datetime(["2026-03-05", "2026-03-20", "2026-03-31",
                                        "2026-04-01", "2026-04-15", None]),
        "band": ["Green", "Yellow", "Red", "Yellow", "No data", "Green"],
        "health": [80.0, 55.0, 20.0, 60.0, np.nan, 90.0]})


AS_OF = dt.date(2026, 3, 10)


def test_tiny_forecast_by_hand() -> None:
    accounts = forecast_accounts(tiny(), "tiny", model=MODEL)
    result = renewal_forecast(accounts, as_of=AS_OF, by="month")
    rows = result.table.set_index("period")
    assert list(rows.index) == ["Already past, not renewed yet", "2026-03", "2026-04",
                                "After 2026-04", "No renewal date"]
    past, march, april, after, no_date = result.table.to_dict("records")
    assert march["starts"] == AS_OF and march["ends"] == dt.date(2026, 3, 31)
    assert april["starts"] == dt.date(2026, 4, 1) and past["ends"] == dt.date(2026, 3, 9)
    assert (past["accounts"], march["accounts"], april["accounts"], after["accounts"],
            no_date["accounts"]) == (1, 2, 2, 0, 1)
    assert (past["arr"], march["arr"], april["arr"], no_date["arr"]) == (1000, 6000, 8500, 300)
    # expected: ARR x band probability (Green .95, Yellow .80, Red .50, No data none: 0)
    assert past["expected_arr"] == pytest.approx(950)
    assert march["expected_arr"] == pytest.approx(1600 + 2000)
    assert april["expected_arr"] == pytest.approx(6400)
    assert no_date["expected_arr"] == pytest.approx(285)
    # best: Green and Yellow renew, Red and No data at their probability
    assert march["best_case"] == pytest.approx(2000 + 2000)
    assert april["best_case"] == pytest.approx(8000 + 0)
    # worst: only Green renews, at its probability
    assert march["worst_case"] == 0 and april["worst_case"] == 0
    assert past["worst_case"] == pytest.approx(950) and no_date["worst_case"] == 285
    assert march["arr_at_risk"] == 4000 and april["arr_at_risk"] == 0
    assert march["green_arr"] == 0 and march["yellow_arr"] == 2000
    assert april["no_data_arr"] == 500
    assert result.totals["arr"] == 15800 and result.totals["accounts"] == 6
    owners = result.by_owner.set_index(["period", "owner"])
    assert owners.loc[("2026-03", "Ann"), "arr"] == 2000
    assert owners.loc[("2026-04", "(no owner)"), "accounts"] == 1
    assert any("1 accounts (ARR 300) have no renewal date" in n for n in result.notes)
    assert any("no renewal probability" in n for n in result.notes)


def test_quarters_follow_the_fiscal_year_start() -> None:
    accounts = forecast_accounts(tiny(), "tiny", model=MODEL)
    calendar = renewal_forecast(accounts, as_of=AS_OF)
    assert calendar.by == "quarter"  # the default period, as on the workbook
    assert list(calendar.periods["period"]) == ["FY2026 Q1", "FY2026 Q2"]
    # a fiscal year starting in February: Feb-Apr 2026 is Q1 of FY2027 (named by its end)
    february = renewal_forecast(accounts, as_of=AS_OF, fiscal_year_start=2)
    assert list(february.periods["period"]) == ["FY2027 Q1"]
    assert february.periods["ends"].iloc[0] == dt.date(2026, 4, 30)
    assert february.periods["accounts"].iloc[0] == 4     # 3/20, 3/31, 4/01, 4/15
    october = renewal_forecast(accounts, as_of=dt.date(2026, 1, 5), fiscal_year_start=10)
    assert list(october.periods["period"]) == ["FY2026 Q2", "FY2026 Q3"]  # Jan-Mar, Apr-Jun
    april = renewal_forecast(accounts, as_of=AS_OF, fiscal_year_start=4)
    assert list(april.periods["period"]) == ["FY2026 Q4", "FY2027 Q1"]
    for result in (calendar, february, october, april):
        assert result.totals["arr"] == 15800


def test_tiny_likely_range_and_fiscal_years_by_hand() -> None:
    """P10/P90 = expected -/+ 1.2816 sd, variance ARR^2 p (1 - p), within 0..ARR."""
    accounts = forecast_accounts(tiny(), "tiny", model=MODEL)
    result = renewal_forecast(accounts, as_of=AS_OF, by="month")
    march = result.table.set_index("period").loc["2026-03"]
    # b: 2000 Yellow .8, c: 4000 Red .5 -> variance 2000^2 .8 .2 + 4000^2 .5 .5
    sd = (2000 ** 2 * 0.16 + 4000 ** 2 * 0.25) ** 0.5
    assert march["likely_low"] == pytest.approx(3600 - 1.2815515655446004 * sd)
    assert march["likely_high"] == pytest.approx(min(6000, 3600 + 1.2815515655446004 * sd))
    # a Green-only row: 1000 at .95 -> sd 1000 * sqrt(.0475), high capped at 1000
    past = result.table.set_index("period").loc["Already past, not renewed yet"]
    assert past["likely_high"] == 1000 and past["likely_low"] == pytest.approx(
        950 - 1.2815515655446004 * 1000 * 0.0475 ** 0.5)
    # the Total's range comes from all accounts' variance, not the rows' ranges added
    variance = sum(a * a * p * (1 - p) for a, p in [(1000, .95), (2000, .8), (4000, .5),
                                                    (8000, .8), (300, .95)])
    assert result.totals["likely_low"] == pytest.approx(
        result.totals["expected_arr"] - 1.2815515655446004 * variance ** 0.5)
    assert result.totals["likely_high"] == 15800    # within the ARR: the cap holds here
    # fiscal year from April: March 2026 is FY2026, April 2026 FY2027
    april = renewal_forecast(accounts, as_of=AS_OF, fiscal_year_start=4)
    years = april.by_fiscal_year.set_index("fiscal_year")
    assert list(years.index) == ["FY2026", "FY2027"]
    assert years.loc["FY2026", "arr"] == 6000 and years.loc["FY2027", "arr"] == 8500
    assert years.loc["FY2026", "starts"] == AS_OF
    assert years.loc["FY2027", "ends"] == dt.date(2026, 6, 30)   # the last quarter's end


def test_forecast_by_parent_splits_each_period_by_parent_id() -> None:
    frame = tiny().assign(parent_id=["G1", "G1", " G2", None, "G2", "G1"])
    result = renewal_forecast(forecast_accounts(frame, "tiny", model=MODEL), as_of=AS_OF,
                              by="month")
    parents = result.by_parent.set_index(["period", "parent_id"])
    # March: b (2000, G1) and c (4000, G2); April: d (8000, none) and e (500, G2)
    assert parents.loc[("2026-03", "G1"), "arr"] == 2000
    assert parents.loc[("2026-03", "G2"), "arr"] == 4000
    assert parents.loc[("2026-04", "(no parent)"), "arr"] == 8000
    assert parents.loc[("No renewal date", "G1"), "accounts"] == 1
    assert parents["arr"].sum() == 15800 and "likely_low" in parents.columns
    assert renewal_forecast(forecast_accounts(tiny(), "tiny", model=MODEL),
                            as_of=AS_OF).by_parent.empty


def test_a_future_as_of_calls_earlier_renewals_due_not_past() -> None:
    accounts = forecast_accounts(tiny(), "tiny", model=MODEL)
    ahead = renewal_forecast(accounts, as_of=AS_OF, by="month", today=dt.date(2026, 1, 1))
    assert ahead.table["period"].iloc[0] == "Due before the as-of date"
    assert ahead.table["arr"].iloc[0] == 1000 and ahead.table["kind"].iloc[0] == "past"
    assert any("row 'Due before the as-of date'" in n for n in ahead.notes)
    now = renewal_forecast(accounts, as_of=AS_OF, by="month", today=AS_OF)
    assert now.table["period"].iloc[0] == "Already past, not renewed yet"


def test_from_to_and_fiscal_year_choose_periods_and_keep_the_as_of() -> None:
    accounts = forecast_accounts(tiny(), "tiny", model=MODEL)
    result = renewal_forecast(accounts, as_of=AS_OF, by="month", start=dt.date(2026, 4, 2),
                              end=dt.date(2026, 4, 30))
    rows = result.table.set_index("period")
    assert list(rows.index) == ["Already past, not renewed yet",
                                "Between the as-of date and the periods shown", "2026-04",
                                "After 2026-04", "No renewal date"]
    # the as-of date stays: 3/05 is still past; 3/20 and 3/31 fall before April
    assert rows.loc["Already past, not renewed yet", "arr"] == 1000
    assert rows.loc["Between the as-of date and the periods shown", "arr"] == 6000
    assert rows.loc["Between the as-of date and the periods shown", "starts"] == AS_OF
    assert rows.loc["2026-04", "arr"] == 8500 and result.totals["arr"] == 15800
    window = fiscal_year_window("FY2027", 4)
    assert window == (dt.date(2026, 4, 1), dt.date(2027, 3, 31))
    assert fiscal_year_window("fy2026", 1) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    fy = renewal_forecast(accounts, as_of=AS_OF, fiscal_year_start=4, start=window[0],
                          end=window[1])
    assert list(fy.periods["period"]) == ["FY2027 Q1", "FY2027 Q2", "FY2027 Q3", "FY2027 Q4"]
    assert fy.totals["arr"] == 15800
    for bad, message in (({"start": dt.date(2026, 5, 1), "end": dt.date(2026, 4, 1)},
                          "before --from"),
                         ({"end": dt.date(2026, 1, 1)}, "before the as-of date"),
                         ({"end": dt.date(2026, 5, 1), "horizon": 2}, "not both")):
        with pytest.raises(ChsError, match=message):
            renewal_forecast(accounts, as_of=AS_OF, **bad)
    with pytest.raises(ChsError, match="FY2028"):
        fiscal_year_window("2028", 1)
    with pytest.raises(ChsError, match="outside the dates chs handles"):
        fiscal_year_window("FY9999", 4)


def test_forecast_command_fiscal_year_option(tmp_path: Path) -> None:
    frame = tiny().assign(renewal_probability=[.95, .8, .5, .8, None, .95])
    frame.to_csv(tmp_path / "scores.csv", index=False)
    code, out = run("forecast", str(tmp_path / "scores.csv"), "--as-of", "2026-03-10",
                    "--fiscal-year", "FY2027", "--fiscal-year-start", "4")
    assert code == 0, out
    assert "FY2027 Q1 (2026-04-01 to 2026-06-30)" in out
    assert "Between the as-of date and the periods shown (2026-03-10 to 2026-03-31)" in out
    assert "By fiscal year" in out and "likely P10" in out
    code, out = run("forecast", str(tmp_path / "scores.csv"), "--fiscal-year", "2027")
    assert code != 0 and "FY2028" in out and "Traceback" not in out


def test_horizon_puts_later_renewals_on_the_after_row() -> None:
    accounts = forecast_accounts(tiny(), "tiny", model=MODEL)
    result = renewal_forecast(accounts, as_of=dt.date(2026, 2, 1), by="month", horizon=1)
    rows = result.table.set_index("period")
    assert list(rows.index) == ["Already past, not renewed yet", "2026-02", "After 2026-02",
                                "No renewal date"]
    assert rows.loc["2026-02", "accounts"] == 0   # an empty period inside the range is 0
    assert rows.loc["After 2026-02", "accounts"] == 5
    assert rows["arr"].sum() == 15800
    assert any("renew after 2026-02" in n for n in result.notes)


def test_periods_stop_at_the_last_renewal() -> None:
    """No empty quarters after the last renewal (they read as a revenue cliff)."""
    accounts = forecast_accounts(tiny(), "tiny", model=MODEL)
    result = renewal_forecast(accounts, as_of=dt.date(2025, 6, 1))
    assert list(result.periods["period"]) == ["FY2025 Q2", "FY2025 Q3", "FY2025 Q4",
                                              "FY2026 Q1", "FY2026 Q2"]
    assert list(result.periods["accounts"]) == [0, 0, 0, 3, 2]
    empty = result.by_band[result.by_band["period"] == "FY2025 Q3"]
    assert len(empty) == 4 and empty["arr"].sum() == 0
    all_past = renewal_forecast(accounts, as_of=dt.date(2030, 1, 1), today=dt.date(2030, 1, 1))
    assert all_past.table.set_index("period").loc["Already past, not renewed yet",
                                                  "accounts"] == 5


def test_scenarios_on_sample_computed_independently(scores: pd.DataFrame) -> None:
    """Worst case = Green ARR x Green probability; best = Green + Yellow ARR + the rest
    at their probability; expected in between; every row splits by band and owner."""
    as_of = reference_date(11) + dt.timedelta(days=120)
    accounts = forecast_accounts(scores, "sample", model=MODEL)
    result = renewal_forecast(accounts, as_of=as_of)
    arr = scores["arr"].fillna(0)
    p = scores["band"].map(MODEL.renewal_probability).fillna(0)
    green, yellow = scores["band"] == "Green", scores["band"] == "Yellow"
    t = result.totals
    assert t["arr"] == pytest.approx(arr.sum(), rel=1e-12)
    assert t["accounts"] == len(scores)
    assert t["worst_case"] == pytest.approx((arr * p)[green].sum(), rel=1e-12)
    assert t["best_case"] == pytest.approx(arr[green | yellow].sum()
                                           + (arr * p)[~(green | yellow)].sum(), rel=1e-12)
    assert t["arr_at_risk"] == pytest.approx(arr[scores["band"] == "Red"].sum(), rel=1e-12)
    assert t["worst_case"] <= t["expected_arr"] <= t["best_case"] <= t["arr"]
    rows = result.table.set_index("period")
    by_band = result.by_band.groupby("period")[["accounts", "arr", "expected_arr"]].sum()
    for col in ("accounts", "arr", "expected_arr"):
        np.testing.assert_allclose(by_band.loc[rows.index, col], rows[col], rtol=1e-12)
    band_cols = rows[["green_arr", "yellow_arr", "red_arr", "no_data_arr"]].sum(axis=1)
    np.testing.assert_allclose(band_cols, rows["arr"], rtol=1e-12)
    # Independent: a plain loop over the accounts, quarter by quarter from as_of.
    expected, count = defaultdict(float), defaultdict(int)
    for rec in scores.to_dict("records"):
        when = rec["renewal_date"]
        if pd.isna(when):
            key = "No renewal date"
        elif when.date() < as_of:
            key = "Already past, not renewed yet"
        else:
            key = f"FY{when.year} Q{(when.month - 1) // 3 + 1}"
        count[key] += 1
        value = 0.0 if np.isnan(rec["arr"]) else rec["arr"]
        expected[key] += value * MODEL.renewal_probability.get(rec["band"], 0.0)
    assert count["Already past, not renewed yet"] > 0 and count["No renewal date"] > 0
    for key in count:
        assert rows.loc[key, "accounts"] == count[key]
        assert rows.loc[key, "expected_arr"] == pytest.approx(expected[key], rel=1e-12)
    assert rows["accounts"].sum() == len(scores)


def test_whole_rounds_half_away_from_zero_once() -> None:
    assert [whole(x) for x in (0.5, 1.5, 2.5, -2.5, 6172.5, 6172.4999999, 1e6 + 0.49)] == \
        [1, 2, 3, -3, 6173, 6173, 1000000]


def test_scores_probability_column_is_used_without_a_model(scores: pd.DataFrame) -> None:
    with_model = renewal_forecast(forecast_accounts(scores, "s", model=MODEL), as_of=AS_OF)
    from_column = renewal_forecast(forecast_accounts(scores, "s"), as_of=AS_OF)
    assert from_column.totals == pytest.approx(with_model.totals)
    other = MODEL.replace(renewal_probability={"Green": 1.0, "Yellow": 0.5, "Red": 0.0})
    changed = renewal_forecast(forecast_accounts(scores, "s", model=other), as_of=AS_OF)
    green = scores.loc[scores["band"] == "Green", "arr"].sum()
    yellow = scores.loc[scores["band"] == "Yellow", "arr"].sum()
    assert changed.totals["expected_arr"] == pytest.approx(green + 0.5 * yellow)


def test_curve_probabilities_and_round_trip(tmp_path: Path) -> None:
    curve = RenewalCurve((20.0, 50.0, 80.0), (0.4, 0.7, 0.95), "SaaS default", "1")
    np.testing.assert_allclose(curve(np.array([10, 35, 50, 90, np.nan])),
                               [0.4, 0.55, 0.7, 0.95, np.nan])
    path = tmp_path / "curve.yaml"
    curve.save(path)
    assert load_curve(path) == curve
    accounts = forecast_accounts(tiny(), "tiny", model=MODEL, curve=curve)
    # the curve where there is health; the band table's No data probability (none) otherwise
    expected = [0.95, 0.7 + 0.25 * 5 / 30, 0.4, 0.7 + 0.25 * 10 / 30, np.nan, 0.95]
    np.testing.assert_allclose(accounts["probability"], expected)


@pytest.mark.parametrize("text, message", [
    ("kind: something else\npoints: []\n", "not a renewal curve"),
    ("kind: chs renewal curve\npoints: [{health: 50, probability: 1.5}]\n", "between 0 and 1"),
    ("kind: chs renewal curve\npoints: [{health: 50, probability: 0.5}, "
     "{health: 40, probability: 0.6}]\n", "strictly increasing"),
    ("kind: chs renewal curve\npoints: [{health: x}]\n", "health and probability"),
    ("points: [\n", "not a readable curve"),
])
def test_bad_curve_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ModelError, match=message):
        load_curve(path)


def test_renewal_dates_that_are_not_dates_fail_with_the_row() -> None:
    frame = tiny().astype({"renewal_date": object})
    frame.loc[3, "renewal_date"] = "next spring"
    frame.index = frame.index + 2
    with pytest.raises(InputError, match=r"tiny: column renewal_date is not a date in row 5 "
                                         r"\(e\.g\. 'next spring'\)"):
        forecast_accounts(frame, "tiny", model=MODEL)


def test_bad_arr_band_and_missing_columns() -> None:
    frame = tiny().astype({"arr": object})
    frame.loc[1, "arr"] = "lots"
    with pytest.raises(InputError, match="column arr is not a number in row 1"):
        forecast_accounts(frame, "t", model=MODEL)
    frame = tiny()
    frame.loc[0, "band"] = "Purple"
    with pytest.raises(InputError, match="band has 'Purple'"):
        forecast_accounts(frame, "t", model=MODEL)
    with pytest.raises(InputError, match="column arr is missing"):
        forecast_accounts(tiny().drop(columns="arr"), "t", model=MODEL)
    with pytest.raises(InputError, match="column renewal_date is missing"):
        forecast_accounts(tiny().drop(columns="renewal_date"), "t", model=MODEL)
    with pytest.raises(InputError, match="no renewal probabilities"):
        forecast_accounts(tiny(), "t")
    nothing = forecast_accounts(tiny().assign(renewal_date=pd.NaT), "t", model=MODEL)
    undated = renewal_forecast(nothing, as_of=AS_OF).table.set_index("period")
    assert undated.loc["No renewal date", "arr"] == 15800  # still every account's ARR
    with pytest.raises(ChsError, match="--by"):
        renewal_forecast(forecast_accounts(tiny(), "t", model=MODEL), as_of=AS_OF, by="week")


def test_headers_written_as_words_are_matched(tmp_path: Path) -> None:
    frame = tiny().rename(columns={"account_id": "Account ID", "renewal_date": "Renewal date",
                                   "arr": "ARR", "band": "Band", "owner": "Owner"})
    path = tmp_path / "s.csv"
    frame.to_csv(path, index=False)
    found = read_scores(path, MODEL)
    result = renewal_forecast(forecast_accounts(found.scores, found.where, model=MODEL),
                              as_of=AS_OF)
    assert result.totals["arr"] == 15800


def write_model_tables(path: Path) -> None:
    """A workbook holding the model's tables (as the Model sheet does) and a Scores table."""
    book = xlsxwriter.Workbook(str(path), {"default_date_format": "yyyy-mm-dd",
                                           "strings_to_formulas": False})  # op "=" is text
    ws = book.add_worksheet("Model")
    col = 0
    for name, frame in MODEL.to_frame().items():
        data = [[None if pd.isna(v) else v for v in row]
                for row in frame.astype(object).itertuples(index=False)]
        ws.add_table(3, col, 3 + max(len(frame), 1), col + len(frame.columns) - 1, {
            "name": name, **({"data": data} if data else {}),
            "columns": [{"header": str(c)} for c in frame.columns]})
        col += len(frame.columns) + 1
    scores = book.add_worksheet("Scores")
    frame = tiny().astype(object).where(tiny().notna(), None)
    scores.add_table(0, 0, len(frame), len(frame.columns) - 1, {
        "name": "Scores", "columns": [{"header": c} for c in frame.columns],
        "data": [[v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in row]
                 for row in frame.itertuples(index=False)]})
    book.close()


def test_workbook_model_and_scores_are_read(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    write_model_tables(path)
    assert read_book_model(path) == MODEL
    found = read_scores(path)
    assert found.model == MODEL
    result = renewal_forecast(forecast_accounts(found.scores, found.where, model=found.model),
                              as_of=AS_OF)
    assert result.totals["expected_arr"] == pytest.approx(950 + 1600 + 2000 + 6400 + 285)


def test_forecast_command_writes_xlsx_and_csv_and_keeps_the_input(tmp_path: Path,
                                                                  scores: pd.DataFrame) -> None:
    path = tmp_path / "scores.csv"
    scores.to_csv(path, index=False)
    before = digest(path)
    code, out = run("forecast", str(path), "--as-of", "2026-06-15", "-o",
                    str(tmp_path / "f.xlsx"))
    assert code == 0, out
    assert "Renewal forecast by quarter as of 2026-06-15" in out  # quarters by default
    assert "Total" in out and "Best case: every Green and Yellow" in out
    book = calamine.CalamineWorkbook.from_path(str(tmp_path / "f.xlsx"), load_tables=True)
    assert {"Forecast", "ForecastByBand", "ForecastByOwner"} <= set(book.table_names)
    table = book.get_table_by_name("Forecast")
    rows = pd.DataFrame(table.to_python(), columns=table.columns)
    assert "Total" not in set(rows["period"])          # the Total sits under the Table
    assert rows["period"].iloc[0] == "Already past, not renewed yet"
    assert rows["period"].iloc[1] == "FY2026 Q2" and rows["period"].iloc[-1] == \
        "No renewal date"
    assert rows["arr"].sum() == pytest.approx(scores["arr"].sum())
    sheet = book.get_sheet_by_name("Forecast").to_python()
    total = next(r for r in sheet if r and r[0] == "Total")
    assert total[rows.columns.get_loc("arr")] == pytest.approx(scores["arr"].sum())
    code, out = run("forecast", str(path), "--horizon", "2", "--as-of", "2026-03-01",
                    "--by", "month", "-o", str(tmp_path / "f.csv"))
    assert code == 0, out
    csv = pd.read_csv(tmp_path / "f.csv")
    assert list(csv["period"]) == ["Already past, not renewed yet", "2026-03", "2026-04",
                                   "After 2026-04", "No renewal date"]
    assert csv["arr"].sum() == pytest.approx(scores["arr"].sum())
    assert "renew after 2026-04" in out
    code, out = run("forecast", str(path), "--as-of", "2026-06-15", "--fiscal-year-start",
                    "7")
    assert code == 0, out
    assert "fiscal year starting in July" in out
    assert "\n  FY2026 Q4 " in out and "\n  FY2027 Q1 " in out  # Apr-Jun 2026, Jul-Sep
    assert digest(path) == before


def test_forecast_command_errors_are_one_line(tmp_path: Path) -> None:
    frame = tiny().astype({"renewal_date": object})
    frame.loc[2, "renewal_date"] = "31/13/2026"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    code, out = run("forecast", str(path), "--model", str(tmp_path / "none.yaml"))
    assert code == 1 and "model file not found" in out
    code, out = run("forecast", str(path))
    assert code == 1 and "renewal_date is not a date in row 4" in out
    assert "Traceback" not in out
    code, out = run("forecast", str(path), "-o", str(tmp_path / "f.pdf"))
    assert code == 1 and "must end in .xlsx or .csv" in out


def test_forecast_of_100k_accounts_is_fast() -> None:
    rng = np.random.default_rng(0)
    n = 100_000
    frame = pd.DataFrame({
        "account_id": np.arange(n).astype(str), "owner": rng.choice(["A", "B", "C"], n),
        "arr": rng.uniform(1e3, 1e5, n),
        "renewal_date": np.datetime64("2026-01-01") + rng.integers(0, 730, n).astype(
            "timedelta64[D]"),
        "band": rng.choice(["Green", "Yellow", "Red"], n)})
    start = time.perf_counter()
    result = renewal_forecast(forecast_accounts(frame, "big", model=MODEL), by="month",
                              as_of=dt.date(2026, 6, 1))
    assert time.perf_counter() - start < 2.0
    assert result.totals["accounts"] == n
