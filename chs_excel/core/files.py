"""Safe file writing: outputs appear only when complete, inputs are never touched."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from chs_excel.core.errors import ChsError


def check_output_path(path: Path) -> None:
    """Fail early, with a clear message, when `path` cannot be written."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ChsError(f"{path}: the output folder {folder} does not exist")
    if path.is_dir():
        raise ChsError(f"{path}: is a folder, not a file name")


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then move it into place.

    A failure leaves no partial output and the previous file (if any) unchanged.
    """
    path = Path(path)
    check_output_path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix,
                                dir=path.parent if str(path.parent) else ".")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
