"""The node's privacy-budget ledger (DESIGN 5): durable, exact, spent exactly once.

Two tables in the node's SQLite file:
- `budget_holds`: budget reserved by a round that passed Prepare and has not released yet.
  A Prepare is refused when spent + held + its cost would pass the cap, so two concurrent
  rounds on one dataset can never overspend together. Holds die with the round (abort,
  deadline, forget) and with the process: rounds do not survive a restart, so the daemon
  clears every hold when it starts.
- `budget_spends`: one row per released partial, keyed by round id, written in the same
  transaction as the release record and before the partial leaves the node. A crash after
  the commit leaves the spend counted (the partial may have left); a crash before leaves
  nothing spent and nothing released. The primary key makes a second spend for the same
  round impossible.

Units: an organization-level guarantee also protects every record inside the organization,
so a release under unit=organization is charged to both the organization and the record
budget of its dataset; a release under unit=record is charged to the record budget only
(it promises nothing about a whole organization).

Every function takes an open connection, so the store can put a spend inside the same
transaction as the release it pays for. Amounts are stored as exact fractions ("n/d").
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from fractions import Fraction

from mpcnode.core.accounting import BudgetStatus, Cost, decimal_down, fraction_text, parse_fraction
from mpcnode.errors import AlreadyExists, PreconditionFailed

MIGRATION = """
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
UNITS = ("organization", "record")


@dataclass(frozen=True)
class Charge:
    """What one round will spend, and the audit facts recorded with it."""

    round_id: bytes
    dataset: str
    unit: str
    cost: Cost
    mechanism: str
    sampler: str
    computation: str


def _units_charged_to(unit: str) -> tuple[str, ...]:
    """Rows of which units count against a `unit` budget."""
    return UNITS if unit == "record" else ("organization",)


def _units_charged_by(unit: str) -> tuple[str, ...]:
    """Which budgets a release under `unit` is charged to."""
    return UNITS if unit == "organization" else ("record",)


def _sum(
    conn: sqlite3.Connection, table: str, dataset: str, unit: str
) -> tuple[Cost, list[Fraction]]:
    units = _units_charged_to(unit)
    rows = conn.execute(
        f"SELECT epsilon, rho FROM {table} WHERE dataset = ? AND unit IN (?, ?)",
        (dataset, units[0], units[-1]),
    ).fetchall()
    epsilons = [parse_fraction(r[0]) for r in rows]
    total = Cost(sum(epsilons, Fraction(0)), sum((parse_fraction(r[1]) for r in rows), Fraction(0)))
    return total, [e for e in epsilons if e]


def _refusal(what: str, charge: Charge, cap: Cost, spent: Cost, held: Cost) -> PreconditionFailed:
    left = (spent + held).headroom(cap)
    return PreconditionFailed(
        f"privacy budget exhausted: {what} would spend epsilon {float(charge.cost.epsilon):g} "
        f"rho {float(charge.cost.rho):g} on dataset {charge.dataset!r} ({charge.unit} level), "
        f"but only epsilon {decimal_down(left.epsilon):g} and rho "
        f"{decimal_down(left.rho):g} remain of the cap (epsilon "
        f"{float(cap.epsilon):g}, rho {float(cap.rho):g}; spent epsilon "
        f"{float(spent.epsilon):g} rho {float(spent.rho):g}, held by open rounds epsilon "
        f"{float(held.epsilon):g} rho {float(held.rho):g}); the organization can raise "
        "policy.budget in the node's config or use a new dataset"
    )


def hold(conn: sqlite3.Connection, charge: Charge, cap: Cost) -> None:
    """Reserve a round's cost at Prepare, or refuse with the remaining budget."""
    if conn.execute("SELECT 1 FROM budget_holds WHERE round_id = ?", (charge.round_id,)).fetchone():
        return  # an identical repeated Prepare already holds it
    for unit in _units_charged_by(charge.unit):
        spent, _ = _sum(conn, "budget_spends", charge.dataset, unit)
        held, _ = _sum(conn, "budget_holds", charge.dataset, unit)
        if not charge.cost.fits(spent + held, cap):
            raise _refusal("this round", charge, cap, spent, held)
    conn.execute(
        "INSERT INTO budget_holds (round_id, dataset, unit, epsilon, rho, held_ms) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            charge.round_id,
            charge.dataset,
            charge.unit,
            fraction_text(charge.cost.epsilon),
            fraction_text(charge.cost.rho),
            int(time.time() * 1000),
        ),
    )


def spend(conn: sqlite3.Connection, charge: Charge, cap: Cost) -> None:
    """Turn a round's hold into a spend (inside the release's transaction), exactly once."""
    if conn.execute(
        "SELECT 1 FROM budget_spends WHERE round_id = ?", (charge.round_id,)
    ).fetchone():
        raise AlreadyExists(f"round {charge.round_id.hex()}: its budget was already spent")
    conn.execute("DELETE FROM budget_holds WHERE round_id = ?", (charge.round_id,))
    for unit in _units_charged_by(charge.unit):
        spent, _ = _sum(conn, "budget_spends", charge.dataset, unit)
        held, _ = _sum(conn, "budget_holds", charge.dataset, unit)
        if not charge.cost.fits(spent + held, cap):  # the cap was lowered since Prepare
            raise _refusal("releasing this round", charge, cap, spent, held)
    conn.execute(
        "INSERT INTO budget_spends (round_id, dataset, unit, epsilon, rho, mechanism, sampler, "
        "computation, spent_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            charge.round_id,
            charge.dataset,
            charge.unit,
            fraction_text(charge.cost.epsilon),
            fraction_text(charge.cost.rho),
            charge.mechanism,
            charge.sampler,
            charge.computation,
            int(time.time() * 1000),
        ),
    )


def drop_hold(conn: sqlite3.Connection, round_id: bytes) -> None:
    """Release a round's reservation (the round ended without releasing)."""
    conn.execute("DELETE FROM budget_holds WHERE round_id = ?", (round_id,))


def drop_all_holds(conn: sqlite3.Connection) -> int:
    """Clear every reservation at start-up (no round survives a restart)."""
    return conn.execute("DELETE FROM budget_holds").rowcount


def statuses(
    conn: sqlite3.Connection, cap_for: dict[str, Cost], default_cap: Cost, dataset: str = ""
) -> list[BudgetStatus]:
    """Every (dataset, unit) that has spent or holds budget, or has a configured cap."""
    names = {r[0] for r in conn.execute("SELECT dataset FROM budget_spends")}
    names |= {r[0] for r in conn.execute("SELECT dataset FROM budget_holds")}
    names |= set(cap_for)
    result = []
    for name in sorted(n for n in names if not dataset or n == dataset):
        for unit in UNITS:
            spent, epsilons = _sum(conn, "budget_spends", name, unit)
            held, _ = _sum(conn, "budget_holds", name, unit)
            counted = _units_charged_to(unit)
            count = conn.execute(
                "SELECT COUNT(*) FROM budget_spends WHERE dataset = ? AND unit IN (?, ?)",
                (name, counted[0], counted[-1]),
            ).fetchone()[0]
            cap = cap_for.get(name, default_cap)
            result.append(BudgetStatus(name, unit, cap, spent, held, count, tuple(epsilons)))
    return result
