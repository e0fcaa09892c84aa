"""Read a records source and aggregate it into the declared cohorts, in one DuckDB query.

Each row's value is clipped to the declaration's [lower, upper] and encoded on its own
(round(v * 2^f), halves away from zero), then counted, summed and squared into its cohort
(`mpcnode.core.cohorts`). A row whose group value is not a declared category, or whose
value is missing or not a finite number, is an error for the owner, never a new cohort and
never silently dropped: the layout is the declaration's, the same at every party.

Errors here go to the organization's own client (`mpcnode load`): they may name columns,
counts and unseen categories, as its own data is.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt

from mpcnode.core.cohorts import STATS
from mpcnode.core.declaration import Declaration, Shape
from mpcnode.errors import InvalidInput, NotFound
from mpcnode.records.databases import (
    BATCH_ROWS,
    copy_postgres,
    copy_sqlite,
    identifier,
    rows_sha256,
)
from mpcnode.records.source import RecordSource

_SHOWN_UNSEEN = 5
_NUMBER = r"[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?"


@dataclass(frozen=True)
class Snapshot:
    """A records source as aggregated once: the cohort vector and how to audit it.

    `sha256` is of the file's bytes (CSV, Parquet: `sha256sum` gives the same) or of the
    query's rows in the order returned, one JSON array per line (SQLite, DuckDB).
    """

    values: npt.NDArray[np.int64]
    rows_read: int
    rows_used: int
    clipped: int
    sha256: str
    source: str

    def text(self) -> str:
        """One line for the release record and the owner's listings."""
        return (
            f"{self.source}: {self.rows_used} of {self.rows_read} rows used, {self.clipped} "
            f"clipped, sha256 {self.sha256}"
        )


def load_records(
    source: RecordSource, decl: Declaration, threads: int = 2, memory_limit: str = "1GB"
) -> Snapshot:
    """Aggregate `source` into `decl`'s cohorts (blocking), or InvalidInput for the owner."""
    if decl.shape is not Shape.COHORTS:
        raise InvalidInput(f"dataset {decl.dataset!r} is not declared with shape = cohorts")
    if source.is_file and not source.path.is_file():
        raise NotFound(f"records source {source.kind} {source.path}: no such file")
    con = duckdb.connect(
        ":memory:",
        config={
            "threads": threads,
            "memory_limit": memory_limit,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        },
    )
    try:
        _single_statements(source)
        _sandbox(con, source)
        relation, digest = _relation(con, source, decl)
        grouped = _grouped(con, relation, source, decl)
        if source.kind in ("csv", "parquet") and _file_sha256(source.path) != digest:
            raise InvalidInput(
                f"records source {source.describe()}: the file changed while it was read; "
                "load it again once it is written"
            )
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"records source {source.describe()}: {first}") from None
    finally:
        con.close()
    values, rows_read, rows_used, clipped = _cohort_vector(grouped, source, decl)
    return Snapshot(values, rows_read, rows_used, clipped, digest, f"{source.kind} {source.where}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _single_statements(source: RecordSource) -> None:
    """The filter is one expression and a DuckDB query one SELECT, nothing after them.

    Both are pasted into the aggregation's SQL; a `;` (or a closing parenthesis and a clause)
    in either would otherwise run statements of its own, such as a COPY over the source.
    """
    checks = []
    if source.filter:
        checks.append(("filter", f"SELECT COALESCE(({source.filter}), false)"))
    if source.kind == "duckdb":
        checks.append(("query", f"SELECT * FROM ({source.query})"))
    for name, sql in checks:
        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error as exc:
            raise InvalidInput(f"records source {name}: {str(exc).splitlines()[0]}") from None
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            what = "one SQL condition" if name == "filter" else "one SELECT statement"
            raise InvalidInput(f"records source {name} must be {what}, with nothing after it")


def _sandbox(con: duckdb.DuckDBPyConnection, source: RecordSource) -> None:
    """Let the engine read the source's own file(s) and nothing else, for good.

    The filter and the query are the organization's trusted SQL, but a mistyped one should
    not read, write or fetch anything else on the node's machine.
    """
    allowed = [str(source.path)] if source.kind in ("csv", "parquet", "duckdb") else []
    if source.kind == "duckdb":
        allowed.append(f"{source.path}.wal")
    con.execute(f"SET allowed_paths = [{', '.join(_literal(p) for p in allowed)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _relation(
    con: duckdb.DuckDBPyConnection, source: RecordSource, decl: Declaration
) -> tuple[str, str]:
    """The rows as a DuckDB relation (SQL text), and their fingerprint."""
    path = source.path
    if source.kind == "csv":
        # Read the value and the group columns as the text in the file: a sniffed type would
        # round later decimals to a column sniffed as integers, or move "2.7" into level 3.
        text = [source.value, *(g.column for g in decl.groups)]
        types = ", ".join(f"{_literal(c)}: 'VARCHAR'" for c in dict.fromkeys(text))
        relation = f"read_csv({_literal(str(path))}, header = true, types = {{{types}}})"
        return relation, _file_sha256(path)
    if source.kind == "parquet":
        return f"read_parquet({_literal(str(path))})", _file_sha256(path)
    if source.kind == "duckdb":
        con.execute(f"ATTACH {_literal(str(path))} AS records (READ_ONLY)")
        # Run once: the rows hashed are the rows aggregated, whatever the query's order.
        con.execute("USE records")
        con.execute(f"CREATE TEMP TABLE records_rows AS SELECT * FROM ({source.query})")
        con.execute("USE memory")
        con.execute("DETACH records")
        cursor = con.execute("SELECT * FROM records_rows")
        digest = rows_sha256(iter(lambda: cursor.fetchmany(BATCH_ROWS), []))
        return "records_rows", digest
    if source.kind == "postgres":
        return "records_rows", copy_postgres(con, source)
    return "records_rows", copy_sqlite(con, source)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _grouped(
    con: duckdb.DuckDBPyConnection, relation: str, source: RecordSource, decl: Declaration
) -> list[tuple[Any, ...]]:
    """One scan: per (used, group values): rows, bad values, clipped, count, sum, squares."""
    scale = float(1 << decl.fractional_bits)
    lower, upper = float(decl.lower), float(decl.upper)
    groups = [f"CAST({identifier(g.column)} AS VARCHAR)" for g in decl.groups]
    used = f"COALESCE(({source.filter}), false)" if source.filter else "true"
    column = identifier(source.value)
    # Text must be a plain decimal number ('.' for the point, no thousands separators):
    # DuckDB would read "1_000" as 1000, and "50.000" is 50 however it was meant.
    text = f"trim(CAST({column} AS VARCHAR))"
    value = (
        f"CASE WHEN typeof({column}) <> 'VARCHAR' THEN TRY_CAST({column} AS DOUBLE) "
        f"WHEN regexp_full_match({text}, '{_NUMBER}') THEN TRY_CAST({text} AS DOUBLE) END"
    )
    sql = f"""
        WITH rows AS (
            SELECT {used} AS used, {", ".join(f"{g} AS g{i}" for i, g in enumerate(groups))},
                   {value} AS v
            FROM {relation}
        ), encoded AS (
            SELECT *, CASE WHEN isfinite(v) THEN
                CAST(round(least(greatest(v, {lower!r}), {upper!r}) * {scale!r}) AS HUGEINT)
            END AS e
            FROM rows
        )
        SELECT used, {", ".join(f"g{i}" for i in range(len(groups)))},
               count(*),
               count(*) FILTER (WHERE v IS NULL OR NOT isfinite(v)),
               count(*) FILTER (WHERE v < {lower!r} OR v > {upper!r}),
               sum(e), sum(e * e)
        FROM encoded
        GROUP BY ALL
    """
    return con.execute(sql).fetchall()


def _cohort_vector(
    grouped: list[tuple[Any, ...]], source: RecordSource, decl: Declaration
) -> tuple[npt.NDArray[np.int64], int, int, int]:
    layout, size = decl.layout, decl.length
    # Row-major, the last group fastest: the order of `CohortLayout.labels`.
    combos = itertools.product(*(g.categories for g in layout.groups))
    index = {combo: i for i, combo in enumerate(combos)}
    cells: list[tuple[int, int, int, int]] = []
    rows_read = rows_used = clipped = bad = 0
    unseen: dict[str, int] = {}
    k = len(layout.groups)
    for row in grouped:
        used, keys, (rows, invalid, over, total, squares) = row[0], row[1 : 1 + k], row[1 + k :]
        rows_read += rows
        if not used:
            continue
        rows_used += rows
        cohort = index.get(tuple(keys))
        if cohort is None:
            label = ",".join(
                f"{g.column}={'<empty>' if v is None else v}"
                for g, v in zip(layout.groups, keys, strict=True)
            )
            unseen[label] = unseen.get(label, 0) + rows
            continue
        bad += invalid
        clipped += over
        cells.append((cohort, rows, int(total or 0), int(squares or 0)))
    where = f"records source {source.describe()}"
    if unseen:
        shown = ", ".join(f"{label} ({n} rows)" for label, n in list(unseen.items())[:5])
        more = f" and {len(unseen) - 5} more" if len(unseen) > _SHOWN_UNSEEN else ""
        raise InvalidInput(
            f"{where}: rows in cohorts the declaration does not list: {shown}{more}. Declare "
            f"the categories in [datasets.{decl.dataset}.groups], fix the rows, or filter "
            "them out"
        )
    if bad:
        raise InvalidInput(
            f"{where}: {bad} used rows have no numeric value in column {source.value!r} "
            "(empty, not a number, or infinite); fix them or filter them out"
        )
    if rows_used > decl.max_records:
        raise InvalidInput(
            f"{where}: {rows_used} rows are used, more than the declared max_records "
            f"{decl.max_records}; raise max_records (a new period) or filter"
        )
    # Filled only now: within max_records, the declaration bounds every total to int64.
    vector = np.zeros(len(STATS) * size, dtype=np.int64)
    for cohort, rows, total, squares in cells:
        vector[cohort], vector[size + cohort], vector[2 * size + cohort] = rows, total, squares
    return vector, rows_read, rows_used, clipped
