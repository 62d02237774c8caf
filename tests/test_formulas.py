"""The live workbook recalculated by LibreOffice equals the Python engine, cell by cell.

Each test builds a workbook, has LibreOffice recalculate every formula
(`chs_excel.xlsx.libreoffice`) and
compares the Scores sheet with `engine.score` on the same model and accounts: the engine
is the independent implementation, the formulas are what is tested. The Dashboard and
Forecast are checked against aggregates computed here with pandas. LibreOffice runs are
kept to four (CPU is shared).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest

from chs_excel.core.engine import score
from chs_excel.core.model import Model, default_model
from chs_excel.io.sample import make_sample, reference_date
from chs_excel.sheets.workbook import write_template
from chs_excel.xlsx import libreoffice as lo

AS_OF = dt.date(2025, 3, 31)
PAD = 6  # blank formula rows after the data: they must show blank, not errors


def edge_model() -> Model:
    """Every method (both directions), every operator, segments, groups, zero weights."""
    return Model.from_dict({
        "name": "edge cases", "version": "7", "scale": 100,
        "bands": {"red_below": 40, "green_from": 70}, "min_coverage": 0.6,
        "components": {"Usage": 50, "Support": 30, "Money": 20},
        "metrics": [
            {"column": "usage_pct", "component": "Usage", "weight": 2, "method": "linear",
             "worst": 0, "best": 100},
            {"column": "logins", "component": "Usage", "weight": 1, "method": "steps",
             "breaks": [5, 20], "points": [0, 50, 100]},
            {"column": "adoption", "component": "Usage", "weight": 1, "method": "percentile",
             "higher_is_better": True},
            {"column": "pilot", "component": "Usage", "weight": 1, "method": "percentile"},
            {"column": "tickets", "component": "Support", "weight": 1, "method": "linear",
             "worst": 10, "best": 0},
            {"column": "wait_hours", "component": "Support", "weight": 1,
             "method": "percentile", "higher_is_better": False},
            {"column": "zero_w", "component": "Support", "weight": 0, "method": "steps",
             "breaks": [1], "points": [0, 100]},
            {"column": "sponsor", "component": "Money", "weight": 1, "method": "flag",
             "good": True},
            {"column": "churn_flag", "component": "Money", "weight": 1, "method": "flag",
             "good": False},
            {"column": "plan_type", "component": "Money", "weight": 2, "method": "category",
             "points": {"Monthly": 20, "Annual": 60, "Multi-year": 100}},
            {"column": "visits", "component": "Usage", "weight": 1, "method": "log",
             "worst": 0, "best": 200},
            {"column": "delay_days", "component": "Support", "weight": 1, "method": "log",
             "worst": 30, "best": 2},
        ],
        "rules": [
            {"name": "Low usage", "column": "usage_pct", "op": "<", "value": 10, "cap": 30},
            {"name": "Many tickets", "column": "tickets", "op": ">=", "value": 8, "cap": 45},
            {"name": "No sponsor", "column": "sponsor", "op": "=", "value": False, "cap": 60},
            {"name": "Monthly plan", "column": "plan_type", "op": "=", "value": "monthly",
             "cap": 65},
            {"name": "Outside EU", "column": "region", "op": "<>", "value": "EU", "cap": 90},
            {"name": "Big spend", "column": "spend", "op": ">", "value": 1000, "cap": 80},
            {"name": "Tiny adoption", "column": "adoption", "op": "<=", "value": 1, "cap": 50},
        ],
        "segments": {"column": "tier", "weights": {
            "Gold": {"Usage": 20, "Support": 40, "Money": 40},
            "Zero": {"Usage": 0, "Support": 0, "Money": 10}}},
        "quartiles": {"by": "region"},
        "renewal": {"probability": {"Green": 0.9, "Yellow": 0.75, "Red": 0.4,
                                    "No data": 0.3}},
    })


def edge_accounts() -> pd.DataFrame:
    """Accounts that walk every missing-value path, boundary, override and tie."""
    nan = math.nan
    rows: list[dict[str, Any]] = [
        # boundaries of linear/steps, exact band limits, identical rows (ties)
        dict(usage_pct=40, region="EU"),  # health exactly 40: Yellow
        dict(usage_pct=70, region="EU"),  # exactly 70: Green
        dict(usage_pct=0, logins=5, adoption=3, tickets=0, region="EU", spend=5),
        dict(usage_pct=100, logins=20, adoption=3, tickets=10, region="eu"),
        dict(usage_pct=100, logins=20, adoption=3, tickets=10, region="eu "),
        dict(usage_pct=55.5, logins=4.999, adoption=1, tickets=8, wait_hours=2, region="US"),
        dict(usage_pct=120, logins=60, adoption=9, tickets=-3, wait_hours=2, region="US"),
        dict(usage_pct=-5, logins=0, adoption=9, wait_hours=48, region="US"),
        # missing-value words, text in numbers, booleans in numbers
        dict(usage_pct="NA", logins="n/a", adoption="abc", tickets=" 7 x", region="APAC"),
        dict(usage_pct=True, logins="", tickets=3, wait_hours="null", region=None),
        dict(usage_pct=33, region="  "),
        # flags: many spellings, good=False, bad words
        dict(usage_pct=80, sponsor="Yes", churn_flag="no", region="EU"),
        dict(usage_pct=80, sponsor=" TRUE ", churn_flag="Y", region="EU"),
        dict(usage_pct=80, sponsor=True, churn_flag=False, region="US"),
        dict(usage_pct=80, sponsor=1, churn_flag=0, region="US"),
        dict(usage_pct=80, sponsor="x", churn_flag="maybe", region="US"),
        dict(usage_pct=80, sponsor="n", churn_flag=2, region="EU"),
        dict(usage_pct=80, sponsor=0, churn_flag="FALSE", region="EU"),
        # categories: case, spaces, unknown, wildcard look-alikes, numbers
        dict(usage_pct=60, plan_type="monthly", region="EU", spend=1000),
        dict(usage_pct=60, plan_type=" Annual ", region="EU", spend=1000.5),
        dict(usage_pct=60, plan_type="MULTI-YEAR", region="EU", spend="lots"),
        dict(usage_pct=60, plan_type="Weekly", region="EU"),
        dict(usage_pct=60, plan_type="Ann*", region="EU"),
        dict(usage_pct=60, plan_type="?", region="EU"),
        dict(usage_pct=60, plan_type=12, region="EU"),
        # segments: case and spaces, unknown, blank, all-zero weights for present parts
        dict(usage_pct=90, tickets=2, sponsor="yes", tier="Gold", region="EU"),
        dict(usage_pct=90, tickets=2, sponsor="yes", tier=" gold", region="EU"),
        dict(usage_pct=90, tickets=2, sponsor="yes", tier="Silver", region="EU"),
        dict(usage_pct=90, tickets=2, sponsor="yes", tier="Zero", region="EU"),
        dict(usage_pct=90, tickets=2, tier="Zero", region="EU"),  # present parts weigh 0
        dict(zero_w=5, region="EU"),  # only a weight-0 metric: component missing
        dict(zero_w=5, tickets=4, region="EU"),
        # no data at all; no data with an override
        dict(region="EU"),
        dict(region="EU", override_score=66, override_reason="trust me"),
        # overrides: valid, out of range, text, expired, future, blank and NA expiry
        dict(usage_pct=20, override_score=85, override_until=dt.datetime(2025, 6, 1),
             region="EU"),
        dict(usage_pct=20, override_score=150, region="EU"),
        dict(usage_pct=20, override_score="high", region="EU"),
        dict(usage_pct=20, override_score=90, override_until=dt.datetime(2025, 3, 30),
             region="EU"),
        dict(usage_pct=20, override_score=90, override_until=dt.datetime(2025, 3, 31),
             region="US"),
        dict(usage_pct=20, override_score=0, override_until="NA", region="US"),
        dict(usage_pct=20, override_score=45, override_until="soon", region="US"),
        # a single pilot value: percentile of n == 1 scores full marks
        dict(usage_pct=75, pilot=4, adoption=5, region="US"),
        # log: at and beyond worst and best (both directions), fractions, text, missing
        dict(visits=0, delay_days=30, region="EU"),
        dict(visits=200, delay_days=2, region="EU"),
        dict(visits=9, delay_days=16, region="US"),
        dict(visits=-5, delay_days=45, region="US"),
        dict(visits=250, delay_days=0, region="EU"),
        dict(visits=0.5, delay_days=29.5, region="EU"),
        dict(visits="NA", delay_days="soon", region="EU"),
        dict(visits=12, delay_days=None, usage_pct=50, region="US"),
        # text keys: no-break / ideographic spaces, tabs, line breaks, doubled inner spaces
        dict(usage_pct=60, tier="\u00a0Gold", plan_type="Annual\t", sponsor="yes\u00a0",
             region="EU\u3000"),
        dict(usage_pct=60, tier="gold\n", plan_type="\u3000MULTI-YEAR\r\n",
             sponsor="\tno", churn_flag="\u00a0Y", region="\u00a0eu"),
        dict(usage_pct=60, plan_type="multi\u00a0-year", tier="Gold\u3000\u3000",
             region="U\u00a0S"),
        dict(usage_pct=60, plan_type="Monthly\u00a0", sponsor="N\u3000", region="\tUS\t"),
        dict(usage_pct=20, override_score=85, override_until="n/a\u00a0", region="EU"),
        dict(usage_pct=20, override_score=70, override_until="\u3000NULL", region="US"),
    ]
    rng = np.random.default_rng(3)
    for _ in range(24):  # a random block for ties in percentiles and quartiles
        rows.append(dict(usage_pct=float(rng.choice([10, 50, 50, 90])),
                         logins=float(rng.integers(0, 30)), adoption=float(rng.integers(0, 4)),
                         tickets=float(rng.choice([0, 5, nan])),
                         wait_hours=float(rng.choice([1, 2, 2, 8])),
                         sponsor=rng.choice(["yes", "no", ""]),
                         plan_type=rng.choice(["Monthly", "Annual"]),
                         tier=rng.choice(["Gold", "", "Basic"]),
                         region=rng.choice(["EU", "US", "APAC"]),
                         spend=float(rng.integers(0, 2000)),
                         visits=float(rng.integers(0, 300)),
                         delay_days=float(rng.choice([1, 10, 31, nan]))))
    columns = ["account_id", "account_name", "owner", "tier", "region", "arr", "renewal_date",
               "usage_pct", "logins", "adoption", "pilot", "tickets", "wait_hours", "zero_w",
               "sponsor", "churn_flag", "plan_type", "spend", "visits", "delay_days",
               "override_score",
               "override_reason", "override_until"]
    frame = pd.DataFrame(rows).reindex(columns=columns).astype(object)
    frame = frame.where(frame.notna(), None)
    n = len(frame)
    frame["account_id"] = [f"E{i:03d}" for i in range(n)]
    frame["account_name"] = [f"=Name {i}" if i % 7 == 0 else f"Account {i}" for i in range(n)]
    frame["owner"] = [["Ann", "Bo", "Cy"][i % 3] for i in range(n)]
    frame["arr"] = [float(1000 * (i % 9 + 1)) for i in range(n)]
    frame["renewal_date"] = pd.Timestamp("2025-02-10") + pd.to_timedelta(
        np.arange(n) * 11, unit="D")
    frame.index = pd.RangeIndex(2, n + 2)
    return frame


def build_and_recalculate(tmp_path: Path, model: Model, accounts: pd.DataFrame,
                          name: str) -> Path:
    book = tmp_path / f"{name}.xlsx"
    write_template(book, model, accounts, rows=len(accounts) + PAD, as_of=AS_OF)
    return lo.recalculate(book, tmp_path / f"{name}-lo")


def is_blank(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value == ""


def assert_scores_equal(recalculated: Path, expected: pd.DataFrame) -> None:
    """Every engine column of Scores equals the engine (1e-9; text and booleans exact)."""
    book = lo.values(recalculated)
    rows = list(book["Scores"].iter_rows(values_only=True))
    header, data = list(rows[0]), rows[1:]
    n = len(expected)
    assert len(data) >= n
    problems = []
    for column in expected.columns:
        assert column in header, f"Scores has no column {column}"
        j = header.index(column)
        for i, want in enumerate(expected[column].tolist()):
            got = data[i][j]
            if is_blank(want) or is_blank(got):
                ok = is_blank(want) and is_blank(got)
            elif isinstance(want, (bool, np.bool_)):
                ok = got is bool(want) or got == bool(want)
            elif isinstance(want, pd.Timestamp):
                ok = pd.Timestamp(got) == want
            elif isinstance(want, (int, float, np.number)):
                ok = isinstance(got, (int, float)) and abs(got - float(want)) <= 1e-9
            else:
                ok = str(got) == str(want)
            if not ok:
                problems.append(f"row {i + 2} {column}: engine {want!r}, workbook {got!r}")
    assert not problems, f"{len(problems)} cells differ:\n" + "\n".join(problems[:40])
    for row in data[n:]:  # the padding rows: blank, never an error
        assert all(is_blank(v) for v in row), row
    for sheet in ("Scores", "Dashboard", "Forecast", "Calc", "Start here"):
        errors = [v for r in book[sheet].iter_rows(values_only=True) for v in r
                  if isinstance(v, str) and v.startswith("#")]
        assert not [e for e in errors if e != "#"], (sheet, errors[:5])


def test_edge_model_every_scores_cell_equals_the_engine(tmp_path: Path) -> None:
    model, accounts = edge_model(), edge_accounts()
    expected = score(model, accounts, as_of=AS_OF).scores
    # the data really walks the paths it claims to
    assert set(expected["band"]) == {"Green", "Yellow", "Red", "No data"}
    assert expected["overridden"].sum() >= 3 and expected["capped_by"].str.contains(";").any()
    assert {"Low usage", "Many tickets", "No sponsor", "Monthly plan", "Outside EU",
            "Big spend", "Tiny adoption"} <= set("; ".join(expected["capped_by"]).split("; "))
    assert expected["quartile"].notna().sum() > 20
    recalculated = build_and_recalculate(tmp_path, model, accounts, "edge")
    assert_scores_equal(recalculated, expected)


@pytest.fixture(scope="module")
def sample_book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pd.DataFrame]:
    """The default model on 300 dirty sample accounts: built file and LibreOffice's copy."""
    tmp = tmp_path_factory.mktemp("sample")
    accounts = make_sample(300, seed=0)
    accounts.index = pd.RangeIndex(2, len(accounts) + 2)
    accounts.loc[[5, 40, 41], "owner"] = None    # the Dashboard lists them as (no owner)
    book = tmp / "sample.xlsx"
    write_template(book, default_model(), accounts, rows=len(accounts) + PAD,
                   as_of=reference_date(0))
    return book, lo.recalculate(book, tmp / "lo"), accounts


def test_default_model_on_sample_data_equals_the_engine(sample_book: Any) -> None:
    _, recalculated, accounts = sample_book
    scoring = score(default_model(), accounts, as_of=reference_date(0))
    assert len(scoring.issues) > 0  # dirty cells are part of the test
    assert_scores_equal(recalculated, scoring.scores)


def sheet_cells(path: Path, sheet: str) -> list[list[Any]]:
    return lo.sheet_rows(path, sheet)


def find_row(rows: list[list[Any]], label: str, col: int = 0) -> int:
    return next(i for i, r in enumerate(rows) if r[col] == label)


def test_dashboard_and_forecast_equal_pandas_aggregates(sample_book: Any) -> None:
    _, recalculated, accounts = sample_book
    s = score(default_model(), accounts, as_of=reference_date(0)).scores
    rows = sheet_cells(recalculated, "Dashboard")
    top = find_row(rows, "Band")
    for i, band in enumerate(("Green", "Yellow", "Red", "No data"), start=1):
        r = rows[top + i]
        part = s[s["band"] == band]
        assert r[0] == band and r[1] == len(part)
        assert r[3] == pytest.approx(part["arr"].sum())
        assert r[4] == pytest.approx(part["expected_arr"].sum())
    q = find_row(rows, "Quartile")
    for k in (1, 2, 3, 4):
        part = s[s["quartile"] == k]
        assert rows[q + k][2] == len(part)
        assert rows[q + k][3] == pytest.approx(part["health"].mean())
    owners = find_row(rows, "Owner")
    listed = {}
    for r in rows[owners + 1:]:
        if not r[0]:
            break
        listed[r[0]] = r
    by_owner = s.groupby("owner")
    assert list(listed) == [*s["owner"].dropna().drop_duplicates(), "(no owner)"]
    assert listed["(no owner)"][1] == s["owner"].isna().sum() == 3
    assert listed["(no owner)"][2] == pytest.approx(s.loc[s["owner"].isna(), "health"].mean())
    for owner, group in by_owner:
        assert listed[owner][1] == len(group)
        assert listed[owner][2] == pytest.approx(group["health"].mean())
        assert listed[owner][3] == (group["band"] == "Red").sum()
    seg = find_row(rows, "Segment")
    for r in rows[seg + 1: seg + 4]:
        group = s[s["plan"] == r[0]]
        assert r[1] == len(group) and r[2] == pytest.approx(group["health"].mean())
    red = s[(s["band"] == "Red") & s["arr"].notna()]
    red = red.sort_values("arr", ascending=False, kind="stable").head(10)
    t = find_row(rows, "Account name")
    assert rows[t][:7] == ["Account name", "Account ID", "Owner", "ARR", "Renewal date",
                           "Health", "Points at stake"]
    got = [(r[1], r[3]) for r in rows[t + 1: t + 11]]
    assert got == list(zip(red["account_id"], red["arr"], strict=True))
    assert [r[6] for r in rows[t + 1: t + 11]] == pytest.approx(red["points_at_stake"].tolist())
    dated = red["renewal_date"].notna().to_numpy()
    shown = [r[4] for r in rows[t + 1: t + 11]]
    assert [d for d, ok in zip(shown, dated, strict=True) if ok] == \
        red["renewal_date"][dated].tolist()
    bins = find_row(rows, "Health")
    for k in range(10):
        low, high = 10 * k, 10 * (k + 1)
        inside = (s["health"] >= low) & ((s["health"] < high) if k < 9 else (s["health"] <= high))
        assert rows[bins + 1 + k][0] == f"{low}–{high}"
        assert rows[bins + 1 + k][1] == inside.sum()
    coverage = find_row(rows, "Coverage")
    measures = {r[0]: r[1] for r in rows[coverage + 1: coverage + 9]}
    assert measures["Capped by a critical rule"] == (s["capped_by"] != "").sum()
    assert measures["Manual override applied"] == s["overridden"].sum()
    assert measures["Mean coverage"] == pytest.approx(s["coverage"].mean())

    f = sheet_cells(recalculated, "Forecast")
    head = find_row(f, "Period")
    when = pd.to_datetime(s["renewal_date"])
    as_of = pd.Timestamp(reference_date(0))
    quarter = when.dt.to_period("Q").astype(str).str.replace(r"(\d{4})Q(\d)", r"FY\1 Q\2",
                                                             regex=True)
    key = quarter.where(when >= as_of, "Already past, not renewed yet").where(
        when.notna(), "No renewal date")
    listed = {r[0]: r for r in f[head + 1:] if r[0]}
    for period, group in s.assign(key=key).groupby("key"):
        r = listed[period]
        assert r[3] == len(group)
        assert r[4] == pytest.approx(group["arr"].sum())
        assert r[5] == pytest.approx(group["expected_arr"].sum())
        assert r[10] == pytest.approx(group.loc[group["band"] == "Red", "arr"].sum())
        assert r[11] == pytest.approx(group.loc[group["band"] == "Green", "arr"].sum())
    assert listed["Total"][4] == pytest.approx(s["arr"].sum())


EDITS = {  # (table, key column, key, column) -> new value
    ("Components", "component", "Usage", "weight"): 60,
    ("Metrics", "column", "licence_utilisation", "worst"): 35,
    ("Metrics", "column", "nps", "best"): 9,
    ("Metrics", "column", "exec_sponsor", "good"): False,
    ("Metrics", "column", "feature_adoption", "higher_is_better"): False,
    ("Metrics", "column", "csat", "weight"): 4,
    ("Settings", "setting", "green_from", "value"): 62,
    ("Settings", "setting", "red_below", "value"): 45,
    ("Rules", "name", "Detractor survey", "cap"): 25,
    ("Rules", "name", "Detractor survey", "value"): 6,
    ("Rules", "name", "Invoices 90+ days late", "op"): ">",
    ("RenewalProbability", "band", "Yellow", "probability"): 0.7,
    ("Segments", "segment", "Starter", "Usage"): 10,
}


def edit_model_tables(path: Path, out: Path) -> None:
    """Change Model cells through openpyxl, as a user would in Excel."""
    book = openpyxl.load_workbook(path)
    ws = book["Model"]
    for (table, key_col, key, column), value in EDITS.items():
        ref = ws.tables[table].ref
        cells = list(ws[ref])
        header = [c.value for c in cells[0]]
        row = next(r for r in cells[1:] if r[header.index(key_col)].value == key)
        row[header.index(column)].value = value
    levels = ws.tables["Levels"]
    cells = list(ws[levels.ref])
    header = [c.value for c in cells[0]]
    contract = [r for r in cells[1:] if r[header.index("column")].value == "contract"]
    contract[0][header.index("points")].value = 0  # Monthly: 30 -> 0
    logins = [r for r in cells[1:] if r[header.index("column")].value == "logins_30d"]
    logins[1][header.index("at_least")].value = 10  # first break 5 -> 10
    book.save(out)


def edited_model() -> Model:
    data = default_model().to_dict()
    data["components"]["Usage"] = 60
    metrics = {m["column"]: m for m in data["metrics"]}
    metrics["licence_utilisation"]["worst"] = 35
    metrics["nps"]["best"] = 9
    metrics["exec_sponsor"]["good"] = False
    metrics["feature_adoption"]["higher_is_better"] = False
    metrics["csat"]["weight"] = 4
    metrics["contract"]["points"]["Monthly"] = 0
    metrics["logins_30d"]["breaks"][0] = 10
    data["bands"] = {"red_below": 45, "green_from": 62}
    data["rules"][0].update(cap=25, value=6)
    data["rules"][1]["op"] = ">"
    data["renewal"]["probability"]["Yellow"] = 0.7
    data["segments"]["weights"]["Starter"]["Usage"] = 10
    return Model.from_dict(data)


def test_editing_the_model_sheet_recalculates_like_the_engine(sample_book: Any,
                                                              tmp_path: Path) -> None:
    book, _, accounts = sample_book
    edited = tmp_path / "edited.xlsx"
    edit_model_tables(book, edited)
    recalculated = lo.recalculate(edited, tmp_path / "lo")
    model = edited_model()
    expected = score(model, accounts, as_of=reference_date(0)).scores
    before = score(default_model(), accounts, as_of=reference_date(0)).scores
    assert (expected["band"] != before["band"]).sum() > 10  # the edits matter
    assert_scores_equal(recalculated, expected)
    # the traffic-light thresholds moved with the Model (defined names resolve there)
    dashboard = sheet_cells(recalculated, "Dashboard")
    top = find_row(dashboard, "Band")
    assert dashboard[top + 1][1] == (expected["band"] == "Green").sum()


def test_the_shipped_blank_template_recalculates_to_blanks_without_errors(
        tmp_path: Path) -> None:
    template = Path(__file__).resolve().parents[1] / "templates" / \
        "customer_health_scorecard.xlsx"
    book = lo.values(lo.recalculate(template, tmp_path / "lo"))
    rows = list(book["Scores"].iter_rows(min_row=2, values_only=True))
    assert len(rows) >= 2000 and all(is_blank(v) for row in rows for v in row)
    for sheet in ("Dashboard", "Forecast", "Calc", "Start here"):
        values = [v for r in book[sheet].iter_rows(values_only=True) for v in r]
        errors = [v for v in values if isinstance(v, str) and v.startswith("#") and v != "#"]
        assert not errors, (sheet, errors[:5])
    summary = [r for r in book["Start here"].iter_rows(values_only=True) if r[0] == "Accounts"]
    assert summary[0][1] == 0
