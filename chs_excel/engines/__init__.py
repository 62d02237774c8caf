"""Engines besides the pandas reference: DuckDB in process (signals), proven equal to it."""
