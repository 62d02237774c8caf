"""Time and peak memory of the hostile inputs (docs/limits.md): each case is one `chs`
run in its own process; prints exit code, wall time, peak resident memory and the first
line of the error.

    PYTHONPATH=. python benchmarks/bench_hostile.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chs_excel.core.model import default_model
from chs_excel.io.sample import make_sample
from tests.test_hostile import BOMB, DEEP, FULL_DISK
from tests.test_safety import _far_cell, _strings_bomb

WRAP = """
import sys
from chs_excel.app.cli import main
main(sys.argv[1:], prog_name="chs")
"""


def measure(name: str, args: list[str], folder: Path, script: str = WRAP) -> None:
    """Run one case and print its row (peak memory from GNU time: a child of this process
    would inherit this process's peak across exec)."""
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "MAXRSS=%M", sys.executable, "-c", script,
                           *args], capture_output=True,
                          text=True, cwd=folder, timeout=600, check=False)
    seconds = time.perf_counter() - start
    lines = done.stderr.strip().splitlines()
    peak = next((int(line[7:]) for line in lines if line.startswith("MAXRSS=")), None)
    told = next((line for line in lines if not line.startswith("MAXRSS=")), "")
    memory = f"{peak / 1024:,.0f} MB" if peak else "-"
    print(f"| {name} | {done.returncode} | {seconds:.2f} s | {memory} | {told[:90]} |")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_sample(200, seed=0).to_csv(folder / "accounts.csv", index=False)
        named = make_sample(200, seed=0)
        named.loc[3, "account_name"] = "Bell\x07and\x0bvertical tab"
        named.to_csv(folder / "control.csv", index=False)
        (folder / "deep.yaml").write_text(DEEP, "utf-8")
        (folder / "bomb.yaml").write_text(BOMB, "utf-8")
        (folder / "dup.yaml").write_text("name: a\nname: b\n", "utf-8")
        (folder / "big.yaml").write_text("#" * 50_000_000, "utf-8")
        (folder / "FILE").write_text("mine", "utf-8")
        _far_cell(folder / "far.xlsx")
        _strings_bomb(folder / "strings.xlsx")
        print("| case | exit | time | peak memory | what the user reads |")
        print("|---|---|---|---|---|")
        default_model().save(folder / "model.yaml")
        cases = [
            ("baseline: model --check of the default model", ["model", "--check",
                                                              "model.yaml"]),
            ("YAML nested 100,000 deep", ["model", "--check", "deep.yaml"]),
            ("YAML alias bomb (9^9 strings)", ["model", "--check", "bomb.yaml"]),
            ("YAML duplicate key", ["model", "--check", "dup.yaml"]),
            ("YAML of 50 MB", ["model", "--check", "big.yaml"]),
            ("forecast --horizon 100000000", ["forecast", "accounts.csv", "--horizon",
                                              "100000000", "-o", "f.csv"]),
            ("template --rows 100000000", ["template", "--rows", "100000000", "-o", "t.xlsx"]),
            ("xlsx, 1.5 KB, a cell at XFD1048576", ["score", "far.xlsx", "-o", "o.csv"]),
            ("xlsx, 0.2 MB, 210 MB shared string", ["score", "strings.xlsx", "-o", "o.csv"]),
            ("300-character output name", ["score", "accounts.csv", "-o", "n" * 300 + ".xlsx"]),
            ("demo -o FILE", ["demo", "-o", "FILE"]),
            ("addin -o FILE", ["addin", "-o", "FILE"]),
            ("control characters in names -> xlsx", ["score", "control.csv", "-o", "c.xlsx"]),
        ]
        for name, args in cases:
            measure(name, args, folder)
        measure("full disk (files capped at 20 KB) -> template", ["template", "-o", "d.xlsx"],
                folder, FULL_DISK)


if __name__ == "__main__":
    main()
