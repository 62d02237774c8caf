"""The SQL engines equal the pandas reference (docs/engines.md): DuckDB (frame and Parquet
in), Spark, and the SQL `chs sql` writes run by DuckDB and by Spark themselves, on accounts
that exercise every SPEC rule and edge; plus checks on the emitted SQL itself."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot

from chs_excel.core.engine import score
from chs_excel.core.model import model_from_dict
from chs_excel.engines import duckdb_engine
from chs_excel.engines.duckdb_engine import text_frame
from chs_excel.engines.sql_compiler import DIALECTS, compile_model
from tests.cli_runner import run

AS_OF = dt.date(2026, 3, 1)
MODEL_DICT = {
    "name": "Engines test",
    "bands": {"red_below": 40, "green_from": 70},
    "min_coverage": 0.6,
    "components": {"Usage": 40, "Support": 20, "Sentiment": 25, "Financial": 15},
    "metrics": [
        {"column": "usage pct", "component": "Usage", "weight": 2, "method": "linear",
         "worst": 0, "best": 80},
        {"column": "logins", "component": "Usage", "method": "log", "worst": 0, "best": 50},
        {"column": "adoption", "component": "Usage", "method": "percentile"},
        {"column": "tickets", "component": "Support", "method": "steps",
         "breaks": [2, 5, 10], "points": [100, 70, 40, 0]},
        {"column": "wait", "component": "Support", "method": "percentile",
         "higher_is_better": False},
        {"column": "rare", "component": "Support", "weight": 0.5, "method": "percentile"},
        {"column": "sponsor", "component": "Sentiment", "method": "flag"},
        {"column": "nps", "component": "Sentiment", "weight": 2, "method": "linear",
         "worst": 0, "best": 10},
        {"column": "late", "component": "Financial", "method": "log", "worst": 60,
         "best": 0},
        {"column": "contract", "component": "Financial", "method": "category",
         "points": {"Monthly": 30, "Annual": 70, "Multi-year": 100}},
    ],
    "rules": [
        {"name": "Detractor", "column": "nps", "op": "<=", "value": 4, "cap": 39},
        {"name": "Monthly churn risk", "column": "contract", "op": "=", "value": "monthly",
         "cap": 55.5},
        {"name": "No sponsor", "column": "sponsor", "op": "=", "value": False, "cap": 65},
        {"name": "Escalated", "column": "escalations", "op": ">", "value": 2, "cap": 30},
    ],
    "segments": {"column": "plan", "weights": {
        "Starter": {"Usage": 60, "Support": 10, "Sentiment": 20, "Financial": 10}}},
    "quartiles": {"by": "region"},
    "renewal": {"probability": {"Green": 0.95, "Yellow": 0.8, "Red": 0.5}},
    "playbooks": [
        {"name": "Save", "when": [{"test": "band", "value": "Red"}], "action": "Call",
         "owner": "CSM", "priority": 1, "due_in_days": 7},
        {"name": "Exec", "when": [{"test": "capped_by", "value": "Detractor"}],
         "action": "Exec call", "owner": "VP", "priority": 1, "due_in_days": 0},
        {"name": "Weak usage", "when": [{"test": "weakest_component", "value": "Usage"},
                                        {"test": "health", "op": "<", "value": 80}],
         "action": "Training", "owner": "CSM", "priority": 2, "due_in_days": 30},
        {"name": "Renewal", "when": [{"test": "renewal_within", "value": 90},
                                     {"test": "band", "op": "<=", "value": "Yellow"}],
         "action": "Renewal plan", "owner": "AE", "priority": 3},
        {"name": "Low data", "when": [{"test": "low_data", "value": True}],
         "action": "Collect data", "owner": "Ops", "priority": 4},
        {"name": "Slow support", "when": [{"column": "tickets", "op": ">=", "value": 5},
                                          {"test": "component", "column": "Support",
                                           "op": "<", "value": 50}],
         "action": "Escalate", "owner": "Support", "priority": 2},
    ],
}
MODEL = model_from_dict(MODEL_DICT)


def edge_accounts(n: int = 240, seed: int = 7) -> pd.DataFrame:
    """Accounts with every edge: ties (values on a coarse grid), one account with `rare`
    (n = 1 percentile), blank accounts a cap would hit, text in numbers, padded keys and
    odd spaces, NA words, inf, overrides valid / expired / out of range / bad."""
    rng = np.random.default_rng(seed)

    def grid(lo: float, hi: float, step: float) -> np.ndarray:
        return np.round(rng.uniform(lo, hi, n) / step) * step

    frame = pd.DataFrame({
        "Account ID": [f"A{k:04d}" for k in range(n)],
        "usage pct": grid(0, 100, 5).astype(object),
        "logins": rng.integers(0, 80, n).astype(object),
        "adoption": grid(0, 1, 0.1).astype(object),
        "tickets": rng.integers(0, 14, n).astype(object),
        "wait": grid(0, 48, 4).astype(object),
        "rare": np.full(n, None, dtype=object),
        "sponsor": rng.choice(["yes", "no", "TRUE", "0", " Y ", "x", None], n).astype(object),
        "nps": rng.integers(0, 11, n).astype(object),
        "late": rng.integers(0, 90, n).astype(object),
        "contract": rng.choice(["Monthly", "Annual", "Multi-year", "annual\u00a0",
                                " MULTI-YEAR", None], n).astype(object),
        "escalations": rng.integers(0, 5, n).astype(object),
        "plan": rng.choice(["Starter", " starter", "Pro", None], n).astype(object),
        "region": rng.choice(["EMEA", "emea ", "AMER", None], n).astype(object),
        "arr": rng.integers(1, 100, n) * 1000.0,
        "renewal_date": pd.Timestamp(AS_OF) + pd.to_timedelta(rng.integers(-30, 200, n), "D"),
        "override_score": np.full(n, None, dtype=object),
        "override_until": np.full(n, None, dtype=object),
    })
    frame.loc[3, "rare"] = 17                      # the one present value: scores 100
    frame.loc[5, ["usage pct", "logins", "adoption", "tickets", "wait", "sponsor", "nps",
                  "late", "contract"]] = None      # no data at all ...
    frame.loc[5, "escalations"] = 4                # ... and a triggered cap: still no data
    frame.loc[6, ["usage pct", "logins", "adoption", "tickets", "wait", "sponsor", "nps",
                  "late", "contract"]] = ["n/a", "NULL", "", " ", None, "", "NA", None, ""]
    frame.loc[7, ["usage pct", "nps", "late"]] = [" 42 ", "7\u00a0", "\t12"]  # padded
    frame.loc[8, ["usage pct", "logins", "tickets", "nps"]] = ["abc", "1,5", "inf", "1_0"]
    frame.loc[9, ["sponsor", "contract"]] = ["maybe", "Weekly"]
    frame.loc[10, ["override_score", "override_until"]] = [88, "2026-12-31"]
    frame.loc[11, ["override_score", "override_until"]] = [12, "2025-01-01"]  # expired
    frame.loc[12, ["override_score", "override_until"]] = [140, None]        # out of range
    frame.loc[13, ["override_score", "override_until"]] = ["high", None]     # not a number
    frame.loc[14, ["override_score", "override_until"]] = [" 55 ", "soon"]   # bad date
    frame.loc[5, "override_score"] = None
    frame.loc[15, ["override_score"]] = [0]                                  # override 0
    frame.loc[16, "Account ID"] = "  A0016  "                                # padded id
    frame.loc[17, "escalations"] = "lots"                                    # rule text
    frame.index = pd.RangeIndex(2, n + 2)
    return frame


def assert_same(reference: pd.DataFrame, other: pd.DataFrame, where: str) -> None:
    """Every column of the reference equal in `other` (numbers to 1e-9, text exactly)."""
    assert len(other) == len(reference), where
    ref = reference.reset_index(drop=True)
    got = other.set_index("account_id").loc[ref["account_id"]].reset_index()
    for col in ref.columns:
        assert col in got.columns, f"{where}: column {col} missing"
        a, b = ref[col], got[col]
        if pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a):
            x = pd.to_numeric(a).astype(float).to_numpy()
            y = pd.to_numeric(b).astype(float).to_numpy()
            bad = ~((np.isnan(x) & np.isnan(y)) | (np.abs(x - y) <= 1e-9))
        elif pd.api.types.is_datetime64_any_dtype(a):
            bad = ~((a.isna() & b.isna()) | (a == pd.to_datetime(b))).to_numpy()
        else:
            x = a.astype(object).where(a.notna(), None).to_numpy()
            y = b.astype(object).where(b.notna(), None).to_numpy()
            bad = np.array([bool(u != v) for u, v in zip(x, y, strict=True)])
        assert not bad.any(), (f"{where}: {col} differs in {bad.sum()} rows, e.g. "
                               f"{list(ref['account_id'][bad][:3])}: {list(a[bad][:3])} vs "
                               f"{list(b[bad][:3])}")


def issue_set(issues: pd.DataFrame) -> set[tuple]:
    return {(int(r.row), str(r.column), str(r.value).strip(), r.problem)
            for r in issues.itertuples()}


@pytest.fixture(scope="module")
def accounts() -> pd.DataFrame:
    return edge_accounts()


@pytest.fixture(scope="module")
def reference(accounts: pd.DataFrame):
    return score(MODEL, accounts, as_of=AS_OF)


def test_the_reference_scores_the_edges_as_spec_says(reference) -> None:
    """Hand-checked cells of the reference the other engines are held to."""
    s = reference.scores.set_index("account_id")
    assert s.loc["A0003", "rare_score"] == 100                 # n = 1 percentile
    assert s["rare_score"].notna().sum() == 1
    assert np.isnan(s.loc["A0005", "health"]) and s.loc["A0005", "band"] == "No data"
    assert s.loc["A0005", "capped_by"] == ""                   # a cap never scores no data
    assert s.loc["A0010", "health"] == 88 and s.loc["A0010", "overridden"]
    assert not s.loc["A0011", "overridden"] and not s.loc["A0012", "overridden"]
    assert s.loc["A0015", "health"] == 0 and s.loc["A0015", "band"] == "Red"
    assert "A0016" in s.index                                  # padded id trimmed
    # padded numbers are numbers: usage 42 of 80 -> 52.5 points
    assert s.loc["A0007", "usage pct_score"] == pytest.approx(52.5)
    assert s.loc["A0007", "nps_score"] == pytest.approx(70)


def test_duckdb_engine_equals_pandas(accounts, reference) -> None:
    got = duckdb_engine.score(MODEL, accounts, as_of=AS_OF)
    assert_same(reference.scores, got.scores.assign(account_id=got.scores["account_id"]),
                "duckdb")
    assert issue_set(got.issues) == issue_set(reference.issues)
    assert len(reference.issues) >= 8   # text in numbers listed, never silently NULL


def test_duckdb_reads_parquet_itself(accounts, reference, tmp_path) -> None:
    path = tmp_path / "accounts.parquet"
    text_frame(accounts).rename(columns={"account_id": "Account ID"}).to_parquet(path)
    got = duckdb_engine.score(MODEL, path, as_of=AS_OF)
    assert_same(reference.scores.drop(columns=["renewal_date"]), got.scores, "parquet")
    assert issue_set(got.issues) == issue_set(reference.issues)


def test_emitted_duckdb_sql_run_by_duckdb_equals_pandas(accounts, reference) -> None:
    """The query a data team gets, run as written on a table of text columns."""
    table = text_frame(accounts)
    sql = compile_model(MODEL, "duckdb", columns=table.columns, as_of=AS_OF)
    con = duckdb.connect()
    con.register("accounts", table)
    assert_same(reference.scores, con.execute(sql.score).df(), "duckdb sql")
    issues = con.execute(sql.issues).df()
    assert len(issues) == len(reference.issues)


def test_the_renewal_curve_and_due_dates_in_sql_equal_pandas(accounts) -> None:
    """A renewal curve whose points sit on the caps (30, 55.5, 65: healths hit exactly)
    and beyond the healths seen; due dates from the as-of date and from CURRENT_DATE."""
    curve = [{"health": 30, "probability": 0.2}, {"health": 55.5, "probability": 0.61},
             {"health": 65, "probability": 0.75}, {"health": 101, "probability": 0.97}]
    model = model_from_dict({**MODEL_DICT, "renewal": {**MODEL_DICT["renewal"],
                                                        "curve": curve}})
    expected = score(model, accounts, as_of=AS_OF).scores
    health = expected["health"]
    assert {30.0, 55.5, 65.0} <= set(health)                   # the points themselves
    by_hand = np.interp(health, [30, 55.5, 65, 101], [0.2, 0.61, 0.75, 0.97])
    assert np.allclose(expected["renewal_probability"].where(health.notna()),
                       np.where(health.notna(), by_hand, np.nan), equal_nan=True)
    table = text_frame(accounts)
    con = duckdb.connect()
    con.register("accounts", table)
    assert_same(expected, con.execute(compile_model(model, "duckdb", columns=table.columns,
                                                    as_of=AS_OF).score).df(), "curve sql")
    got = duckdb_engine.score(model, accounts, as_of=AS_OF).scores
    assert_same(expected, got, "curve engine")
    due = expected.set_index("account_id")["action_due"]
    assert (due.dropna() >= pd.Timestamp(AS_OF)).all() and due.notna().sum() > 10
    today = con.execute(compile_model(model, "duckdb", columns=table.columns).score).df()
    played = score(model, accounts).scores
    assert list(today["action_due"].fillna(pd.Timestamp(0))) == \
        list(played["action_due"].fillna(pd.Timestamp(0)))


def test_small_dialect_table_traps() -> None:
    """The per-dialect spellings the issue names: Spark's exact percentile, Postgres'
    WITHIN GROUP, BigQuery's window form."""
    assert DIALECTS["spark"].quantile.startswith("PERCENTILE(")
    assert "QUANTILE_CONT" in DIALECTS["duckdb"].quantile
    assert "WITHIN GROUP" in DIALECTS["postgres"].quantile
    assert "OVER" in DIALECTS["bigquery"].quantile
    assert DIALECTS["spark"].type("double") == "DOUBLE"
    assert DIALECTS["postgres"].type("double") == "DOUBLE PRECISION"
    assert DIALECTS["bigquery"].type("double") == "FLOAT64"


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_emitted_sql_is_exact_typed_and_guarded(dialect: str) -> None:
    sql = compile_model(MODEL, dialect, as_of=AS_OF)
    for text in (sql.score, sql.issues):
        sqlglot.parse_one(text, read=dialect)                 # valid in its dialect
        code = re.sub(r"'(?:[^']|'')*'", "''", re.sub(r"--[^\n]*", "", text))
        approximate = re.findall(r"\b(\w*APPROX\w*|PERCENT_RANK|NTILE)\b", code.upper())
        assert not approximate, f"{dialect}: {approximate}"
        for m in re.finditer(r"(?<![\w.])\d+\.\d+(?:e[+-]?\d+)?", code, re.IGNORECASE):
            before = code[max(0, m.start() - 5):m.start()]
            assert before == "CAST(", f"bare decimal literal {m.group()} in {dialect}"
        for m in re.finditer(r"LEAST\(", code):
            line = code[code.rfind("\n", 0, m.start()) + 1:m.start()]
            assert "IS NULL THEN NULL ELSE" in line, f"unguarded LEAST in {dialect}: {line}"
    assert "-- Customer health scores: model 'Engines test'" in sql.score
    assert "hash " in sql.score.splitlines()[0]


def test_chs_sql_writes_the_query_fast(tmp_path) -> None:
    model = tmp_path / "model.yaml"
    MODEL.save(model)
    out = tmp_path / "score.sql"
    start = time.perf_counter()
    from click.testing import CliRunner

    from chs_excel.app.commands_sql import sql_command
    result = CliRunner().invoke(sql_command, ["--model", str(model), "--dialect", "spark",
                                              "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - start < 0.5
    text = out.read_text()
    assert "PERCENTILE(health" in text and "FROM accounts" in text


def test_chs_score_engines_agree_through_the_cli(accounts, tmp_path) -> None:
    src = tmp_path / "accounts.parquet"
    text_frame(accounts).rename(columns={"account_id": "Account ID"}).to_parquet(src)
    model = tmp_path / "model.yaml"
    MODEL.save(model)
    outs = {}
    for engine, name in (("pandas", "p.parquet"), ("auto", "d.parquet")):
        out = tmp_path / name
        result = subprocess.run(
            [sys.executable, "-m", "chs_excel", "score", str(src), "--model", str(model),
             "--engine", engine, "--as-of", AS_OF.isoformat(), "-o", str(out)],
            capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        outs[engine] = pd.read_parquet(out)
    assert_same(outs["pandas"], outs["auto"], "cli parquet")


# ---------------------------------------------------------------- Spark (one session)

@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark")
    from chs_excel.engines.spark_engine import session
    spark = session("local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    yield spark
    spark.stop()


SPARK_ROWS = 40


def test_spark_engine_and_emitted_spark_sql_equal_pandas(spark) -> None:
    from chs_excel.engines import spark_engine
    accounts = edge_accounts(SPARK_ROWS, seed=3)
    reference = score(MODEL, accounts, as_of=AS_OF)
    got = spark_engine.score(MODEL, accounts, as_of=AS_OF, spark=spark)
    assert_same(reference.scores, got.scores, "spark")
    assert issue_set(got.issues) == issue_set(reference.issues)
    table = text_frame(accounts)
    spark.createDataFrame(table.astype(object).where(table.notna(), None)) \
        .createOrReplaceTempView("accounts")
    sql = compile_model(MODEL, "spark", columns=table.columns, as_of=AS_OF)
    assert_same(reference.scores, spark.sql(sql.score).toPandas(), "spark sql")


# ---------------------------------------------------------------- chs sql --signals

SIGNAL_AS_OF = dt.date(2026, 3, 31)
SIGNAL_MODEL = {
    "name": "Signals in SQL",
    "bands": {"red_below": 40, "green_from": 70},
    "components": {"Support": 30, "Usage": 40, "Sentiment": 30},
    "sources": {"tickets": {"file": "tickets.csv", "key": "organization_id",
                            "time": "created_at"},
                "events": {"file": "events.csv", "key": "account", "time": "event_time"},
                "surveys": {"file": "surveys.csv", "key": "company", "time": "created_at"}},
    "signals": [
        {"name": "urgent_tickets_30d", "source": "tickets", "agg": "count", "window": 30,
         "where": [{"column": "priority", "op": "in", "value": ["high", "urgent"]}]},
        {"name": "not_low_tickets", "source": "tickets", "agg": "count",
         "where": [{"column": "priority", "op": "<>", "value": "low"}]},
        {"name": "days_since_login", "source": "events", "agg": "days_since_last",
         "where": [{"column": "event type", "op": "=", "value": "login"}]},
        {"name": "active_users_30d", "source": "events", "agg": "distinct_count",
         "of": "user_id", "window": 30},
        {"name": "big_events", "source": "events", "agg": "sum", "of": "amount",
         "where": [{"column": "amount", "op": ">=", "value": 5}]},
        {"name": "csat_90d", "source": "surveys", "agg": "mean", "of": "score",
         "window": 90, "where": [{"column": "survey_type", "op": "=", "value": "csat"}]},
        {"name": "nps_latest", "source": "surveys", "agg": "latest", "of": "score",
         "where": [{"column": "survey_type", "op": "=", "value": "nps"}]},
        {"name": "low_score", "source": "surveys", "agg": "min", "of": "score"},
    ],
    "metrics": [
        {"column": "urgent_tickets_30d", "component": "Support", "method": "linear",
         "worst": 5, "best": 0},
        {"column": "not_low_tickets", "component": "Support", "method": "linear",
         "worst": 8, "best": 0},
        {"column": "days_since_login", "component": "Usage", "method": "linear",
         "worst": 60, "best": 0},
        {"column": "active_users_30d", "component": "Usage", "method": "percentile"},
        {"column": "big_events", "component": "Usage", "method": "log", "worst": 0,
         "best": 100},
        {"column": "csat_90d", "component": "Sentiment", "method": "linear", "worst": 1,
         "best": 5},
        {"column": "nps_latest", "component": "Sentiment", "method": "linear", "worst": 0,
         "best": 10},
        {"column": "low_score", "component": "Sentiment", "method": "linear", "worst": 0,
         "best": 10},
    ],
    "rules": [{"name": "Detractor", "column": "nps_latest", "op": "<=", "value": 4,
               "cap": 39}],
}


def signal_exports(seed: int = 3) -> dict[str, pd.DataFrame]:
    """Raw exports as text, with the issue's edges: padded and differently-cased keys,
    unknown keys, blank priorities, rows after the as-of day, window edges to the second,
    tied latest answers, text among numbers."""
    rng = np.random.default_rng(seed)
    ids = [f"A{k:03d}" for k in range(60)]
    day = pd.Timestamp(SIGNAL_AS_OF)

    def keys(n: int) -> list[str]:
        picked = rng.choice([*ids, "ZZZ", "  a001 ", "a002", "A003\u00a0"], n)
        return [str(k) for k in picked]

    def times(n: int) -> list[str]:
        offsets = rng.integers(-120 * 86400, 3 * 86400, n)
        edges = [-29 * 86400, -29 * 86400 - 1, 86400 - 1, 86400, -89 * 86400, 0]
        offsets[:len(edges)] = edges
        return [(day + pd.Timedelta(seconds=int(s))).strftime("%Y-%m-%d %H:%M:%S")
                for s in offsets]

    n = 900
    tickets = pd.DataFrame({"organization_id": keys(n), "created_at": times(n),
                            "priority": rng.choice(["high", "Urgent ", "low", "", "normal",
                                                    "HIGH"], n)})
    events = pd.DataFrame({"account": keys(n), "event_time": times(n),
                           "event type": rng.choice(["login", "Login", "export", ""], n),
                           "user_id": rng.choice(["u1", "U1", "u2", "u3", "", "7"], n),
                           "amount": rng.choice(["1", "5", "12.5", "x", "", "40"], n)})
    surveys = pd.DataFrame({"company": keys(n), "created_at": times(n),
                            "survey_type": rng.choice(["csat", "nps", "NPS", ""], n),
                            "score": rng.choice(["1", "3", "4", "5", "9", "10", "n/a"], n)})
    surveys.loc[n - 1] = ["A010", "2026-03-31 23:59:59", "nps", "2"]    # tied latest ...
    surveys.loc[n] = [" a010", "2026-03-31 23:59:59", "NPS", "9"]       # ... averaged
    surveys.loc[n + 1] = ["A010", "2026-04-01 00:00:00", "nps", "0"]    # after the as-of day
    return {"tickets": tickets, "events": events, "surveys": surveys}


@pytest.fixture(scope="module")
def signal_case(tmp_path_factory):
    """(model, accounts, exports, reference scores): the pandas reading of the signals,
    then the pandas engine."""
    from chs_excel.core.signal_engine import compute_signals
    from chs_excel.io.sources import load_sources
    folder = tmp_path_factory.mktemp("signals")
    model = model_from_dict(SIGNAL_MODEL)
    exports = signal_exports()
    for name, frame in exports.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    model.save(folder / "model.yaml")
    accounts = pd.DataFrame({"account_id": [f" a{k:03d}" if k % 7 == 0 else f"A{k:03d}"
                                            for k in range(60)],
                             "arr": np.arange(60) * 1000.0})
    sources = load_sources(model, folder / "model.yaml")
    values = compute_signals(model, accounts, sources, SIGNAL_AS_OF).values
    assert values["urgent_tickets_30d"].gt(0).sum() > 10 and values["nps_latest"].notna().any()
    reference = score(model, accounts.join(values), as_of=SIGNAL_AS_OF).scores
    return model, accounts, exports, reference, values


def table_of(frame: pd.DataFrame) -> pd.DataFrame:
    """An export as a warehouse table holds it: columns named by their keys, all text."""
    from chs_excel.engines.signal_sql import sql_column
    return frame.rename(columns=sql_column).astype(object)


def test_chs_sql_signals_run_by_duckdb_equal_the_reference(signal_case) -> None:
    model, accounts, exports, reference, _ = signal_case
    con = duckdb.connect()
    con.register("accounts", text_frame(accounts))
    for name, frame in exports.items():
        con.register(name, table_of(frame))
    for as_of in (SIGNAL_AS_OF, None):
        sql = compile_model(model, "duckdb", columns=list(accounts.columns), as_of=as_of,
                            signals=True).score
        if as_of is None:   # CURRENT_DATE: the same day, as the query would run on it
            sql = sql.replace("CURRENT_DATE", f"DATE '{SIGNAL_AS_OF.isoformat()}'")
        got = con.execute(sql).df()
        assert_same(reference, got, f"duckdb sql --signals, as-of {as_of}")
    by_id = got.set_index("account_id")
    # A010's latest NPS answers: 9, 2 and 9 at 23:59:59 on the as-of day (edge row 2 and
    # the two added), averaged; the 0 one second later does not count
    assert by_id.loc["A010", "nps_latest_score"] == pytest.approx(200 / 3)


def test_chs_sql_signals_run_by_spark_equal_the_reference(signal_case, spark) -> None:
    model, accounts, exports, reference, _ = signal_case
    table = text_frame(accounts)
    spark.createDataFrame(table.astype(object).where(table.notna(), None)) \
        .createOrReplaceTempView("accounts")
    for name, frame in exports.items():
        spark.createDataFrame(table_of(frame)).createOrReplaceTempView(name)
    sql = compile_model(model, "spark", columns=list(accounts.columns), as_of=SIGNAL_AS_OF,
                        signals=True).score
    assert_same(reference, spark.sql(sql).toPandas(), "spark sql --signals")


def test_chs_sql_signals_through_the_cli(tmp_path) -> None:
    from click.testing import CliRunner

    from chs_excel.app.commands_sql import sql_command
    model = tmp_path / "model.yaml"
    model_from_dict(SIGNAL_MODEL).save(model)
    out = tmp_path / "score.sql"
    result = CliRunner().invoke(sql_command, ["--model", str(model), "--dialect", "spark",
                                              "--signals", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "accounts_signals" in text and "FROM `tickets`" in text
    for dialect in DIALECTS:
        sqlglot.parse_one(compile_model(model_from_dict(SIGNAL_MODEL), dialect,
                                        signals=True).score, read=dialect)
    plain = tmp_path / "plain.yaml"
    MODEL.save(plain)
    code, output = run("sql", "--model", str(plain), "--signals", "-o", str(tmp_path / "x.sql"))
    assert code != 0 and "has no signals" in output and "Traceback" not in output
    assert not (tmp_path / "x.sql").exists()
