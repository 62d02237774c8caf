"""Signals checked against issue 18's rules, restated here on hostile hand-made exports.

The expected values never come from the code under test: `expected()` below is a small,
deliberately plain restatement of the rules (docs/signals.md, "The rules"), a loop over
the rows written in this file, and a few of its cells are pinned by hand as well. The
exports carry padded, differently-cased and no-break-space keys, unknown and blank keys,
blank priorities, rows after the as-of day, window edges to the second, tied latest
answers, `Z` and `+02:00` / `-00:30` offsets, no-offset times, Excel serials, text that
reads as a number and text that does not. Every cell is checked three ways in:
`chs signals` (csv), `chs score` (the metric scores of the signal columns, csv) and the
scored workbook (`chs score -o X.xlsx`) recalculated by LibreOffice; the pandas
reference is checked too. Further sets: an xlsx export (number keys, date-time cells,
serials), sub-second edges and more offset forms, wildcards and number text (csv and a
Parquet file DuckDB scans), an export pasted as text over a source sheet, and a
hypothesis property at the edges. Then the error rules.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli_runner import run

AS_OF = dt.date(2027, 3, 31)
BEST = 1000.0   # each signal is scored linear 0 -> BEST: its score is 100 * value / BEST

ACCOUNTS = ["ACC-1", "acc-2", "ACC 3", "Acc-4", "acc\u00a05"]

SOURCES = {
    "tickets": {"file": "exports/tickets.csv", "key": "organization_id", "time": "created_at"},
    "events": {"file": "exports/events.csv", "key": "Account", "time": "event_time"},
    "surveys": {"file": "exports/surveys.csv", "key": "company", "time": "created_at"},
}

TICKETS = [  # organization_id, created_at, priority, amount, user
    ("organization_id", "created_at", "priority", "amount", "user"),
    (" acc-1 ", "2027-03-31T23:59:59Z", "high", "4", "u1"),          # last second: in
    ("ACC-1", "2027-04-01T00:00:00Z", "high", "100", "u9"),          # after the as-of day
    ("ACC-1", "2027-04-01T01:30:00+02:00", "URGENT", "6", "U1 "),    # 03-31 23:30 UTC: in
    ("acc-1", "2027-03-02 00:00:00", "Urgent ", "3", "u2"),          # first second of 30
    ("ACC-1", "2027-03-01 23:59:59", "high", "7", "u3"),             # a second before
    ("ACC-1", "2027-03-02T01:59:59+02:00", "high", "50", "u4"),      # 03-01 23:59:59 UTC
    ("ACC-1", "2027-03-01T22:00:00-02:00", "", "1", "u5"),           # 03-02 00:00 UTC: in
    ("ACC-1", "yesterday", "high", "2", "u6"),                       # not a time
    ("acc-2", "2027-03-15", "", "", ""),                             # blanks
    ("ACC-2", "2027-03-15 08:00", "\u00a0high\u00a0", " 10 ", "u1"), # text number
    ("ACC-2", "2027-03-20T10:00:00.500", "N/A", "abc", "u1"),        # text, not a number
    ("ZZZ-9", "2027-03-20", "high", "1", "z"),                       # unknown key
    ("zzz-9", "2027-03-21", "high", "1", "z"),                       # unknown key
    ("", "2027-03-21", "high", "1", "z"),                            # blank key
    ("acc\u00a03", "46477.75", "low", "8", "k"),                     # serial: 03-31 18:00
    ("ACC  5", "2027-04-05", "high", "9", "q"),                      # only after as-of
    ("ACC 3", "2027-03-31T23:59:59.999-00:30", "low", "9", "k"),     # 04-01 00:29 UTC
    ("Acc-4", "2027-02-15", "low", "5", "m"),                        # old: no-window only
    ("acc-2", "2027-03-20T10:00:00.500Z", "urgent", "4", "U1"),      # tied with row 12
]

EVENTS = [
    ("Account", "event_time", "event_type", "user_id"),
    ("ACC-1", "2027-03-31T00:30:00+02:00", "login", "u1"),     # 03-30 22:30 UTC: 1 day
    ("ACC-1", "2027-04-01T00:00:01Z", "login", "u1"),          # after the as-of day
    ("ACC-1", "2027-03-31 00:00:00", "view", "u2"),
    ("acc-2", "46456.25", "LOGIN", "U7"),                      # serial: 03-10 06:00
    ("ACC 3", "2027-03-31 12:00", "view", " u1"),
    ("Acc-4", "2027-03-31T23:59:59.999", " Login", "u1"),      # no offset: as written
    ("Acc-4", "2027-03-31T23:59:59.999", "login", "U1"),
    ("Acc-4", "2027-03-25", "login", "n/a"),                   # NA word: not a user
    ("Acc-4", "2027-03-25", "login", ""),
    ("Acc-4", "2027-03-01T23:59:59", "login", "u8"),           # one second before 30
    ("UNKNOWN-1", "2027-03-25", "login", "x"),
]

SURVEYS = [
    ("company", "created_at", "survey_type", "score"),
    ("ACC-1", "2027-03-20T10:00:00Z", "nps", "6"),
    ("ACC-1", "2027-03-20T12:00:00+02:00", "NPS", "9"),        # the same instant: tied
    ("ACC-1", "2027-03-10", "nps", "2"),
    ("ACC-1", "2027-04-02", "nps", "0"),                       # after the as-of day
    ("ACC-1", "2027-01-01T00:00:00Z", "csat", "5"),            # first second of 90 days
    ("ACC-1", "2026-12-31T23:59:59Z", "csat", "1"),
    ("ACC-1", "2027-01-01T00:30:00+01:00", "csat", "1"),       # 12-31 23:30 UTC
    ("ACC-1", "2027-03-31T23:00:00-01:00", "csat", "1"),       # 04-01 00:00 UTC
    ("ACC-1", "2027-02-01", "csat", "4"),
    ("acc-2", "2027-03-01 09:00", "nps", "8"),
    ("acc-2", "2027-03-01 09:00:00.000", "nps", "10"),         # tied, no offset
    ("acc-2", "2027-03-05", "nps", ""),                        # later, but no number
    ("ACC 3", "2027-03-30", "csat", "3"),
]

SIGNALS = [
    {"name": "t_count_30", "source": "tickets", "agg": "count", "window": 30},
    {"name": "t_all", "source": "tickets", "agg": "count"},
    {"name": "t_urgent_30", "source": "tickets", "agg": "count", "window": 30,
     "where": [{"column": "priority", "op": "in", "value": ["high", "urgent"]}]},
    {"name": "t_not_low", "source": "tickets", "agg": "count",
     "where": [{"column": "Priority", "op": "<>", "value": "LOW"}]},
    {"name": "t_high", "source": "tickets", "agg": "count",
     "where": [{"column": "priority", "op": "=", "value": "High"}]},
    {"name": "t_after_m", "source": "tickets", "agg": "count",
     "where": [{"column": "priority", "op": ">", "value": "m"}]},
    {"name": "t_big", "source": "tickets", "agg": "count",
     "where": [{"column": "amount", "op": ">=", "value": 5}]},
    {"name": "t_small", "source": "tickets", "agg": "count",
     "where": [{"column": "amount", "op": "<", "value": 5}]},
    {"name": "t_not_4", "source": "tickets", "agg": "count",
     "where": [{"column": "amount", "op": "<>", "value": 4}]},
    {"name": "t_sum_30", "source": "tickets", "agg": "sum", "of": "amount", "window": 30},
    {"name": "t_mean", "source": "tickets", "agg": "mean", "of": "amount"},
    {"name": "t_min_high", "source": "tickets", "agg": "min", "of": "amount",
     "where": [{"column": "priority", "op": "=", "value": "high"}]},
    {"name": "t_max_30", "source": "tickets", "agg": "max", "of": "amount", "window": 30},
    {"name": "t_latest", "source": "tickets", "agg": "latest", "of": "amount"},
    {"name": "t_users_30", "source": "tickets", "agg": "distinct_count", "of": "user",
     "window": 30},
    {"name": "t_days_high", "source": "tickets", "agg": "days_since_last",
     "where": [{"column": "priority", "op": "in", "value": ["HIGH"]}]},
    {"name": "e_days_login", "source": "events", "agg": "days_since_last",
     "where": [{"column": "event_type", "op": "=", "value": "login"}]},
    {"name": "e_logins_7", "source": "events", "agg": "count", "window": 7,
     "where": [{"column": "event_type", "op": "in", "value": ["LOGIN"]}]},
    {"name": "e_users_30", "source": "events", "agg": "distinct_count", "of": "user_id",
     "window": 30},
    {"name": "s_nps_latest", "source": "surveys", "agg": "latest", "of": "score",
     "where": [{"column": "survey_type", "op": "=", "value": "nps"}]},
    {"name": "s_csat_90", "source": "surveys", "agg": "mean", "of": "score", "window": 90,
     "where": [{"column": "survey_type", "op": "=", "value": "csat"}]},
    {"name": "s_min", "source": "surveys", "agg": "min", "of": "score"},
    {"name": "s_max_90", "source": "surveys", "agg": "max", "of": "score", "window": 90},
    {"name": "s_sum_nps_1", "source": "surveys", "agg": "sum", "of": "score", "window": 1,
     "where": [{"column": "survey_type", "op": "=", "value": "nps"}]},
]
NAMES = [g["name"] for g in SIGNALS]
TABLES = {"tickets": TICKETS, "events": EVENTS, "surveys": SURVEYS}


# ------------------------------------------------------------ the rules, restated

def key(value: object) -> str:
    """A text key: odd spaces as spaces, runs collapsed, ends trimmed, case ignored; a
    whole number (an xlsx cell 1001.0) as its digits."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = re.sub(r"[\u00a0\u3000\t\r\n]", " ", "" if value is None else str(value))
    return re.sub(" +", " ", text).strip(" ").lower()


def number(cell: object) -> float | None:
    if isinstance(cell, (int, float)):
        return float(cell) if math.isfinite(cell) else None
    try:
        x = float(str(cell).strip())
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def value_key(cell: object) -> str:
    """A cell's text key in a filter or distinct_count: a cell that reads as a number is
    that number (SPEC: readers store ' 7.0 ' as 7), so a whole one reads as its digits."""
    x = number(cell) if cell is not None else None
    return key(x) if x is not None else key(cell)


def when(cell: object) -> dt.datetime | None:
    """A time as naive UTC: a date-time cell, an Excel serial, or ISO with Z / an offset
    (converted)."""
    if isinstance(cell, dt.datetime):
        return cell
    if isinstance(cell, (int, float)):
        return dt.datetime(1899, 12, 30) + dt.timedelta(days=float(cell))
    text = re.sub(r" UTC$", "+00:00", str(cell).strip())
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return dt.datetime(1899, 12, 30) + dt.timedelta(days=float(text))
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def holds(cell: object, op: str, value: object) -> bool:
    if op == "in":
        return any(holds(cell, "=", v) for v in value)
    if isinstance(value, (int, float)):
        x = number(cell)
        if op == "<>":
            return x is None or x != value
        return x is not None and {"=": x == value, "<": x < value, "<=": x <= value,
                                  ">": x > value, ">=": x >= value}[op]
    k, want = value_key(cell), key(str(value))
    if op == "=":
        return k != "" and k == want
    if op == "<>":
        return k == "" or k != want
    return k != "" and number(cell) is None and {"<": k < want, "<=": k <= want,
                                                 ">": k > want, ">=": k >= want}[op]


def expected(signals: list[dict] = SIGNALS, tables: dict = TABLES, sources: dict = SOURCES,
             accounts: list[object] = ACCOUNTS) -> dict[str, list[float | None]]:
    """Every signal for every account, by the rules: a plain loop over the rows."""
    start_of_next = dt.datetime.combine(AS_OF + dt.timedelta(days=1), dt.time())
    out: dict[str, list[float | None]] = {}
    for g in signals:
        header, *rows = tables[g["source"]]
        col = {h.lower(): i for i, h in enumerate(header)}
        spec = sources[g["source"]]
        values = []
        for account in accounts:
            hits = []
            for r in rows:
                t = when(r[col[spec["time"].lower()]])
                if key(r[col[spec["key"].lower()]]) != key(account) or t is None:
                    continue
                if t >= start_of_next:
                    continue
                if "window" in g and t < start_of_next - dt.timedelta(days=g["window"]):
                    continue
                if all(holds(r[col[f["column"].lower()]], f["op"], f["value"])
                       for f in g.get("where", [])):
                    hits.append((t, r[col[g["of"].lower()]] if "of" in g else None))
            values.append(aggregate(g["agg"], hits))
        out[g["name"]] = values
    return out


def aggregate(agg: str, hits: list[tuple[dt.datetime, object]]) -> float | None:
    if agg == "count":
        return float(len(hits))
    if agg == "days_since_last":
        return float((AS_OF - max(t for t, _ in hits).date()).days) if hits else None
    if agg == "distinct_count":
        return float(len({value_key(v) for _, v in hits} - {"", "na", "n/a", "nan", "null",
                                                       "none"}))
    numbers = [(t, number(v)) for t, v in hits if number(v) is not None]
    xs = [x for _, x in numbers]
    if agg == "sum":
        return float(sum(xs))
    if not xs:
        return None
    if agg == "latest":
        last = max(t for t, _ in numbers)
        tied = [x for t, x in numbers if t == last]
        return sum(tied) / len(tied)
    return {"mean": sum(xs) / len(xs), "min": min(xs), "max": max(xs)}[agg]


EXPECTED = expected()

# A few cells worked out by hand, to check the restatement itself (accounts in order).
BY_HAND = {
    "t_count_30": [4, 4, 1, 0, 0],      # ACC-1: 23:59:59Z, +02:00->23:30Z, 03-02 00:00 x2
    "t_all": [6, 4, 1, 1, 0],           # + 03-01 23:59:59 twice; never 04-01 or later
    "t_urgent_30": [3, 2, 0, 0, 0],     # the blank priority of 03-02 00:00Z never `in`
    "t_not_low": [6, 4, 0, 0, 0],       # blank and N/A satisfy <>
    "t_big": [3, 1, 1, 1, 0],           # ' 10 ' is 10; 'abc' and blank never compare
    "t_not_4": [5, 3, 1, 1, 0],         # blank and 'abc' satisfy <>
    "t_latest": [4.0, 4.0, 8.0, 5.0, None],   # acc-2: 'abc' ties, only 4 is a number
    "t_users_30": [3, 1, 1, 0, 0],      # u1 = 'U1 '; acc-2's blank user not counted
    "t_days_high": [0, 16, None, None, None],
    "e_days_login": [1, 21, None, 0, None],
    "e_users_30": [2, 1, 1, 1, 0],      # Acc-4: u1 = U1; n/a and blank are no user
    "s_nps_latest": [7.5, 9.0, None, None, None],
    "s_csat_90": [4.5, None, 3.0, None, None],
    "s_sum_nps_1": [0, 0, 0, 0, 0],     # window 1: only the as-of day; no match gives 0
}


def test_the_restatement_agrees_with_the_hand_worked_cells() -> None:
    for name, hand in BY_HAND.items():
        assert EXPECTED[name] == [None if h is None else float(h) for h in hand], name


# ------------------------------------------------------------ the exports and the model

def _write_csv(path: Path, rows: list[tuple[str, ...]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)


def signal_model(name: str, sources: dict, signals: list[dict], worst: float = 0) -> dict:
    """A model scoring each signal linearly from `worst` to BEST (the score shows it)."""
    return {"name": name, "components": {"Usage": 1},
            "metrics": [{"column": g["name"], "component": "Usage", "weight": 1,
                         "method": "linear", "worst": worst, "best": BEST}
                        for g in signals],
            "sources": sources, "signals": signals}


def write_case(folder: Path, name: str, sources: dict, signals: list[dict],
               accounts: list, worst: float = 0) -> list[str]:
    """model.yaml (`signal_model`) and accounts.csv in `folder`; the signals' names."""
    model = signal_model(name, sources, signals, worst)
    (folder / "model.yaml").write_text(yaml.safe_dump(model, sort_keys=False), "utf-8")
    pd.DataFrame({"account_id": accounts}).to_csv(folder / "accounts.csv", index=False)
    return [g["name"] for g in signals]


def model_dict() -> dict:
    return signal_model("signals by the rules", SOURCES, SIGNALS)


def make_folder(folder: Path, model: dict | None = None,
                accounts: pd.DataFrame | None = None) -> Path:
    (folder / "exports").mkdir(parents=True, exist_ok=True)
    for name, rows in TABLES.items():
        _write_csv(folder / "exports" / f"{name}.csv", rows)
    (folder / "model.yaml").write_text(yaml.safe_dump(model or model_dict(), sort_keys=False,
                                                      allow_unicode=True), "utf-8")
    if accounts is None:
        accounts = pd.DataFrame({"account_id": ACCOUNTS,
                                 "account_name": [f"Account {i}" for i in range(1, 6)]})
    accounts.to_csv(folder / "accounts.csv", index=False)
    return folder


def _args(folder: Path, *more: str) -> list[str]:
    return [str(folder / "accounts.csv"), "--model", str(folder / "model.yaml"),
            "--as-of", AS_OF.isoformat(), *more]


def _same(got: object, want: float | None) -> bool:
    if want is None:
        return got is None or got == "" or (isinstance(got, float) and math.isnan(got))
    return isinstance(got, (int, float)) and not (isinstance(got, float) and math.isnan(got)) \
        and math.isclose(float(got), want, rel_tol=1e-12, abs_tol=1e-9)


def _differences(got: dict[str, list[object]], want: dict[str, list[float | None]],
                 scale: float = 1.0, accounts: list[object] = ACCOUNTS) -> list[str]:
    out = []
    for name, values in want.items():
        for account, g, w in zip(accounts, got[name], values, strict=True):
            if not _same(g, None if w is None else w * scale):
                out.append(f"{name} {account!r}: got {g!r}, rules say "
                           f"{None if w is None else w * scale!r}")
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("by-the-rules"))


# ------------------------------------------------------------ the three ways in

def test_chs_signals_gives_the_rules_in_every_cell(folder: Path) -> None:
    out = folder / "signals.csv"
    code, text = run("signals", *_args(folder, "-o", str(out)))
    assert code == 0, text
    got = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert [key(a) for a in got["account_id"]] == [key(a) for a in ACCOUNTS]  # input order
    table = {n: [None if pd.isna(v) else float(v) for v in got[n]] for n in NAMES}
    assert _differences(table, EXPECTED) == []


def test_the_pandas_reference_gives_the_rules_in_every_cell(folder: Path) -> None:
    from chs_excel.core.model import load_model
    from chs_excel.core.signal_engine import compute_signals
    from chs_excel.io.accounts import read_accounts
    from chs_excel.io.sources import load_sources
    model = load_model(folder / "model.yaml")
    accounts = read_accounts(folder / "accounts.csv")
    values = compute_signals(model, accounts, load_sources(model, folder / "model.yaml"),
                             AS_OF).values
    table = {n: [None if pd.isna(v) else float(v) for v in values[n]] for n in NAMES}
    assert _differences(table, EXPECTED) == []


def test_unknown_keys_are_data_issues_per_source(folder: Path) -> None:
    out = folder / "issues-run.csv"
    code, text = run("signals", *_args(folder, "-o", str(out)))
    assert code == 0, text
    issues = pd.read_csv(folder / "issues-run.issues.csv")
    problems = issues["problem"].tolist()
    tickets = [p for p in problems if "of source tickets" in p]
    events = [p for p in problems if "of source events" in p]
    assert len(tickets) == 1 and len(events) == 1, problems
    assert tickets[0].startswith("3 row(s) of source tickets") and "1 with a blank key" \
        in tickets[0] and "'ZZZ-9'" in tickets[0] and "'zzz-9'" in tickets[0], tickets
    assert events[0].startswith("1 row(s) of source events") and "'UNKNOWN-1'" in events[0]
    assert not any("of source surveys" in p for p in problems)
    assert any("not a time" in p for p in problems)            # 'yesterday'
    assert issues["value"].astype(str).str.contains("abc").any()  # text where a number


def test_chs_score_scores_the_rules_values(folder: Path) -> None:
    out = folder / "scores.csv"
    code, text = run("score", *_args(folder, "-o", str(out)))
    assert code == 0, text
    got = pd.read_csv(out)
    table = {n: [None if pd.isna(v) else float(v) for v in got[f"{n}_score"]] for n in NAMES}
    assert _differences(table, EXPECTED, scale=100 / BEST) == []


@pytest.fixture(scope="module")
def recalculated(folder: Path) -> Path:
    from chs_excel.xlsx.libreoffice import recalculate
    code, text = run("score", *_args(folder, "-o", str(folder / "book.xlsx")))
    assert code == 0, text
    return recalculate(folder / "book.xlsx", folder / "lo")


def _sheet(path: Path, sheet: str, n: int = len(ACCOUNTS)) -> dict[str, list[object]]:
    from chs_excel.xlsx.libreoffice import sheet_rows
    rows = sheet_rows(path, sheet)
    head = [str(h) for h in rows[0]]
    return {h: [r[i] for r in rows[1:1 + n]] for i, h in enumerate(head)}


def test_the_recalculated_workbook_gives_the_rules_in_every_cell(recalculated: Path) -> None:
    got = _sheet(recalculated, "Accounts")
    assert [key(str(a)) for a in got["account_id"]] == [key(a) for a in ACCOUNTS]
    assert _differences(got, EXPECTED) == []


def test_the_recalculated_workbook_scores_the_rules_values(recalculated: Path) -> None:
    got = _sheet(recalculated, "Scores")
    scores = {n: got[f"{n}_score"] if f"{n}_score" in got else got[n] for n in NAMES}
    assert _differences(scores, EXPECTED, scale=100 / BEST) == []


# ------------------------------------------------------------ the error rules

def _fails(folder: Path, command: str, *needles: str) -> str:
    out = folder / ("e.csv" if command == "signals" else "e-scores.csv")
    code, text = run(command, *_args(folder, "-o", str(out)))
    assert code != 0, text
    assert "Traceback" not in text
    for needle in needles:
        assert needle in text, (needle, text)
    return text


@pytest.mark.parametrize("command", ["signals", "score"])
def test_a_missing_source_file_names_the_source_and_file(tmp_path: Path, command: str) -> None:
    make_folder(tmp_path)
    (tmp_path / "exports" / "events.csv").unlink()
    _fails(tmp_path, command, "source events", "events.csv", "file not found")


@pytest.mark.parametrize("command", ["signals", "score"])
@pytest.mark.parametrize("field", ["key", "time"])
def test_a_missing_key_or_time_column_names_source_and_field(tmp_path: Path, command: str,
                                                             field: str) -> None:
    model = model_dict()
    model["sources"] = {**SOURCES, "surveys": {**SOURCES["surveys"], field: "nowhere"}}
    make_folder(tmp_path, model)
    _fails(tmp_path, command, "source surveys", f"{field} column 'nowhere' not found")


@pytest.mark.parametrize("command", ["signals", "score"])
@pytest.mark.parametrize("field", ["where", "of"])
def test_an_unknown_column_names_source_signal_and_field(tmp_path: Path, command: str,
                                                         field: str) -> None:
    model = model_dict()
    signals = [dict(g) for g in SIGNALS]
    target = next(g for g in signals if g["name"] == "s_csat_90")
    if field == "where":
        target["where"] = [{"column": "survey_kind", "op": "=", "value": "csat"}]
        wanted = "survey_kind"
    else:
        target["of"] = "rating"
        wanted = "rating"
    model["signals"] = signals
    make_folder(tmp_path, model)
    _fails(tmp_path, command, "source surveys", "signal s_csat_90", field,
           f"column {wanted!r} not found")


@pytest.mark.parametrize("command", ["signals", "score"])
def test_a_signal_named_like_an_accounts_column_is_an_error(tmp_path: Path,
                                                            command: str) -> None:
    accounts = pd.DataFrame({"account_id": ACCOUNTS, "T Days High": [1, 2, 3, 4, 5]})
    make_folder(tmp_path, accounts=accounts)
    _fails(tmp_path, command, "signal 't_days_high'", "'T Days High'")


# ------------------------------------------------------------ an xlsx export

XLSX_ACCOUNTS = ["1001", "ACC-2", "acc 3"]
XLSX_SOURCES = {"usage": {"file": "usage.xlsx", "key": "acct", "time": "when"}}
USAGE = [  # an xlsx export: number keys, date-time cells, serial numbers, text times
    ("acct", "when", "kind", "val", "who"),
    (1001.0, dt.datetime(2027, 3, 31, 12), "a", 5.0, "p"),        # a number key
    ("1001", 46477.5, "A", 7.0, 7.0),                             # serial: the same noon
    (" 1001 ", "2027-03-31T23:30:00-01:00", "a", 100.0, "q"),     # 04-01 00:30 UTC
    ("acc-2", dt.datetime(2027, 3, 2), "b", "8", "7"),            # first day of 30
    ("ACC-2", dt.datetime(2027, 3, 1, 23, 59, 59), "a", 9.0, "x"),
    ("\u00a0ACC-2", 46447.0, "a", 2.0, "X "),                    # serial: 03-01 00:00
    ("acc 3", "2027-03-31 23:59:59", "c", None, None),            # latest, no number
    (1002.0, dt.datetime(2027, 3, 30), "a", 1.0, "z"),            # unknown number key
    ("ACC 3", dt.datetime(2027, 3, 20, 8), "C ", 3.5, "y"),
]
XLSX_SIGNALS = [
    {"name": "x_n_30", "source": "usage", "agg": "count", "window": 30},
    {"name": "x_sum_30", "source": "usage", "agg": "sum", "of": "val", "window": 30},
    {"name": "x_in", "source": "usage", "agg": "count",
     "where": [{"column": "val", "op": "in", "value": ["7", 8]}]},
    {"name": "x_who", "source": "usage", "agg": "distinct_count", "of": "who"},
    {"name": "x_days", "source": "usage", "agg": "days_since_last",
     "where": [{"column": "kind", "op": "=", "value": "A"}]},
    {"name": "x_latest", "source": "usage", "agg": "latest", "of": "val"},
    {"name": "x_max", "source": "usage", "agg": "max", "of": "val"},
    {"name": "x_after_b", "source": "usage", "agg": "count",
     "where": [{"column": "kind", "op": ">", "value": "b"}]},
]
XLSX_EXPECTED = expected(XLSX_SIGNALS, {"usage": USAGE}, XLSX_SOURCES, XLSX_ACCOUNTS)
XLSX_BY_HAND = {
    "x_n_30": [2, 1, 2], "x_sum_30": [12, 8, 3.5], "x_in": [1, 1, 0], "x_who": [2, 2, 1],
    "x_days": [0, 30, None], "x_latest": [6, 8, 3.5], "x_max": [7, 9, 3.5],
    "x_after_b": [0, 0, 2],
}


def test_the_xlsx_restatement_agrees_with_the_hand_worked_cells() -> None:
    for name, hand in XLSX_BY_HAND.items():
        assert XLSX_EXPECTED[name] == [None if h is None else float(h) for h in hand], name


@pytest.fixture(scope="module")
def xlsx_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import openpyxl
    folder = tmp_path_factory.mktemp("by-the-rules-xlsx")
    book = openpyxl.Workbook()
    for row in USAGE:
        book.active.append(list(row))
    book.save(folder / "usage.xlsx")   # the user's export (an input, not our output)
    write_case(folder, "xlsx by the rules", XLSX_SOURCES, XLSX_SIGNALS, XLSX_ACCOUNTS)
    return folder


def test_an_xlsx_export_gives_the_rules_in_every_cell(xlsx_folder: Path) -> None:
    from chs_excel.core.model import load_model
    from chs_excel.core.signal_engine import compute_signals
    from chs_excel.io.accounts import read_accounts
    from chs_excel.io.sources import load_sources
    from chs_excel.xlsx.libreoffice import recalculate
    names = [g["name"] for g in XLSX_SIGNALS]
    out = xlsx_folder / "signals.csv"
    code, text = run("signals", *_args(xlsx_folder, "-o", str(out)))
    assert code == 0, text
    got = pd.read_csv(out)
    table = {n: [None if pd.isna(v) else float(v) for v in got[n]] for n in names}
    assert _differences(table, XLSX_EXPECTED, accounts=XLSX_ACCOUNTS) == []
    issues = pd.read_csv(xlsx_folder / "signals.issues.csv")["problem"].tolist()
    assert len(issues) == 1 and issues[0].startswith("1 row(s) of source usage") \
        and "1002" in issues[0], issues
    model = load_model(xlsx_folder / "model.yaml")
    values = compute_signals(model, read_accounts(xlsx_folder / "accounts.csv"),
                             load_sources(model, xlsx_folder / "model.yaml"), AS_OF).values
    table = {n: [None if pd.isna(v) else float(v) for v in values[n]] for n in names}
    assert _differences(table, XLSX_EXPECTED, accounts=XLSX_ACCOUNTS) == []
    code, text = run("score", *_args(xlsx_folder, "-o", str(xlsx_folder / "book.xlsx")))
    assert code == 0, text
    done = recalculate(xlsx_folder / "book.xlsx", xlsx_folder / "lo")
    got = _sheet(done, "Accounts", len(XLSX_ACCOUNTS))
    assert _differences(got, XLSX_EXPECTED, accounts=XLSX_ACCOUNTS) == []


# ------------------------------------------------------------ more edges, all ways in

EDGE_ACCOUNTS = ["ACC-1", "acc-1 ", "ACC-2"]          # one key twice: both get its values
EDGE_SOURCES = {"t": {"file": "t.csv", "key": "org", "time": "at"},
                "empty": {"file": "empty.csv", "key": "org", "time": "at"}}
EDGE_T = [
    ("org", "at", "kind", "v"),
    ("ACC-1", "2027-03-02T02:00:00+0200", "a-b", "1"),       # 03-02 00:00 UTC: in
    ("ACC-1", "2027-03-02 01:00+01", "ab", "2"),             # 03-02 00:00 UTC: in
    ("ACC-1", "2027-03-01T23:59:59.9999999Z", "_x", "3"),    # 100 ns before: out
    ("ACC-1", "2027-03-01T23:59:59.999Z", "_y", "30"),       # 1 ms before: out
    ("ACC-1", "2027-03-31T10:00:00 UTC", "Z", "4"),
    ("ACC-1", "2027-03-31", "\u00e9", "5"),
    ("ACC-1", "2027-03-31", "10x", "6"),
    ("ACC-1", "2027-03-31T23:59:59.9999Z", "B", "7"),        # 0.1 ms before the end: in
    ("ACC-1", "2027-03-31", "a b", "8"),
    ("ACC-2", "2027-03-31T00:00:00Z", "b", "9"),             # latest at midnight: 0 days
    ("", "2027-03-31", "b", "9"),
]
EDGE_EMPTY = [("org", "at", "v")]
EDGE_SIGNALS = [
    {"name": "n30", "source": "t", "agg": "count", "window": 30},
    {"name": "sum30", "source": "t", "agg": "sum", "of": "v", "window": 30},
    {"name": "gt_a", "source": "t", "agg": "count",
     "where": [{"column": "kind", "op": ">", "value": "a"}]},
    {"name": "lt_ab", "source": "t", "agg": "count",
     "where": [{"column": "kind", "op": "<", "value": "ab"}]},
    {"name": "ge_b", "source": "t", "agg": "count",
     "where": [{"column": "kind", "op": ">=", "value": "b"}]},
    {"name": "le_b", "source": "t", "agg": "count",
     "where": [{"column": "kind", "op": "<=", "value": "B"}]},
    {"name": "days", "source": "t", "agg": "days_since_last", "window": 1},
    {"name": "e_n", "source": "empty", "agg": "count"},
    {"name": "e_sum", "source": "empty", "agg": "sum", "of": "v"},
    {"name": "e_mean", "source": "empty", "agg": "mean", "of": "v"},
    {"name": "e_latest", "source": "empty", "agg": "latest", "of": "v"},
    {"name": "e_days", "source": "empty", "agg": "days_since_last"},
    {"name": "e_distinct", "source": "empty", "agg": "distinct_count", "of": "v"},
]
EDGE_TABLES = {"t": EDGE_T, "empty": EDGE_EMPTY}
EDGE_EXPECTED = expected(EDGE_SIGNALS, EDGE_TABLES, EDGE_SOURCES, EDGE_ACCOUNTS)
EDGE_BY_HAND = {"n30": [7, 7, 1], "sum30": [33, 33, 9], "days": [0, 0, 0],
                "e_n": [0, 0, 0], "e_sum": [0, 0, 0], "e_mean": [None] * 3,
                "e_latest": [None] * 3, "e_days": [None] * 3, "e_distinct": [0, 0, 0]}


def test_the_edge_restatement_agrees_with_the_hand_worked_cells() -> None:
    for name, hand in EDGE_BY_HAND.items():
        assert EDGE_EXPECTED[name] == [None if h is None else float(h) for h in hand], name


def test_edges_give_the_rules_in_every_cell_every_way(tmp_path: Path) -> None:
    """Sub-second edges, +0200 / +01 / UTC offsets, text ordering, one key twice in the
    accounts, an export with no rows: chs signals, chs score and the workbook."""
    from chs_excel.xlsx.libreoffice import recalculate
    for name, rows in EDGE_TABLES.items():
        _write_csv(tmp_path / f"{name}.csv", rows)
    names = write_case(tmp_path, "edges", EDGE_SOURCES, EDGE_SIGNALS, EDGE_ACCOUNTS)
    code, text = run("signals", *_args(tmp_path, "-o", str(tmp_path / "s.csv")))
    assert code == 0, text
    got = pd.read_csv(tmp_path / "s.csv")
    table = {n: [None if pd.isna(v) else float(v) for v in got[n]] for n in names}
    assert _differences(table, EDGE_EXPECTED, accounts=EDGE_ACCOUNTS) == []
    code, text = run("score", *_args(tmp_path, "-o", str(tmp_path / "scores.csv")))
    assert code == 0, text
    got = pd.read_csv(tmp_path / "scores.csv")
    table = {n: [None if pd.isna(v) else float(v) for v in got[f"{n}_score"]] for n in names}
    assert _differences(table, EDGE_EXPECTED, 100 / BEST, EDGE_ACCOUNTS) == []
    code, text = run("score", *_args(tmp_path, "-o", str(tmp_path / "book.xlsx")))
    assert code == 0, text
    done = recalculate(tmp_path / "book.xlsx", tmp_path / "lo")
    got = _sheet(done, "Accounts", len(EDGE_ACCOUNTS))
    assert _differences(got, EDGE_EXPECTED, accounts=EDGE_ACCOUNTS) == []


# ------------------------------------------------------------ wildcards, number text, Parquet

WILD_ACCOUNTS = ["ACC.1", "ACCx1", "A(1", "A*", "A?B"]    # never wildcards or patterns
WILD_SOURCES = {"t": {"file": "t.csv", "key": "org", "time": "at"}}
WILD_T = [
    ("org", "at", "who", "v"),
    ("ACC.1", "2027-03-31", "a*", "7"), ("ACC.1", "2027-03-31", "ab", "8"),
    ("ACC.1", "2027-03-31", "a?", "70"), ("ACC.1", "2027-03-31", "~x", "x"),
    ("ACC.1", "2027-03-31", "x", "5"), ("ACC.1", "2027-03-31", ">5", " 7.0 "),
    ("ACC.1", "2027-03-31", "=5", "10"), ("ACC.1", "2027-03-31", "5", "abc"),
    ("ACC.1", "2027-03-31", "5.0", ""),
    ("ACCx1", "2027-03-31", "u", "1"), ("A(1", "2027-03-31", "u", "2"),
    ("A*", "2027-03-31", "u", "3"), ("AB", "2027-03-31", "u", "4"),
    ("A?B", "2027-03-31", "u", "5"), ("AXB", "2027-03-31", "u", "6"),
]
WILD_SIGNALS = [
    {"name": "n", "source": "t", "agg": "count"},
    {"name": "d", "source": "t", "agg": "distinct_count", "of": "who"},
    {"name": "gt7", "source": "t", "agg": "count",
     "where": [{"column": "v", "op": ">", "value": "7"}]},
    {"name": "eq7", "source": "t", "agg": "count",
     "where": [{"column": "v", "op": "=", "value": "7"}]},
    {"name": "ne7", "source": "t", "agg": "count",
     "where": [{"column": "v", "op": "<>", "value": "7"}]},
    {"name": "in7", "source": "t", "agg": "count",
     "where": [{"column": "v", "op": "in", "value": ["7", "x"]}]},
    {"name": "star", "source": "t", "agg": "count",
     "where": [{"column": "who", "op": "=", "value": "a*"}]},
    {"name": "mark", "source": "t", "agg": "count",
     "where": [{"column": "who", "op": "in", "value": ["a?", ">5"]}]},
    {"name": "total", "source": "t", "agg": "sum", "of": "v"},
]
WILD_EXPECTED = expected(WILD_SIGNALS, {"t": WILD_T}, WILD_SOURCES, WILD_ACCOUNTS)
WILD_BY_HAND = {"n": [9, 1, 1, 1, 1], "d": [8, 1, 1, 1, 1],   # '5' = '5.0'
                "eq7": [2, 0, 0, 0, 0], "ne7": [7, 1, 1, 1, 1],  # ' 7.0 ' is 7
                "in7": [3, 0, 0, 0, 0], "star": [1, 0, 0, 0, 0], "mark": [2, 0, 0, 0, 0],
                "gt7": [2, 0, 0, 0, 0],             # x and abc: number cells never
                "total": [107, 1, 2, 3, 5]}


def test_the_wild_restatement_agrees_with_the_hand_worked_cells() -> None:
    for name, hand in WILD_BY_HAND.items():
        assert WILD_EXPECTED[name] == [None if h is None else float(h) for h in hand], name


def _wild_folder(folder: Path, parquet: bool) -> list[str]:
    header, *rows = WILD_T
    if parquet:   # text columns as text, the time a timestamp (DuckDB scans the file)
        frame = pd.DataFrame(rows, columns=list(header), dtype=object)
        frame["at"] = pd.to_datetime(frame["at"])
        frame.to_parquet(folder / "t.parquet", index=False)
    else:
        _write_csv(folder / "t.csv", WILD_T)
    sources = {"t": {**WILD_SOURCES["t"], "file": "t.parquet" if parquet else "t.csv"}}
    return write_case(folder, "wild", sources, WILD_SIGNALS, WILD_ACCOUNTS)


@pytest.mark.parametrize("parquet", [False, True], ids=["csv", "parquet"])
def test_wildcards_and_numbers_as_text_every_way(tmp_path: Path, parquet: bool) -> None:
    """Keys and values holding * ? ~ . ( and = > never act as patterns; number text
    (' 7.0 ') is a number in csv and Parquet alike: chs signals (DuckDB scans the
    Parquet file), the pandas reference, and (csv) the recalculated workbook."""
    from chs_excel.core.model import load_model
    from chs_excel.core.signal_engine import compute_signals
    from chs_excel.io.accounts import read_accounts
    from chs_excel.io.sources import load_sources
    from chs_excel.xlsx.libreoffice import recalculate
    names = _wild_folder(tmp_path, parquet)
    code, text = run("signals", *_args(tmp_path, "-o", str(tmp_path / "s.csv")))
    assert code == 0, text
    got = pd.read_csv(tmp_path / "s.csv")
    table = {n: [None if pd.isna(v) else float(v) for v in got[n]] for n in names}
    assert _differences(table, WILD_EXPECTED, accounts=WILD_ACCOUNTS) == []
    model = load_model(tmp_path / "model.yaml")
    values = compute_signals(model, read_accounts(tmp_path / "accounts.csv"),
                             load_sources(model, tmp_path / "model.yaml"), AS_OF).values
    table = {n: [None if pd.isna(v) else float(v) for v in values[n]] for n in names}
    assert _differences(table, WILD_EXPECTED, accounts=WILD_ACCOUNTS) == []
    if not parquet:
        code, text = run("score", *_args(tmp_path, "-o", str(tmp_path / "book.xlsx")))
        assert code == 0, text
        done = recalculate(tmp_path / "book.xlsx", tmp_path / "lo")
        got = _sheet(done, "Accounts", len(WILD_ACCOUNTS))
        assert _differences(got, WILD_EXPECTED, accounts=WILD_ACCOUNTS) == []


# ------------------------------------------------------------ pasting an export as text

PASTE_ACCOUNTS = ["A", "B"]
PASTE_SOURCES = {"t": {"file": "t.csv", "key": "org", "time": "at"}}
PASTE_T = [
    ("org", "at", "v"),
    ("A", "2027-03-31T23:59:59Z", "1"),
    ("A", "2027-04-01T01:30:00+02:00", "2"),       # 03-31 23:30 UTC: in
    ("A", "2027-03-02T01:59:59+02:00", "3"),       # 03-01 23:59:59 UTC: out of 30
    ("A", "2027-03-01T22:00:00-02:00", "4"),       # 03-02 00:00 UTC: in
    ("A", "2027-03-02T02:00:00+0200", "5"),        # in
    ("A", "2027-03-02 01:00+01", "6"),             # in
    ("A", "2027-03-01T23:59:59.999Z", "7"),        # out
    ("A", "2027-03-02T00:00:00.000Z", "8"),        # in
    ("A", "2027-03-31T23:59:59.999-00:30", "9"),   # 04-01 00:29 UTC: after
    ("A", "2027-03-31", "10"),
    ("A", "2027-03-31 12:00", "11"),
    ("B", "2027-03-20T10:00:00.5Z", "12"),
    ("B", "2027-03-20T12:00:00.5+02:00", "14"),    # the same instant: tied
    ("B", "2027-03-20T10:00:00.25Z", "100"),       # a quarter second before
    ("B", "garbage", "50"),                        # never counts
]
PASTE_SIGNALS = [
    {"name": "n30", "source": "t", "agg": "count", "window": 30},
    {"name": "all", "source": "t", "agg": "count"},
    {"name": "sum30", "source": "t", "agg": "sum", "of": "v", "window": 30},
    {"name": "last_v", "source": "t", "agg": "latest", "of": "v"},
    {"name": "days", "source": "t", "agg": "days_since_last"},
]
PASTE_EXPECTED = expected(PASTE_SIGNALS, {"t": PASTE_T}, PASTE_SOURCES, PASTE_ACCOUNTS)
PASTE_BY_HAND = {"n30": [8, 3], "all": [10, 3], "sum30": [1 + 2 + 4 + 5 + 6 + 8 + 10 + 11, 126],
                 "last_v": [1, 13], "days": [0, 11]}


def test_the_paste_restatement_agrees_with_the_hand_worked_cells() -> None:
    for name, hand in PASTE_BY_HAND.items():
        assert PASTE_EXPECTED[name] == [float(h) for h in hand], name


def test_a_pasted_export_with_text_times_gives_the_rules(tmp_path: Path) -> None:
    """Next month's export pasted as it is (ISO text with Z and offsets, fractions) over
    the source sheet's times: the workbook's `_time` reads them as the engine does."""
    import openpyxl

    from chs_excel.xlsx.libreoffice import recalculate
    _write_csv(tmp_path / "t.csv", PASTE_T)
    write_case(tmp_path, "paste", PASTE_SOURCES, PASTE_SIGNALS, PASTE_ACCOUNTS)
    code, text = run("score", *_args(tmp_path, "-o", str(tmp_path / "book.xlsx")))
    assert code == 0, text
    book = openpyxl.load_workbook(tmp_path / "book.xlsx")
    ws = book["t"]
    head = [c.value for c in ws[1]]
    at, v = head.index("at") + 1, head.index("v") + 1
    text_of = {float(r[2]): r[1] for r in PASTE_T[1:]}
    for row in range(2, ws.max_row + 1):          # the export's own text, as pasted
        ws.cell(row, at).value = text_of[float(ws.cell(row, v).value)]
        ws.cell(row, at).data_type = "s"
    book.save(tmp_path / "pasted.xlsx")
    done = recalculate(tmp_path / "pasted.xlsx", tmp_path / "lo")
    got = _sheet(done, "Accounts", len(PASTE_ACCOUNTS))
    assert _differences(got, PASTE_EXPECTED, accounts=PASTE_ACCOUNTS) == []


def test_unknown_keys_are_data_issues_in_chs_score_and_its_workbook(folder: Path) -> None:
    from chs_excel.xlsx.libreoffice import sheet_rows
    code, text = run("score", *_args(folder, "-o", str(folder / "scores-issues.csv")))
    assert code == 0, text
    problems = pd.read_csv(folder / "scores-issues.issues.csv")["problem"].tolist()
    code, text = run("score", *_args(folder, "-o", str(folder / "issues-book.xlsx")))
    assert code == 0, text
    cells = [str(c) for r in sheet_rows(folder / "issues-book.xlsx", "Data issues")
             for c in r if c is not None]
    for found in (problems, cells):
        tickets = [p for p in found if "of source tickets" in p]
        events = [p for p in found if "of source events" in p]
        assert len(tickets) == 1 and tickets[0].startswith("3 row(s)") \
            and "'ZZZ-9'" in tickets[0], found
        assert len(events) == 1 and events[0].startswith("1 row(s)") \
            and "'UNKNOWN-1'" in events[0], found


@pytest.mark.parametrize("inline", [0, 1000], ids=["joined-flags", "inline-lists"])
def test_duckdb_gives_the_rules_whichever_way_it_tests_filters(
        folder: Path, monkeypatch: pytest.MonkeyPatch, inline: int) -> None:
    """DuckDB decides a text filter from a list of the column's matching values when the
    column has few distinct values, else by joining a table of flags: both by the rules."""
    from chs_excel.core.model import load_model
    from chs_excel.engines import duckdb_signals
    from chs_excel.io.accounts import read_accounts
    monkeypatch.setattr(duckdb_signals, "DISTINCT_INLINE", inline)
    model = load_model(folder / "model.yaml")
    sources = duckdb_signals.load_sources_duckdb(model, folder / "model.yaml")
    values = duckdb_signals.compute_signals_duckdb(
        model, read_accounts(folder / "accounts.csv"), sources, AS_OF).values
    table = {n: [None if pd.isna(v) else float(v) for v in values[n]] for n in NAMES}
    assert _differences(table, EXPECTED) == []


def test_an_ambiguous_date_column_names_the_file_row(tmp_path: Path) -> None:
    """Day/month order that no cell decides is an input error naming the source, the
    column and the row in the file (header = row 1), never a position in a subset."""
    model = model_dict()
    make_folder(tmp_path, model)
    rows = [*SURVEYS[:3], ("ACC-1", "03/04/2027", "nps", "5")]   # file row 4
    _write_csv(tmp_path / "exports" / "surveys.csv", rows)
    text = _fails(tmp_path, "signals", "source surveys", "column 'created_at'", "row 4")
    assert "row 0" not in text


# ------------------------------------------------------------ a property at the edges

EDGE_DAYS = [AS_OF + dt.timedelta(days=1), AS_OF - dt.timedelta(days=6),
             AS_OF - dt.timedelta(days=29)]          # the end, and the starts of 7 and 30
OFFSETS = {"Z": 0, "+02:00": 120, "-05:30": -330, "": 0, "+0100": 60, "-03": -180}
PROPERTY_SIGNALS = [
    {"name": "n7", "source": "t", "agg": "count", "window": 7},
    {"name": "n30", "source": "t", "agg": "count", "window": 30,
     "where": [{"column": "p", "op": "in", "value": ["high"]}]},
    {"name": "rest", "source": "t", "agg": "count",
     "where": [{"column": "p", "op": "<>", "value": "high"}]},
    {"name": "last", "source": "t", "agg": "latest", "of": "v", "window": 30},
    {"name": "days", "source": "t", "agg": "days_since_last"},
]
a_row = st.tuples(
    st.sampled_from(["A", " a ", "A\u00a0", "b", "B ", "zz"]),
    st.sampled_from(EDGE_DAYS), st.sampled_from([-1, 0, 1]),
    st.sampled_from([0, -1, 1, 999]), st.sampled_from(list(OFFSETS)),
    st.sampled_from(["high", " HIGH", "", "low"]), st.integers(0, 9))


def _time_text(day: dt.date, seconds: int, ms: int, zone: str) -> str:
    utc = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds,
                                                             milliseconds=ms)
    local = utc + dt.timedelta(minutes=OFFSETS[zone])
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{local.microsecond // 1000:03d}"
                                                  if local.microsecond else "")
    return text + zone


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(a_row, min_size=1, max_size=25))
def test_both_engines_follow_the_rules_at_the_edges(rows: list[tuple]) -> None:
    """Random rows a second or a millisecond either side of the window edges and the end
    of the as-of day, in UTC offsets and spellings of the keys: the pandas reference and
    DuckDB give the restatement's values."""
    import tempfile

    from chs_excel.core.model import model_from_dict
    from chs_excel.core.signal_engine import compute_signals
    from chs_excel.engines.duckdb_signals import compute_signals_duckdb
    from chs_excel.io.sources import load_sources
    table = [("k", "at", "p", "v")] + [
        (k, _time_text(day, s, ms, zone), p, str(v)) for k, day, s, ms, zone, p, v in rows]
    sources = {"t": {"file": "t.csv", "key": "k", "time": "at"}}
    want = expected(PROPERTY_SIGNALS, {"t": table}, sources, ["A", "b"])
    model = model_from_dict({"name": "p", "components": {"U": 1},
                             "metrics": [{"column": "n7", "component": "U", "weight": 1,
                                          "method": "linear", "worst": 0, "best": 10}],
                             "sources": sources, "signals": PROPERTY_SIGNALS})
    accounts = pd.DataFrame({"account_id": ["A", "b"]})
    with tempfile.TemporaryDirectory() as folder:
        _write_csv(Path(folder) / "t.csv", table)
        frames = load_sources(model, Path(folder) / "m.yaml")
    for engine in (compute_signals, compute_signals_duckdb):
        values = engine(model, accounts, frames, AS_OF).values
        got = {n: [None if pd.isna(v) else float(v) for v in values[n]] for n in want}
        assert _differences(got, want, accounts=["A", "b"]) == [], (engine.__name__, table)


def test_an_account_with_a_blank_id_has_no_rows(tmp_path: Path) -> None:
    """No source row matches a blank account id (blank keys are unmatched): counts, sums
    and distinct counts are 0, the other aggs missing, as in the workbook."""
    accounts = pd.DataFrame({"account_id": ["ACC-1", None], "account_name": ["One", "Blank"]})
    make_folder(tmp_path, accounts=accounts)
    code, text = run("signals", *_args(tmp_path, "-o", str(tmp_path / "s.csv")))
    assert code == 0, text
    got = pd.read_csv(tmp_path / "s.csv").iloc[1]
    for g in SIGNALS:
        zero = g["agg"] in ("count", "sum", "distinct_count")
        assert (got[g["name"]] == 0) if zero else pd.isna(got[g["name"]]), g["name"]


@pytest.mark.parametrize("command", ["signals", "score"])
def test_the_date_format_option_decides_an_ambiguous_source(tmp_path: Path,
                                                           command: str) -> None:
    """The error's advice works: --date-format dmy reads 03/04/2027 as 3 April (after the
    as-of day: not counted), mdy as 4 March."""
    make_folder(tmp_path)
    rows = [*SURVEYS[:3], ("ACC 3", "03/04/2027", "csat", "5")]
    _write_csv(tmp_path / "exports" / "surveys.csv", rows)
    counts = {}
    for order in ("dmy", "mdy"):
        out = tmp_path / f"{order}.csv"
        code, text = run(command, *_args(tmp_path, "--date-format", order, "-o", str(out)))
        assert code == 0, text
        got = pd.read_csv(out)
        column = "s_csat_90" if command == "signals" else "s_csat_90_score"
        counts[order] = got[column].iloc[2]
    assert pd.isna(counts["dmy"]) and counts["mdy"] == (5 if command == "signals"
                                                        else 5 * 100 / BEST)


FORMULA_ACCOUNTS = ["=A1", "+B", "-C", "@D", "E"]      # text that looks like a formula
FORMULA_T = [("org", "at", "kind", "v"),
             ("=a1", "2027-03-31", "=x", "1"), ("+B", "2027-03-31", "+y", "2"),
             (" -c", "2027-03-31", "-z", "3"), ("@D", "2027-03-31", "@w", "4"),
             ("E", "2027-03-31", "=x", "-5"), ("E", "2027-03-30", "-1", "6")]
FORMULA_SIGNALS = [
    {"name": "n", "source": "t", "agg": "count"},
    {"name": "eqx", "source": "t", "agg": "count",
     "where": [{"column": "kind", "op": "=", "value": "=x"}]},
    {"name": "d", "source": "t", "agg": "distinct_count", "of": "kind"},
    {"name": "neg", "source": "t", "agg": "count",
     "where": [{"column": "kind", "op": "<", "value": 0}]},
    {"name": "s", "source": "t", "agg": "sum", "of": "v"},
]


def test_formula_like_keys_and_values_stay_text_every_way(tmp_path: Path) -> None:
    """Keys and values beginning with = + - @ are text on the source sheet and in
    Accounts (SPEC), and match as text keys: chs signals and the workbook."""
    from chs_excel.xlsx.libreoffice import recalculate
    sources = {"t": {"file": "t.csv", "key": "org", "time": "at"}}
    want = expected(FORMULA_SIGNALS, {"t": FORMULA_T}, sources, FORMULA_ACCOUNTS)
    assert want["n"] == [1, 1, 1, 1, 2] and want["eqx"] == [1, 0, 0, 0, 1]
    _write_csv(tmp_path / "t.csv", FORMULA_T)
    names = write_case(tmp_path, "formula-like", sources, FORMULA_SIGNALS, FORMULA_ACCOUNTS,
                       worst=-BEST)
    code, text = run("signals", *_args(tmp_path, "-o", str(tmp_path / "s.csv")))
    assert code == 0, text
    got = pd.read_csv(tmp_path / "s.csv")
    table = {n: [None if pd.isna(v) else float(v) for v in got[n]] for n in names}
    assert _differences(table, want, accounts=FORMULA_ACCOUNTS) == []
    code, text = run("score", *_args(tmp_path, "-o", str(tmp_path / "book.xlsx")))
    assert code == 0, text
    done = recalculate(tmp_path / "book.xlsx", tmp_path / "lo")
    got = _sheet(done, "Accounts", len(FORMULA_ACCOUNTS))
    assert _differences(got, want, accounts=FORMULA_ACCOUNTS) == []
