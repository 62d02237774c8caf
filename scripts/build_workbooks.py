"""Rebuild the workbooks and pictures the repository ships (run after changing the builder).

    python scripts/build_workbooks.py

- templates/customer_health_scorecard.xlsx: the blank live template (2,000 formula rows);
- workbooks/saas_example.xlsx: the default model on 500 sample accounts. LibreOffice
  recalculates a first build and its values become the cached values of the final build,
  so previews and `pandas.read_excel` show numbers (the shipped file is XlsxWriter's,
  never LibreOffice's own save);
- docs/img/start-here.png, scores.png, dashboard.png: those sheets of the example,
  rendered by LibreOffice (PDF) and pdftoppm;
- docs/img/report-calibration.png, report-auc.png, report-trend.png: the first pages of the
  reports `chs calibrate` and `chs trend` write from the example's accounts (the trend
  compares them with a copy whose NPS fell 3 points). The Forecast sheet and report
  pictures come from scripts/forecast_pictures.py;
- docs/img/actions.png: the example's Actions sheet;
- workbooks/signals_example/: raw exports (tickets, events, surveys, invoices) for the
  default signals model, its accounts, and scored.xlsx with the exports as source sheets.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chs_excel.core.model import default_model  # noqa: E402
from chs_excel.sheets.workbook import example_inputs, write_template  # noqa: E402
from chs_excel.xlsx import libreoffice as lo  # noqa: E402

TEMPLATE = ROOT / "templates" / "customer_health_scorecard.xlsx"
EXAMPLE = ROOT / "workbooks" / "saas_example.xlsx"
SIGNALS_EXAMPLE = ROOT / "workbooks" / "signals_example"
IMG = ROOT / "docs" / "img"
# sheet -> (picture, resolution in dpi, crop box as fractions of the page: x, y, w, h)
PICTURES = {"Start here": (IMG / "start-here.png", 110, (0, 0, 1, 0.5)),
            "Scores": (IMG / "scores.png", 220, (0.03, 0.05, 0.62, 0.28)),
            "Dashboard": (IMG / "dashboard.png", 110, (0, 0, 1, 1)),
            "Actions": (IMG / "actions.png", 220, (0.03, 0.06, 0.94, 0.30))}
# report -> (picture, the text its page starts with)
REPORT_PICTURES = {"calibration": (IMG / "report-calibration.png", "Calibration of"),
                   "calibration-auc": (IMG / "report-auc.png", "AUC:"),
                   "trend": (IMG / "report-trend.png", "Largest drops")}
CACHED_SHEETS = ("Start here", "Dashboard", "Forecast", "Calc")


def build_template() -> None:
    """The blank template: default model, formulas over 2,000 rows."""
    TEMPLATE.parent.mkdir(exist_ok=True)
    write_template(TEMPLATE, default_model())


def build_example(tmp: Path) -> None:
    """The example, with LibreOffice's values cached in every summary formula."""
    EXAMPLE.parent.mkdir(exist_ok=True)
    model, accounts, as_of = example_inputs(tmp)
    first = tmp / "first.xlsx"
    write_template(first, model, accounts, rows=len(accounts), as_of=as_of)
    values = lo.values(lo.recalculate(first, tmp / "lo"))
    formulas = openpyxl.load_workbook(first)
    cached = {}
    for sheet in CACHED_SHEETS:
        cells = {}
        for row in formulas[sheet].iter_rows():
            for cell in row:
                text = cell.value.text if hasattr(cell.value, "text") else cell.value
                if isinstance(text, str) and text.startswith("="):
                    cells[(cell.row - 1, cell.column - 1)] = \
                        values[sheet].cell(cell.row, cell.column).value
        cached[sheet] = cells
    write_template(EXAMPLE, model, accounts, rows=len(accounts), as_of=as_of, cached=cached)


def render_pictures(tmp: Path) -> None:
    """PNGs of the example's sheets (LibreOffice PDF -> pdftoppm)."""
    pdf = lo.convert(EXAMPLE, tmp / "pdf", to="pdf")
    count = int(_pdfinfo(pdf)["Pages"].split()[0])
    for sheet, (target, dpi, box) in PICTURES.items():
        page = next(p for p in range(1, count + 1) if _page_starts(pdf, p, sheet))
        _picture(pdf, page, target, dpi, box, tmp / sheet)


def render_report_pictures(tmp: Path) -> None:
    """PNGs of the first page of each report, written by the command line."""
    _, accounts, _ = example_inputs(tmp)
    source, later, store = tmp / "accounts.csv", tmp / "later.csv", tmp / "history.sqlite"
    accounts.to_csv(source, index=False)
    accounts.assign(nps=pd.to_numeric(accounts["nps"], errors="coerce") - 3).to_csv(
        later, index=False)
    for args in (["score", str(source), "-o", "s1.csv"], ["score", str(later), "-o", "s2.csv"],
                 ["snapshot", "s1.csv", "--history", str(store), "--date", "2026-01-01"],
                 ["snapshot", "s2.csv", "--history", str(store), "--date", "2026-02-01"],
                 ["trend", str(store), "-o", "trend.xlsx"],
                 ["calibrate", str(source), "--learn-points", "-o", "calibration.xlsx",
                  "--no-png"]):
        subprocess.run([sys.executable, "-m", "chs_excel", *args], cwd=tmp, check=True,
                       capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    for name, (target, start) in REPORT_PICTURES.items():
        pdf = lo.convert(tmp / f"{name.split('-')[0]}.xlsx", tmp / "pdf", to="pdf")
        count = int(_pdfinfo(pdf)["Pages"].split()[0])
        page = next(p for p in range(1, count + 1) if _first_line(pdf, p).startswith(start))
        _picture(pdf, page, target, 110, (0, 0, 1, 0.75), tmp / name)


def _picture(pdf: Path, page: int, target: Path, dpi: int,
             box: tuple[float, float, float, float], stem: Path) -> None:
    """Page `page` of `pdf`, cropped to `box` (fractions of the page), as `target`."""
    x, y, w, h = box
    size = _pdfinfo(pdf, page)[f"Page {page:>4} size"].split()
    px, py = float(size[0]) / 72 * dpi, float(size[2]) / 72 * dpi
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page),
                    "-x", str(int(x * px)), "-y", str(int(y * py)), "-W", str(int(w * px)),
                    "-H", str(int(h * py)), "-singlefile", str(pdf), str(stem)], check=True)
    stem.with_suffix(".png").replace(target)


def _pdfinfo(pdf: Path, page: int | None = None) -> dict[str, str]:
    """pdfinfo's 'key: value' lines (with -f/-l for one page's size)."""
    pages = ["-f", str(page), "-l", str(page)] if page else []
    out = subprocess.run(["pdfinfo", *pages, str(pdf)], capture_output=True, text=True,
                         check=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":")
                                                 for line in out.splitlines())}


def _first_line(pdf: Path, page: int) -> str:
    """The first line of text on PDF page `page`, spaces collapsed."""
    text = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-layout",
                           str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(text.strip().splitlines()[0].split()) if text.strip() else ""


def _page_starts(pdf: Path, page: int, sheet: str) -> bool:
    """Whether PDF page `page` is the first page of `sheet` (recognised by its text)."""
    first = _first_line(pdf, page)
    starts = {"Start here": "Customer health scorecard —", "Dashboard": "Dashboard —",
              "Actions": "Actions —"}
    if sheet in starts:
        return first.startswith(starts[sheet])
    return first.startswith("Account ID Account name") and " Health " in f"{first} "


def build_signals_example() -> None:
    """workbooks/signals_example/: the default signals model, 500 accounts and their raw
    exports, and scored.xlsx holding the exports as source sheets (`chs demo --signals`)."""
    subprocess.run([sys.executable, "-m", "chs_excel", "demo", "--signals", "-n", "500",
                    "-o", str(SIGNALS_EXAMPLE)], check=True, capture_output=True, cwd=ROOT)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="chs-build-") as folder:
        tmp = Path(folder)
        build_template()
        build_example(tmp)
        build_signals_example()
        render_pictures(tmp)
        render_report_pictures(tmp)
    pictures = [p[0] for p in (*PICTURES.values(), *REPORT_PICTURES.values())]
    print(f"Wrote {TEMPLATE.relative_to(ROOT)}, {EXAMPLE.relative_to(ROOT)}, "
          f"{SIGNALS_EXAMPLE.relative_to(ROOT)}/ and "
          f"{', '.join(str(p.relative_to(ROOT)) for p in pictures)}")


if __name__ == "__main__":
    main()
