"""Issue 21's million-account goals; prints a table.

    python benchmarks/bench_million.py                 # 1,000,000 accounts
    python benchmarks/bench_million.py -n 100000       # smaller, quicker

Read: `read_accounts` of a `chs sample` csv (dirty cells included) next to
`pandas.read_csv` of the same file (goal: within 3x). Engine: `score()` on the 20-metric
model of `bench_engine.py`, clean and dirty, next to the peer: one single-threaded DuckDB
query doing the same scoring work on the same frame (metric scores for all five methods,
segment-weighted components over the weights present, rule caps with the `capped_by`
text, bands, quartile cuts, the next action and the joined list of playbook actions),
goal within 1.5x. On dirty data the peer casts the text columns with TRY_CAST and counts
the bad cells. The peer is a benchmark yardstick, not an engine the tests prove equal.
End to end (`chs score CSV -o X.xlsx`, peak RSS) is run separately: see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import accounts, best_of, model_with_20_metrics

from chs_excel.core.engine import score
from chs_excel.core.model import Model
from chs_excel.io.accounts import read_accounts
from chs_excel.io.sample import make_sample, reference_date

AS_OF = reference_date(7)


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _num(col: str, dirty: bool) -> str:
    return f'TRY_CAST("{col}" AS DOUBLE)' if dirty else f'"{col}"'


def metric_sql(model: Model, dirty: bool) -> list[str]:
    """One score expression per metric (0..scale, NULL when missing)."""
    out, scale = [], model.scale
    for m in model.metrics:
        x = _num(m.column, dirty) if m.method not in ("category", "flag") else f'"{m.column}"'
        if m.method == "linear":
            e = (f"{scale}*GREATEST(0,LEAST(1,({x}-({m.worst}))/(({m.best})-({m.worst}))))")
        elif m.method == "log":
            e = f"{scale}*GREATEST(0,LEAST(1,LN(1+{x})/LN(1+{m.best})))"
        elif m.method == "steps":
            cases = " ".join(f"WHEN {x} < {b} THEN {p}" for b, p in zip(m.breaks, m.points,
                                                                          strict=False))
            e = f"CASE WHEN {x} IS NULL THEN NULL {cases} ELSE {m.points[-1]} END"
        elif m.method == "percentile":
            order = "ASC" if m.higher_is_better else "DESC"
            e = (f"CASE WHEN {x} IS NULL THEN NULL ELSE {scale}*(RANK() OVER (PARTITION BY "
                 f"{x} IS NULL ORDER BY {x} {order})-1)/GREATEST(1,COUNT({x}) OVER ()-1) END")
        elif m.method == "category":
            cases = " ".join(f"WHEN '{k.lower()}' THEN {v}" for k, v in m.categories)
            e = f'CASE lower(trim(CAST("{m.column}" AS VARCHAR))) {cases} END'
        else:  # flag
            good, bad = (scale, 0) if m.good else (0, scale)
            e = (f'CASE WHEN lower(trim(CAST("{m.column}" AS VARCHAR))) IN '
                 f"('yes','true','1','y') THEN {good} WHEN lower(trim(CAST(\"{m.column}\" AS "
                 f"VARCHAR))) IN ('no','false','0','n') THEN {bad} END")
        out.append(f'{e} AS "s_{m.column}"')
    return out


def peer_sql(model: Model, dirty: bool) -> str:
    """The DuckDB query: metric scores, components, health, caps, band, actions."""
    comps = list(model.components)
    seg = model.segment_column
    weights = {c: f"{model.components[c]}" for c in comps}
    if seg and model.segment_weights:
        for c in comps:
            cases = " ".join(f"WHEN '{s}' THEN {w[c]}" for s, w in model.segment_weights.items())
            weights[c] = f'CASE "{seg}" {cases} ELSE {model.components[c]} END'
    comp_sql = []
    for c in comps:
        ms = [m for m in model.metrics if m.component == c]
        num = "+".join(f'COALESCE("s_{m.column}"*{m.weight},0)' for m in ms)
        den = "+".join(f'(CASE WHEN "s_{m.column}" IS NOT NULL THEN {m.weight} ELSE 0 END)'
                       for m in ms)
        comp_sql.append(f'CASE WHEN ({den})>0 THEN ({num})/({den}) END AS "{c}"')
    raw_num = "+".join(f'COALESCE("{c}"*({weights[c]}),0)' for c in comps)
    raw_den = "+".join(f'(CASE WHEN "{c}" IS NOT NULL THEN ({weights[c]}) ELSE 0 END)'
                       for c in comps)
    fired = [(r, f'{_num(r.column, dirty)} {r.op} {r.value}') for r in model.rules]
    cap = "LEAST(raw_health" + "".join(f",CASE WHEN {f} THEN {r.cap} END" for r, f in fired) + ")"
    capped = "concat_ws('; '" + "".join(f",CASE WHEN {f} THEN {_text(r.name)} END"
                                         for r, f in fired) + ")"
    plays = []
    for k, p in enumerate(model.playbooks):
        conds = []
        for cond in p.when:
            if cond.test == "metric" and isinstance(cond.value, bool):
                conds.append(f'"s_{cond.column}" {cond.op} {model.scale * cond.value}')
            elif cond.test == "metric":
                conds.append(f'{_num(cond.column, dirty)} {cond.op} {cond.value}')
            elif cond.test == "band":
                conds.append(f"band {cond.op if cond.op != '<=' else '<>'} '{cond.value}'")
            elif cond.test == "renewal_within":
                conds.append(f"TRY_CAST(renewal_date AS DATE) <= DATE '{AS_OF}' + "
                             f"INTERVAL {int(cond.value)} DAY")
            elif cond.test == "low_data":
                conds.append("coverage < 0.5")
            else:  # health_change: no previous snapshot here, as in the engine run
                conds.append("FALSE")
        plays.append((k, p, " AND ".join(conds) or "TRUE"))
    acts = "concat_ws('; '" + "".join(f",CASE WHEN {c} THEN {_text(p.action)} END"
                                       for _, p, c in plays) + ")"
    nxt = "CASE " + " ".join(f"WHEN {c} THEN {_text(p.action)}" for _, p, c in
                             sorted(plays, key=lambda t: (t[1].priority, t[0]))) + " END"
    bad = ""
    if dirty:
        bad = ", " + "+".join(f'(CASE WHEN "{m.column}" IS NOT NULL AND TRY_CAST("{m.column}" '
                              f'AS DOUBLE) IS NULL THEN 1 ELSE 0 END)' for m in model.metrics
                              if m.method not in ("category", "flag")) + " AS bad_cells"
    return f"""
    WITH s AS (SELECT *, {", ".join(metric_sql(model, dirty))} FROM accounts),
    c AS (SELECT *, {", ".join(comp_sql)} FROM s),
    h AS (SELECT *, CASE WHEN ({raw_den})>0 THEN ({raw_num})/({raw_den}) END AS raw_health,
                 ({raw_den}) AS present FROM c),
    k AS (SELECT *, {cap} AS health, {capped} AS capped_by, present/100.0 AS coverage FROM h),
    b AS (SELECT *, CASE WHEN health IS NULL THEN 'No data' WHEN health < {model.red_below}
                 THEN 'Red' WHEN health >= {model.green_from} THEN 'Green' ELSE 'Yellow' END
                 AS band, NTILE(4) OVER (ORDER BY health DESC) AS quartile FROM k)
    SELECT account_id, {", ".join(f'"{c}"' for c in comps)}, raw_health, health, capped_by,
           band, quartile, {nxt} AS next_action, {acts} AS actions{bad} FROM b"""


def peer(frame: pd.DataFrame, model: Model, dirty: bool) -> float:
    """Seconds of the DuckDB peer query (one thread) on `frame`, result fetched."""
    con = duckdb.connect()
    con.execute("SET threads TO 1")
    if dirty:  # the mixed columns as text, as a text file holds them
        frame = frame.astype({m.column: str for m in model.metrics
                              if frame[m.column].dtype == object})
    con.register("accounts", frame)
    sql = peer_sql(model, dirty)
    return best_of(lambda: con.execute(sql).df(), 2)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000)
    n = parser.parse_args().n
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "accounts.csv"
        make_sample(n, seed=7, dirty=True).to_csv(src, index=False)
        pandas_s = best_of(lambda: pd.read_csv(src), 2)
        ours = best_of(lambda: read_accounts(src), 1)
        rows.append((f"read {n:,} csv (dirty)", ours, pandas_s, "pandas read_csv", 3.0))
    model, as_of = model_with_20_metrics(), AS_OF
    for dirty in (False, True):
        frame = accounts(n, dirty)
        ours = best_of(lambda f=frame: score(model, f, as_of=as_of), 2)
        rows.append((f"score() {n:,} x 20, {'dirty' if dirty else 'clean'}", ours,
                     peer(frame, model, dirty), "DuckDB, 1 thread", 1.5))
    print("| benchmark | seconds | peer | peer seconds | ratio | goal |")
    print("|---|---|---|---|---|---|")
    for name, ours, theirs, who, goal in rows:
        ratio = ours / theirs
        print(f"| {name} | {ours:,.2f} | {who} | {theirs:,.2f} | {ratio:,.2f} | "
              f"<= {goal}: {'met' if ratio <= goal else 'MISSED'} |")
    print(f"(process peak RSS {peak_mb():,.0f} MB)")


if __name__ == "__main__":
    main()
