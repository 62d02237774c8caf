"""Nothing lost: outputs never replace an input, killed writers leave no partial files,
and a folder that cannot be written is one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chs_excel.core.errors import ChsError
from chs_excel.core.files import remove_partial_files, write_atomically
from chs_excel.io.sample import make_sample
from tests.cli_runner import digest, run


@pytest.fixture
def accounts_csv(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.csv"
    make_sample(30, seed=1, dirty=False).to_csv(path, index=False)
    return path


def test_score_refuses_to_write_over_its_input(tmp_path: Path, accounts_csv: Path) -> None:
    before = digest(accounts_csv)
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.csv"
    link.symlink_to(accounts_csv)
    for target in (accounts_csv, tmp_path / "sub" / ".." / "accounts.csv", link):
        code, out = run("score", str(accounts_csv), "-o", str(target))
        assert code == 1 and "is also an input" in out, (target, out)
    assert digest(accounts_csv) == before


def test_score_refuses_to_write_over_its_model(tmp_path: Path, accounts_csv: Path) -> None:
    model = tmp_path / "m.csv"          # a model file named like an output
    code, _ = run("model", "--default", "-o", str(tmp_path / "m.yaml"))
    assert code == 0
    model.write_bytes((tmp_path / "m.yaml").read_bytes())
    code, out = run("score", str(accounts_csv), "--model", str(model), "-o", str(model))
    assert code == 1 and "is also an input" in out


def test_a_killed_writer_leaves_nothing_after_the_next_write(tmp_path: Path) -> None:
    """A writer killed with SIGKILL mid-write leaves its temporary file; the next write into
    the folder removes it, and the previous output is intact throughout."""
    target = tmp_path / "out.txt"
    target.write_text("previous", "utf-8")
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from chs_excel.core.files import write_atomically\n"
        "def write(tmp):\n"
        "    tmp.write_text('half', 'utf-8')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        f"write_atomically(Path({str(target)!r}), write)\n")
    done = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert done.returncode == -9
    leftovers = [p for p in tmp_path.iterdir() if p.name != "out.txt"]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".out.txt.chs-")
    assert target.read_text("utf-8") == "previous"
    write_atomically(tmp_path / "other.txt", lambda tmp: tmp.write_text("x", "utf-8"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt", "out.txt"]


def test_a_live_writers_temporary_file_is_left_alone(tmp_path: Path) -> None:
    mine = tmp_path / f".out.xlsx.chs-{os.getpid()}-abc123.xlsx"
    mine.write_text("in progress", "utf-8")
    remove_partial_files(tmp_path)
    assert mine.exists()


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """A write that hits ENOSPC (Linux's /dev/full) fails as one line, no partial file."""
    def write(tmp: Path) -> None:
        tmp.write_text("x", "utf-8")
        with open("/dev/full", "w", encoding="utf-8") as full:
            full.write("x" * 100_000)
            full.flush()
    with pytest.raises(ChsError, match="No space left on device"):
        write_atomically(tmp_path / "x.txt", write)
    assert list(tmp_path.iterdir()) == []


def test_a_name_too_long_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ChsError, match="cannot write"):
        write_atomically(tmp_path / ("n" * 300 + ".csv"),
                         lambda tmp: tmp.write_text("x", "utf-8"))
