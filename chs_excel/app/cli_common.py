"""What every `chs` command shares: the error-to-one-line group, options, output checks."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from chs_excel.core.errors import ChsError
from chs_excel.core.files import check_output_path, os_error
from chs_excel.core.limits import FIRST_DATE, LAST_DATE
from chs_excel.core.model import Model, load_model


class EngineDate(click.DateTime):
    """A YYYY-MM-DD option the engine can hold (docs/limits.md: 1677-09-22 to 2262-04-11);
    another date is a usage error, not a traceback or a silently shifted day."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        day = super().convert(value, param, ctx)
        if not FIRST_DATE <= day.date() <= LAST_DATE:
            self.fail(f"{day.date()} is outside the dates chs handles ({FIRST_DATE} to "
                      f"{LAST_DATE}; docs/limits.md)", param, ctx)
        return day


DATE = EngineDate(formats=["%Y-%m-%d"])
PROGRESS_FROM = 20_000  # rows: show progress bars from this size on


class ChsGroup(click.Group):
    """A click group that turns `ChsError`, and any operating-system error about a file,
    into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ChsError as exc:
            raise click.ClickException(str(exc)) from None
        except MemoryError:
            raise click.ClickException("not enough memory for this input; try a smaller "
                                       "file or option value (docs/limits.md)") from None
        except Exception as exc:  # a file the system refused, wherever it was opened
            cause = os_error(exc)
            if cause is None or not cause.filename:
                raise
            raise click.ClickException(f"{cause.filename}: {cause.strerror or cause}") \
                from None


def optional_model(path: Path | None) -> Model | None:
    """The model YAML given with --model, or None when the option was not given."""
    return load_model(path) if path is not None else None


def output_kind(path: Path | None, kinds: tuple[str, ...],
                inputs: tuple[Path | None, ...] = ()) -> str | None:
    """The output's kind from its suffix (one of `kinds`), after checking it can be written
    and is none of the command's `inputs`."""
    if path is None:
        return None
    kind = path.suffix.lower().lstrip(".")
    if kind not in kinds:
        raise ChsError(f"{path}: the output must end in " + " or ".join(f".{k}" for k in kinds))
    check_output_path(path, inputs)
    return kind


def echo_notes(notes: Any) -> None:
    """Print each note on its own indented line."""
    for note in notes:
        click.echo(f"  Note: {note}")


@contextlib.contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error for `total` rows (none below PROGRESS_FROM rows);
    yields the function that advances it."""
    if total < PROGRESS_FROM:
        yield lambda _rows: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update
