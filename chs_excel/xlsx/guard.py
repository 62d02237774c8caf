"""Checks a user's xlsx/xlsm package passes before anything parses it.

calamine (Rust) and openpyxl trust the package: a part that inflates to gigabytes (a "zip
bomb") exhausts memory, and a sheet whose cells span A1:XFD1048576 makes calamine allocate
the whole rectangle and abort the process natively. `check_package` refuses such files
with one line naming the file (an `InputError`), in time proportional to the package's
sheets and in a few megabytes of memory:

- the file is a zip holding `[Content_Types].xml` and `_rels/.rels`;
- no part inflates beyond its limit (`ZipInfo.file_size`, checked before reading; the
  zip reader stops at that size, so a part cannot claim less than it holds):
  a worksheet `MAX_SHEET_BYTES` (2 GB), the shared strings `MAX_STRINGS_BYTES` (200 MB),
  any other part `MAX_PART_BYTES` (200 MB), all parts together `MAX_TOTAL_BYTES` (4 GB);
  a part above 10 MB may not unpack to more than `MAX_RATIO` (100) times its packed size
  (spreadsheet XML packs about 10 to 1; a bomb about 1000 to 1);
- each worksheet's used range (rows x columns spanned by its cells, which calamine
  allocates whole, ~32 bytes a cell) is at most `MAX_CELLS` (20 million) or, beyond that,
  at most `SPARSITY` (32) times the cells the sheet really holds; cells and rows placed by
  position (no `r=""`) count from A1, so they cannot hide a span.

The result is remembered per file (path, size, modification time), so the readers that
call it one after the other check a file once.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from chs_excel.core.errors import InputError

MB = 1024 ** 2
MAX_SHEET_BYTES = 2 * 1024 * MB
MAX_STRINGS_BYTES = 200 * MB
MAX_PART_BYTES = 200 * MB
MAX_TOTAL_BYTES = 4 * 1024 * MB
MAX_RATIO = 100       # unpacked : packed, for parts above RATIO_FROM (real parts: ~10)
RATIO_FROM = 10 * MB
MAX_CELLS = 20_000_000
SPARSITY = 32
CHUNK = 8 * MB

_checked: dict[tuple[str, int, int], None] = {}


def check_package(path: str | Path) -> None:
    """Refuse (InputError naming the file) a package that is not a workbook, holds a part
    beyond its size limit, or a sheet whose used range is absurdly large."""
    path = Path(path)
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _checked:
        return
    try:
        with zipfile.ZipFile(path) as package:
            infos = package.infolist()
            check_sizes(path, infos)
            for info in infos:
                if _is_sheet(info.filename):
                    _check_used_range(path, package, info)
    except InputError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
        raise InputError(f"{path}: not a readable xlsx workbook ({exc})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    _checked[key] = None


def check_sizes(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """The package's index parts are there and no part is too large (before reading any)."""
    names = {i.filename for i in infos}
    for required in ("[Content_Types].xml", "_rels/.rels"):
        if required not in names:
            raise InputError(f"{path}: not an Excel workbook (the package has no {required}; "
                             "save it from Excel again)")
    total = 0
    for info in infos:
        limit = part_limit(info.filename)
        total += info.file_size
        if info.file_size > limit:
            raise InputError(f"{path}: the part {info.filename} unpacks to "
                             f"{info.file_size / MB:,.0f} MB, above the {limit / MB:,.0f} MB "
                             "this tool reads (a damaged or hostile file?)")
        packed = max(info.compress_size, 1)
        if info.file_size > RATIO_FROM and info.file_size > MAX_RATIO * packed:
            raise InputError(f"{path}: the part {info.filename} unpacks to "
                             f"{info.file_size / MB:,.0f} MB from {packed / MB:,.1f} MB "
                             f"({info.file_size // packed:,} to 1; real workbooks pack about "
                             "10 to 1): refused as a zip bomb")
    if total > MAX_TOTAL_BYTES:
        raise InputError(f"{path}: unpacks to {total / MB:,.0f} MB, above the "
                         f"{MAX_TOTAL_BYTES / MB:,.0f} MB this tool reads")


def part_limit(name: str) -> int:
    """The largest a part may unpack to."""
    if _is_sheet(name):
        return MAX_SHEET_BYTES
    if name.lower().endswith("sharedstrings.xml"):
        return MAX_STRINGS_BYTES
    return MAX_PART_BYTES


def _is_sheet(name: str) -> bool:
    lower = name.lower()
    return lower.startswith("xl/worksheets/") and lower.endswith(".xml") \
        and "/_rels/" not in lower


def _check_used_range(path: Path, package: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Rows x columns spanned by the sheet's cells, streamed (never the whole part)."""
    low_row = low_col = 1 << 30
    high_row = high_col = 0
    cells = bare_cells = bare_rows = 0
    tail = b""
    with package.open(info) as part:
        while True:
            chunk = part.read(CHUNK)
            data = tail + chunk
            if chunk:  # keep an unfinished tag for the next chunk
                cut = data.rfind(b"<")
                data, tail = (data[:cut], data[cut:]) if cut >= 0 else (data, b"")
            rows, cols = _refs(data)
            if len(rows):
                low_row, high_row = min(low_row, int(rows.min())), max(high_row, int(rows.max()))
            if len(cols):
                low_col, high_col = min(low_col, int(cols.min())), max(high_col, int(cols.max()))
            cell_tags, row_tags = _tags(data)
            cells += cell_tags
            bare_cells += max(0, cell_tags - len(cols))       # cells placed by position
            bare_rows += max(0, row_tags - (len(rows) - len(cols)))
            if not chunk:
                break
    if bare_rows:   # a row without r="" follows the previous one
        low_row, high_row = 1, high_row + bare_rows
    if bare_cells:  # a cell without r="" follows the previous one in its row
        low_col, high_col = 1, min(16_384, max(high_col, 1) + bare_cells)
    if not high_row:
        return
    height = high_row - low_row + 1
    width = high_col - low_col + 1 if high_col else 1
    area = height * width
    if area > max(MAX_CELLS, SPARSITY * cells):
        raise InputError(f"{path}: the sheet part {info.filename} spans {width:,} columns x "
                         f"{height:,} rows ({area:,} cells) with {cells:,} cells in it; "
                         "such a sparse used range is refused (delete the far-away cells, "
                         "or copy the data to a new sheet)")


def _tags(data: bytes) -> tuple[int, int]:
    """How many cell tags (`<c ...`, `<x:c ...`) and row tags `data` holds."""
    a = np.frombuffer(data, dtype=np.uint8)
    if len(a) < 4:
        return 0, 0
    after = a[2:]
    ends = (after == 32) | (after == 62) | (after == 47)   # space, '>', '/'
    opens = (a[:-2] == 60) | (a[:-2] == 58)                # '<' or a prefix's ':'
    cell_tags = int(np.count_nonzero(opens & (a[1:-1] == 99) & ends))
    return cell_tags, data.count(b"<row") + data.count(b":row ")


def _refs(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of every ` r="A12"` / ` r="12"` attribute in `data`, and the column
    numbers of those that name a cell (vectorised: a sheet's refs in C speed)."""
    a = np.frombuffer(data, dtype=np.uint8)
    if len(a) < 8:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    hit = (a[:-7] == 32) & (a[1:-6] == 114) & (a[2:-5] == 61) & (a[3:-4] == 34)
    at = np.flatnonzero(hit) + 4                     # first character after r="
    padded = np.concatenate([a, np.zeros(12, np.uint8)])
    col = np.zeros(len(at), np.int64)
    pos = at.copy()
    for _ in range(3):                               # up to three letters (XFD)
        ch = padded[pos]
        letter = (ch >= 65) & (ch <= 90)
        col = np.where(letter, col * 26 + ch.astype(np.int64) - 64, col)
        pos = pos + letter
    row = np.zeros(len(at), np.int64)
    digits = np.zeros(len(at), bool)
    going = np.ones(len(at), bool)
    for _ in range(8):                               # up to seven digits (1048576)
        ch = padded[pos]
        digit = going & (ch >= 48) & (ch <= 57)
        row = np.where(digit, row * 10 + ch.astype(np.int64) - 48, row)
        digits |= digit
        going = digit
        pos = pos + digit
    ok = digits & (padded[pos] == 34)                # the attribute ends right after
    return row[ok], col[ok & (col > 0)]
