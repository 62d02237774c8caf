"""The live signals of a workbook: each source as its own sheet, the Accounts signal columns
as native formulas over it (docs/signals-workbook.md).

A source sheet holds the export as it was read (an Excel Table named as the source, its own
headers; times as Excel date-times, UTC) and grey helper columns on its right, one shared
formula per column, each row reading only itself and the row above: `_key` (the key as a
text key), `_time` (the row's time as a number), `_block` (the sorted block the row
belongs to; `_start`, its first row, when a distinct_count needs it), `_text_COLUMN` (the
text key of each column a filter or distinct_count reads), and per signal `_NAME` (1 when
the row counts for the signal: in the window, passing every filter, with a number to
aggregate) and, for `distinct_count`, `_NAME_new` (1 on the first counted row of each
distinct value). Helper cells right of the Table hold what every row would otherwise
recompute: whether the rows are sorted by `_key`, the window end and starts, and each
filter value as a number and as a text key.
The rows are written sorted by key, so each account's rows are one block; Accounts finds
the block once per source (`_SOURCE_from`, `_SOURCE_to`: binary-search MATCHes on the
sorted `_key` and on `_block` while the sheet is sorted, an exact MATCH otherwise) and
each signal aggregates only its block. Windows and filter values are read live from the
Model's Signals and SignalFilters Tables; the as-of day from `AsOf`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from chs_excel.core.formula_text import structured, text_of, wildcard_safe
from chs_excel.core.formulas import ROW
from chs_excel.core.model import Model
from chs_excel.core.signal_engine import cell_keys, column_of
from chs_excel.core.signals import AGGS, NO_OF_AGGS, Signal, SignalFilter
from chs_excel.core.vocabulary import BLANK_WORDS, header_key
from chs_excel.xlsx.writer import frame_rows

if TYPE_CHECKING:
    from chs_excel.sheets.workbook import WorkbookBuilder

NUMERIC_AGGS = tuple(a for a in AGGS if a not in (*NO_OF_AGGS, "distinct_count"))
PREV = "\u00a4"  # placeholder for the previous row's number in source helper templates
NO_START = "-9E+307"  # the window start of a signal without a window: every time is later
SIGNAL_TABLES = ("Sources", "Signals", "SignalFilters")


def iso_time(cell: str) -> str:
    """A pasted ISO text time as a date-time number, UTC, to the millisecond (floored), as
    `io.sources.parse_times` reads it: `2027-03-31`, `2027-03-31 13:45`, `…T13:45:07.250`,
    then `Z`, `+02:00`, `-0500` or `+01` (converted to UTC); "" when it is not one."""
    s = f"TRIM({cell})"
    seconds = f'IF(MID({s},17,1)=":",VALUE(MID({s},18,2)),0)'

    def digit(i: int) -> str:   # the i-th character is a digit (never VALUE of "5-0")
        return f'AND(LEN({s})>={i},ISNUMBER(FIND(MID({s},{i},1),"0123456789")))'
    tenths, hundredths, thousandths = (f"VALUE(MID({s},{i},1))/{d}"
                                       for i, d in ((21, 10), (22, 100), (23, 1000)))
    fraction = (f'IF(AND(MID({s},17,1)=":",OR(MID({s},20,1)=".",MID({s},20,1)=","),'
                f"{digit(21)}),{tenths}+IF({digit(22)},{hundredths}+IF({digit(23)},"
                f"{thousandths},0),0),0)")
    clock = (f"IF(LEN({s})>=16,(VALUE(MID({s},12,2))*3600+VALUE(MID({s},15,2))*60"
             f"+{seconds}+{fraction})/86400,0)")

    def sign(z: str) -> str:
        return f'IF(LEFT({z},1)="-",-1,IF(LEFT({z},1)="+",1,0))'
    z6, z5, z3 = f"RIGHT({s},6)", f"RIGHT({s},5)", f"RIGHT({s},3)"
    offset = (f"IF(LEN({s})<=16,0,"
              f'IF(AND({sign(z6)}<>0,MID({z6},4,1)=":"),'
              f"{sign(z6)}*(VALUE(MID({z6},2,2))/24+VALUE(MID({z6},5,2))/1440),"
              f"IF(AND({sign(z5)}<>0,ISNUMBER(VALUE(MID({z5},2,4)))),"
              f"{sign(z5)}*(VALUE(MID({z5},2,2))/24+VALUE(MID({z5},4,2))/1440),"
              f"IF(AND({sign(z3)}<>0,ISNUMBER(VALUE(MID({z3},2,2)))),"
              f"{sign(z3)}*VALUE(MID({z3},2,2))/24,0))))")
    return f'IFERROR(DATEVALUE(LEFT({s},10))+{clock}-{offset},"")'


@dataclass(frozen=True)
class ModelCells:
    """Where the Model sheet holds each signal's window and each filter value."""

    window: dict[str, str]                      # signal -> Model!$X$n
    values: dict[tuple[str, int], list[str]]    # (signal, filter index) -> value cells


def model_cells(model: Model, origins: dict[str, tuple[int, int]]) -> ModelCells:
    """The Model cells of the Signals windows and SignalFilters values, from the
    Tables' header positions (row, col) on the Model sheet."""
    row, col = origins["Signals"]
    window = {g.name: "Model!" + xl_rowcol_to_cell(row + 1 + i, col + 4, True, True)
              for i, g in enumerate(model.signals)}
    row, col = origins["SignalFilters"]
    values: dict[tuple[str, int], list[str]] = {}
    r = row + 1
    for g in model.signals:
        for k, f in enumerate(g.where):
            n = len(f.value) if isinstance(f.value, tuple) else 1
            values[(g.name, k)] = ["Model!" + xl_rowcol_to_cell(r + j, col + 3, True, True)
                                   for j in range(n)]
            r += n
    return ModelCells(window, values)


def _filter_test(f: SignalFilter, cell: str, key: str, numbers: list[str],
                 keys: list[str]) -> str:
    """`cell op value` as the engine reads it, the value read live from its Model cell
    through two helper cells each (computed once, not per row): `numbers`, the value
    when it is a number (else ""), and `keys`, its text key when it is text (" " when it
    is a number, or blank for `=`, `<>`, `in`: no trimmed key equals " "). A number
    cell compares as a number with a number value; text (the row's text key `key`) with
    a text value; a blank satisfies only `<>`."""
    def equal(n: str, k: str) -> str:
        return f"OR(AND(ISNUMBER({cell}),{cell}={n}),{key}={k})"

    def compare(op: str, n: str, k: str) -> str:
        return (f'OR(AND(ISNUMBER({cell}),ISNUMBER({n}),{cell}{op}{n}),'
                f'AND({key}<>"",{k}<>" ",NOT(ISNUMBER({cell})),{key}{op}{k}))')
    if f.op == "in":
        return "OR(" + ",".join(equal(n, k) for n, k in zip(numbers, keys, strict=True)) + ")"
    if f.op == "=":
        return equal(numbers[0], keys[0])
    if f.op == "<>":
        return f"NOT({equal(numbers[0], keys[0])})"
    return compare(f.op, numbers[0], keys[0])


def _value_cells(op: str, value: str) -> tuple[str, str]:
    """The two helper cells' formulas for one filter value (see `_filter_test`); for
    `<`, `<=`, `>`, `>=` a blank text value keeps its key "" (as the engine compares)."""
    key = text_of(value)
    none = f"OR(ISNUMBER({value}),{key}=\"\")" if op in ("=", "<>", "in") \
        else f"ISNUMBER({value})"
    return f'IF(ISNUMBER({value}),{value},"")', f'IF({none}," ",{key})'


@dataclass
class SourceSheet:
    """One source's sheet: its frame (sorted by key), columns and helper templates, and
    the helper cells right of its Table (row 1 labels, row 2 formulas): whether the rows
    are sorted by `_key` and each filter value's text key."""

    name: str
    frame: pd.DataFrame
    helpers: list[tuple[str, str]]   # (header, per-row formula template)
    cells: list[tuple[str, str]]     # (label, formula) right of the Table

    @property
    def headers(self) -> list[str]:
        return [str(c) for c in self.frame.columns] + [h for h, _ in self.helpers]

    def ref(self, column: str) -> str:
        """The structured reference to one of the sheet's columns."""
        return structured(self.name, column)

    def cell(self, i: int) -> str:
        """The absolute address of the i-th helper cell (its formula, row 2)."""
        return _note_cell(self.name, len(self.headers), i)


def sheet_cell(sheet: str, row: int, col: int) -> str:
    """`sheet!$A$1` for (row, col), the sheet name quoted when it needs it."""
    name = sheet if sheet.isidentifier() and sheet.isascii() else \
        "'" + sheet.replace("'", "''") + "'"
    return f"{name}!{xl_rowcol_to_cell(row, col, True, True)}"


def sorted_test(key: str) -> str:
    """TRUE when no `_key` is below (A to Z, as this spreadsheet compares text) the one
    above it: one pass over the column, so the lookups may binary-search it."""
    n = f"ROWS({key})"
    return (f"IF({n}<2,TRUE,SUMPRODUCT(--(INDEX({key},2):INDEX({key},{n})"
            f"<INDEX({key},1):INDEX({key},{n}-1)))=0)")


def source_sheet(model: Model, name: str, frame: pd.DataFrame,
                 cells: ModelCells) -> SourceSheet:
    """The source `name`'s rows sorted into key blocks, and its helper formulas."""
    s = next(s for s in model.sources if s.name == name)
    key_col, time_col = column_of(frame, s.key), column_of(frame, s.time)
    if key_col is None or time_col is None:
        raise ValueError(f"source {name}: key or time column missing")  # engine checks first
    keys = cell_keys(frame[key_col]).fillna("")   # as the engine reads them (1001.0: 1001)
    order = np.lexsort((frame[time_col].to_numpy(dtype="datetime64[ns]"),
                        keys.to_numpy(dtype=str)))
    frame = frame.iloc[order]
    cols = {str(c): xl_col_to_name(i) for i, c in enumerate(frame.columns)}
    n = len(frame.columns)
    signals = [g for g in model.signals if g.source == name]
    distinct = any(g.agg == "distinct_count" for g in signals)
    # one text key per row for each column a filter or a distinct_count reads
    keyed = list(dict.fromkeys(
        [str(column_of(frame, f.column)) for g in signals for f in g.where]
        + [str(column_of(frame, str(g.of))) for g in signals if g.agg == "distinct_count"]))
    names = ["_key", "_time", "_block"] + ["_start"] * distinct + [f"_text_{c}" for c in keyed]
    letter = {h: xl_col_to_name(n + i) for i, h in enumerate(names)}

    def at(col: str, row: str = ROW) -> str:
        return f"${col}{row}"
    def above(ref: str) -> str:   # the cell above (PREV: the previous row's number)
        return ref.replace(ROW, PREV)
    k, t, b = at(letter["_key"]), at(letter["_time"]), at(letter["_block"])
    t_raw = at(cols[str(time_col)])
    helpers = [
        ("_key", text_of(at(cols[str(key_col)]))),
        ("_time", f"IF(ISNUMBER({t_raw}),{t_raw},{iso_time(t_raw)})"),
        # N(): the header above row 2 counts as 0; a first key unlike the header adds 1
        ("_block", f"N({above(b)})+({k}<>{above(k)})"),
    ]
    if distinct:
        helpers.append(("_start", f"IF(ROW()=2,2,IF({k}={above(k)},"
                                  f"{above(at(letter['_start']))},ROW()))"))
    helpers += [(f"_text_{c}", text_of(at(cols[c]))) for c in keyed]
    total = n + len(helpers) + _extra_helpers(signals)
    notes: list[tuple[str, str]] = [("sorted by _key (A to Z)",
                                     sorted_test(structured(name, "_key"))),
                                    ("window end (AsOf + 1)", "AsOf+1")]
    end = _note_cell(name, total, 1)
    for g in signals:
        w = cells.window[g.name]
        start = _note_cell(name, total, len(notes))
        notes.append((f"{g.name}: window start",
                      f"IF(ISNUMBER({w}),AsOf+1-{w},{NO_START})"))
        tests = [f"({t}>={start})", f"({t}<{end})"]   # a text (unread) time is neither
        if g.agg in NUMERIC_AGGS:
            tests.append(f"ISNUMBER({at(cols[str(column_of(frame, str(g.of)))])})")
        filters = []
        for i, f in enumerate(g.where):
            col = str(column_of(frame, f.column))
            values = cells.values[(g.name, i)]
            first = len(notes)
            for j, v in enumerate(values):
                number, text = _value_cells(f.op, v)
                label = f"{g.name}: {f.column} {f.op} (value {j + 1}"
                notes += [(f"{label}, number)", number), (f"{label}, text key)", text)]
            numbers = [_note_cell(name, total, first + 2 * j) for j in range(len(values))]
            keys = [_note_cell(name, total, first + 2 * j + 1) for j in range(len(values))]
            filters.append(_filter_test(f, at(cols[col]), at(letter[f"_text_{col}"]),
                                        numbers, keys))
        if filters:
            tests.append(f"AND({','.join(filters)})")
        helpers.append((f"_{g.name}", "*".join(tests)))
        if g.agg == "distinct_count":
            text = at(letter[f"_text_{column_of(frame, str(g.of))}"])
            pass_col = xl_col_to_name(n + len(helpers) - 1)
            key_col = xl_col_to_name(n + len(helpers))
            helpers.append((f"_{g.name}_key", _distinct_key(text)))
            helpers.append((f"_{g.name}_new",
                            _distinct_new(pass_col, key_col, at(letter["_start"]))))
    assert total == n + len(helpers)
    return SourceSheet(name, frame, helpers, notes)


def _extra_helpers(signals: list[Signal]) -> int:
    """How many per-signal helper columns the signals add (a flag, and for
    distinct_count a key and a first-seen flag)."""
    return sum(3 if g.agg == "distinct_count" else 1 for g in signals)


def _note_cell(sheet: str, table_width: int, i: int) -> str:
    """The i-th helper cell right of a source Table `table_width` columns wide."""
    return sheet_cell(sheet, 1, table_width + 1 + i)


def _distinct_new(pass_col: str, key_col: str, start: str) -> str:
    """1 on a counted row whose value (its text key in `key_col`, '' for a blank word) no
    earlier counted row of the same block has (COUNTIFS from the block's first row; the
    ranges start at row 1 of the sheet, not at the Table's column, which LibreOffice
    recalculates far more slowly from every row)."""
    key = f"${key_col}{ROW}"
    passed = f"INDEX(${pass_col}$1:${pass_col}{ROW},{start}):${pass_col}{ROW}"
    keys = f"INDEX(${key_col}$1:${key_col}{ROW},{start}):${key_col}{ROW}"
    seen = f'COUNTIFS({passed},1,{keys},"="&{wildcard_safe(key)})'
    return f'IF(${pass_col}{ROW}<>1,0,IF({key}="",0,IF({seen}=1,1,0)))'


def _distinct_key(text: str) -> str:
    """The `of` value (`text`: its text key) as a key for distinct_count, 'k' first (so
    COUNTIFS never reads it as a number); '' for a blank or a blank word (engine: not
    counted)."""
    blank = "OR(LOWER(" + text + ")={" + ",".join(f'"{w}"' for w in BLANK_WORDS) + "})"
    return f'IF({blank},"","k"&{text})'


def block(src: SourceSheet, column: str, first: str, last: str) -> str:
    """The block rows of one source column: INDEX(col,first):INDEX(col,last)."""
    ref = src.ref(column)
    return f"INDEX({ref},{first}):INDEX({ref},{last})"


def signal_formula(g: Signal, src: SourceSheet, first: str, last: str) -> str:
    """One signal over its account's block, as the engine computes it."""
    passed = block(src, f"_{g.name}", first, last)
    time = block(src, "_time", first, last)
    of = block(src, str(column_of(src.frame, str(g.of))), first, last) if g.of else ""
    none = f"SUM({passed})=0"
    missing = '""'
    body = {
        "count": (f"SUM({passed})", "0"),
        "sum": (f"SUMIFS({of},{passed},1)", "0"),
        "distinct_count": (f"SUM({block(src, f'_{g.name}_new', first, last)})", "0"),
        "mean": (f"IF({none},{missing},AVERAGEIFS({of},{passed},1))", missing),
        "min": (f"IF({none},{missing},_xlfn.MINIFS({of},{passed},1))", missing),
        "max": (f"IF({none},{missing},_xlfn.MAXIFS({of},{passed},1))", missing),
        "latest": (f"IF({none},{missing},AVERAGEIFS({of},{passed},1,{time},"
                   f"_xlfn.MAXIFS({time},{passed},1)))", missing),
        "days_since_last": (f"IF({none},{missing},AsOf-INT(_xlfn.MAXIFS({time},{passed},1)))",
                            missing),
    }[g.agg]
    return f"IF({first}=0,{body[1]},{body[0]})"


def block_start(src: SourceSheet, account: str) -> str:
    """The Table row of the first source row whose `_key` is `account` (a text key);
    0 when none. When the sheet is sorted by `_key` (its helper cell says so) a binary
    search (MATCH type 1) finds a row of the block, and a binary search on the
    non-decreasing `_block` numbers its first row; else (or for a key holding a wildcard
    character) an exact MATCH scans the column."""
    key, blocks = src.ref("_key"), src.ref("_block")
    found = f"MATCH({account},{key},1)"
    first = f"IFERROR(MATCH(INDEX({blocks},{found})-0.5,{blocks},1),0)+1"
    binary = f"IFERROR(IF(INDEX({key},{found})={account},{first},0),0)"
    exact = f"IFERROR(MATCH({wildcard_safe(account)},{key},0),0)"
    wild = "OR(" + ",".join(f'ISNUMBER(FIND("{c}",{account}))' for c in "~*?") + ")"
    return f'IF({account}="",0,IF(AND({src.cell(0)},NOT({wild})),{binary},{exact}))'


def block_end(src: SourceSheet, first: str) -> str:
    """The Table row of the last row of the block starting at `first` (0: none): a
    binary search for its `_block` number + 0.5, which no row holds, so the answer is
    the last row at or below it whichever way duplicates are searched."""
    blocks = src.ref("_block")
    return f"IF({first}=0,0,MATCH(INDEX({blocks},{first})+0.5,{blocks},1))"


def accounts_columns(model: Model, sheets: dict[str, SourceSheet], headers: list[str]
                     ) -> tuple[list[str], dict[str, str]]:
    """The Accounts headers with `_account_key`, `_SOURCE_from`/`_SOURCE_to` (and any
    missing signal column) appended, and the per-row formula of each of those and of
    every signal."""
    ours = {"_account_key"} | {f"_{s.name}_{end}" for s in model.sources
                               for end in ("from", "to")}
    headers = [h for h in headers if h not in ours]   # read back from a workbook: rewritten
    id_pos = next(i for i, h in enumerate(headers) if header_key(h) == "accountid")
    taken = {header_key(h) for h in headers}
    out = list(headers) + [g.name for g in model.signals if header_key(g.name) not in taken]
    out.append("_account_key")
    account = f"${xl_col_to_name(len(out) - 1)}{ROW}"
    formulas: dict[str, str] = {"_account_key": text_of(f"${xl_col_to_name(id_pos)}{ROW}")}
    where: dict[str, tuple[str, str]] = {}
    for s in model.sources:
        if s.name not in sheets:
            continue
        src = sheets[s.name]
        out += [f"_{s.name}_from", f"_{s.name}_to"]
        first, last = (f"${xl_col_to_name(len(out) - 2)}{ROW}",
                       f"${xl_col_to_name(len(out) - 1)}{ROW}")
        formulas[f"_{s.name}_from"] = block_start(src, account)
        formulas[f"_{s.name}_to"] = block_end(src, first)
        where[s.name] = (first, last)
    by_key = {header_key(h): h for h in out}
    for g in model.signals:
        if g.source in where:
            formulas[by_key[header_key(g.name)]] = signal_formula(g, sheets[g.source],
                                                                  *where[g.source])
    return out, formulas


def formula_kind(model: Model, header: str) -> str:
    """The named format of an Accounts formula column: helpers grey, whole-number
    signals (counts, days) as counts, the others plain."""
    if header.startswith("_"):
        return "helper"
    agg = next((g.agg for g in model.signals if header_key(g.name) == header_key(header)), "")
    return "count" if agg in (*NO_OF_AGGS, "distinct_count") else "decimal3"


def formula_writer(ws: Any, template: str) -> Any:
    """A cell writer for `write_rows` that writes `template` (ROW = the row) with the
    value handed to it as the cached value ('' when none)."""
    def write(r: int, c: int, value: Any, fmt: Any) -> None:
        ws.write_formula_cell(r, c, template.replace(ROW, str(r + 1)), fmt,
                              "" if value is None else value)
    return write


@dataclass
class LiveSignals:
    """What a workbook with sources writes: the source sheets and the Accounts formulas."""

    model: Model
    sheets: dict[str, SourceSheet]

    def accounts(self, frame: pd.DataFrame, rows: int) -> tuple[pd.DataFrame, dict[str, str]]:
        """The Accounts frame (helper and missing signal columns added, `rows` rows, ''
        where a formula's cached value is unknown) and its formula columns."""
        headers, formulas = accounts_columns(self.model, self.sheets,
                                             [str(c) for c in frame.columns])
        out = frame.reindex(columns=headers)
        out.columns = headers
        out = out.reset_index(drop=True).reindex(range(max(rows, len(frame))))
        for h in formulas:
            col = out[h].astype(object)
            out[h] = col.where(col.notna(), "")
        return out, formulas

    def write(self, book: WorkbookBuilder) -> None:
        """Write every source sheet."""
        for src in self.sheets.values():
            write_source_sheet(book, src)


def live_signals(model: Model, sources: dict[str, pd.DataFrame] | None,
                 origins: dict[str, tuple[int, int]]) -> LiveSignals | None:
    """The live signals of a workbook whose model has sources and whose exports were
    given; None otherwise (the Accounts signal columns are then plain values)."""
    if not model.sources or not model.signals or not sources:
        return None
    cells = model_cells(model, origins)
    sheets = {s.name: source_sheet(model, s.name, sources[s.name], cells)
              for s in model.sources if s.name in sources}
    return LiveSignals(model, sheets)


def write_source_sheet(book: WorkbookBuilder, src: SourceSheet) -> None:
    """The source's sheet: its Table (export columns as read, then the grey helpers)."""
    ws = book.sheet(src.name)
    headers = src.headers
    data_cols = len(src.frame.columns)
    rows = max(len(src.frame), 1)
    ws.add_streamed_table(src.name, headers, 0, 0, rows,
                          header_formats=book.book.header_formats(headers, headers))
    ws.freeze_panes(1, 0)
    fmt_date = book.fmt["input_datetime"]
    helper_fmt = book.fmt["helper"]
    formats: list[Any] = []
    writers = []
    for c in src.frame.columns:
        series = src.frame[c]
        is_time = pd.api.types.is_datetime64_any_dtype(series)
        formats.append(fmt_date if is_time else book.fmt["input"])
        writers.append(ws.column_writer(series))
        ws.set_column(len(formats) - 1, len(formats) - 1, 20 if is_time else 14)
    helper_formats = [book.fmt["helper_datetime"] if h == "_time" else helper_fmt
                      for h, _ in src.helpers]
    # one shared formula per helper column: LibreOffice compiles it once, not per row
    row_formulas = ws.shared_row_writer(1, rows, [t for _, t in src.helpers],
                                        helper_formats, col=data_cols, above=PREV)

    notes_col = len(headers) + 1
    for i, (label, _) in enumerate(src.cells):
        ws.write_string(0, notes_col + i, label, book.fmt["header"])
        ws.set_column(notes_col + i, notes_col + i, max(14, min(40, len(label) + 2)),
                      helper_fmt)

    def helpers(r: int, _c: int, _v: Any, _f: Any) -> None:
        row_formulas(r)
        if r == 1:   # the helper cells right of the Table, in its first data row
            ws.stream_formulas(1, [f for _, f in src.cells], [helper_fmt] * len(src.cells),
                               [[""]] * len(src.cells), 1, col=notes_col, shared=False)
    frame = src.frame.assign(**{"\0helpers": 1})
    for i, (h, _) in enumerate(src.helpers):
        ws.set_column(data_cols + i, data_cols + i, 19 if h == "_time" else max(10, len(h) + 2),
                      helper_fmt)
    ws.write_rows(frame_rows(frame), [*writers, helpers], [*formats, None])
    if src.frame.empty:
        helpers(1, 0, None, None)
