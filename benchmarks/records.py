"""Computing one node's contribution from a records source of 10 million rows (issue 13).

Usage: python benchmarks/records.py [rows]   (default 10000000; about a minute in all)

Generates a payroll of `rows` rows (gender, level, salary, status) as CSV and as Parquet,
then, each in a fresh process so that its peak memory is its own, times:

- baseline: DuckDB reading the same file and summing one column (`SELECT sum(salary)`),
  the least any aggregation of it can cost on this machine;
- load: `mpcnode.records.load_records`, what `mpcnode load` runs in the node: the file's
  SHA-256, the filter, clipping and encoding every value, the unseen-category and missing-
  value checks, the 15 cohorts' count, sum and sum of squares;
- for a SQLite source, at a tenth of the rows: the query run in SQLite and its rows copied
  into DuckDB and hashed (a Python loop over rows: the path for databases, not files).

Prints seconds, rows per second, peak RSS and the ratio of load to baseline (same run, same
file: read the ratio, the machine is shared). Goal: 10^7 rows under 10 s and 1 GB. Asserts
nothing.
"""

from __future__ import annotations

import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from mpcnode.core.cohorts import CohortLayout, Group
from mpcnode.core.declaration import Declaration, Shape
from mpcnode.records.load import load_records
from mpcnode.records.source import RecordSource

LAYOUT = CohortLayout((Group("gender", ("f", "m", "x")), Group("level", tuple("12345"))))


def _declaration(rows: int) -> Declaration:
    return Declaration(
        "payroll", Shape.COHORTS, 0, 400_000, length=LAYOUT.size, groups=LAYOUT.groups,
        max_records=max(rows, 1),
    )  # fmt: skip


def generate(folder: Path, rows: int) -> dict[str, Path]:
    """The payroll as CSV, Parquet and (a tenth of it) SQLite."""
    select = (
        "SELECT ['f', 'm', 'x'][1 + CAST(hash(i) % 3 AS BIGINT)] AS gender, "
        "1 + CAST(hash(i * 7) % 5 AS BIGINT) AS level, "
        "CAST(30000 + CAST(hash(i * 13) % 170000 AS BIGINT) + 0.25 AS DOUBLE) AS salary, "
        "CASE WHEN hash(i * 17) % 25 = 0 THEN 'left' ELSE 'active' END AS status "
        f"FROM range({rows}) t(i)"
    )
    paths = {"csv": folder / "payroll.csv", "parquet": folder / "payroll.parquet"}
    duckdb.sql(f"COPY ({select}) TO '{paths['csv']}' (HEADER)")
    duckdb.sql(f"COPY ({select}) TO '{paths['parquet']}' (FORMAT parquet)")
    paths["sqlite"] = folder / "hr.db"
    db = sqlite3.connect(paths["sqlite"])
    db.execute("CREATE TABLE staff (gender TEXT, level INTEGER, salary REAL, status TEXT)")
    small = duckdb.execute(select.replace(f"range({rows})", f"range({max(rows // 10, 1)})"))
    db.executemany("INSERT INTO staff VALUES (?, ?, ?, ?)", small.fetchall())
    db.commit()
    db.close()
    return paths


def _measure(kind: str, path: str, rows: int) -> None:
    """In the child process: one measurement, printed as JSON."""
    started = time.perf_counter()
    if kind == "baseline":
        reader = "read_parquet" if path.endswith(".parquet") else "read_csv"
        con = duckdb.connect(config={"threads": 2})
        con.execute(f"SELECT sum(salary) FROM {reader}('{path}')").fetchall()
    else:
        source = {
            "csv": RecordSource(csv=Path(path), value="salary", filter="status = 'active'"),
            "parquet": RecordSource(
                parquet=Path(path), value="salary", filter="status = 'active'"
            ),
            "sqlite": RecordSource(
                sqlite=Path(path), query="SELECT * FROM staff WHERE status = 'active'",
                value="salary",
            ),
        }[kind]  # fmt: skip
        snapshot = load_records(source, _declaration(rows))
        assert snapshot.rows_used > 0.9 * rows, snapshot.text()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak}))


def _run(kind: str, path: Path, rows: int) -> dict[str, float]:
    done = subprocess.run(  # noqa: S603 (this very script, with our own arguments)
        [sys.executable, __file__, "--measure", kind, str(path), str(rows)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(rows: int) -> None:
    """Generate, measure, print."""
    with tempfile.TemporaryDirectory(prefix="mpcnode-bench-records-") as tmp:
        started = time.perf_counter()
        paths = generate(Path(tmp), rows)
        size = paths["csv"].stat().st_size / 2**20
        took = time.perf_counter() - started
        print(f"generated {rows} rows ({size:.0f} MiB of CSV) in {took:.1f} s")
        print(f"{'source':<10} {'rows':>10} {'baseline s':>11} {'load s':>8} {'rows/s':>11} "
              f"{'peak MiB':>9} {'load/baseline':>14}")  # fmt: skip
        for kind in ("csv", "parquet"):
            base = _run("baseline", paths[kind], rows)
            load = _run(kind, paths[kind], rows)
            print(
                f"{kind:<10} {rows:>10} {base['seconds']:>11.2f} {load['seconds']:>8.2f} "
                f"{rows / load['seconds']:>11.3g} {load['peak_mib']:>9.0f} "
                f"{load['seconds'] / base['seconds']:>14.2f}"
            )
        small = max(rows // 10, 1)
        load = _run("sqlite", paths["sqlite"], small)
        print(
            f"{'sqlite':<10} {small:>10} {'-':>11} {load['seconds']:>8.2f} "
            f"{small / load['seconds']:>11.3g} {load['peak_mib']:>9.0f} {'-':>14}"
        )
        print("goal: 10^7 rows under 10 s and under 1024 MiB (csv and parquet)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        _measure(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)
