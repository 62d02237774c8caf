"""Playbooks: condition -> action. What a playbook is, how it reads and writes, its checks.

A playbook names an action, its owner and a priority (a whole number, 1 = do first), and
the conditions an account must meet for it (all of them). The engine evaluates them
(`core/engine.py`), the formula plan writes them as formulas (`core/formulas.py`); see
docs/playbooks.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chs_excel.core.errors import ModelError, Problem
from chs_excel.core.methods.base import check_keys, plain
from chs_excel.core.values import parse_flag_value
from chs_excel.core.vocabulary import BANDS, NO_DATA, OPERATORS, text_key

if TYPE_CHECKING:
    from chs_excel.core.model import Model

# What a condition can test, and how its value reads.
CONDITION_TESTS = ("metric", "component", "health", "band", "weakest_component", "capped_by",
                   "low_data", "renewal_within", "health_change", "band_change")
NUMBER_TESTS = ("component", "health", "health_change")     # any operator, a number
TEXT_TESTS = ("weakest_component", "capped_by", "low_data", "band_change")  # = or <>
HISTORY_TESTS = ("health_change", "band_change")            # need the previous snapshot
BAND_CHANGES = ("up", "down", "same")
BAND_RANKS = {"red": 1, "yellow": 2, "green": 3}            # band order for < <= > >=
PLAYBOOK_KEYS = ("name", "when", "action", "owner", "priority", "due_in_days")
CONDITION_KEYS = ("test", "column", "op", "value")
# The Model sheet's Playbooks Table: one row per condition; the playbook's name on every
# row, its priority, action and owner on its first row (later rows may leave them blank).
PLAYBOOK_COLUMNS = ["playbook", "priority", "action", "owner", "test", "column", "op",
                    "value", "due_in_days"]
# A CSM's status of one playbook's action for one account (the ActionStatus Table, or a
# `--statuses` file): while it holds, that playbook is not the account's action.
STATUS_COLUMNS = ["account_id", "playbook", "status", "until", "note"]
STATUSES = ("done", "snoozed", "not relevant")
STATUS_TABLE = "ActionStatus"   # the workbook's Table of statuses (sheet "Action status")
STATUS_SHEET = "Action status"
# The formulas order matches by priority * PRIORITY_SPAN + position (1-based).
PRIORITY_SPAN = 1000


@dataclass(frozen=True)
class Condition:
    """One test of a playbook: `test` (CONDITION_TESTS) `op` `value`; `column` names the
    metric (test `metric`) or the component (test `component`)."""

    test: str
    op: str
    value: float | str | bool | None
    column: str | None = None
    row: int | None = field(default=None, compare=False, repr=False)  # Playbooks Table row

    def describe(self) -> str:
        """The condition as a person reads it: `nps <= 6`, `renewal_within 90`."""
        subject = self.column if self.test in ("metric", "component") else self.test
        op = "" if self.test == "renewal_within" or not self.op else f" {self.op}"
        return f"{subject}{op} {plain(self.value)}"


@dataclass(frozen=True)
class Playbook:
    """When every condition of `when` holds for an account, `action` is due (by `owner`)."""

    name: str
    when: tuple[Condition, ...]
    action: str
    owner: str = ""
    priority: float = 1.0
    row: int | None = field(default=None, compare=False, repr=False)  # its first table row
    due_in_days: float | None = None  # the action is due N days after the as-of date


def condition_value(value: Any) -> float | str | bool | None:
    """A condition's value as written: numbers as floats, booleans kept, text trimmed."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return None if math.isnan(value) else float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        return text


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def condition_from_dict(data: Any, where: str) -> Condition:
    """A condition from YAML: `{column, op, value}` tests a raw metric like a rule;
    `{test, op, value}` (and `column` for a component) tests anything else."""
    check_keys(data, CONDITION_KEYS, where, "a mapping like {column: nps, op: '<=', value: 6}")
    test = _text(data.get("test")).lower() or ("metric" if data.get("column") else "")
    return make_condition(test, data.get("op"), data.get("value"), data.get("column"))


def make_condition(test: str, op: Any, value: Any, column: Any,
                   row: int | None = None) -> Condition:
    """A condition with the defaults filled in: op `<=` for renewal_within, `=` for the
    tests that compare text or true/false."""
    test = _text(test).lower()
    op_text = _text(op)
    if not op_text and test == "renewal_within":
        op_text = "<="
    elif not op_text and (test in TEXT_TESTS or test == "band"):
        op_text = "="
    return Condition(test=test, op=op_text, value=condition_value(value),
                     column=_text(column) or None, row=row)


def condition_dict(c: Condition) -> dict[str, Any]:
    """The YAML form: a metric test without `test`, as rules are written."""
    out: dict[str, Any] = {} if c.test == "metric" else {"test": c.test}
    if c.column:
        out["column"] = c.column
    if c.test != "renewal_within":
        out["op"] = c.op
    out["value"] = plain(c.value)
    return out


def playbook_from_dict(data: Any, where: str) -> Playbook:
    """A playbook from YAML (`name`, `when`, `action`, `owner`, `priority`)."""
    if isinstance(data, dict) and data.get("name"):
        where = f"{where} (playbook {data['name']!r})"
    check_keys(data, PLAYBOOK_KEYS, where,
               "a mapping with name, when, action, owner, priority")
    when = data.get("when")
    if when is None:
        when = []
    if isinstance(when, dict):
        when = [when]
    if not isinstance(when, list):
        raise ModelError(f"{where}: when must be a list of conditions")
    return Playbook(name=_text(data.get("name")),
                    when=tuple(condition_from_dict(c, f"{where}, condition {i}")
                               for i, c in enumerate(when, start=1)),
                    action=_text(data.get("action")), owner=_text(data.get("owner")),
                    priority=_priority(data.get("priority", 1), where),
                    due_in_days=_due(data.get("due_in_days"), where))


def _due(value: Any, where: str) -> float | None:
    """`due_in_days`: blank (no due date) or a whole number of days >= 0."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        days = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        days = math.nan
    if not (math.isfinite(days) and days.is_integer() and 0 <= days <= 3650):
        raise ModelError(f"{where}: due_in_days must be a whole number of days 0..3650, "
                         f"got {value!r}")
    return days


def _priority(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise ModelError(f"{where}: priority must be a whole number, got {value!r}")
    try:
        return float(str(value).strip()) if not isinstance(value, (int, float)) \
            else float(value)
    except ValueError:
        raise ModelError(f"{where}: priority must be a whole number, got {value!r}") \
            from None


def playbook_dict(p: Playbook) -> dict[str, Any]:
    """The YAML form of a playbook."""
    out = {"name": p.name, "priority": plain(p.priority), "action": p.action,
           "owner": p.owner}
    if p.due_in_days is not None:
        out["due_in_days"] = plain(p.due_in_days)
    out["when"] = [condition_dict(c) for c in p.when]
    return out


def playbook_rows(playbooks: tuple[Playbook, ...]) -> list[dict[str, Any]]:
    """The Playbooks Table's rows: one per condition (see PLAYBOOK_COLUMNS)."""
    rows = []
    for p in playbooks:
        for i, c in enumerate(p.when):
            first = i == 0
            rows.append({"playbook": p.name,
                         "priority": plain(p.priority) if first else None,
                         "action": p.action if first else None,
                         "owner": (p.owner or None) if first else None,
                         "test": c.test, "column": c.column,
                         "op": None if c.test == "renewal_within" else c.op,
                         "value": c.value,
                         "due_in_days": plain(p.due_in_days) if first else None})
    return rows


def playbooks_from_records(records: list[dict[str, Any]], where: str) -> tuple[Playbook, ...]:
    """Playbooks from the Playbooks Table's rows (blank rows already dropped).

    Rows with the same playbook name belong together (a blank name continues the playbook
    above); priority, action and owner come from its first row that gives them, and a
    later row giving another value is an error naming the cell.
    """
    order: list[str] = []
    parts: dict[str, dict[str, Any]] = {}
    current = None
    for rec in records:
        name = _text(rec.get("playbook")) or current
        if name is None:
            raise ModelError(f"{where}, table Playbooks, row {rec['_row']}, column playbook: "
                             "name is blank", [Problem("name is blank", "Playbooks",
                                                       row=rec["_row"], field="playbook")])
        current = name
        if name not in parts:
            order.append(name)
            parts[name] = {"when": [], "action": None, "owner": None, "priority": None,
                           "due_in_days": None, "row": rec["_row"]}
        part = parts[name]
        for key, column in (("action", "action"), ("owner", "owner"),
                            ("priority", "priority"), ("due_in_days", "due_in_days")):
            value = rec.get(column)
            if value is None:
                continue
            if key == "priority":
                cell = f"{where}, table Playbooks, row {rec['_row']}, column priority"
                value = _priority(value, f"{cell} (playbook {name!r})")
            elif key == "due_in_days":
                cell = f"{where}, table Playbooks, row {rec['_row']}, column due_in_days"
                value = _due(value, f"{cell} (playbook {name!r})")
            else:
                value = _text(value)
            if part[key] is not None and part[key] != value:
                message = (f"{where}, table Playbooks, row {rec['_row']}, column {column}: "
                           f"playbook {name!r} already has {column} {plain(part[key])!r} "
                           "(give it once, on the playbook's first row)")
                raise ModelError(message, [Problem(message, "Playbooks", row=rec["_row"],
                                                   field=column)])
            part[key] = value
        test = _text(rec.get("test")).lower() or ("metric" if rec.get("column") else "")
        part["when"].append(make_condition(test, rec.get("op"), rec.get("value"),
                                           rec.get("column"), rec["_row"]))
    return tuple(Playbook(name=n, when=tuple(parts[n]["when"]),
                          action=parts[n]["action"] or "", owner=parts[n]["owner"] or "",
                          priority=1.0 if parts[n]["priority"] is None
                          else parts[n]["priority"], row=parts[n]["row"],
                          due_in_days=parts[n]["due_in_days"])
                 for n in order)


# ---------------------------------------------------------------- validation

def playbook_problems(model: Model) -> list[Problem]:
    """Every problem of the model's playbooks, each naming the playbook and condition."""
    out: list[Problem] = []
    names = [text_key(p.name) for p in model.playbooks]
    for p in model.playbooks:
        where = f"playbook {p.name!r}"

        def at(field_name: str, text: str, _where: str = where, _p: Playbook = p,
               row: int | None = None) -> None:
            out.append(Problem(f"{_where}: {text}", "Playbooks", _p.name, field_name,
                               row or _p.row))
        if not p.name:
            at("playbook", "name is empty")
        elif names.count(text_key(p.name)) > 1:
            at("playbook", "two playbooks share this name")
        if not p.action:
            at("action", "action is empty (say what to do)")
        if not (isinstance(p.priority, float) and math.isfinite(p.priority)
                and p.priority.is_integer() and abs(p.priority) < 10 ** 9):
            at("priority", f"priority must be a whole number (1 = first), got "
                           f"{plain(p.priority)!r}")
        if not p.when:
            at("test", "has no conditions (give at least one under when)")
        for i, c in enumerate(p.when, start=1):
            for field_name, text in condition_problems(c, model):
                at(field_name, f"condition {i} ({c.describe()}): {text}", row=c.row)
    if len(model.playbooks) >= PRIORITY_SPAN:
        out.append(Problem(f"playbooks: at most {PRIORITY_SPAN - 1} (got "
                           f"{len(model.playbooks)})", "Playbooks"))
    return out


def condition_problems(c: Condition, model: Model) -> list[tuple[str, str]]:
    """(field, problem) pairs for one condition."""
    from chs_excel.core.model import Rule, rule_kind
    if c.test not in CONDITION_TESTS:
        return [("test", f"unknown test {c.test!r} (use one of {', '.join(CONDITION_TESTS)})")]
    out: list[tuple[str, str]] = []
    if c.op not in OPERATORS:
        return [("op", f"unknown op {c.op!r} (use one of {' '.join(OPERATORS)})")]
    if c.value is None:
        return [("value", "value is missing")]
    equality = c.op in ("=", "<>")
    if c.test in ("metric", "component") and not c.column:
        return [("column", f"test {c.test} needs a column (the "
                           f"{'input column' if c.test == 'metric' else 'component'})")]
    if c.test not in ("metric", "component") and c.column:
        out.append(("column", f"test {c.test} takes no column (got {c.column!r})"))
    if c.test == "metric":
        kind = rule_kind(Rule("", c.column, c.op, c.value, 0.0), model)
        if kind == "number" and not _number(c.value):
            out.append(("value", f"value must be a number for a numeric column, "
                                 f"got {c.value!r}"))
        if kind in ("flag", "text") and not equality:
            out.append(("op", f"op {c.op} cannot compare {kind} values (use = or <>)"))
        if kind == "flag" and parse_flag_value(c.value) is None:
            out.append(("value", f"value must be true or false for flag column {c.column}"))
    elif c.test == "component" and c.column not in model.components:
        out.append(("column", f"component {c.column!r} is not declared in components"))
    if c.test in NUMBER_TESTS and not _number(c.value):
        out.append(("value", f"value must be a number, got {c.value!r}"))
    if c.test in TEXT_TESTS and not equality:
        out.append(("op", f"test {c.test} compares with = or <> only, got {c.op}"))
    if c.test == "band":
        word = text_key(c.value)
        if word not in BAND_RANKS and word != text_key(NO_DATA):
            out.append(("value", f"value must be a band ({', '.join(BANDS)} or "
                                 f"{NO_DATA}), got {c.value!r}"))
        elif word == text_key(NO_DATA) and not equality:
            out.append(("op", f"band {NO_DATA} compares with = or <> only"))
    elif c.test == "weakest_component" and \
            text_key(c.value) not in {text_key(k) for k in model.components}:
        out.append(("value", f"value must be a component ({', '.join(model.components)}), "
                             f"got {c.value!r}"))
    elif c.test == "capped_by" and \
            text_key(c.value) not in {text_key(r.name) for r in model.rules}:
        rules = ", ".join(r.name for r in model.rules) or "the model has none"
        out.append(("value", f"value must be the name of a rule ({rules}), got {c.value!r}"))
    elif c.test == "low_data" and parse_flag_value(c.value) is None:
        out.append(("value", f"value must be true or false, got {c.value!r}"))
    elif c.test == "band_change" and text_key(c.value) not in BAND_CHANGES:
        out.append(("value", f"value must be one of {', '.join(BAND_CHANGES)}, "
                             f"got {c.value!r}"))
    elif c.test == "renewal_within":
        if c.op != "<=":
            out.append(("op", "renewal_within takes no op (it means: renewal_date between "
                              "the as-of date and N days after it)"))
        if not _number(c.value) or c.value < 0:
            out.append(("value", f"value must be a number of days >= 0, got {c.value!r}"))
    return out


def _number(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def uses_history(playbooks: tuple[Playbook, ...]) -> bool:
    """Whether any condition compares with the previous snapshot."""
    return any(c.test in HISTORY_TESTS for p in playbooks for c in p.when)

