"""Safe file writing: outputs appear only when complete, inputs are never touched.

A write goes to a hidden temporary file beside the target whose name carries the writing
process's id (`.NAME.chs-PID-XXXX.SUFFIX`), then is moved into place. A process killed
mid-write leaves that file behind; the next write into the same folder removes the
leftovers of processes that no longer run.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from chs_excel.core.errors import ChsError

PARTIAL = re.compile(r"^\.(?P<name>.+)\.chs-(?P<pid>\d+)-[^.]+(?P<suffix>\.[^.]*)?$")


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (through `..`, links and case-folding file systems)."""
    try:
        return Path(a).exists() and Path(b).exists() and os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_output_path(path: Path, inputs: Iterable[Path | None] = ()) -> None:
    """Fail early, with a clear message, when `path` cannot be written or is an input."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        if not folder.is_dir():
            raise ChsError(f"{path}: the output folder {folder} does not exist")
        if path.is_dir():
            raise ChsError(f"{path}: is a folder, not a file name")
    except OSError as exc:  # a name too long, a path through a file
        raise ChsError(f"{path}: cannot write ({exc.strerror or exc})") from None
    for source in inputs:
        if source is not None and same_file(path, Path(source)):
            raise ChsError(f"{path}: is also an input ({source}); inputs are never "
                           "changed: choose another output file")


def remove_partial_files(folder: Path) -> None:
    """Delete the temporary files that killed writers left in `folder`."""
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return
    for entry in entries:
        found = PARTIAL.match(entry.name)
        if found and not _running(int(found.group("pid"))):
            with contextlib.suppress(OSError):
                entry.unlink()


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then move it into place.

    A failure leaves no partial output and the previous file (if any) unchanged; an
    operating-system error is one line naming the path.
    """
    path = Path(path)
    check_output_path(path)
    folder = path.parent if str(path.parent) else Path(".")
    remove_partial_files(folder)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.chs-{os.getpid()}-",
                                    suffix=path.suffix, dir=folder)
    except OSError as exc:
        raise ChsError(f"{path}: cannot write in {folder} ({exc.strerror})") from None
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, a read-only folder, a name too long
        where = exc.filename if exc.filename and str(exc.filename) != str(tmp) else path
        raise ChsError(f"{where}: cannot write ({exc.strerror or exc})") from None
    finally:
        if tmp.exists():
            tmp.unlink()
