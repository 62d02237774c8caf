"""Engines besides the pandas reference: the model compiled to SQL, run by DuckDB (signals
and scoring) or Spark, proven equal to it (docs/engines.md, docs/signals.md)."""
