"""The coordinator's durable state: computations, rounds, their events, and results.

Every phase transition is written before the step it announces is taken, so a restart
finds each round either terminal or knowably interrupted (`recover_interrupted`), and a
result is written in the same transaction that marks its computation published: a
published result cannot be lost and an unpublished one cannot be half-written.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mpcnode.core.spec import ComputationSpec, spec_from_canonical
from mpcnode.errors import NotFound, PreconditionFailed, shown
from mpcnode.sqlite import Database, read_array, write_array

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


def _now_ms() -> int:
    return int(time.time() * 1000)


class CoordinatorStore:
    """Typed access to `<data_dir>/coordinator.sqlite3`."""

    def __init__(self, data_dir: Path) -> None:
        self._db = Database(data_dir / "coordinator.sqlite3", MIGRATIONS)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def create(self, cid: str, spec: ComputationSpec, parties: tuple[str, ...]) -> None:
        """Record a new pending computation."""
        now = _now_ms()
        with self._db.transaction("create computation") as conn:
            conn.execute(
                "INSERT INTO computations (id, spec, parties, state, created_ms, updated_ms) "
                "VALUES (?, ?, ?, 'pending', ?, ?)",
                (cid, spec.canonical_bytes(), json.dumps(parties), now, now),
            )

    def get(self, cid: str) -> Computation:
        """A computation, or NotFound."""
        with self._db.transaction("get computation") as conn:
            row = conn.execute(
                "SELECT id, spec, parties, state, reason, attempts, participants, created_ms, "
                "updated_ms FROM computations WHERE id = ?",
                (cid,),
            ).fetchone()
        if row is None:
            raise NotFound(f"no computation {shown(cid)} on this coordinator")
        return _computation(row)

    def recent(self, limit: int) -> list[Computation]:
        """The newest computations first."""
        with self._db.transaction("list computations") as conn:
            rows = conn.execute(
                "SELECT id, spec, parties, state, reason, attempts, participants, created_ms, "
                "updated_ms FROM computations ORDER BY created_ms DESC, id LIMIT ?",
                (limit,),
            ).fetchall()
        return [_computation(r) for r in rows]

    def unfinished(self) -> list[Computation]:
        """Computations neither published nor failed (to resume after a restart)."""
        with self._db.transaction("unfinished computations") as conn:
            rows = conn.execute(
                "SELECT id, spec, parties, state, reason, attempts, participants, created_ms, "
                "updated_ms FROM computations WHERE state NOT IN (?, ?) ORDER BY created_ms",
                TERMINAL_STATES,
            ).fetchall()
        return [_computation(r) for r in rows]

    def begin_round(
        self,
        cid: str,
        round_id: bytes,
        attempt: int,
        participants: tuple[str, ...],
        deadline_ms: int,
        notice: Notice | None = None,
    ) -> None:
        """Record a new round in phase prepare; the computation becomes running.

        `notice` (the round's "prepare" event) is appended in the same transaction.
        """
        now = _now_ms()
        with self._db.transaction("begin round", durable=False) as conn:
            conn.execute(
                "INSERT INTO rounds (round_id, computation_id, attempt, participants, "
                "deadline_ms, phase, updated_ms) VALUES (?, ?, ?, ?, ?, 'prepare', ?)",
                (round_id, cid, attempt, json.dumps(participants), deadline_ms, now),
            )
            conn.execute(
                "UPDATE computations SET state = 'running', attempts = ?, participants = ?, "
                "updated_ms = ? WHERE id = ?",
                (attempt, json.dumps(participants), now, cid),
            )
            if notice is not None:
                _insert_event(conn, *notice)

    def set_phase(
        self, round_id: bytes, phase: str, reason: str = "", notice: Notice | None = None
    ) -> None:
        """Move a round to its next phase (persisted before the phase's step is taken).

        `notice` is the event that says so, appended in the same transaction. Not durable:
        after a power cut, recovery aborts the round whatever phase it reached.
        """
        with self._db.transaction(f"round to {phase}", durable=False) as conn:
            conn.execute(
                "UPDATE rounds SET phase = ?, reason = ?, updated_ms = ? WHERE round_id = ?",
                (phase, reason, _now_ms(), round_id),
            )
            if notice is not None:
                _insert_event(conn, *notice)

    def interrupted_rounds(self, cid: str) -> list[tuple[bytes, tuple[str, ...], str]]:
        """Rounds of a computation left in a running phase: (round_id, participants, phase)."""
        with self._db.transaction("interrupted rounds") as conn:
            rows = conn.execute(
                "SELECT round_id, participants, phase FROM rounds WHERE computation_id = ? "
                "AND phase NOT IN (?, ?)",
                (cid, *TERMINAL_PHASES),
            ).fetchall()
        return [(r[0], tuple(json.loads(r[1])), r[2]) for r in rows]

    def fail(self, cid: str, reason: str, event: Event | None = None) -> None:
        """Mark a computation failed with a reason naming the party and phase.

        `event` (the terminal one) is appended in the same durable transaction, so whoever
        watches after a crash sees the end it describes.
        """
        with self._db.transaction("fail computation") as conn:
            conn.execute(
                "UPDATE computations SET state = 'failed', reason = ?, updated_ms = ? WHERE id = ?",
                (reason, _now_ms(), cid),
            )
            if event is not None:
                _insert_event(conn, cid, event)

    def publish(
        self, cid: str, round_id: bytes, outputs: tuple[Output, ...], event: Event | None = None
    ) -> None:
        """Store the outputs and mark round and computation published, atomically.

        `event` (the "published" one) is appended in the same durable transaction.
        """
        now = _now_ms()
        with self._db.transaction("publish result") as conn:
            state = conn.execute("SELECT state FROM computations WHERE id = ?", (cid,)).fetchone()
            if state is None or state[0] in TERMINAL_STATES:
                raise PreconditionFailed(f"computation {cid} is already {state and state[0]}")
            for idx, out in enumerate(outputs):
                cursor = conn.execute(
                    "INSERT INTO outputs (computation_id, idx, name, dtype, data) "
                    "VALUES (?, ?, ?, ?, zeroblob(?))",
                    (cid, idx, out.name, out.values.dtype.name, out.values.nbytes),
                )
                write_array(conn, "outputs", int(cursor.lastrowid or 0), out.values)
            conn.execute(
                "UPDATE rounds SET phase = 'published', updated_ms = ? WHERE round_id = ?",
                (now, round_id),
            )
            conn.execute(
                "UPDATE computations SET state = 'published', updated_ms = ? WHERE id = ?",
                (now, cid),
            )
            if event is not None:
                _insert_event(conn, cid, event)

    def result(self, cid: str) -> StoredResult:
        """The published result, or FAILED_PRECONDITION saying where the computation is."""
        comp = self.get(cid)
        if comp.state != "published":
            why = f": {comp.reason}" if comp.reason else ""
            raise PreconditionFailed(f"computation {cid} is {comp.state}, not published{why}")
        with self._db.transaction("read result") as conn:
            rows = conn.execute(
                "SELECT name, dtype, length(data), rowid FROM outputs WHERE computation_id = ? "
                "ORDER BY idx",
                (cid,),
            ).fetchall()
            arrays = [
                read_array(conn, "outputs", r[3], r[1], r[2] // np.dtype(r[1]).itemsize)
                for r in rows
            ]
            round_row = conn.execute(
                "SELECT round_id FROM rounds WHERE computation_id = ? AND phase = 'published'",
                (cid,),
            ).fetchone()
        outputs = tuple(Output(r[0], a) for r, a in zip(rows, arrays, strict=True))
        return StoredResult(comp, round_row[0], outputs)

    def add_event(self, cid: str, event: Event) -> Event:
        """Append an event, assigning the next sequence number."""
        with self._db.transaction("add event", durable=False) as conn:
            return _insert_event(conn, cid, event)

    def events_after(self, cid: str, seq: int) -> list[Event]:
        """Events of a computation with a sequence number above `seq`, in order."""
        with self._db.transaction("read events") as conn:
            rows = conn.execute(
                "SELECT body FROM events WHERE computation_id = ? AND seq > ? ORDER BY seq",
                (cid, seq),
            ).fetchall()
        return [_event_from_doc(json.loads(r[0])) for r in rows]


def _insert_event(conn: sqlite3.Connection, cid: str, event: Event) -> Event:
    seq = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE computation_id = ?", (cid,)
    ).fetchone()[0]
    stored = Event(seq, *_event_fields(event))
    conn.execute(
        "INSERT INTO events (computation_id, seq, body) VALUES (?, ?, ?)",
        (cid, seq, json.dumps(_event_doc(stored))),
    )
    return stored


def _computation(row: Any) -> Computation:
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


def _event_from_doc(d: Any) -> Event:
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
