"""The workbook's live signals (docs/signals-workbook.md): source sheets, Accounts signal
columns as formulas, recalculated by LibreOffice, equal the pandas reference and the
values worked out by hand."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from chs_excel.core.bounded_yaml import load_yaml
from chs_excel.core.model import Model, model_from_dict
from chs_excel.core.signal_engine import compute_signals
from chs_excel.sheets.workbook import write_template
from chs_excel.xlsx.libreoffice import recalculate, sheet_rows

AS_OF = dt.date(2026, 3, 31)

SIGNALS_YAML = """
name: signals test
components: {usage: 1}
metrics:
  - {column: tickets_30d, component: usage, weight: 1, method: linear, worst: 10, best: 0}
sources:
  tickets: {file: tickets.csv, key: org, time: created_at}
signals:
  - {name: tickets_30d, source: tickets, agg: count, window: 30}
  - {name: urgent, source: tickets, agg: count,
     where: [{column: priority, op: in, value: [high, urgent]}]}
  - {name: not_low, source: tickets, agg: count,
     where: [{column: priority, op: "<>", value: low}]}
  - {name: big, source: tickets, agg: count, where: [{column: amount, op: ">=", value: 5}]}
  - {name: amount_sum, source: tickets, agg: sum, of: amount, window: 7}
  - {name: amount_mean, source: tickets, agg: mean, of: amount}
  - {name: amount_min, source: tickets, agg: min, of: amount}
  - {name: amount_max, source: tickets, agg: max, of: amount}
  - {name: amount_latest, source: tickets, agg: latest, of: amount}
  - {name: days_since, source: tickets, agg: days_since_last}
  - {name: users, source: tickets, agg: distinct_count, of: user}
"""


def _model() -> Model:
    return model_from_dict(load_yaml(SIGNALS_YAML, "test model"))


def _inputs() -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    accounts = pd.DataFrame({"account_id": ["A-1", "b-2", "C 3", "D4"],
                             "account_name": ["Alpha", "Beta", "Gamma", "Delta"]})
    rows = [  # org, created_at, priority, amount, user
        (" a-1 ", "2026-03-31 23:59:59", "HIGH", 4.0, "u1"),       # last second of as-of
        ("A-1", "2026-04-01 00:00:00", "high", 100.0, "u9"),       # after the as-of day
        ("a-1", "2026-03-02 00:00:00", "urgent", 6.0, "U1 "),      # first day of 30
        ("A-1", "2026-03-01 23:59:59", "low", 7.0, "u2"),          # one second before
        ("B-2", "2026-03-25 10:00:00", None, 2.0, "x"),            # blank priority
        ("b-2", "2026-03-25 10:00:00", "Low", 4.0, "y"),           # tied latest
        ("b-2", "2026-01-05 08:00:00", "urgent", None, None),      # blank amount, user
        ("ZZZ", "2026-03-30 00:00:00", "high", 1.0, "z"),          # unmatched key
        ("c\u00a03", "2026-03-24 00:00:00", " Urgent", 5.0, "k"),  # no-break space key
    ]
    tickets = pd.DataFrame(rows, columns=["org", "created_at", "priority", "amount", "user"])
    tickets["created_at"] = pd.to_datetime(tickets["created_at"])
    tickets.index = pd.RangeIndex(2, 2 + len(tickets))
    tickets.attrs["file"] = "tickets.csv"
    return accounts, {"tickets": tickets}


HAND = {  # by account, worked out from the rows above (as-of 2026-03-31)
    "tickets_30d": [2, 2, 1, 0],
    "urgent": [2, 1, 1, 0],
    "not_low": [2, 2, 1, 0],           # blank priority satisfies <>
    "big": [2, 0, 1, 0],
    "amount_sum": [4, 6, 0, 0],       # window 7: from 2026-03-25; C 3 on the 24th
    "amount_mean": [17 / 3, 3, 5, None],
    "amount_min": [4, 2, 5, None],
    "amount_max": [7, 4, 5, None],
    "amount_latest": [4, 3, 5, None],  # B-2: two rows at the same latest time, averaged
    "days_since": [0, 6, 7, None],
    "users": [2, 2, 1, 0],             # u1 and 'U1 ' are one text key
}


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    model = _model()
    accounts, sources = _inputs()
    folder = tmp_path_factory.mktemp("sigwb")
    path = folder / "signals.xlsx"
    write_template(path, model, accounts, rows=10, as_of=AS_OF, sources=sources)
    reference = compute_signals(model, accounts, sources, AS_OF).values
    return recalculate(path, folder / "lo"), reference


def _accounts_values(path: Path) -> dict[str, list[object]]:
    rows = sheet_rows(path, "Accounts")
    head = [str(h) for h in rows[0]]
    return {h: [r[i] for r in rows[1:5]] for i, h in enumerate(head)}


def _same(a: object, b: object) -> bool:
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None or a == "" or (isinstance(a, float) and math.isnan(a))
    return isinstance(a, (int, float)) and math.isclose(float(a), float(b), abs_tol=1e-9)


@pytest.mark.parametrize("signal", list(HAND))
def test_libreoffice_equals_reference_and_hand(recalculated, signal: str) -> None:
    path, reference = recalculated
    got = _accounts_values(path)[signal]
    assert all(_same(r, h) for r, h in zip(reference[signal].tolist(), HAND[signal],
                                            strict=True)), (signal, reference[signal])
    assert all(_same(g, h) for g, h in zip(got, HAND[signal], strict=True)), (signal, got)


def test_signal_columns_are_formulas_over_the_source_sheet(recalculated) -> None:
    path, _ = recalculated
    book = openpyxl.load_workbook(path)
    assert "tickets" in book.sheetnames
    ws = book["Accounts"]
    head = [c.value for c in ws[1]]
    cell = ws.cell(2, head.index("urgent") + 1).value
    assert str(cell).startswith("=") and "tickets" in str(cell)


def test_workbook_with_source_sheets_reads_back(tmp_path: Path) -> None:
    """`read_workbook` (template --from, the macros) reads a book with source sheets:
    the model keeps its sources and signals; Start here says the signals are formulas."""
    from chs_excel.io.workbook import read_workbook
    accounts, sources = _inputs()
    path = tmp_path / "book.xlsx"
    write_template(path, _model(), accounts, rows=10, as_of=AS_OF, sources=sources)
    found = read_workbook(path)
    assert [s.name for s in found.model.sources] == ["tickets"]
    assert [g.name for g in found.model.signals] == list(HAND)
    text = " ".join(str(r[0]) for r in sheet_rows(path, "Start here") if r and r[0])
    assert "do not type over them" in text and "too large for a sheet" in text


def test_editing_a_window_in_the_model_recalculates(tmp_path: Path) -> None:
    """The window is read from its Model cell: 30 days changed to 1 day by editing the
    Signals Table (openpyxl, as a user would) counts only the as-of day's rows."""
    accounts, sources = _inputs()
    path = tmp_path / "book.xlsx"
    write_template(path, _model(), accounts, rows=10, as_of=AS_OF, sources=sources)
    book = openpyxl.load_workbook(path)
    ws = book["Model"]
    cell = next(c for row in ws.iter_rows() for c in row if c.value == "tickets_30d"
                and ws.cell(c.row, c.column + 1).value == "tickets")  # the Signals row
    ws.cell(cell.row, cell.column + 4).value = 1
    edited = tmp_path / "edited.xlsx"
    book.save(edited)
    got = _accounts_values(recalculate(edited, tmp_path / "lo"))["tickets_30d"]
    assert got == [1, 0, 0, 0]   # only A-1's 23:59:59 row lies on 2026-03-31


def test_refresh_keeps_the_source_sheets(tmp_path: Path) -> None:
    """`chs_refresh` on a file (FileBook) reads a book with source sheets, scores it and
    leaves the source sheet's Table and its rows in place."""
    from chs_excel.app import macros
    from chs_excel.io.book import FileBook
    accounts, sources = _inputs()
    path = tmp_path / "book.xlsx"
    write_template(path, _model(), accounts, rows=10, as_of=AS_OF, sources=sources)
    book = FileBook(path)
    message = macros.run(macros.refresh, book)
    assert "scored 4 accounts" in message, message
    book.save()
    after = openpyxl.load_workbook(path)
    assert "tickets" in after.sheetnames and "tickets" in after["tickets"].tables
    assert after["tickets"].max_row == 10   # header + the 9 export rows


def test_chs_score_workbook_recalculates_signals_and_scores(tmp_path: Path) -> None:
    """`chs score -o X.xlsx` with a model with sources: a `tickets` sheet, the signal
    columns as formulas; LibreOffice's signals and health equal the engine's csv."""
    from tests.cli_runner import run
    from tests.test_signals_cli import folder_with_model
    folder_with_model(tmp_path)
    common = [str(tmp_path / "accounts.csv"), "--model", str(tmp_path / "model.yaml"),
              "--as-of", "2027-03-31"]
    code, out = run("score", *common, "-o", str(tmp_path / "book.xlsx"))
    assert code == 0, out
    code, out = run("score", *common, "-o", str(tmp_path / "scores.csv"))
    assert code == 0, out
    book = openpyxl.load_workbook(tmp_path / "book.xlsx")
    assert "tickets" in book.sheetnames
    done = recalculate(tmp_path / "book.xlsx", tmp_path / "lo")
    rows = sheet_rows(done, "Accounts")
    head = [str(h) for h in rows[0]]
    got = {h: [r[i] for r in rows[1:4]] for i, h in enumerate(head)}
    assert got["tickets_30d"] == [1, 1, 1]    # 04-01 00:00Z and 03-01 23:59:59Z out
    assert got["urgent_30d"] == [0, 1, 1]     # ACC-3's blank priority never = high
    scores = pd.read_csv(tmp_path / "scores.csv")
    srows = sheet_rows(done, "Scores")
    shead = [str(h) for h in srows[0]]
    health = [r[shead.index("health")] for r in srows[1:4]]
    assert all(math.isclose(a, b, abs_tol=1e-6)
               for a, b in zip(health, scores["health"], strict=True))
    assert [r[shead.index("band")] for r in srows[1:4]] == scores["band"].tolist()


def _edited_accounts(tmp_path: Path, edit, accounts: pd.DataFrame | None = None,
                     sources: dict[str, pd.DataFrame] | None = None,
                     model: Model | None = None) -> dict[str, list[object]]:
    """The Accounts values LibreOffice computes after `edit(book)` (openpyxl, as a user
    would edit the file) of a freshly written template."""
    default_accounts, default_sources = _inputs()
    path = tmp_path / "book.xlsx"
    write_template(path, model or _model(), default_accounts if accounts is None else accounts,
                   rows=10, as_of=AS_OF, sources=sources or default_sources)
    book = openpyxl.load_workbook(path)
    edit(book)
    edited = tmp_path / "edited.xlsx"
    book.save(edited)
    return _accounts_values(recalculate(edited, tmp_path / "lo"))


def _filter_value_cells(book: openpyxl.Workbook, signal: str) -> list[openpyxl.cell.Cell]:
    """The SignalFilters `value` cells of one signal."""
    ws = book["Model"]
    table = ws.tables["SignalFilters"]
    first, last = table.ref.split(":")
    top = ws[first]
    names = [c.name for c in table.tableColumns]
    rows = range(top.row + 1, ws[last].row + 1)
    return [ws.cell(r, top.column + names.index("value")) for r in rows
            if ws.cell(r, top.column + names.index("signal")).value == signal]


def test_editing_a_filter_value_recalculates(tmp_path: Path) -> None:
    """A filter value is read from its SignalFilters cell: blanked, `in` matches no row
    for it (a blank never satisfies `=`/`in`) and `<>` every row (as the engine)."""
    def edit(book: openpyxl.Workbook) -> None:
        _filter_value_cells(book, "urgent")[0].value = None      # in [high, urgent] -> [, urgent]
        _filter_value_cells(book, "not_low")[0].value = None     # <> low -> <> blank
    got = _edited_accounts(tmp_path, edit)
    assert got["urgent"] == [1, 1, 1, 0]
    assert got["not_low"] == [3, 3, 1, 0]    # every row up to the as-of day
    model = _model()
    accounts, sources = _inputs()
    assert got["tickets_30d"] == compute_signals(model, accounts, sources,
                                                 AS_OF).values["tickets_30d"].tolist()


def test_unsorted_source_falls_back_to_an_exact_search(tmp_path: Path) -> None:
    """Rows pasted in another order (each account's rows still together, the blocks
    reversed): the sheet's `sorted by _key` cell turns FALSE, the lookups scan exactly,
    and every signal still equals the hand-worked values."""
    def edit(book: openpyxl.Workbook) -> None:
        ws = book["tickets"]
        rows = [[ws.cell(r, c).value for c in range(1, 6)] for r in range(2, 11)]
        for r, values in enumerate(reversed(rows), start=2):
            for c, v in enumerate(values, start=1):
                ws.cell(r, c).value = v
    got = _edited_accounts(tmp_path, edit)
    for signal, hand in HAND.items():
        assert all(_same(g, h) for g, h in zip(got[signal], hand, strict=True)), (signal, got)


def test_unsorted_flag_reads_false(tmp_path: Path) -> None:
    """The `sorted by _key (A to Z)` helper cell right of the source Table says whether
    the binary search may be used."""
    accounts, sources = _inputs()
    path = tmp_path / "book.xlsx"
    write_template(path, _model(), accounts, rows=10, as_of=AS_OF, sources=sources)
    book = openpyxl.load_workbook(path)
    ws = book["tickets"]
    col = next(c.column for c in ws[1] if c.value == "sorted by _key (A to Z)")
    ws.cell(2, 1).value, ws.cell(10, 1).value = ws.cell(10, 1).value, ws.cell(2, 1).value
    book.save(tmp_path / "edited.xlsx")
    done = openpyxl.load_workbook(recalculate(tmp_path / "edited.xlsx", tmp_path / "lo"),
                                  data_only=True)["tickets"]
    assert openpyxl.load_workbook(recalculate(path, tmp_path / "lo2"),
                                  data_only=True)["tickets"].cell(2, col).value is True
    assert done.cell(2, col).value is False


WILD_YAML = """
name: wildcard keys
components: {usage: 1}
metrics:
  - {column: n, component: usage, weight: 1, method: linear, worst: 0, best: 5}
sources:
  tickets: {file: tickets.csv, key: org, time: created_at}
signals:
  - {name: n, source: tickets, agg: count}
  - {name: last, source: tickets, agg: latest, of: amount}
"""


def test_keys_with_wildcards_and_punctuation_equal_the_engine(tmp_path: Path) -> None:
    """Keys holding MATCH's wildcards (* ? ~), punctuation and digits that sort
    differently as text than as codepoints: every account finds exactly its rows."""
    model = model_from_dict(load_yaml(WILD_YAML, "test model"))
    ids = ["x*1", "x?2", "x~3", "x1", "x-1", "x_1", "X 1", "10", "9", "x*", "none"]
    accounts = pd.DataFrame({"account_id": ids})
    keys = ["x*1", "x?2", "X?2", "x~3", "x1", "x-1", "x-1", "x_1", "x  1", "10", "9", "9",
            "x*", "x*1"]
    tickets = pd.DataFrame({
        "org": keys, "created_at": pd.to_datetime(["2026-03-01"] * len(keys))
        + pd.to_timedelta(range(len(keys)), unit="h"),
        "amount": [float(i) for i in range(len(keys))]})
    tickets.index = pd.RangeIndex(2, 2 + len(tickets))
    tickets.attrs["file"] = "tickets.csv"
    sources = {"tickets": tickets}
    path = tmp_path / "wild.xlsx"
    write_template(path, model, accounts, rows=len(ids), as_of=AS_OF, sources=sources)
    reference = compute_signals(model, accounts, sources, AS_OF).values
    rows = sheet_rows(recalculate(path, tmp_path / "lo"), "Accounts")
    head = [str(h) for h in rows[0]]
    for signal in ("n", "last"):
        got = [r[head.index(signal)] for r in rows[1:1 + len(ids)]]
        assert all(_same(g, r) for g, r in zip(got, reference[signal].tolist(),
                                               strict=True)), (signal, got,
                                                               reference[signal].tolist())


SIGNAL_PLAIN = {"ROWS", "FIND", "DATEVALUE", "TIMEVALUE", "AVERAGEIFS", "LEN", "RIGHT",
                "VALUE"}  # Excel 2007+
SIGNAL_PREFIXED = {"MINIFS"}                                            # Excel 2019+


def test_signal_formulas_use_only_functions_both_compute(tmp_path: Path) -> None:
    """The source sheet's and Accounts' formulas call only functions Excel and
    LibreOffice both compute, the newer ones `_xlfn.`-prefixed; no whole-column ranges."""
    import re

    from tests.test_workbook import PLAIN, PREFIXED
    accounts, sources = _inputs()
    path = tmp_path / "book.xlsx"
    write_template(path, _model(), accounts, rows=10, as_of=AS_OF, sources=sources)
    book = openpyxl.load_workbook(path)
    seen = 0
    for sheet in ("tickets", "Accounts"):
        for row in book[sheet].iter_rows():
            for cell in row:
                text = cell.value
                if not (isinstance(text, str) and text.startswith("=")):
                    continue
                seen += 1
                bare = re.sub(r'"[^"]*"', '""', text)
                assert not re.search(r"\$?[A-Z]{1,3}:\$?[A-Z]{1,3}\b", bare), (sheet, text)
                for prefix, name in re.findall(r"(_xlfn\.)?([A-Z][A-Z0-9.]*)\(", bare):
                    allowed = (PREFIXED | SIGNAL_PREFIXED) if prefix else (PLAIN | SIGNAL_PLAIN)
                    assert name in allowed, (sheet, cell.coordinate, name)
    assert seen > 50


OPS_YAML = SIGNALS_YAML.split("signals:")[0] + """signals:
  - {name: tickets_30d, source: tickets, agg: count, window: 30}
  - {name: after_m, source: tickets, agg: count, where: [{column: priority, op: ">", value: m}]}
  - {name: upto_low, source: tickets, agg: count,
     where: [{column: priority, op: "<=", value: LOW}]}
  - {name: four, source: tickets, agg: count, where: [{column: amount, op: "=", value: 4}]}
  - {name: not_four, source: tickets, agg: count,
     where: [{column: amount, op: "<>", value: 4}]}
  - {name: urgent_or_5, source: tickets, agg: count,
     where: [{column: priority, op: in, value: [urgent, 5]}]}
  - {name: below_5, source: tickets, agg: sum, of: amount,
     where: [{column: amount, op: "<", value: 5}, {column: priority, op: "<>", value: high}]}
"""


def test_every_filter_op_equals_the_engine(tmp_path: Path) -> None:
    """Text comparisons, number = and <>, `in` mixing text and a number, two filters on
    one signal: LibreOffice equals the engine for each."""
    model = model_from_dict(load_yaml(OPS_YAML, "test model"))
    accounts, sources = _inputs()
    path = tmp_path / "ops.xlsx"
    write_template(path, model, accounts, rows=10, as_of=AS_OF, sources=sources)
    reference = compute_signals(model, accounts, sources, AS_OF).values
    got = _accounts_values(recalculate(path, tmp_path / "lo"))
    for signal in reference.columns:
        assert all(_same(g, r) for g, r in zip(got[signal], reference[signal].tolist(),
                                               strict=True)), (signal, got[signal],
                                                               reference[signal].tolist())


def test_source_helpers_are_shared_formulas_reading_the_row_above(tmp_path: Path) -> None:
    """Each helper column is one shared formula (its master in row 2); shifted to any
    row it reads that row and the one above (openpyxl expands shared formulas)."""
    import zipfile
    accounts, sources = _inputs()
    path = tmp_path / "book.xlsx"
    write_template(path, _model(), accounts, rows=10, as_of=AS_OF, sources=sources)
    book = openpyxl.load_workbook(path)
    ws = book["tickets"]
    head = {c.value: c.column_letter for c in ws[1]}
    key, block = head["_key"], head["_block"]
    assert ws[f"{block}2"].value == f"=N(${block}1)+(${key}2<>${key}1)"
    assert ws[f"{block}7"].value == f"=N(${block}6)+(${key}7<>${key}6)"
    with zipfile.ZipFile(path) as package:
        xml = "".join(package.read(n).decode() for n in package.namelist()
                      if n.startswith("xl/worksheets/sheet"))
    assert f'<f t="shared" ref="{block}2:{block}10"' in xml


def test_accounts_read_back_with_their_helper_columns_rebuild(tmp_path: Path) -> None:
    """Accounts read back from a workbook carry `_account_key`, `_tickets_from` and
    `_tickets_to`: writing them again with sources gives each helper column once."""
    from chs_excel.io.workbook import read_workbook
    accounts, sources = _inputs()
    first = tmp_path / "first.xlsx"
    write_template(first, _model(), accounts, rows=10, as_of=AS_OF, sources=sources)
    again = read_workbook(first).accounts
    assert "_tickets_from" in again.columns
    second = tmp_path / "second.xlsx"
    write_template(second, _model(), again.drop(columns=list(HAND)), rows=10, as_of=AS_OF,
                   sources=sources)
    head = [c.value for c in openpyxl.load_workbook(second)["Accounts"][1]]
    for helper in ("_account_key", "_tickets_from", "_tickets_to"):
        assert head.count(helper) == 1, head
