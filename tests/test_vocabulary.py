"""The text-key rule (docs/scoring.md, "Text keys"), in Python and vectorised."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from chs_excel.core.engine import score
from chs_excel.core.model import Model
from chs_excel.core.values import parse_flag_value, text_keys
from chs_excel.core.vocabulary import text_key

CASES = [
    ("Strategic", "strategic"),
    ("\u00a0Strategic", "strategic"),
    ("Multi\u3000\u3000Year\t", "multi year"),
    ("  a \t\r\n b  ", "a b"),
    ("n/a\u00a0", "n/a"),
    ("x\u2003", "x\u2003"),          # other Unicode spaces are not Excel TRIM spaces: kept
    (12.0, "12"),
    (12.5, "12.5"),
]


@pytest.mark.parametrize(("value", "key"), CASES)
def test_text_key(value: object, key: str) -> None:
    assert text_key(value) == key


def test_text_keys_is_text_key_over_a_column() -> None:
    texts = [v for v, _ in CASES if isinstance(v, str)]
    assert text_keys(pd.Series(texts, dtype=object)).tolist() == [text_key(v) for v in texts]


def test_flag_words_and_segments_read_through_text_keys() -> None:
    assert parse_flag_value("yes\u00a0") is True and parse_flag_value("\tNO") is False
    model = Model.from_dict({
        "name": "t", "components": {"A": 1, "B": 1},
        "metrics": [{"column": "a", "component": "A", "method": "linear", "worst": 0,
                     "best": 100},
                    {"column": "b", "component": "B", "method": "linear", "worst": 0,
                     "best": 100}],
        "segments": {"column": "plan", "weights": {"Enterprise Plus": {"A": 3, "B": 1}}}})
    accounts = pd.DataFrame({"account_id": ["1", "2", "3"], "a": [100, 100, 100],
                             "b": [0, 0, 0],
                             "plan": ["\u00a0enterprise  plus", "Enterprise\tPlus", "Other"]})
    health = score(model, accounts, as_of=dt.date(2026, 1, 1)).scores["health"].tolist()
    assert health == [75.0, 75.0, 50.0]   # 3:1 weights for both spellings, 1:1 otherwise


def test_display_headers_are_words() -> None:
    from chs_excel.core.vocabulary import display_header
    assert display_header("raw_health") == "Raw health"
    assert display_header("low_data") == "Low data"
    assert display_header("no_data_arr") == "No data ARR"
    assert display_header("account_id") == "Account ID"
    assert display_header("quartile_label") == "Quartile segment"
    assert display_header("email_engagement_pct") == "Email engagement %"
    assert display_header("Relationship") == "Relationship"     # a component: as named
    assert display_header("Held-out AUC") == "Held-out AUC"
