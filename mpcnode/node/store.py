"""The node's durable state: inputs, the record of released partials, the budget ledger.

The release record is what enforces input reuse (DESIGN 4.5) and privacy budgets (DESIGN 5):
`record_release` checks the reuse rule (exact rounds) or spends the budget (noisy rounds)
and writes the row in one IMMEDIATE transaction, before the partial leaves the node, so two
concurrent rounds cannot both release the same input and a crash after the write can only
err towards not releasing.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mpcnode.core.accounting import BudgetStatus, Cost
from mpcnode.errors import AlreadyExists, NotFound, PreconditionFailed
from mpcnode.node import ledger
from mpcnode.node.ledger import Charge
from mpcnode.sqlite import Database

MIGRATIONS = (
    """
    CREATE TABLE inputs (
        dataset TEXT PRIMARY KEY,
        input_id TEXT NOT NULL UNIQUE,
        dtype TEXT NOT NULL CHECK (dtype IN ('int64', 'float64')),
        length INTEGER NOT NULL,
        data BLOB NOT NULL,
        submitted_ms INTEGER NOT NULL
    );
    CREATE TABLE releases (
        round_id BLOB PRIMARY KEY,
        transcript_hash BLOB NOT NULL,
        dataset TEXT NOT NULL,
        input_id TEXT NOT NULL,
        computation TEXT NOT NULL,
        participants TEXT NOT NULL,
        released_ms INTEGER NOT NULL
    );
    CREATE INDEX releases_by_input ON releases (input_id)
    """,
    ledger.MIGRATION,
)


@dataclass(frozen=True)
class StoredInput:
    """An organization's input for one dataset, as its node holds it."""

    dataset: str
    input_id: str
    values: npt.NDArray[np.int64] | npt.NDArray[np.float64]
    submitted_ms: int
    releases: int


@dataclass(frozen=True)
class ReleaseRecord:
    """One partial sum this node released: which input went into which round."""

    round_id: bytes
    transcript_hash: bytes
    dataset: str
    input_id: str
    computation: str
    participants: tuple[str, ...]
    released_ms: int
    charge: Charge | None = None  # the privacy budget it spent (None: an exact release)


class NodeStore:
    """Typed access to the node's SQLite file (`<data_dir>/node.sqlite3`)."""

    def __init__(self, data_dir: Path) -> None:
        self._db = Database(data_dir / "node.sqlite3", MIGRATIONS)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def put_input(
        self, dataset: str, values: npt.NDArray[np.int64] | npt.NDArray[np.float64]
    ) -> StoredInput:
        """Store or replace the input of a dataset under a fresh input id."""
        input_id = os.urandom(8).hex()
        now = int(time.time() * 1000)
        data = values.astype(values.dtype.newbyteorder("<"), copy=False).tobytes()
        with self._db.transaction("put input") as conn:
            conn.execute(
                "INSERT INTO inputs (dataset, input_id, dtype, length, data, submitted_ms) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (dataset) DO UPDATE SET "
                "input_id = excluded.input_id, dtype = excluded.dtype, "
                "length = excluded.length, data = excluded.data, "
                "submitted_ms = excluded.submitted_ms",
                (dataset, input_id, values.dtype.name, len(values), data, now),
            )
        return StoredInput(dataset, input_id, values, now, 0)

    def get_input(self, dataset: str) -> StoredInput:
        """The input of a dataset, or NotFound with how to submit one."""
        with self._db.transaction("get input") as conn:
            row = conn.execute(
                "SELECT dataset, input_id, dtype, data, submitted_ms, "
                "(SELECT COUNT(*) FROM releases r WHERE r.input_id = i.input_id) "
                "FROM inputs i WHERE dataset = ?",
                (dataset,),
            ).fetchone()
        if row is None:
            raise NotFound(
                f"this node holds no input for dataset {dataset!r}; the organization submits "
                f"one with `mpcnode submit --dataset {dataset} ...`"
            )
        values = np.frombuffer(row[3], dtype=np.dtype(row[2]).newbyteorder("<"))
        return StoredInput(row[0], row[1], values.astype(row[2]), row[4], row[5])

    def list_inputs(self) -> list[StoredInput]:
        """Every stored input (values included; callers drop them before answering)."""
        with self._db.transaction("list inputs") as conn:
            names = [r[0] for r in conn.execute("SELECT dataset FROM inputs ORDER BY dataset")]
        return [self.get_input(name) for name in names]

    def delete_input(self, dataset: str) -> StoredInput:
        """Delete a dataset's input; its release records stay (they are the audit trail)."""
        existing = self.get_input(dataset)
        with self._db.transaction("delete input") as conn:
            conn.execute("DELETE FROM inputs WHERE dataset = ?", (dataset,))
        return existing

    def record_release(self, record: ReleaseRecord, reuse: str, cap: Cost | None = None) -> None:
        """Write a release before the partial leaves; refuse it if the rules forbid.

        Exact release (record.charge is None), reuse "once": the input must have no earlier
        release; "same-participants": every earlier release of the input must have had
        exactly this participant set. Noisy release: the budget is spent instead (DESIGN 4.5),
        within `cap`, in this same transaction.
        """
        with self._db.transaction("record release") as conn:
            if conn.execute(
                "SELECT 1 FROM releases WHERE round_id = ?", (record.round_id,)
            ).fetchone():
                raise AlreadyExists(
                    f"round {record.round_id.hex()}: this node already released its partial"
                )
            if record.charge is None:
                self._check_reuse(
                    conn.execute(
                        "SELECT round_id, participants FROM releases WHERE input_id = ?",
                        (record.input_id,),
                    ).fetchall(),
                    record,
                    reuse,
                )
            else:
                ledger.spend(conn, record.charge, cap or Cost())
            conn.execute(
                "INSERT INTO releases (round_id, transcript_hash, dataset, input_id, "
                "computation, participants, released_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.round_id,
                    record.transcript_hash,
                    record.dataset,
                    record.input_id,
                    record.computation,
                    json.dumps(sorted(record.participants)),
                    record.released_ms,
                ),
            )

    def check_reuse(
        self, dataset: str, input_id: str, participants: tuple[str, ...], reuse: str
    ) -> None:
        """Refuse early (at Prepare) what `record_release` would refuse at release."""
        probe = ReleaseRecord(b"", b"", dataset, input_id, "", participants, 0)
        with self._db.transaction("check reuse") as conn:
            rows = conn.execute(
                "SELECT round_id, participants FROM releases WHERE input_id = ?", (input_id,)
            ).fetchall()
        self._check_reuse(rows, probe, reuse)

    @staticmethod
    def _check_reuse(rows: list[tuple[bytes, str]], record: ReleaseRecord, reuse: str) -> None:
        for round_id, participants in rows:
            if reuse == "once" or json.loads(participants) != sorted(record.participants):
                raise PreconditionFailed(
                    f"input reuse refused: this node's input for dataset {record.dataset!r} "
                    f"was already released in round {round_id.hex()} and the node's policy "
                    f"input_reuse={reuse!r} forbids releasing it again"
                    + (" to a different participant set" if reuse != "once" else "")
                    + "; the organization must submit a new input to take part"
                )

    def list_releases(self, dataset: str = "") -> list[ReleaseRecord]:
        """Every release with what it spent, oldest first, optionally of one dataset."""
        with self._db.transaction("list releases") as conn:
            rows = conn.execute(
                "SELECT r.round_id, r.transcript_hash, r.dataset, r.input_id, r.computation, "
                "r.participants, r.released_ms, s.unit, s.epsilon, s.rho, s.mechanism, "
                "s.sampler FROM releases r LEFT JOIN budget_spends s USING (round_id) "
                "WHERE ? = '' OR r.dataset = ? ORDER BY r.released_ms, r.round_id",
                (dataset, dataset),
            ).fetchall()
        return [
            ReleaseRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                tuple(json.loads(r[5])),
                r[6],
                None
                if r[7] is None
                else Charge(
                    r[0], r[2], r[7], Cost(Fraction(r[8]), Fraction(r[9])), r[10], r[11], r[4]
                ),
            )
            for r in rows
        ]

    def hold_budget(self, charge: Charge, cap: Cost) -> None:
        """Reserve a noisy round's cost at Prepare, or refuse with what remains."""
        with self._db.transaction("hold budget") as conn:
            ledger.hold(conn, charge, cap)

    def drop_hold(self, round_id: bytes) -> None:
        """Free a round's reservation (it ended without releasing)."""
        with self._db.transaction("drop budget hold") as conn:
            ledger.drop_hold(conn, round_id)

    def drop_all_holds(self) -> int:
        """Free every reservation; called at start-up, since no round survives a restart."""
        with self._db.transaction("drop all budget holds") as conn:
            return ledger.drop_all_holds(conn)

    def budgets(
        self, caps: dict[str, Cost], default_cap: Cost, dataset: str = ""
    ) -> list[BudgetStatus]:
        """Every dataset's budget: cap, spent, held, per privacy unit."""
        with self._db.transaction("list budgets") as conn:
            return ledger.statuses(conn, caps, default_cap, dataset)
