"""Workbook styles, defined once and applied by name (colours that mean something)."""

from __future__ import annotations

RED = "#F8CBAD"
RED_FONT = "#9C0006"
YELLOW = "#FFEB9C"
YELLOW_FONT = "#7F6000"
GREEN = "#C6EFCE"
GREEN_FONT = "#006100"
GREY = "#E7E6E6"
INPUT_FILL = "#FFF9E6"       # cells users edit: pale cream
FORMULA_FONT = "#1F3864"     # computed cells: dark blue text
HEADER_FILL = "#1F3864"
QUARTILE_FILLS = {1: "#DDEBF7", 2: "#F2F2F2", 3: "#E4E4E4", 4: "#FCE4D6"}

# XlsxWriter format properties, keyed by the name the builder uses.
FORMATS: dict[str, dict[str, object]] = {
    "title": {"bold": True, "font_size": 16, "font_color": HEADER_FILL},
    "subtitle": {"bold": True, "font_size": 12, "font_color": HEADER_FILL},
    "text": {"text_wrap": True, "valign": "top"},
    "note": {"italic": True, "font_color": "#595959"},
    "wrapped_note": {"italic": True, "font_color": "#595959", "text_wrap": True,
                     "valign": "top"},
    "input": {"bg_color": INPUT_FILL, "border": 1, "border_color": "#D9D9D9"},
    "input_number": {"bg_color": INPUT_FILL, "border": 1, "border_color": "#D9D9D9",
                     "num_format": "General"},
    "input_pct": {"bg_color": INPUT_FILL, "border": 1, "border_color": "#D9D9D9",
                  "num_format": "0%"},
    "score": {"num_format": "0.0", "font_color": FORMULA_FONT},
    "decimal3": {"num_format": "0.000", "font_color": FORMULA_FONT},
    "pct": {"num_format": "0%", "font_color": FORMULA_FONT},
    "pct1": {"num_format": "+0.0%;-0.0%;0.0%", "font_color": FORMULA_FONT},
    "money": {"num_format": "#,##0", "font_color": FORMULA_FONT},
    "money_total": {"num_format": "#,##0", "font_color": FORMULA_FONT, "bold": True,
                    "top": 1},
    "date": {"num_format": "yyyy-mm-dd", "font_color": FORMULA_FONT},
    "plain": {"font_color": FORMULA_FONT},
    "plain_indent": {"font_color": FORMULA_FONT, "indent": 1},   # text after a number
    "flag": {"font_color": FORMULA_FONT, "align": "center"},     # TRUE/FALSE
    "int": {"num_format": "0", "font_color": FORMULA_FONT, "align": "center"},
    "count": {"num_format": "#,##0", "font_color": FORMULA_FONT},
    "helper": {"font_color": "#7F7F7F", "italic": True},
    "helper_datetime": {"font_color": "#7F7F7F", "italic": True,
                        "num_format": "yyyy-mm-dd hh:mm:ss"},
    "bold": {"bold": True},
    "label_right": {"bold": True, "align": "right"},   # a label beside its number
    "input_datetime": {"bg_color": INPUT_FILL, "border": 1, "border_color": "#D9D9D9",
                       "num_format": "yyyy-mm-dd hh:mm:ss"},
    "input_date": {"bg_color": INPUT_FILL, "border": 1, "border_color": "#D9D9D9",
                   "num_format": "yyyy-mm-dd"},
    "header": {"bold": True, "font_color": "#FFFFFF", "bg_color": HEADER_FILL},
    "header_right": {"bold": True, "font_color": "#FFFFFF", "bg_color": HEADER_FILL,
                     "align": "right"},
    "header_cell": {"bold": True, "valign": "top"},
    "header_number": {"bold": True, "valign": "top", "align": "right"},
    "header_indent": {"bold": True, "valign": "top", "indent": 1},
    "header_center": {"bold": True, "valign": "top", "align": "center"},
    "total": {"bold": True, "top": 1, "font_color": FORMULA_FONT},
    "total_money": {"bold": True, "top": 1, "num_format": "#,##0", "font_color": FORMULA_FONT},
    "total_count": {"bold": True, "top": 1, "num_format": "#,##0", "font_color": FORMULA_FONT},
    "total_pct": {"bold": True, "top": 1, "num_format": "0%", "font_color": FORMULA_FONT},
    "total_score": {"bold": True, "top": 1, "num_format": "0.0", "font_color": FORMULA_FONT},
    "verdict": {"bold": True, "font_size": 12, "text_wrap": True, "valign": "top"},
    "indent": {"indent": 1},
    "right": {"align": "right"},
    "red": {"bg_color": RED, "font_color": RED_FONT},
    "yellow": {"bg_color": YELLOW, "font_color": YELLOW_FONT},
    "green": {"bg_color": GREEN, "font_color": GREEN_FONT},
    "nodata": {"bg_color": GREY, "font_color": "#595959"},
    **{f"quartile{q}": {"bg_color": fill, "bold": q in (1, 4)}
       for q, fill in QUARTILE_FILLS.items()},
}

WIDTH_CAP = 40            # widest a fitted column gets (characters); longer text wraps or clips
LINE_HEIGHT = 15.0        # points per line of 11-point text

# Traffic-light colours for charts (bands best first, then No data).
BAND_COLOURS = {"Green": "#63BE7B", "Yellow": "#FFD966", "Red": "#F8696B", "No data": "#BFBFBF"}
SCALE_COLOURS = ("#F8696B", "#FFEB84", "#63BE7B")  # colour scale: 0, scale/2, scale


def label_format(label: str) -> str | None:
    """The number format that displays `label` for any text cell (None when `label`
    cannot be quoted in a format code)."""
    if not label or any(ch in label for ch in '"\\\n\r\t'):
        return None
    return f';;;"{label}"'
