"""A small SQLite wrapper shared by both daemons: numbered migrations, named transactions.

Every daemon keeps its durable state in one SQLite file in its data directory. The schema
version lives in `PRAGMA user_version`; opening a file written by a newer version is refused
rather than guessed at. Calls block, so async code runs them with `asyncio.to_thread`; one
lock serializes them, which SQLite would do anyway for writers.

Durability. The journal is a WAL. A transaction is `durable` (the default) when its commit
must survive a power loss: SQLite then syncs the WAL at commit (`synchronous=FULL`). The few
writes whose loss at a power cut harms nothing (a budget hold, which every start-up drops; a
coordinator's phase change or progress event, which recovery supersedes by aborting the
round) pass `durable=False` and commit with `synchronous=NORMAL`: still atomic and safe
against a crash of the process, but the WAL is synced at the next durable commit or
checkpoint instead. A durable commit also makes every earlier commit durable.

The file is private: created (or tightened) to mode 0600 before SQLite opens it, whatever
the umask, and SQLite gives its -wal and -shm files the database file's mode. The data
directory is created 0700; `mpcnode.at_rest` refuses to start a daemon whose directory or
key is open to group or others.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mpcnode.errors import PreconditionFailed

log = logging.getLogger(__name__)
# A migration is a SQL script (statements separated by ";") or a function run on the open
# transaction, for data that SQL alone cannot move.
Migration = str | Callable[[sqlite3.Connection], None]
PAGE_SIZE = 32768
WAL_CHECKPOINT_PAGES = 256
WAL_LIMIT_BYTES = 16 << 20


class Database:
    """One SQLite file with its migrations applied; use `transaction(name)` for every access."""

    def __init__(self, path: Path, migrations: Sequence[Migration]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self._lock = threading.Lock()
        _make_private(path)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a transaction takes
        # the write lock up front and read-check-write sequences cannot interleave.
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # Inputs and results are blobs of up to 80 MB: with 32 KiB pages SQLite writes an
        # 8 MB blob 3x faster and reads it 5x faster than with the default 4 KiB, for the
        # same cost per small commit. Takes effect on a new file only (before the first
        # table); an older file keeps its page size and works as before.
        self._conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        self._conn.execute("PRAGMA journal_mode=WAL")
        # A -wal or -shm left by an older version (or a crash) keeps its old mode: tighten it.
        for suffix in ("-wal", "-shm"):
            sidecar = path.with_name(path.name + suffix)
            if sidecar.exists():
                _make_private(sidecar)
        self._conn.execute("PRAGMA synchronous=FULL")
        self._durable = True
        # A bounded WAL: checkpoint every 256 pages (8 MiB), and truncate the file back to
        # 16 MiB after a checkpoint (a 10^7-element input alone passes 80 MB through it).
        self._conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        self._conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._migrate(migrations)

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        current = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if current > len(migrations):
            raise PreconditionFailed(
                f"{self.path} has schema version {current}, newer than this software "
                f"({len(migrations)}); run the newer version or restore a backup"
            )
        for version, script in enumerate(migrations[current:], start=current + 1):
            with self.transaction(f"migrate to schema {version}") as conn:
                if callable(script):  # a data migration written in Python
                    script(conn)
                    conn.execute(f"PRAGMA user_version = {version}")
                    continue
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version}")
            log.info("%s: migrated schema to version %d", self.path.name, version)

    @contextmanager
    def transaction(self, name: str, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """Run a block in one IMMEDIATE transaction; roll back on any exception.

        `durable=False` only for writes whose loss at a power cut is harmless (module doc).
        """
        with self._lock:
            if durable != self._durable:  # only between transactions, as SQLite requires
                self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self._durable = durable
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


def _make_private(path: Path) -> None:
    """Make `path` exist with mode exactly 0600, never more open on the way.

    A new file is born with at most 0600 (the umask can only remove bits) and then set to
    0600 exactly, so an odd umask cannot leave it unwritable; an existing file is tightened.
    The process umask is never changed (that would race with every other thread).
    """
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


_BLOB_STEP = 1 << 20


def write_array(conn: sqlite3.Connection, table: str, rowid: int, array: npt.NDArray[Any]) -> None:
    """Write `array`'s little-endian bytes into the `data` blob of a row made with
    `zeroblob(nbytes)`, 1 MiB at a time.

    Binding a large blob as a parameter instead leaves SQLite's copy of it attached to the
    cached statement (sqlite3 resets statements but does not clear their bindings): a node
    kept 80 MB per 10^7-element input that way.
    """
    data = np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<"), copy=False))
    raw = data.view(np.uint8)
    with conn.blobopen(table, "data", rowid) as blob:
        for offset in range(0, raw.shape[0], _BLOB_STEP):
            blob.write(raw[offset : offset + _BLOB_STEP].data)


def read_array(
    conn: sqlite3.Connection, table: str, rowid: int, dtype: str, length: int
) -> npt.NDArray[Any]:
    """Read the `data` blob of a row into a new array of `length` `dtype` elements, 1 MiB at a
    time (one copy of the data, not the two of fetching it as a column)."""
    out = np.empty(length, dtype=np.dtype(dtype).newbyteorder("<"))
    raw = out.view(np.uint8)
    with conn.blobopen(table, "data", rowid, readonly=True) as blob:
        if len(blob) != raw.shape[0]:
            raise PreconditionFailed(
                f"{table} row {rowid}: the stored blob has {len(blob)} bytes, not the "
                f"{raw.shape[0]} its length says; the file is damaged"
            )
        for offset in range(0, raw.shape[0], _BLOB_STEP):
            raw[offset : offset + _BLOB_STEP] = np.frombuffer(blob.read(_BLOB_STEP), np.uint8)
    return out.astype(dtype, copy=False)
