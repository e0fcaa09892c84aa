"""The node's release ledger in SQLite: one summary row per dataset-period, holds, history.

The rules are `mpcnode.core.release_rules`; this module only reads and writes them:
- `ledger_periods`: the constant-size summary the rules read (first exact release's
  participants and function, spent budget per unit). One row per dataset-period, so a
  check costs the same however many releases came before.
- `ledger_holds`: budget reserved by a round that passed Prepare and has not released.
  A Prepare is refused when spent + held + its cost would pass a cap, so concurrent rounds
  cannot overspend. Holds die with the round (abort, deadline, forget) and with the process
  (rounds do not survive a restart, so the daemon clears them at start-up).
- `ledger_releases`: one row per released partial, the audit trail the owner reads with
  `mpcnode releases`. Written in the same transaction as the summary, before the partial
  leaves the node; the primary key makes a second release of one round impossible. A crash
  after the commit leaves the release counted (the partial may have left); one before it
  leaves nothing released and nothing spent.

Every function takes an open connection so the store can put them in one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from fractions import Fraction

from mpcnode.core.accounting import BudgetStatus, Cost, fraction_text, parse_fraction
from mpcnode.core.release_rules import (
    UNITS,
    PeriodSummary,
    PlannedRelease,
    check_release,
)
from mpcnode.errors import AlreadyExists

MIGRATION = """
CREATE TABLE ledger_periods (
    ledger_key TEXT PRIMARY KEY,
    dataset TEXT NOT NULL,
    period TEXT NOT NULL,
    summary TEXT NOT NULL,
    started_ms INTEGER NOT NULL
);
CREATE TABLE ledger_holds (
    round_id BLOB PRIMARY KEY,
    ledger_key TEXT NOT NULL,
    costs TEXT NOT NULL,
    held_ms INTEGER NOT NULL
);
CREATE INDEX ledger_holds_by_key ON ledger_holds (ledger_key);
CREATE TABLE ledger_releases (
    round_id BLOB PRIMARY KEY,
    transcript_hash BLOB NOT NULL,
    ledger_key TEXT NOT NULL,
    dataset TEXT NOT NULL,
    period TEXT NOT NULL,
    input_id TEXT NOT NULL,
    declaration TEXT NOT NULL,
    computation TEXT NOT NULL,
    participants TEXT NOT NULL,
    function TEXT NOT NULL,
    placement TEXT NOT NULL,
    mechanism TEXT NOT NULL,
    unit TEXT NOT NULL,
    sampler TEXT NOT NULL,
    costs TEXT NOT NULL,
    released_ms INTEGER NOT NULL
);
CREATE INDEX ledger_releases_by_dataset ON ledger_releases (dataset, released_ms)
"""


@dataclass(frozen=True)
class ReleaseRecord:
    """One partial this node released, as the audit trail shows it."""

    round_id: bytes
    transcript_hash: bytes
    dataset: str
    period: str
    input_id: str
    declaration: str  # fingerprint of the declaration in force
    computation: str  # the spec's name
    participants: tuple[str, ...]
    function: str
    placement: str  # "none" for an exact release
    mechanism: str
    unit: str
    sampler: str
    costs: dict[str, Cost]
    released_ms: int
    snapshot: str = ""  # a records dataset's source snapshot (`mpcnode.records.Snapshot`)


def _costs_text(costs: dict[str, Cost]) -> str:
    return json.dumps(
        {u: [fraction_text(c.epsilon), fraction_text(c.rho)] for u, c in sorted(costs.items())}
    )


def _costs_of(text: str) -> dict[str, Cost]:
    return {u: Cost(parse_fraction(e), parse_fraction(r)) for u, (e, r) in json.loads(text).items()}


def _summary_text(summary: PeriodSummary) -> str:
    return json.dumps(
        {
            "exact_participants": summary.exact_participants,
            "exact_function": summary.exact_function,
            "releases": summary.releases,
            "spent": json.loads(_costs_text(summary.spent)),
            "pure_sq_half": {u: fraction_text(v) for u, v in summary.pure_sq_half.items()},
            "unit_releases": summary.unit_releases,
        },
        sort_keys=True,
    )


def summary(conn: sqlite3.Connection, key: str) -> PeriodSummary:
    """The summary of a dataset-period (empty when it has released nothing)."""
    row = conn.execute("SELECT summary FROM ledger_periods WHERE ledger_key = ?", (key,)).fetchone()
    if row is None:
        return PeriodSummary(key)
    doc = json.loads(row[0])
    exact = doc["exact_participants"]
    return PeriodSummary(
        key,
        tuple(exact) if exact is not None else None,
        doc["exact_function"],
        doc["releases"],
        _costs_of(json.dumps(doc["spent"])),
        {u: parse_fraction(v) for u, v in doc["pure_sq_half"].items()},
        dict(doc["unit_releases"]),
    )


def start_period(conn: sqlite3.Connection, dataset: str, period: str, key: str) -> None:
    """Create the (empty) summary row of a new dataset-period; harmless if it exists."""
    conn.execute(
        "INSERT OR IGNORE INTO ledger_periods (ledger_key, dataset, period, summary, started_ms)"
        " VALUES (?, ?, ?, ?, ?)",
        (key, dataset, period, _summary_text(PeriodSummary(key)), int(time.time() * 1000)),
    )


def periods_of(conn: sqlite3.Connection, dataset: str) -> list[str]:
    """Every period a dataset has had, oldest first."""
    rows = conn.execute(
        "SELECT period FROM ledger_periods WHERE dataset = ? ORDER BY started_ms, period",
        (dataset,),
    )
    return [r[0] for r in rows]


def _held(conn: sqlite3.Connection, key: str, but: bytes = b"") -> dict[str, Cost]:
    total: dict[str, Cost] = {}
    rows = conn.execute(
        "SELECT costs FROM ledger_holds WHERE ledger_key = ? AND round_id != ?", (key, but)
    )
    for (text,) in rows:
        for unit, cost in _costs_of(text).items():
            total[unit] = total.get(unit, Cost()) + cost
    return total


def hold(
    conn: sqlite3.Connection, round_id: bytes, release: PlannedRelease, caps: dict[str, Cost]
) -> bool:
    """At Prepare: check the rules and reserve the round's cost, or refuse.

    Returns True when it wrote the hold, False when an identical Prepare already had.
    """
    if conn.execute("SELECT 1 FROM ledger_holds WHERE round_id = ?", (round_id,)).fetchone():
        return False  # an identical repeated Prepare already holds it
    check_release(summary(conn, release.key), _held(conn, release.key), release, caps)
    written = any(not c.is_free for c in release.costs.values())
    if written:
        conn.execute(
            "INSERT INTO ledger_holds (round_id, ledger_key, costs, held_ms) VALUES (?, ?, ?, ?)",
            (round_id, release.key, _costs_text(release.costs), int(time.time() * 1000)),
        )
    return written


def record(
    conn: sqlite3.Connection,
    entry: ReleaseRecord,
    release: PlannedRelease,
    caps: dict[str, Cost],
) -> None:
    """Before a partial leaves: re-check the rules, update the summary, write the history."""
    if conn.execute(
        "SELECT 1 FROM ledger_releases WHERE round_id = ?", (entry.round_id,)
    ).fetchone():
        raise AlreadyExists(f"round {entry.round_id.hex()}: this node already released its partial")
    current = summary(conn, release.key)
    # Its own hold is not counted twice; a cap lowered since Prepare still refuses here.
    check_release(current, _held(conn, release.key, but=entry.round_id), release, caps)
    conn.execute("DELETE FROM ledger_holds WHERE round_id = ?", (entry.round_id,))
    start_period(conn, entry.dataset, entry.period, release.key)
    write_summary(conn, release.key, current.after(release))
    insert_history(conn, release.key, entry)


def write_summary(conn: sqlite3.Connection, key: str, new: PeriodSummary) -> None:
    """Replace a dataset-period's summary (its row exists: `start_period`)."""
    conn.execute(
        "UPDATE ledger_periods SET summary = ? WHERE ledger_key = ?", (_summary_text(new), key)
    )


def insert_history(conn: sqlite3.Connection, key: str, entry: ReleaseRecord) -> None:
    """Append one release to the audit trail."""
    # The snapshot column came with schema 4; schema 3's migration writes rows without it.
    extra = ", snapshot" if entry.snapshot else ""
    conn.execute(
        "INSERT INTO ledger_releases (round_id, transcript_hash, ledger_key, dataset, period, "
        "input_id, declaration, computation, participants, function, placement, mechanism, "
        f"unit, sampler, costs, released_ms{extra}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        f"?, ?, ?, ?, ?{', ?' if extra else ''})",
        (
            entry.round_id,
            entry.transcript_hash,
            key,
            entry.dataset,
            entry.period,
            entry.input_id,
            entry.declaration,
            entry.computation,
            json.dumps(list(entry.participants)),
            entry.function,
            entry.placement,
            entry.mechanism,
            entry.unit,
            entry.sampler,
            _costs_text(entry.costs),
            entry.released_ms,
            *((entry.snapshot,) if extra else ()),
        ),
    )


def prune_history(conn: sqlite3.Connection, released_before_ms: int) -> int:
    """Delete audit-trail rows released before the cutoff; the summaries stay. Returns the
    number deleted. A pruned round id cannot come back: its deadline has long passed."""
    return conn.execute(
        "DELETE FROM ledger_releases WHERE released_ms < ?", (released_before_ms,)
    ).rowcount


def releases(conn: sqlite3.Connection, dataset: str = "") -> list[ReleaseRecord]:
    """The audit trail, oldest first, optionally of one dataset."""
    rows = conn.execute(
        "SELECT round_id, transcript_hash, dataset, period, input_id, declaration, computation, "
        "participants, function, placement, mechanism, unit, sampler, costs, released_ms, "
        "snapshot FROM ledger_releases WHERE ? = '' OR dataset = ? ORDER BY released_ms, round_id",
        (dataset, dataset),
    ).fetchall()
    return [
        ReleaseRecord(
            round_id=r[0],
            transcript_hash=r[1],
            dataset=r[2],
            period=r[3],
            input_id=r[4],
            declaration=r[5],
            computation=r[6],
            participants=tuple(json.loads(r[7])),
            function=r[8],
            placement=r[9],
            mechanism=r[10],
            unit=r[11],
            sampler=r[12],
            costs=_costs_of(r[13]),
            released_ms=r[14],
            snapshot=r[15],
        )
        for r in rows
    ]


def drop_hold(conn: sqlite3.Connection, round_id: bytes) -> None:
    """Release a round's reservation (the round ended without releasing)."""
    conn.execute("DELETE FROM ledger_holds WHERE round_id = ?", (round_id,))


def drop_orphan_holds(conn: sqlite3.Connection, live: set[bytes], older_than_ms: int) -> int:
    """Drop holds of rounds not in `live` that were written before `older_than_ms`."""
    rows = conn.execute(
        "SELECT round_id FROM ledger_holds WHERE held_ms < ?", (older_than_ms,)
    ).fetchall()
    orphans = [r[0] for r in rows if r[0] not in live]
    for round_id in orphans:
        conn.execute("DELETE FROM ledger_holds WHERE round_id = ?", (round_id,))
    return len(orphans)


def drop_all_holds(conn: sqlite3.Connection) -> int:
    """Clear every reservation at start-up (no round survives a restart)."""
    return conn.execute("DELETE FROM ledger_holds").rowcount


def statuses(
    conn: sqlite3.Connection, caps_of: dict[str, dict[str, Cost]], dataset: str = ""
) -> list[BudgetStatus]:
    """Each current dataset-period's budget per unit; `caps_of` maps ledger key to caps."""
    result = []
    for key in sorted(caps_of):
        name = key.rsplit("@", 1)[0]
        if dataset and name != dataset:
            continue
        current, held = summary(conn, key), _held(conn, key)
        for unit in UNITS:
            result.append(
                BudgetStatus(
                    key,
                    unit,
                    caps_of[key][unit],
                    current.spent_on(unit),
                    held.get(unit, Cost()),
                    current.unit_releases.get(unit, 0),
                    current.pure_sq_half.get(unit, Fraction(0)),
                )
            )
    return result
