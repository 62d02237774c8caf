"""What calamine does not tell about an xlsx's cells: error cells, formulas saved without a
value, percent number formats, the 1904 date system. Read from the package's XML with
regular expressions over the bytes (no cell-by-cell parsing of the whole sheet).
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from chs_excel.core.limits import PERCENT_SAMPLE_ROWS

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
PERCENT_IDS = frozenset({9, 10})  # built-in 0% and 0.00%
CELL = rb'<c\b[^>]*?\br="([A-Z]+)(\d+)"'
ERROR_CELL = re.compile(CELL + rb'[^>]*?\bt="e"[^>]*>(?:<f[^>]*/>|<f[^>]*>[^<]*</f>)?'
                        rb'<v>([^<]*)</v>')
FORMULA = rb'[^>]*>(?:<f[^>]*/>|<f[^>]*>([^<]*)</f>)'
# A formula without a cached value: no <v> or an empty-element <v/> (openpyxl, scripts).
# <v></v> is a saved empty result (Excel, chs's own workbooks) and reads as blank.
NO_VALUE = re.compile(CELL + FORMULA + rb'(?:<v\s*/>)?</c>')
STYLED_NUMBER = re.compile(CELL + rb'(?P<attrs>[^>]*)>(?:<f[^>]*/>|<f[^>]*>[^<]*</f>)?<v>')
STYLE = re.compile(rb'\bs="(\d+)"')
TYPE = re.compile(rb'\bt="(\w+)"')
SAMPLE_ROWS = PERCENT_SAMPLE_ROWS  # rows whose number formats decide a percent column


class XlsxCells:
    """The cell facts of one sheet of an xlsx (cells as (excel_row, column_index 0-based))."""

    def __init__(self, path: Path, sheet: str) -> None:
        self.date1904 = False
        self.xml = b""
        self.percent_styles: frozenset[int] = frozenset()
        try:
            with zipfile.ZipFile(path) as z:
                book = ElementTree.fromstring(z.read("xl/workbook.xml"))
                pr = book.find(f"{MAIN}workbookPr")
                self.date1904 = pr is not None and pr.get("date1904", "0").lower() in (
                    "1", "true")
                target = _sheet_target(z, book, sheet)
                if target is not None:
                    self.xml = z.read(target)
                if "xl/styles.xml" in z.namelist():
                    self.percent_styles = _percent_styles(z.read("xl/styles.xml"))
        except (KeyError, zipfile.BadZipFile, ElementTree.ParseError):
            pass  # calamine read it; without the XML facts the values are still right

    def errors(self) -> list[tuple[int, int, str, str]]:
        """(row, col, shown value, problem) of error cells and formulas without a value."""
        found = []
        if b't="e"' in self.xml:
            for m in ERROR_CELL.finditer(self.xml):
                value = m.group(3).decode("utf-8", "replace")
                found.append((int(m.group(2)), _col(m.group(1)), value,
                              f"Excel error {value} in the file"))
        if b"<f" in self.xml:
            for m in NO_VALUE.finditer(self.xml):
                formula = "=" + (m.group(3) or b"").decode("utf-8", "replace")
                found.append((int(m.group(2)), _col(m.group(1)), formula,
                              "formula saved without its value (open the file in Excel "
                              "and save it)"))
        return found

    def percent_cells(self, first_row: int) -> tuple[list[tuple[int, int]],
                                                     list[tuple[int, int]]]:
        """Number cells of the first SAMPLE_ROWS rows from `first_row`: (percent, other)."""
        if not self.percent_styles:
            return [], []
        start = self.xml.find(f'<row r="{first_row}"'.encode())
        if start < 0:
            return [], []
        end = start
        for _ in range(SAMPLE_ROWS):
            nxt = self.xml.find(b"</row>", end + 1)
            if nxt < 0:
                break
            end = nxt
        percent, other = [], []
        for m in STYLED_NUMBER.finditer(self.xml, start, end + 6):
            attrs = m.group("attrs")
            kind = TYPE.search(attrs)
            if kind and kind.group(1) != b"n":
                continue
            style = STYLE.search(attrs)
            cell = (int(m.group(2)), _col(m.group(1)))
            is_pct = style is not None and int(style.group(1)) in self.percent_styles
            (percent if is_pct else other).append(cell)
        return percent, other


def _col(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n - 1


def _sheet_target(z: zipfile.ZipFile, book: ElementTree.Element, sheet: str) -> str | None:
    rid = next((s.get(f"{REL}id") for s in book.iter(f"{MAIN}sheet")
                if s.get("name") == sheet), None)
    rels = ElementTree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    target = next((r.get("Target") for r in rels.iter(f"{PKG_REL}Relationship")
                   if r.get("Id") == rid), None)
    if target is None:
        return None
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(
        posixpath.join("xl", target))


def _percent_styles(styles: bytes) -> frozenset[int]:
    root = ElementTree.fromstring(styles)
    ids = set(PERCENT_IDS)
    for fmt in root.iter(f"{MAIN}numFmt"):
        code = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", fmt.get("formatCode", ""))
        if "%" in code:
            ids.add(int(fmt.get("numFmtId", "-1")))
    xfs = root.find(f"{MAIN}cellXfs")
    if xfs is None:
        return frozenset()
    return frozenset(i for i, xf in enumerate(xfs.iter(f"{MAIN}xf"))
                     if int(xf.get("numFmtId", "0")) in ids)
