"""The traffic-light rules of the Scores sheet, written once for every writer.

Health is filled by the Model's thresholds (the defined names `RedBelow` and `GreenFrom`,
so editing the Model recolours), Band by its text, quartiles by number. The live workbook
(XlsxWriter) and the values Scores of `chs_refresh` (package splice) both build their
conditional formats from these tuples.
"""

from __future__ import annotations

from chs_excel.core.vocabulary import BANDS, NO_DATA

# Model setting -> the workbook-level name of its cell on the Model sheet.
DEFINED_NAMES = {"red_below": "RedBelow", "green_from": "GreenFrom",
                 "min_coverage": "MinCoverage", "scale": "Scale"}
# Band text -> the named format (xlsx.styles.FORMATS) that fills it.
BAND_FORMATS = {**{band: band.lower() for band in BANDS}, NO_DATA: "nodata"}
QUARTILE_FORMATS = {q: f"quartile{q}" for q in (1, 2, 3, 4)}


def health_rules(cell: str, red: str = "RedBelow", green: str = "GreenFrom"
                 ) -> list[tuple[str, str]]:
    """(format name, formula) per band for a health cell (relative reference `cell`)."""
    return [("red", f"AND(ISNUMBER({cell}),{cell}<{red})"),
            ("yellow", f"AND(ISNUMBER({cell}),{cell}>={red},{cell}<{green})"),
            ("green", f"AND(ISNUMBER({cell}),{cell}>={green})")]
