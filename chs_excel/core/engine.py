"""Scoring: model + accounts -> scores, vectorised with pandas/numpy (SPEC, "Metric scoring").

Every rule of the scorecard lives here once. The accounts frame's index labels are used
as row numbers in messages, so readers set them to the spreadsheet/file row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import is_datetime64_any_dtype, is_numeric_dtype

from chs_excel.core.errors import InputError, MissingColumnError
from chs_excel.core.limits import CELL_CHARS
from chs_excel.core.methods import METHODS
from chs_excel.core.model import (
    Metric,
    Model,
    Rule,
    header_key,
    metric_score_column,
    rule_kind,
)
from chs_excel.core.playbooks import (
    BAND_RANKS,
    STATUS_COLUMNS,
    STATUSES,
    Condition,
    Playbook,
    uses_history,
)
from chs_excel.core.values import cell_kinds as _cell_kinds
from chs_excel.core.values import (
    parse_flag_value,
    parse_flags,
    parse_numbers,
    text_keys,
)
from chs_excel.core.vocabulary import (
    BANDS,
    BLANK_WORDS,
    EXPECTED_IDENTITY,
    IDENTITY_COLUMNS,
    NO_DATA,
    OVERRIDE_COLUMNS,
    QUARTILE_LABELS,
    suggest_column,
    text_key,
)

QUARTILE_LABEL_ARRAY = np.array([None, *QUARTILE_LABELS.values()], dtype=object)
BAND_LABELS = np.array([NO_DATA, *BANDS[::-1]], dtype=object)  # by band code: 0..3
STRIP = np.frompyfunc(str.strip, 1, 1)  # a ufunc: str.strip over object arrays, in C
ISSUE_COLUMNS = ["row", "account_id", "column", "value", "problem"]


@dataclass(frozen=True)
class Scoring:
    """The engine's answer: one row per account, and the data issues it found."""

    scores: pd.DataFrame
    issues: pd.DataFrame
    # expected identity columns not found: (key, message with a near-miss hint); not cell
    # problems (so --strict does not refuse them): the Data issues sheet lists them first
    unread: tuple[tuple[str, str], ...] = ()

    def issues_with_unread(self, header_row: int = 1) -> pd.DataFrame:
        """The data issues with a row per unread identity column first (at the header)."""
        if not self.unread:
            return self.issues
        unread = pd.DataFrame({"row": header_row, "account_id": "",
                               "column": [k for k, _ in self.unread], "value": "",
                               "problem": [t for _, t in self.unread]})
        return pd.concat([unread, self.issues], ignore_index=True) if len(self.issues) \
            else unread

    @property
    def summary(self) -> dict[str, int]:
        """Accounts per band (SPEC's band order) plus data issues: what the CLI prints."""
        counts = self.scores["band"].value_counts()
        out = {"accounts": len(self.scores)}
        out.update({b: int(counts.get(b, 0)) for b in ("Green", "Yellow", "Red", NO_DATA)})
        out["data issues"] = len(self.issues)
        return out


def score_accounts(model: Model, accounts: pd.DataFrame, *,
                   as_of: dt.date | None = None) -> pd.DataFrame:
    """Score every account: SPEC's output columns plus one `<metric>_score` per metric."""
    return score(model, accounts, as_of=as_of).scores


def score(model: Model, accounts: pd.DataFrame, *, as_of: dt.date | None = None,
          strict: bool = False, previous: pd.DataFrame | None = None,
          statuses: pd.DataFrame | None = None) -> Scoring:
    """Score `accounts` with `model`; bad cells become missing and are listed as issues.

    `as_of` is the day overrides and playbooks' renewal windows are checked against (today
    by default); `strict` turns any data issue into an `InputError`; `previous` is the last
    snapshot (`account_id`, `health`, `band`; see `previous_snapshot`) that playbooks'
    `health_change` and `band_change` compare with (None: those conditions never hold).
    `statuses` (STATUS_COLUMNS: a CSM's done / snoozed / not relevant per account and
    playbook) take a playbook off an account while they hold (`status_holds`).
    """
    as_of = as_of or dt.date.today()
    cols = _match_columns(model, accounts)
    ids = _account_ids(accounts, cols["account_id"])
    rows = accounts.index.to_numpy()
    issues: list[pd.DataFrame] = []

    def report(column: str, bad: np.ndarray, raw: pd.Series, problem: str) -> None:
        if bad.any():
            issues.append(pd.DataFrame({
                "row": rows[bad], "account_id": ids[bad], "column": column,
                "value": raw.to_numpy(dtype=object)[bad], "problem": problem}))

    n, scale = len(accounts), float(model.scale)
    values: dict[str, np.ndarray] = {}
    scores = np.full((n, len(model.metrics)), np.nan, order="F")  # metric columns contiguous
    for j, metric in enumerate(model.metrics):
        raw = accounts[cols[header_key(metric.column)]]
        scores[:, j], values[header_key(metric.column)] = _metric_score(metric, raw, scale,
                                                                        report)

    comp_names = list(model.components)
    member = membership(model)
    present = ~np.isnan(scores)
    metric_weight_present = present @ member
    comp_scores = np.divide(np.where(present, scores, 0.0) @ member, metric_weight_present,
                            out=np.full((n, len(comp_names)), np.nan),
                            where=metric_weight_present > 0)
    comp_share = metric_weight_present / member.sum(axis=0)

    comp_weights = _component_weights(model, accounts, cols, comp_names)
    raw_health = weighted_mean(comp_scores, comp_weights)
    coverage = np.einsum("ij,ij->i", comp_weights, comp_share) / comp_weights.sum(axis=1)

    parsed: dict[str, np.ndarray] = {}
    triggered = _triggered_rules(model, accounts, cols, (values, parsed), report)
    health = raw_health.copy()
    for k, rule in enumerate(model.rules):
        health = np.where(triggered[:, k], np.minimum(health, rule.cap), health)
    has_health = ~np.isnan(health)
    capped = triggered & has_health[:, None]
    capped_by = _join_names([r.name for r in model.rules], capped)

    overridden, override_value = _overrides(model, accounts, cols, as_of, report)
    health = np.where(overridden, override_value, health)
    has_health = ~np.isnan(health)

    band_code = _band_codes(health, model.red_below, model.green_from)
    band = BAND_LABELS[band_code]
    quartile = quartile_of(health, *quartile_cuts(health, _group_keys(model, accounts, cols)))
    weakest, at_stake = _weakest(comp_scores, comp_weights, comp_names, scale)

    columns: dict[str, object] = {"account_id": ids}
    for name in IDENTITY_COLUMNS + tuple(c for c in (model.segment_column, model.quartiles_by)
                                         if c):
        key = header_key(name)
        if key in cols and name not in columns:
            columns[name] = _identity(name, accounts[cols[key]], report)
            if accounts[cols[key]].dtype == object:
                raw = accounts[cols[key]]
                long = (raw.astype("string").str.len() > CELL_CHARS).fillna(False) \
                    .to_numpy(dtype=bool)
                report(name, long, raw.where(~long, raw.astype(str).str.slice(0, 40) + "…"),
                       f"longer than an Excel cell holds ({CELL_CHARS:,} characters): an "
                       f".xlsx keeps the first {CELL_CHARS:,}")
    columns.update({name: comp_scores[:, c] for c, name in enumerate(comp_names)})
    probability = model_renewal_probability(model, health, BAND_LABELS[band_code])
    quartile_number = np.nan_to_num(quartile).astype(np.int64)
    columns.update(
        health=health, raw_health=raw_health, band=band,
        quartile=pd.arrays.IntegerArray(quartile_number, np.isnan(quartile)),
        quartile_label=QUARTILE_LABEL_ARRAY[quartile_number],
        coverage=coverage, low_data=has_health & (coverage < model.min_coverage),
        capped_by=capped_by, overridden=overridden, weakest_component=weakest,
        points_at_stake=at_stake, renewal_probability=probability)
    if "arr" in columns:
        columns["expected_arr"] = np.asarray(columns["arr"], dtype=float) * probability
    facts = Facts(ids=ids, comp_scores=comp_scores, comp_names=comp_names, health=health,
                  band_code=band_code, weakest=weakest, capped=capped,
                  low_data=columns["low_data"], as_of=as_of, previous=previous)
    matched = _playbook_matches(model, accounts, cols, (values, parsed), report, facts)
    if statuses is not None and len(statuses) and model.playbooks:
        held, status_issues = status_holds(model.playbooks, ids, statuses, as_of)
        matched &= ~held
        issues.append(status_issues)
    columns.update(next_actions(model.playbooks, matched, as_of))
    columns.update({metric_score_column(m): scores[:, j] for j, m in enumerate(model.metrics)})
    out = pd.DataFrame(columns, index=accounts.index, copy=False)  # our arrays: no copy
    found = pd.concat(issues, ignore_index=True) if issues else pd.DataFrame(
        columns=ISSUE_COLUMNS)
    found = found.sort_values(["row", "column"], kind="stable", ignore_index=True)
    if strict and len(found):
        first = found.iloc[0]
        raise InputError(f"{len(found)} data issue(s) under --strict; first: row "
                         f"{first['row']}, column {first['column']}: {first['problem']} "
                         f"({first['value']!r})")
    unread = tuple(_unread_identity(model, accounts, cols))
    return Scoring(scores=out, issues=found, unread=unread)


# ---------------------------------------------------------------- input columns

def _match_columns(model: Model, accounts: pd.DataFrame) -> dict[str, str]:
    """Map header keys to the input's own column names; check the model's needs."""
    cols: dict[str, str] = {}
    for col in accounts.columns:
        key = header_key(model.key_of(col) if model.columns else col)
        if not key:
            continue
        if key in cols:
            raise InputError(f"columns {cols[key]!r} and {col!r} are the same column once "
                             "case, spaces and '_' are ignored; rename one")
        cols[key] = col
    if "accountid" not in cols:
        raise MissingColumnError("column 'account_id' is missing (every account needs an id)",
                                 "account_id")
    cols["account_id"] = cols["accountid"]
    missing = [m.column for m in model.metrics if header_key(m.column) not in cols]
    if missing:
        also = f"; also missing: {', '.join(missing[1:])}" if missing[1:] else ""
        raise MissingColumnError(f"column {missing[0]!r} is missing: the model scores it "
                                 f"(metric of component {model.metric(missing[0]).component})"
                                 f"{also}", missing[0])
    for what, name in (("segments.column", model.segment_column),
                       ("quartiles.by", model.quartiles_by)):
        if name and header_key(name) not in cols:
            raise MissingColumnError(f"column {name!r} is missing: the model's {what} names it",
                                     name)
    for rule in model.rules:
        if header_key(rule.column) not in cols:
            raise MissingColumnError(f"column {rule.column!r} is missing: rule {rule.name!r} "
                                     "reads it, and no metric or input column has that name",
                                     rule.column)
    for playbook in model.playbooks:
        for c in playbook.when:
            if c.test == "metric" and header_key(c.column) not in cols:
                raise MissingColumnError(f"column {c.column!r} is missing: playbook "
                                         f"{playbook.name!r} reads it", c.column)
    return cols


def _unread_identity(model: Model, accounts: pd.DataFrame,
                     cols: dict[str, str]) -> list[tuple[str, str]]:
    """(key, message) for each expected identity column the input lacks, with the header
    most like it (`columns:` in the model maps a header of your own)."""
    out = []
    known = {header_key(k) for k in ("account_id", *IDENTITY_COLUMNS, *OVERRIDE_COLUMNS,
                                     *(m.column for m in model.metrics),
                                     *(r.column for r in model.rules))}
    headers = [str(c) for c in accounts.columns if header_key(model.key_of(c)) not in known]
    for key in EXPECTED_IDENTITY:
        if header_key(key) in cols:
            continue
        wanted = model.header_of(key)
        near = suggest_column(key, headers) or (suggest_column(wanted, headers)
                                                if wanted != key else None)
        hint = (f"; found {near!r}: did you mean {key}? (or map it in the model: "
                f"columns: {{{key}: {near!r}}})" if near else "")
        out.append((key, f"column {wanted!r} not found: {key} is shown blank{hint}"))
    return out


def _account_ids(accounts: pd.DataFrame, column: str) -> np.ndarray:
    """Account ids as trimmed text (whole numbers without '.0'); blank or repeated ids fail."""
    text = _text(accounts[column])
    ids = text.to_numpy()
    blank = (ids == "") | pd.isna(ids)
    if blank.any():
        raise InputError(f"column {column!r}: blank account id in row "
                         f"{_list(accounts.index[blank])}; every account needs an id")
    if not pd.Index(ids).is_unique:
        dup = text.duplicated(keep=False).to_numpy()
        dups = pd.DataFrame({"id": text[dup].to_numpy(), "row": accounts.index[dup]})
        listed = "; ".join(f"{i} (rows {_list(g['row'])})"
                           for i, g in list(dups.groupby("id", sort=False))[:10])
        raise InputError(f"column {column!r}: account ids must be unique; repeated: {listed}")
    return ids


def _text(raw: pd.Series, strip: bool = True) -> pd.Series:
    """Cells as text, stripped unless told (None for empty cells); whole numbers lose
    their '.0'."""
    cells = raw.to_numpy(dtype=object)
    missing = pd.isna(cells)
    if isinstance(raw.dtype, pd.StringDtype):  # every present cell is text: no type scan
        is_num, is_text = np.zeros(len(cells), dtype=bool), ~missing
    else:
        is_num, is_text = _cell_kinds(cells)
    out = cells.copy()
    if is_text.any() and strip:
        out[is_text] = STRIP(cells[is_text])
    other = ~is_text & ~missing
    if other.any():
        values = pd.Series(cells[other], dtype=object)
        numbers = pd.to_numeric(values, errors="coerce")
        whole = (numbers % 1 == 0) & is_num[other]
        out[np.flatnonzero(other)] = np.where(
            whole, numbers.fillna(0).astype("int64").astype(str), values.astype(str))
    out[missing] = None
    return pd.Series(out, index=raw.index, dtype=object)


def cell_texts(raw: pd.Series) -> pd.Series:
    """Cells as the engine reads text keys and ids: trimmed text, whole numbers without
    '.0', None for empty cells (core.parents reads parent ids so)."""
    return _text(raw)


def _list(values: object, limit: int = 10) -> str:
    items = [str(v) for v in values]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


# ---------------------------------------------------------------- parsing

def _blank_text(text: pd.Series) -> np.ndarray:
    """Empty cells and the usual NA words ('', 'NA', 'N/A', 'null', ...)."""
    return (text.isna() | text_keys(text).isin(BLANK_WORDS)).to_numpy(dtype=bool)


# ---------------------------------------------------------------- metric scores

def _metric_score(metric: Metric, raw: pd.Series, scale: float,
                  report: callable) -> tuple[np.ndarray, np.ndarray]:
    """(0..scale scores with NaN for missing, the raw values rules compare against)."""
    method = METHODS[metric.method]
    x = method.values(metric, raw, report)
    return method.score(x, metric, scale), x


# ---------------------------------------------------------------- composite

def _label_codes(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Cells as text keys (docs/scoring.md, "Text keys"; '' when blank), factorised:
    (codes, keys) with `keys[codes]` each cell's key; blank cells have code -1, key ''."""
    codes, uniques = pd.factorize(raw.astype(object), use_na_sentinel=True)
    keys = text_keys(_text(pd.Series(uniques, dtype=object), strip=False)).fillna("")
    keys = keys.to_numpy(dtype=object)
    return codes, np.append(keys, "")


def _label_keys(raw: pd.Series) -> pd.Series:
    """Cells as text keys, '' when blank."""
    codes, keys = _label_codes(raw)
    return pd.Series(keys[codes], index=raw.index, dtype=object)


def _component_weights(model: Model, accounts: pd.DataFrame, cols: dict[str, str],
                       comp_names: list[str]) -> np.ndarray:
    """Per-account component weights: the segment's when its value is listed, else default."""
    rows = [[model.components[c] for c in comp_names]]
    lookup = {}
    for i, (seg, weights) in enumerate(model.segment_weights.items(), start=1):
        rows.append([weights[c] for c in comp_names])
        lookup[text_key(seg)] = i
    table = np.asarray(rows, dtype=float)
    if not model.segment_column:
        return np.broadcast_to(table[0], (len(accounts), len(comp_names)))
    codes, keys = _label_codes(accounts[cols[header_key(model.segment_column)]])
    return table[np.array([lookup.get(k, 0) for k in keys], dtype=int)[codes]]


def _triggered_rules(model: Model, accounts: pd.DataFrame, cols: dict[str, str],
                     known: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
                     report: callable) -> np.ndarray:
    """Boolean matrix (accounts x rules): which critical rules fire; missing never fires."""
    out = np.zeros((len(accounts), len(model.rules)), dtype=bool)
    for k, rule in enumerate(model.rules):
        out[:, k] = _rule_holds(model, rule, accounts, cols, known, report,
                                f"rule {rule.name!r}")
    return out


def _rule_holds(model: Model, rule: Rule, accounts: pd.DataFrame, cols: dict[str, str],
                known: tuple[dict[str, np.ndarray], dict[str, np.ndarray]], report: callable,
                who: str) -> np.ndarray:
    """Where `column op value` holds on the raw values (a rule, or a playbook's metric
    condition); a missing value never holds. `known` = (metric values, other columns
    already parsed as numbers: each bad cell is reported once)."""
    values, parsed = known
    kind = rule_kind(rule, model)
    key = header_key(rule.column)
    raw = accounts[cols[key]]
    if kind == "text":
        text = _label_keys(raw)
        present = ~text.isin(BLANK_WORDS).to_numpy()
        if key in values:  # a category metric: unknown labels are missing too
            present &= ~np.isnan(values[key])
        equal = (text == text_key(rule.value)).to_numpy()
        return present & (equal if rule.op == "=" else ~equal)
    if key in values:
        x = values[key]
    elif kind == "flag":
        x, _ = parse_flags(raw)
    elif key in parsed:
        x = parsed[key]
    else:
        x, bad = parse_numbers(raw)
        parsed[key] = x
        report(rule.column, bad, raw, f"not a number ({who})")
    target = float(parse_flag_value(rule.value)) if kind == "flag" else float(rule.value)
    return _compare(x, rule.op, target)


@dataclass(frozen=True)
class Facts:
    """What playbook conditions test besides raw values: the engine's own results."""

    ids: np.ndarray
    comp_scores: np.ndarray
    comp_names: list[str]
    health: np.ndarray
    band_code: np.ndarray
    weakest: np.ndarray
    capped: np.ndarray
    low_data: np.ndarray
    as_of: dt.date
    previous: pd.DataFrame | None


def _playbook_matches(model: Model, accounts: pd.DataFrame, cols: dict[str, str],
                      known: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
                      report: callable, facts: Facts) -> np.ndarray:
    """Boolean matrix (accounts x playbooks): where every condition holds (boolean masks,
    one per condition, ANDed)."""
    n = len(accounts)
    out = np.ones((n, len(model.playbooks)), dtype=bool)
    prev = _previous(facts) if uses_history(model.playbooks) else None
    for k, playbook in enumerate(model.playbooks):
        for c in playbook.when:
            out[:, k] &= _condition(model, c, accounts, cols, known, report, facts, prev,
                                    playbook.name)
    return out


def _condition(model: Model, c: Condition, accounts: pd.DataFrame, cols: dict[str, str],
               known: tuple[dict[str, np.ndarray], dict[str, np.ndarray]], report: callable,
               facts: Facts, prev: tuple[np.ndarray, np.ndarray] | None,
               name: str) -> np.ndarray:
    """One condition as a boolean mask over the accounts (docs/playbooks.md)."""
    n = len(accounts)
    equal_op = c.op == "="
    if c.test == "metric":
        rule = Rule(name, c.column, c.op, c.value, 0.0)
        return _rule_holds(model, rule, accounts, cols, known, report, f"playbook {name!r}")
    if c.test == "component":
        return _compare(facts.comp_scores[:, facts.comp_names.index(c.column)], c.op,
                        float(c.value))
    if c.test == "health":
        return _compare(facts.health, c.op, float(c.value))
    if c.test == "band":
        word = text_key(c.value)
        if c.op in ("=", "<>"):
            target = BAND_RANKS.get(word, 0)  # No data is code 0
            return (facts.band_code == target) == equal_op
        code = facts.band_code.astype(float)
        return _compare(np.where(code > 0, code, np.nan), c.op, float(BAND_RANKS[word]))
    if c.test == "weakest_component":
        keys = np.array([text_key(x) for x in facts.comp_names], dtype=object)
        present = facts.weakest != None  # noqa: E711 (elementwise over an object array)
        index = np.flatnonzero(keys == text_key(c.value))[0]
        is_it = present & (facts.weakest == facts.comp_names[index])
        return is_it if equal_op else present & ~is_it
    if c.test == "capped_by":
        index = [text_key(r.name) for r in model.rules].index(text_key(c.value))
        return facts.capped[:, index] == equal_op
    if c.test == "low_data":
        return (np.asarray(facts.low_data, dtype=bool) == parse_flag_value(c.value)) \
            == equal_op
    if c.test == "renewal_within":
        if "renewaldate" not in cols:
            return np.zeros(n, dtype=bool)  # no renewal dates: never within the window
        dates, _ = parse_dates(accounts[cols["renewaldate"]])
        start = np.datetime64(facts.as_of, "ns")
        end = start + np.timedelta64(round(float(c.value) * 86400), "s")
        return ~np.isnat(dates) & (dates >= start) & (dates <= end)
    if prev is None:
        return np.zeros(n, dtype=bool)  # no snapshot before the as-of date: no change
    prev_health, prev_code = prev
    if c.test == "health_change":
        return _compare(facts.health - prev_health, c.op, float(c.value))
    both = (facts.band_code > 0) & (prev_code > 0)
    direction = np.sign(facts.band_code - prev_code)
    wanted = {"up": 1, "down": -1, "same": 0}[text_key(c.value)]
    return both & ((direction == wanted) == equal_op)


def _previous(facts: Facts) -> tuple[np.ndarray, np.ndarray] | None:
    """Each account's health and band code in the previous snapshot (NaN / 0 where the
    account is not in it); None without a snapshot."""
    prev = facts.previous
    if prev is None or len(prev) == 0:
        return None
    keys = {header_key(c): c for c in prev.columns}
    ids = _text(prev[keys["accountid"]]).to_numpy(dtype=object)
    health, _ = parse_numbers(prev[keys["health"]])
    bands = _label_keys(prev[keys["band"]]).map(BAND_RANKS).fillna(0).to_numpy(dtype=int)
    frame = pd.DataFrame({"health": health, "band": bands}, index=ids)
    frame = frame[~frame.index.duplicated(keep="last")]
    at = frame.index.get_indexer(facts.ids)
    found = at >= 0
    return (np.where(found, frame["health"].to_numpy()[at], np.nan),
            np.where(found, frame["band"].to_numpy()[at], 0))


def next_actions(playbooks: tuple[Playbook, ...], matched: np.ndarray,
                 as_of: dt.date | None = None) -> dict[str, object]:
    """`next_action`, `action_owner`, `action_priority` (the matching playbook with the
    lowest priority number; ties: model order), `actions` (all, in that order),
    `action_playbook` (the next action's playbook) and `action_due` (as-of +
    `due_in_days` of that playbook; NaT without one)."""
    n = matched.shape[0]
    if not playbooks:
        empty = np.full(n, "", dtype=object)
        return {"next_action": empty, "action_owner": empty.copy(),
                "action_priority": np.full(n, np.nan), "actions": empty.copy(),
                "action_playbook": empty.copy(),
                "action_due": np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")}
    order = sorted(range(len(playbooks)), key=lambda k: (playbooks[k].priority, k))
    ranked = matched[:, order]
    first = np.argmax(ranked, axis=1)
    any_match = ranked.any(axis=1)
    pick = np.asarray(order)[first]

    def field(values: list[object], blank: object) -> np.ndarray:
        return np.where(any_match, np.asarray(values, dtype=object)[pick], blank)
    return {"next_action": field([p.action for p in playbooks], ""),
            "action_owner": field([p.owner for p in playbooks], ""),
            "action_priority": np.where(any_match, np.array(
                [p.priority for p in playbooks], dtype=float)[pick], np.nan),
            "actions": _join_names([playbooks[k].action for k in order], ranked),
            "action_playbook": field([p.name for p in playbooks], ""),
            "action_due": _due_dates(playbooks, pick, any_match, as_of)}


def _due_dates(playbooks: tuple[Playbook, ...], pick: np.ndarray, any_match: np.ndarray,
               as_of: dt.date | None) -> np.ndarray:
    """As-of + the picked playbook's `due_in_days` (NaT: no action or no due_in_days)."""
    days = np.array([np.nan if p.due_in_days is None else p.due_in_days
                     for p in playbooks], dtype=float)[pick]
    days = np.where(any_match, days, np.nan)
    start = np.datetime64(as_of or dt.date.today(), "ns")
    out = np.full(len(pick), np.datetime64("NaT"), dtype="datetime64[ns]")
    has = ~np.isnan(days)
    out[has] = start + days[has].astype("int64") * np.timedelta64(1, "D")
    return out


def status_holds(playbooks: tuple[Playbook, ...], ids: np.ndarray, statuses: pd.DataFrame,
                 as_of: dt.date) -> tuple[np.ndarray, pd.DataFrame]:
    """(accounts x playbooks mask of statuses holding on `as_of`, issues).

    A status row holds when its status is `done`, `snoozed` or `not relevant` (case
    ignored), its playbook names one of the model's (case ignored) and its `until` is
    blank (`done`, `not relevant`: until changed) or on/after `as_of`, as an override's;
    `snoozed` needs an `until`. Unusable rows are issues (the row is the status row).
    """
    keys = {header_key(c): c for c in statuses.columns}
    frame = pd.DataFrame({c: statuses[keys[header_key(c)]] if header_key(c) in keys
                          else pd.Series(None, index=statuses.index, dtype=object)
                          for c in STATUS_COLUMNS})
    rows = np.arange(1, len(frame) + 1)
    account = _text(frame["account_id"]).fillna("").to_numpy(dtype=object)
    book = {p.name.lower(): k for k, p in enumerate(playbooks)}
    names = frame["playbook"].fillna("").astype(str).str.lower()
    which = names.map(book).to_numpy(dtype=float)
    status = frame["status"].fillna("").astype(str).str.lower().to_numpy(dtype=object)
    until, bad_date = parse_dates(frame["until"])
    blank_until = pd.isna(frame["until"].to_numpy(dtype=object)) | \
        (frame["until"].astype(str).str.strip() == "").to_numpy()
    bad_date &= ~blank_until
    empty = (account == "") & (names.to_numpy() == "") & (status == "")
    problems = [
        (~empty & np.isnan(which), "playbook", "no playbook of the model has this name "
                                               "(status ignored)"),
        (~empty & ~np.isin(status, STATUSES), "status",
         f"status must be one of {', '.join(STATUSES)} (status ignored)"),
        (~empty & bad_date, "until", "not a date, use YYYY-MM-DD (status ignored)"),
        (~empty & (status == "snoozed") & blank_until, "until",
         "snoozed needs an until date (status ignored)"),
    ]
    expired = ~np.isnat(until) & (until < np.datetime64(as_of, "ns"))
    usable = ~empty & ~np.isnan(which) & np.isin(status, STATUSES) & ~bad_date & \
        ~((status == "snoozed") & blank_until) & ~expired
    found = []
    for bad, column, text in problems:
        if bad.any():
            found.append(pd.DataFrame({"row": rows[bad], "account_id": account[bad],
                                       "column": column,
                                       "value": frame[column].to_numpy(dtype=object)[bad],
                                       "problem": f"action status: {text}"}))
    issues = pd.concat(found, ignore_index=True) if found else pd.DataFrame(
        columns=ISSUE_COLUMNS)
    held = np.zeros((len(ids), len(playbooks)), dtype=bool)
    at = pd.Index(ids).get_indexer(account[usable])
    hit = at >= 0
    held[at[hit], which[usable][hit].astype(int)] = True
    return held, issues


def previous_snapshot(history: pd.DataFrame | None, as_of: dt.date) -> pd.DataFrame | None:
    """The latest snapshot dated before `as_of` from a History table (`date`,
    `account_id`, `health`, `band`, ...): what `health_change` compares with."""
    if history is None or len(history) == 0:
        return None
    keys = {header_key(c): c for c in history.columns}
    if not {"date", "accountid", "health", "band"} <= set(keys):
        return None
    dates, _ = parse_dates(history[keys["date"]])
    before = ~np.isnat(dates) & (dates < np.datetime64(as_of, "ns"))
    if not before.any():
        return None
    last = dates[before].max()
    return history[dates == last]


def _compare(x: np.ndarray, op: str, target: float) -> np.ndarray:
    """`x op target` where x is present (NaN never compares true)."""
    present = ~np.isnan(x)
    with np.errstate(invalid="ignore"):
        result = {"<": x < target, "<=": x <= target, ">": x > target, ">=": x >= target,
                  "=": x == target, "<>": x != target}[op]
    return present & result


def _join_names(names: list[str], mask: np.ndarray) -> np.ndarray:
    """'; '-joined names of the true columns of `mask`, per row ('' when none)."""
    out = np.full(mask.shape[0], "", dtype=object)
    for k, name in enumerate(names):
        hit = mask[:, k]
        out[hit] = np.where(out[hit] == "", name, out[hit] + "; " + name)
    return out


def _overrides(model: Model, accounts: pd.DataFrame, cols: dict[str, str],
               as_of: dt.date, report: callable) -> tuple[np.ndarray, np.ndarray]:
    """(applied mask, override scores): a present, in-range, unexpired override applies."""
    n = len(accounts)
    if "overridescore" not in cols:
        return np.zeros(n, dtype=bool), np.full(n, np.nan)
    raw = accounts[cols["overridescore"]]
    value, bad = parse_numbers(raw)
    report("override_score", bad, raw, "not a number (override ignored)")
    out_of_range = (value < 0) | (value > model.scale)
    report("override_score", out_of_range, raw,
           f"outside 0..{model.scale:g} (override ignored)")
    usable = ~np.isnan(value) & ~out_of_range
    if "overrideuntil" in cols:
        raw_until = accounts[cols["overrideuntil"]]
        until, bad_date = parse_dates(raw_until)
        report("override_until", bad_date & usable, raw_until,
               "not a date, use YYYY-MM-DD (override ignored)")
        expired = until < np.datetime64(as_of, "ns")
        report("override_until", expired & usable, raw_until,
               f"override expired before {as_of.isoformat()} (ignored)")
        usable &= ~bad_date & ~expired
    return usable, value


def parse_dates(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Dates (datetime64, NaT missing) and the mask of cells that are not dates."""
    if is_datetime64_any_dtype(raw):
        return raw.to_numpy(dtype="datetime64[ns]"), np.zeros(len(raw), dtype=bool)
    text = raw.astype("string").str.strip()
    blank = _blank_text(text)
    numeric = pd.to_numeric(text, errors="coerce").notna().to_numpy()
    dates = raw.astype(object).where(~(blank | numeric))
    is_text = _cell_kinds(dates.to_numpy(dtype=object))[1]
    dates[is_text] = text[is_text]  # trimmed of any whitespace, as numbers are
    values = pd.to_datetime(dates, errors="coerce",
                            format="ISO8601").to_numpy(dtype="datetime64[ns]")
    return values, np.isnat(values) & ~blank


def typed_as_read(model: Model, accounts: pd.DataFrame) -> pd.DataFrame:
    """`accounts` with each text cell the engine reads as a number or a date (`'95\u00a0'`,
    `' 2025-06-01'`) replaced by that number or date, in the columns it reads so.

    The workbook stores this: its formulas see a number only in a number cell (no
    locale-dependent VALUE), so they score what the engine scores. Other cells are kept.
    """
    numbers = {header_key(m.column) for m in model.metrics if METHODS[m.method].kind == "number"}
    numbers |= {header_key(r.column) for r in model.rules if rule_kind(r, model) == "number"}
    numbers |= {"arr", "overridescore"}
    dates = {"renewaldate", "overrideuntil"}
    out = accounts
    for col in accounts.columns:
        key, series = header_key(col), accounts[col]
        if key not in numbers | dates or is_numeric_dtype(series) or \
                is_datetime64_any_dtype(series):
            continue
        cells = series.to_numpy(dtype=object)
        is_text = _cell_kinds(cells)[1]
        if key in numbers:
            values = parse_numbers(series)[0].astype(object)
            read = is_text & ~pd.isna(values)
        else:
            values = pd.Series(parse_dates(series)[0]).dt.to_pydatetime().astype(object)
            read = is_text & ~pd.isna(values)
        if read.any():
            out = out.copy() if out is accounts else out
            cells = cells.copy()
            cells[read] = values[read]
            out[col] = cells
    return out


def _identity(name: str, raw: pd.Series, report: callable) -> np.ndarray:
    """An identity column as output: arr as numbers, renewal_date as dates, else as is."""
    if name == "arr":
        values, bad = parse_numbers(raw)
        report("arr", bad, raw, "not a number")
        return values
    if name == "renewal_date":
        values, bad = parse_dates(raw)
        report("renewal_date", bad, raw, "not a date, use YYYY-MM-DD")
        return values
    if isinstance(raw.dtype, pd.StringDtype) and raw.dtype.na_value is not pd.NA:
        return raw.array  # already the text column the output frame would infer
    return raw.to_numpy(dtype=object, na_value=None)


def _group_keys(model: Model, accounts: pd.DataFrame, cols: dict[str, str]) -> np.ndarray:
    """Each account's quartile group number: equal label keys share a group."""
    if not model.quartiles_by:
        return np.zeros(len(accounts), dtype=int)
    codes, keys = _label_codes(accounts[cols[header_key(model.quartiles_by)]])
    return pd.factorize(keys)[0][codes]


def _weakest(comp_scores: np.ndarray, comp_weights: np.ndarray, comp_names: list[str],
             scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Lowest present component (ties: model order) and the points it would add at full."""
    present = ~np.isnan(comp_scores)
    any_present = present.any(axis=1)
    idx = np.argmin(np.where(present, comp_scores, np.inf), axis=1)
    rows = np.arange(len(idx))
    weight_present = (comp_weights * present).sum(axis=1)
    share = np.divide(comp_weights[rows, idx], weight_present,
                      out=np.full(len(idx), np.nan), where=weight_present > 0)
    at_stake = np.where(any_present, share * (scale - comp_scores[rows, idx]), np.nan)
    names = np.asarray(comp_names, dtype=object)[idx]
    return np.where(any_present, names, None), at_stake


# ---------------------------------------------------------------- building blocks
# Pure pieces of `score`, public so the Excel UDFs (chs_excel.app.udfs) apply the same rules.

def metric_scores(metric: Metric, raw: pd.Series,
                  scale: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """One metric's 0..scale scores (NaN = missing) and each cell's problem ('' = none)."""
    problems = np.full(len(raw), "", dtype=object)

    def report(column: str, bad: np.ndarray, cells: pd.Series, problem: str) -> None:
        problems[bad] = problem
    return _metric_score(metric, raw, float(scale), report)[0], problems


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise weighted mean of the present (non-NaN) values; NaN where no weight is present."""
    present = ~np.isnan(values)
    weight_present = (weights * present).sum(axis=1)
    return np.divide((weights * np.where(present, values, 0.0)).sum(axis=1), weight_present,
                     out=np.full(len(values), np.nan), where=weight_present > 0)


def band_of(health: np.ndarray, red_below: float, green_from: float) -> np.ndarray:
    """Red below `red_below`, Green from `green_from`, else Yellow; No data where blank."""
    return BAND_LABELS[_band_codes(np.asarray(health, dtype=float), red_below, green_from)]


def _band_codes(health: np.ndarray, red_below: float, green_from: float) -> np.ndarray:
    """Index into BAND_LABELS: 0 No data, 1 Red, 2 Yellow, 3 Green."""
    with np.errstate(invalid="ignore"):
        code = 1 + (health >= red_below) + (health >= green_from)
    return np.where(np.isnan(health), 0, code)


def quartile_cuts(health: np.ndarray,
                  groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's group cut points Q1, Q2, Q3: QUARTILE.INC of the group's present scores."""
    frame = pd.DataFrame({"h": health, "g": groups}).dropna()
    if frame.empty:
        return tuple(np.full(len(health), np.nan) for _ in range(3))
    cuts = frame.groupby("g")["h"].quantile([0.25, 0.5, 0.75]).unstack()
    return tuple(cuts[p].reindex(groups).to_numpy(dtype=float) for p in (0.25, 0.5, 0.75))


def quartile_of(health: np.ndarray, q1: np.ndarray | float, q2: np.ndarray | float,
                q3: np.ndarray | float) -> np.ndarray:
    """1 (top) .. 4 as 1 + (h < Q3) + (h < Q2) + (h < Q1); NaN where health is blank."""
    quartile = 1.0 + (health < q3) + (health < q2) + (health < q1)
    return np.where(np.isnan(health), np.nan, quartile)


def renewal_probability(probabilities: dict[str, float], band: np.ndarray) -> np.ndarray:
    """The model's renewal probability for each band; NaN where it gives none."""
    codes, uniques = pd.factorize(np.asarray(band, dtype=object).ravel())
    table = np.array([probabilities.get(b, np.nan) for b in uniques] + [np.nan], dtype=float)
    return table[codes].reshape(np.shape(band))  # code -1 (blank) reads the final NaN


def curve_probability(curve: tuple[tuple[float, float], ...],
                      health: np.ndarray) -> np.ndarray:
    """The renewal curve at each health: linear between points, flat outside them."""
    points = np.asarray(curve, dtype=float).reshape(-1, 2)
    health = np.asarray(health, dtype=float)
    return np.where(np.isnan(health), np.nan, np.interp(health, points[:, 0], points[:, 1]))


def model_renewal_probability(model: Model, health: np.ndarray,
                              band: np.ndarray) -> np.ndarray:
    """Each account's renewal probability: the model's renewal curve at its health when
    the model has one (accounts without health: the band map's No data), else the band
    map for its band."""
    by_band = renewal_probability(model.renewal_probability, band)
    if not model.renewal_curve:
        return by_band
    health = np.asarray(health, dtype=float)
    return np.where(np.isnan(health), by_band, curve_probability(model.renewal_curve, health))


def membership(model: Model) -> np.ndarray:
    """metrics x components: each metric's weight in its own component's column, 0
    elsewhere (`scores @ membership` sums weighted metric scores per component)."""
    comps = list(model.components)
    member = np.zeros((len(model.metrics), len(comps)))
    for j, metric in enumerate(model.metrics):
        member[j, comps.index(metric.component)] = metric.weight
    return member


def score_inputs(model: Model, accounts: pd.DataFrame) \
        -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """What `score` reads before combining: each metric's parsed raw values (by header
    key), the triggered-rule matrix (accounts x rules) and each account's component
    weights (segment-aware). Public for the path to Green (`core.path`)."""
    cols = _match_columns(model, accounts)

    def ignore(column: str, bad: np.ndarray, raw: pd.Series, problem: str) -> None:
        return None
    values = {header_key(m.column): METHODS[m.method].values(
        m, accounts[cols[header_key(m.column)]], ignore) for m in model.metrics}
    triggered = _triggered_rules(model, accounts, cols, (values, {}), ignore)
    weights = _component_weights(model, accounts, cols, list(model.components))
    return values, triggered, np.asarray(weights, dtype=float)
