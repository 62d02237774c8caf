"""The live Forecast sheet: `analytics.forecast`'s rows as formulas over Scores.

Same rows, periods, scenarios and words as `chs forecast` and the values sheet of
`chs_refresh`: "Already past, not renewed yet" (renewal before `AsOf`), one row per fiscal
quarter from the quarter holding `AsOf` to the last renewal, "After ...", "No renewal
date", then the Total, which ties to all accounts' ARR (the Dashboard's). Quarter labels
follow the Model's `fiscal_year_start`, looked up by name so a workbook built before the
setting existed reads 1 (January).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
from xlsxwriter.utility import (
    xl_cell_to_rowcol,
    xl_col_to_name,
    xl_range_abs,
    xl_rowcol_to_cell,
)

from chs_excel.analytics.forecast import (
    AFTER_ROW,
    BAND_ARR,
    DEFAULT_PERIOD,
    HEADINGS,
    NO_DATE_ROW,
    PAST_ROW,
    SCENARIOS,
    period_count,
)
from chs_excel.core.formulas import Grid, ScoresPlan, text_literal
from chs_excel.core.vocabulary import BAND_ORDER, BANDS, NO_DATA, header_key
from chs_excel.xlsx.styles import BAND_COLOURS

if TYPE_CHECKING:
    from chs_excel.sheets.workbook import WorkbookBuilder

SHEET = "Forecast"
COLUMNS = ("period", "starts", "ends", "accounts", "arr", "expected_arr", "best_case",
           "worst_case", "arr_at_risk", *BAND_ARR)
AS_OF_ROW, FY_ROW, HEADER_ROW = 2, 3, 5  # 0-based rows of the as-of, fiscal start, header


@dataclass(frozen=True)
class Layout:
    """Where the Forecast's rows are (0-based): first and last period row, total row."""

    first_period: int
    last_period: int
    total: int


def forecast_sheet(builder: WorkbookBuilder, plan: ScoresPlan, frame: pd.DataFrame,
                   as_of: dt.date | None) -> None:
    """Write the Forecast sheet: the forecast rows, the tie to the Dashboard, the
    assumptions in plain words, and a chart of the quarters."""
    g = Grid(SHEET)
    g.put(0, 0, "Renewal forecast by fiscal quarter", kind="title")
    if not {"arr", "renewal_date"} <= set(plan.identity):
        g.put(1, 0, "The forecast needs arr and renewal_date columns in Accounts.",
              kind="note")
        builder.write_grid(g).set_column(0, 0, 60)
        return
    g.put(1, 0, "Formulas over the Scores sheet. Every account is on exactly one row, so the "
                "total is all accounts' ARR, as on the Dashboard.", kind="note")
    g.put(AS_OF_ROW, 0, "As of (the workbook's AsOf date)", kind="bold")
    g.put(AS_OF_ROW, 1, "AsOf", formula=True, kind="date")
    g.put(FY_ROW, 0, "Fiscal year starts in month (Model, Settings)", kind="bold")
    g.put(FY_ROW, 1, _fiscal_start(builder), formula=True, kind="int")
    for c, key in enumerate(COLUMNS):
        g.put(HEADER_ROW, c, HEADINGS[key], kind="header")
    count = period_count(_renewal_dates(frame), as_of or dt.date.today(),
                         by=DEFAULT_PERIOD, fiscal_year_start=builder.model.fiscal_year_start)
    layout = _rows(g, plan, count)
    ws = builder.write_grid(g)
    ws.set_column(0, 0, 46)
    for c, key in enumerate(COLUMNS[1:], start=1):  # every heading readable in full
        ws.set_column(c, c, max(11, len(HEADINGS[key]) + 3))
    ws.freeze_panes(HEADER_ROW + 1, 1)
    _chart(builder, layout)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)


def _fiscal_start(builder: WorkbookBuilder) -> str:
    """The Model's fiscal_year_start looked up by name in the Settings table (1 if absent)."""
    row, col = xl_cell_to_rowcol(builder.model_cells["fiscal_year_start"].replace("$", ""))
    first, last = max(row - 20, 0), row + 20
    values = f"Model!{xl_range_abs(first, col, last, col)}"
    keys = f"Model!{xl_range_abs(first, col - 1, last, col - 1)}"
    return f'IFERROR(INDEX({values},MATCH("fiscal_year_start",{keys},0)),1)'


def _rows(g: Grid, plan: ScoresPlan, count: int) -> Layout:
    """The past row, `count` quarter rows, the After and No renewal date rows, the Total."""
    dates, ids = plan.scores_range("renewal_date"), plan.scores_range("account_id")
    fy = xl_rowcol_to_cell(FY_ROW, 1, True, True)
    past = HEADER_ROW + 1
    first, last = past + 1, past + count
    after, no_date, total = last + 1, last + 2, last + 3

    g.put(past, 0, PAST_ROW, kind="bold")
    g.put(past, 2, "AsOf-1", formula=True, kind="date")
    _measures(g, plan, past, [(dates, '"<"&AsOf')])
    for r in range(first, last + 1):
        start, end = f"$B{r + 1}", f"$C{r + 1}"
        if r == first:
            g.put(r, 1, "AsOf", formula=True, kind="date")
            g.put(r, 2, f"DATE(YEAR(AsOf),MONTH(AsOf)-MOD(MOD(MONTH(AsOf)-{fy},12),3)+3,1)-1",
                  formula=True, kind="date")
        else:
            g.put(r, 1, f"$C{r}+1", formula=True, kind="date")
            g.put(r, 2, f"DATE(YEAR({start}),MONTH({start})+3,1)-1", formula=True,
                  kind="date")
        g.put(r, 0, f'"FY"&(YEAR({start})+IF(AND({fy}>1,MONTH({start})>={fy}),1,0))'
                    f'&" Q"&(INT(MOD(MONTH({start})-{fy},12)/3)+1)', formula=True, kind="bold")
        _measures(g, plan, r, [(dates, f'">="&{start}'), (dates, f'"<"&({end}+1)')])
    g.put(after, 0, '"' + AFTER_ROW.format(last='"&$A$' + str(last + 1)), formula=True,
          kind="bold")
    _measures(g, plan, after, [(dates, f'">="&($C${last + 1}+1)')])
    g.put(no_date, 0, NO_DATE_ROW, kind="bold")
    g.put(no_date, 3, f'COUNTIF({ids},"?*")-COUNT({dates})', formula=True, kind="count")
    dated = [(dates, '">0"')]
    for c, key in enumerate(COLUMNS[4:], start=4):
        g.put(no_date, c, f"({_measure(plan, key, [])})-({_measure(plan, key, dated)})",
              formula=True, kind="money")
    g.put(total, 0, "Total", kind="bold")
    for c in range(3, len(COLUMNS)):
        letter = xl_col_to_name(c)
        g.put(total, c, f"SUM({letter}{past + 1}:{letter}{no_date + 1})", formula=True,
              kind="count" if c == 3 else "money_total")
    g.put(total + 1, 0, "All accounts' ARR (Dashboard)")
    g.put(total + 1, 4, f"SUM({plan.scores_range('arr')})", formula=True, kind="money")
    g.put(total + 2, 0, "Difference (0 when the forecast ties out)")
    g.put(total + 2, 4, f"E{total + 1}-E{total + 2}", formula=True, kind="money")
    g.put(total + 4, 0, "Assumptions", kind="subtitle")
    for i, line in enumerate(SCENARIOS, start=total + 5):
        g.put(i, 0, line, kind="note")
    return Layout(first, last, total)


def _measures(g: Grid, plan: ScoresPlan, row: int, criteria: list[tuple[str, str]]) -> None:
    """Accounts and every money column of one forecast row, for renewal dates matching."""
    pairs = ",".join(f"{rng},{crit}" for rng, crit in criteria)
    g.put(row, 3, f"COUNTIFS({pairs})", formula=True, kind="count")
    for c, key in enumerate(COLUMNS[4:], start=4):
        g.put(row, c, _measure(plan, key, criteria), formula=True, kind="money")


def _measure(plan: ScoresPlan, key: str, criteria: list[tuple[str, str]]) -> str:
    """The formula summing one forecast column over accounts whose dates match `criteria`:
    the scenario rules of `analytics.forecast.scenario_values`, band by band."""
    arr, expected = plan.scores_range("arr"), plan.scores_range("expected_arr")
    band = plan.scores_range("band")

    def total(values: str, bands: tuple[str, ...] = ()) -> str:
        if not bands:
            pairs = ",".join(f"{rng},{crit}" for rng, crit in criteria)
            return f"SUMIFS({values},{pairs})" if criteria else f"SUM({values})"
        return "+".join(total_of(values, b) for b in bands)

    def total_of(values: str, b: str) -> str:
        pairs = ",".join(f"{rng},{crit}" for rng, crit in [*criteria, (band, text_literal(b))])
        return f"SUMIFS({values},{pairs})"

    green, yellow, red = BANDS
    if key == "arr":
        return total(arr)
    if key == "expected_arr":
        return total(expected)
    if key == "best_case":
        return f"{total(arr, (green, yellow))}+{total(expected, (red, NO_DATA))}"
    if key == "worst_case":
        return total(expected, (green,))
    if key == "arr_at_risk":
        return total(arr, (red,))
    return total(arr, (BAND_ORDER[BAND_ARR.index(key)],))


def _chart(builder: WorkbookBuilder, layout: Layout) -> None:
    """Stacked ARR by band per quarter, expected renewed ARR as a line, beside nothing."""
    book, ws = builder.book, builder.sheet(SHEET)
    r0, r1 = layout.first_period, layout.last_period
    categories = [SHEET, r0, 0, r1, 0]
    chart = book.add_chart({"type": "column", "subtype": "stacked"})
    band_col = COLUMNS.index(BAND_ARR[0])
    for j, b in enumerate(BAND_ORDER):
        chart.add_series({"name": [SHEET, HEADER_ROW, band_col + j], "categories": categories,
                          "values": [SHEET, r0, band_col + j, r1, band_col + j],
                          "fill": {"color": BAND_COLOURS[b]}})
    line = book.add_chart({"type": "line"})
    col = COLUMNS.index("expected_arr")
    line.add_series({"name": [SHEET, HEADER_ROW, col], "categories": categories,
                     "values": [SHEET, r0, col, r1, col],
                     "line": {"color": "#1F3864", "width": 2.25}, "marker": {"type": "circle"}})
    chart.combine(line)
    chart.set_title({"name": "ARR up for renewal by band, and expected renewed ARR"})
    chart.set_y_axis({"num_format": "#,##0", "min": 0})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 820, "height": 320})
    ws.insert_chart(layout.total + 5 + len(SCENARIOS) + 1, 0, chart)


def _renewal_dates(frame: pd.DataFrame) -> pd.Series:
    """The Accounts' renewal dates as dates (anything else blank), for the row count."""
    cols = {header_key(c): c for c in frame.columns}
    if "renewaldate" not in cols:
        return pd.Series([], dtype="datetime64[ns]")
    return pd.to_datetime(frame[cols["renewaldate"]], errors="coerce")
