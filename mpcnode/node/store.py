"""The node's durable state: declared datasets and their periods, inputs, the ledger.

A dataset is declared by its owner (config or Local API) and lives in periods: a new period
is a new dataset for the ledger, started only when the owner says so, and it drops the old
period's input (new period, new data). Within a period:
- the declaration cannot change once anything was released under it;
- once an exact (or central-DP) release was made, the input is sealed: resubmitting the same
  values is harmless, other values are refused, since the difference of two exact releases
  over the same parties would reveal the change.
The release rules themselves are `mpcnode.core.release_rules`, applied by `ledger` in the
same IMMEDIATE transaction that writes the release, before the partial leaves the node.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mpcnode.core.accounting import BudgetStatus, Cost
from mpcnode.core.declaration import (
    Declaration,
    Shape,
    Values,
    declaration_from_doc,
    declaration_to_doc,
)
from mpcnode.core.release_rules import PlannedRelease
from mpcnode.errors import InvalidInput, NotFound, PreconditionFailed, shown
from mpcnode.node import ledger
from mpcnode.node.ledger import ReleaseRecord
from mpcnode.node.migrations import MIGRATIONS
from mpcnode.node.seal import seal, values_hash_of
from mpcnode.node.stored import DatasetRecord, StoredInput, next_period
from mpcnode.sqlite import Database, read_array, write_array

log = logging.getLogger(__name__)
FIRST_PERIOD = "1"
NEXT_PERIOD = "next"  # a period request meaning "the one after the current"


class NodeStore:
    """Typed access to the node's SQLite file (`<data_dir>/node.sqlite3`)."""

    def __init__(self, data_dir: Path, declared: Sequence[tuple[Declaration, str]] = ()) -> None:
        """Open the file; `declared` are the config's (declaration, period) pairs."""
        self._db = Database(data_dir / "node.sqlite3", MIGRATIONS)
        for declaration, period in declared:
            self._declare(declaration, "config", period or None)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # -- declarations -----------------------------------------------------------------------
    def declare(self, declaration: Declaration, period: str | None = None) -> DatasetRecord:
        """Declare (or re-declare) a dataset as its owner, optionally in a new period."""
        return self._declare(declaration, "owner", period)

    def _declare(self, decl: Declaration, source: str, period: str | None) -> DatasetRecord:
        decl.check()
        with self._db.transaction("declare dataset") as conn:
            old = self._dataset(conn, decl.dataset)
            if old is None:
                label = period if period not in (None, NEXT_PERIOD) else FIRST_PERIOD
                self._check_label(label)
                new = DatasetRecord(decl, label, source, int(time.time() * 1000))
                self._write_dataset(conn, new, insert=True)
                return new
            if (
                old.source == "config"
                and source == "owner"
                and (old.declaration != decl or period is not None)
            ):
                raise PreconditionFailed(
                    f"dataset {shown(decl.dataset)} is declared in this node's config file; "
                    "change it there ([datasets.<name>] and its period), not through the API"
                )
            label = old.period if period is None else period
            if label == NEXT_PERIOD:
                label = next_period(old.period, ledger.periods_of(conn, decl.dataset))
            self._check_label(label)
            if label != old.period and label in ledger.periods_of(conn, decl.dataset):
                raise PreconditionFailed(
                    f"period {shown(label)} of dataset {shown(decl.dataset)} was used "
                    "before; a period, once left, is closed: choose a new label"
                )
            released = ledger.summary(conn, old.key).releases
            if label == old.period and decl != old.declaration and released:
                raise PreconditionFailed(
                    f"dataset {shown(decl.dataset)} has {released} release(s) in period "
                    f"{old.period} under declaration {old.declaration.fingerprint[:12]}; a "
                    "changed declaration needs a new period (`mpcnode submit --new-period`, "
                    "or a new `period` in the config)"
                )
            new = DatasetRecord(decl, label, source, int(time.time() * 1000))
            self._write_dataset(conn, new, insert=False)
            if label != old.period or decl != old.declaration:
                # New period, new data; a changed declaration, new data too. Dropped whether
                # or not the stored values would fit it: keeping them only when they fit
                # would make the next Prepare's answer depend on them (an oracle).
                conn.execute("DELETE FROM inputs WHERE dataset = ?", (decl.dataset,))
            return new

    @staticmethod
    def _check_label(label: str) -> None:
        if not (1 <= len(label) <= 32 and label.replace("-", "").replace(".", "").isalnum()):
            raise InvalidInput(
                f"period {shown(label)} must be 1-32 letters, digits, '.' or '-' (e.g. 2027)"
            )

    def _write_dataset(self, conn: sqlite3.Connection, record: DatasetRecord, insert: bool) -> None:
        db = conn
        doc = json.dumps(declaration_to_doc(record.declaration), sort_keys=True)
        params = (
            doc,
            record.declaration.fingerprint,
            record.period,
            record.source,
            record.declared_ms,
            record.declaration.dataset,
        )
        if insert:
            db.execute(
                "INSERT INTO datasets (declaration, fingerprint, period, source, declared_ms, "
                "dataset) VALUES (?, ?, ?, ?, ?, ?)",
                params,
            )
        else:
            db.execute(
                "UPDATE datasets SET declaration = ?, fingerprint = ?, period = ?, source = ?, "
                "declared_ms = ?, sealed = CASE WHEN period = ? THEN sealed ELSE NULL END "
                "WHERE dataset = ?",
                (*params[:5], record.period, record.declaration.dataset),
            )
        ledger.start_period(db, record.declaration.dataset, record.period, record.key)

    @staticmethod
    def _dataset(conn: sqlite3.Connection, name: str) -> DatasetRecord | None:
        row = conn.execute(
            "SELECT declaration, period, source, declared_ms FROM datasets WHERE dataset = ?",
            (name,),
        ).fetchone()
        if row is None:
            return None
        return DatasetRecord(declaration_from_doc(json.loads(row[0])), row[1], row[2], row[3])

    def dataset(self, name: str) -> DatasetRecord:
        """The declaration of a dataset, or NotFound saying how its owner declares it."""
        with self._db.transaction("get dataset") as conn:
            record = self._dataset(conn, name)
        if record is None:
            raise NotFound(
                f"dataset {shown(name)} is not declared on this node; its owner declares it "
                "in the node's config or with `mpcnode submit --shape ...`",
                reason="DATASET_UNDECLARED",
            )
        return record

    def datasets(self) -> list[DatasetRecord]:
        """Every declared dataset."""
        with self._db.transaction("list datasets") as conn:
            names = [r[0] for r in conn.execute("SELECT dataset FROM datasets ORDER BY dataset")]
            found = [self._dataset(conn, n) for n in names]
        return [r for r in found if r is not None]

    # -- inputs -------------------------------------------------------------------------------
    def put_input(
        self,
        dataset: str,
        values: Values,
        declaration: Declaration | None = None,
        period: str | None = None,
        snapshot: str = "",
    ) -> StoredInput:
        """Validate values against the declaration and store them for the current period.

        With `declaration` (or a `period`), the dataset is (re)declared first, in the same
        call; InvalidInput messages go back to the owner's own system only. A records
        dataset takes only what its node computed from its source (`snapshot` says which).
        """
        if declaration is not None and declaration.dataset != dataset:
            raise InvalidInput("the declaration names another dataset than the input")
        target = declaration or self.dataset(dataset).declaration
        target.check()
        if (target.shape is Shape.COHORTS) != bool(snapshot):
            raise InvalidInput(
                f"dataset {shown(dataset)} is declared as records: its node computes its "
                "contribution from the source in its config (`mpcnode load`), so a submitted "
                "vector is refused"
                if target.shape is Shape.COHORTS
                else f"dataset {shown(dataset)} is not declared as records (shape = cohorts)"
            )
        # Checked before anything changes: a refused submit leaves the node as it was.
        checked = target.validate(values)
        if declaration is not None or period is not None:
            self.declare(target, period)
        record = self.dataset(dataset)
        input_id = os.urandom(8).hex()
        now = int(time.time() * 1000)
        digest = values_hash_of(checked)
        with self._db.transaction("put input") as conn:
            sealed = conn.execute(
                "SELECT sealed FROM datasets WHERE dataset = ?", (dataset,)
            ).fetchone()[0]
            if sealed is not None and sealed != digest:
                raise PreconditionFailed(
                    f"dataset {shown(dataset)} period {record.period} was already released "
                    "exactly; other values in the same period would let the difference of two "
                    "releases reveal the change. Resubmitting the same values is harmless; new "
                    "data starts a new period (`mpcnode submit --new-period ...`)"
                )
            conn.execute(
                "INSERT INTO inputs (dataset, input_id, dtype, length, data, submitted_ms, "
                "period, hash, snapshot) VALUES (?, ?, ?, ?, zeroblob(?), ?, ?, ?, ?) ON "
                "CONFLICT (dataset) DO UPDATE SET input_id = excluded.input_id, dtype = "
                "excluded.dtype, length = excluded.length, data = excluded.data, submitted_ms = "
                "excluded.submitted_ms, period = excluded.period, hash = excluded.hash, "
                "snapshot = excluded.snapshot",
                (
                    dataset,
                    input_id,
                    checked.dtype.name,
                    len(checked),
                    checked.nbytes,
                    now,
                    record.period,
                    digest,
                    snapshot,
                ),
            )
            rowid = conn.execute("SELECT rowid FROM inputs WHERE dataset = ?", (dataset,))
            write_array(conn, "inputs", rowid.fetchone()[0], checked)
            releases = ledger.summary(conn, record.key).releases
        return StoredInput(
            dataset,
            input_id,
            checked,
            now,
            releases,
            record.declaration,
            record.period,
            digest,
            snapshot,
        )

    def get_input(self, dataset: str) -> StoredInput:
        """The input of a dataset's current period, or NotFound with how to submit one."""
        with self._db.transaction("get input") as conn:
            # The declaration, period and values are read together: a round never pairs
            # one declaration with values submitted under another.
            record = self._dataset(conn, dataset)
            if record is None:
                raise NotFound(
                    f"dataset {shown(dataset)} is not declared on this node",
                    reason="DATASET_UNDECLARED",
                )
            row = conn.execute(
                "SELECT input_id, dtype, length, submitted_ms, hash, rowid, snapshot FROM inputs "
                "WHERE dataset = ? AND period = ?",
                (dataset, record.period),
            ).fetchone()
            releases = ledger.summary(conn, record.key).releases
            values = None if row is None else read_array(conn, "inputs", row[5], row[1], row[2])
        if row is None or values is None:
            raise NotFound(
                f"this node holds no input for dataset {shown(dataset)} (period "
                f"{record.period}); its owner submits one with `mpcnode submit`",
                reason="NO_INPUT",
            )
        return StoredInput(
            dataset,
            row[0],
            values,
            row[3],
            releases,
            record.declaration,
            record.period,
            row[4],
            row[6],
        )

    def list_inputs(self) -> list[StoredInput]:
        """Every declared dataset with its current input (values included; callers drop them).

        A dataset declared without an input yet is listed with an empty input id, so an
        owner sees what its config declared before it submits anything.
        """
        found = []
        for record in self.datasets():
            try:
                found.append(self.get_input(record.declaration.dataset))
            except NotFound:
                empty = np.zeros(0, dtype=np.int64)
                name = record.declaration.dataset
                found.append(StoredInput(name, "", empty, 0, 0, record.declaration, record.period))
        return found

    def delete_input(self, dataset: str) -> StoredInput:
        """Delete a dataset's input; its declaration and ledger stay (the audit trail)."""
        existing = self.get_input(dataset)
        with self._db.transaction("delete input") as conn:
            conn.execute("DELETE FROM inputs WHERE dataset = ?", (dataset,))
        return existing

    # -- the ledger ---------------------------------------------------------------------------
    def hold(self, round_id: bytes, release: PlannedRelease, caps: dict[str, Cost]) -> bool:
        """At Prepare: apply the release rules and reserve the round's budget, or refuse.

        Returns True when this call wrote the hold (False: an identical Prepare had).
        """
        with self._db.transaction("hold release", durable=False) as conn:
            return ledger.hold(conn, round_id, release, caps)

    def drop_orphan_holds(self, live: set[bytes], older_than_ms: int) -> int:
        """Free holds of rounds the book does not hold, written before `older_than_ms`.

        A Prepare cancelled while its hold was being written leaves one behind.
        """
        with self._db.transaction("drop orphan holds", durable=False) as conn:
            return ledger.drop_orphan_holds(conn, live, older_than_ms)

    def record_release(
        self,
        entry: ReleaseRecord,
        release: PlannedRelease,
        caps: dict[str, Cost],
        values_hash: str,
    ) -> None:
        """Record a release before the partial leaves; refuse it if the rules now forbid.

        An exact release seals the period's input (`values_hash`, the values it used).
        """
        with self._db.transaction("record release") as conn:
            if release.exact_to_coordinator:
                seal(conn, entry, values_hash)
            ledger.record(conn, entry, release, caps)

    def list_releases(self, dataset: str = "") -> list[ReleaseRecord]:
        """Every release with what it spent, oldest first, optionally of one dataset."""
        with self._db.transaction("list releases") as conn:
            return ledger.releases(conn, dataset)

    def prune_history(self, released_before_ms: int) -> int:
        """Delete release records older than the cutoff (the ledger summaries stay)."""
        with self._db.transaction("prune release history", durable=False) as conn:
            return ledger.prune_history(conn, released_before_ms)

    def drop_hold(self, round_id: bytes) -> None:
        """Free a round's reservation (it ended without releasing)."""
        with self._db.transaction("drop hold", durable=False) as conn:
            ledger.drop_hold(conn, round_id)

    def drop_all_holds(self) -> int:
        """Free every reservation; called at start-up, since no round survives a restart."""
        with self._db.transaction("drop all holds", durable=False) as conn:
            return ledger.drop_all_holds(conn)

    def budgets(
        self, caps_for: Callable[[Declaration], dict[str, Cost]], dataset: str = ""
    ) -> list[BudgetStatus]:
        """Each declared dataset's current-period budget, per privacy unit."""
        caps = {r.key: caps_for(r.declaration) for r in self.datasets()}
        with self._db.transaction("list budgets") as conn:
            return ledger.statuses(conn, caps, dataset)
