"""Parent accounts (docs/parents.md): the roll-up, its errors, the csv and the live Table.

Every expected value below is worked out by hand from the accounts written here: one
component, one linear metric `x` from 0 to 100, so an account's health is its x.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from chs_excel.core.engine import score
from chs_excel.core.errors import InputError
from chs_excel.core.model import Model
from chs_excel.core.parents import PARENTS_COLUMNS, parent_rollup
from tests.cli_runner import run

NAN = math.nan
MODEL = Model.from_dict({
    "name": "parents test", "components": {"A": 1},
    "bands": {"red_below": 40, "green_from": 70},
    "metrics": [{"column": "x", "component": "A", "weight": 1, "method": "linear",
                 "worst": 0, "best": 100}]})

# account, parent as typed, arr, x (= health)
ACCOUNTS = [
    ("a0", "Acme", 100, 50),
    ("a1", " acme ", 300, 90),         # Acme, as a text key
    ("a2", "Zero\u00a0Co", 0, 30),
    ("a3", "zero  co", None, 60),     # Zero Co: ARR sums to 0 -> the plain mean
    ("a4", "Empty", 500, None),       # no health at all
    ("a5", "Tie", 10, 20),
    ("a6", "TIE", 30, 20),            # tie for the worst: the first (a5)
    ("a7", "a0", 200, 70),            # the parent is an account
    ("a8", None, 50, 10),             # no parent
    ("a9", "Acme", 100, None),        # in Acme, without a health
    ("a10", "Mixed", 0, 100),         # weight 0 beside ARR > 0: drops out of the mean
    ("a11", "Mixed", 50, 40),
]
# parent_id (first spelling, trimmed), accounts, arr, health, band, worst account, health
EXPECTED = [
    ("Acme", 3, 500.0, (100 * 50 + 300 * 90) / 400, "Green", "a0", 50.0),   # 80
    ("Zero\u00a0Co", 2, 0.0, (30 + 60) / 2, "Yellow", "a2", 30.0),           # 45
    ("Empty", 1, 500.0, NAN, "No data", None, NAN),
    ("Tie", 2, 40.0, 20.0, "Red", "a5", 20.0),
    ("a0", 1, 200.0, 70.0, "Green", "a7", 70.0),                             # 70: Green
    ("Mixed", 2, 50.0, 40.0, "Yellow", "a11", 40.0),                         # 40: Yellow
]


def accounts_frame(rows: list[tuple] = ACCOUNTS, header: str = "parent_id") -> pd.DataFrame:
    """The accounts with file rows 2, 3, ... as index (what the readers set)."""
    frame = pd.DataFrame(rows, columns=["account_id", header, "arr", "x"], dtype=object)
    frame.index = range(2, 2 + len(frame))
    return frame


def rollup(frame: pd.DataFrame) -> pd.DataFrame | None:
    return parent_rollup(MODEL, score(MODEL, frame).scores)


def assert_parents(actual: pd.DataFrame, expected: list[tuple]) -> None:
    assert list(actual.columns) == list(PARENTS_COLUMNS)
    assert len(actual) == len(expected)
    for got, want in zip(actual.itertuples(index=False), expected, strict=True):
        for field, g, w in zip(PARENTS_COLUMNS, got, want, strict=True):
            if w is None or (isinstance(w, float) and math.isnan(w)):
                assert g is None or pd.isna(g), (want[0], field, g)
            elif isinstance(w, float):
                assert g == pytest.approx(w, abs=1e-9), (want[0], field, g)
            else:
                assert g == w, (want[0], field, g)


def test_rollup_by_hand() -> None:
    assert_parents(rollup(accounts_frame()), EXPECTED)


def test_header_found_like_the_other_identity_columns() -> None:
    scores = score(MODEL, accounts_frame(header=" Parent ID")).scores
    assert list(scores.columns[:3]) == ["account_id", "parent_id", "arr"]
    assert_parents(parent_rollup(MODEL, scores), EXPECTED)


def test_no_parent_column_no_parents() -> None:
    frame = accounts_frame().drop(columns="parent_id")
    assert rollup(frame) is None


def test_number_parent_ids_match_their_text() -> None:
    rows = [("a0", 7.0, 100, 80), ("a1", " 7", 100, 40), ("a2", None, 1, 1)]
    assert_parents(rollup(accounts_frame(rows)), [("7", 2, 200.0, 60.0, "Yellow", "a1", 40.0)])


def test_band_boundaries_follow_the_model() -> None:
    rows = [("a0", "P", 1, 39.999), ("a1", "Q", 1, 70)]
    out = rollup(accounts_frame(rows))
    assert list(out["band"]) == ["Red", "Green"]
    wider = MODEL.replace(red_below=30, green_from=75)
    assert list(parent_rollup(wider, score(wider, accounts_frame(rows)).scores)["band"]) \
        == ["Yellow", "Yellow"]


def test_own_parent_is_an_error_naming_the_row() -> None:
    rows = [("a0", "G", 1, 50), ("a1", "A1 ", 1, 50)]     # a1's parent is a1 (text key)
    with pytest.raises(InputError, match=r"row 3: account 'a1' is its own parent"):
        rollup(accounts_frame(rows))


def test_cycles_are_errors_naming_the_rows() -> None:
    rows = [("a0", "a1", 1, 50), ("a1", "a0", 1, 50),           # rows 2, 3
            ("b0", "b1", 1, 50), ("b1", "b2", 1, 50), ("b2", "B0", 1, 50),  # rows 4-6
            ("c0", "a0", 1, 50),                                 # into a cycle: not on it
            ("d0", "Group", 1, 50)]
    with pytest.raises(InputError) as err:
        rollup(accounts_frame(rows))
    text = str(err.value)
    assert "rows 2, 3: a cycle (a0 -> a1, a1 -> a0)" in text
    assert "rows 4, 5, 6: a cycle (b0 -> b1, b1 -> b2, b2 -> B0)" in text
    assert "row 7" not in text and "row 8" not in text


def test_a_chain_without_a_cycle_is_fine() -> None:
    rows = [("a0", "a1", 10, 50), ("a1", "a2", 30, 90), ("a2", "Group", 5, 10)]
    out = rollup(accounts_frame(rows))
    assert list(out["parent_id"]) == ["a1", "a2", "Group"]   # one level: direct accounts
    assert list(out["accounts"]) == [1, 1, 1]
    assert list(out["health"]) == [50.0, 90.0, 10.0]


# ---------------------------------------------------------------- csv output

def write_csv_input(path: Path, rows: list[tuple] = ACCOUNTS) -> Path:
    accounts_frame(rows).to_csv(path, index=False)
    return path


def test_csv_output_writes_parents_beside_it(tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    MODEL.save(model)
    src = write_csv_input(tmp_path / "accounts.csv")
    code, out = run("score", str(src), "--model", str(model), "-o", str(tmp_path / "out.csv"))
    assert code == 0, out
    path = tmp_path / "out.parents.csv"
    assert f"Parents: 6 (health rolled up by ARR) -> {path}" in out
    got = pd.read_csv(path, dtype={"worst_account": object}, keep_default_na=False,
                      na_values=[""])
    assert_parents(got.astype(object).where(got.notna(), None), EXPECTED)
    # the same folder without a parent_id column: no parents file (the old one removed)
    accounts_frame().drop(columns="parent_id").to_csv(src, index=False)
    code, out = run("score", str(src), "--model", str(model), "-o", str(tmp_path / "out.csv"))
    assert code == 0, out
    assert not path.exists() and "Parents" not in out


def test_cycle_on_the_command_line_writes_nothing(tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    MODEL.save(model)
    src = write_csv_input(tmp_path / "accounts.csv", [("a0", "a1", 1, 50), ("a1", "a0", 1, 5)])
    code, out = run("score", str(src), "--model", str(model), "-o", str(tmp_path / "o.csv"))
    assert code != 0
    assert "rows 2, 3: a cycle" in out and "Traceback" not in out
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "o.parents.csv").exists()
