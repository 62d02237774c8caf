"""Render docs/img/forecast.png and docs/img/forecast-report.png (run after changing them).

    python scripts/forecast_pictures.py

A workbook of 300 sample accounts (every 23rd without a renewal date, AsOf two months
after the sample's 'today' so some renewals are already past, fiscal year from February)
is built, and `chs forecast` writes its report; LibreOffice renders both to PDF and
pdftoppm crops the Forecast page to PNG.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chs_excel.core.model import default_model  # noqa: E402
from chs_excel.io.sample import make_sample, reference_date  # noqa: E402
from chs_excel.sheets.workbook import write_template  # noqa: E402
from chs_excel.xlsx import libreoffice as lo  # noqa: E402

IMG = ROOT / "docs" / "img"
DPI = 110
CROP = (0.0, 0.0, 1.0, 0.75)  # x, y, width, height as fractions of the page


def render(book: Path, marker: str, target: Path, tmp: Path) -> None:
    """The first PDF page of `book` whose text holds `marker`, cropped, as `target`."""
    pdf = lo.convert(book, tmp / book.stem, to="pdf")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    pages = int(next(line for line in info.splitlines() if line.startswith("Pages")).split()[1])
    for page in range(1, pages + 1):
        text = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout
        if marker in text:
            break
    else:
        raise SystemExit(f"{book}: no page shows {marker!r}")
    size = subprocess.run(["pdfinfo", "-f", str(page), "-l", str(page), str(pdf)],
                          capture_output=True, text=True, check=True).stdout
    width, height = (float(v) for v in next(
        line for line in size.splitlines() if "size" in line).split(":")[1].split()[0:3:2])
    px, py = width / 72 * DPI, height / 72 * DPI
    x, y, w, h = CROP
    stem = tmp / target.stem
    subprocess.run(["pdftoppm", "-png", "-r", str(DPI), "-f", str(page), "-l", str(page),
                    "-x", str(int(x * px)), "-y", str(int(y * py)), "-W", str(int(w * px)),
                    "-H", str(int(h * py)), "-singlefile", str(pdf), str(stem)], check=True)
    stem.with_suffix(".png").replace(target)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="chs-forecast-") as folder:
        tmp = Path(folder)
        accounts = make_sample(300, seed=0)
        accounts.loc[accounts.index[::23], "renewal_date"] = None
        model = default_model().replace(fiscal_year_start=2)
        book = tmp / "forecast_book.xlsx"
        write_template(book, model, accounts, rows=len(accounts),
                       as_of=reference_date(0) + dt.timedelta(days=60))
        report = tmp / "forecast_report.xlsx"
        subprocess.run([sys.executable, "-m", "chs_excel", "forecast", str(book), "-o",
                        str(report)], check=True, capture_output=True, cwd=ROOT)
        IMG.mkdir(parents=True, exist_ok=True)
        render(book, "Renewal forecast by fiscal quarter", IMG / "forecast.png", tmp)
        render(report, "Renewal forecast by quarter", IMG / "forecast-report.png", tmp)
    print("Wrote docs/img/forecast.png and docs/img/forecast-report.png")


if __name__ == "__main__":
    main()
