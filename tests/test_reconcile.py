"""Finance reconciles: the Dashboard, the live Forecast sheet (recalculated by LibreOffice),
the `chs forecast` report (read back) and the printed table agree to the unit.

The data has accounts without a renewal date, renewals before the as-of date, a blank ARR
and an odd Red ARR whose expected value ends in .5 (where half-to-even and half-up
rounding differ). Expected figures are computed here from the engine's scores.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from chs_excel.analytics.forecast import forecast_accounts, renewal_forecast
from chs_excel.core.engine import score
from chs_excel.core.model import default_model
from chs_excel.io.sample import make_sample, reference_date
from chs_excel.io.workbook import read_book_model
from chs_excel.sheets.workbook import write_template
from chs_excel.xlsx import libreoffice as lo
from tests.cli_runner import run

FISCAL_START = 2                     # fiscal year from February
MODEL = default_model().replace(fiscal_year_start=FISCAL_START)
AS_OF = reference_date(5) + dt.timedelta(days=100)
PAST = "Already past, not renewed yet"
NO_DATE = "No renewal date"
MONEY = ("arr", "expected_arr", "best_case", "worst_case", "arr_at_risk")


def units(value: float) -> int:
    """Whole units, half up (values here are never negative)."""
    return math.floor(round(value, 2) + 0.5)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("reconcile")
    accounts = make_sample(160, seed=5)
    accounts.loc[accounts.index[::13], "renewal_date"] = pd.NaT
    accounts.loc[accounts.index[3], "arr"] = None
    scores = score(MODEL, accounts, as_of=AS_OF).scores
    red = scores.index[scores["band"] == "Red"][0]
    accounts.loc[red, "arr"] = 10001.0     # Red at 0.5: expected 5000.5
    book = tmp / "book.xlsx"
    write_template(book, MODEL, accounts, rows=len(accounts) + 5, as_of=AS_OF)
    scores = score(MODEL, accounts, as_of=AS_OF).scores
    code, out = run("forecast", str(book), "-o", str(tmp / "report.xlsx"))
    assert code == 0, out
    return {"scores": scores, "book": book, "lo": lo.recalculate(book, tmp / "lo"),
            "report": tmp / "report.xlsx", "out": out}


def independent_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """The forecast rows from the scores with pandas, as the docs define them."""
    when = pd.to_datetime(scores["renewal_date"])
    month = (when.dt.month - FISCAL_START) % 12
    year = when.dt.year + (when.dt.month >= FISCAL_START).astype(int)
    label = "FY" + year.astype("Int64").astype(str) + " Q" + \
        (month // 3 + 1).astype("Int64").astype(str)
    label = label.where(when.notna(), NO_DATE).where(~(when < pd.Timestamp(AS_OF)), PAST)
    arr = scores["arr"].fillna(0)
    p = scores["band"].map(MODEL.renewal_probability).fillna(0)
    green, yellow = scores["band"].eq("Green"), scores["band"].eq("Yellow")
    frame = pd.DataFrame({
        "period": label, "accounts": 1, "arr": arr, "expected_arr": arr * p,
        "best_case": arr.where(green | yellow, arr * p),
        "worst_case": (arr * p).where(green, 0.0),
        "arr_at_risk": arr.where(scores["band"].eq("Red"), 0.0)})
    return frame.groupby("period").sum()


def sheet_table(rows: list[list[Any]], header: str) -> tuple[pd.DataFrame, list[Any]]:
    """The forecast rows under the header row starting `header`, and the Total row."""
    top = next(i for i, r in enumerate(rows) if r and r[0] == header)
    names = list(rows[top])
    end = next(i for i in range(top + 1, len(rows)) if rows[i][0] == "Total")
    frame = pd.DataFrame([r[:len(names)] for r in rows[top + 1:end]], columns=names)
    return frame.set_index(names[0]), rows[end]


PRINTED = ("accounts", "arr", "expected_arr", "likely_low", "likely_high", *MONEY[2:])


def printed_rows(out: str) -> dict[str, list[int]]:
    """The printed table: label (without its dates) -> the eight figures (accounts, ARR,
    expected, likely P10 and P90, best, worst, at risk), read from the right so labels with
    spaces stay whole. Fiscal-year lines (after "By fiscal year") are left out."""
    rows = {}
    for line in out.split("By fiscal year")[0].splitlines():
        parts = line.split()
        if len(parts) >= 9 and all(p.replace(",", "").isdigit() for p in parts[-8:]):
            label = re.sub(r" \((to )?\d{4}-\d\d-\d\d( to \d{4}-\d\d-\d\d)?\)$", "",
                           " ".join(parts[:-8]))
            rows[label] = [int(p.replace(",", "")) for p in parts[-8:]]
    return rows


def printed_fiscal_years(out: str) -> dict[str, list[int]]:
    """The printed fiscal-year lines: FY2027 -> the eight figures."""
    rows = {}
    for line in out.split("By fiscal year")[1].splitlines():
        parts = line.split()
        if parts and re.fullmatch(r"FY\d{4}", parts[0]) and len(parts) >= 9:
            rows[parts[0]] = [int(p.replace(",", "")) for p in parts[-8:]]
    return rows


def test_the_model_round_trips_its_fiscal_year_start(built: dict[str, Any]) -> None:
    assert read_book_model(built["book"]).fiscal_year_start == FISCAL_START


def test_every_total_ties_to_the_dashboard_to_the_unit(built: dict[str, Any]) -> None:
    scores = built["scores"]
    assert scores["renewal_date"].isna().sum() > 5
    assert (pd.to_datetime(scores["renewal_date"]) < pd.Timestamp(AS_OF)).sum() > 5
    arr_total = units(scores["arr"].fillna(0).sum())
    expected_total = units(scores["expected_arr"].fillna(0).sum())

    dash = lo.sheet_rows(built["lo"], "Dashboard")
    band_head = next(i for i, r in enumerate(dash) if r[0] == "Band")
    total = next(r for r in dash[band_head:] if r[0] == "Total")
    assert units(total[3]) == arr_total and units(total[4]) == expected_total

    _, live_total = sheet_table(lo.sheet_rows(built["lo"], "Forecast"), "Period")
    assert units(live_total[4]) == arr_total and units(live_total[5]) == expected_total
    arr_row = next(r for r in lo.sheet_rows(built["lo"], "Forecast")
                   if r[0] == "All accounts' ARR (Dashboard)")
    assert units(arr_row[4]) == arr_total

    report_rows = list(openpyxl.load_workbook(built["report"], data_only=True)["Forecast"]
                       .iter_rows(values_only=True))
    report, report_total = sheet_table([list(r) for r in report_rows], "period")
    assert units(report_total[report.columns.get_loc("arr") + 1]) == arr_total

    printed = printed_rows(built["out"])
    assert printed["Total"][1] == arr_total and printed["Total"][2] == expected_total
    assert printed["Total"][0] == len(scores)


def test_every_row_agrees_across_sheet_report_and_command_line(built: dict[str, Any]) -> None:
    want = independent_rows(built["scores"])
    live, _ = sheet_table(lo.sheet_rows(built["lo"], "Forecast"), "Period")
    report_rows = list(openpyxl.load_workbook(built["report"], data_only=True)["Forecast"]
                       .iter_rows(values_only=True))
    report, _ = sheet_table([list(r) for r in report_rows], "period")
    printed = printed_rows(built["out"])
    # same rows, same order: past, the fiscal quarters from AsOf, After ..., No renewal date
    assert list(live.index) == list(report.index) == [k for k in printed if k != "Total"]
    assert live.index[0] == PAST and live.index[-1] == NO_DATE
    assert live.index[-2].startswith("After FY")
    quarters = list(live.index[1:-2])
    assert quarters[0] == "FY" + str(AS_OF.year + (AS_OF.month >= FISCAL_START)) + " Q" + \
        str((AS_OF.month - FISCAL_START) % 12 // 3 + 1)
    assert quarters[-1] == max(want.index.drop([PAST, NO_DATE]),
                               key=lambda s: (int(s[2:6]), s[-1]))   # up to the last renewal
    headings = dict(zip(["accounts", *MONEY], ["Accounts renewing", "ARR up for renewal",
                                               "Expected renewed ARR", "Best case (scenario)",
                                               "Worst case (scenario)", "ARR at risk (Red)"],
                        strict=True))
    for label in live.index:
        expect = want.loc[label] if label in want.index else pd.Series(0.0, index=want.columns)
        for key in ["accounts", *MONEY]:
            figure = units(expect[key])
            assert units(live.loc[label, headings[key]]) == figure, (label, key)
            assert units(report.loc[label, key]) == figure, (label, key)
            assert printed[label][PRINTED.index(key)] == figure, (label, key)


def likely_by_hand(arr: pd.Series, p: pd.Series) -> tuple[float, float]:
    """P10 and P90 of the sum of independent renewals, as the docs state them: expected
    -/+ 1.2816 standard deviations (variance: sum of ARR^2 p (1 - p)), within 0..ARR."""
    expected, sd = float((arr * p).sum()), math.sqrt(float((arr ** 2 * p * (1 - p)).sum()))
    z = 1.2815515655446004
    return max(0.0, expected - z * sd), min(float(arr.sum()), expected + z * sd)


def test_the_likely_range_and_fiscal_years_agree_everywhere(built: dict[str, Any]) -> None:
    scores = built["scores"]
    when = pd.to_datetime(scores["renewal_date"])
    arr = scores["arr"].fillna(0)
    p = scores["band"].map(MODEL.renewal_probability).fillna(0)
    rows = lo.sheet_rows(built["lo"], "Forecast")
    live, total = sheet_table(rows, "Period")
    printed = printed_rows(built["out"])
    low, high = likely_by_hand(arr, p)                       # every account: the Total
    assert low < units(scores["expected_arr"].fillna(0).sum()) < high
    assert (units(total[6]), units(total[7])) == (units(low), units(high))
    assert printed["Total"][3:5] == [units(low), units(high)]
    past = when < pd.Timestamp(AS_OF)
    low, high = likely_by_hand(arr[past], p[past])
    assert (units(live.loc[PAST, "Likely low (P10)"]), units(live.loc[PAST, "Likely high (P90)"])) \
        == (units(low), units(high)) == tuple(printed[PAST][3:5])
    # fiscal years: from the as-of date to the last quarter's end, FY named by its end year
    year = when.dt.year + (when.dt.month >= FISCAL_START).astype(int)
    years = printed_fiscal_years(built["out"])
    top = next(i for i, r in enumerate(rows) if r and str(r[0]).startswith("By fiscal year"))
    sheet_years = {r[0]: r for r in rows[top + 2:top + 2 + len(years)]}
    assert list(sheet_years) == list(years) and len(years) >= 2
    last_end = pd.Timestamp(live["Ends"].iloc[-3])
    for name, figures in years.items():
        inside = (year == int(name[2:])) & ~past & (when <= last_end)
        low, high = likely_by_hand(arr[inside], p[inside])
        want = [int(inside.sum()), units(arr[inside].sum()), units((arr * p)[inside].sum()),
                units(low), units(high)]
        assert figures[:5] == want, name
        assert [units(v) for v in sheet_years[name][3:8]] == want, name


def test_worst_case_is_green_only_and_the_sheet_states_it(built: dict[str, Any]) -> None:
    scores = built["scores"]
    arr = scores["arr"].fillna(0)
    green = arr[scores["band"] == "Green"].sum()
    worst = units(green * MODEL.renewal_probability["Green"])
    best = units(arr[scores["band"].isin(["Green", "Yellow"])].sum()
                 + (arr * scores["band"].map(MODEL.renewal_probability).fillna(0))[
                     ~scores["band"].isin(["Green", "Yellow"])].sum())
    rows = lo.sheet_rows(built["lo"], "Forecast")
    _, total = sheet_table(rows, "Period")
    assert units(total[9]) == worst and units(total[8]) == best
    text = " ".join(str(r[0]) for r in rows if r and r[0])
    assert "Worst case: every Red, Yellow and No data account churns" in text
    assert "Best case: every Green and Yellow account renews" in text
    assert "Worst case: every Red, Yellow" in built["out"]


@pytest.mark.parametrize("start", [1, 10])
def test_the_live_sheet_labels_quarters_by_the_fiscal_year_start(
        tmp_path: Path, start: int) -> None:
    """The sheet's quarter labels and boundaries equal the Python forecast's, including a
    fiscal year starting after the as-of month (Jan 2026 is Q2 of FY2026 from October)."""
    as_of = dt.date(2026, 1, 20)
    accounts = make_sample(40, seed=2)
    accounts["renewal_date"] = pd.Timestamp(as_of) + pd.to_timedelta(
        (accounts.index.to_numpy() * 23) % 500 - 30, unit="D")
    model = default_model().replace(fiscal_year_start=start)
    write_template(tmp_path / "fy.xlsx", model, accounts, rows=45, as_of=as_of)
    live, _ = sheet_table(lo.sheet_rows(lo.recalculate(tmp_path / "fy.xlsx", tmp_path / "lo"),
                                        "Forecast"), "Period")
    result = renewal_forecast(forecast_accounts(score(model, accounts, as_of=as_of).scores,
                                                "s", model=model),
                              as_of=as_of, fiscal_year_start=start)
    assert list(live.index) == list(result.table["period"])
    first = {1: "FY2026 Q1", 10: "FY2026 Q2"}[start]
    assert live.index[1] == first
    periods = result.periods
    assert [pd.Timestamp(d).date() for d in live["Ends"].iloc[1:len(periods) + 1]] == \
        list(periods["ends"])
    assert list(live["Accounts renewing"]) == list(result.table["accounts"])


def test_a_workbook_from_before_the_setting_rebuilds_with_january(tmp_path: Path) -> None:
    """A Model Settings table without fiscal_year_start (an older workbook) reads January;
    `chs rebuild` writes a Forecast whose quarters are calendar quarters and still tie."""
    from chs_excel.app.macros import rebuild_file
    as_of = dt.date(2026, 2, 10)
    accounts = make_sample(30, seed=4)
    write_template(tmp_path / "new.xlsx", default_model(), accounts, rows=35, as_of=as_of)
    book = openpyxl.load_workbook(tmp_path / "new.xlsx")
    ws = book["Model"]
    table = ws.tables["Settings"]
    first, last = table.ref.split(":")
    row = int("".join(ch for ch in last if ch.isdigit()))
    top = int("".join(ch for ch in first if ch.isdigit()))
    keys = [ws.cell(r, 1).value for r in range(top + 1, row + 1)]
    at = top + 1 + keys.index("fiscal_year_start")
    for r in range(at, row):                      # the rows below move up one
        ws.cell(r, 1).value, ws.cell(r, 2).value = ws.cell(r + 1, 1).value, \
            ws.cell(r + 1, 2).value
    ws.cell(row, 1).value = ws.cell(row, 2).value = None
    table.ref = f"{first}:B{row - 1}"
    table.autoFilter.ref = table.ref      # as Excel keeps it (check_xlsx)
    book.save(tmp_path / "old.xlsx")
    assert read_book_model(tmp_path / "old.xlsx").fiscal_year_start == 1
    rebuild_file(tmp_path / "old.xlsx", tmp_path / "rebuilt.xlsx")
    rows = lo.sheet_rows(lo.recalculate(tmp_path / "rebuilt.xlsx", tmp_path / "lo"),
                         "Forecast")
    assert next(r for r in rows if str(r[0]).startswith("Fiscal year"))[1] == 1
    live, total = sheet_table(rows, "Period")
    assert live.index[1] == "FY2026 Q1"
    assert units(total[4]) == units(score(default_model(), accounts, as_of=as_of)
                                    .scores["arr"].fillna(0).sum())
