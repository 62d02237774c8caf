"""Safe file writing: outputs appear only when complete, inputs are never touched.

A write goes to a hidden temporary file beside the target whose name carries the writing
process's id (`.NAME.chs-PID-XXXX.SUFFIX`), then is moved into place. A process killed
mid-write leaves that file behind; the next write into the same folder removes the
leftovers of processes that no longer run.

A read-modify-write of one file (`chs snapshot` into a workbook or a SQLite store, the
macros run on a file) holds `locked(path)` from reading the file to replacing it: an
advisory lock on a sidecar file `.NAME.chs-lock` beside it (`fcntl.flock` on Linux and
macOS, `msvcrt.locking` on Windows). A second writer waits up to `LOCK_TIMEOUT` seconds
(the environment variable CHS_LOCK_TIMEOUT changes it), then fails with one line. The
lock is released when the holder finishes or dies. The holder removes the sidecar before
releasing it; a waiter that then gets the lock on the removed file notices (its inode is
no longer the path's) and locks the new one. A killed holder leaves an empty sidecar,
reused by the next writer.

Scratch files (XlsxWriter's part files, up to gigabytes for a large workbook) go to one
folder per process, `chs-excel-PID-XXXX` in the system's temporary folder
(`scratch_folder`), removed when the process ends; the folders of killed processes are
removed by the next process that makes one.

Test suites set CHS_KEEP_WRITTEN to a folder: every workbook written is also copied there,
so each can be checked after its test's temporary folder is gone.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import itertools
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from chs_excel.core.errors import ChsError

PARTIAL = re.compile(r"^\.(?P<name>.+)\.chs-(?P<pid>\d+)-[^.]+(?P<suffix>\.[^.]*)?$")
SCRATCH = re.compile(r"^chs-excel-(?P<pid>\d+)-")
KEEP_WRITTEN = "CHS_KEEP_WRITTEN"  # a folder every written workbook is copied to (tests)
_scratch: list[Path] = []  # this process's scratch folder, once made
_kept = itertools.count()


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


def _write_failure(exc: BaseException, path: Path, tmp: Path) -> ChsError | None:
    """The one line telling why writing `path` failed, when the cause is the system's."""
    cause = None if isinstance(exc, ChsError) else os_error(exc)
    if cause is None:
        return None
    where = cause.filename if cause.filename and str(cause.filename) != str(tmp) else path
    return ChsError(f"{where}: cannot write ({cause.strerror or cause})")


def os_error(exc: BaseException) -> OSError | None:
    """The operating-system error behind `exc`, if any: libraries wrap it (XlsxWriter's
    FileCreateError carries it as its argument, others raise from it). An error merely
    raised while handling one (its context) is not caused by it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        wrapped = next((a for a in current.args if isinstance(a, OSError)), None)
        current = wrapped or current.__cause__
    return None


def make_folder(folder: Path) -> Path:
    """Create the output folder of a command that writes several files (demo, addin);
    a file of that name, or a folder that cannot be made, is one line naming it."""
    folder = Path(folder)
    try:
        if folder.exists() and not folder.is_dir():
            raise ChsError(f"{folder}: is a file; this command writes several files into a "
                           "folder: give a folder name")
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ChsError(f"{exc.filename or folder}: cannot make the folder "
                       f"({exc.strerror or exc})") from None
    return folder


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


def scratch_folder() -> Path:
    """This process's folder for scratch files, made on first use and removed at exit.

    Making it first removes the scratch folders that killed processes left behind.
    """
    if _scratch and _scratch[0].is_dir():
        return _scratch[0]
    base = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            found = SCRATCH.match(entry.name)
            if found and entry.is_dir() and not _running(int(found.group("pid"))):
                shutil.rmtree(entry, ignore_errors=True)
    try:
        folder = Path(tempfile.mkdtemp(prefix=f"chs-excel-{os.getpid()}-", dir=base))
    except OSError as exc:
        raise ChsError(f"{base}: cannot make a scratch folder ({exc.strerror or exc})") \
            from None
    if not _scratch:
        atexit.register(lambda: [shutil.rmtree(f, ignore_errors=True) for f in _scratch])
    _scratch[:] = [folder]
    return folder


def _keep_copy(path: Path) -> None:
    """Copy a written workbook into CHS_KEEP_WRITTEN, when a test suite set it."""
    folder = os.environ.get(KEEP_WRITTEN)
    if folder and path.suffix.lower() in (".xlsx", ".xlsm"):
        with contextlib.suppress(OSError):
            shutil.copyfile(path, Path(folder) / f"{os.getpid()}-{next(_kept)}-{path.name}")


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
    failure: ChsError | None = None
    hook = sys.unraisablehook
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except Exception as exc:  # a full disk, a read-only folder, a name too long
        failure = _write_failure(exc, path, tmp)
        if failure is None:
            raise
        # the writer's half-closed files (a ZipFile) fail again when collected: quietly
        sys.unraisablehook = lambda _info: None
    finally:
        if tmp.exists():
            tmp.unlink()
    if failure is not None:
        gc.collect()
        sys.unraisablehook = hook
        raise failure
    _keep_copy(path)


LOCK_TIMEOUT = 120.0  # seconds a writer waits for another one on the same file
_held: dict[str, int] = {}  # lock files this process holds -> nesting depth


def lock_path(path: Path) -> Path:
    """The sidecar lock file of `path` (the real file's folder: links and `..` resolved)."""
    real = Path(path).resolve()
    return real.with_name(f".{real.name}.chs-lock")


def lock_timeout() -> float:
    """Seconds to wait for another writer: CHS_LOCK_TIMEOUT, else LOCK_TIMEOUT."""
    try:
        return max(0.0, float(os.environ.get("CHS_LOCK_TIMEOUT", LOCK_TIMEOUT)))
    except ValueError:
        return LOCK_TIMEOUT


@contextlib.contextmanager
def locked(*paths: Path | None, timeout: float | None = None) -> Iterator[None]:
    """Hold the advisory write lock of each path (None skipped) for the block.

    Locks are taken in one order (by lock file name) so two commands locking the same
    files cannot deadlock; a lock this process already holds is re-entered. Waits up to
    `timeout` seconds (default `lock_timeout()`) for another process, then ChsError.
    """
    wait = lock_timeout() if timeout is None else timeout
    sidecars = {str(lock_path(Path(p))): Path(p) for p in paths if p is not None}
    with contextlib.ExitStack() as stack:
        for sidecar in sorted(sidecars):
            stack.enter_context(_lock_one(Path(sidecar), sidecars[sidecar], wait))
        yield


@contextlib.contextmanager
def _lock_one(sidecar: Path, path: Path, wait: float) -> Iterator[None]:
    key = str(sidecar)
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    deadline = time.monotonic() + wait
    fd = _acquire(sidecar, path, deadline, wait)
    _held[key] = 1
    try:
        yield
    finally:
        del _held[key]
        with contextlib.suppress(OSError):  # Windows: still open elsewhere, it stays
            sidecar.unlink()                # removed while held: waiters re-check below
        _unlock(fd)
        os.close(fd)


def _acquire(sidecar: Path, path: Path, deadline: float, wait: float) -> int:
    """Open and lock the sidecar; retry when the holder removed it meanwhile (a lock on a
    removed file guards nothing: the next writer creates a new one)."""
    while True:
        try:
            fd = os.open(sidecar, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise ChsError(f"{path}: cannot create its lock file {sidecar.name} "
                           f"({exc.strerror or exc})") from None
        try:
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    raise ChsError(f"{path}: another chs command or macro is still writing "
                                   f"it (waited {wait:g} s for {sidecar.name}); try again "
                                   "when it has finished")
                time.sleep(0.05)
            if _same_inode(fd, sidecar):
                return fd
            _unlock(fd)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _same_inode(fd: int, sidecar: Path) -> bool:
    try:
        mine, now = os.fstat(fd), os.stat(sidecar)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl
    fcntl.flock(fd, fcntl.LOCK_UN)
