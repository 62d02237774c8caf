"""Snapshots, stores, trend and why-it-moved, movers, roll-ups, band migration."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from chs_excel.analytics.history import (
    band_migration,
    merge,
    movers,
    rollup,
    snapshot,
    trend,
)
from chs_excel.core.engine import score
from chs_excel.core.errors import ChsError, InputError
from chs_excel.core.model import Metric, Model, default_model
from chs_excel.io import history_store as store
from chs_excel.io.history_store import read_history, save_book_history, write_history
from chs_excel.io.sample import make_sample, reference_date
from chs_excel.io.scores import read_scores
from tests.cli_runner import digest, run

MODEL = default_model()
JAN, FEB, MAR = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)


def two_components(weights: dict[str, float]) -> Model:
    """A two-component model (A, B) for hand-computed examples."""
    return Model(name="Two", components=weights, metrics=(
        Metric(column="a", component="A", method="linear", worst=0, best=100),
        Metric(column="b", component="B", method="linear", worst=0, best=100)))


def scores_frame(rows: list[dict]) -> pd.DataFrame:
    """Scores as the engine writes them, for accounts given by hand."""
    frame = pd.DataFrame(rows)
    frame["band"] = np.select([frame["health"].isna(), frame["health"] < 40,
                               frame["health"] >= 70], ["No data", "Red", "Green"], "Yellow")
    frame["quartile"] = 1
    return frame


@pytest.fixture(scope="module")
def scored() -> tuple[pd.DataFrame, pd.DataFrame]:
    accounts = make_sample(400, seed=5)
    return accounts, score(MODEL, accounts, as_of=reference_date(5)).scores


# ---------------------------------------------------------------- why it moved, by hand

def test_component_change_is_weight_times_change() -> None:
    model = two_components({"A": 60, "B": 40})
    before = scores_frame([{"account_id": "x", "owner": "Ann", "arr": 10.0, "A": 50.0,
                            "B": 50.0, "health": 50.0}])
    after = before.assign(A=80.0, health=68.0, band="Yellow")
    history = merge(snapshot(before, model, JAN), snapshot(after, model, FEB))[0]
    row = trend(history).accounts.iloc[0]
    assert row["change"] == pytest.approx(18)
    assert row["A contribution"] == pytest.approx(0.6 * 30)
    assert row["B contribution"] == 0
    assert row["model and weights"] == 0 and row["data coverage"] == 0
    assert row["caps and overrides"] == pytest.approx(0)
    assert row["main reason"] == "A +18.0"


def test_cap_weights_and_coverage_effects_by_hand() -> None:
    before_model = two_components({"A": 50, "B": 50})
    after_model = two_components({"A": 75, "B": 25})
    rows = [{"account_id": "cap", "A": 50.0, "B": 50.0, "health": 50.0},
            {"account_id": "weights", "A": 80.0, "B": 40.0, "health": 60.0},
            {"account_id": "coverage", "A": 80.0, "B": 40.0, "health": 60.0}]
    before = scores_frame(rows)
    after = scores_frame([{"account_id": "cap", "A": 80.0, "B": 50.0, "health": 39.0},
                          {"account_id": "weights", "A": 80.0, "B": 40.0, "health": 70.0},
                          {"account_id": "coverage", "A": 80.0, "B": np.nan,
                           "health": 80.0}])
    history = merge(snapshot(before, before_model, JAN), snapshot(after, after_model, FEB))[0]
    got = trend(history).accounts.set_index("account_id")
    # cap: raw 50 -> raw 0.75*80 + 0.25*50 = 72.5 (weights do not matter at 50/50 before)
    cap = got.loc["cap"]
    assert cap["change"] == pytest.approx(-11)
    assert cap["A contribution"] == pytest.approx(0.75 * 30)
    assert cap["caps and overrides"] == pytest.approx(39 - 72.5)
    assert cap["main reason"] == "Caps or overrides -33.5"
    weights = got.loc["weights"]
    assert weights["model and weights"] == pytest.approx(70 - 60)
    assert weights["main reason"] == "Model or weights changed +10.0"
    coverage = got.loc["coverage"]
    # 60 -> (new weights) 70 -> (B missing now) 80
    assert coverage["model and weights"] == pytest.approx(10)
    assert coverage["data coverage"] == pytest.approx(10)
    for _, row in got.iterrows():
        effects = row[[c for c in got.columns if c.endswith("contribution")]
                      + ["model and weights", "data coverage", "caps and overrides"]]
        assert effects.sum() == pytest.approx(row["change"])


def test_effects_add_up_on_sample_with_a_model_change(scored) -> None:
    accounts, first = scored
    changed = accounts.assign(nps=pd.to_numeric(accounts["nps"], errors="coerce") - 3)
    model2 = MODEL.replace(version="2", components={**MODEL.components, "Usage": 50})
    second = score(model2, changed, as_of=reference_date(5)).scores
    history = merge(snapshot(first, MODEL, JAN), snapshot(second, model2, FEB))[0]
    result = trend(history)
    parts = result.accounts[result.effects].to_numpy(dtype=float)
    np.testing.assert_allclose(parts.sum(axis=1), result.accounts["change"], atol=1e-9)
    assert result.accounts["change"].is_monotonic_increasing
    reasons = result.accounts["main reason"]
    assert reasons.str.startswith("Cap: Detractor survey").any()
    assert reasons.str.startswith("Sentiment").any()


def test_accounts_that_come_and_go() -> None:
    model = two_components({"A": 1, "B": 1})
    before = scores_frame([{"account_id": "old", "A": 10.0, "B": 10.0, "health": 10.0},
                           {"account_id": "stay", "A": 10.0, "B": 10.0, "health": 10.0}])
    after = scores_frame([{"account_id": "new", "A": 90.0, "B": 90.0, "health": 90.0},
                          {"account_id": "stay", "A": 10.0, "B": 10.0, "health": 10.0}])
    history = merge(snapshot(before, model, JAN), snapshot(after, model, FEB))[0]
    result = trend(history)
    got = result.accounts.set_index("account_id")["main reason"]
    assert got.to_dict() == {"old": "Not in the latest snapshot", "new": "New account",
                             "stay": "No change"}
    table = band_migration(result).set_index("band on 2026-01-01")
    assert table.loc["Red", "Red"] == 1 and table.loc["Red", "(not in snapshot)"] == 1
    assert table.loc["(not in snapshot)", "Green"] == 1
    assert table["total"].sum() == 3
    assert movers(result).empty


def test_movers_rollups_and_migration_by_hand() -> None:
    model = two_components({"A": 1, "B": 1})
    before = scores_frame([
        {"account_id": "1", "owner": "Ann", "segment": "S", "arr": 100.0, "A": 80.0,
         "B": 80.0, "health": 80.0},
        {"account_id": "2", "owner": "Ann", "segment": "S", "arr": 300.0, "A": 60.0,
         "B": 60.0, "health": 60.0},
        {"account_id": "3", "owner": "Bob", "segment": "T", "arr": 50.0, "A": 30.0,
         "B": 30.0, "health": 30.0}])
    after = before.assign(A=[40.0, 70.0, 50.0], B=[80.0, 60.0, 50.0],
                          health=[60.0, 65.0, 50.0])
    after = scores_frame(after.drop(columns=["band", "quartile"]).to_dict("records"))
    history = merge(snapshot(before, model, JAN), snapshot(after, model, FEB))[0]
    result = trend(history)
    moved = movers(result, top=1)
    assert list(moved["account_id"]) == ["1", "3"]
    assert list(moved["direction"]) == ["drop", "rise"]
    assert list(moved["main reason"]) == ["A -20.0", "A +10.0"]
    owners = rollup(history, "owner").set_index("owner")
    assert owners.loc["Ann", "accounts"] == 2 and owners.loc["Ann", "arr"] == 400
    assert owners.loc["Ann", "mean_health"] == pytest.approx(62.5)
    assert owners.loc["Ann", "change"] == pytest.approx(62.5 - 70)
    assert owners.loc["Ann", "arr_weighted_health"] == pytest.approx((6000 + 19500) / 400)
    assert owners.loc["Ann", "Yellow"] == 2 and owners.loc["Bob", "Yellow"] == 1
    segments = rollup(history, "segment").set_index("segment")
    assert segments.loc["T", "change"] == pytest.approx(20)
    table = band_migration(result).set_index("band on 2026-01-01")
    assert table.loc["Green", "Yellow"] == 1 and table.loc["Yellow", "Yellow"] == 1
    assert table.loc["Red", "Yellow"] == 1


def test_older_model_components_align_by_name_and_are_reported() -> None:
    old = two_components({"A": 1, "B": 1})
    new = Model(name="Two", version="2", components={"a": 1, "C": 1}, metrics=(
        Metric(column="a", component="a", method="linear", worst=0, best=100),
        Metric(column="c", component="C", method="linear", worst=0, best=100)))
    before = scores_frame([{"account_id": "x", "A": 50.0, "B": 90.0, "health": 70.0}])
    after = scores_frame([{"account_id": "x", "a": 50.0, "C": 10.0, "health": 30.0}])
    history, notes = merge(snapshot(before, old, JAN), snapshot(after, new, FEB))
    assert history.components == ["A", "C", "B"]
    assert any("kept for older dates: B" in n for n in notes)
    assert any("new components" in n and "C" in n for n in notes)
    result = trend(history)
    assert any("only before: B" in n and "only after: C" in n for n in result.notes)
    row = result.accounts.iloc[0]
    assert row["A contribution"] == 0
    assert row["model and weights"] == pytest.approx(50 - 70)
    assert row["data coverage"] == pytest.approx(30 - 50)


def test_trend_needs_two_snapshots(scored) -> None:
    _, scores = scored
    one = snapshot(scores, MODEL, JAN)
    with pytest.raises(ChsError, match="only one snapshot"):
        trend(one)
    with pytest.raises(ChsError, match="no snapshot on 2026-02-01"):
        trend(one, after=FEB)
    with pytest.raises(ChsError, match="history is empty"):
        trend(store.empty_history())


# ---------------------------------------------------------------- stores

def test_sqlite_store_replaces_a_date_and_round_trips(tmp_path: Path, scored) -> None:
    _, scores = scored
    store = tmp_path / "h.sqlite"
    write_history(store, snapshot(scores, MODEL, JAN))
    write_history(store, snapshot(scores, MODEL, FEB))
    write_history(store, snapshot(scores.assign(health=1.0), MODEL, FEB))
    back = read_history(store)
    assert back.dates == [JAN, FEB]
    assert len(back.rows) == 2 * len(scores)
    assert (back.at(FEB)["health"] == 1.0).all()
    with sqlite3.connect(store) as con:
        assert con.execute("SELECT COUNT(*) FROM weights WHERE date = '2026-02-01'"
                           ).fetchone()[0] == 3 * len(MODEL.components)
    jan = back.at(JAN).reset_index(drop=True)
    np.testing.assert_allclose(jan["health"], scores["health"])
    assert list(jan["account_id"]) == list(scores["account_id"])
    assert jan["quartile"].dtype == "Int64"
    assert back.components == list(MODEL.components)


def test_sqlite_store_adds_columns_for_a_new_component(tmp_path: Path) -> None:
    store = tmp_path / "h.db"
    old = two_components({"A": 1, "B": 1})
    new = Model(name="Two", version="2", components={"A": 1, "C": 1}, metrics=(
        Metric(column="a", component="A", method="linear", worst=0, best=100),
        Metric(column="c", component="C", method="linear", worst=0, best=100)))
    write_history(store, snapshot(scores_frame([{"account_id": "x", "A": 1.0, "B": 2.0,
                                                 "health": 1.5}]), old, JAN))
    write_history(store, snapshot(scores_frame([{"account_id": "x", "A": 3.0, "C": 4.0,
                                                 "health": 3.5}]), new, FEB))
    back = read_history(store)
    assert set(back.components) == {"A", "B", "C"}
    assert np.isnan(back.at(FEB)["B"].iloc[0]) and back.at(FEB)["C"].iloc[0] == 4


def test_not_a_store(tmp_path: Path) -> None:
    bad = tmp_path / "x.sqlite"
    bad.write_text("not a database at all, just text " * 20)
    with pytest.raises(ChsError, match=r"x\.sqlite: cannot read"):
        read_history(bad)
    with pytest.raises(ChsError, match="a history store is a workbook"):
        read_history(tmp_path / "h.csv")


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    path = tmp_path / "m.yaml"
    MODEL.save(path)
    return path


@pytest.fixture
def book(tmp_path: Path, scored) -> Path:
    accounts, _ = scored
    path = tmp_path / "accounts.csv"
    accounts.head(120).to_csv(path, index=False)
    out = tmp_path / "book.xlsx"
    code, text = run("score", str(path), "-o", str(out), "--as-of", "2026-01-06")
    assert code == 0, text
    return out


def test_workbook_snapshot_twice_keeps_one_copy_and_the_rest_of_the_book(
        book: Path, model_path: Path) -> None:
    scores_before = read_scores(book, MODEL).scores
    for _ in range(2):
        code, out = run("snapshot", str(book), "--date", "2026-01-06", "--model",
                        str(model_path))
        assert code == 0, out
    assert "replaced the snapshot of 2026-01-06" in out
    code, out = run("snapshot", str(book), "--date", "2026-02-06", "--model", str(model_path))
    assert code == 0, out
    back = read_history(book)
    assert back.dates == [dt.date(2026, 1, 6), dt.date(2026, 2, 6)]
    assert len(back.rows) == 240
    wb = openpyxl.load_workbook(book)
    assert "History" in wb["History"].tables and "HistoryWeights" in wb["History weights"].tables
    header = [c.value for c in wb["History"][1]]
    assert header == [*store.BASE_COLUMNS, *MODEL.components, *store.EXTRA_COLUMNS]
    assert wb["History"]["A2"].number_format == "yyyy-mm-dd"
    pd.testing.assert_frame_equal(read_scores(book, MODEL).scores, scores_before,
                                  check_dtype=False)


def test_workbook_snapshot_to_a_copy_leaves_the_book_alone(tmp_path: Path, book: Path,
                                                           model_path: Path) -> None:
    before = digest(book)
    copy = tmp_path / "copy.xlsx"
    code, out = run("snapshot", str(book), "-o", str(copy), "--date", "2026-01-06",
                    "--model", str(model_path))
    assert code == 0, out
    assert digest(book) == before
    assert len(read_history(copy).rows) == 120


def test_file_store_survives_rebuilding_the_workbook(tmp_path: Path, book: Path,
                                                    model_path: Path, scored) -> None:
    store = tmp_path / "history.sqlite"
    model = ("--model", str(model_path))
    for day in ("2026-01-06", "2026-02-06"):
        code, out = run("snapshot", str(book), "--date", day, "--history", str(store), *model)
        assert code == 0, out
    accounts, _ = scored
    path = tmp_path / "accounts.csv"
    accounts.head(120).to_csv(path, index=False)
    code, out = run("score", str(path), "-o", str(book))  # would drop the History sheet
    assert code == 1 and "History with 2 snapshot(s)" in out
    assert run("score", str(path), "-o", str(book), "--replace")[0] == 0  # no History sheet
    assert read_history(book).rows.empty
    code, out = run("snapshot", str(book), "--date", "2026-03-06", "--history", str(store),
                    *model)
    assert code == 0, out
    assert len(read_history(store).dates) == 3
    assert read_history(book).dates == [dt.date(2026, 2, 6), dt.date(2026, 3, 6)]
    code, out = run("trend", str(store), "-o", str(tmp_path / "t.xlsx"))
    assert code == 0, out
    assert "Trend 2026-02-06 -> 2026-03-06" in out and "Band migration" in out
    wb = openpyxl.load_workbook(tmp_path / "t.xlsx")
    assert {"Movers", "Owners", "Segments", "Band migration", "Why it moved"} <= \
        set(wb.sheetnames)


def test_formula_like_text_stays_text_in_the_history_sheet(tmp_path: Path, book: Path) -> None:
    scores = read_scores(book, MODEL).scores.assign(owner="=HYPERLINK(\"x\")")
    save_book_history(book, snapshot(scores, MODEL, JAN))
    cell = openpyxl.load_workbook(book)["History"]["E2"]
    assert cell.value == "=HYPERLINK(\"x\")" and cell.data_type == "s"


def test_parts_openpyxl_would_drop_are_kept_and_an_open_book_is_refused(
        tmp_path: Path, book: Path, model_path: Path) -> None:
    """Form controls (and any part chs does not own) survive a snapshot byte for byte;
    a book Excel has open (its lock file is there) is refused, unchanged."""
    fragile = tmp_path / "buttons.xlsx"
    shutil.copyfile(book, fragile)
    with zipfile.ZipFile(fragile, "a") as z:
        z.writestr("xl/ctrlProps/ctrlProp1.xml", "<formControlPr/>")
    code, out = run("snapshot", str(fragile), "--date", "2026-01-06", "--model",
                    str(model_path))
    assert code == 0, out
    with zipfile.ZipFile(fragile) as z:
        assert z.read("xl/ctrlProps/ctrlProp1.xml") == b"<formControlPr/>"
    assert read_history(fragile).dates == [dt.date(2026, 1, 6)]
    lock = tmp_path / "~$book.xlsx"
    lock.write_text("")
    before = digest(book)
    code, out = run("snapshot", str(book), "--date", "2026-01-06", "--model", str(model_path))
    assert code == 1 and "open in Excel" in out
    assert digest(book) == before
    with pytest.raises(ChsError, match="open in Excel"):
        save_book_history(book, store.empty_history())


def test_history_too_long_for_a_sheet(monkeypatch, book: Path, scored) -> None:
    _, scores = scored
    monkeypatch.setattr(store, "EXCEL_MAX_ROWS", 100)
    with pytest.raises(ChsError, match="do not fit in a sheet"):
        save_book_history(book, snapshot(scores, MODEL, JAN))


def test_snapshot_command_errors(tmp_path: Path, scored) -> None:
    _, scores = scored
    csv = tmp_path / "s.csv"
    scores.to_csv(csv, index=False)
    code, out = run("snapshot", str(csv))
    assert code == 1 and "--history H.sqlite" in out
    for _ in range(2):
        code, out = run("snapshot", str(csv), "--history", str(tmp_path / "h.sqlite"),
                        "--date", "2026-01-01")
        assert code == 0, out
    assert "replaced the snapshot of 2026-01-01" in out and "1 snapshot(s)" in out
    assert len(read_history(tmp_path / "h.sqlite").rows) == len(scores)
    other = tmp_path / "other.yaml"
    two_components({"A": 1, "B": 1}).save(other)
    code, out = run("snapshot", str(csv), "--history", str(tmp_path / "h.sqlite"),
                    "--model", str(other))
    assert code == 1 and "component column 'A'" in out and "Traceback" not in out
    with pytest.raises(InputError, match="component column 'A'"):
        snapshot(scores, two_components({"A": 1, "B": 1}), JAN)


def test_an_empty_history_table_below_a_title_is_filled_in_place(tmp_path: Path,
                                                                  scored) -> None:
    """The workbook builder's empty History Table (title above, one blank row) is reused."""
    import xlsxwriter
    _, scores = scored
    path = tmp_path / "built.xlsx"
    book = xlsxwriter.Workbook(str(path))
    ws = book.add_worksheet("History")
    ws.write_string(0, 0, "History of health snapshots")
    headers = [*store.BASE_COLUMNS, *MODEL.components]
    ws.add_table(2, 0, 3, len(headers) - 1, {"name": "History", "style": "Table Style Light 9",
                                             "columns": [{"header": h} for h in headers]})
    book.close()
    assert read_history(path).rows.empty
    save_book_history(path, snapshot(scores, MODEL, JAN))
    wb = openpyxl.load_workbook(path)
    assert wb["History"]["A1"].value == "History of health snapshots"
    assert wb["History"].tables["History"].ref == f"A3:Q{3 + len(scores)}"  # +2 columns
    back = read_history(path)
    assert back.dates == [JAN] and len(back.rows) == len(scores)
