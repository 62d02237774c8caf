"""Score stability (PSI) worked by hand, the owners' books, and `chs trend`'s sheets."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from chs_excel.analytics.history import book_change
from chs_excel.analytics.stability import psi, stability, verdict
from chs_excel.io.history_store import History, write_history
from tests.cli_runner import run


def test_psi_by_hand() -> None:
    # Earlier 0..9 (ten values): the deciles (linear) are 0.9, 1.8, ..., 8.1, so each
    # value sits alone in its bin: e = 0.1 everywhere.
    earlier = np.arange(10.0)
    # Later: 0.5 (bin 0: below 0.9), 1, 1.5 (bin 1: 0.9..1.8), 5, 5, 5 (bin 5: 4.5..5.4),
    # 9, 9, 9, 9 (bin 9: 8.1 and up). a = .1, .2, 0, 0, 0, .3, 0, 0, 0, .4; the empty
    # bins count as 0.0001.
    later = np.array([0.5, 1, 1.5, 5, 5, 5, 9, 9, 9, 9])
    a = [0.1, 0.2, 1e-4, 1e-4, 1e-4, 0.3, 1e-4, 1e-4, 1e-4, 0.4]
    expected = sum((ai - 0.1) * math.log(ai / 0.1) for ai in a)
    # = 0 + 0.1 ln 2 + 6 x (-0.0999) ln(0.001) + 0.2 ln 3 + 0.3 ln 4
    assert expected == pytest.approx(0.1 * math.log(2) + 6 * 0.0999 * math.log(1000)
                                     + 0.2 * math.log(3) + 0.3 * math.log(4))
    assert psi(earlier, later) == pytest.approx(expected)


def test_a_value_on_an_edge_falls_in_the_bin_above_and_blanks_are_left_out() -> None:
    # Earlier 0..9 again; later all 0.9 (the first edge): all in bin 1 (a = 1 there).
    a = [1e-4, 1.0] + [1e-4] * 8
    expected = sum((ai - 0.1) * math.log(ai / 0.1) for ai in a)
    assert psi(np.arange(10.0), np.array([0.9] * 5 + [np.nan])) == pytest.approx(expected)
    assert psi(np.arange(10.0), np.arange(10.0)) == 0.0
    assert math.isnan(psi(np.array([np.nan]), np.arange(3.0)))


def test_verdicts_at_the_thresholds() -> None:
    assert list(verdict(np.array([0.0, 0.0999, 0.10, 0.2499, 0.25, 3.0, np.nan]))) == [
        "stable", "stable", "watch", "watch", "shifted", "shifted", ""]


def test_stability_table_means_and_order() -> None:
    rng = np.random.default_rng(3)
    before = pd.DataFrame({"health": rng.normal(60, 10, 5000), "Usage": rng.normal(50, 5, 5000)})
    after = pd.DataFrame({"health": rng.normal(60, 10, 5000), "Usage": rng.normal(60, 5, 5000)})
    table = stability(before, after, ["health", "Usage"])
    assert list(table["what"]) == ["health", "Usage"]
    assert list(table["verdict"]) == ["stable", "shifted"]
    assert table.at[1, "later_mean"] == pytest.approx(after["Usage"].mean())
    assert table.at[0, "earlier_n"] == 5000


def history() -> History:
    """Two snapshots of four accounts; ann loses a Red account to bob, who turns Red."""
    rows = pd.DataFrame({
        "date": pd.to_datetime(["2026-01-01"] * 4 + ["2026-02-01"] * 4),
        "model": "M", "version": "1", "account_id": ["a", "b", "c", "d"] * 2,
        "owner": ["ann", "ann", "bob", None, "ann", "bob", "bob", None],
        "segment": None, "arr": [100.0, 200, 300, 50] * 2,
        "health": [30.0, 80, 60, 50, 50, 20, 35, 50],
        "band": ["Red", "Green", "Yellow", "Yellow", "Yellow", "Red", "Red", "Yellow"],
        "quartile": pd.array([1] * 8, dtype="Int64"), "Usage": [30.0, 80, 60, 50, 50, 20,
                                                                35, 50]})
    return History(rows, pd.DataFrame(columns=["date", "segment", "component", "weight"]))


def test_book_change_by_hand() -> None:
    table = book_change(history(), dt.date(2026, 1, 1), dt.date(2026, 2, 1)).set_index("owner")
    # ann: Jan a 30 (Red 100) + b 80 -> mean 55, Red ARR 100; Feb a 50 -> 50, Red ARR 0.
    assert table.loc["ann", ["mean_health_before", "mean_health_after", "health_change",
                             "red_arr_before", "red_arr_after", "red_arr_change"]].tolist() \
        == [55, 50, -5, 100, 0, -100]
    # bob: Jan c 60 -> 60, no Red; Feb b 20 + c 35 -> 27.5, Red ARR 200 + 300.
    assert table.loc["bob", ["health_change", "red_arr_after", "accounts_after"]].tolist() \
        == [-32.5, 500, 2]
    assert table.loc["(no owner)", "health_change"] == 0
    assert table.index[0] == "bob"  # the largest fall first


def test_trend_writes_stability_and_books(tmp_path: Path) -> None:
    store = tmp_path / "h.sqlite"
    write_history(store, history())
    code, out = run("trend", str(store), "-o", str(tmp_path / "t.xlsx"))
    assert code == 0, out
    assert "Stability of health: PSI" in out
    book = openpyxl.load_workbook(tmp_path / "t.xlsx")
    assert "Stability" in book["Stability"].tables
    assert "OwnerBooks" in book["Books"].tables
    assert len(book["Books"]._charts) == 2
    got = pd.read_excel(tmp_path / "t.xlsx", sheet_name="Stability", header=2,
                        engine="openpyxl")
    assert list(got.columns[:5]) == ["what", "psi", "verdict", "earlier_mean", "later_mean"]
    assert got["psi"].iloc[0] == pytest.approx(psi(np.array([30.0, 80, 60, 50]),
                                                   np.array([50.0, 20, 35, 50])))


def test_float_noise_on_equal_scores_never_moves_a_bin() -> None:
    # few distinct scores (as a component of steps and flags gives): deciles sit on them
    earlier = np.repeat([20.0, 40.0, 55.0, 70.0, 100.0], [13, 27, 20, 25, 15])
    rng = np.random.default_rng(3)
    for noise in (4e-14, 1e-13):
        later = earlier + rng.choice([-noise, noise], size=len(earlier))
        edges = np.quantile(earlier, np.arange(1, 10) / 10, method="linear")
        moved = (np.searchsorted(edges, later, side="right")
                 != np.searchsorted(edges, earlier, side="right")).sum()
        assert moved > 0  # unrounded, the noise crosses decile edges
        assert psi(earlier, later) == 0.0
        assert verdict(psi(earlier, later))[()] == "stable"
