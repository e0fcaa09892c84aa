"""The coordinator's records: the schema of its SQLite file and the rows as typed objects.

Plain data and the mapping between rows and objects; `coordinator.store` runs the queries.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mpcnode.core.spec import ComputationSpec, spec_from_canonical

MIGRATIONS = (
    """
    CREATE TABLE computations (
        id TEXT PRIMARY KEY,
        spec BLOB NOT NULL,
        parties TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        attempts INTEGER NOT NULL DEFAULT 0,
        participants TEXT NOT NULL DEFAULT '[]',
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE TABLE rounds (
        round_id BLOB PRIMARY KEY,
        computation_id TEXT NOT NULL REFERENCES computations (id),
        attempt INTEGER NOT NULL,
        participants TEXT NOT NULL,
        deadline_ms INTEGER NOT NULL,
        phase TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        updated_ms INTEGER NOT NULL
    );
    CREATE TABLE events (
        computation_id TEXT NOT NULL REFERENCES computations (id),
        seq INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (computation_id, seq)
    );
    CREATE TABLE outputs (
        computation_id TEXT NOT NULL REFERENCES computations (id),
        idx INTEGER NOT NULL,
        name TEXT NOT NULL,
        dtype TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (computation_id, idx)
    )
    """,
    # 2: the invited parties a retry went on without, and why ({"bob": "round ... : ..."}).
    "ALTER TABLE computations ADD COLUMN dropped TEXT NOT NULL DEFAULT '{}'",
)
COMPUTATION_COLUMNS = (
    "id, spec, parties, state, reason, attempts, participants, created_ms, updated_ms, dropped"
)
TERMINAL_STATES = ("published", "failed")
TERMINAL_PHASES = ("published", "aborted")


@dataclass(frozen=True)
class Computation:
    """A computation and where it stands."""

    id: str
    spec: ComputationSpec
    parties: tuple[str, ...]
    state: str  # pending | running | published | failed
    reason: str
    attempts: int
    participants: tuple[str, ...]
    created_ms: int
    updated_ms: int
    # Invited parties a retry went on without, each with the abort that dropped it.
    dropped: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Event:
    """One step of a computation, as WatchComputation streams it."""

    seq: int
    round_id: bytes
    attempt: int
    phase: str
    state: str
    participants: tuple[str, ...]
    party: str
    message: str
    unix_ms: int


Notice = tuple[str, Event]
"""An event of a computation (its id, the event) to append with another write."""


@dataclass(frozen=True)
class Output:
    """One named output of a result (e.g. "sum", "mean", "counts")."""

    name: str
    values: npt.NDArray[np.int64] | npt.NDArray[np.float64]


@dataclass(frozen=True)
class StoredResult:
    """A published result: the round it came from and its outputs."""

    computation: Computation
    round_id: bytes
    outputs: tuple[Output, ...]


def insert_event(conn: sqlite3.Connection, cid: str, event: Event) -> Event:
    seq = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE computation_id = ?", (cid,)
    ).fetchone()[0]
    stored = Event(seq, *_event_fields(event))
    conn.execute(
        "INSERT INTO events (computation_id, seq, body) VALUES (?, ?, ?)",
        (cid, seq, json.dumps(_event_doc(stored))),
    )
    return stored


def computation_of(row: Any) -> Computation:
    """A row of `SELECT {COMPUTATION_COLUMNS} FROM computations` as a Computation."""
    return Computation(
        id=str(row[0]),
        spec=spec_from_canonical(bytes(row[1])),
        parties=tuple(json.loads(str(row[2]))),
        state=str(row[3]),
        reason=str(row[4]),
        attempts=int(row[5]),
        participants=tuple(json.loads(str(row[6]))),
        created_ms=int(row[7]),
        updated_ms=int(row[8]),
        dropped=tuple(json.loads(str(row[9])).items()),
    )


def _event_fields(e: Event) -> tuple[bytes, int, str, str, tuple[str, ...], str, str, int]:
    return (e.round_id, e.attempt, e.phase, e.state, e.participants, e.party, e.message, e.unix_ms)


def _event_doc(e: Event) -> dict[str, object]:
    return {
        "seq": e.seq,
        "round_id": e.round_id.hex(),
        "attempt": e.attempt,
        "phase": e.phase,
        "state": e.state,
        "participants": list(e.participants),
        "party": e.party,
        "message": e.message,
        "unix_ms": e.unix_ms,
    }


def event_from_doc(d: Any) -> Event:
    return Event(
        seq=int(d["seq"]),
        round_id=bytes.fromhex(str(d["round_id"])),
        attempt=int(d["attempt"]),
        phase=str(d["phase"]),
        state=str(d["state"]),
        participants=tuple(d["participants"]),
        party=str(d["party"]),
        message=str(d["message"]),
        unix_ms=int(d["unix_ms"]),
    )
