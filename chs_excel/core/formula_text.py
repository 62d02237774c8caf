"""Pieces of formula text shared by the formula plan and the metric methods.

Plain string building (no workbook library), so the metric methods can write their Excel
formulas without the UDF module importing a writer.
"""

from __future__ import annotations

from chs_excel.core.vocabulary import BLANK_WORDS, FALSE_WORDS, TRUE_WORDS


def array_constant(words: tuple[str, ...]) -> str:
    """An Excel array constant of text: ('a', 'b') -> {"a","b"}."""
    return "{" + ",".join(f'"{w}"' for w in words) + "}"


TRUE_ARRAY = array_constant(TRUE_WORDS)
FALSE_ARRAY = array_constant(FALSE_WORDS)
BLANK_ARRAY = array_constant(BLANK_WORDS)


def structured(table: str, column: str) -> str:
    """A structured reference `Table[column]`, escaping the characters Excel requires."""
    escaped = "".join("'" + ch if ch in "[]#'" else ch for ch in column)
    return f"{table}[{escaped}]"


def text_literal(text: str) -> str:
    """A string literal for a formula (double quotes doubled)."""
    return '"' + str(text).replace('"', '""') + '"'


def wildcard_safe(expr: str) -> str:
    """`expr` with MATCH's wildcards (~ * ?) escaped, so labels match literally."""
    return f'SUBSTITUTE(SUBSTITUTE(SUBSTITUTE({expr},"~","~~"),"*","~*"),"?","~?")'


def literal_pattern(text: str) -> str:
    """A constant lookup value for MATCH with its wildcards escaped (done in Python)."""
    return text_literal(str(text).replace("~", "~~").replace("*", "~*").replace("?", "~?"))


# Excel's and LibreOffice's TRIM handle only U+0020: these become spaces first. UNICHAR
# (not CHAR(160), which depends on the platform's code page) names them exactly.
KEY_SPACE_CODES = (160, 12288, 9, 10, 13)


def text_of(ref: str) -> str:
    """A cell as its text key is compared (docs/scoring.md, "Text keys"): no-break and
    ideographic spaces, tabs and line breaks as spaces, then TRIM (numbers become digits)."""
    text = f'{ref}&""'
    for code in KEY_SPACE_CODES:
        text = f'SUBSTITUTE({text},_xlfn.UNICHAR({code})," ")'
    return f"TRIM({text})"


# What `header_key` drops besides "_": every character Python's str.split() splits on
# (str.isspace; tests/test_formulas.py checks the list against it).
HEADER_SPACE_CODES = (9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, *range(8192, 8203),
                      8232, 8233, 8239, 8287, 12288)


def header_of(ref: str) -> str:
    """A header cell as `vocabulary.header_key` reads it: every whitespace character
    and "_" removed, lower case (so headers match as the engine matches them)."""
    text = f'SUBSTITUTE({ref}&"","_","")'
    for code in HEADER_SPACE_CODES:
        text = f'SUBSTITUTE({text},_xlfn.UNICHAR({code}),"")'
    return f"LOWER({text})"
