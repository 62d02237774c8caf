"""The DuckDB signal engine equals the pandas reference, value by value and issue by issue."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlglot
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from chs_excel.core.model import default_model, model_from_dict
from chs_excel.core.signal_engine import compute_signals
from chs_excel.core.vocabulary import text_key
from chs_excel.engines.duckdb_signals import compute_signals_duckdb, load_sources_duckdb
from chs_excel.engines.signal_sql import SourceSchema, source_query
from chs_excel.io.sources import load_sources

AS_OF = dt.date(2027, 3, 31)
SIGNALS = """
- {name: urgent_30d, source: tickets, agg: count, window: 30,
   where: [{column: priority, op: in, value: [high, urgent]}]}
- {name: not_low, source: tickets, agg: count, where: [{column: priority, op: "<>", value: low}]}
- {name: minutes_sum_7d, source: tickets, agg: sum, of: minutes, window: 7}
- {name: minutes_mean, source: tickets, agg: mean, of: minutes,
   where: [{column: minutes, op: ">", value: 2}]}
- {name: minutes_min_90d, source: tickets, agg: min, of: minutes, window: 90}
- {name: minutes_max, source: tickets, agg: max, of: minutes,
   where: [{column: priority, op: ">=", value: l}]}
- {name: last_minutes, source: tickets, agg: latest, of: minutes}
- {name: days_since_ticket, source: tickets, agg: days_since_last,
   where: [{column: minutes, op: "<>", value: 3}]}
- {name: people_30d, source: tickets, agg: distinct_count, of: person, window: 30}
- {name: small, source: tickets, agg: count, where: [{column: minutes, op: "<=", value: 3},
   {column: person, op: "=", value: 7}]}
"""


def model():
    data = default_model().to_dict()
    data["sources"] = {"tickets": {"file": "tickets.csv", "key": "org", "time": "at"}}
    data["signals"] = yaml.safe_load(SIGNALS)
    return model_from_dict(data)


def generated(seed: int, n: int = 3000) -> tuple[pd.DataFrame, str]:
    """Accounts and a tickets csv with every edge: padded, cased and unknown keys, blank
    keys and priorities, rows after the as-of day, window edges to the second, tied times,
    offsets, text in the number column, numbers and text in one column."""
    rng = np.random.default_rng(seed)
    ids = [f"A{i}" for i in range(40)]
    accounts = pd.DataFrame({"account_id": ids}, index=range(2, 42))
    keys = rng.choice([*ids, " a1 ", "A2 ", "a3", "ZZ", ""], n)
    end = np.datetime64("2027-04-01T00:00:00")
    edges = np.array([end - np.timedelta64(d, "D") + np.timedelta64(s, "s")
                      for d in (1, 7, 30, 90) for s in (-1, 0, 1)])
    random_t = end - rng.integers(-5 * 86_400, 120 * 86_400, n).astype("timedelta64[s]")
    times = np.where(rng.random(n) < 0.3, rng.choice(edges, n), random_t)
    text = pd.Series(times.astype("datetime64[s]").astype(str))
    offset = rng.random(n) < 0.1
    text[offset] = (pd.Series(times[offset] + np.timedelta64(2, "h")).dt.strftime(
        "%Y-%m-%dT%H:%M:%S+02:00")).to_numpy()
    text[rng.random(n) < 0.01] = "garbage"
    minutes = rng.choice(["1", "2", "3", "4.5", " 10 ", "", "n/a", "lots", "-2"], n)
    priority = rng.choice(["high", " HIGH", "urgent", "low", "", "Low ", "medium"], n)
    person = rng.choice(["7", "7.0", "bob", "Bob ", "", "8"], n)
    frame = pd.DataFrame({"org": keys, "at": text, "priority": priority, "minutes": minutes,
                          "person": person})
    return accounts, frame.to_csv(index=False)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_duckdb_equals_reference_on_generated_data(tmp_path: Path, seed: int) -> None:
    accounts, csv = generated(seed)
    (tmp_path / "tickets.csv").write_text(csv, "utf-8")
    m = model()
    reference = compute_signals(m, accounts, load_sources(m, tmp_path / "m.yaml"), AS_OF)
    duck = compute_signals_duckdb(m, accounts, load_sources_duckdb(m, tmp_path / "m.yaml"),
                                  AS_OF)
    pd.testing.assert_frame_equal(duck.values, reference.values, check_exact=False,
                                  rtol=1e-12)
    assert reference.values["urgent_30d"].sum() > 0
    assert reference.values["last_minutes"].notna().sum() > 10
    assert duck.issues.astype(str).values.tolist() == \
        reference.issues.astype(str).values.tolist()


def test_clean_keys_grouped_as_written_equal_reference(tmp_path: Path) -> None:
    """One spelling per account: DuckDB groups rows by the key as written, then joins."""
    accounts, csv = generated(6)
    frame = pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)
    frame["org"] = frame["org"].str.strip().str.upper()
    (tmp_path / "tickets.csv").write_text(frame.to_csv(index=False), "utf-8")
    m = model()
    reference = compute_signals(m, accounts, load_sources(m, tmp_path / "m.yaml"), AS_OF)
    duck = compute_signals_duckdb(m, accounts, load_sources_duckdb(m, tmp_path / "m.yaml"),
                                  AS_OF)
    pd.testing.assert_frame_equal(duck.values, reference.values, check_exact=False,
                                  rtol=1e-12)
    assert duck.issues.astype(str).values.tolist() == \
        reference.issues.astype(str).values.tolist()


def test_filters_joined_as_flags_equal_reference(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """With no filter column short enough to be a list of constants, the flags join."""
    import chs_excel.engines.duckdb_signals as engine
    monkeypatch.setattr(engine, "DISTINCT_INLINE", 0)
    accounts, csv = generated(5)
    (tmp_path / "tickets.csv").write_text(csv, "utf-8")
    m = model()
    reference = compute_signals(m, accounts, load_sources(m, tmp_path / "m.yaml"), AS_OF)
    duck = compute_signals_duckdb(m, accounts, load_sources_duckdb(m, tmp_path / "m.yaml"),
                                  AS_OF)
    pd.testing.assert_frame_equal(duck.values, reference.values, check_exact=False,
                                  rtol=1e-12)


def test_parquet_scanned_by_duckdb_equals_reference(tmp_path: Path) -> None:
    accounts, csv = generated(4)
    (tmp_path / "tickets.csv").write_text(csv, "utf-8")
    m = model()
    frame = load_sources(m, tmp_path / "m.yaml")["tickets"]
    reference = compute_signals(m, accounts, {"tickets": frame}, AS_OF)
    zoned = frame.assign(at=frame["at"].dt.tz_localize("UTC").dt.tz_convert("Asia/Kolkata"))
    zoned.attrs = {}
    for c in zoned.columns:   # a text column holds numbers read from text ('4.5', ' 10 ')
        if zoned[c].dtype == object:   # Parquet stores one type: them as text keys do
            zoned[c] = zoned[c].map(lambda v: v if v is None or isinstance(v, str)
                                    else text_key(v))
    zoned.to_parquet(tmp_path / "tickets.parquet", index=False)
    sources = {"tickets": tmp_path / "tickets.parquet"}
    duck = compute_signals_duckdb(m, accounts, sources, AS_OF, memory_limit="500MB",
                                  threads=1)
    pd.testing.assert_frame_equal(duck.values, reference.values, check_exact=False,
                                  rtol=1e-12)


def test_sql_is_dialect_aware() -> None:
    m = model()
    schema = SourceSchema("tickets", "org", "at", frozenset({"minutes"}))
    columns = {g.name: {c: c for c in ("priority", "minutes", "person")} for g in m.signals}
    for dialect in ("duckdb", "spark", "postgres"):
        sql = source_query(list(m.signals), schema, columns, AS_OF, dialect)
        assert sqlglot.parse_one(sql, read=dialect) is not None
    spark = source_query(list(m.signals), schema, columns, AS_OF, "spark")
    assert "TIMESTAMP_NTZ" in spark or "TIMESTAMP" in spark
    assert "'2027-03-02 00:00:00' AS TIMESTAMP)" in source_query(
        list(m.signals), schema, columns, AS_OF)


@settings(max_examples=25, deadline=None)
@given(window=st.integers(1, 120), offsets=st.lists(st.integers(-2 * 86_400, 2 * 86_400),
                                                    min_size=1, max_size=6),
       values=st.lists(st.sampled_from(["1", "2", "", "x", "3.5"]), min_size=6, max_size=6))
def test_duckdb_equals_reference_at_window_edges(window: int, offsets: list[int],
                                                 values: list[str]) -> None:
    """Rows a second either side of the window's start and of the as-of day's end."""
    end = np.datetime64("2027-04-01T00:00:00")
    start = end - np.timedelta64(window, "D")
    times = [(start if i % 2 else end) + np.timedelta64(o, "s")
             for i, o in enumerate(offsets)]
    n = len(times)
    frame = pd.DataFrame({"org": (["A1", "a1 ", "A2"] * 2)[:n],
                          "at": np.array(times, dtype="datetime64[ns]"),
                          "priority": (["high", "", "low"] * 2)[:n],
                          "minutes": values[:n], "person": values[:n]},
                         index=range(2, n + 2))
    frame.attrs["file"] = "t.csv"
    accounts = pd.DataFrame({"account_id": ["A1", "A2", "A3"]})
    data = model().to_dict()
    for item in data["signals"]:
        if "window" in item:
            item["window"] = window
    m = model_from_dict(data)
    reference = compute_signals(m, accounts, {"tickets": frame}, AS_OF)
    duck = compute_signals_duckdb(m, accounts, {"tickets": frame}, AS_OF)
    pd.testing.assert_frame_equal(duck.values, reference.values, check_exact=False,
                                  rtol=1e-12)
