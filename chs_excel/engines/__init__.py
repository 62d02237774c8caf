"""Engines beyond pandas: the model compiled to SQL, run by DuckDB or Spark (docs/engines.md)."""
