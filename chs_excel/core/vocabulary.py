"""The product's words, defined once: bands, quartile labels, truth and blank words, columns.

Every module that names a band, a quartile, a true-ish word or an output column takes it
from here, so the engine, the formulas, the sheets and the reports cannot drift apart.
"""

from __future__ import annotations

import difflib
import re

BANDS = ("Green", "Yellow", "Red")           # best first (docs/scoring.md)
NO_DATA = "No data"                          # the band of an account with no health
BAND_ORDER = (*BANDS, NO_DATA)               # the rows of every by-band table
DEFAULT_RENEWAL_PROBABILITY = {"Green": 0.95, "Yellow": 0.80, "Red": 0.50}

# quartile -> quartile_label (2 and 3 share a label)
QUARTILE_LABELS = {1: "Top 25%", 2: "Middle 50%", 3: "Middle 50%", 4: "Bottom 25%"}
# quartile -> the row name of a by-quartile table, where all four rows are shown
QUARTILE_ROWS = {1: "Top 25%", 2: "Middle 50% (upper)", 3: "Middle 50% (lower)",
                 4: "Bottom 25%"}

TRUE_WORDS = ("1", "true", "yes", "y", "x")  # flag words, any case
FALSE_WORDS = ("0", "false", "no", "n")
BLANK_WORDS = ("", "na", "n/a", "nan", "null", "none")  # text that means "no value"
FORMULA_START = ("=", "+", "-", "@")         # text starting so is written as text

OPERATORS = ("<", "<=", ">", ">=", "=", "<>")

# Input columns carried to the output as they are, and the manual override columns.
IDENTITY_COLUMNS = ("account_name", "parent_id", "owner", "segment", "plan", "region", "arr",
                    "renewal_date")
OVERRIDE_COLUMNS = ("override_score", "override_reason", "override_until")
# Engine output columns after the identity and component columns, in output order.
RESULT_COLUMNS = ("health", "raw_health", "band", "quartile", "quartile_label", "coverage",
                  "low_data", "capped_by", "overridden", "weakest_component",
                  "points_at_stake", "renewal_probability", "expected_arr", "next_action",
                  "action_owner", "action_priority", "actions", "action_playbook",
                  "action_due")
# The path to Green (core/path.py): written beside the scores in a csv, and in the
# workbook's Paths Table (not on Scores: see docs/path-to-green.md).
PATH_COLUMNS = ("path_to_green", "path_steps")
# Names no component or metric may take: they would shadow an output column.
RESERVED_COLUMNS = ("account_id", *RESULT_COLUMNS)
# Every engine output column a scores file may carry (components and metric scores aside).
SCORE_COLUMNS = ("account_id", *IDENTITY_COLUMNS, *RESULT_COLUMNS)
# One snapshot row of History (then one column per component).
HISTORY_COLUMNS = ("date", "model", "version", "account_id", "owner", "segment", "arr",
                   "health", "band", "quartile")

# Every sheet the product writes, in workbook order; a sheet added to an existing book goes
# after the last of its predecessors that the book has.
SHEET_ORDER = ("Start here", "Model", "Accounts", "Scores", "Account", "Actions",
               "This week", "Action status", "Dashboard", "Parents", "Forecast", "History",
               "History statuses", "Paths", "History weights", "Calibration", "Data issues",
               "Calc")

# The display kind (number format) of each output column; see xlsx.styles.FORMATS.
COLUMN_KINDS = {
    "health": "score", "raw_health": "score", "points_at_stake": "score",
    "coverage": "pct", "renewal_probability": "pct", "arr": "money", "expected_arr": "money",
    "renewal_date": "date", "quartile": "int", "action_priority": "int", "path_steps": "int",
}


# Words written in capitals in a display header ("arr_at_risk" -> "ARR at risk").
HEADER_ACRONYMS = {"arr": "ARR", "id": "ID", "auc": "AUC", "nps": "NPS", "csat": "CSAT",
                   "qbr": "QBR", "ci": "CI", "pct": "%", "csm": "CSM", "roc": "ROC"}
# Display headers that are not the key's words (keys stay the Table column names).
DISPLAY_HEADERS = {"account_id": "Account ID", "quartile_label": "Quartile segment",
                   "expected_arr": "Expected renewed ARR", "period_start": "Starts",
                   "arr_at_risk": "ARR at risk (Red)", "held_out_auc": "Held-out AUC",
                   "held_out_rows": "Held-out rows", "training_auc": "Training AUC"}


def display_header(key: object) -> str:
    """The words a person reads for a column key: 'raw_health' -> 'Raw health'.

    Shown in header cells while the cell (and a Table's column name) keeps the key, so
    formulas, UDFs and readers go on finding the documented names (docs/workbook.md).
    """
    text = str(key)
    if text in DISPLAY_HEADERS:
        return DISPLAY_HEADERS[text]
    if "_" not in text and text[:1].isupper():
        return text                      # already words: a component, "Held-out AUC"
    words = [HEADER_ACRONYMS.get(w.lower(), w) for w in text.replace("_", " ").split(" ")]
    first = words[0] if words and words[0] in HEADER_ACRONYMS.values() else \
        words[0][:1].upper() + words[0][1:] if words else ""
    return " ".join([first, *words[1:]])


def header_key(name: object) -> str:
    """The form headers are matched in: case, spaces and underscores ignored."""
    return "".join(str(name).split()).replace("_", "").lower()


def suggest_column(missing: str, headers: list[str]) -> str | None:
    """The header most like a missing column's name (compared as header keys), if any:
    the closest spelling, else the shortest header holding the name ('Account Owner')."""
    keys = {header_key(h): str(h) for h in headers if header_key(h)}
    want = header_key(missing)
    close = difflib.get_close_matches(want, list(keys), n=1, cutoff=0.6)
    holding = sorted((k for k in keys if len(want) >= 3 and want in k), key=len)
    return keys[close[0]] if close else keys[holding[0]] if holding else None


# Identity columns the sheets read (Dashboard ARR, owners, renewals): each one not found
# is named (console, Start here, Data issues).
EXPECTED_IDENTITY = ("account_name", "owner", "arr", "renewal_date")
# Input columns that are always text, whatever their cells look like (by header_key).
TEXT_INPUT_KEYS = frozenset({"accountid", "accountname", "parentid", "owner", "segment",
                             "plan", "region", "overridereason"})


def input_kind(column: object) -> str:
    """How the accounts reader types an input column: "text", "date" or "number"."""
    key = header_key(column)
    if key in TEXT_INPUT_KEYS:
        return "text"
    return "date" if "date" in key or "until" in key else "number"


def percent_scaled(column: object) -> bool:
    """Whether a %-formatted xlsx column reads x100 (45% as 45): number columns other than
    chs's own fraction outputs (coverage, renewal_probability). docs/input.md."""
    return input_kind(column) == "number" and header_key(column) not in {
        header_key(c) for c, k in COLUMN_KINDS.items() if k == "pct"}


# Characters a text key reads as a space (Excel's TRIM handles only U+0020, so the
# formulas substitute these first: see core.formula_text.text_of).
KEY_SPACES = ("\u00a0", "\u3000", "\t", "\r", "\n")
KEY_SPACE_TABLE = str.maketrans(dict.fromkeys(KEY_SPACES, " "))
SPACE_RUNS = re.compile(" {2,}")


def text_key(value: object) -> str:
    """A text value (label, flag word, segment, rule value) as matched (docs/scoring.md,
    "Text keys"): no-break, ideographic spaces, tabs and line breaks read as spaces, ends
    trimmed, inner runs collapsed, case ignored; a whole float reads as its integer."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return SPACE_RUNS.sub(" ", str(value).translate(KEY_SPACE_TABLE)).strip(" ").lower()

