"""The coordinator's durable state: computations, rounds, their events, and results.

Every phase transition is written before the step it announces is taken, so a restart
finds each round either terminal or knowably interrupted (`recover_interrupted`), and a
result is written in the same transaction that marks its computation published: a
published result cannot be lost and an unpublished one cannot be half-written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from coordinator.records import (
    COMPUTATION_COLUMNS,
    MIGRATIONS,
    TERMINAL_PHASES,
    TERMINAL_STATES,
    Computation,
    Event,
    Notice,
    Output,
    StoredResult,
    computation_of,
    event_from_doc,
    insert_event,
)
from mpcnode.core.spec import ComputationSpec
from mpcnode.errors import NotFound, PreconditionFailed, shown
from mpcnode.sqlite import Database, read_array, write_array

__all__ = ["Computation", "CoordinatorStore", "Event", "Notice", "Output", "StoredResult"]


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
                f"SELECT {COMPUTATION_COLUMNS} FROM computations WHERE id = ?",
                (cid,),
            ).fetchone()
        if row is None:
            raise NotFound(f"no computation {shown(cid)} on this coordinator")
        return computation_of(row)

    def recent(self, limit: int) -> list[Computation]:
        """The newest computations first."""
        with self._db.transaction("list computations") as conn:
            rows = conn.execute(
                f"SELECT {COMPUTATION_COLUMNS} FROM computations "
                "ORDER BY created_ms DESC, id LIMIT ?",
                (limit,),
            ).fetchall()
        return [computation_of(r) for r in rows]

    def unfinished(self) -> list[Computation]:
        """Computations neither published nor failed (to resume after a restart)."""
        with self._db.transaction("unfinished computations") as conn:
            rows = conn.execute(
                f"SELECT {COMPUTATION_COLUMNS} FROM computations WHERE state NOT IN (?, ?) "
                "ORDER BY created_ms",
                TERMINAL_STATES,
            ).fetchall()
        return [computation_of(r) for r in rows]

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
                insert_event(conn, *notice)

    def prune(self, ended_before_ms: int) -> tuple[int, int]:
        """Delete the events and round rows of computations that ended before the cutoff.

        Their results, outputs and final state (with its reason) stay. Returns the number of
        events and of rounds deleted.
        """
        ended = "SELECT id FROM computations WHERE state IN (?, ?) AND updated_ms < ?"
        args = (*TERMINAL_STATES, ended_before_ms)
        with self._db.transaction("prune", durable=False) as conn:
            events = conn.execute(
                f"DELETE FROM events WHERE computation_id IN ({ended})", args
            ).rowcount
            rounds = conn.execute(
                f"DELETE FROM rounds WHERE computation_id IN ({ended}) AND phase != 'published'",
                args,
            ).rowcount
        return events, rounds

    def drop_parties(self, cid: str, dropped: dict[str, str]) -> None:
        """Record the invited parties a retry goes on without, and the abort that dropped each."""
        with self._db.transaction("drop parties", durable=False) as conn:
            row = conn.execute("SELECT dropped FROM computations WHERE id = ?", (cid,)).fetchone()
            merged = {**json.loads(str(row[0])), **dropped}
            conn.execute(
                "UPDATE computations SET dropped = ? WHERE id = ?", (json.dumps(merged), cid)
            )

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
                insert_event(conn, *notice)

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
                insert_event(conn, cid, event)

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
                insert_event(conn, cid, event)

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
            return insert_event(conn, cid, event)

    def events_after(self, cid: str, seq: int) -> list[Event]:
        """Events of a computation with a sequence number above `seq`, in order."""
        with self._db.transaction("read events") as conn:
            rows = conn.execute(
                "SELECT body FROM events WHERE computation_id = ? AND seq > ? ORDER BY seq",
                (cid, seq),
            ).fetchall()
        return [event_from_doc(json.loads(r[0])) for r in rows]
