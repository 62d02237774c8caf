"""Engine benchmarks (docs/benchmarks.md, "Engines"): DuckDB 10M accounts x 20 metrics
Parquet in and out (unlimited, then within a 2 GB memory limit), Spark local, `chs sql`.

Run under the shared lock: `flock /tmp/chs-heavy.lock python benchmarks/bench_engines.py
[--rows 10000000] [--spark-rows 1000000]`. Each case runs in its own process so its peak
memory (max RSS) is its own. Prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MODEL = {
    "name": "Bench 20 metrics",
    "components": {"Usage": 40, "Support": 20, "Sentiment": 25, "Financial": 15},
    "metrics": (
        [{"column": f"m{k}", "component": ["Usage", "Support", "Sentiment", "Financial"][k % 4],
          "method": "linear", "worst": 0, "best": 100} for k in range(8)]
        + [{"column": f"m{k}", "component": "Usage", "method": "log", "worst": 0,
            "best": 100} for k in range(8, 12)]
        + [{"column": f"m{k}", "component": "Support", "method": "steps",
            "breaks": [20, 50, 80], "points": [0, 40, 70, 100]} for k in range(12, 16)]
        + [{"column": f"m{k}", "component": "Sentiment", "method": "percentile"}
           for k in range(16, 18)]
        + [{"column": "m18", "component": "Financial", "method": "flag"},
           {"column": "m19", "component": "Financial", "method": "category",
            "points": {"Monthly": 30, "Annual": 70, "Multi-year": 100}}]),
    "rules": [{"name": "Low m0", "column": "m0", "op": "<", "value": 5, "cap": 39}],
    "segments": {"column": "plan", "weights": {
        "Starter": {"Usage": 60, "Support": 10, "Sentiment": 20, "Financial": 10}}},
    "quartiles": {"by": "region"},
}


def generate(path: Path, rows: int) -> float:
    """Random accounts as Parquet, written by DuckDB (ties: values on a 0.1 grid; m1 a
    text column with 1% text cells)."""
    import duckdb
    start = time.perf_counter()
    cols = ", ".join(
        f"ROUND(random() * 110 - 5, 1) AS m{k}" for k in (0, *range(2, 18)))
    duckdb.connect().execute(
        f"COPY (SELECT 'A' || i AS account_id, {cols}, "
        "CASE WHEN random() < 0.01 THEN 'n/a?' ELSE CAST(ROUND(random() * 100, 1) AS "
        "VARCHAR) END AS m1, CASE WHEN random() < 0.5 THEN 'yes' ELSE 'no' END AS m18, "
        "['Monthly', 'Annual', 'Multi-year'][1 + CAST(floor(random() * 3) AS INT)] AS m19, "
        "CASE WHEN random() < 0.3 THEN 'Starter' ELSE 'Pro' END AS plan, "
        "['EMEA', 'AMER', 'APAC'][1 + CAST(floor(random() * 3) AS INT)] AS region "
        f"FROM range({rows}) t(i)) TO '{path}' (FORMAT parquet)")
    return time.perf_counter() - start


def case(kind: str, src: str, out: str, limit: str, spark_rows: int) -> dict:
    """One measured case in this process (run as a child)."""
    import datetime as dt
    import resource

    from chs_excel.core.model import model_from_dict
    model = model_from_dict(MODEL)
    day = dt.date(2026, 1, 1)
    start = time.perf_counter()
    if kind == "duckdb":
        from chs_excel.engines.duckdb_engine import parquet_to_parquet
        summary = parquet_to_parquet(model, src, Path(out), Path(out + ".issues.csv"),
                                     as_of=day, memory_limit=limit or None)
        rows = summary["accounts"]
    elif kind == "spark":
        from chs_excel.engines import spark_engine
        spark = spark_engine.session("local[*]")
        spark.sparkContext.setLogLevel("ERROR")
        started = time.perf_counter() - start
        table = spark.read.parquet(src).limit(spark_rows)
        table.createOrReplaceTempView("accounts")
        from chs_excel.engines.sql_compiler import compile_model
        sql = compile_model(model, "spark", columns=table.columns, as_of=day)
        start = time.perf_counter()
        spark.sql(sql.score).write.mode("overwrite").parquet(out + ".spark")
        rows = spark_rows
        return {"seconds": time.perf_counter() - start, "start": started, "rows": rows,
                "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    else:
        from chs_excel.engines.sql_compiler import compile_model
        compile_model(model, "spark")
        rows = 0
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": rows,
            "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def child(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                            text=True, cwd=ROOT, check=False)
    if result.returncode:
        return {"error": result.stderr.strip().splitlines()[-1][:120]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--spark-rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=5)
    args = parser.parse_args()
    if args.child:
        kind, src, out, limit, spark_rows = args.child
        print(json.dumps(case(kind, src, out, limit, int(spark_rows))))
        return
    with tempfile.TemporaryDirectory(prefix="chs-bench-") as folder:
        src = Path(folder) / "accounts.parquet"
        print(f"generating {args.rows:,} accounts x 20 metrics ...", file=sys.stderr)
        made = generate(src, args.rows)
        rows = [("generate Parquet (DuckDB)", args.rows, made, None, "")]
        print(f"  {made:.1f} s; chs sql ...", file=sys.stderr)
        r = child("sql", "", "", "", "0")
        rows.append(("chs sql (compile, spark)", 0, r.get("seconds"), r.get("rss_gb"),
                     r.get("error", "")))
        for label, limit in (("DuckDB Parquet -> Parquet", ""),
                             ("DuckDB, memory_limit 2GB", "2GB")):
            print(f"{label} ...", file=sys.stderr)
            r = child("duckdb", str(src), str(Path(folder) / "scores.parquet"), limit, "0")
            rows.append((label, r.get("rows", args.rows), r.get("seconds"), r.get("rss_gb"),
                         r.get("error", "")))
        if args.spark_rows:
            print("Spark local[*] ...", file=sys.stderr)
            r = child("spark", str(src), str(Path(folder) / "scores"), "", str(args.spark_rows))
            rows.append((f"Spark local[*] (start {r.get('start', 0):.0f} s)", args.spark_rows,
                         r.get("seconds"), r.get("rss_gb"), r.get("error", "")))
    print(f"{'case':<34} {'accounts':>12} {'seconds':>9} {'peak GB':>8}  note")
    for label, n, sec, gb, note in rows:
        print(f"{label:<34} {n:>12,} {sec if sec is None else round(sec, 2)!s:>9} "
              f"{'' if gb is None else round(gb, 2)!s:>8}  {note}")


if __name__ == "__main__":
    main()
