"""The signal rules (issue 18), each with expected values worked out by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from chs_excel.core.errors import InputError
from chs_excel.core.model import default_model, model_from_dict
from chs_excel.core.signal_engine import compute_signals
from chs_excel.io.sources import load_sources, parse_overrides

AS_OF = dt.date(2027, 3, 31)
ACCOUNTS = pd.DataFrame({"account_id": ["A1", "A2", "a3", "A4"],
                         "arr": [1.0, 2.0, 3.0, 4.0]}, index=[2, 3, 4, 5])

TICKETS = """organization_id,created_at,priority,minutes
 a1 ,2027-03-31T23:59:59,HIGH,10
A1,2027-04-01T00:00:00,high,20
A1,2027-03-02 00:00:00,urgent,5
A1,2027-03-01T23:59:59,urgent,7
A1,2027-03-15,,4
A2,2027-03-20T10:00:00+02:00, Urgent ,abc
A3,2027-03-31T22:30:00-05:00,high,3
ZZ9,2027-03-30,high,1
ZZ9,2027-03-29,low,1
,2027-03-29,high,1
A2,not a date,high,1
"""


def model_for(signals: str, sources: str | None = None) -> object:
    data = default_model().to_dict()
    data["sources"] = yaml.safe_load(sources or
                                     "{tickets: {file: tickets.csv, key: organization_id, "
                                     "time: created_at}}")
    data["signals"] = yaml.safe_load(signals)
    return model_from_dict(data)


def run(tmp_path: Path, signals: str, text: str = TICKETS, as_of: dt.date = AS_OF,
        accounts: pd.DataFrame = ACCOUNTS):
    (tmp_path / "tickets.csv").write_text(text, "utf-8")
    model = model_for(signals)
    sources = load_sources(model, tmp_path / "model.yaml")
    return compute_signals(model, accounts, sources, as_of)


def col(result, name: str) -> list:
    return [None if pd.isna(v) else v for v in result.values[name]]


def test_count_window_to_the_second_and_text_keys(tmp_path: Path) -> None:
    r = run(tmp_path, """
- {name: urgent_30d, source: tickets, agg: count, window: 30,
   where: [{column: priority, op: in, value: [high, urgent]}]}
- {name: all_rows, source: tickets, agg: count}
""")
    # A1: 23:59:59 on the as-of day counts (padded, lower-case key); 04-01 00:00 never;
    # 03-02 00:00 is the window's first second (as_of - 29 days); 03-01 23:59:59 is out.
    # A2: " Urgent " matches urgent as a text key; its 'not a date' row never counts.
    # a3: 22:30 -05:00 is 03:30 UTC on 04-01: after the as-of day.
    assert col(r, "urgent_30d") == [2, 1, 0, 0]
    assert col(r, "all_rows") == [4, 1, 0, 0]
    assert r.values.index.tolist() == [2, 3, 4, 5]


def test_unmatched_keys_and_bad_times_are_issues(tmp_path: Path) -> None:
    r = run(tmp_path, "[{name: n, source: tickets, agg: count}]")
    problems = r.issues["problem"].tolist()
    unmatched = [p for p in problems if "match no account_id" in p]
    assert len(unmatched) == 1
    assert unmatched[0].startswith("3 row(s) of source tickets")  # ZZ9 twice, blank; A3 is a3
    assert "1 with a blank key" in unmatched[0] and "'ZZ9'" in unmatched[0]
    bad = r.issues[r.issues["problem"].str.contains("not a time")]
    assert bad[["row", "value"]].values.tolist() == [[12, "not a date"]]


def test_blank_satisfies_only_not_equal(tmp_path: Path) -> None:
    r = run(tmp_path, """
- {name: not_high, source: tickets, agg: count, where: [{column: priority, op: "<>", value: high}]}
- {name: is_high, source: tickets, agg: count, where: [{column: priority, op: "=", value: high}]}
""")
    # A1 rows up to the as-of day: HIGH, urgent, urgent, blank -> <> high: 3 ; = high: 1
    assert col(r, "not_high") == [3, 1, 0, 0]
    assert col(r, "is_high") == [1, 0, 0, 0]


def test_numbers_compare_as_numbers_and_text_in_of_is_an_issue(tmp_path: Path) -> None:
    r = run(tmp_path, """
- {name: long, source: tickets, agg: count, where: [{column: minutes, op: ">=", value: 7}]}
- {name: mins, source: tickets, agg: sum, of: minutes}
- {name: avg, source: tickets, agg: mean, of: minutes}
- {name: lo, source: tickets, agg: min, of: minutes}
- {name: hi, source: tickets, agg: max, of: minutes}
""")
    assert col(r, "long") == [2, 0, 0, 0]          # 10 and 7 (not "10" < "7" as text)
    assert col(r, "mins") == [26, 0, 0, 0]         # 10+5+7+4; A2's 'abc' skipped
    assert col(r, "avg") == [6.5, None, None, None]
    assert col(r, "lo") == [4, None, None, None]
    assert col(r, "hi") == [10, None, None, None]
    assert "abc" in r.issues["value"].tolist()


def test_latest_ties_averaged_and_days_since_last(tmp_path: Path) -> None:
    text = """organization_id,created_at,score,kind
A1,2027-03-01 09:00,4,nps
A1,2027-03-10 09:00,6,nps
A1,2027-03-10T09:00:00Z,9,nps
A1,2027-03-20 09:00,1,csat
A1,2027-04-02 09:00,0,nps
A2,2027-01-01T00:00:00.5,8,nps
"""
    r = run(tmp_path, """
- {name: nps_latest, source: tickets, agg: latest, of: score,
   where: [{column: kind, op: "=", value: nps}]}
- {name: days_nps, source: tickets, agg: days_since_last,
   where: [{column: kind, op: "=", value: NPS}]}
- {name: kinds, source: tickets, agg: distinct_count, of: kind}
""", text)
    assert col(r, "nps_latest") == [7.5, 8, None, None]
    assert col(r, "days_nps") == [21, 89, None, None]   # 03-31 - 03-10; 03-31 - 01-01
    assert col(r, "kinds") == [2, 1, 0, 0]


def test_errors_name_source_signal_and_field(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"source tickets \(.*tickets.csv\), signal s, "
                                         r"where: column 'prio' not found"):
        run(tmp_path, "[{name: s, source: tickets, agg: count, "
                      "where: [{column: prio, op: '=', value: a}]}]")
    with pytest.raises(InputError, match=r"signal s, of: column 'nope' not found"):
        run(tmp_path, "[{name: s, source: tickets, agg: sum, of: nope}]")
    with pytest.raises(InputError, match=r"signal 'urgent_30d': the accounts already have "
                                         r"a column 'Urgent 30d'"):
        run(tmp_path, "[{name: urgent_30d, source: tickets, agg: count}]",
            accounts=ACCOUNTS.assign(**{"Urgent 30d": 1}))
    model = model_for("[{name: s, source: tickets, agg: count}]",
                      "{tickets: {file: t.csv, key: org, time: created_at}}")
    with pytest.raises(InputError, match=r"source tickets \(.*t.csv\): file not found"):
        load_sources(model, tmp_path / "model.yaml")
    (tmp_path / "t.csv").write_text(TICKETS, "utf-8")
    with pytest.raises(InputError, match=r"source tickets .*: key column 'org' not found"):
        load_sources(model, tmp_path / "model.yaml")


def test_source_override_and_relative_paths(tmp_path: Path) -> None:
    model = model_for("[{name: s, source: tickets, agg: count}]")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "tickets.csv").write_text(TICKETS, "utf-8")
    found = load_sources(model, tmp_path / "sub" / "model.yaml")
    assert found["tickets"].attrs["file"] == str(tmp_path / "sub" / "tickets.csv")
    other = tmp_path / "other.csv"
    other.write_text("organization_id,created_at\nA4,2027-03-01\n", "utf-8")
    found = load_sources(model, tmp_path / "m.yaml",
                         parse_overrides([f"tickets={other}"], model))
    assert len(found["tickets"]) == 1
    with pytest.raises(InputError, match="the model has no source 'x'"):
        parse_overrides(["x=y.csv"], model)


def test_xlsx_and_parquet_sources(tmp_path: Path) -> None:
    frame = pd.DataFrame({"organization_id": ["A1", "A2"],
                          "created_at": pd.to_datetime(["2027-03-31 23:00:00+00:00",
                                                        "2027-03-31 23:00:00-02:00"], utc=True),
                          "priority": ["high", "high"]})
    frame.to_parquet(tmp_path / "t.parquet")
    model = model_for("[{name: s, source: tickets, agg: count}]",
                      "{tickets: {file: t.parquet, key: organization_id, time: created_at}}")
    r = compute_signals(model, ACCOUNTS, load_sources(model, tmp_path / "m.yaml"), AS_OF)
    assert col(r, "s") == [1, 0, 0, 0]   # A2's time is 01:00 UTC on 04-01
    import xlsxwriter
    book = xlsxwriter.Workbook(str(tmp_path / "t.xlsx"))
    ws = book.add_worksheet()
    fmt = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    ws.write_row(0, 0, ["organization_id", "created_at"])
    ws.write(1, 0, "A1")
    ws.write_datetime(1, 1, dt.datetime(2027, 3, 31, 23, 59, 59), fmt)
    ws.write(2, 0, "A2")
    ws.write_number(2, 1, 46478.0)   # 2027-04-01: after the as-of day
    book.close()
    model = model_for("[{name: s, source: tickets, agg: count}]",
                      "{tickets: {file: t.xlsx, key: organization_id, time: created_at}}")
    sources = load_sources(model, tmp_path / "m.yaml")
    assert sources["tickets"].index.tolist() == [2, 3]
    assert col(compute_signals(model, ACCOUNTS, sources, AS_OF), "s") == [1, 0, 0, 0]


@settings(max_examples=60, deadline=None)
@given(window=st.integers(1, 400), offset_s=st.integers(-3 * 86_400, 3 * 86_400))
def test_window_edges_property(window: int, offset_s: int) -> None:
    """A row counts iff as_of-(N-1) days 00:00 <= time < as_of+1 day 00:00, to the second."""
    start = dt.datetime.combine(AS_OF, dt.time()) - dt.timedelta(days=window - 1)
    end = dt.datetime.combine(AS_OF, dt.time()) + dt.timedelta(days=1)
    times = [start + dt.timedelta(seconds=offset_s), end + dt.timedelta(seconds=offset_s)]
    frame = pd.DataFrame({"organization_id": ["A1", "A2"],
                          "created_at": np.array(times, dtype="datetime64[ns]")},
                         index=[2, 3])
    model = model_for(f"[{{name: s, source: tickets, agg: count, window: {window}}}, "
                      "{name: all, source: tickets, agg: count}]")
    r = compute_signals(model, ACCOUNTS, {"tickets": frame}, AS_OF)
    in_window = [start <= t < end for t in times]
    assert col(r, "s")[:2] == [int(x) for x in in_window]
    assert col(r, "all")[:2] == [int(t < end) for t in times]
