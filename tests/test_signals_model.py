"""The signals model (issue 18): YAML and Model-table round trips, and every model error."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from chs_excel.core.errors import ModelError
from chs_excel.core.model import default_model, model_from_dict, model_from_tables
from chs_excel.core.signals import Signal, SignalFilter, Source

# The issue's pinned form, as a user writes it.
ISSUE_YAML = """
sources:
  tickets:  {file: tickets.csv,  key: organization_id, time: created_at}
  events:   {file: events.csv,   key: account,         time: event_time}
  surveys:  {file: surveys.csv,  key: company,         time: created_at}
  invoices: {file: invoices.csv, key: customer_id,     time: due_date}
signals:
  - {name: urgent_tickets_30d, source: tickets, agg: count, window: 30,
     where: [{column: priority, op: in, value: [high, urgent]}]}
  - {name: days_since_login, source: events, agg: days_since_last,
     where: [{column: event_type, op: "=", value: login}]}
  - {name: active_users_30d, source: events, agg: distinct_count, of: user_id, window: 30}
  - {name: csat_90d, source: surveys, agg: mean, of: score, window: 90,
     where: [{column: survey_type, op: "=", value: csat}]}
  - {name: nps_latest, source: surveys, agg: latest, of: score,
     where: [{column: survey_type, op: "=", value: nps}]}
  - {name: open_cents_due, source: invoices, agg: sum, of: amount_due,
     where: [{column: status, op: in, value: [open, uncollectible]}]}
"""


def with_signals(extra: str = ISSUE_YAML) -> dict:
    data = default_model().to_dict()
    data.update(yaml.safe_load(extra))
    return data


def test_issue_yaml_reads_as_written() -> None:
    model = model_from_dict(with_signals())
    assert model.sources[0] == Source("tickets", "tickets.csv", "organization_id",
                                      "created_at")
    assert [s.name for s in model.sources] == ["tickets", "events", "surveys", "invoices"]
    assert model.signals[0] == Signal("urgent_tickets_30d", "tickets", "count", None, 30,
                                      (SignalFilter("priority", "in", ("high", "urgent")),))
    assert model.signals[2] == Signal("active_users_30d", "events", "distinct_count",
                                      "user_id", 30)
    assert model.signals[4].window is None
    assert model.signals[3].where == (SignalFilter("survey_type", "=", "csat"),)


def test_yaml_round_trip() -> None:
    model = model_from_dict(with_signals())
    again = model_from_dict(yaml.safe_load(model.to_yaml()))
    assert again == model
    dumped = yaml.safe_load(model.to_yaml())
    assert dumped["sources"]["events"] == {"file": "events.csv", "key": "account",
                                           "time": "event_time"}
    assert dumped["signals"][0] == {"name": "urgent_tickets_30d", "source": "tickets",
                                    "agg": "count", "window": 30,
                                    "where": [{"column": "priority", "op": "in",
                                               "value": ["high", "urgent"]}]}


def test_model_without_signals_writes_no_signal_keys() -> None:
    dumped = default_model().to_dict()
    assert "sources" not in dumped and "signals" not in dumped


def test_tables_round_trip() -> None:
    text = ISSUE_YAML.replace("time: due_date}", "time: due_date, preset: stripe}") + """
  - {name: big_invoices, source: invoices, agg: max, of: amount_due, window: 365,
     where: [{column: amount_due, op: ">=", value: 1000}, {column: status, op: "<>",
              value: paid}]}
"""
    model = model_from_dict(with_signals(text))
    tables = model.to_frame()
    filters = tables["SignalFilters"]
    # an `in` filter is one row per value, so formulas read each value from its cell
    assert filters.iloc[:2].to_dict("records") == [
        {"signal": "urgent_tickets_30d", "column": "priority", "op": "in", "value": "high"},
        {"signal": "urgent_tickets_30d", "column": "priority", "op": "in", "value": "urgent"}]
    assert list(tables["Sources"].columns) == ["name", "file", "key", "time", "preset"]
    assert list(tables["Signals"].columns) == ["name", "source", "agg", "of", "window"]
    assert tables["Sources"].iloc[3]["preset"] == "stripe"
    assert model_from_tables(tables) == model


def test_tables_as_a_workbook_reads_them() -> None:
    """Cells come back as floats (30.0), blanks as None or NaN, names in other case."""
    model = model_from_dict(with_signals())
    tables = {k: v.copy() for k, v in model.to_frame().items()}
    tables["Signals"]["window"] = [float("nan") if w is None else float(w)
                                   for w in tables["Signals"]["window"]]
    tables["SignalFilters"]["signal"] = tables["SignalFilters"]["signal"].str.upper()
    assert model_from_tables(tables) == model


def test_older_book_without_signal_tables() -> None:
    tables = default_model().to_frame()
    for name in ("Sources", "Signals", "SignalFilters"):
        del tables[name]
    assert model_from_tables(tables) == default_model()


def test_filter_row_of_unknown_signal_names_row() -> None:
    model = model_from_dict(with_signals())
    tables = model.to_frame()
    tables["SignalFilters"] = pd.concat([tables["SignalFilters"], pd.DataFrame(
        [{"signal": "nope", "column": "x", "op": "=", "value": 1}])], ignore_index=True)
    with pytest.raises(ModelError, match=r"table SignalFilters, row 8, column signal: "
                                         r"'nope' is not a signal"):
        model_from_tables(tables)


def test_a_signal_may_be_named_like_a_metric_column() -> None:
    data = with_signals("""
sources: {events: {file: e.csv, key: account, time: t}}
signals: [{name: logins_30d, source: events, agg: count, window: 30}]
""")
    assert any(m["column"] == "logins_30d" for m in data["metrics"])  # the metric scores it
    assert model_from_dict(data).signals[0].name == "logins_30d"


BASE = "sources: {events: {file: e.csv, key: account, time: t}}\n"


@pytest.mark.parametrize(("signals", "message"), [
    ("[{name: x, source: nope, agg: count}]",
     r"signal 'x': unknown source 'nope' \(sources: events\)"),
    ("[{name: x, source: events, agg: median, of: v}]", r"signal 'x': unknown agg 'median'"),
    ("[{name: x, source: events, agg: sum}]", r"signal 'x': agg sum needs 'of'"),
    ("[{name: x, source: events, agg: count, of: v}]",
     r"signal 'x': agg count takes no 'of' column"),
    ("[{name: x, source: events, agg: days_since_last, of: v}]",
     r"signal 'x': agg days_since_last takes no 'of'"),
    ("[{name: x, source: events, agg: count, window: 0}]",
     r"signal 'x': window must be a positive whole number of days, got 0"),
    ("[{name: x, source: events, agg: count, window: 2.5}]",
     r"signal 'x': window must be a positive whole number of days, got 2.5"),
    ("[{name: x, source: events, agg: count, window: week}]",
     r"signal 'x': window must be a positive whole number of days, got 'week'"),
    ("[{name: x, source: events, agg: count, where: [{column: c, op: like, value: a}]}]",
     r"signal 'x': filter 1: unknown op 'like'"),
    ("[{name: x, source: events, agg: count, where: [{column: c, op: in, value: []}]}]",
     r"signal 'x': filter 1: op in needs a list of values"),
    ("[{name: x, source: events, agg: count, where: [{column: c, op: '=', value: [a]}]}]",
     r"signal 'x': filter 1: op = needs one number or text"),
    ("[{name: x, source: events, agg: count, where: [{column: c, op: '='}]}]",
     r"signal 'x': where item 1: value is missing"),
    ("[{name: x, source: events, agg: count, where: [{column: c, op: '=', value: a, "
     "other: 1}]}]", r"signal 'x': where item 1: unknown key 'other'"),
    ("[{name: x, source: events, agg: count, every: 1}]", r"signal 'x': unknown key 'every'"),
    ("[{source: events, agg: count}]", r"signals item 1: name is missing"),
    ("[{name: arr, source: events, agg: count}]",
     r"signal 'arr': the name is taken by the column 'arr'"),
    ("[{name: Health, source: events, agg: count}]",
     r"signal 'Health': the name is taken by the column 'health'"),
    ("[{name: override_score, source: events, agg: count}]",
     r"signal 'override_score': the name is taken"),
    ("[{name: account_id, source: events, agg: count}]",
     r"signal 'account_id': the name is taken"),
    ("[{name: n, source: events, agg: count}, {name: N, source: events, agg: count}]",
     r"signal 'n': two signals share this name"),
])
def test_signal_errors(signals: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        model_from_dict(with_signals(BASE + "signals: " + signals))


@pytest.mark.parametrize(("sources", "message"), [
    ("{events: {file: e.csv, time: t}}", r"source 'events': key is missing"),
    ("{events: {file: e.csv, key: k}}", r"source 'events': time is missing"),
    ("{events: {file: e.csv, key: k, time: t, sheet: x}}",
     r"sources.events: unknown key 'sheet'"),
    ("{events: e.csv}", r"sources.events: expected a mapping with file, key and time"),
    ("{events: {file: e.csv, key: k, time: t, preset: shopify}}",
     r"source 'events': unknown preset 'shopify'"),
    ("{my events: {file: e.csv, key: k, time: t}}",
     r"source 'my events': the name names a sheet and an Excel Table"),
    ("{A1: {file: e.csv, key: k, time: t}}", r"source 'A1': the name names a sheet"),
    ("{Accounts: {file: e.csv, key: k, time: t}}",
     r"source 'Accounts': the name is taken by one of the workbook's sheets"),
    ("[events]", r"sources: expected a mapping of source name"),
])
def test_source_errors(sources: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        model_from_dict(with_signals(f"sources: {sources}\nsignals: []"))


def test_error_points_at_the_table_cell() -> None:
    with pytest.raises(ModelError) as caught:
        model_from_dict(with_signals(BASE + "signals: [{name: x, source: events, "
                                     "agg: count, window: -3}]"))
    problem = caught.value.problems[-1]
    assert (problem.table, problem.key, problem.field) == ("Signals", "x", "window")
