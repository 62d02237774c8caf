"""The errors users can act on: each message names the file, sheet, row and column."""


class ChsError(Exception):
    """An expected problem with the user's input; printed as one line, no traceback."""


class ModelError(ChsError, ValueError):
    """The scorecard model is inconsistent (names the metric, component or rule, and field)."""


class InputError(ChsError, ValueError):
    """The accounts data cannot be scored (names the file, sheet, row and column)."""
