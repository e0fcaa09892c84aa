"""Rows from a database the organization already has (SQLite, PostgreSQL), into DuckDB.

The query runs in the organization's own database, read-only; its rows are copied, as text,
into the in-memory DuckDB table `records_rows`, where the aggregation runs as for a file,
and hashed on the way (one JSON array per row, in the order the query returns them). Text,
because typing batch by batch would make one batch integers and the next decimals: the
value is cast to a number in the aggregation, and a group value is compared as the text
the database returns (1 for an integer, 1.0 for a real).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import numpy as np

from mpcnode.errors import InvalidInput, PreconditionFailed
from mpcnode.records.source import RecordSource

BATCH_ROWS = 65_536
_CONNECT_TIMEOUT_S = 15


def rows_sha256(batches: Iterable[Sequence[Any]]) -> str:
    """SHA-256 over rows, one JSON array per line (what a SQL source's snapshot cites)."""
    digest = hashlib.sha256()
    for batch in batches:
        _hash_rows(digest, batch)
    return digest.hexdigest()


def _hash_rows(digest: Any, batch: Sequence[Sequence[Any]]) -> None:
    for row in batch:
        digest.update(json.dumps(list(row), default=str).encode() + b"\n")


def identifier(name: str) -> str:
    """`name` quoted as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _copy_rows(
    con: duckdb.DuckDBPyConnection,
    source: RecordSource,
    names: Sequence[str],
    batches: Iterable[Sequence[Sequence[Any]]],
) -> str:
    if not names:
        raise InvalidInput(f"records source {source.describe()}: the query returns no columns")
    columns_sql = ", ".join(f"{identifier(n)} VARCHAR" for n in names)
    con.execute(f"CREATE TABLE records_rows ({columns_sql})")
    digest = hashlib.sha256()
    for batch in batches:
        _hash_rows(digest, batch)
        columns = list(zip(*batch, strict=True))
        frame = {
            n: np.array([None if v is None else str(v) for v in c], dtype=object)
            for n, c in zip(names, columns, strict=True)
        }
        con.register("records_batch", frame)
        con.execute("INSERT INTO records_rows SELECT * FROM records_batch")
        con.unregister("records_batch")
    return digest.hexdigest()


_READ_ACTIONS = frozenset(
    getattr(sqlite3, name)
    for name in ("SQLITE_SELECT", "SQLITE_READ", "SQLITE_FUNCTION", "SQLITE_RECURSIVE")
    if hasattr(sqlite3, name)
)


def _read_only(action: int, *_: str | None) -> int:
    return sqlite3.SQLITE_OK if action in _READ_ACTIONS else sqlite3.SQLITE_DENY


def copy_sqlite(con: duckdb.DuckDBPyConnection, source: RecordSource) -> str:
    """Run the query in SQLite, opened read-only, and copy its rows; their SHA-256."""
    try:
        # as_uri() escapes '#' and '?': a path with them must not drop the read-only mode.
        db = sqlite3.connect(f"{source.path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InvalidInput(f"records source {source.describe()}: {exc}") from None
    # mode=ro covers the main file only: no ATTACH of another file, and nothing but reading
    # (no VACUUM INTO, no PRAGMA, no write through a trigger) is authorized.
    db.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    db.set_authorizer(_read_only)
    try:
        cursor = db.execute(source.query)
        names = [d[0] for d in cursor.description or ()]
        return _copy_rows(con, source, names, iter(lambda: cursor.fetchmany(BATCH_ROWS), []))
    except sqlite3.Error as exc:
        raise InvalidInput(f"records source {source.describe()}: {exc}") from None
    finally:
        db.close()


def copy_postgres(con: duckdb.DuckDBPyConnection, source: RecordSource) -> str:
    """Run the query in PostgreSQL in a read-only transaction, streaming its rows through a
    server-side cursor, and copy them; their SHA-256."""
    try:
        import psycopg  # noqa: PLC0415 (an optional dependency: mpcnode[postgres])
    except ImportError:
        raise PreconditionFailed(
            "a postgres records source needs psycopg: pip install 'mpcnode[postgres]'"
        ) from None
    try:
        with (
            psycopg.connect(
                str(source.postgres),
                connect_timeout=_CONNECT_TIMEOUT_S,
                options="-c default_transaction_read_only=on",
                application_name="mpcnode",
            ) as db,
            db.cursor(name="mpcnode_records") as cursor,
        ):
            cursor.itersize = BATCH_ROWS
            cursor.execute(source.query)
            names = [d.name for d in cursor.description or ()]
            return _copy_rows(con, source, names, iter(lambda: cursor.fetchmany(BATCH_ROWS), []))
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"records source {source.describe()}: {first}") from None
