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
    LIKELY,
    LIKELY_Z,
    NO_DATE_ROW,
    PAST_ROW,
    SCENARIOS,
    fiscal_freq,
    fiscal_year,
    period_count,
)
from chs_excel.core.formulas import Grid, ScoresPlan, text_literal
from chs_excel.core.vocabulary import BAND_ORDER, BANDS, NO_DATA, header_key
from chs_excel.xlsx.styles import BAND_COLOURS

if TYPE_CHECKING:
    from chs_excel.sheets.workbook import WorkbookBuilder

SHEET = "Forecast"
COLUMNS = ("period", "starts", "ends", "accounts", "arr", "expected_arr", "likely_low",
           "likely_high", "best_case", "worst_case", "arr_at_risk", *BAND_ARR)
SUMMED_COLUMNS = [c for c in COLUMNS[4:] if c not in LIKELY]   # the rest add up
AS_OF_ROW, FY_ROW, HEADER_ROW = 2, 3, 5  # 0-based rows of the as-of, fiscal start, header


@dataclass(frozen=True)
class Layout:
    """Where the Forecast's rows are (0-based): first and last period row, total row."""

    first_period: int
    last_period: int
    total: int
    notes_end: int      # the row after the assumptions (the chart goes below it)


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
    first = pd.Period(as_of or dt.date.today(), fiscal_freq(DEFAULT_PERIOD,
                                                             builder.model.fiscal_year_start))
    quarters = pd.period_range(first, periods=count)
    years = fiscal_year(pd.DatetimeIndex([quarters[-1].start_time]),
                        builder.model.fiscal_year_start)[0] - fiscal_year(
        pd.DatetimeIndex([quarters[0].start_time]), builder.model.fiscal_year_start)[0] + 1
    layout = _rows(g, plan, count, int(years))
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


def _rows(g: Grid, plan: ScoresPlan, count: int, years: int) -> Layout:
    """The past row, `count` quarter rows, the After and No renewal date rows, the Total,
    then `years` fiscal-year rows and the assumptions."""
    dates, ids = plan.scores_range("renewal_date"), plan.scores_range("account_id")
    fy = xl_rowcol_to_cell(FY_ROW, 1, True, True)
    past = HEADER_ROW + 1
    first, last = past + 1, past + count
    after, no_date, total = last + 1, last + 2, last + 3

    g.put(past, 0, PAST_ROW, kind="bold")
    g.put(past, 2, "AsOf-1", formula=True, kind="date")
    _measures(g, plan, past, [(dates, '"<"&AsOf')], f"({dates}<AsOf)")
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
        _measures(g, plan, r, [(dates, f'">="&{start}'), (dates, f'"<"&({end}+1)')],
                  f"({dates}>={start})*({dates}<{end}+1)")
    g.put(after, 0, '"' + AFTER_ROW.format(last='"&$A$' + str(last + 1)), formula=True,
          kind="bold")
    _measures(g, plan, after, [(dates, f'">="&($C${last + 1}+1)')],
              f"({dates}>=$C${last + 1}+1)")
    g.put(no_date, 0, NO_DATE_ROW, kind="bold")
    g.put(no_date, 3, f'COUNTIF({ids},"?*")-COUNT({dates})', formula=True, kind="count")
    dated = [(dates, '">0"')]
    for key in SUMMED_COLUMNS:
        g.put(no_date, COLUMNS.index(key),
              f"({_measure(plan, key, [])})-({_measure(plan, key, dated)})",
              formula=True, kind="money")
    _likely(g, plan, no_date, f"(1-ISNUMBER({dates}))")
    g.put(total, 0, "Total", kind="bold")
    for key in ("accounts", *SUMMED_COLUMNS):
        c = COLUMNS.index(key)
        letter = xl_col_to_name(c)
        g.put(total, c, f"SUM({letter}{past + 1}:{letter}{no_date + 1})", formula=True,
              kind="count" if c == 3 else "money_total")
    _likely(g, plan, total, None, kind="money_total")
    g.put(total + 1, 0, "All accounts' ARR (Dashboard)")
    g.put(total + 1, 4, f"SUM({plan.scores_range('arr')})", formula=True, kind="money")
    g.put(total + 2, 0, "Difference (0 when the forecast ties out)")
    g.put(total + 2, 4, f"E{total + 1}-E{total + 2}", formula=True, kind="money")
    row = _fiscal_year_rows(g, plan, total + 4, years, last)
    g.put(row + 1, 0, "Assumptions", kind="subtitle")
    for i, line in enumerate(SCENARIOS, start=row + 2):
        g.put(i, 0, line, kind="note")
    return Layout(first, last, total, row + 2 + len(SCENARIOS))


def _fiscal_year_rows(g: Grid, plan: ScoresPlan, top: int, years: int, last: int) -> int:
    """`years` rows summing the quarters per fiscal year (the first from AsOf, the last to
    the last quarter's end), each with its own likely range; the row after them."""
    dates = plan.scores_range("renewal_date")
    fy = xl_rowcol_to_cell(FY_ROW, 1, True, True)
    g.put(top, 0, "By fiscal year (the quarter rows above, summed)", kind="subtitle")
    for c, key in enumerate(COLUMNS):
        g.put(top + 1, c, HEADINGS["fiscal_year" if key == "period" else key], kind="header")
    year0 = f"(YEAR(AsOf)+IF(AND({fy}>1,MONTH(AsOf)>={fy}),1,0))"
    for k in range(years):
        r = top + 2 + k
        start, end = f"$B{r + 1}", f"$C{r + 1}"
        g.put(r, 0, f'"FY"&({year0}+{k})', formula=True, kind="bold")
        g.put(r, 1, f"MAX(AsOf,DATE({year0}+{k}-IF({fy}>1,1,0),{fy},1))", formula=True,
              kind="date")
        g.put(r, 2, f"MIN($C${last + 1},DATE({year0}+{k}+IF({fy}>1,0,1),{fy},1)-1)",
              formula=True, kind="date")
        _measures(g, plan, r, [(dates, f'">="&{start}'), (dates, f'"<"&({end}+1)')],
                  f"({dates}>={start})*({dates}<{end}+1)")
    return top + 2 + years


def _measures(g: Grid, plan: ScoresPlan, row: int, criteria: list[tuple[str, str]],
              condition: str) -> None:
    """Accounts and every money column of one forecast row, for renewal dates matching
    (`criteria` as SUMIFS takes them, `condition` the same as an array of 0/1)."""
    pairs = ",".join(f"{rng},{crit}" for rng, crit in criteria)
    g.put(row, 3, f"COUNTIFS({pairs})", formula=True, kind="count")
    for key in SUMMED_COLUMNS:
        g.put(row, COLUMNS.index(key), _measure(plan, key, criteria), formula=True,
              kind="money")
    dates = plan.scores_range("renewal_date")
    _likely(g, plan, row, f"ISNUMBER({dates})*{condition}")


def _likely(g: Grid, plan: ScoresPlan, row: int, condition: str | None,
            kind: str = "money") -> None:
    """The row's likely range (analytics.forecast.likely): expected -/+ LIKELY_Z standard
    deviations of the sum of independent renewals, within 0 .. the row's ARR. The variance
    is SUMPRODUCT(arr,arr,p) - SUMPRODUCT(arr,arr,p,p) over the matching accounts:
    SUMPRODUCT reads a blank row's "" as 0 where ARR x ARR x p x (1 - p) would be #VALUE!."""
    arr, p = plan.scores_range("arr"), plan.scores_range("renewal_probability")
    where = f",{condition}" if condition else ""
    variance = f"SUMPRODUCT({arr},{arr},{p}{where})-SUMPRODUCT({arr},{arr},{p},{p}{where})"
    sd = f"SQRT(MAX(0,{variance}))"
    expected = xl_rowcol_to_cell(row, COLUMNS.index("expected_arr"))
    total = xl_rowcol_to_cell(row, COLUMNS.index("arr"))
    z = repr(LIKELY_Z)
    g.put(row, COLUMNS.index("likely_low"), f"MAX(0,{expected}-{z}*{sd})", formula=True,
          kind=kind)
    g.put(row, COLUMNS.index("likely_high"), f"MIN({total},{expected}+{z}*{sd})",
          formula=True, kind=kind)


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
    ws.insert_chart(layout.notes_end + 1, 0, chart)


def _renewal_dates(frame: pd.DataFrame) -> pd.Series:
    """The Accounts' renewal dates as dates (anything else blank), for the row count."""
    cols = {header_key(c): c for c in frame.columns}
    if "renewaldate" not in cols:
        return pd.Series([], dtype="datetime64[ns]")
    return pd.to_datetime(frame[cols["renewaldate"]], errors="coerce")
