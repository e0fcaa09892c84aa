"""Records in: a node computes its cohort contribution from its organization's own records.

An edge package (issue 13): it reads a CSV or Parquet file, or runs a SQL query against a
SQLite or DuckDB database, and aggregates the rows with DuckDB, an embedded analytical
engine, so that a payroll of millions of rows is one query, not a Python loop. What it
computes is checked against the declaration again before the node stores it.
"""
