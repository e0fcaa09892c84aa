"""A small SQLite wrapper shared by both daemons: numbered migrations, named transactions.

Every daemon keeps its durable state in one SQLite file in its data directory. The schema
version lives in `PRAGMA user_version`; opening a file written by a newer version is refused
rather than guessed at. Calls block, so async code runs them with `asyncio.to_thread`; one
lock serializes them, which SQLite would do anyway for writers.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from mpcnode.errors import PreconditionFailed

log = logging.getLogger(__name__)


class Database:
    """One SQLite file with its migrations applied; use `transaction(name)` for every access."""

    def __init__(self, path: Path, migrations: Sequence[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self._lock = threading.Lock()
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a transaction takes
        # the write lock up front and read-check-write sequences cannot interleave.
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._migrate(migrations)

    def _migrate(self, migrations: Sequence[str]) -> None:
        current = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if current > len(migrations):
            raise PreconditionFailed(
                f"{self.path} has schema version {current}, newer than this software "
                f"({len(migrations)}); run the newer version or restore a backup"
            )
        for version, script in enumerate(migrations[current:], start=current + 1):
            with self.transaction(f"migrate to schema {version}") as conn:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version}")
            log.info("%s: migrated schema to version %d", self.path.name, version)

    @contextmanager
    def transaction(self, name: str) -> Iterator[sqlite3.Connection]:
        """Run a block in one IMMEDIATE transaction; roll back on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                log.debug("transaction %r rolled back", name)
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the file (after the daemon stopped serving)."""
        with self._lock:
            self._conn.close()
