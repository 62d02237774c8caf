"""The Spark engine: the compiled model (`sql_compiler`, dialect spark) run by Spark SQL,
locally (`local[*]`) or on a cluster (docs/engines.md). Needs `pip install
"chs-excel[spark]"` and Java."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from chs_excel.core.engine import Scoring
from chs_excel.core.errors import ChsError, InputError
from chs_excel.core.model import Model
from chs_excel.engines.duckdb_engine import check_columns, finish, sql_column_of, text_frame
from chs_excel.engines.sql_compiler import compile_model

# Spark's optimiser inlines each CTE's expressions into the next (CollapseProject) and
# pushes the quartile filter through them, so a 20-metric query grows past the 64 KB of
# generated code a method may hold and runs interpreted (minutes instead of seconds);
# whole-stage code generation is off for the same reason.
EXCLUDED_RULES = ",".join(f"org.apache.spark.sql.catalyst.optimizer.{rule}" for rule in
                          ("CollapseProject", "PushPredicateThroughNonJoin"))


def session(master: str | None = None) -> Any:
    """The active SparkSession, or a new one on `master` (default `local[*]`)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ChsError('the spark engine needs pyspark: pip install "chs-excel[spark]" '
                       "(and Java)") from None
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    return (SparkSession.builder.master(master or "local[*]").appName("chs-excel")
            .config("spark.sql.shuffle.partitions", "8")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.optimizer.excludedRules", EXCLUDED_RULES)
            .config("spark.sql.codegen.wholeStage", "false").getOrCreate())


def score(model: Model, accounts: pd.DataFrame | str | Path, *, as_of: dt.date | None = None,
          strict: bool = False, spark: Any = None, master: str | None = None) -> Scoring:
    """Score `accounts` (a frame, a csv/Parquet path, or a table name) with Spark SQL."""
    spark = spark or session(master)
    as_of = as_of or dt.date.today()
    if isinstance(accounts, pd.DataFrame):
        frame = text_frame(accounts)
        frame["_row"] = accounts.index.to_numpy()
        table = spark.createDataFrame(frame.astype(object).where(frame.notna(), None)
                                      .astype({"_row": "int64"}))
    else:
        text = str(accounts)
        if text.lower().endswith(".parquet"):
            table = spark.read.parquet(text)
        elif text.lower().endswith(".csv"):
            table = spark.read.option("header", True).csv(text)
        else:
            table = spark.table(text)
        from pyspark.sql import functions as F
        table = table.withColumn("_row", F.monotonically_increasing_id() + 2)
        table = table.toDF(*[c if c == "_row" else sql_column_of(c) for c in table.columns])
    check_columns(model, list(table.columns))
    table.createOrReplaceTempView("accounts")
    compiled = compile_model(model, "spark", columns=list(table.columns), as_of=as_of,
                             carry=("_row",))
    ids = spark.sql("SELECT COUNT(*) - COUNT(DISTINCT account_id), "
                    "COUNT_IF(NULLIF(TRIM(CAST(account_id AS STRING)), '') IS NULL) "
                    "FROM accounts").collect()[0]
    if ids[1]:
        raise InputError(f"column 'account_id': {ids[1]} blank account id(s); every account "
                         "needs an id")
    if ids[0]:
        raise InputError(f"column 'account_id': account ids must be unique ({ids[0]} "
                         "repeated)")
    scores = spark.sql(compiled.score).toPandas().sort_values("_row", kind="stable")
    issues = spark.sql(f"SELECT _row AS row, * FROM ({compiled.issues})").toPandas()
    return finish(scores, issues, strict)
