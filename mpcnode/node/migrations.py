"""The node's schema history: numbered migrations, applied in order at start-up.

1 and 2 are the schema of version 0.1 (inputs keyed by dataset, releases and budget spends
keyed by input id). 3 moves to owner-declared datasets and one ledger per dataset-period
(DESIGN 4.5). Data of 0.1 is carried over conservatively: every old release lands in period
"1" of its dataset, with its budget spent at both levels; an old exact, central-DP,
randomized-response or record-level release fixes that period's exact participant set, and,
because 0.1 recorded no function, a function no new spec can match, so such a dataset takes
exact releases again only in a new period. 4 adds the records snapshot to inputs and releases.
Old inputs have no declaration; they are dropped, and their owners submit them again
with a declaration.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from fractions import Fraction

from mpcnode.core.accounting import Cost
from mpcnode.core.release_rules import PeriodSummary, PlannedRelease, ledger_key
from mpcnode.node import ledger
from mpcnode.sqlite import Migration

_V1 = """
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
"""
_V2 = """
CREATE TABLE budget_spends (
    round_id BLOB PRIMARY KEY,
    dataset TEXT NOT NULL,
    unit TEXT NOT NULL CHECK (unit IN ('organization', 'record')),
    epsilon TEXT NOT NULL,
    rho TEXT NOT NULL,
    mechanism TEXT NOT NULL,
    sampler TEXT NOT NULL,
    computation TEXT NOT NULL,
    spent_ms INTEGER NOT NULL
);
CREATE INDEX budget_spends_by_dataset ON budget_spends (dataset);
CREATE TABLE budget_holds (
    round_id BLOB PRIMARY KEY,
    dataset TEXT NOT NULL,
    unit TEXT NOT NULL,
    epsilon TEXT NOT NULL,
    rho TEXT NOT NULL,
    held_ms INTEGER NOT NULL
)
"""
_V3_DATASETS = """
CREATE TABLE datasets (
    dataset TEXT PRIMARY KEY,
    declaration TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    period TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('config', 'owner')),
    declared_ms INTEGER NOT NULL,
    sealed TEXT
);
CREATE TABLE inputs_v3 (
    dataset TEXT PRIMARY KEY REFERENCES datasets (dataset),
    input_id TEXT NOT NULL UNIQUE,
    dtype TEXT NOT NULL CHECK (dtype IN ('int64', 'float64')),
    length INTEGER NOT NULL,
    data BLOB NOT NULL,
    submitted_ms INTEGER NOT NULL,
    period TEXT NOT NULL,
    hash TEXT NOT NULL
)
"""
LEGACY_FUNCTION = "legacy-0.1"
log = logging.getLogger(__name__)


def _run(conn: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _to_v3(conn: sqlite3.Connection) -> None:
    _run(conn, _V3_DATASETS)
    _run(conn, ledger.MIGRATION)
    summaries: dict[str, PeriodSummary] = {}
    old = conn.execute(
        "SELECT r.round_id, r.transcript_hash, r.dataset, r.input_id, r.computation, "
        "r.participants, r.released_ms, s.unit, s.epsilon, s.rho, s.mechanism, s.sampler "
        "FROM releases r LEFT JOIN budget_spends s USING (round_id) ORDER BY r.released_ms"
    ).fetchall()
    for row in old:
        dataset, participants = row[2], tuple(sorted(json.loads(row[5])))
        key = ledger_key(dataset, "1")
        ledger.start_period(conn, dataset, "1", key)
        cost = Cost(Fraction(row[8]), Fraction(row[9])) if row[7] else Cost()
        # Both units are charged: 0.1 charged record-level releases to the record budget
        # only, and their organization-level cost cannot be known without a declaration.
        costs = {"organization": cost, "record": cost} if row[7] else {}
        # Exact to the coordinator, conservatively: exact releases, central DP (0.1 wrote
        # no sampler for central noise; discrete Gaussian was central only), randomized
        # response (exact respondent counts) and every record-level release, whose tiny
        # noise an analyst chose. The period then takes exact releases over that set only.
        exact = row[7] is None or row[11] == "" or row[10] == "randomized_response"
        release = PlannedRelease(
            key, LEGACY_FUNCTION, participants, exact or row[7] == "record", costs
        )
        summaries[key] = summaries.get(key, PeriodSummary(key)).after(release)
        entry = ledger.ReleaseRecord(
            row[0], row[1], dataset, "1", row[3], "", row[4], participants, LEGACY_FUNCTION,
            "none" if row[7] is None else ("central" if row[11] == "" else "distributed"),
            row[10] or "none",
            row[7] or "organization", row[11] or "", costs if row[7] else {}, row[6],
        )  # fmt: skip
        ledger.insert_history(conn, key, entry)
    for key, summary in summaries.items():
        ledger.write_summary(conn, key, summary)
    dropped = conn.execute("SELECT COUNT(*) FROM inputs").fetchone()[0]
    _run(conn, "DROP TABLE inputs; DROP TABLE releases; DROP TABLE budget_spends")
    _run(conn, "DROP TABLE budget_holds; ALTER TABLE inputs_v3 RENAME TO inputs")
    if dropped:
        log.warning(
            "schema 3: %d inputs of version 0.1 had no declaration and were dropped; their "
            "owners declare the datasets and submit again",
            dropped,
        )


_V4_SNAPSHOTS = """
ALTER TABLE inputs ADD COLUMN snapshot TEXT NOT NULL DEFAULT '';
ALTER TABLE ledger_releases ADD COLUMN snapshot TEXT NOT NULL DEFAULT ''
"""
"""4: records datasets (issue 13) keep the snapshot their input was computed from, and
every release of one records it."""

MIGRATIONS: Sequence[Migration] = (_V1, _V2, _to_v3, _V4_SNAPSHOTS)
