"""The errors users can act on: each message names the file, sheet, row and column."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class ChsError(Exception):
    """An expected problem with the user's input; printed as one line, no traceback."""


@dataclass(frozen=True)
class Problem:
    """One model problem and where it is, for readers that can point at a cell.

    `table` is the Model sheet's Table (Metrics, Components, Rules, RenewalProbability,
    Levels, Settings, Segments); `key` the name in the row's key column (the metric's
    column, the component, the rule or the band) when the row is found by name; `row` the
    1-based data row when the problem was found reading a table; `field` the column.
    """

    message: str
    table: str | None = None
    key: str | None = None
    field: str | None = None
    row: int | None = None


class ModelError(ChsError, ValueError):
    """The scorecard model is inconsistent (names the metric, component or rule, and field).

    The message is what users read; `problems` says where each problem is, when known.
    """

    def __init__(self, message: str, problems: Iterable[Problem] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[Problem, ...] = tuple(problems)

    def prefixed(self, where: str) -> ModelError:
        """The same error with `where: ` before the message (the problems are kept)."""
        return ModelError(f"{where}: {self}", self.problems)


class InputError(ChsError, ValueError):
    """The accounts data cannot be scored (names the file, sheet, row and column)."""


class MissingColumnError(InputError):
    """A column the model needs is not in the accounts; `column` is its name."""

    def __init__(self, message: str, column: str = "") -> None:
        super().__init__(message)
        self.column = column
