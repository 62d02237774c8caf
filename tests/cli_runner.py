"""Shared test helpers: run the `chs` command line in-process, fingerprint files."""

from __future__ import annotations

import hashlib
from pathlib import Path

from click.testing import CliRunner

from chs_excel.app.cli import main


def run(*args: str) -> tuple[int, str]:
    """Exit code and output of `chs ARGS`; any exception but a clean exit fails the test."""
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return result.exit_code, result.output


def digest(path: Path) -> str:
    """A file's SHA-256, to prove it was not modified."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
