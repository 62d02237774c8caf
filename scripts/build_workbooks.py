"""Rebuild the workbooks and pictures the repository ships (run after changing the builder).

    python scripts/build_workbooks.py

- templates/customer_health_scorecard.xlsx: the blank live template (2,000 formula rows);
- workbooks/saas_example.xlsx: the default model on 500 sample accounts. LibreOffice
  recalculates a first build and its values become the cached values of the final build,
  so previews and `pandas.read_excel` show numbers (the shipped file is XlsxWriter's,
  never LibreOffice's own save);
- docs/img/scores.png, docs/img/dashboard.png, docs/img/actions.png: those sheets of the
  example, rendered by LibreOffice (PDF) and pdftoppm.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chs_excel.core.model import default_model  # noqa: E402
from chs_excel.sheets.workbook import example_inputs, write_template  # noqa: E402
from chs_excel.xlsx import libreoffice as lo  # noqa: E402

TEMPLATE = ROOT / "templates" / "customer_health_scorecard.xlsx"
EXAMPLE = ROOT / "workbooks" / "saas_example.xlsx"
# sheet -> (picture, resolution in dpi, crop box as fractions of the page: x, y, w, h)
PICTURES = {"Scores": (ROOT / "docs" / "img" / "scores.png", 250, (0.05, 0.08, 0.86, 0.30)),
            "Dashboard": (ROOT / "docs" / "img" / "dashboard.png", 110, (0, 0, 1, 1)),
            "Actions": (ROOT / "docs" / "img" / "actions.png", 220, (0.03, 0.06, 0.94, 0.30))}
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
    """PNGs of the example's Scores and Dashboard pages (LibreOffice PDF -> pdftoppm)."""
    pdf = lo.convert(EXAMPLE, tmp / "pdf", to="pdf")
    count = int(_pdfinfo(pdf)["Pages"].split()[0])
    for sheet, (target, dpi, (x, y, w, h)) in PICTURES.items():
        page = next(p for p in range(1, count + 1) if _page_starts(pdf, p, sheet))
        size = _pdfinfo(pdf, page)[f"Page {page:>4} size"].split()
        px, py = float(size[0]) / 72 * dpi, float(size[2]) / 72 * dpi
        target.parent.mkdir(parents=True, exist_ok=True)
        stem = tmp / sheet
        subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page),
                        "-x", str(int(x * px)), "-y", str(int(y * py)), "-W", str(int(w * px)),
                        "-H", str(int(h * py)), "-singlefile", str(pdf), str(stem)],
                       check=True)
        stem.with_suffix(".png").replace(target)


def _pdfinfo(pdf: Path, page: int | None = None) -> dict[str, str]:
    """pdfinfo's 'key: value' lines (with -f/-l for one page's size)."""
    pages = ["-f", str(page), "-l", str(page)] if page else []
    out = subprocess.run(["pdfinfo", *pages, str(pdf)], capture_output=True, text=True,
                         check=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":")
                                                 for line in out.splitlines())}


def _page_starts(pdf: Path, page: int, sheet: str) -> bool:
    """Whether PDF page `page` is the first page of `sheet` (recognised by its text)."""
    text = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-layout",
                           str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    first = text.strip().splitlines()[0] if text.strip() else ""
    if sheet in ("Dashboard", "Actions"):
        return first.strip().startswith(f"{sheet} —")
    return first.split()[:1] == ["account_id"] and "health" in first.split()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="chs-build-") as folder:
        tmp = Path(folder)
        build_template()
        build_example(tmp)
        render_pictures(tmp)
    print(f"Wrote {TEMPLATE.relative_to(ROOT)}, {EXAMPLE.relative_to(ROOT)} and "
          f"{', '.join(str(p[0].relative_to(ROOT)) for p in PICTURES.values())}")


if __name__ == "__main__":
    main()
